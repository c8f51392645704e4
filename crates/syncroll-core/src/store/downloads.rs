//! Download jobs: the keys a poll of a pulling connection decided to bring
//! home, queued like uploads so the sync workers run them (see
//! [`JobOp::Download`]). A poll queues them and waits for them here; what
//! each brought home is kept in its `transfer` column (`new`, `version`,
//! `edit-copy`, `conflict`, `agreed`, `verified`, or `nothing`).

use super::Store;
use super::jobs::{JOB_COLUMNS, JOBS_FROM, JobRow, job_from_row, transition};
use crate::error::{DbContext, Result};
use crate::job::{Job, JobEvent, JobId, JobOp};
use crate::store::now_ms;
use crate::types::{CollectionId, RemoteId};

/// What became of a key a poll asked to bring home.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DownloadQueued {
    /// A new download job.
    Queued(JobId),
    /// A live job already holds the key: a download queued by an earlier
    /// poll, or an upload (the two never run together); the key is decided
    /// again by a later poll.
    Busy(JobId),
    /// A download of the key failed for good, or the user cancelled one:
    /// not queued again until `syncroll retry`.
    Blocked(JobId),
}

impl Store {
    /// Queues a download job for each `(key, size)` of `collection`'s
    /// album on `remote`, in one transaction.
    pub async fn queue_downloads(
        &self,
        collection: CollectionId,
        remote: RemoteId,
        keys: &[(String, u64)],
    ) -> Result<Vec<DownloadQueued>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let now = now_ms();
        let json = serde_json::Value::Array(
            keys.iter()
                .map(|(key, size)| serde_json::json!({ "key": key, "size": size }))
                .collect(),
        )
        .to_string();
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .db("starting a transaction")?;
        let blocked: Vec<(String, i64)> = sqlx::query_as(
            "SELECT j.key, j.id FROM json_each(?1) v
             CROSS JOIN jobs j INDEXED BY jobs_downloads
                 ON j.remote_id = ?2 AND j.key = v.value ->> 'key'
             WHERE j.op = 'download' AND j.state IN ('failed', 'dismissed')",
        )
        .bind(&json)
        .bind(remote.0)
        .fetch_all(&mut *tx)
        .await
        .db("reading blocked downloads")?;
        let blocked: std::collections::HashMap<String, i64> = blocked.into_iter().collect();
        let wanted = serde_json::Value::Array(
            keys.iter()
                .filter(|(key, _)| !blocked.contains_key(key))
                .map(|(key, size)| serde_json::json!({ "key": key, "size": size }))
                .collect(),
        )
        .to_string();
        let inserted: Vec<(String, i64)> = sqlx::query_as(
            "INSERT OR IGNORE INTO jobs (collection_id, remote_id, op, key, bytes_total, state,
                                         created_at, updated_at)
             SELECT ?1, ?2, 'download', v.value ->> 'key', v.value ->> 'size', 'queued', ?3, ?3
             FROM json_each(?4) v WHERE true
             RETURNING key, id",
        )
        .bind(collection.0)
        .bind(remote.0)
        .bind(now)
        .bind(&wanted)
        .fetch_all(&mut *tx)
        .await
        .db("queueing downloads")?;
        let inserted: std::collections::HashMap<String, i64> = inserted.into_iter().collect();
        let mut out = Vec::with_capacity(keys.len());
        for (key, _) in keys {
            if let Some(id) = blocked.get(key) {
                out.push(DownloadQueued::Blocked(JobId(*id)));
            } else if let Some(id) = inserted.get(key) {
                out.push(DownloadQueued::Queued(JobId(*id)));
            } else {
                let holder: i64 = sqlx::query_scalar(
                    "SELECT id FROM jobs WHERE remote_id = ? AND key = ?
                       AND state IN ('queued', 'running', 'cancelling', 'held')",
                )
                .bind(remote.0)
                .bind(key)
                .fetch_one(&mut *tx)
                .await
                .db("finding the job that holds a key")?;
                out.push(DownloadQueued::Busy(JobId(holder)));
            }
        }
        tx.commit().await.db("committing queued downloads")?;
        Ok(out)
    }

    /// The jobs `ids`, as they are now (those pruned meanwhile are left
    /// out): one statement for a poll's whole batch.
    pub async fn jobs_by_id(&self, ids: &[JobId]) -> Result<Vec<Job>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = ids.iter().map(|id| id.0.to_string()).collect();
        let rows: Vec<JobRow> = sqlx::query_as(&format!(
            "SELECT {JOB_COLUMNS} {JOBS_FROM}
             WHERE j.id IN (SELECT value FROM json_each(?)) ORDER BY j.id"
        ))
        .bind(format!("[{}]", ids.join(",")))
        .fetch_all(&self.pool)
        .await
        .db("reading jobs")?;
        Ok(rows.into_iter().map(job_from_row).collect())
    }

    /// Records that a download job brought its key home as `landed` (one
    /// of the words of this module's list), and its bytes.
    pub async fn finish_download(&self, job: &Job, landed: &str, bytes: u64) -> Result<()> {
        debug_assert_eq!(job.op, JobOp::Download);
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .db("starting a transaction")?;
        transition(&mut tx, job.id, JobEvent::Succeeded, now_ms()).await?;
        sqlx::query("UPDATE jobs SET transfer = ?1, bytes_done = ?2 WHERE id = ?3")
            .bind(landed)
            .bind(bytes as i64)
            .bind(job.id.0)
            .execute(&mut *tx)
            .await
            .db("recording a download")?;
        // The last download of a pull may be what leaves a collection in
        // sync, as the last upload of a push does.
        let done = std::collections::HashSet::from([job.id.0]);
        let drained = super::claims::append_drained_collections(&mut tx, &done).await?;
        tx.commit().await.db("committing a download")?;
        if drained > 0 {
            self.announce_events();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::JobState;

    async fn store() -> (tempfile::TempDir, Store, CollectionId, RemoteId) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("c.sqlite")).await.unwrap();
        let remote = store.ensure_remote("local", "fs", "{}").await.unwrap();
        let collection = store
            .create_collection("Trip", crate::store::NewCollectionSource::Manual, remote)
            .await
            .unwrap()
            .id;
        (dir, store, collection, remote)
    }

    fn keys(names: &[&str]) -> Vec<(String, u64)> {
        names.iter().map(|k| ((*k).to_owned(), 10)).collect()
    }

    #[tokio::test]
    async fn a_key_is_queued_once_and_a_failed_one_waits_for_retry() {
        let (_dir, store, trip, remote) = store().await;
        let first = store
            .queue_downloads(trip, remote, &keys(&["Trip/a.jpg", "Trip/b.jpg"]))
            .await
            .unwrap();
        let [DownloadQueued::Queued(a), DownloadQueued::Queued(b)] = first[..] else {
            panic!("{first:?}");
        };
        // A second poll while they wait: the same jobs hold the keys.
        let again = store
            .queue_downloads(trip, remote, &keys(&["Trip/a.jpg"]))
            .await
            .unwrap();
        assert_eq!(again, vec![DownloadQueued::Busy(a)]);

        // One lands, one fails for good.
        store.apply_job_event(a, JobEvent::Claimed).await.unwrap();
        let job = store.job(a).await.unwrap();
        store.finish_download(&job, "new", 10).await.unwrap();
        store.apply_job_event(b, JobEvent::Claimed).await.unwrap();
        let failed = JobEvent::PermanentFailure {
            reason: "no".into(),
        };
        store.apply_job_event(b, failed).await.unwrap();

        let jobs = store.jobs_by_id(&[a, b]).await.unwrap();
        assert_eq!(jobs[0].transfer.as_deref(), Some("new"));
        assert!(matches!(jobs[0].state, JobState::Done { .. }));
        assert_eq!(jobs[0].op, JobOp::Download);

        let third = store
            .queue_downloads(trip, remote, &keys(&["Trip/a.jpg", "Trip/b.jpg"]))
            .await
            .unwrap();
        assert!(matches!(third[0], DownloadQueued::Queued(id) if id != a));
        assert_eq!(third[1], DownloadQueued::Blocked(b));

        store.retry_jobs(Some(b)).await.unwrap();
        let busy = store
            .queue_downloads(trip, remote, &keys(&["Trip/b.jpg"]))
            .await
            .unwrap();
        assert_eq!(busy, vec![DownloadQueued::Busy(b)], "retried: queued again");
    }

    #[tokio::test]
    async fn the_last_download_of_a_synced_collection_tells_the_feed_it_is_in_sync() {
        let (_dir, store, trip, remote) = store().await;
        store.set_sync_enabled(trip, true, false).await.unwrap();
        // As if the reconciliation `sync on` asks for were done.
        for table in ["reconcile", "plan_queue"] {
            let clear = format!("DELETE FROM {table}");
            sqlx::query(&clear).execute(&store.pool).await.unwrap();
        }
        let queued = store
            .queue_downloads(trip, remote, &keys(&["Trip/a.jpg", "Trip/b.jpg"]))
            .await
            .unwrap();
        let [DownloadQueued::Queued(a), DownloadQueued::Queued(b)] = queued[..] else {
            panic!("{queued:?}");
        };
        let synced_events = async || {
            let events = store.events_after(None, 100).await.unwrap();
            let kinds = events.iter().map(|e| e.kind.name());
            kinds.filter(|k| *k == "collection_synced").count()
        };
        store.apply_job_event(a, JobEvent::Claimed).await.unwrap();
        store
            .finish_download(&store.job(a).await.unwrap(), "new", 10)
            .await
            .unwrap();
        assert_eq!(synced_events().await, 0, "b is still queued");
        store.apply_job_event(b, JobEvent::Claimed).await.unwrap();
        store
            .finish_download(&store.job(b).await.unwrap(), "version", 10)
            .await
            .unwrap();
        assert_eq!(synced_events().await, 1);
    }
}
