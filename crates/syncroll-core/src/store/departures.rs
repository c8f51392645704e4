//! Remote departures: ledger keys of a pulling connection's album that a
//! complete listing no longer holds. What becomes of each is decided by
//! [`crate::connection::decide`] (remote side absent); this module reads
//! what the decision needs and writes its outcome:
//! - both sides gone: the ledger row goes ([`Store::forget_keys`]);
//! - the local file changed since the base (modify beats delete): the
//!   ledger row goes and the photo is planned again, so the push side
//!   uploads it anew ([`Store::send_again`]);
//! - the local file unchanged: the photo leaves the collection and stays on
//!   disk ([`Store::depart`]), through the deletion brake
//!   ([`Store::brake_departures`]), whose holds keep the keys in
//!   `held_departures` until the user decides.

use super::Store;
use super::holds::{self, Window};
use super::jobs::now_ms;
use crate::brake;
use crate::connection::{Base, LocalSide};
use crate::error::{DbContext, Result};
use crate::types::{CollectionId, ContentHash, PhotoId, RelPath, RemoteId, RootId};

/// A ledger key the listing did not hold, with what deciding it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepartureCandidate {
    pub key: String,
    /// The local path the key was placed from (of the collection's root);
    /// `None` on ledger rows older than paths were kept.
    pub rel_path: Option<RelPath>,
    pub base: Base,
    /// syncroll's own ETag from its put, if it made one.
    pub own_etag: Option<String>,
    /// The photo at `rel_path` now, if the catalog holds one.
    pub photo: Option<(PhotoId, LocalSide)>,
    /// That photo is a member of the collection.
    pub member: bool,
    /// Bytes of the copy, as the ledger recorded them.
    pub bytes: u64,
}

/// What the brake made of a poll's departures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DepartureVerdict {
    /// They may leave the collection now.
    Run,
    /// They wait in this hold for the user.
    Held { hold: i64 },
}

/// One departure to carry out or hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Departure {
    pub key: String,
    pub photo: PhotoId,
    pub hash: ContentHash,
    pub bytes: u64,
}

type CandidateRow = (
    String,
    Option<Vec<u8>>,
    Vec<u8>,
    i64,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<i64>,
    Option<Vec<u8>>,
    Option<i64>,
    Option<i64>,
    i64,
);

impl Store {
    /// The ledger's keys of `remote` under `folder` (a key prefix ending in
    /// `/`) after `after`, in key order, at most `limit`, each with when its
    /// copy was put or recorded (unix seconds): a key placed after a
    /// listing began may be missing from it without being gone.
    pub async fn ledger_keys_page(
        &self,
        remote: RemoteId,
        folder: &str,
        after: &str,
        limit: u32,
    ) -> Result<Vec<(String, i64)>> {
        let end = format!("{}0", folder.strip_suffix('/').unwrap_or(folder));
        sqlx::query_as(
            "SELECT key, uploaded_at FROM remote_objects
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
        .db("reading a page of ledger keys")
    }

    /// What deciding each of `keys` needs: its base, the photo now at the
    /// path it was placed from (under `root` for a folder collection; for a
    /// manual one, `None`: the root the key is pinned to, else the member
    /// at that path of the lowest root), and whether that photo is a member
    /// of `collection`. One query for the lot.
    pub async fn departure_candidates(
        &self,
        remote: RemoteId,
        collection: CollectionId,
        root: Option<RootId>,
        keys: &[String],
    ) -> Result<Vec<DepartureCandidate>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let keys_json = serde_json::to_string(keys).unwrap_or_else(|_| "[]".to_owned());
        let rows: Vec<CandidateRow> = sqlx::query_as(
            "SELECT o.key, o.rel_path, o.blake3, o.size, o.local_mtime_ns, o.remote_size,
                    o.remote_etag, o.remote_modified_ms, o.etag,
                    p.id, p.blake3, p.size, p.mtime_ns,
                    EXISTS (SELECT 1 FROM collection_photos cp
                            WHERE cp.collection_id = ?3 AND cp.photo_id = p.id)
             FROM json_each(?1) k
             JOIN remote_objects o ON o.remote_id = ?2 AND o.key = k.value
             LEFT JOIN photos p ON p.id = (
                 SELECT p2.id FROM roots r CROSS JOIN photos p2
                     ON p2.root_id = r.id AND p2.rel_path = o.rel_path
                 WHERE r.id = COALESCE(?4, o.pinned_root_id, r.id)
                   AND (?4 IS NOT NULL OR EXISTS (
                       SELECT 1 FROM collection_photos cp
                       WHERE cp.collection_id = ?3 AND cp.photo_id = p2.id))
                 ORDER BY r.id LIMIT 1)
             ORDER BY o.key",
        )
        .bind(keys_json)
        .bind(remote.0)
        .bind(collection.0)
        .bind(root.map(|r| r.0))
        .fetch_all(&self.pool)
        .await
        .db("reading departed keys")?;
        Ok(rows.into_iter().map(candidate_from_row).collect())
    }

