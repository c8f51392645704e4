//! The planner's bridge to the database: read the rows of some path groups,
//! decide with [`crate::planner::plan_groups`], and apply the decision in
//! the same transaction.
//!
//! Two ways in, both in chunks of at most [`PLAN_CHUNK`] groups, each chunk
//! one short `BEGIN IMMEDIATE` transaction, so a planning step never holds
//! the write lock for long and transfers finish in between:
//! - [`Store::plan_pending`] plans the groups in `plan_queue`, which the
//!   schema's triggers fill in the same transaction as each change (a photo
//!   added, changed, renamed or removed, a membership edited, a root back
//!   online). Its cost is the size of the change, not of the collection.
//! - [`Store::reconcile_step`] walks one collection's members, then its
//!   ledger, by keyset pages (`reconcile` remembers how far), for `sync
//!   on`/`off`, a rename, `rescan`, the periodic safety net, and a start
//!   after a reconciliation was cut off.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::{Sqlite, Transaction};

use super::Store;
use super::jobs::{StateColumn, now_ms, transition};
use crate::connection::Direction;
use crate::error::{DbContext, Error, Result};
use crate::job::{JobEvent, JobId, JobOp, JobState};
use crate::keys::{collection_prefix, disambiguated, object_key, untagged};
use crate::planner::{self, Blocked, GroupRows, LiveJob, Member, Placed, SidecarFile, Wanted};
use crate::types::{CollectionId, ContentHash, PhotoId, RelPath, RemoteId, RootId, hex};

/// Path groups planned in one transaction at most.
pub const PLAN_CHUNK: usize = 256;

/// What planning should aim for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanGoal {
    /// The remote holds exactly the collection's photos.
    Mirror,
    /// The remote holds none of the collection's photos (`sync off`).
    RemoveAll,
}

/// What planning enqueued.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanOutcome {
    pub uploads: u64,
    pub deletes: u64,
    pub cancelled: u64,
    /// Deletions the brake held for the user's decision.
    pub held: u64,
}

impl PlanOutcome {
    pub fn add(&mut self, other: &PlanOutcome) {
        self.uploads += other.uploads;
        self.deletes += other.deletes;
        self.cancelled += other.cancelled;
        self.held += other.held;
    }
}

/// How much planning has read since the store was opened: the figures that
/// show a change costs the same in a collection of 100 or of 1,000,000.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlanWork {
    /// Path groups planned.
    pub groups: u64,
    /// Member, ledger and job rows read to plan them.
    pub rows: u64,
    /// Planning transactions.
    pub transactions: u64,
}

#[derive(Debug, Default)]
pub(crate) struct PlanCounters {
    groups: AtomicU64,
    rows: AtomicU64,
    transactions: AtomicU64,
}

/// One step of a full reconciliation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconcileStep {
    pub collection: CollectionId,
    pub outcome: PlanOutcome,
    /// The collection's reconciliation is complete.
    pub finished: bool,
}

/// A collection as planning needs it.
struct Target {
    id: CollectionId,
    name: String,
    remote: RemoteId,
    prefix: String,
    goal: Option<PlanGoal>,
    /// The connection's direction; `Push` when not connected.
    direction: Direction,
}

type Tx<'a> = Transaction<'a, Sqlite>;

/// (name, remote id, prefix, syncing, removing copies, direction).
type TargetRow = (String, i64, Option<String>, bool, bool, Option<String>);

async fn target(tx: &mut Tx<'_>, id: CollectionId) -> Result<Option<Target>> {
    let row: Option<TargetRow> = sqlx::query_as(
        "SELECT c.name, c.remote_id, json_extract(r.settings_json, '$.prefix'),
                c.sync_enabled, c.remove_remote_copies, k.direction
         FROM collections c JOIN remotes r ON r.id = c.remote_id
         LEFT JOIN connections k ON k.collection_id = c.id WHERE c.id = ?",
    )
    .bind(id.0)
    .fetch_optional(&mut **tx)
    .await
    .db("reading a collection")?;
    let Some((name, remote, prefix, synced, clearing, direction)) = row else {
        return Ok(None);
    };
    let direction = match direction {
        // The schema's CHECK keeps the names known; a damaged one is an
        // error, not a direction to guess.
        Some(name) => Direction::parse(&name).ok_or(Error::InvalidDirection(name))?,
        None => Direction::Push,
    };
    Ok(Some(Target {
        id,
        name,
        remote: RemoteId(remote),
        prefix: prefix.unwrap_or_default(),
        goal: if synced {
            Some(PlanGoal::Mirror)
        } else if clearing {
            Some(PlanGoal::RemoveAll)
        } else {
            None
        },
        direction,
    }))
}

