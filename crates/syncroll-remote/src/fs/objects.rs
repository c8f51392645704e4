//! Looking up and deleting single objects.

use std::fs;
use std::io::{self, Read, Seek};
use std::path::Path;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::errors::{Site, check_root};
use super::paths::{
    Entry, FileStat, existing_folder, existing_object, file_name, folder_path, inspect,
    parent_components, sync_folder, temp_name,
};
use crate::{ObjectMeta, ObjectRead, RemoteError};

/// What is stored under `key`, if anything.
pub(super) fn head(root: &Path, key: &str) -> Result<Option<ObjectMeta>, RemoteError> {
    let site = Site { root, key };
    check_root(site)?;
    Ok(existing_object(site)?.map(|(_, stat)| stat.object(key)))
}

/// Bytes the reader may run ahead of the consumer, in chunks.
const READ_AHEAD_CHUNKS: usize = 2;
/// Bytes read per chunk.
const READ_CHUNK_BYTES: usize = 1 << 20;

/// Opens the object under `key` to stream it from `offset` on; see
/// [`crate::Remote::read`]. The file is read on the blocking pool, a chunk
/// ahead of the consumer; dropping the stream stops it.
pub(super) fn read(
    root: &Path,
    key: &str,
    offset: u64,
    expected: Option<&ObjectMeta>,
) -> Result<ObjectRead, RemoteError> {
    let site = Site { root, key };
    check_root(site)?;
    let not_found = || RemoteError::NotFound {
        key: key.to_owned(),
    };
    let (path, _) = existing_object(site)?.ok_or_else(not_found)?;
    let mut file = fs::File::open(&path).map_err(|err| match err.kind() {
        io::ErrorKind::NotFound => not_found(),
        _ => site.error("open", &path, err),
    })?;
    // The open file's own state: a rename over the key after this point
    // does not change what is read.
    let meta = file.metadata().map_err(site.on("look up", &path))?;
    let meta = FileStat::of(&meta).object(key);
    if let Some(expected) = expected
        && !expected.same_version(&meta)
    {
        return Err(RemoteError::PreconditionFailed {
            key: key.to_owned(),
            detail: "the object was changed meanwhile".to_owned(),
        });
    }
    file.seek(io::SeekFrom::Start(offset))
        .map_err(site.on("read", &path))?;
    let (tx, rx) = mpsc::channel(READ_AHEAD_CHUNKS);
    let (root, key) = (root.to_owned(), key.to_owned());
    tokio::task::spawn_blocking(move || {
        let site = Site {
            root: &root,
            key: &key,
        };
        let mut buf = vec![0; READ_CHUNK_BYTES];
        loop {
            let chunk = match file.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => Ok(Bytes::copy_from_slice(&buf[..n])),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => Err(site.error("read", &path, err)),
            };
            let failed = chunk.is_err();
            // A dropped stream ends the read.
            if tx.blocking_send(chunk).is_err() || failed {
                return;
            }
        }
    });
    Ok(ObjectRead {
        meta,
        offset,
        md5: None,
        body: Box::pin(ReceiverStream::new(rx)),
    })
}

/// Deletes the object under `key` (if any), a temporary left for it by a
/// crashed put, and then the folders this left empty.
pub(super) fn delete(root: &Path, key: &str) -> Result<(), RemoteError> {
    let site = Site { root, key };
    check_root(site)?;
    let Some(dir) = existing_folder(site, parent_components(key))? else {
        return Ok(());
    };
    let name = file_name(key);
    let removed_object = remove_file(site, &dir.join(name))?;
    // Left alone, such a temporary would outlive its key, invisible to
    // listings, and keep its folder from being pruned.
    let removed_temp = remove_file(site, &dir.join(temp_name(name)))?;
    if removed_object || removed_temp {
        sync_folder(&dir).map_err(site.on("sync the folder of", &dir))?;
    }
    prune(site);
    Ok(())
}

/// Removes the temporary a put to `key` cut off by a crash left, and the
/// folders this left empty; the object under `key`, if any, stays.
pub(super) fn discard_temporary(root: &Path, key: &str) -> Result<(), RemoteError> {
    let site = Site { root, key };
    check_root(site)?;
    let Some(dir) = existing_folder(site, parent_components(key))? else {
        return Ok(());
    };
    if remove_file(site, &dir.join(temp_name(file_name(key))))? {
        sync_folder(&dir).map_err(site.on("sync the folder of", &dir))?;
        prune(site);
    }
    Ok(())
}

/// Removes `path` if a regular file is there, saying whether it did; anything
/// else is not an object and is left alone.
fn remove_file(site: Site<'_>, path: &Path) -> Result<bool, RemoteError> {
    if !matches!(inspect(site, path)?, Entry::File(_)) {
        return Ok(false);
    }
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(err) => Err(site.error("delete", path, err)),
    }
}

/// Removes the key's folders that are now empty, deepest first, never the
/// root. Best effort: the object is already gone, so a folder that stays is
/// only untidy.
fn prune(site: Site<'_>) {
    let parts: Vec<&str> = parent_components(site.key).collect();
    for depth in (1..=parts.len()).rev() {
        let dir = folder_path(site.root, &parts[..depth]);
        match fs::remove_dir(&dir) {
            Ok(()) => {}
            // Pruned by a concurrent delete; its parent may be empty too.
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) if err.kind() == io::ErrorKind::DirectoryNotEmpty => return,
            Err(err) => {
                tracing::debug!(folder = %dir.display(), error = %err, "left a folder in place");
                return;
            }
        }
    }
}
