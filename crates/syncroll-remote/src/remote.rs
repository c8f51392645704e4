//! The protocol-neutral contract every backend fulfils, and the values it
//! speaks in.

use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::AtomicU64;
use std::time::SystemTime;

use bytes::Bytes;
use tokio_stream::{Stream, StreamExt};
use tokio_util::sync::CancellationToken;

use crate::RemoteError;
pub use crate::atomic::Placement;

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
    /// When the object was last written, as the backend reports it (S3
    /// `LastModified`, WebDAV `getlastmodified`, the file's mtime on `fs`);
    /// `None` where the server gives none. S3 and WebDAV report whole
    /// seconds, so two writes within a second may show the same time.
    pub modified: Option<SystemTime>,
}

impl ObjectMeta {
    /// Whether `other` is the same version of the object as `self`: same
    /// ETag where both have one, else same size and (where both have one)
    /// the same modification time. The size must always agree. ETags are
    /// compared without quotes and weakness marks, which servers give in
    /// one place and not in another (a PROPFIND `getetag` and a GET's
    /// `ETag` header of one object may differ only so).
    pub fn same_version(&self, other: &ObjectMeta) -> bool {
        if self.size != other.size {
            return false;
        }
        match (&self.etag, &other.etag) {
            (Some(a), Some(b)) => bare_etag(a) == bare_etag(b),
            _ => match (self.modified, other.modified) {
                (Some(a), Some(b)) => same_time(a, b),
                _ => true,
            },
        }
    }
}

/// Whether two reported modification times are the same. A time in whole
/// seconds (an HTTP date: HEAD's `Last-Modified`, WebDAV's
/// `getlastmodified`) matches any time within that second, as a listing in
/// milliseconds (S3's XML) reports it; a time in whole milliseconds (a
/// listing, or a base kept in milliseconds) matches any time within that
/// millisecond (a file's mtime in nanoseconds).
fn same_time(a: SystemTime, b: SystemTime) -> bool {
    let since_epoch = |t: SystemTime| t.duration_since(SystemTime::UNIX_EPOCH).ok();
    match (since_epoch(a), since_epoch(b)) {
        (Some(a), Some(b)) if a.subsec_nanos() == 0 || b.subsec_nanos() == 0 => {
            a.as_secs() == b.as_secs()
        }
        (Some(a), Some(b))
            if a.subsec_nanos() % 1_000_000 == 0 || b.subsec_nanos() % 1_000_000 == 0 =>
        {
            a.as_millis() == b.as_millis()
        }
        _ => a == b,
    }
}

/// An entity tag without `W/` and quotes.
fn bare_etag(etag: &str) -> &str {
    etag.trim_start_matches("W/").trim_matches('"')
}

/// What an upload requires of the object under its key just before it
/// lands, so that a remote edit is never overwritten unseen.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Precondition {
    /// Nothing: the upload replaces whatever is there.
    #[default]
    None,
    /// The key must hold nothing.
    Absent,
    /// The key must still hold this version (the base both sides last
    /// agreed on): same ETag where it is known, else same size and
    /// modification time (see [`ObjectMeta::same_version`]).
    Matches {
        etag: Option<String>,
        size: u64,
        modified: Option<SystemTime>,
    },
}

impl Precondition {
    /// [`Precondition::Matches`] the version `meta` describes.
    pub fn matching(meta: &ObjectMeta) -> Self {
        Self::Matches {
            etag: meta.etag.clone(),
            size: meta.size,
            modified: meta.modified,
        }
    }

    /// `Ok` if an object `found` (or nothing) under `key` satisfies the
    /// precondition, else [`RemoteError::PreconditionFailed`].
    pub fn check(&self, key: &str, found: Option<&ObjectMeta>) -> Result<(), RemoteError> {
        let failed = |detail: &str| RemoteError::PreconditionFailed {
            key: key.to_owned(),
            detail: detail.to_owned(),
        };
        match (self, found) {
            (Self::None, _) | (Self::Absent, None) => Ok(()),
            (Self::Absent, Some(_)) => Err(failed("an object appeared under the key meanwhile")),
            (Self::Matches { .. }, None) => Err(failed("the object was deleted meanwhile")),
            (
                Self::Matches {
                    etag,
                    size,
                    modified,
                },
                Some(found),
            ) => {
                let base = ObjectMeta {
                    key: key.to_owned(),
                    size: *size,
                    etag: etag.clone(),
                    modified: *modified,
                };
                if base.same_version(found) {
                    Ok(())
                } else {
                    Err(failed("the object was changed meanwhile"))
                }
            }
        }
    }
}

/// What a finished download wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetReport {
    /// Bytes in the placed file.
    pub size: u64,
    /// BLAKE3 of exactly those bytes.
    pub blake3: [u8; 32],
    /// The version tag of the object read, where the backend has one.
    pub etag: Option<String>,
    /// The object's modification time on the remote, where known.
    pub modified: Option<SystemTime>,
    /// Bytes taken over from an earlier, interrupted attempt (0: none); only
    /// the rest was fetched.
    pub resumed_from: u64,
}

