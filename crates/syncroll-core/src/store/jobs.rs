//! The durable job queue and the ledger. Job state changes go through
//! [`JobState::next`] only, applied by `transition` in one statement guarded
//! by the state they came from.

use sqlx::{Sqlite, Transaction};

use super::Store;
use crate::error::{DbContext, Error, Result};
use crate::events::EventKind;
use crate::job::{Job, JobEvent, JobId, JobOp, JobState, state::TimestampMs};
use crate::types::{CollectionId, ContentHash, PhotoId, RemoteId};

/// What landed on a remote, for the ledger.
#[derive(Debug, Clone)]
pub struct Landed {
    pub hash: ContentHash,
    pub size: u64,
    pub etag: Option<String>,
    /// `put` or `copy`.
    pub transfer: &'static str,
    /// The times that, with the hash, size and ETag above, make the base
    /// both sides agree on now; `None` when the remote did not say when
    /// the object was written (the ledger then keeps no remote side).
    pub base: Option<LandedBase>,
}

/// The times of the base an upload leaves (see [`Landed::base`]): recorded
/// on the key's ledger row, so a connection's next poll knows the object
/// as syncroll's own upload without fetching it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LandedBase {
    /// The local file's mtime when its bytes were read.
    pub local_mtime_ns: i64,
    /// The object's modification time, as the remote reported it.
    pub remote_modified_ms: i64,
}

/// An unfinished resumable upload that no job will continue; see
/// [`Store::abandoned_uploads`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbandonedUpload {
    pub job: JobId,
    pub remote: RemoteId,
    pub key: String,
    /// What the remote saved, opaque here.
    pub state: String,
}

/// Job counts of one collection, by state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobCounts {
    pub queued: u64,
    pub running: u64,
    pub done: u64,
    pub failed: u64,
    pub cancelled: u64,
    /// Deletions the brake holds for a decision.
    pub held: u64,
    /// Uploads left because the remote changed since the last sync.
    pub left: u64,
    /// Bytes of queued and running uploads.
    pub bytes_pending: u64,
}

/// The current time in milliseconds.
pub fn now_ms() -> TimestampMs {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The columns of a [`JobRow`], of `jobs j` and `collections c`.
pub(crate) const JOB_COLUMNS: &str = "
    j.id, j.collection_id, c.name, j.photo_id, j.remote_id, j.op, j.key, j.blake3, j.state,
    j.attempts, j.next_attempt_at, j.bytes_done, j.bytes_total, j.transfer, j.last_error,
    j.created_at, j.updated_at, j.multipart_state, j.hold_id";

/// The tables of [`JOB_COLUMNS`].
pub(crate) const JOBS_FROM: &str = "FROM jobs j LEFT JOIN collections c ON c.id = j.collection_id";

#[derive(sqlx::FromRow)]
pub(crate) struct JobRow {
    pub(super) id: i64,
    pub(super) collection_id: Option<i64>,
    name: Option<String>,
    photo_id: Option<i64>,
    remote_id: i64,
    op: String,
    key: String,
    blake3: Option<Vec<u8>>,
    state: StateColumn,
    attempts: i64,
    pub(super) next_attempt_at: i64,
    bytes_done: i64,
    bytes_total: i64,
    transfer: Option<String>,
    last_error: String,
    created_at: i64,
    updated_at: i64,
    multipart_state: Option<String>,
    hold_id: Option<i64>,
}

/// The `state` column: a [`JobState`]'s name. Reading a name this build
/// does not know (a newer schema, a damaged row) fails, rather than pass
/// the job off as some other state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(rename_all = "lowercase")]
pub(crate) enum StateColumn {
    Queued,
    Running,
    Cancelling,
    Held,
    Done,
    Failed,
    Cancelled,
    Dismissed,
    Left,
}

impl StateColumn {
    /// The name as stored (and as [`JobState::name`] gives it).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Cancelling => "cancelling",
            Self::Held => "held",
            Self::Done => "done",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::Dismissed => "dismissed",
            Self::Left => "left",
        }
    }
}

/// The columns a job's state is made of.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct StateRow {
    pub(crate) state: StateColumn,
    pub(crate) next_attempt_at: i64,
    pub(crate) updated_at: i64,
    pub(crate) last_error: String,
    pub(crate) hold_id: Option<i64>,
}

impl StateRow {
    pub(crate) fn state(self) -> JobState {
        let Self {
            state,
            next_attempt_at,
            updated_at,
            last_error,
            hold_id,
        } = self;
        match state {
            StateColumn::Queued => JobState::Queued {
                not_before: next_attempt_at,
            },
            StateColumn::Running => JobState::Running { since: updated_at },
            StateColumn::Cancelling => JobState::Cancelling { since: updated_at },
            StateColumn::Held => JobState::Held {
                hold: hold_id.unwrap_or(0),
            },
            StateColumn::Done => JobState::Done { at: updated_at },
            StateColumn::Failed => JobState::Failed {
                at: updated_at,
                reason: last_error,
            },
            StateColumn::Cancelled => JobState::Cancelled {
                at: updated_at,
                reason: last_error,
            },
            StateColumn::Dismissed => JobState::Dismissed {
                at: updated_at,
                reason: last_error,
            },
            StateColumn::Left => JobState::Left {
                at: updated_at,
                reason: last_error,
            },
        }
    }
}

