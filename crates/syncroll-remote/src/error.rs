//! The one error type of every remote, and its classification into transient
//! faults (worth retrying later) and permanent ones (need a user's action).
//!
//! Messages name the key or path and say what a user can do, because they end
//! up verbatim in `syncroll status` and `syncroll jobs`.

use std::io;
use std::path::{Path, PathBuf};

/// Everything a remote can refuse or fail at.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The key breaks the key rules (see [`validate_key`](crate::validate_key)).
    #[error("invalid remote key {}: {reason}", shown(.key))]
    InvalidKey { key: String, reason: &'static str },
    /// The remote cannot be reached at all, e.g. its folder is missing because
    /// the NAS is not mounted. Transient.
    #[error("the remote is unavailable: {detail}; mount or reconnect it and syncroll retries")]
    Unavailable { detail: String },
    /// The remote refuses access to `key` (no write permission, read-only
    /// file system, S3 credentials or bucket policy refused). Permanent until
    /// someone changes the permissions; `detail` says what to change.
    #[error("permission denied for {key:?} on the remote: {detail}")]
    PermissionDenied { key: String, detail: String },
    /// The local file to upload is gone (deleted or renamed since it was
    /// scanned). Permanent: the scanner notices and the planner re-plans.
    #[error("{} disappeared before it could be uploaded; a rescan picks it up if it comes back", .path.display())]
    SourceVanished { path: PathBuf },
    /// The local file to upload exists but cannot be read.
    #[error("cannot read {}: {source}; check that syncroll's user can read it", .path.display())]
    SourceUnreadable {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The remote is full (or over quota) while writing `key`. Transient.
    #[error("no space left on the remote for {key:?}; free some space there and syncroll retries")]
    NoSpace { key: String },
    /// The object to copy from is not on the remote. Permanent: the caller's
    /// idea of the remote is stale and a fresh upload is needed instead.
    #[error("{key:?} is not on the remote (it may have been removed by hand)")]
    NotFound { key: String },
    /// Storing `key` would go through a symbolic link inside the remote
    /// folder, which could lead anywhere on the machine. Permanent.
    #[error(
        "{key:?} would leave the remote folder through the symbolic link {}; remove the link or choose another remote folder",
        .path.display()
    )]
    OutsideRoot { key: String, path: PathBuf },
    /// A file sits where `key` needs a folder. Permanent.
    #[error("cannot store {key:?}: {} is a file where a folder is needed; move it out of the way", .path.display())]
    NotAFolder { key: String, path: PathBuf },
    /// A remote's settings are unusable: `field` holds `value`, which breaks
    /// `reason`. Permanent until the settings change. Secrets are never
    /// echoed: their `value` is `***`.
    #[error("invalid remote setting {field} = {}: {reason}", shown(.value))]
    InvalidSettings {
        field: &'static str,
        value: String,
        reason: &'static str,
    },
    /// The remote's bucket does not exist (S3 `NoSuchBucket`). Permanent:
    /// syncroll never creates buckets, just as it never creates an `fs`
    /// remote's root folder.
    #[error(
        "the bucket {} does not exist on the remote; create it or correct the bucket name in the remote's settings",
        shown(.bucket)
    )]
    BucketMissing { bucket: String },
    /// The server is busy or in maintenance (429 or 503) and said how long
    /// to wait (`Retry-After`). Transient; the wait is the server's to set,
    /// so waiting it out is not a failed attempt.
    #[error("the remote asked syncroll to wait {}s ({detail}); it retries then", .retry_after.as_secs())]
    Busy {
        detail: String,
        retry_after: std::time::Duration,
    },
    /// The object under `key` is not the version the caller based its
    /// request on (a conditional upload found a remote edit, or a download
    /// found the object changed since it was listed). Permanent for this
    /// request: the caller lists again and decides (a conflict, not a retry).
    #[error("{key:?} changed on the remote since syncroll last saw it ({detail})")]
    PreconditionFailed { key: String, detail: String },
    /// A download would replace the local file `path`, which the caller did
    /// not allow. Permanent: the local file is never overwritten unseen.
    #[error("{} already exists; syncroll does not overwrite it with a download", .path.display())]
    DestinationExists { path: PathBuf },
    /// The local disk is full while a download writes `path`. Transient:
    /// nothing partial is left in its place.
    #[error("no space left on the local disk for {}; free some space and syncroll retries", .path.display())]
    LocalNoSpace { path: PathBuf },
    /// A download cannot write `path` locally for another reason.
    #[error("cannot {action} {} for a download: {source}", .path.display())]
    LocalWrite {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The caller's cancellation token fired; nothing was left under the key.
    #[error("the transfer was cancelled")]
    Cancelled,
    /// The upload's progress could not be recorded (the caller's
    /// [`UploadJournal`](crate::UploadJournal) failed). Transient: the
    /// upload stops rather than send parts nobody could resume or abort.
    #[error(transparent)]
    Journal(#[from] crate::JournalError),
    /// Any other I/O fault while doing `action` on `key`. Transient unless the
    /// underlying error is clearly permanent (see [`RemoteError::is_transient`]).
    #[error("cannot {action} {key:?} on the remote: {source}")]
    Io {
        action: &'static str,
        key: String,
        #[source]
        source: io::Error,
    },
}

/// The most characters of a setting or key a message echoes.
const MAX_SHOWN_CHARS: usize = 200;

/// `value` as `{:?}` shows it, cut after [`MAX_SHOWN_CHARS`] characters
/// with its length named: a 1 MiB setting sent over the API gets a short
/// error back. (The same rule as `syncroll_core::quoted`, which this crate
/// does not depend on.)
fn shown(value: &str) -> String {
    match value.char_indices().nth(MAX_SHOWN_CHARS) {
        None => format!("{value:?}"),
        Some((cut, _)) => {
            let head = format!("{:?}", &value[..cut]);
            let total = value.chars().count();
            format!("{}…\" ({total} characters)", &head[..head.len() - 1])
        }
    }
}

impl RemoteError {
    /// Whether the same request may succeed later without anyone changing
    /// anything (a remount, freed space, a network blip). Only classifies:
    /// whether and when to retry is the job state machine's decision.
    /// [`RemoteError::Cancelled`] is neither; test [`RemoteError::is_cancelled`] first.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unavailable { .. }
            | Self::NoSpace { .. }
            | Self::Journal(_)
            | Self::Busy { .. }
            | Self::LocalNoSpace { .. } => true,
            Self::Io { source, .. }
            | Self::SourceUnreadable { source, .. }
            | Self::LocalWrite { source, .. } => !is_permanent_io(source),
            Self::InvalidKey { .. }
            | Self::PermissionDenied { .. }
            | Self::SourceVanished { .. }
            | Self::NotFound { .. }
            | Self::OutsideRoot { .. }
            | Self::NotAFolder { .. }
            | Self::InvalidSettings { .. }
            | Self::BucketMissing { .. }
            | Self::PreconditionFailed { .. }
            | Self::DestinationExists { .. }
            | Self::Cancelled => false,
        }
    }

    /// How long the server asked to be left alone, if it did.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            Self::Busy { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }

    /// Whether the remote held another version than the request was based
    /// on: for the caller a conflict to resolve, not a fault.
    pub fn is_precondition_failed(&self) -> bool {
        matches!(self, Self::PreconditionFailed { .. })
    }

    /// Whether this is the caller's own cancellation rather than a fault.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, Self::Cancelled)
    }
}

