//! Carrying out a decided key: the remote's bytes come home.
//!
//! A new remote file is downloaded to its landing path (never over a file:
//! `Placement::IfAbsent`), recorded in the ledger with the base both sides
//! now agree on, then indexed by the scanner before the next key. The
//! ledger row comes first: indexing the file wakes the push side's planner,
//! which must find the key already placed with these bytes, or it would
//! send them back.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use syncroll_core::connection::{Action, Base, Connection, LocalSide, RemoteSide};
use syncroll_core::{ContentHash, RelPath};
use syncroll_remote::{GetOptions, GetReport, Partial, Placement, RemoteError};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use tracing::{info_span, warn};

use super::Inner;
use super::poll::{Album, Decided, local_path, remote_side};
use crate::datadir::{free_bytes, human_bytes};
use crate::scanner::{ScanReason, ScanTarget};

/// Room kept free beyond a download's own bytes: a disk filled to the last
/// byte breaks the catalog and every other writer on it.
const FREE_MARGIN_BYTES: u64 = 1 << 20;
/// Attempts of one download within a poll; a download that still fails is
/// tried again by the next poll (continuing its kept partial bytes).
const ATTEMPTS: u32 = 3;
/// Wait before the second attempt; doubled for each further one.
const FIRST_RETRY: Duration = Duration::from_secs(1);

