//! Claiming and finishing jobs: the statements every transfer pays, so they
//! go in batches.
//!
//! What a transfer costs the daemon is mostly the hand-off of each statement
//! to the connection's thread and back, not SQLite's work: a claim of any
//! number of jobs is two statements (one read of the jobs with the photo
//! and the server-side copy source each needs, one guarded update), and the
//! uploads and deletes that finished while the previous batch was written
//! are recorded together in one transaction of three statements. The
//! states still come from [`JobState::next`]; each update is guarded by the
//! state the jobs came from, as `transition` does for one job.
//!
//! Every statement here finds its rows by primary key from the batch's ids,
//! so it costs the same with 10 or 1,000,000 jobs queued: the `+` before a
//! state column keeps SQLite from preferring the state index, which would
//! scan every queued job (checked with `EXPLAIN QUERY PLAN`).

use std::collections::BTreeMap;
use std::collections::HashSet;

use super::Store;
use super::jobs::{JOB_COLUMNS, JOBS_FROM, JobRow, Landed, job_from_row, now_ms};
use crate::error::{DbContext, Error, Result};
use crate::job::{Job, JobEvent, JobId, JobOp, JobState};
use crate::types::{CollectionId, ContentHash, FileStat, Photo, PhotoId, RelPath, RootId};

/// A job just claimed, with what its transfer needs, read in the claim's
/// statement so the worker starts without another look at the catalog.
#[derive(Debug, Clone)]
pub struct ClaimedJob {
    pub job: Job,
    /// The photo an upload sends, as the catalog knows it at the claim;
    /// `None` when it left the catalog (and for deletes).
    pub photo: Option<Photo>,
    /// Another key on the job's remote that the ledger says holds the
    /// photo's bytes already: a server-side copy can replace the upload.
    pub copy_from: Option<String>,
}

/// How a transfer ended well, to record with others in one transaction.
#[derive(Debug, Clone)]
pub enum Finished {
    /// These bytes landed under the job's key.
    Uploaded(Landed),
    /// The job's key is gone from the remote.
    Deleted,
}

/// What recording a finished transfer did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recorded {
    /// The job moved to `done`. When it had left `running` already (a
    /// cancel overtook the landing), the ledger still learned what is on
    /// the remote and the key's path group is planned again.
    pub done: bool,
    /// Planning that waited for this job (or its replanning) is due.
    pub planning_due: bool,
}

#[derive(sqlx::FromRow)]
struct ClaimRow {
    #[sqlx(flatten)]
    job: JobRow,
    p_id: Option<i64>,
    p_root_id: Option<i64>,
    p_root_path: Option<String>,
    p_root_state: Option<String>,
    p_rel_path: Option<Vec<u8>>,
    p_size: Option<i64>,
    p_mtime_ns: Option<i64>,
    p_inode: Option<i64>,
    p_blake3: Option<Vec<u8>>,
    copy_from: Option<String>,
}

impl ClaimRow {
    fn photo(&self) -> Option<Photo> {
        let hash = <[u8; 32]>::try_from(self.p_blake3.as_deref()?).ok()?;
        Some(Photo {
            id: PhotoId(self.p_id?),
            root_id: RootId(self.p_root_id?),
            root_path: self.p_root_path.clone()?.into(),
            root_missing: self.p_root_state.as_deref()? == "missing",
            rel_path: RelPath::from_bytes(self.p_rel_path.clone()?),
            stat: FileStat {
                size: self.p_size? as u64,
                mtime_ns: self.p_mtime_ns?,
                inode: self.p_inode? as u64,
            },
            hash: ContentHash(hash),
        })
    }
}

/// The columns a claim reads besides the job's: its photo (uploads) and a
/// ledger key holding the same bytes on the same remote.
const CLAIM_COLUMNS: &str = "
    p.id AS p_id, p.root_id AS p_root_id, r.path AS p_root_path, r.state AS p_root_state,
    p.rel_path AS p_rel_path, p.size AS p_size, p.mtime_ns AS p_mtime_ns, p.inode AS p_inode,
    p.blake3 AS p_blake3,
    CASE WHEN j.op = 'upload' THEN
        (SELECT o.key FROM remote_objects o
         WHERE o.remote_id = j.remote_id AND o.blake3 = p.blake3 AND o.key != j.key
         ORDER BY o.id LIMIT 1)
    END AS copy_from";

