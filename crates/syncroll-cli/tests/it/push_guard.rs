//! The push side of a connection honours it (issue 11): a `pull`
//! connection sends nothing until its direction pushes again, an upload of
//! a changed photo never replaces a remote edit it has not seen (on `fs`,
//! the in-process S3 server and the in-process WebDAV server), and an
//! upload records the remote's state, so the next poll knows it as
//! syncroll's own without fetching it. The other client writes straight
//! into the server's folder, as it would through its own protocol.

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use syncroll_testkit::{S3Server, WebDavServer, wait_until, write_file};

use crate::pull::{Kind, Setup, bytes_of};

const TIMEOUT: Duration = Duration::from_secs(60);

impl Setup {
    /// `connect Trip --direction DIRECTION`, polled only when asked (the
    /// longest interval), then one poll begun after it: from here on, no
    /// poll runs unless a test or the push side asks for one.
    fn reconnect(&self, direction: &str) {
        self.daemon
            .cli(&[
                "connect",
                "Trip",
                "--direction",
                direction,
                "--returns",
                "version",
                "--poll",
                "24h",
            ])
            .ok();
        if direction != "push" {
            self.poll();
        }
    }

    /// Changes an object of the album as another client would. The
    /// in-process S3 server (s3s-fs) keeps the ETag of each object it was
    /// sent beside it; a file changed behind its back is read with the old
    /// one unless that is dropped, so it is (the server then takes the MD5
    /// of the bytes, as it does for any object it has no record of).
    fn edit_on_remote(&self, rel: &str, bytes: &[u8]) {
        write_file(&self.album.join(rel), bytes);
        if let Kind::S3(server) = &self.kind {
            let top = server.bucket_dir().parent().unwrap().to_path_buf();
            for entry in fs::read_dir(top).unwrap() {
                let path = entry.unwrap().path();
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                if name.starts_with(".bucket-") && name.ends_with(".internal.json") {
                    fs::remove_file(path).unwrap();
                }
            }
        }
    }

    /// Changes a photo of the collection on disk and has it indexed.
    fn edit_locally(&self, rel: &str, bytes: &[u8]) -> PathBuf {
        let path = write_file(&self.root.join(rel), bytes);
        self.daemon.json(&["rescan"]);
        path
    }

    fn idle(&self) {
        self.daemon.cli(&["wait", "--timeout", "120s"]).ok();
    }

    fn jobs(&self, state: &str) -> Vec<Value> {
        self.daemon
            .cli(&["--json", "jobs", "--state", state])
            .ok()
            .json_lines()
    }

    /// GET requests the server answered for `name` (not listings): the
    /// bytes of an object read. `fs` has no server and reads nothing here.
    fn reads_of(&self, name: &str) -> usize {
        let gets = |seen: Vec<(String, String)>| {
            seen.into_iter()
                .filter(|(method, target)| method == "GET" && target.contains(name))
                .count()
        };
        match &self.kind {
            Kind::Fs => 0,
            Kind::S3(server) => gets(
                server
                    .seen()
                    .into_iter()
                    .map(|r| (r.method, r.target))
                    .collect(),
            ),
            Kind::WebDav(server) | Kind::WebDavTagged(server) => gets(
                server
                    .seen()
                    .into_iter()
                    .map(|r| (r.method, r.target))
                    .collect(),
            ),
        }
    }
}

