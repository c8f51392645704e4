//! Runs one job: the upload (or server-side copy), delete or download, then
//! records the outcome through the state machine.

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use syncroll_core::connection::bare_etag;
use syncroll_core::job::{Job, JobEvent, JobOp};
use syncroll_core::store::{ClaimedJob, Finished, Landed, LandedBase, now_ms};
use syncroll_core::{ContentHash, Photo, RelPath};
use syncroll_remote::{JournalError, ObjectMeta, Precondition, Remote, RemoteError, UploadJournal};
use tokio_stream::StreamExt;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info, info_span, warn};

use super::recorder::RecordError;
use super::{Inner, Stop, lock};
use crate::scanner::{ScanReason, ScanTarget};

/// How a job ended, before it is recorded.
enum Outcome {
    Uploaded(Landed),
    Deleted,
    /// The bytes sent are not the bytes the catalog knew: the file changed.
    Changed(Landed),
    /// The file is gone.
    Vanished,
    /// Nothing to do any more.
    NotNeeded(String),
    /// The remote no longer holds the base both sides last agreed on (its
    /// object was edited or replaced by someone else): nothing was sent
    /// over it. Says what was found.
    RemoteChanged(String),
    /// A download brought its key home: how, and the bytes.
    Downloaded {
        landed: &'static str,
        bytes: u64,
    },
}

