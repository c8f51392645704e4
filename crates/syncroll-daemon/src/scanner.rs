//! The scanner keeps `photos` true to the disk: full scans of roots and
//! partial scans of the paths the watcher reports, one request at a time so
//! two scans never reconcile the same rows at once.
//!
//! Invariants:
//! - Every scan, whole or partial, first asks [`check_root`] whether the
//!   folder at the root's path is the root's folder (present, readable, the
//!   device and inode recorded when it was added, not empty while the
//!   catalog holds photos for it), and asks again after its walk. A root
//!   that fails is marked missing and nothing of it changes: absence is
//!   never read as deletion. Photo rows change only with the
//!   [`VerifiedRoot`] the check returns.
//! - A file is hashed only when its (size, mtime, inode) changed.
//! - Scan results land in batches of at most [`APPLY_BATCH`] files, each one
//!   transaction, so progress is visible and memory stays bounded.
//! - A new or changed file whose size or mtime changed within
//!   `watcher.settle_ms` is not indexed yet (so no upload of it is planned):
//!   [`Settling`] keeps it, and the scanner scans it again when it is due,
//!   without waiting for another event. Only scans the user asked for
//!   (`rescan`, `collections add`, `roots accept`) and a worker's refresh
//!   of a file that changed under its upload index what they find at once.

use std::collections::HashSet;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use syncroll_core::media::{PhotoFilter, is_ignored_name};
use syncroll_core::reconcile::{self, FoundFile, IndexedFile, SortedMerge, Unmatched};
use syncroll_core::root_identity::{
    self, FolderIdentity, FolderProbe, MissingReason, VerifiedRoot, WholeWalk,
};
use syncroll_core::store::PhotoChanges;
use syncroll_core::{ContentHash, FileStat, RelPath, Root, RootId, RootState, Store, unix_now};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info, info_span, warn};

use crate::datadir::DataDirGuard;
use crate::settling::Settling;
use crate::status::LiveStatus;
use crate::sync::PlanSignal;

/// Files hashed and written per transaction.
const APPLY_BATCH: usize = 256;
/// A file still changing after this many hash attempts is left to settle
/// (it is being written, e.g. a card import in progress).
const HASH_ATTEMPTS: usize = 3;
/// Settling files fall due one by one (a card import writes a file after
/// another); looking this much later takes those due meanwhile along in
/// the same scan, rather than one scan per file.
const SETTLED_BATCH_WINDOW: Duration = Duration::from_millis(250);

/// Why a scan runs; shown in `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanReason {
    Startup,
    Rescan,
    RootAdded,
    RootOnline,
    RootAccepted,
    WatcherEvent,
    WatcherFallback,
    Periodic,
    /// Files that were still being written are due to be looked at again.
    Settled,
}

impl ScanReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Startup => "startup",
            Self::Rescan => "rescan",
            Self::RootAdded => "root-added",
            Self::RootOnline => "root-online",
            Self::RootAccepted => "root-accepted",
            Self::WatcherEvent => "watcher",
            Self::WatcherFallback => "watcher-fallback",
            Self::Periodic => "periodic",
            Self::Settled => "settled",
        }
    }

    /// Whether the scan leaves files that changed a moment ago to settle.
    /// A scan the user asked for (`rescan`, `collections add`, `roots
    /// accept`, which say what they found) indexes what is there now, as
    /// does a worker's refresh of a file that changed under its upload: its
    /// job is retargeted to what the catalog then holds.
    fn waits_for_settling(self) -> bool {
        !matches!(self, Self::Rescan | Self::RootAccepted)
    }
}

/// What one or more scans changed.
#[derive(Debug, Clone, Default)]
pub struct ScanSummary {
    pub files_seen: u64,
    pub files_hashed: u64,
    pub added: u64,
    pub updated: u64,
    pub removed: u64,
    pub renamed: u64,
    pub missing_roots: Vec<PathBuf>,
}

impl ScanSummary {
    /// Whether the catalog changed (or a root went missing).
    pub fn changed(&self) -> bool {
        self.added + self.updated + self.removed + self.renamed > 0
            || !self.missing_roots.is_empty()
    }

    fn absorb(&mut self, other: ScanSummary) {
        self.files_seen += other.files_seen;
        self.files_hashed += other.files_hashed;
        self.added += other.added;
        self.updated += other.updated;
        self.removed += other.removed;
        self.renamed += other.renamed;
        self.missing_roots.extend(other.missing_roots);
    }
}

type ScanResult = Result<ScanSummary, Arc<syncroll_core::Error>>;

