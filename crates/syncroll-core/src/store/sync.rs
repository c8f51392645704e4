//! Sync settings (on/off, pause) and the planner's bridge to the database:
//! read what a collection wants, what the ledger holds and the live jobs,
//! decide with [`crate::planner::diff`], and apply it in one transaction.

use std::collections::HashSet;

use super::Store;
use super::jobs::{now_ms, transition};
use crate::error::{DbContext, Error, Result};
use crate::job::{JobEvent, JobId, JobOp};
use crate::keys::{disambiguated, object_key};
use crate::planner::{self, LiveJob, Placed, Wanted};
use crate::types::{CollectionId, ContentHash, PhotoId, RelPath, RemoteId, RootId};

/// What planning should aim for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanGoal {
    /// The remote holds exactly the collection's photos.
    Mirror,
    /// The remote holds none of the collection's photos (`sync off`).
    RemoveAll,
}

/// What one planning pass enqueued.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanOutcome {
    pub uploads: u64,
    pub deletes: u64,
    pub cancelled: u64,
}

/// A collection whose sync is on.
#[derive(Debug, Clone)]
pub struct SyncedCollection {
    pub id: CollectionId,
    pub name: String,
    pub remote_id: RemoteId,
}

impl SyncedCollection {
    fn from_row((id, name, remote): (i64, String, i64)) -> Self {
        Self {
            id: CollectionId(id),
            name,
            remote_id: RemoteId(remote),
        }
    }
}

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
        sqlx::query(
            "UPDATE collections SET sync_enabled = ?, remove_remote_copies = ? WHERE id = ?",
        )
        .bind(enabled)
        .bind(!enabled && remove_remote_copies)
        .bind(collection.0)
        .execute(&self.pool)
        .await
        .db("changing sync")?;
        // Turning sync on or off says anew what the user wants: earlier
        // cancels no longer hold.
        sqlx::query("UPDATE jobs SET held = 0 WHERE collection_id = ? AND held = 1")
            .bind(collection.0)
            .execute(&self.pool)
            .await
            .db("releasing held jobs")?;
        Ok(())
    }

    /// Collections whose sync went off with their remote copies to be
    /// removed, and which still have some in the ledger.
    pub async fn collections_to_clear(&self) -> Result<Vec<SyncedCollection>> {
        let rows: Vec<(i64, String, i64)> = sqlx::query_as(
            "SELECT c.id, c.name, c.remote_id FROM collections c
             WHERE c.sync_enabled = 0 AND c.remove_remote_copies = 1
               AND EXISTS (SELECT 1 FROM remote_objects o WHERE o.collection_id = c.id)
             ORDER BY c.name",
        )
        .fetch_all(&self.pool)
        .await
        .db("listing collections to clear")?;
        Ok(rows.into_iter().map(SyncedCollection::from_row).collect())
    }

    /// Every collection whose sync is on.
    pub async fn synced_collections(&self) -> Result<Vec<SyncedCollection>> {
        let rows: Vec<(i64, String, i64)> = sqlx::query_as(
            "SELECT id, name, remote_id FROM collections WHERE sync_enabled = 1 ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await
        .db("listing synced collections")?;
        Ok(rows.into_iter().map(SyncedCollection::from_row).collect())
    }

    /// Plans one collection toward `goal` and enqueues the difference.
    pub async fn plan_collection(
        &self,
        collection: CollectionId,
        goal: PlanGoal,
    ) -> Result<PlanOutcome> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .db("starting a transaction")?;
        let row: Option<(String, i64, Option<String>)> = sqlx::query_as(
            "SELECT c.name, c.remote_id, json_extract(r.settings_json, '$.prefix')
             FROM collections c JOIN remotes r ON r.id = c.remote_id WHERE c.id = ?",
        )
        .bind(collection.0)
        .fetch_optional(&mut *tx)
        .await
        .db("reading a collection")?;
        let (name, remote_id, prefix) =
            row.ok_or_else(|| Error::CollectionNotFound(collection.to_string()))?;
        let remote = RemoteId(remote_id);
        let prefix = prefix.unwrap_or_default();

        let (wanted, unreachable) = match goal {
            PlanGoal::Mirror => wanted_keys(&mut tx, collection, &prefix, &name).await?,
            PlanGoal::RemoveAll => (Vec::new(), HashSet::new()),
        };
        let placed: Vec<(String, Vec<u8>)> = sqlx::query_as(
            "SELECT key, blake3 FROM remote_objects WHERE remote_id = ? AND collection_id = ?",
        )
        .bind(remote.0)
        .bind(collection.0)
        .fetch_all(&mut *tx)
        .await
        .db("reading the ledger")?;
        let live: Vec<LiveRow> = sqlx::query_as(
            "SELECT id, op, key, blake3, state FROM jobs
             WHERE collection_id = ? AND state IN ('queued', 'running')",
        )
        .bind(collection.0)
        .fetch_all(&mut *tx)
        .await
        .db("reading live jobs")?;

        let mut actions = planner::diff(
            wanted,
            placed
                .into_iter()
                .map(|(key, hash)| Placed {
                    key,
                    hash: hash_of(&hash),
                })
                .collect(),
            live.into_iter()
                .map(|(id, op, key, hash, state)| LiveJob {
                    id: JobId(id),
                    op: JobOp::parse(&op).unwrap_or(JobOp::Upload),
                    key,
                    hash: hash.as_deref().map(hash_of),
                    running: state == "running",
                })
                .collect(),
        );
        // Photos of a missing root stay wanted, so their remote copies are
        // kept, but cannot be read to upload until the root is back.
        actions
            .uploads
            .retain(|w| !unreachable.contains(&w.photo_id));
        // A failed job stays failed until `retry`: planning the same work
        // again would only fail again, forever. A job the user cancelled is
        // held likewise, or the cancel would last only until this pass.
        let failed: Vec<(String, String, Option<Vec<u8>>)> = sqlx::query_as(
            "SELECT key, op, blake3 FROM jobs WHERE collection_id = ?
                 AND (state = 'failed' OR (state = 'cancelled' AND held = 1))",
        )
        .bind(collection.0)
        .fetch_all(&mut *tx)
        .await
        .db("reading failed jobs")?;
        let failed: HashSet<(String, String, Option<Vec<u8>>)> = failed.into_iter().collect();
        actions.uploads.retain(|w| {
            let job = (
                w.key.clone(),
                JobOp::Upload.as_str().to_owned(),
                Some(w.hash.0.to_vec()),
            );
            !failed.contains(&job)
        });
        actions.deletes.retain(|key| {
            !failed.contains(&(key.clone(), JobOp::Delete.as_str().to_owned(), None))
        });

        let now = now_ms();
        let mut outcome = PlanOutcome::default();
        for id in &actions.cancel {
            let event = JobEvent::Cancelled {
                reason: "no longer wanted on the remote".to_owned(),
            };
            transition(&mut tx, *id, event, now).await?;
            outcome.cancelled += 1;
        }
        for want in &actions.uploads {
            outcome.uploads += insert_job(
                &mut tx,
                collection,
                remote,
                JobOp::Upload,
                &want.key,
                Some(want),
                now,
            )
            .await?;
        }
        for key in &actions.deletes {
            outcome.deletes +=
                insert_job(&mut tx, collection, remote, JobOp::Delete, key, None, now).await?;
        }
        tx.commit().await.db("committing a plan")?;
        Ok(outcome)
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
        let cancel_requested: bool =
            sqlx::query_scalar("SELECT held FROM jobs WHERE id = ? AND state = 'running'")
                .bind(job.id.0)
                .fetch_optional(&self.pool)
                .await
                .db("reading a job")?
                .unwrap_or(false);
        if cancel_requested {
            return Ok(Some(Overtaken::Cancelled));
        }
        if self.global_pause().await?.is_some() {
            return Ok(Some(Overtaken::Paused));
        }
        let Some(collection) = job.collection_id else {
            return Ok(None);
        };
        let row: Option<(bool, i64)> =
            sqlx::query_as("SELECT sync_enabled, paused_until FROM collections WHERE id = ?")
                .bind(collection.0)
                .fetch_optional(&self.pool)
                .await
                .db("reading a collection")?;
        let Some((sync_enabled, paused_until)) = row else {
            return Ok(None);
        };
        if paused_from(paused_until, now_ms() / 1000).is_some() {
            return Ok(Some(Overtaken::Paused));
        }
        if !sync_enabled && job.op == crate::job::JobOp::Upload {
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

/// (id, op, key, blake3, state) of a live job.
type LiveRow = (i64, String, String, Option<Vec<u8>>, String);
/// (photo id, root id, rel path, blake3, size, root state) of a member.
type MemberRow = (i64, i64, Vec<u8>, Vec<u8>, i64, String);

fn hash_of(bytes: &[u8]) -> ContentHash {
    ContentHash(<[u8; 32]>::try_from(bytes).unwrap_or([0; 32]))
}

/// The collection's photos with their keys, and the photos whose root is
/// missing now.
async fn wanted_keys(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    collection: CollectionId,
    prefix: &str,
    name: &str,
) -> Result<(Vec<Wanted>, HashSet<PhotoId>)> {
    let rows: Vec<MemberRow> = sqlx::query_as(
        "SELECT p.id, p.root_id, p.rel_path, p.blake3, p.size, r.state
         FROM collection_photos cp JOIN photos p ON p.id = cp.photo_id JOIN roots r ON r.id = p.root_id
         WHERE cp.collection_id = ? ORDER BY p.root_id, p.rel_path",
    )
    .bind(collection.0)
    .fetch_all(&mut **tx)
    .await
    .db("reading collection members")?;
    let mut used = HashSet::new();
    let mut wanted = Vec::with_capacity(rows.len());
    let mut unreachable = HashSet::new();
    for (id, root, rel, hash, size, state) in rows {
        let plain = object_key(prefix, name, &RelPath::from_bytes(rel));
        // Rows come in root order, so the first root to claim a key keeps it.
        let key = if used.contains(&plain) {
            disambiguated(&plain, RootId(root))
        } else {
            plain
        };
        used.insert(key.clone());
        if state != "online" {
            unreachable.insert(PhotoId(id));
        }
        wanted.push(Wanted {
            key,
            photo_id: PhotoId(id),
            hash: hash_of(&hash),
            size: size as u64,
        });
    }
    Ok((wanted, unreachable))
}

async fn insert_job(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    collection: CollectionId,
    remote: RemoteId,
    op: JobOp,
    key: &str,
    want: Option<&Wanted>,
    now: i64,
) -> Result<u64> {
    // OR IGNORE: a live job of another collection may hold the key (a name
    // reused after a rename); the next pass plans it once that one is done.
    let done = sqlx::query(
        "INSERT OR IGNORE INTO jobs (collection_id, photo_id, remote_id, op, key, blake3, state,
                                     bytes_total, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?)",
    )
    .bind(collection.0)
    .bind(want.map(|w| w.photo_id.0))
    .bind(remote.0)
    .bind(op.as_str())
    .bind(key)
    .bind(want.map(|w| w.hash.0.to_vec()))
    .bind(want.map_or(0, |w| w.size as i64))
    .bind(now)
    .bind(now)
    .execute(&mut **tx)
    .await
    .db("queueing a job")?;
    Ok(done.rows_affected())
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
