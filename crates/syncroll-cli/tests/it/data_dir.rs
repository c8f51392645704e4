//! The data dir in trouble: a disk that fills up during a sync (sync waits,
//! says why, and resumes by itself once there is room), a damaged catalog
//! (the daemon refuses to start and says how to restore the newest
//! backup), and the catalog's rotated backups.
//!
//! The full-disk test needs root to mount a small tmpfs (CI runs as root):
//! a refused `mount` fails it saying so; it is never skipped.

use std::fs;
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime};

use serde_json::Value;
use syncroll_testkit::{
    DAEMON_TIMEOUT, Daemon, EVENT_TIMEOUT, Mount, bin_path, s, wait_until, write_photos,
};

use crate::{create_trip, objects};

/// The reason `status` gives while the data dir cannot be written; the
/// sync feed behind `watch` and `wait` carries the same.
fn blocked_reason(daemon: &Daemon) -> String {
    let status = daemon.json(&["status"]);
    let reason = status["sync_blocked_reason"].as_str().unwrap_or_default();
    let fed = status["sync"]["blocked_reason"]
        .as_str()
        .unwrap_or_default();
    assert_eq!(fed, reason, "{status}");
    reason.to_owned()
}

/// Writes `path` until the disk it is on is full.
fn fill(path: &Path) {
    let mut filler = fs::File::create(path).expect("creating the filler");
    let block = vec![0u8; 256 * 1024];
    loop {
        match filler.write_all(&block) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
            Err(e) => panic!("filling the disk: {e}"),
        }
    }
}

/// Fills the disk under `path` with it, then gives back `room` bytes.
fn fill_leaving(path: &Path, room: u64) {
    fill(path);
    let file = fs::OpenOptions::new().write(true).open(path).unwrap();
    let len = file.metadata().unwrap().len();
    file.set_len(len.saturating_sub(room)).unwrap();
}

/// Our backups in the data dir, oldest first.
fn backups(daemon: &Daemon) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = fs::read_dir(daemon.data_dir.join("backups"))
        .map(|entries| entries.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    found.retain(|p| {
        let name = p.file_name().unwrap().to_string_lossy();
        name.starts_with("catalog-") && name.ends_with("Z.db")
    });
    found.sort();
    found
}

/// Makes the daemon's one backup two days old (its name too), so the next
/// start makes another; returns its new path.
fn age_the_backup(daemon: &Daemon) -> PathBuf {
    let [backup] = backups(daemon).try_into().expect("one backup");
    let aged = backup.with_file_name("catalog-20200103T000000Z.db");
    fs::rename(&backup, &aged).unwrap();
    let two_days_ago = SystemTime::now() - Duration::from_secs(2 * 86_400);
    fs::File::options()
        .write(true)
        .open(&aged)
        .unwrap()
        .set_modified(two_days_ago)
        .unwrap();
    aged
}

/// Waits for a backup newer than `than`.
fn new_backup(daemon: &Daemon, than: &Path) -> PathBuf {
    wait_until(EVENT_TIMEOUT, "a new backup", || {
        let found = backups(daemon);
        match found.last() {
            Some(newest) if newest != than => Ok(newest.clone()),
            _ => Err(found),
        }
    })
}

