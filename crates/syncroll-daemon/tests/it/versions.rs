//! The version store end to end: versions are made the way pulling a
//! remote edit will make them (`VersionStore::replace_with`, called on the
//! daemon's data dir while it is stopped, since no RPC may overwrite a
//! file), then listed, restored and counted through the real `syncroll`
//! and `syncrolld` binaries.
//!
//! The full-disk test mounts a small tmpfs as the data dir (CI runs as
//! root); a refused `mount` fails it, it is never skipped.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use syncroll_core::Store;
use syncroll_core::versions::{RetentionPolicy, VersionOrigin};
use syncroll_daemon::versions::VersionStore;
use syncroll_testkit::{Daemon, bin_path, s, write_file};

/// Stops the daemon, replaces `photo` with `bytes` as a remote edit from
/// `remote` would (its old bytes kept as a version), starts it again.
fn remote_edit(daemon: &mut Daemon, photo: &Path, bytes: &[u8], remote: &str) {
    daemon.stop();
    let temp = photo.with_file_name(".syncroll-download.tmp");
    fs::write(&temp, bytes).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = Store::open(&daemon.data_dir.join(syncroll_daemon::CATALOG_FILE))
            .await
            .unwrap();
        let versions =
            VersionStore::new(store.clone(), &daemon.data_dir, RetentionPolicy::default());
        versions.start().await.unwrap();
        let origin = VersionOrigin::RemoteEdit {
            remote: remote.to_owned(),
        };
        versions.replace_with(photo, &temp, origin).await.unwrap();
        store.close().await;
    });
    daemon.restart();
}

fn hash(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

fn versions(daemon: &Daemon, photo: &Path) -> Vec<Value> {
    daemon
        .cli(&["--json", "versions", s(photo)])
        .ok()
        .json_lines()
}

/// The catalog holds `bytes`' hash for the one photo: a restore indexes
/// what it wrote before it returns, so there is nothing to wait for.
#[track_caller]
fn assert_indexed(daemon: &Daemon, bytes: &[u8]) {
    let photos = daemon.photos(None);
    assert_eq!(photos.len(), 1, "{photos:?}");
    assert_eq!(photos[0]["blake3"], hash(bytes).as_str(), "{photos:?}");
}

/// A daemon with one root holding one indexed photo.
fn daemon_with_photo(builder: syncroll_testkit::DaemonBuilder, bytes: &[u8]) -> (Daemon, PathBuf) {
    let daemon = builder.start();
    let root = fs::canonicalize(daemon.scratch("photos")).unwrap();
    let photo = write_file(&root.join("IMG_1.jpg"), bytes);
    daemon.cli(&["roots", "add", s(&root)]).ok();
    daemon.wait_for_photos(None, &["IMG_1.jpg"]);
    (daemon, photo)
}

#[test]
fn a_restore_brings_back_the_old_bytes_and_the_replaced_ones_become_a_version() {
    let original = b"original bytes, as the camera wrote them".as_slice();
    let edited = b"bytes edited on the other side".as_slice();
    let (mut daemon, photo) = daemon_with_photo(Daemon::builder(), original);
    remote_edit(&mut daemon, &photo, edited, "nas");
    assert_eq!(fs::read(&photo).unwrap(), edited);

    let listed = versions(&daemon, &photo);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["number"], 1);
    assert_eq!(listed[0]["hash"], hash(original).as_str());
    assert_eq!(listed[0]["size"], original.len());
    assert_eq!(listed[0]["origin"], "replaced by remote edit from nas");
    assert_eq!(listed[0]["path"], s(&photo));

    // PATH relative to the current folder, as a user types it.
    let run = Command::new(bin_path("syncroll"))
        .args([
            "--socket",
            s(&daemon.socket),
            "versions",
            "restore",
            "IMG_1.jpg",
            "1",
        ])
        .current_dir(photo.parent().unwrap())
        .env_remove("SYNCROLL_SOCKET")
        .output()
        .unwrap();
    assert!(run.status.success(), "{run:?}");
    let said = String::from_utf8_lossy(&run.stdout);
    assert!(
        said.contains("restored version 1; the bytes it held are kept as version 2"),
        "{said}"
    );
    assert_eq!(fs::read(&photo).unwrap(), original, "byte-identical");
    assert_indexed(&daemon, original);
    let listed = versions(&daemon, &photo);
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(listed[1]["number"], 2);
    assert_eq!(listed[1]["hash"], hash(edited).as_str());
    assert_eq!(listed[1]["origin"], "replaced by restore of version 1");

    // And back again: version 2 holds the edit.
    daemon.cli(&["versions", "restore", s(&photo), "2"]).ok();
    assert_eq!(fs::read(&photo).unwrap(), edited);
    assert_indexed(&daemon, edited);

    // status counts 3 versions but stores 2 distinct blobs.
    let status = daemon.json(&["status"]);
    assert_eq!(status["versions"]["count"], 3, "{status}");
    assert_eq!(status["versions"]["bytes"], original.len() + edited.len());
    let human = daemon.cli(&["status"]).ok().stdout;
    assert!(human.contains("versions   3 kept, "), "{human}");
    let listing = daemon.cli(&["versions", s(&photo)]).ok().stdout;
    assert!(
        listing.contains("replaced by remote edit from nas"),
        "{listing}"
    );
    // No temporary is left beside the photo.
    let names: Vec<_> = fs::read_dir(photo.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["IMG_1.jpg"]);
}

