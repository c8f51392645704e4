//! [`S3Remote`]: a remote in a bucket of an S3-compatible server (AWS S3,
//! MinIO, Garage, Ceph RGW), through the `object_store` crate: it signs
//! (SigV4), retries and pages, and its types stay inside this module.
//!
//! Keys are stored under `<prefix>/` (nothing when the prefix is empty), with
//! path-style addressing (`<endpoint>/<bucket>/<key>`), which self-hosted
//! servers need. The bucket is never created: a missing one is
//! [`RemoteError::BucketMissing`].
//!
//! Uploads (see the `upload` module): files up to `multipart_threshold` go up
//! in one PUT, larger ones as a multipart upload of `part_size` parts, four in
//! flight while the next are read; both are hashed with BLAKE3 as read and
//! checked afterwards with a HEAD (the size must match). [`Remote::put_file`]
//! aborts a cancelled or failed multipart upload, never leaving parts to
//! accumulate: an abort that fails is tried again before the next upload,
//! and a new upload of the same key waits until it succeeds.
//! [`S3Remote::put_file_resumable`] keeps the upload in a [`MultipartState`]
//! instead, to be continued or aborted later.
//!
//! Reads ([`Remote::read`], and so [`Remote::get_file`]) are one GET with
//! `Range` and `If-Match`; a server that ignores ranges (rclone's) is read
//! from the start instead. Conditional uploads: see
//! [`S3Remote::put_file_if`](Remote::put_file_if).
//!
//! Each request is retried by `object_store` itself up to three times within
//! [`REQUEST_RETRY_SECS`] (connection errors, 5xx, 429), so a blip does not
//! cost a job attempt; what still fails is classified as below and left to
//! the job state machine. A request may take a minute plus its body's time
//! at [`SLOWEST_UPLINK_BYTES_PER_SEC`]; cancellation does not wait for it.
//!
//! | what the server or network did | [`RemoteError`] | transient? |
//! |---|---|---|
//! | cannot connect: refused, DNS, TLS handshake (a bad certificate too: the job waits, showing why) | `Unavailable` | yes |
//! | timeout, connection reset or closed mid-request | `Io` | yes |
//! | 5xx (incl. 503 SlowDown), 429, 409, 408, 400 `RequestTimeout` | `Io` | yes |
//! | 501 Not Implemented | `Io` (unsupported) | no |
//! | 401, 403 (wrong key or secret, bucket policy) | `PermissionDenied` | no |
//! | 403 `QuotaExceeded` (Ceph), 507, `XMinioStorageFull` | `NoSpace` | yes |
//! | 404 `NoSuchBucket` | `BucketMissing` | no |
//! | 404 on a key | `head`: `None`; `delete`: `Ok`; `copy`, `read`: `NotFound` | no |
//! | 412, or 304 to a conditional PUT (If-Match, If-None-Match refused) | `PreconditionFailed` | no |
//! | other 4xx, 3xx (wrong region or endpoint) | `Io` (invalid input) | no |
//! | size after upload differs from the bytes sent | `Io` | yes |
//! | settings rejected before any request | `InvalidSettings` | no |
//!
//! `object_store` hides the status of most failures behind a type it does not
//! export; the `errors` module explains how they are told apart.
//!
//! Limits:
//! - A server-side copy is one CopyObject request, so objects over 5 GiB
//!   cannot be copied (S3's limit); copy them by uploading.
//! - `object_store` cannot list in-progress multipart uploads, so an upload
//!   cut off by a crash of the whole process (not a cancellation, not a
//!   dropped future) stays on the server unless its [`MultipartState`] was
//!   saved. [`Remote::put_file_resumable`] saves it in the caller's
//!   [`UploadJournal`] right after the upload is created and after each part
//!   lands, so only a crash in the instant between creating the upload and
//!   saving its id can orphan one; a bucket lifecycle rule
//!   (`AbortIncompleteMultipartUpload`) is the backstop for that. An upload
//!   of plain [`Remote::put_file`] whose abort failed is remembered in memory
//!   only, and aborted before the next upload.
//! - Objects whose keys `object_store` cannot represent (empty, `.` or `..`
//!   segments, control characters), put in the bucket by other tools, make a
//!   listing of their prefix fail.

