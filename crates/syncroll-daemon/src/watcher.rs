//! The root monitor: one task that watches every online root for changes
//! (notify with a debouncer), notices roots that vanish or come back, and
//! schedules periodic and fallback rescans. It only asks the scanner to
//! scan; the scanner alone changes the catalog.
//!
//! It probes every root each `catalog.root_check_interval_secs`, on watcher
//! errors and when a root folder itself changes, with the scanner's
//! [`check_root`]: a root whose folder is gone or is not the folder it was
//! (an unmount leaves the bare mount point, on another device) is unwatched
//! at once and a scan is asked for, which marks it missing. A watch that
//! followed a folder moved away is dropped with it. When the root's own
//! folder is back it is watched again and rescanned.
//!
//! When the watcher cannot do its job (the system's watch limit is reached,
//! or its event queue overflowed), it says so in the log and in `status`,
//! and rescans instead.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::event::{AccessKind, AccessMode, EventKind, ModifyKind, RenameMode};
use notify::{RecommendedWatcher, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};
use syncroll_core::media::is_ignored_name;
use syncroll_core::root_identity::FolderIdentity;
use syncroll_core::{RelPath, RootId, RootState, Store};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Interval, MissedTickBehavior, interval};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::config::{CatalogConfig, WatcherConfig};
use crate::scanner::{ScanReason, ScanTarget, ScannerHandle, check_root};
use crate::status::{LiveStatus, WatcherState};

/// Asks the monitor to look at the roots again now (after one was added or
/// removed), and waits until it has.
#[derive(Debug, Clone)]
pub struct MonitorHandle {
    refresh: mpsc::Sender<oneshot::Sender<()>>,
}

impl MonitorHandle {
    pub async fn refresh(&self) {
        let (done, wait) = oneshot::channel();
        if self.refresh.send(done).await.is_ok() {
            let _ = wait.await;
        }
    }
}

/// One root's live watch.
#[derive(Debug)]
struct Watch {
    path: PathBuf,
    /// The folder the watch was set on; a root whose folder is another one
    /// now (accepted anew) is watched again.
    identity: FolderIdentity,
    /// Folders it costs against `watcher.max_watched_dirs`.
    dirs: u64,
}

/// Everything the monitor task owns.
pub struct Monitor {
    store: Store,
    scanner: ScannerHandle,
    status: LiveStatus,
    watcher_config: WatcherConfig,
    catalog_config: CatalogConfig,
    skip_dirs: Vec<PathBuf>,
    debouncer: Option<Debouncer<RecommendedWatcher, RecommendedCache>>,
    /// Roots with a live watch, by id.
    watched: HashMap<RootId, Watch>,
    /// Every known root, for mapping event paths to roots.
    roots: BTreeMap<PathBuf, RootId>,
    watched_dirs: u64,
}

impl std::fmt::Debug for Monitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Monitor")
            .field("watched", &self.watched)
            .finish_non_exhaustive()
    }
}

impl Monitor {
    pub fn new(
        store: Store,
        scanner: ScannerHandle,
        status: LiveStatus,
        watcher_config: WatcherConfig,
        catalog_config: CatalogConfig,
        skip_dirs: Vec<PathBuf>,
    ) -> Self {
        Self {
            store,
            scanner,
            status,
            watcher_config,
            catalog_config,
            skip_dirs,
            debouncer: None,
            watched: HashMap::new(),
            roots: BTreeMap::new(),
            watched_dirs: 0,
        }
    }

    /// Starts the monitor task; it ends when `cancel` fires.
    pub fn spawn(
        mut self,
        cancel: CancellationToken,
    ) -> (MonitorHandle, tokio::task::JoinHandle<()>) {
        let (refresh_tx, refresh_rx) = mpsc::channel(16);
        let (event_tx, event_rx) = mpsc::channel(64);
        if self.watcher_config.enabled {
            let timeout = Duration::from_millis(self.watcher_config.debounce_ms);
            // The handler runs on the debouncer's own thread, so blocking on a
            // full channel only slows event delivery, never the runtime.
            match new_debouncer(timeout, None, move |result: DebounceEventResult| {
                let _ = event_tx.blocking_send(result);
            }) {
                Ok(debouncer) => self.debouncer = Some(debouncer),
                Err(e) => self.degrade(format!("cannot start the file watcher: {e}")),
            }
        }
        let task = tokio::spawn(self.run(refresh_rx, event_rx, cancel));
        (
            MonitorHandle {
                refresh: refresh_tx,
            },
            task,
        )
    }

