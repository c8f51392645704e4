//! One multipart upload being filled: parts come from a reader task, go up
//! [`PARTS_IN_FLIGHT`] at a time, and are recorded in a [`MultipartState`] as
//! the server acknowledges them; then the upload is completed.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;

use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::task::{JoinError, JoinSet};

use super::reader::{Part, PartReader, Sent, produce};
use super::upload::Upload;
use crate::RemoteError;

/// Parts sent at once: enough to fill a fast link, few enough that memory
/// stays at a handful of parts.
const PARTS_IN_FLIGHT: usize = 4;
/// S3 numbers parts 1 to 10 000.
const MAX_PARTS: u32 = 10_000;

/// A multipart upload in progress, recorded so that a later attempt can send
/// only the parts still missing. Serialisable, to be kept with the job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MultipartState {
    /// The server's id of the upload.
    pub upload_id: String,
    /// Bytes per part (all but the last), fixed for the upload's life.
    pub part_size: u64,
    /// The parts the server has acknowledged, in no particular order.
    pub parts: Vec<UploadedPart>,
}

/// One acknowledged part of a [`MultipartState`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadedPart {
    /// Zero-based: the part holds bytes `index * part_size ..`.
    pub index: u32,
    /// The server's tag for the part, needed to complete the upload.
    pub etag: String,
    /// BLAKE3 of the part's bytes (hex), to tell on resumption whether the
    /// file still holds them. An S3 part ETag is not always their MD5
    /// (server-side encryption changes it), so it cannot serve.
    pub blake3: String,
}

/// What to do with a multipart upload when the transfer fails or is
/// cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum OnFailure {
    /// Always abort it: nothing is left on the server.
    Abort,
    /// Keep it for the next attempt, unless the failure is permanent.
    Keep,
}

/// Why a multipart pass stopped short.
#[derive(Debug)]
pub(super) enum Stop {
    Failed(RemoteError),
    /// The recorded upload cannot be continued: start a new one.
    Restart(&'static str),
}

impl From<RemoteError> for Stop {
    fn from(err: RemoteError) -> Self {
        Self::Failed(err)
    }
}

/// A part the server acknowledged (or refused).
struct Landed {
    index: u32,
    len: u64,
    blake3: String,
    id: Result<PartId, object_store::Error>,
}

type PartQueue = mpsc::Receiver<Result<Part, RemoteError>>;

/// The upload recorded in `state`, being filled for `upload`.
pub(super) struct Multipart<'u, 'a> {
    pub upload: &'u Upload<'a>,
    pub state: &'u mut MultipartState,
    /// Whether the upload was begun by an earlier attempt: its parts are not
    /// resent if the file still holds the same bytes.
    pub resumed: bool,
    pub on_failure: OnFailure,
}

impl Multipart<'_, '_> {
    /// Sends `read` and then the rest of `reader`, and completes the upload.
    pub async fn finish(mut self, reader: PartReader, read: VecDeque<Part>) -> Result<Sent, Stop> {
        let upload = self.upload;
        // Only for a dropped future: on a returned error, `Upload::settle`
        // decides, and awaits the abort.
        let guard = (self.on_failure == OnFailure::Abort).then(|| AbortOnDrop {
            store: upload.remote.store.clone(),
            path: upload.path.clone(),
            upload_id: self.state.upload_id.clone(),
            armed: true,
        });
        // However this ends, the reader stops with it.
        let _stop_reader = reader.cancel.clone().drop_guard();
        let (tx, rx) = mpsc::channel(1);
        let reading = tokio::spawn(produce(reader, tx));
        let known = self.known();
        let mut in_flight = JoinSet::new();
        let sent = self.send_all(&known, read, rx, &mut in_flight).await;
        if sent.is_err() {
            self.record_finished(&mut in_flight).await;
        }
        // Only on cancellation are parts still in flight: they are cut off
        // before anyone aborts the upload (the server discards a part whose
        // body stops short, though not one whose body was all sent).
        in_flight.shutdown().await;
        let finished = match sent {
            Ok(()) => self.complete(joined(reading.await)?).await,
            Err(stop) => Err(stop),
        };
        if let Some(guard) = guard {
            guard.disarm();
        }
        finished
    }

