//! Reading the file to upload one part at a time, in order, in chunks of
//! [`CHUNK_BYTES`], hashing each part and the whole file as it goes.
//!
//! Every part's bytes are reserved in the [`TransferBudget`] before they are
//! read, in one acquisition while the reader holds nothing it is still to
//! send (the parts before it are in flight, or the whole file was reserved
//! up front), and stay reserved until the part's request is done.

use std::path::PathBuf;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::error::source_error;
use crate::{FileChunks, RemoteError, Reservation, Throttle, TransferBudget};

/// Bytes read and hashed per step; also the cancellation grain while reading.
const CHUNK_BYTES: u64 = crate::CHUNK_BYTES as u64;

/// A run of the file's bytes: one part, as read.
#[derive(Debug)]
pub(super) struct Part {
    /// Zero-based position: the part starts at `index * part_size`.
    pub index: u32,
    pub len: u64,
    pub chunks: Vec<Bytes>,
    /// BLAKE3 of the part's bytes, hex.
    pub blake3: String,
    /// The part's bytes in the budget, given back when it is dropped: keep
    /// it until the request that sends the part is done.
    pub reservation: Reservation,
}

/// What was read and sent: the file's size and hash, and the server's tag for
/// the new object.
#[derive(Debug)]
pub(super) struct Sent {
    pub size: u64,
    pub blake3: blake3::Hash,
    pub etag: Option<String>,
}

/// The file being uploaded, read front to back by the one chunk reader
/// ([`FileChunks`]: a chunk per trip to the blocking pool, hashed, admitted
/// by the upload limits, stopped by cancellation).
#[derive(Debug)]
pub(super) struct PartReader {
    chunks: FileChunks,
    /// A child of the caller's token, so that the pipeline can also stop the
    /// reader alone.
    pub cancel: CancellationToken,
    part_size: u64,
    /// Parts read so far.
    pub count: u32,
    budget: TransferBudget,
    /// Bytes reserved ahead for the parts to come (a file sent whole is
    /// reserved at once); parts take their share of it as they are read.
    /// While it is `Some`, parts are read before anything is sent, so no
    /// part may wait for bytes: what it lacks it takes only if free.
    prepaid: Option<Reservation>,
}

impl PartReader {
    /// A reader of `source`; errors opening it come with the first part.
    pub fn open(
        source: PathBuf,
        part_size: u64,
        budget: TransferBudget,
        throttle: Throttle,
        cancel: &CancellationToken,
    ) -> Self {
        let cancel = cancel.child_token();
        Self {
            chunks: FileChunks::new(source, throttle, cancel.clone()),
            budget,
            prepaid: None,
            cancel,
            part_size,
            count: 0,
        }
    }

    /// The file's size now, opening it.
    pub async fn size(&mut self) -> Result<u64, RemoteError> {
        self.chunks.size().await
    }

    /// Reserves `bytes` for the parts to come, at once (the reader holds
    /// nothing yet).
    pub async fn prepay(&mut self, bytes: u64) {
        debug_assert!(self.prepaid.is_none() && self.count == 0);
        self.prepaid = Some(self.budget.reserve(bytes).await);
    }

    /// Gives back what was reserved ahead and not read; parts from here on
    /// are reserved one by one.
    pub fn release_prepaid(&mut self) {
        self.prepaid = None;
    }

    /// The next part, or `None` at the end of the file.
    pub async fn next_part(&mut self) -> Result<Option<Part>, RemoteError> {
        // Nothing reserved ahead: this part's bytes are reserved now, and
        // what the part turns out not to need is given back once read.
        let mut reservation = match self.prepaid {
            None => self.budget.reserve(self.part_size).await,
            Some(_) => Reservation::none(),
        };
        let mut chunks = Vec::new();
        let mut hasher = blake3::Hasher::new();
        let mut len = 0;
        while len < self.part_size && !self.chunks.at_end() {
            let want = CHUNK_BYTES.min(self.part_size - len);
            let chunk = self.chunks.next_chunk(want as usize).await?;
            if chunk.is_empty() {
                break;
            }
            // The whole file's hash is the chunk reader's.
            hasher.update(&chunk);
            len += chunk.len() as u64;
            chunks.push(chunk);
        }
        if len == 0 {
            return Ok(None);
        }
        if let Some(prepaid) = &mut self.prepaid {
            reservation = prepaid.split_off(len);
            if reservation.bytes() < len {
                // The file grew past what was reserved for it. Waiting for
                // more while holding this could wait for ever; a file still
                // being written is better sent once it is done anyway.
                let more = self.budget.try_reserve(len - reservation.bytes());
                let Some(more) = more else {
                    return Err(source_error(
                        self.chunks.path(),
                        std::io::Error::new(
                            std::io::ErrorKind::Interrupted,
                            "the file grew while it was being read; it is sent again later",
                        ),
                    ));
                };
                reservation.merge(more);
            }
        } else {
            reservation.shrink_to(len);
        }
        let index = self.count;
        self.count += 1;
        Ok(Some(Part {
            index,
            len,
            chunks,
            blake3: hasher.finalize().to_hex().to_string(),
            reservation,
        }))
    }

    /// What was sent, once the file is read to its end.
    pub fn sent(self, etag: Option<String>) -> Sent {
        let (size, blake3) = self.chunks.finish();
        Sent { size, blake3, etag }
    }
}

/// Reads parts into `parts` until the end of the file, an error (sent on),
/// or the receiver going away; hands the reader back for its totals.
pub(super) async fn produce(
    mut reader: PartReader,
    parts: mpsc::Sender<Result<Part, RemoteError>>,
) -> PartReader {
    while let Some(next) = reader.next_part().await.transpose() {
        let failed = next.is_err();
        if parts.send(next).await.is_err() || failed {
            break;
        }
    }
    reader
}
