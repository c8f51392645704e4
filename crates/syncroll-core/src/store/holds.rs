//! Holds: deletions the brake ([`crate::brake`]) stopped, kept as jobs in
//! state `held` until the user approves (they run) or rejects them (the
//! copies stay, and the same deletions are not planned again until the
//! photo changes).

use std::path::Path;

use sqlx::{Sqlite, Transaction};

use super::Store;
use super::jobs::{JobsWhere, StateColumn, now_ms, transition_all};
use crate::brake::{self, BrakeHistory, Braked};
use crate::error::{DbContext, Error, Result};
use crate::job::{JobEvent, JobId, JobState, state::TimestampMs};
use crate::planner::Placed;
use crate::quoted::{quoted, shown_path};
use crate::types::{CollectionId, RemoteId, RootId};

type Tx<'a> = Transaction<'a, Sqlite>;

/// Where a hold is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(rename_all = "lowercase")]
pub enum HoldState {
    /// Waiting for the user's decision.
    Pending,
    /// The deletions ran (or are queued to).
    Approved,
    /// The copies stay.
    Rejected,
    /// Nothing left to decide: the photos came back, or sync was turned off
    /// keeping the copies.
    Withdrawn,
}

impl HoldState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Withdrawn => "withdrawn",
        }
    }
}

/// Why one held deletion was planned, as its job's reason says it (the
/// holds migration's triggers count them by these texts).
const VANISHED: &str = "its photo vanished from disk";
const LEFT: &str = "its photo left the collection";

/// A hold as `holds` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    pub id: i64,
    pub collection: Option<CollectionId>,
    pub collection_name: String,
    pub remote_name: String,
    pub state: HoldState,
    /// Deletions still held (pending), or that were held (decided).
    pub deletions: u64,
    /// Bytes of the copies those deletions would remove.
    pub bytes: u64,
    pub synced_copies: u64,
    /// Held because the photo vanished from disk / left the collection.
    pub vanished: u64,
    pub left: u64,
    /// Held because the copy was deleted on a pulled album (the photo
    /// would leave the collection, kept on disk).
    pub remote_deleted: u64,
    pub window_start_ms: TimestampMs,
    pub created_at_ms: TimestampMs,
    pub decided_at_ms: Option<TimestampMs>,
    /// The collection's folder, for a folder collection.
    pub folder: Option<String>,
}

impl Hold {
    /// The hold in one sentence: "121 of 200 copies of "Iceland" on
    /// remote "nas" would be deleted: 121 photos vanished from
    /// /mnt/photos/Iceland within 2 s".
    pub fn reason(&self) -> String {
        let mut why = Vec::new();
        if self.vanished > 0 {
            let from = match &self.folder {
                Some(folder) => shown_path(Path::new(folder)).to_string(),
                None => "disk".to_owned(),
            };
            why.push(format!("{} photos vanished from {from}", self.vanished));
        }
        if self.left > 0 {
            why.push(format!("{} photos left the collection", self.left));
        }
        if self.remote_deleted > 0 {
            why.push(format!(
                "{} photos were deleted from the remote album (they would leave the collection, \
                 kept on disk)",
                self.remote_deleted
            ));
        }
        let span_s = (self.created_at_ms - self.window_start_ms).max(0) / 1000;
        format!(
            "{} of {} copies of {} on remote {} would be deleted: {} within {}",
            self.deletions,
            self.synced_copies,
            quoted(&self.collection_name),
            quoted(&self.remote_name),
            why.join(" and "),
            duration_words(span_s),
        )
    }
}

/// "2 s", "14 min", "3 h": how long a window of deletions took.
fn duration_words(secs: i64) -> String {
    if secs < 120 {
        format!("{secs} s")
    } else if secs < 7200 {
        format!("{} min", secs / 60)
    } else {
        format!("{} h", secs / 3600)
    }
}

/// One deletion of a hold, as `holds show` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldKey {
    /// The deletion's job; 0 for a departure (a copy deleted on a pulled
    /// album), which is no job.
    pub job: JobId,
    /// Where a page of a hold's keys ends: jobs first, by id, then
    /// departures after [`DEPARTURES_AFTER`].
    pub cursor: i64,
    pub key: String,
    /// Bytes of the copy (0 once it is gone).
    pub bytes: u64,
    /// Why it was held, or what became of it since.
    pub reason: String,
    /// Its job's state now.
    pub state: &'static str,
}