/// What to scan.
#[derive(Debug, Clone)]
pub enum ScanTarget {
    /// Every root.
    All,
    /// Paths of one root; the empty path is the whole root.
    Scopes { root: RootId, scopes: Vec<RelPath> },
}

/// What a whole scan of a root would change, counted without hashing or
/// writing anything (`roots accept` shows it before taking a new folder).
#[derive(Debug, Clone)]
pub struct RootPreview {
    /// The identity the folder has now.
    pub found: FolderIdentity,
    pub added: u64,
    pub removed: u64,
    pub changed: u64,
    pub renamed: u64,
    pub unchanged: u64,
}

type PreviewResult = Result<RootPreview, Arc<syncroll_core::Error>>;

#[derive(Debug)]
struct ScanRequest {
    target: ScanTarget,
    reason: ScanReason,
    /// Files the watcher saw closed after writing (or renamed into place)
    /// and then left alone: complete, so indexed without settling.
    complete: HashSet<RelPath>,
    done: Option<oneshot::Sender<ScanResult>>,
}

/// How a scan treats a new or changed file whose stat changed a moment ago.
#[derive(Debug, Clone, Copy)]
enum Settle<'a> {
    /// Indexes it as it is now (a scan the user asked for).
    IndexNow,
    /// Leaves it to settle, unless it is one of `complete`.
    Wait { complete: &'a HashSet<RelPath> },
}

/// What the scanner task is asked to do, one at a time.
#[derive(Debug)]
enum ScannerRequest {
    Scan(ScanRequest),
    Preview {
        root: Root,
        done: oneshot::Sender<PreviewResult>,
    },
}

/// Files a download is landing: placed on disk, not yet recorded in the
/// ledger. Scans pass them over until the pull engine lets go
/// ([`ScannerHandle::hold_back`]); indexed earlier, the file would read to
/// the planner as a new photo and be uploaded back to the key it came
/// from.
type Landing = Arc<Mutex<HashSet<(RootId, RelPath)>>>;

/// Queues scans on the one scanner task.
#[derive(Debug, Clone)]
pub struct ScannerHandle {
    tx: mpsc::UnboundedSender<ScannerRequest>,
    landing: Landing,
}

/// A file scans pass over while this lives; see [`ScannerHandle::hold_back`].
#[derive(Debug)]
pub struct HeldBack {
    handle: ScannerHandle,
    file: (RootId, RelPath),
}

impl Drop for HeldBack {
    fn drop(&mut self) {
        lock_landing(&self.handle.landing).remove(&self.file);
        // A scan the watcher asked for meanwhile passed the file over; one
        // more sees it as it is now (the download's, or a file of the
        // user's that took the name first).
        let (root, rel_path) = self.file.clone();
        self.handle
            .request_changed(root, vec![rel_path.clone()], HashSet::from([rel_path]));
    }
}

fn lock_landing(landing: &Landing) -> std::sync::MutexGuard<'_, HashSet<(RootId, RelPath)>> {
    // A set of paths stays a valid set whatever a panicking holder did.
    landing
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl ScannerHandle {
    /// Scans pass over `rel_path` of `root` (neither index nor settle it)
    /// until the returned guard is dropped; then a scan of it indexes it.
    pub fn hold_back(&self, root: RootId, rel_path: RelPath) -> HeldBack {
        let file = (root, rel_path);
        lock_landing(&self.landing).insert(file.clone());
        HeldBack {
            handle: self.clone(),
            file,
        }
    }

    /// Queues a scan and returns at once.
    pub fn request(&self, target: ScanTarget, reason: ScanReason) {
        // A closed channel means the daemon is shutting down; nothing to do.
        let _ = self.tx.send(ScannerRequest::Scan(ScanRequest {
            target,
            reason,
            complete: HashSet::new(),
            done: None,
        }));
    }

    /// Queues a scan of `scopes` after watcher events, where `complete` are
    /// the files whose last event was a close after writing or a rename
    /// into place: their writer is done, so they are indexed at once
    /// rather than after `watcher.settle_ms`.
    pub fn request_changed(&self, root: RootId, scopes: Vec<RelPath>, complete: HashSet<RelPath>) {
        let _ = self.tx.send(ScannerRequest::Scan(ScanRequest {
            target: ScanTarget::Scopes { root, scopes },
            reason: ScanReason::WatcherEvent,
            complete,
            done: None,
        }));
    }

    /// Queues a scan and waits for it to finish.
    pub async fn scan(&self, target: ScanTarget, reason: ScanReason) -> ScanResult {
        let (done, wait) = oneshot::channel();
        let request = ScannerRequest::Scan(ScanRequest {
            target,
            reason,
            complete: HashSet::new(),
            done: Some(done),
        });
        if self.tx.send(request).is_err() {
            return Ok(ScanSummary::default());
        }
        wait.await.unwrap_or_else(|_| Ok(ScanSummary::default()))
    }

    /// Counts what a whole scan of `root`'s folder as it is now would
    /// change, whatever its identity; changes nothing. `None` when the
    /// scanner has stopped (the daemon is shutting down).
    pub async fn preview(&self, root: Root) -> Option<PreviewResult> {
        let (done, wait) = oneshot::channel();
        self.tx.send(ScannerRequest::Preview { root, done }).ok()?;
        wait.await.ok()
    }
}

