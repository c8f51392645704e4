//! The one reader of local bytes: every transfer that sends a file (the
//! `fs` backend's staging, S3 parts, WebDAV bodies), the scanner's hashing,
//! the version store's copies and a resumed download's kept bytes read
//! through [`ChunkReader`], so reading, hashing, counting, cancellation and
//! the bandwidth limits are written once.
//!
//! A chunk is read whole ([`CHUNK_BYTES`] unless the caller asks for less),
//! short only at the end of the file, retrying interrupted reads; it is
//! hashed (BLAKE3, the catalog's content hash) and counted as it is handed
//! out, so what a caller sent and what it hashed are the same bytes by
//! construction. Before each chunk the reader checks its cancellation token,
//! and after reading it waits for the limits to admit the bytes read (not
//! the bytes asked for: the read that finds the end costs nothing).
//!
//! [`ChunkReader`] is blocking, for loops on tokio's blocking pool;
//! [`FileChunks`] drives one from async code, a chunk per trip to the
//! blocking pool (not one per `read` call as with `tokio::fs`, whose
//! hand-offs between threads were a large share of the daemon's CPU with
//! many small photos), and gives up at once on cancellation even while a
//! read hangs on a dead network share.
//!
//! When bytes count as progress stays with the caller: a part of an S3
//! upload counts once the server has it, an `fs` chunk once written.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use tokio_util::sync::CancellationToken;

use crate::error::source_error;
use crate::{Direction, RemoteError, Throttle};

/// Bytes per chunk: the grain of reading, hashing, progress, cancellation
/// and limits, and what one transfer holds in memory at a time.
pub const CHUNK_BYTES: usize = 1 << 20;

/// Why a chunk was not read.
#[derive(Debug, thiserror::Error)]
pub enum ChunkError {
    /// The source could not be read; the caller knows what it was.
    #[error(transparent)]
    Read(#[from] io::Error),
    /// The transfer was cancelled.
    #[error("cancelled")]
    Cancelled,
}

impl ChunkError {
    /// As a [`RemoteError`], a read error being one of `source`'s.
    pub fn on_source(self, source: &Path) -> RemoteError {
        match self {
            Self::Read(err) => source_error(source, err),
            Self::Cancelled => RemoteError::Cancelled,
        }
    }
}

impl From<ChunkError> for io::Error {
    /// For readers without limits, whose only errors are reads.
    fn from(err: ChunkError) -> Self {
        match err {
            ChunkError::Read(err) => err,
            ChunkError::Cancelled => io::ErrorKind::Interrupted.into(),
        }
    }
}

/// The limits a reader obeys while it reads: its transfer's throttle,
/// waited on through the runtime it was made in, and its cancellation.
#[derive(Debug, Clone)]
struct Limits {
    throttle: Throttle,
    cancel: CancellationToken,
    runtime: Option<tokio::runtime::Handle>,
}

/// Reads a source front to back in whole chunks, hashing and counting
/// them; see the module's documentation.
#[derive(Debug)]
pub struct ChunkReader<R = File> {
    source: R,
    hasher: blake3::Hasher,
    read: u64,
    at_end: bool,
    limits: Option<Limits>,
}

impl<R: Read> ChunkReader<R> {
    /// A reader with no limits and no cancellation (hashing a file).
    pub fn new(source: R) -> Self {
        Self {
            source,
            hasher: blake3::Hasher::new(),
            read: 0,
            at_end: false,
            limits: None,
        }
    }

    /// Stops at the next chunk once `cancel` fires, and has each chunk
    /// admitted by `throttle` (going up) before it is handed out. A limited
    /// reader must be made within the tokio runtime the limits wait on.
    #[must_use]
    pub fn with_limits(mut self, throttle: Throttle, cancel: CancellationToken) -> Self {
        let runtime = throttle
            .limits_anything()
            .then(tokio::runtime::Handle::current);
        self.limits = Some(Limits {
            throttle,
            cancel,
            runtime,
        });
        self
    }

