//! What pulling needs of every backend (`fs`, the in-process S3 server, the
//! in-process WebDAV server), through the public API: modification times in
//! listings, atomic downloads that never replace a file unasked, resumption
//! after an interruption (counting the bytes the server sent again), and
//! conditional uploads that refuse to overwrite a remote edit.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use syncroll_remote::{
    FolderTags, FsRemote, GetOptions, GetReport, ListEvent, ObjectMeta, Partial, Placement,
    Precondition, PutReport, Remote, RemoteError, WebDavRemote, WebDavSettings,
    is_download_temporary,
};
use syncroll_testkit::{EVENT_TIMEOUT, Mount, S3Server, Seen, WebDavServer, wait_until_async};
use tempfile::TempDir;
use tokio_stream::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::cut::{Cut, CutMode};
use crate::local::{Local, pattern};
use crate::s3_server;

const MIB: usize = 1 << 20;

#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Fs,
    S3,
    WebDav,
}

/// A backend of one kind, its server (if any), local files to upload and a
/// folder to download into.
pub struct Env {
    pub remote: Arc<dyn Remote>,
    pub local: Local,
    inbox: TempDir,
    _fs_root: Option<TempDir>,
    s3: Option<S3Server>,
    dav: Option<WebDavServer>,
}

impl Env {
    pub fn start(kind: Kind) -> Self {
        let (mut fs_root, mut s3, mut dav) = (None, None, None);
        let remote: Arc<dyn Remote> = match kind {
            Kind::Fs => {
                let root = TempDir::new().expect("a remote folder");
                let remote = FsRemote::new(root.path().to_owned());
                fs_root = Some(root);
                Arc::new(remote)
            }
            Kind::S3 => {
                let server = S3Server::start();
                let remote = s3_server::remote(&server, "");
                s3 = Some(server);
                Arc::new(remote)
            }
            Kind::WebDav => {
                let server = WebDavServer::start();
                let remote = webdav_remote(&server);
                dav = Some(server);
                Arc::new(remote)
            }
        };
        Self {
            remote,
            local: Local::new(),
            inbox: TempDir::new().expect("an inbox"),
            _fs_root: fs_root,
            s3,
            dav,
        }
    }

    pub async fn put(&self, key: &str, bytes: &[u8]) -> PutReport {
        self.local.put(&*self.remote, key, bytes).await
    }

    pub fn dest(&self, name: &str) -> PathBuf {
        self.inbox.path().join(name)
    }

    /// The server's log of GET requests, if there is a server.
    fn gets(&self) -> Option<Vec<Seen>> {
        let seen = match (&self.s3, &self.dav) {
            (Some(s3), _) => s3.seen(),
            (_, Some(dav)) => dav.seen(),
            _ => return None,
        };
        Some(seen.into_iter().filter(|s| s.method == "GET").collect())
    }

    /// Download temporaries left in the inbox.
    fn leftovers(&self) -> Vec<String> {
        leftovers(self.inbox.path())
    }

    async fn get(
        &self,
        key: &str,
        name: &str,
        options: &GetOptions,
    ) -> Result<GetReport, RemoteError> {
        let progress = AtomicU64::new(0);
        let got = self
            .remote
            .get_file(
                key,
                &self.dest(name),
                options,
                &progress,
                &CancellationToken::new(),
            )
            .await;
        if let Ok(report) = &got {
            assert_eq!(
                progress.load(Ordering::Relaxed),
                report.size,
                "progress counts every byte"
            );
        }
        got
    }
}

fn webdav_remote(server: &WebDavServer) -> WebDavRemote {
    WebDavRemote::new(WebDavSettings {
        url: server.url(),
        user: WebDavServer::USER.to_owned(),
        password: syncroll_remote::Secret::new(WebDavServer::PASSWORD),
        allow_http: true,
        // The test server propagates folder ETags as Nextcloud does.
        folder_etags: true,
    })
    .expect("a remote")
}

