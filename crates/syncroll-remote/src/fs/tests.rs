//! [`FsRemote`] on temp dirs: atomicity, cancellation, the safety rules and
//! the error classification, each through the public [`Remote`] methods.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use syncroll_testkit::wait_until_async as wait_until;
use tempfile::TempDir;
use tokio::task::JoinHandle;
use tokio_stream::StreamExt;
use tokio_util::sync::CancellationToken;

use super::FsRemote;
use super::errors::Site;
use super::paths::temp_name;
use crate::{PutReport, Remote, RemoteError};

/// Bounds waits for things that normally take milliseconds; it only limits
/// how long a failing test hangs.
const EVENT_TIMEOUT: Duration = Duration::from_secs(20);

/// A remote folder and a local folder with files to upload, side by side.
struct Fixture {
    dir: TempDir,
    root: PathBuf,
    remote: FsRemote,
}

fn fixture() -> Fixture {
    let dir = TempDir::new().expect("creating a temp dir");
    let root = dir.path().join("remote");
    fs::create_dir(&root).expect("creating the remote folder");
    fs::create_dir(dir.path().join("local")).expect("creating the local folder");
    let remote = FsRemote::new(root.clone());
    Fixture { dir, root, remote }
}

impl Fixture {
    fn source(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.dir.path().join("local").join(name);
        fs::write(&path, bytes).unwrap_or_else(|err| panic!("writing {}: {err}", path.display()));
        path
    }

    async fn put(&self, key: &str, source: &Path) -> Result<PutReport, RemoteError> {
        let progress = AtomicU64::new(0);
        let report = self
            .remote
            .put_file(key, source, &progress, &CancellationToken::new())
            .await;
        if let Ok(report) = &report {
            assert_eq!(
                progress.load(Ordering::Relaxed),
                report.size,
                "progress counts every byte"
            );
        }
        report
    }

    async fn put_bytes(&self, key: &str, bytes: &[u8]) -> PutReport {
        let source = self.source(&key.replace('/', "_"), bytes);
        self.put(key, &source)
            .await
            .unwrap_or_else(|err| panic!("putting {key}: {err}"))
    }

    /// The keys listed under `prefix`, sorted.
    async fn keys(&self, prefix: &str) -> Vec<String> {
        let mut keys: Vec<String> = self
            .remote
            .list(prefix)
            .map(|item| {
                item.unwrap_or_else(|err| panic!("listing {prefix:?}: {err}"))
                    .key
            })
            .collect()
            .await;
        keys.sort();
        keys
    }

    /// Every non-folder entry under the root, temporaries included, as
    /// '/'-separated relative paths.
    fn files_on_disk(&self) -> Vec<String> {
        let mut found = Vec::new();
        collect_files(&self.root, "", &mut found);
        found.sort();
        found
    }

    /// Panics, saying `why`, if the remote holds any file at all.
    #[track_caller]
    fn assert_no_files(&self, why: &str) {
        let found = self.files_on_disk();
        assert!(found.is_empty(), "{why}: {found:?}");
    }

    /// Starts an upload from an endless fifo in its own task, so the test can
    /// look at the remote while it is in flight.
    fn start_endless_put(&self, key: &str) -> InFlight {
        let source = self.dir.path().join("local").join("endless.fifo");
        feed_endless_fifo(&source);
        let progress = Arc::new(AtomicU64::new(0));
        let cancel = CancellationToken::new();
        let (remote, key) = (self.remote.clone(), key.to_owned());
        let (task_progress, task_cancel) = (progress.clone(), cancel.clone());
        let task = tokio::spawn(async move {
            remote
                .put_file(&key, &source, &task_progress, &task_cancel)
                .await
        });
        InFlight {
            progress,
            cancel,
            task,
        }
    }
}

/// An upload running in its own task.
struct InFlight {
    progress: Arc<AtomicU64>,
    cancel: CancellationToken,
    task: JoinHandle<Result<PutReport, RemoteError>>,
}

impl InFlight {
    async fn wait_for_bytes(&self) {
        wait_until(
            EVENT_TIMEOUT,
            "the put to send its first bytes",
            || match self.progress.load(Ordering::Relaxed) {
                0 => Err(0),
                sent => Ok(sent),
            },
        )
        .await;
    }

