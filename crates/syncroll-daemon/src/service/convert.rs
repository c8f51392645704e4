//! The only place that knows both the core types and the wire types.

use std::os::unix::ffi::OsStrExt;
use std::time::Duration;

use syncroll_core::connection::{ConnectRequest, Connection, Direction, ReturnMode};
use syncroll_core::job::{Job, JobId, JobOp, JobState};
use syncroll_core::root_identity::FolderIdentity;
use syncroll_core::store::{
    Conflict, HeldKey, Hold, JobCounts, PausedUntil, PhotoSyncState, RemoteRecord, SkippedPhoto,
};
use syncroll_core::{Collection, Error, Photo, Root, RootState};
use syncroll_proto::v1 as pb;
use tonic::{Code, Status};

use crate::app::{AcceptOutcome, AppError, JobListing, MAX_PAUSE, RootStatus, StatusSnapshot};
use crate::remotes::NewRemote;
use crate::scanner::ScanSummary;
use crate::sync::SyncSnapshot;
use crate::versions::VersionError;

pub fn root(status: &RootStatus) -> pb::Root {
    let root: &Root = &status.root;
    let missing_reason = match &root.state {
        RootState::Online => String::new(),
        RootState::Missing { reason } => reason.clone(),
    };
    pb::Root {
        path: root.path.display().to_string(),
        state: root.state.as_str().to_owned(),
        missing_reason,
        photo_count: root.photo_count,
        total_bytes: root.total_bytes,
        last_scan_at: root.last_scan_at,
        watched: status.watched,
        identity: root.identity.map(folder_identity),
    }
}

pub fn folder_identity(identity: FolderIdentity) -> pb::FolderIdentity {
    pb::FolderIdentity {
        device: identity.device,
        inode: identity.inode,
    }
}

pub fn folder_identity_from(identity: pb::FolderIdentity) -> FolderIdentity {
    FolderIdentity {
        device: identity.device,
        inode: identity.inode,
    }
}

pub fn accept_root(outcome: &AcceptOutcome) -> pb::AcceptRootResponse {
    let preview = &outcome.preview;
    pb::AcceptRootResponse {
        root: Some(root(&outcome.root)),
        found: Some(folder_identity(preview.found)),
        preview: Some(pb::ScanPreview {
            photos_added: preview.added,
            photos_removed: preview.removed,
            photos_changed: preview.changed,
            photos_renamed: preview.renamed,
            photos_unchanged: preview.unchanged,
        }),
        accepted: outcome.accepted,
    }
}

pub fn photo(photo: &Photo) -> pb::Photo {
    let path_raw = if photo.rel_path.is_utf8() {
        Vec::new()
    } else {
        photo
            .rel_path
            .under(&photo.root_path)
            .as_os_str()
            .as_bytes()
            .to_vec()
    };
    pb::Photo {
        id: photo.id.0 as u64,
        root: photo.root_path.display().to_string(),
        path: photo.rel_path.to_string(),
        path_raw,
        size: photo.stat.size,
        mtime_ns: photo.stat.mtime_ns,
        blake3: photo.hash.to_hex(),
        root_missing: photo.root_missing,
    }
}

pub fn collection(collection: &Collection) -> pb::Collection {
    pb::Collection {
        name: collection.name.clone(),
        kind: match collection.folder {
            Some(_) => "folder",
            None => "manual",
        }
        .to_owned(),
        folder: collection
            .folder
            .as_ref()
            .map(|f| f.display().to_string())
            .unwrap_or_default(),
        remote: collection.remote_name.clone(),
        photo_count: collection.photo_count,
        total_bytes: collection.total_bytes,
        created_at: collection.created_at,
        sync_enabled: collection.sync_enabled,
        paused: collection_paused(collection.paused_until),
        paused_until: collection.paused_until.max(0),
        synced_count: collection.synced_count,
        synced_bytes: collection.synced_bytes,
        jobs: None,
        // Filled in by the service where the reply shows it.
        connection: None,
    }
}

