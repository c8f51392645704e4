//! Bandwidth limits, enforced where bytes move: every chunk an upload reads
//! from its source and every chunk a download takes from the network is
//! admitted by the transfer's [`Throttle`] first.
//!
//! A [`Throttle`] is a list of shared [`Buckets`] (one token bucket per
//! direction each): the daemon gives every remote one throttle of the
//! daemon-wide buckets and the remote's own, so all transfers in flight share
//! each limit. Waiting for a bucket is first come, first served (a fair
//! mutex), one caller's chunk at a time (asked for in pieces of at most an
//! eighth of a second's bytes), so concurrent transfers share a limit
//! evenly. A new rate takes effect at
//! once, also for the transfers waiting on the old one.
//!
//! The buckets are `governor`'s GCRA limiters, counting KiB.

use std::num::NonZeroU32;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::{Mutex, watch};
use tokio_util::sync::CancellationToken;

use crate::RemoteError;

/// The bucket's unit: bytes are admitted in whole KiB.
const CELL: u64 = 1024;
/// The smallest burst, and so the smallest piece admitted at once.
const MIN_BURST_CELLS: u32 = 16;
/// The largest piece admitted at once (1 MiB, a chunk).
const MAX_BURST_CELLS: u32 = 1024;

/// Which way bytes go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// To the remote.
    Up,
    /// From the remote.
    Down,
}

/// A limit's state: one token bucket per direction, shared by every
/// transfer that holds it (through a [`Throttle`]).
#[derive(Debug, Default)]
pub struct Buckets {
    up: Bucket,
    down: Bucket,
}

impl Buckets {
    /// Buckets without limits.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Sets the rates in bytes per second (`None`: no limit). A rate that
    /// did not change keeps its bucket as it is.
    pub fn set(&self, up: Option<u64>, down: Option<u64>) {
        self.up.set(up);
        self.down.set(down);
    }

    /// The rates now, in bytes per second.
    pub fn rates(&self) -> (Option<u64>, Option<u64>) {
        (self.up.rate(), self.down.rate())
    }

    fn bucket(&self, direction: Direction) -> &Bucket {
        match direction {
            Direction::Up => &self.up,
            Direction::Down => &self.down,
        }
    }
}

/// One direction's limiter.
#[derive(Debug)]
struct Bucket {
    limiter: RwLock<Option<Limiter>>,
    /// Bumped on every change of rate, so waiters look again.
    changed: watch::Sender<u64>,
    /// Waiters take turns in the order they came.
    turn: Mutex<()>,
}

#[derive(Debug, Clone)]
struct Limiter {
    bytes_per_second: u64,
    burst_cells: u32,
    cells: Arc<DefaultDirectRateLimiter>,
}

impl Default for Bucket {
    fn default() -> Self {
        Self {
            limiter: RwLock::new(None),
            changed: watch::channel(0).0,
            turn: Mutex::new(()),
        }
    }
}

impl Bucket {
    fn current(&self) -> Option<Limiter> {
        self.limiter.read().expect("never poisoned").clone()
    }

    fn rate(&self) -> Option<u64> {
        self.current().map(|l| l.bytes_per_second)
    }

    fn set(&self, bytes_per_second: Option<u64>) {
        if self.rate() == bytes_per_second {
            return;
        }
        *self.limiter.write().expect("never poisoned") = bytes_per_second.and_then(Limiter::new);
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Waits until `bytes` may pass, a piece at a time. One caller's bytes
    /// pass together: a transfer's chunk is admitted whole before the next
    /// caller's, so each transfer's progress moves a chunk at a time rather
    /// than every transfer's creeping on together.
    async fn admit(&self, bytes: u64) {
        let mut cells_left = bytes.div_ceil(CELL);
        if cells_left == 0 || self.current().is_none() {
            // Nothing to pass (a read that found the end of a file), or no
            // limit: no turn to wait for, so unlimited transfers never queue.
            return;
        }
        let _turn = self.turn.lock().await;
        while cells_left > 0 {
            let mut changed = self.changed.subscribe();
            let Some(limiter) = self.current() else {
                return;
            };
            let piece = cells_left.min(u64::from(limiter.burst_cells)) as u32;
            let n = NonZeroU32::new(piece).expect("a piece is above 0");
            tokio::select! {
                // A piece is never above the burst, so this never fails.
                _ = limiter.cells.until_n_ready(n) => cells_left -= u64::from(piece),
                // A new rate: wait on it instead.
                _ = changed.changed() => {}
            }
        }
    }
}

impl Limiter {
    /// `None` for a rate too high to measure (above about 1 TiB/s), which
    /// then is no limit.
    fn new(bytes_per_second: u64) -> Option<Self> {
        let per_cell = Duration::from_secs_f64(CELL as f64 / bytes_per_second as f64);
        let eighth = (bytes_per_second / CELL / 8).clamp(1, u64::from(u32::MAX)) as u32;
        let burst_cells = eighth.clamp(MIN_BURST_CELLS, MAX_BURST_CELLS);
        let quota = Quota::with_period(per_cell)?
            .allow_burst(NonZeroU32::new(burst_cells).expect("at least the minimum"));
        Some(Self {
            bytes_per_second,
            burst_cells,
            cells: Arc::new(RateLimiter::direct(quota)),
        })
    }
}

/// The limits one transfer obeys; cheap to clone. The default obeys none.
#[derive(Debug, Clone, Default)]
pub struct Throttle {
    buckets: Vec<Arc<Buckets>>,
}

impl Throttle {
    /// Obeys every one of `buckets`.
    pub fn new(buckets: Vec<Arc<Buckets>>) -> Self {
        Self { buckets }
    }

