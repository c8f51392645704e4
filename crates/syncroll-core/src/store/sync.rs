//! Sync settings (on/off, pause), and "all synced photos". Planning is in
//! `plan.rs`.

use super::Store;
use super::holds::HoldState;
use super::jobs::{JobsWhere, now_ms, transition_all};
use crate::error::{DbContext, Result};
use crate::job::{JobEvent, JobState};
use crate::types::{CollectionId, PhotoId};

/// Pause deadlines: `None` not paused, `Some(None)` until resumed,
/// `Some(Some(t))` until Unix second `t`.
pub type PausedUntil = Option<Option<i64>>;

/// See [`Store::claim_overtaken`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overtaken {
    Paused,
    SyncOff,
    /// The user cancelled it (`cancel`).
    Cancelled,
}

fn paused_from(raw: i64, now_s: i64) -> PausedUntil {
    match raw {
        0 => None,
        -1 => Some(None),
        t if t > now_s => Some(Some(t)),
        _ => None,
    }
}

fn paused_to(paused: PausedUntil) -> i64 {
    match paused {
        None => 0,
        Some(None) => -1,
        Some(Some(t)) => t,
    }
}

const GLOBAL_PAUSE: &str = "paused_until";

/// (cancel requested, the global pause, the collection's sync and pause).
type OvertakenRow = (bool, Option<String>, Option<bool>, Option<i64>);

impl Store {
    /// Turns a collection's sync on or off (planning is separate). Off
    /// with `remove_remote_copies` keeps the planner deleting the
    /// collection's ledger keys until none is left.
    pub async fn set_sync_enabled(
        &self,
        collection: CollectionId,
        enabled: bool,
        remove_remote_copies: bool,
    ) -> Result<()> {
        let removing = !enabled && remove_remote_copies;
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .db("starting a transaction")?;
        sqlx::query(
            "UPDATE collections SET sync_enabled = ?, remove_remote_copies = ? WHERE id = ?",
        )
        .bind(enabled)
        .bind(removing)
        .bind(collection.0)
        .execute(&mut *tx)
        .await
        .db("changing sync")?;
        let now = now_ms();
        let mine = || JobsWhere {
            sql: "j.collection_id = ?1",
            arg: collection.0,
        };
        // Turning sync on or off says anew what the user wants: earlier
        // cancels no longer hold.
        let dismissed = JobState::Dismissed {
            at: 0,
            reason: String::new(),
        };
        transition_all(&mut tx, &dismissed, JobEvent::Released, mine(), now).await?;
        // Turning sync off decides held deletions: removing the copies is
        // the user's own decision to delete them; keeping them, to keep.
        if !enabled {
            let held = JobState::Held { hold: 0 };
            let (event, hold_state) = if removing {
                (JobEvent::Approved, HoldState::Approved)
            } else {
                let event = JobEvent::Cancelled {
                    reason: "sync turned off, keeping the remote copies".to_owned(),
                };
                (event, HoldState::Withdrawn)
            };
            // Decided first: a decided hold keeps its counts as they were.
            super::holds::decide_pending(&mut tx, collection, hold_state, now).await?;
            transition_all(&mut tx, &held, event, mine(), now).await?;
        }
        tx.commit().await.db("committing a sync change")
    }

    /// Pauses or resumes one collection.
    pub async fn set_collection_paused(
        &self,
        collection: CollectionId,
        paused: PausedUntil,
    ) -> Result<()> {
        sqlx::query("UPDATE collections SET paused_until = ? WHERE id = ?")
            .bind(paused_to(paused))
            .bind(collection.0)
            .execute(&self.pool)
            .await
            .db("pausing a collection")?;
        Ok(())
    }

    /// Collections paused now, with their deadlines.
    pub async fn paused_collections(&self) -> Result<Vec<(CollectionId, PausedUntil)>> {
        let now_s = now_ms() / 1000;
        let rows: Vec<(i64, i64)> =
            sqlx::query_as("SELECT id, paused_until FROM collections WHERE paused_until != 0")
                .fetch_all(&self.pool)
                .await
                .db("reading pauses")?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, raw)| {
                paused_from(raw, now_s).map(|until| (CollectionId(id), Some(until)))
            })
            .collect())
    }

    /// Why a job claimed a moment ago should not run after all: the user
    /// cancelled it, the daemon or its collection was paused, or (for an
    /// upload) its collection's sync was turned off, between the claim and
    /// the worker's start, when the interruption could not reach it yet.
    pub async fn claim_overtaken(&self, job: &crate::job::Job) -> Result<Option<Overtaken>> {
        // One statement: it runs before every transfer.
        let row: Option<OvertakenRow> = sqlx::query_as(
            "SELECT j.state = 'cancelling', (SELECT value FROM settings WHERE name = ?2),
                    c.sync_enabled, c.paused_until
             FROM jobs j LEFT JOIN collections c ON c.id = j.collection_id
             WHERE j.id = ?1 AND j.state IN ('running', 'cancelling')",
        )
        .bind(job.id.0)
        .bind(GLOBAL_PAUSE)
        .fetch_optional(&self.pool)
        .await
        .db("reading a job")?;
        let Some((cancel_requested, global, sync_enabled, paused_until)) = row else {
            return Ok(None);
        };
        let now_s = now_ms() / 1000;
        if cancel_requested {
            return Ok(Some(Overtaken::Cancelled));
        }
        let global = global.and_then(|v| v.parse().ok()).unwrap_or(0);
        if paused_from(global, now_s).is_some()
            || paused_until.is_some_and(|p| paused_from(p, now_s).is_some())
        {
            return Ok(Some(Overtaken::Paused));
        }
        if sync_enabled == Some(false) && job.op == crate::job::JobOp::Upload {
            return Ok(Some(Overtaken::SyncOff));
        }
        Ok(None)
    }

    /// The daemon-wide pause.
    pub async fn global_pause(&self) -> Result<PausedUntil> {
        let raw: Option<String> = sqlx::query_scalar("SELECT value FROM settings WHERE name = ?")
            .bind(GLOBAL_PAUSE)
            .fetch_optional(&self.pool)
            .await
            .db("reading the pause")?;
        let raw = raw.and_then(|v| v.parse().ok()).unwrap_or(0);
        Ok(paused_from(raw, now_ms() / 1000))
    }

    /// Sets or clears the daemon-wide pause.
    pub async fn set_global_pause(&self, paused: PausedUntil) -> Result<()> {
        sqlx::query("INSERT INTO settings (name, value) VALUES (?1, ?2) ON CONFLICT (name) DO UPDATE SET value = ?2")
            .bind(GLOBAL_PAUSE)
            .bind(paused_to(paused).to_string())
            .execute(&self.pool)
            .await
            .db("setting the pause")?;
        Ok(())
    }
}