/// How [`Remote::get_file`] goes about one download.
#[derive(Debug, Clone, Default)]
pub struct GetOptions {
    /// The object as listed: the download is of this version only (else
    /// [`RemoteError::PreconditionFailed`], so the caller lists again), and
    /// its size and checksum are checked against it.
    pub expected: Option<ObjectMeta>,
    /// Whether an existing file at the destination may be replaced.
    pub placement: Placement,
    /// What becomes of the partial temporary after a cancellation or a
    /// transient failure.
    pub partial: Partial,
}

/// What an interrupted download leaves behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Partial {
    /// Nothing: the temporary is removed.
    #[default]
    Discard,
    /// After a cancellation or a passing fault of the remote or the
    /// network, the temporary stays (with a note of the version it holds),
    /// so the next attempt for the same destination fetches only the rest
    /// if the object is unchanged. A local fault (a full disk) or bytes
    /// that fail their check still remove it. A crash leaves the same; [`discard_download`]
    /// removes it when the download is given up.
    ///
    /// [`discard_download`]: crate::discard_download
    KeepForResume,
}

/// Bytes of one object as they arrive. After an error item the stream ends.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, RemoteError>> + Send>>;

/// A streamed read of one object, begun at some offset.
pub struct ObjectRead {
    /// The whole object's metadata (its full size, not the part's).
    pub meta: ObjectMeta,
    /// Where `body` starts: the offset asked for, or 0 if the server
    /// ignored the range and sends the whole object.
    pub offset: u64,
    /// The MD5 of the whole object, where the backend knows it for sure (an
    /// S3 ETag of a single-part upload); checked by [`Remote::get_file`].
    pub md5: Option<[u8; 16]>,
    pub body: ByteStream,
}

impl std::fmt::Debug for ObjectRead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectRead")
            .field("meta", &self.meta)
            .field("offset", &self.offset)
            .finish_non_exhaustive()
    }
}

/// One item of [`Remote::list_changed`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListEvent {
    /// An object in a folder that was walked.
    Object(ObjectMeta),
    /// A folder that was walked (its tag differed from the known one, or
    /// none was known), with the tag to remember for the next poll: its
    /// objects and subfolders follow or precede in no particular order.
    Folder { path: String, etag: Option<String> },
    /// A folder whose tag equals the known one: nothing below it changed,
    /// so it was not walked.
    Unchanged { path: String },
}

/// The folder tags a poller kept from its last [`Remote::list_changed`].
pub trait FolderTags: Send + Sync {
    /// The tag last seen for the folder `path` (a key prefix without the
    /// trailing '/', empty for the top), if any.
    fn tag(&self, path: &str) -> Option<String>;
}

/// Tags kept by folder path.
impl FolderTags for std::collections::HashMap<String, String> {
    fn tag(&self, path: &str) -> Option<String> {
        self.get(path).cloned()
    }
}

/// Tags kept by folder path, in order: a folder's subfolders are one range.
impl FolderTags for std::collections::BTreeMap<String, String> {
    fn tag(&self, path: &str) -> Option<String> {
        self.get(path).cloned()
    }
}

