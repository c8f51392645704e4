//! One poll of one connection: list the album, decide each key, then carry
//! out what was decided.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::ops::Bound;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use syncroll_core::connection::{
    Action, CaseFolds, Connection, HostileName, KeyState, Landing, LocalSide, NameRules, Policy,
    RemoteSide, ReturnMode, bare_etag, check_remote_name,
};
use syncroll_core::keys::{collection_prefix, object_key, untagged};
use syncroll_core::{CollectionKind, Photo, RelPath, RemoteId, Root, RootId, RootState};
use syncroll_remote::{ListEvent, ObjectMeta, Remote, RemoteError, is_download_temporary};
use tokio_stream::StreamExt;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::Inner;
use crate::remotes::OpenError;

/// Actions one poll carries out at most: they are held until the listing
/// is complete, so this bounds the poll's memory; the rest waits for the
/// next poll.
const MAX_ACTIONS_PER_POLL: usize = 256;
/// Refused names kept word for word in the outcome; the rest are counted.
const REFUSALS_SHOWN: usize = 3;

/// Why a poll did not run or stopped; nothing was changed then.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error(
        "collection {0:?} is not synced, so it has no album to pull from; turn sync on with \
         `syncroll sync on`"
    )]
    NotSynced(String),
    #[error("the collection's root {} is missing ({reason}); nothing is pulled until it is back", .path.display())]
    RootMissing { path: PathBuf, reason: String },
    #[error(
        "the inbox {} of collection {collection:?} is not under any root now; connect it again \
         with an --inbox under a root (`syncroll connect NAME --inbox DIR`)",
        .inbox.display()
    )]
    InboxOutsideRoots { collection: String, inbox: PathBuf },
    #[error("cannot open the remote: {0}")]
    Open(#[from] OpenError),
    #[error("cannot list {folder:?} on the remote: {source}; nothing was changed")]
    Listing {
        folder: String,
        #[source]
        source: RemoteError,
    },
    #[error(transparent)]
    Catalog(#[from] syncroll_core::Error),
    #[error("the poll was cancelled")]
    Cancelled,
    #[error("sync is paused; nothing is pulled until it is resumed (`syncroll resume`)")]
    Paused,
}

/// What a finished poll saw and did, for `status` and the log.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PollReport {
    /// Objects listed in the album.
    pub listed: u64,
    /// New remote files brought home.
    pub downloaded: u64,
    /// Remote edits that replaced their local file (old bytes kept as a
    /// version), and those saved as `NAME (edit N).EXT`.
    pub versions: u64,
    pub edit_copies: u64,
    /// Keys changed on both sides to different bytes: the remote's saved
    /// beside the local file as a conflict copy.
    pub conflicts: u64,
    /// Keys whose sides hold the same bytes again (identical edits, a
    /// touched file): only the base was recorded.
    pub agreed: u64,
    /// Keys whose remote state was never recorded, fetched and found to
    /// hold the bytes syncroll recorded: their base is complete now.
    pub verified: u64,
    /// Remote names refused, with the first few reasons.
    pub refused: u64,
    pub refusals: Vec<String>,
    /// Actions that failed, and the first failure.
    pub failed: u64,
    pub first_failure: Option<String>,
    /// Keys left for a later poll: a local file the catalog has not seen
    /// yet, a decision this engine does not carry out yet, or more actions
    /// than one poll takes.
    pub later: u64,
    /// Copies deleted on the remote whose photos, unchanged here, left the
    /// collection (kept on disk).
    pub departed: u64,
    /// Such departures the deletion brake held, and its hold.
    pub departures_held: u64,
    pub hold: Option<i64>,
    /// Copies deleted on the remote whose photos changed here: modify
    /// beats delete, they are uploaded again.
    pub sent_again: u64,
    /// Download jobs cancelled while the poll waited for them.
    pub cancelled: u64,
    /// Keys not fetched again: their last download failed for good or was
    /// cancelled by the user, until `syncroll retry`.
    pub blocked: u64,
}