    /// Reads the next chunk of `want` bytes (fewer only at the end) into
    /// `buf`, replacing what it held; `Ok(0)` at the end.
    pub fn read_into(&mut self, buf: &mut Vec<u8>, want: usize) -> Result<usize, ChunkError> {
        self.check_cancel()?;
        buf.clear();
        if self.at_end || want == 0 {
            return Ok(0);
        }
        buf.reserve_exact(want);
        let filled = (&mut self.source)
            .take(want as u64)
            .read_to_end(buf)
            .map_err(ChunkError::Read)?;
        if filled < want {
            self.at_end = true;
        }
        self.admit(filled as u64)?;
        self.hasher.update(buf);
        self.read += filled as u64;
        Ok(filled)
    }

    /// The next chunk of `want` bytes as [`Bytes`], in a buffer of its own
    /// (empty at the end); a short last chunk gives back its spare room.
    pub fn next_chunk(&mut self, want: usize) -> Result<Bytes, ChunkError> {
        let mut buf = Vec::new();
        self.read_into(&mut buf, want)?;
        // The transfer budget counts a chunk by its length while it is
        // sent: spare room behind a short last chunk (up to half a chunk
        // per file, were only mostly empty ones shrunk) is memory no one
        // counts. Only the last chunk of a file is ever short.
        buf.shrink_to_fit();
        Ok(Bytes::from(buf))
    }

    /// Whether the last chunk was short, so the source is read to its end.
    pub fn at_end(&self) -> bool {
        self.at_end
    }

    /// Bytes read so far.
    pub fn bytes_read(&self) -> u64 {
        self.read
    }

    /// The number of bytes read and their hash.
    pub fn finish(self) -> (u64, blake3::Hash) {
        (self.read, self.hasher.finalize())
    }

    /// The hash so far, to go on with bytes from elsewhere (a resumed
    /// download goes on from the bytes it kept).
    pub fn into_hasher(self) -> blake3::Hasher {
        self.hasher
    }

    /// Reads to the end, handing each chunk to `each`, in one buffer.
    pub fn for_each_chunk(
        &mut self,
        mut each: impl FnMut(&[u8]) -> io::Result<()>,
    ) -> Result<(), ChunkError> {
        let mut buf = Vec::with_capacity(CHUNK_BYTES);
        while self.read_into(&mut buf, CHUNK_BYTES)? > 0 {
            each(&buf)?;
        }
        Ok(())
    }

    fn check_cancel(&self) -> Result<(), ChunkError> {
        match &self.limits {
            Some(limits) if limits.cancel.is_cancelled() => Err(ChunkError::Cancelled),
            _ => Ok(()),
        }
    }

    fn admit(&self, bytes: u64) -> Result<(), ChunkError> {
        let Some(Limits {
            throttle,
            cancel,
            runtime: Some(runtime),
        }) = &self.limits
        else {
            return Ok(());
        };
        throttle
            .admit_blocking(runtime, Direction::Up, bytes, cancel)
            .map_err(|_| ChunkError::Cancelled)
    }
}

impl ChunkReader<File> {
    /// Opens `path` for reading.
    pub fn open(path: &Path) -> io::Result<Self> {
        File::open(path).map(Self::new)
    }
}

/// Hashes `source` to its end: its size and BLAKE3.
pub fn hash_reader(source: impl Read) -> io::Result<(u64, blake3::Hash)> {
    let mut reader = ChunkReader::new(source);
    reader.for_each_chunk(|_| Ok(()))?;
    Ok(reader.finish())
}

/// A [`ChunkReader`] of a local file driven from async code: opened on the
/// first chunk, each chunk one trip to the blocking pool.
#[derive(Debug)]
pub struct FileChunks {
    path: PathBuf,
    /// `None` before the file is opened and while a chunk is being read.
    reader: Option<ChunkReader>,
    throttle: Throttle,
    cancel: CancellationToken,
    /// Whether the file was opened: a reader missing after that went
    /// away with a read given up on cancellation.
    opened: bool,
}

impl FileChunks {
    /// A reader of `path` obeying `throttle` and `cancel`; errors opening
    /// the file come with the first call.
    pub fn new(path: PathBuf, throttle: Throttle, cancel: CancellationToken) -> Self {
        Self {
            path,
            reader: None,
            throttle,
            cancel,
            opened: false,
        }
    }