/// A [`Remote::list_changed`] listing. After an error item the stream ends.
pub type ListEventStream = Pin<Box<dyn Stream<Item = Result<ListEvent, RemoteError>> + Send>>;

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
    /// The new object's modification time as the backend reports it (the
    /// look that verified the upload, or the placed file's mtime on `fs`),
    /// where known: with the size and ETag, the remote side of the base the
    /// caller records, so its next listing is known as this upload.
    pub modified: Option<SystemTime>,
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
    ) -> Result<PutReport, RemoteError> {
        self.put_file_if(key, source, &Precondition::None, progress, cancel)
            .await
    }

    /// [`Remote::put_file`] that lands only if `precondition` holds for the
    /// object under `key` when the upload completes; if not, nothing is
    /// changed on the remote and the error is
    /// [`RemoteError::PreconditionFailed`]. How exactly each backend checks
    /// (a conditional request, or a look just before) is in its docs.
    async fn put_file_if(
        &self,
        key: &str,
        source: &Path,
        precondition: &Precondition,
        progress: &AtomicU64,
        cancel: &CancellationToken,
    ) -> Result<PutReport, RemoteError>;

    /// Streams the object under `key` from byte `offset` on (0: all of it).
    /// With `expected`, only that version is read (see
    /// [`ObjectMeta::same_version`]): another one under the key is
    /// [`RemoteError::PreconditionFailed`]. [`RemoteError::NotFound`] if
    /// nothing is there. `offset` must be below the object's size unless
    /// both are 0.
    async fn read(
        &self,
        key: &str,
        offset: u64,
        expected: Option<&ObjectMeta>,
    ) -> Result<ObjectRead, RemoteError>;

    /// Downloads the object under `key` to the local file `dest`, in
    /// constant memory: into a temporary beside `dest` (see
    /// [`is_download_temporary`](crate::is_download_temporary)), synced,
    /// checked against the listed size and, where the backend gives one,
    /// checksum, then moved over `dest` as `options.placement` allows
    /// ([`RemoteError::DestinationExists`] if it does not) and the folder
    /// synced. `dest`'s folder must exist. Adds the bytes written to
    /// `progress`. Returns [`RemoteError::Cancelled`] within about one chunk
    /// when `cancel` fires; what is left then, and after a transient
    /// failure, is up to `options.partial`; dropping the future removes the
    /// temporary (a crash leaves it). A temporary left for `dest` by
    /// an earlier attempt for the same, unchanged object is continued
    /// (ranged requests on S3 and WebDAV).
    ///
    /// One download per `dest` at a time: the temporary's name is derived
    /// from `dest`'s.
    async fn get_file(
        &self,
        key: &str,
        dest: &Path,
        options: &GetOptions,
        progress: &AtomicU64,
        cancel: &CancellationToken,
    ) -> Result<GetReport, RemoteError> {
        crate::download::get_file(self, key, dest, options, progress, cancel).await
    }

    /// [`Remote::list`] for polling: walks only the folders whose tag
    /// differs from what `known` holds. Backends without folder tags (the
    /// default: S3, `fs`) list every object as [`ListEvent::Object`].
    fn list_changed(&self, prefix: &str, known: std::sync::Arc<dyn FolderTags>) -> ListEventStream {
        let _ = known;
        Box::pin(self.list(prefix).map(|item| item.map(ListEvent::Object)))
    }

    /// [`Remote::put_file`] that survives the process: progress is kept in
    /// `journal` as the upload goes, an upload `journal` already holds is
    /// continued from its last acknowledged part (if the file still holds the
    /// same bytes there), and after cancellation or a transient failure the
    /// upload is kept on the server for the next attempt. The caller owns
    /// what the journal holds: to give up on it, call
    /// [`Remote::abandon_upload`].
    ///
    /// It lands only if `precondition` holds, as [`Remote::put_file_if`]
    /// checks it; a resumed upload is checked the same way before it
    /// completes, and one whose precondition failed is given up (nothing
    /// left to resume).
    ///
    /// Backends without resumable uploads (the default) just call
    /// [`Remote::put_file_if`] and never touch the journal.
    async fn put_file_resumable(
        &self,
        key: &str,
        source: &Path,
        precondition: &Precondition,
        progress: &AtomicU64,
        cancel: &CancellationToken,
        journal: &dyn UploadJournal,
    ) -> Result<PutReport, RemoteError> {
        let _ = journal;
        self.put_file_if(key, source, precondition, progress, cancel)
            .await
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

    /// The bandwidth limits this remote's transfers obey (none by default);
    /// the download engine admits every chunk through it.
    fn throttle(&self) -> crate::Throttle {
        crate::Throttle::default()
    }

    /// A short description for logs and status that never contains secrets,
    /// e.g. `fs:/mnt/nas/photos`.
    fn describe(&self) -> String;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn meta(etag: Option<&str>, size: u64, modified_ms: Option<u64>) -> ObjectMeta {
        ObjectMeta {
            key: "a.jpg".into(),
            size,
            etag: etag.map(str::to_owned),
            modified: modified_ms.map(|ms| SystemTime::UNIX_EPOCH + Duration::from_millis(ms)),
        }
    }

    #[test]
    fn versions_compare_by_etag_else_by_size_and_time() {
        let quoted = meta(Some("\"abc\""), 3, None);
        assert!(quoted.same_version(&meta(Some("abc"), 3, None)));
        assert!(!quoted.same_version(&meta(Some("abd"), 3, None)));
        assert!(!quoted.same_version(&meta(Some("abc"), 4, None)));
        // A whole-second HTTP date matches a listing's milliseconds.
        assert!(meta(None, 3, Some(5_000)).same_version(&meta(None, 3, Some(5_274))));
        assert!(!meta(None, 3, Some(5_100)).same_version(&meta(None, 3, Some(5_274))));
        assert!(!meta(None, 3, Some(6_000)).same_version(&meta(None, 3, Some(5_274))));
        // A base kept in milliseconds matches a file's mtime in nanoseconds.
        let at = |ns: u64| SystemTime::UNIX_EPOCH + Duration::from_nanos(ns);
        let in_ns = ObjectMeta {
            modified: Some(at(5_274_123_456)),
            ..meta(None, 3, None)
        };
        assert!(meta(None, 3, Some(5_274)).same_version(&in_ns));
        assert!(!meta(None, 3, Some(5_275)).same_version(&in_ns));
    }

    #[test]
    fn preconditions_name_what_changed() {
        let base = meta(Some("e1"), 3, None);
        let matches = Precondition::matching(&base);
        assert!(matches.check("a.jpg", Some(&base)).is_ok());
        let edited = matches.check("a.jpg", Some(&meta(Some("e2"), 3, None)));
        assert!(
            edited
                .unwrap_err()
                .to_string()
                .contains("changed meanwhile")
        );
        assert!(
            matches
                .check("a.jpg", None)
                .unwrap_err()
                .is_precondition_failed()
        );
        assert!(Precondition::Absent.check("a.jpg", Some(&base)).is_err());
        assert!(Precondition::None.check("a.jpg", Some(&base)).is_ok());
    }
}
