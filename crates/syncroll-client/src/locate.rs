//! Where the daemon's socket is: the one rule both `syncrolld` (where it
//! binds) and its clients (where they dial) use, so the two cannot drift.
//!
//! `$XDG_RUNTIME_DIR/syncroll/syncroll.sock` when the runtime dir is set
//! (per-user, cleared at logout: the right home for a socket), else
//! `<data-dir>/syncroll.sock`.

use std::path::{Path, PathBuf};

/// The socket file's name.
pub const SOCKET_FILE: &str = "syncroll.sock";

/// The platform's data dir for syncroll (Linux: `$XDG_DATA_HOME/syncroll`),
/// or `.syncroll` when the platform has none (no home directory).
pub fn default_data_dir() -> PathBuf {
    directories::ProjectDirs::from("", "", "syncroll")
        .map(|dirs| dirs.data_dir().to_path_buf())
        .unwrap_or_else(|| PathBuf::from(".syncroll"))
}

/// The socket of a daemon whose data dir is `data_dir`, when it was given
/// no `--socket`.
pub fn default_socket(data_dir: &Path) -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(run) if !run.is_empty() => PathBuf::from(run).join("syncroll").join(SOCKET_FILE),
        _ => data_dir.join(SOCKET_FILE),
    }
}

/// The socket a client dials when not told: `SYNCROLL_SOCKET`, else the
/// default socket of the data dir in `SYNCROLL_DATA_DIR`, else of the
/// platform's data dir (the daemon's flags read the same variables).
pub fn socket() -> PathBuf {
    if let Some(socket) = non_empty_env("SYNCROLL_SOCKET") {
        return socket;
    }
    let data_dir = non_empty_env("SYNCROLL_DATA_DIR").unwrap_or_else(default_data_dir);
    default_socket(&data_dir)
}

fn non_empty_env(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|value| !value.is_empty())
        .map(PathBuf::from)
}
