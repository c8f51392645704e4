//! Looking up and deleting single objects.

use std::fs;
use std::io;
use std::path::Path;

use super::errors::{Site, check_root};
use super::paths::{
    Entry, existing_folder, existing_object, file_name, folder_path, inspect, parent_components,
    sync_folder, temp_name,
};
use crate::{ObjectMeta, RemoteError};

/// What is stored under `key`, if anything.
pub(super) fn head(root: &Path, key: &str) -> Result<Option<ObjectMeta>, RemoteError> {
    let site = Site { root, key };
    check_root(site)?;
    Ok(existing_object(site)?.map(|(_, size)| ObjectMeta {
        key: key.to_owned(),
        size,
        etag: None,
    }))
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