impl fmt::Display for PollReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} listed, {} downloaded", self.listed, self.downloaded)?;
        if self.versions > 0 {
            write!(f, ", {} edits returned as versions", self.versions)?;
        }
        if self.edit_copies > 0 {
            write!(f, ", {} edits saved as copies", self.edit_copies)?;
        }
        if self.conflicts > 0 {
            write!(f, ", {} conflicts saved as copies", self.conflicts)?;
        }
        if self.agreed > 0 {
            write!(f, ", {} the same on both sides", self.agreed)?;
        }
        if self.verified > 0 {
            write!(f, ", {} checked against the recorded bytes", self.verified)?;
        }
        if self.departed > 0 {
            write!(
                f,
                ", {} deleted on the remote left the collection (kept on disk)",
                self.departed
            )?;
        }
        if self.departures_held > 0 {
            write!(
                f,
                ", {} deleted on the remote held by the deletion brake",
                self.departures_held
            )?;
            if let Some(hold) = self.hold {
                write!(f, " (review with `syncroll holds show {hold}`)")?;
            }
        }
        if self.sent_again > 0 {
            write!(
                f,
                ", {} deleted on the remote but changed here, sent again",
                self.sent_again
            )?;
        }
        if self.later > 0 {
            write!(f, ", {} left for a later poll", self.later)?;
        }
        if self.cancelled > 0 {
            write!(f, ", {} downloads cancelled", self.cancelled)?;
        }
        if self.blocked > 0 {
            write!(
                f,
                ", {} not fetched again after a failed or cancelled download (`syncroll retry`)",
                self.blocked
            )?;
        }
        if self.failed > 0 {
            write!(f, ", {} failed", self.failed)?;
            if let Some(first) = &self.first_failure {
                write!(f, " ({first})")?;
            }
        }
        if self.refused > 0 {
            write!(
                f,
                ", {} refused: {}",
                self.refused,
                self.refusals.join("; ")
            )?;
            let unshown = self.refused - self.refusals.len() as u64;
            if unshown > 0 {
                write!(f, "; and {unshown} more")?;
            }
        }
        Ok(())
    }
}

impl PollReport {
    fn refuse(&mut self, reason: String) {
        warn!(%reason, "remote name refused; nothing written");
        self.refused += 1;
        if self.refusals.len() < REFUSALS_SHOWN {
            self.refusals.push(reason);
        }
    }

    pub(super) fn fail(&mut self, error: &str) {
        warn!(%error, "bringing a remote change home failed");
        self.failed += 1;
        if self.first_failure.is_none() {
            self.first_failure = Some(error.to_owned());
        }
    }
}

/// The connected collection as a poll sees it.
#[derive(Debug)]
pub(super) struct Album {
    pub remote_id: RemoteId,
    pub remote_name: String,
    pub remote: Arc<dyn Remote>,
    pub collection: syncroll_core::Collection,
    /// The key prefix (with its trailing `/`) the push side writes the
    /// collection under: `P/NAME/`.
    pub folder_prefix: String,
    /// The remote's `prefix` setting, for [`object_key`].
    pub remote_prefix: String,
    /// Where keys land.
    pub landing: AlbumLanding,
    /// Whether the file system new files land on takes names that differ
    /// only in case for one file (probed once a poll).
    pub case_insensitive: bool,
}

/// Where an album's keys are found and land locally.
#[derive(Debug)]
pub(super) enum AlbumLanding {
    /// A folder collection: a key `P/NAME/REL` is the file `REL` of this
    /// root, the path the push side keys it from.
    Folder {
        root: Root,
        /// The collection's folder, relative to the root.
        folder: RelPath,
    },
    /// A manual collection: a key the ledger holds is the photo it names
    /// (the root it is pinned to, or the member at its path); a key the
    /// push side would compute for a member is that member; any other key
    /// `P/NAME/REST` is new and lands at `REST` under the inbox.
    Manual {
        inbox_root: Root,
        /// The inbox, relative to its root.
        inbox: RelPath,
        /// Every root, for the photos the ledger names.
        roots: Vec<Root>,
    },
}

impl AlbumLanding {
    /// The root new files land under.
    pub(super) fn landing_root(&self) -> &Root {
        match self {
            Self::Folder { root, .. } => root,
            Self::Manual { inbox_root, .. } => inbox_root,
        }
    }
}

/// Where one key is locally.
#[derive(Debug, Clone)]
pub(super) struct Located {
    pub root: Root,
    pub rel_path: RelPath,
    /// In a manual collection, a key that is (or becomes) a file of its
    /// inbox: its ledger row is pinned to that file, which joins the
    /// collection when it lands.
    pub inbox: bool,
}

/// One key decided, to be carried out once the listing is complete.
#[derive(Debug)]
pub(super) struct Decided {
    pub meta: ObjectMeta,
    /// The root `rel_path` is under.
    pub root: Root,
    pub rel_path: RelPath,
    /// See [`Located::inbox`].
    pub inbox: bool,
    /// The path a new ledger row for the key names, when it is not
    /// `rel_path`: a sidecar new on the remote is recorded as the push side
    /// records a sidecar it uploaded, under its photo's path (the path group
    /// the planner reads it in), else the photo's next plan would see the
    /// key as nobody's and delete it.
    pub group: Option<RelPath>,
    pub action: Action,
    /// The local file as the catalog knew it when deciding.
    pub local: Option<LocalSide>,
    /// Set when the base's remote side is unknown: the remote's bytes are
    /// fetched and compared with the base first, then the key decided
    /// again under this policy knowing them.
    pub verify_base: Option<(KeyState, Policy)>,
}

