//! Turns "what the catalog holds under a path" and "what is on disk there
//! now" into the changes to make, shared by the full scan and the watcher's
//! partial scans. Both sides arrive in the byte order of their paths and
//! are merged as they come ([`SortedMerge`]), so a scan holds only what
//! changed, never the whole library.
//!
//! Invariant: nothing under a folder that could not be read is ever planned
//! for removal; an unreadable folder is not an empty one.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::iter::Peekable;

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

/// Plans the changes for one scope from whole lists, in any order (sorts
/// them, then merges as a scan does).
///
/// `indexed` holds the catalog's rows inside the scope, `found` the photo
/// files the walk saw there, and `unreadable` the folders (or files) the walk
/// could not read: rows below them are left alone.
pub fn plan(
    mut indexed: Vec<IndexedFile>,
    mut found: Vec<FoundFile>,
    unreadable: &[RelPath],
) -> ReconcilePlan {
    indexed.sort_by(|a, b| a.rel_path.cmp(&b.rel_path));
    found.sort_by(|a, b| a.rel_path.cmp(&b.rel_path));
    let mut merge = SortedMerge::new(indexed.into_iter());
    for file in found {
        merge
            .found(file)
            .expect("sorted input is in order, and paths are unique");
    }
    merge
        .finish()
        .expect("sorted input is in order")
        .plan(unreadable)
}

/// Sorts the entries of one folder so that a depth-first walk visits files
/// in the byte order of their relative paths, the order the catalog lists
/// them in: a folder's name counts as followed by '/'. (Plain name order
/// would put folder `a` and its files before file `a-b.jpg`, though
/// `a-b.jpg` < `a/x.jpg` as bytes.)
pub fn walk_order(a: &[u8], a_is_dir: bool, b: &[u8], b_is_dir: bool) -> Ordering {
    let a_tail: &[u8] = if a_is_dir { b"/" } else { b"" };
    let b_tail: &[u8] = if b_is_dir { b"/" } else { b"" };
    a.iter().chain(a_tail).cmp(b.iter().chain(b_tail))
}

/// A found file or catalog row arrived out of path order, so a merge
/// could not tell vanished from new; nothing it planned may be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{side} listed {path:?} after {previous:?}: not in path order")]
pub struct OutOfOrder {
    pub side: &'static str,
    pub path: RelPath,
    pub previous: RelPath,
}

/// Matches a walk against the catalog's rows of the same scope, both in
/// path order, holding only what differs: an unchanged library of any size
/// costs constant memory. Feed every found file to [`SortedMerge::found`]
/// in order, then [`SortedMerge::finish`].
#[derive(Debug)]
pub struct SortedMerge<R: Iterator<Item = IndexedFile>> {
    rows: Peekable<R>,
    /// The last row taken, to check the catalog's order.
    last_row: Option<RelPath>,
    /// The last file found, to check the walk's order.
    last_found: Option<RelPath>,
    unmatched: Unmatched,
}

impl<R: Iterator<Item = IndexedFile>> SortedMerge<R> {
    /// `rows`: the catalog's rows of the scope, in path order.
    pub fn new(rows: R) -> Self {
        Self {
            rows: rows.peekable(),
            last_row: None,
            last_found: None,
            unmatched: Unmatched::default(),
        }
    }

    /// The next file the walk found, in path order.
    pub fn found(&mut self, file: FoundFile) -> Result<(), OutOfOrder> {
        if let Some(previous) = &self.last_found
            && file.rel_path <= *previous
        {
            return Err(OutOfOrder {
                side: "the walk",
                path: file.rel_path,
                previous: previous.clone(),
            });
        }
        self.unmatched.found += 1;
        // Rows before the file have no file at their path.
        while self
            .rows
            .peek()
            .is_some_and(|row| row.rel_path < file.rel_path)
        {
            let row = self.take_row()?;
            self.unmatched.vanished.push(row);
        }
        let row = match self.rows.peek() {
            Some(row) if row.rel_path == file.rel_path => Some(self.take_row()?),
            _ => None,
        };
        match row {
            Some(row) if row.stat == file.stat => {
                self.unmatched.unchanged += 1;
                self.last_found = Some(file.rel_path);
            }
            Some(row) => {
                self.last_found = Some(file.rel_path.clone());
                self.unmatched.changed_files.push((row.id, file));
            }
            None => {
                self.last_found = Some(file.rel_path.clone());
                self.unmatched.unknown.push(file);
            }
        }
        Ok(())
    }

