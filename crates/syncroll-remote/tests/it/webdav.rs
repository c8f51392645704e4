//! [`WebDavRemote`] against an in-process WebDAV server (dav-server's
//! LocalFs) on loopback: what lands on the server, atomic replacement,
//! server-side copy, listing, cancellation and the error classification,
//! each through the public API.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use syncroll_remote::{
    PutReport, Remote, RemoteError, Secret, TransferBudget, WebDavRemote, WebDavSettings,
};
use syncroll_testkit::{EVENT_TIMEOUT, WebDavServer, wait_until_async as wait_until};

use crate::local::{Local, keys, pattern};
use tokio_stream::StreamExt;
use tokio_util::sync::CancellationToken;

const MIB: usize = 1 << 20;

struct Fixture {
    server: WebDavServer,
    local: Local,
}

fn fixture() -> Fixture {
    Fixture {
        server: WebDavServer::start(),
        local: Local::new(),
    }
}

fn settings(url: &str, password: &str) -> WebDavSettings {
    WebDavSettings {
        url: url.to_owned(),
        user: WebDavServer::USER.to_owned(),
        password: Secret::new(password),
        allow_http: true,
        folder_etags: true,
    }
}

impl Fixture {
    fn remote(&self) -> WebDavRemote {
        WebDavRemote::new(settings(&self.server.url(), WebDavServer::PASSWORD)).expect("a remote")
    }

    fn source(&self, name: &str, bytes: &[u8]) -> PathBuf {
        self.local.source(name, bytes)
    }

    async fn put(&self, remote: &WebDavRemote, key: &str, bytes: &[u8]) -> PutReport {
        self.local.put(remote, key, bytes).await
    }

    /// Every file under the served folder, relative, '/'-separated.
    fn files(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut stack = vec![self.server.folder()];
        while let Some(dir) = stack.pop() {
            for entry in fs::read_dir(&dir).expect("reading the served folder") {
                let path = entry.expect("an entry").path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    let rel = path.strip_prefix(self.server.folder()).unwrap();
                    out.push(rel.to_string_lossy().into_owned());
                }
            }
        }
        out.sort();
        out
    }
}

