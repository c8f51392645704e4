//! Photos: the rows the scanner keeps true, the folder-collection membership
//! that follows them, and paged reads for streaming listings.

use std::collections::BTreeMap;
use std::path::PathBuf;

use sqlx::{Sqlite, Transaction};

use super::Store;
use crate::error::{DbContext, Error, Result};
use crate::reconcile::{FoundFile, IndexedFile};
use crate::root_identity::VerifiedRoot;
use crate::sidecars::{Role, SidecarRules, name_stem, split_path, stem_range};
use crate::types::{
    CollectionId, ContentHash, FileStat, Photo, PhotoId, RelPath, RootId, unix_now,
};

/// One batch of changes to a root's photos, applied in one transaction.
#[derive(Debug, Default)]
pub struct PhotoChanges {
    pub removed: Vec<PhotoId>,
    pub renamed: Vec<(PhotoId, FoundFile)>,
    pub rehashed: Vec<(PhotoId, FoundFile, ContentHash)>,
    pub added: Vec<(FoundFile, ContentHash)>,
}

impl PhotoChanges {
    pub fn is_empty(&self) -> bool {
        self.removed.is_empty()
            && self.renamed.is_empty()
            && self.rehashed.is_empty()
            && self.added.is_empty()
    }
}

/// Which photos a listing wants.
#[derive(Debug, Clone, Copy, Default)]
pub struct PhotoFilterQuery {
    pub collection: Option<CollectionId>,
}

/// Where the previous page of a listing ended (keyset pagination, so a page
/// costs the same however deep into the catalog it is).
#[derive(Debug, Clone, Default)]
pub struct PhotoPageCursor {
    after: Option<(i64, Vec<u8>)>,
}

type PhotoRow = (i64, i64, String, String, Vec<u8>, i64, i64, i64, Vec<u8>);

fn photo_from_row(
    (id, root_id, root_path, root_state, rel, size, mtime_ns, inode, hash): PhotoRow,
) -> Photo {
    let mut digest = [0u8; 32];
    if hash.len() == 32 {
        digest.copy_from_slice(&hash);
    }
    Photo {
        id: PhotoId(id),
        root_id: RootId(root_id),
        root_path: PathBuf::from(root_path),
        root_missing: root_state == "missing",
        rel_path: RelPath::from_bytes(rel),
        stat: FileStat {
            size: size as u64,
            mtime_ns,
            inode: inode as u64,
        },
        hash: ContentHash(digest),
    }
}

impl Store {
    /// One page of the catalog's rows of `scope` (the path itself and what
    /// lies below it) in path order, the first `limit` after `after`: a
    /// scan merges them with its walk page by page instead of loading the
    /// whole root (keyset paging on the `(root_id, rel_path)` index, so
    /// every page costs the same).
    pub async fn indexed_files_page(
        &self,
        root: RootId,
        scope: &RelPath,
        after: Option<&RelPath>,
        limit: u32,
    ) -> Result<Vec<IndexedFile>> {
        let mut rows: Vec<(i64, Vec<u8>, i64, i64, i64)> = Vec::new();
        let query = if scope.is_root() {
            // Every path is longer than the empty one.
            let after = after.map_or(&[][..], RelPath::as_bytes);
            sqlx::query_as(
                "SELECT id, rel_path, size, mtime_ns, inode FROM photos
                 WHERE root_id = ?1 AND rel_path > ?2 ORDER BY rel_path LIMIT ?3",
            )
            .bind(root.0)
            .bind(after.to_vec())
            .bind(limit)
        } else {
            let (low, high) = scope.descendant_range();
            // The scope's own row (a scope that is a file) sorts before
            // its descendants, and not every path between the two is one
            // of them ("a.jpg" lies between "a" and "a/"): it comes alone.
            if after.is_none() {
                rows = sqlx::query_as(
                    "SELECT id, rel_path, size, mtime_ns, inode FROM photos
                     WHERE root_id = ?1 AND rel_path = ?2",
                )
                .bind(root.0)
                .bind(scope.as_bytes())
                .fetch_all(&self.pool)
                .await
                .db("reading indexed files")?;
            }
            match after.filter(|after| after.as_bytes() >= low.as_slice()) {
                Some(after) => sqlx::query_as(
                    "SELECT id, rel_path, size, mtime_ns, inode FROM photos
                     WHERE root_id = ?1 AND rel_path > ?2 AND rel_path < ?3
                     ORDER BY rel_path LIMIT ?4",
                )
                .bind(root.0)
                .bind(after.as_bytes().to_vec()),
                None => sqlx::query_as(
                    "SELECT id, rel_path, size, mtime_ns, inode FROM photos
                     WHERE root_id = ?1 AND rel_path >= ?2 AND rel_path < ?3
                     ORDER BY rel_path LIMIT ?4",
                )
                .bind(root.0)
                .bind(low),
            }
            .bind(high)
            .bind(limit.saturating_sub(rows.len() as u32))
        };
        rows.extend(
            query
                .fetch_all(&self.pool)
                .await
                .db("reading indexed files")?,
        );
        Ok(rows.into_iter().map(indexed_file).collect())
    }

