//! `EventBus`: the daemon's one bus of typed events
//! ([`syncroll_core::events::EventKind`]), and the feed that follows it.
//!
//! Where a change is committed in the store (a failed job, a hold, a
//! conflict copy, a root's state, a collection's last job), the store writes
//! its event in the same transaction and wakes the bus's readers; changes
//! made here (pause, bandwidth limit) are published through this type. A
//! reader ([`EventBus::follow`]) sends what the window holds after the
//! client's sequence number, then waits to be woken: it never polls.

use syncroll_core::Store;
use syncroll_core::events::{Event, EventKind, EventSeq, EventWatch, PauseChange};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info_span};

/// Events read from the store per query while catching up.
const PAGE: u32 = 500;

/// What a follower of the feed receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedItem {
    Event(Event),
    /// The client asked from further back than the window: these events
    /// are gone.
    Gap {
        first: EventSeq,
        last: EventSeq,
    },
}

/// Publishes events and follows the feed. Cheap to clone.
#[derive(Debug, Clone)]
pub struct EventBus {
    store: Store,
    /// The daemon's shutdown: followers end their streams with it, so a
    /// client watching the feed does not hold the server's shutdown back.
    shutdown: CancellationToken,
}

impl EventBus {
    pub fn new(store: Store, shutdown: CancellationToken) -> Self {
        Self { store, shutdown }
    }

    /// Publishes an event that no store transaction recorded.
    pub async fn publish(&self, kind: EventKind) {
        self.store.publish_event(kind).await;
    }

    /// Sync paused or resumed, everywhere (`collection` `None`) or for one
    /// collection.
    pub async fn pause_changed(&self, collection: Option<String>, pause: PauseChange) {
        self.publish(EventKind::PauseChanged { collection, pause })
            .await;
    }

    /// The bandwidth limit changed (`None`: unlimited). For the scheduler's
    /// limit code to call once a new limit is in force.
    pub async fn limit_changed(
        &self,
        upload_bytes_per_second: Option<u64>,
        download_bytes_per_second: Option<u64>,
    ) {
        self.publish(EventKind::LimitChanged {
            upload_bytes_per_second,
            download_bytes_per_second,
        })
        .await;
    }

    /// Follows the feed: first a [`FeedItem::Gap`] if the window no longer
    /// holds all events after `after`, then those it holds, then each new
    /// event as it is committed, until the receiver is dropped or the
    /// daemon stops. Without `after`, or with a number newer than any
    /// this catalog handed out, the events committed after this call
    /// began.
    pub async fn follow(
        &self,
        after: Option<EventSeq>,
    ) -> Result<mpsc::Receiver<Result<FeedItem, syncroll_core::Error>>, syncroll_core::Error> {
        // Subscribed before the window is read: an event committed from
        // here on wakes the feed, so none falls in between.
        let watch = self.store.watch_events();
        let newest = self.store.last_event_seq().await?;
        let (start, gap) = match after {
            // A number this catalog never handed out (the client saw
            // another catalog's, one restored from a backup): from now on,
            // rather than skipping the events up to that number.
            Some(after) if Some(after) > newest => (newest, None),
            Some(after) => (Some(after), self.store.events_missed(after).await?),
            None => (newest, None),
        };
        let (tx, rx) = mpsc::channel(64);
        let bus = self.clone();
        let span = info_span!("event_feed", after = after.map(|s| s.0));
        tokio::spawn(
            async move {
                if let Some((first, last)) = gap
                    && tx.send(Ok(FeedItem::Gap { first, last })).await.is_err()
                {
                    return;
                }
                if let Err(error) = bus.feed(watch, start, &tx).await {
                    let _ = tx.send(Err(error)).await;
                }
            }
            .instrument(span),
        );
        Ok(rx)
    }

    /// Sends the events after `last`, then waits to be woken for more.
    async fn feed(
        &self,
        mut watch: EventWatch,
        mut last: Option<EventSeq>,
        tx: &mpsc::Sender<Result<FeedItem, syncroll_core::Error>>,
    ) -> Result<(), syncroll_core::Error> {
        loop {
            // Marked seen before reading: a commit after the read changes
            // it again, and the wait below returns at once.
            watch.borrow_and_update();
            loop {
                let page = self.store.events_after(last, PAGE).await?;
                let Some(newest) = page.last().map(|e| e.seq) else {
                    break;
                };
                for event in page {
                    if tx.send(Ok(FeedItem::Event(event))).await.is_err() {
                        return Ok(());
                    }
                }
                last = Some(newest);
            }
            tokio::select! {
                changed = watch.changed() => if changed.is_err() { return Ok(()) },
                () = tx.closed() => return Ok(()),
                () = self.shutdown.cancelled() => {
                    debug!("the daemon stops: ending the event feed");
                    return Ok(());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use syncroll_core::events::EVENT_WINDOW;

    use super::*;

    fn back(n: u64) -> EventKind {
        EventKind::RootBack {
            path: format!("/root{n}"),
        }
    }

    async fn next(
        feed: &mut mpsc::Receiver<Result<FeedItem, syncroll_core::Error>>,
    ) -> Option<FeedItem> {
        let item = tokio::time::timeout(std::time::Duration::from_secs(20), feed.recv())
            .await
            .expect("the feed answers");
        item.map(|item| item.expect("no error"))
    }

    fn seq_of(item: Option<FeedItem>) -> u64 {
        match item {
            Some(FeedItem::Event(event)) => event.seq.0,
            other => panic!("not an event: {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_follower_from_before_the_window_hears_of_the_gap_then_gets_the_window_and_what_follows()
     {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("catalog.sqlite"))
            .await
            .unwrap();
        let shutdown = CancellationToken::new();
        let bus = EventBus::new(store, shutdown.clone());
        // Two more than the window: 1 and 2 are trimmed.
        for n in 1..=EVENT_WINDOW + 2 {
            bus.publish(back(n)).await;
        }
        let mut feed = bus.follow(Some(EventSeq(1))).await.unwrap();
        assert_eq!(
            next(&mut feed).await,
            Some(FeedItem::Gap {
                first: EventSeq(2),
                last: EventSeq(2)
            })
        );
        for expected in 3..=EVENT_WINDOW + 2 {
            assert_eq!(seq_of(next(&mut feed).await), expected);
        }
        bus.limit_changed(Some(1_000_000), None).await;
        match next(&mut feed).await {
            Some(FeedItem::Event(event)) => {
                assert_eq!(event.seq, EventSeq(EVENT_WINDOW + 3));
                assert_eq!(
                    event.kind,
                    EventKind::LimitChanged {
                        upload_bytes_per_second: Some(1_000_000),
                        download_bytes_per_second: None
                    }
                );
            }
            other => panic!("not the new event: {other:?}"),
        }
        // Only new events without `after`; the daemon's stop ends the feed.
        let mut fresh = bus.follow(None).await.unwrap();
        // A number from another catalog: from now on, not from there.
        let mut foreign = bus.follow(Some(EventSeq(EVENT_WINDOW * 10))).await.unwrap();
        bus.publish(back(0)).await;
        assert_eq!(seq_of(next(&mut fresh).await), EVENT_WINDOW + 4);
        assert_eq!(seq_of(next(&mut foreign).await), EVENT_WINDOW + 4);
        shutdown.cancel();
        assert_eq!(next(&mut fresh).await, None);
    }
}
