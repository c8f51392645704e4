//! The tray item follows the daemon, pauses it from its menu, notifies
//! failures once per rate window, and outlives a daemon restart.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use syncroll_testkit::{Daemon, EVENT_TIMEOUT, bin_path, s, wait_until, write_photos};

use crate::bus::Bus;
use crate::{ItemState, Tray};

/// A daemon with `n` photos of `size` bytes in `<root>/trip`, scanned.
fn daemon_with_photos(config: &str, n: usize, size: usize) -> (Daemon, PathBuf) {
    let daemon = Daemon::builder().config(config).start();
    let root = daemon.scratch("photos");
    write_photos(&root.join("trip"), "t", n, size);
    daemon.cli(&["roots", "add", s(&root)]).ok();
    daemon.json(&["rescan"]);
    (daemon, root)
}

fn create_trip(daemon: &Daemon, root: &std::path::Path, extra: &[&str]) {
    let folder = root.join("trip");
    let mut args = vec![
        "collections",
        "create",
        "Trip",
        "--folder",
        s(&folder),
        "--sync",
    ];
    args.extend_from_slice(extra);
    daemon.cli(&args).ok();
}

// Each check reads the title too: the properties are read one by one, so
// the tooltip's text is only known to be of the same state when its title
// is.

fn is_idle(state: &ItemState) -> bool {
    state.status == "Passive"
        && state.icon == "emblem-synchronized"
        && state.title == "syncroll is idle: everything is synced"
}

fn is_syncing(state: &ItemState) -> bool {
    state.status == "Active"
        && state.icon == "view-refresh"
        && state.title.starts_with("syncroll is syncing")
}

fn is_paused(state: &ItemState) -> bool {
    state.status == "Active"
        && state.icon == "media-playback-pause"
        && state.title == "syncroll is paused"
}

fn is_not_running(state: &ItemState) -> bool {
    state.status == "Active"
        && state.icon == "process-stop"
        && state.title == "syncrolld is not running"
}

fn unix_now() -> i64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    i64::try_from(now.as_secs()).unwrap()
}

#[test]
fn the_item_follows_sync_pause_and_a_failure_and_its_menu_pauses_for_an_hour() {
    // 10 MiB at 256 KiB/s: syncing for some 40 s, long enough to be seen
    // twice on a busy machine. Four photos take four of the 16 transfer
    // slots, leaving room for the jobs that fail, after two quick
    // attempts each.
    let config = "[sync]\nbandwidth = \"256k\"\nretry_base_ms = 50\nmax_attempts = 2";
    let (daemon, root) = daemon_with_photos(config, 4, 2560 * 1024);
    let bus = Bus::start();
    let tray = Tray::start(&bus, &daemon);
    tray.wait_for(&bus, "the idle icon", is_idle);
    assert_eq!(bus.item_pixmaps(&tray.service, "OverlayIconPixmap"), Ok(0));

    create_trip(&daemon, &root, &[]);
    let syncing = tray.wait_for(&bus, "the syncing icon", is_syncing);
    // The progress bar over the icon, in three sizes.
    assert_eq!(bus.item_pixmaps(&tray.service, "OverlayIconPixmap"), Ok(3));
    assert!(
        syncing.text.contains("Bandwidth limit: 256k"),
        "{syncing:?}"
    );

    daemon.cli(&["pause"]).ok();
    let paused = tray.wait_for(&bus, "the paused icon", is_paused);
    assert!(paused.text.contains("Paused until resumed"), "{paused:?}");
    daemon.cli(&["resume"]).ok();
    tray.wait_for(&bus, "the syncing icon again", is_syncing);

    // The same photos to a remote that refuses them: jobs fail, and the
    // item asks for attention while Trip goes on syncing.
    let nas = daemon.scratch("nas");
    let add_nas = ["remotes", "add", "nas", "--kind", "fs", "--path", s(&nas)];
    daemon.cli(&add_nas).ok();
    fs::write(nas.join("Refused"), b"in the way").unwrap();
    let folder = root.join("trip");
    let create = ["collections", "create", "Refused", "--folder", s(&folder)];
    daemon
        .cli(&[&create[..], &["--remote", "nas", "--sync"]].concat())
        .ok();
    let attention = tray.wait_for(&bus, "the attention icon", needs_attention);
    assert!(!attention.text.contains(" 0 failed"), "{attention:?}");

    let menu = bus.menu(&tray.service).unwrap();
    let entry = menu
        .find("Pause for 1 hour")
        .unwrap_or_else(|| panic!("no \"Pause for 1 hour\" entry in {menu:#?}"));
    assert!(entry.enabled, "{entry:?}");
    let clicked_at = unix_now();
    bus.click(&tray.service, entry.id).unwrap();
    let status = wait_until(EVENT_TIMEOUT, "the daemon to be paused", || {
        let status = daemon.json(&["status"]);
        if status["sync"]["paused"] == true {
            Ok(status)
        } else {
            Err(status)
        }
    });
    let until = status["sync"]["paused_until"].as_i64().unwrap();
    let hour_later = clicked_at + 3600;
    assert!(
        (hour_later - 5..=hour_later + 60).contains(&until),
        "paused until {until}, expected about {hour_later}: {status}"
    );
    // Attention still wins; the tooltip tells the pause's end.
    let paused = tray.wait_for(&bus, "the tooltip to tell the pause", |state| {
        needs_attention(state) && state.text.contains("Paused until ")
    });
    assert!(!paused.text.contains("resumed"), "{paused:?}");
}

