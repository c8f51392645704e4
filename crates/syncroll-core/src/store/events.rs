//! The event feed's window (`events`): appending an event in the
//! transaction of its cause, publishing one of its own, reading after a
//! sequence number, and waking readers once events are committed.

use sqlx::{Sqlite, Transaction};
use tracing::warn;

use super::Store;
use super::jobs::now_ms;
use crate::error::{DbContext, Error, Result};
use crate::events::{EVENT_WINDOW, Event, EventKind, EventSeq, EventWatch};

/// Appends `kind` to the feed inside `tx`, and trims the window to the
/// newest [`EVENT_WINDOW`] events. The caller commits, then calls
/// [`Store::announce_events`].
pub(crate) async fn append(tx: &mut Transaction<'_, Sqlite>, kind: &EventKind) -> Result<EventSeq> {
    let body = serde_json::to_string(kind).expect("an event always serialises");
    let seq: i64 =
        sqlx::query_scalar("INSERT INTO events (at_ms, kind, body) VALUES (?, ?, ?) RETURNING seq")
            .bind(now_ms())
            .bind(kind.name())
            .bind(body)
            .fetch_one(&mut **tx)
            .await
            .db("recording an event")?;
    // One row in, (at most) one row out: the window stays bounded by an
    // index range, never a count over the table.
    sqlx::query("DELETE FROM events WHERE seq <= ?")
        .bind(seq - EVENT_WINDOW as i64)
        .execute(&mut **tx)
        .await
        .db("trimming the event window")?;
    Ok(EventSeq(seq as u64))
}

/// A fresh wake-up channel for the feed's readers; the store keeps the
/// sender.
pub(crate) fn new_watch() -> tokio::sync::watch::Sender<u64> {
    tokio::sync::watch::Sender::new(0)
}

impl Store {
    /// Publishes an event that has no transaction of its own in the store
    /// (a pause, a new bandwidth limit): appends it and wakes the readers.
    /// A failure is logged, not returned: the change it tells of has
    /// happened either way.
    pub async fn publish_event(&self, kind: EventKind) {
        if let Err(error) = self.try_publish_event(&kind).await {
            warn!(%error, kind = kind.name(), "an event could not be recorded");
        }
    }

