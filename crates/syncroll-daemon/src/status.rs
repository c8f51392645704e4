//! Live daemon state that is not in the database: scan progress and watcher
//! health. Shared by the scanner, the watcher and the status RPC.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};

use std::time::Instant;
use syncroll_core::RootId;

/// Progress of the running scan, and a summary of the last one.
#[derive(Debug, Clone, Default)]
pub struct ScanStatus {
    pub scanning: bool,
    pub current_root: String,
    pub files_seen: u64,
    pub files_hashed: u64,
    pub bytes_hashed: u64,
    pub reason: String,
    pub last_finished_at: i64,
    pub last_duration_ms: u64,
    pub unreadable_entries: u64,
    /// Files left to settle (see `settling.rs`): work still to come.
    pub settling: u64,
}

/// Whether changes on disk are seen as they happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatcherState {
    Watching,
    /// Fell back to rescans (watch limit reached, event overflow).
    Degraded,
    Disabled,
}

impl WatcherState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Watching => "watching",
            Self::Degraded => "degraded",
            Self::Disabled => "disabled",
        }
    }
}

/// The watcher's health and why.
#[derive(Debug, Clone)]
pub struct WatcherStatus {
    pub state: WatcherState,
    pub detail: String,
    pub fallback_rescans: u64,
}

/// Handle to the shared live state.
#[derive(Debug, Clone)]
pub struct LiveStatus {
    started: Instant,
    scan: Arc<Mutex<ScanStatus>>,
    watcher: Arc<Mutex<WatcherStatus>>,
    /// Roots with a live watch, so `roots list` and `status` never claim a
    /// root is watched while the monitor has dropped it (missing, unmounted).
    watched_roots: Arc<Mutex<HashSet<RootId>>>,
}

impl LiveStatus {
    pub fn new(watcher_enabled: bool) -> Self {
        let state = if watcher_enabled {
            WatcherState::Watching
        } else {
            WatcherState::Disabled
        };
        Self {
            started: Instant::now(),
            scan: Arc::default(),
            watched_roots: Arc::default(),
            watcher: Arc::new(Mutex::new(WatcherStatus {
                state,
                detail: String::new(),
                fallback_rescans: 0,
            })),
        }
    }

    pub fn uptime_seconds(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    pub fn scan(&self) -> MutexGuard<'_, ScanStatus> {
        // A panic while holding the lock leaves plain counters behind; they
        // are still worth showing.
        self.scan.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn watcher(&self) -> MutexGuard<'_, WatcherStatus> {
        self.watcher.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records whether the monitor watches a root now.
    pub fn set_watched(&self, root: RootId, watched: bool) {
        let mut roots = self.watched_roots.lock().unwrap_or_else(|p| p.into_inner());
        if watched {
            roots.insert(root);
        } else {
            roots.remove(&root);
        }
    }

    /// Whether the monitor watches a root now.
    pub fn is_watched(&self, root: RootId) -> bool {
        self.watched_roots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&root)
    }
}
