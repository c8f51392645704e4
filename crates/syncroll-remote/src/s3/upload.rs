//! Uploads to S3: the file read part by part and hashed as read, sent as one
//! PUT when small and as a multipart upload when large, then checked with a
//! HEAD.
//!
//! What happens to a multipart upload that does not finish:
//! - [`S3Remote::put_file`](crate::Remote::put_file) aborts it on any error,
//!   on cancellation, and (from a spawned task) when its future is dropped,
//!   so no parts are left behind to be billed.
//! - [`S3Remote::put_file_resumable`] records it in a [`MultipartState`] as
//!   parts land and keeps it across transient faults and cancellation, so the
//!   next attempt sends only the missing parts. That attempt re-reads the
//!   parts already sent to hash the whole file, and starts over if one of
//!   them no longer hashes the same (the file changed in between).

use std::collections::VecDeque;
use std::path::Path as FsPath;
use std::sync::atomic::{AtomicU64, Ordering};

use object_store::multipart::MultipartStore;
use object_store::path::Path;
use object_store::{ObjectStore, PutMode, PutOptions, PutPayload, UpdateVersion};
use tokio_util::sync::CancellationToken;

use super::S3Remote;
use super::multipart::{Multipart, MultipartState, OnFailure, Stop};
use super::reader::{Part, PartReader, Sent};
use super::settings::PART_BYTES;
use crate::{Precondition, PutReport, RemoteError, UploadJournal};

/// One upload of a local file to a key.
#[derive(Debug)]
pub(super) struct Upload<'a> {
    pub remote: &'a S3Remote,
    pub key: &'a str,
    pub path: Path,
    pub source: &'a FsPath,
    pub progress: &'a AtomicU64,
    pub cancel: &'a CancellationToken,
    /// Where the multipart state is saved as it changes, if anywhere.
    pub journal: Option<&'a dyn UploadJournal>,
    /// What the key must hold when the upload lands.
    pub precondition: &'a Precondition,
}

