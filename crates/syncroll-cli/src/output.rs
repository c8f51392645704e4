//! How results and errors reach the user: human text, or `--json`.
//! The one place that maps a failure to an exit code, and the one that
//! keeps control characters from names out of the terminal ([`shown`]).

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use serde::Serialize;

/// Exit codes of the contract.
pub mod exit {
    pub const FAILED: u8 = 1;
    pub const UNREACHABLE: u8 = 3;
    pub const TIMEOUT: u8 = 4;
    /// `wait`: idle, but held deletions need a decision.
    pub const HELD: u8 = 5;
}

/// A failure of a command, with what the user should read.
#[derive(Debug)]
pub enum Failure {
    /// The daemon is not listening on `socket`.
    Unreachable { socket: PathBuf, detail: String },
    /// The daemon refused or failed the request.
    Rpc(tonic::Status),
    /// Bad input caught before any request.
    Input(String),
    /// `wait` ran out of time.
    Timeout(std::time::Duration),
    /// The queue drained with jobs in `failed`.
    JobsFailed(u64),
    /// The queue drained, but the brake holds deletions: (id, reason).
    DeletionsHeld(Vec<(u64, String)>),
}

impl From<tonic::Status> for Failure {
    fn from(status: tonic::Status) -> Self {
        Failure::Rpc(status)
    }
}

impl Failure {
    fn code(&self) -> (u8, &'static str) {
        match self {
            Failure::Unreachable { .. } => (exit::UNREACHABLE, "unavailable"),
            Failure::Input(_) => (exit::FAILED, "invalid_argument"),
            Failure::Timeout(_) => (exit::TIMEOUT, "deadline_exceeded"),
            Failure::JobsFailed(_) => (exit::FAILED, "jobs_failed"),
            Failure::DeletionsHeld(_) => (exit::HELD, "deletions_held"),
            Failure::Rpc(status) => match status.code() {
                tonic::Code::Unavailable => (exit::UNREACHABLE, "unavailable"),
                tonic::Code::DeadlineExceeded => (exit::TIMEOUT, "deadline_exceeded"),
                tonic::Code::InvalidArgument => (exit::FAILED, "invalid_argument"),
                tonic::Code::NotFound => (exit::FAILED, "not_found"),
                tonic::Code::AlreadyExists => (exit::FAILED, "already_exists"),
                tonic::Code::FailedPrecondition => (exit::FAILED, "failed_precondition"),
                tonic::Code::PermissionDenied => (exit::FAILED, "permission_denied"),
                tonic::Code::ResourceExhausted => (exit::FAILED, "resource_exhausted"),
                tonic::Code::Aborted => (exit::FAILED, "aborted"),
                tonic::Code::DataLoss => (exit::FAILED, "data_loss"),
                _ => (exit::FAILED, "internal"),
            },
        }
    }

    fn message(&self) -> String {
        match self {
            Failure::Unreachable { socket, detail } => format!(
                "cannot reach syncrolld at {} ({detail}). Is it running? Start it with `syncrolld` \
                 (or `systemctl --user start syncrolld`), or point --socket / SYNCROLL_SOCKET at its socket",
                socket.display()
            ),
            Failure::Rpc(status) if status.code() == tonic::Code::Unavailable => {
                format!("syncrolld went away: {}", status.message())
            }
            Failure::Rpc(status) => status.message().to_owned(),
            Failure::Input(message) => message.clone(),
            Failure::Timeout(limit) => format!(
                "the queue was not drained within {}",
                humantime::format_duration(*limit)
            ),
            Failure::JobsFailed(n) => {
                format!(
                    "{n} jobs failed; see `syncroll jobs --state failed`, fix the cause, then `syncroll retry --all`"
                )
            }
            Failure::DeletionsHeld(holds) => {
                let lines: Vec<String> = holds
                    .iter()
                    .map(|(id, reason)| format!("hold {id}: {}", shown(reason)))
                    .collect();
                format!(
                    "idle, but deletions are held for your decision: {}. Review with \
                     `syncroll holds show ID`, then `syncroll holds approve ID` or `syncroll holds reject ID`",
                    lines.join("; ")
                )
            }
        }
    }
}

