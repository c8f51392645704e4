//! Collections and their materialised membership.

use std::path::PathBuf;

use super::Store;
use crate::error::{DbContext, Error, Result};
use crate::names::validate_name;
use crate::types::{
    Collection, CollectionId, CollectionKind, RelPath, RemoteId, Root, RootId, unix_now,
};

#[derive(sqlx::FromRow)]
struct CollectionRow {
    id: i64,
    name: String,
    kind: String,
    folder_root_id: Option<i64>,
    folder_rel_path: Option<Vec<u8>>,
    folder_root_path: Option<String>,
    remote_name: String,
    created_at: i64,
    photo_count: i64,
    total_bytes: i64,
    sync_enabled: bool,
    paused_until: i64,
    synced_count: i64,
    synced_bytes: i64,
}

/// Collections with their tallies (one row each, kept by the schema's
/// triggers: see the `collection_tallies` migration).
const SELECT_COLLECTIONS: &str = "
    SELECT c.id, c.name, c.kind, c.folder_root_id, c.folder_rel_path, fr.path AS folder_root_path,
           rem.name AS remote_name, c.created_at, COALESCE(t.members, 0) AS photo_count,
           COALESCE(t.member_bytes, 0) AS total_bytes, c.sync_enabled, c.paused_until,
           COALESCE(t.synced, 0) AS synced_count, COALESCE(t.synced_bytes, 0) AS synced_bytes
    FROM collections c
    JOIN remotes rem ON rem.id = c.remote_id
    LEFT JOIN roots fr ON fr.id = c.folder_root_id
    LEFT JOIN collection_tallies t ON t.collection_id = c.id";

/// What the tallies must equal: every collection's members counted anew
/// (their bytes with their sidecars').
#[cfg(test)]
const RECOUNT_COLLECTIONS: &str = "
    SELECT c.id, COUNT(p.id),
           COALESCE(SUM(p.size + (SELECT COALESCE(SUM(s.size), 0) FROM photos s
                                  WHERE s.owner_id = p.id)), 0),
           COALESCE(SUM(EXISTS (SELECT 1 FROM remote_objects o WHERE o.remote_id = c.remote_id
                                AND o.collection_id = c.id AND o.blake3 = p.blake3)), 0),
           COALESCE(SUM(CASE WHEN EXISTS (SELECT 1 FROM remote_objects o WHERE o.remote_id = c.remote_id
                                AND o.collection_id = c.id AND o.blake3 = p.blake3) THEN p.size END), 0)
    FROM collections c
    LEFT JOIN collection_photos cp ON cp.collection_id = c.id
    LEFT JOIN photos p ON p.id = cp.photo_id
    GROUP BY c.id ORDER BY c.id";

fn collection_from_row(row: CollectionRow) -> Collection {
    let CollectionRow {
        id,
        name,
        kind,
        folder_root_id: folder_root,
        folder_rel_path: folder_rel,
        folder_root_path,
        remote_name: remote,
        created_at,
        photo_count: count,
        total_bytes: bytes,
        sync_enabled,
        paused_until,
        synced_count,
        synced_bytes,
    } = row;
    let (kind, folder) = match (kind.as_str(), folder_root, folder_rel, folder_root_path) {
        ("folder", Some(root_id), Some(rel), Some(root_path)) => {
            let rel_path = RelPath::from_bytes(rel);
            let folder = rel_path.under(&PathBuf::from(root_path));
            (
                CollectionKind::Folder {
                    root_id: RootId(root_id),
                    rel_path,
                },
                Some(folder),
            )
        }
        _ => (CollectionKind::Manual, None),
    };
    Collection {
        id: CollectionId(id),
        name,
        kind,
        folder,
        remote_name: remote,
        photo_count: count as u64,
        total_bytes: bytes as u64,
        created_at,
        sync_enabled,
        paused_until,
        synced_count: synced_count as u64,
        synced_bytes: synced_bytes as u64,
    }
}

/// Where a new collection's photos come from.
#[derive(Debug, Clone)]
pub enum NewCollectionSource<'a> {
    Manual,
    Folder {
        root: &'a Root,
        rel_path: &'a RelPath,
    },
}

