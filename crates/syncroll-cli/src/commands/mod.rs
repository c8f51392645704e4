//! One module per command group; each turns arguments into RPCs and replies
//! into output.

pub mod collections;
pub mod connections;
pub mod events;
pub mod holds;
pub mod photos;
pub mod remotes;
pub mod roots;
pub mod status;
pub mod sync;
pub mod versions;

use std::io::IsTerminal;
use std::path::Path;

use crate::output::{Failure, Output, shown};

/// The daemon resolves paths itself, but it has another working directory:
/// paths leave the CLI absolute (not canonical: the daemon decides that).
pub fn absolute_path(path: &Path) -> Result<String, Failure> {
    let absolute = std::path::absolute(path)
        .map_err(|e| Failure::Input(format!("cannot make {} absolute: {e}", path.display())))?;
    absolute.to_str().map(str::to_owned).ok_or_else(|| {
        Failure::Input(format!(
            "path {} is not valid UTF-8; name its folder instead",
            absolute.display()
        ))
    })
}

/// Bytes for people: `3.0 MiB`.
pub fn bytes(n: u64) -> String {
    indicatif::HumanBytes(n).to_string()
}

/// Counts for people: `10,000`.
pub fn count(n: u64) -> String {
    indicatif::HumanCount(n).to_string()
}

/// The daemon asks for a confirmation before deleting many copies.
pub fn needs_confirmation(status: &tonic::Status) -> bool {
    status.code() == tonic::Code::FailedPrecondition
        && status.metadata().get("syncroll-confirm").is_some()
}

/// Asks the user on a terminal whether to go ahead with what `status`
/// describes; false when they say no. Off a terminal (or with `--json`,
/// where a script is reading) there is nobody to ask: the daemon's
/// refusal stands, and its message names `--yes`.
pub fn confirmed_on_terminal(status: &tonic::Status, out: Output) -> Result<bool, Failure> {
    use std::io::{BufRead, Write};
    if out.json || !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        return Err(status.clone().into());
    }
    let question = status
        .message()
        .split("; confirm with")
        .next()
        .unwrap_or_default();
    eprint!("{}. Delete them? [y/N] ", shown(question));
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| Failure::Input(format!("cannot read the answer: {e}")))?;
    if matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
        Ok(true)
    } else {
        Err(Failure::Input(
            "nothing changed: the remote copies stay".to_owned(),
        ))
    }
}
