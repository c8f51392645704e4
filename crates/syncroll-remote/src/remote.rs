//! The protocol-neutral contract every backend fulfils, and the values it
//! speaks in.

use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::AtomicU64;

use tokio_stream::Stream;
use tokio_util::sync::CancellationToken;

use crate::RemoteError;

/// What a remote holds under one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// The object's key, '/'-separated.
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
    /// The backend's version tag where it has one (S3, WebDAV); `None` for
    /// [`FsRemote`](crate::FsRemote).
    pub etag: Option<String>,
}

/// What a finished upload wrote: size and BLAKE3 of the bytes actually sent,
/// so the caller can tell whether the file changed while it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutReport {
    /// Bytes written.
    pub size: u64,
    /// BLAKE3 of exactly the bytes written.
    pub blake3: [u8; 32],
    /// The backend's version tag of the new object, where it has one.
    pub etag: Option<String>,
}

/// Where a resumable upload keeps its progress while it runs, so that the
/// next process can continue it after a crash (or abort it), instead of
/// starting over or leaving parts behind on the server.
///
/// The state is opaque text owned by the backend that wrote it (S3: JSON of
/// the upload id and the parts acknowledged so far); the journal stores it
/// as given and hands it back unchanged.
#[async_trait::async_trait]
pub trait UploadJournal: Send + Sync + std::fmt::Debug {
    /// What an earlier attempt saved, if anything.
    fn saved(&self) -> Option<String>;

    /// Replaces the saved state (`None`: nothing left to resume). Must be
    /// durable when it returns: the backend sends nothing that depends on the
    /// state (a part of the upload it names) before the save returns.
    async fn save(&self, state: Option<String>) -> Result<(), JournalError>;
}

/// A [`UploadJournal`] could not store the state.
#[derive(Debug, thiserror::Error)]
#[error("cannot record the upload's progress: {0}")]
pub struct JournalError(pub String);

/// A listing: objects one by one, in no particular order. After an error
/// item the stream ends, so a listing is complete only if it yielded no error.
pub type ObjectStream = Pin<Box<dyn Stream<Item = Result<ObjectMeta, RemoteError>> + Send>>;

/// A place that stores objects under keys. Every method validates its keys
/// with [`validate_key`](crate::validate_key) first.
#[async_trait::async_trait]
pub trait Remote: Send + Sync + std::fmt::Debug {
    /// Streams the file at `source` to `key` in constant memory. The object
    /// appears under `key` only when complete, never half-written; an object
    /// already there is replaced whole. Adds the bytes sent to `progress` as
    /// it goes (it never resets it). Returns [`RemoteError::Cancelled`] within
    /// about one chunk (1 MiB) when `cancel` fires, leaving nothing under
    /// `key` and no temporary. Dropping the future also stops the transfer at
    /// its next chunk and removes the temporary.
    async fn put_file(
        &self,
        key: &str,
        source: &Path,
        progress: &AtomicU64,
        cancel: &CancellationToken,
    ) -> Result<PutReport, RemoteError>;

    /// [`Remote::put_file`] that survives the process: progress is kept in
    /// `journal` as the upload goes, an upload `journal` already holds is
    /// continued from its last acknowledged part (if the file still holds the
    /// same bytes there), and after cancellation or a transient failure the
    /// upload is kept on the server for the next attempt. The caller owns
    /// what the journal holds: to give up on it, call
    /// [`Remote::abandon_upload`].
    ///
    /// Backends without resumable uploads (the default) just call
    /// [`Remote::put_file`] and never touch the journal.
    async fn put_file_resumable(
        &self,
        key: &str,
        source: &Path,
        progress: &AtomicU64,
        cancel: &CancellationToken,
        journal: &dyn UploadJournal,
    ) -> Result<PutReport, RemoteError> {
        let _ = journal;
        self.put_file(key, source, progress, cancel).await
    }

    /// Frees what an unfinished resumable upload to `key` holds on the server
    /// (S3: aborts the multipart upload and its parts), given the state its
    /// journal saved. Abandoning an upload the server no longer knows is `Ok`.
    async fn abandon_upload(&self, key: &str, state: &str) -> Result<(), RemoteError> {
        let _ = (key, state);
        Ok(())
    }

    /// Removes what a put to `key` cut off by a crash may have left that no
    /// journal recorded (`fs`: the temporary beside the key), so that a put
    /// never tried again (its job cancelled) leaves nothing behind. Never
    /// touches the object under `key`, nor a resumable upload's state (see
    /// [`Remote::abandon_upload`]). Nothing there is `Ok`.
    async fn discard_interrupted_put(&self, key: &str) -> Result<(), RemoteError> {
        let _ = key;
        Ok(())
    }

    /// Copies the object at `from_key` to `to_key` on the remote itself (no
    /// bytes pass through the caller), with the same atomicity and
    /// cancellation as [`Remote::put_file`]. [`RemoteError::NotFound`] if
    /// `from_key` holds no object.
    async fn copy(
        &self,
        from_key: &str,
        to_key: &str,
        cancel: &CancellationToken,
    ) -> Result<ObjectMeta, RemoteError>;

    /// Deletes `key`. Deleting a key that holds nothing is `Ok`, so a delete
    /// retried after a crash succeeds.
    async fn delete(&self, key: &str) -> Result<(), RemoteError>;

    /// Deletes every key of `keys`, as [`Remote::delete`] does each, in as
    /// few requests as the protocol allows (S3: DeleteObjects, up to 1000
    /// keys a request). The results are in the order of `keys`. The default
    /// deletes one key at a time.
    async fn delete_many(&self, keys: &[String]) -> Vec<Result<(), RemoteError>> {
        let mut results = Vec::with_capacity(keys.len());
        for key in keys {
            results.push(self.delete(key).await);
        }
        results
    }

    /// Whether [`Remote::delete_many`] deletes many keys in one request, so
    /// that batching deletes pays; `false` for the default.
    fn deletes_in_bulk(&self) -> bool {
        false
    }

    /// What is stored under `key`, or `None` if nothing is.
    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, RemoteError>;

    /// Streams every object under `prefix` (empty, or a key prefix ending in
    /// '/') without holding the listing in memory. syncroll's own
    /// temporaries are not listed. Must be called within a tokio runtime.
    fn list(&self, prefix: &str) -> ObjectStream;

    /// A short description for logs and status that never contains secrets,
    /// e.g. `fs:/mnt/nas/photos`.
    fn describe(&self) -> String;
}
