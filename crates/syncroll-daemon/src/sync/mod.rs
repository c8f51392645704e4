//! The sync engine: the planner pass that turns synced collections into
//! jobs, the scheduler that runs them with bounded concurrency, and the
//! controls (pause, resume, cancel) that stop in-flight transfers at once.
//!
//! Invariants:
//! - Job states change only through the store's transition function.
//! - An interrupted transfer (pause, shutdown) goes back to the queue
//!   without counting an attempt; a cancelled one is recorded as cancelled.
//! - Deletes only ever target ledger keys (the planner's rule), and are
//!   skipped when another synced collection's folder on the remote holds
//!   the key.

mod downloads;
mod recorder;
mod worker;

pub use downloads::{DownloadError, DownloadOutcome, DownloadRunner};
pub use worker::CANCELLED_BY_REQUEST;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use syncroll_core::job::{JobId, JobOp};
use syncroll_core::store::{JobCounts, PLAN_CHUNK, PausedUntil, PlanOutcome};
use syncroll_core::{CollectionId, Store};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::config::SyncConfig;
use crate::datadir::DataDirGuard;
use crate::remotes::Remotes;
use crate::scanner::ScannerHandle;
use crate::status::LiveStatus;

/// Tells the scheduler that jobs left its hands, when dropped: also when
/// their worker panicked, so the engine does not wait on them forever (they
/// stay `running` in the catalog, and a restart requeues them).
struct ReportDone {
    jobs: Vec<JobId>,
    done: tokio::sync::mpsc::UnboundedSender<JobId>,
}

impl Drop for ReportDone {
    fn drop(&mut self) {
        for job in &self.jobs {
            let _ = self.done.send(*job);
        }
    }
}

/// A claimed job (or batch of deletes), registered and about to start.
enum Start {
    One {
        claimed: Box<syncroll_core::store::ClaimedJob>,
        cancel: CancellationToken,
        stop: Arc<Mutex<Option<Stop>>>,
        progress: Arc<AtomicU64>,
    },
    Deletes {
        batch: Vec<(syncroll_core::job::Job, Arc<Mutex<Option<Stop>>>)>,
        cancel: CancellationToken,
    },
}

/// Delete jobs run together, at most this many (S3's DeleteObjects takes up
/// to 1000 keys a request).
const DELETE_BATCH: usize = 500;

/// Asks for a planning pass; shared with the scanner, which calls
/// [`PlanSignal::request`] whenever the catalog changed.
#[derive(Debug, Default)]
pub struct PlanSignal {
    dirty: AtomicBool,
    planning: AtomicBool,
    notify: Notify,
    /// Counts finished passes, so `status` can tell whether one ran while
    /// it read the queue.
    passes: AtomicU64,
}

impl PlanSignal {
    pub fn request(&self) {
        self.dirty.store(true, Ordering::SeqCst);
        self.notify.notify_one();
    }

    /// True while a pass is asked for or running.
    pub fn busy(&self) -> bool {
        self.dirty.load(Ordering::SeqCst) || self.planning.load(Ordering::SeqCst)
    }
}

/// Why a running transfer is being stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Stop {
    Pause,
    Shutdown,
    /// The data dir cannot be written: back to the queue, like a pause,
    /// but the user's pause stays as it was.
    DataDir,
    /// `hold`: the user cancelled, so the work is not planned again until
    /// `retry` (see `Store::hold_job`).
    Cancel {
        reason: String,
        hold: bool,
    },
}

/// A transfer in flight.
#[derive(Debug)]
struct Running {
    collection: Option<CollectionId>,
    collection_name: String,
    key: String,
    /// Uploads and downloads are shown in status as transfers (a delete
    /// is not).
    op: JobOp,
    bytes_total: u64,
    progress: Arc<AtomicU64>,
    cancel: CancellationToken,
    stop: Arc<Mutex<Option<Stop>>>,
}

/// One in-flight transfer, for status.
#[derive(Debug, Clone)]
pub struct TransferView {
    pub job: JobId,
    /// `Upload` or `Download`.
    pub op: JobOp,
    pub collection: String,
    pub key: String,
    pub bytes_done: u64,
    pub bytes_total: u64,
}

