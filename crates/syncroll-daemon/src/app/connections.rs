//! `connect`, `disconnect`, `conflicts` and `rescan --remote`: the App's
//! side of connections. The rules (what may change, what a request
//! settles to) are in `syncroll_core::connection`; the rows in the store.

use std::path::{Component, Path, PathBuf};

use syncroll_core::connection::{self, ConnectRequest, Connection};
use syncroll_core::store::Conflict;
use syncroll_core::{Collection, Error};
use tracing::{info, instrument};

use super::{App, AppResult, absolute_path};
use crate::connections::PollSignal;

/// What `connect` did.
#[derive(Debug)]
pub struct Connected {
    pub connection: Connection,
    /// The collection had no connection before.
    pub created: bool,
    pub collection: Collection,
    /// Uploads queued by turning sync on (`push`).
    pub uploads_queued: u64,
}

impl App {
    /// The signal the pull engine waits on for `rescan --remote`.
    pub fn poll_signal(&self) -> &PollSignal {
        &self.poll
    }

    /// `connect NAME ...`: creates or updates the collection's connection.
    /// `push` turns sync on the way `sync on` does; `pull` and `both`
    /// need it on already, since the remote album and the ledger's bases
    /// are what they pull against.
    #[instrument(skip_all, fields(collection = name, direction = %request.direction))]
    pub async fn connect(&self, name: &str, request: ConnectRequest) -> AppResult<Connected> {
        let collection = self.store.collection(name).await?;
        if request.direction.pulls() && !collection.sync_enabled {
            return Err(Error::ConnectionNeedsSync {
                collection: collection.name,
                direction: request.direction.as_str(),
            }
            .into());
        }
        let request = ConnectRequest {
            inbox: self.inbox_asked(&collection, request.inbox).await?,
            ..request
        };
        let existing = self.store.connection(collection.id).await?;
        let default_inbox = match &existing {
            Some(current) => current.inbox.clone(),
            None => self.default_inbox(&collection).await?,
        };
        let (connection, created) = self
            .store
            .connect(collection.id, &request, &default_inbox)
            .await?;
        // A direction that starts or stops sending asked for a
        // reconciliation with the change.
        self.sync.request_plan();
        let uploads_queued = if collection.sync_enabled {
            0
        } else {
            // Only `push` gets here (see above): today's sync, on its path.
            self.set_sync(name, true, false, false).await?.1.uploads
        };
        if connection.direction.pulls() {
            self.poll
                .request_poll(self.store.remote_id(&connection.remote_name).await?);
        }
        info!(created, inbox = %connection.inbox.display(), "connected");
        Ok(Connected {
            connection,
            created,
            collection: self.store.collection(name).await?,
            uploads_queued,
        })
    }

    /// `disconnect NAME`: back to push-only sync. Only the connection's
    /// row goes; remote objects, local files, ledger rows and their bases
    /// stay. Returns whether there was a connection.
    #[instrument(skip_all, fields(collection = name))]
    pub async fn disconnect(&self, name: &str) -> AppResult<(bool, Collection)> {
        let collection = self.store.collection(name).await?;
        let was_connected = self.store.disconnect(collection.id).await?;
        self.sync.request_plan();
        info!(was_connected, "disconnected");
        Ok((was_connected, collection))
    }

    /// Every connection, by collection name.
    pub async fn connections(&self) -> AppResult<Vec<Connection>> {
        Ok(self.store.connections().await?)
    }

    /// `conflicts [--all]`.
    pub async fn conflicts(&self, all: bool) -> AppResult<Vec<Conflict>> {
        Ok(self.store.conflicts(all).await?)
    }

    /// `rescan --remote NAME`: asks the pull engine to poll the remote's
    /// pulling connections now; returns their collections.
    #[instrument(skip_all, fields(remote = remote))]
    pub async fn poll_remote(&self, remote: &str) -> AppResult<Vec<String>> {
        let remote_id = self.store.remote_id(remote).await?;
        let polled: Vec<String> = self
            .store
            .connections()
            .await?
            .into_iter()
            .filter(|c| c.remote_name == remote && c.direction.pulls())
            .map(|c| c.collection_name)
            .collect();
        if polled.is_empty() {
            return Err(Error::RemoteNotPolled(remote.to_owned()).into());
        }
        self.poll.request_poll(remote_id);
        Ok(polled)
    }

    /// The inbox a request names, resolved and checked: under a root for a
    /// manual collection; a folder collection's is its folder, and naming
    /// another is an error.
    async fn inbox_asked(
        &self,
        collection: &Collection,
        asked: Option<PathBuf>,
    ) -> AppResult<Option<PathBuf>> {
        let asked = match asked {
            Some(path) => resolved_inbox(&path)?,
            None => return Ok(collection.folder.clone()),
        };
        if let Some(folder) = &collection.folder {
            if asked != *folder {
                return Err(Error::FolderCollectionInbox {
                    collection: collection.name.clone(),
                    folder: folder.clone(),
                    inbox: asked,
                }
                .into());
            }
            return Ok(Some(asked));
        }
        let roots: Vec<PathBuf> = self
            .store
            .roots()
            .await?
            .into_iter()
            .map(|r| r.path)
            .collect();
        connection::inbox_root(&asked, &roots)?;
        Ok(Some(asked))
    }

    /// `<first root of the collection>/<collection name>`.
    async fn default_inbox(&self, collection: &Collection) -> AppResult<PathBuf> {
        if let Some(folder) = &collection.folder {
            return Ok(folder.clone());
        }
        let root = self
            .store
            .first_root_of(collection.id)
            .await?
            .ok_or_else(|| Error::NoInbox(collection.name.clone()))?;
        Ok(root.join(&collection.name))
    }
}

/// `path` as the daemon checks it against the roots: absolute, without
/// `.` or `..` components (which would let `/root/../etc` pass a prefix
/// test), and with the part that exists canonical, so a symlink inside a
/// root cannot lead the inbox out of it. The rest need not exist yet: the
/// pull engine creates the inbox when it first downloads.
fn resolved_inbox(path: &Path) -> Result<PathBuf, Error> {
    let raw = path.to_string_lossy();
    let path = absolute_path(&raw)?;
    if path
        .components()
        .any(|c| matches!(c, Component::ParentDir | Component::CurDir))
    {
        return Err(Error::InvalidPath {
            path: raw.into_owned(),
            reason: "it has a '.' or '..' component; name the folder plainly",
        });
    }
    let mut missing = Vec::new();
    let mut existing = path.as_path();
    loop {
        if let Ok(canonical) = std::fs::canonicalize(existing) {
            return Ok(missing
                .iter()
                .rev()
                .fold(canonical, |acc, part| acc.join(part)));
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                missing.push(name.to_owned());
                existing = parent;
            }
            _ => return Ok(path),
        }
    }
}