/// Departures of a hold page after its jobs: their cursor is their row id
/// plus this, above every job id a catalog will reach.
pub const DEPARTURES_AFTER: i64 = 1 << 62;

/// Why a held departure was held, as `holds show` says it.
const DEPARTED: &str = "its copy was deleted from the remote album";

/// A collection's deletion window as the brake sees it.
pub(crate) struct Window {
    pub history: BrakeHistory,
    /// The collection's pending hold.
    pub pending: Option<i64>,
    /// When the first deletion counted in the window was planned.
    pub start: Option<TimestampMs>,
    pub synced_copies: u64,
}

/// Reads `collection`'s window (pruning what fell out of it): deletions
/// planned lately, those the user confirmed, its copies on `remote`, and
/// its pending hold.
pub(crate) async fn open_window(
    tx: &mut Tx<'_>,
    collection: CollectionId,
    remote: RemoteId,
    policy: &brake::BrakePolicy,
    now: TimestampMs,
) -> Result<Window> {
    let since = now - policy.window_ms;
    sqlx::query("DELETE FROM deletion_log WHERE collection_id = ? AND at < ?")
        .bind(collection.0)
        .bind(since)
        .execute(&mut **tx)
        .await
        .db("pruning the deletion log")?;
    // Negative rows are deletions the user confirmed beforehand.
    let (recent, allowance, window_copies, start): (i64, i64, i64, Option<i64>) = sqlx::query_as(
        "SELECT COALESCE(SUM(MAX(deletions, 0)), 0), COALESCE(-SUM(MIN(deletions, 0)), 0),
                    COALESCE(MAX(synced_copies), 0), MIN(at)
             FROM deletion_log WHERE collection_id = ?",
    )
    .bind(collection.0)
    .fetch_one(&mut **tx)
    .await
    .db("reading the deletion log")?;
    let copies: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM remote_objects WHERE collection_id = ? AND remote_id = ?",
    )
    .bind(collection.0)
    .bind(remote.0)
    .fetch_one(&mut **tx)
    .await
    .db("counting a collection's copies")?;
    let pending: Option<i64> =
        sqlx::query_scalar("SELECT id FROM holds WHERE collection_id = ? AND state = 'pending'")
            .bind(collection.0)
            .fetch_optional(&mut **tx)
            .await
            .db("reading holds")?;
    let synced_copies = copies.max(window_copies).max(0) as u64;
    Ok(Window {
        history: BrakeHistory {
            synced_copies,
            recent: recent.max(0) as u64,
            allowance: allowance.max(0) as u64,
            hold_pending: pending.is_some(),
        },
        pending,
        start,
        synced_copies,
    })
}

/// Counts `count` deletions of `collection` in its window.
pub(crate) async fn log_deletions(
    tx: &mut Tx<'_>,
    collection: CollectionId,
    count: u64,
    synced_copies: u64,
    now: TimestampMs,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO deletion_log (collection_id, at, deletions, synced_copies) VALUES (?, ?, ?, ?)",
    )
    .bind(collection.0)
    .bind(now)
    .bind(count as i64)
    .bind(synced_copies as i64)
    .execute(&mut **tx)
    .await
    .db("logging deletions")?;
    Ok(())
}

/// The window's pending hold, or a new one.
pub(crate) async fn hold_for(
    tx: &mut Tx<'_>,
    collection: CollectionId,
    window: &Window,
    now: TimestampMs,
) -> Result<i64> {
    if let Some(id) = window.pending {
        return Ok(id);
    }
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO holds (collection_id, synced_copies, window_start, created_at)
         VALUES (?, ?, ?, ?) RETURNING id",
    )
    .bind(collection.0)
    .bind(window.synced_copies as i64)
    .bind(window.start.unwrap_or(now))
    .bind(now)
    .fetch_one(&mut **tx)
    .await
    .db("recording a hold")?;
    let (collection, remote): (Option<String>, Option<String>) = sqlx::query_as(
        "SELECT c.name, r.name FROM collections c LEFT JOIN remotes r ON r.id = c.remote_id
         WHERE c.id = ?",
    )
    .bind(collection.0)
    .fetch_optional(&mut **tx)
    .await
    .db("naming a hold's collection")?
    .unwrap_or_default();
    let kind = crate::events::EventKind::HoldCreated {
        hold_id: id,
        collection,
        remote,
    };
    // Committed by the planning (or polling) transaction that held the
    // deletions; that caller wakes the feed.
    super::events::append(tx, &kind).await?;
    Ok(id)
}

