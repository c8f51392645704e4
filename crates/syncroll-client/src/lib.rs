//! A client of `syncrolld`, for the CLI, the tray helper and any Rust
//! program: [`locate`] finds the daemon's socket (the same rule the daemon
//! binds by), [`Client`] connects and offers typed calls, [`states`] and
//! [`events`] are the daemon's states and events as Rust enums.
//!
//! API boundary: this crate knows nothing of SQLite, remotes or the
//! daemon's internals; it speaks only the control API (`syncroll.v1`). No
//! sentinel values cross it: "every collection" and "until resumed" are
//! `None`, an unknown state from a newer daemon is an error, not a guess.

pub mod client;
pub mod error;
pub mod events;
pub mod locate;
pub mod states;

pub use client::Client;
pub use error::ClientError;
pub use events::{Event, EventKind, EventStream, FeedItem, PauseChange};
pub use states::{HoldState, JobState, RootState, SyncState};
/// The generated types, for calls this crate does not wrap (yet).
pub use syncroll_proto::v1 as pb;
