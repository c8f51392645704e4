//! A vanished, unmounted or swapped root folder never reads as deleted
//! photos, on real mounts; remotes and roots never nest; the data dir is
//! never inside a root.
//!
//! The mount tests need root (CI runs them as root): a refused `mount`
//! fails the test saying so, it is never skipped.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;
use syncroll_testkit::{
    DAEMON_TIMEOUT, Daemon, EVENT_TIMEOUT, Mount, bin_path, s, wait_until, write_file, write_photos,
};

use crate::objects;

/// The root at `path` as `roots list --json` shows it.
fn root_entry(daemon: &Daemon, path: &Path) -> Value {
    let canonical = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    daemon.json(&["roots", "list"])["roots"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["path"] == s(&canonical) || r["path"] == s(path))
        .cloned()
        .unwrap_or(Value::Null)
}

/// Waits until the root's state is `state` and its watch is as `watched`.
fn wait_root(daemon: &Daemon, path: &Path, state: &str, watched: bool) -> Value {
    wait_until(
        EVENT_TIMEOUT,
        &format!("root {} to be {state} (watched: {watched})", path.display()),
        || {
            let root = root_entry(daemon, path);
            if root["state"] == state && root["watched"].as_bool().unwrap_or(false) == watched {
                Ok(root)
            } else {
                Err(root)
            }
        },
    )
}

/// An `fs` remote "nas" and a folder collection "All" of the whole `root`
/// synced to it; returns the collection's folder on the remote once the
/// queue drained.
fn sync_all_to_nas(daemon: &Daemon, root: &Path) -> PathBuf {
    let nas = daemon.scratch("nas");
    daemon
        .cli(&["remotes", "add", "nas", "--kind", "fs", "--path", s(&nas)])
        .ok();
    daemon
        .cli(&[
            "collections",
            "create",
            "All",
            "--folder",
            s(root),
            "--remote",
            "nas",
            "--sync",
        ])
        .ok();
    daemon.cli(&["wait", "--timeout", "120s"]).ok();
    nas.join("All")
}

/// Delete jobs the daemon ever queued.
fn delete_jobs(daemon: &Daemon) -> Vec<Value> {
    daemon
        .cli(&["--json", "jobs"])
        .ok()
        .json_lines()
        .into_iter()
        .filter(|j| j["op"] == "delete")
        .collect()
}

/// The queue drains, and not one remote copy was deleted or planned for
/// deletion: the remote still holds `expected` photos.
#[track_caller]
fn assert_no_copy_deleted(daemon: &Daemon, remote_folder: &Path, expected: usize) {
    daemon.cli(&["wait", "--timeout", "60s"]).ok();
    assert_eq!(objects(remote_folder).len(), expected, "remote copies kept");
    assert_eq!(
        delete_jobs(daemon),
        Vec::<Value>::new(),
        "no delete planned"
    );
}

#[test]
fn a_root_folder_swapped_for_one_holding_one_photo_deletes_no_remote_copy() {
    let daemon = Daemon::start();
    let root = daemon.scratch("photos");
    write_photos(&root, "p", 200, 256);
    daemon.cli(&["roots", "add", s(&root)]).ok();
    daemon.json(&["rescan"]);
    let remote = sync_all_to_nas(&daemon, &root);
    assert_eq!(objects(&remote).len(), 200);

    // The folder is moved away and a new one with one photo takes its path.
    fs::rename(&root, daemon.scratch("elsewhere").join("photos")).unwrap();
    write_file(&root.join("new.jpg"), b"one new photo");

    let missing = wait_root(&daemon, &root, "missing", false);
    let reason = missing["missing_reason"].as_str().unwrap();
    assert!(reason.contains("not the one that was added"), "{reason}");
    let status = daemon.json(&["status"]);
    assert!(
        status["roots"][0]["missing_reason"] == missing["missing_reason"],
        "status shows the reason: {status}"
    );

    let rescan = daemon.json(&["rescan"]);
    assert_eq!(rescan["photos_removed"], 0, "{rescan}");
    assert_eq!(rescan["photos_added"], 0, "{rescan}");
    assert_eq!(rescan["missing_roots"][0], s(&root), "{rescan}");
    let photos = daemon.photos(None);
    assert_eq!(photos.len(), 200, "photos of a missing root are kept");
    assert!(photos.iter().all(|p| p["root_missing"] == true));
    assert_no_copy_deleted(&daemon, &remote, 200);
}

