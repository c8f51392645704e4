//! The version store: before new bytes replace a local file, its previous
//! bytes are kept here (safety rule 1), and `versions restore` brings any
//! kept version back.
//!
//! Bytes live content-addressed under `<data dir>/versions` ([`blobs`]),
//! never under a root; their rows live in the catalog
//! (`syncroll_core::store`, `versions` and `version_files`). The order
//! makes a crash harmless: a row is written only once its bytes are
//! durable, and a blob is deleted only after the rows referencing it are
//! gone. One lock serialises every change, so retention can never delete
//! a blob that a save in progress has just found already present.
//!
//! Entry points: [`VersionStore::replace_with`] (what pulling a remote
//! edit calls), [`VersionStore::restore`] (`versions restore PATH N`),
//! [`VersionStore::list`] and [`VersionStore::totals`].

pub mod blobs;

use std::fs::File;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use syncroll_core::quoted::shown_path;
use syncroll_core::store::{NewVersion, VersionTotals, now_ms};
use syncroll_core::versions::{RetentionPolicy, Version, VersionOrigin, retention};
use syncroll_core::{FileStat, Store};
use tracing::{info, instrument, warn};

use self::blobs::{Blobs, Copied, copy_hashing, sync_dir, write_temp};
use crate::datadir::{MIN_FREE_BYTES, free_bytes, human_bytes};

/// The store's folder in the data dir.
pub const VERSIONS_DIR: &str = "versions";

/// Tries at keeping a file that changes while it is read.
const KEEP_ATTEMPTS: usize = 3;

/// Names restore temporaries apart within one daemon.
static RESTORE_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Why a version could not be kept, listed or restored. In every case the
/// local file is as it was.
#[derive(Debug, thiserror::Error)]
pub enum VersionError {
    #[error(
        "not enough space in the data dir {} to keep the current bytes of {}: need {}, {} free; \
         nothing was changed",
        shown_path(.data_dir), shown_path(.path), human_bytes(*.needed), human_bytes(*.free)
    )]
    DataDirFull {
        data_dir: PathBuf,
        path: PathBuf,
        needed: u64,
        free: u64,
    },
    #[error(
        "not enough space on {} to restore {}: need {}, {} free; nothing was changed",
        shown_path(.folder), shown_path(.path), human_bytes(*.needed), human_bytes(*.free)
    )]
    FolderFull {
        folder: PathBuf,
        path: PathBuf,
        needed: u64,
        free: u64,
    },
    #[error("{} is not a regular file; only files have versions", shown_path(.0))]
    NotAFile(PathBuf),
    #[error(
        "{} kept changing while its bytes were being kept (is it being written?); nothing was \
         changed, try again when it is done",
        shown_path(.0)
    )]
    KeptChanging(PathBuf),
    #[error("{} changed while it was being replaced; it was left as it is", shown_path(.0))]
    ChangedMeanwhile(PathBuf),
    #[error(
        "the bytes of version {number} of {} are missing from the version store ({}); \
         nothing was changed",
        shown_path(.path), shown_path(.blob)
    )]
    BlobMissing {
        path: PathBuf,
        number: u64,
        blob: PathBuf,
    },
    #[error(
        "the bytes of version {number} of {} are damaged in the version store (BLAKE3 {found}, \
         recorded {expected}); nothing was changed",
        shown_path(.path)
    )]
    BlobDamaged {
        path: PathBuf,
        number: u64,
        found: String,
        expected: String,
    },
    #[error(
        "the new bytes for {} are in {}, not in the same folder: they could not replace it \
         atomically",
        shown_path(.path), shown_path(.temp)
    )]
    TempElsewhere { temp: PathBuf, path: PathBuf },
    #[error("cannot {action} {}: {source}", shown_path(.path))]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Core(#[from] syncroll_core::Error),
}

impl VersionError {
    /// Whether a disk was short of room (checked first, or refused a write).
    pub fn is_out_of_space(&self) -> bool {
        match self {
            Self::DataDirFull { .. } | Self::FolderFull { .. } => true,
            Self::Io { source, .. } => matches!(
                source.kind(),
                io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
            ),
            Self::Core(e) => e.is_storage_exhausted(),
            _ => false,
        }
    }
}

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> VersionError {
    let path = path.to_path_buf();
    move |source| VersionError::Io {
        action,
        path,
        source,
    }
}

type VersionResult<T> = Result<T, VersionError>;

