//! Connections' rows: the settings (`connections`), the base per key (the
//! ledger's `remote_*` and `local_mtime_ns` columns), and the conflicts
//! found (`conflicts`). The rules are in [`crate::connection`].

use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::Store;
use super::jobs::now_ms;
use crate::connection::{
    self, Base, ConnectRequest, Connection, Direction, LocalSide, RemoteSide, ReturnMode,
};
use crate::error::{DbContext, Error, Result};
use crate::job::JobEvent;
use crate::types::{CollectionId, ContentHash, PhotoId, RelPath, RemoteId, RootId};

#[derive(sqlx::FromRow)]
struct ConnectionRow {
    collection_id: i64,
    collection_name: String,
    remote_name: String,
    direction: String,
    returns: String,
    inbox: String,
    poll_secs: i64,
    created_at: i64,
    last_polled_at: Option<i64>,
    last_poll_outcome: String,
}

const SELECT_CONNECTIONS: &str = "
    SELECT k.collection_id, c.name AS collection_name, r.name AS remote_name, k.direction,
           k.returns, k.inbox, k.poll_secs, k.created_at, k.last_polled_at, k.last_poll_outcome
    FROM connections k
    JOIN collections c ON c.id = k.collection_id
    JOIN remotes r ON r.id = c.remote_id";

fn connection_from_row(row: ConnectionRow) -> Result<Connection> {
    // The schema's CHECKs keep these to the known names; anything else is
    // a damaged row, not a value to guess at.
    let direction =
        Direction::parse(&row.direction).ok_or(Error::InvalidDirection(row.direction))?;
    let returns = ReturnMode::parse(&row.returns).ok_or(Error::InvalidReturnMode(row.returns))?;
    Ok(Connection {
        collection_id: CollectionId(row.collection_id),
        collection_name: row.collection_name,
        remote_name: row.remote_name,
        direction,
        returns,
        inbox: PathBuf::from(row.inbox),
        poll: Duration::from_secs(row.poll_secs.max(0) as u64),
        created_at_ms: row.created_at,
        last_polled_at_ms: row.last_polled_at,
        last_poll_outcome: row.last_poll_outcome,
    })
}

/// A conflict as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub id: i64,
    pub collection_name: String,
    pub remote_name: String,
    pub key: String,
    /// The local file, which stayed as it was.
    pub local_path: PathBuf,
    /// Where the remote's bytes were saved.
    pub copy_path: PathBuf,
    /// Unix ms.
    pub detected_at_ms: i64,
    /// `None` while open.
    pub resolved_at_ms: Option<i64>,
}

/// A conflict to record.
#[derive(Debug, Clone)]
pub struct NewConflict<'a> {
    pub collection: CollectionId,
    pub remote: RemoteId,
    pub key: &'a str,
    pub local_path: &'a Path,
    pub copy_path: &'a Path,
    pub detected_at_ms: i64,
}

type ConflictRow = (
    i64,
    String,
    String,
    String,
    Vec<u8>,
    Vec<u8>,
    i64,
    Option<i64>,
);

/// A ledger row's base columns: (blake3, size, local_mtime_ns,
/// remote_size, remote_etag, remote_modified_ms, etag).
pub(super) type BaseRow = (
    Vec<u8>,
    i64,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<i64>,
    Option<String>,
);

/// A [`BaseRow`] with its key first.
type KeyedBaseRow = (
    String,
    Vec<u8>,
    i64,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<i64>,
    Option<String>,
);

pub(super) fn base_from_row(row: BaseRow) -> (Base, Option<String>) {
    let (hash, size, mtime_ns, remote_size, remote_etag, remote_modified_ms, etag) = row;
    let mut bytes = [0u8; 32];
    if hash.len() == 32 {
        bytes.copy_from_slice(&hash);
    }
    let remote = match (remote_size, remote_modified_ms) {
        (Some(size), Some(modified_ms)) => Some(RemoteSide {
            size: size.max(0) as u64,
            etag: remote_etag,
            modified_ms,
            // The sides agreed: the remote held the local bytes.
            hash: Some(ContentHash(bytes)),
        }),
        _ => None,
    };
    let base = Base {
        local: LocalSide {
            hash: ContentHash(bytes),
            size: size.max(0) as u64,
            mtime_ns: mtime_ns.unwrap_or(0),
        },
        remote,
    };
    (base, etag)
}

