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

use syncroll_core::connection::{
    Action, Base, KeyState, LocalSide, Policy, RemoteSide, conflict_copy_name, edit_copy_name,
};
use syncroll_core::store::NewConflict;
use syncroll_core::versions::VersionOrigin;
use syncroll_core::{CollectionKind, ContentHash, RelPath, Root};
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
    #[error("{} changed since it was indexed; the next poll decides on its new bytes", .0.display())]
    ChangedMeanwhile(PathBuf),
    #[error("the remote edit could not replace the local file: {0}")]
    Replace(#[source] crate::versions::VersionError),
    #[error("{0} is not carried out by the pull engine yet")]
    NotCarriedOut(&'static str),
    #[error("cancelled")]
    Cancelled,
}

/// What a carried-out key brought home.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Landed {
    /// A new remote file.
    New,
    /// A remote edit, as the local file's new bytes (the old ones kept as
    /// a version).
    Version,
    /// A remote edit, saved beside the original as `NAME (edit N).EXT`.
    EditCopy,
    /// Both sides changed to different bytes: the remote's saved beside the
    /// local file as `NAME (conflict ...).EXT` and the conflict recorded.
    Conflict,
    /// Both sides hold the same bytes: the base was recorded.
    Agreed,
    /// The remote, whose state was never recorded, holds the bytes the base
    /// names: its state was recorded.
    Verified,
}

impl Landed {
    pub const ALL: [Self; 6] = [
        Self::New,
        Self::Version,
        Self::EditCopy,
        Self::Conflict,
        Self::Agreed,
        Self::Verified,
    ];

    /// The word a download job's `transfer` column keeps.
    pub fn name(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Version => "version",
            Self::EditCopy => "edit-copy",
            Self::Conflict => "conflict",
            Self::Agreed => "agreed",
            Self::Verified => "verified",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.name() == name)
    }
}

/// The download job a key is carried out in: its cancel, and the counter
/// of bytes fetched that `watch` shows.
#[derive(Debug, Clone, Copy)]
pub(super) struct Turn<'a> {
    pub cancel: &'a CancellationToken,
    pub progress: &'a AtomicU64,
}

/// Carries out what was decided for one key.
pub(super) async fn carry_out(
    inner: &Inner,
    album: &Album,
    decided: &Decided,
    turn: &Turn<'_>,
) -> Result<Landed, LandError> {
    let dest = local_path(&decided.root, &decided.rel_path);
    let span = info_span!(
        "download",
        key = %decided.meta.key,
        action = decided.action.name(),
        dest = %dest.display()
    );
    let landed = if let Some((key, policy)) = &decided.verify_base {
        verify_base(inner, album, decided, &dest, key, policy, turn)
            .instrument(span)
            .await?
    } else {
        carry_out_action(inner, album, decided, &dest, turn)
            .instrument(span)
            .await?
    };
    discard_stale_downloads(&dest, &decided.meta.key).await;
    Ok(landed)
}

async fn carry_out_action(
    inner: &Inner,
    album: &Album,
    decided: &Decided,
    dest: &Path,
    turn: &Turn<'_>,
) -> Result<Landed, LandError> {
    match decided.action {
        Action::Download { .. } => download_new(inner, album, decided, dest, turn)
            .await
            .map(|()| Landed::New),
        Action::ReplaceKeepingVersion => replace_keeping_version(inner, album, decided, dest, turn)
            .await
            .map(|()| Landed::Version),
        Action::SaveEditCopy => save_edit_copy(inner, album, decided, dest, turn)
            .await
            .map(|()| Landed::EditCopy),
        Action::SaveConflictCopy => save_conflict_copy(inner, album, decided, dest, turn)
            .await
            .map(|()| Landed::Conflict),
        Action::FetchToCompare => fetch_to_compare(inner, album, decided, dest, turn).await,
        Action::RecordBase => record_agreement(inner, album, decided).await,
        // poll::decide_key hands over nothing else.
        _ => Err(LandError::NotCarriedOut(decided.action.name())),
    }
}