/// Sets pending hold `hold`'s count of departures (and their bytes) to what
/// `held_departures` holds for it.
pub(crate) async fn recount_departures(tx: &mut Tx<'_>, hold: i64) -> Result<()> {
    sqlx::query(
        "UPDATE holds SET
             remote_deleted_bytes =
                 (SELECT COALESCE(SUM(bytes), 0) FROM held_departures WHERE hold_id = ?1),
             remote_deleted = (SELECT COUNT(*) FROM held_departures WHERE hold_id = ?1)
         WHERE id = ?1 AND state = 'pending'",
    )
    .bind(hold)
    .execute(&mut **tx)
    .await
    .db("counting a hold's departures")?;
    Ok(())
}

/// Runs the brake over the deletions planning wants for collection
/// `collection` (on `remote`): returns those that may be queued, and the
/// hold the others joined (created when none is pending). Records the
/// deletions in the window's log either way.
pub(crate) async fn brake_deletes(
    tx: &mut Tx<'_>,
    collection: CollectionId,
    remote: RemoteId,
    deletes: Vec<Placed>,
    policy: &brake::BrakePolicy,
    now: TimestampMs,
) -> Result<(Vec<Placed>, Option<(i64, Vec<(Placed, &'static str)>)>)> {
    if deletes.is_empty() {
        return Ok((Vec::new(), None));
    }
    let window = open_window(tx, collection, remote, policy, now).await?;
    log_deletions(
        tx,
        collection,
        deletes.len() as u64,
        window.synced_copies,
        now,
    )
    .await?;
    let Braked { run, held, .. } = brake::brake(deletes, window.history, policy);
    if held.is_empty() {
        return Ok((run, None));
    }
    let hold = hold_for(tx, collection, &window, now).await?;
    let vanished = vanished(tx, collection, &held).await?;
    let held = held
        .into_iter()
        .zip(vanished)
        .map(|(place, vanished)| (place, if vanished { VANISHED } else { LEFT }))
        .collect();
    Ok((run, Some((hold, held))))
}

/// Tells deletions whose photo vanished from those whose photo is still on
/// disk (it left the collection): one probe per path and root.
async fn vanished(tx: &mut Tx<'_>, collection: CollectionId, held: &[Placed]) -> Result<Vec<bool>> {
    let paths: Vec<Vec<u8>> = held
        .iter()
        .map(|p| p.rel_path.as_bytes().to_vec())
        .collect();
    let on_disk: Vec<Vec<u8>> = sqlx::query_scalar(
        "SELECT DISTINCT p.rel_path FROM json_each(?1) g CROSS JOIN roots r
         CROSS JOIN photos p ON p.root_id = r.id AND p.rel_path = unhex(g.value)
         WHERE r.id = COALESCE((SELECT folder_root_id FROM collections WHERE id = ?2), r.id)",
    )
    .bind(super::plan::paths_json(&paths))
    .bind(collection.0)
    .fetch_all(&mut **tx)
    .await
    .db("looking for held photos on disk")?;
    let on_disk: std::collections::HashSet<Vec<u8>> = on_disk.into_iter().collect();
    Ok(held
        .iter()
        .map(|place| !on_disk.contains(place.rel_path.as_bytes()))
        .collect())
}

/// Decides the pending hold of `collection`, if any (sync turned off).
pub(crate) async fn decide_pending(
    tx: &mut Tx<'_>,
    collection: CollectionId,
    state: HoldState,
    now: TimestampMs,
) -> Result<()> {
    let pending: Option<i64> =
        sqlx::query_scalar("SELECT id FROM holds WHERE collection_id = ? AND state = 'pending'")
            .bind(collection.0)
            .fetch_optional(&mut **tx)
            .await
            .db("reading holds")?;
    match pending {
        Some(id) => settle(tx, id, state, now).await.map(drop),
        None => Ok(()),
    }
}

/// Records the decision on pending hold `id`; its counts (kept by the
/// schema's triggers while it was pending) stay as they are, since this
/// runs before its jobs move on. False when it was no longer pending.
async fn settle(tx: &mut Tx<'_>, id: i64, state: HoldState, now: TimestampMs) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE holds SET state = ?1, decided_at = ?2 WHERE id = ?3 AND state = 'pending'",
    )
    .bind(state)
    .bind(now)
    .bind(id)
    .execute(&mut **tx)
    .await
    .db("deciding a hold")?;
    // The user has seen every deletion of the window: those no longer count
    // against the next ones, or one photo deleted after approving 80 would
    // be held again.
    sqlx::query(
        "DELETE FROM deletion_log WHERE collection_id = (SELECT collection_id FROM holds WHERE id = ?)",
    )
    .bind(id)
    .execute(&mut **tx)
    .await
    .db("clearing the deletion log")?;
    Ok(done.rows_affected() == 1)
}

/// The departures of hold `id`, now decided. Approved, they pass the brake:
/// the collection's window is credited with them, and the next poll, which
/// finds them again, carries them out (a copy back on the album by then
/// stays in the collection). Rejected, the copies are taken as meant to
/// be there: their ledger rows go and the photos are planned again, so a
/// connection that pushes uploads them anew, and the album's lack of them
/// is no longer a departure. Returns how many were decided.
async fn decide_departures(
    tx: &mut Tx<'_>,
    id: i64,
    approve: bool,
    now: TimestampMs,
) -> Result<u64> {
    let (collection, remote_deleted): (Option<i64>, i64) =
        sqlx::query_as("SELECT collection_id, remote_deleted FROM holds WHERE id = ?")
            .bind(id)
            .fetch_one(&mut **tx)
            .await
            .db("reading a hold")?;
    let Some(collection) = collection else {
        return Ok(0);
    };
    if remote_deleted <= 0 {
        return Ok(0);
    }
    if approve {
        sqlx::query(
            "INSERT INTO deletion_log (collection_id, at, deletions, synced_copies)
             VALUES (?, ?, ?, 0)",
        )
        .bind(collection)
        .bind(now)
        .bind(-remote_deleted)
        .execute(&mut **tx)
        .await
        .db("allowing approved departures")?;
    } else {
        sqlx::query(
            "INSERT OR IGNORE INTO plan_queue (collection_id, rel_path)
             SELECT ?2, o.rel_path FROM held_departures d
             JOIN remote_objects o ON o.remote_id = d.remote_id AND o.key = d.key
             WHERE d.hold_id = ?1 AND o.rel_path IS NOT NULL",
        )
        .bind(id)
        .bind(collection)
        .execute(&mut **tx)
        .await
        .db("planning kept photos again")?;
        sqlx::query(
            "DELETE FROM remote_objects WHERE id IN (
                 SELECT o.id FROM held_departures d
                 JOIN remote_objects o ON o.remote_id = d.remote_id AND o.key = d.key
                 WHERE d.hold_id = ?)",
        )
        .bind(id)
        .execute(&mut **tx)
        .await
        .db("forgetting copies the album no longer holds")?;
    }
    Ok(remote_deleted as u64)
}

