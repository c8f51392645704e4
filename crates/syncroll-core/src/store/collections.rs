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

const SELECT_COLLECTIONS: &str = "
    SELECT c.id, c.name, c.kind, c.folder_root_id, c.folder_rel_path, fr.path AS folder_root_path,
           rem.name AS remote_name, c.created_at, COUNT(p.id) AS photo_count,
           COALESCE(SUM(p.size), 0) AS total_bytes, c.sync_enabled, c.paused_until,
           COALESCE(SUM(EXISTS (SELECT 1 FROM remote_objects o WHERE o.remote_id = c.remote_id
                                AND o.collection_id = c.id AND o.blake3 = p.blake3)), 0) AS synced_count,
           COALESCE(SUM(CASE WHEN EXISTS (SELECT 1 FROM remote_objects o WHERE o.remote_id = c.remote_id
                                AND o.collection_id = c.id AND o.blake3 = p.blake3) THEN p.size END), 0) AS synced_bytes
    FROM collections c
    JOIN remotes rem ON rem.id = c.remote_id
    LEFT JOIN roots fr ON fr.id = c.folder_root_id
    LEFT JOIN collection_photos cp ON cp.collection_id = c.id
    LEFT JOIN photos p ON p.id = cp.photo_id";

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
        let rows: Vec<CollectionRow> = sqlx::query_as(&format!(
            "{SELECT_COLLECTIONS} GROUP BY c.id ORDER BY c.name"
        ))
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
        let row: Option<CollectionRow> = sqlx::query_as(&format!(
            "{SELECT_COLLECTIONS} WHERE c.name = ? GROUP BY c.id"
        ))
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
         SELECT ?1, id, ?6 FROM photos WHERE root_id = ?2
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
