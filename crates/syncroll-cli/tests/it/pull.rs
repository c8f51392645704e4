//! The pull engine through the real daemon and CLI: files another client
//! puts on a connected collection's album come home, on the `fs` remote,
//! the in-process S3 server and the in-process WebDAV server. The other
//! client writes straight into the server's folder, as it would through
//! its own protocol.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use syncroll_testkit::{Daemon, S3Server, WebDavServer, s, wait_until, write_file, write_photos};

const POLL_TIMEOUT: Duration = Duration::from_secs(60);

/// Which remote the album is on; the servers run as long as it lives.
pub(crate) enum Kind {
    Fs,
    S3(S3Server),
    WebDav(WebDavServer),
    /// Added with `--folder-etags`: the test server propagates folder
    /// ETags as Nextcloud does, for changes made through the protocol.
    WebDavTagged(WebDavServer),
}

/// A root with two photos in `trip/`, the folder collection Trip synced to
/// the remote and connected `both`, edits returning as versions.
pub(crate) struct Setup {
    pub(crate) daemon: Daemon,
    pub(crate) root: PathBuf,
    /// The album on the remote's disk: `<store>/Trip/`, which holds the
    /// collection's keys (`trip/t0.jpg`, ...).
    pub(crate) album: PathBuf,
    pub(crate) kind: Kind,
}

impl Setup {
    pub(crate) fn new(kind: Kind) -> Self {
        Self::returning(kind, "version")
    }

    fn returning(kind: Kind, returns: &str) -> Self {
        Self::build(kind, returns, 2)
    }

    /// The setup with `photos` photos in `trip/` instead of two.
    fn build(kind: Kind, returns: &str, photos: usize) -> Self {
        let daemon = Daemon::start();
        let root = daemon.scratch("photos");
        write_photos(&root.join("trip"), "t", photos, 100);
        daemon.cli(&["roots", "add", s(&root)]).ok();
        daemon.json(&["rescan"]);
        let (remote, store) = add_remote(&daemon, &kind);
        crate::create_trip(&daemon, &root, &["--remote", remote, "--sync"]);
        daemon.cli(&["wait", "--timeout", "120s"]).ok();
        daemon
            .cli(&[
                "connect",
                "Trip",
                "--direction",
                "both",
                "--returns",
                returns,
            ])
            .ok();
        let root = fs::canonicalize(root).unwrap();
        Self {
            daemon,
            root,
            album: store.join("Trip"),
            kind,
        }
    }

    pub(crate) fn remote_name(&self) -> &'static str {
        match self.kind {
            Kind::Fs => "local",
            Kind::S3(_) => "minio",
            Kind::WebDav(_) | Kind::WebDavTagged(_) => "dav",
        }
    }

    /// Asks for a poll and waits for one begun after the asking to finish
    /// (a poll's time is when it began); returns its outcome.
    pub(crate) fn poll(&self) -> String {
        poll(&self.daemon, self.remote_name())
    }

    /// Polls until an outcome contains `needle` (for at most 30 s) and
    /// returns it. A key placed in the second a listing began is left for
    /// a later poll's deletion check (the ledger keeps seconds), so a test
    /// that deletes right after a sync may need polls in the next second.
    fn poll_until(&self, needle: &str) -> String {
        let mut last = String::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::time::Instant::now() < deadline {
            let outcome = self.poll();
            if outcome.contains(needle) {
                return outcome;
            }
            last = outcome;
        }
        panic!("no poll within 30 s said {needle:?}; the last said {last:?}");
    }

    pub(crate) fn done_uploads(&self) -> usize {
        done_uploads(&self.daemon)
    }
}

/// Adds the remote `kind` names to `daemon` (the `fs` remote `local` is
/// there already); returns its name and the folder on disk that holds its
/// keys.
pub(crate) fn add_remote(daemon: &Daemon, kind: &Kind) -> (&'static str, PathBuf) {
    match kind {
        Kind::Fs => ("local", daemon.data_dir.join("cloud")),
        Kind::S3(server) => {
            server.add_as_remote(daemon, "minio", &[]);
            ("minio", server.bucket_dir())
        }
        Kind::WebDav(server) => {
            server.add_as_remote(daemon, "dav", &[]);
            ("dav", server.folder())
        }
        Kind::WebDavTagged(server) => {
            server.add_as_remote(daemon, "dav", &["--folder-etags"]);
            ("dav", server.folder())
        }
    }
}

