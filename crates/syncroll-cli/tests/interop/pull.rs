//! Interop of the pull engine: another client, the rclone client, puts and
//! changes photos in a connected collection's folder on `rclone serve s3`
//! and `rclone serve webdav`, and they come home through those servers'
//! own listings, ETags and ranged GETs, not the in-process test servers'.
//!
//! Each protocol's test is [`pull_round_trip`]: a new file comes home; an
//! edit comes back as a version whose old bytes `syncroll versions` lists
//! and restores byte for byte; an edit on both sides is saved as a conflict
//! copy, both byte sets intact.

use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use syncroll_testkit::{Daemon, RcloneServer, s, wait_until, write_file, write_photos};

use crate::{COLLECTION, REMOTE, SECRET_VAR, SYNC_TIMEOUT};

const POLL_TIMEOUT: Duration = Duration::from_secs(120);

#[test]
fn pull_from_rclone_serve_s3_brings_new_files_edits_and_conflicts_home() {
    let server = RcloneServer::s3();
    let base = format!("{}/syncroll", RcloneServer::BUCKET);
    pull_round_trip(&server, &base, |daemon| {
        daemon
            .cli_with_env(
                &[
                    "remotes",
                    "add",
                    REMOTE,
                    "--kind",
                    "s3",
                    "--endpoint",
                    server.url(),
                    "--bucket",
                    RcloneServer::BUCKET,
                    "--prefix",
                    "syncroll",
                    "--access-key-id",
                    RcloneServer::ACCESS_KEY,
                    "--secret-env",
                    SECRET_VAR,
                ],
                &[(SECRET_VAR, RcloneServer::SECRET_KEY)],
            )
            .ok();
    });
}

#[test]
fn pull_from_rclone_serve_webdav_brings_new_files_edits_and_conflicts_home() {
    let server = RcloneServer::webdav();
    pull_round_trip(&server, "syncroll", |daemon| {
        daemon
            .cli_with_env(
                &[
                    "remotes",
                    "add",
                    REMOTE,
                    "--kind",
                    "webdav",
                    "--url",
                    server.url(),
                    "--prefix",
                    "syncroll",
                    "--user",
                    RcloneServer::USER,
                    "--password-env",
                    SECRET_VAR,
                ],
                &[(SECRET_VAR, RcloneServer::PASSWORD)],
            )
            .ok();
    });
}

/// Asks for a poll of [`REMOTE`] and waits for one begun after the asking
/// to finish; returns its outcome.
fn poll(daemon: &Daemon) -> String {
    let before = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    daemon.cli(&["rescan", "--remote", REMOTE]).ok();
    wait_until(POLL_TIMEOUT, "a poll to finish", || {
        let connection = daemon.json(&["status"])["connections"][0].clone();
        if connection["last_polled_at_ms"].as_i64().unwrap_or(0) >= before {
            Ok(connection["last_poll_outcome"]
                .as_str()
                .unwrap_or_default()
                .to_owned())
        } else {
            Err(connection)
        }
    })
}