    fn take_row(&mut self) -> Result<IndexedFile, OutOfOrder> {
        let row = self.rows.next().expect("peeked");
        if let Some(previous) = &self.last_row
            && row.rel_path <= *previous
        {
            return Err(OutOfOrder {
                side: "the catalog",
                path: row.rel_path,
                previous: previous.clone(),
            });
        }
        self.unmatched.cataloged += 1;
        self.last_row = Some(row.rel_path.clone());
        Ok(row)
    }

    /// Ends the walk: the rows left have no file.
    pub fn finish(mut self) -> Result<Unmatched, OutOfOrder> {
        while self.rows.peek().is_some() {
            let row = self.take_row()?;
            self.unmatched.vanished.push(row);
        }
        Ok(self.unmatched)
    }
}

/// What a merge of one or more scopes left to decide: files and rows that
/// did not match by path. Scopes are merged one by one and their leftovers
/// joined with [`Unmatched::absorb`] before [`Unmatched::plan`], so a file
/// moved from one scope to another is still seen as a rename.
#[derive(Debug, Default)]
pub struct Unmatched {
    /// Files found at their row's path with the row's stat.
    pub unchanged: u64,
    /// Files found at their row's path with another stat.
    pub changed_files: Vec<(PhotoId, FoundFile)>,
    /// Files found where the catalog has no row.
    pub unknown: Vec<FoundFile>,
    /// Rows with no file at their path.
    pub vanished: Vec<IndexedFile>,
    /// Rows the catalog listed.
    pub cataloged: u64,
    /// Files the walk found.
    pub found: u64,
}

impl Unmatched {
    pub fn absorb(&mut self, other: Unmatched) {
        self.unchanged += other.unchanged;
        self.changed_files.extend(other.changed_files);
        self.unknown.extend(other.unknown);
        self.vanished.extend(other.vanished);
        self.cataloged += other.cataloged;
        self.found += other.found;
    }

    /// Pairs vanished rows with unknown files of the same stat (renames),
    /// and plans the rest as new or removed, keeping every row under a
    /// folder in `unreadable`.
    pub fn plan(self, unreadable: &[RelPath]) -> ReconcilePlan {
        let mut plan = ReconcilePlan {
            unchanged: self.unchanged,
            changed_files: self.changed_files,
            ..ReconcilePlan::default()
        };
        let mut vanished: HashMap<FileStat, PhotoId> = HashMap::new();
        for row in self.vanished {
            if unreadable.iter().any(|dir| dir.contains(&row.rel_path)) {
                continue;
            }
            // Two rows with one stat (hard links) cannot both be renames; the
            // second is simply removed.
            if let Some(dup) = vanished.insert(row.stat, row.id) {
                plan.removed.push(dup);
            }
        }
        // In place: a first scan of a big root finds every file unknown,
        // and a second list of them would double what the scan holds.
        let mut unknown = self.unknown;
        if !vanished.is_empty() {
            unknown.retain(|file| match vanished.remove(&file.stat) {
                Some(id) => {
                    plan.renamed.push((id, file.clone()));
                    false
                }
                None => true,
            });
        }
        plan.new_files = unknown;
        plan.removed.extend(vanished.into_values());
        plan.removed.sort();
        plan
    }
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