#[test]
fn a_pull_connection_sends_nothing_and_catches_up_once_it_pushes() {
    let setup = Setup::new(Kind::Fs);
    setup.reconnect("pull");
    let uploads = setup.done_uploads();
    let pushed = bytes_of(&setup.album.join("trip/t0.jpg")).unwrap();

    let edited = b"\xff\xd8 edited on the laptop".to_vec();
    setup.edit_locally("trip/t0.jpg", &edited);
    let new = b"\xff\xd8 a new photo".to_vec();
    setup.edit_locally("trip/new.jpg", &new);
    fs::remove_file(setup.root.join("trip/t1.jpg")).unwrap();
    setup.daemon.json(&["rescan"]);
    // Idle: scans and planning done, nothing queued or running.
    setup.idle();

    assert_eq!(
        setup.done_uploads(),
        uploads,
        "a pull connection uploads nothing"
    );
    assert!(setup.jobs("queued").is_empty());
    assert_eq!(bytes_of(&setup.album.join("trip/t0.jpg")), Some(pushed));
    assert!(!setup.album.join("trip/new.jpg").exists());
    assert!(
        setup.album.join("trip/t1.jpg").exists(),
        "a local deletion deletes nothing on the remote"
    );
    let status = setup.daemon.cli(&["status"]).ok().stdout;
    assert!(status.contains("2 not sent: pull-only"), "{status}");
    let shown = setup
        .daemon
        .cli(&["collections", "show", "Trip"])
        .ok()
        .stdout;
    assert!(shown.contains("2 not sent: pull-only"), "{shown}");

    setup.reconnect("both");
    setup.idle();
    assert_eq!(setup.done_uploads(), uploads + 2, "what changed meanwhile");
    assert_eq!(bytes_of(&setup.album.join("trip/t0.jpg")), Some(edited));
    assert_eq!(bytes_of(&setup.album.join("trip/new.jpg")), Some(new));
    wait_until(
        TIMEOUT,
        "the local deletion to reach the remote",
        || match setup.album.join("trip/t1.jpg").exists() {
            false => Ok(()),
            true => Err(setup.daemon.cli(&["status"]).ok().stdout),
        },
    );
    let status = setup.daemon.cli(&["status"]).ok().stdout;
    assert!(!status.contains("not sent"), "{status}");
}

/// Another client edits a photo on the remote; before the next poll it is
/// edited locally too. The upload of the local edit must not replace the
/// remote's: it is left, the push side asks for a poll, and the poll saves
/// the remote's bytes beside the local file as a conflict copy.
fn a_remote_edit_is_never_overwritten_unseen(kind: Kind) {
    let setup = Setup::new(kind);
    setup.reconnect("both");
    let remote_edit = b"\xff\xd8 cropped in the web editor, on the remote".to_vec();
    setup.edit_on_remote("trip/t0.jpg", &remote_edit);
    let local_edit = b"\xff\xd8 retouched on the laptop".to_vec();
    let local = setup.edit_locally("trip/t0.jpg", &local_edit);

    let conflicts = wait_until(TIMEOUT, "the poll the push side asked for", || {
        let listed = setup.daemon.json(&["conflicts"]);
        match listed["conflicts"].as_array() {
            Some(found) if !found.is_empty() => Ok(found.clone()),
            _ => Err(listed),
        }
    });
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    setup.idle();
    // Left, then settled by the poll that saved the remote's edit.
    let uploads = setup.jobs("cancelled");
    let reasons: Vec<&str> = uploads
        .iter()
        .filter(|j| j["op"] == "upload")
        .filter_map(|j| j["error"].as_str())
        .filter(|e| e.contains("the remote copy changed since the last sync"))
        .collect();
    assert_eq!(reasons.len(), 1, "{uploads:?}");
    assert!(reasons[0].contains("left for the pull"), "{}", reasons[0]);
    assert!(setup.jobs("left").is_empty());
    let status = setup.daemon.cli(&["status"]).ok().stdout;
    assert!(!status.contains("not uploaded"), "{status}");
    assert!(
        setup
            .daemon
            .log()
            .contains("not uploaded: the remote changed since the last sync")
    );
    // Both byte sets intact: the remote's at its key and in the copy, the
    // local file's on disk.
    assert_eq!(
        bytes_of(&setup.album.join("trip/t0.jpg")),
        Some(remote_edit.clone())
    );
    assert_eq!(bytes_of(&local), Some(local_edit));
    let copy = PathBuf::from(conflicts[0]["copy_path"].as_str().unwrap());
    assert_eq!(bytes_of(&copy), Some(remote_edit));
}

#[test]
fn a_remote_edit_is_not_overwritten_on_fs() {
    a_remote_edit_is_never_overwritten_unseen(Kind::Fs);
}