/// Once `key` is carried out, removes what earlier attempts of it left
/// unfinished beside `dest` (a download cut short by `kill -9` or a failed
/// poll keeps its bytes for the next attempt). The next attempt is not
/// always the same download: a new file's path may hold a local file by
/// then, an edit may have become a conflict (saved under another name), an
/// edit copy's number may be taken. Those kept bytes would then stay for
/// ever, hidden beside the user's photos, as large as the photo.
pub(super) async fn discard_stale_downloads(dest: &Path, key: &str) {
    let Some(folder) = dest.parent() else {
        return;
    };
    for stale in syncroll_remote::unfinished_downloads(folder, key).await {
        if let Err(error) = syncroll_remote::discard_download(&stale).await {
            warn!(%error, path = %stale.display(), "cannot remove an unfinished download");
        }
    }
}

/// A remote edit of an unchanged local file, `--returns version`: the edit
/// is downloaded to a hidden temporary beside the file, then the version
/// store keeps the file's bytes and renames the temporary over it.
async fn replace_keeping_version(
    inner: &Inner,
    album: &Album,
    decided: &Decided,
    dest: &Path,
    turn: &Turn<'_>,
) -> Result<(), LandError> {
    let folder = dest.parent().unwrap_or(&decided.root.path).to_path_buf();
    check_space(&decided.root.path, &folder, decided.meta.size)?;
    let temp = edit_temp(dest);
    let report = fetch(album, decided, &temp, Placement::Replace, turn).await?;
    let base = agreed_base(&temp, &report, &decided.meta)?;
    if !unchanged_since_decided(dest, decided.local.as_ref()) {
        // Written to since it was indexed: bytes nobody decided on. They
        // would be kept as a version, but the edit may be a conflict; the
        // next poll decides with the catalog's new view.
        let _ = tokio::fs::remove_file(&temp).await;
        return Err(LandError::ChangedMeanwhile(dest.to_path_buf()));
    }
    let previous = inner.store.base(album.remote_id, &decided.meta.key).await?;
    // The ledger names the new bytes before the file holds them: the scan
    // of the replaced file wakes the planner, which must find the key
    // already holding them (else it would send them back).
    inner
        .store
        .record_base(album.remote_id, &decided.meta.key, &base)
        .await?;
    let origin = VersionOrigin::RemoteEdit {
        remote: album.remote_name.clone(),
    };
    if let Err(error) = inner.versions.replace_with(dest, &temp, origin).await {
        if let Some((previous, _)) = previous {
            inner
                .store
                .record_base(album.remote_id, &decided.meta.key, &previous)
                .await?;
        }
        let _ = syncroll_remote::discard_download(&temp).await;
        let _ = tokio::fs::remove_file(&temp).await;
        return Err(LandError::Replace(error));
    }
    index(inner, album, decided, dest, &report, &base).await
}

/// A remote edit of an unchanged local file, `--returns copy`: saved beside
/// the original as `NAME (edit N).EXT`, which the scanner indexes into the
/// collection (a folder collection holds every photo under its folder);
/// the original stays. The base keeps the local original and takes the
/// remote's new state, so the edit is brought home once.
async fn save_edit_copy(
    inner: &Inner,
    album: &Album,
    decided: &Decided,
    dest: &Path,
    turn: &Turn<'_>,
) -> Result<(), LandError> {
    let folder = dest.parent().unwrap_or(&decided.root.path).to_path_buf();
    let Some(name) = dest.file_name().and_then(|n| n.to_str()) else {
        return Err(LandError::NotCarriedOut(
            "save-edit-copy of a name that is not UTF-8",
        ));
    };
    let copy_name = edit_copy_name(name, |candidate| {
        folder.join(candidate).symlink_metadata().is_ok()
    });
    let copy = folder.join(&copy_name);
    check_space(&decided.root.path, &folder, decided.meta.size)?;
    let report = fetch(album, decided, &copy, Placement::IfAbsent, turn).await?;
    let Some(local) = decided.local else {
        return Err(LandError::NotCarriedOut(
            "save-edit-copy without a local file",
        ));
    };
    let base = Base {
        local,
        remote: Some(RemoteSide {
            hash: Some(ContentHash(report.blake3)),
            ..remote_side(&decided.meta)
        }),
    };
    inner
        .store
        .record_base(album.remote_id, &decided.meta.key, &base)
        .await?;
    index_copy(inner, album, decided, &copy).await
}

