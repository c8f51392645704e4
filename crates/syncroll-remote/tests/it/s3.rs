//! [`S3Remote`] against an in-process S3 server (s3s-fs) on loopback: what
//! lands on the server, multipart uploads and their abort, resumption, and
//! the error classification, each through the public API.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use syncroll_remote::{
    MultipartState, PutReport, Remote, RemoteError, S3Remote, S3Settings, TransferBudget,
};
use tokio_stream::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::local::{Local, keys, pattern};
use crate::s3_server::{self, BUCKET, S3Server, Seen, settings};
use syncroll_testkit::{EVENT_TIMEOUT, wait_until_async as wait_until};

const MIB: usize = 1 << 20;
/// The default part size.
const PART: usize = 8 * MIB;
/// Bytes of a file whose upload is held up before its end: more than the
/// 16 MiB threshold, so it goes multipart, and a whole number of parts, so
/// every part read so far can land while the rest is awaited.
const HELD_BYTES: usize = 4 * PART;

/// Local files to upload, beside a server.
struct Fixture {
    server: S3Server,
    local: Local,
}

async fn fixture() -> Fixture {
    Fixture {
        server: S3Server::start(),
        local: Local::new(),
    }
}

impl Fixture {
    fn source(&self, name: &str, bytes: &[u8]) -> PathBuf {
        self.local.source(name, bytes)
    }

    async fn put(&self, remote: &S3Remote, key: &str, bytes: &[u8]) -> PutReport {
        self.local.put(remote, key, bytes).await
    }

    /// The bytes the server stores under `stored_key`.
    fn stored(&self, stored_key: &str) -> Vec<u8> {
        let path = self.server.object_file(stored_key);
        fs::read(&path).unwrap_or_else(|err| panic!("reading {}: {err}", path.display()))
    }

    /// Starts an upload from a fifo that yields `HELD_BYTES` of `bytes` and
    /// then nothing until the returned `InFlight` is dropped, so the test can
    /// act while the upload waits with every part read so far landed.
    fn start_held_put(&self, remote: &S3Remote, key: &str, bytes: &[u8], how: Upload) -> InFlight {
        let source = self.local.path().join("held.fifo");
        let feeder = HeldFifo::feed(&source, bytes[..HELD_BYTES].to_vec());
        let progress = Arc::new(AtomicU64::new(0));
        let cancel = CancellationToken::new();
        let (remote, key) = (remote.clone(), key.to_owned());
        let (task_progress, task_cancel) = (progress.clone(), cancel.clone());
        let task = tokio::spawn(async move {
            let (progress, cancel) = (&*task_progress, &task_cancel);
            let mut state = None;
            let result = match how {
                Upload::Plain => remote.put_file(&key, &source, progress, cancel).await,
                Upload::Resumable => {
                    let resumable =
                        remote.put_file_resumable(&key, &source, progress, cancel, &mut state);
                    resumable.await
                }
            };
            (result, state)
        });
        InFlight {
            progress,
            cancel,
            task,
            _feeder: feeder,
        }
    }
}

/// How [`Fixture::start_held_put`] uploads.
#[derive(Debug, Clone, Copy)]
enum Upload {
    /// `put_file`.
    Plain,
    /// `put_file_resumable`, from no state.
    Resumable,
}

type Outcome = (Result<PutReport, RemoteError>, Option<MultipartState>);

struct InFlight {
    progress: Arc<AtomicU64>,
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<Outcome>,
    _feeder: HeldFifo,
}

impl InFlight {
    /// Waits until every held byte has landed on the server.
    async fn wait_until_held_bytes_landed(&self) {
        wait_until(
            EVENT_TIMEOUT,
            "the parts read so far to land",
            || match self.progress.load(Ordering::Relaxed) {
                sent if sent == HELD_BYTES as u64 => Ok(()),
                sent => Err(sent),
            },
        )
        .await;
    }

    async fn cancelled(self) -> Outcome {
        self.cancel.cancel();
        tokio::time::timeout(EVENT_TIMEOUT, self.task)
            .await
            .expect("the put to end after cancel")
            .expect("the put task not to panic")
    }
}

/// A fifo fed with some bytes by a thread, which then keeps it open (so the
/// reader waits rather than seeing the end) until this is dropped.
struct HeldFifo {
    _release: std::sync::mpsc::Sender<()>,
}

