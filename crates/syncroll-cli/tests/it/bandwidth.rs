//! Bandwidth limits (`sync.bandwidth`, `syncroll limit`), measured by the
//! test from its own clock: the real daemon syncing 40 MiB to the `fs`
//! remote and to an in-process S3 server.
//!
//! Rates are in MiB/s, the units `4M` is written in (rclone's). A transfer
//! is timed from the first status that shows bytes moving to the first that
//! shows the queue drained, so start-up and planning do not count.

use std::time::{Duration, Instant};

use serde_json::Value;
use syncroll_testkit::{Daemon, S3Server, s, wait_until, write_photos};

use crate::create_trip;

const MIB: u64 = 1 << 20;
/// 40 photos of 1 MiB: 40 MiB, 10 s at 4 MiB/s.
const PHOTOS: usize = 40;
const TOTAL: u64 = PHOTOS as u64 * MIB;
/// Longer than any limited transfer here takes.
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(120);

fn sync_status(daemon: &Daemon) -> Value {
    daemon.json(&["status"])["sync"].clone()
}

fn bytes_sent(sync: &Value) -> u64 {
    sync["bytes_sent"].as_u64().unwrap_or(0)
}

/// A daemon with `config`, 40 MiB of photos in a root, and the `Trip`
/// collection of them (sync off) on `remote`, if given.
fn prepared(daemon: &Daemon, remote: Option<&str>) {
    let root = daemon.scratch("photos");
    write_photos(&root.join("trip"), "p", PHOTOS, MIB as usize);
    daemon.cli(&["roots", "add", s(&root)]).ok();
    daemon.json(&["rescan"]);
    match remote {
        Some(remote) => create_trip(daemon, &root, &["--remote", remote]),
        None => create_trip(daemon, &root, &[]),
    }
}

/// When at least `bytes` had been sent, by the test's clock, and how many
/// it was then.
fn sent_at_least(daemon: &Daemon, bytes: u64) -> (Instant, u64) {
    wait_until(TRANSFER_TIMEOUT, "bytes to move", || {
        let sync = sync_status(daemon);
        let sent = bytes_sent(&sync);
        if sent >= bytes.max(1) {
            Ok((Instant::now(), sent))
        } else {
            Err(sync)
        }
    })
}

/// MiB/s between two (time, bytes sent) readings.
fn rate_between(from: (Instant, u64), to: (Instant, u64)) -> f64 {
    let secs = to.0.duration_since(from.0).as_secs_f64();
    (to.1 - from.1) as f64 / MIB as f64 / secs
}

/// When the queue drained, by the test's clock; every byte was sent.
fn drained(daemon: &Daemon, timeout: Duration) -> Instant {
    wait_until(timeout, "the queue to drain", || {
        let sync = sync_status(daemon);
        if sync["idle"] == true && bytes_sent(&sync) >= TOTAL {
            Ok(Instant::now())
        } else {
            Err(sync)
        }
    })
}

/// Turns sync on and times the whole transfer, from `first` (when the
/// first bytes moved, and how many had) to the queue drained; returns
/// MiB/s.
fn timed_sync(daemon: &Daemon, first: impl FnOnce() -> (Instant, u64)) -> f64 {
    daemon.cli(&["sync", "on", "Trip"]).ok();
    let first = first();
    let end = drained(daemon, TRANSFER_TIMEOUT);
    let secs = end.duration_since(first.0).as_secs_f64();
    let rate = rate_between(first, (end, TOTAL));
    eprintln!(
        "{:.2} MiB in {secs:.2} s: {rate:.2} MiB/s",
        (TOTAL - first.1) as f64 / MIB as f64
    );
    assert!(secs >= 8.0, "{secs:.2} s is too fast for 4 MiB/s");
    rate
}

fn assert_near_4m(rate: f64) {
    assert!(
        (3.4..=4.6).contains(&rate),
        "a 4M limit averaged {rate:.2} MiB/s"
    );
}