    /// Drops the ledger rows of `keys` on `remote`: their copies are gone.
    /// Only rows still holding the bytes the caller decided on go, so a
    /// copy put meanwhile stays known.
    pub async fn forget_keys(
        &self,
        remote: RemoteId,
        keys: &[(String, ContentHash)],
    ) -> Result<()> {
        let mut tx = self.pool.begin().await.db("starting a transaction")?;
        for (key, hash) in keys {
            forget_copy(&mut tx, remote, key, hash).await?;
        }
        tx.commit().await.db("committing forgotten copies")
    }

    /// The copies of `keys` were deleted on the remote while their photos
    /// changed locally: modify beats delete. Their ledger rows go and the
    /// photos are planned again, so the push side uploads them anew.
    pub async fn send_again(
        &self,
        remote: RemoteId,
        collection: CollectionId,
        keys: &[(String, ContentHash, RelPath)],
    ) -> Result<()> {
        let mut tx = self.pool.begin().await.db("starting a transaction")?;
        for (key, hash, rel_path) in keys {
            forget_copy(&mut tx, remote, key, hash).await?;
            sqlx::query("INSERT OR IGNORE INTO plan_queue (collection_id, rel_path) VALUES (?, ?)")
                .bind(collection.0)
                .bind(rel_path.as_bytes())
                .execute(&mut *tx)
                .await
                .db("planning a photo again")?;
        }
        tx.commit().await.db("committing copies to send again")
    }

    /// Runs the deletion brake over `count` departures of `collection`
    /// (whose album is on `remote`): they are counted in its window as
    /// deletions are, and held when they trip it or a hold of the
    /// collection is pending. The departures a pending hold held at the
    /// last poll are cleared first: each poll holds what it finds, so a
    /// hold whose album came back empties (and is withdrawn by
    /// [`Store::settle_departures`]).
    ///
    /// `album_empty`: the listing held nothing at all. However few the
    /// departures, they are held then: an album that vanished whole is
    /// what an unmounted share under an `fs` remote, or a wrong bucket,
    /// looks like, and the brake's floor (a few deletions pass unasked)
    /// is for a user tidying up, not for that.
    pub async fn brake_departures(
        &self,
        collection: CollectionId,
        remote: RemoteId,
        count: u64,
        album_empty: bool,
    ) -> Result<DepartureVerdict> {
        let now = now_ms();
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .db("starting a transaction")?;
        sqlx::query(
            "DELETE FROM held_departures WHERE hold_id IN
                 (SELECT id FROM holds WHERE collection_id = ? AND state = 'pending')",
        )
        .bind(collection.0)
        .execute(&mut *tx)
        .await
        .db("clearing held departures")?;
        if count == 0 {
            tx.commit().await.db("committing the brake")?;
            return Ok(DepartureVerdict::Run);
        }
        let policy = self.brake;
        let window: Window = holds::open_window(&mut tx, collection, remote, &policy, now).await?;
        // What the user approved (`holds approve`) passes either way.
        let held = (album_empty && count > window.history.allowance)
            || brake::brake(vec![(); count as usize], window.history, &policy)
                .cause
                .is_some();
        // Held again while a hold waits, they were counted when first held.
        if window.pending.is_none() {
            holds::log_deletions(&mut tx, collection, count, window.synced_copies, now).await?;
        }
        let verdict = if held {
            let hold = holds::hold_for(&mut tx, collection, &window, now).await?;
            DepartureVerdict::Held { hold }
        } else {
            DepartureVerdict::Run
        };
        tx.commit().await.db("committing the brake")?;
        if matches!(verdict, DepartureVerdict::Held { .. }) {
            self.announce_events();
        }
        Ok(verdict)
    }

    /// Adds `departures` to pending hold `hold`, keeping its count.
    pub async fn hold_departures(
        &self,
        hold: i64,
        remote: RemoteId,
        departures: &[Departure],
    ) -> Result<()> {
        let mut tx = self.pool.begin().await.db("starting a transaction")?;
        for departure in departures {
            sqlx::query(
                "INSERT OR IGNORE INTO held_departures (hold_id, remote_id, key, bytes)
                 VALUES (?, ?, ?, ?)",
            )
            .bind(hold)
            .bind(remote.0)
            .bind(&departure.key)
            .bind(departure.bytes as i64)
            .execute(&mut *tx)
            .await
            .db("holding a departure")?;
        }
        holds::recount_departures(&mut tx, hold).await?;
        tx.commit().await.db("committing held departures")
    }