pub fn connection(connection: &Connection) -> pb::Connection {
    pb::Connection {
        collection: connection.collection_name.clone(),
        remote: connection.remote_name.clone(),
        direction: connection.direction.as_str().to_owned(),
        returns: connection.returns.as_str().to_owned(),
        inbox: connection.inbox.display().to_string(),
        poll_seconds: connection.poll.as_secs(),
        created_at_ms: connection.created_at_ms,
        last_polled_at_ms: connection.last_polled_at_ms.unwrap_or(0),
        last_poll_outcome: connection.last_poll_outcome.clone(),
    }
}

/// `ConnectCollectionRequest`: the direction and return mode by name,
/// empty inbox and 0 seconds meaning "keep, or the default".
pub fn connect_request(request: &pb::ConnectCollectionRequest) -> Result<ConnectRequest, Status> {
    let direction = Direction::parse(&request.direction)
        .ok_or_else(|| AppError::from(Error::InvalidDirection(request.direction.clone())))?;
    // Empty keeps an existing connection's mode.
    let returns = match request.returns.as_str() {
        "" => None,
        named => Some(
            ReturnMode::parse(named)
                .ok_or_else(|| AppError::from(Error::InvalidReturnMode(named.to_owned())))?,
        ),
    };
    let poll = match request.poll_seconds {
        0 => None,
        s => {
            let poll = Duration::from_secs(s);
            syncroll_core::connection::check_poll(poll).map_err(AppError::from)?;
            Some(poll)
        }
    };
    Ok(ConnectRequest {
        direction,
        returns,
        inbox: (!request.inbox.is_empty()).then(|| request.inbox.clone().into()),
        poll,
    })
}

pub fn conflict(conflict: &Conflict) -> pb::Conflict {
    pb::Conflict {
        id: conflict.id as u64,
        collection: conflict.collection_name.clone(),
        remote: conflict.remote_name.clone(),
        key: conflict.key.clone(),
        local_path: conflict.local_path.display().to_string(),
        copy_path: conflict.copy_path.display().to_string(),
        detected_at_ms: conflict.detected_at_ms,
        state: match conflict.resolved_at_ms {
            None => "open",
            Some(_) => "resolved",
        }
        .to_owned(),
        resolved_at_ms: conflict.resolved_at_ms.unwrap_or(0),
    }
}

fn collection_paused(paused_until: i64) -> bool {
    paused_until == -1 || paused_until > syncroll_core::unix_now()
}

fn paused_until(paused: PausedUntil) -> (bool, i64) {
    match paused {
        None => (false, 0),
        Some(None) => (true, 0),
        Some(Some(t)) => (true, t),
    }
}

fn job_counts(counts: &JobCounts) -> pb::JobCounts {
    pb::JobCounts {
        queued: counts.queued,
        running: counts.running,
        done: counts.done,
        failed: counts.failed,
        cancelled: counts.cancelled,
        bytes_pending: counts.bytes_pending,
        held: counts.held,
        left: counts.left,
    }
}

/// The photos synced collections skip: how many, and the first few.
#[derive(Debug)]
pub struct Skipped {
    pub count: u64,
    pub first: Vec<(i64, SkippedPhoto)>,
}

