//! What the control API can ask of the daemon, without any gRPC in sight:
//! the service module converts requests, calls these, and converts back.

mod connections;
mod versions;

pub use connections::Connected;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use syncroll_core::bandwidth::Limit;
use syncroll_core::events::PauseChange;
use syncroll_core::job::JobId;
use syncroll_core::media::PhotoFilter;
use syncroll_core::root_identity::FolderIdentity;
use syncroll_core::store::{
    HeldKey, Hold, NewCollectionSource, PhotoFilterQuery, PhotoPageCursor, PhotoSyncState,
    PlanOutcome, RemoteRecord, SkippedPhoto,
};
use syncroll_core::{Collection, CollectionId, Error, Photo, RelPath, Root, Store};
use tokio::sync::mpsc;

use crate::bandwidth::{Bandwidth, Now as BandwidthNow};
use crate::config::Config;
use crate::credentials::RemoteSecrets;
use crate::events::EventBus;
use crate::remotes::{FsSettings, NewRemote, Remotes, S3Json, WebDavJson};
use crate::scanner::{
    RootPreview, ScanReason, ScanSummary, ScanTarget, ScannerHandle, probe_folder,
};
use crate::status::{LiveStatus, ScanStatus, WatcherStatus};
use crate::sync::SyncEngine;
use crate::versions::{VersionError, VersionStore};
use crate::watcher::MonitorHandle;

/// The longest pause: 100 years, like every interval of the config. A
/// longer one means a typo (`--for 100000y`) or a client's overflow, and
/// "until resumed" says it better anyway.
pub const MAX_PAUSE: Duration = Duration::from_secs(crate::config::MAX_SECS);

/// Photos fetched from SQLite per page of a streamed listing.
const PHOTO_PAGE: u32 = 500;

