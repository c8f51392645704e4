//! The key rules every remote enforces before touching anything.
//!
//! A key is the object's name on the remote, '/'-separated like an S3 key or a
//! URL path. The rules keep one key meaning the same object on every backend
//! and make it impossible for a key to name anything outside the remote's
//! folder or prefix, whatever the backend does with it.

use crate::RemoteError;

/// Suffix of syncroll's own temporaries on a remote. Keys may not end a
/// component with it, so an object can never be mistaken for (or clobbered
/// as) a temporary.
pub(crate) const TEMP_SUFFIX: &str = ".syncroll-part";

/// Checks that `key` is a valid object key: non-empty, '/'-separated, no
/// leading '/', no empty, `.` or `..` component, no NUL or other control
/// character, and no component ending in `.syncroll-part` (reserved for
/// syncroll's temporaries). Every [`Remote`](crate::Remote) method calls it.
pub fn validate_key(key: &str) -> Result<(), RemoteError> {
    let invalid = |reason| {
        Err(RemoteError::InvalidKey {
            key: key.to_owned(),
            reason,
        })
    };
    if key.is_empty() {
        return invalid("it is empty");
    }
    if key.starts_with('/') {
        return invalid("it starts with '/'; keys are relative to the remote's folder");
    }
    if key.chars().any(char::is_control) {
        return invalid("it contains a NUL or control character");
    }
    for component in key.split('/') {
        if let Some(reason) = component_fault(component) {
            return invalid(reason);
        }
    }
    Ok(())
}

/// Checks a listing prefix: empty (everything) or a valid key followed by '/'.
pub(crate) fn validate_prefix(prefix: &str) -> Result<(), RemoteError> {
    if prefix.is_empty() {
        return Ok(());
    }
    let reason = match prefix.strip_suffix('/').map(validate_key) {
        Some(Ok(())) => return Ok(()),
        Some(Err(RemoteError::InvalidKey { reason, .. })) => reason,
        Some(Err(other)) => return Err(other),
        None => "a listing prefix must be empty or end with '/'",
    };
    Err(RemoteError::InvalidKey {
        key: prefix.to_owned(),
        reason,
    })
}

fn component_fault(component: &str) -> Option<&'static str> {
    match component {
        "" => Some("it has an empty component ('//' or a trailing '/')"),
        "." | ".." => Some("it has a '.' or '..' component"),
        c if c.ends_with(TEMP_SUFFIX) => {
            Some("names ending in .syncroll-part are reserved for syncroll's temporaries")
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_keys_are_accepted() {
        for key in [
            "a",
            "Album/IMG_0001.JPG",
            "Trip 2024/day 1/DSC 01.nef",
            "été/日本.heic",
            ".hidden/x.jpg",
            "a..b/c.d",
            ".syncroll/state",
        ] {
            assert!(validate_key(key).is_ok(), "{key:?} should be valid");
        }
    }

    #[test]
    fn keys_that_could_escape_or_confuse_are_rejected() {
        for key in [
            "",
            "../x",
            "a/../../x",
            "..",
            ".",
            "/abs",
            "a//b",
            "a/./b",
            "a/",
            "a\0b",
            "a\nb",
            "a\u{7f}b",
            "a/.b.jpg.syncroll-part",
        ] {
            let err = validate_key(key).expect_err(key);
            assert!(
                matches!(err, RemoteError::InvalidKey { .. }),
                "{key:?}: {err:?}"
            );
            assert!(!err.is_transient());
        }
    }

    #[test]
    fn prefixes_are_empty_or_a_key_and_a_slash() {
        for prefix in ["", "A/", "A/b c/"] {
            assert!(
                validate_prefix(prefix).is_ok(),
                "{prefix:?} should be valid"
            );
        }
        for prefix in ["A", "/", "/A/", "../", "A//", "./"] {
            assert!(
                validate_prefix(prefix).is_err(),
                "{prefix:?} should be invalid"
            );
        }
    }
}