fn stored(server: &WebDavServer, key: &str) -> Vec<u8> {
    fs::read(server.folder().join(key)).unwrap_or_else(|e| panic!("reading {key}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_put_head_list_delete_keeps_bytes_and_hash() {
    let f = fixture();
    let remote = f.remote();
    let bytes = pattern(3 * MIB + 17, "a");
    let report = f.put(&remote, "P/Trip/2024/a b.jpg", &bytes).await;
    assert_eq!(report.size, bytes.len() as u64);
    assert_eq!(report.blake3, *blake3::hash(&bytes).as_bytes());
    assert_eq!(stored(&f.server, "P/Trip/2024/a b.jpg"), bytes);
    f.put(&remote, "P/Trip/b.jpg", b"small").await;
    assert_eq!(
        f.files(),
        vec!["P/Trip/2024/a b.jpg", "P/Trip/b.jpg"],
        "no temporaries left"
    );

    let head = remote
        .head("P/Trip/2024/a b.jpg")
        .await
        .unwrap()
        .expect("an object");
    assert_eq!(head.size, bytes.len() as u64);
    assert_eq!(remote.head("P/Trip/none.jpg").await.unwrap(), None);
    assert_eq!(
        keys(&remote, "P/").await,
        vec!["P/Trip/2024/a b.jpg", "P/Trip/b.jpg"]
    );
    assert_eq!(
        keys(&remote, "P/Trip/2024/").await,
        vec!["P/Trip/2024/a b.jpg"]
    );
    assert_eq!(
        keys(&remote, "Q/").await,
        Vec::<String>::new(),
        "a prefix never made lists empty"
    );

    remote.delete("P/Trip/b.jpg").await.unwrap();
    remote
        .delete("P/Trip/b.jpg")
        .await
        .expect("deleting twice is fine");
    assert_eq!(keys(&remote, "").await, vec!["P/Trip/2024/a b.jpg"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_upload_replaces_the_object_through_a_temporary() {
    let f = fixture();
    let remote = f.remote();
    f.put(&remote, "Trip/x.jpg", &pattern(MIB, "old")).await;
    let new = pattern(2 * MIB, "new");
    f.put(&remote, "Trip/x.jpg", &new).await;
    assert_eq!(stored(&f.server, "Trip/x.jpg"), new);
    let seen = f.server.seen();
    let puts: Vec<_> = seen.iter().filter(|r| r.method == "PUT").collect();
    assert!(
        puts.iter()
            .all(|r| r.target.contains(".x.jpg.syncroll-part")),
        "bytes go to a temporary, never straight to the key: {puts:#?}"
    );
    assert_eq!(seen.iter().filter(|r| r.method == "MOVE").count(), 2);
}

/// Uploads sharing a budget of two chunks all land, each waiting for room
/// as its chunks go, and the budget is whole again at the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_sharing_a_small_budget_all_land() {
    let f = fixture();
    let budget = TransferBudget::new(2 * MIB as u64);
    let remote = f.remote().with_budget(budget.clone());
    let files: Vec<(String, Vec<u8>)> = (0..8)
        .map(|i| {
            let key = format!("Shoot/{i}.raw");
            (key.clone(), pattern((i % 4) * 2 * MIB + 1, &key))
        })
        .collect();
    f.local.put_all_at_once(&remote, &files).await;
    for (key, bytes) in &files {
        assert!(
            stored(&f.server, key) == *bytes,
            "{key}: the stored bytes differ"
        );
    }
    assert_eq!(budget.in_use(), 0, "every reservation was given back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_is_server_side_and_identical() {
    let f = fixture();
    let remote = f.remote();
    let bytes = pattern(2 * MIB, "c");
    f.put(&remote, "A/one.jpg", &bytes).await;
    let puts_before = f.server.seen().iter().filter(|r| r.method == "PUT").count();
    let meta = remote
        .copy("A/one.jpg", "B/deep/two.jpg", &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(meta.size, bytes.len() as u64);
    assert_eq!(stored(&f.server, "B/deep/two.jpg"), bytes);
    let seen = f.server.seen();
    assert_eq!(
        seen.iter().filter(|r| r.method == "PUT").count(),
        puts_before,
        "no bytes sent again"
    );
    assert!(seen.iter().any(|r| r.method == "COPY"));
    let missing = remote
        .copy("A/none.jpg", "B/three.jpg", &CancellationToken::new())
        .await
        .unwrap_err();
    assert!(
        matches!(missing, RemoteError::NotFound { ref key } if key == "A/none.jpg"),
        "{missing:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_mid_upload_leaves_nothing() {
    let f = fixture();
    let remote = Arc::new(f.remote());
    let source = f.source("big.mov", &pattern(256 * MIB, "big"));
    let progress = Arc::new(AtomicU64::new(0));
    let cancel = CancellationToken::new();
    let upload = tokio::spawn({
        let (remote, progress, cancel) = (remote.clone(), progress.clone(), cancel.clone());
        async move {
            remote
                .put_file("Trip/big.mov", &source, &progress, &cancel)
                .await
        }
    });
    wait_until(EVENT_TIMEOUT, "bytes to flow", || {
        match progress.load(Ordering::Relaxed) {
            0 => Err(0),
            n => Ok(n),
        }
    })
    .await;
    cancel.cancel();
    let outcome = upload.await.unwrap();
    assert!(
        matches!(outcome, Err(RemoteError::Cancelled)),
        "{outcome:?}"
    );
    // The server may finish writing what it received before the temporary
    // goes: wait for the folder to settle empty.
    wait_until(EVENT_TIMEOUT, "no object and no temporary", || {
        let files = f.files();
        if files.is_empty() {
            Ok(())
        } else {
            let seen: Vec<String> = f
                .server
                .seen()
                .iter()
                .map(|r| format!("{} {}", r.method, r.target))
                .collect();
            Err((files, seen))
        }
    })
    .await;
    assert_eq!(remote.head("Trip/big.mov").await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_hides_temporaries_and_walks_many_folders() {
    let f = fixture();
    let remote = f.remote();
    for i in 0..30 {
        f.put(&remote, &format!("P/d{}/f{i}.jpg", i % 7), b"x")
            .await;
    }
    fs::write(
        f.server.folder().join("P/d1/.f1.jpg.syncroll-part"),
        b"half",
    )
    .unwrap();
    let listed = keys(&remote, "P/").await;
    assert_eq!(listed.len(), 30, "{listed:?}");
    assert!(listed.iter().all(|k| !k.contains("syncroll-part")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_permission_denied_and_permanent() {
    let f = fixture();
    let remote = WebDavRemote::new(settings(&f.server.url(), "not-the-password")).unwrap();
    let err = f.local.put_failing(&remote, "Trip/a.jpg", b"a").await;
    assert!(
        matches!(err, RemoteError::PermissionDenied { .. }),
        "{err:?}"
    );
    assert!(!err.is_transient());
    assert!(!err.to_string().contains("not-the-password"));
    let listing: Vec<_> = remote.list("").collect().await;
    assert!(
        matches!(
            listing.as_slice(),
            [Err(RemoteError::PermissionDenied { .. })]
        ),
        "{listing:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_folder_is_unavailable_and_never_created() {
    let f = fixture();
    let url = format!("{}/not-mounted", f.server.root_url());
    let remote = WebDavRemote::new(settings(&url, WebDavServer::PASSWORD)).unwrap();
    let err = f.local.put_failing(&remote, "Trip/a.jpg", b"a").await;
    assert!(matches!(err, RemoteError::Unavailable { .. }), "{err:?}");
    assert!(err.to_string().contains("not-mounted"), "{err}");
    assert!(!Path::new(&f.server.folder().parent().unwrap().join("not-mounted")).exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_is_unavailable_and_transient() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let remote = WebDavRemote::new(settings(&format!("http://127.0.0.1:{port}/dav"), "p")).unwrap();
    let err = remote.head("Trip/a.jpg").await.unwrap_err();
    assert!(matches!(err, RemoteError::Unavailable { .. }), "{err:?}");
    assert!(err.is_transient());
}

#[test]
fn debug_and_describe_never_show_the_password() {
    let remote =
        WebDavRemote::new(settings("https://cloud.example/dav/photos", "hunter2")).unwrap();
    let shown = format!("{remote:?} {}", remote.describe());
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(
        shown.contains("https://cloud.example/dav/photos/"),
        "{shown}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_server_says_how_long_to_wait() {
    let f = fixture();
    let remote = f.remote();
    f.server.busy_for(1);
    let err = remote.head("Trip/a.jpg").await.unwrap_err();
    assert!(matches!(err, RemoteError::Busy { .. }), "{err:?}");
    assert_eq!(err.retry_after(), Some(std::time::Duration::from_secs(1)));
    assert!(err.is_transient());
    assert_eq!(
        remote.head("Trip/a.jpg").await.unwrap(),
        None,
        "served again after"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vanished_folder_is_unavailable_never_all_deleted() {
    let f = fixture();
    let remote = f.remote();
    f.put(&remote, "Trip/a.jpg", b"a").await;
    // The disk behind the server is unmounted: the folder is gone.
    let away = f.server.folder().with_file_name("away");
    fs::rename(f.server.folder(), &away).unwrap();

    let deleted = remote.delete("Trip/a.jpg").await.unwrap_err();
    assert!(
        matches!(deleted, RemoteError::Unavailable { .. }),
        "{deleted:?}"
    );
    let copied = remote
        .copy("Trip/a.jpg", "Best/a.jpg", &CancellationToken::new())
        .await
        .unwrap_err();
    assert!(
        matches!(copied, RemoteError::Unavailable { .. }),
        "{copied:?}"
    );
    let listed: Vec<_> = remote.list("").collect().await;
    assert!(
        matches!(listed.as_slice(), [Err(RemoteError::Unavailable { .. })]),
        "a listing fails rather than come back empty: {listed:?}"
    );
    let put = f.local.put_failing(&remote, "Trip/b.jpg", b"b").await;
    assert!(matches!(put, RemoteError::Unavailable { .. }), "{put:?}");

    fs::rename(&away, f.server.folder()).unwrap();
    assert_eq!(stored(&f.server, "Trip/a.jpg"), b"a", "nothing was deleted");
    f.put(&remote, "Trip/b.jpg", b"b").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_removed_on_the_server_is_made_again() {
    let f = fixture();
    let remote = f.remote();
    f.put(&remote, "Trip/day/a.jpg", b"a").await;
    fs::remove_dir_all(f.server.folder().join("Trip")).unwrap();
    let first = f.local.put_failing(&remote, "Trip/day/b.jpg", b"b").await;
    assert!(
        first.is_transient(),
        "a missing folder is not a failure: {first:?}"
    );
    f.put(&remote, "Trip/day/b.jpg", b"b").await;
    assert_eq!(stored(&f.server, "Trip/day/b.jpg"), b"b");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoning_an_upload_deletes_its_temporary() {
    let f = fixture();
    let remote = f.remote();
    f.put(&remote, "Trip/a.jpg", b"a").await;
    // What a crash in the middle of a PUT leaves.
    fs::write(f.server.folder().join("Trip/.b.jpg.syncroll-part"), b"half").unwrap();
    remote.abandon_upload("Trip/b.jpg", "{}").await.unwrap();
    assert_eq!(f.files(), vec!["Trip/a.jpg"]);
}

/// A throttled remote's uploads and downloads both go at its limit: the
/// limit is applied where bytes move, for every backend (the daemon's
/// end-to-end tests time `fs` and S3 uploads the same way).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_upload_and_download_go_at_the_limit() {
    let f = fixture();
    let limit = syncroll_remote::Buckets::new();
    limit.set(Some(4 * MIB as u64), Some(4 * MIB as u64));
    let throttle = syncroll_remote::Throttle::new(vec![limit]);
    let remote = f.remote().with_throttle(throttle);
    let bytes = pattern(6 * MIB, "big");
    let started = std::time::Instant::now();
    f.put(&remote, "Shoot/big.raw", &bytes).await;
    let up = started.elapsed().as_secs_f64();
    let dest = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let got = remote
        .get_file(
            "Shoot/big.raw",
            &dest.path().join("big.raw"),
            &syncroll_remote::GetOptions::default(),
            &AtomicU64::new(0),
            &CancellationToken::new(),
        )
        .await
        .unwrap();
    let down = started.elapsed().as_secs_f64();
    assert_eq!(got.size, bytes.len() as u64);
    eprintln!("6 MiB at 4M: up {up:.2} s, down {down:.2} s");
    // 6 MiB at 4 MiB/s, less the first eighth of a second's burst.
    for secs in [up, down] {
        assert!((1.3..4.0).contains(&secs), "6 MiB at 4M took {secs:.2} s");
    }
}