pub(crate) fn job_from_row(row: JobRow) -> Job {
    let JobRow {
        id,
        collection_id,
        name: collection_name,
        photo_id,
        remote_id,
        op,
        key,
        blake3: hash,
        state,
        attempts,
        next_attempt_at,
        bytes_done,
        bytes_total,
        transfer,
        last_error,
        created_at,
        updated_at,
        multipart_state,
        hold_id,
    } = row;
    Job {
        id: JobId(id),
        collection_id: collection_id.map(CollectionId),
        collection_name,
        photo_id: photo_id.map(PhotoId),
        remote_id: RemoteId(remote_id),
        op: JobOp::parse(&op).unwrap_or(JobOp::Upload),
        key,
        hash: hash
            .and_then(|h| <[u8; 32]>::try_from(h.as_slice()).ok())
            .map(ContentHash),
        state: StateRow {
            state,
            next_attempt_at,
            updated_at,
            last_error: last_error.clone(),
            hold_id,
        }
        .state(),
        last_error,
        attempts: attempts as u32,
        bytes_done: bytes_done as u64,
        bytes_total: bytes_total as u64,
        transfer,
        created_at_ms: created_at,
        updated_at_ms: updated_at,
        upload_state: multipart_state,
    }
}

/// Applies `event` to job `id` inside `tx`; fails if the job moved meanwhile.
pub(crate) async fn transition(
    tx: &mut Transaction<'_, Sqlite>,
    id: JobId,
    event: JobEvent,
    now: TimestampMs,
) -> Result<JobState> {
    transition_from(tx, id, &[], event, now).await
}

/// [`transition`], but only from the states named in `expect` (when any):
/// cancelling "a queued job" must not cancel one a worker just claimed.
pub(crate) async fn transition_from(
    tx: &mut Transaction<'_, Sqlite>,
    id: JobId,
    expect: &[&str],
    event: JobEvent,
    now: TimestampMs,
) -> Result<JobState> {
    let row: Option<StateRow> = sqlx::query_as(
        "SELECT state, next_attempt_at, updated_at, last_error, hold_id FROM jobs WHERE id = ?",
    )
    .bind(id.0)
    .fetch_optional(&mut **tx)
    .await
    .db("reading a job")?;
    let from = row.ok_or(Error::JobNotFound(id.0))?.state();
    if !expect.is_empty() && !expect.contains(&from.name()) {
        return Err(Error::JobConflict(id.0));
    }
    let counts_attempt = matches!(
        event,
        JobEvent::TransientFailure { .. } | JobEvent::PermanentFailure { .. }
    );
    let resets_attempts = matches!(event, JobEvent::Retried);
    let error_text = match &event {
        JobEvent::TransientFailure { reason, .. } | JobEvent::Deferred { reason, .. } => {
            Some(reason.clone())
        }
        _ => None,
    };
    let to = from.next(event, now)?;
    let (not_before, reason) = match &to {
        JobState::Queued { not_before } => (*not_before, error_text.unwrap_or_default()),
        JobState::Failed { reason, .. }
        | JobState::Cancelled { reason, .. }
        | JobState::Dismissed { reason, .. }
        | JobState::Left { reason, .. } => (0, reason.clone()),
        _ => (0, String::new()),
    };
    let done = sqlx::query(
        "UPDATE jobs SET state = ?1, next_attempt_at = ?2, last_error = ?3, updated_at = ?4,
             attempts = CASE WHEN ?5 THEN 0 ELSE attempts + ?6 END
         WHERE id = ?7 AND state = ?8",
    )
    .bind(to.name())
    .bind(not_before)
    .bind(reason)
    .bind(now)
    .bind(resets_attempts)
    .bind(i64::from(counts_attempt))
    .bind(id.0)
    .bind(from.name())
    .execute(&mut **tx)
    .await
    .db("moving a job")?;
    if done.rows_affected() != 1 {
        return Err(Error::JobConflict(id.0));
    }
    if matches!(to, JobState::Failed { .. }) {
        append_failure(tx, id).await?;
    }
    if from.is_running() && !to.is_running() {
        // Groups planning left alone while this job ran are due now.
        sqlx::query("UPDATE plan_queue SET after_job = NULL WHERE after_job = ?")
            .bind(id.0)
            .execute(&mut **tx)
            .await
            .db("releasing plans that waited for a job")?;
    }
    Ok(to)
}

/// Tells the event feed that job `id` failed for good, in the
/// transaction that failed it.
async fn append_failure(tx: &mut Transaction<'_, Sqlite>, id: JobId) -> Result<()> {
    let (collection, op, key, error, attempts): (Option<String>, String, String, String, i64) =
        sqlx::query_as(
            "SELECT c.name, j.op, j.key, j.last_error, j.attempts
             FROM jobs j LEFT JOIN collections c ON c.id = j.collection_id WHERE j.id = ?",
        )
        .bind(id.0)
        .fetch_one(&mut **tx)
        .await
        .db("reading a failed job")?;
    let kind = EventKind::JobFailed {
        job_id: id.0,
        collection,
        op,
        key,
        error,
        attempts: attempts as u32,
    };
    super::events::append(tx, &kind).await.map(drop)
}

/// Which jobs [`transition_all`] moves: `?1` in `sql` is bound to `arg`.
pub(crate) struct JobsWhere<'a> {
    pub sql: &'a str,
    pub arg: i64,
}

