//! The SQLite store: one database file in the data dir, WAL mode, migrations
//! embedded in the binary and applied on open.
//!
//! Architecture invariant: every multi-row change is one transaction, so a
//! crash leaves the catalog as it was before or after the change, never
//! between. Writing transactions begin IMMEDIATE: a deferred one that reads
//! first cannot wait for the write lock and fails with "database is locked"
//! when another writer got there in between.

mod claims;
mod collections;
mod jobs;
mod photos;
mod plan;
mod remotes;
mod roots;
mod skipped;
mod sync;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::error::{DbContext, Error, Result};

pub use claims::{ClaimedJob, Finished, Recorded};
pub use collections::NewCollectionSource;
pub use jobs::{AbandonedUpload, Interrupted, JobCounts, Landed, now_ms};
pub use photos::{PhotoChanges, PhotoFilterQuery, PhotoPageCursor};
pub use plan::{PLAN_CHUNK, PlanGoal, PlanOutcome, PlanWork, ReconcileStep};
pub use remotes::RemoteRecord;
pub use skipped::{SkippedPhoto, skip_message};
pub use sync::{Overtaken, PausedUntil, PhotoSyncState};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Whether a connection handed back to the pool can serve again: not when
/// it is still inside a transaction. That happens when a write fails with
/// the disk full: SQLite rolls the transaction back by itself, sqlx's
/// ROLLBACK then fails, and sqlx still counts the transaction open, so
/// every later `BEGIN` on that connection would fail ("attempted to call
/// begin_with at non-zero transaction depth") until a restart. Such a
/// connection is closed instead, and the pool opens a fresh one.
async fn still_usable(conn: &mut sqlx::SqliteConnection) -> sqlx::Result<bool> {
    use sqlx::sqlite::SqliteTransactionManager;
    use sqlx::{Connection, TransactionManager};
    if SqliteTransactionManager::get_transaction_depth(conn) == 0 {
        return Ok(true);
    }
    // A dropped transaction's ROLLBACK may still be queued on the
    // connection's thread: let it run (costs a round trip only here).
    conn.ping().await?;
    Ok(SqliteTransactionManager::get_transaction_depth(conn) == 0)
}

/// Handle to the catalog database; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
    counters: std::sync::Arc<plan::PlanCounters>,
}

impl Store {
    /// Opens (creating if needed) the catalog at `path` and migrates it.
    pub async fn open(path: &Path) -> Result<Self> {
        let url = format!("sqlite://{}", path.display());
        let options = SqliteConnectOptions::from_str(&url)
            .db("parsing the database path")?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // NORMAL is durable across application crashes in WAL mode; only
            // an OS crash can lose the last transactions, never corrupt.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .after_release(|conn, _| Box::pin(still_usable(conn)))
            .connect_with(options)
            .await
            .map_err(|source| match source {
                sqlx::Error::Io(source) => Error::Io {
                    action: "open the catalog database",
                    path: path.to_path_buf(),
                    source,
                },
                source => Error::Database {
                    action: "opening",
                    source,
                },
            })?;
        MIGRATOR.run(&pool).await?;
        let store = Self {
            pool,
            counters: std::sync::Arc::default(),
        };
        store.name_unnamed_ledger_rows().await?;
        Ok(store)
    }

    /// Closes every connection, checkpointing the WAL.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}
