//! Sync to the built-in `local` remote and to an `fs` remote.

use std::fs;
use std::path::{Path, PathBuf};

use crate::create_trip;
use syncroll_testkit::{Daemon, EVENT_TIMEOUT, s, wait_until, write_file, write_photos};

/// Every file below `dir`, relative, with its bytes.
fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = walk(dir)
        .into_iter()
        .map(|p| {
            (
                p.strip_prefix(dir).unwrap().to_string_lossy().into_owned(),
                fs::read(&p).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flat_map(|e| {
            let path = e.unwrap().path();
            if path.is_dir() {
                walk(&path)
            } else {
                vec![path]
            }
        })
        .collect()
}

pub(crate) fn synced_daemon(config: &str) -> (Daemon, PathBuf) {
    let daemon = Daemon::builder().config(config).start();
    let root = daemon.scratch("photos");
    write_photos(&root.join("trip"), "t", 40, 64 * 1024);
    daemon.cli(&["roots", "add", s(&root)]).ok();
    daemon.json(&["rescan"]);
    (daemon, root)
}

#[test]
fn sync_on_makes_the_remote_a_byte_identical_copy() {
    let (daemon, root) = synced_daemon("");
    let created = daemon.json(&[
        "collections",
        "create",
        "Trip",
        "--folder",
        s(&root.join("trip")),
        "--sync",
    ]);
    assert_eq!(created["collection"]["sync_enabled"], true);
    daemon.cli(&["wait", "--timeout", "60s"]).ok();
    let cloud = daemon.data_dir.join("cloud/Trip");
    assert_eq!(tree(&cloud.join("trip")), tree(&root.join("trip")));

    let list = daemon.json(&["collections", "show", "Trip"]);
    assert_eq!(list["collection"]["synced_count"], 40);
    let synced = daemon
        .cli(&["--json", "photos", "--synced"])
        .ok()
        .json_lines();
    assert_eq!(synced.len(), 40);
    assert!(
        synced
            .iter()
            .all(|p| p["collections"][0]["state"] == "synced"),
        "{synced:?}"
    );

    // A photo added later, and one changed, follow.
    write_file(&root.join("trip/late.jpg"), b"late arrival");
    fs::write(root.join("trip/t0.jpg"), b"re-edited").unwrap();
    wait_until(
        EVENT_TIMEOUT,
        "late and changed photos on the remote",
        || {
            let late = fs::read(cloud.join("trip/late.jpg")).ok();
            let edited = fs::read(cloud.join("trip/t0.jpg")).ok();
            if late.as_deref() == Some(b"late arrival") && edited.as_deref() == Some(b"re-edited") {
                Ok(())
            } else {
                Err((late.map(|l| l.len()), edited.map(|e| e.len())))
            }
        },
    );
    // A photo removed from the collection's folder leaves the remote.
    fs::remove_file(root.join("trip/t1.jpg")).unwrap();
    wait_until(EVENT_TIMEOUT, "t1.jpg removed from the remote", || {
        if cloud.join("trip/t1.jpg").exists() {
            Err("still there")
        } else {
            Ok(())
        }
    });
    daemon.cli(&["wait", "--timeout", "60s"]).ok();
    assert_eq!(tree(&cloud.join("trip")), tree(&root.join("trip")));
}

#[test]
fn sync_off_removes_exactly_this_collections_objects() {
    let (daemon, root) = synced_daemon("");
    create_trip(&daemon, &root, &["--sync"]);
    daemon.cli(&["wait", "--timeout", "60s"]).ok();
    let cloud = daemon.data_dir.join("cloud");
    let foreign = write_file(
        &cloud.join("Trip/trip/placed-by-hand.jpg"),
        b"not syncroll's",
    );
    let other = write_file(&cloud.join("Other/x.jpg"), b"someone else's");

    let off = daemon.json(&["sync", "off", "Trip", "--yes"]);
    assert_eq!(off["deletes_queued"], 40);
    daemon.cli(&["wait", "--timeout", "60s"]).ok();
    assert_eq!(
        tree(&cloud.join("Trip")),
        vec![(
            "trip/placed-by-hand.jpg".to_owned(),
            b"not syncroll's".to_vec()
        )]
    );
    assert!(foreign.exists() && other.exists());
    assert_eq!(
        fs::read_dir(root.join("trip")).unwrap().count(),
        40,
        "local photos untouched"
    );

    // On again: everything is uploaded once more; off --keep-remote keeps it.
    daemon.cli(&["sync", "on", "Trip"]).ok();
    daemon.cli(&["wait", "--timeout", "60s"]).ok();
    assert_eq!(walk(&cloud.join("Trip/trip")).len(), 41);
    let kept = daemon.json(&["sync", "off", "Trip", "--keep-remote"]);
    assert_eq!(kept["deletes_queued"], 0);
    daemon.cli(&["wait", "--timeout", "60s"]).ok();
    assert_eq!(walk(&cloud.join("Trip/trip")).len(), 41);
    // Turning it back on uploads nothing: the ledger still knows the copies.
    let again = daemon.json(&["sync", "on", "Trip"]);
    assert_eq!(again["uploads_queued"], 0, "{again}");
}

#[test]
fn a_photo_in_two_collections_is_sent_once_and_copied_on_the_remote() {
    let (daemon, root) = synced_daemon("");
    daemon
        .cli(&[
            "collections",
            "create",
            "A",
            "--folder",
            s(&root.join("trip")),
            "--sync",
        ])
        .ok();
    daemon.cli(&["wait", "--timeout", "60s"]).ok();
    daemon
        .cli(&[
            "collections",
            "create",
            "B",
            "--folder",
            s(&root.join("trip")),
            "--sync",
        ])
        .ok();
    daemon.cli(&["wait", "--timeout", "60s"]).ok();
    let jobs = daemon
        .cli(&["--json", "jobs", "--collection", "B"])
        .ok()
        .json_lines();
    assert_eq!(jobs.len(), 40);
    assert!(jobs.iter().all(|j| j["transfer"] == "copy"), "{jobs:?}");
    let cloud = daemon.data_dir.join("cloud");
    assert_eq!(tree(&cloud.join("B")), tree(&cloud.join("A")));
}

#[test]
fn pause_stops_new_uploads_and_resume_completes() {
    let (daemon, root) = synced_daemon("[sync]\nconcurrency = 1");
    daemon.cli(&["pause"]).ok();
    create_trip(&daemon, &root, &["--sync"]);
    let status = daemon.json(&["status"]);
    assert_eq!(status["sync"]["state"], "paused");
    assert_eq!(status["sync"]["queued"], 40);
    // Absence over a bounded window, after the jobs are known to be queued.
    let cloud = daemon.data_dir.join("cloud");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while std::time::Instant::now() < deadline {
        assert!(walk(&cloud).is_empty(), "nothing is uploaded while paused");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let timeout = daemon.cli(&["wait", "--timeout", "1s"]).fails_with(4);
    assert!(timeout.stderr.contains("not drained"), "{timeout:?}");
    daemon.cli(&["resume"]).ok();
    daemon.cli(&["wait", "--timeout", "60s"]).ok();
    assert_eq!(tree(&cloud.join("Trip/trip")), tree(&root.join("trip")));
}

#[test]
fn cancel_drops_queued_work_and_keeps_the_sync_setting() {
    let (daemon, root) = synced_daemon("");
    daemon.cli(&["pause", "Trip"]).fails_with(1);
    create_trip(&daemon, &root, &[]);
    daemon.cli(&["pause", "Trip"]).ok();
    daemon.cli(&["sync", "on", "Trip"]).ok();
    let cancelled = daemon.json(&["cancel", "Trip"]);
    assert_eq!(cancelled["jobs_cancelled"], 40);
    assert_eq!(
        daemon
            .cli(&["--json", "jobs", "--state", "cancelled"])
            .ok()
            .json_lines()
            .len(),
        40
    );
    assert_eq!(
        daemon.json(&["collections", "show", "Trip"])["collection"]["sync_enabled"],
        true
    );
    daemon.cli(&["jobs", "--state", "sleeping"]).fails_with(1);
}

#[test]
fn kill_9_in_the_middle_of_a_sync_converges_after_restart() {
    let mut daemon = Daemon::builder().config("[sync]\nconcurrency = 2").start();
    let root = daemon.scratch("photos");
    write_photos(&root, "p", 200, 256 * 1024);
    daemon.cli(&["roots", "add", s(&root)]).ok();
    daemon.json(&["rescan"]);
    daemon
        .cli(&[
            "collections",
            "create",
            "All",
            "--folder",
            s(&root),
            "--sync",
        ])
        .ok();
    let cloud = daemon.data_dir.join("cloud/All");
    wait_until(EVENT_TIMEOUT, "some uploads to land", || {
        let n = walk(&cloud).len();
        if n >= 10 { Ok(()) } else { Err(n) }
    });
    daemon.kill();
    daemon.restart();
    daemon.cli(&["wait", "--timeout", "120s"]).ok();
    assert_eq!(
        tree(&cloud),
        tree(&root),
        "the remote equals the collection, with no temporaries left"
    );
    let jobs = daemon.cli(&["--json", "jobs"]).ok().json_lines();
    let done = jobs.iter().filter(|j| j["state"] == "done").count();
    assert_eq!(done, 200, "one finished job per photo: {}", jobs.len());
}

#[test]
fn a_permanent_error_fails_with_a_reason_and_retry_succeeds_after_the_fix() {
    let (daemon, root) = synced_daemon("[sync]\nretry_base_ms = 50");
    let nas = daemon.scratch("nas");
    daemon
        .cli(&["remotes", "add", "nas", "--kind", "fs", "--path", s(&nas)])
        .ok();
    daemon.cli(&["remotes", "test", "nas"]).ok();
    // A file where the collection's folder must go: every upload fails.
    fs::write(nas.join("Trip"), b"in the way").unwrap();
    create_trip(&daemon, &root, &["--remote", "nas", "--sync"]);
    let run = daemon.cli(&["wait", "--timeout", "60s"]).fails_with(1);
    assert!(run.stderr.contains("jobs failed"), "{run:?}");
    let failed = daemon
        .cli(&["--json", "jobs", "--state", "failed"])
        .ok()
        .json_lines();
    assert_eq!(failed.len(), 40);
    assert!(
        failed[0]["error"]
            .as_str()
            .unwrap()
            .contains("is a file where a folder is needed"),
        "{:?}",
        failed[0]
    );
    let status = daemon.json(&["status"]);
    assert!(!status["sync"]["last_errors"].as_array().unwrap().is_empty());

    fs::remove_file(nas.join("Trip")).unwrap();
    assert_eq!(daemon.json(&["retry", "--all"])["jobs_retried"], 40);
    daemon.cli(&["wait", "--timeout", "60s"]).ok();
    assert_eq!(tree(&nas.join("Trip/trip")), tree(&root.join("trip")));
}

#[test]
fn remotes_are_listed_and_bad_ones_refused() {
    let daemon = Daemon::start();
    let list = daemon.json(&["remotes", "list"]);
    assert_eq!(list["remotes"][0]["name"], "local");
    assert_eq!(list["remotes"][0]["is_default"], true);
    let run = daemon
        .cli(&["remotes", "add", "x", "--kind", "ftp", "--path", "/tmp"])
        .fails_with(1);
    assert!(run.stderr.contains("\"ftp\""), "{run:?}");
    let run = daemon
        .cli(&["remotes", "add", "a/b", "--kind", "fs", "--path", "/tmp"])
        .fails_with(1);
    assert!(run.stderr.contains("\"a/b\""), "{run:?}");
    let run = daemon.cli(&["remotes", "remove", "local"]).fails_with(1);
    assert!(run.stderr.contains("default remote"), "{run:?}");
}

/// "Trip" synced and planned while paused, with the watcher off, so the
/// test can change the disk behind the catalog's back before uploads run.
fn planned_while_paused() -> (Daemon, PathBuf) {
    let (daemon, root) = synced_daemon("[watcher]\nenabled = false");
    create_trip(&daemon, &root, &[]);
    daemon.cli(&["pause", "Trip"]).ok();
    daemon.cli(&["sync", "on", "Trip"]).ok();
    (daemon, root)
}

/// With the watcher off, the catalog still holds the old hash when the
/// worker reads the file: the bytes sent differ from what was planned, which
/// is exactly what a change during the transfer looks like. The worker must
/// notice, re-index the file, and send it again.
#[test]
fn bytes_that_changed_after_planning_are_detected_and_sent_again() {
    let (daemon, root) = planned_while_paused();
    fs::write(root.join("trip/t5.jpg"), b"edited after planning").unwrap();
    daemon.cli(&["resume", "Trip"]).ok();
    daemon.cli(&["wait", "--timeout", "60s"]).ok();

    let cloud = daemon.data_dir.join("cloud/Trip/trip");
    assert_eq!(
        fs::read(cloud.join("t5.jpg")).unwrap(),
        b"edited after planning"
    );
    assert_eq!(tree(&cloud), tree(&root.join("trip")));
    let photo = daemon
        .photos(Some("Trip"))
        .into_iter()
        .find(|p| p["path"] == "trip/t5.jpg")
        .unwrap();
    assert_eq!(
        photo["blake3"],
        crate::roots::blake3_hex(b"edited after planning"),
        "the catalog was refreshed"
    );
    assert!(daemon.log().contains("the file changed during the upload"));
}

#[test]
fn a_file_that_vanished_before_its_upload_ends_its_job_cleanly() {
    let (daemon, root) = planned_while_paused();
    fs::remove_file(root.join("trip/t7.jpg")).unwrap();
    daemon.cli(&["resume", "Trip"]).ok();
    daemon.cli(&["wait", "--timeout", "60s"]).ok();

    let cancelled = daemon
        .cli(&["--json", "jobs", "--state", "cancelled"])
        .ok()
        .json_lines();
    assert_eq!(cancelled.len(), 1, "{cancelled:?}");
    assert_eq!(cancelled[0]["key"], "Trip/trip/t7.jpg");
    assert!(
        cancelled[0]["error"].as_str().unwrap().contains("vanished"),
        "{:?}",
        cancelled[0]
    );
    let cloud = daemon.data_dir.join("cloud/Trip/trip");
    assert!(!cloud.join("t7.jpg").exists());
    assert_eq!(tree(&cloud), tree(&root.join("trip")));
    assert_eq!(
        daemon.photos(Some("Trip")).len(),
        39,
        "the rescan dropped the vanished photo"
    );
}

#[test]
fn watch_until_idle_streams_status_and_returns() {
    let (daemon, root) = synced_daemon("");
    create_trip(&daemon, &root, &["--sync"]);
    let run = daemon.cli(&["--json", "watch", "--until-idle"]).ok();
    let lines = run.json_lines();
    let last = lines.last().unwrap();
    assert_eq!(last["idle"], true, "{last}");
    assert_eq!(last["collections"][0]["synced_count"], 40);
    let human = daemon.cli(&["watch", "--until-idle"]).ok().stdout;
    assert!(human.contains("idle: 0 queued"), "{human}");
}

#[test]
fn pause_interrupts_a_transfer_in_flight_and_leaves_nothing_half_written() {
    let daemon = Daemon::builder().config("[sync]\nconcurrency = 1").start();
    let root = daemon.scratch("photos");
    // Sparse: a large file that costs no disk to make and is slow enough to
    // copy that the test can catch it in flight.
    let big = fs::File::create(root.join("big.mov")).unwrap();
    big.set_len(1 << 30).unwrap();
    drop(big);
    daemon.cli(&["roots", "add", s(&root)]).ok();
    daemon.json(&["rescan"]);
    daemon
        .cli(&[
            "collections",
            "create",
            "Clip",
            "--folder",
            s(&root),
            "--sync",
        ])
        .ok();
    wait_until(EVENT_TIMEOUT, "the upload to be in flight", || {
        let status = daemon.json(&["status"]);
        let transfer = &status["sync"]["transfers"][0];
        let (done, total) = (
            transfer["bytes_done"].as_u64().unwrap_or(0),
            transfer["bytes_total"].as_u64().unwrap_or(0),
        );
        if done > 0 && done < total {
            Ok(())
        } else {
            Err(status["sync"].clone())
        }
    });
    let paused = daemon.json(&["pause"]);
    assert_eq!(paused["transfers_interrupted"], 1);
    wait_until(EVENT_TIMEOUT, "the transfer to stop", || {
        let sync = daemon.json(&["status"])["sync"].clone();
        if sync["running"] == 0 && sync["queued"] == 1 {
            Ok(())
        } else {
            Err(sync)
        }
    });
    let cloud = daemon.data_dir.join("cloud/Clip");
    assert!(
        walk(&cloud).is_empty(),
        "no final object and no temporary: {:?}",
        walk(&cloud)
    );
    let job = &daemon.cli(&["--json", "jobs"]).ok().json_lines()[0];
    assert_eq!(job["state"], "queued");
    assert_eq!(
        job["attempts"], 0,
        "an interruption is not a failed attempt"
    );

    daemon.cli(&["resume"]).ok();
    daemon.cli(&["wait", "--timeout", "120s"]).ok();
    assert_eq!(fs::metadata(cloud.join("big.mov")).unwrap().len(), 1 << 30);
}

#[test]
fn sync_off_while_uploading_leaves_no_copies_behind() {
    let (daemon, root) = synced_daemon("[sync]\nconcurrency = 2");
    create_trip(&daemon, &root, &["--sync"]);
    let cloud = daemon.data_dir.join("cloud/Trip");
    wait_until(EVENT_TIMEOUT, "uploads to start landing", || {
        let n = walk(&cloud).len();
        if n > 0 { Ok(()) } else { Err(n) }
    });
    daemon.cli(&["sync", "off", "Trip", "--yes"]).ok();
    daemon.cli(&["wait", "--timeout", "60s"]).ok();
    assert!(walk(&cloud).is_empty(), "{:?}", walk(&cloud));
    let deleting = daemon.cli(&["collections", "delete", "Trip"]).ok();
    assert_eq!(deleting.code, 0);
}

#[test]
fn a_synced_collection_is_not_deleted_and_a_timed_pause_ends_by_itself() {
    let (daemon, root) = synced_daemon("");
    let paused = daemon.json(&["pause", "--for", "2s"]);
    let until = paused["paused_until"].as_i64().unwrap();
    assert!(until > 0, "{paused}");
    create_trip(&daemon, &root, &["--sync"]);
    let status = daemon.json(&["status"]);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    // On a loaded machine the pause may already have run out; if not, it shows.
    if now < until {
        assert_eq!(status["sync"]["paused"], true, "{status}");
        assert_eq!(status["sync"]["paused_until"], until);
    }
    let run = daemon.cli(&["collections", "delete", "Trip"]).fails_with(1);
    assert!(run.stderr.contains("sync off"), "{run:?}");
    // No resume: the pause runs out.
    daemon.cli(&["wait", "--timeout", "60s"]).ok();
    assert_eq!(
        daemon.json(&["collections", "show", "Trip"])["collection"]["synced_count"],
        40
    );
}

#[test]
fn an_unmounted_remote_is_waited_for_not_failed_and_never_created() {
    let (daemon, root) = synced_daemon("[sync]\noffline_retry_secs = 1\nmax_attempts = 2");
    let mount = daemon.scratch("mnt");
    let share = mount.join("photos");
    fs::create_dir(&share).unwrap();
    daemon
        .cli(&["remotes", "add", "nas", "--kind", "fs", "--path", s(&share)])
        .ok();
    // The share goes away (unmounted): its folder is gone.
    let away = daemon.scratch("away").join("photos");
    fs::rename(&share, &away).unwrap();
    create_trip(&daemon, &root, &["--remote", "nas", "--sync"]);
    let waiting = wait_until(EVENT_TIMEOUT, "jobs to wait for the remote", || {
        let status = daemon.json(&["status"]);
        let errors = status["sync"]["last_errors"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if errors
            .iter()
            .any(|e| e["error"].as_str().unwrap_or("").contains("unavailable"))
        {
            Ok(status)
        } else {
            Err(status["sync"].clone())
        }
    });
    assert_eq!(waiting["sync"]["failed"], 0, "{waiting}");
    assert!(
        !share.exists(),
        "the remote's folder is never created by syncroll"
    );
    // Well past max_attempts worth of tries, nothing has failed.
    wait_until(EVENT_TIMEOUT, "several offline retries", || {
        let log = daemon.log();
        let n = log.matches("offline; waiting for it").count();
        if n >= 3 * 40 { Ok(()) } else { Err(n) }
    });
    assert_eq!(daemon.json(&["status"])["sync"]["failed"], 0);

    fs::rename(&away, &share).unwrap();
    daemon.cli(&["wait", "--timeout", "60s"]).ok();
    assert_eq!(tree(&share.join("Trip/trip")), tree(&root.join("trip")));
}

#[test]
fn cancel_job_drops_one_job_and_retry_brings_it_back() {
    let (daemon, root) = planned_while_paused();
    let jobs = daemon
        .cli(&["--json", "jobs", "--state", "queued"])
        .ok()
        .json_lines();
    let id = jobs[0]["id"].as_u64().unwrap().to_string();
    assert_eq!(daemon.json(&["cancel", "--job", &id])["jobs_cancelled"], 1);
    assert_eq!(
        daemon
            .cli(&["--json", "jobs", "--state", "cancelled"])
            .ok()
            .json_lines()
            .len(),
        1
    );
    daemon.cli(&["cancel", "--job", "999999"]).fails_with(1);
    daemon.cli(&["resume", "Trip"]).ok();
    daemon.cli(&["wait", "--timeout", "60s"]).ok();
    let cloud = daemon.data_dir.join("cloud/Trip/trip");
    assert_eq!(
        walk(&cloud).len(),
        39,
        "the cancelled photo was not uploaded"
    );
    assert_eq!(daemon.json(&["retry", &id])["jobs_retried"], 1);
    daemon.cli(&["wait", "--timeout", "60s"]).ok();
    assert_eq!(tree(&cloud), tree(&root.join("trip")));
    let done = daemon.cli(&["cancel", "--job", &id]).fails_with(1);
    assert!(
        done.stderr.contains("a done job cannot be cancelled"),
        "{done:?}"
    );
}

/// A cancel holds: later planning passes (a new photo, a rescan) do not
/// bring the cancelled work back; `retry --all` does, and so does turning
/// sync off and on.
#[test]
fn cancelled_work_stays_cancelled_until_retried() {
    let (daemon, root) = planned_while_paused();
    assert_eq!(daemon.json(&["cancel", "Trip"])["jobs_cancelled"], 40);
    // A new photo makes the planner look at the collection again.
    write_file(&root.join("trip/late.jpg"), b"late");
    daemon.json(&["rescan"]);
    daemon.cli(&["resume", "Trip"]).ok();
    daemon.cli(&["wait", "--timeout", "60s"]).ok();
    let cloud = daemon.data_dir.join("cloud/Trip/trip");
    assert_eq!(
        walk(&cloud),
        vec![cloud.join("late.jpg")],
        "only the new photo went up"
    );
    let queued = daemon
        .cli(&["--json", "jobs", "--state", "queued"])
        .ok()
        .json_lines();
    assert!(queued.is_empty(), "{queued:#?}");

    assert_eq!(daemon.json(&["retry", "--all"])["jobs_retried"], 40);
    daemon.cli(&["wait", "--timeout", "60s"]).ok();
    assert_eq!(tree(&cloud), tree(&root.join("trip")));
}

#[test]
fn removing_a_photo_from_a_synced_manual_collection_removes_its_copy() {
    let (daemon, root) = synced_daemon("");
    daemon
        .cli(&["collections", "create", "Picks", "--sync"])
        .ok();
    daemon
        .cli(&[
            "collections",
            "add",
            "Picks",
            s(&root.join("trip/t1.jpg")),
            s(&root.join("trip/t2.jpg")),
        ])
        .ok();
    daemon.cli(&["wait", "--timeout", "60s"]).ok();
    let cloud = daemon.data_dir.join("cloud/Picks/trip");
    assert_eq!(walk(&cloud).len(), 2);
    daemon
        .cli(&[
            "collections",
            "remove",
            "Picks",
            s(&root.join("trip/t1.jpg")),
        ])
        .ok();
    daemon.cli(&["wait", "--timeout", "60s"]).ok();
    assert_eq!(
        tree(&cloud),
        vec![(
            "t2.jpg".to_owned(),
            fs::read(root.join("trip/t2.jpg")).unwrap()
        )]
    );
    assert!(root.join("trip/t1.jpg").exists(), "the local photo stays");
}