    /// Applies one batch of scan results to a root in one transaction, and
    /// keeps folder collections following their folders.
    ///
    /// The one way photo rows of a root change (besides `roots remove`), so
    /// the one place that holds the missing-root rule: it takes a
    /// [`VerifiedRoot`], which only `root_identity::verify` makes, and in
    /// the same transaction refuses the batch unless the root is still
    /// online with that identity, so a root marked missing or accepted with
    /// a new identity since the check loses nothing.
    pub async fn apply_photo_changes(
        &self,
        verified: &VerifiedRoot,
        changes: &PhotoChanges,
    ) -> Result<()> {
        if changes.is_empty() {
            return Ok(());
        }
        let root = verified.id();
        let now = unix_now();
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .db("starting a transaction")?;
        check_still_verified(&mut tx, verified).await?;
        let folders = folder_collections(&mut tx, root).await?;
        // Every path this batch touches, before and after: the sidecars
        // and Live Photo motion files whose owner they may change are
        // looked at again once the batch is in (`resolve_sidecars`).
        let mut touched: Vec<Vec<u8>> = Vec::new();
        // Removals first, then renames, so a path freed by one can be taken
        // by another within the batch without a uniqueness conflict.
        for id in &changes.removed {
            touched.extend(path_of(&mut tx, *id).await?);
            // Its sidecars lose their owner now, not by the foreign key
            // after the memberships are gone, so that their bytes leave the
            // owner's collections (`tally_sidecar_changed`).
            sqlx::query("UPDATE photos SET owner_id = NULL WHERE owner_id = ?")
                .bind(id.0)
                .execute(&mut *tx)
                .await
                .db("detaching sidecars")?;
            sqlx::query("DELETE FROM photos WHERE id = ?")
                .bind(id.0)
                .execute(&mut *tx)
                .await
                .db("removing a photo")?;
        }
        for (id, file) in &changes.renamed {
            touched.extend(path_of(&mut tx, *id).await?);
            touched.push(file.rel_path.as_bytes().to_vec());
            sqlx::query(
                "UPDATE photos SET rel_path = ?, size = ?, mtime_ns = ?, inode = ?, indexed_at = ?
                 WHERE id = ?",
            )
            .bind(file.rel_path.as_bytes())
            .bind(file.stat.size as i64)
            .bind(file.stat.mtime_ns)
            .bind(file.stat.inode as i64)
            .bind(now)
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .db("renaming a photo")?;
            sync_folder_membership(&mut tx, &folders, *id, &file.rel_path, now).await?;
        }
        for (id, file, hash) in &changes.rehashed {
            sqlx::query(
                "UPDATE photos SET size = ?, mtime_ns = ?, inode = ?, blake3 = ?, indexed_at = ?
                 WHERE id = ?",
            )
            .bind(file.stat.size as i64)
            .bind(file.stat.mtime_ns)
            .bind(file.stat.inode as i64)
            .bind(&hash.0[..])
            .bind(now)
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .db("updating a photo")?;
            rejoin_departed(&mut tx, *id, now).await?;
        }
        for (file, hash) in &changes.added {
            let name = file_name(&file.rel_path);
            let owner = match self.sidecars.role(name) {
                Role::Motion => {
                    owner_of(
                        &mut tx,
                        &self.sidecars,
                        root,
                        None,
                        file.rel_path.as_bytes(),
                    )
                    .await?
                }
                Role::Sidecar | Role::Other => None,
            };
            // The owner itself is recorded by `resolve_sidecars` below, so
            // that its triggers see an update.
            let sidecar = self.sidecars.is_sidecar(name, owner);
            touched.push(file.rel_path.as_bytes().to_vec());
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO photos (root_id, rel_path, size, mtime_ns, inode, blake3, indexed_at, sidecar)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            )
            .bind(root.0)
            .bind(file.rel_path.as_bytes())
            .bind(file.stat.size as i64)
            .bind(file.stat.mtime_ns)
            .bind(file.stat.inode as i64)
            .bind(&hash.0[..])
            .bind(now)
            .bind(sidecar)
            .fetch_one(&mut *tx)
            .await
            .db("adding a photo")?;
            sync_folder_membership(&mut tx, &folders, PhotoId(id), &file.rel_path, now).await?;
        }
        resolve_sidecars(&mut tx, &self.sidecars, root, &folders, touched, now).await?;
        tx.commit().await.db("committing scan results")?;
        Ok(())
    }

    /// Photo count over the whole catalog.
    pub async fn photo_count(&self) -> Result<u64> {
        // The roots' tallies, kept by triggers: not a walk of every photo.
        let n: i64 = sqlx::query_scalar("SELECT COALESCE(SUM(photos), 0) FROM root_tallies")
            .fetch_one(&self.pool)
            .await
            .db("counting photos")?;
        Ok(n as u64)
    }

    /// The next page of a listing, ordered by root and path; an empty page
    /// ends it.
    pub async fn photos_page(
        &self,
        filter: PhotoFilterQuery,
        cursor: &mut PhotoPageCursor,
        page_size: u32,
    ) -> Result<Vec<Photo>> {
        let (after_root, after_path) = cursor.after.clone().unwrap_or((i64::MIN, Vec::new()));
        let rows: Vec<PhotoRow> = sqlx::query_as(
            // A photo's size is its own and its sidecars' (one probe of
            // `photos_by_owner` per row); sidecars are not listed.
            "SELECT p.id, p.root_id, r.path, r.state, p.rel_path,
                    p.size + (SELECT COALESCE(SUM(s.size), 0) FROM photos s WHERE s.owner_id = p.id),
                    p.mtime_ns, p.inode, p.blake3
             FROM photos p JOIN roots r ON r.id = p.root_id
             WHERE (p.root_id, p.rel_path) > (?1, ?2) AND p.sidecar = 0
               AND (?3 IS NULL OR EXISTS (SELECT 1 FROM collection_photos cp
                                          WHERE cp.collection_id = ?3 AND cp.photo_id = p.id))
             ORDER BY p.root_id, p.rel_path
             LIMIT ?4",
        )
        .bind(after_root)
        .bind(after_path)
        .bind(filter.collection.map(|c| c.0))
        .bind(i64::from(page_size))
        .fetch_all(&self.pool)
        .await
        .db("listing photos")?;
        let photos: Vec<Photo> = rows.into_iter().map(photo_from_row).collect();
        if let Some(last) = photos.last() {
            cursor.after = Some((last.root_id.0, last.rel_path.as_bytes().to_vec()));
        }
        Ok(photos)
    }
}