/// The scanner task's state.
#[derive(Debug)]
pub struct Scanner {
    store: Store,
    filter: Arc<PhotoFilter>,
    status: LiveStatus,
    hash_workers: usize,
    /// syncroll's own folders, never indexed even when inside a root.
    skip_dirs: Arc<Vec<PathBuf>>,
    cancel: CancellationToken,
    /// Told whenever a scan changed the catalog, so synced collections are
    /// planned again.
    plan: Arc<PlanSignal>,
    /// Told when a scan could not write: the data dir is full or read-only.
    guard: DataDirGuard,
    /// Files not indexed yet because they changed a moment ago. Only the
    /// scanner task touches it; the lock is never held across an await.
    settling: Mutex<Settling>,
    /// Shared with every [`ScannerHandle`].
    landing: Landing,
}

impl Scanner {
    #[allow(
        clippy::too_many_arguments,
        reason = "each is a handle the scanner task owns; a struct of them would be built in one place only"
    )]
    pub fn new(
        store: Store,
        filter: PhotoFilter,
        status: LiveStatus,
        hash_workers: usize,
        skip_dirs: Vec<PathBuf>,
        cancel: CancellationToken,
        plan: Arc<PlanSignal>,
        guard: DataDirGuard,
    ) -> Self {
        Self {
            store,
            filter: Arc::new(filter),
            status,
            hash_workers,
            skip_dirs: Arc::new(skip_dirs),
            cancel,
            plan,
            guard,
            settling: Mutex::new(Settling::new(Duration::ZERO)),
            landing: Landing::default(),
        }
    }

    /// Leaves new and changed files unindexed until they have held still
    /// for `settle` (`watcher.settle_ms`); zero, the default, indexes them
    /// at once.
    pub fn settle_after(self, settle: Duration) -> Self {
        Self {
            settling: Mutex::new(Settling::new(settle)),
            ..self
        }
    }

    fn settling(&self) -> std::sync::MutexGuard<'_, Settling> {
        // A panic while holding it leaves a map that is still valid.
        self.settling
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Starts the scanner task; it ends when `cancel` fires.
    pub fn spawn(self) -> (ScannerHandle, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let landing = self.landing.clone();
        let task = tokio::spawn(self.run(rx));
        (ScannerHandle { tx, landing }, task)
    }

    async fn run(self, mut rx: mpsc::UnboundedReceiver<ScannerRequest>) {
        loop {
            let due = self
                .settling()
                .next_due()
                .map(|due| due + SETTLED_BATCH_WINDOW);
            let request = tokio::select! {
                request = rx.recv() => match request {
                    Some(request) => request,
                    None => return,
                },
                () = self.cancel.cancelled() => return,
                () = sleep_until_due(due) => {
                    self.scan_settled().await;
                    continue;
                }
            };
            let request = match request {
                ScannerRequest::Scan(request) => request,
                ScannerRequest::Preview { root, done } => {
                    let span = info_span!("preview", root = %root.path.display());
                    let result = self.preview(&root).instrument(span).await;
                    let _ = done.send(result.map_err(Arc::new));
                    continue;
                }
            };
            let span =
                info_span!("scan", reason = request.reason.as_str(), target = ?request.target);
            let result = self.handle(&request).instrument(span).await;
            match &result {
                // Logged once by the guard; a rescan follows recovery.
                Err(e) if self.guard.report_scan(e) => {
                    debug!(error = %e, "scan stopped: the data dir cannot be written")
                }
                Err(e) => warn!(error = %e, "scan failed"),
                Ok(_) => {}
            }
            if let Some(done) = request.done {
                let _ = done.send(result);
            }
        }
    }

    /// Scans the settling files that are due, one scan per root.
    async fn scan_settled(&self) {
        let due = self.settling().take_due(Instant::now());
        for (root, scopes) in due {
            let request = ScanRequest {
                target: ScanTarget::Scopes { root, scopes },
                reason: ScanReason::Settled,
                complete: HashSet::new(),
                done: None,
            };
            let span =
                info_span!("scan", reason = request.reason.as_str(), target = ?request.target);
            if let Err(e) = self.handle(&request).instrument(span).await {
                warn!(error = %e, "scan failed");
            }
        }
    }

    async fn handle(&self, request: &ScanRequest) -> ScanResult {
        let started = Instant::now();
        {
            let mut scan = self.status.scan();
            scan.scanning = true;
            scan.reason = request.reason.as_str().to_owned();
            scan.files_seen = 0;
            scan.files_hashed = 0;
            scan.bytes_hashed = 0;
            scan.unreadable_entries = 0;
        }
        let settle = if request.reason.waits_for_settling() {
            Settle::Wait {
                complete: &request.complete,
            }
        } else {
            Settle::IndexNow
        };
        let result = self.scan_target(&request.target, settle).await;
        // Ask for planning before the scan reads as finished, so "idle" never
        // shows between a change and its planning.
        if result.as_ref().map_or(true, ScanSummary::changed) {
            self.plan.request();
        }
        let settling = self.settling().len() as u64;
        let mut scan = self.status.scan();
        scan.scanning = false;
        scan.settling = settling;
        scan.current_root.clear();
        scan.last_finished_at = unix_now();
        scan.last_duration_ms = started.elapsed().as_millis() as u64;
        if let Ok(summary) = &result
            && (summary.files_hashed > 0 || summary.removed > 0 || summary.renamed > 0)
        {
            info!(
                seen = summary.files_seen,
                hashed = summary.files_hashed,
                added = summary.added,
                updated = summary.updated,
                removed = summary.removed,
                renamed = summary.renamed,
                ms = scan.last_duration_ms,
                "scan finished"
            );
        }
        result.map_err(Arc::new)
    }

    async fn scan_target(
        &self,
        target: &ScanTarget,
        settle: Settle<'_>,
    ) -> Result<ScanSummary, syncroll_core::Error> {
        let roots = self.store.roots_brief().await?;
        let mut summary = ScanSummary::default();
        match target {
            ScanTarget::All => {
                for root in &roots {
                    if self.cancel.is_cancelled() {
                        break;
                    }
                    summary.absorb(self.scan_root(root, &[RelPath::root()], settle).await?);
                }
            }
            ScanTarget::Scopes { root, scopes } => {
                // The root may have been removed since the request was made.
                match roots.iter().find(|r| r.id == *root) {
                    Some(root) => {
                        let scopes = minimal_scopes(scopes);
                        summary.absorb(self.scan_root(root, &scopes, settle).await?);
                    }
                    None => self.settling().forget_root(*root),
                }
            }
        }
        Ok(summary)
    }

    /// Scans `scopes` of one root and applies what changed, if the folder
    /// at its path is its folder before and after the walk.
    async fn scan_root(
        &self,
        root: &Root,
        scopes: &[RelPath],
        settle: Settle<'_>,
    ) -> Result<ScanSummary, syncroll_core::Error> {
        self.status.scan().current_root = root.path.display().to_string();
        let mut summary = ScanSummary::default();
        let before = match check_root(&self.store, root, None, false).await? {
            Ok(verified) => verified,
            Err(reason) => return self.missing(root, reason, summary).await,
        };
        let whole_root = scopes.iter().any(RelPath::is_root);

        let mut unmatched = Unmatched::default();
        let mut unreadable = Vec::new();
        for scope in scopes {
            let merged = self.merge(root, scope).await?;
            unmatched.absorb(merged.unmatched);
            unreadable.extend(merged.unreadable);
        }
        summary.files_seen = unmatched.found;
        self.status.scan().unreadable_entries += unreadable.len() as u64;

        // Look again: a disk unmounted or a folder swapped during the walk
        // makes what it found worthless.
        let walked_empty = whole_root && unmatched.found == 0;
        let verified = match check_root(&self.store, root, Some(&before), walked_empty).await? {
            Ok(verified) => verified,
            Err(reason) => return self.missing(root, reason, summary).await,
        };
        let cataloged = unmatched.cataloged;
        let plan = unmatched.plan(&unreadable);
        let walk = whole_root.then_some(WholeWalk {
            cataloged,
            recognised: plan.unchanged + (plan.changed_files.len() + plan.renamed.len()) as u64,
        });
        let verified = match root_identity::confirm_first_identity(verified, walk) {
            Ok(verified) => verified,
            Err(reason) => return self.missing(root, reason, summary).await,
        };
        if root.state != RootState::Online || verified.records_identity() {
            if root.state != RootState::Online {
                info!(root = %root.path.display(), "root is back online");
            }
            self.store.set_root_online(&verified).await?;
        }

        summary.removed = plan.removed.len() as u64;
        summary.renamed = plan.renamed.len() as u64;
        self.store
            .apply_photo_changes(
                &verified,
                &PhotoChanges {
                    removed: plan.removed,
                    renamed: plan.renamed,
                    ..PhotoChanges::default()
                },
            )
            .await?;

        self.settling().begin_scan();
        // Lazily: a list of its own would hold every new file twice.
        let to_hash = plan
            .changed_files
            .into_iter()
            .map(|(id, file)| (Some(id), file))
            .chain(plan.new_files.into_iter().map(|file| (None, file)))
            .filter(|(_, file)| {
                !self.landing(root.id, file) && self.settled(root.id, file, settle)
            });
        self.hash_and_apply(root, &verified, to_hash, &mut summary)
            .await?;
        self.settling().end_scan(root.id, scopes);
        if whole_root && !self.cancel.is_cancelled() {
            self.store.mark_root_scanned(root.id).await?;
        }
        Ok(summary)
    }

    /// Whether a download is landing `file` (see [`ScannerHandle::hold_back`]).
    fn landing(&self, root: RootId, file: &FoundFile) -> bool {
        let landing = lock_landing(&self.landing);
        if landing.is_empty() {
            return false;
        }
        let held = landing.contains(&(root, file.rel_path.clone()));
        if held {
            debug!(path = ?file.rel_path, "a download is landing it; indexed once it is recorded");
        }
        held
    }

    /// Whether a new or changed file has held still long enough to be
    /// indexed; if not, it is left to settle and scanned again when due.
    fn settled(&self, root: RootId, file: &FoundFile, settle: Settle<'_>) -> bool {
        let complete = match settle {
            Settle::IndexNow => return true,
            Settle::Wait { complete } => complete,
        };
        if complete.contains(&file.rel_path) {
            self.settling().forget(root, &file.rel_path);
            return true;
        }
        let settled = self.settling().check(
            root,
            &file.rel_path,
            file.stat,
            Instant::now(),
            SystemTime::now(),
        );
        if !settled {
            debug!(path = ?file.rel_path, size = file.stat.size, "file changed a moment ago; indexed once it settles");
        }
        settled
    }

    /// Marks `root` missing (if it was not already, for this reason) and
    /// ends its scan having changed nothing else.
    async fn missing(
        &self,
        root: &Root,
        reason: MissingReason,
        mut summary: ScanSummary,
    ) -> Result<ScanSummary, syncroll_core::Error> {
        self.settling().forget_root(root.id);
        let unchanged =
            matches!(&root.state, RootState::Missing { reason: was } if *was == reason.to_string());
        if !unchanged {
            warn!(root = %root.path.display(), %reason, "root is missing; its photos are kept");
            self.store.set_root_missing(root.id, &reason).await?;
        }
        summary.files_seen = 0;
        summary.missing_roots.push(root.path.clone());
        Ok(summary)
    }

    /// Counts what a whole scan of `root` would change if its folder, as it
    /// is now, were taken as the root's.
    async fn preview(&self, root: &Root) -> Result<RootPreview, syncroll_core::Error> {
        let probe = probe_folder(root.path.clone()).await;
        let FolderProbe::Present { identity, .. } = probe else {
            // The same words as a missing root's reason.
            let as_new = Root {
                identity: None,
                ..root.clone()
            };
            let reason = root_identity::verify(&as_new, &probe, 0)
                .err()
                .unwrap_or(MissingReason::NotAFolder);
            return Err(syncroll_core::Error::RootUnreadable {
                path: root.path.clone(),
                reason,
            });
        };
        let merged = self.merge(root, &RelPath::root()).await?;
        let plan = merged.unmatched.plan(&merged.unreadable);
        Ok(RootPreview {
            found: identity,
            added: plan.new_files.len() as u64,
            removed: plan.removed.len() as u64,
            changed: plan.changed_files.len() as u64,
            renamed: plan.renamed.len() as u64,
            unchanged: plan.unchanged,
        })
    }

    /// Walks `scope` of `root` and merges it with the catalog's rows there
    /// on a blocking thread ([`merge_scope`]).
    async fn merge(
        &self,
        root: &Root,
        scope: &RelPath,
    ) -> Result<MergedScope, syncroll_core::Error> {
        let (root_id, root_path, scope) = (root.id, root.path.clone(), scope.clone());
        let (store, filter, skip, cancel, status) = (
            self.store.clone(),
            self.filter.clone(),
            self.skip_dirs.clone(),
            self.cancel.clone(),
            self.status.clone(),
        );
        let runtime = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || {
            merge_scope(
                &store, &runtime, root_id, &root_path, &scope, &filter, &skip, &cancel, &status,
            )
        })
        .await
        // A walk that panicked found nothing that may be trusted: fail the
        // scan rather than read it as empty.
        .unwrap_or_else(|e| {
            Err(syncroll_core::Error::Io {
                action: "walk",
                path: root.path.clone(),
                source: std::io::Error::other(e.to_string()),
            })
        })
    }

    /// Hashes files with `hash_workers` at once and applies the results in
    /// batches.
    async fn hash_and_apply(
        &self,
        root: &Root,
        verified: &VerifiedRoot,
        files: impl Iterator<Item = (Option<syncroll_core::PhotoId>, FoundFile)>,
        summary: &mut ScanSummary,
    ) -> Result<(), syncroll_core::Error> {
        let mut files = files.peekable();
        let mut in_flight = JoinSet::new();
        let mut batch = PhotoChanges::default();
        while files.peek().is_some() || !in_flight.is_empty() {
            while in_flight.len() < self.hash_workers && !self.cancel.is_cancelled() {
                let Some((id, file)) = files.next() else {
                    break;
                };
                let path = file.rel_path.under(&root.path);
                in_flight.spawn_blocking(move || (id, hash_stable(&path, file)));
            }
            let Some(joined) = in_flight.join_next().await else {
                break;
            };
            let Ok((id, hashed)) = joined else { continue };
            let (file, hash) = match hashed {
                Hashed::Stable(file, hash) => (file, hash),
                Hashed::Gone => continue,
                Hashed::Changing(file) => {
                    self.settling()
                        .changing(root.id, &file.rel_path, file.stat, Instant::now());
                    continue;
                }
            };
            summary.files_hashed += 1;
            {
                let mut scan = self.status.scan();
                scan.files_hashed += 1;
                scan.bytes_hashed += file.stat.size;
            }
            match id {
                Some(id) => {
                    summary.updated += 1;
                    batch.rehashed.push((id, file, hash));
                }
                None => {
                    if !file.rel_path.is_utf8() {
                        warn!(path = ?file.rel_path.under(&root.path), "file name is not valid UTF-8; indexed under its raw bytes");
                    }
                    summary.added += 1;
                    batch.added.push((file, hash));
                }
            }
            if batch.rehashed.len() + batch.added.len() >= APPLY_BATCH {
                self.store
                    .apply_photo_changes(verified, &std::mem::take(&mut batch))
                    .await?;
            }
        }
        self.store.apply_photo_changes(verified, &batch).await
    }
}