/// Classifies an error reading the local file being uploaded: gone (the
/// scanner will notice) or unreadable.
pub(crate) fn source_error(path: &Path, err: io::Error) -> RemoteError {
    match err.kind() {
        io::ErrorKind::NotFound => RemoteError::SourceVanished {
            path: path.to_owned(),
        },
        _ => RemoteError::SourceUnreadable {
            path: path.to_owned(),
            source: err,
        },
    }
}

/// Classifies an error writing the local file a download lands in.
pub(crate) fn local_write_error(action: &'static str, path: &Path, err: io::Error) -> RemoteError {
    match err.kind() {
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => RemoteError::LocalNoSpace {
            path: path.to_owned(),
        },
        _ => RemoteError::LocalWrite {
            action,
            path: path.to_owned(),
            source: err,
        },
    }
}

/// I/O errors that repeat identically until someone changes the file system:
/// retrying them only delays the report to the user.
fn is_permanent_io(err: &io::Error) -> bool {
    use io::ErrorKind as K;
    matches!(
        err.kind(),
        K::PermissionDenied
            | K::ReadOnlyFilesystem
            | K::NotADirectory
            | K::IsADirectory
            | K::InvalidFilename
            | K::InvalidInput
            | K::InvalidData
            | K::Unsupported
            | K::FileTooLarge
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn io(kind: io::ErrorKind) -> RemoteError {
        RemoteError::Io {
            action: "write",
            key: "a/b.jpg".into(),
            source: kind.into(),
        }
    }

    #[test]
    fn a_huge_setting_is_echoed_cut_with_its_length() {
        let err = RemoteError::InvalidSettings {
            field: "endpoint",
            value: format!("http://{}", "x".repeat(1 << 20)),
            reason: "not a URL",
        };
        let message = err.to_string();
        assert!(message.len() < 300, "{message}");
        assert!(message.contains("…\" (1048583 characters)"), "{message}");
        let short = RemoteError::InvalidSettings {
            field: "endpoint",
            value: "a\nb".into(),
            reason: "not a URL",
        };
        assert_eq!(
            short.to_string(),
            "invalid remote setting endpoint = \"a\\nb\": not a URL"
        );
    }

    #[test]
    fn classification_matches_the_documented_table() {
        let key = || "a/b.jpg".to_owned();
        let path = || PathBuf::from("/photos/b.jpg");
        let cases = [
            (
                RemoteError::InvalidKey {
                    key: key(),
                    reason: "r",
                },
                false,
            ),
            (RemoteError::Unavailable { detail: "d".into() }, true),
            (
                RemoteError::PermissionDenied {
                    key: key(),
                    detail: "d".into(),
                },
                false,
            ),
            (RemoteError::SourceVanished { path: path() }, false),
            (RemoteError::NoSpace { key: key() }, true),
            (RemoteError::NotFound { key: key() }, false),
            (
                RemoteError::OutsideRoot {
                    key: key(),
                    path: path(),
                },
                false,
            ),
            (
                RemoteError::NotAFolder {
                    key: key(),
                    path: path(),
                },
                false,
            ),
            (
                RemoteError::InvalidSettings {
                    field: "bucket",
                    value: "B".into(),
                    reason: "r",
                },
                false,
            ),
            (
                RemoteError::BucketMissing {
                    bucket: "photos".into(),
                },
                false,
            ),
            (RemoteError::Cancelled, false),
            (
                RemoteError::PreconditionFailed {
                    key: key(),
                    detail: "d".into(),
                },
                false,
            ),
            (RemoteError::DestinationExists { path: path() }, false),
            (RemoteError::LocalNoSpace { path: path() }, true),
            (
                RemoteError::LocalWrite {
                    action: "write",
                    path: path(),
                    source: io::ErrorKind::TimedOut.into(),
                },
                true,
            ),
            (
                RemoteError::Busy {
                    detail: "503".into(),
                    retry_after: std::time::Duration::from_secs(5),
                },
                true,
            ),
            (io(io::ErrorKind::NotADirectory), false),
            (io(io::ErrorKind::IsADirectory), false),
            (io(io::ErrorKind::InvalidFilename), false),
            (io(io::ErrorKind::TimedOut), true),
            (io(io::ErrorKind::NotFound), true),
            (io(io::ErrorKind::Other), true),
        ];
        for (err, transient) in cases {
            assert_eq!(err.is_transient(), transient, "{err:?}");
        }
    }

    #[test]
    fn unreadable_source_is_transient_only_for_transient_io() {
        let unreadable = |kind: io::ErrorKind| RemoteError::SourceUnreadable {
            path: "/photos/b.jpg".into(),
            source: kind.into(),
        };
        assert!(!unreadable(io::ErrorKind::PermissionDenied).is_transient());
        assert!(!unreadable(io::ErrorKind::IsADirectory).is_transient());
        assert!(unreadable(io::ErrorKind::TimedOut).is_transient());
    }

    #[test]
    fn only_cancelled_is_cancelled() {
        assert!(RemoteError::Cancelled.is_cancelled());
        assert!(!RemoteError::NoSpace { key: "k".into() }.is_cancelled());
    }

    #[test]
    fn messages_name_the_key_or_path() {
        let msg = RemoteError::NoSpace {
            key: "2024/x.jpg".into(),
        }
        .to_string();
        assert!(msg.contains("\"2024/x.jpg\""), "{msg}");
        let msg = RemoteError::SourceVanished {
            path: "/p/x.jpg".into(),
        }
        .to_string();
        assert!(msg.contains("/p/x.jpg"), "{msg}");
    }
}
