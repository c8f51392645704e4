//! How a value a user gave (a name, a path) is echoed in a message: in
//! quotes, escaped, and cut short.
//!
//! Escaped, so a control or bidirectional-override character in a name
//! cannot rewrite the user's terminal or reorder the message around it.
//! Cut short, so a 1 MiB name sent over the API gets a readable error of a
//! few hundred bytes back, not 1 MiB that the client's header limits turn
//! into an unrelated transport error.

use std::fmt;
use std::path::Path;

/// The most characters of a value a message shows, escapes included.
pub const MAX_SHOWN_CHARS: usize = 200;

/// `value` in quotes, its control and invisible formatting characters, `"`
/// and `\` escaped as Rust's `{:?}` writes them (`\n`, `\u{1b}`,
/// `\u{202e}`), and past [`MAX_SHOWN_CHARS`] characters cut with an
/// ellipsis and its full length: `"aaaa…" (1048576 characters)`.
pub fn quoted(value: &str) -> Quoted<'_> {
    Quoted(value)
}

/// A path as messages show it: without quotes (as paths always were),
/// lossily if it is not UTF-8, with control and invisible formatting
/// characters escaped (`\n`, `\u{202e}`) and cut like [`quoted`].
pub fn shown_path(path: &Path) -> ShownPath<'_> {
    ShownPath(path)
}

/// Whether `c` changes how text around it is shown while being invisible
/// itself: bidirectional embeddings, overrides and isolates (U+202A..U+202E,
/// U+2066..U+2069), the marks U+200E, U+200F and U+061C, and the zero-width
/// characters U+200B..U+200D, U+2060 and U+FEFF.
pub fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{202a}'..='\u{202e}'
            | '\u{2066}'..='\u{2069}'
            | '\u{200b}'..='\u{200f}'
            | '\u{061c}'
            | '\u{2060}'
            | '\u{feff}'
    )
}

/// See [`quoted`].
#[derive(Debug, Clone, Copy)]
pub struct Quoted<'a>(&'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        let cut = write_escaped(f, self.0, |c| c == '"' || c == '\\')?;
        f.write_str("\"")?;
        match cut {
            Some(total) => write!(f, " ({total} characters)"),
            None => Ok(()),
        }
    }
}

/// Writes `text`, escaping control and invisible formatting characters and
/// those `also` picks, until [`MAX_SHOWN_CHARS`] characters are written
/// (escapes count as what they take on screen); past that an ellipsis.
/// Returns the full length in characters when it cut.
fn write_escaped(
    f: &mut fmt::Formatter<'_>,
    text: &str,
    also: impl Fn(char) -> bool,
) -> Result<Option<usize>, fmt::Error> {
    let mut written = 0;
    for c in text.chars() {
        let escape = c.is_control() || is_invisible_format(c) || also(c);
        let shown = if escape { c.escape_debug().len() } else { 1 };
        if written + shown > MAX_SHOWN_CHARS {
            f.write_str("…")?;
            return Ok(Some(text.chars().count()));
        }
        written += shown;
        if escape {
            write!(f, "{}", c.escape_debug())?;
        } else {
            write!(f, "{c}")?;
        }
    }
    Ok(None)
}

/// See [`shown_path`].
#[derive(Debug, Clone, Copy)]
pub struct ShownPath<'a>(&'a Path);

impl fmt::Display for ShownPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match write_escaped(f, &self.0.to_string_lossy(), |_| false)? {
            Some(total) => write!(f, " ({total} characters)"),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_values_are_quoted_and_escaped() {
        assert_eq!(quoted("Trip").to_string(), "\"Trip\"");
        assert_eq!(quoted("a\nb\u{1b}[2J").to_string(), "\"a\\nb\\u{1b}[2J\"");
        assert_eq!(quoted("x\u{202e}y").to_string(), "\"x\\u{202e}y\"");
        assert_eq!(quoted(&"é".repeat(200)).to_string().chars().count(), 202);
    }

    #[test]
    fn long_values_are_cut_and_their_length_named() {
        let shown = quoted(&"x".repeat(1 << 20)).to_string();
        assert_eq!(
            shown,
            format!("\"{}…\" (1048576 characters)", "x".repeat(200))
        );
        let shown = quoted(&"\n".repeat(500)).to_string();
        assert_eq!(
            shown,
            format!("\"{}…\" (500 characters)", "\\n".repeat(100))
        );
    }

    #[test]
    fn paths_are_shown_escaped_and_cut_without_quotes() {
        assert_eq!(
            shown_path(Path::new("/p/a\tb \"c\"\u{200b}.jpg")).to_string(),
            "/p/a\\tb \"c\"\\u{200b}.jpg"
        );
        let long = format!("/{}", "d".repeat(300));
        let shown = shown_path(Path::new(&long)).to_string();
        assert_eq!(shown, format!("/{}… (301 characters)", "d".repeat(199)));
    }
}