    async fn cancelled(self) -> Result<PutReport, RemoteError> {
        self.cancel.cancel();
        tokio::time::timeout(EVENT_TIMEOUT, self.task)
            .await
            .expect("the put to end after cancel")
            .expect("the put task not to panic")
    }
}

fn collect_files(dir: &Path, prefix: &str, found: &mut Vec<String>) {
    for entry in fs::read_dir(dir).expect("reading a test folder") {
        let entry = entry.expect("reading a test folder entry");
        let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
        if entry.file_type().expect("file type").is_dir() {
            collect_files(&entry.path(), &format!("{name}/"), found);
        } else {
            found.push(name);
        }
    }
}

/// Makes a fifo at `path` and feeds it from a thread until its reader goes
/// away: a source that never ends, so a put from it is still running
/// whenever the test looks, however fast the disk is.
fn feed_endless_fifo(path: &Path) {
    use nix::sys::stat::Mode;
    nix::unistd::mkfifo(path, Mode::S_IRUSR | Mode::S_IWUSR).expect("making a fifo");
    let path = path.to_owned();
    std::thread::spawn(move || {
        let mut fifo = fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .expect("opening the fifo");
        let block = vec![0x5a; 64 * 1024];
        // Ends with EPIPE once the put closes its end (Rust ignores SIGPIPE).
        while fifo.write_all(&block).is_ok() {}
    });
}

/// Bytes that differ from offset to offset, so a misplaced chunk shows.
fn pattern(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i % 251) as u8 ^ (i >> 16) as u8)
        .collect()
}

fn assert_permanent(err: &RemoteError) {
    assert!(!err.is_transient(), "{err:?} should be permanent");
}

#[tokio::test]
async fn put_then_head_list_delete_round_trips_bytes_and_hash() {
    let fx = fixture();
    let bytes = pattern(300_000);
    let report = fx.put_bytes("Trip 2024/day 1/IMG_0001.JPG", &bytes).await;

    assert_eq!(report.size, bytes.len() as u64);
    assert_eq!(report.blake3, *blake3::hash(&bytes).as_bytes());
    assert_eq!(report.etag, None);
    let stored =
        fs::read(fx.root.join("Trip 2024/day 1/IMG_0001.JPG")).expect("reading the object");
    assert!(stored == bytes, "stored bytes differ from the source");

    let meta = fx
        .remote
        .head("Trip 2024/day 1/IMG_0001.JPG")
        .await
        .expect("head");
    let meta = meta.expect("the object to be there");
    assert_eq!(
        (meta.key.as_str(), meta.size),
        ("Trip 2024/day 1/IMG_0001.JPG", bytes.len() as u64)
    );
    assert_eq!(fx.keys("").await, ["Trip 2024/day 1/IMG_0001.JPG"]);

    fx.remote
        .delete("Trip 2024/day 1/IMG_0001.JPG")
        .await
        .expect("delete");
    assert_eq!(
        fx.remote
            .head("Trip 2024/day 1/IMG_0001.JPG")
            .await
            .expect("head"),
        None
    );
    assert!(fx.keys("").await.is_empty());
}

#[tokio::test]
async fn put_streams_a_40_mib_file_whole() {
    let fx = fixture();
    let bytes = pattern(40 << 20);
    let report = fx.put_bytes("big/video.mov", &bytes).await;

    assert_eq!(report.size, 40 << 20);
    assert_eq!(report.blake3, *blake3::hash(&bytes).as_bytes());
    let stored = fs::read(fx.root.join("big/video.mov")).expect("reading the object");
    assert!(stored == bytes, "stored bytes differ from the source");
    assert_eq!(fx.files_on_disk(), ["big/video.mov"]);
}

#[tokio::test]
async fn put_replaces_an_existing_object_whole() {
    let fx = fixture();
    fx.put_bytes("a/x.jpg", &pattern(5000)).await;
    let report = fx.put_bytes("a/x.jpg", b"short").await;

    assert_eq!(report.size, 5);
    assert_eq!(
        fs::read(fx.root.join("a/x.jpg")).expect("reading"),
        b"short"
    );
}

