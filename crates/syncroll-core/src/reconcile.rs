//! Turns "what the catalog holds under a path" and "what is on disk there
//! now" into the changes to make: one pure function, shared by the full scan
//! and the watcher's partial scans.
//!
//! Invariant: nothing under a folder that could not be read is ever planned
//! for removal; an unreadable folder is not an empty one.

use std::collections::HashMap;

use crate::types::{FileStat, PhotoId, RelPath};

/// A photo row as the reconciler needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedFile {
    pub id: PhotoId,
    pub rel_path: RelPath,
    pub stat: FileStat,
}

/// A photo file found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundFile {
    pub rel_path: RelPath,
    pub stat: FileStat,
}

/// What a scan of one scope must do to make the catalog match the disk.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ReconcilePlan {
    /// Files the catalog has never seen: hash and insert.
    pub new_files: Vec<FoundFile>,
    /// Files whose (size, mtime, inode) moved: hash again and update.
    pub changed_files: Vec<(PhotoId, FoundFile)>,
    /// Files that moved to a new path with the same inode, size and mtime:
    /// keep the row (and its collections and hash) under the new path.
    pub renamed: Vec<(PhotoId, FoundFile)>,
    /// Rows whose file is gone from a folder that was read completely.
    pub removed: Vec<PhotoId>,
    /// Files found that match their row exactly.
    pub unchanged: u64,
}

/// Plans the changes for one scope.
///
/// `indexed` holds the catalog's rows inside the scope, `found` the photo
/// files the walk saw there, and `unreadable` the folders (or files) the walk
/// could not read: rows below them are left alone.
pub fn plan(
    indexed: Vec<IndexedFile>,
    found: Vec<FoundFile>,
    unreadable: &[RelPath],
) -> ReconcilePlan {
    let mut plan = ReconcilePlan::default();
    let mut by_path: HashMap<RelPath, IndexedFile> = indexed
        .into_iter()
        .map(|row| (row.rel_path.clone(), row))
        .collect();

    let mut unknown = Vec::new();
    for file in found {
        match by_path.remove(&file.rel_path) {
            Some(row) if row.stat == file.stat => plan.unchanged += 1,
            Some(row) => plan.changed_files.push((row.id, file)),
            None => unknown.push(file),
        }
    }

    // What is left of `by_path` vanished from where it was.
    let mut vanished: HashMap<FileStat, PhotoId> = HashMap::new();
    for row in by_path.into_values() {
        if unreadable.iter().any(|dir| dir.contains(&row.rel_path)) {
            continue;
        }
        // Two rows with one stat (hard links) cannot both be renames; the
        // second is simply removed.
        if let Some(dup) = vanished.insert(row.stat, row.id) {
            plan.removed.push(dup);
        }
    }
    for file in unknown {
        match vanished.remove(&file.stat) {
            Some(id) => plan.renamed.push((id, file)),
            None => plan.new_files.push(file),
        }
    }
    plan.removed.extend(vanished.into_values());
    plan.removed.sort();
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(inode: u64) -> FileStat {
        FileStat {
            size: 10,
            mtime_ns: 5,
            inode,
        }
    }
    fn rel(s: &str) -> RelPath {
        RelPath::from_bytes(s.as_bytes().to_vec())
    }
    fn row(id: i64, path: &str, inode: u64) -> IndexedFile {
        IndexedFile {
            id: PhotoId(id),
            rel_path: rel(path),
            stat: stat(inode),
        }
    }
    fn file(path: &str, inode: u64) -> FoundFile {
        FoundFile {
            rel_path: rel(path),
            stat: stat(inode),
        }
    }

    #[test]
    fn unchanged_files_are_not_rehashed() {
        let p = plan(vec![row(1, "a.jpg", 1)], vec![file("a.jpg", 1)], &[]);
        assert_eq!(p.unchanged, 1);
        assert!(p.new_files.is_empty() && p.changed_files.is_empty() && p.removed.is_empty());
    }

    #[test]
    fn changed_stat_means_rehash() {
        let p = plan(vec![row(1, "a.jpg", 1)], vec![file("a.jpg", 2)], &[]);
        assert_eq!(p.changed_files, vec![(PhotoId(1), file("a.jpg", 2))]);
    }

    #[test]
    fn a_moved_file_keeps_its_row() {
        let p = plan(vec![row(1, "a.jpg", 7)], vec![file("sub/b.jpg", 7)], &[]);
        assert_eq!(p.renamed, vec![(PhotoId(1), file("sub/b.jpg", 7))]);
        assert!(p.removed.is_empty() && p.new_files.is_empty());
    }

    #[test]
    fn new_and_removed_files() {
        let p = plan(vec![row(1, "gone.jpg", 1)], vec![file("new.jpg", 2)], &[]);
        assert_eq!(p.new_files, vec![file("new.jpg", 2)]);
        assert_eq!(p.removed, vec![PhotoId(1)]);
    }

    #[test]
    fn rows_under_unreadable_folders_are_kept() {
        let p = plan(
            vec![row(1, "locked/a.jpg", 1), row(2, "open/b.jpg", 2)],
            vec![],
            &[rel("locked")],
        );
        assert_eq!(p.removed, vec![PhotoId(2)]);
    }
}
