//! The daemon's side of connections that is not a request: [`PollSignal`],
//! how `syncroll rescan --remote NAME` reaches the pull engine.
//!
//! The pull engine ([`crate::pull`]) consumes the signal: it waits on
//! [`PollSignal::requested`] beside its own timers, and polls each
//! pulling connection of the remotes it returns. A request made while it
//! polls is kept (one entry per remote, however often asked) for when it
//! waits again.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use syncroll_core::RemoteId;
use tokio::sync::Notify;

/// Remotes whose pulling connections were asked to poll now; cheap to
/// clone, every clone the same signal.
#[derive(Debug, Clone, Default)]
pub struct PollSignal {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// A set: asking twice before the engine looks polls once.
    wanted: Mutex<BTreeSet<RemoteId>>,
    notify: Notify,
}

impl PollSignal {
    /// Asks for a poll of `remote`'s pulling connections as soon as the
    /// engine can.
    pub fn request_poll(&self, remote: RemoteId) {
        self.wanted().insert(remote);
        // A stored permit if nobody waits yet: a request made before the
        // engine starts waiting is not lost.
        self.inner.notify.notify_one();
    }

    /// Takes every remote asked for since the last take, without waiting.
    pub fn take(&self) -> BTreeSet<RemoteId> {
        std::mem::take(&mut *self.wanted())
    }

    /// Waits until some poll is asked for, then takes every remote asked
    /// for (never an empty set). Meant for the one engine task.
    pub async fn requested(&self) -> BTreeSet<RemoteId> {
        loop {
            let taken = self.take();
            if !taken.is_empty() {
                return taken;
            }
            self.inner.notify.notified().await;
        }
    }

    fn wanted(&self) -> std::sync::MutexGuard<'_, BTreeSet<RemoteId>> {
        // The set stays valid whatever a panicking holder did to it.
        self.inner
            .wanted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_request_made_before_anyone_waits_is_kept() {
        let signal = PollSignal::default();
        signal.request_poll(RemoteId(2));
        signal.request_poll(RemoteId(2));
        signal.request_poll(RemoteId(1));
        let taken = signal.clone().requested().await;
        assert_eq!(taken, BTreeSet::from([RemoteId(1), RemoteId(2)]));
        assert!(signal.take().is_empty());
    }

    #[tokio::test]
    async fn a_waiting_engine_wakes_on_a_request() {
        let signal = PollSignal::default();
        let engine = tokio::spawn({
            let signal = signal.clone();
            async move { signal.requested().await }
        });
        signal.request_poll(RemoteId(7));
        let taken = tokio::time::timeout(std::time::Duration::from_secs(10), engine)
            .await
            .expect("the engine woke")
            .unwrap();
        assert_eq!(taken, BTreeSet::from([RemoteId(7)]));
    }
}