/// What `versions restore` did.
#[derive(Debug, Clone)]
pub struct Restored {
    /// The file, as the store names it (its folder canonical).
    pub path: PathBuf,
    /// The version whose bytes the file holds now.
    pub restored: Version,
    /// The version its replaced bytes became; `None` when there was no
    /// file to replace.
    pub kept: Option<Version>,
}

/// Handle to the version store; cheap to clone.
#[derive(Debug, Clone)]
pub struct VersionStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Store,
    blobs: Blobs,
    data_dir: PathBuf,
    policy: RetentionPolicy,
    /// Held by every change of the store: a save (bytes, then row), a
    /// replacement, and retention (rows, then bytes).
    changing: tokio::sync::Mutex<()>,
}

impl VersionStore {
    pub fn new(store: Store, data_dir: &Path, policy: RetentionPolicy) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                blobs: Blobs::new(data_dir.join(VERSIONS_DIR)),
                data_dir: data_dir.to_path_buf(),
                policy,
                changing: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// At start: creates the store's folder (0700), removes temporaries a
    /// crash left, and applies retention once.
    pub async fn start(&self) -> VersionResult<()> {
        let _changing = self.inner.changing.lock().await;
        let blobs = self.inner.blobs.clone();
        let removed = blocking(move || {
            blobs
                .prepare()
                .map_err(io_error("prepare the version store", blobs.dir()))
        })
        .await?;
        if removed > 0 {
            info!(
                removed,
                "removed temporaries of the version store left by a crash"
            );
        }
        self.apply_retention().await;
        Ok(())
    }

    /// The versions of the file at `path`, oldest first. A path that never
    /// had a version is an empty list if it exists, an error if not.
    pub async fn list(&self, path: &Path) -> VersionResult<(PathBuf, Vec<Version>)> {
        let path = resolved(path);
        match self.inner.store.versions_of(&path).await? {
            Some(versions) => Ok((path, versions)),
            None if path.symlink_metadata().is_ok() => Ok((path, Vec::new())),
            None => Err(syncroll_core::Error::NoVersions(path).into()),
        }
    }

    /// The number of versions and the bytes the store holds.
    pub async fn totals(&self) -> VersionResult<VersionTotals> {
        Ok(self.inner.store.version_totals().await?)
    }

    /// Keeps the current bytes of the file at `path` as a new version,
    /// for a caller about to change the file some other way than
    /// [`Self::replace_with`].
    #[instrument(skip(self, path), fields(path = %path.display()))]
    pub async fn save(&self, path: &Path, origin: VersionOrigin) -> VersionResult<Version> {
        let path = resolved(path);
        let _changing = self.inner.changing.lock().await;
        Ok(self.save_locked(&path, &origin).await?.0)
    }

    /// Replaces the file at `path` with the complete file `temp`, keeping
    /// the file's current bytes as a version first (safety rule 1): what
    /// pulling a remote edit calls. `temp` must lie in the same folder as
    /// `path` (a rename is atomic only within one file system); it is
    /// fsynced here, then renamed over `path`, then the folder is fsynced.
    /// If `path` does not exist, `temp` just takes its place and no
    /// version is kept. On error the file is as it was and `temp` is left
    /// to the caller. Returns the version kept. The catalog is not told:
    /// the caller indexes the file's new bytes (as `App::restore_version`
    /// does, with a scan of that one file).
    #[instrument(skip_all, fields(path = %path.display()))]
    pub async fn replace_with(
        &self,
        path: &Path,
        temp: &Path,
        origin: VersionOrigin,
    ) -> VersionResult<Option<Version>> {
        let path = resolved(path);
        if resolved(temp).parent() != path.parent() {
            return Err(VersionError::TempElsewhere {
                temp: temp.to_path_buf(),
                path,
            });
        }
        let _changing = self.inner.changing.lock().await;
        self.replace_locked(&path, temp, &origin).await
    }

