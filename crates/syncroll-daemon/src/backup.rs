//! Rotated online backups of the catalog in `<data-dir>/backups`:
//! `catalog-YYYYMMDDTHHMMSSZ.db`, mode 0600, the newest
//! `catalog.backups_kept` kept.
//!
//! A backup is `VACUUM INTO` a hidden temporary file created 0600 first (so
//! the copy is never readable by others, not even for a moment), then
//! fsynced, renamed to its final name, and the folder fsynced: a file with
//! the final name is always a whole backup. In WAL mode `VACUUM INTO` is a
//! read transaction, so the API and sync go on while it runs. A failed
//! backup (a full disk) removes its temporary file, is logged, and is tried
//! again later; it never stops the daemon.

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use syncroll_core::Store;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::datadir::DataDirGuard;

/// The backups' folder below the data dir.
pub const BACKUP_DIR: &str = "backups";
const PREFIX: &str = "catalog-";
const SUFFIX: &str = ".db";
/// Temporary files start with this (hidden, and never our final pattern).
const TEMP_PREFIX: &str = ".catalog-";
const TEMP_SUFFIX: &str = ".db.tmp";
/// After a failed backup, the next try comes at most this much later.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(3600);

/// Why a backup could not be written.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("cannot {action} {}: {source}", .path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Catalog(#[from] syncroll_core::Error),
    #[error(
        "not enough room in {} for a backup: about {needed} bytes needed (the catalog and \
         {} to spare), {free} free",
        .dir.display(), crate::datadir::MIN_FREE_BYTES
    )]
    NoRoom {
        dir: PathBuf,
        needed: u64,
        free: u64,
    },
}

/// Writes and rotates the catalog's backups.
#[derive(Debug, Clone)]
pub struct Backups {
    store: Store,
    /// The catalog file, whose size (with its WAL) bounds a backup's.
    catalog: PathBuf,
    dir: PathBuf,
    every: Duration,
    kept: usize,
}

impl Backups {
    pub fn new(
        store: Store,
        catalog: &Path,
        data_dir: &Path,
        every: Duration,
        kept: usize,
    ) -> Self {
        Self {
            store,
            catalog: catalog.to_path_buf(),
            dir: data_dir.join(BACKUP_DIR),
            every,
            kept,
        }
    }

