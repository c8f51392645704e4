//! Connections: a collection tied to its remote album in one or both
//! directions (`syncroll connect`), what a connection is set to, and the
//! pure rules the pull engine runs over each key ([`decide`]) and the
//! names it gives what comes home ([`names`]).
//!
//! Architecture invariant: nothing here does I/O. The daemon lists the
//! remote, reads the catalog and the ledger's base, and hands the states
//! in; [`decide::decide`] answers what to do with one key.

pub mod decide;
pub mod names;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::types::CollectionId;

pub use decide::{Action, Base, Expect, KeyState, Landing, LocalSide, Policy, RemoteSide, Why};
pub use names::{HostileName, NameRules, check_remote_name, conflict_copy_name, edit_copy_name};

/// Which way changes travel between a collection and its remote album.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Local changes go out; nothing comes home (today's sync).
    Push,
    /// Remote changes come home; local changes are not sent.
    Pull,
    /// Both.
    Both,
}

impl Direction {
    pub const NAMES: [&'static str; 3] = ["push", "pull", "both"];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Push => "push",
            Self::Pull => "pull",
            Self::Both => "both",
        }
    }

    /// The name as the CLI and the database spell it.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "push" => Some(Self::Push),
            "pull" => Some(Self::Pull),
            "both" => Some(Self::Both),
            _ => None,
        }
    }

    /// Local changes are sent to the remote.
    pub fn pushes(self) -> bool {
        matches!(self, Self::Push | Self::Both)
    }

    /// Remote changes are brought home (the remote folder is polled).
    pub fn pulls(self) -> bool {
        matches!(self, Self::Pull | Self::Both)
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a remote edit of a synced photo comes home. Fixed once the
/// connection exists: switching would leave earlier edits in one form and
/// later ones in the other, which no user could follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReturnMode {
    /// The local file takes the new bytes; the bytes it held are kept in
    /// the version store first.
    Version,
    /// The edit is saved beside the original as `NAME (edit N).EXT`.
    Copy,
}

impl ReturnMode {
    pub const NAMES: [&'static str; 2] = ["version", "copy"];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Version => "version",
            Self::Copy => "copy",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "version" => Some(Self::Version),
            "copy" => Some(Self::Copy),
            _ => None,
        }
    }
}

impl fmt::Display for ReturnMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How often a pulling connection lists its remote folder, by default.
pub const DEFAULT_POLL: Duration = Duration::from_secs(60);
/// The shortest poll interval: a listing of a large album costs requests,
/// and a server that rate-limits would see a tighter loop as abuse.
pub const MIN_POLL: Duration = Duration::from_secs(10);
/// The longest: a connection polled less than daily reads as broken.
pub const MAX_POLL: Duration = Duration::from_secs(24 * 3600);

/// A collection's connection as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub collection_id: CollectionId,
    pub collection_name: String,
    pub remote_name: String,
    pub direction: Direction,
    pub returns: ReturnMode,
    /// Where new remote files of a manual collection land; a folder
    /// collection's land at their matching path under its folder, which
    /// is then its inbox.
    pub inbox: PathBuf,
    pub poll: Duration,
    /// Unix ms.
    pub created_at_ms: i64,
    /// Unix ms of the last finished poll; `None` before the first.
    pub last_polled_at_ms: Option<i64>,
    /// What the last poll did or why it failed, in words; empty before
    /// the first.
    pub last_poll_outcome: String,
}

/// What `connect` asks for: `None` keeps what an existing connection has
/// (or takes the default for a new one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectRequest {
    pub direction: Direction,
    pub returns: ReturnMode,
    pub inbox: Option<PathBuf>,
    pub poll: Option<Duration>,
}
