//! Moving bytes into place under a key: into a temporary beside the
//! destination, hashed and counted chunk by chunk, synced, renamed over the
//! final name, and the folder synced. Any failure or cancellation removes the
//! temporary, so only whole objects are ever seen under a key.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::errors::{Site, check_root, source_error};
use super::paths::{create_parent, existing_object, file_name, sync_folder, temp_name};
use crate::{ObjectMeta, PutReport, RemoteError};

/// Bytes read, hashed and written per step; also the cancellation grain.
const CHUNK_BYTES: usize = 1 << 20;

/// How often to redo folder creation when a concurrent delete pruned a
/// folder between our creating it and our creating the temporary inside it.
const PRUNE_RACE_RETRIES: usize = 3;

/// The blocking loop's link to its caller: the cancellation token and where
/// to report bytes sent.
#[derive(Debug)]
pub(super) struct Transfer {
    cancel: CancellationToken,
    sent: mpsc::Sender<u64>,
}

impl Transfer {
    pub fn new(cancel: CancellationToken, sent: mpsc::Sender<u64>) -> Self {
        Self { cancel, sent }
    }

    fn check(&self) -> Result<(), RemoteError> {
        if self.cancel.is_cancelled() {
            return Err(RemoteError::Cancelled);
        }
        Ok(())
    }

    fn report(&self, bytes: u64) {
        // The receiver only goes away with a dropped caller, which also fired
        // the token: the next `check` ends the loop.
        let _ = self.sent.blocking_send(bytes);
    }
}

/// Uploads the local file `source` to `key`.
pub(super) fn put(
    root: &Path,
    key: &str,
    source: &Path,
    t: &Transfer,
) -> Result<PutReport, RemoteError> {
    let site = Site { root, key };
    t.check()?;
    check_root(site)?;
    let mut src = File::open(source).map_err(|err| source_error(source, err))?;
    let (size, hash) = write_into_place(site, &mut src, t, |err| source_error(source, err))?;
    Ok(PutReport {
        size,
        blake3: hash.into(),
        etag: None,
    })
}

/// Copies the object at `from` to `to`.
pub(super) fn copy(
    root: &Path,
    from: &str,
    to: &str,
    t: &Transfer,
) -> Result<ObjectMeta, RemoteError> {
    let from_site = Site { root, key: from };
    t.check()?;
    check_root(from_site)?;
    let not_found = || RemoteError::NotFound {
        key: from.to_owned(),
    };
    let (path, _) = existing_object(from_site)?.ok_or_else(not_found)?;
    let mut src = File::open(&path).map_err(|err| match err.kind() {
        io::ErrorKind::NotFound => not_found(),
        _ => from_site.error("open", &path, err),
    })?;
    let to_site = Site { root, key: to };
    let (size, _) = write_into_place(to_site, &mut src, t, from_site.on("read", &path))?;
    Ok(ObjectMeta {
        key: to.to_owned(),
        size,
        etag: None,
    })
}

fn write_into_place(
    site: Site<'_>,
    src: &mut impl Read,
    t: &Transfer,
    read_error: impl Fn(io::Error) -> RemoteError,
) -> Result<(u64, blake3::Hash), RemoteError> {
    let mut staged = retry_if_pruned(|| Staged::create(site))?;
    let write_error = site.on("write", &staged.temp);
    let written = pump(src, &mut staged.file, t, read_error, write_error)?;
    staged.commit()?;
    Ok(written)
}

/// Copies `src` to `dst` one chunk at a time, hashing what is written.
fn pump(
    src: &mut impl Read,
    dst: &mut File,
    t: &Transfer,
    read_error: impl Fn(io::Error) -> RemoteError,
    write_error: impl Fn(io::Error) -> RemoteError,
) -> Result<(u64, blake3::Hash), RemoteError> {
    // One buffer for the whole transfer: memory stays at one chunk however
    // large the file is.
    let mut buf = vec![0u8; CHUNK_BYTES];
    let mut hasher = blake3::Hasher::new();
    let mut size = 0u64;
    loop {
        t.check()?;
        let n = read_chunk(src, &mut buf).map_err(&read_error)?;
        if n == 0 {
            return Ok((size, hasher.finalize()));
        }
        let chunk = &buf[..n];
        hasher.update(chunk);
        dst.write_all(chunk).map_err(&write_error)?;
        size += n as u64;
        t.report(n as u64);
    }
}

fn read_chunk(src: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match src.read(buf) {
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

fn retry_if_pruned<T>(
    mut attempt: impl FnMut() -> Result<T, RemoteError>,
) -> Result<T, RemoteError> {
    let mut retries_left = PRUNE_RACE_RETRIES;
    loop {
        match attempt() {
            Err(RemoteError::Io { source, .. })
                if source.kind() == io::ErrorKind::NotFound && retries_left > 0 =>
            {
                retries_left -= 1;
            }
            other => return other,
        }
    }
}

/// A temporary being written for one key. Dropping it before
/// [`Staged::commit`] removes the temporary, whatever the reason: an error, a
/// cancellation, a panic.
#[derive(Debug)]
struct Staged<'a> {
    site: Site<'a>,
    dir: PathBuf,
    temp: PathBuf,
    file: File,
    placed: bool,
}

impl<'a> Staged<'a> {
    fn create(site: Site<'a>) -> Result<Self, RemoteError> {
        let dir = create_parent(site)?;
        let temp = dir.join(temp_name(file_name(site.key)));
        // A temporary left by a crash is removed rather than opened, and the
        // new one is created exclusively: O_EXCL never follows a link, so a
        // link planted under the temporary's name cannot redirect the bytes.
        remove_if_present(&temp).map_err(site.on("remove the old temporary of", &temp))?;
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
            .map_err(site.on("create the temporary of", &temp))?;
        Ok(Self {
            site,
            dir,
            temp,
            file,
            placed: false,
        })
    }

    fn commit(mut self) -> Result<(), RemoteError> {
        let site = self.site;
        let dest = self.dir.join(file_name(site.key));
        self.file.sync_all().map_err(site.on("sync", &self.temp))?;
        fs::rename(&self.temp, &dest).map_err(site.on("move into place", &dest))?;
        self.placed = true;
        sync_folder(&self.dir).map_err(site.on("sync the folder of", &self.dir))
    }
}

impl Drop for Staged<'_> {
    fn drop(&mut self) {
        if self.placed {
            return;
        }
        if let Err(err) = remove_if_present(&self.temp) {
            tracing::warn!(temporary = %self.temp.display(), error = %err, "could not remove a temporary; the next put of its key replaces it");
        }
    }
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}
