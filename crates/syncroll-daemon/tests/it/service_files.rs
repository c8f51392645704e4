//! The service files as their managers read them.

use std::process::Command;

/// `systemd-analyze verify` finds nothing to say about the unit: every key
/// is one systemd knows (a misspelt `WatchdogSec=` would only be warned
/// about, and the watchdog silently off), and the command it starts runs.
#[test]
fn systemd_analyze_verifies_the_unit_without_a_warning() {
    let analyze = which("systemd-analyze").unwrap_or_else(|| {
        panic!(
            "systemd-analyze is missing: install systemd (Debian: apt-get install systemd); \
             scripts/test installs it where it can"
        )
    });
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../systemd/syncrolld.service"
    ))
    .expect("the unit file");
    assert!(unit.contains("Type=notify") && unit.contains("WatchdogSec="));
    // The unit starts the installed binary; this one is the build's.
    let built = syncroll_testkit::bin_path("syncrolld");
    let unit = unit.replace(
        "ExecStart=%h/.cargo/bin/syncrolld",
        &format!("ExecStart={}", built.display()),
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("syncrolld.service");
    std::fs::write(&path, unit).unwrap();
    let out = Command::new(analyze)
        .arg("verify")
        .arg(&path)
        .output()
        .expect("run systemd-analyze");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{said}");
    let about_the_unit: Vec<&str> = said
        .lines()
        .filter(|line| line.contains("syncrolld.service"))
        .collect();
    assert!(about_the_unit.is_empty(), "{said}");
}

fn which(name: &str) -> Option<std::path::PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}
