//! Sync jobs: what a job is ([`Job`], [`JobOp`]) and the one state machine
//! that moves it ([`state`]).

pub mod state;

pub use state::{IllegalTransition, JobEvent, JobState};

use crate::types::{CollectionId, ContentHash, PhotoId, RemoteId};

/// A job's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(pub i64);

impl std::fmt::Display for JobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// What a job does to its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobOp {
    /// Make the key hold the photo's bytes: a server-side copy when the same
    /// bytes are already on the remote under a key the ledger knows,
    /// otherwise an upload.
    Upload,
    /// Remove a key the ledger says syncroll uploaded.
    Delete,
    /// Bring a key of a pulling connection's album home: a new remote file,
    /// a remote edit (a version or an edit copy), a conflict copy, or a
    /// check of bytes the ledger never saw. Queued by a poll; what it does
    /// is decided again when it runs, from the key as the remote holds it
    /// then, so a queued download never acts on a stale listing.
    Download,
}

impl JobOp {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Upload => "upload",
            Self::Delete => "delete",
            Self::Download => "download",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "upload" => Some(Self::Upload),
            "delete" => Some(Self::Delete),
            "download" => Some(Self::Download),
            _ => None,
        }
    }
}

/// One job as the queue holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: JobId,
    pub collection_id: Option<CollectionId>,
    pub collection_name: Option<String>,
    pub photo_id: Option<PhotoId>,
    pub remote_id: RemoteId,
    pub op: JobOp,
    pub key: String,
    /// The bytes the planner wanted under `key` (uploads).
    pub hash: Option<ContentHash>,
    pub state: JobState,
    pub attempts: u32,
    pub bytes_done: u64,
    pub bytes_total: u64,
    /// `put` or `copy`, once an upload has been made.
    pub transfer: Option<String>,
    /// The last fault, kept while a job waits for its retry.
    pub last_error: String,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    /// A resumable upload's saved progress (opaque, the remote's), kept
    /// while the upload is unfinished: the next attempt continues it, and
    /// if the job ends without finishing it the upload is aborted.
    pub upload_state: Option<String>,
}

/// Why a job that was running when the daemon died is cancelled rather
/// than queued again; see [`after_crash`].
pub const CANCELLED_BY_REQUEST: &str = "cancelled by request";
pub const SYNC_TURNED_OFF: &str = "sync turned off";

/// What becomes, at the next start, of a job the daemon left running. It
/// goes back to the queue (no attempt counted) unless a cancel was on its
/// way to it when the daemon died, which only the worker would have
/// recorded: the user cancelled it (`cancel_requested`: the job is
/// `cancelling`, and the event takes it to `dismissed`), or
/// it is an upload of a collection whose sync is off now (`sync off` had
/// interrupted it). Without this the upload would run after the restart,
/// against the user's word, and land a copy that nothing then deletes. A
/// download of a collection whose sync is off has no album to come from.
pub fn after_crash(op: JobOp, cancel_requested: bool, sync_enabled: Option<bool>) -> JobEvent {
    if cancel_requested {
        return JobEvent::Cancelled {
            reason: CANCELLED_BY_REQUEST.to_owned(),
        };
    }
    if op != JobOp::Delete && sync_enabled == Some(false) {
        return JobEvent::Cancelled {
            reason: SYNC_TURNED_OFF.to_owned(),
        };
    }
    JobEvent::Interrupted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cancelled(event: &JobEvent) -> bool {
        matches!(event, JobEvent::Cancelled { .. })
    }

    #[test]
    fn a_job_cut_off_by_a_crash_is_queued_again_unless_a_cancel_was_on_its_way() {
        for op in [JobOp::Upload, JobOp::Delete, JobOp::Download] {
            for sync in [None, Some(true)] {
                assert_eq!(after_crash(op, false, sync), JobEvent::Interrupted);
                assert!(cancelled(&after_crash(op, true, sync)));
            }
        }
        assert!(cancelled(&after_crash(JobOp::Upload, false, Some(false))));
        assert!(cancelled(&after_crash(JobOp::Download, false, Some(false))));
        // The deletions of `sync off` are what it asked for.
        assert_eq!(
            after_crash(JobOp::Delete, false, Some(false)),
            JobEvent::Interrupted
        );
    }
}