    /// A depth-first walk that sorts each folder with [`walk_order`] lists
    /// files in the byte order of their paths, whatever the names: the
    /// merge depends on it.
    #[test]
    fn a_walk_in_walk_order_lists_paths_in_byte_order() {
        let names: [&[u8]; 9] = [
            b"a",
            b"a-b",
            b"a.jpg",
            b"a0",
            b"A",
            b"a b",
            b"\xff",
            b"\xe9t\xe9",
            b"z",
        ];
        // A tree two levels deep where every name is both a file and (under
        // another parent) a folder.
        #[derive(Debug)]
        enum Node {
            File,
            Dir(Vec<(Vec<u8>, Node)>),
        }
        fn tree(depth: usize, names: &[&[u8]]) -> Vec<(Vec<u8>, Node)> {
            names
                .iter()
                .enumerate()
                .map(|(i, name)| {
                    let node = if depth > 0 && i % 2 == 0 {
                        Node::Dir(tree(depth - 1, names))
                    } else {
                        Node::File
                    };
                    (name.to_vec(), node)
                })
                .collect()
        }
        fn walk(prefix: &[u8], entries: &mut Vec<(Vec<u8>, Node)>, out: &mut Vec<Vec<u8>>) {
            entries.sort_by(|(a, an), (b, bn)| {
                walk_order(a, matches!(an, Node::Dir(_)), b, matches!(bn, Node::Dir(_)))
            });
            for (name, node) in entries {
                let mut path = prefix.to_vec();
                if !path.is_empty() {
                    path.push(b'/');
                }
                path.extend_from_slice(name);
                match node {
                    Node::File => out.push(path),
                    Node::Dir(children) => walk(&path, children, out),
                }
            }
        }
        let mut root = tree(2, &names);
        let mut walked = Vec::new();
        walk(b"", &mut root, &mut walked);
        let mut sorted = walked.clone();
        sorted.sort();
        assert!(walked.len() > 100);
        assert_eq!(walked, sorted);
    }

    #[test]
    fn a_merge_refuses_input_out_of_order() {
        let mut merge = SortedMerge::new(vec![row(1, "a.jpg", 1)].into_iter());
        merge.found(file("b.jpg", 2)).unwrap();
        let err = merge.found(file("a.jpg", 1)).unwrap_err();
        assert_eq!(err.side, "the walk");

        let rows = vec![row(2, "b.jpg", 2), row(1, "a.jpg", 1)];
        let mut merge = SortedMerge::new(rows.into_iter());
        merge.found(file("c.jpg", 3)).unwrap_err();
    }

    /// Leftovers of two scopes joined before planning: a photo moved from
    /// one to the other is a rename, not a removal and a new photo.
    #[test]
    fn a_move_between_scopes_is_a_rename() {
        let from = SortedMerge::new(vec![row(1, "a/x.jpg", 7)].into_iter());
        let mut unmatched = from.finish().unwrap();
        let mut to = SortedMerge::new(std::iter::empty());
        to.found(file("b/x.jpg", 7)).unwrap();
        unmatched.absorb(to.finish().unwrap());
        let plan = unmatched.plan(&[]);
        assert_eq!(plan.renamed, vec![(PhotoId(1), file("b/x.jpg", 7))]);
        assert!(plan.removed.is_empty() && plan.new_files.is_empty());
    }

    /// An unchanged scope leaves nothing behind but counts.
    #[test]
    fn an_unchanged_scope_leaves_nothing_to_hold() {
        let rows: Vec<_> = (0..1000)
            .map(|i| row(i, &format!("d/{i:04}.jpg"), i as u64))
            .collect();
        let mut merge = SortedMerge::new(rows.into_iter());
        for i in 0..1000 {
            merge.found(file(&format!("d/{i:04}.jpg"), i)).unwrap();
        }
        let unmatched = merge.finish().unwrap();
        assert_eq!(
            (unmatched.unchanged, unmatched.cataloged, unmatched.found),
            (1000, 1000, 1000)
        );
        assert!(unmatched.unknown.is_empty() && unmatched.vanished.is_empty());
        assert!(unmatched.changed_files.is_empty());
    }
}