/// Polls one connection: see the module and [`super`].
pub(super) async fn poll(
    inner: &Inner,
    connection: &Connection,
    remote_id: RemoteId,
    cancel: &CancellationToken,
) -> Result<PollReport, PollError> {
    if paused(inner, connection.collection_id).await? {
        return Err(PollError::Paused);
    }
    let album = open_album(inner, connection, remote_id, CaseProbe::Fresh).await?;
    let policy = policy_of(connection);
    let mut report = PollReport::default();
    let mut decided = Vec::new();
    // A ledger key placed after this may be missing from the listing
    // without being gone; departures only consider keys placed before.
    let listing_began_s = syncroll_core::store::now_ms() / 1000;
    let mut seen = SeenKeys::default();
    // Kept only where names differing in case are one file.
    let mut folds = album.case_insensitive.then(CaseFolds::default);

    // Folders whose tag is the one the last clean poll saw are not walked
    // (on remotes that propagate tags; the others walk everything).
    let known = inner.known_tags(connection.collection_id);
    let mut tags_now = BTreeMap::new();
    let mut listing = album
        .remote
        .list_changed(&album.folder_prefix, known.clone());
    while let Some(event) = listing.next().await {
        if cancel.is_cancelled() {
            return Err(PollError::Cancelled);
        }
        let meta = match event {
            Ok(ListEvent::Object(meta)) => meta,
            Ok(ListEvent::Unchanged { path }) => {
                carry_tags(&known, &path, &mut tags_now);
                seen.unchanged_folder(path);
                continue;
            }
            Ok(ListEvent::Folder { path, etag }) => {
                if let Some(etag) = etag {
                    tags_now.insert(path, etag);
                }
                continue;
            }
            Err(source) => {
                return Err(PollError::Listing {
                    folder: album.folder_prefix.clone(),
                    source,
                });
            }
        };
        report.listed += 1;
        seen.add(&meta.key);
        if let Some(folds) = folds.as_mut() {
            folds.add(&meta.key);
        }
        if let Some(key) = decide_key(inner, &album, &policy, meta, &mut report).await? {
            if decided.len() < MAX_ACTIONS_PER_POLL {
                decided.push(key);
            } else {
                report.later += 1;
            }
        }
    }
    drop(listing);
    seen.seal();
    if let Some(folds) = &folds {
        decided.retain(|key| creates_no_twin(folds, key, &album.folder_prefix, &mut report));
    }

    // The listing was complete: only now is anything changed. Each key is
    // a download job, run by the sync workers (progress in `watch`, pause,
    // cancel, retries); the poll waits for them so its outcome tells what
    // came home.
    super::waiting::queue_and_wait(inner, &album, decided, &mut report, cancel).await?;
    if report.agreed + report.verified > 0 {
        // A recorded agreement may bring a departed photo back into its
        // collection (`Store::record_download`), which no scan announces.
        inner.sync.request_plan();
    }
    super::departures::carry_out(
        inner,
        &album,
        &policy,
        &seen,
        listing_began_s,
        &mut report,
        cancel,
    )
    .await?;
    // Only a poll that left nothing undone may say a folder needs no walk:
    // a key that failed or waits for a later poll must be listed again,
    // whatever its folder's tag.
    if report.failed == 0 && report.later == 0 {
        inner.keep_tags(connection.collection_id, tags_now);
    } else {
        inner.keep_tags(connection.collection_id, BTreeMap::new());
    }
    Ok(report)
}

/// A folder not walked because its tag is the one the last clean poll
/// saw: its tag, and those of its subfolders, are still the ones to
/// compare with next time. In path order the subfolders are the one range
/// of names beginning `path/`, so only they are read.
fn carry_tags(
    known: &BTreeMap<String, String>,
    path: &str,
    tags_now: &mut BTreeMap<String, String>,
) {
    if path.is_empty() {
        tags_now.extend(known.iter().map(|(f, t)| (f.clone(), t.clone())));
        return;
    }
    if let Some(tag) = known.get(path) {
        tags_now.insert(path.to_owned(), tag.clone());
    }
    let below = format!("{path}/");
    let subfolders = known
        .range::<str, _>((Bound::Included(below.as_str()), Bound::Unbounded))
        .take_while(|(folder, _)| folder.starts_with(&below));
    for (folder, tag) in subfolders {
        tags_now.insert(folder.clone(), tag.clone());
    }
}

/// Whether `decided` may go ahead on a case-insensitive file system: a key
/// that would create a local file must not differ only in case from
/// another key of the listing (both would be one file). Refused otherwise.
fn creates_no_twin(
    folds: &CaseFolds,
    decided: &Decided,
    folder_prefix: &str,
    report: &mut PollReport,
) -> bool {
    let Some(twin) = folds.twin_of(&decided.meta.key) else {
        return true;
    };
    if decided.local.is_some() {
        // Its own file is there under this very name: nothing new is made.
        return true;
    }
    let rest = |key: &str| key.strip_prefix(folder_prefix).unwrap_or(key).to_owned();
    let refused = HostileName::CaseCollision {
        name: rest(&decided.meta.key),
        existing: rest(twin),
    };
    report.refuse(refused.to_string());
    false
}

