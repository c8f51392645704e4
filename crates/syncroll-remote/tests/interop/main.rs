//! Interop: the S3 and WebDAV backends' read path and preconditions against
//! an independent server implementation, `rclone serve s3|webdav` on
//! 127.0.0.1, with objects placed and changed by an independent client
//! (`rclone rcat`). Needs rclone (see `syncroll_testkit::rclone_path`).
//!
//! Each protocol's test is [`pull_round_trip`] with the backend pointed at
//! the server.

#[path = "../shared/cut.rs"]
mod cut;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use syncroll_remote::{
    FolderTags, GetOptions, ListEvent, ObjectMeta, Partial, Precondition, Remote, RemoteError,
    S3Remote, S3Settings, Secret, WebDavRemote, WebDavSettings, is_download_temporary,
};
use syncroll_testkit::RcloneServer;
use tempfile::TempDir;
use tokio_stream::StreamExt;
use tokio_util::sync::CancellationToken;

use cut::{Cut, CutMode};

const MIB: usize = 1 << 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_put_by_rclone_come_home_from_rclone_serve_s3_and_edits_are_not_overwritten() {
    let server = RcloneServer::s3();
    let remote = S3Remote::new(S3Settings {
        endpoint: server.url().to_owned(),
        bucket: RcloneServer::BUCKET.to_owned(),
        prefix: "album".to_owned(),
        access_key_id: RcloneServer::ACCESS_KEY.to_owned(),
        secret_access_key: Secret::new(RcloneServer::SECRET_KEY),
        allow_http: true,
        ..S3Settings::default()
    })
    .expect("valid settings");
    let place = |key: &str, bytes: &[u8]| {
        server.put(&format!("{}/album/{key}", RcloneServer::BUCKET), bytes);
    };
    // rclone's S3 server answers a ranged GET with the whole object: the
    // download then starts over, and still lands whole.
    pull_round_trip(Arc::new(remote), place, Resumes::FromTheStart).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_put_by_rclone_come_home_from_rclone_serve_webdav_and_edits_are_not_overwritten() {
    let server = RcloneServer::webdav();
    std::fs::create_dir(server.served_dir().join("album")).expect("the album folder");
    let remote = WebDavRemote::new(WebDavSettings {
        url: format!("{}/album", server.url()),
        user: RcloneServer::USER.to_owned(),
        password: Secret::new(RcloneServer::PASSWORD),
        allow_http: true,
        // rclone tags a folder by its own mtime, which a change further
        // down leaves as it was.
        folder_etags: false,
    })
    .expect("valid settings");
    let place = |key: &str, bytes: &[u8]| server.put(&format!("album/{key}"), bytes);
    pull_round_trip(Arc::new(remote), place, Resumes::WhereItStopped).await;
}

/// Objects placed with `place` (another client) are listed with their
/// modification times, polled, downloaded whole (also after an interrupted
/// first attempt), and a conditional upload refuses to overwrite an edit
/// made by that other client, but lands on an unchanged base.
async fn pull_round_trip(remote: Arc<dyn Remote>, place: impl Fn(&str, &[u8]), resumes: Resumes) {
    let photo = pattern(5 * MIB + 7, "photo");
    place("2026/IMG_1.jpg", &photo);
    place("2026/IMG_2.jpg", b"small");
    let inbox = TempDir::new().expect("an inbox");

    let listed = listing(&*remote).await;
    assert_eq!(
        listed.keys().map(String::as_str).collect::<Vec<_>>(),
        ["2026/IMG_1.jpg", "2026/IMG_2.jpg"]
    );
    assert!(listed.values().all(|m| m.modified.is_some()), "{listed:?}");
    let polled = poll_keys(&*remote).await;
    assert_eq!(polled, ["2026/IMG_1.jpg", "2026/IMG_2.jpg"]);

    // An interrupted first attempt, then the rest.
    let keep = GetOptions {
        expected: Some(listed["2026/IMG_1.jpg"].clone()),
        partial: Partial::KeepForResume,
        ..GetOptions::default()
    };
    let dest = inbox.path().join("IMG_1.jpg");
    let cutting = Cut::new(remote.clone(), 3 * MIB as u64, CutMode::Fail);
    let (progress, cancel) = (AtomicU64::new(0), CancellationToken::new());
    let first = cutting
        .get_file("2026/IMG_1.jpg", &dest, &keep, &progress, &cancel)
        .await;
    assert!(first.is_err(), "{first:?}");
    let report = remote
        .get_file("2026/IMG_1.jpg", &dest, &keep, &progress, &cancel)
        .await
        .expect("the download");
    let resumed_from = match resumes {
        Resumes::WhereItStopped => 3 * MIB as u64,
        Resumes::FromTheStart => 0,
    };
    assert_eq!(report.resumed_from, resumed_from);
    assert_eq!(std::fs::read(&dest).unwrap(), photo);
    assert_eq!(report.blake3, *blake3::hash(&photo).as_bytes());
    let left: Vec<_> = std::fs::read_dir(inbox.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|name| is_download_temporary(name))
        .collect();
    assert!(left.is_empty(), "{left:?}");

    // The other client edits IMG_2; our upload based on the old version
    // is refused, and lands once based on the current one.
    let base = listed["2026/IMG_2.jpg"].clone();
    place("2026/IMG_2.jpg", b"edited by the other client");
    let local_edit = inbox.path().join("local-edit.jpg");
    std::fs::write(&local_edit, b"local edit").unwrap();
    let refused = remote
        .put_file_if(
            "2026/IMG_2.jpg",
            &local_edit,
            &Precondition::matching(&base),
            &progress,
            &cancel,
        )
        .await;
    assert!(
        matches!(refused, Err(RemoteError::PreconditionFailed { .. })),
        "{refused:?}"
    );
    let current = remote.head("2026/IMG_2.jpg").await.unwrap().expect("there");
    assert_eq!(current.size, 26, "the other client's edit is intact");
    remote
        .put_file_if(
            "2026/IMG_2.jpg",
            &local_edit,
            &Precondition::matching(&current),
            &progress,
            &cancel,
        )
        .await
        .expect("the base is unchanged");
    let absent = remote
        .put_file_if(
            "2026/IMG_2.jpg",
            &local_edit,
            &Precondition::Absent,
            &progress,
            &cancel,
        )
        .await;
    assert!(
        matches!(absent, Err(RemoteError::PreconditionFailed { .. })),
        "{absent:?}"
    );
    let landed = inbox.path().join("IMG_2.jpg");
    remote
        .get_file(
            "2026/IMG_2.jpg",
            &landed,
            &GetOptions::default(),
            &progress,
            &cancel,
        )
        .await
        .expect("the download");
    assert_eq!(std::fs::read(&landed).unwrap(), b"local edit");
}

/// Where a download interrupted at 3 MiB continues on the server.
#[derive(Debug, Clone, Copy)]
enum Resumes {
    /// A ranged GET: only the rest is fetched.
    WhereItStopped,
    /// The server has no ranged GETs.
    FromTheStart,
}

/// The listing, by key.
async fn listing(remote: &dyn Remote) -> std::collections::BTreeMap<String, ObjectMeta> {
    let items: Vec<_> = remote.list("").collect().await;
    items
        .into_iter()
        .map(|item| {
            let meta = item.expect("a listing");
            (meta.key.clone(), meta)
        })
        .collect()
}

/// The keys of a first poll (no known folder tags).
async fn poll_keys(remote: &dyn Remote) -> Vec<String> {
    let known: Arc<dyn FolderTags> = Arc::new(HashMap::<String, String>::new());
    let events: Vec<_> = remote.list_changed("", known).collect().await;
    let mut keys: Vec<String> = events
        .into_iter()
        .filter_map(|e| match e.expect("a poll") {
            ListEvent::Object(meta) => Some(meta.key),
            _ => None,
        })
        .collect();
    keys.sort();
    keys
}

/// Bytes that differ everywhere, so a misplaced or repeated chunk shows.
fn pattern(len: usize, seed: &str) -> Vec<u8> {
    let mut bytes = vec![0; len];
    blake3::Hasher::new()
        .update(seed.as_bytes())
        .finalize_xof()
        .fill(&mut bytes);
    bytes
}
