//! A poll's hand-off to the sync workers: the keys it decided become
//! download jobs, and the poll waits for them, so its outcome (`status`,
//! `collections show`) says what came home.
//!
//! The poll stops waiting for a job that cannot finish soon: one waiting
//! for a retry (counted as failed, with its reason), or every job once
//! sync is paused (counted as left for later). Those jobs stay queued and
//! run when their time comes; the poll does not hold up the next ones.

use std::time::Duration;

use syncroll_core::job::{JobId, JobOp, JobState};
use syncroll_core::store::{DownloadQueued, now_ms};
use tokio_util::sync::CancellationToken;

use super::Inner;
use super::land::Landed;
use super::poll::{Album, Decided, PollError, PollReport, paused};

/// How long the poll waits between reads of its jobs when none ends
/// (a job queued behind others, a pause set meanwhile).
const LOOK_AGAIN: Duration = Duration::from_secs(2);

pub(super) async fn queue_and_wait(
    inner: &Inner,
    album: &Album,
    decided: Vec<Decided>,
    report: &mut PollReport,
    cancel: &CancellationToken,
) -> Result<(), PollError> {
    if decided.is_empty() {
        return Ok(());
    }
    let keys: Vec<(String, u64)> = decided
        .iter()
        .map(|d| (d.meta.key.clone(), d.meta.size))
        .collect();
    let collection = album.collection.id;
    let queued = inner
        .store
        .queue_downloads(collection, album.remote_id, &keys)
        .await?;
    let mut waiting: Vec<JobId> = Vec::new();
    for outcome in queued {
        match outcome {
            // A download an earlier poll queued (or one requeued after a
            // restart) holds the key: this poll waits for it as for its
            // own; an upload holding it is for a later poll.
            DownloadQueued::Queued(id) | DownloadQueued::Busy(id) => waiting.push(id),
            DownloadQueued::Blocked(_) => report.blocked += 1,
        }
    }
    inner.sync.jobs_queued();
    while !waiting.is_empty() {
        let ended = inner.sync.job_ended();
        tokio::pin!(ended);
        ended.as_mut().enable();
        let mut still = Vec::new();
        let now = now_ms();
        for job in inner.store.jobs_by_id(&waiting).await? {
            if job.op != JobOp::Download {
                report.later += 1;
                continue;
            }
            match &job.state {
                JobState::Done { .. } => count(report, job.transfer.as_deref()),
                JobState::Failed { reason, .. } => report.fail(reason),
                JobState::Cancelled { .. } | JobState::Dismissed { .. } => report.cancelled += 1,
                JobState::Queued { not_before } if *not_before > now => {
                    // Waiting for a retry (or for its root or remote to
                    // come back): it runs then, without this poll.
                    if job.last_error.is_empty() {
                        report.later += 1;
                    } else {
                        report.fail(&format!("{}; tried again later", job.last_error));
                    }
                }
                _ => still.push(job.id),
            }
        }
        waiting = still;
        if waiting.is_empty() {
            break;
        }
        if paused(inner, collection).await? {
            // They run after the resume; this poll is over.
            report.later += waiting.len() as u64;
            break;
        }
        tokio::select! {
            () = cancel.cancelled() => return Err(PollError::Cancelled),
            () = &mut ended => {}
            () = tokio::time::sleep(LOOK_AGAIN) => {}
        }
    }
    Ok(())
}

/// Counts a finished download job by what it brought home.
fn count(report: &mut PollReport, landed: Option<&str>) {
    match landed.and_then(Landed::parse) {
        Some(Landed::New) => report.downloaded += 1,
        Some(Landed::Version) => report.versions += 1,
        Some(Landed::EditCopy) => report.edit_copies += 1,
        Some(Landed::Conflict) => report.conflicts += 1,
        Some(Landed::Agreed) => report.agreed += 1,
        Some(Landed::Verified) => report.verified += 1,
        // Decided again at its turn, nothing was left to do.
        None => {}
    }
}