#[tokio::test]
async fn put_is_atomic_under_the_final_key() {
    let fx = fixture();
    let put = fx.start_endless_put("album/live.mov");
    put.wait_for_bytes().await;

    // Bytes are flowing, yet the final name shows nothing.
    assert_eq!(fx.remote.head("album/live.mov").await.expect("head"), None);
    assert!(!fx.root.join("album/live.mov").exists());
    assert_eq!(fx.files_on_disk(), ["album/.live.mov.syncroll-part"]);
    assert!(fx.keys("").await.is_empty(), "temporaries are not listed");

    let err = put
        .cancelled()
        .await
        .expect_err("an endless put ends only by cancel");
    assert!(err.is_cancelled(), "{err:?}");
}

#[tokio::test]
async fn cancel_mid_put_leaves_no_object_and_no_temporary() {
    let fx = fixture();
    let put = fx.start_endless_put("album/live.mov");
    put.wait_for_bytes().await;

    let err = put.cancelled().await.expect_err("cancelled");

    assert!(err.is_cancelled(), "{err:?}");
    assert!(!err.is_transient());
    assert_eq!(fx.files_on_disk(), Vec::<String>::new());
}

#[tokio::test]
async fn dropping_a_put_stops_it_and_removes_its_temporary() {
    let fx = fixture();
    let put = fx.start_endless_put("album/live.mov");
    put.wait_for_bytes().await;

    put.task.abort();

    wait_until(
        EVENT_TIMEOUT,
        "the dropped put to remove its temporary",
        || match fx.files_on_disk() {
            files if files.is_empty() => Ok(()),
            files => Err(files),
        },
    )
    .await;
}

#[tokio::test]
async fn put_with_cancel_already_fired_writes_nothing() {
    let fx = fixture();
    let source = fx.source("x.jpg", b"bytes");
    let cancel = CancellationToken::new();
    cancel.cancel();

    let err = fx
        .remote
        .put_file("a/x.jpg", &source, &AtomicU64::new(0), &cancel)
        .await
        .expect_err("cancelled");

    assert!(err.is_cancelled(), "{err:?}");
    assert!(!fx.root.join("a").exists(), "not even the folder is made");
}

#[tokio::test]
async fn stale_temporary_from_a_crash_is_replaced_by_the_next_put() {
    let fx = fixture();
    fs::create_dir(fx.root.join("a")).expect("mkdir");
    let stale = fx.root.join("a/.x.jpg.syncroll-part");
    fs::write(&stale, pattern(100_000)).expect("writing a stale temporary");

    let report = fx.put_bytes("a/x.jpg", b"fresh bytes").await;

    assert_eq!(report.size, 11);
    assert_eq!(
        fs::read(fx.root.join("a/x.jpg")).expect("reading"),
        b"fresh bytes"
    );
    assert_eq!(fx.files_on_disk(), ["a/x.jpg"]);
}

#[tokio::test]
async fn missing_root_is_unavailable_and_is_never_created() {
    let fx = fixture();
    let source = fx.source("x.jpg", b"bytes");
    let root = fx.dir.path().join("unmounted-nas/photos");
    let remote = FsRemote::new(root.clone());
    let cancel = CancellationToken::new();

    let errors = [
        remote
            .put_file("a/x.jpg", &source, &AtomicU64::new(0), &cancel)
            .await
            .expect_err("put"),
        remote
            .copy("a/x.jpg", "b/x.jpg", &cancel)
            .await
            .expect_err("copy"),
        remote.delete("a/x.jpg").await.expect_err("delete"),
        remote.head("a/x.jpg").await.expect_err("head"),
        remote
            .list("")
            .next()
            .await
            .expect("one item")
            .expect_err("list"),
    ];

    for err in errors {
        assert!(matches!(err, RemoteError::Unavailable { .. }), "{err:?}");
        assert!(err.is_transient(), "{err:?}");
        assert!(err.to_string().contains("unmounted-nas/photos"), "{err}");
    }
    assert!(!root.exists(), "the remote folder must never be created");
    assert!(!root.parent().expect("parent").exists());
}

/// Name of the test that [`put_into_a_read_only_folder_is_permission_denied_and_permanent`]
/// runs as an unprivileged user when the suite runs as root.
const READ_ONLY_CHILD_TEST: &str = "fs::tests::read_only_folder_scenario_as_another_user";
const READ_ONLY_ROOT_ENV: &str = "SYNCROLL_REMOTE_TEST_READ_ONLY_ROOT";
const READ_ONLY_SOURCE_ENV: &str = "SYNCROLL_REMOTE_TEST_READ_ONLY_SOURCE";
const NOBODY: u32 = 65534;