#[test]
fn an_unmounted_root_is_missing_and_back_with_the_photos_written_meanwhile() {
    let daemon = Daemon::builder()
        .config("[catalog]\nroot_check_interval_secs = 1")
        .start();
    let disk_folder = daemon.scratch("disk");
    // Mounts drop (unmount) in reverse order: the bind before the disk.
    let _disk = Mount::tmpfs(&disk_folder);
    let root = daemon.scratch("mnt");
    write_photos(&disk_folder, "p", 20, 256);
    let mut mount = Mount::bind(&disk_folder, &root);
    daemon.cli(&["roots", "add", s(&root)]).ok();
    daemon.json(&["rescan"]);
    wait_root(&daemon, &root, "online", true);
    let remote = sync_all_to_nas(&daemon, &root);
    assert_eq!(objects(&remote).len(), 20);

    mount.unmount();
    let missing = wait_root(&daemon, &root, "missing", false);
    let reason = missing["missing_reason"].as_str().unwrap();
    assert!(reason.contains("another device"), "{reason}");
    let status = daemon.cli(&["status"]).ok().stdout;
    assert!(status.contains("MISSING"), "{status}");
    assert!(status.contains("watching 0 of 1 roots"), "{status}");

    let rescan = daemon.json(&["rescan"]);
    assert_eq!(rescan["photos_removed"], 0, "{rescan}");
    assert_eq!(rescan["missing_roots"][0], s(&root), "{rescan}");
    assert_eq!(daemon.photos(None).len(), 20);
    assert_no_copy_deleted(&daemon, &remote, 20);

    // Photos land on the disk while it is not mounted at the root.
    write_photos(&disk_folder, "meanwhile", 3, 256);
    let _mount_again = Mount::bind(&disk_folder, &root);
    wait_root(&daemon, &root, "online", true);
    wait_until(EVENT_TIMEOUT, "the photos written meanwhile", || {
        let n = daemon.photos(None).len();
        if n == 23 { Ok(()) } else { Err(n) }
    });
    // And the watch is live again: a photo saved now is seen.
    write_file(&root.join("after.jpg"), b"saved after the remount");
    wait_until(EVENT_TIMEOUT, "the photo saved after the remount", || {
        let n = daemon.photos(None).len();
        if n == 24 { Ok(()) } else { Err(n) }
    });
    daemon.cli(&["wait", "--timeout", "60s"]).ok();
    assert_eq!(objects(&remote).len(), 24);
    assert_eq!(delete_jobs(&daemon), Vec::<Value>::new());
}

#[test]
fn a_root_below_an_unmounted_mount_point_is_missing_though_the_bare_folder_holds_a_photo() {
    let daemon = Daemon::builder()
        .config("[catalog]\nroot_check_interval_secs = 1")
        .start();
    let mount_point = daemon.scratch("mnt");
    // What shows when nothing is mounted: a folder with a photo in it.
    write_file(&mount_point.join("photos/bare.jpg"), b"under the mount");
    let mut mount = Mount::tmpfs(&mount_point);
    let root = mount_point.join("photos");
    write_photos(&root, "p", 10, 256);
    daemon.cli(&["roots", "add", s(&root)]).ok();
    daemon.json(&["rescan"]);
    let remote = sync_all_to_nas(&daemon, &root);
    assert_eq!(objects(&remote).len(), 10);

    mount.unmount();
    let missing = wait_root(&daemon, &root, "missing", false);
    let reason = missing["missing_reason"].as_str().unwrap();
    assert!(reason.contains("another device"), "{reason}");

    let rescan = daemon.json(&["rescan"]);
    assert_eq!(rescan["photos_removed"], 0, "{rescan}");
    assert_eq!(
        rescan["photos_added"], 0,
        "the bare folder's photo is not indexed"
    );
    let scoped = daemon.json(&["rescan", s(&root)]);
    assert_eq!(scoped["photos_removed"], 0, "{scoped}");
    assert_eq!(daemon.photos(None).len(), 10);
    assert!(!daemon.photo_paths(None).contains(&"bare.jpg".to_owned()));
    assert_no_copy_deleted(&daemon, &remote, 10);
    assert_eq!(root_entry(&daemon, &root)["state"], "missing");
}

