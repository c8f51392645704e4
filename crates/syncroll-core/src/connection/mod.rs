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
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::types::CollectionId;

pub use decide::{
    Action, Base, Expect, KeyState, Landing, LocalSide, Policy, RemoteSide, Why, bare_etag,
};
pub use names::{
    CaseFolds, HostileName, NameRules, check_remote_name, conflict_copy_name, edit_copy_name,
    same_but_case,
};

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

    /// "versions" or "copies", for sentences.
    pub fn plural(self) -> &'static str {
        match self {
            Self::Version => "versions",
            Self::Copy => "copies",
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
/// (or takes the default for a new one). `returns` has no default: a new
/// connection must name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectRequest {
    pub direction: Direction,
    pub returns: Option<ReturnMode>,
    pub inbox: Option<PathBuf>,
    pub poll: Option<Duration>,
}

/// What a connection is set to once `connect` has run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub direction: Direction,
    pub returns: ReturnMode,
    pub inbox: PathBuf,
    pub poll: Duration,
}

/// The settings `request` gives a collection connected as `existing` (or
/// not yet), `default_inbox` standing in when neither names one. The
/// direction, inbox and poll interval can change; the return mode cannot.
pub fn settle(
    existing: Option<&Connection>,
    request: &ConnectRequest,
    default_inbox: &Path,
) -> Result<Settings> {
    if let Some(poll) = request.poll {
        check_poll(poll)?;
    }
    let returns = match (existing, request.returns) {
        (Some(current), Some(asked)) if current.returns != asked => {
            return Err(Error::ReturnsFixed {
                collection: current.collection_name.clone(),
                current: current.returns.as_str(),
                asked: asked.plural(),
            });
        }
        (_, Some(asked)) => asked,
        // Changing the direction (or inbox, or poll) keeps the mode.
        (Some(current), None) => current.returns,
        (None, None) => return Err(Error::ReturnsRequired),
    };
    let inbox = request
        .inbox
        .clone()
        .or_else(|| existing.map(|c| c.inbox.clone()))
        .unwrap_or_else(|| default_inbox.to_path_buf());
    let poll = request
        .poll
        .or_else(|| existing.map(|c| c.poll))
        .unwrap_or(DEFAULT_POLL);
    Ok(Settings {
        direction: request.direction,
        returns,
        inbox,
        poll,
    })
}

/// A poll interval within [`MIN_POLL`] and [`MAX_POLL`], whole seconds.
pub fn check_poll(poll: Duration) -> Result<()> {
    if poll < MIN_POLL || poll > MAX_POLL || poll.subsec_nanos() != 0 {
        return Err(Error::PollOutOfRange {
            seconds: poll.as_secs_f64(),
        });
    }
    Ok(())
}

/// The root `inbox` lies under (both resolved), or the error naming the
/// inbox and every root.
pub fn inbox_root<'a>(inbox: &Path, roots: &'a [PathBuf]) -> Result<&'a Path> {
    roots
        .iter()
        .find(|root| inbox.starts_with(root))
        .map(PathBuf::as_path)
        .ok_or_else(|| Error::InboxOutsideRoots {
            path: inbox.to_path_buf(),
            roots: roots
                .iter()
                .map(|r| r.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn existing(returns: ReturnMode) -> Connection {
        Connection {
            collection_id: CollectionId(1),
            collection_name: "Trip".into(),
            remote_name: "nas".into(),
            direction: Direction::Both,
            returns,
            inbox: "/p/Trip".into(),
            poll: Duration::from_secs(300),
            created_at_ms: 0,
            last_polled_at_ms: None,
            last_poll_outcome: String::new(),
        }
    }

    fn request(direction: Direction, returns: ReturnMode) -> ConnectRequest {
        ConnectRequest {
            direction,
            returns: Some(returns),
            inbox: None,
            poll: None,
        }
    }

    #[test]
    fn a_new_connection_takes_the_defaults() {
        let settings = settle(
            None,
            &request(Direction::Pull, ReturnMode::Copy),
            Path::new("/p/Trip"),
        )
        .unwrap();
        assert_eq!(settings.poll, DEFAULT_POLL);
        assert_eq!(settings.inbox, Path::new("/p/Trip"));
    }

    #[test]
    fn the_direction_can_change_and_the_rest_is_kept() {
        let current = existing(ReturnMode::Version);
        let settings = settle(
            Some(&current),
            &request(Direction::Push, ReturnMode::Version),
            Path::new("/elsewhere"),
        )
        .unwrap();
        assert_eq!(settings.direction, Direction::Push);
        assert_eq!(settings.inbox, current.inbox);
        assert_eq!(settings.poll, current.poll);
    }

    #[test]
    fn the_return_mode_cannot_change() {
        let current = existing(ReturnMode::Version);
        let error = settle(
            Some(&current),
            &request(Direction::Both, ReturnMode::Copy),
            Path::new("/p"),
        )
        .unwrap_err();
        let message = error.to_string();
        assert!(message.contains("--returns version"), "{message}");
        assert!(message.contains("\"Trip\""), "{message}");
        assert!(message.contains("edits as copies"), "{message}");
    }

    #[test]
    fn the_return_mode_is_kept_when_left_out_and_needed_for_a_new_connection() {
        let current = existing(ReturnMode::Copy);
        let keep = ConnectRequest {
            returns: None,
            ..request(Direction::Pull, ReturnMode::Copy)
        };
        let settings = settle(Some(&current), &keep, Path::new("/p")).unwrap();
        assert_eq!(settings.returns, ReturnMode::Copy);
        assert_eq!(settings.direction, Direction::Pull);
        let message = settle(None, &keep, Path::new("/p"))
            .unwrap_err()
            .to_string();
        assert!(message.contains("needs --returns"), "{message}");
    }

    #[test]
    fn poll_intervals_outside_the_bounds_are_refused() {
        assert!(check_poll(Duration::from_secs(10)).is_ok());
        assert!(check_poll(Duration::from_secs(86_400)).is_ok());
        let message = check_poll(Duration::from_secs(5)).unwrap_err().to_string();
        assert!(message.contains("5s"), "{message}");
        assert!(check_poll(Duration::from_secs(86_401)).is_err());
        assert!(check_poll(Duration::from_millis(10_500)).is_err());
    }

    #[test]
    fn an_inbox_must_lie_under_a_root() {
        let roots = vec![PathBuf::from("/p"), PathBuf::from("/q")];
        assert_eq!(
            inbox_root(Path::new("/q/in"), &roots).unwrap(),
            Path::new("/q")
        );
        // Whole components: /pp is not under /p.
        let message = inbox_root(Path::new("/pp/in"), &roots)
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("/pp/in") && message.contains("/p, /q"),
            "{message}"
        );
    }
}