#[tokio::test]
async fn put_into_a_read_only_folder_is_permission_denied_and_permanent() {
    let fx = fixture();
    let source = fx.source("x.jpg", b"bytes");
    let read_only = fx.root.join("ro");
    fs::create_dir(&read_only).expect("mkdir");
    fs::set_permissions(&read_only, fs::Permissions::from_mode(0o555)).expect("chmod");

    if nix::unistd::geteuid().is_root() {
        // Root writes through any mode bits, so the scenario runs in a copy
        // of this test binary as an unprivileged user, where the kernel
        // really answers EACCES.
        run_read_only_child(&fx, &source);
    } else {
        assert_read_only_folder_refuses_put(&fx.root, &source).await;
    }
}

#[tokio::test]
#[ignore = "run as an unprivileged user by put_into_a_read_only_folder_is_permission_denied_and_permanent"]
async fn read_only_folder_scenario_as_another_user() {
    let root = std::env::var_os(READ_ONLY_ROOT_ENV).expect("started by the read-only test");
    let source = std::env::var_os(READ_ONLY_SOURCE_ENV).expect("started by the read-only test");
    assert!(!nix::unistd::geteuid().is_root(), "must not run as root");
    assert_read_only_folder_refuses_put(Path::new(&root), Path::new(&source)).await;
}

async fn assert_read_only_folder_refuses_put(root: &Path, source: &Path) {
    let remote = FsRemote::new(root.to_owned());
    let err = remote
        .put_file(
            "ro/x.jpg",
            source,
            &AtomicU64::new(0),
            &CancellationToken::new(),
        )
        .await
        .expect_err("a read-only folder refuses the put");
    assert!(
        matches!(&err, RemoteError::PermissionDenied { key, .. } if key == "ro/x.jpg"),
        "{err:?}"
    );
    assert_permanent(&err);
    assert!(!root.join("ro/x.jpg").exists());
}

