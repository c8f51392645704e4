//! Reading the file to upload one part at a time, in order, in chunks of
//! [`CHUNK_BYTES`], hashing each part and the whole file as it goes.

use std::path::PathBuf;

use bytes::Bytes;
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::RemoteError;
use crate::error::source_error;

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
#[derive(Debug)]
pub(super) struct PartReader {
    file: tokio::fs::File,
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
}

impl PartReader {
    pub async fn open(
        source: PathBuf,
        part_size: u64,
        cancel: &CancellationToken,
    ) -> Result<Self, RemoteError> {
        let file = tokio::fs::File::open(&source)
            .await
            .map_err(|err| source_error(&source, err))?;
        Ok(Self {
            file,
            source,
            cancel: cancel.child_token(),
            part_size,
            count: 0,
            size: 0,
            whole: blake3::Hasher::new(),
            at_end: false,
        })
    }

    /// The next part, or `None` at the end of the file.
    pub async fn next_part(&mut self) -> Result<Option<Part>, RemoteError> {
        let mut chunks = Vec::new();
        let mut hasher = blake3::Hasher::new();
        let mut len = 0;
        while len < self.part_size && !self.at_end {
            let chunk = self
                .read_chunk(CHUNK_BYTES.min(self.part_size - len))
                .await?;
            if chunk.is_empty() {
                self.at_end = true;
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
        self.size += len;
        let index = self.count;
        self.count += 1;
        Ok(Some(Part {
            index,
            len,
            chunks,
            blake3: hasher.finalize().to_hex().to_string(),
        }))
    }

    /// Up to `want` bytes; fewer only at the end of the file. Gives up on
    /// cancellation even while a read is stuck (a hung network share).
    async fn read_chunk(&mut self, want: u64) -> Result<Bytes, RemoteError> {
        let cancel = self.cancel.clone();
        if cancel.is_cancelled() {
            return Err(RemoteError::Cancelled);
        }
        tokio::select! {
            biased;
            () = cancel.cancelled() => Err(RemoteError::Cancelled),
            read = self.fill(want) => read,
        }
    }

    async fn fill(&mut self, want: u64) -> Result<Bytes, RemoteError> {
        let mut buf = Vec::with_capacity(usize::try_from(want).unwrap_or(usize::MAX));
        let mut limited = (&mut self.file).take(want);
        loop {
            match limited.read_buf(&mut buf).await {
                Ok(0) => break,
                Ok(_) => {}
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
                Err(err) => return Err(source_error(&self.source, err)),
            }
        }
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
