//! One module per command group; each turns arguments into RPCs and replies
//! into output.

pub mod collections;
pub mod photos;
pub mod remotes;
pub mod roots;
pub mod status;
pub mod sync;

use std::path::Path;

use crate::output::Failure;

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
