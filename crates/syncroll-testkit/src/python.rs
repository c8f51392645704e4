//! A Python with PyPI's `grpcio`, for tests that talk to the daemon the way
//! a client in another language does.

use std::path::PathBuf;
use std::process::Command;

/// The `grpcio` the suite is tested with (`scripts/test` installs it).
pub const GRPCIO_PIN: &str = "grpcio==1.85.1";

/// `SYNCROLL_PYTHON`, else the python of the venv `scripts/test` keeps
/// (`SYNCROLL_VENV`, default `~/.cache/syncroll-venv`); panics saying what
/// to install unless it can `import grpc`.
pub fn python_with_grpcio() -> PathBuf {
    let venv = std::env::var_os("SYNCROLL_VENV").map_or_else(
        || {
            let home = std::env::var_os("HOME").unwrap_or_default();
            PathBuf::from(home).join(".cache/syncroll-venv")
        },
        PathBuf::from,
    );
    let python =
        std::env::var_os("SYNCROLL_PYTHON").map_or_else(|| venv.join("bin/python"), PathBuf::from);
    let hint = format!(
        "run scripts/test (it installs it), or: python3 -m venv {venv} && {venv}/bin/pip install '{GRPCIO_PIN}' \
         (Debian needs python3-venv), or set SYNCROLL_PYTHON to a python that can import grpc",
        venv = venv.display()
    );
    let imports = Command::new(&python)
        .args(["-c", "import grpc"])
        .output()
        .map_err(|e| e.to_string())
        .and_then(|out| {
            if out.status.success() {
                Ok(())
            } else {
                // The traceback's last line says it: "No module named 'grpc'".
                let stderr = String::from_utf8_lossy(&out.stderr);
                Err(stderr.trim().lines().last().unwrap_or_default().to_owned())
            }
        });
    if let Err(why) = imports {
        panic!(
            "this test needs Python with PyPI's grpcio, and {} cannot import it ({why}); {hint}",
            python.display()
        );
    }
    python
}