#[test]
fn a_4m_limit_paces_a_40mb_sync_to_fs() {
    let daemon = Daemon::builder()
        .config("[sync]\nbandwidth = \"4M\"")
        .start();
    prepared(&daemon, None);
    let bandwidth = &sync_status(&daemon)["bandwidth"];
    assert_eq!(bandwidth["limit"], "4M", "{bandwidth}");
    assert_eq!(bandwidth["source"], "config");
    assert_eq!(bandwidth["up_bytes_per_second"], 4 * MIB);
    assert_near_4m(timed_sync(&daemon, || sent_at_least(&daemon, 1)));
    assert_eq!(
        crate::objects(&daemon.data_dir.join("cloud/Trip")).len(),
        PHOTOS
    );
}

#[test]
fn a_4m_limit_paces_a_40mb_sync_to_s3() {
    let server = S3Server::start();
    let daemon = Daemon::builder()
        .config("[sync]\nbandwidth = \"4M:1M\"")
        .start();
    server.add_as_remote(&daemon, "minio", &[]);
    prepared(&daemon, Some("minio"));
    // An S3 upload counts its progress when its request is done, so the
    // first byte is timed where it lands: the server's first PUT.
    let first_put = || {
        wait_until(TRANSFER_TIMEOUT, "the first PUT", || {
            let seen = server.seen();
            match seen.iter().any(|r| r.method == "PUT") {
                true => Ok((Instant::now(), 0)),
                false => Err(seen.len()),
            }
        })
    };
    assert_near_4m(timed_sync(&daemon, first_put));
}