#[test]
fn a_remote_edit_is_not_overwritten_on_s3() {
    a_remote_edit_is_never_overwritten_unseen(Kind::S3(S3Server::start()));
}

#[test]
fn a_remote_edit_is_not_overwritten_on_webdav() {
    a_remote_edit_is_never_overwritten_unseen(Kind::WebDav(WebDavServer::start()));
}

/// Without a pull the remote's edit stays and the local bytes too; status
/// says so, and nothing is tried again until the photo changes.
#[test]
fn a_collection_that_does_not_pull_leaves_the_remote_edit_and_says_so() {
    let setup = Setup::new(Kind::Fs);
    setup.daemon.cli(&["disconnect", "Trip"]).ok();
    let uploads = setup.done_uploads();
    let remote_edit = b"\xff\xd8 edited by another client".to_vec();
    setup.edit_on_remote("trip/t1.jpg", &remote_edit);
    let local_edit = b"\xff\xd8 edited here too".to_vec();
    let local = setup.edit_locally("trip/t1.jpg", &local_edit);
    wait_until(TIMEOUT, "the upload to be left", || {
        match setup.jobs("left").len() {
            1 => Ok(()),
            n => Err(n),
        }
    });
    setup.idle();
    assert_eq!(setup.done_uploads(), uploads);
    assert_eq!(
        bytes_of(&setup.album.join("trip/t1.jpg")),
        Some(remote_edit)
    );
    assert_eq!(bytes_of(&local), Some(local_edit));
    let status = setup.daemon.cli(&["status"]).ok().stdout;
    assert!(
        status.contains("1 not uploaded: the remote changed since the last sync"),
        "{status}"
    );
    let reason = setup.jobs("left")[0]["error"].as_str().unwrap().to_owned();
    assert!(reason.contains("the collection does not pull"), "{reason}");
    // `wait` is not failed by it.
    setup.daemon.cli(&["wait", "--timeout", "10s"]).ok();

    // A later local edit is tried again, and left again: still unseen.
    setup.edit_locally("trip/t1.jpg", b"\xff\xd8 edited here once more");
    wait_until(TIMEOUT, "the second upload to be left", || {
        match setup.jobs("left").len() {
            2 => Ok(()),
            n => Err(n),
        }
    });
    assert_eq!(setup.done_uploads(), uploads);
}

/// An upload records what the remote holds now, so the next poll knows
/// the object as syncroll's own: a same-size edit, which a listing alone
/// cannot tell from another client's, is neither fetched nor decided again.
fn the_next_poll_knows_an_upload(kind: Kind) {
    let setup = Setup::new(kind);
    setup.reconnect("both");
    let quiet = setup.poll();
    assert_eq!(quiet, "2 listed, 0 downloaded");
    let uploads = setup.done_uploads();
    let size = fs::metadata(setup.root.join("trip/t0.jpg")).unwrap().len();
    let edited = vec![b'l'; size as usize];
    setup.edit_locally("trip/t0.jpg", &edited);
    setup.idle();
    assert_eq!(setup.done_uploads(), uploads + 1);
    assert_eq!(bytes_of(&setup.album.join("trip/t0.jpg")), Some(edited));

    let reads = setup.reads_of("t0.jpg");
    let outcome = setup.poll();
    assert_eq!(outcome, "2 listed, 0 downloaded");
    assert_eq!(setup.reads_of("t0.jpg"), reads, "the poll fetched nothing");
    setup.idle();
    assert_eq!(setup.done_uploads(), uploads + 1);
}

#[test]
fn the_next_poll_knows_an_upload_on_fs() {
    the_next_poll_knows_an_upload(Kind::Fs);
}

#[test]
fn the_next_poll_knows_an_upload_on_s3() {
    the_next_poll_knows_an_upload(Kind::S3(S3Server::start()));
}

#[test]
fn the_next_poll_knows_an_upload_on_webdav() {
    the_next_poll_knows_an_upload(Kind::WebDav(WebDavServer::start()));
}