/// Drops scopes that lie inside another scope of the same request.
fn minimal_scopes(scopes: &[RelPath]) -> Vec<RelPath> {
    let mut sorted: Vec<RelPath> = scopes.to_vec();
    sorted.sort();
    sorted.dedup();
    let mut kept: Vec<RelPath> = Vec::new();
    for scope in sorted {
        if !kept.iter().any(|k| k.contains(&scope)) {
            kept.push(scope);
        }
    }
    kept
}

/// Whether `root`'s folder, as it is now, is the root's folder: the one
/// check every scan (whole, partial, watcher-driven, `rescan PATH`) and the
/// monitor's probe go through. `first` is this scan's earlier verdict, which
/// the folder must still match; `walked_empty` says a walk of the whole root
/// found no photo. The outer error is the catalog's; the inner one why the
/// root is missing.
pub async fn check_root(
    store: &Store,
    root: &Root,
    first: Option<&VerifiedRoot>,
    walked_empty: bool,
) -> Result<Result<VerifiedRoot, MissingReason>, syncroll_core::Error> {
    let mut probe = probe_folder(root.path.clone()).await;
    if let FolderProbe::Present { empty, .. } = &mut probe {
        *empty |= walked_empty;
    }
    // Counting costs a pass over the root's rows; only an empty folder
    // needs it.
    let cataloged = match probe {
        FolderProbe::Present { empty: true, .. } => store.root_photo_count(root.id).await?,
        _ => 0,
    };
    Ok(match first {
        None => root_identity::verify(root, &probe, cataloged),
        Some(first) => root_identity::reverify(first, root, &probe, cataloged),
    })
}