pub fn sync_status(
    snapshot: SyncSnapshot,
    collections: &[Collection],
    failures: &[Job],
    skipped: &Skipped,
) -> pb::SyncStatus {
    let (paused, paused_until) = paused_until(snapshot.paused);
    let state = if paused {
        "paused"
    } else if snapshot.idle {
        "idle"
    } else {
        "syncing"
    };
    let rate = snapshot.rate_bytes_per_second;
    let eta_seconds = if !paused && rate >= 1.0 && snapshot.bytes_pending > 0 {
        (snapshot.bytes_pending as f64 / rate).ceil() as u64
    } else {
        0
    };
    pb::SyncStatus {
        // Filled by the caller.
        holds: Vec::new(),
        blocked_reason: String::new(),
        bandwidth: None,
        state: state.to_owned(),
        paused,
        paused_until,
        idle: snapshot.idle,
        queued: snapshot.queued,
        running: snapshot.running,
        failed: snapshot.failed,
        bytes_pending: snapshot.bytes_pending,
        bytes_sent: snapshot.bytes_sent,
        rate_bytes_per_second: rate,
        eta_seconds,
        collections: collections
            .iter()
            .filter(|c| c.sync_enabled || snapshot.per_collection.contains_key(&c.id))
            .map(|c| pb::CollectionSync {
                name: c.name.clone(),
                remote: c.remote_name.clone(),
                sync_enabled: c.sync_enabled,
                paused: collection_paused(c.paused_until),
                photo_count: c.photo_count,
                total_bytes: c.total_bytes,
                synced_count: c.synced_count,
                synced_bytes: c.synced_bytes,
                jobs: Some(job_counts(
                    &snapshot
                        .per_collection
                        .get(&c.id)
                        .cloned()
                        .unwrap_or_default(),
                )),
                // Filled by the caller, which has the connections.
                direction: String::new(),
            })
            .collect(),
        last_errors: failures
            .iter()
            .map(|j| pb::JobError {
                job_id: j.id.0 as u64,
                collection: j.collection_name.clone().unwrap_or_default(),
                key: j.key.clone(),
                state: j.state.name().to_owned(),
                error: j.last_error.clone(),
                attempts: j.attempts,
            })
            .collect(),
        transfers: snapshot
            .transfers
            .iter()
            .map(|t| pb::Transfer {
                job_id: t.job.0 as u64,
                collection: t.collection.clone(),
                key: t.key.clone(),
                bytes_done: t.bytes_done,
                bytes_total: t.bytes_total,
                op: t.op.as_str().to_owned(),
            })
            .collect(),
        skipped: skipped.count,
        skipped_photos: skipped
            .first
            .iter()
            .map(|(_, p)| pb::SkippedPhoto {
                collection: p.collection_name.clone(),
                key: p.key.clone(),
                reason: p.reason.clone(),
            })
            .collect(),
    }
}

fn job_error(job: &Job) -> String {
    match &job.state {
        JobState::Failed { reason, .. }
        | JobState::Cancelled { reason, .. }
        | JobState::Dismissed { reason, .. }
        | JobState::Left { reason, .. } => reason.clone(),
        // Why the brake held it.
        JobState::Held { .. } => job.last_error.clone(),
        _ => String::new(),
    }
}

pub fn job(job: &Job) -> pb::Job {
    // A queued job's last error is why it is waiting for a retry.
    let error = match &job.state {
        JobState::Queued { .. } => job.last_error.clone(),
        _ => job_error(job),
    };
    pb::Job {
        id: job.id.0 as u64,
        collection: job.collection_name.clone().unwrap_or_default(),
        op: job.op.as_str().to_owned(),
        key: job.key.clone(),
        state: job.state.name().to_owned(),
        attempts: job.attempts,
        bytes_done: job.bytes_done,
        bytes_total: job.bytes_total,
        transfer: job.transfer.clone().unwrap_or_default(),
        error,
        created_at_ms: job.created_at_ms,
        updated_at_ms: job.updated_at_ms,
    }
}

pub fn job_listing(listing: &JobListing) -> pb::Job {
    match listing {
        JobListing::Job(j) => job(j),
        JobListing::Skipped(photo) => skipped_job(photo),
    }
}

/// A skipped photo as a row of `jobs`: the upload it would have been.
fn skipped_job(photo: &SkippedPhoto) -> pb::Job {
    pb::Job {
        id: 0,
        collection: photo.collection_name.clone(),
        op: JobOp::Upload.as_str().to_owned(),
        key: photo.key.clone(),
        state: "skipped".to_owned(),
        error: photo.reason.clone(),
        created_at_ms: photo.since_ms,
        updated_at_ms: photo.since_ms,
        ..pb::Job::default()
    }
}

pub fn synced_photo(p: &Photo, states: &[PhotoSyncState]) -> pb::SyncedPhoto {
    pb::SyncedPhoto {
        photo: Some(photo(p)),
        collections: states
            .iter()
            .map(|s| pb::PhotoSync {
                collection: s.collection.clone(),
                remote: s.remote.clone(),
                key: s.key.clone(),
                state: s.state.clone(),
            })
            .collect(),
    }
}

