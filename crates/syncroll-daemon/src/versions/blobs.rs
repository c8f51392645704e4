//! The version store's bytes: one immutable file per distinct BLAKE3
//! under `<data dir>/versions` (`ab/cdef….blob`), written through a
//! temporary in `versions/tmp`, and the streaming copy both directions use.
//!
//! Everything here is blocking file I/O; callers run it on blocking
//! threads. Memory is one buffer per copy, whatever the file's size.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use syncroll_core::ContentHash;
use syncroll_remote::ChunkReader;

/// The folder of temporaries inside the store; emptied at start.
const TMP_DIR: &str = "tmp";
/// A blob's file name ends so.
pub const BLOB_SUFFIX: &str = ".blob";

/// Names temporaries apart within one daemon (the instance lock keeps
/// other daemons out of the data dir).
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The content-addressed folder.
#[derive(Debug, Clone)]
pub struct Blobs {
    dir: PathBuf,
}

/// What a streaming copy saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Copied {
    pub hash: ContentHash,
    pub size: u64,
}

/// What [`Blobs::keep`] stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kept {
    pub copied: Copied,
    /// The bytes were not in the store before.
    pub fresh: bool,
}

impl Blobs {
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Creates the store's folders, owner-only, and removes temporaries a
    /// crash left behind; returns how many it removed.
    pub fn prepare(&self) -> io::Result<u64> {
        private_dir(&self.dir)?;
        let tmp = self.dir.join(TMP_DIR);
        private_dir(&tmp)?;
        let mut removed = 0;
        for entry in std::fs::read_dir(&tmp)? {
            std::fs::remove_file(entry?.path())?;
            removed += 1;
        }
        Ok(removed)
    }

    /// Where the bytes with `hash` live.
    pub fn path_of(&self, hash: &ContentHash) -> PathBuf {
        let hex = hash.to_hex();
        self.dir
            .join(&hex[..2])
            .join(format!("{}{BLOB_SUFFIX}", &hex[2..]))
    }

    /// Copies the file at `source` into the store: streamed into a
    /// temporary while hashing, fsynced, renamed to its content address
    /// (or dropped when those bytes are already there), folders fsynced.
    /// When this returns, the bytes are durable under [`Self::path_of`];
    /// `fresh` says whether this call put them there.
    pub fn keep(&self, source: &mut File) -> io::Result<Kept> {
        // Made at start too, unless the disk refused then.
        private_dir(&self.dir.join(TMP_DIR))?;
        let temp = self.dir.join(TMP_DIR).join(format!(
            "{}-{}.tmp",
            std::process::id(),
            TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let written = write_temp(&temp, |out| copy_hashing(source, out));
        let copied = match written {
            Ok(copied) => copied,
            Err(e) => {
                let _ = std::fs::remove_file(&temp);
                return Err(e);
            }
        };
        let target = self.path_of(&copied.hash);
        if target.exists() {
            // Content-addressed: the same bytes are already kept.
            std::fs::remove_file(&temp)?;
            return Ok(Kept {
                copied,
                fresh: false,
            });
        }
        let shard = target.parent().unwrap_or(&self.dir);
        private_dir(shard)?;
        std::fs::rename(&temp, &target)?;
        sync_dir(shard)?;
        sync_dir(&self.dir)?;
        Ok(Kept {
            copied,
            fresh: true,
        })
    }

    /// Deletes the blob of `hash` (absent already is fine).
    pub fn remove(&self, hash: &ContentHash) -> io::Result<()> {
        match std::fs::remove_file(self.path_of(hash)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// Creates `path` with `fill`, owner-only, and fsyncs it; the caller
/// removes it on error.
pub fn write_temp(
    path: &Path,
    fill: impl FnOnce(&mut File) -> io::Result<Copied>,
) -> io::Result<Copied> {
    let mut out = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    let copied = fill(&mut out)?;
    out.sync_all()?;
    Ok(copied)
}

/// Streams `source` into `out` through the one chunk reader, hashing as
/// it goes, in one buffer.
pub fn copy_hashing(source: &mut impl Read, out: &mut impl Write) -> io::Result<Copied> {
    let mut reader = ChunkReader::new(source);
    reader.for_each_chunk(|chunk| out.write_all(chunk))?;
    let (size, hash) = reader.finish();
    Ok(Copied {
        hash: ContentHash(*hash.as_bytes()),
        size,
    })
}

/// A folder only its owner can enter (0700), like the rest of the data dir.
pub fn private_dir(path: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(0o700).create(path)
}

/// Makes a rename in `dir` durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn the_same_bytes_are_kept_once_under_their_hash_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = Blobs::new(dir.path().join("versions"));
        blobs.prepare().unwrap();
        let photo = dir.path().join("a.jpg");
        std::fs::write(&photo, b"old bytes").unwrap();
        let kept = blobs.keep(&mut File::open(&photo).unwrap()).unwrap();
        let again = blobs.keep(&mut File::open(&photo).unwrap()).unwrap();
        assert!(kept.fresh && !again.fresh);
        let first = kept.copied;
        assert_eq!(first, again.copied);
        assert_eq!(first.hash.0, *blake3::hash(b"old bytes").as_bytes());
        let blob = blobs.path_of(&first.hash);
        assert_eq!(std::fs::read(&blob).unwrap(), b"old bytes");
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&blob), 0o600);
        assert_eq!(mode(blob.parent().unwrap()), 0o700);
        assert_eq!(mode(blobs.dir()), 0o700);
        // No temporary is left, and a second prepare finds none.
        assert_eq!(blobs.prepare().unwrap(), 0);
        blobs.remove(&first.hash).unwrap();
        blobs.remove(&first.hash).unwrap();
        assert!(!blob.exists());
    }

    #[test]
    fn temporaries_left_by_a_crash_are_removed_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = Blobs::new(dir.path().join("versions"));
        blobs.prepare().unwrap();
        std::fs::write(blobs.dir().join(TMP_DIR).join("1-0.tmp"), b"half").unwrap();
        assert_eq!(blobs.prepare().unwrap(), 1);
    }
}