mod errors;
mod multipart;
mod reader;
mod settings;
mod upload;

use std::path::Path as FsPath;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::multipart::MultipartStore;
use object_store::path::Path;
use object_store::{
    BackoffConfig, ClientOptions, GetOptions, GetRange, ObjectStore, ObjectStoreExt, RetryConfig,
};
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;

use crate::key::validate_prefix;
use crate::{
    ObjectMeta, ObjectRead, ObjectStream, Precondition, PutReport, Remote, RemoteError,
    UploadJournal, validate_key,
};
use errors::Target;
use multipart::OnFailure;
pub use multipart::{MultipartState, UploadedPart};
pub use settings::{S3Settings, Secret};
use upload::Upload;

/// How long `object_store` keeps retrying one request before the error
/// reaches the caller.
const REQUEST_RETRY_SECS: u64 = 30;
/// Retries of one request within [`REQUEST_RETRY_SECS`].
const REQUEST_RETRIES: usize = 3;
/// A server that accepts no connection within this is unreachable for now.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The slowest uplink a request allows for: its time limit is
/// [`REQUEST_BASE_TIMEOUT`] plus the largest body at this rate. (reqwest's
/// "read timeout" runs from the start of the request, body upload included,
/// so it cannot serve as a stall detector for uploads.)
const SLOWEST_UPLINK_BYTES_PER_SEC: u64 = 32 * 1024;
/// Time a request may take on top of sending its body.
const REQUEST_BASE_TIMEOUT: Duration = Duration::from_secs(60);
/// Listing entries fetched ahead of the consumer (one S3 page is 1000).
const LISTING_QUEUE: usize = 256;

/// A remote in an S3-compatible bucket (kind `s3`).
#[derive(Clone)]
pub struct S3Remote {
    store: AmazonS3,
    /// The same client with bulk deletes (DeleteObjects), for `delete_many`.
    bulk: AmazonS3,
    endpoint: String,
    bucket: String,
    /// Without a trailing '/'; empty for the bucket's top.
    prefix: String,
    multipart_threshold: u64,
    part_size: u64,
    /// Multipart uploads of [`Remote::put_file`] whose abort failed, to be
    /// aborted before the next upload (see [`S3Remote::abort_left_over`]).
    left_over: Arc<Mutex<Vec<LeftOver>>>,
    /// Bounds the bytes uploads hold in memory; shared with other remotes
    /// when given with [`S3Remote::with_budget`].
    budget: crate::TransferBudget,
    /// The limits uploads and downloads obey ([`S3Remote::with_throttle`]).
    throttle: crate::Throttle,
}

/// A multipart upload that is of no more use but could not be aborted yet.
#[derive(Debug, Clone, PartialEq, Eq)]
struct LeftOver {
    key: String,
    upload_id: String,
}

// Hand-written: the client's own `Debug` shows its whole configuration,
// which is no business of logs.
impl std::fmt::Debug for S3Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Remote")
            .field("remote", &self.describe())
            .finish_non_exhaustive()
    }
}

