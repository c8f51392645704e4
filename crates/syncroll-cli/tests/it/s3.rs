//! Sync to an S3-compatible remote: a real S3 server (s3s-fs) in this test
//! process on 127.0.0.1, driven through the real daemon and CLI.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::{create_trip, objects};
use syncroll_testkit::{Daemon, S3Server, s, write_file, write_photos};

/// The variable `remotes add` is told to read the secret from.
const SECRET_VAR: &str = "SYNCROLL_TEST_S3_SECRET";

/// What `remotes add NAME --kind s3` is given; the defaults point at a
/// test server's bucket with its key.
struct S3Add<'a> {
    name: &'a str,
    endpoint: &'a str,
    bucket: &'a str,
    key_id: &'a str,
    /// Put in [`SECRET_VAR`]; `None` leaves it unset.
    secret: Option<&'a str>,
    prefix: &'a str,
}

impl<'a> S3Add<'a> {
    fn to(server: &'a S3Server, name: &'a str) -> Self {
        Self {
            name,
            endpoint: server.endpoint_str(),
            bucket: S3Server::BUCKET,
            key_id: S3Server::ACCESS_KEY,
            secret: Some(S3Server::SECRET_KEY),
            prefix: "",
        }
    }

    fn run(&self, daemon: &Daemon) -> syncroll_testkit::CliRun {
        let mut args = vec![
            "remotes",
            "add",
            self.name,
            "--kind",
            "s3",
            "--endpoint",
            self.endpoint,
            "--bucket",
            self.bucket,
            "--access-key-id",
            self.key_id,
            "--secret-env",
            SECRET_VAR,
        ];
        if !self.prefix.is_empty() {
            args.extend(["--prefix", self.prefix]);
        }
        let env: Vec<(&str, &str)> = self.secret.map(|v| (SECRET_VAR, v)).into_iter().collect();
        daemon.cli_with_env(&args, &env)
    }
}