    /// Waits until `bytes` may go `direction`, or `cancel` fires
    /// ([`RemoteError::Cancelled`]).
    pub async fn admit(
        &self,
        direction: Direction,
        bytes: u64,
        cancel: &CancellationToken,
    ) -> Result<(), RemoteError> {
        for buckets in &self.buckets {
            tokio::select! {
                biased;
                () = cancel.cancelled() => return Err(RemoteError::Cancelled),
                () = buckets.bucket(direction).admit(bytes) => {}
            }
        }
        Ok(())
    }

    /// Whether any limit may apply (now or after a change of rates): a
    /// throttle without buckets never waits.
    pub fn limits_anything(&self) -> bool {
        !self.buckets.is_empty()
    }

    /// The lowest rate `direction` is limited to now, in bytes per second;
    /// `None`: no limit.
    pub fn lowest_rate(&self, direction: Direction) -> Option<u64> {
        let rates = self.buckets.iter();
        rates.filter_map(|b| b.bucket(direction).rate()).min()
    }

    /// [`Throttle::admit`] for a loop on tokio's blocking pool.
    pub(crate) fn admit_blocking(
        &self,
        runtime: &tokio::runtime::Handle,
        direction: Direction,
        bytes: u64,
        cancel: &CancellationToken,
    ) -> Result<(), RemoteError> {
        if !self.limits_anything() {
            return Ok(());
        }
        runtime.block_on(self.admit(direction, bytes, cancel))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    const M: u64 = 1 << 20;

    #[tokio::test]
    async fn a_limit_paces_transfers_and_lifts_at_once() {
        let shared = Buckets::new();
        shared.set(Some(4 * M), None);
        let throttle = Throttle::new(vec![shared.clone()]);
        let cancel = CancellationToken::new();
        let started = Instant::now();
        // Two transfers share the 4 MiB/s: 2 MiB takes about half a second.
        let (a, b) = tokio::join!(
            throttle.admit(Direction::Up, M, &cancel),
            throttle.admit(Direction::Up, M, &cancel)
        );
        a.unwrap();
        b.unwrap();
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(300), "{took:?}");
        // Downloads are not limited.
        let started = Instant::now();
        throttle
            .admit(Direction::Down, 64 * M, &cancel)
            .await
            .unwrap();
        assert!(started.elapsed() < Duration::from_millis(100));
        // A waiter on a slow rate goes on as soon as the limit is lifted.
        shared.set(Some(1024), None);
        let waiting = tokio::spawn({
            let (throttle, cancel) = (throttle.clone(), cancel.clone());
            async move { throttle.admit(Direction::Up, 64 * M, &cancel).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished());
        let lifted = Instant::now();
        shared.set(None, None);
        waiting.await.unwrap().unwrap();
        assert!(lifted.elapsed() < Duration::from_millis(500));
    }

    /// Transfers waiting on one limit take turns, so they move together.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn transfers_share_a_limit_evenly() {
        let shared = Buckets::new();
        shared.set(Some(4 * M), None);
        let throttle = Throttle::new(vec![shared]);
        let done = Arc::new([
            std::sync::atomic::AtomicU64::new(0),
            std::sync::atomic::AtomicU64::new(0),
        ]);
        let chunks = |i: usize| {
            let (throttle, done) = (throttle.clone(), done.clone());
            tokio::spawn(async move {
                let cancel = CancellationToken::new();
                for _ in 0..16 {
                    throttle
                        .admit(Direction::Up, 128 * 1024, &cancel)
                        .await
                        .unwrap();
                    done[i].fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
            })
        };
        let (a, b) = (chunks(0), chunks(1));
        a.await.unwrap();
        let other = done[1].load(std::sync::atomic::Ordering::SeqCst);
        // Less the bucket's burst (4 chunks), which the first may take alone.
        assert!(
            other >= 10,
            "one transfer finished while the other had {other} of 16"
        );
        b.await.unwrap();
    }

    #[tokio::test]
    async fn cancellation_ends_a_wait() {
        let shared = Buckets::new();
        shared.set(Some(1024), Some(1024));
        let throttle = Throttle::new(vec![shared]);
        let cancel = CancellationToken::new();
        cancel.cancel();
        let err = throttle.admit(Direction::Down, 64 * M, &cancel).await;
        assert!(matches!(err, Err(RemoteError::Cancelled)));
    }
}