/// Indexes an edit or conflict copy saved beside the decided key's file
/// into the collection: a folder collection holds it by its folder; a
/// manual one is given it, as it holds the original.
async fn index_copy(
    inner: &Inner,
    album: &Album,
    decided: &Decided,
    copy: &Path,
) -> Result<(), LandError> {
    let copy_rel = RelPath::from_child(&decided.root.path, copy)
        .ok_or_else(|| LandError::LeavesRoot(copy.to_path_buf()))?;
    indexed(inner, &decided.root, &copy_rel, copy).await?;
    if let CollectionKind::Manual = album.collection.kind {
        inner
            .store
            .add_to_collection(&album.collection, &decided.root, &copy_rel)
            .await?;
    }
    Ok(())
}

/// Both sides changed to different bytes: the local file stays; the
/// remote's bytes land beside it as `NAME (conflict YYYY-MM-DD HHMMSS
/// REMOTE).EXT`, indexed into the collection (and so uploaded like any
/// photo), and the conflict is recorded. The base then holds each side as
/// it is, so the conflict is saved once.
async fn save_conflict_copy(
    inner: &Inner,
    album: &Album,
    decided: &Decided,
    dest: &Path,
    turn: &Turn<'_>,
) -> Result<(), LandError> {
    let folder = dest.parent().unwrap_or(&decided.root.path).to_path_buf();
    check_space(&decided.root.path, &folder, decided.meta.size)?;
    let copy = conflict_copy_path(album, dest, &decided.meta.key).await?;
    let report = fetch(album, decided, &copy, Placement::IfAbsent, turn).await?;
    settle_conflict(inner, album, decided, dest, &copy, &report).await
}

/// Both sides changed to the same size and the remote's bytes are not
/// known: they are fetched to a hidden temporary and hashed. The same bytes
/// as the local file are no conflict (the base is recorded, the temporary
/// goes); other bytes become the conflict copy.
async fn fetch_to_compare(
    inner: &Inner,
    album: &Album,
    decided: &Decided,
    dest: &Path,
    turn: &Turn<'_>,
) -> Result<Landed, LandError> {
    let Some(local) = decided.local else {
        return Err(LandError::NotCarriedOut(
            "fetch-to-compare without a local file",
        ));
    };
    let folder = dest.parent().unwrap_or(&decided.root.path).to_path_buf();
    check_space(&decided.root.path, &folder, decided.meta.size)?;
    let temp = edit_temp(dest);
    let report = fetch(album, decided, &temp, Placement::Replace, turn).await?;
    if ContentHash(report.blake3) == local.hash {
        let _ = tokio::fs::remove_file(&temp).await;
        let base = Base {
            local,
            remote: Some(RemoteSide {
                hash: Some(local.hash),
                ..remote_side(&decided.meta)
            }),
        };
        record_key_base(inner, album, decided, &base).await?;
        return Ok(Landed::Agreed);
    }
    let copy = conflict_copy_path(album, dest, &decided.meta.key).await?;
    // A hard link never replaces: a file that took the name meanwhile stays.
    let linked = std::fs::hard_link(&temp, &copy);
    let _ = tokio::fs::remove_file(&temp).await;
    // The name may be one an earlier attempt began downloading the copy to;
    // its kept bytes are not needed now that the copy is in place.
    let _ = syncroll_remote::discard_download(&copy).await;
    linked.map_err(|source| LandError::Io {
        action: "save the conflict copy",
        path: copy.clone(),
        source,
    })?;
    settle_conflict(inner, album, decided, dest, &copy, &report)
        .await
        .map(|()| Landed::Conflict)
}