/// Moving average of bytes per second.
#[derive(Debug, Default)]
struct RateMeter {
    last_total: u64,
    last_at: Option<Instant>,
    bytes_per_second: f64,
}

#[derive(Debug)]
struct Inner {
    store: Store,
    remotes: Remotes,
    scanner: ScannerHandle,
    status: LiveStatus,
    plan: Arc<PlanSignal>,
    config: SyncConfig,
    /// One planner at a time: the plan loop, or `plan_now`.
    planner: tokio::sync::Mutex<()>,
    running: Mutex<HashMap<JobId, Running>>,
    wake: Notify,
    /// Bytes of finished transfers since start.
    bytes_finished: AtomicU64,
    /// Whether abandoned uploads are being aborted, and whether another
    /// look is asked for.
    sweeping: AtomicBool,
    sweep_asked: AtomicBool,
    rate: Mutex<RateMeter>,
    /// Records transfers that ended well, in batches.
    recorder: recorder::Recorder,
    /// Counts interruptions (pause, cancel, `sync off`), each counted after
    /// its change is in the catalog and before the running transfers are
    /// looked at: a claim that saw no count change cannot have missed one.
    interruptions: AtomicU64,
    /// Sync waits while the catalog cannot be written.
    guard: DataDirGuard,
    /// Fires when the engine stops, for workers waiting on the data dir.
    shutdown: CancellationToken,
    /// Asks the pull engine for a poll: an upload that found the remote
    /// changed leaves the remote's edit to a pulling connection's poll.
    poll: crate::connections::PollSignal,
    /// Runs download jobs: the pull engine, given once it exists (it needs
    /// this engine first). Until then a download job waits in the queue.
    downloads: std::sync::OnceLock<Arc<dyn DownloadRunner>>,
    /// Notified each time jobs leave a worker's hands, for a poll waiting
    /// on the downloads it queued.
    jobs_ended: Notify,
}

/// Handle to the sync engine; cheap to clone.
#[derive(Debug, Clone)]
pub struct SyncEngine {
    inner: Arc<Inner>,
}