#[test]
fn while_a_root_is_missing_subfolder_rescans_and_old_watch_events_remove_nothing() {
    let daemon = Daemon::start();
    let root = daemon.scratch("photos");
    write_photos(&root.join("sub"), "s", 30, 256);
    write_photos(&root, "t", 10, 256);
    // A second root, for a marker that shows watcher events were handled.
    let other = daemon.scratch("other");
    write_file(&other.join("seed.jpg"), b"seed");
    daemon.cli(&["roots", "add", s(&root)]).ok();
    daemon.cli(&["roots", "add", s(&other)]).ok();
    daemon.json(&["rescan"]);
    let remote = sync_all_to_nas(&daemon, &root);
    assert_eq!(objects(&remote).len(), 40);

    // The folder is moved away (a watch may follow it) and an empty one
    // takes its path.
    let away = daemon.scratch("elsewhere").join("photos");
    fs::rename(&root, &away).unwrap();
    fs::create_dir(&root).unwrap();
    wait_root(&daemon, &root, "missing", false);

    let scoped = daemon.json(&["rescan", s(&root.join("sub"))]);
    assert_eq!(scoped["photos_removed"], 0, "{scoped}");
    assert_eq!(scoped["missing_roots"][0], s(&root), "{scoped}");
    assert_eq!(root_entry(&daemon, &root)["state"], "missing");

    // A photo deleted inside the moved-away folder, then a marker in the
    // other root: once the marker is indexed and a scan queued after it
    // has run, any event of the old watch has been handled.
    fs::remove_file(away.join("sub/s3.jpg")).unwrap();
    write_file(&other.join("marker.jpg"), b"marker");
    wait_until(EVENT_TIMEOUT, "the marker to be indexed", || {
        let paths = daemon.photo_paths(None);
        if paths.contains(&"marker.jpg".to_owned()) {
            Ok(())
        } else {
            Err(paths)
        }
    });
    daemon.json(&["rescan", s(&other)]);

    let root_now = root_entry(&daemon, &root);
    assert_eq!(root_now["state"], "missing", "{root_now}");
    assert_eq!(root_now["photo_count"], 40, "{root_now}");
    assert!(!daemon.log().contains("root is back online"));
    assert_no_copy_deleted(&daemon, &remote, 40);
}