/// Paths as a JSON array of hex strings: a set SQLite can join against
/// (`json_each`, `unhex`) in one statement, whatever bytes the paths hold.
pub(crate) fn paths_json(paths: &[Vec<u8>]) -> String {
    let hexed: Vec<String> = paths.iter().map(|p| format!("\"{}\"", hex(p))).collect();
    format!("[{}]", hexed.join(","))
}

fn hash_of(bytes: &[u8]) -> ContentHash {
    ContentHash(<[u8; 32]>::try_from(bytes).unwrap_or([0; 32]))
}

/// (key, blake3, path, pinned root).
type PlacedRow = (String, Vec<u8>, Vec<u8>, Option<i64>);
/// (photo id, root id, path, blake3, size, root state).
type MemberRow = (i64, i64, Vec<u8>, Vec<u8>, i64, String);
/// (id, op, key, blake3, state, path).
type JobRow = (
    i64,
    String,
    String,
    Option<Vec<u8>>,
    StateColumn,
    Option<Vec<u8>>,
);

/// Every row of the groups `paths` of collection `t`.
async fn group_rows(tx: &mut Tx<'_>, t: &Target, paths: &str) -> Result<GroupRows> {
    let members: Vec<MemberRow> = if t.goal == Some(PlanGoal::Mirror) {
        // In this order (CROSS JOIN fixes it): each path is a probe of
        // photos' (root, path) index per root, never a walk of the members.
        sqlx::query_as(
            "SELECT p.id, p.root_id, p.rel_path, p.blake3, p.size, r.state
             FROM json_each(?2) g CROSS JOIN roots r
             CROSS JOIN photos p ON p.root_id = r.id AND p.rel_path = unhex(g.value)
             CROSS JOIN collection_photos cp ON cp.collection_id = ?1 AND cp.photo_id = p.id",
        )
        .bind(t.id.0)
        .bind(paths)
        .fetch_all(&mut **tx)
        .await
        .db("reading collection members")?
    } else {
        Vec::new()
    };
    let placed: Vec<PlacedRow> = sqlx::query_as(
        "SELECT o.key, o.blake3, o.rel_path, o.pinned_root_id FROM json_each(?2) g
         CROSS JOIN remote_objects o ON o.collection_id = ?1 AND o.rel_path = unhex(g.value)
         WHERE o.remote_id = ?3",
    )
    .bind(t.id.0)
    .bind(paths)
    .bind(t.remote.0)
    .fetch_all(&mut **tx)
    .await
    .db("reading the ledger")?;
    let jobs: Vec<JobRow> = sqlx::query_as(
        "SELECT j.id, j.op, j.key, j.blake3, j.state, j.rel_path FROM json_each(?2) g
         CROSS JOIN jobs j ON j.collection_id = ?1 AND j.rel_path = unhex(g.value)
         WHERE j.state IN ('queued', 'running', 'cancelling', 'held', 'failed', 'dismissed',
                           'left')",
    )
    .bind(t.id.0)
    .bind(paths)
    .fetch_all(&mut **tx)
    .await
    .db("reading jobs")?;

    let mut rows = GroupRows {
        members: Vec::new(),
        placed: Vec::new(),
        live: Vec::new(),
        blocked: Vec::new(),
    };
    let mut sidecars = sidecars_of(tx, members.iter().map(|m| m.0)).await?;
    rows.members = members
        .into_iter()
        .map(|(id, root, rel, hash, size, state)| Member {
            photo_id: PhotoId(id),
            root_id: RootId(root),
            rel_path: RelPath::from_bytes(rel),
            hash: hash_of(&hash),
            size: size as u64,
            readable: state == "online",
            sidecars: sidecars.remove(&id).unwrap_or_default(),
        })
        .collect();
    rows.placed = placed
        .into_iter()
        .map(|(key, hash, rel, pinned)| Placed {
            key,
            rel_path: RelPath::from_bytes(rel),
            hash: hash_of(&hash),
            pinned_root: pinned.map(RootId),
        })
        .collect();
    for (id, op, key, hash, state, rel) in jobs {
        let op = JobOp::parse(&op).unwrap_or(JobOp::Upload);
        let hash = hash.as_deref().map(hash_of);
        let id = JobId(id);
        match state {
            StateColumn::Failed | StateColumn::Dismissed | StateColumn::Left => {
                rows.blocked.push(Blocked {
                    id,
                    key,
                    op,
                    hash,
                    dismissed: state == StateColumn::Dismissed,
                })
            }
            // Only live states are read besides those.
            _ => rows.live.push(LiveJob {
                id,
                op,
                key,
                rel_path: rel.map(RelPath::from_bytes),
                hash,
                running: matches!(state, StateColumn::Running | StateColumn::Cancelling),
            }),
        }
    }
    Ok(rows)
}

