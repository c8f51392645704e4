//! Photos the planner skipped because no remote can hold their key: kept
//! per path group by the planner ([`record_skipped`]), read by `status` and
//! `jobs`.

use sqlx::{Sqlite, Transaction};

use super::Store;
use crate::error::{DbContext, Result};
use crate::planner::Skipped;
use crate::types::{CollectionId, PhotoId};

/// A photo a synced collection holds but cannot sync, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedPhoto {
    pub collection_id: CollectionId,
    pub collection_name: String,
    pub photo_id: PhotoId,
    /// The key it would have on the remote.
    pub key: String,
    /// Why, in words: "cannot be synced: name holds a control character".
    pub reason: String,
    pub since_ms: i64,
}

/// The words `status` and `jobs` show for a skipped photo.
pub fn skip_message(reason: &str) -> String {
    format!("cannot be synced: {reason}")
}

/// Replaces what is recorded for the groups `paths_json` (a JSON array of
/// hex paths) of `collection` by `skipped`, their complete list. A photo
/// skipped before keeps its first `since`.
pub(super) async fn record_skipped(
    tx: &mut Transaction<'_, Sqlite>,
    collection: CollectionId,
    paths_json: &str,
    skipped: &[Skipped],
    now_ms: i64,
) -> Result<()> {
    let kept: Vec<i64> = skipped.iter().map(|s| s.photo_id.0).collect();
    sqlx::query(
        "DELETE FROM skipped_photos WHERE collection_id = ?1
           AND rel_path IN (SELECT unhex(value) FROM json_each(?2))
           AND photo_id NOT IN (SELECT value FROM json_each(?3))",
    )
    .bind(collection.0)
    .bind(paths_json)
    // `[1, 2]`: Debug of a Vec of integers is a JSON array.
    .bind(format!("{kept:?}"))
    .execute(&mut **tx)
    .await
    .db("forgetting skipped photos")?;
    for photo in skipped {
        sqlx::query(
            "INSERT INTO skipped_photos (collection_id, rel_path, photo_id, key, reason, since)
             VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT (collection_id, rel_path, photo_id)
             DO UPDATE SET key = excluded.key, reason = excluded.reason",
        )
        .bind(collection.0)
        .bind(photo.rel_path.as_bytes())
        .bind(photo.photo_id.0)
        .bind(&photo.key)
        .bind(skip_message(photo.reason))
        .bind(now_ms)
        .execute(&mut **tx)
        .await
        .db("recording a skipped photo")?;
    }
    Ok(())
}

/// (rowid, collection id, name, photo id, key, reason, since).
type SkippedRow = (i64, i64, String, i64, String, String, i64);

impl Store {
    /// A keyset page of the photos synced collections skip (of one
    /// collection, or all): at most `limit` after the row `after` (0 for the
    /// first page), each with the row to continue after.
    pub async fn skipped_photos(
        &self,
        collection: Option<CollectionId>,
        after: i64,
        limit: u32,
    ) -> Result<Vec<(i64, SkippedPhoto)>> {
        let rows: Vec<SkippedRow> = sqlx::query_as(
            "SELECT s.rowid, s.collection_id, c.name, s.photo_id, s.key, s.reason, s.since
             FROM skipped_photos s JOIN collections c ON c.id = s.collection_id
             WHERE c.sync_enabled = 1 AND (?1 IS NULL OR s.collection_id = ?1) AND s.rowid > ?2
             ORDER BY s.rowid LIMIT ?3",
        )
        .bind(collection.map(|c| c.0))
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .db("reading skipped photos")?;
        Ok(rows.into_iter().map(skipped_photo).collect())
    }

    /// How many photos of synced collections are skipped.
    pub async fn skipped_count(&self) -> Result<u64> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM skipped_photos s JOIN collections c ON c.id = s.collection_id
             WHERE c.sync_enabled = 1",
        )
        .fetch_one(&self.pool)
        .await
        .db("counting skipped photos")?;
        Ok(n.max(0) as u64)
    }
}

fn skipped_photo(row: SkippedRow) -> (i64, SkippedPhoto) {
    let (rowid, collection, name, photo, key, reason, since) = row;
    let photo = SkippedPhoto {
        collection_id: CollectionId(collection),
        collection_name: name,
        photo_id: PhotoId(photo),
        key,
        reason,
        since_ms: since,
    };
    (rowid, photo)
}