#[test]
fn a_data_dir_filled_during_a_sync_pauses_it_until_freed_and_nothing_is_lost() {
    let daemon = Daemon::builder()
        .data_dir_on_tmpfs("24m")
        .config("[catalog]\ndata_dir_check_interval_secs = 1\n[sync]\nconcurrency = 2\n")
        .start();
    let root = daemon.scratch("photos");
    write_photos(&root.join("trip"), "t", 300, 128 * 1024);
    daemon.cli(&["roots", "add", s(&root)]).ok();
    daemon.json(&["rescan"]);
    // The remote is outside the data dir: only the data dir fills up.
    let nas = daemon.scratch("nas");
    daemon
        .cli(&["remotes", "add", "nas", "--kind", "fs", "--path", s(&nas)])
        .ok();
    let trip = s(&root.join("trip")).to_owned();
    daemon
        .cli(&[
            "collections",
            "create",
            "Trip",
            "--folder",
            &trip,
            "--remote",
            "nas",
        ])
        .ok();
    let synced = daemon.json(&["sync", "on", "Trip"]);
    assert_eq!(synced["uploads_queued"], 300, "{synced}");

    let filler = daemon.data_dir.join("filler");
    fill(&filler);
    let reason = wait_until(EVENT_TIMEOUT, "status to say the data dir is full", || {
        let reason = blocked_reason(&daemon);
        if reason.is_empty() {
            Err(reason)
        } else {
            Ok(reason)
        }
    });
    assert!(
        reason.starts_with("data dir full: ")
            && reason.ends_with(&format!(" free on {}", s(&daemon.data_dir))),
        "{reason}"
    );
    let on_remote_when_full = objects(&nas).len();

    // The API still answers, and says the same in words; the user's pause
    // is not touched.
    let status = daemon.json(&["status"]);
    assert_eq!(status["sync"]["paused"], false, "{status}");
    let text = daemon.cli(&["status"]).ok().stdout;
    assert!(text.contains(&reason), "{text}");
    daemon.cli(&["roots", "list"]).ok();
    daemon.cli(&["--json", "jobs"]).ok();
    // Photos written meanwhile are not lost either, though the scan the
    // watcher asks for runs while the disk is full.
    write_photos(&root.join("trip"), "late", 20, 4096);
    wait_until(
        EVENT_TIMEOUT,
        "the watcher's scan of the late photos",
        || {
            let scan = daemon.json(&["status"])["scan"].clone();
            match scan["reason"] == "watcher" && scan["scanning"] == false {
                true => Ok(()),
                false => Err(scan),
            }
        },
    );
    assert!(!blocked_reason(&daemon).is_empty(), "still full");

    fs::remove_file(&filler).unwrap();
    wait_until(EVENT_TIMEOUT, "sync to resume by itself", || {
        let reason = blocked_reason(&daemon);
        if reason.is_empty() {
            Ok(())
        } else {
            Err(reason)
        }
    });
    daemon.cli(&["wait", "--timeout", "120s"]).ok();
    // `wait` may see idle before the watcher's events for the late photos
    // are planned: wait for the catalog, then for the sync again.
    wait_until(EVENT_TIMEOUT, "every photo in the catalog", || {
        let photos = daemon.photos(None).len();
        if photos == 320 { Ok(()) } else { Err(photos) }
    });
    daemon.cli(&["wait", "--timeout", "120s"]).ok();

    let local: Vec<(String, Vec<u8>)> = objects(&root)
        .into_iter()
        .map(|(path, bytes)| (format!("Trip/{path}"), bytes))
        .collect();
    assert_eq!(local.len(), 320);
    let remote = objects(&nas);
    assert!(
        remote == local,
        "the remote is not a byte-identical copy: {} objects for {} photos",
        remote.len(),
        local.len()
    );
    let failed = daemon
        .cli(&["--json", "jobs", "--state", "failed"])
        .ok()
        .json_lines();
    assert!(failed.is_empty(), "jobs failed: {failed:?}");
    let log = daemon.log();
    assert_eq!(
        log.matches("sync paused until the data dir takes writes again")
            .count(),
        1,
        "the reason is logged once per episode:\n{log}"
    );
    eprintln!("{on_remote_when_full} of 300 photos were on the remote when the data dir filled up");
}

