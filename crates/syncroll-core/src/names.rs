//! Naming rules shared by collections and remotes: they become folder names
//! on remotes, so they must be safe as a single path component everywhere.

use crate::error::{Error, Result};
use crate::quoted::is_invisible_format;

/// The longest name accepted, in characters.
pub const MAX_NAME_CHARS: usize = 128;

/// Checks a collection or remote name; `what` names the kind in the error.
///
/// Besides being one safe path component, a name must read as what it is:
/// a blank name cannot be told apart from none, and bidirectional overrides
/// or zero-width characters make two different names look alike (or one
/// look like another) in every listing.
pub fn validate_name(what: &'static str, name: &str) -> Result<()> {
    match name_fault(name) {
        Some(reason) => Err(Error::InvalidName {
            what,
            name: name.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

/// Why `name` cannot be a name, if it cannot.
fn name_fault(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("must not be empty")
    } else if name.chars().count() > MAX_NAME_CHARS {
        Some("must be at most 128 characters")
    } else if name.trim().is_empty() {
        Some("must not be only white space")
    } else if name.contains('/') {
        Some("must not contain '/'")
    } else if name.chars().any(char::is_control) {
        Some("must not contain control characters")
    } else if name.chars().any(is_invisible_format) {
        Some("must not contain bidirectional-override or zero-width characters")
    } else if name == "." || name == ".." {
        Some("must not be '.' or '..'")
    } else {
        None
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

    #[test]
    fn rejects_names_that_do_not_read_as_what_they_are() {
        for (name, shown, reason) in [
            (" ", "\" \"", "white space"),
            ("\u{3000}\t ", "\"\u{3000}\\t \"", "white space"),
            ("  \u{a0}", "\"  \u{a0}\"", "white space"),
            (
                "abc\u{202e}gpj.exe",
                "\"abc\\u{202e}gpj.exe\"",
                "bidirectional",
            ),
            ("a\u{2066}b", "\"a\\u{2066}b\"", "bidirectional"),
            ("Trip\u{200b}", "\"Trip\\u{200b}\"", "zero-width"),
            ("\u{feff}Trip", "\"\\u{feff}Trip\"", "zero-width"),
            ("a\u{1b}[31mred", "\"a\\u{1b}[31mred\"", "control"),
        ] {
            let err = validate_name("collection", name).unwrap_err().to_string();
            assert!(
                err.contains(shown) && err.contains(reason),
                "{name:?}: {err}"
            );
        }
    }

    #[test]
    fn a_huge_name_is_refused_with_a_short_message() {
        let err = validate_name("collection", &"x".repeat(1 << 20))
            .unwrap_err()
            .to_string();
        assert!(err.len() < 300, "{err}");
        assert!(err.contains("(1048576 characters)"), "{err}");
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    /// Names from every corner: ordinary text, white space, '/', dots,
    /// control, bidi and zero-width characters, and long runs.
    fn any_name() -> impl Strategy<Value = String> {
        prop_oneof![
            ".{0,140}",
            "[ a-zA-Z0-9./\u{a0}\u{3000}\t\n\u{1b}\u{7f}\u{85}\u{202a}-\u{202e}\u{2066}-\u{2069}\u{200b}-\u{200d}\u{2060}\u{feff}é日]{0,140}",
            ("[a-z]{1,3}", 100usize..3000).prop_map(|(s, n)| s.repeat(n)),
        ]
    }

    proptest! {
        #[test]
        fn an_accepted_name_reads_as_what_it_is(name in any_name()) {
            if validate_name("collection", &name).is_ok() {
                prop_assert!(!name.trim().is_empty());
                prop_assert!(name.chars().count() <= MAX_NAME_CHARS);
                prop_assert!(!name.contains('/') && name != "." && name != "..");
                prop_assert!(!name.chars().any(|c| c.is_control() || is_invisible_format(c)));
            }
        }

        #[test]
        fn a_refusal_is_short_and_shows_no_raw_control_character(name in any_name()) {
            if let Err(err) = validate_name("collection", &name) {
                let message = err.to_string();
                prop_assert!(message.chars().count() <= 200 + 150, "{}", message);
                prop_assert!(
                    !message.chars().any(|c| c.is_control() || is_invisible_format(c)),
                    "{:?}", message
                );
            }
        }
    }
}
