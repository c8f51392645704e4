//! The one error type of the core. Every message names the bad value, so a
//! user reading it knows what to fix; values are shown through
//! [`crate::quoted`], escaped and at most 200 characters long.

use std::path::PathBuf;

use crate::quoted::{quoted, shown_path};

/// Everything the catalog and store can refuse or fail at.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid {what} name {}: {reason}", quoted(.name))]
    InvalidName {
        what: &'static str,
        name: String,
        reason: &'static str,
    },
    #[error("collection {} does not exist", quoted(.0))]
    CollectionNotFound(String),
    #[error("collection {} already exists", quoted(.0))]
    CollectionExists(String),
    #[error("remote {} does not exist", quoted(.0))]
    RemoteNotFound(String),
    #[error("remote kind {} is not supported; use one of: fs, s3, webdav", quoted(.0))]
    UnsupportedRemoteKind(String),
    #[error(
        "remote {} is the default remote (remotes.default in the config) and cannot be removed",
        quoted(.0)
    )]
    RemoteIsDefault(String),
    #[error(
        "unknown job state {}; use one of: queued, running, done, failed, cancelled, skipped",
        quoted(.0)
    )]
    InvalidJobState(String),
    #[error("remote {} already exists", quoted(.0))]
    RemoteExists(String),
    #[error("remote {} is used by collection(s) {collections}; move or delete them first", quoted(.name))]
    RemoteInUse { name: String, collections: String },
    #[error(
        "collection {} is synced; turn sync off first (`syncroll sync off NAME`, optionally --keep-remote)",
        quoted(.0)
    )]
    CollectionSynced(String),
    #[error("{} is not under any root; add its folder first with `syncroll roots add`", shown_path(.0))]
    OutsideRoots(PathBuf),
    #[error("{} does not exist", shown_path(.0))]
    PathNotFound(PathBuf),
    #[error("{} is not a directory", shown_path(.0))]
    NotADirectory(PathBuf),
    #[error("root path {} is not valid UTF-8; rename the folder or add a parent folder", shown_path(.0))]
    NonUtf8Root(PathBuf),
    #[error("{} is not a photo (not one of the configured photo extensions)", shown_path(.0))]
    NotAPhoto(PathBuf),
    #[error("path {} is not absolute", quoted(.0))]
    RelativePath(String),
    #[error("path {} cannot be used: {reason}", quoted(.path))]
    InvalidPath { path: String, reason: &'static str },
    #[error(
        "{} is {}; an fs remote needs a folder of its own (such as /mnt/backup/photos), \
         where syncroll writes and deletes copies",
        shown_path(.path),
        .system
    )]
    SystemFolder { path: PathBuf, system: String },
    #[error("{} is already a root", shown_path(.0))]
    RootExists(PathBuf),
    #[error("{} overlaps root {}: roots may not contain one another", shown_path(.path), shown_path(.other))]
    RootOverlaps { path: PathBuf, other: PathBuf },
    #[error("{} is not a root (see `syncroll roots list`)", shown_path(.0))]
    RootNotFound(PathBuf),
    #[error(
        "root {} is missing or its folder changed since it was checked; its photos are left as they are",
        shown_path(.0)
    )]
    RootNotVerified(PathBuf),
    #[error("root {0} was removed while it was being scanned")]
    RootGone(i64),
    #[error("root {} cannot be read: {reason}", shown_path(.path))]
    RootUnreadable {
        path: PathBuf,
        reason: crate::root_identity::MissingReason,
    },
    #[error(
        "the folder {} holds no photos while the catalog holds {photos} from it; accepting it would \
         read as all of them deleted. Mount or restore the photos, or forget the root with \
         `syncroll roots remove`",
        shown_path(.path)
    )]
    AcceptEmptyRoot { path: PathBuf, photos: u64 },
    #[error(
        "the folder {} changed since the preview (now {found}); run `syncroll roots accept` again",
        shown_path(.path)
    )]
    AcceptChanged {
        path: PathBuf,
        found: crate::root_identity::FolderIdentity,
    },
    #[error(
        "fs remote {} at {} overlaps root {}: a remote's folder may not be inside a root or \
         hold one (syncroll would copy the remote into itself); choose folders apart",
        quoted(.remote), shown_path(.remote_path), shown_path(.root)
    )]
    RemoteOverlapsRoot {
        remote: String,
        remote_path: PathBuf,
        root: PathBuf,
    },
    #[error(
        "{} holds syncroll's data dir {}: a root may not hold the catalog and the local remote; \
         choose a folder apart, or move the data dir (--data-dir)",
        shown_path(.path), shown_path(.data_dir)
    )]
    RootHoldsDataDir { path: PathBuf, data_dir: PathBuf },
    #[error("root {} is followed by folder collection(s) {collections}; delete them first", shown_path(.root))]
    RootInUse { root: PathBuf, collections: String },
    #[error(
        "collection {} follows the folder {}; add or remove photos in that folder instead",
        quoted(.name),
        shown_path(.folder)
    )]
    FolderCollectionMembership { name: String, folder: PathBuf },
    #[error("job {0} does not exist")]
    JobNotFound(i64),
    #[error("job {0} changed state while it was being updated")]
    JobConflict(i64),
    #[error(
        "{action} would delete {count} remote copies ({bytes} bytes) of collection {} on remote \
         {}; confirm with --yes{alternative}",
        quoted(.collection),
        quoted(.remote)
    )]
    NeedsConfirmation {
        action: &'static str,
        /// What else the user can do, after ", or ".
        alternative: &'static str,
        count: u64,
        bytes: u64,
        collection: String,
        remote: String,
    },
    #[error("no hold with id {0} (see `syncroll holds`)")]
    HoldNotFound(i64),
    #[error("hold {id} is {state}: only a pending hold can be approved or rejected")]
    HoldDecided { id: i64, state: &'static str },
    #[error("job {id} is {state}; only failed or cancelled jobs can be retried")]
    JobNotRetryable { id: i64, state: &'static str },
    #[error(
        "{} has no versions and does not exist; check the path (versions are listed by the \
         path the file had when its bytes were replaced)",
        shown_path(.0)
    )]
    NoVersions(PathBuf),
    #[error(
        "version {number} of {} does not exist (list its versions with `syncroll versions`)",
        shown_path(.path)
    )]
    VersionNotFound { path: PathBuf, number: u64 },
    #[error(
        "{} lies inside syncroll's data dir {}: a root may not be inside the catalog, \
         the local remote or the version store; choose a folder apart",
        shown_path(.path), shown_path(.data_dir)
    )]
    RootInsideDataDir { path: PathBuf, data_dir: PathBuf },
    #[error(
        "a new connection needs --returns: version (a remote edit replaces the local file, the \
         old bytes kept as a version) or copy (saved beside it as NAME (edit N).EXT)"
    )]
    ReturnsRequired,
    #[error(
        "collection {} is connected with --returns {current}, which is fixed once a connection \
         exists (edits already returned in one form would not match the rest); to return edits \
         as {asked}, `syncroll disconnect` it and connect it again",
        quoted(.collection)
    )]
    ReturnsFixed {
        collection: String,
        current: &'static str,
        asked: &'static str,
    },
    #[error("event {seq} in the catalog cannot be read: {source}")]
    EventUnreadable {
        seq: u64,
        #[source]
        source: serde_json::Error,
    },
    #[error("unknown direction {}; use one of: push, pull, both", quoted(.0))]
    InvalidDirection(String),
    #[error("unknown return mode {}; use one of: version, copy", quoted(.0))]
    InvalidReturnMode(String),
    #[error("poll interval {seconds}s is out of range: use whole seconds from 10s to 24h (86400s)")]
    PollOutOfRange { seconds: f64 },
    #[error(
        "inbox {} is not under any root (roots: {roots}); choose a folder under one, or add its \
         folder with `syncroll roots add`",
        shown_path(.path)
    )]
    InboxOutsideRoots { path: PathBuf, roots: String },
    #[error(
        "collection {} follows the folder {}: what its remote album gains lands at the matching \
         path there, so it takes no --inbox (got {})",
        quoted(.collection), shown_path(.folder), shown_path(.inbox)
    )]
    FolderCollectionInbox {
        collection: String,
        folder: PathBuf,
        inbox: PathBuf,
    },
    #[error(
        "collection {} has no inbox to take: it holds no photos and the catalog has no roots; \
         add a root, or give --inbox",
        quoted(.0)
    )]
    NoInbox(String),
    #[error(
        "collection {} is not synced, and a {direction} connection needs its remote album; turn \
         sync on first (`syncroll sync on NAME`), or connect it with --direction push",
        quoted(.collection)
    )]
    ConnectionNeedsSync {
        collection: String,
        direction: &'static str,
    },
    #[error(
        "remote {} serves no connection: connect one of its collections with `syncroll connect \
         NAME --direction pull|both` first",
        quoted(.0)
    )]
    RemoteNotPolled(String),
    #[error(transparent)]
    Bandwidth(#[from] crate::bandwidth::BandwidthError),
    #[error(transparent)]
    IllegalTransition(#[from] crate::job::IllegalTransition),
    /// A scan's walk and the catalog disagreed on path order; the scan
    /// applied nothing.
    #[error("scan stopped, nothing changed: {0}")]
    ScanOutOfOrder(#[from] crate::reconcile::OutOfOrder),
    #[error("cannot {action} {}: {source}", shown_path(.path))]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("catalog database: {action}: {source}")]
    Database {
        action: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error("catalog database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("the catalog {} is damaged: {detail}", shown_path(.path))]
    CatalogDamaged { path: PathBuf, detail: String },
}

/// How the disk under the catalog refused a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageFault {
    /// No space left (SQLite FULL, ENOSPC, EDQUOT).
    Full,
    /// The file system or the database file is read-only (SQLite READONLY,
    /// EROFS).
    ReadOnly,
    /// A write, sync or shared-memory resize failed without saying why
    /// (SQLite IOERR). SQLite does not pass the OS error on; the caller
    /// looks at the disk to tell.
    WriteFailed,
}

// SQLite result codes (https://www.sqlite.org/rescode.html); sqlx reports
// the extended code, whose low byte is the primary one.
const SQLITE_READONLY: i64 = 8;
const SQLITE_IOERR: i64 = 10;
const SQLITE_CORRUPT: i64 = 11;
const SQLITE_FULL: i64 = 13;
const SQLITE_NOTADB: i64 = 26;
/// The IOERR codes of writing: plain IOERR, WRITE, FSYNC, DIR_FSYNC,
/// TRUNCATE, SHMOPEN, SHMSIZE. A failed read is not the disk refusing writes.
const IOERR_OF_WRITING: [i64; 7] = [10, 778, 1034, 1290, 1546, 4618, 4874];

impl Error {
    /// Whether the catalog could not be written because of the disk under
    /// it (full, read-only, failing writes), and which; `None` for every
    /// other error. The daemon pauses sync on these until a write works.
    pub fn storage_fault(&self) -> Option<StorageFault> {
        match self {
            Self::Database { source, .. } => sqlx_storage_fault(source),
            Self::Migrate(sqlx::migrate::MigrateError::Execute(source)) => {
                sqlx_storage_fault(source)
            }
            Self::Io { source, .. } => io_storage_fault(source),
            _ => None,
        }
    }

    /// Shorthand for [`Error::storage_fault`] being `Some`.
    pub fn is_storage_exhausted(&self) -> bool {
        self.storage_fault().is_some()
    }

    /// Whether SQLite found the database file damaged (CORRUPT, NOTADB).
    pub fn is_corruption(&self) -> bool {
        let source = match self {
            Self::Database { source, .. } => source,
            Self::Migrate(sqlx::migrate::MigrateError::Execute(source)) => source,
            Self::CatalogDamaged { .. } => return true,
            _ => return false,
        };
        matches!(
            sqlite_code(source).map(|c| c & 0xff),
            Some(SQLITE_CORRUPT | SQLITE_NOTADB)
        )
    }
}

fn sqlite_code(error: &sqlx::Error) -> Option<i64> {
    match error {
        sqlx::Error::Database(db) => db.code()?.parse().ok(),
        _ => None,
    }
}

fn sqlx_storage_fault(error: &sqlx::Error) -> Option<StorageFault> {
    if let sqlx::Error::Io(io) = error {
        return io_storage_fault(io);
    }
    let code = sqlite_code(error)?;
    match code & 0xff {
        SQLITE_FULL => Some(StorageFault::Full),
        SQLITE_READONLY => Some(StorageFault::ReadOnly),
        SQLITE_IOERR if IOERR_OF_WRITING.contains(&code) => Some(StorageFault::WriteFailed),
        _ => None,
    }
}

fn io_storage_fault(error: &std::io::Error) -> Option<StorageFault> {
    match error.kind() {
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded => {
            Some(StorageFault::Full)
        }
        std::io::ErrorKind::ReadOnlyFilesystem => Some(StorageFault::ReadOnly),
        _ => None,
    }
}

/// Result with the core [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Attaches what the store was doing to a database error.
pub(crate) trait DbContext<T> {
    fn db(self, action: &'static str) -> Result<T>;
}

impl<T> DbContext<T> for Result<T, sqlx::Error> {
    fn db(self, action: &'static str) -> Result<T> {
        self.map_err(|source| Error::Database { action, source })
    }
}