/// (owner id, id, path, blake3, size).
type SidecarRow = (i64, i64, Vec<u8>, Vec<u8>, i64);

/// The sidecars of `owners`, by owner: one probe of `photos_by_owner` per
/// owner.
async fn sidecars_of(
    tx: &mut Tx<'_>,
    owners: impl Iterator<Item = i64>,
) -> Result<BTreeMap<i64, Vec<SidecarFile>>> {
    let ids: Vec<String> = owners.map(|id| id.to_string()).collect();
    if ids.is_empty() {
        return Ok(BTreeMap::new());
    }
    let rows: Vec<SidecarRow> = sqlx::query_as(
        "SELECT s.owner_id, s.id, s.rel_path, s.blake3, s.size
         FROM json_each(?1) m CROSS JOIN photos s ON s.owner_id = m.value",
    )
    .bind(format!("[{}]", ids.join(",")))
    .fetch_all(&mut **tx)
    .await
    .db("reading sidecars")?;
    let mut by_owner: BTreeMap<i64, Vec<SidecarFile>> = BTreeMap::new();
    for (owner, id, rel, hash, size) in rows {
        by_owner.entry(owner).or_default().push(SidecarFile {
            id: PhotoId(id),
            rel_path: RelPath::from_bytes(rel),
            hash: hash_of(&hash),
            size: size as u64,
        });
    }
    Ok(by_owner)
}

