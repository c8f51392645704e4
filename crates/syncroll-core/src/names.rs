//! Naming rules shared by collections and remotes: they become folder names
//! on remotes, so they must be safe as a single path component everywhere.

use crate::error::{Error, Result};

/// The longest name accepted, in characters.
pub const MAX_NAME_CHARS: usize = 128;

/// Checks a collection or remote name; `what` names the kind in the error.
pub fn validate_name(what: &'static str, name: &str) -> Result<()> {
    let reason = if name.is_empty() {
        Some("must not be empty")
    } else if name.chars().count() > MAX_NAME_CHARS {
        Some("must be at most 128 characters")
    } else if name.contains('/') {
        Some("must not contain '/'")
    } else if name.chars().any(char::is_control) {
        Some("must not contain control characters")
    } else if name == "." || name == ".." {
        Some("must not be '.' or '..'")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(Error::InvalidName {
            what,
            name: name.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_names() {
        for name in [
            "Portfolio",
            "Wedding 2026",
            "été à Paris",
            "a",
            &"x".repeat(128),
        ] {
            validate_name("collection", name).unwrap();
        }
    }

    #[test]
    fn rejects_unsafe_names_and_names_them() {
        for name in ["", ".", "..", "a/b", "tab\there", "nul\0", &"x".repeat(129)] {
            let err = validate_name("collection", name).unwrap_err().to_string();
            assert!(err.contains(&format!("{name:?}")), "{err}");
        }
    }
}
