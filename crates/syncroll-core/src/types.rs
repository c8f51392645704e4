//! Domain types. IDs are newtypes so a root id cannot be passed where a
//! collection id is wanted.

use std::fmt;
use std::path::{Path, PathBuf};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// A catalog folder.
    RootId
);
id_type!(
    /// One indexed file.
    PhotoId
);
id_type!(
    /// A manual or folder collection.
    CollectionId
);
id_type!(
    /// A configured remote.
    RemoteId
);

/// A path relative to a root, as raw file-name bytes joined by `/`.
///
/// Raw bytes, not `String`: a file name that is not UTF-8 must be indexed
/// exactly, not mangled or dropped. Empty means the root itself.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct RelPath(Vec<u8>);

impl RelPath {
    /// The root itself.
    pub fn root() -> Self {
        Self(Vec::new())
    }

    /// Wraps raw bytes (components joined by `/`, no leading `/`).
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// The path of `path` below `root`, or `None` when it is not below it.
    pub fn from_child(root: &Path, path: &Path) -> Option<Self> {
        use std::os::unix::ffi::OsStrExt;
        let rest = path.strip_prefix(root).ok()?;
        let mut bytes = Vec::with_capacity(rest.as_os_str().len());
        for (i, part) in rest.components().enumerate() {
            if i > 0 {
                bytes.push(b'/');
            }
            bytes.extend_from_slice(part.as_os_str().as_bytes());
        }
        Some(Self(bytes))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// True when this is valid UTF-8 (and so shown exactly by `Display`).
    pub fn is_utf8(&self) -> bool {
        std::str::from_utf8(&self.0).is_ok()
    }

    /// The absolute path of this entry under `root`.
    pub fn under(&self, root: &Path) -> PathBuf {
        use std::os::unix::ffi::OsStrExt;
        if self.is_root() {
            root.to_path_buf()
        } else {
            root.join(std::ffi::OsStr::from_bytes(&self.0))
        }
    }

    /// True when `other` is this path or lies below it.
    pub fn contains(&self, other: &RelPath) -> bool {
        self.is_root()
            || other.0 == self.0
            || (other.0.starts_with(&self.0) && other.0.get(self.0.len()) == Some(&b'/'))
    }

    /// The half-open byte range `[self + "/", self + "0")` that holds exactly
    /// the paths strictly below this one ('0' is the byte after '/').
    pub fn descendant_range(&self) -> (Vec<u8>, Vec<u8>) {
        let mut low = self.0.clone();
        low.push(b'/');
        let mut high = self.0.clone();
        high.push(b'/' + 1);
        (low, high)
    }
}

impl fmt::Display for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.0))
    }
}

impl fmt::Debug for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(&self.0))
    }
}

/// Whether a root's folder can be read now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootState {
    Online,
    /// Unmounted, emptied or unreadable; the reason says which. Its photos
    /// stay in the catalog.
    Missing {
        reason: String,
    },
}

impl RootState {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Online => "online",
            Self::Missing { .. } => "missing",
        }
    }
}

/// A catalog folder with its totals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root {
    pub id: RootId,
    pub path: PathBuf,
    pub state: RootState,
    /// The folder's device and inode, recorded when the root was added;
    /// `None` for a root added before identities were recorded, until its
    /// first probe finds the folder present and not empty.
    pub identity: Option<crate::root_identity::FolderIdentity>,
    pub photo_count: u64,
    pub total_bytes: u64,
    /// Unix seconds; 0 before the first finished scan.
    pub last_scan_at: i64,
}

/// What the scanner saw of a file on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileStat {
    pub size: u64,
    pub mtime_ns: i64,
    pub inode: u64,
}

/// A BLAKE3 digest of a photo's bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ContentHash(pub [u8; 32]);

impl ContentHash {
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }
}

/// Bytes as lowercase hex, two digits each.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

impl fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// A photo as the catalog knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Photo {
    pub id: PhotoId,
    pub root_id: RootId,
    pub root_path: PathBuf,
    pub root_missing: bool,
    pub rel_path: RelPath,
    pub stat: FileStat,
    pub hash: ContentHash,
}

/// The kind of a collection, with what it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CollectionKind {
    /// Holds what `collections add` put in it.
    Manual,
    /// Holds every photo under a folder, now and later.
    Folder { root_id: RootId, rel_path: RelPath },
}

/// A collection with its totals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collection {
    pub id: CollectionId,
    pub name: String,
    pub kind: CollectionKind,
    /// Absolute folder of a folder collection.
    pub folder: Option<PathBuf>,
    pub remote_name: String,
    pub photo_count: u64,
    pub total_bytes: u64,
    pub created_at: i64,
    pub sync_enabled: bool,
    /// 0 not paused, -1 until resumed, else Unix seconds.
    pub paused_until: i64,
    /// Members whose bytes the ledger says are on the remote.
    pub synced_count: u64,
    pub synced_bytes: u64,
}

/// The current time as Unix seconds.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contains_respects_component_boundaries() {
        let a = RelPath::from_bytes(b"2024/01".to_vec());
        assert!(a.contains(&RelPath::from_bytes(b"2024/01/x.jpg".to_vec())));
        assert!(a.contains(&a));
        assert!(!a.contains(&RelPath::from_bytes(b"2024/012/x.jpg".to_vec())));
        assert!(RelPath::root().contains(&a));
    }

    #[test]
    fn descendant_range_is_exactly_the_children() {
        let (lo, hi) = RelPath::from_bytes(b"a".to_vec()).descendant_range();
        let inside = |p: &[u8]| p >= lo.as_slice() && p < hi.as_slice();
        assert!(inside(b"a/b.jpg"));
        assert!(inside(b"a/z/z.jpg"));
        assert!(!inside(b"a"));
        assert!(!inside(b"a-b/c.jpg"));
        assert!(!inside(b"a0/c.jpg"));
        assert!(!inside(b"ab/c.jpg"));
    }

    #[test]
    fn from_child_joins_raw_components() {
        let rel = RelPath::from_child(Path::new("/r"), Path::new("/r/x/y.jpg")).unwrap();
        assert_eq!(rel.as_bytes(), b"x/y.jpg");
        assert_eq!(rel.under(Path::new("/r")), Path::new("/r/x/y.jpg"));
        assert!(RelPath::from_child(Path::new("/r"), Path::new("/s/y.jpg")).is_none());
    }
}
