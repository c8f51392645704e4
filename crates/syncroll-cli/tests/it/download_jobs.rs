//! Downloads are jobs: a poll's keys are queued as `download` jobs that the
//! sync workers run like uploads. So `jobs` and `status`/`watch` show them
//! (with their bytes), `cancel` stops one mid-transfer and leaves no bytes
//! behind, a cancelled download is not fetched again until `retry`, and
//! `pause` holds polls and downloads until `resume`. On the in-process S3
//! server, which pauses the object's reply part way (`hold_replies_after`)
//! so the download is caught in flight without a sleep deciding when.

use std::fs;
use std::time::Duration;

use serde_json::Value;
use syncroll_testkit::{S3Server, wait_until, write_file, write_photos};

use crate::pull_harness::{Album, Kind, hidden_files, noise};

const BIG: usize = (12 << 20) + 321;
const HOLD_AFTER: u64 = 4 << 20;
const TIMEOUT: Duration = Duration::from_secs(120);
const REL: &str = "trip/big.jpg";

fn server(setup: &Album) -> &S3Server {
    match &setup.kind {
        Kind::S3(server) => server,
        Kind::WebDav(_) => unreachable!("these tests run on S3"),
    }
}

fn album() -> Album {
    let setup = Album::new(Kind::S3(S3Server::start()), "", |root| {
        write_photos(&root.join("trip"), "t", 2, 100);
    });
    // The connection's first poll may run at any moment; this one is ours.
    setup.poll(TIMEOUT);
    setup
}

/// The download jobs `jobs` lists, in `state` when given.
fn download_jobs(setup: &Album, state: Option<&str>) -> Vec<Value> {
    let mut args = vec!["--json", "jobs"];
    if let Some(state) = state {
        args.extend(["--state", state]);
    }
    setup
        .daemon
        .cli(&args)
        .ok()
        .json_lines()
        .into_iter()
        .filter(|j| j["op"] == "download")
        .collect()
}

#[test]
fn a_download_is_a_job_shown_in_flight_that_cancel_stops_and_retry_brings_back() {
    let setup = album();
    let big = noise(BIG, 3);
    write_file(&setup.album.join(REL), &big);
    server(&setup).hold_replies_after(HOLD_AFTER);
    let asked = setup.ask_poll();

    // In flight: `status` shows it as a download transfer with its bytes,
    // and `jobs` as a running download job.
    let transfer = wait_until(TIMEOUT, "the download in status", || {
        let status = setup.daemon.json(&["status"]);
        let transfers = status["sync"]["transfers"].as_array().cloned();
        transfers
            .unwrap_or_default()
            .into_iter()
            .find(|t| {
                t["op"] == "download"
                    && t["key"].as_str().is_some_and(|k| k.ends_with("big.jpg"))
                    && t["bytes_done"].as_u64().unwrap_or(0) > 0
            })
            .ok_or(status)
    });
    assert_eq!(transfer["bytes_total"], BIG as u64, "{transfer}");
    let running = download_jobs(&setup, Some("running"));
    assert_eq!(running.len(), 1, "{running:?}");
    let id = running[0]["id"].as_u64().unwrap();

    // Cancelled while the server holds the reply: the job is dismissed and
    // the bytes fetched so far are gone from the root.
    setup.daemon.cli(&["cancel", "--job", &id.to_string()]).ok();
    wait_until(TIMEOUT, "the download dismissed", || {
        let dismissed = download_jobs(&setup, Some("dismissed"));
        (dismissed.len() == 1).then_some(()).ok_or(dismissed)
    });
    let outcome = setup.wait_poll_since(asked, TIMEOUT);
    assert!(outcome.contains("1 downloads cancelled"), "{outcome}");
    server(&setup).pass_held();
    wait_until(TIMEOUT, "no partial left", || {
        let hidden = hidden_files(&setup.root);
        hidden.is_empty().then_some(()).ok_or(hidden)
    });
    assert!(!setup.root.join(REL).exists());

    // Not fetched again by the next poll: the user said no.
    let again = setup.poll(TIMEOUT);
    assert!(
        again.contains("1 not fetched again after a failed or cancelled download"),
        "{again}"
    );
    assert!(!setup.root.join(REL).exists());

    // Until `retry`: the same job runs again and the file arrives whole.
    setup.daemon.cli(&["retry", &id.to_string()]).ok();
    // The file is in place a moment before its job is recorded done.
    let done = wait_until(TIMEOUT, "the retried download done", || {
        let done = download_jobs(&setup, Some("done"));
        done.into_iter()
            .find(|j| j["id"] == id)
            .ok_or_else(|| download_jobs(&setup, None))
    });
    assert_eq!(done["transfer"], "new", "{done}");
    assert_eq!(fs::read(setup.root.join(REL)).ok(), Some(big));
    assert_eq!(hidden_files(&setup.root), Vec::<String>::new());
    let quiet = setup.poll(TIMEOUT);
    assert!(
        quiet.contains(" 0 downloaded") && !quiet.contains("not fetched"),
        "{quiet}"
    );
}

#[test]
fn pause_holds_polls_and_downloads_until_resume() {
    let setup = album();
    setup.daemon.cli(&["pause"]).ok();
    write_file(
        &setup.album.join("trip/phone.jpg"),
        b"\xff\xd8 from the phone",
    );
    let paused = setup.poll(TIMEOUT);
    assert!(paused.starts_with("paused:"), "{paused}");
    assert!(!setup.root.join("trip/phone.jpg").exists());
    assert!(download_jobs(&setup, None).is_empty());

    setup.daemon.cli(&["resume"]).ok();
    let outcome = setup.poll(TIMEOUT);
    assert!(outcome.contains("1 downloaded"), "{outcome}");
    assert_eq!(
        fs::read(setup.root.join("trip/phone.jpg")).ok(),
        Some(b"\xff\xd8 from the phone".to_vec())
    );
    let done = download_jobs(&setup, Some("done"));
    assert_eq!(done.len(), 1, "{done:?}");
    assert_eq!(done[0]["transfer"], "new");
}
