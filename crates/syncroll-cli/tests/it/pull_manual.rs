//! Pulling into a manual collection, through the real daemon and CLI: a
//! file another client puts on the album lands in the connection's inbox
//! and keeps the key it came from (it is never uploaded again under the
//! key its local path would compute); and, on a case-insensitive disk,
//! remote names that differ only in case are refused, never written.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use syncroll_testkit::{Daemon, Mount, S3Server, WebDavServer, s, write_file, write_photos};

use crate::pull::{Kind, add_remote, bytes_of, done_uploads, poll};

/// A root with `trip/t0.jpg`, the manual collection Phone holding it,
/// synced to the remote and connected `both`, edits returning as
/// versions; its inbox is the default, `<root>/Phone`.
struct Manual {
    daemon: Daemon,
    root: PathBuf,
    /// The album on the remote's disk: `<store>/Phone/`.
    album: PathBuf,
    remote: &'static str,
    _kind: Kind,
}

impl Manual {
    fn new(kind: Kind) -> Self {
        Self::returning(kind, "version")
    }

    fn returning(kind: Kind, returns: &str) -> Self {
        let daemon = Daemon::start();
        let root = daemon.scratch("photos");
        write_photos(&root.join("trip"), "t", 1, 100);
        daemon.cli(&["roots", "add", s(&root)]).ok();
        daemon.json(&["rescan"]);
        let (remote, store) = add_remote(&daemon, &kind);
        daemon
            .cli(&[
                "collections",
                "create",
                "Phone",
                "--remote",
                remote,
                "--sync",
            ])
            .ok();
        daemon
            .cli(&["collections", "add", "Phone", s(&root.join("trip/t0.jpg"))])
            .ok();
        daemon.cli(&["wait", "--timeout", "120s"]).ok();
        daemon
            .cli(&[
                "connect",
                "Phone",
                "--direction",
                "both",
                "--returns",
                returns,
            ])
            .ok();
        await_first_poll(&daemon);
        let root = fs::canonicalize(root).unwrap();
        Self {
            daemon,
            root,
            album: store.join("Phone"),
            remote,
            _kind: kind,
        }
    }

    fn poll(&self) -> String {
        poll(&self.daemon, self.remote)
    }

    fn wait(&self) {
        self.daemon.cli(&["wait", "--timeout", "120s"]).ok();
    }

    fn done_uploads(&self) -> usize {
        done_uploads(&self.daemon)
    }

    fn inbox(&self) -> PathBuf {
        self.root.join("Phone")
    }
}

/// Waits for the connection's own first poll, which starts at once: every
/// later poll is then one a test asked for (a poll asked for while that one
/// runs would finish after the one awaited, and `status` show only it).
fn await_first_poll(daemon: &Daemon) {
    syncroll_testkit::wait_until(Duration::from_secs(60), "the first poll", || {
        let connection = daemon.json(&["status"])["connections"][0].clone();
        match connection["last_polled_at_ms"].as_i64() {
            Some(_) => Ok(()),
            None => Err(connection),
        }
    });
}

/// The keys on the album's disk, without the server's bookkeeping.
fn files_under(dir: &Path) -> Vec<String> {
    crate::objects(dir)
        .into_iter()
        .map(|(key, _)| key)
        .collect()
}