/// Pending holds of `collection` with no deletion left (the photos came
/// back) are withdrawn.
pub(crate) async fn withdraw_emptied(
    tx: &mut Tx<'_>,
    collection: CollectionId,
    now: TimestampMs,
) -> Result<()> {
    sqlx::query(
        "UPDATE holds SET state = 'withdrawn', decided_at = ?2
         WHERE collection_id = ?1 AND state = 'pending'
           AND NOT EXISTS (SELECT 1 FROM jobs WHERE hold_id = holds.id AND state = 'held')
           AND NOT EXISTS (SELECT 1 FROM held_departures WHERE hold_id = holds.id)",
    )
    .bind(collection.0)
    .bind(now)
    .execute(&mut **tx)
    .await
    .db("withdrawing empty holds")?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct HoldRow {
    id: i64,
    collection_id: Option<i64>,
    collection_name: Option<String>,
    remote_name: Option<String>,
    state: HoldState,
    synced_copies: i64,
    window_start: i64,
    created_at: i64,
    decided_at: Option<i64>,
    vanished: i64,
    left_collection: i64,
    bytes: i64,
    remote_deleted: i64,
    remote_deleted_bytes: i64,
    root_path: Option<String>,
    folder_rel_path: Option<Vec<u8>>,
}

const HOLD_COLUMNS: &str = "
    SELECT h.id, h.collection_id, c.name AS collection_name, rm.name AS remote_name, h.state,
           h.synced_copies, h.window_start, h.created_at, h.decided_at, h.vanished,
           h.left_collection, h.bytes, h.remote_deleted, h.remote_deleted_bytes, rt.path AS root_path, c.folder_rel_path
    FROM holds h LEFT JOIN collections c ON c.id = h.collection_id
    LEFT JOIN remotes rm ON rm.id = c.remote_id
    LEFT JOIN roots rt ON rt.id = c.folder_root_id";

/// The copies of one synced collection that removing a root would delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopiesOfRoot {
    pub collection: CollectionId,
    pub collection_name: String,
    pub remote_name: String,
    /// Copies of the root's photos.
    pub count: u64,
    pub bytes: u64,
    /// Every copy the collection has.
    pub collection_copies: u64,
}

