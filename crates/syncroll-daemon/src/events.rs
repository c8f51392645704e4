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
use syncroll_core::events::{Event, EventKind, EventSeq, PauseChange};
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
    /// daemon stops. Without `after`, only new events.
    pub fn follow(
        &self,
        after: Option<EventSeq>,
    ) -> mpsc::Receiver<Result<FeedItem, syncroll_core::Error>> {
        let (tx, rx) = mpsc::channel(64);
        let bus = self.clone();
        let span = info_span!("event_feed", after = after.map(|s| s.0));
        tokio::spawn(
            async move {
                if let Err(error) = bus.feed(after, &tx).await {
                    let _ = tx.send(Err(error)).await;
                }
            }
            .instrument(span),
        );
        rx
    }

    async fn feed(
        &self,
        after: Option<EventSeq>,
        tx: &mpsc::Sender<Result<FeedItem, syncroll_core::Error>>,
    ) -> Result<(), syncroll_core::Error> {
        // Subscribed before the first read: an event committed while the
        // window is read wakes the loop below, so none falls in between.
        let mut watch = self.store.watch_events();
        let mut last = match after {
            Some(after) => {
                if let Some((first, last)) = self.store.events_missed(after).await?
                    && tx.send(Ok(FeedItem::Gap { first, last })).await.is_err()
                {
                    return Ok(());
                }
                Some(after)
            }
            None => self.store.last_event_seq().await?,
        };
        loop {
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