impl Store {
    /// Plans the groups `paths` of `t` and applies the decision in `tx`.
    async fn plan_paths(
        &self,
        tx: &mut Tx<'_>,
        t: &Target,
        paths: &[Vec<u8>],
    ) -> Result<PlanOutcome> {
        let Some(_) = t.goal else {
            return Ok(PlanOutcome::default());
        };
        let json = paths_json(paths);
        let rows = group_rows(tx, t, &json).await?;
        let sidecars: usize = rows.members.iter().map(|m| m.sidecars.len()).sum();
        let read = rows.members.len()
            + sidecars
            + rows.placed.len()
            + rows.live.len()
            + rows.blocked.len();
        self.counters
            .groups
            .fetch_add(paths.len() as u64, Ordering::Relaxed);
        self.counters.rows.fetch_add(read as u64, Ordering::Relaxed);
        // Removing every copy (`sync off`) is the user's word, whatever the
        // direction; mirroring sends local changes only if it pushes.
        let direction = match t.goal {
            Some(PlanGoal::RemoveAll) => Direction::Push,
            _ => t.direction,
        };
        let plan = planner::plan_groups(&t.prefix, &t.name, rows, direction);

        let now = now_ms();
        super::skipped::record_skipped(tx, t.id, &json, &plan.skipped, now).await?;
        let mut outcome = PlanOutcome::default();
        for id in &plan.actions.cancel {
            let event = JobEvent::Cancelled {
                reason: plan.cancel_reason.to_owned(),
            };
            transition(tx, *id, event, now).await?;
            outcome.cancelled += 1;
        }
        for (key, group) in &plan.actions.rehome {
            sqlx::query(
                "UPDATE remote_objects SET rel_path = ?1
                 WHERE remote_id = ?2 AND key = ?3 AND collection_id = ?4",
            )
            .bind(group.as_bytes())
            .bind(t.remote.0)
            .bind(key)
            .bind(t.id.0)
            .execute(&mut **tx)
            .await
            .db("moving a ledger row to its group")?;
        }
        let mut after = plan.after_running;
        for id in &plan.released {
            transition(tx, *id, JobEvent::Released, now).await?;
        }
        // Deletions the daemon decided on its own go through the brake;
        // removing every copy (`sync off`) is the user's decision.
        // Keys outside the collection's folder are what a rename (or a new
        // prefix) left behind: their photos are still wanted, under new
        // keys, so deleting them loses no copy and is not braked.
        let (run, held) = if t.goal == Some(PlanGoal::Mirror) {
            let folder = collection_prefix(&t.prefix, &t.name);
            let (moved, lost): (Vec<Placed>, Vec<Placed>) = plan
                .actions
                .deletes
                .iter()
                .cloned()
                .partition(|p| !p.key.starts_with(&folder));
            let (mut run, held) =
                super::holds::brake_deletes(tx, t.id, t.remote, lost, &self.brake, now).await?;
            run.extend(moved);
            (run, held)
        } else {
            (plan.actions.deletes.clone(), None)
        };
        // Plain Vecs, not iterator chains held across the awaits below: the
        // future must stay `Send` for every lifetime.
        let mut jobs: Vec<(NewJobRow<'_>, Option<(i64, &'static str)>)> = Vec::new();
        jobs.extend(
            plan.actions
                .uploads
                .iter()
                .map(|w| (NewJobRow::upload(t, w), None)),
        );
        jobs.extend(run.iter().map(|p| (NewJobRow::delete(t, p), None)));
        if let Some((hold, places)) = &held {
            let held = places
                .iter()
                .map(|(p, why)| (NewJobRow::delete(t, p), Some((*hold, *why))));
            jobs.extend(held);
        }
        for ((job, held), inserted) in jobs.iter().zip(insert_jobs(tx, &jobs, now).await?) {
            match (inserted, job.op, held) {
                (Inserted::Queued, JobOp::Upload, _) => outcome.uploads += 1,
                (Inserted::Queued, JobOp::Delete, Some(_)) => outcome.held += 1,
                (Inserted::Queued, JobOp::Delete, None) => outcome.deletes += 1,
                (Inserted::KeyBusy(holder), ..) => after.push((job.rel_path.clone(), holder)),
                // Planning queues uploads and deletes only; polls queue
                // downloads (`Store::queue_downloads`).
                (Inserted::Queued, JobOp::Download, _) => {}
            }
        }
        if !plan.actions.cancel.is_empty() {
            // Photos that came back cancel their held deletions.
            super::holds::withdraw_emptied(tx, t.id, now).await?;
        }
        for (rel, job) in after {
            sqlx::query(
                "INSERT INTO plan_queue (collection_id, rel_path, after_job) VALUES (?1, ?2, ?3)
                 ON CONFLICT (collection_id, rel_path) DO UPDATE SET after_job = ?3",
            )
            .bind(t.id.0)
            .bind(rel.as_bytes())
            .bind(job.0)
            .execute(&mut **tx)
            .await
            .db("queueing a plan after a job")?;
        }
        Ok(outcome)
    }

    /// Plans up to `max_groups` of the groups changes left in `plan_queue`
    /// (one transaction); returns what it queued and how many groups it
    /// took, 0 when none is waiting.
    pub async fn plan_pending(&self, max_groups: usize) -> Result<(PlanOutcome, usize)> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .db("starting a transaction")?;
        let rows: Vec<(i64, Vec<u8>)> = sqlx::query_as(
            "SELECT collection_id, rel_path FROM plan_queue WHERE after_job IS NULL
             ORDER BY collection_id LIMIT ?",
        )
        .bind(max_groups as i64)
        .fetch_all(&mut *tx)
        .await
        .db("reading the plan queue")?;
        let taken = rows.len();
        let mut by_collection: BTreeMap<i64, Vec<Vec<u8>>> = BTreeMap::new();
        for (collection, rel) in rows {
            by_collection.entry(collection).or_default().push(rel);
        }
        let mut outcome = PlanOutcome::default();
        for (collection, paths) in by_collection {
            sqlx::query(
                "DELETE FROM plan_queue WHERE collection_id = ?1 AND after_job IS NULL
                   AND rel_path IN (SELECT unhex(value) FROM json_each(?2))",
            )
            .bind(collection)
            .bind(paths_json(&paths))
            .execute(&mut *tx)
            .await
            .db("taking from the plan queue")?;
            if let Some(t) = target(&mut tx, CollectionId(collection)).await? {
                outcome.add(&self.plan_paths(&mut tx, &t, &paths).await?);
            }
        }
        if taken > 0 {
            self.counters.transactions.fetch_add(1, Ordering::Relaxed);
        }
        tx.commit().await.db("committing a plan")?;
        if outcome.held > 0 {
            // A held deletion may have opened a hold, an event.
            self.announce_events();
        }
        Ok((outcome, taken))
    }

    /// Asks for a full reconciliation of `collection`, or of every
    /// collection that syncs or is removing its copies. `restart`: from
    /// the beginning even if one is under way.
    pub async fn request_reconcile(
        &self,
        collection: Option<CollectionId>,
        restart: bool,
    ) -> Result<()> {
        let verb = if restart {
            "INSERT OR REPLACE"
        } else {
            "INSERT OR IGNORE"
        };
        sqlx::query(&format!(
            "{verb} INTO reconcile (collection_id, phase, cursor)
             SELECT id, 'members', 0 FROM collections
             WHERE (?1 IS NULL OR id = ?1) AND (sync_enabled = 1 OR remove_remote_copies = 1)"
        ))
        .bind(collection.map(|c| c.0))
        .execute(&self.pool)
        .await
        .db("asking for a reconciliation")?;
        Ok(())
    }

    /// Whether planning has work waiting: changed groups not yet planned,
    /// or a reconciliation under way.
    pub async fn planning_pending(&self) -> Result<bool> {
        sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM plan_queue WHERE after_job IS NULL)
                 OR EXISTS (SELECT 1 FROM reconcile)",
        )
        .fetch_one(&self.pool)
        .await
        .db("reading the plan queue")
    }

    /// One chunk of the full reconciliation of `only` (or of the first
    /// collection that has one under way): a page of members, then of the
    /// ledger, planned and applied in one transaction. `None` when no
    /// reconciliation is under way.
    pub async fn reconcile_step(
        &self,
        only: Option<CollectionId>,
    ) -> Result<Option<ReconcileStep>> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .db("starting a transaction")?;
        let row: Option<(i64, String, i64)> = sqlx::query_as(
            "SELECT collection_id, phase, cursor FROM reconcile
             WHERE ?1 IS NULL OR collection_id = ?1 ORDER BY collection_id LIMIT 1",
        )
        .bind(only.map(|c| c.0))
        .fetch_optional(&mut *tx)
        .await
        .db("reading reconciliations")?;
        let Some((collection, phase, cursor)) = row else {
            return Ok(None);
        };
        let collection = CollectionId(collection);
        let target = target(&mut tx, collection).await?;
        let mut step = ReconcileStep {
            collection,
            outcome: PlanOutcome::default(),
            finished: false,
        };
        let next = match (&target, phase.as_str()) {
            (
                Some(
                    t @ Target {
                        goal: Some(PlanGoal::Mirror),
                        ..
                    },
                ),
                "members",
            ) => {
                let page: Vec<(i64, Vec<u8>)> = sqlx::query_as(
                    "SELECT cp.photo_id, p.rel_path FROM collection_photos cp
                     JOIN photos p ON p.id = cp.photo_id
                     WHERE cp.collection_id = ? AND cp.photo_id > ? ORDER BY cp.photo_id LIMIT ?",
                )
                .bind(collection.0)
                .bind(cursor)
                .bind(PLAN_CHUNK as i64)
                .fetch_all(&mut *tx)
                .await
                .db("reading collection members")?;
                match page.last() {
                    None => Some(("ledger", 0)),
                    Some(&(last, _)) => {
                        let mut paths: Vec<Vec<u8>> =
                            page.into_iter().map(|(_, rel)| rel).collect();
                        paths.sort();
                        paths.dedup();
                        step.outcome = self.plan_paths(&mut tx, t, &paths).await?;
                        Some(("members", last))
                    }
                }
            }
            (
                Some(
                    t @ Target {
                        goal: Some(goal), ..
                    },
                ),
                _,
            ) => {
                // Ledger keys whose path no member has: the member pages
                // planned every other group already.
                let page: Vec<(i64, Option<Vec<u8>>, bool)> = sqlx::query_as(
                    "SELECT o.id, o.rel_path,
                            EXISTS (SELECT 1 FROM roots r
                                    CROSS JOIN photos p ON p.root_id = r.id AND p.rel_path = o.rel_path
                                    CROSS JOIN collection_photos cp ON cp.collection_id = o.collection_id
                                                             AND cp.photo_id = p.id)
                     FROM remote_objects o WHERE o.collection_id = ? AND o.id > ? ORDER BY o.id LIMIT ?",
                )
                .bind(collection.0)
                .bind(if phase == "ledger" { cursor } else { 0 })
                .bind(PLAN_CHUNK as i64)
                .fetch_all(&mut *tx)
                .await
                .db("reading the ledger")?;
                match page.last() {
                    None => None,
                    Some(&(last, _, _)) => {
                        let mut paths: Vec<Vec<u8>> = page
                            .into_iter()
                            .filter(|(_, _, has_member)| {
                                *goal == PlanGoal::RemoveAll || !has_member
                            })
                            .filter_map(|(_, rel, _)| rel)
                            .collect();
                        paths.sort();
                        paths.dedup();
                        if !paths.is_empty() {
                            step.outcome = self.plan_paths(&mut tx, t, &paths).await?;
                        }
                        Some(("ledger", last))
                    }
                }
            }
            // Gone, or neither syncing nor removing copies: nothing to do.
            _ => None,
        };
        // A job running now may land a key that no page of this
        // reconciliation reads again (an upload cut off by `sync off`):
        // its group is planned once more when it is done.
        sqlx::query(
            "INSERT INTO plan_queue (collection_id, rel_path, after_job)
             SELECT collection_id, rel_path, id FROM jobs INDEXED BY jobs_by_collection
             WHERE collection_id = ?1 AND state IN ('running', 'cancelling') AND rel_path IS NOT NULL
             ON CONFLICT (collection_id, rel_path) DO UPDATE SET after_job = excluded.after_job",
        )
        .bind(collection.0)
        .execute(&mut *tx)
        .await
        .db("queueing plans after running jobs")?;
        match next {
            Some((phase, cursor)) => {
                sqlx::query("UPDATE reconcile SET phase = ?, cursor = ? WHERE collection_id = ?")
                    .bind(phase)
                    .bind(cursor)
                    .bind(collection.0)
                    .execute(&mut *tx)
                    .await
                    .db("recording a reconciliation's progress")?;
            }
            None => {
                sqlx::query("DELETE FROM reconcile WHERE collection_id = ?")
                    .bind(collection.0)
                    .execute(&mut *tx)
                    .await
                    .db("finishing a reconciliation")?;
                step.finished = true;
            }
        }
        self.counters.transactions.fetch_add(1, Ordering::Relaxed);
        tx.commit().await.db("committing a plan")?;
        if step.outcome.held > 0 {
            self.announce_events();
        }
        Ok(Some(step))
    }

    /// What planning has read since the store was opened.
    pub fn plan_work(&self) -> PlanWork {
        PlanWork {
            groups: self.counters.groups.load(Ordering::Relaxed),
            rows: self.counters.rows.load(Ordering::Relaxed),
            transactions: self.counters.transactions.load(Ordering::Relaxed),
        }
    }

    /// Names the path of ledger rows written before jobs and the ledger
    /// carried paths (the migration could name most from their uploads),
    /// from their keys. A key no path of its collection can produce (its
    /// collection was renamed since) becomes a group of its own, which no
    /// member wants.
    pub(crate) async fn name_unnamed_ledger_rows(&self) -> Result<u64> {
        let rows: Vec<(i64, String, String, Option<String>)> = sqlx::query_as(
            "SELECT o.id, o.key, c.name, json_extract(r.settings_json, '$.prefix')
             FROM remote_objects o JOIN collections c ON c.id = o.collection_id
             JOIN remotes r ON r.id = o.remote_id WHERE o.rel_path IS NULL",
        )
        .fetch_all(&self.pool)
        .await
        .db("reading the ledger")?;
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .db("starting a transaction")?;
        for (id, key, name, prefix) in &rows {
            let rel = path_of_key(prefix.as_deref().unwrap_or(""), name, key);
            sqlx::query("UPDATE remote_objects SET rel_path = ? WHERE id = ?")
                .bind(rel.as_bytes())
                .bind(id)
                .execute(&mut *tx)
                .await
                .db("naming a ledger row")?;
        }
        sqlx::query(
            "UPDATE jobs SET rel_path = (SELECT o.rel_path FROM remote_objects o
                                         WHERE o.remote_id = jobs.remote_id AND o.key = jobs.key)
             WHERE rel_path IS NULL AND state IN ('queued', 'running', 'failed')",
        )
        .execute(&mut *tx)
        .await
        .db("naming jobs")?;
        tx.commit().await.db("committing ledger paths")?;
        Ok(rows.len() as u64)
    }
}