impl S3Remote {
    /// A remote for `settings`, checked (see [`S3Settings`]) but not
    /// contacted: a server that is down now may be up later, and each
    /// operation finds out anew.
    pub fn new(settings: S3Settings) -> Result<Self, RemoteError> {
        let checked = settings::check(&settings)?;
        let builder = AmazonS3Builder::new()
            .with_endpoint(&checked.endpoint)
            .with_bucket_name(&settings.bucket)
            .with_region(&settings.region)
            .with_access_key_id(&settings.access_key_id)
            .with_secret_access_key(settings.secret_access_key.expose())
            .with_virtual_hosted_style_request(false)
            .with_retry(retry_config())
            .with_client_options(client_options(&settings));
        let rejected = |err: object_store::Error| {
            tracing::warn!(error = %err, "the S3 client rejected the settings");
            RemoteError::InvalidSettings {
                field: "endpoint",
                value: checked.endpoint.clone(),
                reason: "the S3 client cannot use these settings",
            }
        };
        // Two clients: with bulk deletes on, object_store sends even a single
        // delete as DeleteObjects, which reports success for a key in a
        // missing bucket. `delete` wants a plain DELETE and its real status;
        // `delete_many` wants DeleteObjects.
        let bulk = builder.clone().build().map_err(rejected)?;
        let store = builder
            .with_disable_bulk_delete(true)
            .build()
            .map_err(rejected)?;
        Ok(Self {
            store,
            bulk,
            endpoint: checked.endpoint,
            bucket: settings.bucket,
            prefix: checked.prefix,
            multipart_threshold: settings.multipart_threshold,
            part_size: settings.part_size,
            left_over: Arc::default(),
            budget: crate::TransferBudget::default(),
            throttle: crate::Throttle::default(),
        })
    }

    /// Uploads and downloads obey `throttle`'s limits.
    #[must_use]
    pub fn with_throttle(mut self, throttle: crate::Throttle) -> Self {
        self.throttle = throttle;
        self
    }

    /// Uploads hold their parts within `budget`, shared with whoever else
    /// holds it (the daemon gives all its remotes one).
    #[must_use]
    pub fn with_budget(mut self, budget: crate::TransferBudget) -> Self {
        self.budget = budget;
        self
    }

    /// [`Remote::put_file`], keeping a multipart upload across attempts: the
    /// upload is recorded in `state` as its parts land, and an attempt given
    /// a recorded `state` sends only the parts still missing (re-reading the
    /// others to hash the whole file). `state` is `None` again once the
    /// object is complete, or when a permanent failure aborted the upload;
    /// after cancellation or a transient failure it holds what to resume.
    /// Parts found on the server count towards `progress` as they are
    /// re-read. If the file changed since the recorded upload began, or the
    /// server forgot that upload, it starts over.
    ///
    /// The caller owns what `state` records: to give up on it, call
    /// [`S3Remote::abort_multipart`].
    pub async fn put_file_resumable(
        &self,
        key: &str,
        source: &FsPath,
        progress: &AtomicU64,
        cancel: &CancellationToken,
        state: &mut Option<MultipartState>,
    ) -> Result<PutReport, RemoteError> {
        let upload = self.upload(key, source, progress, cancel, None, &Precondition::None)?;
        upload.run(state, OnFailure::Keep).await
    }

    /// Aborts the multipart upload recorded in `state` for `key`, freeing its
    /// parts. Aborting an upload the server no longer knows is `Ok`.
    pub async fn abort_multipart(
        &self,
        key: &str,
        state: &MultipartState,
    ) -> Result<(), RemoteError> {
        let path = self.object_path(key)?;
        self.abort(key, &path, &state.upload_id).await
    }

