use std::fs;

use serde_json::Value;
use syncroll_testkit::{Daemon, EVENT_TIMEOUT, s, wait_until, write_photos};

#[test]
fn added_root_is_indexed_with_hashes() {
    let daemon = Daemon::start();
    let root = daemon.scratch("photos");
    write_photos(&root.join("2024"), "a", 20, 4096);
    fs::write(root.join("notes.txt"), "not a photo").unwrap();
    fs::write(root.join(".hidden.jpg"), "hidden").unwrap();

    let added = daemon.json(&["roots", "add", s(&root)]);
    assert_eq!(added["root"]["path"], s(&root.canonicalize().unwrap()));
    wait_until(EVENT_TIMEOUT, "20 photos indexed", || {
        let n = daemon.photos(None).len();
        if n == 20 { Ok(()) } else { Err(n) }
    });
    let photos = daemon.photos(None);
    let first = &photos[0];
    let bytes = fs::read(root.join(first["path"].as_str().unwrap())).unwrap();
    assert_eq!(first["blake3"], blake3_hex(&bytes));
    assert_eq!(first["size"], 4096);

    let roots = daemon.json(&["roots", "list"]);
    assert_eq!(roots["roots"][0]["photo_count"], 20);
    assert_eq!(roots["roots"][0]["state"], "online");
}

#[test]
fn restart_reindexes_without_rehashing_unchanged_files() {
    // The edit below is a moment old when the daemon starts; this test is
    // about what the start-up scan hashes, not about waiting for files to
    // settle (watcher.rs covers that).
    let mut daemon = Daemon::builder().config("[watcher]\nsettle_ms = 0").start();
    let root = daemon.scratch("photos");
    write_photos(&root, "p", 30, 2048);
    daemon.cli(&["roots", "add", s(&root)]).ok();
    let first = daemon.json(&["rescan"]);
    assert_eq!(first["files_seen"], 30);

    daemon.stop();
    // One file changes while the daemon is down.
    fs::write(root.join("p0.jpg"), b"edited while stopped").unwrap();
    daemon.restart();
    let status = daemon.wait_scan_idle();
    assert_eq!(status["scan"]["reason"], "startup");
    assert_eq!(status["scan"]["files_seen"], 30);
    assert_eq!(
        status["scan"]["files_hashed"], 1,
        "only the edited file is hashed again: {status}"
    );
    let edited = daemon
        .photos(None)
        .into_iter()
        .find(|p| p["path"] == "p0.jpg")
        .unwrap();
    assert_eq!(edited["blake3"], blake3_hex(b"edited while stopped"));
}

#[test]
fn rescan_picks_up_changes_and_keeps_renamed_photos() {
    let daemon = Daemon::builder()
        .config("[watcher]\nenabled = false")
        .start();
    let root = daemon.scratch("photos");
    write_photos(&root, "p", 3, 100);
    daemon.cli(&["roots", "add", s(&root)]).ok();
    daemon.json(&["rescan"]);
    daemon.cli(&["collections", "create", "Picks"]).ok();
    daemon
        .cli(&["collections", "add", "Picks", s(&root.join("p1.jpg"))])
        .ok();

    fs::create_dir(root.join("moved")).unwrap();
    fs::rename(root.join("p1.jpg"), root.join("moved/p1-renamed.jpg")).unwrap();
    fs::remove_file(root.join("p2.jpg")).unwrap();
    write_photos(&root, "new", 1, 100);
    let summary = daemon.json(&["rescan", s(&root)]);
    assert_eq!(summary["photos_renamed"], 1, "{summary}");
    assert_eq!(summary["photos_removed"], 1, "{summary}");
    assert_eq!(summary["photos_added"], 1, "{summary}");
    assert_eq!(
        daemon.photo_paths(None),
        ["moved/p1-renamed.jpg", "new0.jpg", "p0.jpg"]
    );
    // The renamed photo kept its membership of the manual collection.
    assert_eq!(daemon.photo_paths(Some("Picks")), ["moved/p1-renamed.jpg"]);
}