    /// Parts the server already has (index → BLAKE3), if resuming.
    fn known(&self) -> HashMap<u32, String> {
        if !self.resumed {
            return HashMap::new();
        }
        let parts = self.state.parts.iter();
        parts.map(|p| (p.index, p.blake3.clone())).collect()
    }

    async fn send_all(
        &mut self,
        known: &HashMap<u32, String>,
        mut read: VecDeque<Part>,
        mut queue: PartQueue,
        in_flight: &mut JoinSet<Landed>,
    ) -> Result<(), Stop> {
        let mut reading = true;
        loop {
            while in_flight.len() < PARTS_IN_FLIGHT
                && let Some(part) = read.pop_front()
            {
                if let Some(part) = self.skip_if_sent(known, part)? {
                    in_flight.spawn(self.send(part));
                }
            }
            if in_flight.is_empty() && !reading {
                return Ok(());
            }
            let room = in_flight.len() < PARTS_IN_FLIGHT;
            tokio::select! {
                biased;
                () = self.upload.cancel.cancelled() => return Err(RemoteError::Cancelled.into()),
                landed = in_flight.join_next(), if !in_flight.is_empty() => {
                    let len = self.record(joined_part(landed)?)?;
                    // Parts in flight keep going meanwhile; a part whose save
                    // is cut short by a crash is just sent again.
                    self.upload.checkpoint(Some(self.state)).await?;
                    // Counted once saved: progress shown is progress kept.
                    self.upload.progress.fetch_add(len, Ordering::Relaxed);
                }
                next = queue.recv(), if reading && room => match next {
                    Some(part) => read.push_back(part?),
                    None => reading = false,
                },
            }
        }
    }

    /// `None` if the server already has this part with the same bytes.
    fn skip_if_sent(&self, known: &HashMap<u32, String>, part: Part) -> Result<Option<Part>, Stop> {
        if part.index >= MAX_PARTS {
            return Err(self
                .upload
                .io_error(
                    "upload",
                    std::io::ErrorKind::FileTooLarge,
                    "the file needs more than 10000 parts; raise the remote's part_size",
                )
                .into());
        }
        match known.get(&part.index) {
            None => Ok(Some(part)),
            Some(hash) if *hash == part.blake3 => {
                self.upload.progress.fetch_add(part.len, Ordering::Relaxed);
                Ok(None)
            }
            Some(_) => Err(Stop::Restart("the file changed since the upload began")),
        }
    }

    fn send(&self, part: Part) -> impl Future<Output = Landed> + Send + 'static {
        let store = self.upload.remote.store.clone();
        let (path, upload_id) = (self.upload.path.clone(), self.state.upload_id.clone());
        async move {
            let payload = part.chunks.into_iter().collect();
            let id = store
                .put_part(&path, &upload_id, part.index as usize, payload)
                .await;
            // Given back only now: the request held the bytes until here.
            drop(part.reservation);
            Landed {
                index: part.index,
                len: part.len,
                blake3: part.blake3,
                id,
            }
        }
    }

    /// Records an acknowledged part in the state; returns its length.
    fn record(&mut self, landed: Landed) -> Result<u64, Stop> {
        let id = landed
            .id
            .map_err(|err| self.stop("upload a part of", err))?;
        self.state.parts.retain(|p| p.index != landed.index);
        self.state.parts.push(UploadedPart {
            index: landed.index,
            etag: id.content_id,
            blake3: landed.blake3,
        });
        Ok(landed.len)
    }

    /// After a failure: waits for the parts in flight, unless cancelled,
    /// and records those that land, so a resumed upload need not send them
    /// again. Cutting them off instead would not do: a part whose body was
    /// all sent can still land after the upload is aborted, and stay.
    async fn record_finished(&mut self, in_flight: &mut JoinSet<Landed>) {
        let cancel = self.upload.cancel;
        let mut recorded = 0;
        loop {
            let finished = tokio::select! {
                biased;
                () = cancel.cancelled() => break,
                finished = in_flight.join_next() => finished,
            };
            match finished {
                // A part that failed too adds nothing to the error at hand.
                Some(Ok(landed)) => recorded += self.record(landed).unwrap_or(0),
                Some(Err(_)) => {}
                None => break,
            }
        }
        // Best effort: unsaved parts are only sent again.
        if recorded > 0 && self.upload.checkpoint(Some(self.state)).await.is_ok() {
            self.upload.progress.fetch_add(recorded, Ordering::Relaxed);
        }
    }