/// A remote's own limit applies on top of the daemon's (none here).
#[test]
fn a_remotes_own_limit_paces_its_transfers() {
    let daemon = Daemon::start();
    let nas = daemon.scratch("nas");
    std::fs::create_dir_all(&nas).unwrap();
    let add = ["remotes", "add", "nas", "--kind", "fs", "--path", s(&nas)];
    let bad = daemon.cli(&[&add[..], &["--limit", "8Q"]].concat());
    let bad = bad.fails_with(1);
    assert!(
        bad.stderr.contains("invalid bandwidth \"8Q\""),
        "{}",
        bad.stderr
    );
    daemon.cli(&[&add[..], &["--limit", "4M"]].concat()).ok();
    let listed = daemon.json(&["remotes", "list"]);
    let nas_entry = listed["remotes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "nas")
        .cloned()
        .unwrap();
    assert_eq!(nas_entry["limit"], "4M", "{listed}");
    prepared(&daemon, Some("nas"));
    assert_near_4m(timed_sync(&daemon, || sent_at_least(&daemon, 1)));
}

#[test]
fn limit_off_mid_transfer_lifts_the_limit_at_once() {
    let daemon = Daemon::builder()
        .config("[sync]\nbandwidth = \"1M\"")
        .start();
    prepared(&daemon, None);
    daemon.cli(&["sync", "on", "Trip"]).ok();
    let first = sent_at_least(&daemon, 1);
    let bad = daemon.cli(&["limit", "8Q"]).fails_with(1);
    assert!(
        bad.stderr.contains("invalid bandwidth \"8Q\""),
        "{}",
        bad.stderr
    );
    let limited = sent_at_least(&daemon, first.1 + 3 * MIB);
    let lifted = daemon.json(&["limit", "off", "--for", "1h"]);
    let off_at = Instant::now();
    let sent_before = bytes_sent(&sync_status(&daemon));
    assert_eq!(lifted["bandwidth"]["limit"], "off", "{lifted}");
    assert_eq!(lifted["bandwidth"]["source"], "override");
    assert_eq!(
        lifted["bandwidth"]["next_limit"], "1M",
        "back to the config after 1h"
    );
    let limited_secs = limited.0.duration_since(first.0).as_secs_f64();
    let limited_rate = rate_between(first, limited);
    // Within a second, more moved than two seconds at the old rate.
    let more = wait_until(Duration::from_secs(1), "bytes to move faster", || {
        let sent = bytes_sent(&sync_status(&daemon));
        if sent >= sent_before + 2 * MIB {
            Ok(sent - sent_before)
        } else {
            Err(sent)
        }
    });
    let end = drained(&daemon, Duration::from_secs(20));
    let rest = TOTAL - sent_before;
    let rest_secs = end.duration_since(off_at).as_secs_f64();
    eprintln!(
        "1M: {:.2} MiB in {limited_secs:.2} s ({limited_rate:.2} MiB/s); \
         off: {:.2} MiB more within 1 s, the other {:.2} MiB in {rest_secs:.2} s",
        (limited.1 - first.1) as f64 / MIB as f64,
        more as f64 / MIB as f64,
        rest as f64 / MIB as f64,
    );
    assert!(limited_rate < 1.5, "1M let {limited_rate:.2} MiB/s through");
    // At 1 MiB/s the rest would take over half a minute.
    assert!(rest_secs < 20.0);
}

#[test]
fn a_timetable_switch_changes_the_rate() {
    // 2026-12-07 is a Monday: 1M until 08:00, then no limit.
    let daemon = Daemon::builder()
        .env("SYNCROLL_TEST_CLOCK_START", "2026-12-07T07:59:35")
        .config("[sync]\nbandwidth = \"Mon-Fri 00:00,1M 08:00,off\"")
        .start();
    prepared(&daemon, None);
    let before = sync_status(&daemon)["bandwidth"].clone();
    assert_eq!(before["limit"], "1M", "{before}");
    assert_eq!(before["source"], "timetable");
    assert_eq!(before["next_limit"], "off");
    daemon.cli(&["sync", "on", "Trip"]).ok();
    let first = sent_at_least(&daemon, 1);
    // The rate is measured up to the last look that still saw 1M: a look
    // that sees "off" may come a while after 08:00 on a busy machine, and
    // what was sent unlimited meanwhile is not the limit's doing.
    let mut last_limited = first;
    let switched = wait_until(Duration::from_secs(40), "08:00", || {
        let sync = sync_status(&daemon);
        if sync["bandwidth"]["limit"] == "off" {
            Ok((Instant::now(), bytes_sent(&sync)))
        } else {
            last_limited = (Instant::now(), bytes_sent(&sync));
            Err(sync["bandwidth"].clone())
        }
    });
    let switch_at = switched.0;
    let limited_secs = last_limited.0.duration_since(first.0).as_secs_f64();
    let limited_rate = rate_between(first, last_limited);
    let end = drained(&daemon, Duration::from_secs(20));
    let rest_secs = end.duration_since(switch_at).as_secs_f64();
    eprintln!(
        "before 08:00: {:.2} MiB in {limited_secs:.2} s ({limited_rate:.2} MiB/s); \
         after: the rest in {rest_secs:.2} s",
        (last_limited.1 - first.1) as f64 / MIB as f64
    );
    assert!(limited_secs >= 3.0, "the sync started too close to 08:00");
    assert!(
        (0.6..=1.5).contains(&limited_rate),
        "1M let {limited_rate:.2} MiB/s through"
    );
    // At the last look before 08:00 most of it was still to go.
    assert!(last_limited.1 < TOTAL - 10 * MIB, "{last_limited:?}");
    assert!(rest_secs < 20.0);
}

#[test]
fn a_live_limit_lapses_back_to_the_config() {
    let daemon = Daemon::builder()
        .config("[sync]\nbandwidth = \"10M:1M\"")
        .start();
    let set = daemon.json(&["limit", "512k", "--for", "2s"]);
    assert_eq!(set["bandwidth"]["limit"], "512k", "{set}");
    assert_eq!(set["bandwidth"]["source"], "override");
    assert_eq!(set["bandwidth"]["next_limit"], "10M:1M");
    let lapsed = wait_until(Duration::from_secs(20), "the live limit to lapse", || {
        let bandwidth = sync_status(&daemon)["bandwidth"].clone();
        match bandwidth["source"] == "config" {
            true => Ok(bandwidth),
            false => Err(bandwidth),
        }
    });
    assert_eq!(lapsed["limit"], "10M:1M");
    assert_eq!(lapsed["up_bytes_per_second"], 10 * MIB);
    assert_eq!(lapsed["down_bytes_per_second"], MIB);
    assert!(lapsed["next_change_ms"].is_null(), "{lapsed}");
    let text = daemon.cli(&["status"]).ok().stdout;
    assert!(text.contains("bandwidth  10M:1M (config)"), "{text}");
}