/// An error from the core, or from a scan another request also waited on.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Core(#[from] Error),
    /// Settings a remote backend refused.
    #[error(transparent)]
    Remote(#[from] syncroll_remote::RemoteError),
    #[error(transparent)]
    Credentials(#[from] crate::credentials::CredentialsError),
    #[error(transparent)]
    Scan(Arc<Error>),
    #[error(transparent)]
    Versions(#[from] VersionError),
    #[error("syncrolld is shutting down; try again when it is back")]
    ShuttingDown,
}

pub type AppResult<T> = Result<T, AppError>;

/// A root with what only the running daemon knows of it.
#[derive(Debug, Clone)]
pub struct RootStatus {
    pub root: Root,
    /// The monitor has a live watch on its folder now.
    pub watched: bool,
}

/// What `roots accept` found, and whether it took the folder.
#[derive(Debug)]
pub struct AcceptOutcome {
    pub root: RootStatus,
    /// What a whole scan of the folder as it is now changes.
    pub preview: RootPreview,
    pub accepted: bool,
}

/// A point-in-time picture of the daemon for `status`.
#[derive(Debug)]
pub struct StatusSnapshot {
    pub uptime_seconds: u64,
    pub roots: Vec<RootStatus>,
    pub photo_count: u64,
    pub collection_count: u64,
    pub scan: ScanStatus,
    pub watcher: WatcherStatus,
    pub versions: syncroll_core::store::VersionTotals,
    pub connections: Vec<syncroll_core::connection::Connection>,
    pub open_conflicts: u64,
}

/// The daemon's operations.
#[derive(Debug)]
pub struct App {
    store: Store,
    scanner: ScannerHandle,
    monitor: MonitorHandle,
    status: LiveStatus,
    config: Arc<Config>,
    filter: PhotoFilter,
    sync: SyncEngine,
    remotes: Remotes,
    versions: VersionStore,
    /// `rescan --remote` requests, for the pull engine.
    poll: crate::connections::PollSignal,
    /// The event feed, and where pause changes are published.
    events: EventBus,
}

impl App {
    #[allow(
        clippy::too_many_arguments,
        reason = "one handle per task the daemon runs; App is where they meet"
    )]
    pub fn new(
        store: Store,
        scanner: ScannerHandle,
        monitor: MonitorHandle,
        status: LiveStatus,
        config: Arc<Config>,
        sync: SyncEngine,
        remotes: Remotes,
        versions: VersionStore,
        events: EventBus,
    ) -> Self {
        let filter = PhotoFilter::new(&config.catalog.photo_extensions);
        let poll = sync.poll_signal().clone();
        Self {
            store,
            scanner,
            monitor,
            status,
            config,
            filter,
            sync,
            remotes,
            versions,
            poll,
            events,
        }
    }

    /// The event bus: the feed (`WatchEvents`) and its publishers.
    pub fn events(&self) -> &EventBus {
        &self.events
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub async fn status(&self) -> AppResult<StatusSnapshot> {
        let versions = self.versions.totals().await?;
        let connections = self.store.connections().await?;
        let open_conflicts = self.store.open_conflict_count().await?;
        Ok(StatusSnapshot {
            uptime_seconds: self.status.uptime_seconds(),
            roots: self.roots().await?,
            photo_count: self.store.photo_count().await?,
            collection_count: self.store.collection_count().await?,
            scan: self.status.scan().clone(),
            watcher: self.status.watcher().clone(),
            versions,
            connections,
            open_conflicts,
        })
    }

    /// Adds a root, records which folder it is (device and inode), starts
    /// watching it, and queues its first scan.
    pub async fn add_root(&self, path: &str) -> AppResult<RootStatus> {
        let path = existing_path(path)?;
        if !path.is_dir() {
            return Err(Error::NotADirectory(path).into());
        }
        self.check_root_apart(&path).await?;
        let identity = folder_identity(&path).await?;
        let root = self.store.add_root(&path, identity).await?;
        // Watch before scanning, so nothing created during the scan is missed.
        self.monitor.refresh().await;
        self.scanner.request(
            ScanTarget::Scopes {
                root: root.id,
                scopes: vec![RelPath::root()],
            },
            ScanReason::RootAdded,
        );
        Ok(self.root_status(root))
    }

    pub async fn roots(&self) -> AppResult<Vec<RootStatus>> {
        let roots = self.store.roots().await?;
        Ok(roots.into_iter().map(|r| self.root_status(r)).collect())
    }

    fn root_status(&self, root: Root) -> RootStatus {
        let watched = self.status.is_watched(root.id);
        RootStatus { root, watched }
    }

    /// The root stored under `path` as given, or as its canonical form.
    async fn root_named(&self, path: &str) -> AppResult<Root> {
        let given = absolute_path(path)?;
        Ok(match self.store.root_by_path(&given).await {
            Err(Error::RootNotFound(_)) => {
                self.store.root_by_path(&canonical_or_given(&given)).await?
            }
            found => found?,
        })
    }

    /// `roots accept PATH`: counts what a scan of the root's folder as it is
    /// now would change and, unless `dry_run`, takes that folder's device
    /// and inode as the root's identity (a disk really replaced), then scans
    /// it. `expect` is the identity a dry run showed the user: if the folder
    /// is another one by now, nothing is taken.
    pub async fn accept_root(
        &self,
        path: &str,
        dry_run: bool,
        expect: Option<FolderIdentity>,
    ) -> AppResult<AcceptOutcome> {
        let root = self.root_named(path).await?;
        let preview = self
            .scanner
            .preview(root.clone())
            .await
            .ok_or(AppError::ShuttingDown)?
            .map_err(AppError::Scan)?;
        let cataloged = self.store.root_photo_count(root.id).await?;
        if preview.removed == cataloged && cataloged > 0 && preview.added + preview.renamed == 0 {
            return Err(Error::AcceptEmptyRoot {
                path: root.path,
                photos: cataloged,
            }
            .into());
        }
        if dry_run {
            return Ok(AcceptOutcome {
                root: self.root_status(root),
                preview,
                accepted: false,
            });
        }
        if let Some(expected) = expect
            && expected != preview.found
        {
            return Err(Error::AcceptChanged {
                path: root.path,
                found: preview.found,
            }
            .into());
        }
        tracing::info!(root = %root.path.display(), identity = %preview.found,
            was = ?root.identity, "root's folder accepted as its identity");
        self.store
            .accept_root_identity(root.id, preview.found)
            .await?;
        // Watch the accepted folder (the old watch is dropped), then scan it.
        self.monitor.refresh().await;
        self.scanner
            .scan(
                ScanTarget::Scopes {
                    root: root.id,
                    scopes: vec![RelPath::root()],
                },
                ScanReason::RootAccepted,
            )
            .await
            .map_err(AppError::Scan)?;
        let root = self.store.root_by_path(&root.path).await?;
        Ok(AcceptOutcome {
            root: self.root_status(root),
            preview,
            accepted: true,
        })
    }

    /// Refuses a root that holds the data dir or lies inside it, or overlaps an `fs` remote's
    /// folder: the remote would copy into the root, and the root's scan
    /// would index the remote, without end.
    async fn check_root_apart(&self, path: &Path) -> AppResult<()> {
        let data_dir = canonical_or_given(&self.config.daemon.data_dir);
        if data_dir.starts_with(path) {
            return Err(Error::RootHoldsDataDir {
                path: path.to_path_buf(),
                data_dir,
            }
            .into());
        }
        // Inside it, a root would index the version store's kept bytes (or
        // the local remote's copies) as photos of their own.
        if path.starts_with(&data_dir) {
            return Err(Error::RootInsideDataDir {
                path: path.to_path_buf(),
                data_dir,
            }
            .into());
        }
        for (name, folder) in self.fs_remote_folders().await? {
            if nested(path, &folder) {
                return Err(Error::RemoteOverlapsRoot {
                    remote: name,
                    remote_path: folder,
                    root: path.to_path_buf(),
                }
                .into());
            }
        }
        Ok(())
    }

    /// Refuses an `fs` remote whose folder is inside a root or holds one.
    async fn check_remote_apart(&self, name: &str, folder: &Path) -> AppResult<()> {
        for root in self.store.roots_brief().await? {
            let root_path = canonical_or_given(&root.path);
            if nested(folder, &root_path) {
                return Err(Error::RemoteOverlapsRoot {
                    remote: name.to_owned(),
                    remote_path: folder.to_path_buf(),
                    root: root.path,
                }
                .into());
            }
        }
        Ok(())
    }

    /// Every `fs` remote's name and folder (canonical where it exists).
    async fn fs_remote_folders(&self) -> AppResult<Vec<(String, PathBuf)>> {
        Ok(self
            .store
            .remotes()
            .await?
            .into_iter()
            .filter(|r| r.kind == "fs")
            .filter_map(|r| {
                let settings: FsSettings = serde_json::from_str(&r.settings_json).ok()?;
                Some((r.name, canonical_or_given(&settings.path)))
            })
            .collect())
    }

    /// Forgets a root and its photos; the files are not touched.
    pub async fn remove_root(&self, path: &str, confirmed: bool) -> AppResult<u64> {
        let root = self.root_named(path).await?;
        // The copies its photos have in synced collections go with it: past
        // the brake's thresholds the user confirms that first, and then the
        // brake lets exactly those run.
        let copies = self.store.root_copies(root.id).await?;
        let policy = self.store.brake_policy();
        let tripped = copies
            .iter()
            .find(|c| policy.trips(c.count, c.collection_copies).is_some());
        if let (Some(c), false) = (tripped, confirmed) {
            return Err(Error::NeedsConfirmation {
                action: "roots remove",
                alternative: "",
                count: c.count,
                bytes: c.bytes,
                collection: c.collection_name.clone(),
                remote: c.remote_name.clone(),
            }
            .into());
        }
        let forgotten = self.store.remove_root(&root, &copies).await?;
        // Its photos left their collections: their copies are due to go.
        self.sync.request_plan();
        self.monitor.refresh().await;
        Ok(forgotten)
    }

    /// Rescans every root, or one path under a root.
    pub async fn rescan(&self, path: &str, wait: bool) -> AppResult<ScanSummary> {
        let target = if path.is_empty() {
            // A full rescan also checks every synced collection against its
            // ledger (the scan's own changes are planned as they land).
            self.sync.request_reconcile().await?;
            ScanTarget::All
        } else {
            let path = canonical_or_given(&absolute_path(path)?);
            let (root, rel) = self.store.locate(&path).await?;
            ScanTarget::Scopes {
                root: root.id,
                scopes: vec![rel],
            }
        };
        if wait {
            self.scanner
                .scan(target, ScanReason::Rescan)
                .await
                .map_err(AppError::Scan)
        } else {
            self.scanner.request(target, ScanReason::Rescan);
            Ok(ScanSummary::default())
        }
    }

    /// Streams photos page by page: memory stays at one page however large
    /// the catalog, and a slow reader slows the reads instead of queueing.
    pub async fn list_photos(
        &self,
        collection: &str,
        limit: u64,
    ) -> AppResult<mpsc::Receiver<AppResult<Photo>>> {
        let filter = PhotoFilterQuery {
            collection: match collection {
                "" => None,
                name => Some(self.store.collection(name).await?.id),
            },
        };
        let limit = if limit == 0 { u64::MAX } else { limit };
        let (tx, rx) = mpsc::channel(PHOTO_PAGE as usize);
        let store = self.store.clone();
        tokio::spawn(async move {
            let mut cursor = PhotoPageCursor::default();
            let mut sent = 0u64;
            while sent < limit {
                let page = match store.photos_page(filter, &mut cursor, PHOTO_PAGE).await {
                    Ok(page) if page.is_empty() => return,
                    Ok(page) => page,
                    Err(e) => {
                        let _ = tx.send(Err(e.into())).await;
                        return;
                    }
                };
                for photo in page.into_iter().take((limit - sent) as usize) {
                    if tx.send(Ok(photo)).await.is_err() {
                        return; // the client went away
                    }
                    sent += 1;
                }
            }
        });
        Ok(rx)
    }

    pub async fn create_collection(
        &self,
        name: &str,
        folder: &str,
        remote: &str,
        sync: bool,
    ) -> AppResult<Collection> {
        let collection = self
            .create_collection_unsynced(name, folder, remote)
            .await?;
        if !sync {
            return Ok(collection);
        }
        Ok(self.set_sync(name, true, false, false).await?.0)
    }

    async fn create_collection_unsynced(
        &self,
        name: &str,
        folder: &str,
        remote: &str,
    ) -> AppResult<Collection> {
        syncroll_core::names::validate_name("collection", name)?;
        let remote = if remote.is_empty() {
            &self.config.remotes.default
        } else {
            remote
        };
        let remote_id = self.store.remote_id(remote).await?;
        if folder.is_empty() {
            return Ok(self
                .store
                .create_collection(name, NewCollectionSource::Manual, remote_id)
                .await?);
        }
        let folder = existing_path(folder)?;
        if !folder.is_dir() {
            return Err(Error::NotADirectory(folder).into());
        }
        let (root, rel_path) = self.store.locate(&folder).await?;
        Ok(self
            .store
            .create_collection(
                name,
                NewCollectionSource::Folder {
                    root: &root,
                    rel_path: &rel_path,
                },
                remote_id,
            )
            .await?)
    }

    pub async fn collections(&self) -> AppResult<Vec<Collection>> {
        Ok(self.store.collections().await?)
    }

    pub async fn collection(&self, name: &str) -> AppResult<Collection> {
        Ok(self.store.collection(name).await?)
    }

    pub async fn rename_collection(&self, name: &str, new_name: &str) -> AppResult<Collection> {
        let collection = self.store.rename_collection(name, new_name).await?;
        // Keys carry the name: a synced collection moves on its remote.
        self.sync.request_plan();
        Ok(collection)
    }

    pub async fn delete_collection(&self, name: &str) -> AppResult<()> {
        Ok(self.store.delete_collection(name).await?)
    }

    /// Adds files or folders to a manual collection. Every path is checked
    /// before anything changes, and each is indexed first, so a photo saved
    /// a moment ago is added rather than missed.
    pub async fn add_to_collection(
        &self,
        name: &str,
        paths: &[String],
    ) -> AppResult<(u64, Collection)> {
        let collection = self.store.collection(name).await?;
        let mut located = Vec::with_capacity(paths.len());
        for path in paths {
            let path = existing_path(path)?;
            let (root, rel) = self.store.locate(&path).await?;
            if path.is_file() && !self.filter.is_photo(file_name_bytes(&path)) {
                return Err(Error::NotAPhoto(path).into());
            }
            located.push((root, rel));
        }
        let mut added = 0;
        for (root, rel) in &located {
            let scope = ScanTarget::Scopes {
                root: root.id,
                scopes: vec![rel.clone()],
            };
            self.scanner
                .scan(scope, ScanReason::Rescan)
                .await
                .map_err(AppError::Scan)?;
            added += self.store.add_to_collection(&collection, root, rel).await?;
        }
        self.sync.request_plan();
        Ok((added, self.store.collection(name).await?))
    }

    /// Removes files or folders from a manual collection (the files stay).
    pub async fn remove_from_collection(
        &self,
        name: &str,
        paths: &[String],
    ) -> AppResult<(u64, Collection)> {
        let collection = self.store.collection(name).await?;
        let mut located = Vec::with_capacity(paths.len());
        for path in paths {
            // A photo deleted from disk may still be removed by its old path.
            let path = canonical_or_given(&absolute_path(path)?);
            located.push(self.store.locate(&path).await?);
        }
        let mut removed = 0;
        for (root, rel) in &located {
            removed += self
                .store
                .remove_from_collection(&collection, root, rel)
                .await?;
        }
        self.sync.request_plan();
        Ok((removed, self.store.collection(name).await?))
    }
}

/// A collection named in a request, `None` for "every collection" (the
/// wire's empty name).
fn named(collection: &str) -> Option<String> {
    (!collection.is_empty()).then(|| collection.to_owned())
}

fn absolute_path(raw: &str) -> Result<PathBuf, Error> {
    syncroll_core::paths::absolute(raw)
}

/// The canonical form of a path that must exist.
fn existing_path(raw: &str) -> Result<PathBuf, Error> {
    let path = absolute_path(raw)?;
    std::fs::canonicalize(&path).map_err(|source| match source.kind() {
        // A file where a folder should be is as absent as no file at all.
        std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory => {
            Error::PathNotFound(path.clone())
        }
        std::io::ErrorKind::InvalidFilename => Error::InvalidPath {
            path: raw.to_owned(),
            reason: "a name in it is longer than the system allows (255 bytes)",
        },
        _ => Error::Io {
            action: "resolve",
            path: path.clone(),
            source,
        },
    })
}

fn canonical_or_given(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Whether one folder is the other or lies inside it (by whole components:
/// `/a/bc` is not inside `/a/b`). Both canonical.
pub fn nested(a: &Path, b: &Path) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

/// The device and inode of a folder that a caller just named.
async fn folder_identity(path: &Path) -> Result<FolderIdentity, Error> {
    use syncroll_core::root_identity::FolderProbe;
    match probe_folder(path.to_path_buf()).await {
        FolderProbe::Present { identity, .. } => Ok(identity),
        FolderProbe::Absent => Err(Error::PathNotFound(path.to_path_buf())),
        FolderProbe::NotAFolder => Err(Error::NotADirectory(path.to_path_buf())),
        FolderProbe::Unreadable(error) => Err(Error::RootUnreadable {
            path: path.to_path_buf(),
            reason: syncroll_core::root_identity::MissingReason::Unreadable(error),
        }),
    }
}

fn file_name_bytes(path: &Path) -> &[u8] {
    use std::os::unix::ffi::OsStrExt;
    path.file_name().map_or(&[], |n| n.as_bytes())
}

/// Whether a user may filter jobs on `state`: a job state's name, or
/// `skipped` (the photos skipped instead of queued). `running` takes in
/// `cancelling` jobs, and `cancelled` the dismissed ones (see
/// `Store::jobs_page`).
fn known_job_state(state: &str) -> bool {
    state == SKIPPED || syncroll_core::job::JobState::NAMES.contains(&state)
}
const SKIPPED: &str = "skipped";

/// One row of `jobs`: a job, or a photo no remote can hold, skipped instead
/// of queued (it has no job; it is listed where a user looks for one).
#[derive(Debug)]
pub enum JobListing {
    Job(syncroll_core::job::Job),
    Skipped(SkippedPhoto),
}

/// Sends keyset pages from `page(after)` (each item with the key to go on
/// after) until one is empty; false when it stopped early (an error was
/// sent, or the client went away).
async fn send_pages<T, F, Fut>(tx: &mpsc::Sender<AppResult<T>>, page: F) -> bool
where
    F: Fn(i64) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<(i64, T)>, Error>>,
{
    let mut after = 0;
    loop {
        let items = match page(after).await {
            Ok(items) if items.is_empty() => return true,
            Ok(items) => items,
            Err(e) => {
                let _ = tx.send(Err(e.into())).await;
                return false;
            }
        };
        for (key, item) in items {
            after = key;
            if tx.send(Ok(item)).await.is_err() {
                return false;
            }
        }
    }
}

impl App {
    pub fn sync(&self) -> &SyncEngine {
        &self.sync
    }

    /// The daemon's bandwidth limit.
    pub fn bandwidth(&self) -> &Bandwidth {
        self.remotes.bandwidth()
    }

    /// `syncroll limit`: `limit` (as [`Limit::parse`] reads it) in force
    /// over `sync.bandwidth` for `duration`, or until changed again.
    pub fn set_limit(&self, limit: &str, duration: Option<Duration>) -> AppResult<BandwidthNow> {
        let limit = Limit::parse(limit).map_err(Error::from)?;
        Ok(self.bandwidth().set_live(limit, duration))
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// `sync on` / `sync off [--keep-remote]`.
    pub async fn set_sync(
        &self,
        name: &str,
        enabled: bool,
        keep_remote: bool,
        confirmed: bool,
    ) -> AppResult<(Collection, PlanOutcome)> {
        let collection = self.store.collection(name).await?;
        if !enabled && !keep_remote && !confirmed {
            // Deleting more copies than the brake lets run unasked is the
            // user's to confirm, as the brake would ask after the fact.
            let (count, bytes) = self.store.collection_copies(collection.id).await?;
            if self.store.brake_policy().trips(count, count).is_some() {
                return Err(Error::NeedsConfirmation {
                    action: "sync off",
                    alternative: ", or keep them with --keep-remote",
                    count,
                    bytes,
                    collection: collection.name.clone(),
                    remote: collection.remote_name.clone(),
                }
                .into());
            }
        }
        let outcome = if enabled {
            self.store
                .set_sync_enabled(collection.id, true, false)
                .await?;
            self.sync.plan_now(collection.id).await?
        } else {
            self.store
                .set_sync_enabled(collection.id, false, !keep_remote)
                .await?;
            let cancelled = self
                .sync
                .cancel_collection(collection.id, syncroll_core::job::SYNC_TURNED_OFF, false)
                .await?;
            // Keeping the copies plans nothing, but still settles the
            // reconciliation the change asked for, so the queue reads idle.
            let mut outcome = self.sync.plan_now(collection.id).await?;
            outcome.cancelled += cancelled;
            outcome
        };
        Ok((self.store.collection(name).await?, outcome))
    }

    /// Pauses everything (`collection` empty) or one collection, until
    /// resumed or for `duration` (the adapter keeps it within
    /// [`MAX_PAUSE`]). Returns the pause's end (0: none set).
    pub async fn pause(
        &self,
        collection: &str,
        duration: Option<Duration>,
    ) -> AppResult<(i64, u64)> {
        let until = duration.map(|d| {
            syncroll_core::unix_now().saturating_add(d.as_secs().min(i64::MAX as u64) as i64)
        });
        let target = self.collection_id(collection).await?;
        let interrupted = self.sync.pause(target, Some(until)).await?;
        let pause = PauseChange::Paused { until_s: until };
        self.events.pause_changed(named(collection), pause).await;
        Ok((until.unwrap_or(0), interrupted))
    }

    pub async fn resume(&self, collection: &str) -> AppResult<()> {
        let target = self.collection_id(collection).await?;
        self.sync.resume(target).await?;
        let resumed = PauseChange::Resumed;
        self.events.pause_changed(named(collection), resumed).await;
        Ok(())
    }

    /// `cancel COLLECTION` or `cancel --job ID`.
    pub async fn cancel(&self, collection: &str, job: Option<JobId>) -> AppResult<u64> {
        if let Some(id) = job {
            self.store.job(id).await?;
            return Ok(self.sync.cancel_job(id).await?);
        }
        let collection = self.store.collection(collection).await?;
        Ok(self
            .sync
            .cancel_collection(collection.id, crate::sync::CANCELLED_BY_REQUEST, true)
            .await?)
    }

    /// Streams jobs, optionally of one state and collection, then the
    /// photos skipped instead of queued (state `skipped`).
    pub async fn list_jobs(
        &self,
        state: &str,
        collection: &str,
    ) -> AppResult<mpsc::Receiver<AppResult<JobListing>>> {
        if !state.is_empty() && !known_job_state(state) {
            return Err(Error::InvalidJobState(state.to_owned()).into());
        }
        let with_jobs = state != SKIPPED;
        let with_skipped = state.is_empty() || state == SKIPPED;
        let state = (!state.is_empty()).then(|| state.to_owned());
        let collection = self.collection_id(collection).await?;
        let (tx, rx) = mpsc::channel(PHOTO_PAGE as usize);
        let store = self.store.clone();
        tokio::spawn(async move {
            if with_jobs {
                let pages = |after| {
                    let store = store.clone();
                    let state = state.clone();
                    async move {
                        let page = store
                            .jobs_page(state.as_deref(), collection, after, PHOTO_PAGE)
                            .await?;
                        Ok(page
                            .into_iter()
                            .map(|j| (j.id.0, JobListing::Job(j)))
                            .collect())
                    }
                };
                if !send_pages(&tx, pages).await {
                    return;
                }
            }
            if with_skipped {
                let pages = |after| {
                    let store = store.clone();
                    async move {
                        let page = store.skipped_photos(collection, after, PHOTO_PAGE).await?;
                        Ok(page
                            .into_iter()
                            .map(|(row, p)| (row, JobListing::Skipped(p)))
                            .collect())
                    }
                };
                send_pages(&tx, pages).await;
            }
        });
        Ok(rx)
    }

    /// Holds: the pending ones, or every one with `all`.
    pub async fn holds(&self, all: bool) -> AppResult<Vec<Hold>> {
        Ok(self.store.holds(!all).await?)
    }

    /// Streams every key of a hold.
    pub async fn hold_keys(&self, id: i64) -> AppResult<mpsc::Receiver<AppResult<HeldKey>>> {
        self.store.hold(id).await?;
        let (tx, rx) = mpsc::channel(PHOTO_PAGE as usize);
        let store = self.store.clone();
        tokio::spawn(async move {
            let pages = |after| {
                let store = store.clone();
                async move {
                    let page = store.hold_keys(id, after, PHOTO_PAGE).await?;
                    Ok(page.into_iter().map(|k| (k.cursor, k)).collect())
                }
            };
            send_pages(&tx, pages).await;
        });
        Ok(rx)
    }

    /// `holds approve ID` (the deletions run) or `holds reject ID` (the
    /// copies stay). Returns the hold as decided and its deletions.
    pub async fn decide_hold(&self, id: i64, approve: bool) -> AppResult<(Hold, u64)> {
        let deletions = self.store.decide_hold(id, approve).await?;
        let verdict = if approve { "approved" } else { "rejected" };
        tracing::info!(hold = id, deletions, "hold {verdict}");
        if approve {
            self.sync.wake();
        }
        let hold = self.store.hold(id).await?;
        if !approve && hold.remote_deleted > 0 {
            // Rejected departures planned their photos again.
            self.sync.request_plan();
        }
        if approve && hold.remote_deleted > 0 {
            // Approved departures are carried out by the poll that finds
            // them again, which is asked for now rather than at its time.
            let remote = self.store.remote_id(&hold.remote_name).await?;
            self.poll.request_poll(remote);
        }
        Ok((hold, deletions))
    }

    /// `retry ID` or `retry --all` (`None`).
    pub async fn retry(&self, target: Option<JobId>) -> AppResult<u64> {
        let n = self.store.retry_jobs(target).await?;
        self.sync.wake();
        Ok(n)
    }

    /// Streams "all synced photos".
    pub async fn list_synced_photos(
        &self,
        limit: u64,
    ) -> AppResult<mpsc::Receiver<AppResult<(Photo, Vec<PhotoSyncState>)>>> {
        let limit = if limit == 0 { u64::MAX } else { limit };
        let (tx, rx) = mpsc::channel(PHOTO_PAGE as usize);
        let store = self.store.clone();
        tokio::spawn(async move {
            let mut after = None;
            let mut sent = 0u64;
            while sent < limit {
                let page = match store.synced_photos_page(after.clone(), PHOTO_PAGE).await {
                    Ok(page) if page.is_empty() => return,
                    Ok(page) => page,
                    Err(e) => {
                        let _ = tx.send(Err(e.into())).await;
                        return;
                    }
                };
                for item in page {
                    after = Some((item.0.root_id.0, item.0.rel_path.as_bytes().to_vec()));
                    if sent >= limit || tx.send(Ok(item)).await.is_err() {
                        return;
                    }
                    sent += 1;
                }
            }
        });
        Ok(rx)
    }

    /// The id of a named collection; `None` for the empty name.
    async fn collection_id(&self, name: &str) -> AppResult<Option<CollectionId>> {
        if name.is_empty() {
            return Ok(None);
        }
        Ok(Some(self.store.collection(name).await?.id))
    }

    /// `remotes add`: checks the settings (an S3 remote by building its
    /// backend), records the remote, and keeps its secret in the 0600
    /// credentials file, never in the catalog.
    pub async fn add_remote(&self, new: NewRemote) -> AppResult<RemoteRecord> {
        syncroll_core::names::validate_name("remote", &new.name)?;
        let limit = new.limit.as_deref().map(Limit::parse).transpose();
        let limit = match limit.map_err(Error::from)? {
            Some(limit) if !limit.is_off() => Some(limit),
            _ => None,
        };
        let settings = match new.kind.as_str() {
            "fs" => {
                let dir = existing_path(&new.path)?;
                if !dir.is_dir() {
                    return Err(Error::NotADirectory(dir).into());
                }
                if let Some(system) = syncroll_core::paths::system_folder(&dir) {
                    return Err(Error::SystemFolder { path: dir, system }.into());
                }
                self.check_remote_apart(&new.name, &dir).await?;
                serde_json::json!({ "path": dir }).to_string()
            }
            "s3" => {
                let region = if new.region.is_empty() {
                    "us-east-1"
                } else {
                    new.region.as_str()
                };
                let json = S3Json {
                    endpoint: new.endpoint.clone(),
                    bucket: new.bucket.clone(),
                    region: region.to_owned(),
                    prefix: new.prefix.trim_matches('/').to_owned(),
                    access_key_id: new.access_key_id.clone(),
                };
                crate::remotes::s3_backend(&json, new.secret.clone(), &self.config.remotes)?;
                check_prefix(&json.prefix)?;
                serde_json::to_string(&json).unwrap_or_default()
            }
            "webdav" => {
                let json = WebDavJson {
                    url: new.url.clone(),
                    prefix: new.prefix.trim_matches('/').to_owned(),
                    user: new.user.clone(),
                    folder_etags: new.folder_etags,
                };
                crate::remotes::webdav_backend(&json, new.secret.clone())?;
                check_prefix(&json.prefix)?;
                serde_json::to_string(&json).unwrap_or_default()
            }
            other => return Err(Error::UnsupportedRemoteKind(other.to_owned()).into()),
        };
        let record = self
            .store
            .add_remote(&new.name, &new.kind, &settings, limit)
            .await?;
        if new.kind != "fs" {
            let secrets = RemoteSecrets {
                secret: new.secret.expose().to_owned(),
            };
            if let Err(e) = self.remotes.credentials().set(&new.name, Some(secrets)) {
                // No remote without its secret.
                let _ = self.store.remove_remote(&new.name).await;
                return Err(e.into());
            }
        }
        Ok(record)
    }

    pub async fn remotes(&self) -> AppResult<Vec<RemoteRecord>> {
        Ok(self.store.remotes().await?)
    }

    pub async fn remove_remote(&self, name: &str) -> AppResult<()> {
        if name == self.config.remotes.default {
            return Err(Error::RemoteIsDefault(name.to_owned()).into());
        }
        let id = self.store.remote_id(name).await?;
        self.sync.abort_uploads_to(id).await;
        self.store.remove_remote(name).await?;
        self.remotes.forget(id);
        self.remotes.credentials().set(name, None)?;
        Ok(())
    }

    /// Writes, reads back and deletes a small object under `.syncroll/`.
    pub async fn test_remote(&self, name: &str) -> AppResult<Result<String, String>> {
        let id = self.store.remote_id(name).await?;
        let remote = match self.remotes.get(id).await {
            Ok(remote) => remote,
            Err(e) => return Ok(Err(e.to_string())),
        };
        let record = self.store.remote(id).await?;
        let prefix = serde_json::from_str::<serde_json::Value>(&record.settings_json)
            .ok()
            .and_then(|v| v["prefix"].as_str().map(str::to_owned))
            .unwrap_or_default();
        Ok(crate::remotes::round_trip(remote.as_ref(), &prefix).await)
    }
}

/// A remote's key prefix: empty, or something that is itself a valid key
/// (the planner puts it in front of every key).
fn check_prefix(prefix: &str) -> Result<(), syncroll_remote::RemoteError> {
    if prefix.is_empty() {
        return Ok(());
    }
    match syncroll_remote::validate_key(prefix) {
        Err(syncroll_remote::RemoteError::InvalidKey { reason, .. }) => {
            Err(syncroll_remote::RemoteError::InvalidSettings {
                field: "prefix",
                value: prefix.to_owned(),
                reason,
            })
        }
        other => other,
    }
}
