//! Reading the file to upload one part at a time, in order, in chunks of
//! [`CHUNK_BYTES`], hashing each part and the whole file as it goes.
//!
//! Every part's bytes are reserved in the [`TransferBudget`] before they are
//! read, in one acquisition while the reader holds nothing it is still to
//! send (the parts before it are in flight, or the whole file was reserved
//! up front), and stay reserved until the part's request is done.

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::error::source_error;
use crate::{Direction, RemoteError, Reservation, Throttle, TransferBudget};

/// Bytes read and hashed per step; also the cancellation grain while reading.
const CHUNK_BYTES: u64 = 1 << 20;

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

/// The file being uploaded, read front to back.
///
/// Each chunk is one trip to the blocking pool (the file is opened on the
/// first), not one per `read` call as with `tokio::fs`: with many small
/// photos those hand-offs between threads were a large share of the
/// daemon's CPU.
#[derive(Debug)]
pub(super) struct PartReader {
    /// Opened with the first chunk.
    file: Option<Arc<std::fs::File>>,
    source: PathBuf,
    /// A child of the caller's token, so that the pipeline can also stop the
    /// reader alone.
    pub cancel: CancellationToken,
    part_size: u64,
    /// Parts read so far.
    pub count: u32,
    size: u64,
    whole: blake3::Hasher,
    at_end: bool,
    budget: TransferBudget,
    /// Each chunk passes the upload limits before it is read.
    throttle: Throttle,
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
        Self {
            budget,
            throttle,
            prepaid: None,
            file: None,
            source,
            cancel: cancel.child_token(),
            part_size,
            count: 0,
            size: 0,
            whole: blake3::Hasher::new(),
            at_end: false,
        }
    }

    /// The file's size now, opening it.
    pub async fn size(&mut self) -> Result<u64, RemoteError> {
        let source = self.source.clone();
        let opened = tokio::task::spawn_blocking(move || {
            let file = std::fs::File::open(&source)?;
            let size = file.metadata()?.len();
            Ok::<_, std::io::Error>((Arc::new(file), size))
        });
        let (file, size) = opened
            .await
            .map_err(|err| source_error(&self.source, std::io::Error::other(err)))?
            .map_err(|err| source_error(&self.source, err))?;
        self.file = Some(file);
        Ok(size)
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
        while len < self.part_size && !self.at_end {
            let want = CHUNK_BYTES.min(self.part_size - len);
            let chunk = self.read_chunk(want).await?;
            // A chunk is read to `want` unless the file ends first.
            if (chunk.len() as u64) < want {
                self.at_end = true;
            }
            if chunk.is_empty() {
                break;
            }
            hasher.update(&chunk);
            self.whole.update(&chunk);
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
                        &self.source,
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
        self.size += len;
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

    /// Up to `want` bytes; fewer only at the end of the file. Gives up on
    /// cancellation even while a read is stuck (a hung network share).
    async fn read_chunk(&mut self, want: u64) -> Result<Bytes, RemoteError> {
        let cancel = self.cancel.clone();
        if cancel.is_cancelled() {
            return Err(RemoteError::Cancelled);
        }
        let chunk = tokio::select! {
            biased;
            () = cancel.cancelled() => Err(RemoteError::Cancelled),
            read = self.fill(want) => read,
        }?;
        // What was read, not what was asked for: the read past a file's end
        // that finds it costs nothing.
        let len = chunk.len() as u64;
        self.throttle.admit(Direction::Up, len, &cancel).await?;
        Ok(chunk)
    }

    async fn fill(&mut self, want: u64) -> Result<Bytes, RemoteError> {
        let file = self.file.clone();
        let source = self.source.clone();
        let read = tokio::task::spawn_blocking(move || {
            let file = match file {
                Some(file) => file,
                None => Arc::new(std::fs::File::open(&source)?),
            };
            let mut buf = Vec::with_capacity(usize::try_from(want).unwrap_or(usize::MAX));
            (&*file).take(want).read_to_end(&mut buf)?;
            Ok::<_, std::io::Error>((file, buf))
        });
        let (file, mut buf) = read
            .await
            .map_err(|err| source_error(&self.source, std::io::Error::other(err)))?
            .map_err(|err| source_error(&self.source, err))?;
        self.file = Some(file);
        // The last chunk of a small file should not pin a whole chunk.
        if buf.len() < buf.capacity() / 2 {
            buf.shrink_to_fit();
        }
        Ok(Bytes::from(buf))
    }

    /// What was sent, once the file is read to its end.
    pub fn sent(self, etag: Option<String>) -> Sent {
        Sent {
            size: self.size,
            blake3: self.whole.finalize(),
            etag,
        }
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
