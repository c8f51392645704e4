//! Where a key lives under the root, and getting there without leaving it.
//!
//! Keys are validated before they reach this module, so they have no `..`;
//! what remains is a symbolic link planted inside the root, which could lead
//! anywhere. Every folder on the way to a key is therefore looked at without
//! following links, and a link there is refused.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::errors::Site;
use crate::key::TEMP_SUFFIX;
use crate::{ObjectMeta, RemoteError};

/// Longest file name most file systems take, in bytes.
const NAME_MAX_BYTES: usize = 255;

/// What is at a path, looked at without following links.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Entry {
    Folder,
    /// A regular file: the only thing that is an object.
    File(FileStat),
    Link,
    Missing,
    /// Anything else: a fifo, socket or device.
    Other,
}

/// What an object's file says about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FileStat {
    pub size: u64,
    /// `None` only where the platform keeps no modification time.
    pub modified: Option<SystemTime>,
}

impl FileStat {
    pub fn of(meta: &fs::Metadata) -> Self {
        Self {
            size: meta.len(),
            modified: meta.modified().ok(),
        }
    }

    /// The object's metadata under `key`.
    pub fn object(self, key: &str) -> ObjectMeta {
        ObjectMeta {
            key: key.to_owned(),
            size: self.size,
            etag: None,
            modified: self.modified,
        }
    }
}

/// Looks at `path` without following a link there.
pub(super) fn inspect(site: Site<'_>, path: &Path) -> Result<Entry, RemoteError> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => Ok(Entry::Folder),
        Ok(meta) if meta.is_file() => Ok(Entry::File(FileStat::of(&meta))),
        Ok(meta) if meta.file_type().is_symlink() => Ok(Entry::Link),
        Ok(_) => Ok(Entry::Other),
        // A file where a folder of the path should be: nothing can be below.
        Err(err)
            if matches!(
                err.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            Ok(Entry::Missing)
        }
        Err(err) => Err(site.error("look up", path, err)),
    }
}

/// The last component of a (valid) key: the file name of its object.
pub(super) fn file_name(key: &str) -> &str {
    key.rsplit_once('/').map_or(key, |(_, name)| name)
}

/// The folders a (valid) key's object sits in, outermost first.
pub(super) fn parent_components(key: &str) -> impl Iterator<Item = &str> {
    let parent = key.rsplit_once('/').map_or("", |(parent, _)| parent);
    parent.split('/').filter(|part| !part.is_empty())
}

/// The path of the folder made of `parts` under `root`.
pub(super) fn folder_path(root: &Path, parts: &[&str]) -> PathBuf {
    parts
        .iter()
        .fold(root.to_path_buf(), |dir, part| dir.join(part))
}

/// The temporary a put of an object named `name` writes to, beside it.
/// Derived from the name alone, so a crash leaves at most one temporary per
/// key and the retry replaces it. A name too long to take the affixes gets a
/// hashed temporary name instead, still deterministic.
pub(super) fn temp_name(name: &str) -> String {
    let plain = format!(".{name}{TEMP_SUFFIX}");
    if plain.len() <= NAME_MAX_BYTES {
        return plain;
    }
    let digest = blake3::hash(name.as_bytes()).to_hex();
    format!(".{}{TEMP_SUFFIX}", &digest[..32])
}

/// Whether a file name is one of syncroll's temporaries.
pub(super) fn is_temp_name(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(TEMP_SUFFIX)
}

/// The folder made of `parts` under the root, if each of them is a real
/// folder; `None` if one is missing or is a file.
pub(super) fn existing_folder<'k>(
    site: Site<'_>,
    parts: impl Iterator<Item = &'k str>,
) -> Result<Option<PathBuf>, RemoteError> {
    let mut dir = site.root.to_path_buf();
    for part in parts {
        dir.push(part);
        match inspect(site, &dir)? {
            Entry::Folder => {}
            Entry::Link => return Err(outside_root(site, dir)),
            Entry::File(_) | Entry::Missing | Entry::Other => return Ok(None),
        }
    }
    Ok(Some(dir))
}

/// The path and state of the object under the site's key, if a regular
/// file is there.
pub(super) fn existing_object(site: Site<'_>) -> Result<Option<(PathBuf, FileStat)>, RemoteError> {
    let Some(dir) = existing_folder(site, parent_components(site.key))? else {
        return Ok(None);
    };
    let path = dir.join(file_name(site.key));
    match inspect(site, &path)? {
        Entry::File(stat) => Ok(Some((path, stat))),
        _ => Ok(None),
    }
}

/// The folder the site's key goes in, creating what is missing below the
/// root (never the root itself).
pub(super) fn create_parent(site: Site<'_>) -> Result<PathBuf, RemoteError> {
    let mut dir = site.root.to_path_buf();
    for part in parent_components(site.key) {
        dir.push(part);
        ensure_folder(site, &dir)?;
    }
    Ok(dir)
}

pub(super) use crate::atomic::sync_folder;

fn ensure_folder(site: Site<'_>, dir: &Path) -> Result<(), RemoteError> {
    match inspect(site, dir)? {
        Entry::Folder => Ok(()),
        Entry::Link => Err(outside_root(site, dir.to_path_buf())),
        Entry::File(_) | Entry::Other => Err(RemoteError::NotAFolder {
            key: site.key.to_owned(),
            path: dir.to_path_buf(),
        }),
        Entry::Missing => make_folder(site, dir),
    }
}

fn make_folder(site: Site<'_>, dir: &Path) -> Result<(), RemoteError> {
    match fs::create_dir(dir) {
        Ok(()) => {
            let parent = dir.parent().unwrap_or(site.root);
            sync_folder(parent).map_err(site.on("sync the folder of", parent))
        }
        // Another transfer made it between our look and our mkdir.
        Err(err)
            if err.kind() == io::ErrorKind::AlreadyExists
                && inspect(site, dir)? == Entry::Folder =>
        {
            Ok(())
        }
        Err(err) => Err(site.error("create a folder for", dir, err)),
    }
}

fn outside_root(site: Site<'_>, path: PathBuf) -> RemoteError {
    RemoteError::OutsideRoot {
        key: site.key.to_owned(),
        path,
    }
}