/// Why a job could not finish.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error(transparent)]
    Remote(#[from] RemoteError),
    #[error(transparent)]
    Open(#[from] crate::remotes::OpenError),
    #[error(transparent)]
    Catalog(#[from] syncroll_core::Error),
    #[error("root {0} is missing (unmounted?); the job waits for it")]
    RootMissing(String),
    /// A download's own fault (see [`super::DownloadError`]).
    #[error("{reason}")]
    Download { reason: String, transient: bool },
}

impl From<super::DownloadError> for Failure {
    fn from(e: super::DownloadError) -> Self {
        use super::DownloadError as D;
        match e {
            D::Remote(e) => Self::Remote(e),
            D::RootMissing(root) => Self::RootMissing(root),
            D::Passing(reason) => Self::Download {
                reason,
                transient: true,
            },
            D::Refused(reason) => Self::Download {
                reason,
                transient: false,
            },
        }
    }
}

impl Failure {
    /// The catalog refused a write because of its disk.
    fn storage_fault(&self) -> Option<&syncroll_core::Error> {
        match self {
            Self::Catalog(e) if e.is_storage_exhausted() => Some(e),
            _ => None,
        }
    }

    /// The remote or the photo's root is not there right now.
    fn is_offline(&self) -> bool {
        matches!(
            self,
            Self::Remote(RemoteError::Unavailable { .. }) | Self::RootMissing(_)
        )
    }

    fn is_transient(&self) -> bool {
        match self {
            Self::Remote(e) => e.is_transient(),
            Self::Open(_) => false,
            Self::Catalog(_) | Self::RootMissing(_) => true,
            Self::Download { transient, .. } => *transient,
        }
    }
}

/// Why a job's outcome could not be recorded.
#[derive(Debug, thiserror::Error)]
enum RecordFailed {
    #[error(transparent)]
    Catalog(#[from] syncroll_core::Error),
    #[error(transparent)]
    Recorder(#[from] RecordError),
}

impl RecordFailed {
    /// Tells the guard; whether the disk under the catalog refused the write.
    fn report(&self, guard: &crate::datadir::DataDirGuard) -> bool {
        match self {
            Self::Catalog(e) => guard.report(e),
            // The recorder told the guard already.
            Self::Recorder(RecordError::Catalog(_)) => guard.is_blocked(),
            Self::Recorder(RecordError::ShuttingDown) => false,
        }
    }
}

/// Runs one claimed job. `recheck`: a pause, cancel or `sync off` came
/// between its claim and its start, so whether it should still run is read
/// again first (see `SyncEngine::start_runnable`).
pub(super) async fn run(
    inner: &Arc<Inner>,
    claimed: ClaimedJob,
    recheck: bool,
    cancel: CancellationToken,
    stop: Arc<Mutex<Option<Stop>>>,
    progress: Arc<AtomicU64>,
) {
    let job = &claimed.job;
    let span = info_span!("job", job = %job.id, collection = job.collection_name.as_deref().unwrap_or("-"),
        op = job.op.as_str(), key = %job.key);
    async {
        let overtaken = match recheck {
            true => overtaken(inner, job).await,
            false => None,
        };
        let result = match overtaken {
            Some(why) => stopped_before_start(&stop, why),
            None => execute(inner, &claimed, &cancel, &progress).await,
        };
        settle_or_warn(inner, job, result, &stop).await;
    }
    .instrument(span)
    .await;
}

/// Runs delete jobs of one remote and collection together: each is checked
/// on its own against the ledger and the other synced collections, then the
/// keys still to go are deleted in as few requests as the remote allows
/// (S3: DeleteObjects), and each job's outcome is recorded on its own.
pub(super) async fn run_deletes(
    inner: &Arc<Inner>,
    jobs: Vec<(Job, Arc<Mutex<Option<Stop>>>)>,
    recheck: bool,
    cancel: CancellationToken,
) {
    let Some((first, _)) = jobs.first() else {
        return;
    };
    let span = info_span!("deletes", jobs = jobs.len(),
        collection = first.collection_name.as_deref().unwrap_or("-"), remote = %first.remote_id);
    async {
        let mut pending = Vec::new();
        for (job, stop) in jobs {
            if recheck && let Some(why) = overtaken(inner, &job).await {
                let result = stopped_before_start(&stop, why);
                record(inner, &job, result, &stop).await;
                continue;
            }
            match delete_precondition(inner, &job).await {
                Ok(None) => pending.push((job, stop)),
                Ok(Some(outcome)) => record(inner, &job, Ok(outcome), &stop).await,
                Err(failure) => record(inner, &job, Err(failure), &stop).await,
            }
        }
        if let Some((first, _)) = pending.first() {
            let remote = inner.remotes.get(first.remote_id).await;
            let results: Vec<Result<Outcome, Failure>> = match remote {
                _ if cancel.is_cancelled() => pending
                    .iter()
                    .map(|_| Err(RemoteError::Cancelled.into()))
                    .collect(),
                Ok(remote) => {
                    let keys: Vec<String> = pending.iter().map(|(j, _)| j.key.clone()).collect();
                    let deleted = remote.delete_many(&keys).await.into_iter();
                    deleted
                        .map(|r| r.map(|()| Outcome::Deleted).map_err(Failure::from))
                        .collect()
                }
                Err(first_error) => {
                    // Each job gets the error of its own look (the same).
                    let mut results = vec![Err(first_error.into())];
                    for (job, _) in &pending[1..] {
                        results.push(match inner.remotes.get(job.remote_id).await {
                            Ok(remote) => remote
                                .delete(&job.key)
                                .await
                                .map(|()| Outcome::Deleted)
                                .map_err(Failure::from),
                            Err(e) => Err(e.into()),
                        });
                    }
                    results
                }
            };
            let mut deleted = Vec::new();
            for ((job, stop), result) in pending.iter().zip(results) {
                match result {
                    Ok(Outcome::Deleted) => deleted.push((job.id, Finished::Deleted)),
                    result => record(inner, job, result, stop).await,
                }
            }
            // The deletes that went through, in one transaction; while the
            // data dir cannot be written, once it can.
            let recorded = loop {
                match inner.store.finish_transfers(&deleted).await {
                    Err(e) if inner.guard.report(&e) => {
                        if !data_dir_writable(inner).await {
                            break None;
                        }
                    }
                    Err(e) => {
                        warn!(error = %e, "cannot record the deletes; they are retried after a restart");
                        break None;
                    }
                    Ok(recorded) => break Some(recorded),
                }
            };
            if let Some(recorded) = recorded {
                info!(keys = deleted.len(), "deleted from the remote");
                if recorded.iter().any(|r| r.planning_due) {
                    inner.plan.request();
                }
            }
        }
    }
    .instrument(span)
    .await;
}

/// The reason of a cancel the user asked for.
pub const CANCELLED_BY_REQUEST: &str = syncroll_core::job::CANCELLED_BY_REQUEST;

/// What becomes of a job whose claim a pause or `sync off` overtook before
/// its worker started (and so before an interruption could reach it), if
/// anything.
async fn overtaken(inner: &Inner, job: &Job) -> Option<Stop> {
    use syncroll_core::store::Overtaken;
    match inner.store.claim_overtaken(job).await {
        Ok(None) => None,
        Ok(Some(Overtaken::Paused)) => Some(Stop::Pause),
        Ok(Some(Overtaken::SyncOff)) => Some(Stop::Cancel {
            reason: "sync turned off".to_owned(),
            hold: false,
        }),
        Ok(Some(Overtaken::Cancelled)) => Some(Stop::Cancel {
            reason: CANCELLED_BY_REQUEST.to_owned(),
            hold: true,
        }),
        // The transfer itself finds out soon enough.
        Err(_) => None,
    }
}

/// A job stopped before it began, recorded as the interruption `why` would
/// have made of it had it reached the transfer.
fn stopped_before_start(stop: &Mutex<Option<Stop>>, why: Stop) -> Result<Outcome, Failure> {
    *lock(stop) = Some(why);
    Err(RemoteError::Cancelled.into())
}

/// Records one job's outcome, in the job's span.
async fn record(
    inner: &Arc<Inner>,
    job: &Job,
    result: Result<Outcome, Failure>,
    stop: &Mutex<Option<Stop>>,
) {
    let span = info_span!("job", job = %job.id, op = job.op.as_str(), key = %job.key);
    settle_or_warn(inner, job, result, stop)
        .instrument(span)
        .await;
}

/// Records the outcome; a store that cannot leaves the job `running`, which
/// the next start requeues. When the data dir refused the write, the job
/// goes back to the queue as soon as the data dir takes writes again, no
/// attempt counted, and runs again then.
async fn settle_or_warn(
    inner: &Arc<Inner>,
    job: &Job,
    result: Result<Outcome, Failure>,
    stop: &Mutex<Option<Stop>>,
) {
    let Err(e) = settle(inner, job, result, stop).await else {
        return;
    };
    if !e.report(&inner.guard) {
        warn!(error = %e, "cannot record the job's outcome; it is retried after a restart");
        return;
    }
    debug!(error = %e, "the data dir cannot be written; the job waits to be recorded");
    while data_dir_writable(inner).await {
        match record_stopped(inner, job, stop).await {
            Ok(()) => {
                inner.plan.request();
                return;
            }
            Err(e) if inner.guard.report(&e) => {}
            Err(e) => {
                warn!(error = %e, "cannot requeue the job; it is retried after a restart");
                return;
            }
        }
    }
}

/// Records a job whose outcome could not be written while the data dir
/// refused writes: cancelled if the user cancelled it meanwhile (the
/// request must not be lost), else back to the queue, no attempt counted.
async fn record_stopped(
    inner: &Arc<Inner>,
    job: &Job,
    stop: &Mutex<Option<Stop>>,
) -> syncroll_core::Result<()> {
    // Not held across an await: the guard is not `Send`.
    let stopped = lock(stop).clone();
    match stopped {
        Some(Stop::Cancel { reason, hold: true }) => {
            inner.store.dismiss_running(job.id, &reason).await?;
        }
        Some(Stop::Cancel {
            reason,
            hold: false,
        }) => {
            let event = JobEvent::Cancelled { reason };
            inner.store.apply_job_event(job.id, event).await?;
        }
        _ => {
            let event = JobEvent::Interrupted;
            inner.store.apply_job_event(job.id, event).await?;
            return Ok(());
        }
    }
    // The upload this job leaves unfinished, if any, goes now.
    super::abort_abandoned_uploads(inner);
    Ok(())
}

/// Waits until the data dir takes writes again: `false` when the engine
/// stops first.
async fn data_dir_writable(inner: &Inner) -> bool {
    tokio::select! {
        () = inner.guard.writable() => true,
        () = inner.shutdown.cancelled() => false,
    }
}

/// What a delete job comes to without touching the remote, if anything:
/// only keys the ledger holds are deleted, and not while another synced
/// collection keeps the key.
async fn delete_precondition(inner: &Inner, job: &Job) -> Result<Option<Outcome>, Failure> {
    if !inner.store.ledger_has(job.remote_id, &job.key).await? {
        return Ok(Some(Outcome::Deleted));
    }
    if inner
        .store
        .key_in_other_synced_collection(job.remote_id, &job.key, job.collection_id)
        .await?
    {
        return Ok(Some(Outcome::NotNeeded(
            "another synced collection keeps this key".to_owned(),
        )));
    }
    remote_edit_kept(inner, job).await
}

/// For a collection that pulls, whether the remote still holds the base
/// both sides last agreed on: another client's edit made since the last
/// sync is never deleted unseen (the pull brings it home: modify beats
/// delete), and the job ends `left`. A key already gone is deleted.
///
/// Only collections that pull are checked, where other clients edit the
/// album by design: it costs a `HEAD` a key, which would multiply the
/// requests of a push-only `sync off` (S3 deletes 1,000 keys a request).
async fn remote_edit_kept(inner: &Inner, job: &Job) -> Result<Option<Outcome>, Failure> {
    let Some(collection) = job.collection_id else {
        return Ok(None);
    };
    let pulls = inner
        .store
        .connection(collection)
        .await?
        .is_some_and(|c| c.direction.pulls());
    if !pulls {
        return Ok(None);
    }
    let Some((base, own_etag)) = inner.store.base(job.remote_id, &job.key).await? else {
        return Ok(None);
    };
    let remote = inner.remotes.get(job.remote_id).await?;
    let Some(meta) = remote.head(&job.key).await? else {
        return Ok(Some(Outcome::Deleted));
    };
    let now = crate::pull::remote_side(&meta);
    let changed = match &base.remote {
        Some(then) => now.differs_from(then),
        // A row from before bases kept the remote side: syncroll's own
        // put's ETag, or else the size it sent.
        None => match (own_etag.as_deref(), meta.etag.as_deref()) {
            (Some(own), Some(etag)) => bare_etag(own) != bare_etag(etag),
            _ => meta.size != base.local.size,
        },
    };
    Ok(changed.then(|| Outcome::RemoteChanged(other_object(&meta))))
}

async fn execute(
    inner: &Inner,
    claimed: &ClaimedJob,
    cancel: &CancellationToken,
    progress: &AtomicU64,
) -> Result<Outcome, Failure> {
    let job = &claimed.job;
    match job.op {
        // The pull engine opens the remote itself.
        JobOp::Download => download(inner, job, cancel, progress).await,
        JobOp::Delete => {
            if let Some(outcome) = delete_precondition(inner, job).await? {
                return Ok(outcome);
            }
            let remote = inner.remotes.get(job.remote_id).await?;
            remote.delete(&job.key).await?;
            Ok(Outcome::Deleted)
        }
        JobOp::Upload => {
            let remote = inner.remotes.get(job.remote_id).await?;
            // Read with the claim, a moment ago.
            let Some(photo) = &claimed.photo else {
                return Ok(Outcome::NotNeeded("the photo left the catalog".to_owned()));
            };
            if photo.root_missing {
                return Err(Failure::RootMissing(photo.root_path.display().to_string()));
            }
            let precondition = upload_precondition(inner, job).await?;
            if let Some(source) = &claimed.copy_from
                && let Some(outcome) =
                    copy_on_remote(inner, &*remote, job, photo, source, &precondition, cancel)
                        .await?
            {
                return Ok(outcome);
            }
            let path = photo.rel_path.under(&photo.root_path);
            let journal = JobJournal {
                store: inner.store.clone(),
                guard: inner.guard.clone(),
                job: job.id,
                saved: job.upload_state.clone(),
                holds_state: std::sync::atomic::AtomicBool::new(job.upload_state.is_some()),
            };
            let mut precondition = precondition;
            // At most: the base, then (the object deleted meanwhile) absent.
            let report = loop {
                let put = remote.put_file_resumable(
                    &job.key,
                    &path,
                    &precondition,
                    progress,
                    cancel,
                    &journal,
                );
                match put.await {
                    Ok(report) => break report,
                    Err(RemoteError::SourceVanished { .. }) => return Ok(Outcome::Vanished),
                    Err(e) if e.is_precondition_failed() => {
                        match what_the_key_holds(&*remote, &job.key, photo, cancel).await? {
                            KeyHolds::Photo(meta) => return Ok(found_in_place(photo, &meta)),
                            // Modify beats delete: the photo goes back, but
                            // only into an empty key.
                            KeyHolds::Nothing if precondition != Precondition::Absent => {
                                precondition = Precondition::Absent;
                            }
                            KeyHolds::Nothing => return Err(e.into()),
                            KeyHolds::Other(meta) => {
                                return Ok(Outcome::RemoteChanged(other_object(&meta)));
                            }
                        }
                    }
                    Err(e) => return Err(e.into()),
                }
            };
            let landed = Landed {
                hash: ContentHash(report.blake3),
                size: report.size,
                base: landed_base(photo, report.modified),
                etag: report.etag,
                transfer: "put",
            };
            if landed.hash == photo.hash {
                Ok(Outcome::Uploaded(landed))
            } else {
                Ok(Outcome::Changed(landed))
            }
        }
    }
}

/// Runs a download job through the pull engine.
async fn download(
    inner: &Inner,
    job: &Job,
    cancel: &CancellationToken,
    progress: &AtomicU64,
) -> Result<Outcome, Failure> {
    let Some(runner) = inner.downloads.get() else {
        // Only between the engine's start and the pull engine's: the job
        // waits a moment, no attempt counted.
        return Err(RemoteError::Unavailable {
            detail: "the pull engine is starting".to_owned(),
        }
        .into());
    };
    match runner.download(job, progress, cancel).await? {
        super::DownloadOutcome::Landed { landed, bytes } => {
            Ok(Outcome::Downloaded { landed, bytes })
        }
        super::DownloadOutcome::NotNeeded(reason) => Ok(Outcome::NotNeeded(reason)),
    }
}

/// What the upload of `job` may replace: the base the ledger keeps for its
/// key (the remote side both sides last agreed on; for a row written
/// before remote sides were kept, the ETag of syncroll's own put and the
/// size it sent), or nothing at all for a key the ledger does not hold.
/// So a remote edit made since the last sync is never overwritten unseen.
async fn upload_precondition(inner: &Inner, job: &Job) -> Result<Precondition, Failure> {
    let Some((base, own_etag)) = inner.store.base(job.remote_id, &job.key).await? else {
        return Ok(Precondition::Absent);
    };
    Ok(match base.remote {
        Some(remote) => Precondition::Matches {
            etag: remote.etag.or(own_etag),
            size: remote.size,
            modified: u64::try_from(remote.modified_ms)
                .ok()
                .filter(|ms| *ms > 0)
                .map(|ms| UNIX_EPOCH + Duration::from_millis(ms)),
        },
        None => Precondition::Matches {
            etag: own_etag,
            size: base.local.size,
            modified: None,
        },
    })
}

/// A server-side copy in place of the upload, if it can be made: `None`
/// sends the bytes instead. A copy carries no condition, so the key is
/// looked at just before (a window of one request).
async fn copy_on_remote(
    inner: &Inner,
    remote: &dyn Remote,
    job: &Job,
    photo: &Photo,
    source: &str,
    precondition: &Precondition,
    cancel: &CancellationToken,
) -> Result<Option<Outcome>, Failure> {
    let found = remote.head(&job.key).await?;
    if precondition.check(&job.key, found.as_ref()).is_err() {
        // What the key holds now is decided by the upload's own path.
        return Ok(None);
    }
    match remote.copy(source, &job.key, cancel).await {
        Ok(meta) => {
            debug!(%source, "copied on the remote instead of uploading");
            Ok(Some(Outcome::Uploaded(Landed {
                hash: photo.hash,
                size: meta.size,
                base: landed_base(photo, meta.modified),
                etag: meta.etag,
                transfer: "copy",
            })))
        }
        Err(e) if e.is_cancelled() => Err(e.into()),
        Err(RemoteError::NotFound { .. }) => {
            // Removed by hand: the ledger was wrong about it.
            inner.store.forget_ledger_key(job.remote_id, source).await?;
            Ok(None)
        }
        Err(e) => {
            debug!(error = %e, "server-side copy failed; uploading instead");
            Ok(None)
        }
    }
}

/// What a key whose upload precondition failed holds now.
enum KeyHolds {
    Nothing,
    /// The photo's own bytes: syncroll's upload whose record a crash cut
    /// off, or the same bytes put there by another client.
    Photo(ObjectMeta),
    /// Other bytes: the remote's own edit.
    Other(ObjectMeta),
}

/// Looks at `key`: a HEAD, and if the size is the photo's, its bytes read
/// and hashed (in constant memory), since only they tell the photo from a
/// same-size edit.
async fn what_the_key_holds(
    remote: &dyn Remote,
    key: &str,
    photo: &Photo,
    cancel: &CancellationToken,
) -> Result<KeyHolds, Failure> {
    let Some(meta) = remote.head(key).await? else {
        return Ok(KeyHolds::Nothing);
    };
    if meta.size != photo.stat.size {
        return Ok(KeyHolds::Other(meta));
    }
    let mut read = match remote.read(key, 0, Some(&meta)).await {
        Ok(read) => read,
        // Changed again between the look and the read: not the photo.
        Err(e) if e.is_precondition_failed() => return Ok(KeyHolds::Other(meta)),
        Err(RemoteError::NotFound { .. }) => return Ok(KeyHolds::Nothing),
        Err(e) => return Err(e.into()),
    };
    let mut hasher = blake3::Hasher::new();
    loop {
        let chunk = tokio::select! {
            biased;
            () = cancel.cancelled() => return Err(RemoteError::Cancelled.into()),
            chunk = read.body.next() => chunk,
        };
        match chunk {
            Some(bytes) => hasher.update(&bytes?),
            None => break,
        };
    }
    if ContentHash(*hasher.finalize().as_bytes()) == photo.hash {
        Ok(KeyHolds::Photo(meta))
    } else {
        Ok(KeyHolds::Other(meta))
    }
}

/// The photo's bytes were found under the key: recorded as landed, no
/// bytes sent.
fn found_in_place(photo: &Photo, meta: &ObjectMeta) -> Outcome {
    debug!("the remote already holds the photo's bytes; recorded without sending them");
    Outcome::Uploaded(Landed {
        hash: photo.hash,
        size: meta.size,
        base: landed_base(photo, meta.modified),
        etag: meta.etag.clone(),
        transfer: "found",
    })
}

/// What a key found holding other bytes than the base holds, in words.
fn other_object(meta: &ObjectMeta) -> String {
    format!(
        "the remote copy changed since the last sync (it holds {} other bytes now)",
        meta.size
    )
}

/// The base an upload of `photo` leaves, given when the remote says the
/// object was written.
fn landed_base(photo: &Photo, modified: Option<SystemTime>) -> Option<LandedBase> {
    let since_epoch = modified?.duration_since(UNIX_EPOCH).ok()?;
    Some(LandedBase {
        local_mtime_ns: photo.stat.mtime_ns,
        remote_modified_ms: i64::try_from(since_epoch.as_millis()).ok()?,
    })
}

/// Keeps a job's resumable upload in its row (`jobs.multipart_state`), so a
/// large upload cut off by a crash or restart continues from its last part,
/// and one the job gives up on can still be aborted on the server.
#[derive(Debug)]
struct JobJournal {
    store: syncroll_core::Store,
    guard: crate::datadir::DataDirGuard,
    job: syncroll_core::job::JobId,
    saved: Option<String>,
    /// Whether the row holds a state now: clearing one that was never
    /// written (every upload below the multipart threshold) is a write
    /// saved per job.
    holds_state: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl UploadJournal for JobJournal {
    fn saved(&self) -> Option<String> {
        self.saved.clone()
    }

    async fn save(&self, state: Option<String>) -> Result<(), JournalError> {
        use std::sync::atomic::Ordering;
        if state.is_none() && !self.holds_state.load(Ordering::SeqCst) {
            return Ok(());
        }
        self.store
            .save_upload_state(self.job, state.as_deref())
            .await
            .map_err(|e| {
                // The upload fails, and is requeued once the guard lets go.
                self.guard.report(&e);
                JournalError(e.to_string())
            })?;
        self.holds_state.store(state.is_some(), Ordering::SeqCst);
        Ok(())
    }
}

async fn settle(
    inner: &Arc<Inner>,
    job: &Job,
    result: Result<Outcome, Failure>,
    stop: &Mutex<Option<Stop>>,
) -> Result<(), RecordFailed> {
    let store = &inner.store;
    let event = match result {
        Ok(Outcome::Uploaded(landed)) => {
            info!(bytes = landed.size, transfer = landed.transfer, "uploaded");
            return finish(inner, job, Finished::Uploaded(landed), stop).await;
        }
        Ok(Outcome::Deleted) => {
            info!("deleted from the remote");
            return finish(inner, job, Finished::Deleted, stop).await;
        }
        Ok(Outcome::Downloaded { landed, bytes }) => {
            info!(landed, bytes, "brought home");
            store.finish_download(job, landed, bytes).await?;
            // A download may bring a departed photo back into its
            // collection, which no scan announces.
            inner.plan.request();
            return Ok(());
        }
        Ok(Outcome::Changed(landed)) => {
            info!("the file changed during the upload; sending it again");
            store.record_landed(job, &landed).await?;
            if let Some(photo) = refresh_photo(inner, job).await? {
                store
                    .retarget_job(job.id, &photo.hash, photo.stat.size)
                    .await?;
            }
            JobEvent::Interrupted
        }
        Ok(Outcome::Vanished) => {
            refresh_photo(inner, job).await?;
            inner.plan.request();
            JobEvent::Cancelled {
                reason: "the file vanished during the upload".to_owned(),
            }
        }
        Ok(Outcome::NotNeeded(reason)) => JobEvent::Cancelled { reason },
        Ok(Outcome::RemoteChanged(found)) => {
            let (event, pulls) = left_for_remote_edit(inner, job, &found).await?;
            store.apply_job_event(job.id, event).await?;
            if pulls {
                // Only once the job is `left`: the poll's new base for the
                // key settles it.
                inner.poll.request_poll(job.remote_id);
            }
            inner.plan.request();
            return Ok(());
        }
        Err(Failure::Remote(e)) if e.is_cancelled() => {
            // Not held across an await: the guard is not `Send`.
            let stopped = lock(stop).clone();
            match stopped {
                Some(Stop::Cancel { reason, hold: true }) => {
                    store.dismiss_running(job.id, &reason).await?;
                    // Plans parked on the job are released with it.
                    inner.plan.request();
                    super::abort_abandoned_uploads(inner);
                    discard_partial_download(inner, job).await;
                    return Ok(());
                }
                Some(Stop::Cancel {
                    reason,
                    hold: false,
                }) => JobEvent::Cancelled { reason },
                _ => JobEvent::Interrupted,
            }
        }
        // Whatever failed while the catalog could not be written may have
        // failed for that: tried again, no attempt counted.
        Err(failure) if failure.storage_fault().is_some() || inner.guard.blocked_now() => {
            if let Some(e) = failure.storage_fault() {
                inner.guard.report(e);
            }
            debug!(error = %failure, "stopped while the data dir cannot be written");
            JobEvent::Interrupted
        }
        Err(failure) => failure_event(inner, job, &failure),
    };
    match &event {
        JobEvent::TransientFailure { reason, .. } => {
            warn!(%reason, attempt = job.attempts + 1, "will retry")
        }
        JobEvent::Deferred { reason, .. } => info!(%reason, "offline; waiting for it"),
        JobEvent::PermanentFailure { reason } => warn!(%reason, "failed"),
        _ => {}
    }
    let cancelled = matches!(event, JobEvent::Cancelled { .. });
    store.apply_job_event(job.id, event).await?;
    // Planning that looked at the job's key while it ran left it alone,
    // and is due again now that the job left `running`. It costs one read
    // when nothing waited; the job stays in the scheduler's running set
    // until the worker returns, so "idle" cannot be seen in between.
    inner.plan.request();
    if cancelled {
        // The upload this job leaves unfinished, if any, goes now.
        super::abort_abandoned_uploads(inner);
        discard_partial_download(inner, job).await;
    }
    Ok(())
}

/// A download that will not be continued leaves no bytes beside its
/// target; one paused or cut short keeps them for the resume.
async fn discard_partial_download(inner: &Inner, job: &Job) {
    if job.op == JobOp::Download
        && let Some(runner) = inner.downloads.get()
    {
        runner.discard_partial(job).await;
    }
}

/// An upload that found the remote's own edit under its key ends `left`:
/// the edit stays and the local file keeps its bytes. Returns the event
/// and whether the collection pulls (then its connection is asked to poll
/// now, so the edit is saved as a conflict copy).
async fn left_for_remote_edit(
    inner: &Inner,
    job: &Job,
    found: &str,
) -> Result<(JobEvent, bool), RecordFailed> {
    let pulls = match job.collection_id {
        Some(collection) => inner
            .store
            .connection(collection)
            .await?
            .is_some_and(|c| c.direction.pulls()),
        None => false,
    };
    let reason = if job.op == JobOp::Delete {
        // Only a collection that pulls checks before deleting.
        format!("{found}; not deleted: the remote's edit stays, and the pull brings it home")
    } else if pulls {
        format!(
            "{found}; left for the pull, which saves it beside the local file as a conflict copy"
        )
    } else {
        format!(
            "{found}; not overwritten: the collection does not pull, so the remote's edit stays \
             and the local file keeps its bytes (connect it with --direction both to bring the \
             edit home as a conflict copy)"
        )
    };
    if job.op == JobOp::Delete {
        warn!(%reason, "not deleted: the remote changed since the last sync");
    } else {
        warn!(%reason, "not uploaded: the remote changed since the last sync");
    }
    Ok((JobEvent::RemoteChanged { reason }, pulls))
}

/// Records a transfer that ended well, in a batch with the others that
/// finish meanwhile.
///
/// What landed must reach the ledger: while the catalog cannot be written
/// (its disk full), this tries again, less and less often, until it can or
/// the daemon shuts down (then the job, still `running`, is requeued at the
/// next start and its bytes sent again).
async fn finish(
    inner: &Inner,
    job: &Job,
    finished: Finished,
    stop: &Mutex<Option<Stop>>,
) -> Result<(), RecordFailed> {
    let mut wait = std::time::Duration::from_secs(1);
    let recorded = loop {
        match inner.recorder.record(job.id, finished.clone()).await {
            Ok(recorded) => break recorded,
            Err(RecordError::Catalog(reason)) if inner.guard.is_blocked() => {
                // The recorder told the guard, which logged it once.
                debug!(%reason, "the finished transfer waits for the data dir to take writes");
                if !data_dir_writable(inner).await {
                    return Err(RecordError::ShuttingDown.into());
                }
            }
            Err(RecordError::Catalog(reason)) if !matches!(*lock(stop), Some(Stop::Shutdown)) => {
                warn!(%reason, retry_in = ?wait, "cannot record the finished transfer; trying again");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(std::time::Duration::from_secs(30));
            }
            Err(e) => return Err(e.into()),
        }
    };
    if !recorded.done {
        // Cancelled while its bytes were landing: the ledger holds them all
        // the same (or they could never be cleaned up), and the key's group
        // is planned again.
        info!("the job was stopped as it finished; what landed is recorded");
    }
    if recorded.planning_due {
        inner.plan.request();
    }
    Ok(())
}

/// The longest `Retry-After` honoured: a server asking for more is asked
/// again after this.
const MAX_SERVER_WAIT_MS: i64 = 3_600_000;

fn failure_event(inner: &Inner, job: &Job, failure: &Failure) -> JobEvent {
    if let Failure::Remote(e) = failure
        && let Some(wait) = e.retry_after()
    {
        // The server set the wait (busy, or in maintenance): honour it
        // without spending an attempt.
        let wait_ms = (wait.as_millis() as i64).clamp(1000, MAX_SERVER_WAIT_MS);
        return JobEvent::Deferred {
            reason: failure.to_string(),
            retry_at: now_ms() + wait_ms,
        };
    }
    if failure.is_offline() {
        return JobEvent::Deferred {
            reason: failure.to_string(),
            retry_at: now_ms() + inner.config.offline_retry_secs as i64 * 1000,
        };
    }
    let attempt = job.attempts + 1;
    if !failure.is_transient() {
        return JobEvent::PermanentFailure {
            reason: failure.to_string(),
        };
    }
    if attempt >= inner.config.max_attempts {
        return JobEvent::PermanentFailure {
            reason: format!("gave up after {attempt} attempts: {failure}"),
        };
    }
    JobEvent::TransientFailure {
        reason: failure.to_string(),
        retry_at: now_ms() + backoff_ms(&inner.config, attempt, job.id.0),
    }
}

/// Exponential backoff with jitter: base × 2^(attempt-1), capped, then
/// scaled by a pseudo-random factor in [0.5, 1.5) so retries of many jobs
/// do not arrive together.
fn backoff_ms(config: &crate::config::SyncConfig, attempt: u32, salt: i64) -> i64 {
    use std::hash::BuildHasher;
    let base = config
        .retry_base_ms
        .saturating_mul(1 << (attempt - 1).min(20));
    let capped = base.min(config.retry_max_secs.saturating_mul(1000)) as f64;
    let noise = std::collections::hash_map::RandomState::new().hash_one((salt, attempt)) % 1000;
    (capped * (0.5 + noise as f64 / 1000.0)) as i64
}

/// Rescans the job's file so the catalog holds its current state.
async fn refresh_photo(
    inner: &Inner,
    job: &Job,
) -> syncroll_core::Result<Option<syncroll_core::Photo>> {
    let Some(id) = job.photo_id else {
        return Ok(None);
    };
    let Some(photo) = inner.store.photo(id).await? else {
        return Ok(None);
    };
    let scope = ScanTarget::Scopes {
        root: photo.root_id,
        scopes: vec![RelPath::from_bytes(photo.rel_path.as_bytes().to_vec())],
    };
    let _ = inner.scanner.scan(scope, ScanReason::Rescan).await;
    inner.store.photo(id).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let config = crate::config::SyncConfig {
            retry_base_ms: 1000,
            retry_max_secs: 10,
            ..Default::default()
        };
        for attempt in 1..30 {
            let ms = backoff_ms(&config, attempt, 7);
            let nominal = (1000u64 << (attempt - 1).min(20)).min(10_000) as i64;
            assert!(
                ms >= nominal / 2 && ms < nominal * 3 / 2,
                "attempt {attempt}: {ms}"
            );
        }
    }
}