/// A new file on a manual collection's album lands in the inbox, joins the
/// collection and is not uploaded back; its remote edit returns as a
/// version; its local edit goes to the key it came from; polls of an
/// unchanged album change nothing.
fn a_new_remote_file_lands_in_the_inbox_and_keeps_its_key(kind: Kind) {
    let setup = Manual::new(kind);
    // The connection's first poll may run at any moment; this one is ours.
    setup.poll();
    setup.wait();
    let uploads = setup.done_uploads();
    assert_eq!(files_under(&setup.album), ["trip/t0.jpg"]);
    let photo = b"\xff\xd8 a photo from the phone".to_vec();
    write_file(&setup.album.join("day 3/phone.jpg"), &photo);

    let outcome = setup.poll();
    assert!(outcome.contains("1 downloaded"), "{outcome}");
    let landed = setup.inbox().join("day 3/phone.jpg");
    assert_eq!(bytes_of(&landed), Some(photo.clone()));
    assert_eq!(
        setup.daemon.photo_paths(Some("Phone")),
        ["Phone/day 3/phone.jpg", "trip/t0.jpg"]
    );
    setup.wait();
    for _ in 0..2 {
        let again = setup.poll();
        assert!(again.contains(" 0 downloaded"), "{again}");
        assert!(
            !again.contains("failed") && !again.contains("edits"),
            "{again}"
        );
        setup.wait();
    }
    assert_eq!(setup.done_uploads(), uploads, "nothing was uploaded back");
    assert_eq!(
        files_under(&setup.album),
        ["day 3/phone.jpg", "trip/t0.jpg"],
        "no second copy under the inbox's own path"
    );

    // An edit made on the remote returns as a version.
    let edited = b"\xff\xd8 a photo from the phone, cropped on the web".to_vec();
    write_file(&setup.album.join("day 3/phone.jpg"), &edited);
    let outcome = setup.poll();
    assert!(
        outcome.contains("1 edits returned as versions"),
        "{outcome}"
    );
    assert_eq!(bytes_of(&landed), Some(edited.clone()));
    setup.wait();
    assert_eq!(setup.done_uploads(), uploads, "the edit was not sent back");

    // A local edit goes to the key the photo came from.
    let local = b"\xff\xd8 a photo from the phone, retouched here at home".to_vec();
    write_file(&landed, &local);
    setup.daemon.cli(&["rescan"]).ok();
    setup.wait();
    syncroll_testkit::wait_until(
        Duration::from_secs(60),
        "the local edit on the album",
        || {
            setup.wait();
            let on_album = bytes_of(&setup.album.join("day 3/phone.jpg"));
            if on_album.as_deref() == Some(local.as_slice()) {
                Ok(())
            } else {
                Err(on_album.map(|b| String::from_utf8_lossy(&b).into_owned()))
            }
        },
    );
    assert_eq!(setup.done_uploads(), uploads + 1);
    assert_eq!(
        files_under(&setup.album),
        ["day 3/phone.jpg", "trip/t0.jpg"]
    );
    let after = setup.poll();
    assert!(
        after.contains(" 0 downloaded") && !after.contains("edits"),
        "{after}"
    );
}

#[test]
fn pull_into_a_manual_collection_lands_in_its_inbox_from_fs() {
    a_new_remote_file_lands_in_the_inbox_and_keeps_its_key(Kind::Fs);
}

#[test]
fn pull_into_a_manual_collection_lands_in_its_inbox_from_s3() {
    a_new_remote_file_lands_in_the_inbox_and_keeps_its_key(Kind::S3(S3Server::start()));
}

#[test]
fn pull_into_a_manual_collection_lands_in_its_inbox_from_webdav() {
    a_new_remote_file_lands_in_the_inbox_and_keeps_its_key(Kind::WebDav(WebDavServer::start()));
}

/// A raw brought home into the inbox keeps its key, and so do its
/// sidecars: one written here goes beside the raw's key (not under the
/// inbox's own path), and its edit on the album returns as a version.
#[test]
fn a_sidecar_of_a_photo_in_the_inbox_travels_beside_its_key() {
    let setup = Manual::new(Kind::Fs);
    setup.poll();
    write_file(&setup.album.join("raws/IMG_9.NEF"), b"raw sensor data");
    let outcome = setup.poll();
    assert!(outcome.contains("1 downloaded"), "{outcome}");
    setup.wait();
    let uploads = setup.done_uploads();
    let sidecar = setup.inbox().join("raws/IMG_9.NEF.xmp");
    write_file(&sidecar, b"<darktable exposure=0/>");
    setup.daemon.cli(&["rescan"]).ok();
    setup.wait();
    assert_eq!(
        files_under(&setup.album),
        ["raws/IMG_9.NEF", "raws/IMG_9.NEF.xmp", "trip/t0.jpg"]
    );
    assert_eq!(setup.done_uploads(), uploads + 1);

    let edited = b"<darktable exposure=+0.7/>".to_vec();
    write_file(&setup.album.join("raws/IMG_9.NEF.xmp"), &edited);
    let outcome = setup.poll();
    assert!(
        outcome.contains("1 edits returned as versions"),
        "{outcome}"
    );
    assert_eq!(bytes_of(&sidecar), Some(edited));
    setup.wait();
    assert_eq!(setup.done_uploads(), uploads + 1, "not sent back");
}