#[test]
fn unmounted_root_is_missing_and_its_photos_are_kept() {
    let daemon = Daemon::start();
    let root = daemon.scratch("disk");
    write_photos(&root, "p", 5, 100);
    daemon.cli(&["roots", "add", s(&root)]).ok();
    daemon.wait_for_photos(None, &["p0.jpg", "p1.jpg", "p2.jpg", "p3.jpg", "p4.jpg"]);

    // The disk goes away: the folder vanishes.
    let away = daemon.scratch("elsewhere").join("disk");
    fs::rename(&root, &away).unwrap();
    let missing = wait_until(EVENT_TIMEOUT, "the root to be reported missing", || {
        let roots = daemon.json(&["roots", "list"]);
        if roots["roots"][0]["state"] == "missing" {
            Ok(roots)
        } else {
            Err(roots)
        }
    });
    assert!(
        missing["roots"][0]["missing_reason"]
            .as_str()
            .unwrap()
            .contains("does not exist")
    );
    let photos = daemon.photos(None);
    assert_eq!(photos.len(), 5, "photos of a missing root are kept");
    assert!(photos.iter().all(|p| p["root_missing"] == true));
    let human = daemon.cli(&["status"]).ok().stdout;
    assert!(human.contains("MISSING"), "{human}");

    // An empty mount point is not "all photos deleted" either.
    fs::create_dir(&root).unwrap();
    let summary = daemon.json(&["rescan"]);
    assert_eq!(summary["missing_roots"][0], s(&root));
    assert_eq!(daemon.photos(None).len(), 5);

    // The disk comes back.
    fs::remove_dir(&root).unwrap();
    fs::rename(&away, &root).unwrap();
    wait_until(EVENT_TIMEOUT, "the root to come back online", || {
        let roots = daemon.json(&["roots", "list"]);
        if roots["roots"][0]["state"] == "online" {
            Ok(())
        } else {
            Err(roots)
        }
    });
    assert_eq!(daemon.photos(None).len(), 5);
}

#[test]
fn removing_a_root_forgets_its_photos_but_not_the_files() {
    let daemon = Daemon::start();
    let root = daemon.scratch("photos");
    write_photos(&root, "p", 4, 100);
    daemon.cli(&["roots", "add", s(&root)]).ok();
    daemon.json(&["rescan"]);
    let removed = daemon.json(&["roots", "remove", s(&root)]);
    assert_eq!(removed["photos_forgotten"], 4);
    assert!(daemon.photos(None).is_empty());
    assert_eq!(
        fs::read_dir(&root).unwrap().count(),
        4,
        "files on disk are untouched"
    );
    assert_eq!(
        daemon.json(&["roots", "list"])["roots"],
        Value::Array(vec![])
    );
}

#[test]
fn overlapping_and_duplicate_roots_are_refused() {
    let daemon = Daemon::start();
    let root = daemon.scratch("photos");
    fs::create_dir_all(root.join("inner")).unwrap();
    daemon.cli(&["roots", "add", s(&root)]).ok();
    let dup = daemon.cli(&["roots", "add", s(&root)]).fails_with(1);
    assert!(dup.stderr.contains("already a root"), "{dup:?}");
    let inner = daemon
        .cli(&["roots", "add", s(&root.join("inner"))])
        .fails_with(1);
    assert!(inner.stderr.contains("overlaps root"), "{inner:?}");
}

#[test]
fn non_utf8_names_are_indexed_and_symlink_loops_do_not_stall() {
    use std::os::unix::ffi::OsStrExt;
    let daemon = Daemon::start();
    let root = daemon.scratch("photos");
    let odd = std::ffi::OsStr::from_bytes(b"caf\xe9.jpg");
    fs::write(root.join(odd), b"latin-1 name").unwrap();
    fs::create_dir(root.join("sub")).unwrap();
    fs::write(root.join("sub/ok.jpg"), b"fine").unwrap();
    std::os::unix::fs::symlink("..", root.join("sub/loop")).unwrap();
    std::os::unix::fs::symlink("loop2", root.join("loop1")).unwrap();
    std::os::unix::fs::symlink("loop1", root.join("loop2")).unwrap();

    daemon.cli(&["roots", "add", s(&root)]).ok();
    let summary = daemon.json(&["rescan"]);
    assert_eq!(summary["files_seen"], 2, "{summary}");
    let photos = daemon.photos(None);
    let odd_photo = photos.iter().find(|p| p["path"] != "sub/ok.jpg").unwrap();
    assert_eq!(odd_photo["path"], "caf\u{fffd}.jpg");
    let raw: Vec<u8> = odd_photo["path_raw"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_u64().unwrap() as u8)
        .collect();
    assert_eq!(
        raw,
        root.canonicalize()
            .unwrap()
            .join(odd)
            .as_os_str()
            .as_bytes()
    );
}

pub fn blake3_hex(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}