#[test]
fn the_daemon_applies_versions_keep_at_start_and_drops_unreferenced_bytes() {
    let builder = Daemon::builder().config("[versions]\nkeep = 1\nmax_age = \"30d\"");
    let (mut daemon, photo) = daemon_with_photo(builder, b"one");
    remote_edit(&mut daemon, &photo, b"two", "nas");
    remote_edit(&mut daemon, &photo, b"three", "nas");
    let listed = versions(&daemon, &photo);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["number"], 2);
    assert_eq!(listed[0]["hash"], hash(b"two").as_str());
    let blobs = walk_files(&daemon.data_dir.join("versions"));
    assert_eq!(blobs.len(), 1, "{blobs:?}");
    assert_eq!(fs::read(&blobs[0]).unwrap(), b"two");
}

/// Every file below `dir`.
fn walk_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        for entry in fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}

#[test]
fn an_unknown_version_or_path_is_an_error_naming_it() {
    let (mut daemon, photo) = daemon_with_photo(Daemon::builder(), b"bytes");
    remote_edit(&mut daemon, &photo, b"edit", "nas");
    let run = daemon
        .cli(&["versions", "restore", s(&photo), "7"])
        .fails_with(1);
    assert!(
        run.stderr
            .contains(&format!("version 7 of {} does not exist", s(&photo))),
        "{run:?}"
    );
    let gone = photo.with_file_name("NOPE.jpg");
    let run = daemon.cli(&["--json", "versions", s(&gone)]).fails_with(1);
    assert_eq!(run.json()["error"]["code"], "not_found", "{run:?}");
    assert!(
        run.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("NOPE.jpg")
    );
    // Outside every root, nothing is written.
    let outside = daemon.scratch("elsewhere").join("IMG_1.jpg");
    let run = daemon
        .cli(&["versions", "restore", s(&outside), "1"])
        .fails_with(1);
    assert!(run.stderr.contains("not under any root"), "{run:?}");
    assert_eq!(fs::read(&photo).unwrap(), b"edit");
    daemon.cli(&["versions"]).fails_with(2);
}

#[test]
fn the_version_store_is_never_indexed_as_photos() {
    // Even with the store's own file ending counted as a photo.
    let builder = Daemon::builder().config("[catalog]\nphoto_extensions = [\"jpg\", \"blob\"]");
    let (mut daemon, photo) = daemon_with_photo(builder, b"first");
    remote_edit(&mut daemon, &photo, b"second", "nas");
    let store = daemon.data_dir.join("versions");
    let run = daemon.cli(&["roots", "add", s(&store)]).fails_with(1);
    assert!(run.stderr.contains("inside syncroll's data dir"), "{run:?}");
    daemon.cli(&["rescan"]).ok();
    daemon.wait_scan_idle();
    assert_eq!(daemon.photo_paths(None), ["IMG_1.jpg"]);
    // The bytes are kept owner-only.
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        fs::metadata(&store).unwrap().permissions().mode() & 0o777,
        0o700
    );
}

#[test]
fn a_full_data_dir_fails_a_restore_cleanly_and_leaves_the_file_as_it_was() {
    let (mut daemon, photo) =
        daemon_with_photo(Daemon::builder().data_dir_on_tmpfs("24m"), b"original");
    remote_edit(&mut daemon, &photo, b"edit", "nas");
    // A 4 MiB photo now: keeping its bytes needs more than the disk has.
    let large: Vec<u8> = (0..4u32 << 20).map(|i| (i % 251) as u8).collect();
    fs::write(&photo, &large).unwrap();
    let filler = daemon.data_dir.join("filler");
    fill_leaving(&filler, 512 << 10);

    let run = daemon
        .cli(&["versions", "restore", s(&photo), "1"])
        .fails_with(1);
    let data_dir = fs::canonicalize(&daemon.data_dir).unwrap();
    assert!(
        run.stderr.contains(&format!(
            "not enough space in the data dir {}",
            s(&data_dir)
        )) || run.stderr.contains(&format!(
            "not enough space in the data dir {}",
            s(&daemon.data_dir)
        )),
        "{run:?}"
    );
    assert!(run.stderr.contains("need 5.0 MiB"), "{run:?}");
    assert!(run.stderr.contains("free; nothing was changed"), "{run:?}");
    assert_eq!(fs::read(&photo).unwrap(), large, "the file is untouched");
    let names: Vec<_> = fs::read_dir(photo.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["IMG_1.jpg"], "no temporary left beside it");
    assert_eq!(versions(&daemon, &photo).len(), 1);

    // With room again, the same restore works.
    fs::remove_file(&filler).unwrap();
    daemon.cli(&["versions", "restore", s(&photo), "1"]).ok();
    assert_eq!(fs::read(&photo).unwrap(), b"original");
    let listed = versions(&daemon, &photo);
    assert_eq!(listed[1]["size"], large.len());
}

/// Fills the disk under `path` with it, then gives back `room` bytes.
fn fill_leaving(path: &Path, room: u64) {
    let mut filler = fs::File::create(path).unwrap();
    let block = vec![0u8; 256 * 1024];
    loop {
        match filler.write_all(&block) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
            Err(e) => panic!("filling the disk: {e}"),
        }
    }
    let len = filler.metadata().unwrap().len();
    filler.set_len(len.saturating_sub(room)).unwrap();
}
