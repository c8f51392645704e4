//! Turning file system errors into [`RemoteError`]s, so that the caller's
//! state machine can tell a missing mount (retry later) from a permission
//! problem (tell the user) without knowing anything about errno.

use std::fs;
use std::io;
use std::path::Path;

use crate::RemoteError;
pub(super) use crate::error::source_error;

/// Where a remote-side operation happened: the root (to tell an unmounted
/// remote from other faults) and the key the operation was for.
#[derive(Debug, Clone, Copy)]
pub(super) struct Site<'a> {
    pub root: &'a Path,
    pub key: &'a str,
}

impl Site<'_> {
    /// Classifies `err`, met while doing `action` (a verb phrase such as
    /// "create a folder for") on `path`.
    pub fn error(&self, action: &'static str, path: &Path, err: io::Error) -> RemoteError {
        use io::ErrorKind as K;
        match err.kind() {
            K::PermissionDenied | K::ReadOnlyFilesystem => RemoteError::PermissionDenied {
                key: self.key.to_owned(),
                detail: format!(
                    "{}: {err}; give syncroll's user access there or choose another remote folder",
                    path.display()
                ),
            },
            K::StorageFull | K::QuotaExceeded => RemoteError::NoSpace {
                key: self.key.to_owned(),
            },
            // A share unmounted mid-operation shows up as whatever the next
            // call trips on (ENOENT, EIO, ESTALE); the missing root is the
            // real story, and it is transient.
            _ if !is_folder(self.root) => unavailable(self.root),
            _ => RemoteError::Io {
                action,
                key: self.key.to_owned(),
                source: err,
            },
        }
    }

    /// [`Site::error`] as a closure, for `map_err`.
    pub fn on<'p>(
        &'p self,
        action: &'static str,
        path: &'p Path,
    ) -> impl Fn(io::Error) -> RemoteError + 'p {
        move |err| self.error(action, path, err)
    }
}

/// Fails unless the root folder is there. Called first by every operation:
/// the root is never created, so its absence means an unmounted remote.
pub(super) fn check_root(site: Site<'_>) -> Result<(), RemoteError> {
    match fs::metadata(site.root) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(RemoteError::Unavailable {
            detail: format!("the remote folder {} is not a folder", site.root.display()),
        }),
        Err(err) if err.kind() == io::ErrorKind::PermissionDenied => {
            Err(site.error("open the remote folder for", site.root, err))
        }
        Err(_) => Err(unavailable(site.root)),
    }
}

fn unavailable(root: &Path) -> RemoteError {
    RemoteError::Unavailable {
        detail: format!(
            "the remote folder {} is missing or unreachable (is the disk or share mounted?)",
            root.display()
        ),
    }
}

fn is_folder(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|meta| meta.is_dir())
}
