//! Sync commands: `sync on|off`, `pause`, `resume`, `cancel`, `jobs`,
//! `retry`, `wait` and `watch`.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use syncroll_proto::v1 as pb;

use super::{bytes, confirmed_on_terminal, count, needs_confirmation};
use crate::Client;
use crate::cli::SyncCommand;
use crate::output::{Failure, Output, shown};

pub async fn set(mut client: Client, command: SyncCommand, out: Output) -> Result<(), Failure> {
    let (name, enabled, keep_remote, yes) = match command {
        SyncCommand::On { name } => (name, true, false, false),
        SyncCommand::Off {
            name,
            keep_remote,
            yes,
        } => (name, false, keep_remote, yes),
    };
    let mut request = pb::SetSyncRequest {
        name: name.clone(),
        enabled,
        keep_remote,
        confirmed: yes,
    };
    let reply = match client.sync.set_sync(request.clone()).await {
        Ok(reply) => reply,
        Err(status) if needs_confirmation(&status) && confirmed_on_terminal(&status, out)? => {
            request.confirmed = true;
            client.sync.set_sync(request).await?
        }
        Err(status) => return Err(status.into()),
    };
    let reply = reply.into_inner();
    out.document(&reply, || {
        if enabled {
            format!(
                "sync on for {name:?}: {} uploads queued (follow with `syncroll watch`)",
                count(reply.uploads_queued)
            )
        } else if keep_remote {
            format!(
                "sync off for {name:?}; remote copies kept, {} jobs cancelled",
                reply.jobs_cancelled
            )
        } else {
            format!(
                "sync off for {name:?}: {} remote copies queued for deletion, {} jobs cancelled",
                count(reply.deletes_queued),
                reply.jobs_cancelled
            )
        }
    });
    Ok(())
}

pub async fn pause(
    mut client: Client,
    collection: Option<String>,
    duration: Option<Duration>,
    out: Output,
) -> Result<(), Failure> {
    let request = pb::PauseRequest {
        collection: collection.clone().unwrap_or_default(),
        for_seconds: duration.map_or(0, |d| d.as_secs().max(1)),
    };
    let reply = client.sync.pause(request).await?.into_inner();
    out.document(&reply, || {
        let what = collection.map_or("all sync".to_owned(), |c| format!("{c:?}"));
        let until = match duration {
            Some(d) => format!(" for {}", humantime::format_duration(d)),
            None => " until `syncroll resume`".to_owned(),
        };
        format!(
            "paused {what}{until}; {} transfers interrupted",
            reply.transfers_interrupted
        )
    });
    Ok(())
}

pub async fn limit(
    mut client: Client,
    limit: String,
    duration: Option<Duration>,
    out: Output,
) -> Result<(), Failure> {
    let request = pb::SetLimitRequest {
        limit,
        for_seconds: duration.map(|d| d.as_secs().max(1)),
    };
    let reply = client.sync.set_limit(request).await?.into_inner();
    out.document(&reply, || {
        let now = reply.bandwidth.clone().unwrap_or_default();
        format!("bandwidth {}", limit_text(&now))
    });
    Ok(())
}