pub fn leftovers(dir: &Path) -> Vec<String> {
    let names = fs::read_dir(dir).expect("reading a folder");
    names
        .map(|e| {
            e.expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| is_download_temporary(name))
        .collect()
}

fn expected(meta: ObjectMeta) -> GetOptions {
    GetOptions {
        expected: Some(meta),
        ..GetOptions::default()
    }
}

/// Runs each named test against every backend.
macro_rules! on_every_backend {
    ($($test:ident),* $(,)?) => {
        mod fs_remote {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() { super::$test(super::Kind::Fs).await })*
        }
        mod s3_remote {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() { super::$test(super::Kind::S3).await })*
        }
        mod webdav_remote {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() { super::$test(super::Kind::WebDav).await })*
        }
    };
}

on_every_backend!(
    listing_and_head_report_the_modified_time,
    a_download_lands_whole_with_its_hash_and_leaves_no_temporary,
    a_download_never_replaces_an_existing_file_unless_asked,
    a_download_of_a_changed_object_fails_its_precondition,
    a_cancelled_download_leaves_no_temporary,
    an_interrupted_download_resumes_fetching_only_the_rest,
    a_kept_partial_of_an_older_version_is_not_resumed,
    a_put_if_absent_refuses_an_existing_object,
    a_put_if_matching_refuses_a_remote_edit_and_lands_on_the_base,
    a_first_poll_lists_every_object,
    a_full_disk_fails_the_download_cleanly,
    a_download_cut_off_by_a_crash_is_resumed_after_restart,
);

async fn a_download_cut_off_by_a_crash_is_resumed_after_restart(kind: Kind) {
    let env = Env::start(kind);
    let bytes = pattern(4 * MIB + 5, "crash");
    env.put("a.jpg", &bytes).await;
    let stalling = Cut::new(env.remote.clone(), 2 * MIB as u64, CutMode::Stall);
    let progress = AtomicU64::new(0);
    let (dest, cancel, options) = (
        env.dest("a.jpg"),
        CancellationToken::new(),
        GetOptions::default(),
    );
    let mut download = Box::pin(stalling.get_file("a.jpg", &dest, &options, &progress, &cancel));
    tokio::select! {
        got = &mut download => panic!("the read stalls, yet the download ended: {got:?}"),
        () = wait_until_async(EVENT_TIMEOUT, "a chunk written", || {
            let done = progress.load(Ordering::Relaxed);
            if done >= MIB as u64 { Ok(()) } else { Err(done) }
        }) => {}
    }
    // A crash: no destructor runs, so nothing is cleaned up. The future is
    // kept, never polled again, rather than leaked: a leaked `fs` read
    // would hold a blocking thread forever, and the test's runtime waits
    // for its blocking threads when it shuts down.
    let crashed = download;
    assert_eq!(env.leftovers().len(), 2, "the temporary and its note");
    let gets_before = env.gets().map(|g| g.len());

    let report = env
        .get("a.jpg", "a.jpg", &GetOptions::default())
        .await
        .unwrap();

    assert!(report.resumed_from >= MIB as u64, "{report:?}");
    assert_eq!(fs::read(&dest).unwrap(), bytes);
    assert_eq!(report.blake3, *blake3::hash(&bytes).as_bytes());
    assert_eq!(env.leftovers(), Vec::<String>::new());
    if let (Some(gets), Some(before)) = (env.gets(), gets_before) {
        let resumed = &gets[before..];
        assert_eq!(resumed.len(), 1, "{resumed:?}");
        let rest = bytes.len() as u64 - report.resumed_from;
        assert_eq!(resumed[0].served_bytes(), rest, "only the rest was sent");
    }
    drop(crashed);
}