/// A key that a file of the inbox would have if it were not pinned
/// (`Phone/a.jpg` for the inbox file `Phone/a.jpg` pinned to `a.jpg`) is
/// another file: it lands at its own path below the inbox, and the pinned
/// one is left alone.
#[test]
fn a_key_shaped_like_an_inbox_path_is_a_new_file_of_the_inbox() {
    let setup = Manual::new(Kind::Fs);
    setup.poll();
    let first = b"\xff\xd8 first from the phone".to_vec();
    write_file(&setup.album.join("a.jpg"), &first);
    assert!(setup.poll().contains("1 downloaded"));
    setup.wait();
    let other = b"\xff\xd8 another client's, in a folder named Phone".to_vec();
    write_file(&setup.album.join("Phone/a.jpg"), &other);
    let outcome = setup.poll();
    assert!(outcome.contains("1 downloaded"), "{outcome}");
    assert!(!outcome.contains("conflict"), "{outcome}");
    assert_eq!(bytes_of(&setup.inbox().join("a.jpg")), Some(first));
    assert_eq!(bytes_of(&setup.inbox().join("Phone/a.jpg")), Some(other));
    setup.wait();
    assert_eq!(
        files_under(&setup.album),
        ["Phone/a.jpg", "a.jpg", "trip/t0.jpg"]
    );
}

/// In a manual collection as in a folder one: a remote edit returned as a
/// copy, and a both-sides edit saved as a conflict copy, join the
/// collection beside the original, which keeps its bytes.
#[test]
fn edit_and_conflict_copies_join_a_manual_collection() {
    let setup = Manual::returning(Kind::Fs, "copy");
    setup.poll();
    let original = b"\xff\xd8 as it came home".to_vec();
    write_file(&setup.album.join("a.jpg"), &original);
    let outcome = setup.poll();
    assert!(outcome.contains("1 downloaded"), "{outcome}");
    setup.wait();
    let landed = setup.inbox().join("a.jpg");

    let edited = b"\xff\xd8 as it came home, then cropped".to_vec();
    write_file(&setup.album.join("a.jpg"), &edited);
    let outcome = setup.poll();
    assert!(outcome.contains("1 edits saved as copies"), "{outcome}");
    assert_eq!(bytes_of(&landed), Some(original));
    assert_eq!(
        bytes_of(&setup.inbox().join("a (edit 1).jpg")),
        Some(edited)
    );
    setup.wait();

    // Pulling only, so the push side does not send the local edit before
    // the poll sees the remote one (a pause would hold the poll too).
    setup
        .daemon
        .cli(&["connect", "Phone", "--direction", "pull"])
        .ok();
    let local = b"\xff\xd8 edited on the laptop".to_vec();
    write_file(&landed, &local);
    setup.daemon.json(&["rescan"]);
    let remote = b"\xff\xd8 edited in the web editor, longer".to_vec();
    write_file(&setup.album.join("a.jpg"), &remote);
    let outcome = setup.poll();
    assert!(outcome.contains("1 conflicts saved as copies"), "{outcome}");
    assert_eq!(bytes_of(&landed), Some(local));
    let listed = setup.daemon.json(&["conflicts"]);
    let copy = PathBuf::from(listed["conflicts"][0]["copy_path"].as_str().unwrap());
    assert_eq!(bytes_of(&copy), Some(remote.clone()));
    let paths = setup.daemon.photo_paths(Some("Phone"));
    let copy_rel = copy
        .strip_prefix(&setup.root)
        .unwrap()
        .display()
        .to_string();
    for wanted in ["Phone/a.jpg", "Phone/a (edit 1).jpg", copy_rel.as_str()] {
        assert!(paths.iter().any(|p| p == wanted), "{wanted} in {paths:?}");
    }
    assert_eq!(
        bytes_of(&setup.album.join("a.jpg")),
        Some(remote),
        "not overwritten"
    );
}

#[test]
fn pull_takes_a_photo_deleted_on_the_album_out_of_a_manual_collection_and_keeps_it() {
    let setup = Manual::new(Kind::Fs);
    setup.poll();
    let photo = b"\xff\xd8 from the phone, soon deleted there".to_vec();
    write_file(&setup.album.join("gone.jpg"), &photo);
    // One stays: an album that lists empty holds even a few departures
    // (`pull_holds_even_a_few_departures_when_the_album_lists_empty`).
    write_file(&setup.album.join("stays.jpg"), b"\xff\xd8 stays");
    let outcome = setup.poll();
    assert!(outcome.contains("2 downloaded"), "{outcome}");
    setup.wait();
    fs::remove_file(setup.album.join("gone.jpg")).unwrap();
    fs::remove_file(setup.album.join("trip/t0.jpg")).unwrap();
    // A key placed in the second a listing began waits for a later poll.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    // By membership, not by one poll's words: the poll that takes them out
    // may be one the daemon ran on its own.
    let mut outcome = setup.poll();
    while setup.daemon.photo_paths(Some("Phone")) != ["Phone/stays.jpg"] {
        assert!(std::time::Instant::now() < deadline, "{outcome}");
        outcome = setup.poll();
    }
    assert!(!outcome.contains("held"), "{outcome}");
    assert_eq!(bytes_of(&setup.inbox().join("gone.jpg")), Some(photo));
    assert!(setup.root.join("trip/t0.jpg").exists(), "kept on disk");
    setup.wait();
    assert_eq!(
        files_under(&setup.album),
        ["stays.jpg"],
        "nothing sent back"
    );
}

