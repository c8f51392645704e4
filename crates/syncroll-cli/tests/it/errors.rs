//! Every bad input gets exit 1 and a message naming the bad value; the
//! daemon's absence gets exit 3 naming the socket.

use syncroll_testkit::{Daemon, bin_path, s, write_file};

#[test]
fn bad_collection_names_are_refused_by_name() {
    let daemon = Daemon::start();
    let long = "x".repeat(129);
    for name in ["", ".", "..", "a/b", "tab\there", &long] {
        let run = daemon.cli(&["collections", "create", name]).fails_with(1);
        assert!(
            run.stderr.contains(&format!("{name:?}")),
            "{name:?}: {run:?}"
        );
        assert!(run.stderr.contains("invalid collection name"), "{run:?}");
    }
    daemon
        .cli(&["collections", "create", &"x".repeat(128)])
        .ok();
    let renamed = daemon
        .cli(&["collections", "rename", &"x".repeat(128), "a/b"])
        .fails_with(1);
    assert!(renamed.stderr.contains("\"a/b\""), "{renamed:?}");
    assert_eq!(
        daemon.json(&["collections", "list"])["collections"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn unknown_collection_is_named() {
    let daemon = Daemon::start();
    for args in [
        vec!["collections", "show", "Nope"],
        vec!["collections", "delete", "Nope"],
        vec!["collections", "rename", "Nope", "Other"],
        vec!["collections", "add", "Nope", "/tmp"],
        vec!["photos", "--collection", "Nope"],
    ] {
        let run = daemon.cli(&args).fails_with(1);
        assert!(
            run.stderr.contains("collection \"Nope\" does not exist"),
            "{args:?}: {run:?}"
        );
    }
}

#[test]
fn paths_outside_roots_and_missing_paths_are_named() {
    let daemon = Daemon::start();
    let root = daemon.scratch("photos");
    let outside = daemon.scratch("outside");
    let stray = write_file(&outside.join("stray.jpg"), b"x");
    daemon.cli(&["roots", "add", s(&root)]).ok();
    daemon.cli(&["collections", "create", "C"]).ok();

    let run = daemon
        .cli(&["collections", "add", "C", s(&stray)])
        .fails_with(1);
    assert!(
        run.stderr.contains(s(&stray)) && run.stderr.contains("not under any root"),
        "{run:?}"
    );
    let run = daemon
        .cli(&["collections", "create", "F", "--folder", s(&outside)])
        .fails_with(1);
    assert!(run.stderr.contains("not under any root"), "{run:?}");

    let ghost = root.join("ghost.jpg");
    let run = daemon
        .cli(&["collections", "add", "C", s(&ghost)])
        .fails_with(1);
    assert!(
        run.stderr.contains(s(&ghost)) && run.stderr.contains("does not exist"),
        "{run:?}"
    );
    let run = daemon
        .cli(&["roots", "add", s(&outside.join("nope"))])
        .fails_with(1);
    assert!(
        run.stderr.contains("nope") && run.stderr.contains("does not exist"),
        "{run:?}"
    );
    let run = daemon.cli(&["roots", "add", s(&stray)]).fails_with(1);
    assert!(run.stderr.contains("is not a directory"), "{run:?}");
    let run = daemon.cli(&["roots", "remove", s(&outside)]).fails_with(1);
    assert!(run.stderr.contains("is not a root"), "{run:?}");
    let run = daemon
        .cli(&["collections", "create", "R", "--remote", "nas"])
        .fails_with(1);
    assert!(
        run.stderr.contains("remote \"nas\" does not exist"),
        "{run:?}"
    );
    let notes = write_file(&root.join("notes.txt"), b"x");
    let run = daemon
        .cli(&["collections", "add", "C", s(&notes)])
        .fails_with(1);
    assert!(run.stderr.contains("is not a photo"), "{run:?}");

    // Nothing was half-done by the failed calls.
    assert_eq!(
        daemon.json(&["collections", "show", "C"])["collection"]["photo_count"],
        0
    );
}

#[test]
fn json_errors_are_documents_on_stdout() {
    let daemon = Daemon::start();
    let run = daemon
        .cli(&["--json", "collections", "show", "Nope"])
        .fails_with(1);
    let doc = run.json();
    assert_eq!(doc["error"]["code"], "not_found");
    assert_eq!(
        doc["error"]["message"],
        "collection \"Nope\" does not exist"
    );
}

#[test]
fn daemon_not_running_exits_3_naming_the_socket() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("absent.sock");
    let out = std::process::Command::new(bin_path("syncroll"))
        .args(["--socket", s(&socket), "--json", "status"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(s(&socket)) && stderr.contains("Is it running?"),
        "{stderr}"
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["error"]["code"], "unavailable");
}

#[test]
fn usage_errors_exit_2() {
    let out = std::process::Command::new(bin_path("syncroll"))
        .args(["collections", "frobnicate"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn every_command_has_help() {
    for args in [
        vec!["--help"],
        vec!["status", "--help"],
        vec!["roots", "--help"],
        vec!["roots", "add", "--help"],
        vec!["rescan", "--help"],
        vec!["collections", "--help"],
        vec!["collections", "create", "--help"],
        vec!["collections", "add", "--help"],
        vec!["photos", "--help"],
    ] {
        let out = std::process::Command::new(bin_path("syncroll"))
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Usage:"),
            "{args:?}"
        );
    }
}