    async fn run(
        mut self,
        mut refresh: mpsc::Receiver<oneshot::Sender<()>>,
        mut events: mpsc::Receiver<DebounceEventResult>,
        cancel: CancellationToken,
    ) {
        let mut root_check = ticker(self.catalog_config.root_check_interval_secs);
        let mut periodic = ticker(self.catalog_config.rescan_interval_secs.max(1));
        let mut fallback = ticker(self.watcher_config.fallback_rescan_interval_secs.max(1));
        // Interval's first tick is immediate; the start-up scan covers it.
        periodic.tick().await;
        fallback.tick().await;
        loop {
            tokio::select! {
                () = cancel.cancelled() => break,
                Some(done) = refresh.recv() => {
                    self.check_roots().await;
                    let _ = done.send(());
                }
                Some(result) = events.recv() => {
                    if self.handle_events(result) {
                        self.check_roots().await;
                    }
                }
                _ = root_check.tick() => self.check_roots().await,
                _ = periodic.tick(), if self.catalog_config.rescan_interval_secs > 0 => {
                    self.scanner.request(ScanTarget::All, ScanReason::Periodic);
                }
                _ = fallback.tick(), if self.status.watcher().state != WatcherState::Watching => {
                    self.status.watcher().fallback_rescans += 1;
                    self.scanner.request(ScanTarget::All, ScanReason::WatcherFallback);
                }
            }
        }
        if let Some(debouncer) = self.debouncer.take() {
            debouncer.stop_nonblocking();
        }
    }

    /// Probes every root: asks for a scan where the catalog's idea of it
    /// (online or missing) is out of date, and watches exactly the roots
    /// whose own folder is there.
    async fn check_roots(&mut self) {
        let roots = match self.store.roots_brief().await {
            Ok(roots) => roots,
            Err(e) => {
                warn!(error = %e, "cannot read roots");
                return;
            }
        };
        self.roots = roots.iter().map(|r| (r.path.clone(), r.id)).collect();
        let mut present = HashMap::new();
        for root in &roots {
            let verdict = match check_root(&self.store, root, None, false).await {
                Ok(verdict) => verdict,
                Err(e) => {
                    warn!(root = %root.path.display(), error = %e, "cannot check root");
                    continue;
                }
            };
            if verdict.is_ok() != (root.state == RootState::Online) {
                let reason = if verdict.is_ok() {
                    ScanReason::RootOnline
                } else {
                    ScanReason::Rescan
                };
                self.scanner.request(
                    ScanTarget::Scopes {
                        root: root.id,
                        scopes: vec![RelPath::root()],
                    },
                    reason,
                );
            }
            if let Ok(verified) = verdict {
                present.insert(root.id, (root.path.clone(), verified.identity()));
            }
        }
        let stale: Vec<RootId> = self
            .watched
            .iter()
            .filter(|(id, watch)| {
                present.get(id).map(|(_, identity)| *identity) != Some(watch.identity)
            })
            .map(|(id, _)| *id)
            .collect();
        for id in stale {
            self.unwatch(id);
        }
        for (id, (path, identity)) in present {
            if !self.watched.contains_key(&id) {
                self.watch(id, path, identity);
            }
        }
    }

    fn watch(&mut self, id: RootId, path: PathBuf, identity: FolderIdentity) {
        let Some(debouncer) = self.debouncer.as_mut() else {
            return;
        };
        let limit = self.watcher_config.max_watched_dirs;
        let dirs = if limit > 0 { count_dirs(&path) } else { 0 };
        if limit > 0 && self.watched_dirs + dirs > limit {
            self.degrade(format!(
                "watching {} would take {dirs} more folders than watcher.max_watched_dirs = {limit} allows",
                path.display()
            ));
            return;
        }
        match debouncer.watch(&path, RecursiveMode::Recursive) {
            Ok(()) => {
                debug!(root = %path.display(), "watching");
                self.watched_dirs += dirs;
                self.watched.insert(
                    id,
                    Watch {
                        path,
                        identity,
                        dirs,
                    },
                );
                self.status.set_watched(id, true);
            }
            Err(e) if matches!(e.kind, notify::ErrorKind::MaxFilesWatch) => self.degrade(format!(
                "the system's file watch limit was reached while watching {} \
                 (raise fs.inotify.max_user_watches)",
                path.display()
            )),
            Err(e) => {
                warn!(root = %path.display(), error = %e, "cannot watch root; periodic rescans still see it")
            }
        }
    }

    /// Drops a root's watch, including the watches of subfolders that
    /// followed its folder if it was moved away (their events would
    /// otherwise keep arriving under the root's path).
    fn unwatch(&mut self, id: RootId) {
        let Some(watch) = self.watched.remove(&id) else {
            return;
        };
        self.watched_dirs = self.watched_dirs.saturating_sub(watch.dirs);
        self.status.set_watched(id, false);
        if let Some(debouncer) = self.debouncer.as_mut() {
            // The watch may already be gone with its folder (deleted).
            let _ = debouncer.unwatch(&watch.path);
        }
        debug!(root = %watch.path.display(), dirs = watch.dirs, "stopped watching");
    }