impl Upload<'_> {
    /// Uploads the file, resuming the upload in `state` if there is one and
    /// updating `state` as parts land; see the module comment.
    pub async fn run(
        &self,
        state: &mut Option<MultipartState>,
        on_failure: OnFailure,
    ) -> Result<PutReport, RemoteError> {
        if self.cancel.is_cancelled() {
            return Err(RemoteError::Cancelled);
        }
        let progress_before = self.progress.load(Ordering::Relaxed);
        let sent = match self.resume(state, on_failure).await {
            Ok(Some(sent)) => Ok(sent),
            Ok(None) => self.fresh(state, on_failure).await,
            Err(Stop::Failed(err)) => Err(err),
            Err(Stop::Restart(why)) => {
                tracing::info!(key = self.key, why, "starting the multipart upload over");
                self.discard(state).await;
                if state.is_some() {
                    // The old upload could not be aborted: keep it recorded
                    // (a new one would replace it in the journal and orphan
                    // its parts), and try again later.
                    Err(self.io_error(
                        "start over the upload of",
                        std::io::ErrorKind::Other,
                        "the earlier upload of this file could not be aborted; retrying",
                    ))
                } else {
                    // The parts the resumption counted are sent again.
                    self.progress.store(progress_before, Ordering::Relaxed);
                    self.fresh(state, on_failure).await
                }
            }
        };
        match sent {
            Ok(sent) => self.verify(sent).await,
            Err(err) => Err(self.settle(err, state, on_failure).await),
        }
    }

    /// Continues the upload recorded in `state`, if there is one.
    async fn resume(
        &self,
        state: &mut Option<MultipartState>,
        on_failure: OnFailure,
    ) -> Result<Option<Sent>, Stop> {
        let Some(recorded) = state.as_mut() else {
            return Ok(None);
        };
        // Anything else is not a state this crate wrote.
        if !PART_BYTES.contains(&recorded.part_size) {
            return Err(Stop::Restart("the recorded part size is out of range"));
        }
        let reader = self.open(recorded.part_size);
        let multipart = Multipart {
            upload: self,
            state: recorded,
            resumed: true,
            on_failure,
        };
        let sent = multipart.finish(reader, VecDeque::new()).await?;
        *state = None;
        Ok(Some(sent))
    }

    /// Starts from the first byte: one PUT if the file turns out to be no
    /// larger than the threshold, else a new multipart upload.
    async fn fresh(
        &self,
        state: &mut Option<MultipartState>,
        on_failure: OnFailure,
    ) -> Result<Sent, RemoteError> {
        let mut reader = self.open(self.remote.part_size);
        let threshold = self.remote.multipart_threshold;
        // A file small enough to go whole is reserved whole, at once, and
        // read to the end: it still goes up whole if it shrank, and as a
        // multipart upload if it grew past the threshold meanwhile. A
        // larger one goes part by part from the start.
        let mut read = VecDeque::new();
        let size = reader.size().await?;
        // Reserved whole only if the budget can hold it whole.
        if size <= threshold.min(self.remote.budget.bytes()) {
            reader.prepay(size).await;
            let mut total = 0;
            while total <= threshold {
                let Some(part) = reader.next_part().await? else {
                    reader.release_prepaid();
                    return self.put_whole(reader, read).await;
                };
                total += part.len;
                read.push_back(part);
            }
            reader.release_prepaid();
        }
        let recorded = state.insert(MultipartState {
            upload_id: self.create().await?,
            part_size: self.remote.part_size,
            parts: Vec::new(),
        });
        // Before any part goes up: whatever happens next, the upload can be
        // found again, to be continued or aborted.
        if let Err(err) = self.checkpoint(Some(recorded)).await {
            let upload_id = recorded.upload_id.clone();
            let _ = self.remote.abort(self.key, &self.path, &upload_id).await;
            *state = None;
            return Err(err);
        }
        let multipart = Multipart {
            upload: self,
            state: recorded,
            resumed: false,
            on_failure,
        };
        match multipart.finish(reader, read).await {
            Ok(sent) => {
                *state = None;
                Ok(sent)
            }
            Err(Stop::Failed(err)) => Err(err),
            // Only a recorded upload can need restarting.
            Err(Stop::Restart(why)) => Err(self.io_error("upload", std::io::ErrorKind::Other, why)),
        }
    }

    /// Sends what was read, the whole file, as one PUT.
    async fn put_whole(
        &self,
        reader: PartReader,
        read: VecDeque<Part>,
    ) -> Result<Sent, RemoteError> {
        // The bytes stay reserved until the request is done with them.
        let mut reserved = Vec::with_capacity(read.len());
        let mut chunks = Vec::new();
        for part in read {
            reserved.push(part.reservation);
            chunks.extend(part.chunks);
        }
        let payload: PutPayload = chunks.into_iter().collect();
        self.check_precondition().await?;
        let options = PutOptions {
            mode: self.put_mode(),
            ..PutOptions::default()
        };
        // Dropping the request mid-body leaves nothing: S3 stores an object
        // only once its whole body has arrived.
        let put = tokio::select! {
            biased;
            () = self.cancel.cancelled() => return Err(RemoteError::Cancelled),
            put = self.remote.store.put_opts(&self.path, payload, options) => put,
        };
        drop(reserved);
        let put = put.map_err(|err| self.error("upload", err))?;
        let sent = reader.sent(put.e_tag);
        self.progress.fetch_add(sent.size, Ordering::Relaxed);
        Ok(sent)
    }

    /// Looks at the key just before the object lands: the check for
    /// servers that ignore conditional headers, and the only one for a
    /// multipart upload (object_store cannot send If-Match with
    /// CompleteMultipartUpload).
    pub async fn check_precondition(&self) -> Result<(), RemoteError> {
        if *self.precondition == Precondition::None {
            return Ok(());
        }
        let found = self.remote.head_path(self.key, &self.path).await?;
        self.precondition.check(self.key, found.as_ref())
    }

    /// The conditional PUT for the precondition: `If-None-Match: *` for
    /// [`Precondition::Absent`], `If-Match` with the ETag for
    /// [`Precondition::Matches`], where the server honours them.
    fn put_mode(&self) -> PutMode {
        match self.precondition {
            Precondition::None | Precondition::Matches { etag: None, .. } => PutMode::Overwrite,
            Precondition::Absent => PutMode::Create,
            Precondition::Matches {
                etag: Some(etag), ..
            } => PutMode::Update(UpdateVersion {
                e_tag: Some(etag.clone()),
                version: None,
            }),
        }
    }

    async fn create(&self) -> Result<String, RemoteError> {
        let created = tokio::select! {
            biased;
            () = self.cancel.cancelled() => return Err(RemoteError::Cancelled),
            created = self.remote.store.create_multipart(&self.path) => created,
        };
        created.map_err(|err| self.error("start uploading", err))
    }

    /// Checks that the object is there with the size sent, and reports.
    async fn verify(&self, sent: Sent) -> Result<PutReport, RemoteError> {
        let Some(found) = self.remote.head_path(self.key, &self.path).await? else {
            return Err(self.io_error(
                "verify the upload of",
                std::io::ErrorKind::Other,
                "the object is missing right after its upload",
            ));
        };
        if found.size != sent.size {
            tracing::warn!(
                key = self.key,
                sent = sent.size,
                found = found.size,
                "size mismatch after upload"
            );
            return Err(self.io_error(
                "verify the upload of",
                std::io::ErrorKind::Other,
                "the remote holds a different number of bytes than were sent (another writer, or a fault on the server)",
            ));
        }
        Ok(PutReport {
            size: sent.size,
            blake3: sent.blake3.into(),
            etag: sent.etag.or(found.etag),
            modified: found.modified,
        })
    }

    /// After a failure: aborts the recorded upload unless it is to be
    /// resumed, and passes the error on.
    async fn settle(
        &self,
        err: RemoteError,
        state: &mut Option<MultipartState>,
        on_failure: OnFailure,
    ) -> RemoteError {
        let resumable = err.is_transient() || err.is_cancelled();
        if on_failure == OnFailure::Abort || !resumable {
            self.discard(state).await;
        }
        err
    }

    /// Aborts the upload in `state`, if any, and forgets it once the server
    /// has. A failed abort keeps it, for a later
    /// [`S3Remote::abort_multipart`].
    async fn discard(&self, state: &mut Option<MultipartState>) {
        let Some(recorded) = state.as_ref() else {
            return;
        };
        match self
            .remote
            .abort(self.key, &self.path, &recorded.upload_id)
            .await
        {
            Ok(()) => {
                *state = None;
                // A failed save leaves a state naming an upload the server
                // no longer knows: resuming it starts over, aborting it is
                // `Ok`.
                let _ = self.checkpoint(None).await;
            }
            Err(err) => {
                tracing::warn!(key = self.key, upload_id = %recorded.upload_id, error = %err, "could not abort a multipart upload");
            }
        }
    }

    /// Saves `state` in the journal, if there is one.
    pub async fn checkpoint(&self, state: Option<&MultipartState>) -> Result<(), RemoteError> {
        let Some(journal) = self.journal else {
            return Ok(());
        };
        let text = state.map(|s| serde_json::to_string(s).expect("a multipart state serialises"));
        Ok(journal.save(text).await?)
    }

    fn open(&self, part_size: u64) -> PartReader {
        let (budget, throttle) = (self.remote.budget.clone(), self.remote.throttle.clone());
        PartReader::open(
            self.source.to_owned(),
            part_size,
            budget,
            throttle,
            self.cancel,
        )
    }

    pub fn error(&self, action: &'static str, err: object_store::Error) -> RemoteError {
        self.remote.target().error(action, self.key, err)
    }

    pub fn io_error(
        &self,
        action: &'static str,
        kind: std::io::ErrorKind,
        detail: &'static str,
    ) -> RemoteError {
        RemoteError::Io {
            action,
            key: self.key.to_owned(),
            source: std::io::Error::new(kind, detail),
        }
    }
}