#[test]
fn the_local_remote_filling_the_data_dir_pauses_sync_and_fails_no_job() {
    let daemon = Daemon::builder()
        .data_dir_on_tmpfs("24m")
        .config("[catalog]\ndata_dir_check_interval_secs = 1\n[sync]\nconcurrency = 4\n")
        .start();
    let root = daemon.scratch("photos");
    write_photos(&root.join("trip"), "t", 64, 128 * 1024);
    daemon.cli(&["roots", "add", s(&root)]).ok();
    daemon.json(&["rescan"]);
    // 8 MiB of photos for the built-in `local` remote, under the data dir,
    // with 4 MiB of room: the copies themselves fill the disk midway.
    let filler = daemon.data_dir.join("filler");
    fill_leaving(&filler, 4 << 20);
    create_trip(&daemon, &root, &["--sync"]);
    let reason = wait_until(EVENT_TIMEOUT, "status to say the data dir is full", || {
        let reason = blocked_reason(&daemon);
        if reason.is_empty() {
            Err(reason)
        } else {
            Ok(reason)
        }
    });
    assert!(reason.starts_with("data dir full: "), "{reason}");

    fs::remove_file(&filler).unwrap();
    wait_until(EVENT_TIMEOUT, "sync to resume by itself", || {
        let reason = blocked_reason(&daemon);
        if reason.is_empty() {
            Ok(())
        } else {
            Err(reason)
        }
    });
    // `wait` exits 1 if any job failed.
    daemon.cli(&["wait", "--timeout", "120s"]).ok();
    let copies = objects(&daemon.data_dir.join("cloud/Trip"));
    assert!(
        copies == objects(&root),
        "{} copies of 64 photos",
        copies.len()
    );
    let failed = daemon
        .cli(&["--json", "jobs", "--state", "failed"])
        .ok()
        .json_lines();
    assert!(failed.is_empty(), "jobs failed: {failed:?}");
}

#[test]
fn a_read_only_data_dir_pauses_sync_until_it_is_writable_again() {
    let daemon = Daemon::builder()
        .data_dir_on_tmpfs("64m")
        .config("[catalog]\ndata_dir_check_interval_secs = 1\n[sync]\nconcurrency = 2\n")
        .start();
    let root = daemon.scratch("photos");
    write_photos(&root.join("trip"), "t", 200, 64 * 1024);
    daemon.cli(&["roots", "add", s(&root)]).ok();
    daemon.json(&["rescan"]);
    let nas = daemon.scratch("nas");
    daemon
        .cli(&["remotes", "add", "nas", "--kind", "fs", "--path", s(&nas)])
        .ok();
    let trip = s(&root.join("trip")).to_owned();
    daemon
        .cli(&[
            "collections",
            "create",
            "Trip",
            "--folder",
            &trip,
            "--remote",
            "nas",
            "--sync",
        ])
        .ok();

    // The data dir's path made read-only, as a disk remounted read-only
    // after errors looks to the daemon: `statvfs` says so, and what SQLite
    // opens from now on is read-only.
    let _bind = Mount::bind(&daemon.data_dir, &daemon.data_dir);
    let remounted = Command::new("mount")
        .args(["-o", "remount,ro,bind"])
        .arg(&daemon.data_dir)
        .status()
        .unwrap();
    assert!(remounted.success(), "mount -o remount,ro,bind was refused");
    let expected = format!("data dir read-only: {}", s(&daemon.data_dir));
    wait_until(
        EVENT_TIMEOUT,
        "status to say the data dir is read-only",
        || {
            let reason = blocked_reason(&daemon);
            if reason == expected {
                Ok(())
            } else {
                Err(reason)
            }
        },
    );
    daemon.cli(&["roots", "list"]).ok();
    assert_eq!(daemon.json(&["status"])["sync"]["paused"], false);

    // Writable again, as `mount -o remount,rw` after a repair: the same
    // mount, so what the daemon opened meanwhile stays open. (Unmounting
    // the bind instead failed now and then: a connection the daemon had
    // just opened on it kept it busy.)
    let writable = Command::new("mount")
        .args(["-o", "remount,rw,bind"])
        .arg(&daemon.data_dir)
        .status()
        .unwrap();
    assert!(writable.success(), "mount -o remount,rw,bind was refused");
    wait_until(EVENT_TIMEOUT, "sync to resume by itself", || {
        let reason = blocked_reason(&daemon);
        if reason.is_empty() {
            Ok(())
        } else {
            Err(reason)
        }
    });
    daemon.cli(&["wait", "--timeout", "120s"]).ok();
    let local: Vec<(String, Vec<u8>)> = objects(&root)
        .into_iter()
        .map(|(path, bytes)| (format!("Trip/{path}"), bytes))
        .collect();
    let remote = objects(&nas);
    assert!(
        remote == local,
        "{} copies of {} photos",
        remote.len(),
        local.len()
    );
    let failed = daemon
        .cli(&["--json", "jobs", "--state", "failed"])
        .ok()
        .json_lines();
    assert!(failed.is_empty(), "jobs failed: {failed:?}");
}