    /// Completes the upload of all the parts `reader` read. Not raced against
    /// cancellation: once sent, the completion may take effect whether or not
    /// anyone waits for the reply.
    async fn complete(&mut self, reader: PartReader) -> Result<Sent, Stop> {
        let parts = self.parts_in_order(reader.count)?;
        let upload = self.upload;
        upload.check_precondition().await?;
        let store = &upload.remote.store;
        let completed = match store
            .complete_multipart(&upload.path, &self.state.upload_id, parts)
            .await
        {
            Ok(completed) => completed,
            Err(err) => {
                return Err(match upload.error("complete the upload of", err) {
                    // The HTTP client resends a completion whose reply was
                    // lost, and the server answers the second one 404 or
                    // 403: the upload may well be complete. Not a reason to
                    // give up: the next attempt finds out (the upload is gone,
                    // so it starts over) or completes it.
                    RemoteError::NotFound { .. } | RemoteError::PermissionDenied { .. }
                        if self.resumed =>
                    {
                        Stop::Restart("the server no longer knows the upload")
                    }
                    RemoteError::NotFound { .. } | RemoteError::PermissionDenied { .. } => {
                        Stop::Failed(upload.io_error(
                            "complete the upload of",
                            std::io::ErrorKind::Other,
                            "the server refused to complete the upload, which a lost reply to an earlier completion also causes; retrying",
                        ))
                    }
                    other => Stop::Failed(other),
                });
            }
        };
        Ok(reader.sent(completed.e_tag))
    }

    /// The part ids for completion, in order; the recorded parts must be
    /// exactly those of the file as read now.
    fn parts_in_order(&mut self, count: u32) -> Result<Vec<PartId>, Stop> {
        let parts = &mut self.state.parts;
        parts.sort_by_key(|p| p.index);
        let contiguous =
            parts.len() == count as usize && parts.iter().zip(0..).all(|(p, i)| p.index == i);
        if !contiguous {
            return Err(Stop::Restart("the recorded parts do not match the file"));
        }
        let ids = parts.iter().map(|p| PartId {
            content_id: p.etag.clone(),
        });
        Ok(ids.collect())
    }

    fn stop(&self, action: &'static str, err: object_store::Error) -> Stop {
        match self.upload.error(action, err) {
            // The server no longer knows an upload begun earlier (expired by
            // a lifecycle rule, or aborted by someone else).
            RemoteError::NotFound { .. } if self.resumed => {
                Stop::Restart("the server no longer knows the upload")
            }
            other => Stop::Failed(other),
        }
    }
}

/// A panic in a task resurfaces here; a task torn down by a shutting-down
/// runtime counts as cancelled.
fn joined<T>(outcome: Result<T, JoinError>) -> Result<T, Stop> {
    match outcome {
        Ok(value) => Ok(value),
        Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
        Err(_) => Err(RemoteError::Cancelled.into()),
    }
}

fn joined_part(landed: Option<Result<Landed, JoinError>>) -> Result<Landed, Stop> {
    joined(landed.ok_or(RemoteError::Cancelled)?)
}

/// Aborts a multipart upload from a spawned task if dropped armed: the
/// owning future was dropped mid-transfer.
struct AbortOnDrop {
    store: object_store::aws::AmazonS3,
    path: Path,
    upload_id: String,
    armed: bool,
}

impl AbortOnDrop {
    fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(upload_id = %self.upload_id, "left a multipart upload behind: no runtime to abort it");
            return;
        };
        let (store, path, id) = (
            self.store.clone(),
            self.path.clone(),
            self.upload_id.clone(),
        );
        runtime.spawn(async move {
            if let Err(err) = store.abort_multipart(&path, &id).await {
                tracing::warn!(upload_id = %id, error = %err, "could not abort a dropped multipart upload");
            }
        });
    }
}