/// The path whose key (plain, or tagged with a root) `key` is in collection
/// `name`; the whole key when no path gives it.
fn path_of_key(prefix: &str, name: &str, key: &str) -> RelPath {
    let fallback = || RelPath::from_bytes(key.as_bytes().to_vec());
    let Some(rest) = key.strip_prefix(&collection_prefix(prefix, name)) else {
        return fallback();
    };
    let produces = |rel: &RelPath| {
        let plain = object_key(prefix, name, rel);
        plain == key || untagged(key).is_some_and(|(_, root)| disambiguated(&plain, root) == key)
    };
    // A root's tag first: a name that really ends in `~r<digits>` is rarer
    // than two roots sharing a path (both give the same key; legacy rows
    // cannot tell them apart).
    let mut candidates = Vec::new();
    if let Some((untagged_key, _)) = untagged(key)
        && let Some(rest) = untagged_key.strip_prefix(&collection_prefix(prefix, name))
    {
        candidates.push(rest.to_owned());
    }
    candidates.push(rest.to_owned());
    for candidate in candidates {
        // Decoded first: only syncroll escapes bytes that are not UTF-8.
        for rel in [
            RelPath::from_bytes(percent_decoded(&candidate)),
            RelPath::from_bytes(candidate.as_bytes().to_vec()),
        ] {
            if produces(&rel) {
                return rel;
            }
        }
    }
    fallback()
}

