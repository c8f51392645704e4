//! systemd's notify protocol, heard the way systemd hears it: the daemon is
//! started with `NOTIFY_SOCKET` naming a datagram socket this test reads,
//! and `WATCHDOG_USEC` asking for a watchdog.

use std::os::unix::net::UnixDatagram;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use syncroll_testkit::Daemon;

/// What the test's service manager heard, in order, and the status it
/// holds now (the last `STATUS=`), as `systemctl status` would show it.
struct Manager {
    socket: UnixDatagram,
    heard: Vec<String>,
    status: String,
}

impl Manager {
    /// The next datagram, if one comes within the socket's read timeout.
    fn receive(&mut self) -> Option<String> {
        let mut buf = vec![0u8; 4096];
        let n = self.socket.recv(&mut buf).ok()?;
        let message = String::from_utf8_lossy(&buf[..n]).into_owned();
        if let Some(status) = message.lines().find_map(|l| l.strip_prefix("STATUS=")) {
            self.status = status.to_owned();
        }
        self.heard.push(message.clone());
        Some(message)
    }

    /// Waits (at most `within`) for a datagram holding the line `line`.
    fn hear(&mut self, line: &str, within: Duration) {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if self
                .receive()
                .is_some_and(|message| message.lines().any(|l| l == line))
            {
                return;
            }
        }
        panic!("no {line:?} within {within:?}; heard {:?}", self.heard);
    }

    /// Waits (at most `within`) until the status holds `words`; returns it.
    fn hear_status(&mut self, words: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        while !self.status.contains(words) {
            assert!(
                Instant::now() < deadline,
                "no status with {words:?} within {within:?}; heard {:?}",
                self.heard
            );
            self.receive();
        }
        self.status.clone()
    }
}

/// Starts the daemon as systemd would: `NOTIFY_SOCKET` set, and a
/// watchdog of 2 s for its own pid (`WATCHDOG_PID`, which a shell that
/// `exec`s the daemon knows beforehand: its own).
fn start(daemon: &Daemon, notify: &std::path::Path) -> Child {
    std::process::Command::new("sh")
        .arg("-c")
        .arg("WATCHDOG_PID=$$ exec \"$0\" \"$@\"")
        .arg(syncroll_testkit::bin_path("syncrolld"))
        .arg("--data-dir")
        .arg(&daemon.data_dir)
        .arg("--socket")
        .arg(&daemon.socket)
        .arg("--config")
        .arg(daemon.config_path())
        .env_remove("SYNCROLL_SOCKET")
        .env_remove("SYNCROLL_CONFIG")
        .env("NOTIFY_SOCKET", notify)
        .env("WATCHDOG_USEC", "2000000")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn syncrolld")
}

#[test]
fn the_service_manager_hears_ready_status_watchdog_and_stopping() {
    let mut daemon = Daemon::start();
    assert_eq!(daemon.stop().code(), Some(0));
    let notify = daemon.scratch("manager").join("notify.sock");
    let socket = UnixDatagram::bind(&notify).expect("the manager's socket");
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut manager = Manager {
        socket,
        heard: Vec::new(),
        status: String::new(),
    };
    let mut child = start(&daemon, &notify);

    // READY=1 means clients are served: the CLI answers at once.
    manager.hear("READY=1", Duration::from_secs(60));
    daemon.cli(&["status"]).ok();

    // The watchdog is fed well within WATCHDOG_USEC (2 s), again and again.
    for _ in 0..3 {
        manager.hear("WATCHDOG=1", Duration::from_secs(2));
    }

    // STATUS= follows what the daemon does.
    manager.hear_status("idle", Duration::from_secs(30));
    daemon.cli(&["pause"]).ok();
    let paused = manager.hear_status("paused", Duration::from_secs(10));
    assert_eq!(paused, "paused until resumed");
    daemon.cli(&["pause", "--for", "1h"]).ok();
    let until = manager.hear_status(" UTC", Duration::from_secs(10));
    assert!(until.starts_with("paused until "), "{until}");
    daemon.cli(&["resume"]).ok();
    assert_eq!(manager.hear_status("idle", Duration::from_secs(10)), "idle");

    // What needs the user comes first: a root whose disk went away.
    let root = daemon.scratch("photos");
    syncroll_testkit::write_photos(&root, "p", 3, 100);
    daemon
        .cli(&["roots", "add", syncroll_testkit::s(&root)])
        .ok();
    daemon.cli(&["wait", "--timeout", "60s"]).ok();
    std::fs::remove_dir_all(&root).unwrap();
    let attention = manager.hear_status("missing root", Duration::from_secs(30));
    assert_eq!(attention, "attention: 1 missing root; idle");

    // SIGTERM: STOPPING=1, then a clean exit.
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
    manager.hear("STOPPING=1", Duration::from_secs(10));
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}
