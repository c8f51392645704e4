//! Moving bytes into place under a key: into a temporary beside the
//! destination, hashed and counted chunk by chunk, synced, renamed over the
//! final name, and the folder synced. Any failure or cancellation removes the
//! temporary, so only whole objects are ever seen under a key.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;
use std::time::SystemTime;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::errors::{Site, check_root, source_error};
use super::paths::{create_parent, existing_object, file_name, temp_name};
use crate::atomic::{AtomicFile, Placement, StepError};
use crate::chunks::{CHUNK_BYTES, ChunkError, ChunkReader};
use crate::{ObjectMeta, Precondition, PutReport, RemoteError, Throttle};

/// How often to redo folder creation when a concurrent delete pruned a
/// folder between our creating it and our creating the temporary inside it.
const PRUNE_RACE_RETRIES: usize = 3;

/// The blocking loop's link to its caller: the cancellation token, the
/// limits, and where to report bytes sent.
#[derive(Debug)]
pub(super) struct Transfer {
    cancel: CancellationToken,
    sent: mpsc::Sender<u64>,
    throttle: Throttle,
}

impl Transfer {
    pub fn new(cancel: CancellationToken, sent: mpsc::Sender<u64>, throttle: Throttle) -> Self {
        Self {
            cancel,
            sent,
            throttle,
        }
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

/// Uploads the local file `source` to `key`, if `precondition` holds.
pub(super) fn put(
    root: &Path,
    key: &str,
    source: &Path,
    precondition: &Precondition,
    t: &Transfer,
) -> Result<PutReport, RemoteError> {
    let site = Site { root, key };
    t.check()?;
    check_root(site)?;
    let mut src = File::open(source).map_err(|err| source_error(source, err))?;
    let read_error = |err| source_error(source, err);
    let (size, hash, modified) = write_into_place(site, &mut src, t, read_error, precondition)?;
    Ok(PutReport {
        size,
        blake3: hash.into(),
        etag: None,
        modified,
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
    let read_error = from_site.on("read", &path);
    write_into_place(to_site, &mut src, t, read_error, &Precondition::None)?;
    let not_placed = || RemoteError::Io {
        action: "verify the copy at",
        key: to.to_owned(),
        source: io::Error::other("the copy is missing right after it was made"),
    };
    let (_, stat) = existing_object(to_site)?.ok_or_else(not_placed)?;
    Ok(stat.object(to))
}

fn write_into_place(
    site: Site<'_>,
    src: &mut impl Read,
    t: &Transfer,
    read_error: impl Fn(io::Error) -> RemoteError,
    precondition: &Precondition,
) -> Result<(u64, blake3::Hash, Option<SystemTime>), RemoteError> {
    let mut staged = retry_if_pruned(|| Staged::create(site))?;
    let temp = staged.atomic.path().to_owned();
    let write_error = site.on("write", &temp);
    let (size, hash) = pump(src, staged.atomic.file(), t, read_error, &write_error)?;
    // The last write set it; syncing, renaming and linking keep it, so it
    // is what a listing of the key shows.
    let modified = staged
        .atomic
        .file()
        .metadata()
        .map_err(site.on("look up", &temp))?
        .modified()
        .ok();
    // Checked as late as possible: only the rename is left after it.
    let placement = placement_for(site, precondition)?;
    staged.commit(placement)?;
    Ok((size, hash, modified))
}

/// How the temporary may be placed under the key, if `precondition` holds
/// now. (size, mtime) is all a folder can tell of an object's version, so
/// [`Precondition::Matches`] compares those, just before the rename: a
/// writer in between that keeps both is not seen.
fn placement_for(site: Site<'_>, precondition: &Precondition) -> Result<Placement, RemoteError> {
    match precondition {
        Precondition::None => Ok(Placement::Replace),
        // The link that places the object refuses an existing one, atomically.
        Precondition::Absent => Ok(Placement::IfAbsent),
        Precondition::Matches { .. } => {
            let found = existing_object(site)?.map(|(_, stat)| stat.object(site.key));
            precondition.check(site.key, found.as_ref())?;
            Ok(Placement::Replace)
        }
    }
}

/// Copies `src` to `dst` one chunk at a time, through the one chunk
/// reader (which hashes, obeys the limits and stops on cancellation).
fn pump(
    src: &mut impl Read,
    dst: &mut File,
    t: &Transfer,
    read_error: impl Fn(io::Error) -> RemoteError,
    write_error: impl Fn(io::Error) -> RemoteError,
) -> Result<(u64, blake3::Hash), RemoteError> {
    let mut reader = ChunkReader::new(src).with_limits(t.throttle.clone(), t.cancel.clone());
    // One buffer for the whole transfer: memory stays at one chunk however
    // large the file is.
    let mut buf = Vec::with_capacity(CHUNK_BYTES);
    loop {
        let n = reader
            .read_into(&mut buf, CHUNK_BYTES)
            .map_err(|err| match err {
                ChunkError::Read(err) => read_error(err),
                ChunkError::Cancelled => RemoteError::Cancelled,
            })?;
        if n == 0 {
            return Ok(reader.finish());
        }
        dst.write_all(&buf).map_err(&write_error)?;
        t.report(n as u64);
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

/// A temporary being written for one key.
#[derive(Debug)]
struct Staged<'a> {
    site: Site<'a>,
    atomic: AtomicFile,
}

impl<'a> Staged<'a> {
    fn create(site: Site<'a>) -> Result<Self, RemoteError> {
        let dir = create_parent(site)?;
        let atomic = AtomicFile::create(&dir, &temp_name(file_name(site.key)))
            .map_err(|err| step_error(site, err))?;
        Ok(Self { site, atomic })
    }

    fn commit(self, placement: Placement) -> Result<(), RemoteError> {
        let site = self.site;
        match self.atomic.commit(file_name(site.key), placement) {
            Ok(_) => Ok(()),
            Err(err) if err.is_target_taken() => Err(RemoteError::PreconditionFailed {
                key: site.key.to_owned(),
                detail: "an object appeared under the key meanwhile".to_owned(),
            }),
            Err(err) => Err(step_error(site, err)),
        }
    }
}

fn step_error(site: Site<'_>, err: StepError) -> RemoteError {
    site.error(err.step, &err.path, err.source)
}