/// A daemon whose collection Trip (three photos) syncs to a remote that
/// refuses every upload: a file sits where the collection's folder must
/// go, and each job fails for good after two quick attempts. The
/// collection is not created yet.
fn daemon_with_a_refusing_remote() -> (Daemon, PathBuf) {
    let (daemon, root) =
        daemon_with_photos("[sync]\nretry_base_ms = 50\nmax_attempts = 2", 3, 1024);
    let nas = daemon.scratch("nas");
    daemon
        .cli(&["remotes", "add", "nas", "--kind", "fs", "--path", s(&nas)])
        .ok();
    fs::write(nas.join("Trip"), b"in the way").unwrap();
    (daemon, root)
}

fn needs_attention(state: &ItemState) -> bool {
    state.status == "NeedsAttention"
        && state.icon == "dialog-warning"
        && state.title == "syncroll needs attention"
}

/// Waits until the tray's log shows `n` events of `kind` handled: the
/// marker that they went through the notices.
fn wait_handled(tray: &Tray, kind: &str, n: usize) {
    wait_until(
        EVENT_TIMEOUT,
        &format!("the tray to handle {n} {kind} events"),
        || {
            let handled = tray.handled(kind);
            if handled == n { Ok(()) } else { Err(handled) }
        },
    );
}

#[test]
fn a_failed_job_is_notified_once_within_the_rate_window() {
    let (daemon, root) = daemon_with_a_refusing_remote();
    let bus = Bus::start();
    let tray = Tray::start(&bus, &daemon);
    tray.wait_for(&bus, "the idle icon", is_idle);

    create_trip(&daemon, &root, &["--remote", "nas"]);
    tray.wait_for(&bus, "the attention icon", needs_attention);
    wait_handled(&tray, "job_failed", 3);
    tray.wait_for(&bus, "the tooltip to count three failures", |state| {
        needs_attention(state) && state.text.contains("3 failed")
    });

    let notifications = bus.notifications();
    assert_eq!(notifications.len(), 1, "{notifications:#?}");
    let notice = &notifications[0];
    assert_eq!(notice.app_name, "syncroll-tray");
    assert_eq!(notice.summary, "Trip failed");
    assert!(
        notice.body.contains("is a file where a folder is needed"),
        "{notice:?}"
    );
}

#[test]
fn events_from_before_the_tray_started_are_never_notified() {
    let (mut daemon, root) = daemon_with_a_refusing_remote();
    create_trip(&daemon, &root, &["--remote", "nas"]);
    wait_until(EVENT_TIMEOUT, "three failed jobs", || {
        let status = daemon.json(&["status"]);
        if status["sync"]["failed"] == 3 {
            Ok(())
        } else {
            Err(status)
        }
    });
    let bus = Bus::start();
    let tray = Tray::start(&bus, &daemon);
    tray.wait_for(&bus, "the attention icon", needs_attention);

    // Back from a restart before any event came, the tray reads the
    // daemon's whole window, failures included, to miss nothing.
    daemon.stop();
    tray.wait_for(&bus, "the not-running icon", |state| {
        state.icon == "process-stop"
    });
    daemon.restart();
    tray.wait_for(&bus, "the attention icon again", needs_attention);
    wait_handled(&tray, "job_failed", 3);
    assert!(bus.notifications().is_empty(), "{:#?}", bus.notifications());
}

