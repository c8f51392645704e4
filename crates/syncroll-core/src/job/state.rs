//! The job state machine: every legal transition, once, in [`JobState::next`].
//! The store applies a transition in one SQL statement guarded by the state
//! it came from, so two actors can never both move one job.
//!
//! ```text
//!  (brake) Held ──Approved──▶ Queued ◀──── TransientFailure (backoff) / Deferred (offline) /
//!           │ │                 │  ▲             Interrupted (pause, crash) ─────────┐
//!           │ └─Dismissed─┐     │  └──────── Retried ◀── Failed, Cancelled, Dismissed │
//!           │  (rejected) │     │ Claimed                                           │
//!   Cancelled (no longer  │     ▼                  Succeeded                          │
//!    wanted)              │   Running ───────────────────────────────▶ Done          │
//!                         │     │ │ └── PermanentFailure ─▶ Failed                    │
//!                         │     │ └──── Cancelled ───────▶ Cancelled                  │
//!                         │     │ CancelRequested  ───────────────────────────────────┘
//!                         │     ▼
//!                         │   Cancelling ──Succeeded──▶ Done
//!                         ▼     │ any other end
//!                     Dismissed ◀┘
//!
//!   Running ──RemoteChanged──▶ Left ──Retried──▶ Queued
//!                               └──Released──▶ Cancelled (the pull
//!                                   brought the remote's edit home)
//! ```
//! `Left` is an upload the remote's own edit overtook: the remote no longer
//! held the base both sides last agreed on, so nothing was sent over it.
//! A queued job can also be cancelled or dismissed directly. `Dismissed` is
//! a cancel the user asked for (or a held deletion they rejected): the
//! planner does not plan the same work again until `retry` or the photo
//! changes. A failed, cancelled or dismissed job can be retried on request;
//! done is final.

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
    /// Running, and the user asked to cancel it: the worker stops it, or
    /// if its bytes land first it is done after all.
    Cancelling {
        since: TimestampMs,
    },
    /// A deletion the brake stopped, waiting for the user's decision on
    /// hold `hold` (`holds approve` or `holds reject`).
    Held {
        hold: i64,
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
    /// Cancelled by the user, or a held deletion they rejected: not planned
    /// again until `retry` or the photo changes.
    Dismissed {
        at: TimestampMs,
        reason: String,
    },
    /// An upload that found the remote changed since the last sync (its
    /// precondition failed): nothing was sent over the remote's edit. Not
    /// a failure; not planned again until `retry` or the photo changes.
    Left {
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
    /// The user cancelled the job (`cancel`): it is not planned again until
    /// retried. A running job is first asked to stop ([`Self::CancelRequested`]).
    Dismissed {
        reason: String,
    },
    /// The user cancelled a job a worker is running.
    CancelRequested,
    /// The user approved the hold that held this deletion.
    Approved,
    /// What kept a dismissed job's work from being planned again is gone:
    /// the collection's sync was turned off or on, or the photo came back;
    /// or a left upload's key has a new base (a poll brought the remote's
    /// edit home), so what it waited on is settled.
    Released,
    /// The upload's precondition failed: the remote no longer holds the
    /// base, so the local bytes were not sent over the remote's edit.
    RemoteChanged {
        reason: String,
    },
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
            Self::Dismissed { .. } => "dismissed",
            Self::CancelRequested => "cancel-requested",
            Self::Approved => "approved",
            Self::Released => "released",
            Self::RemoteChanged { .. } => "remote-changed",
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

/// Why a job the user cancelled while it ran ended.
pub const CANCELLED_BY_USER: &str = "cancelled by the user";

impl JobState {
    /// Every state's name, as the `state` column holds it.
    pub const NAMES: [&'static str; 9] = [
        "queued",
        "running",
        "cancelling",
        "held",
        "done",
        "failed",
        "cancelled",
        "dismissed",
        "left",
    ];

    /// The state's name, as stored and shown.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Queued { .. } => "queued",
            Self::Running { .. } => "running",
            Self::Cancelling { .. } => "cancelling",
            Self::Held { .. } => "held",
            Self::Done { .. } => "done",
            Self::Failed { .. } => "failed",
            Self::Cancelled { .. } => "cancelled",
            Self::Dismissed { .. } => "dismissed",
            Self::Left { .. } => "left",
        }
    }

    /// True while the job still has work to do (or waits for a decision).
    pub fn is_live(&self) -> bool {
        matches!(
            self,
            Self::Queued { .. }
                | Self::Running { .. }
                | Self::Cancelling { .. }
                | Self::Held { .. }
        )
    }

    /// True while a worker runs the job.
    pub fn is_running(&self) -> bool {
        matches!(self, Self::Running { .. } | Self::Cancelling { .. })
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
            (S::Queued { .. } | S::Running { .. } | S::Held { .. }, E::Dismissed { reason }) => {
                Ok(S::Dismissed { at: now, reason })
            }
            (S::Running { .. }, E::RemoteChanged { reason }) => Ok(S::Left { at: now, reason }),
            (S::Running { since }, E::CancelRequested) => Ok(S::Cancelling { since: *since }),
            (S::Cancelling { .. }, E::Succeeded) => Ok(S::Done { at: now }),
            (S::Cancelling { .. }, E::Dismissed { reason } | E::Cancelled { reason }) => {
                Ok(S::Dismissed { at: now, reason })
            }
            // Whatever else ends the transfer, the user wanted it stopped.
            (
                S::Cancelling { .. },
                E::TransientFailure { .. }
                | E::Deferred { .. }
                | E::PermanentFailure { .. }
                | E::RemoteChanged { .. }
                | E::Interrupted,
            ) => Ok(S::Dismissed {
                at: now,
                reason: CANCELLED_BY_USER.to_owned(),
            }),
            (S::Held { .. }, E::Approved) => Ok(S::Queued { not_before: now }),
            (S::Held { .. }, E::Cancelled { reason }) => Ok(S::Cancelled { at: now, reason }),
            (S::Dismissed { reason, .. } | S::Left { reason, .. }, E::Released) => {
                Ok(S::Cancelled {
                    at: now,
                    reason: reason.clone(),
                })
            }
            (
                S::Failed { .. } | S::Cancelled { .. } | S::Dismissed { .. } | S::Left { .. },
                E::Retried,
            ) => Ok(S::Queued { not_before: now }),
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
            JobState::Cancelling { since: 0 },
            JobState::Held { hold: 1 },
            JobState::Done { at: 0 },
            JobState::Failed {
                at: 0,
                reason: "r".into(),
            },
            JobState::Cancelled {
                at: 0,
                reason: "r".into(),
            },
            JobState::Dismissed {
                at: 0,
                reason: "r".into(),
            },
            JobState::Left {
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
            JobEvent::Dismissed { reason: "u".into() },
            JobEvent::CancelRequested,
            JobEvent::Approved,
            JobEvent::Released,
            JobEvent::RemoteChanged { reason: "e".into() },
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
            ("running", "dismissed", Some("dismissed")),
            ("running", "cancel-requested", Some("cancelling")),
            ("queued", "dismissed", Some("dismissed")),
            ("cancelling", "succeeded", Some("done")),
            ("cancelling", "transient-failure", Some("dismissed")),
            ("cancelling", "deferred", Some("dismissed")),
            ("cancelling", "permanent-failure", Some("dismissed")),
            ("cancelling", "interrupted", Some("dismissed")),
            ("cancelling", "cancelled", Some("dismissed")),
            ("cancelling", "dismissed", Some("dismissed")),
            ("held", "approved", Some("queued")),
            ("held", "cancelled", Some("cancelled")),
            ("held", "dismissed", Some("dismissed")),
            ("failed", "retried", Some("queued")),
            ("cancelled", "retried", Some("queued")),
            ("dismissed", "retried", Some("queued")),
            ("dismissed", "released", Some("cancelled")),
            ("running", "remote-changed", Some("left")),
            ("cancelling", "remote-changed", Some("dismissed")),
            ("left", "retried", Some("queued")),
            ("left", "released", Some("cancelled")),
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
    fn every_state_name_is_listed() {
        let names: Vec<&str> = states().iter().map(JobState::name).collect();
        assert_eq!(names, JobState::NAMES);
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
