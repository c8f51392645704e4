//! `kill -9` of the daemon while the pull engine downloads a new remote
//! file, on the in-process S3 and WebDAV servers. The server pauses the
//! object's reply once part of it was sent (`hold_replies_after`), so the
//! kill lands while a partial temporary is on the root's disk, however fast
//! the loopback is; no sleep decides when.
//!
//! After a restart on the same data dir the file must arrive byte-identical
//! and exactly once, continued from the kept bytes with an HTTP Range (the
//! server counts what it sent), with no temporary left under the root,
//! nothing sent back to the remote, and the next poll finding nothing to
//! do.

use std::fs;
use std::time::Duration;

use syncroll_testkit::{S3Server, Seen, WebDavServer, wait_until, write_file, write_photos};

use crate::pull_harness::{Album, Kind, hidden_files, noise};

/// Big enough to be many of the download's 1 MiB writes, and not a whole
/// number of them.
const BIG: usize = (24 << 20) + 12_345;
/// The server pauses the reply after this much: several writes are on disk
/// by then, and most of the object is still to come.
const HOLD_AFTER: u64 = 8 << 20;
/// What must be on the root's disk before the kill: the download is under
/// way and its bytes are worth continuing.
const ON_DISK_AT_KILL: u64 = 4 << 20;
const POLL_TIMEOUT: Duration = Duration::from_secs(120);
const REL: &str = "trip/day 2/big.jpg";
/// The download's temporary beside the destination (`syncroll-remote`'s
/// naming: `.NAME.syncroll-download`, and `...-source` for its note).
const TEMP: &str = "trip/day 2/.big.jpg.syncroll-download";
const NOTE: &str = "trip/day 2/.big.jpg.syncroll-download-source";

fn requests(kind: &Kind) -> Vec<Seen> {
    match kind {
        Kind::S3(server) => server.seen(),
        Kind::WebDav(server) => server.seen(),
    }
}

fn hold_replies(kind: &Kind, on: bool) {
    match (kind, on) {
        (Kind::S3(server), true) => server.hold_replies_after(HOLD_AFTER),
        (Kind::S3(server), false) => server.pass_held(),
        (Kind::WebDav(server), true) => server.hold_replies_after(HOLD_AFTER),
        (Kind::WebDav(server), false) => server.pass_held(),
    }
}

/// Whether `seen` is a GET of the big object (its key ends with the file
/// name, spelt as the protocol escapes the space before it).
fn gets_big(seen: &Seen) -> bool {
    seen.method == "GET"
        && seen
            .target
            .split('?')
            .next()
            .unwrap_or("")
            .ends_with("/big.jpg")
}