pub fn remote(record: &RemoteRecord, default: &str) -> pb::Remote {
    pb::Remote {
        name: record.name.clone(),
        kind: record.kind.clone(),
        location: crate::remotes::location(record),
        is_default: record.name == default,
        collection_count: record.collection_count,
        limit: record.limit.map(|l| l.to_string()),
    }
}

pub fn rescan(summary: &ScanSummary) -> pb::RescanResponse {
    pb::RescanResponse {
        files_seen: summary.files_seen,
        files_hashed: summary.files_hashed,
        photos_added: summary.added,
        photos_updated: summary.updated,
        photos_removed: summary.removed,
        photos_renamed: summary.renamed,
        missing_roots: summary
            .missing_roots
            .iter()
            .map(|p| p.display().to_string())
            .collect(),
    }
}

pub fn status(
    snapshot: StatusSnapshot,
    data_dir: String,
    socket_path: String,
) -> pb::GetStatusResponse {
    let scan = snapshot.scan;
    pb::GetStatusResponse {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        uptime_seconds: snapshot.uptime_seconds,
        data_dir,
        socket_path,
        roots: snapshot.roots.iter().map(root).collect(),
        photo_count: snapshot.photo_count,
        collection_count: snapshot.collection_count,
        scan: Some(pb::ScanProgress {
            scanning: scan.scanning,
            current_root: scan.current_root,
            files_seen: scan.files_seen,
            files_hashed: scan.files_hashed,
            bytes_hashed: scan.bytes_hashed,
            reason: scan.reason,
            last_finished_at: scan.last_finished_at,
            last_duration_ms: scan.last_duration_ms,
            unreadable_entries: scan.unreadable_entries,
            settling: scan.settling,
        }),
        watcher: Some(pb::WatcherStatus {
            state: snapshot.watcher.state.as_str().to_owned(),
            detail: snapshot.watcher.detail,
            fallback_rescans: snapshot.watcher.fallback_rescans,
        }),
        // Filled in by the service, which owns the sync engine's view.
        sync: None,
        sync_blocked_reason: String::new(),
        versions: Some(pb::VersionStoreStatus {
            count: snapshot.versions.versions,
            bytes: snapshot.versions.bytes,
        }),
        open_conflicts: snapshot.open_conflicts,
        connections: snapshot.connections.iter().map(connection).collect(),
    }
}

/// A version of the file at `path` (as the store names it).
pub fn version(path: &str, version: &syncroll_core::versions::Version) -> pb::Version {
    pb::Version {
        path: path.to_owned(),
        number: version.number,
        created_at_ms: version.created_at_ms,
        size: version.size,
        hash: version.hash.to_hex(),
        origin: version.origin.clone(),
        mtime_ns: version.mtime_ns,
    }
}

impl From<AppError> for Status {
    fn from(error: AppError) -> Self {
        let code = match &error {
            AppError::Core(e) => code(e),
            AppError::Scan(e) => code(e),
            AppError::Versions(e) => version_code(e),
            AppError::Remote(_) => Code::InvalidArgument,
            AppError::Credentials(_) => Code::Internal,
            AppError::ShuttingDown => Code::Unavailable,
        };
        let mut status = Status::new(code, bounded(error.to_string()));
        if matches!(error, AppError::Core(Error::NeedsConfirmation { .. })) {
            // Tells a client it may ask the user and send the request again
            // confirmed, rather than parse the message.
            status
                .metadata_mut()
                .insert(CONFIRM_METADATA, "required".parse().expect("ASCII"));
        }
        status
    }
}

/// Metadata of a FailedPrecondition that a confirmation would lift.
pub const CONFIRM_METADATA: &str = "syncroll-confirm";

/// The longest error message sent, in bytes. Core errors cut the values
/// they echo at 200 characters; this is the backstop for any message that
/// did not, so a reply can never outgrow a client's header limit (a
/// message travels in the `grpc-message` header).
const MAX_MESSAGE_BYTES: usize = 1024;

