//! Which events become desktop notifications, and how often:
//! [`Notices`] turns feed events into [`Notice`]s, at most one per kind
//! per [`RATE_WINDOW`]. Events of a kind that come within the window are
//! counted, and the next notice of that kind says how many it folds in, so
//! a burst (a remote that refuses every upload) is one notice, not a
//! hundred, and none is lost from the count.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use syncroll_client::EventKind;

use crate::snapshot::Snapshot;

/// At most one notice of each kind this often.
pub const RATE_WINDOW: Duration = Duration::from_secs(10 * 60);

/// A collection whose sync ran at least this long gets a notice when it
/// ends; shorter ones finish before anyone waits for them.
pub const LONG_SYNC: Duration = Duration::from_secs(10 * 60);

/// The kinds of notice, each rate-limited on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NoticeKind {
    JobFailed,
    HoldCreated,
    RootMissing,
    LongSyncFinished,
    /// A menu action that could not be carried out; never rate-limited,
    /// since each answers a click.
    ActionFailed,
}

/// One desktop notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub kind: NoticeKind,
    pub summary: String,
    pub body: String,
    /// A freedesktop icon name.
    pub icon: &'static str,
}

impl Notice {
    /// Tells that the menu action `what` was not done, and why: a click
    /// that does nothing, silently, leaves the user thinking it worked.
    pub fn action_failed(what: &str, why: String) -> Self {
        Self {
            kind: NoticeKind::ActionFailed,
            summary: format!("{what}: not done"),
            body: why,
            icon: "dialog-error",
        }
    }
}

/// The rate limit of one kind.
#[derive(Debug, Clone, Copy, Default)]
struct Window {
    last_sent: Option<Instant>,
    /// Events since `last_sent` that were not shown.
    folded: u64,
}

/// Decides the notices; pure, with time passed in.
#[derive(Debug)]
pub struct Notices {
    window: Duration,
    long_sync: Duration,
    windows: HashMap<NoticeKind, Window>,
    /// Since when each collection has been seen with work queued or
    /// running (from status reads), for [`LONG_SYNC`].
    busy_since: HashMap<String, Instant>,
}

impl Default for Notices {
    fn default() -> Self {
        Self::new(RATE_WINDOW, LONG_SYNC)
    }
}

impl Notices {
    pub fn new(window: Duration, long_sync: Duration) -> Self {
        Self {
            window,
            long_sync,
            windows: HashMap::new(),
            busy_since: HashMap::new(),
        }
    }

    /// Notes which collections are busy, so a finished sync knows how long
    /// it ran.
    pub fn observe(&mut self, snapshot: &Snapshot, now: Instant) {
        // A collection deleted mid-sync never reports synced.
        self.busy_since
            .retain(|name, _| snapshot.collections.iter().any(|c| c.name == *name));
        for collection in &snapshot.collections {
            if collection.pending_jobs > 0 {
                self.busy_since
                    .entry(collection.name.clone())
                    .or_insert(now);
            }
        }
    }

    /// The notice `event` makes now, if any and if its kind's window
    /// allows.
    pub fn on_event(&mut self, event: &EventKind, now: Instant) -> Option<Notice> {
        let notice = self.draft(event, now)?;
        self.limit(notice, now)
    }

    /// The notice an event would make, before rate limits.
    fn draft(&mut self, event: &EventKind, now: Instant) -> Option<Notice> {
        match event {
            EventKind::JobFailed {
                collection,
                op,
                key,
                error,
                ..
            } => Some(Notice {
                kind: NoticeKind::JobFailed,
                summary: format!("{} failed", collection.as_deref().unwrap_or("A sync job")),
                body: format!("{op} of {key}: {error}\nRun it again with: syncroll retry --all"),
                icon: "dialog-error",
            }),
            EventKind::HoldCreated {
                collection, remote, ..
            } => Some(Notice {
                kind: NoticeKind::HoldCreated,
                summary: "Deletions held".to_owned(),
                body: format!(
                    "Deletions of {} on {} wait for your decision: syncroll holds",
                    collection.as_deref().unwrap_or("a collection"),
                    remote.as_deref().unwrap_or("a remote")
                ),
                icon: "dialog-warning",
            }),
            EventKind::RootMissing { path, reason } => Some(Notice {
                kind: NoticeKind::RootMissing,
                summary: "Photo folder missing".to_owned(),
                body: format!("{path}: {reason}\nIts photos are kept; nothing is deleted."),
                icon: "drive-harddisk",
            }),
            EventKind::CollectionSynced {
                collection,
                remote,
                photos,
                failed,
                ..
            } => {
                let since = self.busy_since.remove(collection)?;
                (now.duration_since(since) >= self.long_sync).then(|| Notice {
                    kind: NoticeKind::LongSyncFinished,
                    summary: format!("{collection} is synced"),
                    body: format!("{photos} photos on {remote}, {failed} failed"),
                    icon: "emblem-synchronized",
                })
            }
            _ => None,
        }
    }