/// Lets the deletions the user confirmed (`roots remove --yes`) pass the
/// brake: each collection's window is credited with them, so planning
/// them adds up to nothing new. The credit lapses with the window.
pub(crate) async fn allow_deletions(
    tx: &mut Tx<'_>,
    confirmed: &[CopiesOfRoot],
    now: TimestampMs,
) -> Result<()> {
    for c in confirmed {
        sqlx::query(
            "INSERT INTO deletion_log (collection_id, at, deletions, synced_copies)
             VALUES (?, ?, ?, ?)",
        )
        .bind(c.collection.0)
        .bind(now)
        .bind(-(c.count as i64))
        .bind(c.collection_copies as i64)
        .execute(&mut **tx)
        .await
        .db("allowing confirmed deletions")?;
    }
    Ok(())
}

impl Store {
    /// Per synced collection, the copies of photos of `root` (what removing
    /// the root would delete), beside all the collection's copies.
    pub async fn root_copies(&self, root: RootId) -> Result<Vec<CopiesOfRoot>> {
        type Row = (i64, String, String, i64, i64, i64);
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT c.id, c.name, r.name, COUNT(o.id), COALESCE(SUM(o.size), 0),
                    (SELECT COUNT(*) FROM remote_objects a
                     WHERE a.collection_id = c.id AND a.remote_id = c.remote_id)
             FROM photos p
             JOIN collection_photos cp ON cp.photo_id = p.id
             JOIN collections c ON c.id = cp.collection_id AND c.sync_enabled = 1
             JOIN remotes r ON r.id = c.remote_id
             JOIN remote_objects o ON o.collection_id = c.id AND o.rel_path = p.rel_path
                                   AND o.remote_id = c.remote_id
             WHERE p.root_id = ?
             GROUP BY c.id ORDER BY c.name",
        )
        .bind(root.0)
        .fetch_all(&self.pool)
        .await
        .db("counting a root's copies")?;
        Ok(rows
            .into_iter()
            .map(|(id, name, remote, count, bytes, all)| CopiesOfRoot {
                collection: CollectionId(id),
                collection_name: name,
                remote_name: remote,
                count: count.max(0) as u64,
                bytes: bytes.max(0) as u64,
                collection_copies: all.max(0) as u64,
            })
            .collect())
    }

    /// How many copies the ledger holds for a collection on its remote,
    /// and their bytes: what removing them all would delete.
    pub async fn collection_copies(&self, collection: CollectionId) -> Result<(u64, u64)> {
        let (count, bytes): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), COALESCE(SUM(o.size), 0) FROM remote_objects o
             JOIN collections c ON c.id = o.collection_id AND c.remote_id = o.remote_id
             WHERE o.collection_id = ?",
        )
        .bind(collection.0)
        .fetch_one(&self.pool)
        .await
        .db("counting a collection's copies")?;
        Ok((count.max(0) as u64, bytes.max(0) as u64))
    }

    /// Every hold, newest first; only pending ones when `pending_only`.
    pub async fn holds(&self, pending_only: bool) -> Result<Vec<Hold>> {
        let rows: Vec<HoldRow> = sqlx::query_as(&format!(
            "{HOLD_COLUMNS} WHERE NOT ?1 OR h.state = 'pending' ORDER BY h.id DESC"
        ))
        .bind(pending_only)
        .fetch_all(&self.pool)
        .await
        .db("reading holds")?;
        Ok(rows.into_iter().map(hold_from).collect())
    }

    /// One hold.
    pub async fn hold(&self, id: i64) -> Result<Hold> {
        let row: Option<HoldRow> = sqlx::query_as(&format!("{HOLD_COLUMNS} WHERE h.id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .db("reading a hold")?;
        match row {
            Some(row) => Ok(hold_from(row)),
            None => Err(Error::HoldNotFound(id)),
        }
    }
}

/// A hold as its row holds it: its counts are kept by the schema's triggers.
fn hold_from(row: HoldRow) -> Hold {
    let (vanished, left, departed) = (row.vanished, row.left_collection, row.remote_deleted);
    let bytes = row.bytes + row.remote_deleted_bytes;
    let folder = row
        .root_path
        .map(|root| match row.folder_rel_path.as_deref() {
            None | Some(b"") => root,
            Some(rel) => format!("{root}/{}", String::from_utf8_lossy(rel)),
        });
    Hold {
        id: row.id,
        collection: row.collection_id.map(CollectionId),
        collection_name: row
            .collection_name
            .unwrap_or_else(|| "(a deleted collection)".to_owned()),
        remote_name: row.remote_name.unwrap_or_default(),
        state: row.state,
        deletions: (vanished + left + departed).max(0) as u64,
        bytes: bytes.max(0) as u64,
        synced_copies: row.synced_copies.max(0) as u64,
        vanished: vanished.max(0) as u64,
        left: left.max(0) as u64,
        remote_deleted: departed.max(0) as u64,
        window_start_ms: row.window_start,
        created_at_ms: row.created_at,
        decided_at_ms: row.decided_at,
        folder,
    }
}

impl Store {
    /// A page of a hold's keys after cursor `after` (0 to start): its
    /// deletion jobs by id, then its departures.
    pub async fn hold_keys(&self, id: i64, after: i64, limit: u32) -> Result<Vec<HeldKey>> {
        let mut keys = Vec::new();
        if after < DEPARTURES_AFTER {
            let rows: Vec<(i64, String, Option<i64>, String, StateColumn)> = sqlx::query_as(
                "SELECT j.id, j.key, o.size, j.last_error, j.state FROM jobs j
                 LEFT JOIN remote_objects o ON o.remote_id = j.remote_id AND o.key = j.key
                 WHERE j.hold_id = ?1 AND j.id > ?2 ORDER BY j.id LIMIT ?3",
            )
            .bind(id)
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .db("reading a hold's keys")?;
            keys.extend(
                rows.into_iter()
                    .map(|(job, key, size, reason, state)| HeldKey {
                        job: JobId(job),
                        cursor: job,
                        key,
                        bytes: size.unwrap_or(0).max(0) as u64,
                        reason,
                        state: state.name(),
                    }),
            );
        }
        let room = limit.saturating_sub(keys.len() as u32);
        if room > 0 {
            let (hold_state,): (HoldState,) =
                sqlx::query_as("SELECT state FROM holds WHERE id = ?")
                    .bind(id)
                    .fetch_one(&self.pool)
                    .await
                    .db("reading a hold")?;
            let rows: Vec<(i64, String, i64)> = sqlx::query_as(
                "SELECT id, key, bytes FROM held_departures
                 WHERE hold_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
            )
            .bind(id)
            .bind((after - DEPARTURES_AFTER).max(0))
            .bind(i64::from(room))
            .fetch_all(&self.pool)
            .await
            .db("reading a hold's departures")?;
            keys.extend(rows.into_iter().map(|(row, key, bytes)| HeldKey {
                job: JobId(0),
                cursor: DEPARTURES_AFTER + row,
                key,
                bytes: bytes.max(0) as u64,
                reason: DEPARTED.to_owned(),
                state: match hold_state {
                    HoldState::Pending => "held",
                    HoldState::Approved => "approved",
                    HoldState::Rejected => "kept",
                    HoldState::Withdrawn => "withdrawn",
                },
            }));
        }
        Ok(keys)
    }

    /// Approves (the deletions are queued) or rejects (the copies stay,
    /// and the deletions are not planned again until the photo changes) a
    /// pending hold, in one transaction. Returns the deletions decided.
    pub async fn decide_hold(&self, id: i64, approve: bool) -> Result<u64> {
        let hold = self.hold(id).await?;
        if hold.state != HoldState::Pending {
            return Err(Error::HoldDecided {
                id,
                state: hold.state.as_str(),
            });
        }
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .db("starting a transaction")?;
        let (event, state) = if approve {
            (JobEvent::Approved, HoldState::Approved)
        } else {
            let event = JobEvent::Dismissed {
                reason: format!("kept: hold {id} was rejected"),
            };
            (event, HoldState::Rejected)
        };
        let held = JobState::Held { hold: id };
        let which = JobsWhere {
            sql: "j.hold_id = ?1",
            arg: id,
        };
        let now = now_ms();
        // Settled first: it reads what is held before the jobs move on.
        let settled = settle(&mut tx, id, state, now).await?;
        let moved = transition_all(&mut tx, &held, event, which, now).await?;
        let departures = decide_departures(&mut tx, id, approve, now).await?;
        if !settled {
            return Err(Error::HoldDecided {
                id,
                state: "decided meanwhile",
            });
        }
        tx.commit().await.db("committing a hold's decision")?;
        Ok(moved + departures)
    }
}
