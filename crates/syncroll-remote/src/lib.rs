//! syncroll's remotes: where synced photos are stored.
//!
//! This crate owns the [`Remote`] trait (streaming put, conditional put,
//! streamed read and atomic download, server-side copy, head, list, delete) and its backends: [`FsRemote`], a local folder or NAS
//! mount, [`S3Remote`], a bucket on an S3-compatible server, and
//! [`WebDavRemote`], a folder on a WebDAV server. They implement one trait, so the trait speaks only of
//! keys, byte streams and [`RemoteError`]; the storage library behind
//! [`S3Remote`] (`object_store`) never shows in this crate's API.
//!
//! Architecture invariant: keys and byte streams in, typed errors out. This
//! crate knows nothing of jobs, the catalog, SQLite or gRPC; it classifies
//! errors ([`RemoteError::is_transient`]) but never decides on retries, which
//! belong to the job state machine in `syncroll-core`.

mod atomic;
mod budget;
mod chunks;
mod download;
mod error;
mod fs;
mod key;
mod remote;
mod s3;
mod throttle;
mod webdav;

pub use budget::{DEFAULT_TRANSFER_MEMORY, Reservation, TransferBudget};
pub use chunks::{CHUNK_BYTES, ChunkError, ChunkReader, FileChunks, hash_reader};
pub use download::{discard_download, is_download_temporary, unfinished_downloads};
pub use error::RemoteError;
pub use fs::FsRemote;
pub use key::validate_key;
pub use remote::{
    ByteStream, FolderTags, GetOptions, GetReport, JournalError, ListEvent, ListEventStream,
    ObjectMeta, ObjectRead, ObjectStream, Partial, Placement, Precondition, PutReport, Remote,
    UploadJournal,
};
pub use s3::{MultipartState, S3Remote, S3Settings, Secret, UploadedPart};
pub use throttle::{Buckets, Direction, Throttle};
pub use webdav::{WebDavRemote, WebDavSettings};
