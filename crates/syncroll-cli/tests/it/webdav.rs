//! Sync to a WebDAV remote: a real WebDAV server (dav-server) in this test
//! process on 127.0.0.1, driven through the real daemon and CLI.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use crate::{create_trip, objects};
use syncroll_testkit::{Daemon, WebDavServer, s, write_file, write_photos};

/// The variable `remotes add` is told to read the password from.
const PASSWORD_VAR: &str = "SYNCROLL_TEST_DAV_PASSWORD";

/// `remotes add NAME --kind webdav --url URL --user U --password-env VAR`
/// with `password` in the variable, plus `extra` arguments.
fn add_webdav(
    daemon: &Daemon,
    name: &str,
    url: &str,
    password: &str,
    extra: &[&str],
) -> syncroll_testkit::CliRun {
    let mut args = vec![
        "remotes",
        "add",
        name,
        "--kind",
        "webdav",
        "--url",
        url,
        "--user",
        WebDavServer::USER,
        "--password-env",
        PASSWORD_VAR,
    ];
    args.extend_from_slice(extra);
    daemon.cli_with_env(&args, &[(PASSWORD_VAR, password)])
}

#[test]
fn a_collection_syncs_to_webdav_and_sync_off_removes_only_its_objects() {
    let server = WebDavServer::start();
    let daemon = Daemon::start();
    let root = daemon.scratch("photos");
    write_photos(&root.join("trip"), "t", 30, 100 * 1024);
    write_photos(&root.join("trip/day 2"), "d", 5, 50 * 1024);
    let big: Vec<u8> = (0..20 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    write_file(&root.join("trip/clip.mov"), &big);
    daemon.cli(&["roots", "add", s(&root)]).ok();
    daemon.json(&["rescan"]);

    add_webdav(
        &daemon,
        "nextcloud",
        &server.url(),
        WebDavServer::PASSWORD,
        &["--prefix", "backup"],
    )
    .ok();
    let listed = daemon.cli(&["--json", "remotes", "list"]).ok().stdout;
    assert!(
        listed.contains("webdav:") && listed.contains("backup"),
        "{listed}"
    );
    assert!(!listed.contains(WebDavServer::PASSWORD), "{listed}");
    let creds = daemon.data_dir.join("credentials.toml");
    assert_eq!(
        fs::metadata(&creds).unwrap().permissions().mode() & 0o777,
        0o600
    );
    daemon.cli(&["remotes", "test", "nextcloud"]).ok();

    create_trip(&daemon, &root, &["--remote", "nextcloud", "--sync"]);
    daemon.cli(&["wait", "--timeout", "120s"]).ok();
    let stored = server.folder().join("backup/Trip/trip");
    assert_eq!(
        objects(&stored),
        objects(&root.join("trip")),
        "byte-identical, no temporaries"
    );
    let synced = daemon.json(&["status"]);
    assert_eq!(
        synced["sync"]["collections"][0]["synced_count"], 36,
        "{synced}"
    );

    write_file(
        &server.folder().join("backup/Trip/trip/by-hand.jpg"),
        b"foreign",
    );
    daemon.cli(&["sync", "off", "Trip", "--yes"]).ok();
    daemon.cli(&["wait", "--timeout", "120s"]).ok();
    assert_eq!(
        objects(&server.folder().join("backup")),
        vec![("Trip/trip/by-hand.jpg".to_owned(), b"foreign".to_vec())]
    );
    let status = daemon.cli(&["--json", "status"]).ok().stdout;
    assert!(!status.contains(WebDavServer::PASSWORD));
    assert!(
        !daemon.log().contains(WebDavServer::PASSWORD),
        "the password never reaches the log"
    );
}

#[test]
fn a_photo_in_two_collections_is_copied_on_the_server() {
    let server = WebDavServer::start();
    let daemon = Daemon::start();
    let root = daemon.scratch("photos");
    write_photos(&root.join("trip"), "t", 3, 300 * 1024);
    daemon.cli(&["roots", "add", s(&root)]).ok();
    daemon.json(&["rescan"]);
    add_webdav(&daemon, "dav", &server.url(), WebDavServer::PASSWORD, &[]).ok();
    create_trip(&daemon, &root, &["--remote", "dav", "--sync"]);
    daemon.cli(&["wait", "--timeout", "60s"]).ok();
    let folder = s(&root.join("trip")).to_owned();
    daemon
        .cli(&[
            "collections",
            "create",
            "Best",
            "--folder",
            &folder,
            "--remote",
            "dav",
            "--sync",
        ])
        .ok();
    daemon.cli(&["wait", "--timeout", "60s"]).ok();
    assert_eq!(
        objects(&server.folder().join("Best/trip")),
        objects(&root.join("trip"))
    );
    let seen = server.seen();
    assert_eq!(
        seen.iter().filter(|r| r.method == "COPY").count(),
        3,
        "the second collection was copied"
    );
    assert_eq!(
        seen.iter().filter(|r| r.method == "PUT").count(),
        3,
        "each photo was sent once"
    );
}

#[test]
fn bad_webdav_settings_are_refused_naming_the_value() {
    let server = WebDavServer::start();
    let daemon = Daemon::start();
    let run = add_webdav(&daemon, "b", "ftp://x/y", "p", &[]).fails_with(1);
    assert!(run.stderr.contains("ftp://x/y"), "{run:?}");
    let run = add_webdav(&daemon, "b", &server.url(), "p", &["--prefix", "a/../b"]).fails_with(1);
    assert!(run.stderr.contains("a/../b"), "{run:?}");
    let run = daemon
        .cli(&["remotes", "add", "b", "--kind", "webdav"])
        .fails_with(1);
    assert!(run.stderr.contains("--url"), "{run:?}");
    let run = daemon
        .cli(&[
            "remotes",
            "add",
            "b",
            "--kind",
            "webdav",
            "--url",
            &server.url(),
            "--user",
            "u",
        ])
        .fails_with(2);
    assert!(run.stderr.contains("--password-env"), "{run:?}");
    let run = daemon
        .cli(&[
            "remotes",
            "add",
            "b",
            "--kind",
            "webdav",
            "--url",
            &server.url(),
            "--user",
            "u",
            "--password-env",
            "SYNCROLL_TEST_UNSET_VAR",
        ])
        .fails_with(1);
    assert!(run.stderr.contains("SYNCROLL_TEST_UNSET_VAR"), "{run:?}");
    assert_eq!(
        daemon.json(&["remotes", "list"])["remotes"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // A wrong password is stored, but `remotes test` says it was refused,
    // and a sync to it fails at once, saying why, without retrying.
    add_webdav(&daemon, "wrong", &server.url(), "not-the-password", &[]).ok();
    let run = daemon.cli(&["remotes", "test", "wrong"]).fails_with(1);
    assert!(run.stderr.contains("password"), "{run:?}");
    assert!(!run.stderr.contains("not-the-password"));
    let root = daemon.scratch("photos");
    write_photos(&root.join("trip"), "t", 2, 1024);
    daemon.cli(&["roots", "add", s(&root)]).ok();
    daemon.json(&["rescan"]);
    create_trip(&daemon, &root, &["--remote", "wrong", "--sync"]);
    let run = daemon.cli(&["wait", "--timeout", "60s"]);
    assert_ne!(run.code, 0, "{run:?}");
    let failed = daemon
        .cli(&["--json", "jobs", "--state", "failed"])
        .ok()
        .json_lines();
    assert_eq!(failed.len(), 2, "{failed:#?}");
    for job in &failed {
        assert_eq!(job["attempts"], 1, "a refusal is not retried: {job}");
        assert!(job["error"].as_str().unwrap().contains("password"), "{job}");
    }
}

#[test]
fn a_server_in_maintenance_is_waited_for_without_spending_attempts() {
    let server = WebDavServer::start();
    let daemon = Daemon::builder().config("[sync]\nmax_attempts = 2").start();
    let root = daemon.scratch("photos");
    write_photos(&root.join("trip"), "t", 6, 10 * 1024);
    daemon.cli(&["roots", "add", s(&root)]).ok();
    daemon.json(&["rescan"]);
    add_webdav(&daemon, "dav", &server.url(), WebDavServer::PASSWORD, &[]).ok();
    // More refusals than jobs times attempts: only waiting them out works.
    server.busy_for(20);
    create_trip(&daemon, &root, &["--remote", "dav", "--sync"]);
    daemon.cli(&["wait", "--timeout", "120s"]).ok();
    assert_eq!(
        objects(&server.folder().join("Trip/trip")),
        objects(&root.join("trip"))
    );
    let done = daemon
        .cli(&["--json", "jobs", "--state", "done"])
        .ok()
        .json_lines();
    assert_eq!(done.len(), 6);
    assert!(
        daemon.log().contains("asked syncroll to wait 1s"),
        "the wait is logged"
    );
}
