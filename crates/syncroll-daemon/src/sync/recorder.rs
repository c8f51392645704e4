//! Records transfers that ended well in batches: the workers that finish
//! while one batch is being written wait together for the next, which is
//! one transaction for all of them ([`Store::finish_transfers`]). With many
//! small photos this is what keeps the catalog's cost per photo small.
//!
//! A worker's job stays `running` (and in the scheduler's hands) until its
//! batch is committed, so a crash in between only sends the photo again:
//! the upload lands under the same key, and nothing is lost or doubled.

use syncroll_core::Store;
use syncroll_core::job::JobId;
use syncroll_core::store::{Finished, Recorded};
use tokio::sync::{mpsc, oneshot};
use tracing::warn;

use crate::datadir::DataDirGuard;

/// At most this many jobs a transaction: a bound on how long the write lock
/// is held, well above what finishes within one commit.
const MAX_BATCH: usize = 256;

/// How long a batch waits for more finished transfers before it is written.
const LINGER: std::time::Duration = std::time::Duration::from_millis(3);

type Reply = oneshot::Sender<Result<Recorded, RecordError>>;

/// Why a finished transfer could not be recorded; its job stays `running`
/// and the next start requeues it.
#[derive(Debug, Clone, thiserror::Error)]
pub(super) enum RecordError {
    #[error("the daemon is shutting down")]
    ShuttingDown,
    #[error("{0}")]
    Catalog(String),
}

/// Hands finished transfers to the recording task; cheap to clone.
#[derive(Debug, Clone)]
pub(super) struct Recorder {
    queue: mpsc::UnboundedSender<(JobId, Finished, Reply)>,
}

impl Recorder {
    /// Starts the recording task; it ends when the last `Recorder` is
    /// dropped, after recording what was handed to it.
    pub fn spawn(store: Store, guard: DataDirGuard) -> Self {
        let (queue, incoming) = mpsc::unbounded_channel();
        tokio::spawn(record_batches(store, guard, incoming));
        Self { queue }
    }

    /// Records one finished transfer, with the others that finish meanwhile.
    pub async fn record(&self, job: JobId, finished: Finished) -> Result<Recorded, RecordError> {
        let (reply, recorded) = oneshot::channel();
        if self.queue.send((job, finished, reply)).is_err() {
            return Err(RecordError::ShuttingDown);
        }
        recorded.await.unwrap_or(Err(RecordError::ShuttingDown))
    }
}

async fn record_batches(
    store: Store,
    guard: DataDirGuard,
    mut incoming: mpsc::UnboundedReceiver<(JobId, Finished, Reply)>,
) {
    let mut batch = Vec::new();
    while incoming.recv_many(&mut batch, MAX_BATCH).await > 0 {
        // Group commit: transfers of small photos finish a few milliseconds
        // apart, and each transaction costs the same however many it holds,
        // so a short wait for the next ones saves more than it costs.
        if batch.len() < MAX_BATCH {
            tokio::time::sleep(LINGER).await;
            while batch.len() < MAX_BATCH {
                match incoming.try_recv() {
                    Ok(item) => batch.push(item),
                    Err(_) => break,
                }
            }
        }
        let finished: Vec<(JobId, Finished)> = batch
            .iter()
            .map(|(job, finished, _)| (*job, finished.clone()))
            .collect();
        match store.finish_transfers(&finished).await {
            Ok(recorded) => {
                for ((_, _, reply), recorded) in batch.drain(..).zip(recorded) {
                    let _ = reply.send(Ok(recorded));
                }
            }
            Err(e) => {
                // Each job learns it: it stays `running`, and its worker
                // tries again (once the data dir takes writes, when that was
                // the fault, which the guard logs).
                if !guard.report(&e) {
                    warn!(error = %e, jobs = batch.len(), "cannot record finished transfers");
                }
                let error = RecordError::Catalog(e.to_string());
                for (_, _, reply) in batch.drain(..) {
                    let _ = reply.send(Err(error.clone()));
                }
            }
        }
    }
}