    /// `versions restore PATH N`: the file at `path` gets the bytes of its
    /// version `number` back, and the bytes it held become a version of
    /// their own ("replaced by restore of version N"). The version's bytes
    /// are copied to a temporary beside the file and checked against their
    /// BLAKE3 before anything else happens, so a damaged store or a full
    /// disk leaves the file untouched.
    #[instrument(skip(self, path), fields(path = %path.display()))]
    pub async fn restore(&self, path: &Path, number: u64) -> VersionResult<Restored> {
        let path = resolved(path);
        let _changing = self.inner.changing.lock().await;
        let version = self.inner.store.version(&path, number).await?;
        let temp = restore_temp(&path);
        let (blobs, target, tmp, wanted) = (
            self.inner.blobs.clone(),
            path.clone(),
            temp.clone(),
            version.clone(),
        );
        let staged = blocking(move || stage_version(&blobs, &wanted, &target, &tmp)).await;
        let kept = match staged {
            Ok(()) => {
                let origin = VersionOrigin::Restore { number };
                self.replace_locked(&path, &temp, &origin).await
            }
            Err(e) => Err(e),
        };
        if kept.is_err() {
            let _ = std::fs::remove_file(&temp);
        }
        let kept = kept?;
        info!(number, kept = ?kept.as_ref().map(|v| v.number), "version restored");
        Ok(Restored {
            path,
            restored: version,
            kept,
        })
    }

    /// Keeps `path`'s bytes (if it exists) and renames `temp` over it,
    /// unless the file changed in between.
    async fn replace_locked(
        &self,
        path: &Path,
        temp: &Path,
        origin: &VersionOrigin,
    ) -> VersionResult<Option<Version>> {
        let kept = match path.symlink_metadata() {
            Ok(_) => Some(self.save_locked(path, origin).await?),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(io_error("look at", path)(e)),
        };
        let seen = kept.as_ref().map(|(_, stat)| *stat);
        let (target, temp) = (path.to_path_buf(), temp.to_path_buf());
        blocking(move || swap_in(&target, &temp, seen)).await?;
        Ok(kept.map(|(version, _)| version))
    }

    /// Keeps the bytes of `path` (the lock held): blob first, then its row,
    /// then retention. Returns the version and the file's stat as kept.
    async fn save_locked(
        &self,
        path: &Path,
        origin: &VersionOrigin,
    ) -> VersionResult<(Version, FileStat)> {
        let (blobs, data_dir, source) = (
            self.inner.blobs.clone(),
            self.inner.data_dir.clone(),
            path.to_path_buf(),
        );
        let (copied, stat) = blocking(move || keep_file(&blobs, &data_dir, &source)).await?;
        let version = self
            .inner
            .store
            .add_version(NewVersion {
                path,
                hash: copied.hash,
                size: copied.size,
                mtime_ns: stat.mtime_ns,
                origin: origin.to_string(),
            })
            .await?;
        info!(path = %path.display(), number = version.number, size = version.size,
            hash = %version.hash.to_hex(), origin = %version.origin, "version kept");
        self.apply_retention().await;
        Ok((version, stat))
    }

    /// Drops what the retention policy no longer keeps: rows first, then
    /// the blobs no row references. A failure is logged, never fatal: the
    /// store is only larger than it should be until the next run.
    async fn apply_retention(&self) {
        let store = &self.inner.store;
        let dropped = match store.version_refs().await {
            Ok(refs) => retention(&refs, &self.inner.policy, now_ms()),
            Err(e) => {
                warn!(error = %e, "cannot read the version store for retention");
                return;
            }
        };
        if dropped.is_empty() {
            return;
        }
        let unreferenced = match store.drop_versions(&dropped).await {
            Ok(hashes) => hashes,
            Err(e) => {
                warn!(error = %e, "cannot drop old versions");
                return;
            }
        };
        let blobs = self.inner.blobs.clone();
        let freed = unreferenced.len();
        let removed = blocking(move || {
            for hash in &unreferenced {
                blobs
                    .remove(hash)
                    .map_err(io_error("remove", &blobs.path_of(hash)))?;
            }
            Ok(())
        })
        .await;
        if let Err(e) = removed {
            warn!(error = %e, "cannot remove the bytes of a dropped version");
        }
        info!(
            versions = dropped.len(),
            blobs = freed,
            "old versions dropped by retention"
        );
    }
}