    /// Falls back to rescans and says why, once per reason.
    fn degrade(&mut self, detail: String) {
        let mut watcher = self.status.watcher();
        if watcher.state == WatcherState::Degraded && watcher.detail == detail {
            return;
        }
        warn!(%detail, interval_secs = self.watcher_config.fallback_rescan_interval_secs,
            "file watcher degraded; falling back to periodic rescans");
        watcher.state = WatcherState::Degraded;
        watcher.detail = detail;
        watcher.fallback_rescans += 1;
        drop(watcher);
        self.scanner
            .request(ScanTarget::All, ScanReason::WatcherFallback);
    }

    /// Turns events into scan requests. Returns whether the roots need a
    /// probe now: the watcher failed, or a root folder itself changed
    /// (deleted, moved away, unmounted).
    fn handle_events(&mut self, result: DebounceEventResult) -> bool {
        let events = match result {
            Ok(events) => events,
            Err(errors) => {
                for e in errors {
                    if matches!(e.kind, notify::ErrorKind::MaxFilesWatch) {
                        self.degrade("the system's file watch limit was reached (raise fs.inotify.max_user_watches)".to_owned());
                    } else {
                        warn!(error = %e, "file watcher error; checking the roots");
                    }
                }
                return true;
            }
        };
        let mut probe_roots = false;
        let mut scopes: HashMap<RootId, Vec<RelPath>> = HashMap::new();
        // Per path, whether its latest event says its writer is done.
        let mut finished: HashMap<(RootId, RelPath), bool> = HashMap::new();
        for event in events {
            if event.need_rescan() {
                let detail =
                    "the watcher's event queue overflowed; rescanned every root".to_owned();
                warn!(%detail);
                let mut watcher = self.status.watcher();
                watcher.detail = detail;
                watcher.fallback_rescans += 1;
                drop(watcher);
                self.scanner
                    .request(ScanTarget::All, ScanReason::WatcherFallback);
                continue;
            }
            if !is_relevant(&event.kind) {
                continue;
            }
            for (index, path) in event.paths.iter().enumerate() {
                if let Some((root, rel)) = self.relevant_path(path) {
                    // The root folder itself changed (deleted, moved away,
                    // replaced): its watch may be following it elsewhere.
                    // The probe unwatches a root whose folder is not its own.
                    probe_roots |= rel.is_root();
                    finished.insert((root, rel.clone()), marks_complete(&event.kind, index));
                    scopes.entry(root).or_default().push(rel);
                }
            }
        }
        let mut complete: HashMap<RootId, HashSet<RelPath>> = HashMap::new();
        for ((root, rel), done) in finished {
            if done {
                complete.entry(root).or_default().insert(rel);
            }
        }
        // A scan of a root checks its folder first, so an event from a
        // watch that followed a folder moved away changes nothing.
        for (root, scopes) in scopes {
            let complete = complete.remove(&root).unwrap_or_default();
            self.scanner.request_changed(root, scopes, complete);
        }
        probe_roots
    }

    /// The root and relative path of an event path worth scanning.
    fn relevant_path(&self, path: &Path) -> Option<(RootId, RelPath)> {
        if self.skip_dirs.iter().any(|skip| path.starts_with(skip)) {
            return None;
        }
        let (root_path, id) = self
            .roots
            .range(..=path.to_path_buf())
            .rev()
            .find(|(root, _)| path.starts_with(root))?;
        let rel = RelPath::from_child(root_path, path)?;
        let ignored = rel
            .as_bytes()
            .split(|b| *b == b'/')
            .any(|part| !part.is_empty() && is_ignored_name(part));
        (!ignored).then_some((*id, rel))
    }
}

/// Everything but plain reads and opens can change what a scan finds;
/// a close after writing means a file is complete.
fn is_relevant(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

/// Whether the event on its `index`th path says the file there is complete:
/// closed after writing (a copy, an editor's save), or renamed into place
/// (an atomic save, a move within the disk). The debouncer hands events
/// over only once a path has been quiet for `watcher.debounce_ms`, so a
/// file whose latest event is one of these has been left alone since; it
/// needs no settle time. A file written again later gets new events and is
/// indexed again; one still open for writing elsewhere is caught by the
/// scanner's hashing, which sees its stat change.
fn marks_complete(kind: &EventKind, index: usize) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Modify(ModifyKind::Name(RenameMode::To)) => true,
        // [from, to]: only the destination holds the file.
        EventKind::Modify(ModifyKind::Name(RenameMode::Both)) => index == 1,
        _ => false,
    }
}

fn ticker(secs: u64) -> Interval {
    let mut ticker = interval(Duration::from_secs(secs.max(1)));
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    ticker
}

fn count_dirs(path: &Path) -> u64 {
    walkdir::WalkDir::new(path)
        .follow_links(false)
        // Also for the starting path: a scoped scan may start at a link.
        .follow_root_links(false)
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !is_ignored_name(e.file_name().as_bytes()))
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_dir())
        .count() as u64
}
