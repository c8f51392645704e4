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
mod connections;
mod departures;
mod downloads;
mod events;
mod health;
mod holds;
mod jobs;
mod photos;
mod plan;
mod remotes;
mod roots;
mod skipped;
mod sync;
mod versions;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::error::{DbContext, Error, Result};

pub use claims::{ClaimedJob, Finished, Recorded};
pub use collections::NewCollectionSource;
pub use connections::{Conflict, NewConflict};
pub use departures::{Departure, DepartureCandidate, DepartureVerdict};
pub use downloads::DownloadQueued;
pub use holds::{CopiesOfRoot, DEPARTURES_AFTER, HeldKey, Hold, HoldState};
pub use jobs::{AbandonedUpload, Interrupted, JobCounts, Landed, LandedBase, now_ms};
pub use photos::{PhotoChanges, PhotoFilterQuery, PhotoPageCursor};
pub use plan::{PLAN_CHUNK, PlanGoal, PlanOutcome, PlanWork, ReconcileStep};
pub use remotes::RemoteRecord;
pub use skipped::{SkippedPhoto, skip_message};
pub use sync::{Overtaken, PausedUntil, PhotoSyncState};
pub use versions::{NewVersion, VersionTotals};

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

/// A catalog up to this size is checked at every start: `quick_check`
/// reads every page, 0.5 s warm and 1.7 s from a cold cache for 210,000
/// photos (124 MiB). Above it the check runs only after an unclean
/// shutdown: 1,000,000 photos (550 to 600 MB, with their memberships,
/// ledger rows and done jobs) took 3.3 s warm and 14.5 s cold, too long
/// to add to every start.
pub const QUICK_CHECK_ALWAYS_BYTES: u64 = 128 << 20;

/// Whether opening the catalog at `path` checks it: when it is small, or
/// when the last run did not close it (its WAL file is still there; a
/// clean close checkpoints and removes it), the one time damage is likely.
fn quick_check_due(path: &Path) -> bool {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let size = std::fs::metadata(path).map_or(0, |m| m.len());
    Path::new(&wal).exists() || size <= QUICK_CHECK_ALWAYS_BYTES
}

/// A database error that says the file is damaged, as
/// [`Error::CatalogDamaged`]; any other error as it is.
fn damaged_as_such(error: Error, path: &Path) -> Error {
    if error.is_corruption() {
        return Error::CatalogDamaged {
            path: path.to_path_buf(),
            detail: error.to_string(),
        };
    }
    error
}

/// Which connections the pool may still serve: none opened before the last
/// [`Store::renew_connections`]. SQLite opens a file read-only while its
/// file system is, and such a connection stays read-only after the file
/// system is writable again.
#[derive(Debug)]
struct Renewal {
    base: std::time::Instant,
    /// Connections opened before this, in nanoseconds after `base`, are
    /// closed; 0 when none has been asked for.
    cutoff_ns: std::sync::atomic::AtomicU64,
}

impl Default for Renewal {
    fn default() -> Self {
        Self {
            base: std::time::Instant::now(),
            cutoff_ns: std::sync::atomic::AtomicU64::new(0),
        }
    }
}

impl Renewal {
    fn now_ns(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn renew(&self) {
        let now = self.now_ns();
        self.cutoff_ns
            .store(now, std::sync::atomic::Ordering::SeqCst);
    }

    /// Whether a connection opened `age` ago may serve.
    fn current(&self, age: Duration) -> bool {
        let cutoff = self.cutoff_ns.load(std::sync::atomic::Ordering::SeqCst);
        let age = u64::try_from(age.as_nanos()).unwrap_or(u64::MAX);
        cutoff == 0 || self.now_ns().saturating_sub(age) >= cutoff
    }
}

/// Handle to the catalog database; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
    renewal: std::sync::Arc<Renewal>,
    counters: std::sync::Arc<plan::PlanCounters>,
    /// When planned deletions are held for the user (see [`crate::brake`]).
    brake: crate::brake::BrakePolicy,
    /// Which files are sidecars and which photo each belongs to (see
    /// [`crate::sidecars`]), applied as the scanner's changes are.
    sidecars: std::sync::Arc<crate::sidecars::SidecarRules>,
    /// Wakes the event feed's readers after events are committed (see
    /// `events.rs`).
    events: std::sync::Arc<tokio::sync::watch::Sender<u64>>,
}

impl Store {
    /// Opens (creating if needed) the catalog at `path`, checks it when
    /// [`quick_check_due`] (`PRAGMA quick_check`; a damaged one is
    /// [`Error::CatalogDamaged`]) and migrates it.
    pub async fn open(path: &Path) -> Result<Self> {
        // Looked at before connecting, which creates the WAL file.
        let check = quick_check_due(path);
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
        let renewal = std::sync::Arc::new(Renewal::default());
        let (on_acquire, on_release) = (renewal.clone(), renewal.clone());
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .before_acquire(move |_, meta| {
                let current = on_acquire.current(meta.age);
                Box::pin(async move { Ok(current) })
            })
            .after_release(move |conn, meta| {
                let current = on_release.current(meta.age);
                Box::pin(async move { Ok(current && still_usable(conn).await?) })
            })
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
            })
            .map_err(|e| damaged_as_such(e, path))?;
        let store = Self {
            pool,
            renewal,
            counters: std::sync::Arc::default(),
            brake: crate::brake::BrakePolicy::default(),
            sidecars: std::sync::Arc::default(),
            events: std::sync::Arc::new(events::new_watch()),
        };
        // Before the migrations, which would fail on a damaged file with a
        // message that does not say what to do.
        if check {
            store.quick_check(path).await?;
        }
        MIGRATOR
            .run(&store.pool)
            .await
            .map_err(|e| damaged_as_such(e.into(), path))?;
        store.name_unnamed_ledger_rows().await?;
        Ok(store)
    }

    /// The store with deletions braked by `policy` instead of the default.
    pub fn with_brake_policy(mut self, policy: crate::brake::BrakePolicy) -> Self {
        self.brake = policy;
        self
    }

    /// The store with sidecars told apart by `rules` instead of the
    /// defaults.
    pub fn with_sidecar_rules(mut self, rules: crate::sidecars::SidecarRules) -> Self {
        self.sidecars = std::sync::Arc::new(rules);
        self
    }

    /// The policy the deletion brake applies.
    pub fn brake_policy(&self) -> &crate::brake::BrakePolicy {
        &self.brake
    }

    /// Has every connection opened until now closed instead of served
    /// again (each as it is next taken or handed back), so the next ones
    /// open the file afresh: after the disk under it was read-only.
    pub fn renew_connections(&self) {
        self.renewal.renew();
    }

    /// Closes every connection, checkpointing the WAL and removing it.
    pub async fn close(&self) {
        use sqlx::{ConnectOptions, Connection};
        self.pool.close().await;
        // Connections that close at the same moment may each leave the WAL
        // to the other. One more, alone, checkpoints it and removes it, so
        // the next open can tell a clean shutdown ([`quick_check_due`]).
        // Its checkpoint empties the WAL first (TRUNCATE), so a handle of
        // the pool that is still letting go on its own thread leaves
        // nothing to replay; the file goes with the last handle.
        let options = (*self.pool.connect_options()).clone();
        if let Ok(mut last) = options.connect().await {
            let _ = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&mut last)
                .await;
            let _ = last.close().await;
        }
    }
}

/// A catalog in a fresh temporary folder, for the store's own tests.
#[cfg(test)]
pub(crate) async fn temp_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("catalog.sqlite"))
        .await
        .unwrap();
    (dir, store)
}