/// Upload jobs `daemon` has done.
pub(crate) fn done_uploads(daemon: &Daemon) -> usize {
    daemon
        .cli(&["--json", "jobs", "--state", "done"])
        .ok()
        .json_lines()
        .iter()
        .filter(|j| j["op"] == "upload")
        .count()
}

/// Asks `daemon` for a poll of `remote` and waits for one begun after the
/// asking to finish (a poll's time is when it began); returns its outcome.
/// The daemon has one connection.
pub(crate) fn poll(daemon: &Daemon, remote: &str) -> String {
    let before = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    daemon.cli(&["rescan", "--remote", remote]).ok();
    wait_until(POLL_TIMEOUT, "a poll to finish", || {
        let connection = daemon.json(&["status"])["connections"][0].clone();
        if connection["last_polled_at_ms"].as_i64().unwrap_or(0) >= before {
            Ok(connection["last_poll_outcome"]
                .as_str()
                .unwrap_or_default()
                .to_owned())
        } else {
            Err(connection)
        }
    })
}

pub(crate) fn bytes_of(path: &Path) -> Option<Vec<u8>> {
    fs::read(path).ok()
}

/// Puts a photo on the album as another client would and polls it home;
/// returns the local file.
fn bring_home(setup: &Setup, rel: &str, bytes: &[u8]) -> PathBuf {
    setup.poll();
    write_file(&setup.album.join(rel), bytes);
    let outcome = setup.poll();
    assert!(outcome.contains("1 downloaded"), "{outcome}");
    let landed = setup.root.join(rel);
    assert_eq!(bytes_of(&landed).as_deref(), Some(bytes));
    setup.daemon.cli(&["wait", "--timeout", "120s"]).ok();
    landed
}

/// A file put on the album by another client comes home byte for byte,
/// joins the collection and is recorded, so that neither the next poll nor
/// the push side moves it again.
fn a_new_remote_file_comes_home(kind: Kind) {
    let setup = Setup::new(kind);
    // The connection's first poll may run at any moment; this one is ours.
    setup.poll();
    let uploads = setup.done_uploads();
    let photo = b"\xff\xd8 a photo from the phone".to_vec();
    write_file(&setup.album.join("trip/day 3/phone.jpg"), &photo);

    let outcome = setup.poll();
    assert!(outcome.contains("1 downloaded"), "{outcome}");
    let landed = setup.root.join("trip/day 3/phone.jpg");
    assert_eq!(bytes_of(&landed), Some(photo.clone()));
    assert!(
        setup
            .daemon
            .photo_paths(Some("Trip"))
            .contains(&"trip/day 3/phone.jpg".to_owned()),
        "{:?}",
        setup.daemon.photo_paths(Some("Trip"))
    );
    let shown = setup.daemon.cli(&["status"]).ok().stdout;
    assert!(shown.contains("1 downloaded"), "{shown}");

    // Nothing left to do: the next poll downloads nothing and the push side
    // sends nothing back.
    setup.daemon.cli(&["wait", "--timeout", "120s"]).ok();
    let again = setup.poll();
    assert!(again.contains(" 0 downloaded"), "{again}");
    assert!(!again.contains("failed"), "{again}");
    setup.daemon.cli(&["wait", "--timeout", "120s"]).ok();
    assert_eq!(setup.done_uploads(), uploads, "nothing was uploaded back");
    assert_eq!(
        bytes_of(&setup.album.join("trip/day 3/phone.jpg")),
        Some(photo)
    );
}

#[test]
fn pull_brings_a_new_file_home_from_fs() {
    a_new_remote_file_comes_home(Kind::Fs);
}

#[test]
fn pull_brings_a_new_file_home_from_s3() {
    a_new_remote_file_comes_home(Kind::S3(S3Server::start()));
}

#[test]
fn pull_brings_a_new_file_home_from_webdav() {
    a_new_remote_file_comes_home(Kind::WebDav(WebDavServer::start()));
}

#[test]
fn pull_refuses_hostile_and_outside_names_and_writes_nothing() {
    let setup = Setup::new(Kind::Fs);
    setup.poll();
    write_file(&setup.album.join("trip/evil\\name.jpg"), b"backslash");
    write_file(&setup.album.join("elsewhere.jpg"), b"outside the folder");
    let outcome = setup.poll();
    assert!(outcome.contains("2 refused"), "{outcome}");
    assert!(outcome.contains("backslash"), "{outcome}");
    assert!(outcome.contains("outside the folder"), "{outcome}");
    assert!(!setup.root.join("trip/evil\\name.jpg").exists());
    assert!(!setup.root.join("elsewhere.jpg").exists());
    assert!(setup.daemon.log().contains("remote name refused"));
}