    /// Starts the background task: a backup at once when the newest is
    /// older than the interval (or there is none), then one every
    /// interval. Nothing when backups are off (`backups_kept = 0`).
    pub fn spawn(
        self,
        guard: DataDirGuard,
        cancel: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            if self.kept == 0 {
                return;
            }
            self.remove_temporaries();
            loop {
                let wait = self.due_in();
                tokio::select! {
                    () = cancel.cancelled() => return,
                    () = tokio::time::sleep(wait) => {}
                }
                // A backup needs room; it waits for the disk to take writes.
                tokio::select! {
                    () = cancel.cancelled() => return,
                    () = guard.writable() => {}
                }
                if let Err(e) = self.backup_now().await {
                    warn!(error = %e, retry_in = ?RETRY_AFTER_FAILURE.min(self.every),
                        "cannot back up the catalog");
                    tokio::select! {
                        () = cancel.cancelled() => return,
                        () = tokio::time::sleep(RETRY_AFTER_FAILURE.min(self.every)) => {}
                    }
                }
            }
        })
    }

    /// How long until the next backup is due.
    fn due_in(&self) -> Duration {
        let Some(newest) = newest_backup(&self.dir) else {
            return Duration::ZERO;
        };
        let age = fs::metadata(&newest)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|at| SystemTime::now().duration_since(at).ok())
            .unwrap_or(self.every);
        self.every.saturating_sub(age)
    }

    /// Writes one backup and deletes the oldest beyond `kept`; returns its
    /// path.
    pub async fn backup_now(&self) -> Result<PathBuf, BackupError> {
        create_private_dir(&self.dir)?;
        self.ensure_room()?;
        let name = backup_name(SystemTime::now());
        let path = self.dir.join(&name);
        let temp = self
            .dir
            .join(format!(".{}{TEMP_SUFFIX}", name.trim_end_matches(SUFFIX)));
        let started = std::time::Instant::now();
        self.write_or_remove(&temp, &path).await?;
        info!(path = %path.display(), ms = started.elapsed().as_millis() as u64, "catalog backed up");
        rotate(&self.dir, self.kept);
        Ok(path)
    }

    /// Refuses a backup that would fill the disk: sync would pause for it
    /// (see the data-dir guard), and it would fail anyway.
    fn ensure_room(&self) -> Result<(), BackupError> {
        let size = |suffix: &str| {
            let mut name = self.catalog.as_os_str().to_owned();
            name.push(suffix);
            fs::metadata(name).map_or(0, |m| m.len())
        };
        // VACUUM INTO writes the live pages only: at most the file and its
        // WAL together.
        let needed = size("") + size("-wal") + crate::datadir::MIN_FREE_BYTES;
        match crate::datadir::free_bytes(&self.dir) {
            Some(free) if free < needed => Err(BackupError::NoRoom {
                dir: self.dir.clone(),
                needed,
                free,
            }),
            _ => Ok(()),
        }
    }

    /// Writes the backup through `temp` to `path`, removing `temp` if that
    /// fails: a partial copy is worthless and takes the room a full disk
    /// lacks.
    async fn write_or_remove(&self, temp: &Path, path: &Path) -> Result<(), BackupError> {
        let written = self.write(temp, path).await;
        if written.is_err() {
            let _ = fs::remove_file(temp);
        }
        written
    }

    async fn write(&self, temp: &Path, path: &Path) -> Result<(), BackupError> {
        let io = |action, path: &Path| {
            let path = path.to_path_buf();
            move |source| BackupError::Io {
                action,
                path,
                source,
            }
        };
        // Created empty and owner-only before SQLite writes into it.
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(temp)
            .map_err(io("create", temp))?;
        self.store.backup_into(temp).await?;
        File::open(temp)
            .and_then(|f| f.sync_all())
            .map_err(io("sync", temp))?;
        fs::rename(temp, path).map_err(io("rename the backup to", path))?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io("sync", &self.dir))?;
        Ok(())
    }

    /// Removes temporary files a crash mid-backup left behind.
    fn remove_temporaries(&self) {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with(TEMP_PREFIX) && name.ends_with(TEMP_SUFFIX) {
                debug!(path = %entry.path().display(), "removing an unfinished backup");
                let _ = fs::remove_file(entry.path());
            }
        }
    }
}

fn create_private_dir(dir: &Path) -> Result<(), BackupError> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| BackupError::Io {
            action: "create the backup folder",
            path: dir.to_path_buf(),
            source,
        })
}

