//! Listing the objects under a prefix: a blocking walker on tokio's blocking
//! pool feeds a bounded channel, so memory holds one open folder per level of
//! depth and a few queued entries, never the whole listing.

use std::fs::{self, DirEntry};
use std::io;
use std::path::{Path, PathBuf};

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::errors::{Site, check_root};
use super::paths::{FileStat, existing_folder, is_temp_name};
use crate::key::validate_prefix;
use crate::{ObjectMeta, ObjectStream, RemoteError, validate_key};

/// Entries the walker may run ahead of the consumer.
const LISTING_QUEUE: usize = 256;

type Sender = mpsc::Sender<Result<ObjectMeta, RemoteError>>;

/// Streams every object under `prefix`; see [`crate::Remote::list`].
pub(super) fn list(root: PathBuf, prefix: String) -> ObjectStream {
    let (tx, rx) = mpsc::channel(LISTING_QUEUE);
    tokio::task::spawn_blocking(move || {
        if let Err(Halt::Failed(err)) = walk(&root, &prefix, &tx) {
            // If the consumer is gone too, nobody is left to tell.
            let _ = tx.blocking_send(Err(err));
        }
    });
    Box::pin(ReceiverStream::new(rx))
}

/// Why a walk stopped early.
enum Halt {
    Failed(RemoteError),
    /// The consumer dropped the stream.
    Abandoned,
}

impl From<RemoteError> for Halt {
    fn from(err: RemoteError) -> Self {
        Self::Failed(err)
    }
}

/// One folder being read, and the key prefix of its entries.
struct Level {
    dir: PathBuf,
    key_prefix: String,
    entries: fs::ReadDir,
}

fn walk(root: &Path, prefix: &str, tx: &Sender) -> Result<(), Halt> {
    validate_prefix(prefix)?;
    let site = Site { root, key: prefix };
    check_root(site)?;
    let parts = prefix.split('/').filter(|part| !part.is_empty());
    let Some(start) = existing_folder(site, parts)? else {
        return Ok(());
    };
    let mut stack: Vec<Level> = open_level(site, start, prefix.to_owned())?
        .into_iter()
        .collect();
    while let Some(level) = stack.last_mut() {
        let Some(entry) = level.entries.next() else {
            stack.pop();
            continue;
        };
        let entry = entry.map_err(site.on("list", &level.dir))?;
        if let Some(sub) = visit(site, &entry, &level.key_prefix, tx)? {
            stack.push(sub);
        }
    }
    Ok(())
}

/// Sends `entry` if it is an object; returns the level to descend into if it
/// is a folder.
fn visit(
    site: Site<'_>,
    entry: &DirEntry,
    key_prefix: &str,
    tx: &Sender,
) -> Result<Option<Level>, Halt> {
    let Some(key) = entry_key(entry, key_prefix) else {
        return Ok(None);
    };
    let path = entry.path();
    let Some(file_type) = gone_is_none(entry.file_type()).map_err(site.on("list", &path))? else {
        return Ok(None);
    };
    if file_type.is_dir() {
        return Ok(open_level(site, path, key + "/")?);
    }
    // Links, fifos and the like are not objects; links are not followed, so
    // a listing never leaves the root.
    if !file_type.is_file() {
        return Ok(None);
    }
    let Some(meta) = gone_is_none(entry.metadata()).map_err(site.on("list", &path))? else {
        return Ok(None);
    };
    let object = FileStat::of(&meta).object(&key);
    tx.blocking_send(Ok(object)).map_err(|_| Halt::Abandoned)?;
    Ok(None)
}

/// The key an entry would have, or `None` for syncroll's temporaries and
/// names no key can have (not UTF-8, control characters): those are not
/// objects syncroll could have stored.
fn entry_key(entry: &DirEntry, key_prefix: &str) -> Option<String> {
    let file_name = entry.file_name();
    let Some(name) = file_name.to_str() else {
        tracing::debug!(path = %entry.path().display(), "not listed: the name is not UTF-8");
        return None;
    };
    if is_temp_name(name) {
        return None;
    }
    let key = format!("{key_prefix}{name}");
    match validate_key(&key) {
        Ok(()) => Some(key),
        Err(err) => {
            tracing::debug!(path = %entry.path().display(), error = %err, "not listed");
            None
        }
    }
}

fn open_level(
    site: Site<'_>,
    dir: PathBuf,
    key_prefix: String,
) -> Result<Option<Level>, RemoteError> {
    let Some(entries) = gone_is_none(fs::read_dir(&dir)).map_err(site.on("list", &dir))? else {
        return Ok(None);
    };
    Ok(Some(Level {
        dir,
        key_prefix,
        entries,
    }))
}

/// Something deleted while the walk was on its way is simply not listed.
fn gone_is_none<T>(result: io::Result<T>) -> io::Result<Option<T>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err),
    }
}
