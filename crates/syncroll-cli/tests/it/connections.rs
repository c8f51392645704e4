//! Connections through the real daemon and CLI: `connect`, `disconnect`,
//! what `collections show` and `status` say of them, `conflicts`, and
//! `rescan --remote`. The pull engine's own tests are elsewhere; these
//! cover the setting, its rules and its errors.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;
use syncroll_testkit::{CliRun, Daemon, s, write_photos};

use crate::objects;

struct Setup {
    daemon: Daemon,
    root: PathBuf,
}

impl Setup {
    /// A root with three photos in `trip/`, and the folder collection Trip
    /// following it, synced to `local` when `synced`.
    fn new(synced: bool) -> Self {
        let daemon = Daemon::start();
        let root = daemon.scratch("photos");
        write_photos(&root.join("trip"), "t", 3, 100);
        daemon.cli(&["roots", "add", s(&root)]).ok();
        daemon.json(&["rescan"]);
        let extra: &[&str] = if synced { &["--sync"] } else { &[] };
        crate::create_trip(&daemon, &root, extra);
        if synced {
            daemon.cli(&["wait", "--timeout", "120s"]).ok();
        }
        // Roots are stored resolved; so are the paths the daemon shows.
        let root = fs::canonicalize(root).unwrap();
        Self { daemon, root }
    }

    fn cli(&self, args: &[&str]) -> CliRun {
        self.daemon.cli(args)
    }

    fn json(&self, args: &[&str]) -> Value {
        self.daemon.json(args)
    }

    fn show(&self, name: &str) -> Value {
        self.json(&["collections", "show", name])["collection"].clone()
    }

    fn cloud(&self) -> PathBuf {
        self.daemon.data_dir.join("cloud")
    }
}

/// Fails with `code`, and stderr names every one of `named`.
#[track_caller]
fn refused(run: CliRun, code: i32, named: &[&str]) -> CliRun {
    let run = run.fails_with(code);
    for what in named {
        assert!(
            run.stderr.contains(what),
            "stderr does not name {what:?}: {run:#?}"
        );
    }
    run
}

fn files_under(dir: &Path) -> usize {
    objects(dir).len()
}

#[test]
fn connect_and_disconnect_round_trip_and_show_the_connection() {
    let setup = Setup::new(false);
    // Push is today's sync: connecting turns it on.
    let connected = setup.json(&[
        "connect",
        "Trip",
        "--direction",
        "push",
        "--returns",
        "version",
    ]);
    assert_eq!(connected["created"], true);
    assert_eq!(connected["collection"]["sync_enabled"], true);
    assert_eq!(connected["connection"]["direction"], "push");
    assert_eq!(connected["connection"]["poll_seconds"], 60);
    let folder = setup.root.join("trip");
    assert_eq!(
        connected["connection"]["inbox"],
        s(&folder),
        "a folder collection's inbox is its folder"
    );
    setup.cli(&["wait", "--timeout", "120s"]).ok();
    assert_eq!(files_under(&setup.cloud().join("Trip")), 3);

    // The direction can change; what is not named is kept.
    let updated = setup.json(&[
        "connect",
        "Trip",
        "--direction",
        "both",
        "--returns",
        "version",
        "--poll",
        "5m",
    ]);
    assert_eq!(updated["created"], false);
    assert_eq!(updated["connection"]["direction"], "both");
    assert_eq!(updated["connection"]["poll_seconds"], 300);

    let shown = setup.cli(&["collections", "show", "Trip"]).ok().stdout;
    // The lines scripts read are there as before, the connection's after them.
    assert!(
        shown.starts_with("name     Trip\nkind     folder\n"),
        "{shown}"
    );
    assert!(shown.contains("\nsync     on: 3/3 photos"), "{shown}");
    assert!(
        shown.contains("\nconnect  both, edits return as versions, polled every 5m\n"),
        "{shown}"
    );
    assert!(
        shown.contains(&format!("\ninbox    {}\n", folder.display())),
        "{shown}"
    );
    // The pull engine polls a new connection at once: "never" until then.
    assert!(shown.contains("\npolled   "), "{shown}");
    assert_eq!(setup.show("Trip")["connection"]["returns"], "version");

    let status = setup.cli(&["status"]).ok().stdout;
    assert!(
        status.contains("\nconnections\n  Trip <-> local: both, edits return as versions, polled every 5m; last poll "),
        "{status}"
    );
    assert!(status.contains("\nconflicts  0 open\n"), "{status}");
    let status = setup.json(&["status"]);
    assert_eq!(status["open_conflicts"], 0);
    assert_eq!(status["connections"][0]["collection"], "Trip");
    assert!(status["connections"][0]["last_polled_at_ms"].is_i64());

    let disconnected = setup.cli(&["disconnect", "Trip"]).ok().stdout;
    assert_eq!(
        disconnected,
        "disconnected Trip: it syncs push-only to local again; nothing was deleted\n"
    );
    let after = setup.show("Trip");
    assert_eq!(after["connection"], Value::Null);
    assert_eq!(
        after["sync_enabled"], true,
        "back to push-only sync, not off"
    );
    let shown = setup.cli(&["collections", "show", "Trip"]).ok().stdout;
    assert!(!shown.contains("connect "), "{shown}");
    assert!(!setup.cli(&["status"]).ok().stdout.contains("connections"));
    // Disconnecting again changes nothing and says so.
    assert_eq!(
        setup.cli(&["disconnect", "Trip"]).ok().stdout,
        "Trip was not connected; nothing changed\n"
    );
}