/// Queue-wide figures for status.
#[derive(Debug, Clone, Default)]
pub struct SyncSnapshot {
    pub paused: PausedUntil,
    pub idle: bool,
    pub queued: u64,
    pub running: u64,
    pub failed: u64,
    pub bytes_pending: u64,
    pub bytes_sent: u64,
    pub rate_bytes_per_second: f64,
    pub transfers: Vec<TransferView>,
    pub per_collection: HashMap<CollectionId, JobCounts>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl SyncEngine {
    pub fn new(
        store: Store,
        remotes: Remotes,
        scanner: ScannerHandle,
        status: LiveStatus,
        plan: Arc<PlanSignal>,
        config: SyncConfig,
        guard: DataDirGuard,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                recorder: recorder::Recorder::spawn(store.clone(), guard.clone()),
                guard,
                shutdown: CancellationToken::new(),
                store,
                remotes,
                scanner,
                status,
                plan,
                config,
                planner: tokio::sync::Mutex::new(()),
                running: Mutex::default(),
                wake: Notify::new(),
                bytes_finished: AtomicU64::new(0),
                sweeping: AtomicBool::new(false),
                sweep_asked: AtomicBool::new(false),
                rate: Mutex::default(),
                interruptions: AtomicU64::new(0),
                poll: crate::connections::PollSignal::default(),
                downloads: std::sync::OnceLock::new(),
                jobs_ended: Notify::new(),
            }),
        }
    }

    /// Gives the engine what runs download jobs; the first one given stays.
    pub fn set_download_runner(&self, runner: Arc<dyn DownloadRunner>) {
        let _ = self.inner.downloads.set(runner);
        self.inner.wake.notify_one();
    }

    /// Completes once some job leaves a worker's hands after this is
    /// called (made before reading job states, so an end between the read
    /// and the wait is not missed).
    pub fn job_ended(&self) -> tokio::sync::futures::Notified<'_> {
        self.inner.jobs_ended.notified()
    }

    /// The signal the pull engine waits on, shared with the app's
    /// `rescan --remote`.
    pub fn poll_signal(&self) -> &crate::connections::PollSignal {
        &self.inner.poll
    }

    /// Starts the planner and scheduler; both end when `shutdown` fires,
    /// after interrupting every transfer.
    pub fn spawn(&self, shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
        let planner = tokio::spawn(self.clone().plan_loop(shutdown.clone()));
        let scheduler = tokio::spawn(self.clone().schedule_loop(shutdown));
        tokio::spawn(async move {
            let _ = tokio::join!(planner, scheduler);
        })
    }

    /// Asks for a planning pass soon.
    pub fn request_plan(&self) {
        self.inner.plan.request();
    }

    /// Tells the scheduler that jobs were queued outside planning (a
    /// poll's downloads), so they start now rather than at its next look.
    pub fn jobs_queued(&self) {
        self.inner.wake.notify_one();
    }

    /// Reconciles one collection in full now (after `sync on` or `sync
    /// off`), chunk by chunk, and returns what it queued. What it aims for
    /// follows the collection's settings: its photos while it syncs, none
    /// while `sync off` removes its copies.
    pub async fn plan_now(&self, collection: CollectionId) -> syncroll_core::Result<PlanOutcome> {
        let store = &self.inner.store;
        let _planner = self.inner.planner.lock().await;
        store.request_reconcile(Some(collection), true).await?;
        let mut total = PlanOutcome::default();
        while let Some(step) = store.reconcile_step(Some(collection)).await? {
            total.add(&step.outcome);
            // Transfers start with the first chunk, not after the last.
            self.inner.wake.notify_one();
            if step.finished {
                break;
            }
        }
        // Like any pass, this one left running jobs alone: they look again
        // when they finish.
        self.inner.plan.passes.fetch_add(1, Ordering::SeqCst);
        abort_abandoned_uploads(&self.inner);
        Ok(total)
    }

    /// Asks for a full reconciliation of every synced collection (after a
    /// full rescan), in the background.
    pub async fn request_reconcile(&self) -> syncroll_core::Result<()> {
        self.inner.store.request_reconcile(None, false).await?;
        self.inner.plan.request();
        Ok(())
    }

    async fn plan_loop(self, shutdown: CancellationToken) {
        let every = Duration::from_secs(self.inner.config.replan_interval_secs.max(1));
        let reconcile_every = Duration::from_secs(self.inner.config.reconcile_interval_secs.max(1));
        let mut next_reconcile = Instant::now() + reconcile_every;
        // A pass at start plans what changed while the daemon was down, and
        // goes on with a reconciliation the last run did not finish.
        self.inner.plan.request();
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = self.inner.plan.notify.notified() => {}
                () = tokio::time::sleep(every), if !self.inner.guard.is_blocked() => {
                    // The safety net, and what keeps the queue from growing.
                    self.prune_finished_jobs().await;
                    abort_abandoned_uploads(&self.inner);
                    if Instant::now() >= next_reconcile {
                        next_reconcile = Instant::now() + reconcile_every;
                        if let Err(e) = self.inner.store.request_reconcile(None, false).await
                            && !self.inner.guard.report(&e)
                        {
                            warn!(error = %e, "cannot ask for a reconciliation");
                        }
                    }
                }
            }
            if self.inner.guard.is_blocked() {
                // Planning writes: it waits, and the scheduler asks for a
                // pass when the data dir takes writes again.
                continue;
            }
            let plan = &self.inner.plan;
            plan.planning.store(true, Ordering::SeqCst);
            plan.dirty.store(false, Ordering::SeqCst);
            match self.drain_planning(&shutdown).await {
                // Cancelled jobs may leave unfinished uploads behind; a
                // sweep that failed earlier is tried again on the timer.
                Ok(cancelled) if cancelled > 0 => abort_abandoned_uploads(&self.inner),
                Ok(_) => {}
                Err(e) if self.inner.guard.report(&e) => {
                    debug!(error = %e, "planning stopped: the data dir cannot be written");
                    plan.dirty.store(true, Ordering::SeqCst);
                }
                Err(e) => warn!(error = %e, "planning failed; trying again on the next change"),
            }
            plan.passes.fetch_add(1, Ordering::SeqCst);
            plan.planning.store(false, Ordering::SeqCst);
        }
    }

    /// Plans until nothing is waiting: the groups changes touched first
    /// (small, and what the user just did), then reconciliations, one chunk
    /// (one short transaction) at a time, yielding in between so finishing
    /// and claiming jobs never wait long for the write lock.
    /// Returns how many queued jobs planning cancelled.
    async fn drain_planning(&self, shutdown: &CancellationToken) -> syncroll_core::Result<u64> {
        let store = &self.inner.store;
        let mut cancelled = 0;
        while !shutdown.is_cancelled() && store.planning_pending().await? {
            {
                let _planner = self.inner.planner.lock().await;
                let (outcome, taken) = store.plan_pending(PLAN_CHUNK).await?;
                cancelled += outcome.cancelled;
                if outcome != PlanOutcome::default() {
                    debug!(
                        uploads = outcome.uploads,
                        deletes = outcome.deletes,
                        cancelled = outcome.cancelled,
                        groups = taken,
                        "planned changes"
                    );
                    self.inner.wake.notify_one();
                }
                if taken == 0
                    && let Some(step) = store.reconcile_step(None).await?
                {
                    cancelled += step.outcome.cancelled;
                    if step.outcome != PlanOutcome::default() {
                        self.inner.wake.notify_one();
                    }
                    if step.finished {
                        debug!(collection = %step.collection, "reconciled");
                    }
                }
            }
            tokio::task::yield_now().await;
        }
        Ok(cancelled)
    }

    /// Forgets finished jobs older than `sync.keep_finished_jobs_days`.
    async fn prune_finished_jobs(&self) {
        let keep_ms = self
            .inner
            .config
            .keep_finished_jobs_days
            .saturating_mul(86_400_000);
        let cutoff = syncroll_core::store::now_ms().saturating_sub(keep_ms as i64);
        match self.inner.store.prune_finished_jobs(cutoff).await {
            Ok(0) => {}
            Ok(n) => debug!(jobs = n, "forgot finished jobs"),
            Err(e) if self.inner.guard.report(&e) => {}
            Err(e) => warn!(error = %e, "cannot prune finished jobs"),
        }
    }

    /// Removes what the puts a crash cut off left on their remotes (an `fs`
    /// temporary). Best effort: a remote that cannot be reached keeps it
    /// until a put of that key or its deletion.
    async fn discard_interrupted_puts(&self, uploads: &[(syncroll_core::RemoteId, String)]) {
        for (remote, key) in uploads {
            let discarded = match self.inner.remotes.get(*remote).await {
                Ok(remote) => remote
                    .discard_interrupted_put(key)
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            if let Err(error) = discarded {
                warn!(%key, %error, "cannot remove what an interrupted upload left");
            }
        }
    }

    async fn schedule_loop(self, shutdown: CancellationToken) {
        match self.inner.store.requeue_interrupted_jobs().await {
            Ok(found) => {
                if found.requeued + found.cancelled > 0 {
                    info!(
                        requeued = found.requeued,
                        cancelled = found.cancelled,
                        "requeued jobs interrupted by the last shutdown or crash \
                         (cancelled those a cancel or sync off was stopping)"
                    );
                }
                // Before any put starts again: a put of the same key
                // replaces its temporary anyway, but one never tried again
                // would leave it for good.
                self.discard_interrupted_puts(&found.uploads).await;
            }
            Err(e) => warn!(error = %e, "cannot requeue interrupted jobs"),
        }
        // Uploads a crash left behind: those of the jobs just cancelled, and
        // those of jobs that ended before the crash whose sweep never ran.
        // Otherwise they would wait for the planner's timer.
        abort_abandoned_uploads(&self.inner);
        let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<JobId>();
        let mut data_dir = self.inner.guard.subscribe();
        let mut blocked = false;
        loop {
            self.sample_rate();
            if let Err(e) = self.start_runnable(&done_tx).await
                && !self.inner.guard.report(&e)
            {
                warn!(error = %e, "cannot start jobs");
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                Ok(()) = data_dir.changed() => {
                    // A new reason (less room) is no news here.
                    let now = data_dir.borrow_and_update().is_some();
                    if now != blocked {
                        blocked = now;
                        self.data_dir_changed(blocked);
                    }
                }
                () = self.inner.wake.notified() => {}
                Some(job) = done_rx.recv() => {
                    // Jobs recorded in one batch finish together: claim
                    // their successors together too, once the other
                    // workers of the batch (woken with this one) had their
                    // turn to say so. One claim round is two statements,
                    // however many jobs it takes.
                    self.finished(job);
                    tokio::task::yield_now().await;
                    while let Ok(job) = done_rx.try_recv() {
                        self.finished(job);
                    }
                }
                // Backoff deadlines, timed pauses and the rate meter.
                () = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
        }
        self.interrupt(|_, _| true, Stop::Shutdown);
        self.inner.shutdown.cancel();
        // Let workers record their interruption before the store closes.
        while !lock(&self.inner.running).is_empty() {
            match tokio::time::timeout(Duration::from_secs(5), done_rx.recv()).await {
                Ok(Some(job)) => self.finished(job),
                _ => break,
            }
        }
    }

    /// Stops every transfer when the data dir stops taking writes (their
    /// workers requeue them once it does); plans again when it takes them
    /// again, for what waited meanwhile.
    fn data_dir_changed(&self, blocked: bool) {
        if blocked {
            let n = self.interrupt(|_, _| true, Stop::DataDir);
            info!(
                interrupted = n,
                "transfers stopped until the data dir takes writes again"
            );
        } else {
            self.inner.plan.request();
        }
    }

    fn finished(&self, job: JobId) {
        self.inner.jobs_ended.notify_waiters();
        let Some(running) = lock(&self.inner.running).remove(&job) else {
            return;
        };
        self.inner
            .bytes_finished
            .fetch_add(running.progress.load(Ordering::Relaxed), Ordering::Relaxed);
    }

    async fn start_runnable(
        &self,
        done: &tokio::sync::mpsc::UnboundedSender<JobId>,
    ) -> syncroll_core::Result<()> {
        // Claiming writes, and so would every outcome.
        if self.inner.guard.is_blocked() {
            return Ok(());
        }
        // `claim_jobs` claims nothing while the daemon-wide pause is on.
        let free = self
            .inner
            .config
            .concurrency
            .saturating_sub(lock(&self.inner.running).len());
        if free == 0 {
            return Ok(());
        }
        // A pause, cancel or `sync off` that lands between the claim and the
        // registration below cannot reach these jobs through `interrupt`;
        // it changes this count, and then each job reads again whether it
        // should still run. Otherwise that read is saved.
        let interruptions = self.inner.interruptions.load(Ordering::SeqCst);
        let claimed = self.inner.store.claim_jobs(free, &[]).await?;
        let mut starts = Vec::with_capacity(claimed.len());
        // Where the delete batch of each remote and collection is in
        // `starts`: deletes claimed in one round join one batch.
        let mut delete_batches = HashMap::new();
        for claimed in claimed {
            let job = &claimed.job;
            if job.op == JobOp::Delete && self.deletes_in_bulk(job).await {
                // Deletes go together to a remote that deletes many keys in
                // one request (S3); each job keeps its own stop, so
                // cancelling one interrupts (and requeues) the others.
                let group = (job.remote_id, job.collection_id);
                let at = match delete_batches.get(&group) {
                    Some(at) => *at,
                    None => {
                        delete_batches.insert(group, starts.len());
                        starts.push(Start::Deletes {
                            batch: Vec::new(),
                            cancel: CancellationToken::new(),
                        });
                        starts.len() - 1
                    }
                };
                let Start::Deletes { batch, cancel } = &mut starts[at] else {
                    unreachable!("delete_batches points at delete batches");
                };
                let mut jobs = vec![claimed.job];
                if batch.is_empty() {
                    match self
                        .inner
                        .store
                        .claim_delete_batch(&jobs[0], DELETE_BATCH - 1)
                        .await
                    {
                        Ok(more) => jobs.extend(more),
                        Err(e) => warn!(error = %e, "cannot batch deletes; deleting one"),
                    }
                }
                for job in jobs {
                    let stop = Arc::new(Mutex::new(None));
                    self.register(&job, cancel, &stop, Arc::default());
                    batch.push((job, stop));
                }
                continue;
            }
            let cancel = CancellationToken::new();
            let stop = Arc::new(Mutex::new(None));
            let progress = Arc::new(AtomicU64::new(0));
            self.register(&claimed.job, &cancel, &stop, progress.clone());
            starts.push(Start::One {
                claimed: Box::new(claimed),
                cancel,
                stop,
                progress,
            });
        }
        let recheck = self.inner.interruptions.load(Ordering::SeqCst) != interruptions;
        for start in starts {
            let inner = self.inner.clone();
            match start {
                Start::Deletes { batch, cancel } => {
                    let report = ReportDone {
                        jobs: batch.iter().map(|(job, _)| job.id).collect(),
                        done: done.clone(),
                    };
                    tokio::spawn(async move {
                        let _report = report;
                        worker::run_deletes(&inner, batch, recheck, cancel).await;
                    });
                }
                Start::One {
                    claimed,
                    cancel,
                    stop,
                    progress,
                } => {
                    let report = ReportDone {
                        jobs: vec![claimed.job.id],
                        done: done.clone(),
                    };
                    tokio::spawn(async move {
                        let _report = report;
                        worker::run(&inner, *claimed, recheck, cancel, stop, progress).await;
                    });
                }
            }
        }
        Ok(())
    }

    /// Whether the job's remote deletes many keys in one request.
    async fn deletes_in_bulk(&self, job: &syncroll_core::job::Job) -> bool {
        match self.inner.remotes.get(job.remote_id).await {
            Ok(remote) => remote.deletes_in_bulk(),
            // The worker reports why the remote cannot be opened.
            Err(_) => false,
        }
    }

    /// Keeps a handle on a job about to run, for pause, cancel and status.
    fn register(
        &self,
        job: &syncroll_core::job::Job,
        cancel: &CancellationToken,
        stop: &Arc<Mutex<Option<Stop>>>,
        progress: Arc<AtomicU64>,
    ) {
        lock(&self.inner.running).insert(
            job.id,
            Running {
                collection: job.collection_id,
                collection_name: job.collection_name.clone().unwrap_or_default(),
                key: job.key.clone(),
                op: job.op,
                bytes_total: job.bytes_total,
                progress,
                cancel: cancel.clone(),
                stop: stop.clone(),
            },
        );
    }

    /// Stops matching transfers within a chunk's time; returns how many.
    fn interrupt(&self, matches: impl Fn(&JobId, &Running) -> bool, why: Stop) -> u64 {
        // Before the look at the running set; see `start_runnable`.
        self.inner.interruptions.fetch_add(1, Ordering::SeqCst);
        let running = lock(&self.inner.running);
        let mut n = 0;
        for job in running
            .iter()
            .filter(|(id, r)| matches(id, r))
            .map(|(_, r)| r)
        {
            *lock(&job.stop) = Some(why.clone());
            job.cancel.cancel();
            n += 1;
        }
        n
    }

    /// Pauses everything, or one collection.
    pub async fn pause(
        &self,
        collection: Option<CollectionId>,
        until: PausedUntil,
    ) -> syncroll_core::Result<u64> {
        match collection {
            None => self.inner.store.set_global_pause(until).await?,
            Some(c) => self.inner.store.set_collection_paused(c, until).await?,
        }
        let n = self.interrupt(
            |_, r| collection.is_none() || r.collection == collection,
            Stop::Pause,
        );
        info!(collection = ?collection, interrupted = n, "paused");
        Ok(n)
    }

    pub async fn resume(&self, collection: Option<CollectionId>) -> syncroll_core::Result<()> {
        match collection {
            None => self.inner.store.set_global_pause(None).await?,
            Some(c) => self.inner.store.set_collection_paused(c, None).await?,
        }
        info!(collection = ?collection, "resumed");
        self.inner.wake.notify_one();
        Ok(())
    }

    /// Drops a collection's queued and running work.
    pub async fn cancel_collection(
        &self,
        collection: CollectionId,
        reason: &str,
        hold: bool,
    ) -> syncroll_core::Result<u64> {
        let (queued, running) = self
            .inner
            .store
            .cancel_live_jobs(Some(collection), reason, hold)
            .await?;
        let n = self.interrupt(
            |_, r| r.collection == Some(collection),
            Stop::Cancel {
                reason: reason.to_owned(),
                hold,
            },
        );
        debug!(
            queued,
            running = running.len(),
            interrupted = n,
            "cancelled"
        );
        self.wait_for_workers_of(collection).await;
        abort_abandoned_uploads(&self.inner);
        Ok(queued + n)
    }

    /// Waits (at most a few seconds) until the interrupted workers of
    /// `collection` have recorded how they ended. A put that landed just
    /// before its cancel is then in the ledger, so what follows (`sync
    /// off` deleting the copies) knows of it even if the daemon is killed
    /// the moment the call returns; otherwise the object would be left on
    /// the remote, unknown to the ledger and never deleted.
    async fn wait_for_workers_of(&self, collection: CollectionId) {
        const LIMIT: Duration = Duration::from_secs(5);
        const STEP: Duration = Duration::from_millis(10);
        let deadline = tokio::time::Instant::now() + LIMIT;
        while lock(&self.inner.running)
            .values()
            .any(|r| r.collection == Some(collection))
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(STEP).await;
        }
    }

    /// Drops one job.
    pub async fn cancel_job(&self, job: JobId) -> syncroll_core::Result<u64> {
        let reason = worker::CANCELLED_BY_REQUEST;
        let stop = || Stop::Cancel {
            reason: reason.to_owned(),
            hold: true,
        };
        if self.interrupt(|id, _| *id == job, stop()) > 0 {
            return Ok(1);
        }
        if self
            .inner
            .store
            .cancel_if_waiting(job, reason, true)
            .await?
        {
            abort_abandoned_uploads(&self.inner);
            return Ok(1);
        }
        // Claimed between the two looks: it is running now, or about to
        // (then its worker finds the request as it starts).
        self.inner.store.request_cancel(job).await?;
        if self.interrupt(|id, _| *id == job, stop()) > 0 {
            return Ok(1);
        }
        if self.inner.store.job(job).await?.state.is_running() {
            return Ok(1);
        }
        let state = self.inner.store.job(job).await?.state;
        Err(syncroll_core::job::IllegalTransition {
            from: state.name(),
            event: "cancelled",
        }
        .into())
    }

    /// Aborts the abandoned uploads to `remote` now, before it is forgotten
    /// (after which nothing could find them again). Best effort: what
    /// fails is logged.
    pub async fn abort_uploads_to(&self, remote: syncroll_core::RemoteId) {
        sweep_abandoned_uploads(&self.inner, Some(remote)).await;
    }

    /// Wakes the scheduler (after a retry).
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    fn sample_rate(&self) {
        let sent = self.bytes_sent();
        let mut meter = lock(&self.inner.rate);
        let now = Instant::now();
        if let Some(at) = meter.last_at {
            let dt = now.duration_since(at).as_secs_f64();
            if dt >= 0.5 {
                let instant = sent.saturating_sub(meter.last_total) as f64 / dt;
                meter.bytes_per_second = 0.3 * instant + 0.7 * meter.bytes_per_second;
                meter.last_total = sent;
                meter.last_at = Some(now);
            }
        } else {
            meter.last_total = sent;
            meter.last_at = Some(now);
        }
    }

    fn bytes_sent(&self) -> u64 {
        let in_flight: u64 = lock(&self.inner.running)
            .values()
            .map(|r| r.progress.load(Ordering::Relaxed))
            .sum();
        self.inner.bytes_finished.load(Ordering::Relaxed) + in_flight
    }

    /// Why sync is paused by the data dir (full, read-only), if it is.
    pub fn blocked_reason(&self) -> Option<String> {
        self.inner.guard.reason()
    }

    /// Queue-wide figures for `status` and `watch`.
    pub async fn snapshot(&self) -> syncroll_core::Result<SyncSnapshot> {
        let store = &self.inner.store;
        // Idle must not be read between a pass's reads and its writes: a
        // pass that was asked for, running, or finished while the counts
        // were read makes the snapshot busy.
        let plan = &self.inner.plan;
        let passes_before = plan.passes.load(Ordering::SeqCst);
        let busy_before = plan.busy();
        let (queued, running, failed) = store.queue_totals().await?;
        let per_collection: HashMap<_, _> = store.job_counts().await?.into_iter().collect();
        let transfers: Vec<TransferView> = lock(&self.inner.running)
            .iter()
            .filter(|(_, r)| r.op != JobOp::Delete)
            .map(|(id, r)| TransferView {
                job: *id,
                op: r.op,
                collection: r.collection_name.clone(),
                key: r.key.clone(),
                bytes_done: r.progress.load(Ordering::Relaxed),
                bytes_total: r.bytes_total,
            })
            .collect();
        // What is pending counts uploads only (see the `job_tallies`
        // triggers).
        let in_flight: u64 = transfers
            .iter()
            .filter(|t| t.op == JobOp::Upload)
            .map(|t| t.bytes_done)
            .sum();
        let bytes_pending = per_collection
            .values()
            .map(|c| c.bytes_pending)
            .sum::<u64>()
            .saturating_sub(in_flight);
        // Files still settling will be indexed and sent: not idle yet.
        let scanning = {
            let scan = self.inner.status.scan();
            scan.scanning || scan.settling > 0
        };
        // Changes wait in `plan_queue` (or a reconciliation is under way)
        // until a pass takes them, whether or not one was asked for yet.
        let planning = busy_before
            || store.planning_pending().await?
            || plan.busy()
            || plan.passes.load(Ordering::SeqCst) != passes_before;
        // A worker leaves the running set only after it recorded its outcome
        // and asked for any follow-up pass.
        let workers = !transfers.is_empty() || !lock(&self.inner.running).is_empty();
        Ok(SyncSnapshot {
            paused: store.global_pause().await?,
            idle: queued == 0 && running == 0 && !planning && !workers && !scanning,
            queued,
            running,
            failed,
            bytes_pending,
            bytes_sent: self.bytes_sent(),
            rate_bytes_per_second: lock(&self.inner.rate).bytes_per_second,
            transfers,
            per_collection,
        })
    }
}