/// The keys a complete listing held, as 64-bit fingerprints (8 bytes a
/// key, not the keys themselves), and the folders it did not walk because
/// nothing below them changed. A fingerprint shared by a listed key and a
/// vanished one makes the vanished one look present: a departure missed
/// (for about one album in 10^13 at a million keys), never a wrong one.
#[derive(Debug, Default)]
pub(super) struct SeenKeys {
    fingerprints: Vec<u64>,
    /// Looked up by each ancestor of a key: a key costs its depth, however
    /// many folders were not walked.
    unchanged_folders: HashSet<String>,
}

impl SeenKeys {
    fn add(&mut self, key: &str) {
        self.fingerprints.push(fingerprint(key));
    }

    fn unchanged_folder(&mut self, path: String) {
        self.unchanged_folders.insert(path);
    }

    /// Whether the listing held nothing at all (no key, no folder left
    /// unwalked as unchanged).
    pub(super) fn is_empty(&self) -> bool {
        self.fingerprints.is_empty() && self.unchanged_folders.is_empty()
    }

    fn seal(&mut self) {
        self.fingerprints.sort_unstable();
        self.fingerprints.dedup();
    }

    /// Whether the listing held `key`, or did not walk the folder it is in.
    pub(super) fn holds(&self, key: &str) -> bool {
        self.fingerprints.binary_search(&fingerprint(key)).is_ok()
            || (!self.unchanged_folders.is_empty()
                && (self.unchanged_folders.contains("")
                    || key
                        .match_indices('/')
                        .any(|(at, _)| self.unchanged_folders.contains(&key[..at]))))
    }
}

fn fingerprint(key: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    // SipHash with fixed keys: the same key always gives the same value
    // within the poll, which is all that is asked of it.
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut hasher);
    hasher.finish()
}

/// The policy a connection's keys are decided under.
pub(super) fn policy_of(connection: &Connection) -> Policy {
    Policy {
        direction: connection.direction,
        returns: connection.returns,
        landing: Landing::MatchingPath,
    }
}

/// Whether the daemon, or the connection's collection, is paused.
pub(super) async fn paused(
    inner: &Inner,
    collection: syncroll_core::CollectionId,
) -> Result<bool, PollError> {
    if inner.store.global_pause().await?.is_some() {
        return Ok(true);
    }
    Ok(inner
        .store
        .paused_collections()
        .await?
        .iter()
        .any(|(id, _)| *id == collection))
}

/// Whether [`open_album`] probes the landing root's case folding anew.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CaseProbe {
    /// A poll: probes, and keeps the answer for the jobs it queues.
    Fresh,
    /// A download job: the last poll's answer (a probe if there was none).
    LastPolls,
}

pub(super) async fn open_album(
    inner: &Inner,
    connection: &Connection,
    remote_id: RemoteId,
    probe: CaseProbe,
) -> Result<Album, PollError> {
    let collection = inner.store.collection(&connection.collection_name).await?;
    if !collection.sync_enabled {
        return Err(PollError::NotSynced(collection.name));
    }
    let roots = inner.store.roots_brief().await?;
    let landing = match &collection.kind {
        CollectionKind::Folder { root_id, rel_path } => AlbumLanding::Folder {
            root: roots
                .iter()
                .find(|r| r.id == *root_id)
                .cloned()
                .ok_or_else(|| syncroll_core::Error::CollectionNotFound(collection.name.clone()))?,
            folder: rel_path.clone(),
        },
        CollectionKind::Manual => {
            // The innermost root holding the inbox: a nested root is where
            // the scanner indexes it.
            let inbox_root = roots
                .iter()
                .filter(|r| connection.inbox.starts_with(&r.path))
                .max_by_key(|r| r.path.as_os_str().len())
                .cloned()
                .ok_or_else(|| PollError::InboxOutsideRoots {
                    collection: collection.name.clone(),
                    inbox: connection.inbox.clone(),
                })?;
            let inbox = RelPath::from_child(&inbox_root.path, &connection.inbox)
                .unwrap_or_else(|| RelPath::from_bytes(Vec::new()));
            AlbumLanding::Manual {
                inbox_root,
                inbox,
                roots,
            }
        }
    };
    let landing_root = landing.landing_root();
    if let RootState::Missing { reason } = &landing_root.state {
        // An unmounted root reads as empty: what lands there would land on
        // the mount point, and every photo would look deleted.
        return Err(PollError::RootMissing {
            path: landing_root.path.clone(),
            reason: reason.clone(),
        });
    }
    let case_insensitive = case_folding(inner, &landing_root.path, probe);
    let record = inner.store.remote(remote_id).await?;
    let remote_prefix = serde_json::from_str::<serde_json::Value>(&record.settings_json)
        .ok()
        .and_then(|v| v.get("prefix").and_then(|p| p.as_str()).map(str::to_owned))
        .unwrap_or_default();
    let remote = inner.remotes.get(remote_id).await?;
    Ok(Album {
        remote_id,
        remote_name: record.name,
        remote,
        folder_prefix: collection_prefix(&remote_prefix, &collection.name),
        remote_prefix,
        collection,
        landing,
        case_insensitive,
    })
}