/// Why a decided key did not come home; the next poll decides it again.
#[derive(Debug, thiserror::Error)]
pub enum LandError {
    #[error("not enough space on {}: need {}, {} free", .root.display(), human_bytes(*.need), human_bytes(*.free))]
    NotEnoughSpace { root: PathBuf, need: u64, free: u64 },
    #[error(
        "{} leads out of the collection's root (a folder on the way is a symbolic link); \
         nothing was written",
        .0.display()
    )]
    LeavesRoot(PathBuf),
    #[error("cannot {action} {}: {source}", .path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} was downloaded but the scanner did not index it; it was left on disk and the \
             key is decided again by the next poll", .0.display())]
    NotIndexed(PathBuf),
    #[error("{}", .0)]
    Remote(#[from] RemoteError),
    #[error(transparent)]
    Catalog(#[from] syncroll_core::Error),
    #[error("cancelled")]
    Cancelled,
}

/// Carries out what was decided for one key.
pub(super) async fn carry_out(
    inner: &Inner,
    album: &Album,
    _connection: &Connection,
    decided: &Decided,
    cancel: &CancellationToken,
) -> Result<(), LandError> {
    let dest = local_path(album, &decided.rel_path);
    let span = info_span!("download", key = %decided.meta.key, dest = %dest.display());
    match decided.action {
        Action::Download { .. } => {
            download_new(inner, album, decided, &dest, cancel)
                .instrument(span)
                .await
        }
        // poll::decide_key hands over nothing else yet.
        _ => Ok(()),
    }
}

/// A new remote file comes home at `dest`.
async fn download_new(
    inner: &Inner,
    album: &Album,
    decided: &Decided,
    dest: &Path,
    cancel: &CancellationToken,
) -> Result<(), LandError> {
    let folder = dest.parent().unwrap_or(&album.root.path).to_path_buf();
    make_folder(&album.root.path, &folder).await?;
    check_space(&album.root.path, &folder, decided.meta.size)?;
    let report = fetch(album, decided, dest, Placement::IfAbsent, cancel).await?;
    let base = agreed_base(dest, &report, &decided.meta)?;
    inner
        .store
        .record_download(
            album.remote_id,
            album.collection.id,
            &decided.meta.key,
            &decided.rel_path,
            &base,
        )
        .await?;
    let indexed = index(
        inner,
        album,
        &decided.meta.key,
        &decided.rel_path,
        dest,
        &report,
        &base,
    )
    .await;
    if let Err(LandError::NotIndexed(_)) = &indexed {
        // A ledger row without its photo would read to the push side as a
        // photo that left the collection, and its remote object would be
        // deleted: the row goes, the file stays, the next poll decides again.
        inner
            .store
            .forget_download(album.remote_id, &decided.meta.key, &base.local.hash)
            .await?;
    }
    indexed
}

/// Indexes the file just landed at `rel_path` and waits for it; then the
/// base takes the catalog's view of the local side.
async fn index(
    inner: &Inner,
    album: &Album,
    key: &str,
    rel_path: &RelPath,
    dest: &Path,
    report: &GetReport,
    base: &Base,
) -> Result<(), LandError> {
    let scanned = inner
        .scanner
        .scan(
            ScanTarget::Scopes {
                root: album.root.id,
                scopes: vec![rel_path.clone()],
            },
            ScanReason::Rescan,
        )
        .await;
    if let Err(error) = scanned {
        warn!(%error, "indexing a downloaded file failed");
    }
    let Some(photo) = inner.store.photo_at(album.root.id, rel_path).await? else {
        return Err(LandError::NotIndexed(dest.to_path_buf()));
    };
    if photo.hash.0 != report.blake3 {
        // Written to again since it landed: the base stays the downloaded
        // bytes, so the next poll sees a local change and decides on it.
        return Ok(());
    }
    if photo.stat.mtime_ns != base.local.mtime_ns || photo.stat.size != base.local.size {
        let mut agreed = base.clone();
        agreed.local.mtime_ns = photo.stat.mtime_ns;
        agreed.local.size = photo.stat.size;
        inner
            .store
            .record_base(album.remote_id, key, &agreed)
            .await?;
    }
    Ok(())
}

/// Downloads the key to `dest`, retrying passing faults a few times.
async fn fetch(
    album: &Album,
    decided: &Decided,
    dest: &Path,
    placement: Placement,
    cancel: &CancellationToken,
) -> Result<GetReport, LandError> {
    let options = GetOptions {
        expected: Some(decided.meta.clone()),
        placement,
        partial: Partial::KeepForResume,
    };
    let progress = AtomicU64::new(0);
    let mut wait = FIRST_RETRY;
    let mut attempt = 1;
    loop {
        let got = album
            .remote
            .get_file(&decided.meta.key, dest, &options, &progress, cancel)
            .await;
        match got {
            Ok(report) => return Ok(report),
            Err(error) if error.is_cancelled() => return Err(LandError::Cancelled),
            Err(error) if error.is_transient() && attempt < ATTEMPTS => {
                warn!(%error, attempt, "download failed; trying again");
                tokio::select! {
                    () = cancel.cancelled() => return Err(LandError::Cancelled),
                    () = tokio::time::sleep(wait) => {}
                }
                wait *= 2;
                attempt += 1;
            }
            Err(error) => return Err(error.into()),
        }
    }
}

/// The state both sides agree on once `report`'s bytes are at `dest`.
fn agreed_base(
    dest: &Path,
    report: &GetReport,
    listed: &syncroll_remote::ObjectMeta,
) -> Result<Base, LandError> {
    let stat = std::fs::metadata(dest).map_err(|source| LandError::Io {
        action: "read the metadata of",
        path: dest.to_path_buf(),
        source,
    })?;
    let hash = ContentHash(report.blake3);
    // The listing's ETag and time, not the GET's: the next poll compares
    // with a listing, and a PROPFIND's `getetag` may be spelt otherwise.
    let remote = RemoteSide {
        hash: Some(hash),
        ..remote_side(listed)
    };
    Ok(Base {
        local: LocalSide {
            hash,
            size: report.size,
            mtime_ns: stat
                .mtime()
                .saturating_mul(1_000_000_000)
                .saturating_add(stat.mtime_nsec()),
        },
        remote: Some(remote),
    })
}

/// Creates `folder` (under `root`) and checks it resolves under the root:
/// a symbolic link on the way must not lead a download elsewhere.
async fn make_folder(root: &Path, folder: &Path) -> Result<(), LandError> {
    tokio::fs::create_dir_all(folder)
        .await
        .map_err(|source| LandError::Io {
            action: "create the folder",
            path: folder.to_path_buf(),
            source,
        })?;
    let resolved = tokio::fs::canonicalize(folder)
        .await
        .map_err(|source| LandError::Io {
            action: "resolve the folder",
            path: folder.to_path_buf(),
            source,
        })?;
    let root = tokio::fs::canonicalize(root)
        .await
        .unwrap_or_else(|_| root.to_path_buf());
    if resolved.starts_with(&root) {
        Ok(())
    } else {
        Err(LandError::LeavesRoot(folder.to_path_buf()))
    }
}

/// Fails before any byte is written when the file system of `folder` has
/// no room for `size` bytes (and a margin).
fn check_space(root: &Path, folder: &Path, size: u64) -> Result<(), LandError> {
    let need = size.saturating_add(FREE_MARGIN_BYTES);
    match free_bytes(folder) {
        Some(free) if free < need => Err(LandError::NotEnoughSpace {
            root: root.to_path_buf(),
            need,
            free,
        }),
        _ => Ok(()),
    }
}