impl Store {
    /// The connection of a collection, if it has one.
    pub async fn connection(&self, collection: CollectionId) -> Result<Option<Connection>> {
        let row: Option<ConnectionRow> =
            sqlx::query_as(&format!("{SELECT_CONNECTIONS} WHERE k.collection_id = ?"))
                .bind(collection.0)
                .fetch_optional(&self.pool)
                .await
                .db("reading a connection")?;
        row.map(connection_from_row).transpose()
    }

    /// Every connection, by collection name.
    pub async fn connections(&self) -> Result<Vec<Connection>> {
        let rows: Vec<ConnectionRow> =
            sqlx::query_as(&format!("{SELECT_CONNECTIONS} ORDER BY c.name"))
                .fetch_all(&self.pool)
                .await
                .db("listing connections")?;
        rows.into_iter().map(connection_from_row).collect()
    }

    /// Creates or updates a collection's connection by
    /// [`connection::settle`], in one transaction so two `connect`s cannot
    /// both pass the return-mode check. Returns the connection and whether
    /// it is new.
    pub async fn connect(
        &self,
        collection: CollectionId,
        request: &ConnectRequest,
        default_inbox: &Path,
    ) -> Result<(Connection, bool)> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .db("starting a transaction")?;
        let row: Option<ConnectionRow> =
            sqlx::query_as(&format!("{SELECT_CONNECTIONS} WHERE k.collection_id = ?"))
                .bind(collection.0)
                .fetch_optional(&mut *tx)
                .await
                .db("reading a connection")?;
        let existing = row.map(connection_from_row).transpose()?;
        let settings = connection::settle(existing.as_ref(), request, default_inbox)?;
        sqlx::query(
            "INSERT INTO connections (collection_id, direction, returns, inbox, poll_secs, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (collection_id) DO UPDATE
                 SET direction = excluded.direction, inbox = excluded.inbox,
                     poll_secs = excluded.poll_secs",
        )
        .bind(collection.0)
        .bind(settings.direction.as_str())
        .bind(settings.returns.as_str())
        .bind(settings.inbox.to_string_lossy().as_ref())
        .bind(settings.poll.as_secs() as i64)
        .bind(now_ms())
        .execute(&mut *tx)
        .await
        .db("saving a connection")?;
        let before = existing.as_ref().map_or(Direction::Push, |c| c.direction);
        if before.pushes() != settings.direction.pushes() {
            reconcile_sends(&mut tx, collection).await?;
        }
        let row: ConnectionRow =
            sqlx::query_as(&format!("{SELECT_CONNECTIONS} WHERE k.collection_id = ?"))
                .bind(collection.0)
                .fetch_one(&mut *tx)
                .await
                .db("reading a connection")?;
        tx.commit().await.db("committing a connection")?;
        Ok((connection_from_row(row)?, existing.is_none()))
    }

    /// Removes a collection's connection; the ledger, its bases and the
    /// recorded conflicts stay. Returns whether there was one. A `pull`
    /// connection's collection pushes again, so what it did not send
    /// meanwhile is planned (a full reconciliation, in the same
    /// transaction).
    pub async fn disconnect(&self, collection: CollectionId) -> Result<bool> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .db("starting a transaction")?;
        let removed: Option<String> = sqlx::query_scalar(
            "DELETE FROM connections WHERE collection_id = ? RETURNING direction",
        )
        .bind(collection.0)
        .fetch_optional(&mut *tx)
        .await
        .db("removing a connection")?;
        if removed.as_deref().and_then(Direction::parse) == Some(Direction::Pull) {
            reconcile_sends(&mut tx, collection).await?;
        }
        tx.commit().await.db("committing a disconnection")?;
        Ok(removed.is_some())
    }

    /// Records a finished poll of a collection's remote folder.
    pub async fn record_poll(
        &self,
        collection: CollectionId,
        at_ms: i64,
        outcome: &str,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE connections SET last_polled_at = ?, last_poll_outcome = ?
             WHERE collection_id = ?",
        )
        .bind(at_ms)
        .bind(outcome)
        .bind(collection.0)
        .execute(&self.pool)
        .await
        .db("recording a poll")?;
        Ok(())
    }

    /// The root a manual collection's inbox goes under by default: the
    /// one of its photos with the lowest root id, else the catalog's first
    /// root; `None` when there is no root at all.
    pub async fn first_root_of(&self, collection: CollectionId) -> Result<Option<PathBuf>> {
        let path: Option<String> = sqlx::query_scalar(
            "SELECT COALESCE(
                 (SELECT r.path FROM roots r WHERE r.id = (
                      SELECT MIN(p.root_id) FROM collection_photos cp
                      JOIN photos p ON p.id = cp.photo_id WHERE cp.collection_id = ?1)),
                 (SELECT path FROM roots ORDER BY id LIMIT 1))",
        )
        .bind(collection.0)
        .fetch_one(&self.pool)
        .await
        .db("finding a collection's first root")?;
        Ok(path.map(PathBuf::from))
    }

    /// The base of a key: the last state both sides agreed on, and the
    /// ETag syncroll's own put returned; `None` when the ledger does not
    /// hold the key.
    pub async fn base(
        &self,
        remote: RemoteId,
        key: &str,
    ) -> Result<Option<(Base, Option<String>)>> {
        let row: Option<BaseRow> = sqlx::query_as(
            "SELECT blake3, size, local_mtime_ns, remote_size, remote_etag, remote_modified_ms, etag
             FROM remote_objects WHERE remote_id = ? AND key = ?",
        )
        .bind(remote.0)
        .bind(key)
        .fetch_optional(&self.pool)
        .await
        .db("reading a base")?;
        Ok(row.map(base_from_row))
    }

    /// Where the ledger says `key` belongs locally: its path (relative to
    /// a root) and, when pinned, the root of the photo it belongs to;
    /// `None` when the ledger does not hold the key.
    pub async fn ledger_place(
        &self,
        remote: RemoteId,
        key: &str,
    ) -> Result<Option<(Option<RelPath>, Option<RootId>)>> {
        let row: Option<(Option<Vec<u8>>, Option<i64>)> = sqlx::query_as(
            "SELECT rel_path, pinned_root_id FROM remote_objects WHERE remote_id = ? AND key = ?",
        )
        .bind(remote.0)
        .bind(key)
        .fetch_optional(&self.pool)
        .await
        .db("reading where a key belongs")?;
        Ok(row.map(|(rel, root)| (rel.map(RelPath::from_bytes), root.map(RootId))))
    }

    /// The members of `collection` at `rel_path` of any root, lowest root
    /// first (the order [`crate::planner::member_keys`] keys them in): one
    /// probe of each root's path index. `unpinned`: only those whose key is
    /// computed from their path (no ledger row pins another key to them).
    pub async fn members_at(
        &self,
        collection: CollectionId,
        rel_path: &RelPath,
        unpinned: bool,
    ) -> Result<Vec<(RootId, PhotoId)>> {
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT r.id, p.id FROM roots r
             CROSS JOIN photos p ON p.root_id = r.id AND p.rel_path = ?2
             CROSS JOIN collection_photos cp ON cp.collection_id = ?1 AND cp.photo_id = p.id
             WHERE NOT (?3 AND EXISTS (
                 SELECT 1 FROM remote_objects o
                 WHERE o.collection_id = ?1 AND o.rel_path = ?2 AND o.pinned_root_id = r.id))
             ORDER BY r.id",
        )
        .bind(collection.0)
        .bind(rel_path.as_bytes())
        .bind(unpinned)
        .fetch_all(&self.pool)
        .await
        .db("reading a collection's members at a path")?;
        Ok(rows
            .into_iter()
            .map(|(root, photo)| (RootId(root), PhotoId(photo)))
            .collect())
    }

    /// The ledger's keys of `remote` under `folder` (a key prefix ending in
    /// `/`, such as `Photos/Trip/`) after `after` (`""` to start), in key
    /// order, at most `limit`, each with its base and syncroll's own ETag:
    /// a poll merges its listing, also in key order, with these page by
    /// page, so neither side of an album is ever held whole.
    pub async fn bases_page(
        &self,
        remote: RemoteId,
        folder: &str,
        after: &str,
        limit: u32,
    ) -> Result<Vec<(String, Base, Option<String>)>> {
        // Every key under `folder` sorts between `folder` and `folder` with
        // its trailing '/' replaced by '0', the byte after it.
        let end = format!("{}0", folder.strip_suffix('/').unwrap_or(folder));
        let rows: Vec<KeyedBaseRow> = sqlx::query_as(
            "SELECT key, blake3, size, local_mtime_ns, remote_size, remote_etag,
                        remote_modified_ms, etag
                 FROM remote_objects
                 WHERE remote_id = ?1 AND key >= ?2 AND key > ?3 AND key < ?4
                 ORDER BY key LIMIT ?5",
        )
        .bind(remote.0)
        .bind(folder)
        .bind(after)
        .bind(&end)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .db("reading a page of bases")?;
        Ok(rows
            .into_iter()
            .map(
                |(key, hash, size, mtime, r_size, r_etag, r_modified, etag)| {
                    let (base, etag) =
                        base_from_row((hash, size, mtime, r_size, r_etag, r_modified, etag));
                    (key, base, etag)
                },
            )
            .collect())
    }

    /// Records `base` as the state both sides of a ledger key agree on now.
    /// Returns false when the ledger does not hold the key (the caller
    /// records the object in the ledger first, with its transfer).
    pub async fn record_base(&self, remote: RemoteId, key: &str, base: &Base) -> Result<bool> {
        let remote_side = base.remote.as_ref();
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .db("starting a transaction")?;
        let done = sqlx::query(
            "UPDATE remote_objects
             SET blake3 = ?, size = ?, local_mtime_ns = ?, remote_size = ?, remote_etag = ?,
                 remote_modified_ms = ?
             WHERE remote_id = ? AND key = ?",
        )
        .bind(base.local.hash.0.as_slice())
        .bind(base.local.size as i64)
        .bind(base.local.mtime_ns)
        .bind(remote_side.map(|r| r.size as i64))
        .bind(remote_side.and_then(|r| r.etag.as_deref()))
        .bind(remote_side.map(|r| r.modified_ms))
        .bind(remote.0)
        .bind(key)
        .execute(&mut *tx)
        .await
        .db("recording a base")?;
        release_left_uploads(&mut tx, remote, key).await?;
        tx.commit().await.db("committing a base")?;
        Ok(done.rows_affected() > 0)
    }

    /// Records in the ledger that the object under `key` came home as the
    /// local file at `rel_path` (of the collection's root), with `base` as
    /// the state both sides now agree on. The row's own `etag` stays NULL:
    /// syncroll did not put the object there, so it is not the proof of an
    /// upload; the push side still sees the key as placed with these bytes
    /// and never sends them back. Written before the file is indexed, so
    /// the planner, woken by the new member, finds the key already placed.
    ///
    /// `inbox`: the file landed in a manual collection's inbox, as this
    /// photo of this root (already indexed): the key is pinned to it (see
    /// [`crate::planner::Placed::pinned_root`]) and the photo joins the
    /// collection, in the same transaction, so the planner never sees the
    /// row without its member (which would read as a copy to delete) nor
    /// the member without its pinned key (which it would upload again).
    pub async fn record_download(
        &self,
        remote: RemoteId,
        collection: CollectionId,
        key: &str,
        rel_path: &crate::types::RelPath,
        base: &Base,
        inbox: Option<(RootId, PhotoId)>,
    ) -> Result<()> {
        let remote_side = base.remote.as_ref();
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .db("starting a transaction")?;
        sqlx::query(
            "INSERT INTO remote_objects (remote_id, key, blake3, size, etag, collection_id,
                                         uploaded_at, rel_path, local_mtime_ns, remote_size,
                                         remote_etag, remote_modified_ms, pinned_root_id)
             VALUES (?1, ?2, ?3, ?4, NULL, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
             ON CONFLICT (remote_id, key) DO UPDATE SET blake3 = ?3, size = ?4, etag = NULL,
                 collection_id = ?5, uploaded_at = ?6, rel_path = ?7, local_mtime_ns = ?8,
                 remote_size = ?9, remote_etag = ?10, remote_modified_ms = ?11,
                 pinned_root_id = COALESCE(?12, pinned_root_id)",
        )
        .bind(remote.0)
        .bind(key)
        .bind(base.local.hash.0.as_slice())
        .bind(base.local.size as i64)
        .bind(collection.0)
        .bind(now_ms() / 1000)
        .bind(rel_path.as_bytes())
        .bind(base.local.mtime_ns)
        .bind(remote_side.map(|r| r.size as i64))
        .bind(remote_side.and_then(|r| r.etag.as_deref()))
        .bind(remote_side.map(|r| r.modified_ms))
        .bind(inbox.map(|(root, _)| root.0))
        .execute(&mut *tx)
        .await
        .db("recording a download in the ledger")?;
        if let Some((_, photo)) = inbox {
            sqlx::query(
                "INSERT OR IGNORE INTO collection_photos (collection_id, photo_id, added_at)
                 VALUES (?, ?, ?)",
            )
            .bind(collection.0)
            .bind(photo.0)
            .bind(now_ms() / 1000)
            .execute(&mut *tx)
            .await
            .db("adding a file brought home to its collection")?;
        }
        // A photo that departed the folder collection (its copy deleted on
        // the album) and whose copy is on the album again is back in it:
        // the ledger row says the album holds it, and a ledger row of a
        // non-member would read to the push side as a copy to delete.
        sqlx::query(
            "INSERT OR IGNORE INTO collection_photos (collection_id, photo_id, added_at)
             SELECT d.collection_id, d.photo_id, ?3 FROM collection_departures d
             JOIN collections c ON c.id = d.collection_id
             JOIN photos p ON p.id = d.photo_id AND p.root_id = c.folder_root_id
             WHERE d.collection_id = ?1 AND p.rel_path = ?2",
        )
        .bind(collection.0)
        .bind(rel_path.as_bytes())
        .bind(now_ms() / 1000)
        .execute(&mut *tx)
        .await
        .db("bringing a departed photo back")?;
        sqlx::query(
            "DELETE FROM collection_departures WHERE collection_id = ?1 AND photo_id IN (
                 SELECT p.id FROM photos p JOIN collections c ON c.id = ?1
                 WHERE p.root_id = c.folder_root_id AND p.rel_path = ?2)",
        )
        .bind(collection.0)
        .bind(rel_path.as_bytes())
        .execute(&mut *tx)
        .await
        .db("forgetting a departure")?;
        release_left_uploads(&mut tx, remote, key).await?;
        tx.commit().await.db("committing a download")
    }

    /// Takes back a [`Store::record_download`] whose file never joined the
    /// catalog: only a row still holding those bytes and no ETag of
    /// syncroll's own put, so an upload recorded meanwhile stays.
    pub async fn forget_download(
        &self,
        remote: RemoteId,
        key: &str,
        hash: &ContentHash,
    ) -> Result<()> {
        sqlx::query(
            "DELETE FROM remote_objects
             WHERE remote_id = ? AND key = ? AND blake3 = ? AND etag IS NULL",
        )
        .bind(remote.0)
        .bind(key)
        .bind(hash.0.as_slice())
        .execute(&self.pool)
        .await
        .db("taking back a download's ledger row")?;
        Ok(())
    }

    /// Records a conflict; returns its id.
    /// Tells the event feed in the same transaction.
    pub async fn record_conflict(&self, conflict: &NewConflict<'_>) -> Result<i64> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .db("starting a transaction")?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO conflicts (collection_id, remote_id, key, local_path, copy_path, detected_at)
             VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(conflict.collection.0)
        .bind(conflict.remote.0)
        .bind(conflict.key)
        .bind(conflict.local_path.as_os_str().as_bytes())
        .bind(conflict.copy_path.as_os_str().as_bytes())
        .bind(conflict.detected_at_ms)
        .fetch_one(&mut *tx)
        .await
        .db("recording a conflict")?;
        let (collection, remote): (String, String) = sqlx::query_as(
            "SELECT (SELECT name FROM collections WHERE id = ?),
                    (SELECT name FROM remotes WHERE id = ?)",
        )
        .bind(conflict.collection.0)
        .bind(conflict.remote.0)
        .fetch_one(&mut *tx)
        .await
        .db("naming a conflict's collection")?;
        let kind = crate::events::EventKind::ConflictCopied {
            conflict_id: id,
            collection,
            remote,
            key: conflict.key.to_owned(),
            local_path: conflict.local_path.to_string_lossy().into_owned(),
            copy_path: conflict.copy_path.to_string_lossy().into_owned(),
        };
        super::events::append(&mut tx, &kind).await?;
        tx.commit().await.db("committing a conflict")?;
        self.announce_events();
        Ok(id)
    }

    /// Conflicts, oldest first: the open ones, or all with `all`.
    pub async fn conflicts(&self, all: bool) -> Result<Vec<Conflict>> {
        let rows: Vec<ConflictRow> = sqlx::query_as(
            "SELECT k.id, c.name, r.name, k.key, k.local_path, k.copy_path, k.detected_at,
                    k.resolved_at
             FROM conflicts k
             JOIN collections c ON c.id = k.collection_id
             JOIN remotes r ON r.id = k.remote_id
             WHERE ?1 OR k.state = 'open'
             ORDER BY k.detected_at, k.id",
        )
        .bind(all)
        .fetch_all(&self.pool)
        .await
        .db("listing conflicts")?;
        Ok(rows.into_iter().map(conflict_from_row).collect())
    }

    /// Open conflicts, for `status`.
    pub async fn open_conflict_count(&self) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM conflicts WHERE state = 'open'")
            .fetch_one(&self.pool)
            .await
            .db("counting conflicts")?;
        Ok(n.max(0) as u64)
    }
}