/// `rclone cat srv:PATH`: the bytes the server holds, read by rclone.
fn remote_bytes(server: &RcloneServer, path: &str) -> Vec<u8> {
    let output = server
        .client()
        .arg("cat")
        .arg(server.remote(path))
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run rclone cat");
    assert!(
        output.status.success(),
        "rclone cat {path}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// `rclone copyto LOCAL srv:PATH`, the way a desktop client uploads a file.
fn copy_to_remote(server: &RcloneServer, scratch: &Path, path: &str, bytes: &[u8]) {
    let local = write_file(&scratch.join("upload.jpg"), bytes);
    server
        .run(&["copyto", s(&local), server.remote(path).as_str()])
        .ok();
}

fn pull_round_trip(server: &RcloneServer, base: &str, add_remote: impl Fn(&Daemon)) {
    let daemon = Daemon::start();
    let root = daemon.scratch("photos");
    let scratch = daemon.scratch("elsewhere");
    write_photos(&root.join("2025"), "img-", 3, 4 << 10);
    daemon.cli(&["roots", "add", s(&root)]).ok();
    daemon.json(&["rescan"]);
    add_remote(&daemon);
    daemon
        .cli(&[
            "collections",
            "create",
            COLLECTION,
            "--folder",
            s(&root),
            "--remote",
            REMOTE,
            "--sync",
        ])
        .ok();
    daemon.cli(&["wait", "--timeout", SYNC_TIMEOUT]).ok();
    daemon
        .cli(&[
            "connect",
            COLLECTION,
            "--direction",
            "both",
            "--returns",
            "version",
        ])
        .ok();
    // The connection's own first poll may run at any moment; this one is
    // ours, and the album is quiet after it.
    poll(&daemon);
    let root = fs::canonicalize(&root).unwrap();
    let folder = format!("{base}/{COLLECTION}");

    // A new file, put by rclone, comes home byte for byte.
    let phone = format!("{folder}/from the phone/IMG_0001.jpg");
    let original = b"\xff\xd8 shot on the phone, sent with rclone rcat".to_vec();
    server.put(&phone, &original);
    let outcome = poll(&daemon);
    assert!(outcome.contains("1 downloaded"), "{outcome}");
    let landed = root.join("from the phone/IMG_0001.jpg");
    assert_eq!(fs::read(&landed).ok(), Some(original.clone()));
    daemon.cli(&["wait", "--timeout", SYNC_TIMEOUT]).ok();
    let quiet = poll(&daemon);
    assert!(
        quiet.contains(" 0 downloaded") && !quiet.contains("failed"),
        "{quiet}"
    );

    // An edit, copied over it by rclone, comes back as a version: the old
    // bytes are listed and restore byte for byte.
    let edited = b"\xff\xd8 shot on the phone, then cropped on the laptop and copied".to_vec();
    copy_to_remote(server, &scratch, &phone, &edited);
    let outcome = poll(&daemon);
    assert!(
        outcome.contains("1 edits returned as versions"),
        "{outcome}"
    );
    assert_eq!(fs::read(&landed).ok(), Some(edited.clone()));
    let versions = daemon
        .cli(&["--json", "versions", s(&landed)])
        .ok()
        .json_lines();
    assert_eq!(versions.len(), 1, "{versions:?}");
    assert_eq!(versions[0]["size"], original.len());
    assert_eq!(
        versions[0]["hash"],
        blake3::hash(&original).to_hex().as_str()
    );
    daemon.cli(&["wait", "--timeout", SYNC_TIMEOUT]).ok();
    let quiet = poll(&daemon);
    assert!(
        quiet.contains(" 0 downloaded") && !quiet.contains("edits"),
        "{quiet}"
    );
    assert_eq!(remote_bytes(server, &phone), edited, "the edit stays");
    daemon.cli(&["versions", "restore", s(&landed), "1"]).ok();
    assert_eq!(fs::read(&landed).ok(), Some(original.clone()));
    // The restore is a local change like any other: it goes up.
    daemon.cli(&["wait", "--timeout", SYNC_TIMEOUT]).ok();
    wait_until(POLL_TIMEOUT, "the restored bytes on the remote", || {
        let now = remote_bytes(server, &phone);
        if now == original {
            Ok(())
        } else {
            Err(now.len())
        }
    });
    let quiet = poll(&daemon);
    assert!(
        quiet.contains(" 0 downloaded") && !quiet.contains("failed"),
        "{quiet}"
    );

    // Both sides edited (the connection pulling only, so the push side
    // does not send the local edit before the poll sees the remote one):
    // the local file keeps its bytes, the remote's are saved beside it,
    // both intact.
    daemon
        .cli(&["connect", COLLECTION, "--direction", "pull"])
        .ok();
    let local = b"\xff\xd8 retouched on the laptop".to_vec();
    let remote = b"\xff\xd8 retouched in the phone's editor, and longer".to_vec();
    write_file(&landed, &local);
    daemon.json(&["rescan"]);
    copy_to_remote(server, &scratch, &phone, &remote);
    let outcome = poll(&daemon);
    assert!(outcome.contains("1 conflicts saved as copies"), "{outcome}");
    assert_eq!(fs::read(&landed).ok(), Some(local));
    let listed = daemon.json(&["conflicts"]);
    let conflicts = listed["conflicts"].as_array().unwrap();
    assert_eq!(conflicts.len(), 1, "{listed}");
    let copy = conflicts[0]["copy_path"].as_str().unwrap();
    assert_eq!(fs::read(copy).ok(), Some(remote.clone()));
    assert_eq!(remote_bytes(server, &phone), remote);
    let again = poll(&daemon);
    assert!(
        !again.contains("conflicts") && !again.contains("failed"),
        "{again}"
    );
}