/// Looks at a root's folder: does it exist, is it a folder that can be
/// listed, which device and inode is it, does it hold anything. Off the
/// runtime's threads, since a hung network mount can block a `stat`.
pub async fn probe_folder(path: PathBuf) -> FolderProbe {
    tokio::task::spawn_blocking(move || probe_folder_blocking(&path))
        .await
        .unwrap_or_else(|e| FolderProbe::Unreadable(format!("probe failed: {e}")))
}

fn probe_folder_blocking(path: &Path) -> FolderProbe {
    let meta = match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return FolderProbe::Absent,
        Err(e) => return FolderProbe::Unreadable(e.to_string()),
        Ok(meta) if !meta.is_dir() => return FolderProbe::NotAFolder,
        Ok(meta) => meta,
    };
    match std::fs::read_dir(path) {
        Ok(mut entries) => FolderProbe::Present {
            identity: FolderIdentity {
                device: meta.dev(),
                inode: meta.ino(),
            },
            empty: entries.next().is_none(),
        },
        Err(e) => FolderProbe::Unreadable(format!("cannot list it: {e}")),
    }
}

/// Walks one scope depth-first in the catalog's path order
/// ([`reconcile::walk_order`]), handing each photo file to `on_file` as it
/// is found, so nothing the size of the library is held. Returns the
/// folders (or files) it could not read; stops at `on_file`'s first error.
fn walk<E>(
    root: &Path,
    scope: &RelPath,
    filter: &PhotoFilter,
    skip: &[PathBuf],
    cancel: &CancellationToken,
    status: &LiveStatus,
    mut on_file: impl FnMut(FoundFile) -> Result<(), E>,
) -> Result<Vec<RelPath>, E> {
    let mut unreadable = Vec::new();
    let mut found = 0u64;
    let start = scope.under(root);
    // Symlinks are not followed (as rsync and Syncthing do by default): a
    // link cannot pull in a tree twice or loop, and the watcher could not
    // see inside it anyway. Add the target as a root of its own instead.
    let entries = walkdir::WalkDir::new(&start)
        .follow_links(false)
        // Also for the starting path: a scoped scan may start at a link.
        .follow_root_links(false)
        .sort_by(|a, b| {
            reconcile::walk_order(
                a.file_name().as_bytes(),
                a.file_type().is_dir(),
                b.file_name().as_bytes(),
                b.file_type().is_dir(),
            )
        })
        .into_iter()
        .filter_entry(|e| {
            e.depth() == 0
                || (!is_ignored_name(e.file_name().as_bytes())
                    && !skip.iter().any(|s| s == e.path()))
        });
    for entry in entries {
        if cancel.is_cancelled() {
            // A cancelled walk is incomplete: nothing may be read as removed.
            unreadable.push(scope.clone());
            break;
        }
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                let not_found =
                    e.io_error().map(std::io::Error::kind) == Some(std::io::ErrorKind::NotFound);
                if e.depth() == 0 && not_found {
                    // The scope itself is gone: everything under it was removed.
                    break;
                }
                let path = e.path().unwrap_or(&start);
                warn!(path = %path.display(), error = %e, "cannot read; photos under it are kept as they are");
                unreadable.push(RelPath::from_child(root, path).unwrap_or_else(|| scope.clone()));
                continue;
            }
        };
        if !entry.file_type().is_file() || !filter.is_indexed(entry.file_name().as_bytes()) {
            continue;
        }
        let Some(rel_path) = RelPath::from_child(root, entry.path()) else {
            continue;
        };
        let meta = match entry.metadata() {
            Ok(meta) => meta,
            Err(e) => {
                warn!(path = %entry.path().display(), error = %e, "cannot stat; left as it was");
                unreadable.push(rel_path);
                continue;
            }
        };
        on_file(FoundFile {
            rel_path,
            stat: stat_of(&meta),
        })?;
        found += 1;
        if found.is_multiple_of(1000) {
            status.scan().files_seen += 1000;
        }
    }
    status.scan().files_seen += found % 1000;
    Ok(unreadable)
}

