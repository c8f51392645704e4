//! The pull engine: brings home what other clients put on a connected
//! collection's remote album.
//!
//! One task ([`PullEngine::spawn`]) polls every connection whose direction
//! pulls, every `poll_secs` of its row and at once when
//! [`PollSignal`](crate::connections::PollSignal) names its remote
//! (`syncroll rescan --remote NAME`). A poll ([`poll`]) lists the album
//! folder the push side writes the collection to, looks up each key's base
//! in the ledger and its local file in the catalog, asks
//! [`syncroll_core::connection::decide`] what to do, and carries out what
//! this engine knows how to (a new remote file comes home, [`land`]). The
//! outcome is recorded with the connection (`status`, `collections show`).
//!
//! Rules it keeps:
//! - A listing that fails changes nothing: every action of a poll is
//!   decided from a complete listing, and carried out only after it.
//! - A remote name is checked ([`check_remote_name`]) before anything is
//!   written under it; a refused name is in the poll's outcome and the log.
//! - A download never replaces a local file (`Placement::IfAbsent`), and a
//!   file the catalog has not seen yet is never decided on.
//!
//! [`check_remote_name`]: syncroll_core::connection::check_remote_name

mod departures;
mod download_job;
mod land;
mod poll;
mod waiting;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use syncroll_core::connection::{Connection, MIN_POLL};
use syncroll_core::media::PhotoFilter;
use syncroll_core::{CollectionId, RemoteId, Store};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, info_span, warn};

use crate::connections::PollSignal;
use crate::remotes::Remotes;
use crate::scanner::ScannerHandle;
use crate::versions::VersionStore;

pub(crate) use poll::remote_side;
pub use poll::{PollError, PollReport};

/// How often the connection list is read again while nothing is due, so a
/// new connection gets its first poll within this long.
const RECHECK: Duration = MIN_POLL;

/// What a poll needs from the rest of the daemon.
#[derive(Debug, Clone)]
pub struct PullEngine {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Store,
    remotes: Remotes,
    scanner: ScannerHandle,
    signal: PollSignal,
    photos: PhotoFilter,
    versions: VersionStore,
    /// Asked to plan after a poll changed what the collection holds without
    /// the scanner (remote deletions, keys to send again).
    sync: crate::sync::SyncEngine,
    /// Per connection, the folder ETags its last clean poll saw, on remotes
    /// that propagate them (`--folder-etags`); see `poll::FolderTagsSeen`.
    /// Kept in memory only: the first poll after a start walks everything,
    /// so a setting changed across the restart (which names are photos)
    /// is applied to folders no change would otherwise send it into.
    folder_tags: std::sync::Mutex<HashMap<CollectionId, Arc<BTreeMap<String, String>>>>,
    /// Per landing root, whether its file system folds case, as the last
    /// poll's probe found: each poll probes afresh (a disk may be swapped),
    /// the download jobs it queues reuse its answer rather than each
    /// making a probe file of its own.
    case_folding: std::sync::Mutex<HashMap<std::path::PathBuf, bool>>,
}