impl Store {
    /// Creates a collection; a folder collection starts holding every photo
    /// already indexed under its folder.
    pub async fn create_collection(
        &self,
        name: &str,
        source: NewCollectionSource<'_>,
        remote: RemoteId,
    ) -> Result<Collection> {
        validate_name("collection", name)?;
        let now = unix_now();
        let (kind, root_id, rel) = match &source {
            NewCollectionSource::Manual => ("manual", None, None),
            NewCollectionSource::Folder { root, rel_path } => (
                "folder",
                Some(root.id.0),
                Some(rel_path.as_bytes().to_vec()),
            ),
        };
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .db("starting a transaction")?;
        let inserted = sqlx::query(
            "INSERT INTO collections (name, kind, folder_root_id, folder_rel_path, remote_id, created_at)
             VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING RETURNING id",
        )
        .bind(name)
        .bind(kind)
        .bind(root_id)
        .bind(rel)
        .bind(remote.0)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await
        .db("creating a collection")?;
        let Some(row) = inserted else {
            return Err(Error::CollectionExists(name.to_owned()));
        };
        let id: i64 = sqlx::Row::get(&row, 0);
        if let NewCollectionSource::Folder { root, rel_path } = source {
            add_photos_under(&mut tx, CollectionId(id), root.id, rel_path, now).await?;
        }
        tx.commit().await.db("committing a new collection")?;
        self.collection(name).await
    }

    /// Every collection with its totals, ordered by name.
    pub async fn collections(&self) -> Result<Vec<Collection>> {
        let rows: Vec<CollectionRow> =
            sqlx::query_as(&format!("{SELECT_COLLECTIONS} ORDER BY c.name"))
                .fetch_all(&self.pool)
                .await
                .db("listing collections")?;
        Ok(rows.into_iter().map(collection_from_row).collect())
    }

    /// How many collections there are.
    pub async fn collection_count(&self) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM collections")
            .fetch_one(&self.pool)
            .await
            .db("counting collections")?;
        Ok(n as u64)
    }

    /// The collection called `name`.
    pub async fn collection(&self, name: &str) -> Result<Collection> {
        let row: Option<CollectionRow> =
            sqlx::query_as(&format!("{SELECT_COLLECTIONS} WHERE c.name = ?"))
                .bind(name)
                .fetch_optional(&self.pool)
                .await
                .db("looking up a collection")?;
        row.map(collection_from_row)
            .ok_or_else(|| Error::CollectionNotFound(name.to_owned()))
    }

    /// Renames a collection.
    pub async fn rename_collection(&self, name: &str, new_name: &str) -> Result<Collection> {
        validate_name("collection", new_name)?;
        let collection = self.collection(name).await?;
        if name != new_name && self.collection(new_name).await.is_ok() {
            return Err(Error::CollectionExists(new_name.to_owned()));
        }
        sqlx::query("UPDATE collections SET name = ? WHERE id = ?")
            .bind(new_name)
            .bind(collection.id.0)
            .execute(&self.pool)
            .await
            .db("renaming a collection")?;
        self.collection(new_name).await
    }

    /// Deletes a collection (never its photos).
    pub async fn delete_collection(&self, name: &str) -> Result<()> {
        let collection = self.collection(name).await?;
        if collection.sync_enabled {
            return Err(Error::CollectionSynced(name.to_owned()));
        }
        sqlx::query("DELETE FROM collections WHERE id = ?")
            .bind(collection.id.0)
            .execute(&self.pool)
            .await
            .db("deleting a collection")?;
        Ok(())
    }

    /// Adds every photo at or under `rel_path` of `root` to a manual
    /// collection; returns how many were not members yet.
    pub async fn add_to_collection(
        &self,
        collection: &Collection,
        root: &Root,
        rel_path: &RelPath,
    ) -> Result<u64> {
        ensure_manual(collection)?;
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .db("starting a transaction")?;
        let added = add_photos_under(&mut tx, collection.id, root.id, rel_path, unix_now()).await?;
        tx.commit().await.db("committing collection members")?;
        Ok(added)
    }

    /// Removes every photo at or under `rel_path` of `root` from a manual
    /// collection; returns how many were members.
    pub async fn remove_from_collection(
        &self,
        collection: &Collection,
        root: &Root,
        rel_path: &RelPath,
    ) -> Result<u64> {
        ensure_manual(collection)?;
        let (low, high) = rel_path.descendant_range();
        let removed = sqlx::query(
            "DELETE FROM collection_photos WHERE collection_id = ?1 AND photo_id IN (
                 SELECT id FROM photos WHERE root_id = ?2
                 AND (?3 = x'' OR rel_path = ?3 OR (rel_path >= ?4 AND rel_path < ?5)))",
        )
        .bind(collection.id.0)
        .bind(root.id.0)
        .bind(rel_path.as_bytes())
        .bind(low)
        .bind(high)
        .execute(&self.pool)
        .await
        .db("removing collection members")?;
        Ok(removed.rows_affected())
    }
}