#[test]
fn the_item_survives_a_daemon_restart_and_tells_what_happened_meanwhile() {
    let (mut daemon, root) = daemon_with_photos("[catalog]\nroot_check_interval_secs = 1", 3, 256);
    let bus = Bus::start();
    let tray = Tray::start(&bus, &daemon);
    tray.wait_for(&bus, "the idle icon", is_idle);

    daemon.stop();
    tray.wait_for(&bus, "the not-running icon", is_not_running);
    assert_eq!(bus.registered_items(), std::slice::from_ref(&tray.service));

    // While the daemon is away its root goes too; the daemon finds it
    // missing once back, and the tray, resuming its feed, tells.
    fs::rename(&root, daemon.scratch("away").join("photos")).unwrap();
    daemon.restart();
    let back = tray.wait_for(
        &bus,
        "the attention icon after the restart",
        needs_attention,
    );
    assert!(
        back.text
            .contains(&format!("Missing root: {}", root.display())),
        "{back:?}"
    );
    let notices = wait_until(EVENT_TIMEOUT, "a notification of the missing root", || {
        let notices = bus.notifications();
        if notices.is_empty() {
            Err(notices)
        } else {
            Ok(notices)
        }
    });
    assert_eq!(notices.len(), 1, "{notices:#?}");
    assert_eq!(notices[0].summary, "Photo folder missing");
    assert!(notices[0].body.starts_with(s(&root)), "{notices:#?}");

    // The feed follows the new daemon: a pause is an event the tray
    // handles, not only a status it polls.
    daemon.cli(&["pause"]).ok();
    wait_handled(&tray, "pause_changed", 1);
}

#[test]
fn a_collections_toggle_pauses_and_resumes_only_that_collection() {
    let (daemon, root) = daemon_with_photos("", 3, 1024);
    create_trip(&daemon, &root, &[]);
    let bus = Bus::start();
    let tray = Tray::start(&bus, &daemon);
    tray.wait_for(&bus, "the idle icon", is_idle);
    let trip_paused = |want: bool| {
        wait_until(EVENT_TIMEOUT, &format!("Trip paused = {want}"), || {
            let sync = &daemon.json(&["status"])["sync"];
            let trip = &sync["collections"][0];
            let seen = (
                trip["name"] == "Trip",
                trip["paused"] == want,
                sync["paused"] == true,
            );
            if seen == (true, true, false) {
                Ok(())
            } else {
                Err(sync.clone())
            }
        });
    };

    let toggle = |checked: bool| {
        let menu = bus.menu(&tray.service).unwrap();
        let submenu = menu
            .children
            .iter()
            .find(|entry| entry.label.starts_with("Trip: "))
            .unwrap_or_else(|| panic!("no Trip submenu in {menu:#?}"));
        let toggle = submenu.find("Paused").expect("a Paused toggle");
        assert_eq!(toggle.checked, checked, "{toggle:?}");
        bus.click(&tray.service, toggle.id).unwrap();
    };
    toggle(false);
    trip_paused(true);
    // The menu shows the new state once the tray has read it.
    wait_until(EVENT_TIMEOUT, "the toggle to be checked", || {
        let menu = bus.menu(&tray.service).unwrap();
        match menu.find("Paused") {
            Some(entry) if entry.checked => Ok(()),
            other => Err(other.cloned()),
        }
    });
    toggle(true);
    trip_paused(false);
}

/// A script standing in for a program the tray starts: it writes its
/// arguments, one a line, to the returned file.
fn recorder(daemon: &Daemon, name: &str) -> (PathBuf, PathBuf) {
    let scratch = daemon.scratch(name);
    let record = scratch.join("args");
    let script = scratch.join("record.sh");
    let body = format!(
        "#!/bin/sh\nprintf '%s\\n' \"$@\" > {0}.tmp && mv {0}.tmp {0}\n",
        s(&record)
    );
    fs::write(&script, body).unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    (script, record)
}

