//! The one error type of the core. Every message names the bad value, so a
//! user reading it knows what to fix.

use std::path::PathBuf;

/// Everything the catalog and store can refuse or fail at.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid {what} name {name:?}: {reason}")]
    InvalidName {
        what: &'static str,
        name: String,
        reason: &'static str,
    },
    #[error("collection {0:?} does not exist")]
    CollectionNotFound(String),
    #[error("collection {0:?} already exists")]
    CollectionExists(String),
    #[error("remote {0:?} does not exist")]
    RemoteNotFound(String),
    #[error("remote kind {0:?} is not supported; use one of: fs, s3, webdav")]
    UnsupportedRemoteKind(String),
    #[error(
        "remote {0:?} is the default remote (remotes.default in the config) and cannot be removed"
    )]
    RemoteIsDefault(String),
    #[error("unknown job state {0:?}; use one of: queued, running, done, failed, cancelled")]
    InvalidJobState(String),
    #[error("remote {0:?} already exists")]
    RemoteExists(String),
    #[error("remote {name:?} is used by collection(s) {collections}; move or delete them first")]
    RemoteInUse { name: String, collections: String },
    #[error(
        "collection {0:?} is synced; turn sync off first (`syncroll sync off NAME`, optionally --keep-remote)"
    )]
    CollectionSynced(String),
    #[error("{} is not under any root; add its folder first with `syncroll roots add`", .0.display())]
    OutsideRoots(PathBuf),
    #[error("{} does not exist", .0.display())]
    PathNotFound(PathBuf),
    #[error("{} is not a directory", .0.display())]
    NotADirectory(PathBuf),
    #[error("root path {} is not valid UTF-8; rename the folder or add a parent folder", .0.display())]
    NonUtf8Root(PathBuf),
    #[error("{} is not a photo (not one of the configured photo extensions)", .0.display())]
    NotAPhoto(PathBuf),
    #[error("path {0:?} is not absolute")]
    RelativePath(String),
    #[error("{} is already a root", .0.display())]
    RootExists(PathBuf),
    #[error("{} overlaps root {}: roots may not contain one another", .path.display(), .other.display())]
    RootOverlaps { path: PathBuf, other: PathBuf },
    #[error("{} is not a root (see `syncroll roots list`)", .0.display())]
    RootNotFound(PathBuf),
    #[error(
        "root {} is missing or its folder changed since it was checked; its photos are left as they are",
        .0.display()
    )]
    RootNotVerified(PathBuf),
    #[error("root {0} was removed while it was being scanned")]
    RootGone(i64),
    #[error("root {} cannot be read: {reason}", .path.display())]
    RootUnreadable {
        path: PathBuf,
        reason: crate::root_identity::MissingReason,
    },
    #[error(
        "the folder {} holds no photos while the catalog holds {photos} from it; accepting it would \
         read as all of them deleted. Mount or restore the photos, or forget the root with \
         `syncroll roots remove`",
        .path.display()
    )]
    AcceptEmptyRoot { path: PathBuf, photos: u64 },
    #[error(
        "the folder {} changed since the preview (now {found}); run `syncroll roots accept` again",
        .path.display()
    )]
    AcceptChanged {
        path: PathBuf,
        found: crate::root_identity::FolderIdentity,
    },
    #[error(
        "fs remote {remote:?} at {} overlaps root {}: a remote's folder may not be inside a root or \
         hold one (syncroll would copy the remote into itself); choose folders apart",
        .remote_path.display(), .root.display()
    )]
    RemoteOverlapsRoot {
        remote: String,
        remote_path: PathBuf,
        root: PathBuf,
    },
    #[error(
        "{} holds syncroll's data dir {}: a root may not hold the catalog and the local remote; \
         choose a folder apart, or move the data dir (--data-dir)",
        .path.display(), .data_dir.display()
    )]
    RootHoldsDataDir { path: PathBuf, data_dir: PathBuf },
    #[error("root {} is followed by folder collection(s) {collections}; delete them first", .root.display())]
    RootInUse { root: PathBuf, collections: String },
    #[error(
        "collection {name:?} follows the folder {}; add or remove photos in that folder instead",
        .folder.display()
    )]
    FolderCollectionMembership { name: String, folder: PathBuf },
    #[error("job {0} does not exist")]
    JobNotFound(i64),
    #[error("job {0} changed state while it was being updated")]
    JobConflict(i64),
    #[error("job {id} is {state}; only failed or cancelled jobs can be retried")]
    JobNotRetryable { id: i64, state: &'static str },
    #[error(transparent)]
    IllegalTransition(#[from] crate::job::IllegalTransition),
    #[error("cannot {action} {}: {source}", .path.display())]
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