/// Aborts, in the background, the unfinished uploads of jobs that ended
/// without finishing them (cancel, `sync off`, a file removed from the
/// collection), so no parts stay on a server to be billed. One sweep runs at
/// a time, and again if asked meanwhile; an abort that fails is tried again
/// after the next planning pass.
fn abort_abandoned_uploads(inner: &Arc<Inner>) {
    inner.sweep_asked.store(true, Ordering::SeqCst);
    if inner.sweeping.swap(true, Ordering::SeqCst) {
        return;
    }
    let inner = inner.clone();
    tokio::spawn(async move {
        loop {
            while inner.sweep_asked.swap(false, Ordering::SeqCst) {
                sweep_abandoned_uploads(&inner, None).await;
            }
            inner.sweeping.store(false, Ordering::SeqCst);
            // Asked between the last look and now: go on, unless another
            // sweep took over.
            if !inner.sweep_asked.load(Ordering::SeqCst)
                || inner.sweeping.swap(true, Ordering::SeqCst)
            {
                return;
            }
        }
    });
}

/// Aborts the abandoned uploads (of one remote, or all), forgetting each
/// once its remote let it go.
async fn sweep_abandoned_uploads(inner: &Inner, only: Option<syncroll_core::RemoteId>) {
    let uploads = match inner.store.abandoned_uploads().await {
        Ok(uploads) => uploads,
        Err(e) => {
            warn!(error = %e, "cannot look for abandoned uploads");
            return;
        }
    };
    let uploads = uploads
        .into_iter()
        .filter(|u| only.is_none_or(|remote| u.remote == remote));
    for upload in uploads {
        let aborted = match inner.remotes.get(upload.remote).await {
            Ok(remote) => remote
                .abandon_upload(&upload.key, &upload.state)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match aborted {
            Ok(()) => {
                debug!(job = %upload.job, key = %upload.key, "aborted an abandoned upload");
                if let Err(e) = inner.store.forget_abandoned_upload(&upload).await {
                    warn!(error = %e, "cannot forget an aborted upload");
                }
            }
            Err(e) => {
                warn!(job = %upload.job, key = %upload.key, error = %e,
                    "cannot abort an abandoned upload yet; trying again later");
            }
        }
    }
}