/// Rows of the catalog's pages fetched per query while a scope is merged.
const CATALOG_PAGE: u32 = 2000;

/// The catalog's rows of one scope in path order, fetched a page at a time
/// as a merge on a blocking thread asks for them. A failed read ends the
/// rows and is kept in `error`: the merge's result must then be dropped.
struct CatalogRows<'a> {
    store: &'a Store,
    runtime: &'a tokio::runtime::Handle,
    root: RootId,
    scope: &'a RelPath,
    page: std::vec::IntoIter<IndexedFile>,
    after: Option<RelPath>,
    exhausted: bool,
    error: &'a mut Option<syncroll_core::Error>,
}

impl Iterator for CatalogRows<'_> {
    type Item = IndexedFile;

    fn next(&mut self) -> Option<IndexedFile> {
        if let Some(row) = self.page.next() {
            return Some(row);
        }
        if self.exhausted {
            return None;
        }
        let fetched = self.runtime.block_on(self.store.indexed_files_page(
            self.root,
            self.scope,
            self.after.as_ref(),
            CATALOG_PAGE,
        ));
        match fetched {
            Ok(rows) => {
                self.exhausted = rows.len() < CATALOG_PAGE as usize;
                self.after = rows.last().map(|row| row.rel_path.clone());
                self.page = rows.into_iter();
                self.page.next()
            }
            Err(e) => {
                *self.error = Some(e);
                self.exhausted = true;
                None
            }
        }
    }
}