#[test]
fn remotes_inside_roots_and_roots_inside_remotes_are_refused() {
    let daemon = Daemon::start();
    let outer = daemon.scratch("outer");
    let root = outer.join("photos");
    fs::create_dir_all(root.join("backup")).unwrap();
    daemon.cli(&["roots", "add", s(&root)]).ok();

    // An fs remote inside a root would copy itself into itself.
    let inside = daemon
        .cli(&[
            "remotes",
            "add",
            "backup",
            "--kind",
            "fs",
            "--path",
            s(&root.join("backup")),
        ])
        .fails_with(1);
    assert!(
        inside.stderr.contains(s(&root.join("backup"))) && inside.stderr.contains(s(&root)),
        "names both folders: {inside:?}"
    );
    // Nor may a remote hold a root.
    let holding = daemon
        .cli(&[
            "remotes",
            "add",
            "outer",
            "--kind",
            "fs",
            "--path",
            s(&outer),
        ])
        .fails_with(1);
    assert!(holding.stderr.contains(s(&outer)), "{holding:?}");

    // A root inside an fs remote's folder, or holding it, is refused too.
    let nas = daemon.scratch("box").join("nas");
    fs::create_dir_all(nas.join("photos")).unwrap();
    daemon
        .cli(&["remotes", "add", "nas", "--kind", "fs", "--path", s(&nas)])
        .ok();
    for folder in [nas.join("photos"), nas.parent().unwrap().to_path_buf()] {
        let refused = daemon.cli(&["roots", "add", s(&folder)]).fails_with(1);
        assert!(
            refused.stderr.contains(s(&folder)) && refused.stderr.contains(s(&nas)),
            "names both folders: {refused:?}"
        );
    }
    let remotes = daemon.json(&["remotes", "list"]);
    assert_eq!(remotes["remotes"].as_array().unwrap().len(), 2, "{remotes}");
    assert_eq!(
        daemon.json(&["roots", "list"])["roots"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn a_data_dir_inside_a_root_is_refused_at_start() {
    let mut daemon = Daemon::start();
    let root = daemon.scratch("photos");
    write_file(&root.join("a.jpg"), b"a");
    daemon.cli(&["roots", "add", s(&root)]).ok();
    daemon.stop();

    // The same catalog, its data dir now inside the root it lists.
    let data_dir = root.join("syncroll-data");
    let copied = Command::new("cp")
        .arg("-a")
        .arg(&daemon.data_dir)
        .arg(&data_dir)
        .status()
        .unwrap();
    assert!(copied.success());
    let socket_dir = daemon.scratch("sock");
    fs::set_permissions(&socket_dir, fs::Permissions::from_mode(0o700)).unwrap();
    let socket = socket_dir.join("syncroll.sock");
    let mut child = Command::new(bin_path("syncrolld"))
        .arg("--data-dir")
        .arg(&data_dir)
        .arg("--socket")
        .arg(&socket)
        .env_remove("SYNCROLL_CONFIG")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let exited = wait_until(DAEMON_TIMEOUT, "syncrolld to refuse to start", || {
        if let Some(status) = child.try_wait().unwrap() {
            return Ok(status);
        }
        let served = Command::new(bin_path("syncroll"))
            .arg("--socket")
            .arg(&socket)
            .arg("status")
            .output()
            .unwrap();
        if served.status.success() {
            let _ = child.kill();
            panic!("syncrolld started with its data dir inside a root");
        }
        Err("still starting")
    });
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(exited.code(), Some(1), "{stderr}");
    let canonical_root = root.canonicalize().unwrap();
    assert!(
        stderr.contains(s(&data_dir.canonicalize().unwrap()))
            && stderr.contains(s(&canonical_root)),
        "names both folders: {stderr}"
    );
}

#[test]
fn roots_accept_shows_what_a_scan_would_change_then_takes_the_new_folder() {
    let daemon = Daemon::start();
    let root = daemon.scratch("photos");
    write_photos(&root, "p", 10, 256);
    daemon.cli(&["roots", "add", s(&root)]).ok();
    daemon.json(&["rescan"]);

    // The disk is replaced: first by an empty one, which is never accepted
    // (that would read as every photo deleted).
    let old = daemon.scratch("old").join("photos");
    fs::rename(&root, &old).unwrap();
    fs::create_dir(&root).unwrap();
    wait_root(&daemon, &root, "missing", false);
    let empty = daemon
        .cli(&["roots", "accept", s(&root), "--yes"])
        .fails_with(1);
    assert!(empty.stderr.contains("holds no photos"), "{empty:?}");

    // Then the photos are restored onto it: 8 copied back, 2 new.
    for i in 0..8 {
        let name = format!("p{i}.jpg");
        fs::copy(old.join(&name), root.join(&name)).unwrap();
    }
    write_photos(&root, "n", 2, 256);

    // Without a terminal or --yes: shown, not taken.
    let asked = daemon.cli(&["roots", "accept", s(&root)]).fails_with(1);
    assert!(
        asked
            .stderr
            .contains("would add 2, remove 2, change 8 and rename 0 photos"),
        "{asked:?}"
    );
    assert!(asked.stderr.contains("--yes"), "{asked:?}");
    assert_eq!(root_entry(&daemon, &root)["state"], "missing");

    let dry = daemon.json(&["roots", "accept", s(&root), "--dry-run"]);
    assert_eq!(dry["accepted"], false, "{dry}");
    assert_eq!(dry["preview"]["photos_added"], 2, "{dry}");
    assert_eq!(dry["preview"]["photos_removed"], 2, "{dry}");
    assert_eq!(dry["preview"]["photos_changed"], 8, "{dry}");
    assert_eq!(root_entry(&daemon, &root)["state"], "missing");

    let accepted = daemon.json(&["roots", "accept", s(&root), "--yes"]);
    assert_eq!(accepted["accepted"], true, "{accepted}");
    assert_eq!(accepted["root"]["state"], "online", "{accepted}");
    assert_eq!(
        accepted["root"]["identity"], accepted["found"],
        "{accepted}"
    );
    let mut expected: Vec<String> = (0..8).map(|i| format!("p{i}.jpg")).collect();
    expected.extend(["n0.jpg".to_owned(), "n1.jpg".to_owned()]);
    expected.sort();
    assert_eq!(daemon.photo_paths(None), expected);
    wait_root(&daemon, &root, "online", true);
}