#[test]
fn pull_into_a_manual_collection_stops_while_its_inbox_root_is_missing() {
    let daemon = Daemon::start();
    let disk = daemon.scratch("disk");
    let mut mount = Mount::tmpfs(&disk);
    write_photos(&disk.join("trip"), "t", 1, 100);
    daemon.cli(&["roots", "add", s(&disk)]).ok();
    daemon.json(&["rescan"]);
    daemon
        .cli(&["collections", "create", "Phone", "--sync"])
        .ok();
    daemon
        .cli(&["collections", "add", "Phone", s(&disk.join("trip/t0.jpg"))])
        .ok();
    daemon.cli(&["wait", "--timeout", "120s"]).ok();
    daemon
        .cli(&[
            "connect",
            "Phone",
            "--direction",
            "pull",
            "--returns",
            "version",
        ])
        .ok();
    await_first_poll(&daemon);
    poll(&daemon, "local");
    mount.unmount();
    // The daemon sees the root go (its probe), then the poll stops on it.
    syncroll_testkit::wait_until(Duration::from_secs(60), "the root missing", || {
        let _ = daemon.cli(&["rescan"]);
        let status = daemon.json(&["status"]);
        if status["roots"][0]["state"].as_str() == Some("missing") {
            Ok(())
        } else {
            Err(status["roots"].clone())
        }
    });
    write_file(
        &daemon.data_dir.join("cloud/Phone/new.jpg"),
        b"\xff\xd8 new while the disk is away",
    );
    let outcome = poll(&daemon, "local");
    assert!(outcome.contains("is missing"), "{outcome}");
    assert!(!disk.join("Phone/new.jpg").exists());
}

/// A folder collection Trip on a case-insensitive disk (exFAT), synced to
/// the `fs` remote (on a case-sensitive disk, where names differing in case
/// are two files) and connected `both`.
#[test]
fn pull_refuses_names_differing_only_in_case_on_a_case_insensitive_disk() {
    let daemon = Daemon::start();
    let disk = daemon.scratch("exfat");
    let _mount = Mount::exfat(&daemon.scratch("images").join("exfat.img"), &disk, 32);
    write_file(&disk.join("trip/IMG_2.JPG"), b"\xff\xd8 shot here");
    daemon.cli(&["roots", "add", s(&disk)]).ok();
    daemon.json(&["rescan"]);
    crate::create_trip(&daemon, &disk, &["--sync"]);
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
    await_first_poll(&daemon);
    poll(&daemon, "local");
    let album = daemon.data_dir.join("cloud/Trip");
    write_file(&album.join("trip/IMG_1.JPG"), b"\xff\xd8 upper");
    write_file(&album.join("trip/img_1.jpg"), b"\xff\xd8 lower");
    write_file(&album.join("trip/img_2.jpg"), b"\xff\xd8 another client's");
    write_file(&album.join("trip/IMG_3.JPG"), b"\xff\xd8 alone");

    let outcome = poll(&daemon, "local");
    assert!(outcome.contains("1 downloaded"), "{outcome}");
    assert!(outcome.contains("3 refused"), "{outcome}");
    assert!(outcome.contains("differs only in case"), "{outcome}");
    let mut names: Vec<String> = fs::read_dir(disk.join("trip"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    assert_eq!(names, ["IMG_2.JPG", "IMG_3.JPG"]);
    assert_eq!(
        bytes_of(&disk.join("trip/IMG_2.JPG")).as_deref(),
        Some(&b"\xff\xd8 shot here"[..]),
        "never overwritten by img_2.jpg's bytes"
    );
    let status = daemon.cli(&["status"]).ok().stdout;
    assert!(status.contains("differs only in case"), "{status}");
}
