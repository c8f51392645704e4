use std::fs;

use syncroll_testkit::{Daemon, EVENT_TIMEOUT, s, wait_until, write_file};

use crate::roots::blake3_hex;

fn watched_root(daemon: &Daemon) -> std::path::PathBuf {
    let root = daemon.scratch("photos");
    write_file(&root.join("seed.jpg"), b"seed");
    daemon.cli(&["roots", "add", s(&root)]).ok();
    daemon.wait_for_photos(None, &["seed.jpg"]);
    root
}

#[test]
fn created_photo_appears_without_a_rescan() {
    let daemon = Daemon::start();
    let root = watched_root(&daemon);
    write_file(&root.join("2025/new shot.NEF"), b"raw bytes");
    daemon.wait_for_photos(None, &["2025/new shot.NEF", "seed.jpg"]);
}

#[test]
fn changed_photo_is_rehashed() {
    let daemon = Daemon::start();
    let root = watched_root(&daemon);
    fs::write(root.join("seed.jpg"), b"edited in an editor").unwrap();
    let expected = blake3_hex(b"edited in an editor");
    wait_until(EVENT_TIMEOUT, "the new hash of seed.jpg", || {
        let photos = daemon.photos(None);
        if photos[0]["blake3"] == expected.as_str() {
            Ok(())
        } else {
            Err(photos)
        }
    });
}

#[test]
fn renamed_photo_keeps_its_identity_and_deleted_photo_goes() {
    let daemon = Daemon::start();
    let root = watched_root(&daemon);
    write_file(&root.join("doomed.jpg"), b"doomed");
    daemon.wait_for_photos(None, &["doomed.jpg", "seed.jpg"]);
    let id_before = daemon
        .photos(None)
        .into_iter()
        .find(|p| p["path"] == "seed.jpg")
        .unwrap()["id"]
        .clone();

    fs::create_dir(root.join("keep")).unwrap();
    fs::rename(root.join("seed.jpg"), root.join("keep/renamed.jpg")).unwrap();
    fs::remove_file(root.join("doomed.jpg")).unwrap();
    daemon.wait_for_photos(None, &["keep/renamed.jpg"]);
    assert_eq!(
        daemon.photos(None)[0]["id"],
        id_before,
        "a rename keeps the photo's identity"
    );
}

#[test]
fn a_folder_moved_in_is_indexed_whole() {
    let daemon = Daemon::start();
    let root = watched_root(&daemon);
    let outside = daemon.scratch("card");
    write_file(&outside.join("DCIM/a.jpg"), b"a");
    write_file(&outside.join("DCIM/b.jpg"), b"b");
    fs::rename(outside.join("DCIM"), root.join("DCIM")).unwrap();
    daemon.wait_for_photos(None, &["DCIM/a.jpg", "DCIM/b.jpg", "seed.jpg"]);
}

#[test]
fn watch_limit_falls_back_to_rescans_and_says_so() {
    let daemon = Daemon::builder()
        .config("[watcher]\nmax_watched_dirs = 1\nfallback_rescan_interval_secs = 1")
        .start();
    let root = daemon.scratch("photos");
    fs::create_dir_all(root.join("a/b")).unwrap();
    daemon.cli(&["roots", "add", s(&root)]).ok();
    let status = wait_until(EVENT_TIMEOUT, "the watcher to report degraded", || {
        let status = daemon.json(&["status"]);
        if status["watcher"]["state"] == "degraded" {
            Ok(status)
        } else {
            Err(status)
        }
    });
    assert!(
        status["watcher"]["detail"]
            .as_str()
            .unwrap()
            .contains("max_watched_dirs"),
        "{status}"
    );
    assert!(daemon.cli(&["status"]).ok().stdout.contains("degraded"));
    assert!(daemon.log().contains("falling back to periodic rescans"));

    // No watch, yet a new photo is found by the fallback rescans.
    write_file(&root.join("a/b/late.jpg"), b"late");
    daemon.wait_for_photos(None, &["a/b/late.jpg"]);
}

#[test]
fn a_root_holding_the_data_dir_is_refused() {
    let daemon = Daemon::start();
    // A root would contain the daemon's own data dir (its SQLite files and
    // the `local` remote's folder).
    let parent = daemon.data_dir.parent().unwrap().to_path_buf();
    write_file(&parent.join("shots/x.jpg"), b"x");
    let refused = daemon.cli(&["roots", "add", s(&parent)]).fails_with(1);
    assert!(
        refused.stderr.contains(s(&parent)) && refused.stderr.contains(s(&daemon.data_dir)),
        "names both folders: {refused:?}"
    );
    assert!(
        daemon.json(&["roots", "list"])["roots"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn a_symlinked_folder_is_not_followed_by_watcher_scans() {
    let daemon = Daemon::start();
    let root = watched_root(&daemon);
    let elsewhere = daemon.scratch("elsewhere");
    write_file(&elsewhere.join("outside.jpg"), b"not in the root");
    std::os::unix::fs::symlink(&elsewhere, root.join("link")).unwrap();
    // A positive marker after the link: once it is indexed, the link's
    // event has been handled too.
    write_file(&root.join("marker.jpg"), b"marker");
    daemon.wait_for_photos(None, &["marker.jpg", "seed.jpg"]);
    daemon.json(&["rescan"]);
    assert_eq!(daemon.photo_paths(None), ["marker.jpg", "seed.jpg"]);
}