#[test]
fn a_manual_collections_inbox_defaults_to_its_first_root() {
    let setup = Setup::new(false);
    setup.cli(&["collections", "create", "Best", "--sync"]).ok();
    setup
        .cli(&[
            "collections",
            "add",
            "Best",
            s(&setup.root.join("trip/t0.jpg")),
        ])
        .ok();
    let pulled = setup.json(&[
        "connect",
        "Best",
        "--direction",
        "pull",
        "--returns",
        "copy",
    ]);
    assert_eq!(pulled["connection"]["inbox"], s(&setup.root.join("Best")));
    assert_eq!(pulled["connection"]["returns"], "copy");

    let inbox = setup.root.join("incoming/phone");
    let moved = setup.json(&[
        "connect",
        "Best",
        "--direction",
        "pull",
        "--returns",
        "copy",
        "--inbox",
        s(&inbox),
    ]);
    assert_eq!(
        moved["connection"]["inbox"],
        s(&inbox),
        "an inbox need not exist yet"
    );
}

#[test]
fn returns_cannot_change_once_connected() {
    let setup = Setup::new(true);
    setup
        .cli(&[
            "connect",
            "Trip",
            "--direction",
            "both",
            "--returns",
            "copy",
        ])
        .ok();
    refused(
        setup.cli(&[
            "connect",
            "Trip",
            "--direction",
            "both",
            "--returns",
            "version",
        ]),
        1,
        &[
            "\"Trip\"",
            "--returns copy",
            "fixed once a connection exists",
            "disconnect",
        ],
    );
    assert_eq!(setup.show("Trip")["connection"]["returns"], "copy");
    let help = setup.cli(&["connect", "--help"]).ok().stdout;
    assert!(help.contains("fixed once it exists"), "{help}");
    // Left out, it is kept: only the direction changes.
    setup.cli(&["connect", "Trip", "--direction", "pull"]).ok();
    let shown = setup.show("Trip")["connection"].clone();
    assert_eq!(
        (&shown["direction"], &shown["returns"]),
        (&"pull".into(), &"copy".into())
    );
}

#[test]
fn bad_values_are_refused_naming_them() {
    let setup = Setup::new(true);
    let connect = |extra: &[&str]| {
        let mut args = vec![
            "connect",
            "Trip",
            "--direction",
            "both",
            "--returns",
            "version",
        ];
        args.extend_from_slice(extra);
        setup.cli(&args)
    };
    let outside = setup.daemon.scratch("elsewhere");
    let manual_inbox = |inbox: &Path| {
        setup.cli(&[
            "connect",
            "Best",
            "--direction",
            "push",
            "--returns",
            "version",
            "--inbox",
            s(inbox),
        ])
    };
    setup.cli(&["collections", "create", "Best"]).ok();
    refused(
        manual_inbox(&outside),
        1,
        &[
            s(&fs::canonicalize(&outside).unwrap()),
            "not under any root",
            s(&setup.root),
        ],
    );
    refused(
        manual_inbox(&setup.root.join("a/../../x")),
        1,
        &["a/../../x", "'..'"],
    );
    refused(
        connect(&["--inbox", s(&setup.root.join("other"))]),
        1,
        &["follows the folder", "--inbox"],
    );
    refused(connect(&["--poll", "5s"]), 1, &["5s", "10s to 24h"]);
    refused(connect(&["--poll", "3d"]), 1, &["259200s", "10s to 24h"]);
    refused(connect(&["--poll", "soon"]), 2, &["soon"]);
    refused(
        connect(&["--poll", "1500ms"]),
        2,
        &["1500ms", "whole number of seconds"],
    );
    refused(
        setup.cli(&[
            "connect",
            "Trip",
            "--direction",
            "sideways",
            "--returns",
            "version",
        ]),
        2,
        &["sideways"],
    );
    refused(
        setup.cli(&[
            "connect",
            "Nope",
            "--direction",
            "both",
            "--returns",
            "version",
        ]),
        1,
        &["collection \"Nope\" does not exist"],
    );
    refused(setup.cli(&["disconnect", "Nope"]), 1, &["\"Nope\""]);
    refused(
        setup.cli(&["rescan", "--remote", "nowhere"]),
        1,
        &["remote \"nowhere\" does not exist"],
    );
    // A remote that exists but that no connection pulls from.
    refused(
        setup.cli(&["rescan", "--remote", "local"]),
        1,
        &["\"local\"", "serves no connection"],
    );
    // Pulling needs the collection synced.
    refused(
        setup.cli(&[
            "connect",
            "Best",
            "--direction",
            "pull",
            "--returns",
            "copy",
        ]),
        1,
        &["\"Best\" is not synced", "sync on"],
    );
    let json = setup.cli(&[
        "--json",
        "connect",
        "Trip",
        "--direction",
        "both",
        "--returns",
        "version",
        "--poll",
        "5s",
    ]);
    assert_eq!(
        json.fails_with(1).json()["error"]["code"],
        "invalid_argument"
    );
    // Nothing refused was stored.
    assert_eq!(setup.show("Trip")["connection"], Value::Null);
    assert_eq!(setup.show("Best")["connection"], Value::Null);
}