/// Starts `syncrolld` on `data_dir` with its socket in `socket_dir`.
fn spawn_daemon(data_dir: &Path, socket_dir: &Path) -> (Child, PathBuf) {
    fs::create_dir_all(socket_dir).unwrap();
    fs::set_permissions(socket_dir, fs::Permissions::from_mode(0o700)).unwrap();
    let socket = socket_dir.join("syncroll.sock");
    let child = Command::new(bin_path("syncrolld"))
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--socket")
        .arg(&socket)
        .env_remove("SYNCROLL_CONFIG")
        .env_remove("RUST_LOG")
        .env("XDG_CONFIG_HOME", socket_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    (child, socket)
}

/// Waits for a daemon that must refuse to start; returns its exit code and
/// stderr.
fn refused_start(mut child: Child, socket: &Path) -> (Option<i32>, String) {
    let exited = wait_until(DAEMON_TIMEOUT, "syncrolld to refuse to start", || {
        if let Some(status) = child.try_wait().unwrap() {
            return Ok(status);
        }
        let served = Command::new(bin_path("syncroll"))
            .arg("--socket")
            .arg(socket)
            .arg("status")
            .output()
            .unwrap();
        if served.status.success() {
            let _ = child.kill();
            panic!("syncrolld started on a damaged catalog");
        }
        Err("still starting")
    });
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    (exited.code(), stderr)
}

/// Waits until a started daemon serves, then stops it.
fn serves_then_stop(mut child: Child, socket: &Path) -> Value {
    let roots = wait_until(DAEMON_TIMEOUT, "syncrolld to serve", || {
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
            panic!("syncrolld exited with {status}: {stderr}");
        }
        let run = Command::new(bin_path("syncroll"))
            .arg("--socket")
            .arg(socket)
            .args(["--json", "roots", "list"])
            .output()
            .unwrap();
        match run.status.success() {
            true => Ok(serde_json::from_slice::<Value>(&run.stdout).unwrap()),
            false => Err(String::from_utf8_lossy(&run.stderr).into_owned()),
        }
    });
    let _ = child.kill();
    let _ = child.wait();
    roots
}

/// Overwrites the start of every page in the middle half of the SQLite file
/// at `path` (4096-byte pages) with garbage: b-tree pages a check must
/// notice.
fn damage(path: &Path) {
    const PAGE: u64 = 4096;
    let pages = fs::metadata(path).unwrap().len() / PAGE;
    assert!(pages >= 8, "the catalog has only {pages} pages");
    let mut file = fs::OpenOptions::new().write(true).open(path).unwrap();
    for page in pages / 4..pages * 3 / 4 {
        file.seek(SeekFrom::Start(page * PAGE)).unwrap();
        file.write_all(&[0xA5; 64]).unwrap();
    }
    file.sync_all().unwrap();
}