async fn a_full_disk_fails_the_download_cleanly(kind: Kind) {
    let env = Env::start(kind);
    env.put("a.jpg", &pattern(3 * MIB, "too big")).await;
    let small = env.dest("small");
    fs::create_dir(&small).unwrap();
    let _disk = Mount::tmpfs_of(&small, "1m");
    let dest = small.join("a.jpg");

    for partial in [Partial::Discard, Partial::KeepForResume] {
        let options = GetOptions {
            partial,
            ..GetOptions::default()
        };
        let progress = AtomicU64::new(0);
        let cancel = CancellationToken::new();
        let got = env
            .remote
            .get_file("a.jpg", &dest, &options, &progress, &cancel)
            .await;

        let err = got.expect_err("the disk is too small");
        assert!(matches!(err, RemoteError::LocalNoSpace { .. }), "{err:?}");
        assert!(err.is_transient());
        assert!(
            err.to_string().contains("no space left on the local disk"),
            "{err}"
        );
        assert!(!dest.exists());
        assert_eq!(leftovers(&small), Vec::<String>::new(), "{partial:?}");
    }
}

/// Polls `prefix` with `known`: the events, sorted, and `known` updated
/// with the tags of the folders walked.
async fn poll(
    remote: &dyn Remote,
    prefix: &str,
    known: &mut HashMap<String, String>,
) -> Vec<ListEvent> {
    let snapshot: Arc<dyn FolderTags> = Arc::new(known.clone());
    let mut events: Vec<ListEvent> = remote
        .list_changed(prefix, snapshot)
        .map(|e| e.unwrap_or_else(|err| panic!("polling {prefix:?}: {err}")))
        .collect()
        .await;
    for event in &events {
        if let ListEvent::Folder {
            path,
            etag: Some(etag),
        } = event
        {
            known.insert(path.clone(), etag.clone());
        }
    }
    events.sort_by_key(|e| format!("{e:?}"));
    events
}

fn object_keys(events: &[ListEvent]) -> Vec<&str> {
    let mut keys: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            ListEvent::Object(meta) => Some(meta.key.as_str()),
            _ => None,
        })
        .collect();
    keys.sort();
    keys
}

async fn a_first_poll_lists_every_object(kind: Kind) {
    let env = Env::start(kind);
    for key in ["top.jpg", "a/1.jpg", "a/deep/2.jpg", "b/3.jpg"] {
        env.put(key, key.as_bytes()).await;
    }

    let events = poll(&*env.remote, "", &mut HashMap::new()).await;

    assert_eq!(
        object_keys(&events),
        ["a/1.jpg", "a/deep/2.jpg", "b/3.jpg", "top.jpg"]
    );
}

