//! The job state machine: every legal transition, once, in [`JobState::next`].
//! The store applies a transition in one SQL statement guarded by the state
//! it came from, so two actors can never both move one job.
//!
//! ```text
//!            Claimed              Succeeded
//!  Queued ───────────▶ Running ─────────────▶ Done
//!    ▲  │                │ │ │
//!    │  │ Cancelled      │ │ └─ PermanentFailure ─▶ Failed ──Retried──▶ Queued
//!    │  ▼                │ └─── Cancelled ────────▶ Cancelled
//!    │ Cancelled         │
//!    └── TransientFailure (backoff) / Deferred (offline) / Interrupted (pause, crash) ──┘
//! ```
//! A failed or cancelled job can be retried on request; done is final.

use std::fmt;

/// Milliseconds since the Unix epoch.
pub type TimestampMs = i64;

/// Where a job is, with what that state needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobState {
    /// Waiting to run, not before `not_before`.
    Queued {
        not_before: TimestampMs,
    },
    Running {
        since: TimestampMs,
    },
    Done {
        at: TimestampMs,
    },
    /// Gave up; `reason` says why in words a user can act on.
    Failed {
        at: TimestampMs,
        reason: String,
    },
    Cancelled {
        at: TimestampMs,
        reason: String,
    },
}

/// What happened to a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobEvent {
    /// A worker took it.
    Claimed,
    Succeeded,
    /// A fault worth retrying; run again at `retry_at`.
    TransientFailure {
        reason: String,
        retry_at: TimestampMs,
    },
    /// The remote or the photo's root is offline (an unmounted NAS or
    /// disk): wait for it without spending an attempt, so a share that is
    /// off overnight does not turn jobs into failures.
    Deferred {
        reason: String,
        retry_at: TimestampMs,
    },
    /// A fault retrying cannot fix (or attempts are exhausted).
    PermanentFailure {
        reason: String,
    },
    /// Stopped by a pause or a crash through no fault of its own: back to
    /// the queue at once, no attempt counted.
    Interrupted,
    /// Dropped by `cancel`, `sync off`, or because it is no longer wanted.
    Cancelled {
        reason: String,
    },
    /// The user asked to run a failed or cancelled job again.
    Retried,
}

impl JobEvent {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Claimed => "claimed",
            Self::Succeeded => "succeeded",
            Self::TransientFailure { .. } => "transient-failure",
            Self::Deferred { .. } => "deferred",
            Self::PermanentFailure { .. } => "permanent-failure",
            Self::Interrupted => "interrupted",
            Self::Cancelled { .. } => "cancelled",
            Self::Retried => "retried",
        }
    }
}

/// A transition the state machine does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a {from} job cannot be {event}")]
pub struct IllegalTransition {
    pub from: &'static str,
    pub event: &'static str,
}

impl JobState {
    /// The state's name, as stored and shown.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Queued { .. } => "queued",
            Self::Running { .. } => "running",
            Self::Done { .. } => "done",
            Self::Failed { .. } => "failed",
            Self::Cancelled { .. } => "cancelled",
        }
    }

    /// True while the job still has work to do.
    pub fn is_live(&self) -> bool {
        matches!(self, Self::Queued { .. } | Self::Running { .. })
    }

    /// The only transition function.
    pub fn next(&self, event: JobEvent, now: TimestampMs) -> Result<Self, IllegalTransition> {
        use JobEvent as E;
        use JobState as S;
        match (self, event) {
            (S::Queued { .. }, E::Claimed) => Ok(S::Running { since: now }),
            (S::Queued { .. }, E::Cancelled { reason }) => Ok(S::Cancelled { at: now, reason }),
            (S::Running { .. }, E::Succeeded) => Ok(S::Done { at: now }),
            (S::Running { .. }, E::TransientFailure { retry_at, .. })
            | (S::Running { .. }, E::Deferred { retry_at, .. }) => Ok(S::Queued {
                not_before: retry_at,
            }),
            (S::Running { .. }, E::PermanentFailure { reason }) => {
                Ok(S::Failed { at: now, reason })
            }
            (S::Running { .. }, E::Interrupted) => Ok(S::Queued { not_before: now }),
            (S::Running { .. }, E::Cancelled { reason }) => Ok(S::Cancelled { at: now, reason }),
            (S::Failed { .. } | S::Cancelled { .. }, E::Retried) => {
                Ok(S::Queued { not_before: now })
            }
            (from, event) => Err(IllegalTransition {
                from: from.name(),
                event: event.name(),
            }),
        }
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn states() -> Vec<JobState> {
        vec![
            JobState::Queued { not_before: 0 },
            JobState::Running { since: 0 },
            JobState::Done { at: 0 },
            JobState::Failed {
                at: 0,
                reason: "r".into(),
            },
            JobState::Cancelled {
                at: 0,
                reason: "r".into(),
            },
        ]
    }

    fn events() -> Vec<JobEvent> {
        vec![
            JobEvent::Claimed,
            JobEvent::Succeeded,
            JobEvent::TransientFailure {
                reason: "t".into(),
                retry_at: 50,
            },
            JobEvent::Deferred {
                reason: "d".into(),
                retry_at: 50,
            },
            JobEvent::PermanentFailure { reason: "p".into() },
            JobEvent::Interrupted,
            JobEvent::Cancelled { reason: "c".into() },
            JobEvent::Retried,
        ]
    }

    /// Every (state, event) pair, with the expected outcome.
    #[test]
    fn transition_table_is_exactly_this() {
        let expected: &[(&str, &str, Option<&str>)] = &[
            ("queued", "claimed", Some("running")),
            ("queued", "cancelled", Some("cancelled")),
            ("running", "succeeded", Some("done")),
            ("running", "transient-failure", Some("queued")),
            ("running", "deferred", Some("queued")),
            ("running", "permanent-failure", Some("failed")),
            ("running", "interrupted", Some("queued")),
            ("running", "cancelled", Some("cancelled")),
            ("failed", "retried", Some("queued")),
            ("cancelled", "retried", Some("queued")),
        ];
        for state in states() {
            for event in events() {
                let want = expected
                    .iter()
                    .find(|(s, e, _)| *s == state.name() && *e == event.name())
                    .and_then(|(_, _, to)| *to);
                let got = state.next(event.clone(), 10).ok();
                assert_eq!(
                    got.as_ref().map(JobState::name),
                    want,
                    "{} + {}",
                    state.name(),
                    event.name()
                );
            }
        }
    }

    #[test]
    fn transient_failure_waits_for_its_retry_time() {
        let next = JobState::Running { since: 0 }
            .next(
                JobEvent::TransientFailure {
                    reason: "503".into(),
                    retry_at: 1234,
                },
                10,
            )
            .unwrap();
        assert_eq!(next, JobState::Queued { not_before: 1234 });
    }

    #[test]
    fn failure_keeps_its_reason() {
        let next = JobState::Running { since: 0 }
            .next(
                JobEvent::PermanentFailure {
                    reason: "permission denied".into(),
                },
                10,
            )
            .unwrap();
        assert_eq!(
            next,
            JobState::Failed {
                at: 10,
                reason: "permission denied".into()
            }
        );
    }

    #[test]
    fn illegal_transition_names_both_sides() {
        let err = JobState::Done { at: 0 }
            .next(JobEvent::Claimed, 1)
            .unwrap_err();
        assert_eq!(err.to_string(), "a done job cannot be claimed");
    }
}
