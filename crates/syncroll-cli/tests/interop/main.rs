//! Interop: the real `syncrolld` syncing to an independent server
//! implementation, `rclone serve`, on 127.0.0.1, and the result checked with
//! an independent client, `rclone check` and `rclone lsf`, rather than with
//! syncroll's own view. Needs rclone (see `syncroll_testkit::rclone_path`).
//!
//! Each protocol's test is [`round_trip`] with the server and the
//! `remotes add` that points a daemon at it.

mod pull;

use std::path::Path;

use syncroll_testkit::{Daemon, RcloneServer, s, write_file, write_photos};

/// The collection every test syncs; its remote folder is `<base>/Interop`.
const COLLECTION: &str = "Interop";
/// The remote's name in the daemon.
const REMOTE: &str = "interop";
/// The variable `remotes add` reads the secret from.
const SECRET_VAR: &str = "SYNCROLL_INTEROP_SECRET";
/// Files above this go up as multipart uploads of [`PART_SIZE`] parts.
const MULTIPART_THRESHOLD: usize = 6 << 20;
/// S3's minimum part size.
const PART_SIZE: usize = 5 << 20;
/// Put on the remote by someone else, inside the collection's folder.
const FOREIGN: &str = "by-hand/note.jpg";
/// Bounds a sync of the whole tree (a few seconds when it passes).
const SYNC_TIMEOUT: &str = "300s";

#[test]
fn a_folder_collection_syncs_to_rclone_serve_s3_and_sync_off_leaves_only_foreign_objects() {
    let server = RcloneServer::s3();
    let base = format!("{}/syncroll", RcloneServer::BUCKET);
    round_trip(&server, &base, |daemon| {
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
fn a_folder_collection_syncs_to_rclone_serve_webdav_and_sync_off_leaves_only_foreign_objects() {
    let server = RcloneServer::webdav();
    round_trip(&server, "syncroll", |daemon| {
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

/// Syncs a folder collection of a few hundred photos (a handful multipart,
/// a few duplicates to be copied server-side) to `server`, where
/// `add_remote` adds remote [`REMOTE`] whose prefix is `base` in rclone's
/// view of the server; checks the copy with `rclone check`; turns sync off
/// and checks with `rclone lsf` that only the foreign object is left.
fn round_trip(server: &RcloneServer, base: &str, add_remote: impl Fn(&Daemon)) {
    let daemon = Daemon::builder()
        .config(&format!(
            "[remotes]\nmultipart_threshold_bytes = {MULTIPART_THRESHOLD}\npart_size_bytes = {PART_SIZE}"
        ))
        .start();
    let root = daemon.scratch("photos");
    let count = write_tree(&root);
    daemon.cli(&["roots", "add", s(&root)]).ok();
    daemon.json(&["rescan"]);
    let folder = format!("{base}/{COLLECTION}");
    server.put(&format!("{folder}/{FOREIGN}"), b"foreign");

    add_remote(&daemon);
    daemon.cli(&["remotes", "test", REMOTE]).ok();
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

    let exclude = format!("/{FOREIGN}");
    let check = server.check(&root, &folder, &["--exclude", &exclude]).ok();
    assert!(
        check.stderr.contains(&format!("{count} matching files")),
        "rclone check compared fewer files than the {count} written: {check:#?}"
    );
    assert!(
        !check.stderr.contains("could not be checked"),
        "rclone check compared sizes only: {check:#?}"
    );

    daemon.cli(&["sync", "off", COLLECTION, "--yes"]).ok();
    daemon.cli(&["wait", "--timeout", SYNC_TIMEOUT]).ok();
    assert_eq!(
        server.lsf_files(base),
        vec![format!("{COLLECTION}/{FOREIGN}")]
    );
}

/// A few hundred small photos in nested folders, a handful above
/// [`MULTIPART_THRESHOLD`] (not a whole number of parts), exact duplicates
/// of some (small and multipart) in another folder, and a name with spaces
/// and accents. Returns how many files it wrote.
fn write_tree(root: &Path) -> usize {
    let mut count = 0;
    for year in ["2023", "2024", "2025"] {
        for month in ["01", "06", "11"] {
            let dir = root.join(year).join(month);
            count += write_photos(&dir, &format!("img-{year}-{month}-"), 33, 24 << 10).len();
        }
    }
    let big = 2 * PART_SIZE + 12_345;
    count += write_photos(&root.join("video"), "clip-", 4, big).len();
    // The same names and sizes give the same bytes: copies of files above.
    count += write_photos(&root.join("copies/2023"), "img-2023-01-", 3, 24 << 10).len();
    count += write_photos(&root.join("copies/video"), "clip-", 1, big).len();
    write_file(
        &root.join("2024/06/Île de Ré, été.jpg"),
        b"accents and spaces",
    );
    count + 1
}