/// Refuses unless the root is online and its recorded identity is the one
/// `verified` found (or none is recorded yet, for an empty legacy root).
async fn check_still_verified(
    tx: &mut Transaction<'_, Sqlite>,
    verified: &VerifiedRoot,
) -> Result<()> {
    let row: Option<(String, String, Option<i64>, Option<i64>)> =
        sqlx::query_as("SELECT path, state, device, inode FROM roots WHERE id = ?")
            .bind(verified.id().0)
            .fetch_optional(&mut **tx)
            .await
            .db("checking a root before changing its photos")?;
    let Some((path, state, device, inode)) = row else {
        return Err(Error::RootGone(verified.id().0));
    };
    let identity = verified.identity();
    let same_folder = match device.zip(inode) {
        Some((device, inode)) => device as u64 == identity.device && inode as u64 == identity.inode,
        None => true,
    };
    if state != "online" || !same_folder {
        return Err(Error::RootNotVerified(PathBuf::from(path)));
    }
    Ok(())
}

/// The folder collections following a folder of `root`: (id, folder).
async fn folder_collections(
    tx: &mut Transaction<'_, Sqlite>,
    root: RootId,
) -> Result<Vec<(CollectionId, RelPath)>> {
    let rows: Vec<(i64, Vec<u8>)> = sqlx::query_as(
        "SELECT id, folder_rel_path FROM collections WHERE kind = 'folder' AND folder_root_id = ?",
    )
    .bind(root.0)
    .fetch_all(&mut **tx)
    .await
    .db("reading folder collections")?;
    Ok(rows
        .into_iter()
        .map(|(id, rel)| (CollectionId(id), RelPath::from_bytes(rel)))
        .collect())
}