    fn upload<'a>(
        &'a self,
        key: &'a str,
        source: &'a FsPath,
        progress: &'a AtomicU64,
        cancel: &'a CancellationToken,
        journal: Option<&'a dyn UploadJournal>,
        precondition: &'a Precondition,
    ) -> Result<Upload<'a>, RemoteError> {
        Ok(Upload {
            remote: self,
            key,
            path: self.object_path(key)?,
            source,
            progress,
            cancel,
            journal,
            precondition,
        })
    }

    /// Opens the object at `path` from `offset`; see [`Remote::read`].
    async fn read_path(
        &self,
        key: &str,
        path: &Path,
        offset: u64,
        expected: Option<&ObjectMeta>,
    ) -> Result<ObjectRead, RemoteError> {
        let options = GetOptions {
            if_match: expected.and_then(|e| e.etag.clone()),
            range: (offset > 0).then_some(GetRange::Offset(offset)),
            ..GetOptions::default()
        };
        let got = match self.store.get_opts(path, options).await {
            Ok(got) => got,
            // Servers without ranged GETs (rclone's) send the whole object,
            // which object_store refuses: read it whole, from the start.
            Err(err) if offset > 0 && is_range_refused(&err) => {
                tracing::info!(key, error = %err, "the server ignores ranges; downloading from the start");
                return Box::pin(self.read_path(key, path, 0, expected)).await;
            }
            Err(err) => {
                return Err(match self.target().error("download", key, err) {
                    // A missing bucket answers 404 too: HEAD tells.
                    RemoteError::NotFound { .. } => match self.head_path(key, path).await {
                        Err(err) => err,
                        Ok(_) => RemoteError::NotFound {
                            key: key.to_owned(),
                        },
                    },
                    other => other,
                });
            }
        };
        let meta = ObjectMeta {
            key: key.to_owned(),
            size: got.meta.size,
            etag: got.meta.e_tag.clone(),
            modified: Some(got.meta.last_modified.into()),
        };
        // Servers that ignore If-Match on GET are caught here.
        if let Some(expected) = expected
            && !expected.same_version(&meta)
        {
            return Err(RemoteError::PreconditionFailed {
                key: key.to_owned(),
                detail: "the object was changed meanwhile".to_owned(),
            });
        }
        let offset = got.range.start;
        let (remote, owned_key) = (self.clone(), key.to_owned());
        let body = got
            .into_stream()
            .map(move |chunk| chunk.map_err(|e| remote.target().error("download", &owned_key, e)));
        Ok(ObjectRead {
            md5: meta.etag.as_deref().and_then(plain_md5),
            meta,
            offset,
            body: Box::pin(body),
        })
    }

    async fn abort(&self, key: &str, path: &Path, upload_id: &str) -> Result<(), RemoteError> {
        let id = upload_id.to_owned();
        match self.store.abort_multipart(path, &id).await {
            Ok(()) => Ok(()),
            Err(err) => match self.target().error("abort the upload of", key, err) {
                RemoteError::NotFound { .. } => Ok(()),
                other => Err(other),
            },
        }
    }

    /// Aborts the uploads whose abort failed before. One of `key` that
    /// still cannot be aborted for a passing fault is kept and its error
    /// returned, so that an upload retried until it succeeds leaves no parts
    /// behind; those of other keys are kept for the next upload. Each stays
    /// listed until its abort is done, so that an upload of its key running
    /// meanwhile tries too (aborting twice is harmless). Not kept across
    /// restarts (see the module's limits).
    async fn abort_left_over(&self, key: &str) -> Result<(), RemoteError> {
        let pending = self.lock_left_over().clone();
        let mut blocking = None;
        for left in pending {
            let path = self.object_path(&left.key)?;
            match self.abort(&left.key, &path, &left.upload_id).await {
                Err(err) if err.is_transient() => {
                    if left.key == key {
                        blocking.get_or_insert(err);
                    }
                    continue;
                }
                Err(err) => {
                    tracing::warn!(key = left.key, upload_id = left.upload_id, error = %err, "gave up aborting a multipart upload");
                }
                Ok(()) => {}
            }
            self.lock_left_over().retain(|l| *l != left);
        }
        blocking.map_or(Ok(()), Err)
    }

    fn lock_left_over(&self) -> std::sync::MutexGuard<'_, Vec<LeftOver>> {
        self.left_over.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// HEAD of `key`, stored at `path`; a 404 is checked against the bucket,
    /// which a HEAD reply cannot tell apart from a missing key (it has no
    /// body).
    async fn head_path(&self, key: &str, path: &Path) -> Result<Option<ObjectMeta>, RemoteError> {
        let not_found = match self.store.head(path).await {
            Ok(meta) => {
                return Ok(Some(ObjectMeta {
                    key: key.to_owned(),
                    size: meta.size,
                    etag: meta.e_tag,
                    modified: Some(meta.last_modified.into()),
                }));
            }
            Err(err) => self.target().error("look up", key, err),
        };
        let RemoteError::NotFound { .. } = not_found else {
            return Err(not_found);
        };
        // A listing names a missing bucket: an empty page or any object
        // means the bucket is there.
        match self.store.list(Some(path)).next().await {
            Some(Err(err)) => match self.target().error("look up", key, err) {
                RemoteError::NotFound { .. } => Ok(None),
                other => Err(other),
            },
            _ => Ok(None),
        }
    }

    /// Where `key` is stored: under the prefix.
    fn object_path(&self, key: &str) -> Result<Path, RemoteError> {
        validate_key(key)?;
        Path::parse(self.full_key(key)).map_err(|_| RemoteError::InvalidKey {
            key: key.to_owned(),
            reason: "the S3 client cannot represent it",
        })
    }

    fn full_key(&self, key: &str) -> String {
        match self.prefix.as_str() {
            "" => key.to_owned(),
            prefix => format!("{prefix}/{key}"),
        }
    }

    /// The key of a stored object relative to the prefix, if it is under the
    /// prefix and a valid key at all (objects put there by other tools may
    /// not be).
    fn relative_key<'k>(&self, stored: &'k str) -> Option<&'k str> {
        let key = match self.prefix.as_str() {
            "" => stored,
            prefix => stored.strip_prefix(prefix)?.strip_prefix('/')?,
        };
        match validate_key(key) {
            Ok(()) => Some(key),
            Err(err) => {
                tracing::debug!(key = stored, error = %err, "not listed");
                None
            }
        }
    }

    fn target(&self) -> Target<'_> {
        Target {
            endpoint: &self.endpoint,
            bucket: &self.bucket,
        }
    }

    /// Sends every object under `prefix` to `tx`, stopping at the first
    /// error (returned) or when the receiver is gone.
    async fn walk(
        &self,
        prefix: &str,
        tx: &mpsc::Sender<Result<ObjectMeta, RemoteError>>,
    ) -> Result<(), RemoteError> {
        validate_prefix(prefix)?;
        let full = self.full_key(prefix.trim_end_matches('/'));
        let full = full.trim_end_matches('/');
        let start = if full.is_empty() {
            None
        } else {
            Some(Path::parse(full).map_err(|_| RemoteError::InvalidKey {
                key: prefix.to_owned(),
                reason: "the S3 client cannot represent it",
            })?)
        };
        // object_store lists `<start>/`, never a sibling such as `<start>2/`,
        // and fetches the next page only as this loop asks for it.
        let mut objects = self.store.list(start.as_ref());
        while let Some(object) = objects.next().await {
            let object = object.map_err(|err| self.target().error("list", prefix, err))?;
            let Some(key) = self.relative_key(object.location.as_ref()) else {
                continue;
            };
            let meta = ObjectMeta {
                key: key.to_owned(),
                size: object.size,
                etag: object.e_tag,
                modified: Some(object.last_modified.into()),
            };
            if tx.send(Ok(meta)).await.is_err() {
                return Ok(());
            }
        }
        Ok(())
    }
}

