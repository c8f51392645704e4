//! The event feed (`syncroll events`): each kind of event comes from its
//! real cause, as it happens, and a client that comes back with the last
//! sequence number it saw gets what it missed, also across a restart.

use std::fs;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Instant;

use serde_json::Value;
use syncroll_testkit::{Daemon, EVENT_TIMEOUT, bin_path, s, write_photos};

/// A running `syncroll --json events`, its lines parsed as they come.
struct Feed {
    child: Child,
    lines: mpsc::Receiver<Value>,
    /// Everything received so far, for failure messages.
    seen: Vec<Value>,
}

impl Feed {
    /// Follows the feed from the start of the daemon's window (`--after
    /// 0`), so no event can slip by before the client is subscribed.
    fn from_start(daemon: &Daemon) -> Self {
        Self::after(daemon, 0)
    }

    fn after(daemon: &Daemon, seq: u64) -> Self {
        let mut child = Command::new(bin_path("syncroll"))
            .arg("--socket")
            .arg(&daemon.socket)
            .args(["--json", "events", "--after", &seq.to_string()])
            .env_remove("SYNCROLL_SOCKET")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("run syncroll events");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                let value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
                if tx.send(value).is_err() {
                    return;
                }
            }
        });
        Self {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// The next event of `kind` that `fits`, skipping others; panics after
    /// [`EVENT_TIMEOUT`] naming what came instead.
    #[track_caller]
    fn next(&mut self, kind: &str, fits: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + EVENT_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(event) => {
                    self.seen.push(event.clone());
                    if event["kind"] == kind && fits(&event) {
                        return event;
                    }
                }
                Err(_) => panic!(
                    "no {kind} event within {EVENT_TIMEOUT:?}; seen: {:#?}",
                    self.seen
                ),
            }
        }
    }

    /// The next `n` lines, whatever they are.
    #[track_caller]
    fn take(&mut self, n: usize) -> Vec<Value> {
        (0..n)
            .map(|_| {
                let event = self
                    .lines
                    .recv_timeout(EVENT_TIMEOUT)
                    .unwrap_or_else(|_| panic!("fewer than {n} events; seen: {:#?}", self.seen));
                self.seen.push(event.clone());
                event
            })
            .collect()
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn seq(event: &Value) -> u64 {
    event["seq"]
        .as_u64()
        .unwrap_or_else(|| panic!("no seq: {event}"))
}

#[test]
fn pause_and_resume_are_events_global_and_per_collection() {
    let (daemon, root) = crate::sync::synced_daemon("");
    crate::create_trip(&daemon, &root, &[]);
    let mut feed = Feed::from_start(&daemon);
    daemon.cli(&["pause", "Trip", "--for", "1h"]).ok();
    let paused = feed.next("pause_changed", |_| true);
    assert_eq!(paused["collection"], "Trip", "{paused}");
    assert_eq!(paused["pause"]["state"], "paused", "{paused}");
    assert!(paused["pause"]["until"].as_i64().unwrap() > 0, "{paused}");
    daemon.cli(&["resume", "Trip"]).ok();
    let resumed = feed.next("pause_changed", |_| true);
    assert_eq!(resumed["pause"]["state"], "resumed", "{resumed}");

    daemon.cli(&["pause"]).ok();
    let global = feed.next("pause_changed", |_| true);
    assert_eq!(global["collection"], Value::Null, "{global}");
    assert_eq!(
        global["pause"]["until"],
        Value::Null,
        "until resumed: {global}"
    );
    daemon.cli(&["resume"]).ok();
    feed.next("pause_changed", |e| e["pause"]["state"] == "resumed");
    assert!(seq(&paused) < seq(&resumed) && seq(&resumed) < seq(&global));
}

#[test]
fn a_bandwidth_limit_set_and_lapsing_are_events() {
    let (daemon, _root) = crate::sync::synced_daemon("");
    let mut feed = Feed::from_start(&daemon);
    daemon.cli(&["limit", "4M:1M", "--for", "2s"]).ok();
    let set = feed.next("limit_changed", |_| true);
    assert_eq!(set["upload_bytes_per_second"], 4 << 20, "{set}");
    assert_eq!(set["download_bytes_per_second"], 1 << 20, "{set}");
    // The live limit lapses back to the config's: no limit.
    let lapsed = feed.next("limit_changed", |_| true);
    assert_eq!(lapsed["upload_bytes_per_second"], Value::Null, "{lapsed}");
    assert_eq!(lapsed["download_bytes_per_second"], Value::Null, "{lapsed}");
}

#[test]
fn a_finished_sync_is_an_event_with_the_collection_s_counts() {
    let (daemon, root) = crate::sync::synced_daemon("");
    let mut feed = Feed::from_start(&daemon);
    crate::create_trip(&daemon, &root, &["--sync"]);
    let synced = feed.next("collection_synced", |e| e["synced"] == 40);
    assert_eq!(synced["collection"], "Trip", "{synced}");
    assert_eq!(synced["remote"], "local", "{synced}");
    assert_eq!(synced["photos"], 40, "{synced}");
    assert_eq!(synced["failed"], 0, "{synced}");
}

#[test]
fn a_job_that_fails_for_good_is_an_event() {
    let (daemon, root) = crate::sync::synced_daemon("[sync]\nretry_base_ms = 50");
    let nas = daemon.scratch("nas");
    daemon
        .cli(&["remotes", "add", "nas", "--kind", "fs", "--path", s(&nas)])
        .ok();
    // A file where the collection's folder must go: the remote refuses
    // every upload.
    fs::write(nas.join("Trip"), b"in the way").unwrap();
    let mut feed = Feed::from_start(&daemon);
    crate::create_trip(&daemon, &root, &["--remote", "nas", "--sync"]);
    let failed = feed.next("job_failed", |_| true);
    assert_eq!(failed["collection"], "Trip", "{failed}");
    assert_eq!(failed["op"], "upload", "{failed}");
    assert!(
        failed["key"].as_str().unwrap().starts_with("Trip/trip/"),
        "{failed}"
    );
    assert!(
        failed["error"]
            .as_str()
            .unwrap()
            .contains("is a file where a folder is needed"),
        "{failed}"
    );
    assert!(failed["job_id"].as_u64().unwrap() > 0, "{failed}");
}

#[test]
fn a_hold_of_the_deletion_brake_is_an_event() {
    let setup = crate::brake::Setup::synced(crate::brake::NO_WATCHER);
    let mut feed = Feed::from_start(&setup.daemon);
    setup.vanish(0..80);
    let held = feed.next("hold_created", |_| true);
    assert_eq!(held["hold_id"], 1, "{held}");
    assert_eq!(held["collection"], "Trip", "{held}");
    assert_eq!(held["remote"], "local", "{held}");
}

#[test]
fn a_conflict_copy_of_the_pull_engine_is_an_event() {
    let setup = crate::pull::Setup::new(crate::pull::Kind::Fs);
    let mut feed = Feed::from_start(&setup.daemon);
    let local = b"\xff\xd8 edited on the laptop";
    let remote = b"\xff\xd8 edited in the web editor, longer";
    let (landed, _) = crate::pull::edit_both_sides(&setup, local, remote);
    let conflict = feed.next("conflict_copied", |_| true);
    assert_eq!(conflict["collection"], "Trip", "{conflict}");
    assert_eq!(conflict["remote"], "local", "{conflict}");
    let key = conflict["key"].as_str().unwrap();
    assert!(key.ends_with("trip/phone.jpg"), "{conflict}");
    assert_eq!(conflict["local_path"], s(&landed), "{conflict}");
    let copy = conflict["copy_path"].as_str().unwrap();
    assert_eq!(fs::read(copy).unwrap(), remote, "{conflict}");
}

#[test]
fn a_root_folder_gone_and_back_are_events() {
    let daemon = Daemon::builder()
        .config("[catalog]\nroot_check_interval_secs = 1")
        .start();
    let root = daemon.scratch("photos");
    write_photos(&root, "p", 3, 256);
    daemon.cli(&["roots", "add", s(&root)]).ok();
    daemon.json(&["rescan"]);
    let mut feed = Feed::from_start(&daemon);
    let away = daemon.scratch("away").join("photos");
    fs::rename(&root, &away).unwrap();
    let missing = feed.next("root_missing", |_| true);
    assert_eq!(missing["path"], s(&root), "{missing}");
    assert!(!missing["reason"].as_str().unwrap().is_empty(), "{missing}");
    fs::rename(&away, &root).unwrap();
    let back = feed.next("root_back", |_| true);
    assert_eq!(back["path"], s(&root), "{back}");
    assert!(seq(&back) > seq(&missing));
}

#[test]
fn a_client_resuming_with_its_last_seq_gets_what_it_missed_across_a_restart() {
    let (mut daemon, root) = crate::sync::synced_daemon("");
    crate::create_trip(&daemon, &root, &[]);
    let mut feed = Feed::from_start(&daemon);
    daemon.cli(&["pause", "Trip"]).ok();
    let last_seen = seq(&feed.next("pause_changed", |_| true));
    drop(feed);

    // Missed while no client listens: one event before the restart, two
    // after it.
    daemon.cli(&["resume", "Trip"]).ok();
    daemon.stop();
    daemon.restart();
    daemon.cli(&["pause"]).ok();
    daemon.cli(&["resume"]).ok();

    let mut feed = Feed::after(&daemon, last_seen);
    let missed = feed.take(3);
    let seqs: Vec<u64> = missed.iter().map(seq).collect();
    assert_eq!(
        seqs,
        vec![last_seen + 1, last_seen + 2, last_seen + 3],
        "numbers go on across the restart: {missed:#?}"
    );
    assert_eq!(missed[0]["collection"], "Trip", "{missed:#?}");
    assert_eq!(missed[0]["pause"]["state"], "resumed", "{missed:#?}");
    assert_eq!(missed[1]["collection"], Value::Null, "{missed:#?}");
    assert_eq!(missed[2]["pause"]["state"], "resumed", "{missed:#?}");
    // And it goes on following.
    daemon.cli(&["pause", "Trip"]).ok();
    let next = feed.next("pause_changed", |_| true);
    assert_eq!(seq(&next), last_seen + 4, "{next}");
}
