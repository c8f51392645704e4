//! [`CatalogLock`]: the catalog's write lock held by the test, as another
//! writer would hold it, so the daemon can read but not commit. A crash
//! test takes it to stop the daemon exactly between a remote operation and
//! its record in the ledger: transfers and deletions still reach the
//! remote, but the transaction that records them waits.

use std::path::Path;
use std::str::FromStr;
use std::sync::mpsc;
use std::thread::JoinHandle;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, Executor};

/// Holds `BEGIN IMMEDIATE` on a catalog until dropped (then rolls back).
#[derive(Debug)]
pub struct CatalogLock {
    release: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl CatalogLock {
    /// Takes the write lock of the catalog in `data_dir`, waiting for a
    /// daemon's transaction in progress to end.
    pub fn take(data_dir: &Path) -> Self {
        let url = format!("sqlite://{}", data_dir.join("catalog.sqlite").display());
        let (locked_tx, locked_rx) = mpsc::channel::<Result<(), String>>();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the catalog lock");
            runtime.block_on(async move {
                let options = SqliteConnectOptions::from_str(&url)
                    .expect("catalog URL")
                    .busy_timeout(std::time::Duration::from_secs(30));
                let mut conn = match options.connect().await {
                    Ok(conn) => conn,
                    Err(e) => {
                        let _ = locked_tx.send(Err(format!("opening {url}: {e}")));
                        return;
                    }
                };
                if let Err(e) = conn.execute("BEGIN IMMEDIATE").await {
                    let _ = locked_tx.send(Err(format!("BEGIN IMMEDIATE on {url}: {e}")));
                    return;
                }
                let _ = locked_tx.send(Ok(()));
                // Blocks this thread only; the lock is held until told.
                let _ = release_rx.recv();
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
            release: Some(release_tx),
            thread: Some(thread),
        }
    }
}

impl Drop for CatalogLock {
    fn drop(&mut self) {
        drop(self.release.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
