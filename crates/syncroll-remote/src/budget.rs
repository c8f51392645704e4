//! A budget for the bytes that transfers hold in memory, shared by every
//! upload of every remote that buffers (S3's parts): memory stays bounded by
//! configuration however many transfers run and however large the files.
//!
//! Bytes are reserved before they are read and given back when the request
//! that sends them is done. A reservation is one acquisition, never topped
//! up while waiting (see `s3::reader`): a transfer that held bytes and
//! waited for more could wait for ever on others doing the same.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Reservations are counted in units of this many bytes.
const UNIT: u64 = 64 * 1024;

/// The default budget: what keeps a loopback S3 server busy with a few
/// parts in flight.
pub const DEFAULT_TRANSFER_MEMORY: u64 = 24 * 1024 * 1024;

/// The shared budget; cheap to clone.
#[derive(Debug, Clone)]
pub struct TransferBudget {
    units: Arc<Semaphore>,
    total_units: u32,
}

/// Bytes reserved from a [`TransferBudget`], given back when dropped.
#[derive(Debug)]
pub struct Reservation {
    permit: Option<OwnedSemaphorePermit>,
}

/// Bytes and the reservation that counts them.
struct Held<B> {
    buf: B,
    _reservation: Reservation,
}

impl<B: AsRef<[u8]>> AsRef<[u8]> for Held<B> {
    fn as_ref(&self) -> &[u8] {
        self.buf.as_ref()
    }
}

impl Default for TransferBudget {
    fn default() -> Self {
        Self::new(DEFAULT_TRANSFER_MEMORY)
    }
}

fn units_of(bytes: u64) -> u32 {
    u32::try_from(bytes.div_ceil(UNIT)).unwrap_or(u32::MAX)
}

impl TransferBudget {
    /// A budget of `bytes` (at least one unit).
    pub fn new(bytes: u64) -> Self {
        let total_units = units_of(bytes).max(1);
        Self {
            units: Arc::new(Semaphore::new(total_units as usize)),
            total_units,
        }
    }

    /// The budget's size in bytes.
    pub fn bytes(&self) -> u64 {
        u64::from(self.total_units) * UNIT
    }

    /// Bytes reserved now.
    pub fn in_use(&self) -> u64 {
        let free = self.units.available_permits() as u64;
        (u64::from(self.total_units) - free.min(u64::from(self.total_units))) * UNIT
    }

    /// Reserves `bytes`, waiting until they are free. A request larger than
    /// the whole budget gets the whole budget, so that one transfer can
    /// always run.
    pub async fn reserve(&self, bytes: u64) -> Reservation {
        let units = units_of(bytes).clamp(1, self.total_units);
        let permit = self.units.clone().acquire_many_owned(units).await.ok();
        Reservation { permit }
    }

    /// Reserves `bytes` if they are free now.
    pub fn try_reserve(&self, bytes: u64) -> Option<Reservation> {
        let units = units_of(bytes).clamp(1, self.total_units);
        let permit = self.units.clone().try_acquire_many_owned(units).ok()?;
        Some(Reservation {
            permit: Some(permit),
        })
    }
}

impl Reservation {
    /// A reservation of nothing.
    pub fn none() -> Self {
        Self { permit: None }
    }

    /// Bytes reserved.
    pub fn bytes(&self) -> u64 {
        self.permit
            .as_ref()
            .map_or(0, |p| p.num_permits() as u64 * UNIT)
    }

    /// Gives back what is above `bytes` (rounded up to a unit, at least
    /// one).
    pub fn shrink_to(&mut self, bytes: u64) {
        let keep = units_of(bytes).max(1) as usize;
        if let Some(permit) = &mut self.permit
            && permit.num_permits() > keep
        {
            drop(permit.split(permit.num_permits() - keep));
        }
    }

    /// Takes `bytes` (rounded up to a unit) out of this reservation into a
    /// new one, or as much as there is.
    pub fn split_off(&mut self, bytes: u64) -> Self {
        let Some(permit) = &mut self.permit else {
            return Self::none();
        };
        let want = (units_of(bytes) as usize).min(permit.num_permits());
        if want == permit.num_permits() {
            return Self {
                permit: self.permit.take(),
            };
        }
        Self {
            permit: permit.split(want),
        }
    }

    /// `buf` as [`Bytes`] that keep this reservation until the last clone
    /// of them is dropped (when the request that sends them is done).
    pub fn hold(self, buf: impl AsRef<[u8]> + Send + 'static) -> bytes::Bytes {
        bytes::Bytes::from_owner(Held {
            buf,
            _reservation: self,
        })
    }

    /// Adds `other`'s bytes to this reservation.
    pub fn merge(&mut self, other: Self) {
        match (&mut self.permit, other.permit) {
            (Some(mine), Some(theirs)) => mine.merge(theirs),
            (None, theirs) => self.permit = theirs,
            (Some(_), None) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reservations_are_given_back_shrunk_split_and_clamped() {
        let budget = TransferBudget::new(10 * UNIT);
        let mut a = budget.reserve(4 * UNIT).await;
        assert_eq!(budget.in_use(), 4 * UNIT);
        a.shrink_to(1);
        assert_eq!((a.bytes(), budget.in_use()), (UNIT, UNIT));
        let huge = budget.try_reserve(u64::MAX);
        assert!(huge.is_none(), "the whole budget is not free");
        drop(a);
        let mut whole = budget.reserve(u64::MAX).await;
        assert_eq!(whole.bytes(), 10 * UNIT, "clamped to the budget");
        let part = whole.split_off(3 * UNIT);
        assert_eq!((part.bytes(), whole.bytes()), (3 * UNIT, 7 * UNIT));
        let rest = whole.split_off(100 * UNIT);
        assert_eq!((rest.bytes(), whole.bytes()), (7 * UNIT, 0));
        whole.merge(rest);
        assert_eq!(whole.bytes(), 7 * UNIT);
        drop((part, whole));
        assert_eq!(budget.in_use(), 0);
    }

    /// A waiting reservation gets its bytes when another gives them back.
    #[tokio::test]
    async fn a_reservation_waits_for_bytes_given_back() {
        let budget = TransferBudget::new(2 * UNIT);
        let held = budget.reserve(2 * UNIT).await;
        let waiting = tokio::spawn({
            let budget = budget.clone();
            async move { budget.reserve(UNIT).await.bytes() }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        drop(held);
        assert_eq!(waiting.await.unwrap(), UNIT);
    }
}