#[test]
fn pull_with_the_remote_unreachable_records_the_error_and_changes_nothing() {
    let server = WebDavServer::start();
    let setup = Setup::new(Kind::WebDav(server));
    setup.poll();
    write_file(&setup.album.join("trip/late.jpg"), b"not yet");
    let Kind::WebDav(server) = &setup.kind else {
        unreachable!()
    };
    // Every request fails for longer than any retry of one poll.
    server.busy_for(10_000);
    let outcome = setup.poll();
    assert!(outcome.starts_with("failed:"), "{outcome}");
    assert!(!setup.root.join("trip/late.jpg").exists());
    assert_eq!(setup.daemon.photo_paths(Some("Trip")).len(), 2);
    let shown = setup.daemon.cli(&["status"]).ok().stdout;
    assert!(shown.contains("failed"), "{shown}");
}

/// An edit made on the remote of a photo unchanged locally replaces it,
/// the old bytes kept as a version that restores byte for byte.
fn an_edit_comes_back_as_a_version(kind: Kind) {
    let setup = Setup::new(kind);
    let original = b"\xff\xd8 shot on the phone".to_vec();
    let landed = bring_home(&setup, "trip/phone.jpg", &original);
    let uploads = setup.done_uploads();
    let edited = b"\xff\xd8 shot on the phone, then cropped in the web editor".to_vec();
    write_file(&setup.album.join("trip/phone.jpg"), &edited);

    let outcome = setup.poll();
    assert!(
        outcome.contains("1 edits returned as versions"),
        "{outcome}"
    );
    assert_eq!(bytes_of(&landed), Some(edited.clone()));
    let versions = setup
        .daemon
        .cli(&["--json", "versions", s(&landed)])
        .ok()
        .json_lines();
    assert_eq!(versions.len(), 1, "{versions:?}");
    assert_eq!(versions[0]["size"], original.len());
    assert_eq!(
        versions[0]["hash"],
        blake3::hash(&original).to_hex().as_str()
    );
    let again = setup.poll();
    assert!(
        again.contains(" 0 downloaded") && !again.contains("edits"),
        "{again}"
    );
    setup.daemon.cli(&["wait", "--timeout", "120s"]).ok();
    assert_eq!(setup.done_uploads(), uploads, "the edit was not sent back");

    setup
        .daemon
        .cli(&["versions", "restore", s(&landed), "1"])
        .ok();
    assert_eq!(bytes_of(&landed), Some(original));
}

#[test]
fn pull_returns_an_edit_as_a_version_from_fs() {
    an_edit_comes_back_as_a_version(Kind::Fs);
}

#[test]
fn pull_returns_an_edit_as_a_version_from_s3() {
    an_edit_comes_back_as_a_version(Kind::S3(S3Server::start()));
}

#[test]
fn pull_returns_an_edit_as_a_version_from_webdav() {
    an_edit_comes_back_as_a_version(Kind::WebDav(WebDavServer::start()));
}

#[test]
fn pull_saves_an_edit_as_a_copy_when_the_connection_returns_copies() {
    let setup = Setup::returning(Kind::Fs, "copy");
    let original = b"\xff\xd8 original".to_vec();
    let landed = bring_home(&setup, "trip/phone.jpg", &original);
    let edited = b"\xff\xd8 original, retouched".to_vec();
    write_file(&setup.album.join("trip/phone.jpg"), &edited);

    let outcome = setup.poll();
    assert!(outcome.contains("1 edits saved as copies"), "{outcome}");
    assert_eq!(bytes_of(&landed), Some(original));
    let copy = setup.root.join("trip/phone (edit 1).jpg");
    assert_eq!(bytes_of(&copy), Some(edited));
    let members = setup.daemon.photo_paths(Some("Trip"));
    assert!(
        members.contains(&"trip/phone (edit 1).jpg".to_owned())
            && members.contains(&"trip/phone.jpg".to_owned()),
        "{members:?}"
    );
    let again = setup.poll();
    assert!(
        again.contains(" 0 downloaded") && !again.contains("edits"),
        "{again}"
    );
    assert!(!setup.root.join("trip/phone (edit 2).jpg").exists());
}