fn bounded(mut message: String) -> String {
    if message.len() <= MAX_MESSAGE_BYTES {
        return message;
    }
    let total = message.len();
    let mut cut = MAX_MESSAGE_BYTES;
    while !message.is_char_boundary(cut) {
        cut -= 1;
    }
    message.truncate(cut);
    message.push_str(&format!("… ({total} bytes in all)"));
    message
}

/// A request's number outside the range its field allows.
fn out_of_range(field: &str, value: impl std::fmt::Display, range: &str) -> Status {
    Status::invalid_argument(format!("{field} = {value} is out of range: {range}"))
}

/// `PauseRequest.for_seconds`: 0 is until resumed, else at most
/// [`MAX_PAUSE`].
pub fn pause_duration(for_seconds: u64) -> Result<Option<Duration>, Status> {
    match for_seconds {
        0 => Ok(None),
        s if s > MAX_PAUSE.as_secs() => Err(out_of_range(
            "for_seconds",
            s,
            &format!(
                "a pause lasts at most {} seconds (100 years); use 0 to pause until resumed",
                MAX_PAUSE.as_secs()
            ),
        )),
        s => Ok(Some(Duration::from_secs(s))),
    }
}

/// `SetLimitRequest.for_seconds`: at most 100 years, as a pause.
pub fn limit_duration(for_seconds: Option<u64>) -> Result<Option<Duration>, Status> {
    match for_seconds {
        Some(s) if s > MAX_PAUSE.as_secs() => Err(out_of_range(
            "for_seconds",
            s,
            &format!(
                "a live limit lasts at most {} seconds (100 years); leave it unset for no end",
                MAX_PAUSE.as_secs()
            ),
        )),
        other => Ok(other.map(Duration::from_secs)),
    }
}

/// The bandwidth limit in force.
pub fn bandwidth(now: &crate::bandwidth::Now) -> pb::BandwidthLimit {
    let ms = |at: std::time::SystemTime| {
        at.duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    };
    pb::BandwidthLimit {
        up_bytes_per_second: now.limit.up.map(|r| r.bytes_per_second()),
        down_bytes_per_second: now.limit.down.map(|r| r.bytes_per_second()),
        limit: now.limit.to_string(),
        source: now.source.as_str().to_owned(),
        next_change_ms: now.next.map(|(at, _)| ms(at)),
        next_limit: now.next.map(|(_, limit)| limit.to_string()),
    }
}

/// A job id field: 0 is none; ids are SQLite rowids, so at most `i64::MAX`.
pub fn job_id(id: u64) -> Result<Option<JobId>, Status> {
    match i64::try_from(id) {
        Ok(0) => Ok(None),
        Ok(id) => Ok(Some(JobId(id))),
        Err(_) => Err(out_of_range(
            "job_id",
            id,
            "job ids are at most 9223372036854775807",
        )),
    }
}

/// A hold id: 1 to 2^63 - 1.
pub fn hold_id(id: u64) -> Result<i64, Status> {
    match i64::try_from(id) {
        Ok(id) if id > 0 => Ok(id),
        _ => Err(out_of_range(
            "hold_id",
            id,
            "hold ids are from 1 to 9223372036854775807 (see `syncroll holds`)",
        )),
    }
}

pub fn hold(hold: &Hold) -> pb::Hold {
    pb::Hold {
        id: hold.id as u64,
        collection: hold.collection_name.clone(),
        remote: hold.remote_name.clone(),
        state: hold.state.as_str().to_owned(),
        deletions: hold.deletions,
        bytes: hold.bytes,
        synced_copies: hold.synced_copies,
        vanished: hold.vanished,
        left_collection: hold.left,
        remote_deleted: hold.remote_deleted,
        reason: hold.reason(),
        created_at_ms: hold.created_at_ms,
        decided_at_ms: hold.decided_at_ms.unwrap_or(0),
    }
}

pub fn held_key(key: &HeldKey) -> pb::HeldKey {
    pb::HeldKey {
        key: key.key.clone(),
        bytes: key.bytes,
        reason: key.reason.clone(),
        state: key.state.to_owned(),
        job_id: key.job.0 as u64,
    }
}