/// Whether a ranged GET failed because the server answered with the whole
/// object. object_store reports it only as text in a generic error.
fn is_range_refused(err: &object_store::Error) -> bool {
    let mut source: Option<&dyn std::error::Error> = Some(err);
    while let Some(err) = source {
        if err.to_string().contains("non-partial response") {
            return true;
        }
        source = err.source();
    }
    false
}

/// The MD5 an ETag is, if it has the form of a single-part upload's ETag
/// (32 hex digits, quoted). A multipart ETag has a `-N` suffix and is not
/// an MD5 of the bytes. Limit: with SSE-KMS or SSE-C, AWS gives single-part
/// objects ETags of this form that are no MD5 either; such a download fails
/// its check (and is retried) rather than land unchecked.
fn plain_md5(etag: &str) -> Option<[u8; 16]> {
    let hex = etag.trim_start_matches("W/").trim_matches('"');
    if hex.len() != 32 {
        return None;
    }
    let mut md5 = [0u8; 16];
    for (at, byte) in md5.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * at..2 * at + 2)?, 16).ok()?;
    }
    Some(md5)
}

/// A saved [`MultipartState`], or `None` (logged) if the text is not one:
/// the upload then starts over, which costs time but never correctness.
fn parse_state(key: &str, text: &str) -> Option<MultipartState> {
    match serde_json::from_str(text) {
        Ok(state) => Some(state),
        Err(err) => {
            tracing::warn!(key, error = %err, "ignoring an unreadable multipart state");
            None
        }
    }
}