/// Whether `root` folds case, probed or as last probed.
fn case_folding(inner: &Inner, root: &std::path::Path, probe: CaseProbe) -> bool {
    let known = || {
        inner
            .case_folding
            .lock()
            .expect("never poisoned")
            .get(root)
            .copied()
    };
    if probe == CaseProbe::LastPolls
        && let Some(folds) = known()
    {
        return folds;
    }
    let folds = case_insensitive(root);
    let mut cache = inner.case_folding.lock().expect("never poisoned");
    cache.insert(root.to_owned(), folds);
    folds
}

/// Whether the file system of `root` takes names that differ only in case
/// for one file (vfat, exFAT, APFS and NTFS by default, ext4 folders with
/// `chattr +F`): a probe file in the root, looked up with its name's case
/// flipped. A probe that cannot be made counts as case-sensitive: nothing
/// is then written anyway (the downloads fail on the same error).
fn case_insensitive(root: &std::path::Path) -> bool {
    static PROBES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = PROBES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    // A name the scanner ignores (`.syncroll*`), unique to this probe.
    let name = format!(".syncroll-case-probe-{}-{n}", std::process::id());
    let probe = root.join(&name);
    let flipped = root.join(name.to_uppercase());
    if let Err(error) = std::fs::File::create_new(&probe) {
        warn!(%error, root = %root.display(), "cannot probe whether the root is case-insensitive");
        return false;
    }
    let insensitive = flipped.symlink_metadata().is_ok();
    let _ = std::fs::remove_file(&probe);
    insensitive
}

/// Whether the file a key names (`rest`: the key below the album) is a
/// sidecar: indexed with a photo, not a photo itself.
pub(super) fn is_sidecar_name(inner: &Inner, rest: &str) -> bool {
    let file_name = rest.rsplit('/').next().unwrap_or(rest).as_bytes();
    inner.photos.is_indexed(file_name) && !inner.photos.is_photo(file_name)
}

/// Decides one listed key; `Some` when there is something to carry out.
pub(super) async fn decide_key(
    inner: &Inner,
    album: &Album,
    policy: &Policy,
    meta: ObjectMeta,
    report: &mut PollReport,
) -> Result<Option<Decided>, PollError> {
    let Some(rest) = meta.key.strip_prefix(&album.folder_prefix) else {
        return Ok(None);
    };
    let rest = rest.to_owned();
    let sidecar = is_sidecar_name(inner, &rest);
    let located = match locate(inner, album, &meta.key, &rest, sidecar).await? {
        Ok(located) => located,
        Err(reason) => {
            report.refuse(reason);
            return Ok(None);
        }
    };
    let base = inner.store.base(album.remote_id, &meta.key).await?;
    let photo = inner
        .store
        .photo_at(located.root.id, &located.rel_path)
        .await?;
    let sidecar_policy;
    let mut group = None;
    let policy = if sidecar {
        if base.is_none() {
            // New on the remote (darktable run on the NAS copy writes
            // `IMG_1.NEF.xmp` beside it): it comes home only beside a photo
            // of the collection that is here, the one it belongs to.
            let Some(owner) = new_sidecar_group(inner, album, &located).await? else {
                return Ok(None);
            };
            group = Some(owner);
        } else if photo.is_none() {
            // A sidecar pushed from here whose local file is gone is not
            // brought home: that local deletion is the push side's.
            return Ok(None);
        }
        // An edit made in another raw editor often comes back as only a
        // changed sidecar: that is an edit of the photo, and the sidecar
        // is replaced in place, its previous bytes kept as a version, in
        // copy mode too: an `(edit N)` copy of a sidecar would belong to
        // no photo.
        sidecar_policy = Policy {
            returns: ReturnMode::Version,
            ..*policy
        };
        &sidecar_policy
    } else {
        policy
    };
    if photo.is_none() {
        if album.case_insensitive
            && let Some(twin) = case_twin(&located.root.path, &located.rel_path)
        {
            // The file system would open the twin under this name: a
            // download would write over its bytes, or land nowhere.
            let refused = HostileName::CaseCollision {
                name: rest,
                existing: twin,
            };
            report.refuse(refused.to_string());
            return Ok(None);
        }
        if local_path(&located.root, &located.rel_path)
            .symlink_metadata()
            .is_ok()
        {
            // A file the scanner has not indexed yet: its bytes are unseen,
            // so nothing is decided about it (the watcher or the next scan
            // will index it).
            report.later += 1;
            return Ok(None);
        }
    }
    let Located {
        root,
        rel_path,
        inbox,
    } = located;
    let remote = remote_side(&meta);
    let remote_is_ours = base
        .as_ref()
        .and_then(|(_, own)| own.as_deref())
        .zip(meta.etag.as_deref())
        .is_some_and(|(own, now)| bare_etag(own) == bare_etag(now));
    let key = KeyState {
        base: base.map(|(base, _)| base),
        local: photo.as_ref().map(local_side),
        remote: Some(remote),
        remote_is_ours,
    };
    if let Some(base) = &key.base
        && base.remote.is_none()
        && !remote_is_ours
        && meta.size == base.local.size
    {
        // A ledger row whose remote side was never recorded (pushed before
        // connections kept bases, or to a remote whose listing does not
        // show syncroll's own ETag): the listing cannot tell the object
        // syncroll left there from a same-size edit, so its bytes are
        // fetched and compared rather than decided on a guess.
        return Ok(Some(Decided {
            meta,
            root,
            rel_path,
            inbox,
            group,
            action: Action::FetchToCompare,
            local: key.local,
            verify_base: Some((key, *policy)),
        }));
    }
    let action = syncroll_core::connection::decide::decide(&key, policy);
    tracing::debug!(key = %meta.key, action = action.name(), state = ?key, "decided");
    match action {
        Action::Nothing | Action::Leave(_) => Ok(None),
        Action::Download { .. }
        | Action::ReplaceKeepingVersion
        | Action::SaveEditCopy
        | Action::SaveConflictCopy
        | Action::FetchToCompare
        | Action::RecordBase => Ok(Some(Decided {
            meta,
            root,
            rel_path,
            inbox,
            group,
            action,
            local: key.local,
            verify_base: None,
        })),
        // Uploads and remote deletes are the push side's; the rest is not
        // carried out by this engine yet.
        _ => {
            report.later += 1;
            Ok(None)
        }
    }
}