#[test]
fn a_damaged_catalog_stops_the_daemon_naming_the_newest_backup_and_how_to_restore_it() {
    let mut daemon = Daemon::start();
    let root = daemon.scratch("photos");
    write_photos(&root, "p", 200, 16);
    daemon.cli(&["roots", "add", s(&root)]).ok();
    daemon.json(&["rescan"]);
    wait_until(EVENT_TIMEOUT, "the start-up backup", || {
        backups(&daemon).pop().ok_or("none yet")
    });
    // A backup that holds the root: the one made at the next start.
    daemon.stop();
    let aged = age_the_backup(&daemon);
    daemon.restart();
    let backup = new_backup(&daemon, &aged);
    daemon.stop();
    let catalog = daemon.data_dir.join("catalog.sqlite");
    assert!(
        !daemon.data_dir.join("catalog.sqlite-wal").exists(),
        "a clean stop leaves no WAL file"
    );
    damage(&catalog);

    let (child, socket) = spawn_daemon(&daemon.data_dir, &daemon.scratch("sock"));
    let (code, stderr) = refused_start(child, &socket);
    assert_eq!(code, Some(1), "{stderr}");
    let restore = format!(
        "mv {c} {c}.damaged && rm -f {c}-wal {c}-shm && cp {b} {c}",
        c = s(&catalog),
        b = s(&backup)
    );
    assert!(stderr.contains("is damaged"), "{stderr}");
    assert!(
        stderr.contains(&format!("The newest backup is {}", s(&backup))),
        "{stderr}"
    );
    assert!(stderr.contains(&restore), "{stderr}");

    // The command given restores a catalog the daemon starts on.
    let ran = Command::new("sh").arg("-c").arg(&restore).status().unwrap();
    assert!(ran.success());
    let (child, socket) = spawn_daemon(&daemon.data_dir, &daemon.scratch("sock"));
    let roots = serves_then_stop(child, &socket);
    assert_eq!(
        roots["roots"][0]["path"],
        s(&root.canonicalize().unwrap()),
        "{roots}"
    );
}

#[test]
fn backups_are_rotated_private_and_valid_catalogs() {
    let mut daemon = Daemon::builder()
        .config("[catalog]\nbackups_kept = 2\n")
        .start();
    let root = daemon.scratch("photos");
    write_photos(&root, "p", 20, 16);
    daemon.cli(&["roots", "add", s(&root)]).ok();
    daemon.json(&["rescan"]);
    wait_until(EVENT_TIMEOUT, "the start-up backup", || {
        backups(&daemon).pop().ok_or("none yet")
    });
    daemon.stop();

    // Older backups of ours, and files that are not ours, beside it; the
    // start-up backup made two days old, so the next start makes another.
    let first = age_the_backup(&daemon);
    let dir = daemon.data_dir.join("backups");
    for name in [
        "catalog-20200101T000000Z.db",
        "catalog-20200102T000000Z.db",
        "notes.txt",
        "catalog-before-upgrade.db",
    ] {
        fs::write(dir.join(name), b"not ours to judge").unwrap();
    }
    daemon.restart();
    let newest = new_backup(&daemon, &first);
    let kept = wait_until(EVENT_TIMEOUT, "the rotation", || {
        let found = backups(&daemon);
        if found.len() == 2 {
            Ok(found)
        } else {
            Err(found)
        }
    });
    assert_eq!(kept[1], newest);
    assert_eq!(kept[0], first, "the newest two are kept: {kept:?}");
    for other in ["notes.txt", "catalog-before-upgrade.db"] {
        assert!(dir.join(other).exists(), "{other} was not ours to delete");
    }
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    for backup in &kept {
        assert_eq!(mode(backup), 0o600, "{}", backup.display());
    }
    let leftovers: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // The newest backup is a whole catalog: a daemon starts on it (checking
    // it with quick_check first) and lists the root.
    daemon.stop();
    let restored = daemon.scratch("restored");
    fs::create_dir_all(&restored).unwrap();
    fs::set_permissions(&restored, fs::Permissions::from_mode(0o700)).unwrap();
    fs::copy(&kept[1], restored.join("catalog.sqlite")).unwrap();
    let (child, socket) = spawn_daemon(&restored, &daemon.scratch("sock2"));
    let roots = serves_then_stop(child, &socket);
    assert_eq!(
        roots["roots"][0]["path"],
        s(&root.canonicalize().unwrap()),
        "{roots}"
    );
}