/// Brings `trip/phone.jpg` home, then, with the connection pulling only
/// so the push side does not race the poll (a pause would hold the poll's
/// downloads too), changes it locally to `local` (indexed) and on the
/// remote to `remote`, and polls.
pub(crate) fn edit_both_sides(setup: &Setup, local: &[u8], remote: &[u8]) -> (PathBuf, String) {
    let landed = bring_home(setup, "trip/phone.jpg", b"\xff\xd8 as it came home");
    setup
        .daemon
        .cli(&["connect", "Trip", "--direction", "pull"])
        .ok();
    write_file(&landed, local);
    setup.daemon.json(&["rescan"]);
    write_file(&setup.album.join("trip/phone.jpg"), remote);
    let outcome = setup.poll();
    (landed, outcome)
}

#[test]
fn pull_saves_a_both_sides_edit_as_a_conflict_copy_with_both_byte_sets() {
    let setup = Setup::new(Kind::Fs);
    let local = b"\xff\xd8 edited on the laptop".to_vec();
    let remote = b"\xff\xd8 edited in the web editor, longer".to_vec();
    let (landed, outcome) = edit_both_sides(&setup, &local, &remote);
    assert!(outcome.contains("1 conflicts saved as copies"), "{outcome}");
    assert_eq!(bytes_of(&landed), Some(local));
    let listed = setup.daemon.json(&["conflicts"]);
    let conflicts = listed["conflicts"].as_array().unwrap();
    assert_eq!(conflicts.len(), 1, "{listed}");
    let copy = PathBuf::from(conflicts[0]["copy_path"].as_str().unwrap());
    let copy_name = copy.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        copy_name.starts_with("phone (conflict ") && copy_name.ends_with(" local).jpg"),
        "{copy_name}"
    );
    assert_eq!(bytes_of(&copy), Some(remote.clone()));
    assert_eq!(bytes_of(&setup.album.join("trip/phone.jpg")), Some(remote));
    assert!(
        setup
            .daemon
            .photo_paths(Some("Trip"))
            .contains(&format!("trip/{copy_name}")),
        "the copy joined the collection"
    );
    // Saved once.
    let again = setup.poll();
    assert!(!again.contains("conflicts"), "{again}");
    assert_eq!(
        setup.daemon.json(&["conflicts"])["conflicts"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn pull_does_not_call_identical_edits_on_both_sides_a_conflict() {
    let setup = Setup::new(Kind::Fs);
    let same = b"\xff\xd8 the same edit on both sides".to_vec();
    let (landed, outcome) = edit_both_sides(&setup, &same, &same);
    assert!(outcome.contains("1 the same on both sides"), "{outcome}");
    assert_eq!(bytes_of(&landed), Some(same));
    assert_eq!(
        setup.daemon.json(&["conflicts"])["conflicts"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    let files: Vec<String> = fs::read_dir(setup.root.join("trip"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("conflict") || n.starts_with('.'))
        .collect();
    assert!(files.is_empty(), "{files:?}");
    let again = setup.poll();
    assert!(!again.contains("same on both"), "{again}");
}

/// Photos pushed before the connection existed have no recorded remote
/// state: the first poll fetches and compares them once, so the next poll
/// is quiet, and a same-size edit made on the remote is still seen.
#[test]
fn pull_checks_pushed_photos_once_and_sees_a_same_size_edit_of_one() {
    let setup = Setup::new(Kind::Fs);
    // The connection's own first poll may have checked them already.
    setup.poll();
    let quiet = setup.poll();
    assert_eq!(quiet, "2 listed, 0 downloaded");

    let pushed = setup.root.join("trip/t0.jpg");
    let original = bytes_of(&pushed).unwrap();
    let edited = vec![b'e'; original.len()];
    write_file(&setup.album.join("trip/t0.jpg"), &edited);
    let outcome = setup.poll();
    assert!(
        outcome.contains("1 edits returned as versions"),
        "{outcome}"
    );
    assert_eq!(bytes_of(&pushed), Some(edited));
    let versions = setup
        .daemon
        .cli(&["--json", "versions", s(&pushed)])
        .ok()
        .json_lines();
    assert_eq!(versions.len(), 1, "{versions:?}");
    assert_eq!(
        versions[0]["hash"],
        blake3::hash(&original).to_hex().as_str()
    );
}

/// A photo deleted on the remote album by another client, unchanged here,
/// leaves the collection and stays on disk byte for byte; it is not
/// uploaded back, and a later local edit brings it back (modify beats
/// delete).
fn a_remote_deletion_takes_the_photo_out_of_the_collection(kind: Kind) {
    let setup = Setup::new(kind);
    setup.poll();
    let uploads = setup.done_uploads();
    let photo = setup.root.join("trip/t0.jpg");
    let bytes = bytes_of(&photo).unwrap();
    fs::remove_file(setup.album.join("trip/t0.jpg")).unwrap();

    setup.poll_until("1 deleted on the remote left the collection (kept on disk)");
    assert_eq!(
        bytes_of(&photo),
        Some(bytes.clone()),
        "kept on disk, byte for byte"
    );
    assert_eq!(
        setup.daemon.photo_paths(Some("Trip")),
        vec!["trip/t1.jpg".to_owned()]
    );
    assert!(
        setup
            .daemon
            .photo_paths(None)
            .contains(&"trip/t0.jpg".to_owned()),
        "still in the catalog"
    );
    // Nothing is sent back, and the next poll finds nothing to do.
    setup.daemon.cli(&["wait", "--timeout", "120s"]).ok();
    let again = setup.poll();
    assert!(!again.contains("deleted on the remote"), "{again}");
    setup.daemon.cli(&["wait", "--timeout", "120s"]).ok();
    assert_eq!(setup.done_uploads(), uploads, "nothing was uploaded back");
    assert!(bytes_of(&setup.album.join("trip/t0.jpg")).is_none());

    // Put back on the album by the other client, it is back in the
    // collection: nothing is deleted or sent.
    write_file(&setup.album.join("trip/t0.jpg"), &bytes);
    setup.poll();
    setup.daemon.cli(&["wait", "--timeout", "120s"]).ok();
    assert_eq!(setup.daemon.photo_paths(Some("Trip")).len(), 2);
    setup.poll();
    setup.daemon.cli(&["wait", "--timeout", "120s"]).ok();
    assert_eq!(
        bytes_of(&setup.album.join("trip/t0.jpg")),
        Some(bytes.clone())
    );
    assert_eq!(setup.done_uploads(), uploads, "nothing was uploaded back");
    fs::remove_file(setup.album.join("trip/t0.jpg")).unwrap();
    setup.poll_until("1 deleted on the remote left the collection (kept on disk)");

    // A local edit brings it back, and it is uploaded again.
    let edited = b"\xff\xd8 edited after it left the album".to_vec();
    write_file(&photo, &edited);
    setup.daemon.json(&["rescan"]);
    setup.daemon.cli(&["wait", "--timeout", "120s"]).ok();
    assert!(
        setup
            .daemon
            .photo_paths(Some("Trip"))
            .contains(&"trip/t0.jpg".to_owned())
    );
    assert_eq!(bytes_of(&setup.album.join("trip/t0.jpg")), Some(edited));
}

#[test]
fn pull_takes_a_photo_deleted_on_fs_out_of_the_collection_and_keeps_it() {
    a_remote_deletion_takes_the_photo_out_of_the_collection(Kind::Fs);
}

#[test]
fn pull_takes_a_photo_deleted_on_s3_out_of_the_collection_and_keeps_it() {
    a_remote_deletion_takes_the_photo_out_of_the_collection(Kind::S3(S3Server::start()));
}

#[test]
fn pull_takes_a_photo_deleted_on_webdav_out_of_the_collection_and_keeps_it() {
    a_remote_deletion_takes_the_photo_out_of_the_collection(Kind::WebDav(WebDavServer::start()));
}

/// A photo deleted on the remote but changed here since the last sync is
/// not taken out: modify beats delete, and the album gets the new bytes.
#[test]
fn pull_sends_a_photo_deleted_on_the_remote_but_changed_here_again() {
    let setup = Setup::new(Kind::Fs);
    setup.poll();
    // Pulling only while both sides change, so the push side does not send
    // the edit before a poll sees the deletion (a pause would stop polls).
    setup
        .daemon
        .cli(&["connect", "Trip", "--direction", "pull"])
        .ok();
    let photo = setup.root.join("trip/t1.jpg");
    let edited = b"\xff\xd8 changed on the laptop".to_vec();
    write_file(&photo, &edited);
    setup.daemon.json(&["rescan"]);
    fs::remove_file(setup.album.join("trip/t1.jpg")).unwrap();
    // Pulling only, the deletion of a changed photo is left alone: it is
    // neither taken out of the collection nor sent.
    let left = setup.poll();
    assert!(!left.contains("deleted on the remote"), "{left}");
    assert_eq!(setup.daemon.photo_paths(Some("Trip")).len(), 2);
    // Pushing again, modify beats delete: the edit goes back, whether the
    // next poll or the push side's own catch-up sends it first.
    setup
        .daemon
        .cli(&["connect", "Trip", "--direction", "both"])
        .ok();
    setup.poll();
    setup.daemon.cli(&["wait", "--timeout", "120s"]).ok();
    assert_eq!(bytes_of(&photo), Some(edited.clone()));
    assert_eq!(bytes_of(&setup.album.join("trip/t1.jpg")), Some(edited));
    assert_eq!(setup.daemon.photo_paths(Some("Trip")).len(), 2);
}

fn holds(setup: &Setup) -> Vec<Value> {
    setup.daemon.json(&["holds", "--all"])["holds"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// An album emptied on the remote (by mistake, or an unmounted share)
/// holds at the deletion brake: nothing leaves the collection. The album
/// coming back withdraws the hold; emptied again, approving the hold takes
/// the photos out (kept on disk), and rejecting one keeps them, uploaded
/// again by a connection that pushes.
#[test]
fn pull_holds_an_emptied_album_at_the_brake() {
    const PHOTOS: usize = 20;
    let setup = Setup::build(Kind::Fs, "version", PHOTOS);
    setup.poll();
    let album = setup.album.join("trip");
    let saved = setup.daemon.scratch("album-as-it-was");
    fs::rename(&album, &saved).unwrap();

    setup.poll_until(&format!(
        "{PHOTOS} deleted on the remote held by the deletion brake (review with `syncroll \
         holds show 1`)"
    ));
    assert_eq!(setup.daemon.photo_paths(Some("Trip")).len(), PHOTOS);
    let listed = holds(&setup);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["state"], "pending");
    assert_eq!(listed[0]["remote_deleted"], PHOTOS as u64);
    let reason = listed[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!(
            "{PHOTOS} photos were deleted from the remote album"
        )),
        "{reason}"
    );
    let keys = setup
        .daemon
        .cli(&["--json", "holds", "show", "1"])
        .ok()
        .json_lines();
    assert_eq!(keys.len(), PHOTOS, "{keys:?}");
    assert!(
        keys.iter()
            .all(|k| k["reason"] == "its copy was deleted from the remote album"),
        "{keys:?}"
    );
    let status = setup.daemon.cli(&["status"]).ok().stdout;
    assert!(status.contains("held"), "{status}");

    // The album comes back: the hold empties and is withdrawn.
    fs::rename(&saved, &album).unwrap();
    let back = setup.poll();
    assert!(!back.contains("deleted on the remote"), "{back}");
    assert_eq!(holds(&setup)[0]["state"], "withdrawn");
    assert_eq!(setup.daemon.photo_paths(Some("Trip")).len(), PHOTOS);

    // Emptied again and approved: the photos leave, and stay on disk.
    fs::rename(&album, &saved).unwrap();
    setup.poll_until("held by the deletion brake");
    let approved = setup.daemon.cli(&["holds", "approve", "2"]).ok().stdout;
    assert!(
        approved.contains(&format!(
            "{PHOTOS} photos deleted from the remote album leave the collection at the next poll"
        )),
        "{approved}"
    );
    wait_until(POLL_TIMEOUT, "the approved departures", || {
        let members = setup.daemon.photo_paths(Some("Trip"));
        if members.is_empty() {
            Ok(())
        } else {
            Err(members)
        }
    });
    assert_eq!(setup.daemon.photo_paths(None).len(), PHOTOS, "all on disk");
    for i in 0..PHOTOS {
        assert!(setup.root.join(format!("trip/t{i}.jpg")).is_file());
    }
}

/// Rejecting a hold of remote deletions keeps the photos in the
/// collection; the connection pushes, so the album gets them again.
#[test]
fn pull_rejecting_a_hold_of_remote_deletions_keeps_the_photos_and_sends_them_again() {
    const PHOTOS: usize = 12;
    let setup = Setup::build(Kind::Fs, "version", PHOTOS);
    setup.poll();
    let album = setup.album.join("trip");
    fs::remove_dir_all(&album).unwrap();
    setup.poll_until("held by the deletion brake");
    let rejected = setup.daemon.cli(&["holds", "reject", "1"]).ok().stdout;
    assert!(
        rejected.contains(&format!(
            "{PHOTOS} photos deleted from the remote album stay in the collection"
        )),
        "{rejected}"
    );
    setup.daemon.cli(&["wait", "--timeout", "120s"]).ok();
    for i in 0..PHOTOS {
        let rel = format!("trip/t{i}.jpg");
        assert_eq!(
            bytes_of(&album.join(format!("t{i}.jpg"))),
            bytes_of(&setup.root.join(&rel)),
            "{rel} uploaded again"
        );
    }
    let quiet = setup.poll();
    assert!(!quiet.contains("deleted on the remote"), "{quiet}");
    assert_eq!(setup.daemon.photo_paths(Some("Trip")).len(), PHOTOS);
}

/// On a WebDAV server whose folder ETags change with anything below them
/// (`--folder-etags`), a poll of an unchanged album is one PROPFIND of its
/// top, however many photos it holds; a change made through the protocol
/// anywhere below is still found: a new file, an edit, a deletion.
#[test]
fn pull_from_webdav_with_folder_etags_walks_only_changed_folders() {
    let setup = Setup::build(Kind::WebDavTagged(WebDavServer::start()), "version", 30);
    let Kind::WebDavTagged(server) = &setup.kind else {
        unreachable!()
    };
    let propfinds_of = |poll: &dyn Fn() -> String| {
        let before = server.seen().len();
        let outcome = poll();
        let seen = server.seen();
        let requests: Vec<String> = seen[before..].iter().map(|r| r.method.clone()).collect();
        (outcome, requests)
    };
    // The first poll walks everything and keeps the tags; the next one may
    // still walk what the first one's checks touched.
    setup.poll();
    setup.poll();
    let (outcome, requests) = propfinds_of(&|| setup.poll());
    assert!(outcome.starts_with("0 listed, 0 downloaded"), "{outcome}");
    assert_eq!(requests, ["PROPFIND"], "one request for an unchanged album");

    server.put("Trip/trip/day 2/phone.jpg", b"\xff\xd8 from the phone");
    let (outcome, requests) = propfinds_of(&|| setup.poll());
    assert!(outcome.contains("1 downloaded"), "{outcome}");
    let propfinds = requests.iter().filter(|m| *m == "PROPFIND").count();
    assert!(
        propfinds <= 4,
        "only the changed folders were walked: {requests:?}"
    );
    assert_eq!(
        bytes_of(&setup.root.join("trip/day 2/phone.jpg")).as_deref(),
        Some(&b"\xff\xd8 from the phone"[..])
    );
    setup.daemon.cli(&["wait", "--timeout", "120s"]).ok();

    let edited = b"\xff\xd8 t0, edited in the web editor".to_vec();
    server.put("Trip/trip/t0.jpg", &edited);
    let outcome = setup.poll();
    assert!(
        outcome.contains("1 edits returned as versions"),
        "{outcome}"
    );
    assert_eq!(bytes_of(&setup.root.join("trip/t0.jpg")), Some(edited));

    server.delete("Trip/trip/t1.jpg");
    setup.poll_until("1 deleted on the remote left the collection (kept on disk)");
    assert!(setup.root.join("trip/t1.jpg").is_file());

    setup.daemon.cli(&["wait", "--timeout", "120s"]).ok();
    setup.poll();
    let (outcome, requests) = propfinds_of(&|| setup.poll());
    assert!(outcome.starts_with("0 listed"), "{outcome}");
    assert_eq!(requests, ["PROPFIND"], "unchanged again");
}

/// Many files brought home in one poll: each is indexed only once the
/// ledger names it, so the planner never takes one for a new photo and
/// sends it back (the watcher sees each land at once).
#[test]
fn pull_brings_many_files_home_and_sends_none_back() {
    const FILES: usize = 40;
    let setup = Setup::new(Kind::Fs);
    setup.poll();
    setup.daemon.cli(&["wait", "--timeout", "120s"]).ok();
    let uploads = setup.done_uploads();
    for i in 0..FILES {
        write_file(
            &setup.album.join(format!("trip/phone/p{i}.jpg")),
            format!("phone photo {i}").as_bytes(),
        );
    }
    let outcome = setup.poll_until(&format!("{FILES} downloaded"));
    assert!(!outcome.contains("failed"), "{outcome}");
    setup.daemon.cli(&["wait", "--timeout", "120s"]).ok();
    assert_eq!(setup.done_uploads(), uploads, "nothing was uploaded back");
    assert_eq!(setup.daemon.photo_paths(Some("Trip")).len(), FILES + 2);
    let quiet = setup.poll();
    assert!(quiet.contains(" 0 downloaded"), "{quiet}");
}

/// A photo deleted here whose remote copy another client edited since the
/// last sync: the delete checks the remote first and leaves the edit (the
/// job ends `left`, saying why), and the pull brings the edit home.
#[test]
fn pull_connection_never_deletes_a_remote_edit_it_has_not_seen() {
    let setup = Setup::new(Kind::Fs);
    // No poll of the connection's own after ours: the delete runs first.
    setup
        .daemon
        .cli(&["connect", "Trip", "--direction", "both", "--poll", "1h"])
        .ok();
    setup.poll();
    let edit = b"\xff\xd8 retouched in the web editor".to_vec();
    write_file(&setup.album.join("trip/t1.jpg"), &edit);
    fs::remove_file(setup.root.join("trip/t1.jpg")).unwrap();
    setup.daemon.json(&["rescan"]);
    // Left, then (once the pull brought the edit home, see below) released
    // to `cancelled`, keeping its reason.
    let left = wait_until(Duration::from_secs(60), "the delete left", || {
        let jobs = setup.daemon.cli(&["--json", "jobs"]).ok().json_lines();
        jobs.into_iter()
            .find(|j| j["op"] == "delete" && j["state"] != "queued" && j["state"] != "running")
            .ok_or_else(|| setup.daemon.cli(&["jobs"]).ok().stdout)
    });
    assert!(
        left["state"] == "left" || left["state"] == "cancelled",
        "{left}"
    );
    let reason = left["error"].as_str().unwrap_or_default();
    assert!(reason.contains("not deleted"), "{reason}");
    assert_eq!(
        bytes_of(&setup.album.join("trip/t1.jpg")),
        Some(edit.clone())
    );

    // Modify beats delete: the left delete asked for a poll, which brings
    // the remote's edit home.
    wait_until(Duration::from_secs(60), "the edit home", || match bytes_of(
        &setup.root.join("trip/t1.jpg"),
    ) {
        Some(bytes) if bytes == edit => Ok(()),
        other => Err((other, setup.daemon.json(&["status"])["connections"].clone())),
    });
    let quiet = setup.poll();
    assert!(
        quiet.contains(" 0 downloaded") && !quiet.contains("failed"),
        "{quiet}"
    );
    assert_eq!(bytes_of(&setup.album.join("trip/t1.jpg")), Some(edit));
}

/// An `fs` remote pointed at a share's mount point, and the share
/// unmounted under the running daemon: the album lists empty. However few
/// its photos (the brake lets a handful of deletions pass unasked), an
/// album that lists nothing at all holds: nothing leaves the collection
/// and nothing is touched on disk. (A hold withdrawn when the album comes
/// back is `pull_holds_an_emptied_album_at_the_brake`.)
#[test]
fn pull_holds_even_a_few_departures_when_the_album_lists_empty() {
    let daemon = Daemon::builder().start();
    let root = daemon.scratch("photos");
    write_photos(&root.join("trip"), "t", 3, 100);
    let share = daemon.scratch("nas");
    fs::create_dir_all(&share).unwrap();
    let mut mount = syncroll_testkit::Mount::tmpfs(&share);
    daemon.cli(&["roots", "add", s(&root)]).ok();
    daemon.json(&["rescan"]);
    daemon
        .cli(&["remotes", "add", "nas", "--kind", "fs", "--path", s(&share)])
        .ok();
    crate::create_trip(&daemon, &root, &["--remote", "nas", "--sync"]);
    daemon.cli(&["wait", "--timeout", "120s"]).ok();
    daemon
        .cli(&[
            "connect",
            "Trip",
            "--direction",
            "both",
            "--returns",
            "version",
        ])
        .ok();
    let first = poll(&daemon, "nas");
    assert!(first.starts_with("3 listed"), "{first}");

    mount.unmount();
    let mut last = String::new();
    wait_until(Duration::from_secs(60), "the departures held", || {
        last = poll(&daemon, "nas");
        last.contains("3 deleted on the remote held by the deletion brake")
            .then_some(())
            .ok_or(last.clone())
    });
    assert_eq!(daemon.photo_paths(Some("Trip")).len(), 3);
    for n in 0..3 {
        assert!(root.join(format!("trip/t{n}.jpg")).exists());
    }
}
