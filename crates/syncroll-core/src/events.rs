//! The daemon's typed events: what the event feed (`syncroll events`, the
//! `WatchEvents` RPC, the tray) tells clients as it happens.
//!
//! An event is written to the store's `events` table in the transaction of
//! the change it tells of where there is one (a hold, a failed job, a
//! conflict copy, a collection's last job), so an event exists exactly when
//! its cause was committed; then the store wakes the feed's readers
//! ([`EventWatch`]). The table is the feed's recent window: the newest
//! [`EVENT_WINDOW`] events, kept across restarts, so a client that passes
//! the last sequence number it saw gets what it missed. See
//! `docs/events.md`.

use serde::{Deserialize, Serialize};

/// How many of the newest events the store keeps for clients that resume.
pub const EVENT_WINDOW: u64 = 10_000;

/// An event's sequence number: increasing, never reused (also across
/// restarts and trimming).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EventSeq(pub u64);

/// One event of the feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub seq: EventSeq,
    /// When it happened, Unix milliseconds.
    pub at_ms: i64,
    pub kind: EventKind,
}

/// What happened. A closed set: a client can match every variant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventKind {
    /// A job failed for good (a permanent fault, or its attempts ran out);
    /// `syncroll retry` runs it again.
    JobFailed {
        job_id: i64,
        /// `None` when the collection is gone.
        collection: Option<String>,
        /// "upload" or "delete".
        op: String,
        key: String,
        error: String,
        attempts: u32,
    },
    /// The deletion brake held a batch of deletions for the user; later
    /// held deletions of the collection join this hold.
    HoldCreated {
        hold_id: i64,
        collection: Option<String>,
        remote: Option<String>,
    },
    /// The pull engine found both sides changed and saved the remote's
    /// bytes as a conflict copy beside the local file.
    ConflictCopied {
        conflict_id: i64,
        collection: String,
        remote: String,
        key: String,
        local_path: String,
        copy_path: String,
    },
    /// A root's folder is gone, unreadable or not the one added; its
    /// photos are kept.
    RootMissing { path: String, reason: String },
    /// A missing root's folder is back and verified.
    RootBack { path: String },
    /// A synced collection's last queued job ended: nothing is queued,
    /// running or waiting to be planned for it.
    CollectionSynced {
        collection: String,
        remote: String,
        /// Its photos, and those of them with a copy on the remote.
        photos: u64,
        synced: u64,
        /// Its jobs that failed and wait for `retry`.
        failed: u64,
    },
    /// Sync was paused or resumed, everywhere (`collection` `None`) or for
    /// one collection.
    PauseChanged {
        collection: Option<String>,
        pause: PauseChange,
    },
    /// The bandwidth limit changed; `None` is unlimited.
    LimitChanged {
        upload_bytes_per_second: Option<u64>,
        download_bytes_per_second: Option<u64>,
    },
}

/// What a pause change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum PauseChange {
    /// Paused until Unix second `until_s`, or until resumed (`None`).
    Paused {
        until_s: Option<i64>,
    },
    Resumed,
}

impl EventKind {
    /// The kind's name, as stored and shown: "job_failed", ...
    pub fn name(&self) -> &'static str {
        match self {
            Self::JobFailed { .. } => "job_failed",
            Self::HoldCreated { .. } => "hold_created",
            Self::ConflictCopied { .. } => "conflict_copied",
            Self::RootMissing { .. } => "root_missing",
            Self::RootBack { .. } => "root_back",
            Self::CollectionSynced { .. } => "collection_synced",
            Self::PauseChanged { .. } => "pause_changed",
            Self::LimitChanged { .. } => "limit_changed",
        }
    }
}

/// Wakes readers of the feed when events were committed. Cloned from
/// [`crate::Store::watch_events`]; carries the newest committed sequence
/// number, which readers use only as "something new": the rows are read
/// from the store.
pub type EventWatch = tokio::sync::watch::Receiver<u64>;
