//! [`Snapshot`]: what the tray shows of the daemon, read from one
//! `GetStatus` reply. The wire's types stop here; the model sees only
//! this.

use std::path::PathBuf;

use syncroll_client::{ClientError, HoldState, RootState, SyncState, pb};

/// The daemon's state at one status read.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub sync: SyncState,
    pub queued: u64,
    pub running: u64,
    pub failed: u64,
    /// Deletions the brake holds for a decision, over every pending hold.
    pub held_deletions: u64,
    /// Conflicts of connections still open (`syncroll conflicts`).
    pub conflicts: u64,
    pub missing_roots: Vec<PathBuf>,
    pub rate_bytes_per_second: f64,
    /// `None` when the daemon cannot tell (nothing pending, no rate yet).
    pub eta_seconds: Option<u64>,
    /// The bandwidth limit as the user wrote it ("4M", "10M:1M"); `None`
    /// when there is none.
    pub limit: Option<String>,
    /// When the limit changes by itself next (a timetable's entry, or a
    /// `syncroll limit --for` lapsing), and to what.
    pub limit_change: Option<LimitChange>,
    pub collections: Vec<CollectionView>,
    /// Where the daemon keeps its catalog and its logs.
    pub data_dir: PathBuf,
}

/// A coming change of the bandwidth limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitChange {
    pub at_unix_seconds: i64,
    /// As the user wrote it ("2M", "off").
    pub to: String,
}

/// One collection, as its menu entry shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionView {
    pub name: String,
    pub sync_enabled: bool,
    pub paused: bool,
    pub photos: u64,
    pub synced: u64,
    /// Jobs queued or running: the collection is busy.
    pub pending_jobs: u64,
}

impl Snapshot {
    /// Reads a `GetStatus` reply. A state this tray does not know (a newer
    /// daemon) is an error, as everywhere in the client.
    pub fn of(status: &pb::GetStatusResponse) -> Result<Self, ClientError> {
        let sync = status
            .sync
            .as_ref()
            .ok_or(ClientError::Missing("sync status"))?;
        Ok(Self {
            sync: SyncState::of(sync)?,
            queued: sync.queued,
            running: sync.running,
            failed: sync.failed,
            held_deletions: held_deletions(&sync.holds)?,
            conflicts: status.open_conflicts,
            missing_roots: missing_roots(&status.roots)?,
            rate_bytes_per_second: sync.rate_bytes_per_second,
            eta_seconds: (sync.eta_seconds > 0).then_some(sync.eta_seconds),
            limit: sync.bandwidth.as_ref().and_then(limit),
            limit_change: sync.bandwidth.as_ref().and_then(limit_change),
            collections: sync.collections.iter().map(CollectionView::of).collect(),
            data_dir: PathBuf::from(&status.data_dir),
        })
    }

    /// Something waits for the user: a failed job, held deletions, a
    /// conflict, a missing root.
    pub fn needs_attention(&self) -> bool {
        self.failed > 0
            || self.held_deletions > 0
            || self.conflicts > 0
            || !self.missing_roots.is_empty()
    }

    /// Share of the synced collections' photos that are synced, in whole
    /// percent; `None` when no synced collection holds a photo.
    pub fn percent_synced(&self) -> Option<u8> {
        let (photos, synced) = self
            .collections
            .iter()
            .filter(|c| c.sync_enabled)
            .fold((0u64, 0u64), |(p, s), c| {
                (p + c.photos, s + c.synced.min(c.photos))
            });
        (photos > 0).then(|| u8::try_from(synced * 100 / photos).unwrap_or(100))
    }
}

impl CollectionView {
    fn of(collection: &pb::CollectionSync) -> Self {
        let pending_jobs = collection
            .jobs
            .as_ref()
            .map_or(0, |jobs| jobs.queued + jobs.running);
        Self {
            name: collection.name.clone(),
            sync_enabled: collection.sync_enabled,
            paused: collection.paused,
            photos: collection.photo_count,
            synced: collection.synced_count,
            pending_jobs,
        }
    }
}

fn held_deletions(holds: &[pb::Hold]) -> Result<u64, ClientError> {
    let mut total = 0;
    for hold in holds {
        if hold.state.parse::<HoldState>()? == HoldState::Pending {
            total += hold.deletions;
        }
    }
    Ok(total)
}

fn missing_roots(roots: &[pb::Root]) -> Result<Vec<PathBuf>, ClientError> {
    let mut missing = Vec::new();
    for root in roots {
        if let RootState::Missing { .. } = RootState::of(root)? {
            missing.push(PathBuf::from(&root.path));
        }
    }
    Ok(missing)
}

/// The limit as written, unless there is none ("off", or no rate either
/// way).
fn limit(bandwidth: &pb::BandwidthLimit) -> Option<String> {
    let limited =
        bandwidth.up_bytes_per_second.is_some() || bandwidth.down_bytes_per_second.is_some();
    (limited && !bandwidth.limit.is_empty()).then(|| bandwidth.limit.clone())
}

fn limit_change(bandwidth: &pb::BandwidthLimit) -> Option<LimitChange> {
    Some(LimitChange {
        at_unix_seconds: bandwidth.next_change_ms?.div_euclid(1000),
        to: bandwidth.next_limit.clone()?,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A snapshot of an idle daemon with one synced collection.
    pub(crate) fn idle() -> Snapshot {
        Snapshot {
            sync: SyncState::Idle,
            queued: 0,
            running: 0,
            failed: 0,
            held_deletions: 0,
            conflicts: 0,
            missing_roots: Vec::new(),
            rate_bytes_per_second: 0.0,
            eta_seconds: None,
            limit: None,
            limit_change: None,
            collections: vec![CollectionView {
                name: "Trip".to_owned(),
                sync_enabled: true,
                paused: false,
                photos: 40,
                synced: 40,
                pending_jobs: 0,
            }],
            data_dir: PathBuf::from("/data"),
        }
    }

    #[test]
    fn only_pending_holds_count_as_held_deletions() {
        let hold = |state: &str, deletions| pb::Hold {
            state: state.to_owned(),
            deletions,
            ..Default::default()
        };
        let status = pb::GetStatusResponse {
            sync: Some(pb::SyncStatus {
                state: "idle".to_owned(),
                holds: vec![hold("pending", 80), hold("approved", 5), hold("pending", 1)],
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(Snapshot::of(&status).unwrap().held_deletions, 81);
    }

    #[test]
    fn an_unlimited_bandwidth_shows_no_limit() {
        let off = pb::BandwidthLimit {
            limit: "off".to_owned(),
            ..Default::default()
        };
        assert_eq!(limit(&off), None);
        let four = pb::BandwidthLimit {
            limit: "4M".to_owned(),
            up_bytes_per_second: Some(4 << 20),
            ..Default::default()
        };
        assert_eq!(limit(&four).as_deref(), Some("4M"));
    }

    #[test]
    fn percent_counts_only_synced_collections() {
        let mut snapshot = idle();
        snapshot.collections[0].synced = 10;
        snapshot.collections.push(CollectionView {
            name: "Unsynced".to_owned(),
            sync_enabled: false,
            paused: false,
            photos: 1000,
            synced: 0,
            pending_jobs: 0,
        });
        assert_eq!(snapshot.percent_synced(), Some(25));
    }
}
