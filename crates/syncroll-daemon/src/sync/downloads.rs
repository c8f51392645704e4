//! What the sync engine needs to run a download job ([`JobOp::Download`]):
//! the pull engine brings keys home, the engine gives it the job's turn,
//! its progress counter and its cancel, and records the outcome through
//! the state machine like any upload's.
//!
//! [`JobOp::Download`]: syncroll_core::job::JobOp::Download

use std::sync::atomic::AtomicU64;

use syncroll_core::job::Job;
use syncroll_remote::RemoteError;
use tokio_util::sync::CancellationToken;

/// How a download job ended well.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownloadOutcome {
    /// The key was carried out: what came of it (`new`, `version`,
    /// `edit-copy`, `conflict`, `agreed`, `verified`, or `nothing` when,
    /// decided again at its turn, nothing was left to do) and the bytes
    /// the remote held.
    Landed { landed: &'static str, bytes: u64 },
    /// Nothing to do any more, and why (the key left the remote, the
    /// collection stopped pulling): the job ends cancelled.
    NotNeeded(String),
}

/// Why a download job did not finish. The variants say how the engine
/// treats it; each carries the reason shown with the job.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    /// The remote's own error, classified as for uploads (a cancel, a
    /// passing fault, the remote offline, a `Retry-After`).
    #[error(transparent)]
    Remote(#[from] RemoteError),
    /// The root the key lands under is missing: wait for it, no attempt
    /// counted.
    #[error("root {0} is missing (unmounted?); the download waits for it")]
    RootMissing(String),
    /// Worth trying again later (not enough space, the local file changed
    /// or is not indexed yet, the catalog busy).
    #[error("{0}")]
    Passing(String),
    /// Trying again cannot help (a refused name, a path that leads out of
    /// its root).
    #[error("{0}")]
    Refused(String),
}

/// Runs download jobs; the pull engine is the one implementation.
#[async_trait::async_trait]
pub trait DownloadRunner: Send + Sync + std::fmt::Debug {
    /// Brings `job`'s key home, counting bytes in `progress`; stops within
    /// about a chunk when `cancel` fires (`RemoteError::Cancelled`).
    async fn download(
        &self,
        job: &Job,
        progress: &AtomicU64,
        cancel: &CancellationToken,
    ) -> Result<DownloadOutcome, DownloadError>;

    /// Removes the bytes a download the user cancelled leaves beside its
    /// target (kept for a resume otherwise).
    async fn discard_partial(&self, job: &Job);
}