const CLAIM_JOINS: &str = "
    LEFT JOIN photos p ON p.id = j.photo_id AND j.op = 'upload'
    LEFT JOIN roots r ON r.id = p.root_id";

/// Moves the jobs of a batch (`?3`, ids) from `?4` to `?1`.
const CLAIM_BY_ID: &str =
    "UPDATE jobs SET state = ?1, next_attempt_at = 0, last_error = '', updated_at = ?2
             WHERE id IN (SELECT value FROM json_each(?3)) AND +state = ?4
             RETURNING id";

/// Forgets the ledger rows of the keys a batch of delete jobs (ids) removed.
const FORGET_DELETED_KEYS: &str = "DELETE FROM remote_objects WHERE id IN
                     (SELECT o.id FROM json_each(?) v
                      CROSS JOIN jobs j ON j.id = v.value
                      CROSS JOIN remote_objects o ON o.remote_id = j.remote_id AND o.key = j.key)";

/// Moves the jobs of a batch (`?3`, ids) from `?5` or `?6` to `?1`, with
/// what landed for each upload (`?4`).
const FINISH_BY_ID: &str =
    "UPDATE jobs SET state = ?1, next_attempt_at = 0, last_error = '', updated_at = ?2,
         transfer = COALESCE(l.value ->> 'transfer', jobs.transfer),
         bytes_done = COALESCE(l.value ->> 'size', jobs.bytes_done)
     FROM (SELECT value AS id FROM json_each(?3)) f
          LEFT JOIN json_each(?4) l ON l.value ->> 'id' = f.id
     WHERE jobs.id = f.id AND +jobs.state IN (?5, ?6)
     RETURNING jobs.id";

/// `ids` as a JSON array, for `json_each`: one bound parameter for a whole
/// batch.
fn id_array(ids: impl IntoIterator<Item = i64>) -> String {
    let ids: Vec<String> = ids.into_iter().map(|id| id.to_string()).collect();
    format!("[{}]", ids.join(","))
}