/// Where a command writes its results.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub json: bool,
}

impl Output {
    /// Prints one JSON document (with `--json`) or the human text.
    pub fn document<T: Serialize>(&self, value: &T, human: impl FnOnce() -> String) {
        let text = if self.json {
            serde_json::to_string_pretty(value)
                .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
        } else {
            escaped_but_newlines(&human()).into_owned()
        };
        println_or_exit(&text);
    }

    /// Prints one item of a streamed listing: a JSON line, or a text line.
    pub fn line<T: Serialize>(&self, value: &T, human: impl FnOnce() -> String) {
        let text = if self.json {
            serde_json::to_string(value).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
        } else {
            escaped_but_newlines(&human()).into_owned()
        };
        println_or_exit(&text);
    }

    /// Reports a failure and returns the exit code it maps to.
    pub fn failure(&self, failure: &Failure) -> ExitCode {
        let (exit, code) = failure.code();
        let message = failure.message();
        if self.json {
            let doc = serde_json::json!({ "error": { "code": code, "message": message } });
            println_or_exit(&doc.to_string());
        }
        eprintln!("syncroll: {}", escaped_but_newlines(&message));
        ExitCode::from(exit)
    }
}

/// A name, path or key from the daemon as human output shows it: control
/// characters and bidirectional controls escaped as `\n`, `\t`, `\x1b`,
/// `\u{202e}`, so a file named `a\nb.jpg` or `\x1b[2J.jpg` cannot forge a
/// line or drive the terminal, and `abc\u{202e}gpj.exe` cannot pass for
/// `abcexe.jpg`. Joiners stay (they make emoji and Indic names), and so does
/// a backslash. `--json` needs none of this: serde escapes control
/// characters in JSON strings.
pub fn shown(text: &str) -> Cow<'_, str> {
    escaped(text, |_| false)
}

/// Human text with every control character but the newlines that separate
/// its lines escaped: the backstop for a name some line did not pass
/// through [`shown`].
fn escaped_but_newlines(text: &str) -> Cow<'_, str> {
    escaped(text, |c| c == '\n')
}

fn escaped(text: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    let needs = |c: char| (c.is_control() || is_bidi_control(c)) && !keep(c);
    if !text.chars().any(needs) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            c if !needs(c) => out.push(c),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x80 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
        }
    }
    Cow::Owned(out)
}

/// Bidirectional embeddings, overrides, isolates and marks: invisible, yet
/// they reorder the text around them.
fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{061c}'
    )
}

/// `println!` panics on a closed pipe (`syncroll photos | head`); a closed
/// pipe just means the reader has seen enough.
fn println_or_exit(text: &str) {
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{text}").is_err() {
        std::process::exit(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_shown_without_raw_control_characters() {
        assert_eq!(shown("Trip/a.jpg"), "Trip/a.jpg");
        assert_eq!(shown("a\nb\tc\r.jpg"), "a\\nb\\tc\\r.jpg");
        assert_eq!(shown("\x1b[2J\x07.jpg"), "\\x1b[2J\\x07.jpg");
        assert_eq!(shown("x\u{202e}gpj.exe"), "x\\u{202e}gpj.exe");
        assert_eq!(shown("c1\u{85}é"), "c1\\u{85}é");
        assert_eq!(shown("back\\slash"), "back\\slash");
        // A family emoji is three emoji joined by U+200D.
        assert_eq!(
            shown("👨\u{200d}👩\u{200d}👧.jpg"),
            "👨\u{200d}👩\u{200d}👧.jpg"
        );
    }

    #[test]
    fn human_text_keeps_its_own_newlines_only() {
        assert_eq!(
            escaped_but_newlines("one\ntwo \x1b[31m"),
            "one\ntwo \\x1b[31m"
        );
    }
}
