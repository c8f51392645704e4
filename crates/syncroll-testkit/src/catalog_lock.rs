//! [`CatalogLock`]: the catalog's write lock held by the test, as another
//! writer would hold it, so the daemon can read but not commit. A crash
//! test takes it to stop the daemon exactly between a remote operation and
//! its record in the ledger: transfers and deletions still reach the
//! remote, but the transaction that records them waits. While it holds the
//! lock the test can count rows ([`CatalogLock::count`]), which then cannot
//! change under it.

use std::path::Path;
use std::str::FromStr;
use std::sync::mpsc;
use std::thread::JoinHandle;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, Executor, SqliteConnection};

type Reply = mpsc::Sender<Result<i64, String>>;

/// Holds `BEGIN IMMEDIATE` on a catalog until dropped (then rolls back).
#[derive(Debug)]
pub struct CatalogLock {
    /// Queries to run inside the transaction; closed to release it.
    queries: Option<mpsc::Sender<(String, Reply)>>,
    thread: Option<JoinHandle<()>>,
}

impl CatalogLock {
    /// Takes the write lock of the catalog in `data_dir`, waiting for a
    /// daemon's transaction in progress to end.
    pub fn take(data_dir: &Path) -> Self {
        let url = format!("sqlite://{}", data_dir.join("catalog.sqlite").display());
        let (locked_tx, locked_rx) = mpsc::channel::<Result<(), String>>();
        let (query_tx, query_rx) = mpsc::channel::<(String, Reply)>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the catalog lock");
            runtime.block_on(async move {
                let mut conn = match lock(&url).await {
                    Ok(conn) => conn,
                    Err(e) => {
                        let _ = locked_tx.send(Err(e));
                        return;
                    }
                };
                let _ = locked_tx.send(Ok(()));
                // Blocks this thread only; the lock is held until the
                // sender is dropped.
                while let Ok((sql, reply)) = query_rx.recv() {
                    let count = sqlx::query_scalar::<_, i64>(&sql)
                        .fetch_one(&mut conn)
                        .await
                        .map_err(|e| format!("{sql}: {e}"));
                    let _ = reply.send(count);
                }
                let _ = conn.execute("ROLLBACK").await;
                let _ = conn.close().await;
            });
        });
        match locked_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("cannot lock the catalog: {e}"),
            Err(_) => panic!("the catalog lock thread ended"),
        }
        Self {
            queries: Some(query_tx),
            thread: Some(thread),
        }
    }

    /// Runs `sql`, a query of one integer (`SELECT count(*) ...`), inside
    /// the held transaction.
    pub fn count(&self, sql: &str) -> i64 {
        let (reply, answer) = mpsc::channel();
        self.queries
            .as_ref()
            .expect("the lock is held")
            .send((sql.to_owned(), reply))
            .expect("the catalog lock thread is running");
        answer
            .recv()
            .expect("the catalog lock thread answers")
            .unwrap_or_else(|e| panic!("{e}"))
    }
}

async fn lock(url: &str) -> Result<SqliteConnection, String> {
    let options = SqliteConnectOptions::from_str(url)
        .map_err(|e| format!("{url}: {e}"))?
        .busy_timeout(std::time::Duration::from_secs(30));
    let mut conn = options
        .connect()
        .await
        .map_err(|e| format!("opening {url}: {e}"))?;
    conn.execute("BEGIN IMMEDIATE")
        .await
        .map_err(|e| format!("BEGIN IMMEDIATE on {url}: {e}"))?;
    Ok(conn)
}

impl Drop for CatalogLock {
    fn drop(&mut self) {
        drop(self.queries.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