impl Store {
    /// Claims up to `limit` runnable jobs, fairly across collections: the
    /// next job of each collection first (earliest due, then oldest), then
    /// the one after of each, ... Jobs of paused collections are left
    /// alone, and none is claimed while the daemon-wide pause is on.
    ///
    /// Each collection's next jobs are one probe of the `jobs_runnable`
    /// index, so a claim costs the same with 10 or 1,000,000 jobs queued.
    pub async fn claim_jobs(
        &self,
        limit: usize,
        exclude_collections: &[CollectionId],
    ) -> Result<Vec<ClaimedJob>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let now = now_ms();
        let rows: Vec<ClaimRow> = sqlx::query_as(&format!(
            "WITH picked (id) AS (
                 SELECT q.id FROM collections cc JOIN jobs q ON q.id IN (
                     SELECT n.id FROM jobs n
                     WHERE n.collection_id = cc.id AND n.state = 'queued' AND n.next_attempt_at <= ?1
                     ORDER BY n.next_attempt_at, n.id LIMIT ?2)
                 WHERE cc.paused_until = 0 OR (cc.paused_until > 0 AND cc.paused_until * 1000 <= ?1)
                 UNION ALL
                 SELECT id FROM (SELECT n.id FROM jobs n INDEXED BY jobs_runnable
                     WHERE n.collection_id IS NULL AND n.state = 'queued' AND n.next_attempt_at <= ?1
                     ORDER BY n.next_attempt_at, n.id LIMIT ?2))
             SELECT {JOB_COLUMNS}, {CLAIM_COLUMNS} {JOBS_FROM} {CLAIM_JOINS}
             WHERE j.id IN picked
               AND NOT EXISTS (SELECT 1 FROM settings WHERE name = 'paused_until'
                               AND (CAST(value AS INTEGER) = -1 OR CAST(value AS INTEGER) * 1000 > ?1))"
        ))
        .bind(now)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await
        .db("finding runnable jobs")?;
        let mut by_collection: BTreeMap<Option<i64>, Vec<ClaimRow>> = BTreeMap::new();
        for row in rows {
            if row
                .job
                .collection_id
                .is_some_and(|c| exclude_collections.contains(&CollectionId(c)))
            {
                continue;
            }
            by_collection
                .entry(row.job.collection_id)
                .or_default()
                .push(row);
        }
        // Round robin: the n-th job of every collection before any
        // collection's (n+1)-th, oldest first within a round.
        let mut ranked: Vec<(usize, i64, ClaimRow)> = Vec::new();
        for mut rows in by_collection.into_values() {
            rows.sort_by_key(|r| (r.job.next_attempt_at, r.job.id));
            ranked.extend(rows.into_iter().enumerate().map(|(n, r)| (n, r.job.id, r)));
        }
        ranked.sort_by_key(|(n, id, _)| (*n, *id));
        ranked.truncate(limit);
        self.claim(ranked.into_iter().map(|(_, _, row)| row).collect(), now)
            .await
    }

    /// Claims up to `limit` more runnable delete jobs like `first` (same
    /// remote, same collection), so a remote that can delete many keys in
    /// one request gets them together.
    pub async fn claim_delete_batch(&self, first: &Job, limit: usize) -> Result<Vec<Job>> {
        if limit == 0 || first.op != JobOp::Delete {
            return Ok(Vec::new());
        }
        let now = now_ms();
        let rows: Vec<ClaimRow> = sqlx::query_as(&format!(
            "SELECT {JOB_COLUMNS}, {CLAIM_COLUMNS} {JOBS_FROM} {CLAIM_JOINS}
             WHERE j.state = 'queued' AND j.next_attempt_at <= ?1 AND j.op = 'delete'
               AND j.remote_id = ?2 AND j.collection_id IS ?3 AND j.id != ?4
             ORDER BY j.next_attempt_at, j.id LIMIT ?5"
        ))
        .bind(now)
        .bind(first.remote_id.0)
        .bind(first.collection_id.map(|c| c.0))
        .bind(first.id.0)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await
        .db("finding deletes to batch")?;
        let claimed = self.claim(rows, now).await?;
        Ok(claimed.into_iter().map(|c| c.job).collect())
    }

    /// Moves the jobs of `rows` from `queued` to `running` in one guarded
    /// statement; those another claimer or a cancel took first are passed
    /// over. One statement is atomic on its own: no transaction needed.
    async fn claim(&self, rows: Vec<ClaimRow>, now: i64) -> Result<Vec<ClaimedJob>> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let from = JobState::Queued { not_before: now };
        let to = from.next(JobEvent::Claimed, now)?;
        let ids = id_array(rows.iter().map(|r| r.job.id));
        let moved: Vec<i64> = sqlx::query_scalar(CLAIM_BY_ID)
            .bind(to.name())
            .bind(now)
            .bind(ids)
            .bind(from.name())
            .fetch_all(&self.pool)
            .await
            .db("claiming jobs")?;
        let moved: HashSet<i64> = moved.into_iter().collect();
        Ok(rows
            .into_iter()
            .filter(|row| moved.contains(&row.job.id))
            .map(|row| {
                let photo = row.photo();
                let copy_from = row.copy_from.clone();
                let job = job_from_row(row.job);
                ClaimedJob {
                    job: Job {
                        state: to.clone(),
                        last_error: String::new(),
                        ..job
                    },
                    photo,
                    copy_from,
                }
            })
            .collect())
    }

    /// Records transfers that ended well, all in one transaction: the
    /// ledger learns (or forgets) each key and each job is done, so a crash
    /// never leaves one without the other. Results are in `finished`'s
    /// order.
    pub async fn finish_transfers(&self, finished: &[(JobId, Finished)]) -> Result<Vec<Recorded>> {
        if finished.is_empty() {
            return Ok(Vec::new());
        }
        let now = now_ms();
        // A job the user cancelled while its bytes were landing is done
        // all the same: what landed is on the remote.
        let from = JobState::Running { since: now };
        let to = from.next(JobEvent::Succeeded, now)?;
        let cancelling = JobState::Cancelling { since: now };
        debug_assert_eq!(cancelling.next(JobEvent::Succeeded, now)?.name(), to.name());
        let mut landed = Vec::new();
        let mut deleted = Vec::new();
        for (job, how) in finished {
            match how {
                Finished::Uploaded(l) => landed.push(serde_json::json!({
                    "id": job.0,
                    "hash": l.hash.to_hex(),
                    "size": l.size,
                    "etag": l.etag,
                    "transfer": l.transfer,
                    "mtime": l.base.map(|b| b.local_mtime_ns),
                    "modified": l.base.map(|b| b.remote_modified_ms),
                })),
                Finished::Deleted => deleted.push(job.0),
            }
        }
        let landed = serde_json::Value::Array(landed).to_string();
        let ids = id_array(finished.iter().map(|(job, _)| job.0));
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .db("starting a transaction")?;
        // What landed is on the remote whatever became of its job: the
        // ledger must say so, or it could never be replaced or cleaned up.
        // The base is what both sides hold now: the local file as read and
        // the object as the remote reported it (its remote side only where
        // the remote gave a time; otherwise the base trigger clears it).
        if landed != "[]" {
            sqlx::query(
                "INSERT INTO remote_objects
                     (remote_id, key, blake3, size, etag, collection_id, uploaded_at, rel_path,
                      local_mtime_ns, remote_size, remote_etag, remote_modified_ms)
                 SELECT j.remote_id, j.key, unhex(v.value ->> 'hash'), v.value ->> 'size',
                        v.value ->> 'etag', j.collection_id, ?2, j.rel_path,
                        v.value ->> 'mtime',
                        CASE WHEN v.value ->> 'modified' IS NOT NULL THEN v.value ->> 'size' END,
                        CASE WHEN v.value ->> 'modified' IS NOT NULL THEN v.value ->> 'etag' END,
                        v.value ->> 'modified'
                 FROM json_each(?1) v JOIN jobs j ON j.id = v.value ->> 'id'
                 WHERE true
                 ON CONFLICT (remote_id, key) DO UPDATE SET blake3 = excluded.blake3,
                     size = excluded.size, etag = excluded.etag,
                     collection_id = excluded.collection_id, uploaded_at = excluded.uploaded_at,
                     rel_path = excluded.rel_path, local_mtime_ns = excluded.local_mtime_ns,
                     remote_size = excluded.remote_size, remote_etag = excluded.remote_etag,
                     remote_modified_ms = excluded.remote_modified_ms",
            )
            .bind(&landed)
            .bind(now / 1000)
            .execute(&mut *tx)
            .await
            .db("recording uploads in the ledger")?;
        }
        if !deleted.is_empty() {
            sqlx::query(FORGET_DELETED_KEYS)
                .bind(id_array(deleted))
                .execute(&mut *tx)
                .await
                .db("removing ledger entries")?;
        }
        let done: Vec<i64> = sqlx::query_scalar(FINISH_BY_ID)
            .bind(to.name())
            .bind(now)
            .bind(&ids)
            .bind(&landed)
            .bind(from.name())
            .bind(cancelling.name())
            .fetch_all(&mut *tx)
            .await
            .db("recording finished jobs")?;
        let done: HashSet<i64> = done.into_iter().collect();
        // Groups planning left alone while these jobs ran are due now; so is
        // the group of a job that was no longer running when its bytes
        // landed (what is there is not what its planning expects).
        let released = sqlx::query(
            "UPDATE plan_queue SET after_job = NULL
             WHERE after_job IN (SELECT value FROM json_each(?))",
        )
        .bind(&ids)
        .execute(&mut *tx)
        .await
        .db("releasing plans that waited for jobs")?
        .rows_affected();
        let overtaken: Vec<i64> = finished
            .iter()
            .map(|(job, _)| job.0)
            .filter(|id| !done.contains(id))
            .collect();
        if !overtaken.is_empty() {
            sqlx::query(
                "INSERT OR IGNORE INTO plan_queue (collection_id, rel_path)
                 SELECT collection_id, rel_path FROM jobs
                 WHERE id IN (SELECT value FROM json_each(?))
                   AND collection_id IS NOT NULL AND rel_path IS NOT NULL",
            )
            .bind(id_array(overtaken.iter().copied()))
            .execute(&mut *tx)
            .await
            .db("queueing a plan")?;
        }
        let drained = append_drained_collections(&mut tx, &done).await?;
        tx.commit().await.db("committing finished jobs")?;
        if drained > 0 {
            self.announce_events();
        }
        // Which job a release was for is not told apart: any release makes
        // each job of the batch report planning due, which costs one look.
        Ok(finished
            .iter()
            .map(|(job, _)| Recorded {
                done: done.contains(&job.0),
                planning_due: released > 0 || !done.contains(&job.0),
            })
            .collect())
    }

    /// One job's [`Store::finish_transfers`], for callers with one in hand.
    pub async fn finish_transfer(&self, job: JobId, finished: Finished) -> Result<Recorded> {
        self.finish_transfers(&[(job, finished)])
            .await?
            .pop()
            .ok_or(Error::JobNotFound(job.0))
    }
}