fn killed_mid_download_converges_after_restart(kind: Kind) {
    let mut setup = Album::new(kind, "", |root| {
        write_photos(&root.join("trip"), "t", 2, 100);
    });
    // The connection's first poll may run at any moment; this one is ours.
    setup.poll(POLL_TIMEOUT);
    let uploads = setup.done_uploads();
    let big = noise(BIG, 7);
    write_file(&setup.album.join(REL), &big);
    hold_replies(&setup.kind, true);

    let asked = setup.ask_poll();
    let temp = setup.root.join(TEMP);
    wait_until(
        POLL_TIMEOUT,
        "part of the download on disk",
        || match fs::metadata(&temp) {
            Ok(meta) if meta.len() >= ON_DISK_AT_KILL => Ok(()),
            other => Err((other.map(|m| m.len()), setup.connection())),
        },
    );
    // The kill must find the download still under way: the poll that
    // started it has not finished, and the reply is paused short of the end.
    assert!(
        setup.connection()["last_polled_at_ms"]
            .as_i64()
            .unwrap_or(0)
            < asked,
        "the poll finished before the kill: {}",
        setup.connection()
    );
    setup.daemon.kill();
    let kept = fs::metadata(&temp)
        .expect("the partial survives the kill")
        .len();
    assert!(
        (ON_DISK_AT_KILL..BIG as u64).contains(&kept),
        "{kept} bytes kept"
    );
    assert!(
        setup.root.join(NOTE).exists(),
        "the note of the version the bytes are of"
    );
    assert!(
        !setup.root.join(REL).exists(),
        "no partial under the real name"
    );
    // The paused reply goes on to a dead connection; it must not be what
    // the restarted daemon reads.
    hold_replies(&setup.kind, false);
    let before_restart = requests(&setup.kind).len();

    setup.daemon.restart();
    // The restarted daemon polls on its own at start; this waits for a poll
    // asked for afterwards, so the file has been dealt with either way.
    let outcome = setup.poll(POLL_TIMEOUT);
    assert!(!outcome.contains("failed"), "{outcome}");
    let landed = setup.root.join(REL);
    assert!(
        fs::read(&landed).ok() == Some(big.clone()),
        "the file arrived byte-identical ({:?} bytes)",
        fs::metadata(&landed).map(|m| m.len())
    );

    // Exactly once: one photo at that path, nothing beside it.
    let members = setup.daemon.photo_paths(Some("Trip"));
    assert_eq!(
        members,
        vec![
            "trip/day 2/big.jpg".to_owned(),
            "trip/t0.jpg".to_owned(),
            "trip/t1.jpg".to_owned()
        ]
    );
    let beside: Vec<_> = fs::read_dir(landed.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(beside, vec!["big.jpg".to_owned()]);
    assert_eq!(hidden_files(&setup.root), Vec::<String>::new());

    // Continued, not begun again: one GET after the restart, for the bytes
    // after the kept ones, and only those sent.
    let after: Vec<Seen> = requests(&setup.kind).split_off(before_restart);
    let gets: Vec<&Seen> = after.iter().filter(|r| gets_big(r)).collect();
    assert_eq!(gets.len(), 1, "{gets:#?}");
    assert_eq!(
        gets[0].range.as_deref(),
        Some(format!("bytes={kept}-").as_str()),
        "{gets:#?}"
    );
    assert_eq!(gets[0].served_bytes(), BIG as u64 - kept);

    // Nothing was sent back, and nothing is left to do.
    let again = setup.poll(POLL_TIMEOUT);
    assert!(
        again.contains(" 0 downloaded") && !again.contains("failed"),
        "{again}"
    );
    setup.daemon.cli(&["wait", "--timeout", "120s"]).ok();
    assert_eq!(setup.done_uploads(), uploads, "nothing was uploaded back");
    let all = requests(&setup.kind);
    let writes: Vec<&Seen> = all[before_restart..]
        .iter()
        .filter(|r| !matches!(r.method.as_str(), "GET" | "HEAD" | "PROPFIND" | "OPTIONS"))
        .collect();
    assert!(writes.is_empty(), "requests that write: {writes:#?}");
    assert_eq!(fs::read(setup.album.join(REL)).ok(), Some(big));
}

#[test]
fn pull_killed_mid_download_from_s3_continues_after_restart() {
    killed_mid_download_converges_after_restart(Kind::S3(S3Server::start()));
}

#[test]
fn pull_killed_mid_download_from_webdav_continues_after_restart() {
    killed_mid_download_converges_after_restart(Kind::WebDav(WebDavServer::start()));
}

/// Brings `trip/phone.jpg` home from the album, then makes the connection
/// pull only, so the push side does not send the local edit the test makes
/// next before a poll sees the remote one (a pause would hold the poll's
/// downloads too). The direction is kept in the catalog, so it holds
/// across the restart.
fn phone_home_and_pull_only(setup: &Album) -> std::path::PathBuf {
    setup.poll(POLL_TIMEOUT);
    write_file(
        &setup.album.join("trip/phone.jpg"),
        b"\xff\xd8 as it came home",
    );
    let outcome = setup.poll(POLL_TIMEOUT);
    assert!(outcome.contains("1 downloaded"), "{outcome}");
    setup.daemon.cli(&["wait", "--timeout", "120s"]).ok();
    setup
        .daemon
        .cli(&["connect", "Trip", "--direction", "pull"])
        .ok();
    setup.root.join("trip/phone.jpg")
}

/// Waits until a hidden file in `dir` whose name starts with `prefix` and
/// ends with the download temporary's suffix holds `ON_DISK_AT_KILL`
/// bytes; returns its name.
fn wait_for_partial(setup: &Album, dir: &std::path::Path, prefix: &str) -> String {
    wait_until(POLL_TIMEOUT, "part of the download on disk", || {
        let found = fs::read_dir(dir).unwrap().find_map(|e| {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            (name.starts_with(prefix)
                && name.ends_with(".syncroll-download")
                && e.metadata().unwrap().len() >= ON_DISK_AT_KILL)
                .then_some(name)
        });
        found.ok_or_else(|| (hidden_files(dir), setup.connection()))
    })
}

fn open_conflicts(setup: &Album) -> Vec<serde_json::Value> {
    setup.daemon.json(&["conflicts"])["conflicts"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// A conflict copy is named by the time the conflict is seen. A kill while
/// the copy downloads must not leave its partial bytes under a name the next
/// attempt (seconds later) no longer uses: the restarted daemon continues
/// the same copy, from the kept bytes, and nothing hidden is left.
#[test]
fn pull_killed_mid_conflict_copy_continues_the_same_copy_after_restart() {
    let mut setup = Album::new(Kind::S3(S3Server::start()), "", |root| {
        write_photos(&root.join("trip"), "t", 2, 100);
    });
    let landed = phone_home_and_pull_only(&setup);
    let local = b"\xff\xd8 retouched on the laptop".to_vec();
    write_file(&landed, &local);
    setup.daemon.json(&["rescan"]);
    let remote = noise(BIG, 11);
    write_file(&setup.album.join("trip/phone.jpg"), &remote);
    hold_replies(&setup.kind, true);

    setup.ask_poll();
    let trip = setup.root.join("trip");
    let partial = wait_for_partial(&setup, &trip, ".phone (conflict ");
    setup.daemon.kill();
    let kept = fs::metadata(trip.join(&partial)).unwrap().len();
    hold_replies(&setup.kind, false);
    let before_restart = requests(&setup.kind).len();
    // The next attempt is at least a second later, so a name chosen afresh
    // would differ from the partial's.
    let killed_at = crate::pull_harness::now_ms() / 1000;
    wait_until(Duration::from_secs(5), "the clock's next second", || {
        (crate::pull_harness::now_ms() / 1000 > killed_at)
            .then_some(())
            .ok_or(())
    });

    setup.daemon.restart();
    let outcome = setup.poll(POLL_TIMEOUT);
    assert!(!outcome.contains("failed"), "{outcome}");
    let conflicts = open_conflicts(&setup);
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    let copy = std::path::PathBuf::from(conflicts[0]["copy_path"].as_str().unwrap());
    assert_eq!(
        format!(
            ".{}.syncroll-download",
            copy.file_name().unwrap().to_string_lossy()
        ),
        partial,
        "the copy took up the name its partial was kept under"
    );
    assert!(
        fs::read(&copy).ok() == Some(remote.clone()),
        "the copy holds the remote's bytes"
    );
    assert_eq!(fs::read(&landed).ok(), Some(local), "the local edit stays");
    let copies: Vec<String> = fs::read_dir(&trip)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("conflict"))
        .collect();
    assert_eq!(copies.len(), 1, "{copies:?}");
    assert_eq!(hidden_files(&setup.root), Vec::<String>::new());
    let after: Vec<Seen> = requests(&setup.kind).split_off(before_restart);
    let gets: Vec<&Seen> = after
        .iter()
        .filter(|r| {
            r.method == "GET" && r.target.split('?').next().unwrap().ends_with("/phone.jpg")
        })
        .collect();
    assert_eq!(gets.len(), 1, "{gets:#?}");
    assert_eq!(
        gets[0].range.as_deref(),
        Some(format!("bytes={kept}-").as_str()),
        "continued from the kept bytes: {gets:#?}"
    );

    let again = setup.poll(POLL_TIMEOUT);
    assert!(
        !again.contains("conflicts") && !again.contains("failed"),
        "{again}"
    );
    assert_eq!(open_conflicts(&setup).len(), 1);
}

/// A kill while a remote edit downloads to its hidden temporary, then the
/// local file is edited before the restart: the edit is now a conflict,
/// saved under another name, and the temporary's kept bytes, which no
/// attempt will use again, must not stay hidden beside the photo.
#[test]
fn pull_killed_mid_edit_that_became_a_conflict_leaves_no_partial() {
    let mut setup = Album::new(Kind::S3(S3Server::start()), "", |root| {
        write_photos(&root.join("trip"), "t", 2, 100);
    });
    let landed = phone_home_and_pull_only(&setup);
    let remote = noise(BIG, 13);
    write_file(&setup.album.join("trip/phone.jpg"), &remote);
    hold_replies(&setup.kind, true);

    setup.ask_poll();
    let trip = setup.root.join("trip");
    // The edit downloads to `.syncroll-pull-phone.jpg` (the pull engine's
    // edit temporary), whose own partial is `..syncroll-pull-phone.jpg...`.
    wait_for_partial(&setup, &trip, "..syncroll-pull-phone.jpg");
    // The local edit is indexed before the kill, so the restarted daemon's
    // first poll already sees both sides changed.
    let local = b"\xff\xd8 retouched on the laptop during the download".to_vec();
    write_file(&landed, &local);
    setup.daemon.json(&["rescan"]);
    setup.daemon.kill();
    hold_replies(&setup.kind, false);

    setup.daemon.restart();
    let outcome = setup.poll(POLL_TIMEOUT);
    assert!(!outcome.contains("failed"), "{outcome}");
    let conflicts = open_conflicts(&setup);
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    let copy = conflicts[0]["copy_path"].as_str().unwrap();
    assert!(
        fs::read(copy).ok() == Some(remote.clone()),
        "the copy holds the remote's bytes"
    );
    assert_eq!(fs::read(&landed).ok(), Some(local), "the local edit stays");
    assert_eq!(hidden_files(&setup.root), Vec::<String>::new());
    let again = setup.poll(POLL_TIMEOUT);
    assert!(
        !again.contains("conflicts") && !again.contains("failed"),
        "{again}"
    );
}