/// The path of the photo a sidecar new on the remote, landing at
/// `located`, belongs to, when it is to come home: that photo (by the rules
/// the scanner applies, `Store::sidecar_owner`) is a member of the
/// collection, its file is here and its own key is in the ledger under its
/// path. `None` otherwise, and for a manual collection, whose sidecars new
/// on the remote are not brought home yet: their photo may sit in any root
/// under a key of its own, found only through its ledger row.
async fn new_sidecar_group(
    inner: &Inner,
    album: &Album,
    located: &Located,
) -> Result<Option<RelPath>, PollError> {
    if !matches!(album.landing, AlbumLanding::Folder { .. }) {
        return Ok(None);
    }
    let Some((owner, owner_path)) = inner
        .store
        .sidecar_owner(located.root.id, &located.rel_path)
        .await?
    else {
        return Ok(None);
    };
    let members = inner
        .store
        .members_at(album.collection.id, &owner_path, false)
        .await?;
    if !members.contains(&(located.root.id, owner)) {
        return Ok(None);
    }
    // A photo the catalog still holds but whose file is gone (not yet
    // rescanned) would get a sidecar of nothing.
    if !local_path(&located.root, &owner_path).is_file() {
        return Ok(None);
    }
    // The photo's group is planned with this key in it only while the
    // photo itself is synced (a photo the planner skips takes its
    // sidecars' keys with it): else the row written here would read as
    // nobody's, and the plan would delete the remote sidecar it came from.
    let photo_key = object_key(&album.remote_prefix, &album.collection.name, &owner_path);
    let placed = inner
        .store
        .ledger_place(album.remote_id, &photo_key)
        .await?;
    let synced = matches!(placed, Some((Some(path), None)) if path == owner_path);
    Ok(synced.then_some(owner_path))
}

/// Where the key `P/NAME/rest` is locally, or why it is refused.
pub(super) async fn locate(
    inner: &Inner,
    album: &Album,
    key: &str,
    rest: &str,
    sidecar: bool,
) -> Result<Result<Located, String>, PollError> {
    if let Err(reason) = check_name(inner, album, rest, sidecar) {
        return Ok(Err(reason));
    }
    let rest_path = RelPath::from_bytes(rest.as_bytes().to_vec());
    match &album.landing {
        AlbumLanding::Folder { root, folder } => {
            Ok(under_folder(album, folder, rest).map(|()| Located {
                root: root.clone(),
                rel_path: rest_path,
                inbox: false,
            }))
        }
        AlbumLanding::Manual {
            inbox_root,
            inbox,
            roots,
        } => {
            let root_of = |id| roots.iter().find(|r| r.id == id).cloned();
            if let Some((Some(group), pinned)) =
                inner.store.ledger_place(album.remote_id, key).await?
            {
                if let Some(root) = pinned.and_then(root_of) {
                    // A file brought home into the inbox: its sidecars
                    // sit beside it, under the names their keys end in.
                    let rel_path = if sidecar {
                        sibling(&group, rest)
                    } else {
                        group
                    };
                    return Ok(Ok(Located {
                        root,
                        rel_path,
                        inbox: true,
                    }));
                }
                if pinned.is_none()
                    && let Some(root) = member_root(inner, album, key, &group, false).await?
                {
                    // A sidecar's row names its photo's path; the sidecar
                    // sits beside it under its own name (untagged).
                    let rel_path = if sidecar {
                        let plain = untagged(rest).map_or_else(|| rest.to_owned(), |(p, _)| p);
                        sibling(&group, &plain)
                    } else {
                        group
                    };
                    return Ok(Ok(Located {
                        root: root_of(root).unwrap_or_else(|| inbox_root.clone()),
                        rel_path,
                        inbox: false,
                    }));
                }
            } else if let Some(root) = member_root(inner, album, key, &rest_path, true).await? {
                // A key the push side computes for a member (pushed by a
                // syncroll that recorded no ledger row, or not yet pushed).
                return Ok(Ok(Located {
                    root: root_of(root).unwrap_or_else(|| inbox_root.clone()),
                    rel_path: rest_path,
                    inbox: false,
                }));
            }
            Ok(Ok(Located {
                root: inbox_root.clone(),
                rel_path: in_inbox(inbox, rest),
                inbox: true,
            }))
        }
    }
}