/// A collection left in sync: its name, its remote's, its photos, those
/// synced, its failed jobs.
type DrainedRow = (String, String, Option<i64>, Option<i64>, i64);

/// Tells the event feed of each synced collection among the `done` jobs'
/// that this batch left with nothing queued, running or waiting to be
/// planned; returns how many it told of.
pub(super) async fn append_drained_collections(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    done: &HashSet<i64>,
) -> Result<usize> {
    if done.is_empty() {
        return Ok(0);
    }
    let rows: Vec<DrainedRow> = sqlx::query_as(
        "SELECT c.name, r.name, t.members, t.synced,
                (SELECT COUNT(*) FROM jobs f WHERE f.collection_id = c.id AND f.state = 'failed')
         FROM collections c
         JOIN remotes r ON r.id = c.remote_id
         LEFT JOIN collection_tallies t ON t.collection_id = c.id
         WHERE c.id IN (SELECT DISTINCT collection_id FROM jobs
                        WHERE id IN (SELECT value FROM json_each(?1)))
           AND c.sync_enabled = 1
           AND NOT EXISTS (SELECT 1 FROM jobs a WHERE a.collection_id = c.id
                           AND a.state IN ('queued', 'running', 'cancelling'))
           AND NOT EXISTS (SELECT 1 FROM plan_queue p WHERE p.collection_id = c.id)
           AND NOT EXISTS (SELECT 1 FROM reconcile x WHERE x.collection_id = c.id)",
    )
    .bind(id_array(done.iter().copied()))
    .fetch_all(&mut **tx)
    .await
    .db("looking for collections in sync")?;
    for (collection, remote, photos, synced, failed) in &rows {
        let kind = crate::events::EventKind::CollectionSynced {
            collection: collection.clone(),
            remote: remote.clone(),
            photos: photos.unwrap_or(0).max(0) as u64,
            synced: synced.unwrap_or(0).max(0) as u64,
            failed: (*failed).max(0) as u64,
        };
        super::events::append(tx, &kind).await?;
    }
    Ok(rows.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::LandedBase;

    async fn set(store: &Store, sql: &str) {
        sqlx::query(sql).execute(&store.pool).await.unwrap();
    }

    /// Three running jobs of collection 1 on one remote: two uploads (ids 1
    /// and 2, paths a.jpg and b.jpg) and a delete of `old.jpg` (id 3), which
    /// the ledger holds.
    async fn three_running_jobs() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("c.sqlite")).await.unwrap();
        let remote = store.ensure_remote("local", "fs", "{}").await.unwrap();
        set(
            &store,
            &format!(
                "INSERT INTO collections (name, kind, remote_id, sync_enabled, created_at)
                 VALUES ('Trip', 'manual', {}, 1, 0)",
                remote.0
            ),
        )
        .await;
        set(
            &store,
            "INSERT INTO jobs (collection_id, remote_id, op, key, rel_path, state, created_at, updated_at)
             SELECT 1, id, op, key, rel, 'running', 0, 0 FROM remotes,
             (SELECT 'upload' AS op, 'a.jpg' AS key, CAST('a.jpg' AS BLOB) AS rel
              UNION ALL SELECT 'upload', 'b.jpg', CAST('b.jpg' AS BLOB)
              UNION ALL SELECT 'delete', 'old.jpg', CAST('old.jpg' AS BLOB))",
        )
        .await;
        set(
            &store,
            "INSERT INTO remote_objects (remote_id, key, blake3, size, collection_id, uploaded_at)
             SELECT id, 'old.jpg', zeroblob(32), 1, 1, 0 FROM remotes",
        )
        .await;
        (dir, store)
    }

    /// Key, hash, size, ETag and path of a ledger row.
    type LedgerRow = (String, Vec<u8>, i64, Option<String>, Option<Vec<u8>>);

    fn landed(byte: u8, etag: &str) -> Landed {
        Landed {
            hash: ContentHash([byte; 32]),
            size: u64::from(byte) * 100,
            etag: Some(etag.to_owned()),
            transfer: "put",
            base: None,
        }
    }

    /// One batch records uploads and deletes; an upload whose job a cancel
    /// overtook still lands in the ledger, and its path is planned again.
    #[tokio::test]
    async fn a_batch_records_uploads_deletes_and_an_overtaken_landing() {
        let (_dir, store) = three_running_jobs().await;
        // Job 2 was cancelled while its bytes were on their way.
        set(&store, "UPDATE jobs SET state = 'cancelled' WHERE id = 2").await;
        let recorded = store
            .finish_transfers(&[
                (JobId(1), Finished::Uploaded(landed(1, "\"e1\""))),
                (JobId(2), Finished::Uploaded(landed(2, "e\"2"))),
                (JobId(3), Finished::Deleted),
            ])
            .await
            .unwrap();
        let done: Vec<bool> = recorded.iter().map(|r| r.done).collect();
        assert_eq!(done, [true, false, true]);
        assert!(recorded[1].planning_due);

        let ledger: Vec<LedgerRow> = sqlx::query_as(
            "SELECT key, blake3, size, etag, rel_path FROM remote_objects ORDER BY key",
        )
        .fetch_all(&store.pool)
        .await
        .unwrap();
        assert_eq!(
            ledger,
            [
                (
                    "a.jpg".to_owned(),
                    vec![1; 32],
                    100,
                    Some("\"e1\"".to_owned()),
                    Some(b"a.jpg".to_vec())
                ),
                (
                    "b.jpg".to_owned(),
                    vec![2; 32],
                    200,
                    Some("e\"2".to_owned()),
                    Some(b"b.jpg".to_vec())
                ),
            ],
            "old.jpg is forgotten"
        );
        let jobs: Vec<(i64, String, Option<String>, i64)> =
            sqlx::query_as("SELECT id, state, transfer, bytes_done FROM jobs ORDER BY id")
                .fetch_all(&store.pool)
                .await
                .unwrap();
        assert_eq!(
            jobs,
            [
                (1, "done".to_owned(), Some("put".to_owned()), 100),
                (2, "cancelled".to_owned(), None, 0),
                (3, "done".to_owned(), None, 0),
            ]
        );
        let replanned: Vec<Vec<u8>> = sqlx::query_scalar("SELECT rel_path FROM plan_queue")
            .fetch_all(&store.pool)
            .await
            .unwrap();
        assert_eq!(replanned, [b"b.jpg".to_vec()]);
    }

    /// The statements every transfer pays find their rows by primary key,
    /// never by scanning the queue or the ledger.
    #[tokio::test]
    async fn batch_statements_look_rows_up_by_primary_key() {
        let (_dir, store) = three_running_jobs().await;
        for sql in [CLAIM_BY_ID, FORGET_DELETED_KEYS, FINISH_BY_ID] {
            let plan: Vec<(i64, i64, i64, String)> =
                sqlx::query_as(&format!("EXPLAIN QUERY PLAN {sql}"))
                    .fetch_all(&store.pool)
                    .await
                    .unwrap();
            let steps: Vec<&str> = plan.iter().map(|(_, _, _, step)| step.as_str()).collect();
            for step in &steps {
                // "SEARCH <table or alias> USING ...", "SCAN <table> ..."
                let table = step.split_whitespace().nth(1).unwrap_or_default();
                let on_queue_or_ledger = ["jobs", "j", "remote_objects", "o"].contains(&table);
                let by_key =
                    step.contains("PRIMARY KEY") || step.contains("(remote_id=? AND key=?)");
                assert!(!on_queue_or_ledger || by_key, "{sql}: {steps:#?}");
            }
        }
    }

    /// A claim moves only queued jobs, reads each upload's photo and a
    /// ledger key with the same bytes, in two statements however many.
    #[tokio::test]
    async fn a_claim_reads_the_photo_and_a_copy_source() {
        let (_dir, store) = three_running_jobs().await;
        set(
            &store,
            "INSERT INTO roots (path, state, added_at) VALUES ('/photos', 'online', 0)",
        )
        .await;
        set(
            &store,
            "INSERT INTO photos (root_id, rel_path, size, mtime_ns, inode, blake3, indexed_at)
             VALUES (1, CAST('a.jpg' AS BLOB), 5, 6, 7, zeroblob(32), 0)",
        )
        .await;
        set(
            &store,
            "UPDATE jobs SET state = 'queued', photo_id = 1 WHERE id = 1",
        )
        .await;
        let claimed = store.claim_jobs(10, &[]).await.unwrap();
        assert_eq!(claimed.len(), 1, "only the queued job");
        let claimed = &claimed[0];
        assert!(matches!(claimed.job.state, JobState::Running { .. }));
        let photo = claimed.photo.as_ref().unwrap();
        assert_eq!(photo.root_path, std::path::PathBuf::from("/photos"));
        assert_eq!(photo.stat.size, 5);
        assert!(!photo.root_missing);
        assert_eq!(claimed.copy_from.as_deref(), Some("old.jpg"));
        assert!(store.claim_jobs(10, &[]).await.unwrap().is_empty());
    }

    /// An upload leaves the base both sides agree on, so a connection's
    /// next poll knows the object; one whose remote gave no time leaves
    /// none, rather than a base it cannot check.
    #[tokio::test]
    async fn an_upload_records_the_base_it_leaves() {
        let (_dir, store) = three_running_jobs().await;
        let with_time = Landed {
            base: Some(LandedBase {
                local_mtime_ns: 7_000_000_123,
                remote_modified_ms: 9_000,
            }),
            ..landed(1, "\"e1\"")
        };
        store
            .finish_transfers(&[
                (JobId(1), Finished::Uploaded(with_time)),
                (JobId(2), Finished::Uploaded(landed(2, "e2"))),
            ])
            .await
            .unwrap();
        let remote = store.remote_id("local").await.unwrap();
        let (base, own) = store.base(remote, "a.jpg").await.unwrap().unwrap();
        assert_eq!(own.as_deref(), Some("\"e1\""));
        assert_eq!(base.local.mtime_ns, 7_000_000_123);
        let side = base.remote.expect("the remote side is recorded");
        assert_eq!(
            (side.size, side.etag.as_deref(), side.modified_ms),
            (100, Some("\"e1\""), 9_000)
        );
        assert_eq!(side.hash, Some(ContentHash([1; 32])));
        let (base, _) = store.base(remote, "b.jpg").await.unwrap().unwrap();
        assert_eq!(base.remote, None);
    }
}