fn retry_config() -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig::default(),
        max_retries: REQUEST_RETRIES,
        retry_timeout: Duration::from_secs(REQUEST_RETRY_SECS),
    }
}

fn client_options(settings: &S3Settings) -> ClientOptions {
    let largest_body = settings.multipart_threshold.max(settings.part_size);
    let sending = Duration::from_secs(largest_body / SLOWEST_UPLINK_BYTES_PER_SEC);
    ClientOptions::new()
        .with_allow_http(settings.allow_http)
        .with_connect_timeout(CONNECT_TIMEOUT)
        .with_timeout(REQUEST_BASE_TIMEOUT + sending)
}

#[async_trait::async_trait]
impl Remote for S3Remote {
    /// A single PUT is sent with `If-None-Match: *` ([`Precondition::Absent`])
    /// or `If-Match` ([`Precondition::Matches`] with an ETag), and the key
    /// is also looked at with a HEAD just before, for servers that ignore
    /// those headers. A multipart upload has only the HEAD, just before
    /// CompleteMultipartUpload (object_store sends no If-Match there); a
    /// failed precondition aborts the upload.
    async fn put_file_if(
        &self,
        key: &str,
        source: &FsPath,
        precondition: &Precondition,
        progress: &AtomicU64,
        cancel: &CancellationToken,
    ) -> Result<PutReport, RemoteError> {
        let upload = self.upload(key, source, progress, cancel, None, precondition)?;
        self.abort_left_over(key).await?;
        let mut state = None;
        let put = upload.run(&mut state, OnFailure::Abort).await;
        // Still recorded: its abort failed.
        if let Some(state) = state {
            self.lock_left_over().push(LeftOver {
                key: key.to_owned(),
                upload_id: state.upload_id,
            });
        }
        put
    }

    async fn put_file_resumable(
        &self,
        key: &str,
        source: &FsPath,
        precondition: &Precondition,
        progress: &AtomicU64,
        cancel: &CancellationToken,
        journal: &dyn UploadJournal,
    ) -> Result<PutReport, RemoteError> {
        let upload = self.upload(key, source, progress, cancel, Some(journal), precondition)?;
        let mut state = journal.saved().and_then(|text| parse_state(key, &text));
        let report = upload.run(&mut state, OnFailure::Keep).await;
        if report.is_ok() {
            // Nothing left to resume; a failed save is harmless (resuming a
            // completed upload finds it gone and starts over).
            let _ = upload.checkpoint(None).await;
        }
        report
    }

    async fn abandon_upload(&self, key: &str, state: &str) -> Result<(), RemoteError> {
        match parse_state(key, state) {
            Some(state) => self.abort_multipart(key, &state).await,
            None => Ok(()),
        }
    }

    async fn copy(
        &self,
        from_key: &str,
        to_key: &str,
        cancel: &CancellationToken,
    ) -> Result<ObjectMeta, RemoteError> {
        let from = self.object_path(from_key)?;
        let to = self.object_path(to_key)?;
        if cancel.is_cancelled() {
            return Err(RemoteError::Cancelled);
        }
        // Not raced against cancellation: the server finishes a CopyObject
        // it has begun whether or not anyone waits, so reporting `Cancelled`
        // could leave an object behind the caller's back.
        if let Err(err) = self.store.copy(&from, &to).await {
            return Err(match self.target().error("copy", to_key, err) {
                RemoteError::NotFound { .. } => RemoteError::NotFound {
                    key: from_key.to_owned(),
                },
                other => other,
            });
        }
        self.head_path(to_key, &to)
            .await?
            .ok_or_else(|| RemoteError::Io {
                action: "verify the copy at",
                key: to_key.to_owned(),
                source: std::io::Error::other("the copy is missing right after it was made"),
            })
    }

