//! The control socket under load: many clients asking for `status` and
//! many open `watch` streams while a sync runs. Each client dials the
//! socket with `syncroll_proto::connect`, as the CLI does. Latency is
//! printed, never asserted.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use syncroll_proto::v1::daemon_service_client::DaemonServiceClient;
use syncroll_proto::v1::sync_service_client::SyncServiceClient;
use syncroll_proto::v1::{GetStatusRequest, WatchSyncRequest};
use syncroll_testkit::{Daemon, s, write_photos};

use crate::objects;

const STATUS_CLIENTS: usize = 32;
const WATCH_STREAMS: usize = 16;
/// How long the load lasts, as issue 10 asks.
const LOAD: Duration = Duration::from_secs(30);
const PHOTOS: usize = 3000;

/// What one status client saw.
#[derive(Debug, Default)]
struct StatusRun {
    latencies: Vec<Duration>,
    errors: Vec<String>,
}

/// What one watch stream saw.
#[derive(Debug, Default)]
struct WatchRun {
    updates: u64,
    /// When, into the load, an update first said the daemon was idle.
    idle_after: Option<Duration>,
    errors: Vec<String>,
}

async fn status_client(socket: PathBuf, until: Instant) -> StatusRun {
    let mut run = StatusRun::default();
    let channel = match syncroll_proto::connect(&socket).await {
        Ok(channel) => channel,
        Err(e) => {
            run.errors.push(format!("connect: {e}"));
            return run;
        }
    };
    let mut client = DaemonServiceClient::new(channel);
    while Instant::now() < until {
        let started = Instant::now();
        match client.get_status(GetStatusRequest {}).await {
            Ok(_) => run.latencies.push(started.elapsed()),
            Err(e) => run.errors.push(format!("GetStatus: {e}")),
        }
    }
    run
}

async fn watch_stream(socket: PathBuf, started: Instant, until: Instant) -> WatchRun {
    let mut run = WatchRun::default();
    let channel = match syncroll_proto::connect(&socket).await {
        Ok(channel) => channel,
        Err(e) => {
            run.errors.push(format!("connect: {e}"));
            return run;
        }
    };
    let mut client = SyncServiceClient::new(channel);
    // The interval `syncroll watch` asks for.
    let request = WatchSyncRequest { interval_ms: 250 };
    let mut stream = match client.watch_sync(request).await {
        Ok(response) => response.into_inner(),
        Err(e) => {
            run.errors.push(format!("WatchSync: {e}"));
            return run;
        }
    };
    loop {
        let next = tokio::time::timeout_at(until.into(), stream.message()).await;
        match next {
            // The load is over with the stream still open.
            Err(_) => return run,
            Ok(Ok(Some(status))) => {
                run.updates += 1;
                if status.idle && run.idle_after.is_none() {
                    run.idle_after = Some(started.elapsed());
                }
            }
            Ok(Ok(None)) => {
                run.errors
                    .push("the stream ended during the load".to_owned());
                return run;
            }
            Ok(Err(e)) => {
                run.errors.push(format!("WatchSync stream: {e}"));
                return run;
            }
        }
    }
}

/// One client's `status` calls, one after another, for the latency of a
/// call that waits for no other client (the sync still runs).
const BASELINE_CALLS: usize = 20;

/// Runs the status clients and watch streams for [`LOAD`], all at once,
/// after [`BASELINE_CALLS`] calls from one client alone.
fn load(socket: &Path) -> (StatusRun, Vec<StatusRun>, Vec<WatchRun>) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime for the clients");
    runtime.block_on(async {
        let baseline = status_calls(socket.to_path_buf(), BASELINE_CALLS).await;
        let started = Instant::now();
        let until = started + LOAD;
        let watches: Vec<_> = (0..WATCH_STREAMS)
            .map(|_| tokio::spawn(watch_stream(socket.to_path_buf(), started, until)))
            .collect();
        let statuses: Vec<_> = (0..STATUS_CLIENTS)
            .map(|_| tokio::spawn(status_client(socket.to_path_buf(), until)))
            .collect();
        let mut status_runs = Vec::new();
        for task in statuses {
            status_runs.push(task.await.expect("status client task"));
        }
        let mut watch_runs = Vec::new();
        for task in watches {
            watch_runs.push(task.await.expect("watch task"));
        }
        (baseline, status_runs, watch_runs)
    })
}

async fn status_calls(socket: PathBuf, calls: usize) -> StatusRun {
    let mut run = StatusRun::default();
    let mut client = match syncroll_proto::connect(&socket).await {
        Ok(channel) => DaemonServiceClient::new(channel),
        Err(e) => {
            run.errors.push(format!("connect: {e}"));
            return run;
        }
    };
    for _ in 0..calls {
        let started = Instant::now();
        match client.get_status(GetStatusRequest {}).await {
            Ok(_) => run.latencies.push(started.elapsed()),
            Err(e) => run.errors.push(format!("GetStatus: {e}")),
        }
    }
    run
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

#[test]
fn status_and_watch_stay_served_under_load_during_a_sync() {
    let daemon = Daemon::start();
    let root = daemon.scratch("photos");
    write_photos(&root.join("trip"), "p", PHOTOS, 4096);
    let nas = daemon.scratch("nas");
    daemon
        .cli(&["remotes", "add", "nas", "--kind", "fs", "--path", s(&nas)])
        .ok();
    daemon.cli(&["roots", "add", s(&root)]).ok();
    daemon.json(&["rescan"]);
    crate::create_trip(&daemon, &root, &["--remote", "nas", "--sync"]);

    let (baseline, status_runs, watch_runs) = load(&daemon.socket);

    let errors: Vec<&String> = std::iter::once(&baseline)
        .chain(&status_runs)
        .flat_map(|r| &r.errors)
        .chain(watch_runs.iter().flat_map(|r| &r.errors))
        .collect();
    assert!(errors.is_empty(), "{} RPC errors: {errors:?}", errors.len());
    for (i, run) in watch_runs.iter().enumerate() {
        assert!(
            run.updates >= 2,
            "watch stream {i} delivered {} updates",
            run.updates
        );
    }
    let mut latencies: Vec<Duration> = status_runs
        .iter()
        .flat_map(|r| r.latencies.iter().copied())
        .collect();
    latencies.sort();
    assert!(!latencies.is_empty(), "no status call answered");
    let idle_after = watch_runs.iter().filter_map(|r| r.idle_after).min();
    let mut alone = baseline.latencies.clone();
    alone.sort();
    println!(
        "one client alone during the sync: {} status calls, p50 {:?}, max {:?}",
        alone.len(),
        percentile(&alone, 50),
        alone.last().unwrap()
    );
    println!(
        "load: {STATUS_CLIENTS} status clients, {WATCH_STREAMS} watch streams for {LOAD:?}: \
         {} status calls, p50 {:?}, p99 {:?}, max {:?}; {} watch updates; the sync {}",
        latencies.len(),
        percentile(&latencies, 50),
        percentile(&latencies, 99),
        latencies.last().unwrap(),
        watch_runs.iter().map(|r| r.updates).sum::<u64>(),
        match idle_after {
            Some(at) => format!("finished {at:?} into the load"),
            None => "was still running when the load ended".to_owned(),
        }
    );

    daemon.cli(&["wait", "--timeout", "600s"]).ok();
    let remote = objects(&nas.join("Trip"));
    assert_eq!(remote.len(), PHOTOS, "every photo on the remote");
    assert_eq!(remote, objects(&root), "the remote equals the photos");
}
