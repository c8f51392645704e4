//! What the control API can ask of the daemon, without any gRPC in sight:
//! the service module converts requests, calls these, and converts back.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use syncroll_core::media::PhotoFilter;
use syncroll_core::store::{NewCollectionSource, PhotoFilterQuery, PhotoPageCursor};
use syncroll_core::{Collection, Error, Photo, RelPath, Root, Store};
use tokio::sync::mpsc;

use crate::config::Config;
use crate::scanner::{ScanReason, ScanSummary, ScanTarget, ScannerHandle};
use crate::status::{LiveStatus, ScanStatus, WatcherStatus};
use crate::watcher::MonitorHandle;

/// Photos fetched from SQLite per page of a streamed listing.
const PHOTO_PAGE: u32 = 500;

/// An error from the core, or from a scan another request also waited on.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Core(#[from] Error),
    #[error(transparent)]
    Scan(Arc<Error>),
}

pub type AppResult<T> = Result<T, AppError>;

/// A point-in-time picture of the daemon for `status`.
#[derive(Debug)]
pub struct StatusSnapshot {
    pub uptime_seconds: u64,
    pub roots: Vec<Root>,
    pub photo_count: u64,
    pub collection_count: u64,
    pub scan: ScanStatus,
    pub watcher: WatcherStatus,
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
}

impl App {
    pub fn new(
        store: Store,
        scanner: ScannerHandle,
        monitor: MonitorHandle,
        status: LiveStatus,
        config: Arc<Config>,
    ) -> Self {
        let filter = PhotoFilter::new(&config.catalog.photo_extensions);
        Self {
            store,
            scanner,
            monitor,
            status,
            config,
            filter,
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub async fn status(&self) -> AppResult<StatusSnapshot> {
        Ok(StatusSnapshot {
            uptime_seconds: self.status.uptime_seconds(),
            roots: self.store.roots().await?,
            photo_count: self.store.photo_count().await?,
            collection_count: self.store.collections().await?.len() as u64,
            scan: self.status.scan().clone(),
            watcher: self.status.watcher().clone(),
        })
    }

    /// Adds a root, starts watching it, and queues its first scan.
    pub async fn add_root(&self, path: &str) -> AppResult<Root> {
        let path = existing_path(path)?;
        if !path.is_dir() {
            return Err(Error::NotADirectory(path).into());
        }
        let root = self.store.add_root(&path).await?;
        // Watch before scanning, so nothing created during the scan is missed.
        self.monitor.refresh().await;
        self.scanner.request(
            ScanTarget::Scopes {
                root: root.id,
                scopes: vec![RelPath::root()],
            },
            ScanReason::RootAdded,
        );
        Ok(root)
    }

    pub async fn roots(&self) -> AppResult<Vec<Root>> {
        Ok(self.store.roots().await?)
    }

    /// Forgets a root and its photos; the files are not touched.
    pub async fn remove_root(&self, path: &str) -> AppResult<u64> {
        let given = absolute_path(path)?;
        let root = match self.store.root_by_path(&given).await {
            Err(Error::RootNotFound(_)) => {
                self.store.root_by_path(&canonical_or_given(&given)).await?
            }
            found => found?,
        };
        let forgotten = self.store.remove_root(&root).await?;
        self.monitor.refresh().await;
        Ok(forgotten)
    }

    /// Rescans every root, or one path under a root.
    pub async fn rescan(&self, path: &str, wait: bool) -> AppResult<ScanSummary> {
        let target = if path.is_empty() {
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
        Ok(self.store.rename_collection(name, new_name).await?)
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
        Ok((removed, self.store.collection(name).await?))
    }
}

fn absolute_path(raw: &str) -> Result<PathBuf, Error> {
    let path = Path::new(raw);
    if !path.is_absolute() {
        return Err(Error::RelativePath(raw.to_owned()));
    }
    Ok(path.to_path_buf())
}

/// The canonical form of a path that must exist.
fn existing_path(raw: &str) -> Result<PathBuf, Error> {
    let path = absolute_path(raw)?;
    std::fs::canonicalize(&path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => Error::PathNotFound(path.clone()),
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

fn file_name_bytes(path: &Path) -> &[u8] {
    use std::os::unix::ffi::OsStrExt;
    path.file_name().map_or(&[], |n| n.as_bytes())
}