/// The base of `key` has no remote side: the object is fetched to a
/// hidden temporary and hashed. The bytes the base names: the remote's
/// state is recorded with them. Other bytes: the key is decided again
/// knowing them, and carried out (fetched again by the chosen action).
async fn verify_base(
    inner: &Inner,
    album: &Album,
    decided: &Decided,
    dest: &Path,
    key: &KeyState,
    policy: &Policy,
    turn: &Turn<'_>,
) -> Result<Landed, LandError> {
    let Some(base) = &key.base else {
        return Err(LandError::NotCarriedOut("a base check without a base"));
    };
    let folder = dest.parent().unwrap_or(&decided.root.path).to_path_buf();
    make_folder(&decided.root.path, &folder).await?;
    check_space(&decided.root.path, &folder, decided.meta.size)?;
    let temp = edit_temp(dest);
    let fetched = fetch(album, decided, &temp, Placement::Replace, turn).await;
    let _ = tokio::fs::remove_file(&temp).await;
    let hash = ContentHash(fetched?.blake3);
    if hash == base.local.hash {
        // The local side as the catalog has it now when it holds the same
        // bytes (a row from before bases has no mtime), else as recorded.
        let local = key
            .local
            .filter(|now| now.hash == base.local.hash)
            .unwrap_or(base.local);
        let verified = Base {
            local,
            remote: Some(RemoteSide {
                hash: Some(hash),
                ..remote_side(&decided.meta)
            }),
        };
        inner
            .store
            .record_base(album.remote_id, &decided.meta.key, &verified)
            .await?;
        return Ok(Landed::Verified);
    }
    let mut known = key.clone();
    if let Some(remote) = known.remote.as_mut() {
        remote.hash = Some(hash);
    }
    let action = syncroll_core::connection::decide::decide(&known, policy);
    match action {
        Action::Nothing | Action::Leave(_) => Ok(Landed::Verified),
        Action::RecordBase => record_agreement(inner, album, decided).await,
        Action::Download { .. }
        | Action::ReplaceKeepingVersion
        | Action::SaveEditCopy
        | Action::SaveConflictCopy => {
            let again = Decided {
                meta: decided.meta.clone(),
                root: decided.root.clone(),
                rel_path: decided.rel_path.clone(),
                inbox: decided.inbox,
                group: decided.group.clone(),
                action,
                local: decided.local,
                verify_base: None,
            };
            Box::pin(carry_out(inner, album, &again, turn)).await
        }
        other => Err(LandError::NotCarriedOut(other.name())),
    }
}

/// The free conflict-copy name beside `dest`, for a conflict seen now; or
/// the name an earlier attempt for the same key began downloading to.
///
/// A conflict copy is named by the time it is seen, so an attempt cut short
/// (`kill -9`, a poll that failed midway) would otherwise leave its kept
/// bytes under a name no later attempt uses: a hidden partial file beside
/// the photo for ever, and the download begun again from nothing each time.
async fn conflict_copy_path(album: &Album, dest: &Path, key: &str) -> Result<PathBuf, LandError> {
    let folder = dest.parent().map(Path::to_path_buf).unwrap_or_default();
    let Some(name) = dest.file_name().and_then(|n| n.to_str()) else {
        return Err(LandError::NotCarriedOut(
            "save-conflict-copy of a name that is not UTF-8",
        ));
    };
    let (stem, ext) = match name.rfind('.') {
        Some(dot) if dot > 0 => name.split_at(dot),
        _ => (name, ""),
    };
    let shape = (
        format!("{stem} (conflict "),
        format!(" {})", album.remote_name) + ext,
    );
    for kept in syncroll_remote::unfinished_downloads(&folder, key).await {
        let taken = kept.symlink_metadata().is_ok();
        let of_this_conflict = kept
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with(&shape.0) && n.ends_with(&shape.1));
        if of_this_conflict && !taken {
            return Ok(kept);
        }
    }
    let now_s = syncroll_core::store::now_ms() / 1000;
    let copy_name = conflict_copy_name(name, now_s, &album.remote_name, |candidate| {
        folder.join(candidate).symlink_metadata().is_ok()
    });
    Ok(folder.join(copy_name))
}