    async fn try_publish_event(&self, kind: &EventKind) -> Result<()> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .db("starting a transaction")?;
        append(&mut tx, kind).await?;
        tx.commit().await.db("committing an event")?;
        self.announce_events();
        Ok(())
    }

    /// Wakes the feed's readers: call after committing a transaction that
    /// may have appended events. A reader woken for nothing reads nothing.
    pub(crate) fn announce_events(&self) {
        self.events.send_modify(|generation| *generation += 1);
    }

    /// A receiver that changes whenever events may have been committed.
    pub fn watch_events(&self) -> EventWatch {
        self.events.subscribe()
    }

    /// Up to `limit` events after `after` (all from the oldest kept when
    /// `None`), oldest first.
    pub async fn events_after(&self, after: Option<EventSeq>, limit: u32) -> Result<Vec<Event>> {
        let rows: Vec<(i64, i64, String)> = sqlx::query_as(
            "SELECT seq, at_ms, body FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
        )
        .bind(after.map_or(0, |s| s.0 as i64))
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .db("reading events")?;
        rows.into_iter()
            .map(|(seq, at_ms, body)| {
                let kind =
                    serde_json::from_str(&body).map_err(|source| Error::EventUnreadable {
                        seq: seq as u64,
                        source,
                    })?;
                Ok(Event {
                    seq: EventSeq(seq as u64),
                    at_ms,
                    kind,
                })
            })
            .collect()
    }

    /// The newest sequence number handed out, if any: where a reader that
    /// wants only new events starts.
    pub async fn last_event_seq(&self) -> Result<Option<EventSeq>> {
        let seq: Option<i64> =
            sqlx::query_scalar("SELECT seq FROM sqlite_sequence WHERE name = 'events'")
                .fetch_optional(&self.pool)
                .await
                .db("reading the newest event")?;
        Ok(seq.map(|s| EventSeq(s as u64)))
    }

    /// The events after `after` that the window no longer holds, first and
    /// last, when there are any: the reader asked from further back than
    /// the store keeps.
    pub async fn events_missed(&self, after: EventSeq) -> Result<Option<(EventSeq, EventSeq)>> {
        // The newest number ever handed out survives trimming in
        // `sqlite_sequence` (AUTOINCREMENT), the oldest kept is the table's.
        let (oldest, newest): (Option<i64>, Option<i64>) = sqlx::query_as(
            "SELECT (SELECT MIN(seq) FROM events),
                    (SELECT seq FROM sqlite_sequence WHERE name = 'events')",
        )
        .fetch_one(&self.pool)
        .await
        .db("reading the event window")?;
        let newest = newest.unwrap_or(0) as u64;
        // Nothing kept: everything up to the newest number is gone.
        let first_kept = oldest.map_or(newest + 1, |o| o as u64);
        let first_wanted = after.0 + 1;
        Ok((first_wanted < first_kept).then(|| (EventSeq(first_wanted), EventSeq(first_kept - 1))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::store::temp_store as store;

    fn back(path: &str) -> EventKind {
        EventKind::RootBack {
            path: path.to_owned(),
        }
    }

    #[tokio::test]
    async fn events_are_read_back_in_order_after_a_sequence_number() {
        let (_dir, store) = store().await;
        for path in ["/a", "/b", "/c"] {
            store.publish_event(back(path)).await;
        }
        let all = store.events_after(None, 10).await.unwrap();
        assert_eq!(all.len(), 3);
        let after_first = store.events_after(Some(all[0].seq), 10).await.unwrap();
        assert_eq!(
            after_first.iter().map(|e| &e.kind).collect::<Vec<_>>(),
            vec![&back("/b"), &back("/c")]
        );
        assert_eq!(store.events_missed(EventSeq(0)).await.unwrap(), None);
    }

    #[tokio::test]
    async fn the_window_is_trimmed_and_a_reader_from_before_it_is_told_what_it_missed() {
        let (_dir, store) = store().await;
        // Pretend a full window went before: the next append trims seq 1.
        for seq in [1, EVENT_WINDOW] {
            sqlx::query(
                "INSERT INTO events (seq, at_ms, kind, body) VALUES (?, 0, 'root_back', ?)",
            )
            .bind(seq as i64)
            .bind(serde_json::to_string(&back("/old")).unwrap())
            .execute(&store.pool)
            .await
            .unwrap();
        }
        store.publish_event(back("/new")).await;
        let kept = store.events_after(None, 10).await.unwrap();
        let seqs: Vec<u64> = kept.iter().map(|e| e.seq.0).collect();
        assert_eq!(seqs, vec![EVENT_WINDOW, EVENT_WINDOW + 1]);
        assert_eq!(
            store.events_missed(EventSeq(0)).await.unwrap(),
            Some((EventSeq(1), EventSeq(EVENT_WINDOW - 1)))
        );
        assert_eq!(
            store.events_missed(EventSeq(3)).await.unwrap(),
            Some((EventSeq(4), EventSeq(EVENT_WINDOW - 1)))
        );
        let at_the_edge = EventSeq(EVENT_WINDOW - 1);
        assert_eq!(store.events_missed(at_the_edge).await.unwrap(), None);
    }

    #[tokio::test]
    async fn sequence_numbers_continue_after_reopening() {
        let (dir, store) = store().await;
        store.publish_event(back("/a")).await;
        store.close().await;
        let store = Store::open(&dir.path().join("catalog.sqlite"))
            .await
            .unwrap();
        let watch = store.watch_events();
        store.publish_event(back("/b")).await;
        assert!(watch.has_changed().unwrap(), "readers are woken");
        let seqs: Vec<u64> = store
            .events_after(None, 10)
            .await
            .unwrap()
            .iter()
            .map(|e| e.seq.0)
            .collect();
        assert_eq!(seqs, vec![1, 2]);
    }
}