/// `dir/name~r3.ext` → (`dir/name.ext`, root 3).
fn percent_decoded(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// A job the planner queues.
struct NewJobRow<'a> {
    collection: CollectionId,
    remote: RemoteId,
    op: JobOp,
    key: &'a str,
    rel_path: &'a RelPath,
    photo: Option<PhotoId>,
    hash: Option<ContentHash>,
    size: u64,
}

impl<'a> NewJobRow<'a> {
    fn upload(t: &Target, want: &'a Wanted) -> Self {
        Self {
            collection: t.id,
            remote: t.remote,
            op: JobOp::Upload,
            key: &want.key,
            rel_path: &want.rel_path,
            photo: Some(want.photo_id),
            hash: Some(want.hash),
            size: want.size,
        }
    }

    fn delete(t: &Target, place: &'a Placed) -> Self {
        Self {
            collection: t.id,
            remote: t.remote,
            op: JobOp::Delete,
            key: &place.key,
            rel_path: &place.rel_path,
            photo: None,
            hash: None,
            size: 0,
        }
    }
}

enum Inserted {
    Queued,
    /// A live job of another collection holds the key (a name reused after
    /// a rename): plan again once it is done.
    KeyBusy(JobId),
}

/// Queues `jobs`, those with a hold and a reason in state `held`, in one
/// statement however many (each statement is a round trip to SQLite's
/// thread, the main cost of planning); returns for each whether it was
/// queued or another live job holds its key.
async fn insert_jobs(
    tx: &mut Tx<'_>,
    jobs: &[(NewJobRow<'_>, Option<(i64, &str)>)],
    now: i64,
) -> Result<Vec<Inserted>> {
    if jobs.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<serde_json::Value> = jobs
        .iter()
        .map(|(job, held)| {
            let state = match held {
                Some((hold, _)) => JobState::Held { hold: *hold },
                None => JobState::Queued { not_before: 0 },
            };
            serde_json::json!({
                "collection": job.collection.0,
                "photo": job.photo.map(|p| p.0),
                "remote": job.remote.0,
                "op": job.op.as_str(),
                "key": job.key,
                "rel": hex(job.rel_path.as_bytes()),
                "hash": job.hash.map(|h| h.to_hex()),
                "size": job.size,
                "state": state.name(),
                "hold": held.map(|(hold, _)| hold),
                "why": held.map_or("", |(_, why)| why),
            })
        })
        .collect();
    let inserted: Vec<String> = sqlx::query_scalar(
        "INSERT OR IGNORE INTO jobs (collection_id, photo_id, remote_id, op, key, rel_path, blake3,
                                     bytes_total, created_at, updated_at, state, hold_id, last_error)
         SELECT v.value ->> 'collection', v.value ->> 'photo', v.value ->> 'remote',
                v.value ->> 'op', v.value ->> 'key', unhex(v.value ->> 'rel'),
                unhex(v.value ->> 'hash'), v.value ->> 'size', ?1, ?1, v.value ->> 'state',
                v.value ->> 'hold', v.value ->> 'why'
         FROM json_each(?2) v WHERE true
         RETURNING key",
    )
    .bind(now)
    .bind(serde_json::Value::Array(rows).to_string())
    .fetch_all(&mut **tx)
    .await
    .db("queueing jobs")?;
    let inserted: std::collections::HashSet<String> = inserted.into_iter().collect();
    let mut out = Vec::with_capacity(jobs.len());
    for (job, _) in jobs {
        if inserted.contains(job.key) {
            out.push(Inserted::Queued);
            continue;
        }
        let holder: i64 = sqlx::query_scalar(
            "SELECT id FROM jobs WHERE remote_id = ? AND key = ?
               AND state IN ('queued', 'running', 'cancelling', 'held')",
        )
        .bind(job.remote.0)
        .bind(job.key)
        .fetch_one(&mut **tx)
        .await
        .db("finding the job that holds a key")?;
        out.push(Inserted::KeyBusy(JobId(holder)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_names_its_path() {
        let rel = |s: &[u8]| RelPath::from_bytes(s.to_vec());
        assert_eq!(path_of_key("p", "C", "p/C/2024/a.jpg"), rel(b"2024/a.jpg"));
        assert_eq!(path_of_key("", "C", "C/2024/a~r3.jpg"), rel(b"2024/a.jpg"));
        assert_eq!(path_of_key("", "C", "C/caf%E9.jpg"), rel(b"caf\xe9.jpg"));
        // A real '%' in a UTF-8 name stays as it is.
        assert_eq!(path_of_key("", "C", "C/100%41.jpg"), rel(b"100%41.jpg"));
        // A key of the collection's old name is a group of its own.
        assert_eq!(path_of_key("", "New", "Old/a.jpg"), rel(b"Old/a.jpg"));
    }
}
