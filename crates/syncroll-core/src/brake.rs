//! The deletion brake, as a pure decision: given the deletions planning
//! wants to queue for one collection, how many copies the collection has
//! and how many deletions were planned for it lately, run them or hold
//! them for the user.
//!
//! Every deletion the daemon plans on its own (photos vanished from disk,
//! left a folder collection, a root removed) passes here; deletions the
//! user asked for in so many words (`sync off`, `holds approve`, `retry`)
//! do not. A missing disk is caught earlier, by root identity
//! (`root_identity`); the brake is the net under that net, for what
//! identity cannot see: a folder emptied by a mistaken `mv` or a script,
//! a sync tool on the other side wiping a share.

/// When deletions are held. Counts are over one collection and a sliding
/// window, so a slow drip of small passes adds up.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BrakePolicy {
    /// How far back deletions count, in milliseconds.
    pub window_ms: i64,
    /// Hold when the window's deletions exceed this share of the
    /// collection's copies (0.25: a quarter).
    pub max_share: f64,
    /// Hold when the window's deletions exceed this many, whatever the share.
    pub max_count: u64,
    /// Never hold this many or fewer: deleting 2 photos of a collection of
    /// 5 is a user tidying up, not a disk gone.
    pub min_count: u64,
}

impl Default for BrakePolicy {
    fn default() -> Self {
        Self {
            window_ms: 3_600_000,
            max_share: 0.25,
            max_count: 500,
            min_count: 10,
        }
    }
}

/// What the brake knows of a collection besides the deletions at hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BrakeHistory {
    /// Copies the collection has on its remote (at the start of the
    /// window, when more than now: deletions already run shrank it).
    pub synced_copies: u64,
    /// Deletions planned within the window before these, run or held.
    pub recent: u64,
    /// Deletions within the window the user confirmed beforehand (`roots
    /// remove --yes`): that many pass as if unplanned.
    pub allowance: u64,
    /// A hold of this collection still waits for a decision: new
    /// deletions join it rather than run behind the user's back.
    pub hold_pending: bool,
}

/// Why deletions are held, for the hold's record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldCause {
    /// The window's deletions exceed `max_count`.
    Count,
    /// The window's deletions exceed `max_share` of the copies.
    Share,
    /// A hold of the collection is waiting already.
    PendingHold,
}

/// The brake's decision on one batch of deletions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Braked<T> {
    pub run: Vec<T>,
    pub held: Vec<T>,
    pub cause: Option<HoldCause>,
}

impl BrakePolicy {
    /// Whether `deletions` within one window, out of `synced_copies`,
    /// are more than may run unasked. Also what `sync off` and the other
    /// explicit deletions use to decide whether to ask first.
    pub fn trips(&self, deletions: u64, synced_copies: u64) -> Option<HoldCause> {
        if deletions <= self.min_count {
            None
        } else if deletions > self.max_count {
            Some(HoldCause::Count)
        } else if deletions as f64 > self.max_share * synced_copies as f64 {
            Some(HoldCause::Share)
        } else {
            None
        }
    }
}

/// Decides whether the deletions `planned` run now or are held: all of a
/// batch go one way, so a hold holds everything that tripped it.
pub fn brake<T>(planned: Vec<T>, history: BrakeHistory, policy: &BrakePolicy) -> Braked<T> {
    if planned.is_empty() {
        return Braked {
            run: planned,
            held: Vec::new(),
            cause: None,
        };
    }
    let cause = if history.hold_pending {
        Some(HoldCause::PendingHold)
    } else {
        let total = (history.recent + planned.len() as u64).saturating_sub(history.allowance);
        policy.trips(total, history.synced_copies)
    };
    match cause {
        Some(_) => Braked {
            run: Vec::new(),
            held: planned,
            cause,
        },
        None => Braked {
            run: planned,
            held: Vec::new(),
            cause,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history(synced_copies: u64, recent: u64) -> BrakeHistory {
        BrakeHistory {
            synced_copies,
            recent,
            allowance: 0,
            hold_pending: false,
        }
    }

    fn batch(n: usize) -> Vec<usize> {
        (0..n).collect()
    }

    #[test]
    fn forty_percent_vanished_is_held_five_percent_runs() {
        let policy = BrakePolicy::default();
        let held = brake(batch(80), history(200, 0), &policy);
        assert_eq!((held.run.len(), held.held.len()), (0, 80));
        assert_eq!(held.cause, Some(HoldCause::Share));
        let run = brake(batch(10), history(200, 0), &policy);
        assert_eq!((run.run.len(), run.held.len()), (10, 0));
    }

    /// Five passes of 8 % within the window: the fourth crosses 25 %.
    #[test]
    fn a_slow_drip_adds_up_within_the_window() {
        let policy = BrakePolicy::default();
        let mut recent = 0;
        let mut outcomes = Vec::new();
        for _ in 0..5 {
            let b = brake(batch(16), history(200, recent), &policy);
            outcomes.push(b.held.is_empty());
            recent += 16;
        }
        assert_eq!(outcomes, [true, true, true, false, false]);
    }

    #[test]
    fn more_than_max_count_is_held_whatever_the_share() {
        let policy = BrakePolicy::default();
        let b = brake(batch(501), history(1_000_000, 0), &policy);
        assert_eq!(b.cause, Some(HoldCause::Count));
        assert_eq!(b.held.len(), 501);
        assert!(
            brake(batch(500), history(1_000_000, 0), &policy)
                .held
                .is_empty()
        );
    }

    #[test]
    fn a_few_deletions_in_a_small_collection_run() {
        let policy = BrakePolicy::default();
        assert!(brake(batch(3), history(4, 0), &policy).held.is_empty());
        assert!(brake(batch(10), history(10, 0), &policy).held.is_empty());
        assert!(!brake(batch(11), history(20, 0), &policy).held.is_empty());
    }

    #[test]
    fn a_pending_hold_takes_every_new_deletion() {
        let policy = BrakePolicy::default();
        let pending = BrakeHistory {
            hold_pending: true,
            ..history(1000, 0)
        };
        let b = brake(batch(1), pending, &policy);
        assert_eq!(b.cause, Some(HoldCause::PendingHold));
        assert_eq!(b.held, vec![0]);
    }

    #[test]
    fn confirmed_deletions_pass() {
        let policy = BrakePolicy::default();
        let allowed = BrakeHistory {
            allowance: 150,
            ..history(200, 0)
        };
        assert!(brake(batch(150), allowed, &policy).held.is_empty());
        // Past the allowance, the rest counts as ever.
        assert!(!brake(batch(220), allowed, &policy).held.is_empty());
    }

    #[test]
    fn nothing_planned_decides_nothing() {
        let b = brake(
            Vec::<u8>::new(),
            history(0, 10_000),
            &BrakePolicy::default(),
        );
        assert_eq!(b.cause, None);
        assert!(b.run.is_empty() && b.held.is_empty());
    }
}