/// What merging one scope's walk with its catalog rows left to decide.
#[derive(Debug, Default)]
struct MergedScope {
    unmatched: Unmatched,
    unreadable: Vec<RelPath>,
}

/// Walks `scope` of the root at `root_path` and merges what it finds with
/// the catalog's rows there, on the calling (blocking) thread.
#[allow(clippy::too_many_arguments)]
fn merge_scope(
    store: &Store,
    runtime: &tokio::runtime::Handle,
    root: RootId,
    root_path: &Path,
    scope: &RelPath,
    filter: &PhotoFilter,
    skip: &[PathBuf],
    cancel: &CancellationToken,
    status: &LiveStatus,
) -> Result<MergedScope, syncroll_core::Error> {
    let mut error = None;
    let rows = CatalogRows {
        store,
        runtime,
        root,
        scope,
        page: Vec::new().into_iter(),
        after: None,
        exhausted: false,
        error: &mut error,
    };
    let mut merge = SortedMerge::new(rows);
    let walked = walk(root_path, scope, filter, skip, cancel, status, |file| {
        merge.found(file)
    });
    let merged = walked.and_then(|unreadable| Ok((merge.finish()?, unreadable)));
    // A catalog read that failed midway makes every later file look new
    // and every later row vanished: nothing of this merge may be used.
    if let Some(e) = error {
        return Err(e);
    }
    let (unmatched, unreadable) = merged?;
    Ok(MergedScope {
        unmatched,
        unreadable,
    })
}

