//! Rules for paths a user hands the daemon: what a path in a request must
//! look like, and which folders an `fs` remote may never be.

use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};

/// The longest path a request may carry, in bytes: Linux's `PATH_MAX`.
/// Longer ones cannot name a file, and are refused before any system call.
pub const MAX_PATH_BYTES: usize = 4096;

/// System folders an `fs` remote may be neither at nor below: the
/// operating system lives there, and a remote's folder is one syncroll
/// writes into and deletes from.
pub const SYSTEM_TREES: &[&str] = &[
    "/bin",
    "/boot",
    "/dev",
    "/etc",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/proc",
    "/sbin",
    "/sys",
    "/usr",
    // macOS (/etc and /var are links into /private there).
    "/System",
    "/Library",
    "/private/etc",
    "/private/var/db",
];

/// Folders an `fs` remote may not be itself, though a folder below one is
/// fine (`/run/media/me/disk`, `/var/lib/syncroll/cloud`, `/mnt/nas`): each
/// holds the folders of others (mount points, homes, services' state).
pub const SHARED_PARENTS: &[&str] = &[
    "/",
    "/home",
    "/media",
    "/mnt",
    "/opt",
    "/root",
    "/run",
    "/srv",
    "/tmp",
    "/var",
    "/var/cache",
    "/var/lib",
    "/var/log",
    "/var/tmp",
    "/Applications",
    "/Users",
    "/Volumes",
    "/private",
    "/private/tmp",
    "/private/var",
];

/// `raw` as a path the daemon can act on: absolute, without NUL bytes, and
/// at most [`MAX_PATH_BYTES`] long. `..` components are kept: the caller
/// resolves the path, and the result is then checked like any other.
pub fn absolute(raw: &str) -> Result<PathBuf> {
    let invalid = |reason| {
        Err(Error::InvalidPath {
            path: raw.to_owned(),
            reason,
        })
    };
    if raw.len() > MAX_PATH_BYTES {
        return invalid("it is longer than 4096 bytes (the system's limit)");
    }
    if raw.contains('\0') {
        return invalid("it holds a NUL character");
    }
    let path = Path::new(raw);
    if !path.is_absolute() {
        return Err(Error::RelativePath(raw.to_owned()));
    }
    Ok(path.to_path_buf())
}

/// Why `path` (absolute and resolved) is a system folder an `fs` remote
/// cannot be, in words: "the system folder /etc", "the folder / itself".
pub fn system_folder(path: &Path) -> Option<String> {
    let path = lexically_normal(path);
    if let Some(tree) = SYSTEM_TREES
        .iter()
        .find(|tree| path.starts_with(Path::new(tree)))
    {
        return Some(format!("the system folder {tree} or below it"));
    }
    SHARED_PARENTS
        .iter()
        .find(|folder| path == Path::new(folder))
        .map(|folder| format!("the folder {folder} itself (a folder below it would do)"))
}

/// `path` without `.` and `..` components (resolved lexically), so a
/// spelling such as `/tmp/../etc` is judged as what it names.
fn lexically_normal(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(part) => out.push(part),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_paths_must_be_absolute_short_and_without_nul() {
        assert_eq!(absolute("/a/b").unwrap(), Path::new("/a/b"));
        assert!(matches!(absolute("a/b"), Err(Error::RelativePath(_))));
        assert!(matches!(absolute(""), Err(Error::RelativePath(_))));
        assert!(matches!(absolute("../x"), Err(Error::RelativePath(_))));
        assert!(matches!(absolute("/a\0b"), Err(Error::InvalidPath { .. })));
        let long = format!("/{}", "x".repeat(MAX_PATH_BYTES));
        let err = absolute(&long).unwrap_err().to_string();
        assert!(err.contains("4096") && err.len() < 400, "{err}");
    }

    #[test]
    fn system_folders_and_shared_parents_are_named() {
        for path in [
            "/",
            "/etc",
            "/etc/photos",
            "/usr/local/share",
            "/proc/self",
            "/lib64",
            "/var/lib",
            "/var",
            "/tmp",
            "/home",
            "/run",
            "/tmp/../etc",
            "/home/",
        ] {
            assert!(system_folder(Path::new(path)).is_some(), "{path}");
        }
        for path in [
            "/mnt/nas/photos",
            "/run/media/me/disk",
            "/var/lib/syncroll/cloud",
            "/home/me/backup",
            "/tmp/syncroll-test-1/remote",
            "/etcetera",
            "/srv/photos",
        ] {
            assert_eq!(system_folder(Path::new(path)), None, "{path}");
        }
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    /// Absolute paths whose components may be `..`, `.` or empty, so a
    /// spelling can climb out of where it seems to be.
    fn traversing_path() -> impl Strategy<Value = String> {
        let component = prop_oneof![
            Just("..".to_owned()),
            Just(".".to_owned()),
            Just(String::new()),
            Just("etc".to_owned()),
            Just("usr".to_owned()),
            Just("var".to_owned()),
            Just("lib".to_owned()),
            "[a-z]{1,6}",
        ];
        prop::collection::vec(component, 0..8).prop_map(|parts| format!("/{}", parts.join("/")))
    }

    proptest! {
        #[test]
        fn a_spelling_is_judged_as_the_folder_it_names(path in traversing_path()) {
            let path = Path::new(&path);
            prop_assert_eq!(system_folder(path), system_folder(&lexically_normal(path)));
        }

        #[test]
        fn everything_below_a_system_tree_is_refused(
            tree in prop::sample::select(SYSTEM_TREES),
            below in traversing_path(),
        ) {
            // `below` must not climb out of the tree.
            let below = lexically_normal(Path::new(&below));
            let path = Path::new(tree).join(below.strip_prefix("/").unwrap());
            prop_assert!(system_folder(&path).is_some(), "{}", path.display());
        }

        #[test]
        fn an_accepted_request_path_is_absolute_short_and_without_nul(raw in ".{0,64}|/.{0,5000}") {
            match absolute(&raw) {
                Ok(path) => {
                    prop_assert!(path.is_absolute());
                    prop_assert!(raw.len() <= MAX_PATH_BYTES && !raw.contains('\0'));
                }
                Err(err) => prop_assert!(err.to_string().chars().count() < 400),
            }
        }
    }
}
