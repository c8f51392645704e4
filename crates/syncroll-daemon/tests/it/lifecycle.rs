use nix::sys::signal::Signal;
use syncroll_testkit::{Daemon, s, write_photos};

#[test]
fn sigterm_and_sigint_exit_0_and_remove_the_socket() {
    for signal in [Signal::SIGTERM, Signal::SIGINT] {
        let mut daemon = Daemon::start();
        assert!(daemon.socket.exists());
        let status = daemon.stop_with(signal);
        assert_eq!(
            status.code(),
            Some(0),
            "{signal}: {status}\n{}",
            daemon.log()
        );
        assert!(!daemon.socket.exists(), "socket removed on {signal}");
    }
}

#[test]
fn shutdown_during_a_scan_is_clean_and_loses_nothing() {
    let mut daemon = Daemon::start();
    let root = daemon.scratch("photos");
    write_photos(&root, "p", 400, 64 * 1024);
    daemon.cli(&["roots", "add", s(&root)]).ok();
    // Stop at once, most likely in the middle of the first scan.
    assert_eq!(daemon.stop().code(), Some(0), "{}", daemon.log());
    daemon.restart();
    let summary = daemon.json(&["rescan"]);
    assert_eq!(summary["files_seen"], 400);
    assert_eq!(daemon.photos(None).len(), 400);
}

#[test]
fn second_instance_on_the_same_data_dir_is_refused() {
    let daemon = Daemon::start();
    let other_socket = daemon.scratch("other").join("s.sock");
    let out = daemon
        .command()
        .arg("--socket")
        .arg(&other_socket)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("another syncrolld is already running")
            && stderr.contains(s(&daemon.data_dir)),
        "{stderr}"
    );
    // The first one is unharmed.
    daemon.cli(&["status"]).ok();
}

#[test]
fn crash_leaves_a_stale_socket_that_the_next_start_replaces() {
    let mut daemon = Daemon::start();
    daemon.kill();
    assert!(
        daemon.socket.exists(),
        "SIGKILL leaves the socket file behind"
    );
    daemon.restart();
    daemon.cli(&["status"]).ok();
}

#[test]
fn print_config_shows_the_effective_config() {
    let daemon = Daemon::builder()
        .config("[catalog]\nhash_workers = 3")
        .start();
    let out = daemon
        .command()
        .arg("--config")
        .arg(daemon.config_path())
        .arg("--print-config")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("hash_workers = 3"), "{text}");
    assert!(
        text.contains(&format!("data_dir = \"{}\"", s(&daemon.data_dir))),
        "{text}"
    );
    assert!(
        text.contains("[watcher]") && text.contains("debounce_ms = 300"),
        "{text}"
    );
}

#[test]
fn a_bad_config_is_refused_naming_the_key() {
    let daemon = Daemon::start();
    let bad = daemon.scratch("cfg").join("bad.toml");
    std::fs::write(&bad, "[catalog]\nhash_workers = 0\n").unwrap();
    let out = daemon
        .command()
        .arg("--config")
        .arg(&bad)
        .arg("--print-config")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("catalog.hash_workers = 0"));

    std::fs::write(&bad, "[catalog]\nhash_wrokers = 2\n").unwrap();
    let out = daemon
        .command()
        .arg("--config")
        .arg(&bad)
        .arg("--print-config")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("hash_wrokers") && stderr.contains(s(&bad)),
        "{stderr}"
    );
}

#[test]
fn logs_are_kept_in_the_data_dir() {
    let mut daemon = Daemon::start();
    assert_eq!(daemon.stop().code(), Some(0));
    let logs = daemon.data_dir.join("logs");
    let text: String = std::fs::read_dir(&logs)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    assert!(
        text.contains("syncrolld ready") && text.contains("stopped"),
        "{text}"
    );
    assert!(!text.contains('\u{1b}'), "no terminal colours in log files");
}