/// A photo that departed a folder collection (its copy deleted on the
/// pulled album) and now holds other bytes was edited locally: modify
/// beats delete, so it is a member again (and is uploaded again).
async fn rejoin_departed(tx: &mut Transaction<'_, Sqlite>, photo: PhotoId, now: i64) -> Result<()> {
    sqlx::query(
        "INSERT OR IGNORE INTO collection_photos (collection_id, photo_id, added_at)
         SELECT d.collection_id, d.photo_id, ?2 FROM collection_departures d
         JOIN photos p ON p.id = d.photo_id
         WHERE d.photo_id = ?1 AND d.blake3 <> p.blake3",
    )
    .bind(photo.0)
    .bind(now)
    .execute(&mut **tx)
    .await
    .db("bringing an edited photo back into its collection")?;
    sqlx::query(
        "DELETE FROM collection_departures WHERE photo_id = ?1
         AND blake3 <> (SELECT blake3 FROM photos WHERE id = ?1)",
    )
    .bind(photo.0)
    .execute(&mut **tx)
    .await
    .db("forgetting a departure")?;
    Ok(())
}

/// The path of photo row `id`, if it exists.
async fn path_of(tx: &mut Transaction<'_, Sqlite>, id: PhotoId) -> Result<Option<Vec<u8>>> {
    sqlx::query_scalar("SELECT rel_path FROM photos WHERE id = ?")
        .bind(id.0)
        .fetch_optional(&mut **tx)
        .await
        .db("reading a photo's path")
}

fn file_name(rel: &RelPath) -> &[u8] {
    split_path(rel.as_bytes()).1
}

/// The owner of the sidecar or motion file at `path` in `root` (row `me`,
/// if it has one yet): the candidates are the photos named `N` or `N.…`,
/// N its name without extension, read by two probes of the
/// `(root_id, rel_path)` index.
async fn owner_of(
    tx: &mut Transaction<'_, Sqlite>,
    rules: &SidecarRules,
    root: RootId,
    me: Option<i64>,
    path: &[u8],
) -> Result<Option<PhotoId>> {
    let (dir, name) = split_path(path);
    let n = name_stem(name);
    let (low, high) = stem_range(dir, n);
    let exact = [dir, n].concat();
    let rows: Vec<(i64, Vec<u8>)> = sqlx::query_as(
        "SELECT id, rel_path FROM photos
         WHERE root_id = ?1 AND sidecar = 0 AND id IS NOT ?2
           AND (rel_path = ?3 OR (rel_path >= ?4 AND rel_path < ?5))",
    )
    .bind(root.0)
    .bind(me)
    .bind(exact)
    .bind(low)
    .bind(high)
    .fetch_all(&mut **tx)
    .await
    .db("finding a sidecar's photo")?;
    Ok(rules.owner(
        name,
        rows.iter()
            .map(|(id, rel)| (PhotoId(*id), split_path(rel).1)),
    ))
}

