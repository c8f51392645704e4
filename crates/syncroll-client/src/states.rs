//! The daemon's states as Rust enums, converted from the wire's strings.
//! A value this client does not know is [`ClientError::Unknown`], never a
//! silent default.

use std::fmt;
use std::str::FromStr;

use crate::error::ClientError;
use crate::pb;

/// Sync as a whole (`status`, `watch`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncState {
    /// Nothing queued or running.
    Idle,
    Syncing,
    /// Paused until Unix second `until`, or until resumed (`None`).
    Paused {
        until: Option<i64>,
    },
}

impl SyncState {
    /// The state of a [`pb::SyncStatus`].
    pub fn of(status: &pb::SyncStatus) -> Result<Self, ClientError> {
        match status.state.as_str() {
            "idle" => Ok(Self::Idle),
            "syncing" => Ok(Self::Syncing),
            "paused" => Ok(Self::Paused {
                until: (status.paused_until > 0).then_some(status.paused_until),
            }),
            other => Err(unknown("sync state", other)),
        }
    }
}

/// A root (catalog folder).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootState {
    Online,
    /// Gone, unreadable or not the folder added; its photos are kept.
    Missing {
        reason: String,
    },
}

impl RootState {
    /// The state of a [`pb::Root`].
    pub fn of(root: &pb::Root) -> Result<Self, ClientError> {
        match root.state.as_str() {
            "online" => Ok(Self::Online),
            "missing" => Ok(Self::Missing {
                reason: root.missing_reason.clone(),
            }),
            other => Err(unknown("root state", other)),
        }
    }
}

/// Generates a string-backed state enum with `FromStr`, `as_str` and
/// `Display`, so each name is written once.
macro_rules! named_states {
    ($(#[$doc:meta])* $name:ident, $what:literal { $($(#[$vdoc:meta])* $variant:ident = $text:literal,)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)*
        }

        impl $name {
            /// Every state, in the order the daemon documents them.
            pub const ALL: &[Self] = &[$(Self::$variant,)*];

            /// The wire's (and the CLI's) name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)*
                }
            }
        }

        impl FromStr for $name {
            type Err = ClientError;

            fn from_str(text: &str) -> Result<Self, ClientError> {
                match text {
                    $($text => Ok(Self::$variant),)*
                    other => Err(unknown($what, other)),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

named_states!(
    /// A job of the queue (see `docs/job-states.md`), or a photo skipped
    /// instead of queued.
    JobState, "job state" {
        Queued = "queued",
        Running = "running",
        /// A cancel was asked while it ran.
        Cancelling = "cancelling",
        /// A deletion held by the brake.
        Held = "held",
        Done = "done",
        Failed = "failed",
        Cancelled = "cancelled",
        /// Cancelled by the user (or a rejected hold): not planned again
        /// until `retry`.
        Dismissed = "dismissed",
        /// The remote changed since the last sync: left as it is.
        Left = "left",
        /// No remote can hold the photo's key; no job exists.
        Skipped = "skipped",
    }
);

named_states!(
    /// Deletions held by the brake.
    HoldState, "hold state" {
        Pending = "pending",
        Approved = "approved",
        Rejected = "rejected",
        /// The photos came back, or sync was turned off keeping the copies.
        Withdrawn = "withdrawn",
    }
);

fn unknown(what: &'static str, value: &str) -> ClientError {
    ClientError::Unknown {
        what,
        value: value.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_named_state_reads_back_from_its_name() {
        for state in JobState::ALL {
            assert_eq!(state.as_str().parse::<JobState>().unwrap(), *state);
        }
        for state in HoldState::ALL {
            assert_eq!(state.as_str().parse::<HoldState>().unwrap(), *state);
        }
        assert!(matches!(
            "exploded".parse::<JobState>(),
            Err(ClientError::Unknown { .. })
        ));
    }

    #[test]
    fn a_pause_until_resumed_has_no_deadline() {
        let status = |state: &str, paused_until| pb::SyncStatus {
            state: state.to_owned(),
            paused_until,
            ..Default::default()
        };
        assert_eq!(
            SyncState::of(&status("paused", 0)).unwrap(),
            SyncState::Paused { until: None }
        );
        assert_eq!(
            SyncState::of(&status("paused", 99)).unwrap(),
            SyncState::Paused { until: Some(99) }
        );
        assert_eq!(SyncState::of(&status("idle", 0)).unwrap(), SyncState::Idle);
    }
}