/// `RetryJobsRequest`: one job, or `None` for every failed one (`all`).
pub fn retry_target(id: u64, all: bool) -> Result<Option<JobId>, Status> {
    match (job_id(id)?, all) {
        (_, true) => Ok(None),
        (Some(id), false) => Ok(Some(id)),
        (None, false) => Err(Status::invalid_argument(
            "job_id = 0: name a job to retry, or set all",
        )),
    }
}

/// `WatchSyncRequest.interval_ms`: 100 ms to a minute; 0 is 100 ms.
pub fn watch_interval(interval_ms: u32) -> Result<Duration, Status> {
    match interval_ms {
        0 => Ok(Duration::from_millis(100)),
        ms @ 100..=60_000 => Ok(Duration::from_millis(u64::from(ms))),
        ms => Err(out_of_range(
            "interval_ms",
            ms,
            "use 100 to 60000 (or 0 for 100)",
        )),
    }
}

fn version_code(error: &VersionError) -> Code {
    match error {
        // The file was left as it was; the request may work once there is room.
        _ if error.is_out_of_space() => Code::ResourceExhausted,
        VersionError::Core(e) => code(e),
        VersionError::NotAFile(_) | VersionError::TempElsewhere { .. } => Code::InvalidArgument,
        VersionError::KeptChanging(_) | VersionError::ChangedMeanwhile(_) => Code::Aborted,
        VersionError::BlobMissing { .. } | VersionError::BlobDamaged { .. } => Code::DataLoss,
        VersionError::Io { source, .. }
            if source.kind() == std::io::ErrorKind::PermissionDenied =>
        {
            Code::PermissionDenied
        }
        VersionError::DataDirFull { .. }
        | VersionError::FolderFull { .. }
        | VersionError::Io { .. } => Code::Internal,
    }
}

fn code(error: &Error) -> Code {
    match error {
        // The data dir is full or read-only: the request may work later.
        _ if error.is_storage_exhausted() => Code::ResourceExhausted,
        Error::InvalidName { .. }
        | Error::InvalidPath { .. }
        | Error::SystemFolder { .. }
        | Error::UnsupportedRemoteKind(_)
        | Error::InvalidJobState(_)
        | Error::RelativePath(_)
        | Error::NonUtf8Root(_)
        | Error::NotADirectory(_)
        | Error::NotAPhoto(_)
        | Error::OutsideRoots(_)
        | Error::FolderCollectionMembership { .. }
        | Error::RemoteOverlapsRoot { .. }
        | Error::RootHoldsDataDir { .. }
        | Error::RootInsideDataDir { .. }
        | Error::InvalidDirection(_)
        | Error::InvalidReturnMode(_)
        | Error::Bandwidth(_)
        | Error::PollOutOfRange { .. }
        | Error::InboxOutsideRoots { .. }
        | Error::FolderCollectionInbox { .. } => Code::InvalidArgument,
        Error::CollectionNotFound(_)
        | Error::RemoteNotFound(_)
        | Error::RootNotFound(_)
        | Error::PathNotFound(_)
        | Error::JobNotFound(_)
        | Error::HoldNotFound(_)
        | Error::NoVersions(_)
        | Error::VersionNotFound { .. } => Code::NotFound,
        Error::JobNotRetryable { .. }
        | Error::IllegalTransition(_)
        | Error::JobConflict(_)
        | Error::HoldDecided { .. }
        | Error::NeedsConfirmation { .. } => Code::FailedPrecondition,
        Error::CollectionExists(_)
        | Error::RemoteExists(_)
        | Error::RootExists(_)
        | Error::RootOverlaps { .. } => Code::AlreadyExists,
        Error::RootInUse { .. }
        | Error::RemoteInUse { .. }
        | Error::RemoteIsDefault(_)
        | Error::CollectionSynced(_)
        | Error::RootNotVerified(_)
        | Error::RootUnreadable { .. }
        | Error::AcceptEmptyRoot { .. }
        | Error::AcceptChanged { .. }
        | Error::ReturnsFixed { .. }
        | Error::ReturnsRequired
        | Error::NoInbox(_)
        | Error::ConnectionNeedsSync { .. }
        | Error::RemoteNotPolled(_) => Code::FailedPrecondition,
        Error::RootGone(_) => Code::NotFound,
        // A path the daemon's user may not read is the caller's to fix.
        Error::Io { source, .. } if source.kind() == std::io::ErrorKind::PermissionDenied => {
            Code::PermissionDenied
        }
        Error::Io { .. }
        | Error::Database { .. }
        | Error::EventUnreadable { .. }
        | Error::Migrate(_)
        | Error::ScanOutOfOrder(_)
        | Error::CatalogDamaged { .. } => Code::Internal,
    }
}