    /// The file being read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens the file (if not yet) and returns its size now.
    pub async fn size(&mut self) -> Result<u64, RemoteError> {
        self.with_reader(|reader| {
            let size = reader.source.metadata()?.len();
            Ok::<_, ChunkError>(size)
        })
        .await
    }

    /// The next chunk of up to `want` bytes, fewer only at the end of the
    /// file (empty there).
    pub async fn next_chunk(&mut self, want: usize) -> Result<Bytes, RemoteError> {
        self.with_reader(move |reader| reader.next_chunk(want))
            .await
    }

    /// Whether the file is read to its end.
    pub fn at_end(&self) -> bool {
        self.reader.as_ref().is_some_and(ChunkReader::at_end)
    }

    /// The bytes read and their hash.
    pub fn finish(self) -> (u64, blake3::Hash) {
        match self.reader {
            Some(reader) => reader.finish(),
            None => (0, blake3::Hasher::new().finalize()),
        }
    }

    /// Runs `work` on the reader on the blocking pool, opening the file
    /// first if need be; gives up on cancellation, leaving the read to end
    /// on its own (its reader is dropped with it).
    async fn with_reader<T: Send + 'static>(
        &mut self,
        work: impl FnOnce(&mut ChunkReader) -> Result<T, ChunkError> + Send + 'static,
    ) -> Result<T, RemoteError> {
        if self.cancel.is_cancelled() {
            return Err(RemoteError::Cancelled);
        }
        let taken = self.reader.take();
        if taken.is_none() && self.opened {
            // A read given up on cancellation took the reader with it.
            return Err(RemoteError::Cancelled);
        }
        self.opened = true;
        let (path, throttle, cancel) = (
            self.path.clone(),
            self.throttle.clone(),
            self.cancel.clone(),
        );
        let limits_runtime = tokio::runtime::Handle::current();
        let task = tokio::task::spawn_blocking(move || {
            let mut reader = match taken {
                Some(reader) => reader,
                None => {
                    let _inside = limits_runtime.enter();
                    ChunkReader::open(&path)
                        .map_err(ChunkError::Read)?
                        .with_limits(throttle, cancel)
                }
            };
            let done = work(&mut reader);
            Ok::<_, ChunkError>((reader, done))
        });
        let joined = tokio::select! {
            biased;
            () = self.cancel.cancelled() => return Err(RemoteError::Cancelled),
            joined = task => joined,
        };
        let joined = match joined {
            Ok(joined) => joined,
            // A bug, not the file's fault: it surfaces, as in `fs`.
            Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
            Err(_) => return Err(RemoteError::Cancelled),
        };
        let (reader, done) = joined.map_err(|err| {
            // The file was not opened: the next call tries again, and
            // fails the same way rather than as "cancelled".
            self.opened = false;
            err.on_source(&self.path)
        })?;
        self.reader = Some(reader);
        done.map_err(|err| err.on_source(&self.path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Buckets;
    use std::time::{Duration, Instant};

    fn sample(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 % 251) as u8).collect()
    }

    /// A source that hands out at most 3 bytes per read and is interrupted
    /// every other call, as pipes and network shares may.
    struct Trickle<'a> {
        bytes: &'a [u8],
        calls: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.calls += 1;
            if self.calls.is_multiple_of(2) {
                return Err(io::ErrorKind::Interrupted.into());
            }
            let n = buf.len().min(3).min(self.bytes.len());
            buf[..n].copy_from_slice(&self.bytes[..n]);
            self.bytes = &self.bytes[n..];
            Ok(n)
        }
    }

    #[test]
    fn chunks_are_whole_until_the_end_and_hash_what_was_read() {
        let bytes = sample(25);
        let mut reader = ChunkReader::new(Trickle {
            bytes: &bytes,
            calls: 0,
        });
        let mut lens = Vec::new();
        loop {
            let chunk = reader.next_chunk(10).unwrap();
            if chunk.is_empty() {
                break;
            }
            lens.push(chunk.len());
        }
        assert_eq!(lens, [10, 10, 5]);
        assert!(reader.at_end());
        assert_eq!(reader.finish(), (25, blake3::hash(&bytes)));
    }

    #[test]
    fn a_short_chunk_holds_no_more_memory_than_its_bytes() {
        for len in [CHUNK_BYTES / 4, CHUNK_BYTES * 3 / 4, CHUNK_BYTES - 1] {
            let bytes = sample(len);
            let mut reader = ChunkReader::new(&bytes[..]);
            let chunk = Vec::from(reader.next_chunk(CHUNK_BYTES).unwrap());
            assert_eq!((chunk.len(), chunk.capacity()), (len, len));
        }
    }

    #[test]
    fn a_file_of_whole_chunks_ends_with_an_empty_one() {
        let bytes = sample(20);
        let mut reader = ChunkReader::new(&bytes[..]);
        let mut buf = Vec::new();
        assert_eq!(reader.read_into(&mut buf, 10).unwrap(), 10);
        assert_eq!(reader.read_into(&mut buf, 10).unwrap(), 10);
        assert!(!reader.at_end());
        assert_eq!(reader.read_into(&mut buf, 10).unwrap(), 0);
        assert!(buf.is_empty());
        assert_eq!(reader.bytes_read(), 20);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cancelled_reader_stops_at_the_next_chunk() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.jpg");
        std::fs::write(&path, sample(3 * CHUNK_BYTES)).unwrap();
        let cancel = CancellationToken::new();
        let mut chunks = FileChunks::new(path, Throttle::default(), cancel.clone());
        assert_eq!(chunks.size().await.unwrap(), 3 * CHUNK_BYTES as u64);
        assert_eq!(
            chunks.next_chunk(CHUNK_BYTES).await.unwrap().len(),
            CHUNK_BYTES
        );
        cancel.cancel();
        let err = chunks.next_chunk(CHUNK_BYTES).await.unwrap_err();
        assert!(matches!(err, RemoteError::Cancelled), "{err:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn file_chunks_read_the_file_and_obey_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.jpg");
        let bytes = sample(CHUNK_BYTES + 100);
        std::fs::write(&path, &bytes).unwrap();
        let buckets = Buckets::new();
        buckets.set(Some(2 << 20), None);
        let throttle = Throttle::new(vec![buckets]);
        let mut chunks = FileChunks::new(path, throttle, CancellationToken::new());
        let started = Instant::now();
        // The bucket's burst is an eighth of a second's bytes; the rest of
        // a 1 MiB + 100 B file at 2 MiB/s takes about half a second.
        let mut read = Vec::new();
        while !chunks.at_end() {
            read.extend_from_slice(&chunks.next_chunk(CHUNK_BYTES).await.unwrap());
        }
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert_eq!(read, bytes);
        assert_eq!(chunks.finish(), (bytes.len() as u64, blake3::hash(&bytes)));
    }

    #[tokio::test]
    async fn a_file_that_cannot_be_opened_says_so_on_every_call() {
        let dir = tempfile::tempdir().unwrap();
        let mut chunks = FileChunks::new(
            dir.path().join("gone.jpg"),
            Throttle::default(),
            CancellationToken::new(),
        );
        let err = chunks.size().await.unwrap_err();
        assert!(matches!(err, RemoteError::SourceVanished { .. }), "{err:?}");
        let err = chunks.next_chunk(CHUNK_BYTES).await.unwrap_err();
        assert!(matches!(err, RemoteError::SourceVanished { .. }), "{err:?}");
    }

    #[test]
    fn a_missing_file_is_named_in_its_error() {
        let err = ChunkError::Read(io::ErrorKind::NotFound.into()).on_source(Path::new("/x/a.jpg"));
        assert!(matches!(err, RemoteError::SourceVanished { .. }), "{err:?}");
    }
}