impl PullEngine {
    pub fn new(
        store: Store,
        remotes: Remotes,
        scanner: ScannerHandle,
        signal: PollSignal,
        photos: PhotoFilter,
        versions: VersionStore,
        sync: crate::sync::SyncEngine,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                remotes,
                scanner,
                signal,
                photos,
                versions,
                sync,
                folder_tags: std::sync::Mutex::default(),
                case_folding: std::sync::Mutex::default(),
            }),
        }
    }

    /// Runs the poll loop until `cancel` fires.
    pub fn spawn(self, cancel: CancellationToken) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move { self.run(cancel).await })
    }

    async fn run(&self, cancel: CancellationToken) {
        // When each pulling connection is due next; a connection not in
        // the map yet is due at once (the daemon just started, or it was
        // just connected).
        let mut next_due: HashMap<CollectionId, Instant> = HashMap::new();
        loop {
            let pulling = match self.pulling().await {
                Ok(pulling) => pulling,
                Err(error) => {
                    warn!(%error, "cannot read the connections to poll");
                    Vec::new()
                }
            };
            next_due.retain(|id, _| pulling.iter().any(|(c, _)| c.collection_id == *id));
            for (connection, remote) in &pulling {
                let due = *next_due
                    .entry(connection.collection_id)
                    .or_insert_with(Instant::now);
                if due > Instant::now() {
                    continue;
                }
                let paused = self.poll_and_record(connection, *remote, &cancel).await;
                if cancel.is_cancelled() {
                    return;
                }
                // A paused connection is looked at again soon, so a resume
                // is followed by a poll within RECHECK.
                let wait = if paused { RECHECK } else { connection.poll };
                next_due.insert(connection.collection_id, Instant::now() + wait);
            }
            let recheck = Instant::now() + RECHECK;
            let wake = next_due
                .values()
                .copied()
                .min()
                .unwrap_or(recheck)
                .min(recheck);
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep_until(wake) => {}
                asked = self.inner.signal.requested() => {
                    self.make_due(&asked, &pulling, &mut next_due);
                }
            }
        }
    }

    /// Every connection that pulls, with its remote's id.
    async fn pulling(&self) -> syncroll_core::Result<Vec<(Connection, RemoteId)>> {
        let mut pulling = Vec::new();
        for connection in self.inner.store.connections().await? {
            if connection.direction.pulls() {
                let remote = self.inner.store.remote_id(&connection.remote_name).await?;
                pulling.push((connection, remote));
            }
        }
        Ok(pulling)
    }

    /// Makes the connections of the remotes `asked` for due now. A remote
    /// asked for whose connection is not listed yet (connected a moment
    /// ago) needs nothing: a connection not yet seen is due at once.
    fn make_due(
        &self,
        asked: &BTreeSet<RemoteId>,
        pulling: &[(Connection, RemoteId)],
        next_due: &mut HashMap<CollectionId, Instant>,
    ) {
        let now = Instant::now();
        for (connection, remote) in pulling {
            if asked.contains(remote) {
                next_due.insert(connection.collection_id, now);
            }
        }
    }

    /// Polls one connection and records the outcome with it; true when
    /// it did not run, or stopped, because sync is paused.
    async fn poll_and_record(
        &self,
        connection: &Connection,
        remote: RemoteId,
        cancel: &CancellationToken,
    ) -> bool {
        let span = info_span!(
            "poll",
            collection = %connection.collection_name,
            remote = %connection.remote_name
        );
        // A poll is as of when it began listing: what it saw is the album
        // then, and a change made after that is for the next one.
        let started_at = syncroll_core::store::now_ms();
        // The span is never entered by a guard here: a guard held across an
        // `.await` leaves it entered on whichever thread the task moves
        // from, and tracing-subscriber then panics closing it twice.
        async {
            let outcome = poll::poll(&self.inner, connection, remote, cancel).await;
            let text = match &outcome {
                Ok(report) => {
                    tracing::info!(outcome = %report, "polled");
                    report.to_string()
                }
                Err(PollError::Cancelled) => return false,
                Err(PollError::Paused) => {
                    tracing::debug!("sync is paused; not polled");
                    "paused: nothing is pulled until sync is resumed".to_owned()
                }
                Err(error) => {
                    warn!(%error, "poll failed; nothing was changed");
                    format!("failed: {error}")
                }
            };
            if let Err(error) = self
                .inner
                .store
                .record_poll(connection.collection_id, started_at, &text)
                .await
            {
                warn!(%error, "cannot record the poll's outcome");
            }
            matches!(outcome, Err(PollError::Paused))
        }
        .instrument(span)
        .await
    }
}

impl Inner {
    /// The folder tags the last clean poll of `collection` saw.
    fn known_tags(&self, collection: CollectionId) -> Arc<BTreeMap<String, String>> {
        self.tags().get(&collection).cloned().unwrap_or_default()
    }

    /// Keeps `tags` for the next poll of `collection` (empty: walk it all).
    fn keep_tags(&self, collection: CollectionId, tags: BTreeMap<String, String>) {
        self.tags().insert(collection, Arc::new(tags));
    }

    fn tags(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<CollectionId, Arc<BTreeMap<String, String>>>> {
        // A map of hints: whatever a panicking holder left is still a map.
        self.folder_tags
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