/// One synced collection's view of one photo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhotoSyncState {
    pub collection: String,
    pub remote: String,
    pub key: String,
    /// synced, queued, running, failed or pending.
    pub state: String,
}

#[derive(sqlx::FromRow)]
struct SyncedRow {
    photo_id: i64,
    root_id: i64,
    rel_path: Vec<u8>,
    collection: String,
    remote: String,
    live_state: Option<String>,
    live_key: Option<String>,
    synced_key: Option<String>,
    failed_key: Option<String>,
}

impl Store {
    /// A page of "all synced photos": members of any synced collection, in
    /// root and path order, each with its state in every synced collection
    /// holding it. `after` is the last (root, path) of the previous page.
    pub async fn synced_photos_page(
        &self,
        after: Option<(i64, Vec<u8>)>,
        page_size: u32,
    ) -> Result<Vec<(crate::types::Photo, Vec<PhotoSyncState>)>> {
        let (after_root, after_path) = after.unwrap_or((i64::MIN, Vec::new()));
        let rows: Vec<SyncedRow> = sqlx::query_as(
            "WITH page AS (
                 SELECT DISTINCT p.id, p.root_id, p.rel_path FROM photos p
                 JOIN collection_photos cp ON cp.photo_id = p.id
                 JOIN collections c ON c.id = cp.collection_id AND c.sync_enabled = 1
                 WHERE (p.root_id, p.rel_path) > (?1, ?2)
                 ORDER BY p.root_id, p.rel_path LIMIT ?3)
             SELECT page.id AS photo_id, page.root_id, page.rel_path, c.name AS collection, r.name AS remote,
                    (SELECT j.state FROM jobs j WHERE j.collection_id = c.id AND j.photo_id = page.id
                       AND j.state IN ('queued', 'running') LIMIT 1) AS live_state,
                    (SELECT j.key FROM jobs j WHERE j.collection_id = c.id AND j.photo_id = page.id
                       AND j.state IN ('queued', 'running') LIMIT 1) AS live_key,
                    (SELECT o.key FROM remote_objects o JOIN photos p2 ON p2.id = page.id
                       WHERE o.remote_id = c.remote_id AND o.collection_id = c.id AND o.blake3 = p2.blake3
                       LIMIT 1) AS synced_key,
                    (SELECT j.key FROM jobs j WHERE j.collection_id = c.id AND j.photo_id = page.id
                       AND j.state = 'failed' ORDER BY j.id DESC LIMIT 1) AS failed_key
             FROM page
             JOIN collection_photos cp ON cp.photo_id = page.id
             JOIN collections c ON c.id = cp.collection_id AND c.sync_enabled = 1
             JOIN remotes r ON r.id = c.remote_id
             ORDER BY page.root_id, page.rel_path, c.name",
        )
        .bind(after_root)
        .bind(after_path)
        .bind(i64::from(page_size))
        .fetch_all(&self.pool)
        .await
        .db("listing synced photos")?;
        let mut out: Vec<(crate::types::Photo, Vec<PhotoSyncState>)> = Vec::new();
        for row in rows {
            let state = match (&row.live_state, &row.synced_key, &row.failed_key) {
                (Some(live), _, _) => live.clone(),
                (None, Some(_), _) => "synced".to_owned(),
                (None, None, Some(_)) => "failed".to_owned(),
                _ => "pending".to_owned(),
            };
            let key = row
                .live_key
                .or(row.synced_key)
                .or(row.failed_key)
                .unwrap_or_default();
            let entry = PhotoSyncState {
                collection: row.collection,
                remote: row.remote,
                key,
                state,
            };
            match out.last_mut() {
                Some((photo, states)) if photo.id.0 == row.photo_id => states.push(entry),
                _ => {
                    let Some(photo) = self.photo(PhotoId(row.photo_id)).await? else {
                        continue;
                    };
                    debug_assert_eq!(
                        (photo.root_id.0, photo.rel_path.as_bytes()),
                        (row.root_id, row.rel_path.as_slice())
                    );
                    out.push((photo, vec![entry]));
                }
            }
        }
        Ok(out)
    }
}
