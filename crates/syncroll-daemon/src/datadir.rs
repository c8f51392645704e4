//! The data-dir guard: notices when the disk under the catalog stops taking
//! writes (full, read-only), pauses sync until it takes them again, and
//! says why in `status` and, once, in the log.
//!
//! Anyone whose catalog write fails hands the error to
//! [`DataDirGuard::report`]; the guard also looks at the disk itself every
//! `catalog.data_dir_check_interval_secs` (free space, read-only flag), and
//! while blocked it probes with a small real write transaction. The first
//! probe that commits, on a disk with room again, unblocks: the sync engine
//! then requeues the jobs it could not record and plans again, and the
//! scanner rescans if a scan was lost. Nothing is lost meanwhile: a
//! failed transaction leaves the catalog as it was, a transfer that landed
//! waits to be recorded, and the user's own pause is never touched.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use syncroll_core::{StorageFault, Store};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::scanner::{ScanReason, ScanTarget, ScannerHandle};

/// Below this many free bytes the data dir counts as full even before a
/// write fails: SQLite needs room to grow the WAL and to checkpoint it,
/// and a write that fails halfway costs a rollback. Small next to any
/// real disk, large next to one transaction.
pub const MIN_FREE_BYTES: u64 = 1 << 20;

/// Why catalog writes are refused now; shown in `status`.
pub type BlockedReason = String;

/// Handle to the guard; cheap to clone.
#[derive(Debug, Clone)]
pub struct DataDirGuard {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Store,
    data_dir: PathBuf,
    interval: Duration,
    /// `Some(reason)` while blocked.
    blocked: watch::Sender<Option<BlockedReason>>,
    /// A scan failed while blocked: what it would have found is found by a
    /// full rescan once writes work again.
    rescan: AtomicBool,
    /// The disk was read-only while blocked: connections SQLite opened
    /// meanwhile are read-only for good, and are renewed before probing.
    read_only: AtomicBool,
}

/// What the disk under the data dir looks like now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DiskView {
    free_bytes: u64,
    read_only: bool,
}

impl DataDirGuard {
    pub fn new(store: Store, data_dir: PathBuf, interval: Duration) -> Self {
        let (blocked, _) = watch::channel(None);
        Self {
            inner: Arc::new(Inner {
                store,
                data_dir,
                interval,
                blocked,
                rescan: AtomicBool::new(false),
                read_only: AtomicBool::new(false),
            }),
        }
    }

    /// Takes note of a failed catalog write: when the disk refused it, sync
    /// is blocked (the reason logged once) and `true` is returned, so the
    /// caller logs the error at debug level rather than warn.
    pub fn report(&self, error: &syncroll_core::Error) -> bool {
        match error.storage_fault() {
            Some(fault) => {
                self.block(fault, disk_view(&self.inner.data_dir));
                true
            }
            None => false,
        }
    }

    /// [`DataDirGuard::report`] for a scan: a scan lost to the disk is made
    /// up for by a full rescan once writes work again.
    pub fn report_scan(&self, error: &syncroll_core::Error) -> bool {
        let storage = self.report(error);
        if storage {
            self.inner.rescan.store(true, Ordering::SeqCst);
        }
        storage
    }

    /// Whether sync is blocked, after a fresh look at the disk (a `statvfs`,
    /// no write): a transfer that failed may have failed because the disk
    /// under the data dir just filled up (the `local` remote lives there).
    pub fn blocked_now(&self) -> bool {
        let view = disk_view(&self.inner.data_dir);
        if let Some(fault) = view.and_then(DiskView::fault) {
            self.block(fault, view);
        }
        self.is_blocked()
    }

    /// Why sync is blocked, if it is.
    pub fn reason(&self) -> Option<BlockedReason> {
        self.inner.blocked.borrow().clone()
    }

    pub fn is_blocked(&self) -> bool {
        self.inner.blocked.borrow().is_some()
    }

    /// Follows the blocked state (`Some(reason)` while blocked).
    pub fn subscribe(&self) -> watch::Receiver<Option<BlockedReason>> {
        self.inner.blocked.subscribe()
    }

    /// Completes once the catalog takes writes (at once when it does now).
    pub async fn writable(&self) {
        let mut rx = self.subscribe();
        let _ = rx.wait_for(Option::is_none).await;
    }

    /// Starts the periodic check; it ends with `cancel`.
    pub fn spawn(
        &self,
        scanner: ScannerHandle,
        cancel: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        let guard = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = cancel.cancelled() => return,
                    () = tokio::time::sleep(guard.inner.interval) => {}
                }
                if guard.check().await && guard.inner.rescan.swap(false, Ordering::SeqCst) {
                    scanner.request(ScanTarget::All, ScanReason::Rescan);
                }
            }
        })
    }

    /// Looks at the disk, and while blocked tries a write. Returns whether
    /// this check unblocked.
    async fn check(&self) -> bool {
        let view = disk_view(&self.inner.data_dir);
        if let Some(fault) = view.and_then(DiskView::fault) {
            self.block(fault, view);
            return false;
        }
        if !self.is_blocked() {
            return false;
        }
        // SQLite opens a file read-only while its disk is, and such a
        // connection stays read-only: renewed after a read-only spell, and
        // only then, since on a full disk closing every connection would
        // remove the WAL index that reads need and a new one cannot create.
        if self.inner.read_only.load(Ordering::SeqCst) {
            self.inner.store.renew_connections();
        }
        match self.inner.store.probe_write().await {
            Ok(()) => {
                self.inner.read_only.store(false, Ordering::SeqCst);
                self.inner.blocked.send_replace(None);
                info!(data_dir = %self.inner.data_dir.display(), "the data dir takes writes again; sync resumes");
                true
            }
            Err(e) => {
                match e.storage_fault() {
                    Some(fault) => self.block(fault, view),
                    None => debug!(error = %e, "the write probe failed"),
                }
                false
            }
        }
    }

    /// Blocks sync (or refreshes the reason); logs only when it starts.
    fn block(&self, fault: StorageFault, view: Option<DiskView>) {
        let reason = describe(fault, view, &self.inner.data_dir);
        if fault == StorageFault::ReadOnly || view.is_some_and(|v| v.read_only) {
            self.inner.read_only.store(true, Ordering::SeqCst);
        }
        let mut was_blocked = false;
        // Subscribers hear of a new reason, not of every report of the same.
        self.inner.blocked.send_if_modified(|state| {
            was_blocked = state.is_some();
            let changed = state.as_deref() != Some(reason.as_str());
            if changed {
                *state = Some(reason.clone());
            }
            changed
        });
        if !was_blocked {
            warn!(%reason, check_every = ?self.inner.interval,
                "sync paused until the data dir takes writes again");
        }
    }
}