#[test]
fn disconnect_deletes_nothing_anywhere() {
    let setup = Setup::new(true);
    setup
        .cli(&[
            "connect",
            "Trip",
            "--direction",
            "both",
            "--returns",
            "version",
        ])
        .ok();
    let remote_before = objects(&setup.cloud());
    let local_before = objects(&setup.root);
    let synced_before = setup.show("Trip")["synced_count"].clone();
    assert_eq!(remote_before.len(), 3);
    assert_eq!(local_before.len(), 3);

    setup.cli(&["disconnect", "Trip"]).ok();
    // Planning after the change has settled before anything is counted.
    setup.cli(&["wait", "--timeout", "120s"]).ok();
    assert_eq!(objects(&setup.cloud()), remote_before);
    assert_eq!(objects(&setup.root), local_before);
    assert_eq!(
        setup.show("Trip")["synced_count"],
        synced_before,
        "the ledger keeps every row"
    );
    let queued = setup
        .cli(&["--json", "jobs", "--state", "queued"])
        .ok()
        .json_lines();
    assert!(queued.is_empty(), "nothing is queued: {queued:?}");
}

#[test]
fn conflicts_on_an_empty_catalog_lists_none() {
    let daemon = Daemon::start();
    assert_eq!(daemon.cli(&["conflicts"]).ok().stdout, "no conflicts\n");
    assert_eq!(
        daemon.cli(&["conflicts", "--all"]).ok().stdout,
        "no conflicts\n"
    );
    let listed = daemon.json(&["conflicts"]);
    assert!(
        listed["conflicts"].as_array().is_none_or(Vec::is_empty),
        "{listed}"
    );
    assert_eq!(daemon.json(&["status"])["open_conflicts"], 0);
}

#[test]
fn rescan_remote_asks_the_pull_engine_for_a_poll() {
    let setup = Setup::new(true);
    setup
        .cli(&[
            "connect",
            "Trip",
            "--direction",
            "pull",
            "--returns",
            "copy",
        ])
        .ok();
    let asked = setup.json(&["rescan", "--remote", "local"]);
    assert_eq!(asked["collections"], serde_json::json!(["Trip"]));
    assert_eq!(
        setup.cli(&["rescan", "--remote", "local"]).ok().stdout,
        "poll of local asked for: Trip\n"
    );
    refused(
        setup.cli(&["rescan", "--remote", "local", "--no-wait"]),
        2,
        &["--no-wait"],
    );
}

#[test]
fn a_connection_survives_a_daemon_restart() {
    let mut setup = Setup::new(true);
    setup
        .cli(&[
            "connect",
            "Trip",
            "--direction",
            "both",
            "--returns",
            "copy",
            "--poll",
            "90s",
        ])
        .ok();
    // Less what the pull engine's polls write, which a restart polls anew.
    let settings = |mut connection: Value| {
        let fields = connection.as_object_mut().unwrap();
        fields.remove("last_polled_at_ms");
        fields.remove("last_poll_outcome");
        connection
    };
    let before = settings(setup.show("Trip")["connection"].clone());
    setup.daemon.stop();
    setup.daemon.restart();
    assert_eq!(settings(setup.show("Trip")["connection"].clone()), before);
    assert_eq!(before["poll_seconds"], 90);
    refused(
        setup.cli(&[
            "connect",
            "Trip",
            "--direction",
            "push",
            "--returns",
            "version",
        ]),
        1,
        &["--returns copy"],
    );
}