/// Settles the uploads of `key` left because the remote had changed: the
/// key has a new base (a poll brought the remote's edit home, or found
/// both sides the same), so they no longer wait on anything, and `status`
/// stops counting them.
async fn release_left_uploads(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    remote: RemoteId,
    key: &str,
) -> Result<()> {
    let left: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM jobs WHERE remote_id = ? AND key = ? AND state = 'left'",
    )
    .bind(remote.0)
    .bind(key)
    .fetch_all(&mut **tx)
    .await
    .db("finding left uploads")?;
    for id in left {
        super::jobs::transition(tx, crate::job::JobId(id), JobEvent::Released, now_ms()).await?;
    }
    Ok(())
}

/// Asks for a full reconciliation of a synced collection whose direction
/// started or stopped sending local changes: from `pull` to `push` or
/// `both`, what changed meanwhile is planned; the other way, its waiting
/// jobs are cancelled. Like every change that can make a remote stale, in
/// the transaction of the change.
async fn reconcile_sends(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    collection: CollectionId,
) -> Result<()> {
    sqlx::query(
        "INSERT OR REPLACE INTO reconcile (collection_id, phase, cursor)
         SELECT id, 'members', 0 FROM collections WHERE id = ? AND sync_enabled = 1",
    )
    .bind(collection.0)
    .execute(&mut **tx)
    .await
    .db("asking for a reconciliation")?;
    Ok(())
}

fn conflict_from_row(row: ConflictRow) -> Conflict {
    let (id, collection_name, remote_name, key, local, copy, detected_at_ms, resolved_at_ms) = row;
    Conflict {
        id,
        collection_name,
        remote_name,
        key,
        local_path: PathBuf::from(std::ffi::OsString::from_vec(local)),
        copy_path: PathBuf::from(std::ffi::OsString::from_vec(copy)),
        detected_at_ms,
        resolved_at_ms,
    }
}

#[cfg(test)]
mod tests;