/// `path` with its folder canonical (the file itself may be gone), so one
/// file has one name in the store whatever way it was reached.
pub fn resolved(path: &Path) -> PathBuf {
    match (path.parent(), path.file_name()) {
        (Some(folder), Some(name)) => std::fs::canonicalize(folder)
            .map(|f| f.join(name))
            .unwrap_or_else(|_| path.to_path_buf()),
        _ => path.to_path_buf(),
    }
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

/// Copies the file at `path` into the store once it reads the same from
/// start to end (its stat unchanged across the copy), after checking the
/// data dir has room for it.
fn keep_file(blobs: &Blobs, data_dir: &Path, path: &Path) -> VersionResult<(Copied, FileStat)> {
    for _ in 0..KEEP_ATTEMPTS {
        let meta = path.symlink_metadata().map_err(io_error("read", path))?;
        if !meta.is_file() {
            return Err(VersionError::NotAFile(path.to_path_buf()));
        }
        let before = stat_of(&meta);
        let needed = before.size.saturating_add(MIN_FREE_BYTES);
        let free = free_bytes(blobs.dir()).unwrap_or(u64::MAX);
        if free < needed {
            return Err(VersionError::DataDirFull {
                data_dir: data_dir.to_path_buf(),
                path: path.to_path_buf(),
                needed,
                free,
            });
        }
        let mut file = File::open(path).map_err(io_error("read", path))?;
        let kept = blobs
            .keep(&mut file)
            .map_err(io_error("keep a version in", blobs.dir()))?;
        let after = path.symlink_metadata().map(|m| stat_of(&m)).ok();
        if after == Some(before) && kept.copied.size == before.size {
            return Ok((kept.copied, before));
        }
        // Written to while read: bytes no row will name. A blob this call
        // created is no one's (the store's lock is held), so it goes.
        if kept.fresh {
            blobs
                .remove(&kept.copied.hash)
                .map_err(io_error("remove", &blobs.path_of(&kept.copied.hash)))?;
        }
    }
    Err(VersionError::KeptChanging(path.to_path_buf()))
}

/// A hidden temporary beside `path` (the scanner ignores `.syncroll*`).
fn restore_temp(path: &Path) -> PathBuf {
    let name = format!(
        ".syncroll-restore-{}-{}.tmp",
        std::process::id(),
        RESTORE_COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    path.with_file_name(name)
}

/// Writes version's bytes to `temp` beside `path`, with `path`'s
/// permissions, and checks them against the recorded BLAKE3.
fn stage_version(blobs: &Blobs, version: &Version, path: &Path, temp: &Path) -> VersionResult<()> {
    let folder = path.parent().unwrap_or(Path::new("/"));
    let needed = version.size.saturating_add(MIN_FREE_BYTES);
    let free = free_bytes(folder).unwrap_or(u64::MAX);
    if free < needed {
        return Err(VersionError::FolderFull {
            folder: folder.to_path_buf(),
            path: path.to_path_buf(),
            needed,
            free,
        });
    }
    let blob = blobs.path_of(&version.hash);
    let mut source = match File::open(&blob) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(VersionError::BlobMissing {
                path: path.to_path_buf(),
                number: version.number,
                blob,
            });
        }
        Err(e) => return Err(io_error("read", &blob)(e)),
    };
    let copied =
        write_temp(temp, |out| copy_hashing(&mut source, out)).map_err(io_error("write", temp))?;
    if copied.hash != version.hash {
        return Err(VersionError::BlobDamaged {
            path: path.to_path_buf(),
            number: version.number,
            found: copied.hash.to_hex(),
            expected: version.hash.to_hex(),
        });
    }
    // A file brought back from nothing reads as a photo usually does;
    // one that is replaced keeps its own permissions (see `swap_in`).
    std::fs::set_permissions(temp, std::fs::Permissions::from_mode(0o644))
        .map_err(io_error("set the permissions of", temp))
}

/// Renames the complete `temp` over `path` if `path` is still as kept
/// (`seen`; `None`: it did not exist), with `path`'s permissions, and
/// makes it durable.
fn swap_in(path: &Path, temp: &Path, seen: Option<FileStat>) -> VersionResult<()> {
    File::open(temp)
        .and_then(|f| f.sync_all())
        .map_err(io_error("write", temp))?;
    let now = path.symlink_metadata().ok();
    if now.as_ref().map(stat_of) != seen {
        return Err(VersionError::ChangedMeanwhile(path.to_path_buf()));
    }
    if let Some(meta) = now {
        // New bytes, same file: it keeps the permissions it had.
        std::fs::set_permissions(temp, meta.permissions())
            .map_err(io_error("set the permissions of", temp))?;
    }
    std::fs::rename(temp, path).map_err(io_error("replace", path))?;
    let folder = path.parent().unwrap_or(Path::new("/"));
    sync_dir(folder).map_err(io_error("sync the folder", folder))
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> VersionResult<T> + Send + 'static,
) -> VersionResult<T> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|join| {
            Err(VersionError::Io {
                action: "finish a version store task",
                path: PathBuf::new(),
                source: io::Error::other(join.to_string()),
            })
        })
}

#[cfg(test)]
mod tests;
