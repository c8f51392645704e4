//! Sync to an S3-compatible remote: a real S3 server (s3s-fs) in this test
//! process on 127.0.0.1, driven through the real daemon and CLI.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::create_trip;
use syncroll_testkit::{Daemon, S3Server, s, write_file, write_photos};

/// Every file below `dir`, relative, with its bytes (server bookkeeping,
/// which s3s-fs keeps in dot-files, left out).
fn objects(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push((
                    path.strip_prefix(dir)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                    fs::read(&path).unwrap(),
                ));
            }
        }
    }
    out.sort();
    out
}

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
    daemon.cli(&["sync", "off", "Trip"]).ok();
    daemon.cli(&["wait", "--timeout", "120s"]).ok();
    assert_eq!(
        objects(&server.bucket_dir().join("backup")),
        vec![("Trip/trip/by-hand.jpg".to_owned(), b"foreign".to_vec())]
    );

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
