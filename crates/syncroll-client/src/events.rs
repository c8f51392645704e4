//! The daemon's event feed, typed: [`EventStream`] yields [`FeedItem`]s,
//! each an [`Event`] (with its sequence number, to resume after) or a gap
//! the daemon's window no longer covers.

use serde::Serialize;

use crate::error::ClientError;
use crate::pb;

/// One item of the feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedItem {
    Event(Event),
    /// Events `first..=last` happened but the daemon no longer keeps them
    /// (the client resumed from further back than its window).
    Gap {
        first: u64,
        last: u64,
    },
}

/// One event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    /// Increasing, never reused: pass the last one seen to resume.
    pub seq: u64,
    /// Unix milliseconds.
    pub at_ms: i64,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventKind {
    /// A job failed for good; `syncroll retry` runs it again.
    JobFailed {
        job_id: u64,
        /// `None` when the collection is gone.
        collection: Option<String>,
        op: String,
        key: String,
        error: String,
        attempts: u32,
    },
    /// The deletion brake held deletions (`syncroll holds show ID`).
    HoldCreated {
        hold_id: u64,
        collection: Option<String>,
        remote: Option<String>,
    },
    /// Both sides changed: the remote's bytes were saved as a copy beside
    /// the local file.
    ConflictCopied {
        conflict_id: u64,
        collection: String,
        remote: String,
        key: String,
        local_path: String,
        copy_path: String,
    },
    RootMissing {
        path: String,
        reason: String,
    },
    RootBack {
        path: String,
    },
    /// A synced collection's last job ended.
    CollectionSynced {
        collection: String,
        remote: String,
        photos: u64,
        synced: u64,
        failed: u64,
    },
    /// Sync paused or resumed, everywhere (`collection` `None`) or for one
    /// collection.
    PauseChanged {
        collection: Option<String>,
        pause: PauseChange,
    },
    /// The bandwidth limit; `None` is unlimited.
    LimitChanged {
        upload_bytes_per_second: Option<u64>,
        download_bytes_per_second: Option<u64>,
    },
}

/// What a pause change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum PauseChange {
    /// Until Unix second `until`, or until resumed (`None`).
    Paused {
        until: Option<i64>,
    },
    Resumed,
}

impl EventKind {
    /// The kind's name: "job_failed", "hold_created", ...
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

/// The feed of `WatchEvents`, typed. Ends when the daemon stops.
#[derive(Debug)]
pub struct EventStream {
    inner: tonic::Streaming<pb::WatchEventsResponse>,
}

impl EventStream {
    pub(crate) fn new(inner: tonic::Streaming<pb::WatchEventsResponse>) -> Self {
        Self { inner }
    }

    /// The next item; `None` when the daemon ended the feed (it stops).
    /// An event of a kind this client does not know (from a newer daemon)
    /// is skipped: the feed goes on, and its `seq` is simply not seen.
    pub async fn next(&mut self) -> Result<Option<FeedItem>, ClientError> {
        while let Some(reply) = self.inner.message().await? {
            if let Some(item) = feed_item(reply) {
                return Ok(Some(item));
            }
        }
        Ok(None)
    }
}

/// The item, or `None` for one this client cannot read (a oneof case it
/// was built without decodes as unset).
fn feed_item(reply: pb::WatchEventsResponse) -> Option<FeedItem> {
    use pb::watch_events_response::Item;
    match reply.item? {
        Item::Gap(gap) => Some(FeedItem::Gap {
            first: gap.first_missed_seq,
            last: gap.last_missed_seq,
        }),
        Item::Event(event) => Some(FeedItem::Event(Event {
            seq: event.seq,
            at_ms: event.at_ms,
            kind: event_kind(event.kind?),
        })),
    }
}

fn event_kind(kind: pb::event::Kind) -> EventKind {
    use pb::event::Kind;
    match kind {
        Kind::JobFailed(e) => EventKind::JobFailed {
            job_id: e.job_id,
            collection: e.collection,
            op: e.op,
            key: e.key,
            error: e.error,
            attempts: e.attempts,
        },
        Kind::HoldCreated(e) => EventKind::HoldCreated {
            hold_id: e.hold_id,
            collection: e.collection,
            remote: e.remote,
        },
        Kind::ConflictCopied(e) => EventKind::ConflictCopied {
            conflict_id: e.conflict_id,
            collection: e.collection,
            remote: e.remote,
            key: e.key,
            local_path: e.local_path,
            copy_path: e.copy_path,
        },
        Kind::RootMissing(e) => EventKind::RootMissing {
            path: e.path,
            reason: e.reason,
        },
        Kind::RootBack(e) => EventKind::RootBack { path: e.path },
        Kind::CollectionSynced(e) => EventKind::CollectionSynced {
            collection: e.collection,
            remote: e.remote,
            photos: e.photo_count,
            synced: e.synced_count,
            failed: e.failed,
        },
        Kind::PauseChanged(e) => EventKind::PauseChanged {
            collection: e.collection,
            pause: if e.paused {
                PauseChange::Paused {
                    until: e.paused_until,
                }
            } else {
                PauseChange::Resumed
            },
        },
        Kind::LimitChanged(e) => EventKind::LimitChanged {
            upload_bytes_per_second: e.upload_bytes_per_second,
            download_bytes_per_second: e.download_bytes_per_second,
        },
    }
}