fn stat_of(meta: &std::fs::Metadata) -> FileStat {
    FileStat {
        size: meta.size(),
        mtime_ns: meta
            .mtime()
            .saturating_mul(1_000_000_000)
            .saturating_add(meta.mtime_nsec()),
        inode: meta.ino(),
    }
}

/// What hashing a file came to.
#[derive(Debug)]
enum Hashed {
    /// Its stat held still while it was read.
    Stable(FoundFile, ContentHash),
    /// It vanished or cannot be read (logged).
    Gone,
    /// It kept changing; its last stat.
    Changing(FoundFile),
}

/// Hashes a file whose stat holds still while it is read.
fn hash_stable(path: &Path, mut file: FoundFile) -> Hashed {
    for _ in 0..HASH_ATTEMPTS {
        match hash_file(path) {
            Ok((before, hash, after)) if before == after => {
                file.stat = after;
                return Hashed::Stable(file, hash);
            }
            Ok((_, _, after)) => {
                file.stat = after;
                debug!(path = %path.display(), "file changed while hashing; trying again");
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Hashed::Gone,
            Err(e) => {
                warn!(path = %path.display(), error = %e, "cannot read photo; skipped this time");
                return Hashed::Gone;
            }
        }
    }
    info!(path = %path.display(), "file is still being written; it will be indexed when it settles");
    Hashed::Changing(file)
}

/// Waits until `due`, or forever when nothing is settling.
async fn sleep_until_due(due: Option<Instant>) {
    match due {
        Some(due) => tokio::time::sleep_until(due.into()).await,
        None => std::future::pending().await,
    }
}

/// Streams the file through BLAKE3 with the one chunk reader every
/// transfer uses; returns its stat before and after.
fn hash_file(path: &Path) -> std::io::Result<(FileStat, ContentHash, FileStat)> {
    let file = std::fs::File::open(path)?;
    let before = stat_of(&file.metadata()?);
    let (_, hash) = syncroll_remote::hash_reader(file)?;
    // Compare against the path, not the handle: a save-by-rename replaces
    // the file under us without changing what the handle sees.
    let after = stat_of(&std::fs::metadata(path)?);
    Ok((before, ContentHash(*hash.as_bytes()), after))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(s: &str) -> RelPath {
        RelPath::from_bytes(s.as_bytes().to_vec())
    }

    #[test]
    fn inner_scopes_are_dropped() {
        let kept = minimal_scopes(&[
            rel("a/b"),
            rel("a"),
            rel("c/x.jpg"),
            rel("a/b/c.jpg"),
            rel("ab"),
        ]);
        assert_eq!(kept, vec![rel("a"), rel("ab"), rel("c/x.jpg")]);
    }

    #[test]
    fn hash_matches_blake3_of_the_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.jpg");
        std::fs::write(&path, b"hello photo").unwrap();
        let (before, hash, after) = hash_file(&path).unwrap();
        assert_eq!(before, after);
        assert_eq!(hash.0, *blake3::hash(b"hello photo").as_bytes());
    }
}