/// Applies `event` to every job in the state of `from` that `which`
/// selects, in one statement guarded by that state: the batch form of
/// [`transition`], for events whose outcome does not depend on the row
/// (checked once with [`JobState::next`]). A reason the new state carries
/// replaces the row's; otherwise the row keeps its own.
pub(crate) async fn transition_all(
    tx: &mut Transaction<'_, Sqlite>,
    from: &JobState,
    event: JobEvent,
    which: JobsWhere<'_>,
    now: TimestampMs,
) -> Result<u64> {
    let carries_reason = matches!(
        event,
        JobEvent::Cancelled { .. } | JobEvent::Dismissed { .. }
    );
    let to = from.next(event, now)?;
    let (not_before, reason) = match &to {
        JobState::Queued { not_before } => (*not_before, Some(String::new())),
        JobState::Cancelled { reason, .. } | JobState::Dismissed { reason, .. } => {
            (0, carries_reason.then(|| reason.clone()))
        }
        _ => (0, None),
    };
    let sql = format!(
        "UPDATE jobs SET state = ?2, next_attempt_at = ?3, last_error = COALESCE(?4, last_error),
             updated_at = ?5
         WHERE +state = ?6 AND id IN (SELECT j.id FROM jobs j WHERE {})",
        which.sql
    );
    let moved = sqlx::query(&sql)
        .bind(which.arg)
        .bind(to.name())
        .bind(not_before)
        .bind(reason)
        .bind(now)
        .bind(from.name())
        .execute(&mut **tx)
        .await
        .db("moving jobs")?;
    Ok(moved.rows_affected())
}

/// Records in the ledger that `landed` is under the job's key.
async fn ledger_upsert(
    tx: &mut Transaction<'_, Sqlite>,
    job: &Job,
    landed: &Landed,
    now: TimestampMs,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO remote_objects (remote_id, key, blake3, size, etag, collection_id, uploaded_at, rel_path)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, (SELECT rel_path FROM jobs WHERE id = ?8))
         ON CONFLICT (remote_id, key) DO UPDATE SET blake3 = ?3, size = ?4, etag = ?5,
             collection_id = ?6, uploaded_at = ?7, rel_path = excluded.rel_path",
    )
    .bind(job.remote_id.0)
    .bind(&job.key)
    .bind(&landed.hash.0[..])
    .bind(landed.size as i64)
    .bind(&landed.etag)
    .bind(job.collection_id.map(|c| c.0))
    .bind(now / 1000)
    .bind(job.id.0)
    .execute(&mut **tx)
    .await
    .db("recording an upload in the ledger")?;
    Ok(())
}

/// What [`Store::requeue_interrupted_jobs`] found left running by a crash.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Interrupted {
    /// Jobs queued again.
    pub requeued: u64,
    /// Jobs cancelled: a cancel or `sync off` was stopping them.
    pub cancelled: u64,
    /// The remote and key of every upload among them, whose put may have
    /// left a temporary that a cancelled job would never replace.
    pub uploads: Vec<(RemoteId, String)>,
}