/// Records a conflict whose remote bytes are at `copy`: the base, the
/// copy indexed, the conflict row.
async fn settle_conflict(
    inner: &Inner,
    album: &Album,
    decided: &Decided,
    dest: &Path,
    copy: &Path,
    report: &GetReport,
) -> Result<(), LandError> {
    let Some(local) = decided.local else {
        return Err(LandError::NotCarriedOut("a conflict without a local file"));
    };
    let base = Base {
        local,
        remote: Some(RemoteSide {
            hash: Some(ContentHash(report.blake3)),
            ..remote_side(&decided.meta)
        }),
    };
    record_key_base(inner, album, decided, &base).await?;
    if let Err(error) = index_copy(inner, album, decided, copy).await {
        // The copy is on disk and the conflict is recorded either way; the
        // next scan indexes it.
        warn!(%error, copy = %copy.display(), "indexing a conflict copy failed");
    }
    let id = inner
        .store
        .record_conflict(&NewConflict {
            collection: album.collection.id,
            remote: album.remote_id,
            key: &decided.meta.key,
            local_path: dest,
            copy_path: copy,
            detected_at_ms: syncroll_core::store::now_ms(),
        })
        .await?;
    warn!(conflict = id, copy = %copy.display(), "both sides changed; the remote's bytes were saved beside the local file");
    Ok(())
}

/// Neither side changed its bytes but the base is not their exact state (a
/// touched file, a new modified time): the base takes the states now.
async fn record_agreement(
    inner: &Inner,
    album: &Album,
    decided: &Decided,
) -> Result<Landed, LandError> {
    let Some(local) = decided.local else {
        return Err(LandError::NotCarriedOut("record-base without a local file"));
    };
    let base = Base {
        local,
        remote: Some(RemoteSide {
            hash: Some(local.hash),
            ..remote_side(&decided.meta)
        }),
    };
    record_key_base(inner, album, decided, &base).await?;
    Ok(Landed::Agreed)
}

/// Records `base` for the decided key, writing its ledger row if there is
/// none yet (a local file and a remote object that met without a base).
async fn record_key_base(
    inner: &Inner,
    album: &Album,
    decided: &Decided,
    base: &Base,
) -> Result<(), LandError> {
    let key = &decided.meta.key;
    if !inner.store.record_base(album.remote_id, key, base).await? {
        // A file of a manual collection's inbox that met its key: pinned
        // to it, and in the collection.
        let inbox = match decided.inbox {
            true => inner
                .store
                .photo_at(decided.root.id, &decided.rel_path)
                .await?
                .map(|photo| (decided.root.id, photo.id)),
            false => None,
        };
        inner
            .store
            .record_download(
                album.remote_id,
                album.collection.id,
                key,
                ledger_path(decided),
                base,
                inbox,
            )
            .await?;
    }
    Ok(())
}

/// The path a new ledger row for the decided key names: its photo's for a
/// sidecar (see [`Decided::group`]), else its own.
fn ledger_path(decided: &Decided) -> &RelPath {
    decided.group.as_ref().unwrap_or(&decided.rel_path)
}

/// Whether the file at `path` still has the size and mtime the catalog
/// had when the key was decided.
fn unchanged_since_decided(path: &Path, local: Option<&LocalSide>) -> bool {
    let Some(local) = local else {
        return false;
    };
    std::fs::symlink_metadata(path).is_ok_and(|meta| {
        let mtime_ns = meta
            .mtime()
            .saturating_mul(1_000_000_000)
            .saturating_add(meta.mtime_nsec());
        meta.is_file() && meta.size() == local.size && mtime_ns == local.mtime_ns
    })
}

/// The hidden temporary a remote edit of `dest` is downloaded to: in the
/// same folder (so the replacement is a rename), a name the scanner
/// ignores, and the same for every attempt, so an interrupted download is
/// continued.
fn edit_temp(dest: &Path) -> PathBuf {
    const PREFIX: &str = ".syncroll-pull-";
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // Room for the prefix and the download's own suffixes.
    let name = if PREFIX.len() + name.len() + 40 <= 255 {
        name
    } else {
        blake3::hash(name.as_bytes()).to_hex()[..32].to_owned()
    };
    dest.with_file_name(format!("{PREFIX}{name}"))
}

/// Indexes the file at `rel_path` of `root` (`path`) and waits for it;
/// its photo, or why it is not in the catalog.
async fn indexed(
    inner: &Inner,
    root: &Root,
    rel_path: &RelPath,
    path: &Path,
) -> Result<syncroll_core::Photo, LandError> {
    scan(inner, root, rel_path).await;
    inner
        .store
        .photo_at(root.id, rel_path)
        .await?
        .ok_or_else(|| LandError::NotIndexed(path.to_path_buf()))
}