/// A file of a stem as `resolve_sidecars` reads it: (path, sidecar, owner).
type StemFile = (Vec<u8>, bool, Option<i64>);

/// Decides again, after a batch, what each sidecar or motion file whose
/// owner the batch's `touched` paths may change is and belongs to, and
/// writes what differs: the files of each touched path's stem (`N.…` for
/// a path `N.X`, one range probe each), motion files first, since whether
/// one is a sidecar decides whether it can own a stem's `.xmp`. A motion
/// file that became a sidecar leaves its collections; one that became a
/// photo joins its folder collections. The schema's triggers replan the
/// owners' groups and move the bytes in the tallies.
async fn resolve_sidecars(
    tx: &mut Transaction<'_, Sqlite>,
    rules: &SidecarRules,
    root: RootId,
    folders: &[(CollectionId, RelPath)],
    mut touched: Vec<Vec<u8>>,
    now: i64,
) -> Result<()> {
    touched.sort();
    touched.dedup();
    // (role order, id) → (path, sidecar, owner): each file once.
    let mut files: BTreeMap<(u8, i64), StemFile> = BTreeMap::new();
    for path in &touched {
        let (dir, name) = split_path(path);
        let (low, high) = stem_range(dir, name_stem(name));
        let rows: Vec<(i64, Vec<u8>, bool, Option<i64>)> = sqlx::query_as(
            "SELECT id, rel_path, sidecar, owner_id FROM photos
             WHERE root_id = ?1 AND (rel_path = ?2 OR (rel_path >= ?3 AND rel_path < ?4))",
        )
        .bind(root.0)
        .bind(path)
        .bind(low)
        .bind(high)
        .fetch_all(&mut **tx)
        .await
        .db("reading a stem's files")?;
        for (id, rel, sidecar, owner) in rows {
            let order = match rules.role(split_path(&rel).1) {
                Role::Motion => 0,
                Role::Sidecar => 1,
                Role::Other if sidecar => 2,
                Role::Other => continue,
            };
            files.insert((order, id), (rel, sidecar, owner));
        }
    }
    for ((order, id), (rel, was_sidecar, was_owner)) in files {
        let owner = match order {
            2 => None,
            _ => owner_of(tx, rules, root, Some(id), &rel)
                .await?
                .map(|p| p.0),
        };
        let sidecar = rules.is_sidecar(split_path(&rel).1, owner.map(PhotoId));
        if (sidecar, owner) == (was_sidecar, was_owner) {
            continue;
        }
        sqlx::query("UPDATE photos SET sidecar = ?, owner_id = ? WHERE id = ?")
            .bind(sidecar)
            .bind(owner)
            .bind(id)
            .execute(&mut **tx)
            .await
            .db("recording a sidecar's photo")?;
        if sidecar && !was_sidecar {
            sqlx::query("DELETE FROM collection_photos WHERE photo_id = ?")
                .bind(id)
                .execute(&mut **tx)
                .await
                .db("taking a sidecar out of collections")?;
        } else if !sidecar && was_sidecar {
            let rel = RelPath::from_bytes(rel);
            sync_folder_membership(tx, folders, PhotoId(id), &rel, now).await?;
        }
    }
    Ok(())
}