/// The root of the member of a manual collection at `group` that the push
/// side keys `key`: the one of the root its tag names, else the lowest.
/// `unpinned`: only a member keyed by its path (a key the ledger does not
/// hold is no member's whose key is pinned elsewhere).
async fn member_root(
    inner: &Inner,
    album: &Album,
    key: &str,
    group: &RelPath,
    unpinned: bool,
) -> Result<Option<RootId>, PollError> {
    let members = inner
        .store
        .members_at(album.collection.id, group, unpinned)
        .await?;
    let tagged = untagged(key).map(|(_, root)| root);
    Ok(members
        .iter()
        .map(|(root, _)| *root)
        .find(|root| Some(*root) == tagged)
        .or_else(|| members.first().map(|(root, _)| *root)))
}

/// `rest` under the inbox `inbox` (relative to its root).
fn in_inbox(inbox: &RelPath, rest: &str) -> RelPath {
    let mut bytes = inbox.as_bytes().to_vec();
    if !bytes.is_empty() {
        bytes.push(b'/');
    }
    bytes.extend_from_slice(rest.as_bytes());
    RelPath::from_bytes(bytes)
}

/// The file named as the last component of `rest`, in the folder of `of`.
fn sibling(of: &RelPath, rest: &str) -> RelPath {
    let name = rest.rsplit('/').next().unwrap_or(rest);
    let mut bytes = match of.as_bytes().iter().rposition(|b| *b == b'/') {
        Some(slash) => of.as_bytes()[..=slash].to_vec(),
        None => Vec::new(),
    };
    bytes.extend_from_slice(name.as_bytes());
    RelPath::from_bytes(bytes)
}

/// Whether a folder collection follows the path `rest`, or why not.
fn under_folder(album: &Album, folder: &RelPath, rest: &str) -> Result<(), String> {
    let folder_bytes = folder.as_bytes();
    let under = folder_bytes.is_empty()
        || rest
            .as_bytes()
            .strip_prefix(folder_bytes)
            .is_some_and(|tail| tail.first() == Some(&b'/'));
    if under {
        return Ok(());
    }
    Err(format!(
        "remote name {} is refused: it lies outside the folder the collection follows ({}), so \
         it would not be one of its photos",
        syncroll_core::quoted::quoted(rest),
        album
            .collection
            .folder
            .as_deref()
            .unwrap_or(&album.landing.landing_root().path)
            .display()
    ))
}

/// Why the name `rest` (of the key `P/NAME/rest`) is never written
/// locally, if it is not: hostile, not a photo the catalog takes, hidden,
/// or not the key its path would have.
fn check_name(inner: &Inner, album: &Album, rest: &str, sidecar: bool) -> Result<(), String> {
    // Names that differ only in case from another are checked against the
    // listing once it is complete (`CaseFolds`), and against local files
    // when a key would create one (`case_twin`).
    let rules = NameRules {
        case_insensitive: false,
    };
    check_remote_name(rest, rules, std::iter::empty()).map_err(|e| e.to_string())?;
    let quoted = syncroll_core::quoted::quoted(rest);
    let file_name = rest.rsplit('/').next().unwrap_or(rest);
    if is_download_temporary(file_name) || !(sidecar || inner.photos.is_photo(file_name.as_bytes()))
    {
        return Err(format!(
            "remote name {quoted} is refused: it is not a photo the catalog takes (a hidden or \
             temporary name, or an extension not in catalog.photo_extensions)"
        ));
    }
    if rest
        .split('/')
        .any(|part| syncroll_core::media::is_ignored_name(part.as_bytes()))
    {
        return Err(format!(
            "remote name {quoted} is refused: it lies in a hidden folder, which the catalog \
             does not index"
        ));
    }
    let rel_path = RelPath::from_bytes(rest.as_bytes().to_vec());
    if object_key(&album.remote_prefix, &album.collection.name, &rel_path)
        != format!("{}{rest}", album.folder_prefix)
    {
        return Err(format!(
            "remote name {quoted} is refused: its local path would be keyed elsewhere"
        ));
    }
    Ok(())
}