/// `catalog-20261201T183000Z.db` for `at` (UTC).
fn backup_name(at: SystemTime) -> String {
    let secs = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = syncroll_core::calendar::civil_from_days(days as i64);
    format!(
        "{PREFIX}{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z{SUFFIX}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Whether `name` is one of our backups: `catalog-YYYYMMDDTHHMMSSZ.db`.
/// Only these are ever rotated away.
fn is_backup_name(name: &str) -> bool {
    let Some(stamp) = name
        .strip_prefix(PREFIX)
        .and_then(|n| n.strip_suffix(SUFFIX))
    else {
        return false;
    };
    let b = stamp.as_bytes();
    b.len() == 16
        && b[8] == b'T'
        && b[15] == b'Z'
        && b[..8].iter().chain(&b[9..15]).all(u8::is_ascii_digit)
}

/// Our backups in `dir`, oldest first (the names sort by time).
fn backups(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter(|e| e.file_name().to_str().is_some_and(is_backup_name))
        .map(|e| e.path())
        .collect();
    found.sort();
    found
}

/// The newest backup in `dir`, if any.
pub fn newest_backup(dir: &Path) -> Option<PathBuf> {
    backups(dir).pop()
}

/// Deletes our oldest backups beyond the newest `kept`.
fn rotate(dir: &Path, kept: usize) {
    let all = backups(dir);
    let excess = all.len().saturating_sub(kept);
    for old in &all[..excess] {
        match fs::remove_file(old) {
            Ok(()) => debug!(path = %old.display(), "removed an old catalog backup"),
            Err(e) => {
                warn!(path = %old.display(), error = %e, "cannot remove an old catalog backup")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_utc_timestamps_that_sort_by_time() {
        let at = UNIX_EPOCH + Duration::from_secs(1_764_613_845); // 2025-12-01 18:30:45
        assert_eq!(backup_name(at), "catalog-20251201T183045Z.db");
        assert_eq!(backup_name(UNIX_EPOCH), "catalog-19700101T000000Z.db");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(backup_name(leap), "catalog-20000229T000000Z.db");
        assert!(is_backup_name(&backup_name(at)));
    }

    #[test]
    fn only_our_own_names_count_as_backups() {
        assert!(is_backup_name("catalog-20261201T183000Z.db"));
        for other in [
            "catalog.sqlite",
            "catalog-20261201T183000Z.db.tmp",
            ".catalog-20261201T183000Z.db.tmp",
            "catalog-2026120T183000Z.db",
            "catalog-20261201X183000Z.db",
            "catalog-2026120aT183000Z.db",
            "my-catalog-20261201T183000Z.db",
            "catalog-20261201T183000Z.db.bak",
        ] {
            assert!(!is_backup_name(other), "{other}");
        }
    }

    /// Needs root to mount (CI runs as root): a refused mount fails the
    /// test saying so.
    #[tokio::test]
    async fn a_backup_that_does_not_fit_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = dir.path().join("catalog.sqlite");
        let store = Store::open(&catalog).await.unwrap();
        let data_dir = dir.path().join("data");
        let backups = Backups::new(
            store.clone(),
            &catalog,
            &data_dir,
            Duration::from_secs(60),
            7,
        );
        fs::create_dir_all(&backups.dir).unwrap();
        // Smaller than the freshly migrated catalog.
        let _disk = syncroll_testkit::Mount::tmpfs_of(&backups.dir, "64k");

        let refused = backups.backup_now().await;
        assert!(
            matches!(refused, Err(BackupError::NoRoom { .. })),
            "{refused:?}"
        );
        // Past that check (another writer took the room meanwhile), SQLite
        // itself runs out of room.
        let temp = backups.dir.join(".catalog-x.db.tmp");
        let failed = backups
            .write_or_remove(&temp, &backups.dir.join("catalog-x.db"))
            .await;
        assert!(
            matches!(&failed, Err(BackupError::Catalog(e)) if e.is_storage_exhausted()),
            "{failed:?}"
        );
        let left: Vec<_> = fs::read_dir(&backups.dir).unwrap().collect();
        assert!(left.is_empty(), "{left:?}");
        store.close().await;
    }

    #[test]
    fn rotation_keeps_the_newest_and_touches_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let names = [
            "catalog-20260101T000000Z.db",
            "catalog-20260102T000000Z.db",
            "catalog-20260103T000000Z.db",
            "catalog-20260104T000000Z.db",
            "notes.txt",
            "catalog-old.db",
        ];
        for name in names {
            fs::write(dir.path().join(name), b"x").unwrap();
        }
        rotate(dir.path(), 2);
        let mut left: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                "catalog-20260103T000000Z.db",
                "catalog-20260104T000000Z.db",
                "catalog-old.db",
                "notes.txt"
            ]
        );
        assert_eq!(
            newest_backup(dir.path()),
            Some(dir.path().join("catalog-20260104T000000Z.db"))
        );
    }
}