/// A remote to add; the secret moves into a `Secret` at once.
pub fn new_remote(request: pb::AddRemoteRequest) -> NewRemote {
    NewRemote {
        name: request.name,
        kind: request.kind,
        path: request.path,
        endpoint: request.endpoint,
        bucket: request.bucket,
        region: request.region,
        prefix: request.prefix,
        access_key_id: request.access_key_id,
        url: request.url,
        user: request.user,
        folder_etags: request.folder_etags,
        secret: syncroll_remote::Secret::new(request.secret),
        limit: request.limit,
    }
}

/// One item of the event feed, for the wire.
pub fn feed_item(item: crate::events::FeedItem) -> pb::WatchEventsResponse {
    use pb::watch_events_response::Item;
    let item = match item {
        crate::events::FeedItem::Event(event) => Item::Event(event_to_pb(event)),
        crate::events::FeedItem::Gap { first, last } => Item::Gap(pb::EventGap {
            first_missed_seq: first.0,
            last_missed_seq: last.0,
        }),
    };
    pb::WatchEventsResponse { item: Some(item) }
}

fn event_to_pb(event: syncroll_core::events::Event) -> pb::Event {
    pb::Event {
        seq: event.seq.0,
        at_ms: event.at_ms,
        kind: Some(event_kind(event.kind)),
    }
}

fn event_kind(kind: syncroll_core::events::EventKind) -> pb::event::Kind {
    use pb::event::Kind;
    use syncroll_core::events::{EventKind as K, PauseChange};
    match kind {
        K::JobFailed {
            job_id,
            collection,
            op,
            key,
            error,
            attempts,
        } => Kind::JobFailed(pb::JobFailedEvent {
            job_id: job_id.max(0) as u64,
            collection,
            op,
            key,
            error,
            attempts,
        }),
        K::HoldCreated {
            hold_id,
            collection,
            remote,
        } => Kind::HoldCreated(pb::HoldCreatedEvent {
            hold_id: hold_id.max(0) as u64,
            collection,
            remote,
        }),
        K::ConflictCopied {
            conflict_id,
            collection,
            remote,
            key,
            local_path,
            copy_path,
        } => Kind::ConflictCopied(pb::ConflictCopiedEvent {
            conflict_id: conflict_id.max(0) as u64,
            collection,
            remote,
            key,
            local_path,
            copy_path,
        }),
        K::RootMissing { path, reason } => Kind::RootMissing(pb::RootMissingEvent { path, reason }),
        K::RootBack { path } => Kind::RootBack(pb::RootBackEvent { path }),
        K::CollectionSynced {
            collection,
            remote,
            photos,
            synced,
            failed,
        } => Kind::CollectionSynced(pb::CollectionSyncedEvent {
            collection,
            remote,
            photo_count: photos,
            synced_count: synced,
            failed,
        }),
        K::PauseChanged { collection, pause } => {
            let (paused, paused_until) = match pause {
                PauseChange::Paused { until_s } => (true, until_s),
                PauseChange::Resumed => (false, None),
            };
            Kind::PauseChanged(pb::PauseChangedEvent {
                collection,
                paused,
                paused_until,
            })
        }
        K::LimitChanged {
            upload_bytes_per_second,
            download_bytes_per_second,
        } => Kind::LimitChanged(pb::LimitChangedEvent {
            upload_bytes_per_second,
            download_bytes_per_second,
        }),
    }
}