/// Makes `photo` a member of exactly the folder collections whose folder
/// holds `rel_path` (manual memberships are left as they are).
async fn sync_folder_membership(
    tx: &mut Transaction<'_, Sqlite>,
    folders: &[(CollectionId, RelPath)],
    photo: PhotoId,
    rel_path: &RelPath,
    now: i64,
) -> Result<()> {
    for (collection, folder) in folders {
        // A photo that departed (its copy deleted on the pulled album) stays
        // out while it holds the bytes it left with; new bytes bring it back.
        let sql = if folder.contains(rel_path) {
            // A sidecar is never a member: it travels with its photo.
            "INSERT OR IGNORE INTO collection_photos (collection_id, photo_id, added_at)
             SELECT ?1, ?2, ?3 FROM photos WHERE id = ?2 AND sidecar = 0 AND NOT EXISTS (
                 SELECT 1 FROM collection_departures d JOIN photos p ON p.id = d.photo_id
                 WHERE d.collection_id = ?1 AND d.photo_id = ?2 AND d.blake3 = p.blake3)"
        } else {
            "DELETE FROM collection_photos WHERE collection_id = ?1 AND photo_id = ?2 AND ?3 IS NOT NULL"
        };
        sqlx::query(sql)
            .bind(collection.0)
            .bind(photo.0)
            .bind(now)
            .execute(&mut **tx)
            .await
            .db("updating folder collection membership")?;
        if !folder.contains(rel_path) {
            // Moved out of the folder: no longer a departure of it either.
            sqlx::query(
                "DELETE FROM collection_departures WHERE collection_id = ? AND photo_id = ?",
            )
            .bind(collection.0)
            .bind(photo.0)
            .execute(&mut **tx)
            .await
            .db("forgetting a departure")?;
        }
    }
    Ok(())
}

impl Store {
    /// The photo at `rel_path` of `root`, if the catalog holds one.
    pub async fn photo_at(&self, root: RootId, rel_path: &RelPath) -> Result<Option<Photo>> {
        let row: Option<PhotoRow> = sqlx::query_as(
            "SELECT p.id, p.root_id, r.path, r.state, p.rel_path, p.size, p.mtime_ns, p.inode, p.blake3
             FROM photos p JOIN roots r ON r.id = p.root_id
             WHERE p.root_id = ? AND p.rel_path = ?",
        )
        .bind(root.0)
        .bind(rel_path.as_bytes())
        .fetch_optional(&self.pool)
        .await
        .db("reading a photo by path")?;
        Ok(row.map(photo_from_row))
    }

    /// The photo a sidecar at `rel_path` of `root` belongs to, by the rules
    /// the scanner applies when it indexes one (`owner_of`), whether or not
    /// the catalog holds the sidecar yet: the owner's id and path, `None`
    /// when no photo of its stem qualifies. The pull engine asks it for a
    /// sidecar new on the remote, before the file exists here.
    pub async fn sidecar_owner(
        &self,
        root: RootId,
        rel_path: &RelPath,
    ) -> Result<Option<(PhotoId, RelPath)>> {
        let mut tx = self.pool.begin().await.db("starting a read")?;
        let owner = owner_of(&mut tx, &self.sidecars, root, None, rel_path.as_bytes()).await?;
        let path = match owner {
            Some(id) => path_of(&mut tx, id).await?,
            None => None,
        };
        tx.commit().await.db("ending a read")?;
        Ok(owner.zip(path.map(RelPath::from_bytes)))
    }

    /// The photo with this id, if it is still in the catalog.
    pub async fn photo(&self, id: PhotoId) -> Result<Option<Photo>> {
        let row: Option<PhotoRow> = sqlx::query_as(
            "SELECT p.id, p.root_id, r.path, r.state, p.rel_path, p.size, p.mtime_ns, p.inode, p.blake3
             FROM photos p JOIN roots r ON r.id = p.root_id WHERE p.id = ?",
        )
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await
        .db("reading a photo")?;
        Ok(row.map(photo_from_row))
    }
}

/// A row of `SELECT id, rel_path, size, mtime_ns, inode FROM photos`.
fn indexed_file((id, rel, size, mtime_ns, inode): (i64, Vec<u8>, i64, i64, i64)) -> IndexedFile {
    IndexedFile {
        id: PhotoId(id),
        rel_path: RelPath::from_bytes(rel),
        stat: FileStat {
            size: size as u64,
            mtime_ns,
            inode: inode as u64,
        },
    }
}