    /// Pending holds of `collection` left with nothing to hold (its album
    /// came back) are withdrawn, and their counts brought up to date.
    pub async fn settle_departures(&self, collection: CollectionId) -> Result<()> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .db("starting a transaction")?;
        let pending: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM holds WHERE collection_id = ? AND state = 'pending'",
        )
        .bind(collection.0)
        .fetch_optional(&mut *tx)
        .await
        .db("reading holds")?;
        if let Some(hold) = pending {
            holds::recount_departures(&mut tx, hold).await?;
            holds::withdraw_emptied(&mut tx, collection, now_ms()).await?;
        }
        tx.commit().await.db("committing holds")
    }

    /// The photos of `departures` leave `collection` (a folder collection
    /// when `folder`, whose members otherwise follow its folder) and their
    /// ledger rows go; nothing on disk changes. Only a row still holding
    /// the bytes decided on goes, and only a photo still holding them
    /// leaves.
    pub async fn depart(
        &self,
        collection: CollectionId,
        remote: RemoteId,
        folder: bool,
        departures: &[Departure],
    ) -> Result<()> {
        let now = now_ms();
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .db("starting a transaction")?;
        for departure in departures {
            let hash = departure.hash.0.as_slice();
            let still: Option<i64> =
                sqlx::query_scalar("SELECT id FROM photos WHERE id = ? AND blake3 = ?")
                    .bind(departure.photo.0)
                    .bind(hash)
                    .fetch_optional(&mut *tx)
                    .await
                    .db("reading a departing photo")?;
            if still.is_none() {
                // Edited meanwhile: modify beats delete; the next poll
                // decides it again.
                continue;
            }
            forget_copy(&mut tx, remote, &departure.key, &departure.hash).await?;
            if folder {
                sqlx::query(
                    "INSERT INTO collection_departures (collection_id, photo_id, blake3, departed_at)
                     VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (collection_id, photo_id) DO UPDATE SET blake3 = ?3,
                         departed_at = ?4",
                )
                .bind(collection.0)
                .bind(departure.photo.0)
                .bind(hash)
                .bind(now)
                .execute(&mut *tx)
                .await
                .db("recording a departure")?;
            }
            sqlx::query("DELETE FROM collection_photos WHERE collection_id = ? AND photo_id = ?")
                .bind(collection.0)
                .bind(departure.photo.0)
                .execute(&mut *tx)
                .await
                .db("taking a photo out of its collection")?;
        }
        tx.commit().await.db("committing departures")
    }
}

/// Drops the ledger row of `key` on `remote` if it still holds `hash`: a
/// copy put meanwhile (other bytes) stays known.
async fn forget_copy(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    remote: RemoteId,
    key: &str,
    hash: &ContentHash,
) -> Result<()> {
    sqlx::query("DELETE FROM remote_objects WHERE remote_id = ? AND key = ? AND blake3 = ?")
        .bind(remote.0)
        .bind(key)
        .bind(hash.0.as_slice())
        .execute(&mut **tx)
        .await
        .db("forgetting a deleted copy")?;
    Ok(())
}

fn hash_from(bytes: &[u8]) -> ContentHash {
    ContentHash(<[u8; 32]>::try_from(bytes).unwrap_or([0; 32]))
}

fn candidate_from_row(row: CandidateRow) -> DepartureCandidate {
    let (
        key,
        rel_path,
        hash,
        size,
        local_mtime_ns,
        remote_size,
        remote_etag,
        remote_modified_ms,
        etag,
        photo_id,
        photo_hash,
        photo_size,
        photo_mtime_ns,
        member,
    ) = row;
    let (base, own_etag) = super::connections::base_from_row((
        hash,
        size,
        local_mtime_ns,
        remote_size,
        remote_etag,
        remote_modified_ms,
        etag,
    ));
    let photo = match (photo_id, photo_hash, photo_size, photo_mtime_ns) {
        (Some(id), Some(hash), Some(size), Some(mtime_ns)) => Some((
            PhotoId(id),
            LocalSide {
                hash: hash_from(&hash),
                size: size.max(0) as u64,
                mtime_ns,
            },
        )),
        _ => None,
    };
    DepartureCandidate {
        key,
        rel_path: rel_path.map(RelPath::from_bytes),
        bytes: size.max(0) as u64,
        base,
        own_etag,
        photo,
        member: member != 0,
    }
}

#[cfg(test)]
mod tests;