/// The limit in force, where it comes from, and its next change: `4M
/// (timetable); off in 2h 5m`.
pub fn limit_text(b: &pb::BandwidthLimit) -> String {
    let mut text = format!("{} ({})", b.limit, b.source);
    if let (Some(at), Some(next)) = (b.next_change_ms, &b.next_limit) {
        let in_ms = (at - now_ms()).max(0) as u64;
        // Whole seconds: the next change is minutes or hours away.
        let mut secs = in_ms.div_ceil(1000);
        // Seconds matter only in the last minute.
        if secs >= 60 {
            secs = secs.div_ceil(60) * 60;
        }
        let secs = humantime::format_duration(Duration::from_secs(secs));
        text.push_str(&format!("; {next} in {secs}"));
    }
    text
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

pub async fn resume(
    mut client: Client,
    collection: Option<String>,
    out: Output,
) -> Result<(), Failure> {
    let request = pb::ResumeRequest {
        collection: collection.clone().unwrap_or_default(),
    };
    let reply = client.sync.resume(request).await?.into_inner();
    out.document(&reply, || match collection {
        Some(c) => format!("resumed {c:?}"),
        None => "resumed".to_owned(),
    });
    Ok(())
}

pub async fn cancel(
    mut client: Client,
    collection: Option<String>,
    job: Option<u64>,
    out: Output,
) -> Result<(), Failure> {
    let request = pb::CancelRequest {
        collection: collection.unwrap_or_default(),
        job_id: job.unwrap_or(0),
    };
    let reply = client.sync.cancel(request).await?.into_inner();
    out.document(&reply, || {
        format!("cancelled {} jobs", reply.jobs_cancelled)
    });
    Ok(())
}

pub async fn jobs(
    mut client: Client,
    state: Option<String>,
    collection: Option<String>,
    out: Output,
) -> Result<(), Failure> {
    let request = pb::ListJobsRequest {
        state: state.unwrap_or_default(),
        collection: collection.unwrap_or_default(),
    };
    let mut stream = client.sync.list_jobs(request).await?.into_inner();
    while let Some(job) = stream.message().await? {
        out.line(&job, || {
            let error = if job.error.is_empty() {
                String::new()
            } else {
                format!("  ({})", shown(&job.error))
            };
            // A skipped photo has no job, so no id.
            let id = if job.id == 0 {
                "-".to_owned()
            } else {
                job.id.to_string()
            };
            format!(
                "{id:>6}  {:<9}  {:<8}  {:>10}  {}  {}{error}",
                job.state,
                job.op,
                bytes(job.bytes_total),
                shown(&job.collection),
                shown(&job.key)
            )
        });
    }
    Ok(())
}

pub async fn retry(
    mut client: Client,
    id: Option<u64>,
    all: bool,
    out: Output,
) -> Result<(), Failure> {
    let request = pb::RetryJobsRequest {
        job_id: id.unwrap_or(0),
        all,
    };
    let reply = client.sync.retry_jobs(request).await?.into_inner();
    out.document(&reply, || {
        format!("{} jobs queued again", reply.jobs_retried)
    });
    Ok(())
}

/// `wait`: returns when the queue is drained.
pub async fn wait(client: Client, timeout: Option<Duration>, out: Output) -> Result<(), Failure> {
    let follow = follow(client, out, false, true);
    let last = match timeout {
        Some(limit) => tokio::time::timeout(limit, follow)
            .await
            .map_err(|_| Failure::Timeout(limit))??,
        None => follow.await?,
    };
    finish(&last, out, true)
}

/// `watch`: live bars; with `until_idle`, returns when the queue drains.
pub async fn watch(client: Client, until_idle: bool, out: Output) -> Result<(), Failure> {
    let last = follow(client, out, true, until_idle).await?;
    // Off a terminal the feed printed its lines, the idle one included.
    finish(&last, out, std::io::stderr().is_terminal())
}

/// Ends `wait` and `watch --until-idle`: `echo` prints the last state
/// (unless the feed already printed it as a line).
fn finish(last: &pb::SyncStatus, out: Output, echo: bool) -> Result<(), Failure> {
    if echo && !out.json {
        println!("{}", summary(last));
    }
    if last.failed > 0 {
        return Err(Failure::JobsFailed(last.failed));
    }
    if !last.holds.is_empty() {
        let holds = last.holds.iter().map(|h| (h.id, h.reason.clone()));
        return Err(Failure::DeletionsHeld(holds.collect()));
    }
    Ok(())
}

/// Follows the status feed; with `until_idle`, returns the first idle
/// status, otherwise runs until interrupted or the daemon goes away.
async fn follow(
    mut client: Client,
    out: Output,
    show: bool,
    until_idle: bool,
) -> Result<pb::SyncStatus, Failure> {
    let mut stream = client
        .sync
        .watch_sync(pb::WatchSyncRequest { interval_ms: 250 })
        .await?
        .into_inner();
    let mut bars = Bars::new(show && !out.json);
    while let Some(status) = stream.message().await? {
        if show && out.json {
            out.line(&status, String::new);
        }
        bars.update(&status);
        if status.idle && until_idle {
            bars.clear();
            return Ok(status);
        }
    }
    Err(Failure::Rpc(tonic::Status::unavailable(
        "the status feed ended",
    )))
}

/// One line about the queue.
/// What a collection's counts leave unsaid, after them: uploads left
/// because the remote changed (not failures), and for a `pull`
/// connection the photos it does not send (not behind: they never go).
/// Empty when there is neither.
pub fn unsent(direction: &str, photos: u64, synced: u64, jobs: &pb::JobCounts) -> String {
    let mut text = String::new();
    if jobs.left > 0 {
        text.push_str(&format!(
            "; {} not uploaded: the remote changed since the last sync (see `syncroll jobs --state left`)",
            count(jobs.left)
        ));
    }
    if direction == "pull" && photos > synced {
        text.push_str(&format!("; {} not sent: pull-only", count(photos - synced)));
    }
    text
}

pub fn summary(s: &pb::SyncStatus) -> String {
    let mut line = format!(
        "{}: {} queued, {} running, {} failed",
        s.state,
        count(s.queued),
        s.running,
        s.failed,
    );
    if s.skipped > 0 {
        line.push_str(&format!(", {} skipped", count(s.skipped)));
    }
    let held: u64 = s.holds.iter().map(|h| h.deletions).sum();
    if held > 0 {
        line.push_str(&format!(
            ", {} deletions held (see `syncroll holds`)",
            count(held)
        ));
    }
    if !s.blocked_reason.is_empty() {
        line.push_str(&format!("; waiting: {}", shown(&s.blocked_reason)));
    }
    line.push_str(&format!("; {} to send", bytes(s.bytes_pending)));
    if s.rate_bytes_per_second >= 1.0 {
        line.push_str(&format!(" at {}/s", bytes(s.rate_bytes_per_second as u64)));
    }
    if s.eta_seconds > 0 {
        line.push_str(&format!(
            ", about {} left",
            humantime::format_duration(Duration::from_secs(s.eta_seconds))
        ));
    }
    line
}

/// [`summary`] with the bandwidth limit, if there is one now or one to
/// come: `watch`'s line (`status` gives the limit a line of its own).
fn summary_with_limit(s: &pb::SyncStatus) -> String {
    let mut line = summary(s);
    if let Some(b) = limited(s) {
        line.push_str(&format!("; limit {}", limit_text(b)));
    }
    line
}

/// The bandwidth limit, if there is one now or one to come.
fn limited(s: &pb::SyncStatus) -> Option<&pb::BandwidthLimit> {
    s.bandwidth
        .as_ref()
        .filter(|b| b.limit != "off" || b.next_limit.is_some())
}

/// Progress bars: one for the whole queue, one per synced collection.
struct Bars {
    multi: Option<MultiProgress>,
    total: Option<ProgressBar>,
    collections: Vec<(String, ProgressBar)>,
    plain: bool,
    last_plain: Option<std::time::Instant>,
}

impl Bars {
    fn new(show: bool) -> Self {
        let terminal = std::io::stderr().is_terminal();
        let multi = (show && terminal)
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        let total = multi.as_ref().map(|m| {
            let bar = m.add(ProgressBar::new(0));
            bar.set_style(
                ProgressStyle::with_template(
                    "{msg:<24} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.set_message("all");
            bar
        });
        Self {
            multi,
            total,
            collections: Vec::new(),
            plain: show && !terminal,
            last_plain: None,
        }
    }

    fn update(&mut self, s: &pb::SyncStatus) {
        if self.plain {
            // Not a terminal: a line a second instead of bars.
            let due = self
                .last_plain
                .is_none_or(|t| t.elapsed() >= Duration::from_secs(1));
            if due || s.idle {
                println!("{}", summary_with_limit(s));
                self.last_plain = Some(std::time::Instant::now());
            }
            return;
        }
        let (Some(multi), Some(total)) = (&self.multi, &self.total) else {
            return;
        };
        let sent = s.bytes_sent;
        total.set_length(sent + s.bytes_pending);
        total.set_position(sent);
        let held: u64 = s.holds.iter().map(|h| h.deletions).sum();
        let mut state = s.state.clone();
        if held > 0 {
            state.push_str(&format!("; {held} deletions held"));
        }
        if let Some(b) = limited(s) {
            state.push_str(&format!("; limit {}", limit_text(b)));
        }
        total.set_message(format!("all ({state})"));
        for c in &s.collections {
            let bar = match self.collections.iter().find(|(name, _)| *name == c.name) {
                Some((_, bar)) => bar.clone(),
                None => {
                    let bar = multi.add(ProgressBar::new(0));
                    bar.set_style(
                        ProgressStyle::with_template("{msg:<24} [{bar:30}] {pos}/{len} photos")
                            .unwrap_or_else(|_| ProgressStyle::default_bar())
                            .progress_chars("=> "),
                    );
                    bar.set_message(shown(&c.name).into_owned());
                    self.collections.push((c.name.clone(), bar.clone()));
                    bar
                }
            };
            bar.set_length(c.photo_count);
            bar.set_position(c.synced_count);
        }
    }

    fn clear(&self) {
        if let Some(multi) = &self.multi {
            let _ = multi.clear();
        }
    }
}