fn propfinds(server: &WebDavServer) -> usize {
    server
        .seen()
        .iter()
        .filter(|s| s.method == "PROPFIND")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webdav_polling_walks_only_the_folders_whose_tag_changed() {
    let env = Env::start(Kind::WebDav);
    for key in ["top.jpg", "a/1.jpg", "a/deep/2.jpg", "b/3.jpg", "c/4.jpg"] {
        env.put(key, key.as_bytes()).await;
    }
    let mut known = HashMap::new();
    poll(&*env.remote, "", &mut known).await;
    let dav = env.dav.as_ref().expect("a WebDAV server");

    let before = propfinds(dav);
    let unchanged = poll(&*env.remote, "", &mut known).await;
    assert_eq!(
        unchanged,
        [ListEvent::Unchanged {
            path: String::new()
        }]
    );
    assert_eq!(
        propfinds(dav) - before,
        1,
        "an unchanged tree costs one request"
    );

    env.put("a/deep/2.jpg", b"edited elsewhere").await;
    let before = propfinds(dav);
    let changed = poll(&*env.remote, "", &mut known).await;

    // The top (a Depth 0 look, then its listing), a and a/deep: b and c
    // are not walked.
    assert_eq!(propfinds(dav) - before, 4);
    assert_eq!(
        object_keys(&changed),
        ["a/1.jpg", "a/deep/2.jpg", "top.jpg"]
    );
    for folder in ["b", "c"] {
        let unchanged = ListEvent::Unchanged {
            path: folder.to_owned(),
        };
        assert!(changed.contains(&unchanged), "{folder}: {changed:?}");
    }
    let edited = changed.iter().find_map(|e| match e {
        ListEvent::Object(meta) if meta.key == "a/deep/2.jpg" => Some(meta),
        _ => None,
    });
    assert_eq!(edited.expect("listed").size, 16);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webdav_polling_an_unchanged_album_of_10000_objects_costs_one_request() {
    let env = Env::start(Kind::WebDav);
    let dav = env.dav.as_ref().expect("a WebDAV server");
    // Placed on the server's disk: 100 folders of 100 photos.
    for folder in 0..100 {
        let dir = dav.folder().join(format!("album/{folder:03}"));
        fs::create_dir_all(&dir).unwrap();
        for photo in 0..100 {
            fs::write(dir.join(format!("IMG_{photo:04}.jpg")), b"x").unwrap();
        }
    }
    let mut known = HashMap::new();
    let first = poll(&*env.remote, "album/", &mut known).await;
    assert_eq!(object_keys(&first).len(), 10_000);

    let before = propfinds(dav);
    let second = poll(&*env.remote, "album/", &mut known).await;

    assert_eq!(
        second,
        [ListEvent::Unchanged {
            path: "album".to_owned()
        }]
    );
    assert_eq!(propfinds(dav) - before, 1);
}

async fn listing_and_head_report_the_modified_time(kind: Kind) {
    let env = Env::start(kind);
    // S3 and WebDAV report whole seconds.
    let before = SystemTime::now() - Duration::from_secs(2);
    env.put("album/a.jpg", b"abc").await;
    let after = SystemTime::now() + Duration::from_secs(2);

    let head = env
        .remote
        .head("album/a.jpg")
        .await
        .unwrap()
        .expect("there");
    let listed: Vec<ObjectMeta> = env.remote.list("").map(Result::unwrap).collect().await;

    assert_eq!(listed.len(), 1, "{listed:?}");
    for meta in [&head, &listed[0]] {
        let modified = meta.modified.expect("a modified time");
        assert!(before <= modified && modified <= after, "{meta:?}");
    }
    assert!(head.same_version(&listed[0]), "{head:?} vs {:?}", listed[0]);
}

async fn a_download_lands_whole_with_its_hash_and_leaves_no_temporary(kind: Kind) {
    let env = Env::start(kind);
    let bytes = pattern(3 * MIB + 17, "whole");
    let put = env.put("album/a.jpg", &bytes).await;
    let listed = env.remote.head("album/a.jpg").await.unwrap().unwrap();

    let report = env
        .get("album/a.jpg", "a.jpg", &expected(listed.clone()))
        .await
        .unwrap();

    assert_eq!(fs::read(env.dest("a.jpg")).unwrap(), bytes);
    assert_eq!(report.size, bytes.len() as u64);
    assert_eq!(report.blake3, put.blake3);
    assert_eq!(report.blake3, *blake3::hash(&bytes).as_bytes());
    assert_eq!(report.resumed_from, 0);
    assert_eq!(report.modified, listed.modified);
    assert_eq!(env.leftovers(), Vec::<String>::new());
}

async fn a_download_never_replaces_an_existing_file_unless_asked(kind: Kind) {
    let env = Env::start(kind);
    env.put("a.jpg", b"remote bytes").await;
    fs::write(env.dest("a.jpg"), b"local bytes nobody has seen").unwrap();

    let refused = env.get("a.jpg", "a.jpg", &GetOptions::default()).await;

    assert!(
        matches!(refused, Err(RemoteError::DestinationExists { ref path }) if *path == env.dest("a.jpg")),
        "{refused:?}"
    );
    assert_eq!(
        fs::read(env.dest("a.jpg")).unwrap(),
        b"local bytes nobody has seen"
    );
    assert_eq!(env.leftovers(), Vec::<String>::new());

    let replace = GetOptions {
        placement: Placement::Replace,
        ..GetOptions::default()
    };
    env.get("a.jpg", "a.jpg", &replace).await.unwrap();
    assert_eq!(fs::read(env.dest("a.jpg")).unwrap(), b"remote bytes");
}

async fn a_download_of_a_changed_object_fails_its_precondition(kind: Kind) {
    let env = Env::start(kind);
    env.put("a.jpg", b"first version").await;
    let listed = env.remote.head("a.jpg").await.unwrap().unwrap();
    // Another size too: an `fs` remote tells versions by (size, mtime), and
    // two writes within a clock tick share an mtime.
    env.put("a.jpg", b"second, edited version").await;

    let got = env.get("a.jpg", "a.jpg", &expected(listed)).await;

    assert!(
        matches!(got, Err(RemoteError::PreconditionFailed { .. })),
        "{got:?}"
    );
    assert!(got.unwrap_err().is_precondition_failed());
    assert!(!env.dest("a.jpg").exists());
    assert_eq!(env.leftovers(), Vec::<String>::new());
}

async fn a_cancelled_download_leaves_no_temporary(kind: Kind) {
    let env = Env::start(kind);
    let bytes = pattern(4 * MIB, "cancelled");
    env.put("a.jpg", &bytes).await;
    // The body stalls after 2 MiB, so the cancellation lands mid-way.
    let stalling = Cut::new(env.remote.clone(), 2 * MIB as u64, CutMode::Stall);
    let (progress, cancel) = (Arc::new(AtomicU64::new(0)), CancellationToken::new());
    let (task_progress, task_cancel, dest) = (progress.clone(), cancel.clone(), env.dest("a.jpg"));
    let download = tokio::spawn(async move {
        let options = GetOptions::default();
        stalling
            .get_file("a.jpg", &dest, &options, &task_progress, &task_cancel)
            .await
    });
    // Written a chunk (1 MiB) at a time.
    wait_until_async(EVENT_TIMEOUT, "a chunk written", || {
        let done = progress.load(Ordering::Relaxed);
        if done >= MIB as u64 {
            Ok(())
        } else {
            Err(done)
        }
    })
    .await;
    assert_eq!(
        env.leftovers().len(),
        2,
        "a temporary and its note while it runs"
    );

    cancel.cancel();
    let got = tokio::time::timeout(EVENT_TIMEOUT, download)
        .await
        .expect("stops")
        .unwrap();

    assert!(matches!(got, Err(RemoteError::Cancelled)), "{got:?}");
    assert!(!env.dest("a.jpg").exists());
    assert_eq!(env.leftovers(), Vec::<String>::new());
}

async fn an_interrupted_download_resumes_fetching_only_the_rest(kind: Kind) {
    let env = Env::start(kind);
    let bytes = pattern(5 * MIB + 3, "resumed");
    env.put("album/a.jpg", &bytes).await;
    let listed = env.remote.head("album/a.jpg").await.unwrap().unwrap();
    let keep = GetOptions {
        expected: Some(listed.clone()),
        partial: Partial::KeepForResume,
        ..GetOptions::default()
    };
    let cut_at = 3 * MIB as u64;
    let cutting = Cut::new(env.remote.clone(), cut_at, CutMode::Fail);
    let progress = AtomicU64::new(0);
    let dest = env.dest("a.jpg");

    let first = cutting
        .get_file(
            "album/a.jpg",
            &dest,
            &keep,
            &progress,
            &CancellationToken::new(),
        )
        .await;
    assert!(
        first.as_ref().is_err_and(RemoteError::is_transient),
        "{first:?}"
    );
    assert!(!dest.exists(), "nothing under the name until complete");
    assert_eq!(
        env.leftovers().len(),
        2,
        "the temporary and its note are kept"
    );
    let gets_before = env.gets().map(|g| g.len());

    let report = env.get("album/a.jpg", "a.jpg", &keep).await.unwrap();

    assert_eq!(report.resumed_from, cut_at);
    assert_eq!(fs::read(&dest).unwrap(), bytes);
    assert_eq!(report.blake3, *blake3::hash(&bytes).as_bytes());
    assert_eq!(env.leftovers(), Vec::<String>::new());
    if let (Some(gets), Some(before)) = (env.gets(), gets_before) {
        let resumed = &gets[before..];
        assert_eq!(resumed.len(), 1, "{resumed:?}");
        assert_eq!(
            resumed[0].range.as_deref(),
            Some(&*format!("bytes={cut_at}-"))
        );
        assert_eq!(
            resumed[0].served_bytes(),
            bytes.len() as u64 - cut_at,
            "only the rest was sent"
        );
    }
}

async fn a_kept_partial_of_an_older_version_is_not_resumed(kind: Kind) {
    let env = Env::start(kind);
    env.put("a.jpg", &pattern(3 * MIB, "old")).await;
    let keep = GetOptions {
        partial: Partial::KeepForResume,
        ..GetOptions::default()
    };
    let cutting = Cut::new(env.remote.clone(), 2 * MIB as u64, CutMode::Fail);
    let dest = env.dest("a.jpg");
    let first = cutting
        .get_file(
            "a.jpg",
            &dest,
            &keep,
            &AtomicU64::new(0),
            &CancellationToken::new(),
        )
        .await;
    assert!(first.is_err());
    assert_eq!(env.leftovers().len(), 2);
    let new = pattern(3 * MIB + 1, "new");
    env.put("a.jpg", &new).await;

    let report = env.get("a.jpg", "a.jpg", &keep).await.unwrap();

    assert_eq!(report.resumed_from, 0, "the old bytes are not reused");
    assert_eq!(fs::read(&dest).unwrap(), new);
    assert_eq!(env.leftovers(), Vec::<String>::new());
}

async fn a_put_if_absent_refuses_an_existing_object(kind: Kind) {
    let env = Env::start(kind);
    let source = env.local.source("mine.jpg", b"mine");
    let (progress, cancel) = (AtomicU64::new(0), CancellationToken::new());
    env.remote
        .put_file_if("a.jpg", &source, &Precondition::Absent, &progress, &cancel)
        .await
        .expect("nothing there yet");
    let theirs = env.put("b.jpg", b"theirs, put by another client").await;

    let refused = env
        .remote
        .put_file_if("b.jpg", &source, &Precondition::Absent, &progress, &cancel)
        .await;

    assert!(
        matches!(refused, Err(RemoteError::PreconditionFailed { .. })),
        "{refused:?}"
    );
    let still = env.remote.head("b.jpg").await.unwrap().unwrap();
    assert_eq!(still.size, theirs.size, "the object there is untouched");
    assert_eq!(
        crate::local::keys(&*env.remote, "").await,
        ["a.jpg", "b.jpg"]
    );
}

async fn a_put_if_matching_refuses_a_remote_edit_and_lands_on_the_base(kind: Kind) {
    let env = Env::start(kind);
    env.put("a.jpg", b"base").await;
    let base = env.remote.head("a.jpg").await.unwrap().unwrap();
    env.put("a.jpg", b"edited on the other side").await;
    let source = env.local.source("local-edit.jpg", b"local edit");
    let (progress, cancel) = (AtomicU64::new(0), CancellationToken::new());

    let refused = env
        .remote
        .put_file_if(
            "a.jpg",
            &source,
            &Precondition::matching(&base),
            &progress,
            &cancel,
        )
        .await;

    assert!(
        matches!(refused, Err(RemoteError::PreconditionFailed { .. })),
        "{refused:?}"
    );
    let got = env
        .get("a.jpg", "a.jpg", &GetOptions::default())
        .await
        .unwrap();
    assert_eq!(
        fs::read(env.dest("a.jpg")).unwrap(),
        b"edited on the other side"
    );

    let now = env.remote.head("a.jpg").await.unwrap().unwrap();
    assert_eq!(now.etag, got.etag);
    env.remote
        .put_file_if(
            "a.jpg",
            &source,
            &Precondition::matching(&now),
            &progress,
            &cancel,
        )
        .await
        .expect("the remote still holds the base");
    assert_eq!(env.remote.head("a.jpg").await.unwrap().unwrap().size, 10);
    let deleted = env
        .remote
        .put_file_if(
            "gone.jpg",
            &source,
            &Precondition::matching(&now),
            &progress,
            &cancel,
        )
        .await;
    assert!(
        matches!(deleted, Err(RemoteError::PreconditionFailed { .. })),
        "{deleted:?}"
    );
}

/// Starts `put_file_if(key, bytes, precondition)` on `env`'s remote in the
/// background.
fn spawn_put_if(
    env: &Env,
    key: &str,
    bytes: &[u8],
    precondition: Precondition,
) -> tokio::task::JoinHandle<Result<PutReport, RemoteError>> {
    let source = env.local.source("held-edit.jpg", bytes);
    let (remote, key) = (env.remote.clone(), key.to_owned());
    tokio::spawn(async move {
        let (progress, cancel) = (AtomicU64::new(0), CancellationToken::new());
        remote
            .put_file_if(&key, &source, &precondition, &progress, &cancel)
            .await
    })
}

/// The object changes after the client's last look (its HEAD), while its
/// conditional write is on the way: only the server's own check of
/// `If-Match` (S3) or the `If` tag on the MOVE (WebDAV) can refuse it.
async fn a_late_remote_edit_is_refused_by_the_servers_own_check(
    env: &Env,
    seen: impl Fn() -> Vec<Seen>,
    hold: impl FnOnce(),
    pass: impl FnOnce(),
) {
    env.put("a.jpg", b"base").await;
    let base = env.remote.head("a.jpg").await.unwrap().unwrap();
    hold();
    let writing = spawn_put_if(env, "a.jpg", b"local edit", Precondition::matching(&base));
    let held = wait_until_async(EVENT_TIMEOUT, "the conditional write to arrive", || {
        let seen = seen();
        match seen.iter().find(|s| s.is_conditional_write()) {
            Some(held) => Ok(held.clone()),
            None => Err(seen.len()),
        }
    })
    .await;

    // Another client's write: a server-side copy, not an upload, whose
    // temporary would share the held upload's name.
    env.put("other.jpg", b"edited on the other side").await;
    let cancel = CancellationToken::new();
    env.remote
        .copy("other.jpg", "a.jpg", &cancel)
        .await
        .unwrap();
    pass();
    let refused = tokio::time::timeout(EVENT_TIMEOUT, writing)
        .await
        .expect("ends")
        .unwrap();

    assert!(
        matches!(refused, Err(RemoteError::PreconditionFailed { .. })),
        "{refused:?} after {held:?}"
    );
    let got = env
        .get("a.jpg", "a.jpg", &GetOptions::default())
        .await
        .unwrap();
    assert_eq!(got.size, 24);
    assert_eq!(
        fs::read(env.dest("a.jpg")).unwrap(),
        b"edited on the other side"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_a_late_remote_edit_is_refused_by_if_match() {
    let env = Env::start(Kind::S3);
    let s3 = env.s3.as_ref().expect("an S3 server");
    let seen = || s3.seen();
    a_late_remote_edit_is_refused_by_the_servers_own_check(
        &env,
        seen,
        || s3.hold_conditional_writes(),
        || s3.pass_held(),
    )
    .await;
    let conditional: Vec<_> = s3
        .seen()
        .into_iter()
        .filter(|s| s.is_conditional_write())
        .collect();
    assert_eq!(conditional.len(), 1, "{conditional:?}");
    assert!(
        conditional[0].conditions[0].starts_with("If-Match: "),
        "{conditional:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webdav_a_late_remote_edit_is_refused_by_the_if_tag_on_the_move() {
    let env = Env::start(Kind::WebDav);
    let dav = env.dav.as_ref().expect("a WebDAV server");
    let seen = || dav.seen();
    a_late_remote_edit_is_refused_by_the_servers_own_check(
        &env,
        seen,
        || dav.hold_conditional_writes(),
        || dav.pass_held(),
    )
    .await;
    let moves: Vec<_> = dav
        .seen()
        .into_iter()
        .filter(|s| s.is_conditional_write())
        .collect();
    assert_eq!(moves.len(), 1, "{moves:?}");
    assert_eq!(moves[0].method, "MOVE");
    assert!(
        moves[0].conditions[0].starts_with("If: <http://"),
        "{moves:?}"
    );
    assert_eq!(
        leftover_parts(&dav.folder()),
        Vec::<String>::new(),
        "the refused upload's temporary is deleted"
    );
}

/// syncroll's upload temporaries in a served folder.
fn leftover_parts(folder: &Path) -> Vec<String> {
    let names = fs::read_dir(folder).expect("reading the served folder");
    names
        .map(|e| {
            e.expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.ends_with(".syncroll-part"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_a_multipart_put_if_matching_a_stale_base_is_aborted_before_completion() {
    let env = Env::start(Kind::S3);
    let s3 = env.s3.as_ref().expect("an S3 server");
    let remote = syncroll_remote::S3Remote::new(syncroll_remote::S3Settings {
        multipart_threshold: 5 * MIB as u64,
        part_size: 5 * MIB as u64,
        ..s3_server::settings(s3, "")
    })
    .expect("valid settings");
    env.put("a.jpg", b"base").await;
    let base = env.remote.head("a.jpg").await.unwrap().unwrap();
    env.put("a.jpg", b"edited on the other side").await;
    let source = env.local.source("big.jpg", &pattern(11 * MIB, "big"));
    let (progress, cancel) = (AtomicU64::new(0), CancellationToken::new());

    let refused = remote
        .put_file_if(
            "a.jpg",
            &source,
            &Precondition::matching(&base),
            &progress,
            &cancel,
        )
        .await;

    assert!(
        matches!(refused, Err(RemoteError::PreconditionFailed { .. })),
        "{refused:?}"
    );
    assert!(
        s3.seen().iter().any(|s| s.creates_upload()),
        "it went multipart"
    );
    assert!(
        !s3.seen()
            .iter()
            .any(|s| s.method == "POST" && s.target.contains("uploadId=")),
        "never completed"
    );
    assert_eq!(
        s3.multipart_files(),
        Vec::<String>::new(),
        "the upload is aborted"
    );
    assert_eq!(env.remote.head("a.jpg").await.unwrap().unwrap().size, 24);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_given_up_download_is_discarded_and_the_scanner_can_tell_its_files() {
    let env = Env::start(Kind::Fs);
    env.put("a.jpg", &pattern(3 * MIB, "given up")).await;
    let keep = GetOptions {
        partial: Partial::KeepForResume,
        ..GetOptions::default()
    };
    let cutting = Cut::new(env.remote.clone(), 2 * MIB as u64, CutMode::Fail);
    let (dest, cancel) = (env.dest("a.jpg"), CancellationToken::new());
    let first = cutting
        .get_file("a.jpg", &dest, &keep, &AtomicU64::new(0), &cancel)
        .await;
    assert!(first.is_err());
    let mut left = env.leftovers();
    left.sort();
    assert_eq!(
        left,
        [
            ".a.jpg.syncroll-download",
            ".a.jpg.syncroll-download-source"
        ]
    );

    syncroll_remote::discard_download(&dest).await.unwrap();

    assert_eq!(env.leftovers(), Vec::<String>::new());
    syncroll_remote::discard_download(&dest)
        .await
        .expect("nothing left is fine");
}