impl Store {
    /// Applies one event to a job.
    pub async fn apply_job_event(&self, id: JobId, event: JobEvent) -> Result<JobState> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .db("starting a transaction")?;
        let state = transition(&mut tx, id, event, now_ms()).await?;
        tx.commit().await.db("committing a job change")?;
        if matches!(state, JobState::Failed { .. }) {
            self.announce_events();
        }
        Ok(state)
    }

    /// Jobs found running at start-up were cut off by a crash: back to the
    /// queue, no attempt counted, unless a cancel was on its way to them
    /// ([`crate::job::after_crash`]); a job the user cancelled ends
    /// dismissed.
    pub async fn requeue_interrupted_jobs(&self) -> Result<Interrupted> {
        let rows: Vec<(i64, String, i64, String, bool, Option<bool>)> = sqlx::query_as(
            "SELECT j.id, j.op, j.remote_id, j.key, j.state = 'cancelling', c.sync_enabled
             FROM jobs j LEFT JOIN collections c ON c.id = j.collection_id
             WHERE j.state IN ('running', 'cancelling')",
        )
        .fetch_all(&self.pool)
        .await
        .db("finding interrupted jobs")?;
        let mut found = Interrupted::default();
        for (id, op, remote, key, cancel_requested, sync_enabled) in rows {
            let op = JobOp::parse(&op).unwrap_or(JobOp::Upload);
            if op == JobOp::Upload {
                found.uploads.push((RemoteId(remote), key));
            }
            // A `cancelling` job the user cancelled ends `dismissed`, as the
            // worker would have left it (see `JobState::next`).
            match crate::job::after_crash(op, cancel_requested, sync_enabled) {
                event @ JobEvent::Cancelled { .. } => {
                    self.apply_job_event(JobId(id), event).await?;
                    found.cancelled += 1;
                }
                event => {
                    self.apply_job_event(JobId(id), event).await?;
                    found.requeued += 1;
                }
            }
        }
        Ok(found)
    }

    /// The job with this id.
    pub async fn job(&self, id: JobId) -> Result<Job> {
        let row: Option<JobRow> =
            sqlx::query_as(&format!("SELECT {JOB_COLUMNS} {JOBS_FROM} WHERE j.id = ?"))
                .bind(id.0)
                .fetch_optional(&self.pool)
                .await
                .db("reading a job")?;
        row.map(job_from_row).ok_or(Error::JobNotFound(id.0))
    }

    /// A page of jobs after `after_id`, optionally in one state and one
    /// collection, oldest first. `running` takes in `cancelling` jobs and
    /// `cancelled` the dismissed ones: the states a user asks for by those
    /// names.
    pub async fn jobs_page(
        &self,
        state: Option<&str>,
        collection: Option<CollectionId>,
        after_id: i64,
        limit: u32,
    ) -> Result<Vec<Job>> {
        let rows: Vec<JobRow> = sqlx::query_as(&format!(
            "SELECT {JOB_COLUMNS} {JOBS_FROM} WHERE j.id > ?1
               AND (?2 IS NULL OR j.state = ?2 OR (?2 = 'running' AND j.state = 'cancelling')
                    OR (?2 = 'cancelled' AND j.state = 'dismissed'))
               AND (?3 IS NULL OR j.collection_id = ?3)
             ORDER BY j.id LIMIT ?4"
        ))
        .bind(after_id)
        .bind(state)
        .bind(collection.map(|c| c.0))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .db("listing jobs")?;
        Ok(rows.into_iter().map(job_from_row).collect())
    }

    /// Records how far a running transfer got.
    pub async fn set_job_progress(&self, id: JobId, bytes_done: u64) -> Result<()> {
        sqlx::query(
            "UPDATE jobs SET bytes_done = ? WHERE id = ? AND state IN ('running', 'cancelling')",
        )
        .bind(bytes_done as i64)
        .bind(id.0)
        .execute(&self.pool)
        .await
        .db("recording progress")?;
        Ok(())
    }

    /// Bytes that landed but not as wanted (the file changed during the
    /// upload): the ledger still learns what is on the remote under the key,
    /// so it stays ours to replace or delete.
    pub async fn record_landed(&self, job: &Job, landed: &Landed) -> Result<()> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .db("starting a transaction")?;
        ledger_upsert(&mut tx, job, landed, now_ms()).await?;
        // What landed is not what was planned: plan the key's group again.
        sqlx::query(
            "INSERT OR IGNORE INTO plan_queue (collection_id, rel_path)
             SELECT collection_id, rel_path FROM jobs
             WHERE id = ? AND collection_id IS NOT NULL AND rel_path IS NOT NULL",
        )
        .bind(job.id.0)
        .execute(&mut *tx)
        .await
        .db("queueing a plan")?;
        tx.commit().await.db("committing a ledger entry")
    }

    /// Whether the ledger holds `key` on `remote` (a delete's precondition).
    pub async fn ledger_has(&self, remote: RemoteId, key: &str) -> Result<bool> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM remote_objects WHERE remote_id = ? AND key = ?",
        )
        .bind(remote.0)
        .bind(key)
        .fetch_one(&self.pool)
        .await
        .db("reading the ledger")?;
        Ok(n > 0)
    }

    /// Forgets a ledger source that turned out to be gone from the remote.
    pub async fn forget_ledger_key(&self, remote: RemoteId, key: &str) -> Result<()> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .db("starting a transaction")?;
        // The key's collection wants it back, uploaded anew.
        sqlx::query(
            "INSERT OR IGNORE INTO plan_queue (collection_id, rel_path)
             SELECT collection_id, rel_path FROM remote_objects
             WHERE remote_id = ? AND key = ? AND collection_id IS NOT NULL AND rel_path IS NOT NULL",
        )
        .bind(remote.0)
        .bind(key)
        .execute(&mut *tx)
        .await
        .db("queueing a plan")?;
        sqlx::query("DELETE FROM remote_objects WHERE remote_id = ? AND key = ?")
            .bind(remote.0)
            .bind(key)
            .execute(&mut *tx)
            .await
            .db("removing a ledger entry")?;
        tx.commit().await.db("committing a ledger change")
    }

    /// Cancels every waiting (queued or held) job of a collection (or all
    /// collections) at once; returns the running ones, which the scheduler
    /// must interrupt. `by_user`: the user asked (`cancel`), so the jobs
    /// are dismissed, not just cancelled (see [`JobState::Dismissed`]), and
    /// running ones are marked `cancelling` first.
    pub async fn cancel_live_jobs(
        &self,
        collection: Option<CollectionId>,
        reason: &str,
        by_user: bool,
    ) -> Result<(u64, Vec<JobId>)> {
        let rows: Vec<(i64, StateColumn)> = sqlx::query_as(
            "SELECT id, state FROM jobs WHERE state IN ('queued', 'held', 'running', 'cancelling')
               AND (?1 IS NULL OR collection_id = ?1)",
        )
        .bind(collection.map(|c| c.0))
        .fetch_all(&self.pool)
        .await
        .db("finding live jobs")?;
        let mut cancelled = 0;
        let mut running = Vec::new();
        for (id, state) in rows {
            let waiting = matches!(state, StateColumn::Queued | StateColumn::Held);
            if waiting && self.cancel_if_waiting(JobId(id), reason, by_user).await? {
                cancelled += 1;
                continue;
            }
            // Running, or claimed meanwhile: the scheduler interrupts it.
            if by_user {
                self.request_cancel(JobId(id)).await?;
            }
            running.push(JobId(id));
        }
        Ok((cancelled, running))
    }

    /// Marks a running job the user cancelled `cancelling`, for a worker
    /// that the interruption cannot reach yet because it is only about to
    /// start: it finds the request ([`Store::claim_overtaken`]) and cancels
    /// the job instead of running it. Nothing when it is no longer running.
    pub async fn request_cancel(&self, id: JobId) -> Result<()> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .db("starting a transaction")?;
        let event = JobEvent::CancelRequested;
        match transition_from(&mut tx, id, &["running"], event, now_ms()).await {
            Ok(_) => tx.commit().await.db("committing a cancel"),
            Err(Error::JobConflict(_) | Error::JobNotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Forgets done and cancelled jobs last changed before `cutoff`, so the
    /// queue does not grow by a row per transfer forever. Failed and
    /// dismissed jobs stay until retried: they are the user's to see, and a
    /// dismissed job keeps its work from being planned again. Returns how
    /// many went.
    pub async fn prune_finished_jobs(&self, cutoff: TimestampMs) -> Result<u64> {
        // Not while an unfinished upload still needs aborting on its remote.
        let done = sqlx::query(
            "DELETE FROM jobs WHERE state IN ('done', 'cancelled') AND updated_at < ?
                 AND multipart_state IS NULL",
        )
        .bind(cutoff)
        .execute(&self.pool)
        .await
        .db("pruning finished jobs")?;
        // Plans waiting for a job that is no longer running (its remote was
        // removed with it) are due now rather than never.
        sqlx::query(
            "UPDATE plan_queue SET after_job = NULL WHERE after_job IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM jobs WHERE id = after_job
                               AND state IN ('running', 'cancelling'))",
        )
        .execute(&self.pool)
        .await
        .db("releasing stale plans")?;
        Ok(done.rows_affected())
    }

    /// Records (or, with `None`, forgets) the state of job `id`'s unfinished
    /// resumable upload, so that it can be continued or aborted after a
    /// crash.
    pub async fn save_upload_state(&self, id: JobId, state: Option<&str>) -> Result<()> {
        sqlx::query("UPDATE jobs SET multipart_state = ? WHERE id = ?")
            .bind(state)
            .bind(id.0)
            .execute(&self.pool)
            .await
            .db("recording an upload's progress")?;
        Ok(())
    }

    /// Unfinished uploads nobody will continue, to abort on their remotes:
    /// those of cancelled or dismissed (or, defensively, done) jobs, and of failed jobs
    /// whose collection no longer syncs or is gone, or that a newer job of
    /// the same key superseded. Any other failed job keeps its upload for
    /// `retry`.
    pub async fn abandoned_uploads(&self) -> Result<Vec<AbandonedUpload>> {
        let rows: Vec<(i64, i64, String, String)> = sqlx::query_as(
            "SELECT j.id, j.remote_id, j.key, j.multipart_state
             FROM jobs j LEFT JOIN collections c ON c.id = j.collection_id
             WHERE j.multipart_state IS NOT NULL
               AND (j.state IN ('cancelled', 'dismissed', 'left', 'done')
                    OR (j.state = 'failed'
                        AND (c.id IS NULL OR c.sync_enabled = 0
                             -- superseded: a newer job has the key, so this
                             -- one can never be retried
                             OR EXISTS (SELECT 1 FROM jobs n WHERE n.remote_id = j.remote_id
                                        AND n.key = j.key AND n.id > j.id))))",
        )
        .fetch_all(&self.pool)
        .await
        .db("finding abandoned uploads")?;
        Ok(rows
            .into_iter()
            .map(|(id, remote, key, state)| AbandonedUpload {
                job: JobId(id),
                remote: RemoteId(remote),
                key,
                state,
            })
            .collect())
    }

    /// Forgets an abandoned upload once its remote has let it go, unless the
    /// job recorded another meanwhile.
    pub async fn forget_abandoned_upload(&self, upload: &AbandonedUpload) -> Result<()> {
        sqlx::query("UPDATE jobs SET multipart_state = NULL WHERE id = ? AND multipart_state = ?")
            .bind(upload.job.0)
            .bind(&upload.state)
            .execute(&self.pool)
            .await
            .db("forgetting an abandoned upload")?;
        Ok(())
    }

    /// Cancels a job only if it is still waiting (queued, or held by the
    /// brake); false when a worker has claimed it (or it ended) meanwhile,
    /// so a running transfer is never marked cancelled behind its worker's
    /// back. `by_user`: dismissed rather than cancelled.
    pub async fn cancel_if_waiting(&self, id: JobId, reason: &str, by_user: bool) -> Result<bool> {
        let reason = reason.to_owned();
        let event = if by_user {
            JobEvent::Dismissed { reason }
        } else {
            JobEvent::Cancelled { reason }
        };
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .db("starting a transaction")?;
        match transition_from(&mut tx, id, &["queued", "held"], event, now_ms()).await {
            Ok(_) => {
                tx.commit().await.db("committing a cancel")?;
                Ok(true)
            }
            Err(Error::JobConflict(_) | Error::IllegalTransition(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Ends a running job the user cancelled: dismissed, so the planner
    /// does not plan the same work again until `retry` (or sync off or on)
    /// releases it, or a cancel would last only until the next pass.
    pub async fn dismiss_running(&self, id: JobId, reason: &str) -> Result<()> {
        let event = JobEvent::Dismissed {
            reason: reason.to_owned(),
        };
        self.apply_job_event(id, event).await.map(drop)
    }

    /// Puts failed and dismissed jobs back in the queue (one, or all; a
    /// cancelled one only by id).
    pub async fn retry_jobs(&self, id: Option<JobId>) -> Result<u64> {
        let ids: Vec<i64> = match id {
            Some(id) => {
                let job = self.job(id).await?;
                if !matches!(
                    job.state,
                    JobState::Failed { .. }
                        | JobState::Cancelled { .. }
                        | JobState::Dismissed { .. }
                        | JobState::Left { .. }
                ) {
                    return Err(Error::JobNotRetryable {
                        id: id.0,
                        state: job.state.name(),
                    });
                }
                vec![id.0]
            }
            None => sqlx::query_scalar(
                "SELECT id FROM jobs WHERE state IN ('failed', 'dismissed', 'left')",
            )
            .fetch_all(&self.pool)
            .await
            .db("finding failed jobs")?,
        };
        let mut retried = 0;
        for id in ids {
            match self.apply_job_event(JobId(id), JobEvent::Retried).await {
                Ok(_) => retried += 1,
                // A newer job already holds the key: this one is obsolete.
                Err(Error::Database {
                    source: sqlx::Error::Database(db),
                    ..
                }) if db.is_unique_violation() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(retried)
    }

    /// Job counts per collection (collections without jobs are absent),
    /// from the tallies the schema keeps: a few rows, however long the
    /// queue.
    pub async fn job_counts(&self) -> Result<Vec<(CollectionId, JobCounts)>> {
        type Row = (i64, i64, i64, i64, i64, i64, i64, i64, i64);
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT collection_id,
                    SUM(CASE state WHEN 'queued' THEN jobs ELSE 0 END),
                    SUM(CASE WHEN state IN ('running', 'cancelling') THEN jobs ELSE 0 END),
                    SUM(CASE state WHEN 'done' THEN jobs ELSE 0 END),
                    SUM(CASE state WHEN 'failed' THEN jobs ELSE 0 END),
                    SUM(CASE WHEN state IN ('cancelled', 'dismissed') THEN jobs ELSE 0 END),
                    SUM(CASE state WHEN 'held' THEN jobs ELSE 0 END),
                    SUM(CASE state WHEN 'left' THEN jobs ELSE 0 END),
                    SUM(bytes_pending)
             FROM job_tallies WHERE collection_id != 0
             GROUP BY collection_id HAVING SUM(jobs) > 0",
        )
        .fetch_all(&self.pool)
        .await
        .db("counting jobs")?;
        Ok(rows
            .into_iter()
            .map(
                |(c, queued, running, done, failed, cancelled, held, left, pending)| {
                    (
                        CollectionId(c),
                        JobCounts {
                            queued: queued.max(0) as u64,
                            running: running.max(0) as u64,
                            done: done.max(0) as u64,
                            failed: failed.max(0) as u64,
                            cancelled: cancelled.max(0) as u64,
                            held: held.max(0) as u64,
                            left: left.max(0) as u64,
                            bytes_pending: pending.max(0) as u64,
                        },
                    )
                },
            )
            .collect())
    }

    /// The most recent failure reasons, newest first.
    pub async fn recent_failures(&self, limit: u32) -> Result<Vec<Job>> {
        let rows: Vec<JobRow> = sqlx::query_as(&recent_failures_sql())
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .db("reading failures")?;
        Ok(rows.into_iter().map(job_from_row).collect())
    }

    /// The earliest time a queued job becomes runnable, if any is waiting.
    pub async fn next_job_due_ms(&self) -> Result<Option<TimestampMs>> {
        sqlx::query_scalar("SELECT MIN(next_attempt_at) FROM jobs WHERE state = 'queued'")
            .fetch_one(&self.pool)
            .await
            .db("reading the queue")
    }

    /// Counts of live jobs and failed jobs across the whole queue.
    pub async fn queue_totals(&self) -> Result<(u64, u64, u64)> {
        let (queued, running, failed): (i64, i64, i64) = sqlx::query_as(
            "SELECT COALESCE(SUM(CASE state WHEN 'queued' THEN jobs END), 0),
                    COALESCE(SUM(CASE WHEN state IN ('running', 'cancelling') THEN jobs END), 0),
                    COALESCE(SUM(CASE state WHEN 'failed' THEN jobs END), 0)
             FROM job_tallies",
        )
        .fetch_one(&self.pool)
        .await
        .db("counting jobs")?;
        Ok((
            queued.max(0) as u64,
            running.max(0) as u64,
            failed.max(0) as u64,
        ))
    }
}

impl Store {
    /// Points a job at a photo's current bytes (after the file changed
    /// during its upload).
    pub async fn retarget_job(&self, id: JobId, hash: &ContentHash, size: u64) -> Result<()> {
        sqlx::query("UPDATE jobs SET blake3 = ?, bytes_total = ?, bytes_done = 0 WHERE id = ?")
            .bind(&hash.0[..])
            .bind(size as i64)
            .bind(id.0)
            .execute(&self.pool)
            .await
            .db("updating a job")?;
        Ok(())
    }

    /// Whether another synced collection on `remote` keeps its photos under
    /// a folder that holds `key`: then `key` is not ours to delete.
    pub async fn key_in_other_synced_collection(
        &self,
        remote: RemoteId,
        key: &str,
        except: Option<CollectionId>,
    ) -> Result<bool> {
        let rows: Vec<(i64, String, Option<String>)> = sqlx::query_as(
            "SELECT c.id, c.name, json_extract(r.settings_json, '$.prefix')
             FROM collections c JOIN remotes r ON r.id = c.remote_id
             WHERE c.sync_enabled = 1 AND c.remote_id = ?",
        )
        .bind(remote.0)
        .fetch_all(&self.pool)
        .await
        .db("reading synced collections")?;
        Ok(rows.into_iter().any(|(id, name, prefix)| {
            Some(CollectionId(id)) != except
                && key.starts_with(&crate::keys::collection_prefix(
                    &prefix.unwrap_or_default(),
                    &name,
                ))
        }))
    }
}

/// [`Store::recent_failures`]'s query. Every status read runs it, so it
/// reads only jobs with an error, through their own index: SQLite would
/// otherwise pick `jobs_by_state` and read and sort the whole queue.
fn recent_failures_sql() -> String {
    format!(
        "SELECT {JOB_COLUMNS} FROM jobs j INDEXED BY jobs_recent_failures
         LEFT JOIN collections c ON c.id = j.collection_id
         WHERE j.last_error != '' AND j.state IN ('failed', 'queued')
         ORDER BY j.updated_at DESC LIMIT ?"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A status read must not cost more with a longer queue: the newest
    /// failures are read from their index in order, no queued job without
    /// an error is visited, nothing is sorted.
    #[tokio::test]
    async fn recent_failures_are_read_without_reading_the_queue() {
        let (_dir, store) = store_with_job("queued", 1_000).await;
        let plan: Vec<(i64, i64, i64, String)> =
            sqlx::query_as(&format!("EXPLAIN QUERY PLAN {}", recent_failures_sql()))
                .bind(5)
                .fetch_all(&store.pool)
                .await
                .unwrap();
        let steps: Vec<&str> = plan.iter().map(|(_, _, _, step)| step.as_str()).collect();
        assert!(
            steps.iter().any(|s| s.contains("jobs_recent_failures")),
            "{steps:#?}"
        );
        assert!(
            !steps.iter().any(|s| s.contains("TEMP B-TREE")),
            "{steps:#?}"
        );
        sqlx::query("UPDATE jobs SET last_error = 'refused', state = 'failed'")
            .execute(&store.pool)
            .await
            .unwrap();
        let failures = store.recent_failures(5).await.unwrap();
        assert_eq!(failures.len(), 1);
        assert_eq!(failures[0].last_error, "refused");
    }

    async fn store_with_job(state: &str, updated_at: i64) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("c.sqlite")).await.unwrap();
        let remote = store.ensure_remote("local", "fs", "{}").await.unwrap();
        sqlx::query(
            "INSERT INTO jobs (remote_id, op, key, state, created_at, updated_at)
             VALUES (?, 'upload', 'k', ?, 0, ?)",
        )
        .bind(remote.0)
        .bind(state)
        .bind(updated_at)
        .execute(&store.pool)
        .await
        .unwrap();
        (dir, store)
    }

    async fn job_count(store: &Store) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM jobs")
            .fetch_one(&store.pool)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn old_done_and_cancelled_jobs_are_pruned() {
        for state in ["done", "cancelled"] {
            let (_dir, store) = store_with_job(state, 1_000).await;
            assert_eq!(
                store.prune_finished_jobs(2_000).await.unwrap(),
                1,
                "{state}"
            );
            assert_eq!(job_count(&store).await, 0);
        }
    }

    #[tokio::test]
    async fn failed_live_and_recent_jobs_are_kept() {
        for (state, at) in [
            ("failed", 1_000),
            ("queued", 1_000),
            ("running", 1_000),
            ("done", 3_000),
        ] {
            let (_dir, store) = store_with_job(state, at).await;
            assert_eq!(
                store.prune_finished_jobs(2_000).await.unwrap(),
                0,
                "{state}"
            );
            assert_eq!(job_count(&store).await, 1);
        }
    }

    /// A synced manual collection "Trip" (id 1) on the job's remote.
    async fn synced_trip(store: &Store) {
        set(
            store,
            "INSERT INTO collections (name, kind, remote_id, sync_enabled, created_at)
             SELECT 'Trip', 'manual', remote_id, 1, 0 FROM jobs",
        )
        .await;
    }

    async fn set(store: &Store, sql: &str) {
        sqlx::query(sql).execute(&store.pool).await.unwrap();
    }

    /// A state this build does not know (a newer schema, a damaged row) is
    /// an error, not taken for some other state.
    #[tokio::test]
    async fn an_unknown_state_read_from_the_database_is_an_error() {
        let (_dir, store) = store_with_job("queued", 1_000).await;
        let mut conn = store.pool.acquire().await.unwrap();
        for sql in [
            "PRAGMA ignore_check_constraints = ON",
            "UPDATE jobs SET state = 'paused'",
            "PRAGMA ignore_check_constraints = OFF",
        ] {
            sqlx::query(sql).execute(&mut *conn).await.unwrap();
        }
        drop(conn);
        let err = store.job(JobId(1)).await.unwrap_err();
        assert!(err.to_string().contains("paused"), "{err}");
    }

    #[tokio::test]
    async fn dismissed_jobs_and_jobs_holding_an_upload_are_not_pruned() {
        for column in ["state = 'dismissed'", "multipart_state = '{}'"] {
            let (_dir, store) = store_with_job("cancelled", 1_000).await;
            set(&store, &format!("UPDATE jobs SET {column}")).await;
            assert_eq!(
                store.prune_finished_jobs(2_000).await.unwrap(),
                0,
                "{column}"
            );
        }
    }

    #[tokio::test]
    async fn abandoned_uploads_are_those_no_job_will_continue() {
        let (_dir, store) = store_with_job("failed", 1_000).await;
        synced_trip(&store).await;
        set(
            &store,
            "UPDATE jobs SET collection_id = 1, multipart_state = '{\"upload_id\":\"u1\"}'",
        )
        .await;
        // A failed job of a synced collection keeps its upload for `retry`...
        assert_eq!(store.abandoned_uploads().await.unwrap(), Vec::new());
        // ...until a newer job of the same key supersedes it.
        set(
            &store,
            "INSERT INTO jobs (remote_id, op, key, state, created_at, updated_at)
             SELECT remote_id, 'upload', key, 'queued', 2, 2 FROM jobs",
        )
        .await;
        let abandoned = store.abandoned_uploads().await.unwrap();
        assert_eq!(abandoned.len(), 1, "{abandoned:?}");
        assert_eq!(abandoned[0].state, "{\"upload_id\":\"u1\"}");
        store.forget_abandoned_upload(&abandoned[0]).await.unwrap();
        assert_eq!(store.abandoned_uploads().await.unwrap(), Vec::new());
    }

    /// A crash between `sync off` (or a cancel) and the worker's record of
    /// it leaves the job running; the restart finishes the cancel rather
    /// than running the upload.
    #[tokio::test]
    async fn a_restart_cancels_the_running_jobs_a_cancel_was_stopping() {
        let state = |store: &Store| {
            let store = store.clone();
            async move { store.job(JobId(1)).await.unwrap().state.name() }
        };
        let (_dir, store) = store_with_job("running", 1_000).await;
        synced_trip(&store).await;
        set(&store, "UPDATE jobs SET collection_id = 1").await;
        let counts = |found: Interrupted| (found.requeued, found.cancelled);
        let found = store.requeue_interrupted_jobs().await.unwrap();
        assert_eq!(found.uploads, vec![(RemoteId(1), "k".to_owned())]);
        assert_eq!(counts(found), (1, 0));
        assert_eq!(state(&store).await, "queued");

        set(&store, "UPDATE jobs SET state = 'running'").await;
        set(&store, "UPDATE collections SET sync_enabled = 0").await;
        assert_eq!(
            counts(store.requeue_interrupted_jobs().await.unwrap()),
            (0, 1)
        );
        assert_eq!(state(&store).await, "cancelled");

        // The user's cancel was on its way: dismissed, as the worker would
        // have left it, so the same work is not planned again.
        set(&store, "UPDATE jobs SET state = 'cancelling'").await;
        set(&store, "UPDATE collections SET sync_enabled = 1").await;
        assert_eq!(
            counts(store.requeue_interrupted_jobs().await.unwrap()),
            (0, 1)
        );
        assert_eq!(state(&store).await, "dismissed");
    }

    #[tokio::test]
    async fn a_claim_is_overtaken_by_a_pause_or_sync_off() {
        use crate::store::Overtaken;
        let (_dir, store) = store_with_job("running", 1_000).await;
        synced_trip(&store).await;
        set(&store, "UPDATE jobs SET collection_id = 1").await;
        let job = store.job(JobId(1)).await.unwrap();
        assert_eq!(store.claim_overtaken(&job).await.unwrap(), None);

        store.request_cancel(job.id).await.unwrap();
        assert_eq!(
            store.claim_overtaken(&job).await.unwrap(),
            Some(Overtaken::Cancelled)
        );
        set(&store, "UPDATE jobs SET state = 'running'").await;

        set(&store, "UPDATE collections SET paused_until = -1").await;
        assert_eq!(
            store.claim_overtaken(&job).await.unwrap(),
            Some(Overtaken::Paused)
        );

        set(
            &store,
            "UPDATE collections SET paused_until = 0, sync_enabled = 0",
        )
        .await;
        assert_eq!(
            store.claim_overtaken(&job).await.unwrap(),
            Some(Overtaken::SyncOff)
        );
        let delete = Job {
            op: JobOp::Delete,
            ..job.clone()
        };
        assert_eq!(
            store.claim_overtaken(&delete).await.unwrap(),
            None,
            "sync off wants deletes"
        );

        store.set_global_pause(Some(None)).await.unwrap();
        assert_eq!(
            store.claim_overtaken(&delete).await.unwrap(),
            Some(Overtaken::Paused)
        );
    }

    /// The tallies `status` reads equal a count of the rows, after inserts,
    /// transitions, progress, a collection set null and pruning.
    #[tokio::test]
    async fn job_tallies_follow_every_change_to_the_queue() {
        let (_dir, store) = store_with_job("queued", 1_000).await;
        synced_trip(&store).await;
        set(
            &store,
            "UPDATE jobs SET collection_id = 1, bytes_total = 100",
        )
        .await;
        set(
            &store,
            "INSERT INTO jobs (collection_id, remote_id, op, key, state, bytes_total, created_at, updated_at)
             SELECT 1, remote_id, 'upload', 'k' || n, 'queued', 10, 0, 0 FROM jobs,
             (SELECT 1 AS n UNION SELECT 2 UNION SELECT 3)",
        )
        .await;
        let counted = |store: Store| async move {
            let rows: Vec<(i64, String, i64, i64)> = sqlx::query_as(
                "SELECT IFNULL(collection_id, 0), state, COUNT(*),
                        SUM(CASE WHEN state IN ('queued', 'running') AND op = 'upload'
                                 THEN bytes_total - bytes_done ELSE 0 END)
                 FROM jobs GROUP BY 1, 2 ORDER BY 1, 2",
            )
            .fetch_all(&store.pool)
            .await
            .unwrap();
            let tallied: Vec<(i64, String, i64, i64)> = sqlx::query_as(
                "SELECT collection_id, state, jobs, bytes_pending FROM job_tallies
                 WHERE jobs != 0 ORDER BY 1, 2",
            )
            .fetch_all(&store.pool)
            .await
            .unwrap();
            assert_eq!(rows, tallied);
        };
        counted(store.clone()).await;
        let claimed: Vec<Job> = store
            .claim_jobs(2, &[])
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.job)
            .collect();
        assert_eq!(claimed.len(), 2);
        counted(store.clone()).await;
        let landed = Landed {
            hash: ContentHash([1; 32]),
            size: 10,
            etag: None,
            transfer: "put",
            base: None,
        };
        store
            .finish_transfer(claimed[0].id, crate::store::Finished::Uploaded(landed))
            .await
            .unwrap();
        store
            .apply_job_event(
                claimed[1].id,
                JobEvent::PermanentFailure {
                    reason: "no".into(),
                },
            )
            .await
            .unwrap();
        counted(store.clone()).await;
        assert_eq!(store.queue_totals().await.unwrap(), (2, 0, 1));
        set(&store, "DELETE FROM collections").await;
        counted(store.clone()).await;
        store.prune_finished_jobs(i64::MAX).await.unwrap();
        counted(store.clone()).await;
        assert_eq!(store.queue_totals().await.unwrap(), (2, 0, 1));
    }
}