fn ensure_manual(collection: &Collection) -> Result<()> {
    match &collection.folder {
        Some(folder) => Err(Error::FolderCollectionMembership {
            name: collection.name.clone(),
            folder: folder.clone(),
        }),
        None => Ok(()),
    }
}

async fn add_photos_under(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    collection: CollectionId,
    root: RootId,
    rel_path: &RelPath,
    now: i64,
) -> Result<u64> {
    let (low, high) = rel_path.descendant_range();
    let done = sqlx::query(
        "INSERT OR IGNORE INTO collection_photos (collection_id, photo_id, added_at)
         SELECT ?1, id, ?6 FROM photos WHERE root_id = ?2 AND sidecar = 0
         AND (?3 = x'' OR rel_path = ?3 OR (rel_path >= ?4 AND rel_path < ?5))",
    )
    .bind(collection.0)
    .bind(root.0)
    .bind(rel_path.as_bytes())
    .bind(low)
    .bind(high)
    .bind(now)
    .execute(&mut **tx)
    .await
    .db("adding collection members")?;
    Ok(done.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn run(store: &Store, sql: &str) {
        sqlx::query(sql).execute(&store.pool).await.unwrap();
    }

    type Tally = (i64, i64, i64, i64, i64);

    async fn tallies(store: &Store) -> Vec<Tally> {
        sqlx::query_as(
            "SELECT collection_id, members, member_bytes, synced, synced_bytes
             FROM collection_tallies ORDER BY collection_id",
        )
        .fetch_all(&store.pool)
        .await
        .unwrap()
    }

    async fn recounted(store: &Store) -> Vec<Tally> {
        sqlx::query_as(RECOUNT_COLLECTIONS)
            .fetch_all(&store.pool)
            .await
            .unwrap()
    }

    /// The tallies `status` reads equal a recount of the members, after
    /// every kind of change to photos, memberships, the ledger and the
    /// collections themselves.
    #[tokio::test]
    async fn collection_tallies_follow_every_change() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("c.db")).await.unwrap();
        let h = |n: u8| format!("x'{}'", format!("{n:02x}").repeat(32));
        let steps: Vec<String> = vec![
            "INSERT INTO remotes (name, kind, created_at) VALUES ('r1', 'fs', 0), ('r2', 'fs', 0)".into(),
            "INSERT INTO roots (path, state, added_at) VALUES ('/p', 'online', 0)".into(),
            format!(
                "INSERT INTO photos (root_id, rel_path, size, mtime_ns, inode, blake3, indexed_at)
                 VALUES (1, x'61', 100, 0, 1, {}, 0), (1, x'62', 200, 0, 2, {}, 0),
                        (1, x'63', 300, 0, 3, {}, 0)",
                h(1),
                h(2),
                h(1)
            ),
            "INSERT INTO collections (name, kind, remote_id, created_at)
             VALUES ('C1', 'manual', 1, 0), ('C2', 'manual', 1, 0)"
                .into(),
            "INSERT INTO collection_photos (collection_id, photo_id, added_at)
             VALUES (1, 1, 0), (1, 2, 0), (1, 3, 0), (2, 2, 0)"
                .into(),
            // Two members with the same bytes are synced by one copy.
            format!(
                "INSERT INTO remote_objects (remote_id, key, blake3, size, collection_id, uploaded_at, rel_path)
                 VALUES (1, 'C1/a', {}, 100, 1, 0, x'61')",
                h(1)
            ),
            format!(
                "INSERT INTO remote_objects (remote_id, key, blake3, size, collection_id, uploaded_at, rel_path)
                 VALUES (1, 'C1/c', {}, 300, 1, 0, x'63')",
                h(1)
            ),
            "DELETE FROM remote_objects WHERE key = 'C1/a'".into(),
            "DELETE FROM remote_objects WHERE key = 'C1/c'".into(),
            format!(
                "INSERT INTO remote_objects (remote_id, key, blake3, size, collection_id, uploaded_at, rel_path)
                 VALUES (1, 'C1/b', {}, 200, 1, 0, x'62')",
                h(2)
            ),
            // An upsert replacing the bytes under a key.
            format!("UPDATE remote_objects SET blake3 = {} WHERE key = 'C1/b'", h(3)),
            // The photo changes to the bytes the copy has, and grows.
            format!("UPDATE photos SET blake3 = {}, size = 250 WHERE id = 2", h(3)),
            // A copy on another remote than the collection's counts for nothing.
            format!(
                "INSERT INTO remote_objects (remote_id, key, blake3, size, collection_id, uploaded_at, rel_path)
                 VALUES (2, 'C1/a', {}, 100, 1, 0, x'61')",
                h(1)
            ),
            "DELETE FROM photos WHERE id = 1".into(),
            "DELETE FROM collection_photos WHERE collection_id = 1 AND photo_id = 3".into(),
            "UPDATE collections SET remote_id = 2 WHERE id = 1".into(),
            "UPDATE remote_objects SET collection_id = 2 WHERE key = 'C1/b'".into(),
            "DELETE FROM collections WHERE id = 2".into(),
            "UPDATE photos SET size = 260 WHERE id = 2".into(),
            // Sidecars: counted in their owner's bytes, never as photos.
            "INSERT INTO photos (root_id, rel_path, size, mtime_ns, inode, blake3, indexed_at, sidecar)
             VALUES (1, x'622e786d70', 7, 0, 4, x'00', 0, 1), (1, x'642e786d70', 9, 0, 5, x'00', 0, 1)"
                .into(),
            "UPDATE photos SET owner_id = 2 WHERE id IN (4, 5)".into(),
            "UPDATE photos SET size = 8 WHERE id = 4".into(),
            "UPDATE photos SET owner_id = 3 WHERE id = 5".into(),
            "INSERT INTO collection_photos (collection_id, photo_id, added_at) VALUES (1, 3, 0)".into(),
            "DELETE FROM collection_photos WHERE collection_id = 1 AND photo_id = 2".into(),
            "INSERT INTO collection_photos (collection_id, photo_id, added_at) VALUES (1, 2, 0)".into(),
            "DELETE FROM photos WHERE id = 4".into(),
            "UPDATE photos SET owner_id = NULL WHERE owner_id = 3".into(),
            "DELETE FROM photos WHERE id = 3".into(),
            "UPDATE photos SET sidecar = 0 WHERE id = 5".into(),
            "DELETE FROM roots WHERE id = 1".into(),
        ];
        let roots = |store: Store| async move {
            let kept: Vec<(i64, i64, i64)> =
                sqlx::query_as("SELECT root_id, photos, bytes FROM root_tallies ORDER BY root_id")
                    .fetch_all(&store.pool)
                    .await
                    .unwrap();
            let counted: Vec<(i64, i64, i64)> = sqlx::query_as(
                "SELECT r.id, COUNT(p.id) - COALESCE(SUM(p.sidecar), 0), COALESCE(SUM(p.size), 0) FROM roots r
                 LEFT JOIN photos p ON p.root_id = r.id GROUP BY r.id ORDER BY r.id",
            )
            .fetch_all(&store.pool)
            .await
            .unwrap();
            (kept, counted)
        };
        for step in &steps {
            run(&store, step).await;
            assert_eq!(
                tallies(&store).await,
                recounted(&store).await,
                "after {step}"
            );
            let (kept, counted) = roots(store.clone()).await;
            assert_eq!(kept, counted, "roots after {step}");
        }
        assert_eq!(tallies(&store).await, vec![(1, 0, 0, 0, 0)]);
    }
}
