//! How results and errors reach the user: human text, or `--json`.
//! The one place that maps a failure to an exit code.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use serde::Serialize;

/// Exit codes of the contract.
pub mod exit {
    pub const FAILED: u8 = 1;
    pub const UNREACHABLE: u8 = 3;
    pub const TIMEOUT: u8 = 4;
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
            Failure::Rpc(status) => match status.code() {
                tonic::Code::Unavailable => (exit::UNREACHABLE, "unavailable"),
                tonic::Code::DeadlineExceeded => (exit::TIMEOUT, "deadline_exceeded"),
                tonic::Code::InvalidArgument => (exit::FAILED, "invalid_argument"),
                tonic::Code::NotFound => (exit::FAILED, "not_found"),
                tonic::Code::AlreadyExists => (exit::FAILED, "already_exists"),
                tonic::Code::FailedPrecondition => (exit::FAILED, "failed_precondition"),
                tonic::Code::PermissionDenied => (exit::FAILED, "permission_denied"),
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
            human()
        };
        println_or_exit(&text);
    }

    /// Prints one item of a streamed listing: a JSON line, or a text line.
    pub fn line<T: Serialize>(&self, value: &T, human: impl FnOnce() -> String) {
        let text = if self.json {
            serde_json::to_string(value).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
        } else {
            human()
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
        eprintln!("syncroll: {message}");
        ExitCode::from(exit)
    }
}

/// `println!` panics on a closed pipe (`syncroll photos | head`); a closed
/// pipe just means the reader has seen enough.
fn println_or_exit(text: &str) {
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{text}").is_err() {
        std::process::exit(0);
    }
}