    /// Lets `notice` through if its kind's window has passed, folding in
    /// the count of those held back; else holds it back.
    fn limit(&mut self, mut notice: Notice, now: Instant) -> Option<Notice> {
        let window = self.windows.entry(notice.kind).or_default();
        let open = window
            .last_sent
            .is_none_or(|last| now.duration_since(last) >= self.window);
        if !open {
            window.folded += 1;
            return None;
        }
        if window.folded > 0 {
            notice.body.push_str(&format!(
                "\n(and {} more since the last notice)",
                window.folded
            ));
        }
        *window = Window {
            last_sent: Some(now),
            folded: 0,
        };
        Some(notice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::tests::idle;

    fn failed(key: &str) -> EventKind {
        EventKind::JobFailed {
            job_id: 1,
            collection: Some("Trip".to_owned()),
            op: "upload".to_owned(),
            key: key.to_owned(),
            error: "refused".to_owned(),
            attempts: 8,
        }
    }

    fn missing() -> EventKind {
        EventKind::RootMissing {
            path: "/mnt/photos".to_owned(),
            reason: "gone".to_owned(),
        }
    }

    fn synced() -> EventKind {
        EventKind::CollectionSynced {
            collection: "Trip".to_owned(),
            remote: "local".to_owned(),
            photos: 40,
            synced: 40,
            failed: 0,
        }
    }

    #[test]
    fn a_burst_of_failures_is_one_notice_and_the_next_counts_the_rest() {
        let mut notices = Notices::default();
        let t0 = Instant::now();
        let first = notices.on_event(&failed("a.jpg"), t0).unwrap();
        assert_eq!(first.summary, "Trip failed");
        assert!(
            first.body.starts_with("upload of a.jpg: refused"),
            "{}",
            first.body
        );
        for i in 1..=3 {
            let later = t0 + Duration::from_secs(60 * i);
            assert_eq!(notices.on_event(&failed("b.jpg"), later), None);
        }
        let next = notices
            .on_event(&failed("c.jpg"), t0 + RATE_WINDOW)
            .unwrap();
        assert!(
            next.body.ends_with("(and 3 more since the last notice)"),
            "{}",
            next.body
        );
        let after = t0 + RATE_WINDOW + Duration::from_secs(1);
        assert_eq!(notices.on_event(&failed("d.jpg"), after), None);
    }

    #[test]
    fn each_kind_has_its_own_window() {
        let mut notices = Notices::default();
        let now = Instant::now();
        assert!(notices.on_event(&failed("a.jpg"), now).is_some());
        let root = notices.on_event(&missing(), now).unwrap();
        assert_eq!(root.kind, NoticeKind::RootMissing);
        assert!(root.body.starts_with("/mnt/photos: gone"), "{}", root.body);
    }

    #[test]
    fn events_the_user_caused_make_no_notice() {
        let mut notices = Notices::default();
        let pause = EventKind::PauseChanged {
            collection: None,
            pause: syncroll_client::PauseChange::Resumed,
        };
        assert_eq!(notices.on_event(&pause, Instant::now()), None);
    }

    #[test]
    fn only_a_long_sync_tells_when_it_finished() {
        let mut notices = Notices::default();
        let mut busy = idle();
        busy.collections[0].pending_jobs = 5;
        let t0 = Instant::now();
        notices.observe(&busy, t0);
        let short = t0 + Duration::from_secs(60);
        assert_eq!(notices.on_event(&synced(), short), None);

        notices.observe(&busy, short);
        // Seen busy again later: the sync's start stays the first sighting.
        notices.observe(&busy, short + Duration::from_secs(300));
        let done = notices.on_event(&synced(), short + LONG_SYNC).unwrap();
        assert_eq!(done.kind, NoticeKind::LongSyncFinished);
        assert_eq!(done.summary, "Trip is synced");
        assert_eq!(done.body, "40 photos on local, 0 failed");
    }

    #[test]
    fn a_sync_never_seen_running_makes_no_notice() {
        let mut notices = Notices::default();
        assert_eq!(notices.on_event(&synced(), Instant::now()), None);
    }
}
