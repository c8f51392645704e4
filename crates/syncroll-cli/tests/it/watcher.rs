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

/// A file closed after writing, or renamed into place (an editor's atomic
/// save), is complete: it is indexed at once, not after `settle_ms` (here
/// longer than any wait below, so only the close can explain it).
#[test]
fn a_photo_closed_or_renamed_into_place_is_indexed_without_settling() {
    let daemon = Daemon::builder()
        .config("[watcher]\ndebounce_ms = 100\nsettle_ms = 600000")
        .start();
    let root = daemon.scratch("photos");
    write_file(&root.join("seed.jpg"), b"seed");
    daemon.cli(&["roots", "add", s(&root)]).ok();
    // A scan the user asks for indexes what is there, settled or not.
    daemon.json(&["rescan"]);
    daemon.wait_for_photos(None, &["seed.jpg"]);
    fs::write(root.join("closed.jpg"), b"written and closed").unwrap();
    daemon.wait_for_photos(None, &["closed.jpg", "seed.jpg"]);

    // Written under a hidden temporary name, then renamed over the photo.
    fs::write(root.join(".seed.jpg.tmp"), b"saved atomically").unwrap();
    fs::rename(root.join(".seed.jpg.tmp"), root.join("seed.jpg")).unwrap();
    let expected = blake3_hex(b"saved atomically");
    wait_until(EVENT_TIMEOUT, "the new hash of seed.jpg", || {
        let photos = daemon.photos(None);
        let seed = photos.iter().find(|p| p["path"] == "seed.jpg");
        match seed {
            Some(p) if p["blake3"] == expected.as_str() => Ok(()),
            _ => Err(photos),
        }
    });
    assert_eq!(daemon.json(&["status"])["scan"]["settling"], 0);
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

/// How many times the daemon's log says it left `path` to settle.
fn settling_looks(daemon: &Daemon, path: &str) -> usize {
    let needle = format!("path=\"{path}\"");
    daemon
        .log()
        .lines()
        .filter(|l| l.contains("indexed once it settles") && l.contains(&needle))
        .count()
}

/// A photo written through one open handle in several writes, each made as
/// soon as the daemon has seen the previous one (so the writes come closer
/// together than `settle_ms`; a slow copy over the network looks so),
/// reaches the remote once, complete, once it has held still, although its
/// writer never closes it meanwhile.
#[test]
fn a_photo_being_written_is_uploaded_once_after_it_settles() {
    let daemon = Daemon::builder()
        .config("[watcher]\ndebounce_ms = 100\nsettle_ms = 1500")
        .start();
    let root = daemon.scratch("photos");
    let shoot = root.join("shoot");
    fs::create_dir_all(&shoot).unwrap();
    let nas = daemon.scratch("nas");
    daemon
        .cli(&["remotes", "add", "nas", "--kind", "fs", "--path", s(&nas)])
        .ok();
    daemon.cli(&["roots", "add", s(&root)]).ok();
    daemon
        .cli(&[
            "collections",
            "create",
            "Shoot",
            "--folder",
            s(&shoot),
            "--remote",
            "nas",
            "--sync",
        ])
        .ok();
    daemon.cli(&["wait", "--timeout", "60s"]).ok();

    let photo = shoot.join("big.jpg");
    let mut written = Vec::new();
    let mut file = fs::File::create(&photo).unwrap();
    for write in 0..6u8 {
        let chunk = vec![write; 64 * 1024];
        let seen_before = settling_looks(&daemon, "shoot/big.jpg");
        std::io::Write::write_all(&mut file, &chunk).unwrap();
        written.extend_from_slice(&chunk);
        wait_until(
            EVENT_TIMEOUT,
            "the daemon to see the write and wait",
            || {
                let seen = settling_looks(&daemon, "shoot/big.jpg");
                if seen > seen_before {
                    Ok(())
                } else {
                    Err(seen)
                }
            },
        );
    }

    // The writer keeps the file open: no close event says it is done, so
    // the daemon's own recheck, once the file held still, sends it.
    // A settling file is work to come: `wait` returns once it is sent.
    let settling = daemon.json(&["status"])["scan"]["settling"].clone();
    daemon.cli(&["wait", "--timeout", "60s"]).ok();
    let copy = nas.join("Shoot/shoot/big.jpg");
    assert_eq!(
        fs::read(&copy).map(|b| b.len()).ok(),
        Some(written.len()),
        "the complete photo is on the remote once `wait` returns (status said {settling} settling)"
    );
    let jobs = daemon.cli(&["--json", "jobs"]).ok().json_lines();
    let uploads: Vec<_> = jobs
        .iter()
        .filter(|j| j["key"] == "Shoot/shoot/big.jpg")
        .collect();
    assert_eq!(uploads.len(), 1, "one job for the photo: {jobs:?}");
    assert_eq!(uploads[0]["state"], "done", "{uploads:?}");
    let log = daemon.log();
    let sent = log
        .lines()
        .filter(|l| l.contains("uploaded bytes="))
        .count();
    assert_eq!(sent, 1, "one upload in all, with no restart:\n{log}");
    assert!(!log.contains("changed during the upload"), "{log}");
    assert_eq!(fs::read(&copy).unwrap(), written);
    drop(file);
    println!(
        "the daemon left the photo to settle {} times",
        settling_looks(&daemon, "shoot/big.jpg")
    );
}