impl HeldFifo {
    fn feed(path: &Path, bytes: Vec<u8>) -> Self {
        use nix::sys::stat::Mode;
        use std::io::Write;
        nix::unistd::mkfifo(path, Mode::S_IRUSR | Mode::S_IWUSR).expect("making a fifo");
        let (release, released) = std::sync::mpsc::channel::<()>();
        let path = path.to_owned();
        std::thread::spawn(move || {
            let mut fifo = fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .expect("opening the fifo");
            // Fails with EPIPE if the reader is gone already.
            let _ = fifo.write_all(&bytes);
            // Returns once the sender is dropped.
            let _ = released.recv();
        });
        Self { _release: release }
    }
}

fn count(seen: &[Seen], what: impl Fn(&Seen) -> bool) -> usize {
    seen.iter().filter(|s| what(s)).count()
}

fn is_part_upload(s: &Seen) -> bool {
    s.method == "PUT" && s.target.contains("partNumber=")
}

fn is_abort(s: &Seen) -> bool {
    s.method == "DELETE" && s.target.contains("uploadId=")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_put_head_list_delete_keeps_bytes_and_hash() {
    let f = fixture().await;
    let remote = s3_server::remote(&f.server, "syncroll");
    let bytes = pattern(300 * 1024, "round trip");

    let report = f.put(&remote, "Trip 2024/été/IMG 0001.jpg", &bytes).await;

    assert_eq!(report.size, bytes.len() as u64);
    assert_eq!(report.blake3, *blake3::hash(&bytes).as_bytes());
    assert!(report.etag.is_some(), "the server's ETag is reported");
    assert_eq!(f.stored("syncroll/Trip 2024/été/IMG 0001.jpg"), bytes);
    let head = remote
        .head("Trip 2024/été/IMG 0001.jpg")
        .await
        .expect("head")
        .expect("the object is there");
    assert_eq!(head.size, report.size);
    assert_eq!(head.etag, report.etag);
    assert_eq!(keys(&remote, "").await, ["Trip 2024/été/IMG 0001.jpg"]);

    remote
        .delete("Trip 2024/été/IMG 0001.jpg")
        .await
        .expect("delete");
    assert_eq!(
        remote
            .head("Trip 2024/été/IMG 0001.jpg")
            .await
            .expect("head"),
        None
    );
    assert!(keys(&remote, "").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_40_mib_file_goes_up_in_parts_and_matches() {
    let f = fixture().await;
    let remote = s3_server::remote(&f.server, "");
    let bytes = pattern(40 * MIB, "large");

    let report = f.put(&remote, "video/clip.mov", &bytes).await;

    assert_eq!(report.blake3, *blake3::hash(&bytes).as_bytes());
    assert_eq!(
        count(&f.server.seen(), is_part_upload),
        5,
        "5 parts of 8 MiB"
    );
    let etag = report.etag.expect("an ETag");
    assert!(
        etag.trim_matches('"').ends_with("-5"),
        "a multipart ETag: {etag}"
    );
    assert!(
        f.stored("video/clip.mov") == bytes,
        "the stored bytes differ"
    );
    assert_eq!(
        f.server.multipart_files(),
        Vec::<String>::new(),
        "no upload left open"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_at_the_threshold_goes_up_in_one_put() {
    let f = fixture().await;
    let remote = s3_server::remote(&f.server, "");
    let bytes = pattern(16 * MIB, "threshold");

    let report = f.put(&remote, "exact.raw", &bytes).await;

    assert_eq!(report.size, bytes.len() as u64);
    assert_eq!(count(&f.server.seen(), is_part_upload), 0);
    assert!(f.stored("exact.raw") == bytes, "the stored bytes differ");
}

/// Many uploads of every size share a budget of one part: each waits for
/// room, none waits for ever on another, every byte lands, and the budget
/// is whole again at the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_sharing_a_budget_of_one_part_all_land() {
    let f = fixture().await;
    let budget = TransferBudget::new(PART as u64);
    let remote = s3_server::remote(&f.server, "").with_budget(budget.clone());
    let sizes = [20 * MIB, 12 * MIB, 100 << 10, 9 * MIB, 3 * MIB, 1];
    let files: Vec<(String, Vec<u8>)> = (0..18)
        .map(|i| {
            let key = format!("shoot/{i:02}.raw");
            (key.clone(), pattern(sizes[i % sizes.len()], &key))
        })
        .collect();
    let reports = f.local.put_all_at_once(&remote, &files).await;
    for ((key, bytes), report) in files.iter().zip(reports) {
        assert_eq!(report.size, bytes.len() as u64, "{key}");
        assert!(f.stored(key) == *bytes, "{key}: the stored bytes differ");
    }
    assert_eq!(budget.in_use(), 0, "every reservation was given back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_mid_multipart_aborts_the_upload_and_leaves_nothing() {
    let f = fixture().await;
    let remote = s3_server::remote(&f.server, "");
    let bytes = pattern(40 * MIB, "cancel");
    let held = f.start_held_put(&remote, "big.mov", &bytes, Upload::Plain);
    held.wait_until_held_bytes_landed().await;
    let open = f.server.multipart_files();
    assert_eq!(open.len(), 5, "an upload with 4 parts is open: {open:?}");

    let (result, _) = held.cancelled().await;

    assert!(matches!(result, Err(RemoteError::Cancelled)), "{result:?}");
    assert_eq!(
        count(&f.server.seen(), is_abort),
        1,
        "the upload was aborted"
    );
    assert_eq!(
        f.server.multipart_files(),
        Vec::<String>::new(),
        "no upload or part left"
    );
    assert_eq!(remote.head("big.mov").await.expect("head"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumed_upload_sends_only_the_missing_parts() {
    let f = fixture().await;
    let remote = s3_server::remote(&f.server, "");
    let bytes = pattern(40 * MIB, "resume");
    let held = f.start_held_put(&remote, "big.mov", &bytes, Upload::Resumable);
    held.wait_until_held_bytes_landed().await;
    let (result, state) = held.cancelled().await;
    assert!(matches!(result, Err(RemoteError::Cancelled)), "{result:?}");
    let state = state.expect("a cancelled resumable upload is kept");
    assert_eq!(state.parts.len(), 4, "{state:?}");
    assert_eq!(count(&f.server.seen(), is_abort), 0, "nothing aborted");
    let state: MultipartState =
        serde_json::from_str(&serde_json::to_string(&state).expect("to json"))
            .expect("the state survives a round trip through JSON");

    let source = f.source("big.mov", &bytes);
    let parts_before = count(&f.server.seen(), is_part_upload);
    let progress = AtomicU64::new(0);
    let mut state = Some(state);
    let report = remote
        .put_file_resumable(
            "big.mov",
            &source,
            &progress,
            &CancellationToken::new(),
            &mut state,
        )
        .await
        .expect("the resumed upload");

    assert_eq!(state, None, "a finished upload leaves no state");
    assert_eq!(report.size, bytes.len() as u64);
    assert_eq!(report.blake3, *blake3::hash(&bytes).as_bytes());
    assert_eq!(
        progress.load(Ordering::Relaxed),
        report.size,
        "re-read parts count"
    );
    let parts_sent = count(&f.server.seen(), is_part_upload) - parts_before;
    assert_eq!(parts_sent, 1, "only the fifth part was sent");
    assert!(f.stored("big.mov") == bytes, "the stored bytes differ");
    assert_eq!(f.server.multipart_files(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumption_starts_over_when_the_file_changed() {
    let f = fixture().await;
    let remote = s3_server::remote(&f.server, "");
    let bytes = pattern(40 * MIB, "before");
    let held = f.start_held_put(&remote, "big.mov", &bytes, Upload::Resumable);
    held.wait_until_held_bytes_landed().await;
    let (_, state) = held.cancelled().await;
    assert!(state.is_some());

    let mut changed = bytes.clone();
    changed[PART + 7] ^= 0xff;
    let source = f.source("big.mov", &changed);
    let mut state = state;
    let progress = AtomicU64::new(0);
    let report = remote
        .put_file_resumable(
            "big.mov",
            &source,
            &progress,
            &CancellationToken::new(),
            &mut state,
        )
        .await
        .expect("the upload started over");

    assert_eq!(state, None);
    assert_eq!(
        progress.load(Ordering::Relaxed),
        changed.len() as u64,
        "the part re-read before the change showed is not counted twice"
    );
    assert_eq!(report.blake3, *blake3::hash(&changed).as_bytes());
    assert!(f.stored("big.mov") == changed, "the stored bytes differ");
    assert_eq!(
        count(&f.server.seen(), is_abort),
        1,
        "the stale upload was aborted"
    );
    assert_eq!(f.server.multipart_files(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_is_server_side_and_identical() {
    let f = fixture().await;
    let remote = s3_server::remote(&f.server, "p");
    let bytes = pattern(200 * 1024, "copy");
    let report = f.put(&remote, "A/x.jpg", &bytes).await;
    let gets_before = count(&f.server.seen(), |s| s.method == "GET");

    let copied = remote
        .copy("A/x.jpg", "B/x.jpg", &CancellationToken::new())
        .await
        .expect("copy");

    assert_eq!(copied.key, "B/x.jpg");
    assert_eq!(copied.size, report.size);
    assert_eq!(f.stored("p/B/x.jpg"), bytes);
    let seen = f.server.seen();
    assert_eq!(
        count(&seen, |s| s.method == "PUT" && s.copy_source),
        1,
        "one CopyObject"
    );
    assert_eq!(
        count(&seen, |s| s.method == "GET"),
        gets_before,
        "no bytes read back"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_of_a_missing_key_is_not_found() {
    let f = fixture().await;
    let remote = s3_server::remote(&f.server, "");

    let err = remote
        .copy("gone.jpg", "b.jpg", &CancellationToken::new())
        .await
        .expect_err("nothing to copy");

    assert!(
        matches!(&err, RemoteError::NotFound { key } if key == "gone.jpg"),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_of_a_missing_key_is_ok() {
    let f = fixture().await;
    let remote = s3_server::remote(&f.server, "p");

    remote
        .delete("never/was.jpg")
        .await
        .expect("deleting nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_many_goes_in_one_request_and_reports_each_key() {
    let f = fixture().await;
    let remote = s3_server::remote(&f.server, "p");
    let mut doomed: Vec<String> = (0..30).map(|i| format!("A/{i}.jpg")).collect();
    for key in &doomed {
        f.put(&remote, key, b"x").await;
    }
    f.put(&remote, "B/stays.jpg", b"y").await;
    doomed.push("A/never-was.jpg".to_owned());
    doomed.push("A/../bad.jpg".to_owned());
    let before = f.server.seen().len();

    let results = remote.delete_many(&doomed).await;
    assert_eq!(results.len(), doomed.len());
    assert!(results[..31].iter().all(Result::is_ok), "{results:?}");
    assert!(
        matches!(results[31], Err(RemoteError::InvalidKey { .. })),
        "{:?}",
        results[31]
    );
    assert_eq!(keys(&remote, "").await, ["B/stays.jpg"]);
    let seen = &f.server.seen()[before..];
    assert_eq!(
        count(seen, |s| s.method == "POST" && s.target.contains("delete")),
        1,
        "one DeleteObjects request: {seen:#?}"
    );
    assert_eq!(count(seen, |s| s.method == "DELETE"), 0, "{seen:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_strips_the_prefix_and_skips_sibling_prefixes() {
    let f = fixture().await;
    let remote = s3_server::remote(&f.server, "photos/main");
    let sibling = s3_server::remote(&f.server, "photos/main2");
    for key in ["A/1.jpg", "A/sub/2.jpg", "B/3.jpg"] {
        f.put(&remote, key, b"x").await;
    }
    f.put(&sibling, "A/9.jpg", b"y").await;
    f.put(&s3_server::remote(&f.server, "photos"), "main.jpg", b"z")
        .await;

    assert_eq!(
        keys(&remote, "").await,
        ["A/1.jpg", "A/sub/2.jpg", "B/3.jpg"]
    );
    assert_eq!(keys(&remote, "A/").await, ["A/1.jpg", "A/sub/2.jpg"]);
    assert_eq!(keys(&sibling, "").await, ["A/9.jpg"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_pages_through_more_than_a_thousand_objects() {
    let f = fixture().await;
    let remote = s3_server::remote(&f.server, "many");
    // Placed on the server's disk directly: 1005 PUTs would only slow the
    // test down.
    let dir = f.server.bucket_dir().join("many").join("roll");
    fs::create_dir_all(&dir).expect("creating the folder");
    for i in 0..1005 {
        fs::write(dir.join(format!("{i:04}.jpg")), b"").expect("placing an object");
    }

    let listed = keys(&remote, "roll/").await;

    assert_eq!(listed.len(), 1005);
    assert_eq!(listed.first().map(String::as_str), Some("roll/0000.jpg"));
    assert_eq!(listed.last().map(String::as_str), Some("roll/1004.jpg"));
    let pages = count(&f.server.seen(), |s| {
        s.method == "GET" && s.target.contains("list-type=2")
    });
    assert_eq!(pages, 2, "two pages of at most 1000");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_secret_is_permission_denied_and_permanent() {
    let f = fixture().await;
    let remote = S3Remote::new(S3Settings {
        secret_access_key: "not-the-secret".to_owned().into(),
        ..settings(&f.server, "")
    })
    .expect("valid settings");
    let source = f.source("a.jpg", b"abc");

    let put = remote
        .put_file(
            "a.jpg",
            &source,
            &AtomicU64::new(0),
            &CancellationToken::new(),
        )
        .await
        .expect_err("refused");
    let head = remote.head("a.jpg").await.expect_err("refused");

    for err in [put, head] {
        assert!(
            matches!(err, RemoteError::PermissionDenied { .. }),
            "{err:?}"
        );
        assert!(!err.is_transient(), "{err}");
        let msg = err.to_string();
        assert!(msg.contains("credentials or the bucket policy"), "{msg}");
        assert!(!msg.contains("not-the-secret"), "{msg}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_bucket_is_bucket_missing_and_permanent() {
    let f = fixture().await;
    let remote = S3Remote::new(S3Settings {
        bucket: "no-such-bucket".to_owned(),
        ..settings(&f.server, "")
    })
    .expect("valid settings");

    let head = remote.head("a.jpg").await.expect_err("no bucket");
    let delete = remote.delete("a.jpg").await.expect_err("no bucket");
    let [many] =
        <[_; 1]>::try_from(remote.delete_many(&["a.jpg".to_owned()]).await).expect("one result");
    let many = many.expect_err("no bucket");
    let listed: Vec<_> = remote.list("").collect().await;
    let [Err(list)] = <[_; 1]>::try_from(listed).expect("one item") else {
        panic!("the listing should fail");
    };

    for err in [head, delete, many, list] {
        assert!(
            matches!(&err, RemoteError::BucketMissing { bucket } if bucket == "no-such-bucket"),
            "{err:?}"
        );
        assert!(!err.is_transient());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_endpoint_is_unavailable_and_transient() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binding a port");
        listener.local_addr().expect("its address").port()
    };
    let remote = S3Remote::new(S3Settings {
        endpoint: format!("http://127.0.0.1:{port}"),
        bucket: BUCKET.to_owned(),
        access_key_id: "k".to_owned(),
        secret_access_key: "s".to_owned().into(),
        allow_http: true,
        ..S3Settings::default()
    })
    .expect("valid settings");

    let err = remote.head("a.jpg").await.expect_err("nobody listens");

    assert!(matches!(err, RemoteError::Unavailable { .. }), "{err:?}");
    assert!(err.is_transient());
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );
}

#[tokio::test]
async fn invalid_bucket_names_and_endpoints_are_rejected_by_name() {
    let base = S3Settings {
        endpoint: "https://s3.example.com".to_owned(),
        bucket: "photos".to_owned(),
        access_key_id: "k".to_owned(),
        secret_access_key: "s".to_owned().into(),
        ..S3Settings::default()
    };
    let cases = [
        (
            "bucket",
            S3Settings {
                bucket: "My_Photos".into(),
                ..base.clone()
            },
        ),
        (
            "bucket",
            S3Settings {
                bucket: "10.0.0.1".into(),
                ..base.clone()
            },
        ),
        (
            "bucket",
            S3Settings {
                bucket: "ab".into(),
                ..base.clone()
            },
        ),
        (
            "endpoint",
            S3Settings {
                endpoint: "s3.example.com".into(),
                ..base.clone()
            },
        ),
        (
            "endpoint",
            S3Settings {
                endpoint: "http://s3.example.com".into(),
                ..base.clone()
            },
        ),
    ];
    for (field, settings) in cases {
        let value = match field {
            "bucket" => settings.bucket.clone(),
            _ => settings.endpoint.clone(),
        };
        let err = S3Remote::new(settings).expect_err("invalid settings");
        assert!(
            matches!(&err, RemoteError::InvalidSettings { field: f, value: v, .. } if *f == field && *v == value),
            "{err:?}"
        );
        assert!(err.to_string().contains(&value), "{err}");
        assert!(!err.is_transient());
    }
}

#[tokio::test]
async fn debug_and_describe_never_show_the_secret() {
    let settings = S3Settings {
        endpoint: "http://127.0.0.1:9000".to_owned(),
        bucket: "photos".to_owned(),
        prefix: "family".to_owned(),
        access_key_id: "AKID".to_owned(),
        secret_access_key: "very-secret-value".to_owned().into(),
        allow_http: true,
        ..S3Settings::default()
    };
    let shown = format!("{settings:?}");
    assert!(!shown.contains("very-secret-value"), "{shown}");
    assert!(shown.contains("***"), "{shown}");

    let remote = S3Remote::new(settings).expect("valid settings");

    assert_eq!(remote.describe(), "s3:http://127.0.0.1:9000/photos/family");
    let shown = format!("{remote:?}");
    assert!(!shown.contains("very-secret-value"), "{shown}");
}