/// On a case-insensitive file system, the path (relative to `root`) of an
/// existing file or folder that `rel_path` would open under another case,
/// if one exists: each component is looked up in its folder's listing, as
/// a lookup by name would match the twin.
fn case_twin(root: &std::path::Path, rel_path: &RelPath) -> Option<String> {
    use std::os::unix::ffi::OsStrExt;
    let mut folder = root.to_path_buf();
    let mut found = Vec::new();
    for part in rel_path.as_bytes().split(|b| *b == b'/') {
        let wanted = String::from_utf8_lossy(part);
        let entries = std::fs::read_dir(&folder).ok()?;
        let twin = entries.filter_map(Result::ok).find_map(|entry| {
            let name = entry.file_name();
            let name = String::from_utf8_lossy(name.as_bytes()).into_owned();
            syncroll_core::connection::same_but_case(&name, &wanted).then_some(name)
        });
        match twin {
            Some(name) if name != wanted => {
                found.push(name);
                return Some(found.join("/"));
            }
            Some(name) => {
                folder.push(&name);
                found.push(name);
            }
            None => return None,
        }
    }
    None
}

pub(super) fn local_path(root: &Root, rel_path: &RelPath) -> PathBuf {
    rel_path.under(&root.path)
}

fn local_side(photo: &Photo) -> LocalSide {
    LocalSide {
        hash: photo.hash,
        size: photo.stat.size,
        mtime_ns: photo.stat.mtime_ns,
    }
}

pub(crate) fn remote_side(meta: &ObjectMeta) -> RemoteSide {
    RemoteSide {
        size: meta.size,
        etag: meta.etag.clone(),
        modified_ms: meta.modified.map_or(0, unix_ms),
        hash: None,
    }
}

fn unix_ms(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unchanged_folder_carries_its_own_tags_and_no_neighbours() {
        let known: BTreeMap<String, String> = ["a", "a b", "a b/x", "a/x", "a/x/y", "a0", "b"]
            .into_iter()
            .map(|f| (f.to_owned(), format!("t-{f}")))
            .collect();
        let mut now = BTreeMap::new();
        carry_tags(&known, "a", &mut now);
        let carried: Vec<&str> = now.keys().map(String::as_str).collect();
        assert_eq!(carried, ["a", "a/x", "a/x/y"]);
        let mut all = BTreeMap::new();
        carry_tags(&known, "", &mut all);
        assert_eq!(all, known);
    }

    #[test]
    fn keys_below_an_unchanged_folder_count_as_listed() {
        let mut seen = SeenKeys::default();
        seen.add("P/T/new.jpg");
        seen.unchanged_folder("P/T/a".to_owned());
        seen.seal();
        assert!(seen.holds("P/T/new.jpg"));
        assert!(seen.holds("P/T/a/x.jpg"));
        assert!(seen.holds("P/T/a/deep/x.jpg"));
        assert!(!seen.holds("P/T/a b/x.jpg"), "a neighbour, not a subfolder");
        assert!(!seen.holds("P/T/ab.jpg"));
        assert!(!seen.holds("P/T/gone.jpg"));
        seen.unchanged_folder(String::new());
        assert!(seen.holds("P/T/gone.jpg"), "the whole album unchanged");
    }

    #[test]
    fn the_outcome_names_counts_and_the_first_refusals() {
        let mut report = PollReport {
            listed: 7,
            downloaded: 2,
            ..PollReport::default()
        };
        assert_eq!(report.to_string(), "7 listed, 2 downloaded");
        for n in 0..5 {
            report.refuse(format!("name {n} refused"));
        }
        report.later = 1;
        assert_eq!(
            report.to_string(),
            "7 listed, 2 downloaded, 1 left for a later poll, 5 refused: name 0 refused; \
             name 1 refused; name 2 refused; and 2 more"
        );
    }

    fn rel(text: &str) -> RelPath {
        RelPath::from_bytes(text.as_bytes().to_vec())
    }

    #[test]
    fn a_new_key_lands_at_its_path_below_the_inbox() {
        assert_eq!(
            in_inbox(&rel("Phone"), "day 3/a.jpg"),
            rel("Phone/day 3/a.jpg")
        );
        assert_eq!(
            in_inbox(&rel(""), "a.jpg"),
            rel("a.jpg"),
            "an inbox that is its root"
        );
    }

    #[test]
    fn a_sidecar_sits_beside_its_photo_under_its_own_name() {
        assert_eq!(
            sibling(&rel("Phone/raws/a.NEF"), "raws/a.NEF.xmp"),
            rel("Phone/raws/a.NEF.xmp")
        );
        assert_eq!(sibling(&rel("a.NEF"), "a.xmp"), rel("a.xmp"));
    }

    #[test]
    fn a_case_sensitive_root_probes_so_and_keeps_no_probe_file() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!case_insensitive(dir.path()));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
