//! A catalog written by an older syncrolld opens in this one, its jobs in
//! the states they meant: the old `held` flag becomes `dismissed` (a
//! cancelled job the user cancelled) or `cancelling` (a running one), and
//! the job tallies `status` reads are recounted under the new names.

use std::path::Path;

use sqlx::Connection;
use sqlx::migrate::Migrator;
use syncroll_core::Store;
use syncroll_core::job::{JobId, JobState};

/// The migrations that came before the holds, as an older build ran them.
const BEFORE_HOLDS: &[&str] = &[
    "20261123000000_catalog.sql",
    "20261123010000_sync.sql",
    "20261123020000_held_jobs.sql",
    "20261201000000_incremental_planning.sql",
    "20261210000000_root_identity.sql",
    "20261220000000_skipped_photos.sql",
];

async fn old_catalog(path: &Path, dir: &Path) {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let old = dir.join("old-migrations");
    std::fs::create_dir_all(&old).unwrap();
    for name in BEFORE_HOLDS {
        std::fs::copy(source.join(name), old.join(name)).unwrap();
    }
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    Migrator::new(old.as_path())
        .await
        .unwrap()
        .run(&mut conn)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO remotes (name, kind, created_at) VALUES ('local', 'fs', 0);
         INSERT INTO jobs (remote_id, op, key, state, held, last_error, created_at, updated_at)
         VALUES (1, 'upload', 'C/a.jpg', 'cancelled', 1, 'cancelled by request', 0, 5),
                (1, 'upload', 'C/b.jpg', 'running', 1, '', 0, 5),
                (1, 'delete', 'C/c.jpg', 'cancelled', 0, 'no longer wanted', 0, 5),
                (1, 'upload', 'C/d.jpg', 'queued', 0, '', 0, 5),
                (1, 'upload', 'C/e.jpg', 'failed', 0, 'denied', 0, 5);",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
}

#[tokio::test]
async fn held_jobs_of_an_older_catalog_keep_their_meaning() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.sqlite");
    old_catalog(&path, dir.path()).await;

    let store = Store::open(&path).await.unwrap();
    let state = |id| {
        let store = store.clone();
        async move { store.job(JobId(id)).await.unwrap().state }
    };
    assert!(
        matches!(state(1).await, JobState::Dismissed { reason, .. } if reason == "cancelled by request")
    );
    assert!(matches!(state(2).await, JobState::Cancelling { .. }));
    assert!(matches!(state(3).await, JobState::Cancelled { .. }));
    assert!(matches!(state(4).await, JobState::Queued { .. }));
    assert!(matches!(state(5).await, JobState::Failed { .. }));

    // Start-up requeues what a crash cut off: a job the user was
    // cancelling ends dismissed, not back in the queue.
    let found = store.requeue_interrupted_jobs().await.unwrap();
    assert_eq!((found.requeued, found.cancelled), (0, 1));
    assert!(matches!(state(2).await, JobState::Dismissed { .. }));
    let (queued, running, failed) = store.queue_totals().await.unwrap();
    assert_eq!((queued, running, failed), (1, 0, 1));
    // `retry --all` takes failed and dismissed jobs back.
    assert_eq!(store.retry_jobs(None).await.unwrap(), 3);
}