impl DiskView {
    /// What the disk alone says, before any write fails.
    fn fault(self) -> Option<StorageFault> {
        if self.read_only {
            Some(StorageFault::ReadOnly)
        } else if self.free_bytes < MIN_FREE_BYTES {
            Some(StorageFault::Full)
        } else {
            None
        }
    }
}

/// The reason to show for `error` when the disk under `data_dir` refused
/// it (full, read-only); `None` for any other error.
pub fn reason_for(error: &syncroll_core::Error, data_dir: &Path) -> Option<BlockedReason> {
    let fault = error.storage_fault()?;
    Some(describe(fault, disk_view(data_dir), data_dir))
}

/// Free bytes on the file system under `dir`, as the daemon may use them;
/// `None` when they cannot be read.
pub fn free_bytes(dir: &Path) -> Option<u64> {
    disk_view(dir).map(|v| v.free_bytes)
}

/// Free space and the read-only flag of the file system under `dir`;
/// `None` when it cannot be read.
fn disk_view(dir: &Path) -> Option<DiskView> {
    use nix::sys::statvfs::{FsFlags, statvfs};
    let stat = statvfs(dir).ok()?;
    // The daemon running as root may use the blocks reserved for root, so
    // it has `f_bfree` to write into, not just `f_bavail`.
    let blocks = if nix::unistd::geteuid().is_root() {
        stat.blocks_free()
    } else {
        stat.blocks_available()
    };
    Some(DiskView {
        free_bytes: (blocks as u64).saturating_mul(stat.fragment_size() as u64),
        read_only: stat.flags().contains(FsFlags::ST_RDONLY),
    })
}

/// The reason shown in `status`: `data dir full: 12 KiB free on /path`.
fn describe(fault: StorageFault, view: Option<DiskView>, dir: &Path) -> BlockedReason {
    let dir = dir.display();
    let read_only = view.is_some_and(|v| v.read_only) || fault == StorageFault::ReadOnly;
    match (read_only, fault, view) {
        (true, _, _) => format!("data dir read-only: {dir}"),
        (false, _, Some(v)) if fault == StorageFault::Full || v.free_bytes < MIN_FREE_BYTES => {
            format!("data dir full: {} free on {dir}", human_bytes(v.free_bytes))
        }
        (false, StorageFault::Full, None) => format!("data dir full: {dir}"),
        (false, _, Some(v)) => format!(
            "data dir cannot be written (disk I/O error): {} free on {dir}",
            human_bytes(v.free_bytes)
        ),
        (false, _, None) => format!("data dir cannot be written (disk I/O error): {dir}"),
    }
}

/// Bytes in binary units, whole below 10 of a unit: `12 KiB`, `3.5 MiB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 || value >= 10.0 {
        format!("{} {}", value.round() as u64, UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_name_the_free_space_and_the_folder() {
        let dir = Path::new("/var/lib/syncroll");
        let full = Some(DiskView {
            free_bytes: 12 * 1024,
            read_only: false,
        });
        assert_eq!(
            describe(StorageFault::Full, full, dir),
            "data dir full: 12 KiB free on /var/lib/syncroll"
        );
        let read_only = Some(DiskView {
            free_bytes: 1 << 30,
            read_only: true,
        });
        assert_eq!(
            describe(StorageFault::WriteFailed, read_only, dir),
            "data dir read-only: /var/lib/syncroll"
        );
        assert_eq!(
            describe(StorageFault::ReadOnly, None, dir),
            "data dir read-only: /var/lib/syncroll"
        );
        let roomy = Some(DiskView {
            free_bytes: 5 << 30,
            read_only: false,
        });
        assert_eq!(
            describe(StorageFault::WriteFailed, roomy, dir),
            "data dir cannot be written (disk I/O error): 5.0 GiB free on /var/lib/syncroll"
        );
    }

    #[test]
    fn bytes_read_as_people_write_them() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(12 * 1024), "12 KiB");
        assert_eq!(human_bytes(3 << 20), "3.0 MiB");
    }

    #[test]
    fn a_disk_short_of_room_or_read_only_is_a_fault_before_any_write() {
        let view = |free_bytes, read_only| DiskView {
            free_bytes,
            read_only,
        };
        assert_eq!(view(0, false).fault(), Some(StorageFault::Full));
        assert_eq!(
            view(MIN_FREE_BYTES - 1, false).fault(),
            Some(StorageFault::Full)
        );
        assert_eq!(view(MIN_FREE_BYTES, false).fault(), None);
        assert_eq!(view(1 << 40, true).fault(), Some(StorageFault::ReadOnly));
    }
}