#[test]
fn a_collection_syncs_to_s3_and_sync_off_removes_only_its_objects() {
    let server = S3Server::start();
    let daemon = Daemon::start();
    let root = daemon.scratch("photos");
    write_photos(&root.join("trip"), "t", 30, 100 * 1024);
    // One file above the 16 MiB multipart threshold.
    let big: Vec<u8> = (0..20 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    write_file(&root.join("trip/clip.mov"), &big);
    daemon.cli(&["roots", "add", s(&root)]).ok();
    daemon.json(&["rescan"]);

    S3Add {
        prefix: "backup",
        ..S3Add::to(&server, "minio")
    }
    .run(&daemon)
    .ok();
    let listed = daemon.cli(&["--json", "remotes", "list"]).ok().stdout;
    assert!(
        listed.contains("minio") && !listed.contains(S3Server::SECRET_KEY),
        "{listed}"
    );
    let creds = daemon.data_dir.join("credentials.toml");
    assert_eq!(
        fs::metadata(&creds).unwrap().permissions().mode() & 0o777,
        0o600
    );
    daemon.cli(&["remotes", "test", "minio"]).ok();

    create_trip(&daemon, &root, &["--remote", "minio", "--sync"]);
    daemon.cli(&["wait", "--timeout", "120s"]).ok();
    let stored = server.bucket_dir().join("backup/Trip/trip");
    let local: Vec<(String, Vec<u8>)> = objects(&root.join("trip"));
    assert_eq!(objects(&stored), local);

    // A foreign object beside ours stays through sync off.
    write_file(
        &server.bucket_dir().join("backup/Trip/trip/by-hand.jpg"),
        b"foreign",
    );
    let before = server.seen().len();
    daemon.cli(&["sync", "off", "Trip", "--yes"]).ok();
    daemon.cli(&["wait", "--timeout", "120s"]).ok();
    assert_eq!(
        objects(&server.bucket_dir().join("backup")),
        vec![("Trip/trip/by-hand.jpg".to_owned(), b"foreign".to_vec())]
    );
    // 31 deletes, batched: the deletes claimed in one round go in one
    // DeleteObjects request, and no single DELETEs.
    let after = &server.seen()[before..];
    let bulk = after
        .iter()
        .filter(|r| r.method == "POST" && r.target.contains("delete"))
        .count();
    assert!((1..=4).contains(&bulk), "{after:#?}");
    assert!(!after.iter().any(|r| r.method == "DELETE"), "{after:#?}");
    let deleted = daemon
        .cli(&["--json", "jobs", "--state", "done"])
        .ok()
        .json_lines();
    let deletes = deleted.iter().filter(|j| j["op"] == "delete").count();
    assert_eq!(deletes, 31, "one done delete job per object");

    let status = daemon.cli(&["--json", "status"]).ok().stdout;
    assert!(!status.contains(S3Server::SECRET_KEY));
    assert!(
        !daemon.log().contains(S3Server::SECRET_KEY),
        "the secret never reaches the log"
    );
}

#[test]
fn bad_s3_settings_are_refused_naming_the_value() {
    let server = S3Server::start();
    let daemon = Daemon::start();
    let run = S3Add {
        endpoint: "ftp://x",
        ..S3Add::to(&server, "b")
    }
    .run(&daemon)
    .fails_with(1);
    assert!(run.stderr.contains("ftp://x"), "{run:?}");
    let run = S3Add {
        bucket: "Bad_Bucket",
        ..S3Add::to(&server, "b")
    }
    .run(&daemon)
    .fails_with(1);
    assert!(run.stderr.contains("Bad_Bucket"), "{run:?}");
    let run = S3Add {
        secret: None,
        ..S3Add::to(&server, "b")
    }
    .run(&daemon)
    .fails_with(1);
    assert!(run.stderr.contains(SECRET_VAR), "{run:?}");
    assert_eq!(
        daemon.json(&["remotes", "list"])["remotes"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // A wrong secret is stored, but `remotes test` says access was refused.
    S3Add {
        secret: Some("not-the-secret"),
        ..S3Add::to(&server, "wrong")
    }
    .run(&daemon)
    .ok();
    let run = daemon.cli(&["remotes", "test", "wrong"]).fails_with(1);
    assert!(
        run.stderr.to_lowercase().contains("denied") || run.stderr.contains("refused"),
        "{run:?}"
    );
    assert!(!run.stderr.contains("not-the-secret"));
}

#[test]
fn a_group_readable_credentials_file_stops_the_daemon() {
    let mut daemon = Daemon::start();
    daemon.stop();
    let creds = daemon.data_dir.join("credentials.toml");
    fs::write(&creds, "").unwrap();
    fs::set_permissions(&creds, fs::Permissions::from_mode(0o640)).unwrap();
    let out = daemon
        .command()
        .arg("--socket")
        .arg(&daemon.socket)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("0640") && stderr.contains("chmod 600"),
        "{stderr}"
    );
}

/// Daemon settings for multipart tests: 5 MiB parts (S3's minimum) above a
/// 5 MiB threshold, so a few tens of MiB make several parts.
const SMALL_PARTS: &str =
    "[remotes]\nmultipart_threshold_bytes = 5242880\npart_size_bytes = 5242880";
const PART: u64 = 5 << 20;

/// A file of `parts` whole parts with bytes that differ part to part.
fn write_clip(path: &Path, parts: u64) -> Vec<u8> {
    let bytes: Vec<u8> = (0..parts * PART)
        .map(|i| ((i * 7 + i / 4093) % 251) as u8)
        .collect();
    write_file(path, &bytes);
    bytes
}

/// Waits until the one running transfer has `bytes` saved as sent.
fn wait_for_transfer_bytes(daemon: &Daemon, bytes: u64) {
    syncroll_testkit::wait_until(
        syncroll_testkit::EVENT_TIMEOUT,
        "the upload's first parts",
        || {
            let status = daemon.json(&["status"]);
            let done = status["sync"]["transfers"][0]["bytes_done"]
                .as_u64()
                .unwrap_or(0);
            if done >= bytes {
                Ok(done)
            } else {
                Err(status["sync"].clone())
            }
        },
    );
}

#[test]
fn a_multipart_upload_cut_off_by_kill_9_resumes_from_its_last_part() {
    let server = S3Server::start();
    let mut daemon = Daemon::builder().config(SMALL_PARTS).start();
    let root = daemon.scratch("photos");
    let clip = write_clip(&root.join("trip/clip.mov"), 8);
    daemon.cli(&["roots", "add", s(&root)]).ok();
    daemon.json(&["rescan"]);
    S3Add::to(&server, "minio").run(&daemon).ok();

    // Parts 1-3 are stored; 4 and later hang until the daemon is gone.
    server.hold_parts_above(3);
    create_trip(&daemon, &root, &["--remote", "minio", "--sync"]);
    wait_for_transfer_bytes(&daemon, 3 * PART);
    daemon.kill();
    server.release_held();
    let before = server.seen().len();
    let created: Vec<_> = server
        .seen()
        .into_iter()
        .filter(|r| r.creates_upload())
        .collect();
    assert_eq!(created.len(), 1, "one upload begun: {created:?}");

    daemon.restart();
    daemon.cli(&["wait", "--timeout", "120s"]).ok();
    assert_eq!(
        fs::read(server.bucket_dir().join("Trip/trip/clip.mov")).unwrap(),
        clip,
        "the object is the file, byte for byte"
    );
    let after: Vec<_> = server.seen().split_off(before);
    assert!(
        !after.iter().any(|r| r.creates_upload()),
        "the upload was continued, not begun again: {after:#?}"
    );
    let mut parts: Vec<u32> = after.iter().filter_map(|r| r.part_number()).collect();
    parts.sort();
    assert_eq!(
        parts,
        vec![4, 5, 6, 7, 8],
        "only the missing parts were sent"
    );
    let sent: u64 = after
        .iter()
        .filter(|r| r.part_number().is_some())
        .filter_map(|r| r.content_length)
        .sum();
    assert_eq!(sent, 5 * PART, "bytes sent after the restart");
    assert!(
        after
            .iter()
            .any(|r| r.method == "POST" && r.target.contains("uploadId=")),
        "the upload was completed: {after:#?}"
    );
    assert_eq!(
        server.multipart_files(),
        Vec::<String>::new(),
        "no parts left"
    );
    let jobs = daemon.cli(&["--json", "jobs"]).ok().json_lines();
    assert_eq!(jobs.len(), 1, "{jobs:#?}");
    assert_eq!(jobs[0]["state"], "done");
}

#[test]
fn cancelling_a_paused_multipart_upload_aborts_it_on_the_server() {
    let server = S3Server::start();
    let daemon = Daemon::builder().config(SMALL_PARTS).start();
    let root = daemon.scratch("photos");
    write_clip(&root.join("trip/clip.mov"), 6);
    daemon.cli(&["roots", "add", s(&root)]).ok();
    daemon.json(&["rescan"]);
    S3Add::to(&server, "minio").run(&daemon).ok();

    server.hold_parts_above(2);
    create_trip(&daemon, &root, &["--remote", "minio", "--sync"]);
    wait_for_transfer_bytes(&daemon, 2 * PART);
    // A pause keeps the upload for later: its parts stay on the server.
    daemon.cli(&["pause"]).ok();
    server.release_held();
    syncroll_testkit::wait_until(
        syncroll_testkit::EVENT_TIMEOUT,
        "the transfer to stop",
        || {
            let status = daemon.json(&["status"]);
            if status["sync"]["running"] == 0 {
                Ok(())
            } else {
                Err(status["sync"].clone())
            }
        },
    );
    let kept = server.multipart_files();
    assert!(
        kept.len() >= 3,
        "the upload and its parts are kept while paused: {kept:?}"
    );

    // Cancelling the queued job gives the upload up: it is aborted.
    daemon.cli(&["cancel", "Trip"]).ok();
    syncroll_testkit::wait_until(
        syncroll_testkit::EVENT_TIMEOUT,
        "the upload to be aborted",
        || {
            let left = server.multipart_files();
            if left.is_empty() { Ok(()) } else { Err(left) }
        },
    );
    assert!(
        server
            .seen()
            .iter()
            .any(|r| r.method == "DELETE" && r.target.contains("uploadId=")),
        "aborted with AbortMultipartUpload"
    );
    assert!(!server.bucket_dir().join("Trip/trip/clip.mov").exists());
}

/// A library of realistic size syncs in the suite: 20,000 photos in 200
/// folders, each sent once (no duplicates, no retries), all landing. Not
/// timed: its cost is what `bench/run` measures; here it must simply end,
/// which with per-job planning it did not (each finished job replanned the
/// whole collection).
#[test]
fn twenty_thousand_photos_sync_to_s3_each_sent_once() {
    const FOLDERS: usize = 200;
    const PER_FOLDER: usize = 100;
    let server = S3Server::start();
    let daemon = Daemon::start();
    let root = daemon.scratch("photos");
    for folder in 0..FOLDERS {
        let prefix = format!("f{folder:03}_");
        write_photos(
            &root.join(format!("2024/{folder:03}")),
            &prefix,
            PER_FOLDER,
            1024,
        );
    }
    daemon.cli(&["roots", "add", s(&root)]).ok();
    daemon.json(&["rescan"]);
    S3Add {
        prefix: "lib",
        ..S3Add::to(&server, "minio")
    }
    .run(&daemon)
    .ok();
    daemon
        .cli(&[
            "collections",
            "create",
            "Library",
            "--folder",
            s(&root),
            "--remote",
            "minio",
            "--sync",
        ])
        .ok();
    // A debug build on two busy cores takes 7 to 8 minutes here; the bound
    // only ends a sync that never ends.
    daemon.cli(&["wait", "--timeout", "1200s"]).ok();

    let total = FOLDERS * PER_FOLDER;
    let shown = daemon.json(&["collections", "show", "Library"]);
    assert_eq!(shown["collection"]["synced_count"], total as u64, "{shown}");
    let stored = objects(&server.bucket_dir().join("lib/Library"));
    assert_eq!(stored.len(), total);
    let puts = server
        .seen()
        .iter()
        .filter(|r| r.method == "PUT" && r.target.contains("/lib/Library/"))
        .count();
    assert_eq!(puts, total, "each photo is sent once");
    let sample = fs::read(root.join("2024/123/f123_45.jpg")).unwrap();
    let (_, landed) = stored
        .iter()
        .find(|(key, _)| key.ends_with("2024/123/f123_45.jpg"))
        .expect("the sample landed");
    assert_eq!(landed, &sample);
}