async fn scan(inner: &Inner, root: &Root, rel_path: &RelPath) {
    let scanned = inner
        .scanner
        .scan(
            ScanTarget::Scopes {
                root: root.id,
                scopes: vec![rel_path.clone()],
            },
            ScanReason::Rescan,
        )
        .await;
    if let Err(error) = scanned {
        warn!(%error, "indexing a file brought home failed");
    }
}

/// A new remote file comes home at `dest`.
async fn download_new(
    inner: &Inner,
    album: &Album,
    decided: &Decided,
    dest: &Path,
    turn: &Turn<'_>,
) -> Result<(), LandError> {
    let folder = dest.parent().unwrap_or(&decided.root.path).to_path_buf();
    make_folder(&decided.root.path, &folder).await?;
    check_space(&decided.root.path, &folder, decided.meta.size)?;
    if decided.inbox {
        return download_into_inbox(inner, album, decided, dest, turn).await;
    }
    // From the moment the file is in place until the ledger names it, a
    // scan (the watcher sees it land) must not index it: the planner would
    // take it for a new photo and send it back to the key it came from.
    let held_back = inner
        .scanner
        .hold_back(decided.root.id, decided.rel_path.clone());
    let report = fetch(album, decided, dest, Placement::IfAbsent, turn).await?;
    let base = agreed_base(dest, &report, &decided.meta)?;
    inner
        .store
        .record_download(
            album.remote_id,
            album.collection.id,
            &decided.meta.key,
            ledger_path(decided),
            &base,
            None,
        )
        .await?;
    drop(held_back);
    let indexed = index(inner, album, decided, dest, &report, &base).await;
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

/// A new remote file of a manual collection comes home into its inbox.
/// Unlike a file under a folder collection's folder, a file of the inbox
/// is no member until it is given to the collection, so it may be indexed
/// first; its ledger row, pinned to the photo, and its membership are then
/// written in one transaction, and the planner sees both or neither.
async fn download_into_inbox(
    inner: &Inner,
    album: &Album,
    decided: &Decided,
    dest: &Path,
    turn: &Turn<'_>,
) -> Result<(), LandError> {
    let report = fetch(album, decided, dest, Placement::IfAbsent, turn).await?;
    let mut base = agreed_base(dest, &report, &decided.meta)?;
    // Not indexed: left on disk, in no collection and in no ledger row;
    // the next poll finds it indexed and records it as agreed.
    let photo = indexed(inner, &decided.root, &decided.rel_path, dest).await?;
    if photo.hash.0 == report.blake3 {
        base.local.mtime_ns = photo.stat.mtime_ns;
        base.local.size = photo.stat.size;
    }
    // Written to since it landed (other bytes): the base stays the
    // downloaded bytes, so the next poll sees a local change.
    inner
        .store
        .record_download(
            album.remote_id,
            album.collection.id,
            &decided.meta.key,
            &decided.rel_path,
            &base,
            Some((decided.root.id, photo.id)),
        )
        .await?;
    Ok(())
}

/// Indexes the decided key's file just landed at `dest` and waits for it;
/// then the base takes the catalog's view of the local side.
async fn index(
    inner: &Inner,
    album: &Album,
    decided: &Decided,
    dest: &Path,
    report: &GetReport,
    base: &Base,
) -> Result<(), LandError> {
    let key = &decided.meta.key;
    let photo = indexed(inner, &decided.root, &decided.rel_path, dest).await?;
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
    turn: &Turn<'_>,
) -> Result<GetReport, LandError> {
    let options = GetOptions {
        expected: Some(decided.meta.clone()),
        placement,
        partial: Partial::KeepForResume,
    };
    let mut wait = FIRST_RETRY;
    let mut attempt = 1;
    loop {
        let got = album
            .remote
            .get_file(
                &decided.meta.key,
                dest,
                &options,
                turn.progress,
                turn.cancel,
            )
            .await;
        match got {
            Ok(report) => return Ok(report),
            Err(error) if error.is_cancelled() => return Err(LandError::Cancelled),
            Err(error) if error.is_transient() && attempt < ATTEMPTS => {
                warn!(%error, attempt, "download failed; trying again");
                tokio::select! {
                    () = turn.cancel.cancelled() => return Err(LandError::Cancelled),
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