fn run_read_only_child(fx: &Fixture, source: &Path) {
    let exe = fx.dir.path().join("test-binary");
    fs::copy(std::env::current_exe().expect("current exe"), &exe).expect("copying the test binary");
    for path in [fx.dir.path(), &exe] {
        fs::set_permissions(path, fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let output = Command::new(&exe)
        .args([
            READ_ONLY_CHILD_TEST,
            "--exact",
            "--ignored",
            "--test-threads=1",
        ])
        .env(READ_ONLY_ROOT_ENV, &fx.root)
        .env(READ_ONLY_SOURCE_ENV, source)
        .current_dir(fx.dir.path())
        .uid(NOBODY)
        .gid(NOBODY)
        .output()
        .expect("starting the test binary as nobody");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "child failed:\n{stdout}\n{stderr}");
    // A name filter that matched nothing would also exit 0.
    assert!(
        stdout.contains("1 passed"),
        "child ran no test:\n{stdout}\n{stderr}"
    );
}

#[tokio::test]
async fn put_where_a_file_blocks_a_folder_fails_permanently() {
    let fx = fixture();
    fs::write(fx.root.join("album"), b"a file, not a folder").expect("writing");
    let source = fx.source("x.jpg", b"bytes");

    let err = fx
        .put("album/x.jpg", &source)
        .await
        .expect_err("blocked by a file");

    assert!(
        matches!(&err, RemoteError::NotAFolder { path, .. } if path.ends_with("album")),
        "{err:?}"
    );
    assert_permanent(&err);
    assert_eq!(
        fs::read(fx.root.join("album")).expect("reading"),
        b"a file, not a folder"
    );
}

#[tokio::test]
async fn put_over_a_folder_fails_permanently_and_cleans_up() {
    let fx = fixture();
    fs::create_dir_all(fx.root.join("a/x.jpg")).expect("mkdir");
    let source = fx.source("x.jpg", b"bytes");

    let err = fx
        .put("a/x.jpg", &source)
        .await
        .expect_err("a folder holds the name");

    assert!(
        matches!(&err, RemoteError::Io { source, .. } if source.kind() == io::ErrorKind::IsADirectory),
        "{err:?}"
    );
    assert_permanent(&err);
    fx.assert_no_files("no temporary left");
}

#[tokio::test]
async fn put_of_a_vanished_source_is_source_vanished_and_leaves_nothing() {
    let fx = fixture();
    let gone = fx.dir.path().join("local/gone.jpg");

    let err = fx.put("a/gone.jpg", &gone).await.expect_err("no source");

    assert!(
        matches!(&err, RemoteError::SourceVanished { path } if *path == gone),
        "{err:?}"
    );
    assert_permanent(&err);
    assert!(
        !fx.root.join("a").exists(),
        "no folder made for a file that is not there"
    );
}

#[tokio::test]
async fn put_of_an_unreadable_source_is_source_unreadable() {
    let fx = fixture();
    // A folder opens but cannot be read as a file, even by root.
    let folder = fx.dir.path().join("local");

    let err = fx.put("a/x.jpg", &folder).await.expect_err("unreadable");

    assert!(
        matches!(&err, RemoteError::SourceUnreadable { path, .. } if *path == folder),
        "{err:?}"
    );
    assert_permanent(&err);
    fx.assert_no_files("no temporary left");
}

#[tokio::test]
async fn invalid_keys_are_rejected_by_every_method() {
    let fx = fixture();
    fx.put_bytes("ok.jpg", b"bytes").await;
    let source = fx.source("x.jpg", b"bytes");
    let cancel = CancellationToken::new();
    let progress = AtomicU64::new(0);

    for key in ["../x", "/abs", "a//b", "a/./b", "", "a/../../../etc/passwd"] {
        let errors = [
            fx.remote
                .put_file(key, &source, &progress, &cancel)
                .await
                .expect_err("put"),
            fx.remote
                .copy("ok.jpg", key, &cancel)
                .await
                .expect_err("copy to"),
            fx.remote
                .copy(key, "ok2.jpg", &cancel)
                .await
                .expect_err("copy from"),
            fx.remote.delete(key).await.expect_err("delete"),
            fx.remote.head(key).await.expect_err("head"),
        ];
        for err in errors {
            assert!(
                matches!(&err, RemoteError::InvalidKey { key: k, .. } if k == key),
                "{key:?}: {err:?}"
            );
            assert_permanent(&err);
        }
    }
    assert_eq!(fx.files_on_disk(), ["ok.jpg"]);
    assert!(!fx.dir.path().join("x").exists());
}

#[tokio::test]
async fn keys_cannot_leave_the_root_through_a_symlink() {
    let fx = fixture();
    let outside = fx.dir.path().join("outside");
    fs::create_dir(&outside).expect("mkdir");
    fs::write(outside.join("secret.jpg"), b"not the remote's").expect("writing");
    std::os::unix::fs::symlink(&outside, fx.root.join("link")).expect("symlink");
    let source = fx.source("x.jpg", b"bytes");

    let err = fx
        .put("link/x.jpg", &source)
        .await
        .expect_err("through a link");
    assert!(matches!(&err, RemoteError::OutsideRoot { .. }), "{err:?}");
    assert_permanent(&err);
    let err = fx
        .remote
        .delete("link/secret.jpg")
        .await
        .expect_err("through a link");
    assert!(matches!(&err, RemoteError::OutsideRoot { .. }), "{err:?}");
    let err = fx
        .remote
        .head("link/secret.jpg")
        .await
        .expect_err("through a link");
    assert!(matches!(&err, RemoteError::OutsideRoot { .. }), "{err:?}");

    assert!(
        fx.keys("").await.is_empty(),
        "links are not followed by list"
    );
    let outside_files: Vec<_> = fs::read_dir(&outside)
        .expect("ls")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(outside_files, ["secret.jpg"]);
}

#[tokio::test]
async fn delete_of_a_missing_key_is_ok() {
    let fx = fixture();
    fx.put_bytes("a/x.jpg", b"bytes").await;

    fx.remote.delete("a/other.jpg").await.expect("missing file");
    fx.remote
        .delete("no/such/folder/x.jpg")
        .await
        .expect("missing folders");
    fx.remote
        .delete("a/x.jpg/below-a-file")
        .await
        .expect("below a file");
    fx.remote.delete("a/x.jpg").await.expect("first delete");
    fx.remote.delete("a/x.jpg").await.expect("repeated delete");
}

#[tokio::test]
async fn delete_prunes_emptied_folders_but_never_the_root() {
    let fx = fixture();
    fx.put_bytes("a/b/c/x.jpg", b"bytes").await;

    fx.remote.delete("a/b/c/x.jpg").await.expect("delete");

    assert!(fx.root.is_dir(), "the root stays");
    assert_eq!(
        fs::read_dir(&fx.root).expect("ls").count(),
        0,
        "a/b/c were pruned"
    );
}

#[tokio::test]
async fn delete_keeps_folders_that_still_hold_objects() {
    let fx = fixture();
    fx.put_bytes("a/keep.jpg", b"keep").await;
    fx.put_bytes("a/b/x.jpg", b"bytes").await;

    fx.remote.delete("a/b/x.jpg").await.expect("delete");

    assert_eq!(fx.files_on_disk(), ["a/keep.jpg"]);
    assert!(
        !fx.root.join("a/b").exists(),
        "the emptied folder is pruned"
    );
}

#[tokio::test]
async fn delete_removes_a_leftover_temporary_of_its_key() {
    let fx = fixture();
    fx.put_bytes("a/x.jpg", b"bytes").await;
    fs::write(fx.root.join("a/.x.jpg.syncroll-part"), b"crash leftover").expect("writing");

    fx.remote.delete("a/x.jpg").await.expect("delete");

    assert!(!fx.root.join("a").exists(), "temporary and folder are gone");
}

#[tokio::test]
async fn an_interrupted_put_is_discarded_and_its_object_kept() {
    let fx = fixture();
    fx.put_bytes("a/x.jpg", b"bytes").await;
    fs::write(fx.root.join("a/.x.jpg.syncroll-part"), b"crash leftover").expect("writing");
    fs::create_dir_all(fx.root.join("b/c")).expect("mkdir");
    fs::write(fx.root.join("b/c/.y.jpg.syncroll-part"), b"crash leftover").expect("writing");

    fx.remote
        .discard_interrupted_put("a/x.jpg")
        .await
        .expect("discard");
    fx.remote
        .discard_interrupted_put("b/c/y.jpg")
        .await
        .expect("discard");
    fx.remote
        .discard_interrupted_put("never/put.jpg")
        .await
        .expect("nothing there is fine");

    assert_eq!(fx.files_on_disk(), ["a/x.jpg"]);
    assert!(
        !fx.root.join("b").exists(),
        "the emptied folders are pruned"
    );
}

#[tokio::test]
async fn copy_produces_identical_bytes() {
    let fx = fixture();
    let bytes = pattern(3 << 20);
    fx.put_bytes("A/x.jpg", &bytes).await;

    let meta = fx
        .remote
        .copy("A/x.jpg", "B/deep/x.jpg", &CancellationToken::new())
        .await
        .expect("copy");

    assert_eq!(
        (meta.key.as_str(), meta.size),
        ("B/deep/x.jpg", bytes.len() as u64)
    );
    assert!(fs::read(fx.root.join("B/deep/x.jpg")).expect("reading") == bytes);
    assert!(
        fs::read(fx.root.join("A/x.jpg")).expect("reading") == bytes,
        "the source stays"
    );
    assert_eq!(fx.keys("").await, ["A/x.jpg", "B/deep/x.jpg"]);
}

#[tokio::test]
async fn copy_of_a_missing_key_is_not_found_and_permanent() {
    let fx = fixture();

    let err = fx
        .remote
        .copy("A/none.jpg", "B/x.jpg", &CancellationToken::new())
        .await
        .expect_err("no source");

    assert!(
        matches!(&err, RemoteError::NotFound { key } if key == "A/none.jpg"),
        "{err:?}"
    );
    assert_permanent(&err);
    assert!(fx.files_on_disk().is_empty());
}

#[tokio::test]
async fn list_of_a_prefix_excludes_sibling_prefixes_and_temporaries() {
    let fx = fixture();
    for key in ["A/1.jpg", "A/sub/2.jpg", "AB/3.jpg", "top.jpg"] {
        fx.put_bytes(key, b"bytes").await;
    }
    fs::write(fx.root.join("A/.4.jpg.syncroll-part"), b"in flight").expect("writing");

    assert_eq!(fx.keys("A/").await, ["A/1.jpg", "A/sub/2.jpg"]);
    assert_eq!(fx.keys("AB/").await, ["AB/3.jpg"]);
    assert_eq!(fx.keys("A/sub/").await, ["A/sub/2.jpg"]);
    assert_eq!(
        fx.keys("").await,
        ["A/1.jpg", "A/sub/2.jpg", "AB/3.jpg", "top.jpg"]
    );
}

#[tokio::test]
async fn list_reports_sizes_and_skips_what_cannot_be_an_object() {
    let fx = fixture();
    fx.put_bytes("a/x.jpg", &pattern(1234)).await;
    std::os::unix::fs::symlink(fx.root.join("a/x.jpg"), fx.root.join("a/link.jpg"))
        .expect("symlink");
    fs::write(fx.root.join("a/bad\nname.jpg"), b"no key can name this").expect("writing");

    let items: Vec<_> = fx.remote.list("").collect().await;

    let metas: Vec<_> = items
        .into_iter()
        .map(|item| item.expect("no error"))
        .collect();
    assert_eq!(metas.len(), 1, "{metas:?}");
    assert_eq!(
        (metas[0].key.as_str(), metas[0].size, &metas[0].etag),
        ("a/x.jpg", 1234, &None)
    );
}

#[tokio::test]
async fn list_of_a_missing_prefix_is_empty() {
    let fx = fixture();
    fx.put_bytes("a/x.jpg", b"bytes").await;

    assert!(fx.keys("none/").await.is_empty());
    assert!(
        fx.keys("a/x.jpg/").await.is_empty(),
        "below a file there is nothing"
    );
}

#[tokio::test]
async fn list_with_an_invalid_prefix_yields_one_error() {
    let fx = fixture();

    for prefix in ["A", "../", "/A/"] {
        let items: Vec<_> = fx.remote.list(prefix).collect().await;
        assert_eq!(items.len(), 1, "{prefix:?}: {items:?}");
        assert!(
            matches!(&items[0], Err(RemoteError::InvalidKey { .. })),
            "{items:?}"
        );
    }
}

#[tokio::test]
async fn describe_names_the_kind_and_the_root() {
    let remote = FsRemote::new("/mnt/nas/photos".into());
    assert_eq!(remote.describe(), "fs:/mnt/nas/photos");
}

#[test]
fn destination_errors_map_to_the_documented_variants() {
    use nix::errno::Errno;
    let site = Site {
        root: Path::new("/"),
        key: "a/x.jpg",
    };
    let classify = |errno: Errno| {
        site.error(
            "write",
            Path::new("/a/x.jpg"),
            io::Error::from_raw_os_error(errno as i32),
        )
    };

    for errno in [Errno::EACCES, Errno::EPERM, Errno::EROFS] {
        let err = classify(errno);
        assert!(
            matches!(err, RemoteError::PermissionDenied { .. }),
            "{errno}: {err:?}"
        );
        assert!(!err.is_transient());
    }
    for errno in [Errno::ENOSPC, Errno::EDQUOT] {
        let err = classify(errno);
        assert!(
            matches!(err, RemoteError::NoSpace { .. }),
            "{errno}: {err:?}"
        );
        assert!(err.is_transient());
    }
    for errno in [Errno::ENOTDIR, Errno::EISDIR, Errno::ENAMETOOLONG] {
        let err = classify(errno);
        assert!(matches!(err, RemoteError::Io { .. }), "{errno}: {err:?}");
        assert!(!err.is_transient(), "{errno} is permanent");
    }
    for errno in [Errno::EIO, Errno::ETIMEDOUT, Errno::ENOENT] {
        let err = classify(errno);
        assert!(matches!(err, RemoteError::Io { .. }), "{errno}: {err:?}");
        assert!(err.is_transient(), "{errno} is transient");
    }
}

#[test]
fn temporary_names_are_derived_from_the_name_and_fit_long_names() {
    assert_eq!(temp_name("x.jpg"), ".x.jpg.syncroll-part");
    let long = "n".repeat(250);
    let temp = temp_name(&long);
    assert!(temp.len() <= 255, "{temp}");
    assert_eq!(temp, temp_name(&long), "deterministic");
    assert!(super::paths::is_temp_name(&temp));
}