    async fn delete(&self, key: &str) -> Result<(), RemoteError> {
        let path = self.object_path(key)?;
        match self.store.delete(&path).await {
            Ok(()) => Ok(()),
            Err(err) => match self.target().error("delete", key, err) {
                RemoteError::NotFound { .. } => Ok(()),
                other => Err(other),
            },
        }
    }

    fn deletes_in_bulk(&self) -> bool {
        true
    }

    async fn delete_many(&self, keys: &[String]) -> Vec<Result<(), RemoteError>> {
        let paths: Vec<Result<Path, RemoteError>> =
            keys.iter().map(|key| self.object_path(key)).collect();
        let valid: Vec<Path> = paths
            .iter()
            .filter_map(|p| p.as_ref().ok().cloned())
            .collect();
        let mut bulk: Vec<object_store::Result<Path>> = Vec::new();
        // Some servers answer DeleteObjects in a missing bucket with every
        // key deleted; one listing tells (as for `head`), so that a wrong
        // bucket never makes the ledger forget objects.
        if let Some(first) = valid.first()
            && let Some(Err(err)) = self.store.list(Some(first)).next().await
            && let RemoteError::BucketMissing { .. } =
                self.target().error("delete", first.as_ref(), err)
        {
            let missing = || RemoteError::BucketMissing {
                bucket: self.bucket.clone(),
            };
            return paths.into_iter().map(|p| p.and(Err(missing()))).collect();
        }
        if !valid.is_empty() {
            let requested = valid.len();
            let stream = self
                .bulk
                .delete_stream(Box::pin(tokio_stream::iter(valid.into_iter().map(Ok))));
            bulk = stream.collect().await;
            if bulk.len() != requested {
                // The whole request failed (no DeleteObjects on this server,
                // or a fault): each key is tried on its own below.
                tracing::debug!(error = ?bulk.iter().find_map(|r| r.as_ref().err()), "bulk delete failed; deleting one key at a time");
                bulk.clear();
            }
        }
        let mut bulk = bulk.into_iter();
        let mut results = Vec::with_capacity(keys.len());
        for (key, path) in keys.iter().zip(paths) {
            let result = match path {
                Err(err) => Err(err),
                Ok(_) => match bulk.next() {
                    Some(Ok(_)) => Ok(()),
                    // Refused for this key, or not tried: one DELETE says
                    // why, classified like any other.
                    Some(Err(_)) | None => self.delete(key).await,
                },
            };
            results.push(result);
        }
        results
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, RemoteError> {
        let path = self.object_path(key)?;
        self.head_path(key, &path).await
    }

    /// A GET with `Range: bytes=OFFSET-` and, given `expected`, `If-Match`
    /// with its ETag (checked again on the reply, for servers that ignore
    /// it). The MD5 of a single-part object is its ETag.
    async fn read(
        &self,
        key: &str,
        offset: u64,
        expected: Option<&ObjectMeta>,
    ) -> Result<ObjectRead, RemoteError> {
        let path = self.object_path(key)?;
        self.read_path(key, &path, offset, expected).await
    }

    fn list(&self, prefix: &str) -> ObjectStream {
        let (tx, rx) = mpsc::channel(LISTING_QUEUE);
        let (remote, prefix) = (self.clone(), prefix.to_owned());
        tokio::spawn(async move {
            if let Err(err) = remote.walk(&prefix, &tx).await {
                // If the consumer is gone too, nobody is left to tell.
                let _ = tx.send(Err(err)).await;
            }
        });
        Box::pin(ReceiverStream::new(rx))
    }

    fn throttle(&self) -> crate::Throttle {
        self.throttle.clone()
    }

    fn describe(&self) -> String {
        match self.prefix.as_str() {
            "" => format!("s3:{}/{}", self.endpoint, self.bucket),
            prefix => format!("s3:{}/{}/{prefix}", self.endpoint, self.bucket),
        }
    }
}
