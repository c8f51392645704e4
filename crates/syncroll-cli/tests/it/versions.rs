//! `syncroll versions`: what the CLI says and how it exits when there is
//! nothing to restore. Listing and restoring real versions is tested with
//! the daemon (`crates/syncroll-daemon/tests/it/versions.rs`), which can
//! make versions the way pulling a remote edit will; no RPC may.

use std::fs;

use syncroll_testkit::{Daemon, s, write_file};

/// A daemon with one root holding `IMG_1.jpg`, indexed.
fn daemon_with_photo() -> (Daemon, std::path::PathBuf) {
    let daemon = Daemon::start();
    let root = fs::canonicalize(daemon.scratch("photos")).unwrap();
    let photo = write_file(&root.join("IMG_1.jpg"), b"bytes");
    daemon.cli(&["roots", "add", s(&root)]).ok();
    daemon.wait_for_photos(None, &["IMG_1.jpg"]);
    (daemon, photo)
}

#[test]
fn a_photo_without_versions_lists_none_and_status_counts_an_empty_store() {
    let (daemon, photo) = daemon_with_photo();
    let run = daemon.cli(&["versions", s(&photo)]).ok();
    assert_eq!(run.stdout.trim(), format!("{}: no versions", s(&photo)));
    assert_eq!(
        daemon.cli(&["--json", "versions", s(&photo)]).ok().stdout,
        ""
    );
    let status = daemon.json(&["status"]);
    assert_eq!(status["versions"]["count"], 0, "{status}");
    assert_eq!(status["versions"]["bytes"], 0, "{status}");
    let human = daemon.cli(&["status"]).ok().stdout;
    assert!(
        human.contains("\nversions   0 kept, 0 B\nroots\n"),
        "{human}"
    );
}

#[test]
fn versions_fails_naming_an_unknown_path_or_version() {
    let (daemon, photo) = daemon_with_photo();
    let gone = photo.with_file_name("NOPE.jpg");
    let run = daemon.cli(&["versions", s(&gone)]).fails_with(1);
    assert!(
        run.stderr
            .contains(&format!("{} has no versions and does not exist", s(&gone))),
        "{run:?}"
    );
    let run = daemon
        .cli(&["--json", "versions", "restore", s(&photo), "3"])
        .fails_with(1);
    let error = &run.json()["error"];
    assert_eq!(error["code"], "not_found", "{run:?}");
    assert_eq!(
        error["message"],
        format!(
            "version 3 of {} does not exist (list its versions with `syncroll versions`)",
            s(&photo)
        )
    );
    assert_eq!(fs::read(&photo).unwrap(), b"bytes");
}

#[test]
fn versions_without_a_path_or_a_number_is_a_usage_error() {
    let daemon = Daemon::start();
    daemon.cli(&["versions"]).fails_with(2);
    daemon.cli(&["versions", "restore", "/a.jpg"]).fails_with(2);
    daemon
        .cli(&["versions", "restore", "/a.jpg", "first"])
        .fails_with(2);
}

#[test]
fn a_root_inside_the_data_dir_is_refused() {
    let daemon = Daemon::start();
    let inside = daemon.data_dir.join("versions");
    let run = daemon.cli(&["roots", "add", s(&inside)]).fails_with(1);
    assert!(
        run.stderr.contains("lies inside syncroll's data dir"),
        "{run:?}"
    );
    assert!(
        daemon.json(&["roots", "list"])["roots"]
            .as_array()
            .is_none_or(Vec::is_empty)
    );
}