#[test]
fn held_deletions_are_notified_and_their_entry_opens_syncroll_holds_in_a_terminal() {
    let (daemon, root) = daemon_with_photos("[watcher]\nenabled = false", 200, 1024);
    create_trip(&daemon, &root, &[]);
    daemon.cli(&["wait", "--timeout", "120s"]).ok();
    let (terminal, record) = recorder(&daemon, "terminal");
    let bus = Bus::start();
    let tray = Tray::start_with_env(
        &bus,
        &daemon,
        &[("SYNCROLL_TRAY_TERMINAL", terminal.as_os_str())],
    );
    tray.wait_for(&bus, "the idle icon", is_idle);

    // 80 of 200 photos vanish: the brake holds their deletions.
    let away = daemon.scratch("away");
    for i in 0..80 {
        let name = format!("t{i}.jpg");
        fs::rename(root.join("trip").join(&name), away.join(&name)).unwrap();
    }
    daemon.json(&["rescan"]);
    tray.wait_for(&bus, "the attention icon for held deletions", |state| {
        needs_attention(state) && state.text.contains("Held deletions: 80")
    });
    let notices = wait_until(EVENT_TIMEOUT, "a notification of the hold", || {
        let notices = bus.notifications();
        if notices.is_empty() {
            Err(notices)
        } else {
            Ok(notices)
        }
    });
    assert_eq!(notices.len(), 1, "{notices:#?}");
    assert_eq!(notices[0].summary, "Deletions held");

    let menu = bus.menu(&tray.service).unwrap();
    let entry = menu
        .find("Held deletions: 80")
        .expect("a Held deletions entry");
    assert!(entry.enabled, "{entry:?}");
    bus.click(&tray.service, entry.id).unwrap();
    let args = wait_until(EVENT_TIMEOUT, "the terminal to start", || {
        fs::read_to_string(&record)
    });
    let args: Vec<&str> = args.lines().collect();
    assert_eq!(args[..3], ["-e", "sh", "-c"], "{args:?}");
    // What the terminal would run lists the hold (and, its input closed,
    // does not wait for Enter: `read` fails at the end of its input, so
    // the exit status says nothing).
    let review = std::process::Command::new("sh")
        .arg("-c")
        .args(&args[3..])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&review.stdout);
    assert!(
        shown.contains("hold 1 (pending): 80 of 200 copies of \"Trip\""),
        "{review:?}"
    );
}

#[test]
fn open_log_opens_the_daemons_newest_log_file_and_quit_quits() {
    let daemon = Daemon::start();
    let (opener, opened) = recorder(&daemon, "opener");
    let bus = Bus::start();
    let mut tray = Tray::start_with_env(
        &bus,
        &daemon,
        &[("SYNCROLL_TRAY_OPENER", opener.as_os_str())],
    );
    tray.wait_for(&bus, "the idle icon", is_idle);

    let menu = bus.menu(&tray.service).unwrap();
    let entry = menu.find("Open log").expect("an Open log entry");
    bus.click(&tray.service, entry.id).unwrap();
    let path = wait_until(EVENT_TIMEOUT, "the opener to run", || {
        fs::read_to_string(&opened)
    });
    let path = PathBuf::from(path.trim());
    assert_eq!(
        path.parent(),
        Some(daemon.data_dir.join("logs").as_path()),
        "{path:?}"
    );
    let name = path.file_name().unwrap().to_str().unwrap();
    assert!(
        name.starts_with("syncrolld.") && name.ends_with(".log"),
        "{name}"
    );
    assert!(path.is_file(), "{path:?}");

    let quit = bus.menu(&tray.service).unwrap().find("Quit").unwrap().id;
    bus.click(&tray.service, quit).unwrap();
    assert!(tray.wait_exit().success());
}

#[test]
fn without_a_session_bus_the_tray_says_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let address = format!("unix:path={}", dir.path().join("no-bus").display());
    let output = std::process::Command::new(bin_path("syncroll-tray"))
        .env("DBUS_SESSION_BUS_ADDRESS", &address)
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&address), "{stderr}");
    assert!(stderr.contains("is a desktop session running"), "{stderr}");
}

#[test]
fn the_autostart_file_starts_the_tray_at_login() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/syncroll-tray.desktop");
    let entry = fs::read_to_string(path).unwrap();
    let lines: Vec<&str> = entry.lines().collect();
    assert_eq!(lines[0], "[Desktop Entry]");
    for line in [
        "Type=Application",
        "Exec=syncroll-tray",
        "X-GNOME-Autostart-enabled=true",
    ] {
        assert!(lines.contains(&line), "{path} lacks {line:?}");
    }
}

#[test]
fn version_and_help_name_the_tray() {
    let run = |arg: &str| {
        let output = std::process::Command::new(bin_path("syncroll-tray"))
            .arg(arg)
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        String::from_utf8(output.stdout).unwrap()
    };
    assert!(run("--version").starts_with("syncroll-tray "));
    let help = run("--help");
    assert!(help.contains("--socket <PATH>"), "{help}");
}
