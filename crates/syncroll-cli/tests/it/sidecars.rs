//! Sidecars travel with their photo: the real daemon and CLI, to the `local`
//! fs remote and to the in-process S3 server.

use std::fs;
use std::path::Path;

use serde_json::Value;

use crate::objects;
use syncroll_testkit::{Daemon, EVENT_TIMEOUT, S3Server, s, wait_until, write_file};

/// A folder of photos with sidecars of every kind, and strangers:
/// - `IMG_1.NEF` with `IMG_1.NEF.xmp` (darktable) and `IMG_1.xmp`
///   (Lightroom), and a JPEG of the same stem with its own `.jpg.xmp`;
/// - `IMG_2.HEIC` with `IMG_2.aae` and its Live Photo `IMG_2.MOV`;
/// - `clip.mov`, a video with no still: a photo;
/// - `lone.xmp` and `lone.pp3`, sidecars of nothing.
fn write_shoot(dir: &Path) {
    for (name, bytes) in [
        ("IMG_1.NEF", &b"raw sensor data"[..]),
        ("IMG_1.NEF.xmp", b"<darktable/>"),
        ("IMG_1.xmp", b"<lightroom/>"),
        ("IMG_1.jpg", b"jpeg of the raw"),
        ("IMG_1.jpg.xmp", b"<jpeg settings/>"),
        ("IMG_2.HEIC", b"heic still"),
        ("IMG_2.aae", b"apple adjustments"),
        ("IMG_2.MOV", b"live photo motion"),
        ("clip.mov", b"a video of its own"),
        ("lone.xmp", b"<orphan/>"),
        ("lone.pp3", b"orphan rawtherapee"),
    ] {
        write_file(&dir.join(name), bytes);
    }
}

/// What of the shoot goes to the remote: every photo and every owned
/// sidecar, never the orphans.
const SYNCED: &[&str] = &[
    "IMG_1.NEF",
    "IMG_1.NEF.xmp",
    "IMG_1.jpg",
    "IMG_1.jpg.xmp",
    "IMG_1.xmp",
    "IMG_2.HEIC",
    "IMG_2.MOV",
    "IMG_2.aae",
    "clip.mov",
];

fn names(objects: &[(String, Vec<u8>)]) -> Vec<String> {
    objects.iter().map(|(n, _)| n.clone()).collect()
}

fn done_uploads(daemon: &Daemon) -> Vec<String> {
    let mut keys: Vec<String> = daemon
        .cli(&["--json", "jobs", "--state", "done"])
        .ok()
        .json_lines()
        .iter()
        .filter(|j| j["op"] == "upload")
        .map(|j| j["key"].as_str().unwrap_or_default().to_owned())
        .collect();
    keys.sort();
    keys
}

fn size_of(photos: &[Value], path: &str) -> u64 {
    photos
        .iter()
        .find(|p| p["path"] == path)
        .unwrap_or_else(|| panic!("{path} not listed: {photos:?}"))["size"]
        .as_u64()
        .unwrap_or(0)
}

fn daemon_with_shoot(config: &str) -> (Daemon, std::path::PathBuf) {
    let daemon = Daemon::builder().config(config).start();
    let root = daemon.scratch("photos");
    write_shoot(&root.join("trip"));
    daemon.cli(&["roots", "add", s(&root)]).ok();
    daemon.json(&["rescan"]);
    (daemon, root)
}

#[test]
fn sidecars_travel_beside_their_photo_and_only_photos_are_counted() {
    let (daemon, root) = daemon_with_shoot("");
    let trip = root.join("trip");
    daemon
        .cli(&[
            "collections",
            "create",
            "Trip",
            "--folder",
            s(&trip),
            "--sync",
        ])
        .ok();
    daemon.cli(&["wait", "--timeout", "60s"]).ok();
    let cloud = daemon.data_dir.join("cloud/Trip/trip");
    let landed = objects(&cloud);
    assert_eq!(names(&landed), SYNCED);
    for (name, bytes) in &landed {
        assert_eq!(&fs::read(trip.join(name)).unwrap(), bytes, "{name}");
    }

    // Counts: the photos, never their sidecars; bytes: with them.
    let shown = daemon.json(&["collections", "show", "Trip"]);
    assert_eq!(shown["collection"]["photo_count"], 4, "{shown}");
    assert_eq!(shown["collection"]["synced_count"], 4, "{shown}");
    let all: u64 = SYNCED
        .iter()
        .map(|n| fs::metadata(trip.join(n)).unwrap().len())
        .sum();
    assert_eq!(shown["collection"]["total_bytes"], all, "{shown}");
    assert_eq!(daemon.json(&["status"])["photo_count"], 4);
    let photos = daemon.photos(Some("Trip"));
    let mut listed: Vec<&str> = photos.iter().map(|p| p["path"].as_str().unwrap()).collect();
    listed.sort();
    assert_eq!(
        listed,
        [
            "trip/IMG_1.NEF",
            "trip/IMG_1.jpg",
            "trip/IMG_2.HEIC",
            "trip/clip.mov"
        ]
    );
    let len = |n: &str| fs::metadata(trip.join(n)).unwrap().len();
    assert_eq!(
        size_of(&photos, "trip/IMG_1.NEF"),
        len("IMG_1.NEF") + len("IMG_1.NEF.xmp") + len("IMG_1.xmp")
    );
    assert_eq!(
        size_of(&photos, "trip/IMG_2.HEIC"),
        len("IMG_2.HEIC") + len("IMG_2.aae") + len("IMG_2.MOV")
    );

    // An edit made in another raw editor: only the xmp changed. Only the
    // xmp goes again.
    let before = done_uploads(&daemon);
    fs::write(trip.join("IMG_1.xmp"), b"<lightroom exposure=+1/>").unwrap();
    wait_until(EVENT_TIMEOUT, "the edited xmp on the remote", || {
        let now = fs::read(cloud.join("IMG_1.xmp")).unwrap_or_default();
        if now == b"<lightroom exposure=+1/>" {
            Ok(())
        } else {
            Err(now)
        }
    });
    daemon.cli(&["wait", "--timeout", "60s"]).ok();
    let after = done_uploads(&daemon);
    let mut again = after.clone();
    for key in &before {
        let at = again.iter().position(|k| k == key).unwrap();
        again.remove(at);
    }
    assert_eq!(again, ["Trip/trip/IMG_1.xmp"]);

    // A sidecar deleted locally: its copy goes, the photo's stays.
    fs::remove_file(trip.join("IMG_1.NEF.xmp")).unwrap();
    wait_until(EVENT_TIMEOUT, "IMG_1.NEF.xmp gone from the remote", || {
        if cloud.join("IMG_1.NEF.xmp").exists() {
            Err("still there")
        } else {
            Ok(())
        }
    });
    // The raw deleted: its copy and its sidecar's go; the xmp file stays
    // on disk (never a local delete) and, owned by nobody now... the JPEG
    // of the stem takes it (a raw first, else the first by name).
    fs::remove_file(trip.join("IMG_1.NEF")).unwrap();
    wait_until(EVENT_TIMEOUT, "IMG_1.NEF gone from the remote", || {
        if cloud.join("IMG_1.NEF").exists() {
            Err("still there")
        } else {
            Ok(())
        }
    });
    daemon.cli(&["wait", "--timeout", "60s"]).ok();
    assert_eq!(
        names(&objects(&cloud)),
        [
            "IMG_1.jpg",
            "IMG_1.jpg.xmp",
            "IMG_1.xmp",
            "IMG_2.HEIC",
            "IMG_2.MOV",
            "IMG_2.aae",
            "clip.mov"
        ]
    );
    assert!(trip.join("IMG_1.xmp").exists() && trip.join("lone.xmp").exists());
    let shown = daemon.json(&["collections", "show", "Trip"]);
    assert_eq!(shown["collection"]["photo_count"], 3, "{shown}");
}

#[test]
fn a_photo_leaving_the_collection_and_sync_off_take_its_sidecars_off_s3() {
    let server = S3Server::start();
    let (daemon, root) = daemon_with_shoot("");
    server.add_as_remote(&daemon, "s3", &[]);
    let trip = root.join("trip");
    daemon
        .cli(&["collections", "create", "Picks", "--remote", "s3"])
        .ok();
    daemon
        .cli(&[
            "collections",
            "add",
            "Picks",
            s(&trip.join("IMG_1.NEF")),
            s(&trip.join("IMG_2.HEIC")),
        ])
        .ok();
    // A sidecar is not a photo: it cannot be picked on its own.
    daemon
        .cli(&["collections", "add", "Picks", s(&trip.join("IMG_1.xmp"))])
        .fails_with(1);
    daemon.cli(&["sync", "on", "Picks"]).ok();
    daemon.cli(&["wait", "--timeout", "60s"]).ok();
    let album = server.bucket_dir().join("Picks/trip");
    assert_eq!(
        names(&objects(&album)),
        [
            "IMG_1.NEF",
            "IMG_1.NEF.xmp",
            "IMG_1.xmp",
            "IMG_2.HEIC",
            "IMG_2.MOV",
            "IMG_2.aae"
        ]
    );
    assert_eq!(
        daemon.json(&["collections", "show", "Picks"])["collection"]["photo_count"],
        2
    );

    // The raw leaves the collection: it and its sidecars leave the bucket.
    daemon
        .cli(&["collections", "remove", "Picks", s(&trip.join("IMG_1.NEF"))])
        .ok();
    daemon.cli(&["wait", "--timeout", "60s"]).ok();
    assert_eq!(
        names(&objects(&album)),
        ["IMG_2.HEIC", "IMG_2.MOV", "IMG_2.aae"]
    );

    // Sync off: the rest goes, a stranger's object stays, nothing local
    // is touched.
    write_file(
        &server.bucket_dir().join("Picks/trip/IMG_9.xmp"),
        b"someone's",
    );
    daemon.cli(&["sync", "off", "Picks", "--yes"]).ok();
    daemon.cli(&["wait", "--timeout", "60s"]).ok();
    assert_eq!(names(&objects(&album)), ["IMG_9.xmp"]);
    let mut local: Vec<String> = fs::read_dir(&trip)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    local.sort();
    assert_eq!(local.len(), 11, "{local:?}");
}

#[test]
fn custom_sidecar_extensions_are_honoured() {
    let (daemon, root) = daemon_with_shoot(
        "[catalog]\nsidecar_extensions = [\".PP3\", \"dop\"]\nlive_photo_extensions = []\n",
    );
    let trip = root.join("trip");
    write_file(&trip.join("IMG_1.NEF.dop"), b"dxo");
    daemon.cli(&["rescan"]).ok();
    daemon
        .cli(&[
            "collections",
            "create",
            "Trip",
            "--folder",
            s(&trip),
            "--sync",
        ])
        .ok();
    daemon.cli(&["wait", "--timeout", "60s"]).ok();
    // .xmp and .aae are nothing now (not indexed, not synced); the motion
    // file is a video of its own, a photo; the .dop travels with the raw.
    assert_eq!(
        names(&objects(&daemon.data_dir.join("cloud/Trip/trip"))),
        [
            "IMG_1.NEF",
            "IMG_1.NEF.dop",
            "IMG_1.jpg",
            "IMG_2.HEIC",
            "IMG_2.MOV",
            "clip.mov"
        ]
    );
    let shown = daemon.json(&["collections", "show", "Trip"]);
    assert_eq!(shown["collection"]["photo_count"], 5, "{shown}");
}

#[test]
fn a_bad_sidecar_extension_is_refused_naming_it() {
    let daemon = Daemon::start();
    let bad = daemon.scratch("cfg").join("bad.toml");
    for (toml, named) in [
        (
            "sidecar_extensions = [\"xmp\", \"jpg\"]",
            "\"jpg\" is also in catalog.photo_extensions",
        ),
        (
            "sidecar_extensions = [\"x/y\"]",
            "catalog.sidecar_extensions = \"x/y\" is not an extension",
        ),
        (
            "live_photo_extensions = [\"\"]",
            "catalog.live_photo_extensions = \"\" is not an extension",
        ),
        (
            "sidecar_extensions = [\"mov\"]",
            "\"mov\" is also in catalog.photo_extensions",
        ),
    ] {
        fs::write(&bad, format!("[catalog]\n{toml}\n")).unwrap();
        let out = daemon
            .command()
            .arg("--config")
            .arg(&bad)
            .arg("--print-config")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{toml}: {stderr}");
        assert!(stderr.contains(named), "{toml}: {stderr}");
    }
}

#[test]
fn ten_thousand_photos_arrive_with_every_sidecar() {
    const N: usize = 10_000;
    let daemon = Daemon::start();
    let root = daemon.scratch("photos");
    for i in 0..N {
        let dir = root.join(format!("d{:02}", i / 500));
        write_file(
            &dir.join(format!("IMG_{i:05}.NEF")),
            format!("raw {i}").as_bytes(),
        );
        write_file(
            &dir.join(format!("IMG_{i:05}.NEF.xmp")),
            format!("<x n={i}/>").as_bytes(),
        );
    }
    daemon.cli(&["roots", "add", s(&root)]).ok();
    daemon.json(&["rescan"]);
    daemon
        .cli(&[
            "collections",
            "create",
            "All",
            "--folder",
            s(&root),
            "--sync",
        ])
        .ok();
    daemon.cli(&["wait", "--timeout", "600s"]).ok();
    let cloud = daemon.data_dir.join("cloud/All");
    let landed = objects(&cloud);
    assert_eq!(landed.len(), 2 * N);
    for (name, bytes) in &landed {
        assert_eq!(&fs::read(root.join(name)).unwrap(), bytes, "{name}");
    }
    let shown = daemon.json(&["collections", "show", "All"]);
    assert_eq!(shown["collection"]["photo_count"], N, "{shown}");
    assert_eq!(shown["collection"]["synced_count"], N, "{shown}");
    assert_eq!(daemon.json(&["status"])["photo_count"], N);
}

/// An edit made in another raw editor, synced back to the album, is often
/// only a changed sidecar: it comes home as an edit of the photo, the
/// sidecar replaced in place and its previous bytes kept as a version (in
/// copy mode too), and nothing is sent back.
fn a_remote_sidecar_edit_comes_home_as_a_version(returns: &str) {
    let daemon = Daemon::start();
    let root = daemon.scratch("photos");
    let trip = root.join("trip");
    write_file(&trip.join("IMG_1.NEF"), b"raw sensor data");
    let original = b"<darktable exposure=0/>".to_vec();
    write_file(&trip.join("IMG_1.NEF.xmp"), &original);
    daemon.cli(&["roots", "add", s(&root)]).ok();
    daemon.json(&["rescan"]);
    daemon
        .cli(&[
            "collections",
            "create",
            "Trip",
            "--folder",
            s(&trip),
            "--sync",
        ])
        .ok();
    daemon.cli(&["wait", "--timeout", "60s"]).ok();
    daemon
        .cli(&[
            "connect",
            "Trip",
            "--direction",
            "both",
            "--returns",
            returns,
        ])
        .ok();
    // The connection's first poll checks the pushed keys once.
    crate::pull::poll(&daemon, "local");
    let uploads = done_uploads(&daemon);

    let edited = b"<darktable exposure=+0.7 crop=1/>".to_vec();
    let album = daemon.data_dir.join("cloud/Trip/trip");
    write_file(&album.join("IMG_1.NEF.xmp"), &edited);
    let outcome = crate::pull::poll(&daemon, "local");
    assert!(
        outcome.contains("1 edits returned as versions"),
        "{outcome}"
    );
    let local = fs::canonicalize(trip.join("IMG_1.NEF.xmp")).unwrap();
    assert_eq!(fs::read(&local).unwrap(), edited);
    assert_eq!(
        fs::read(trip.join("IMG_1.NEF")).unwrap(),
        b"raw sensor data"
    );
    let versions = daemon
        .cli(&["--json", "versions", s(&local)])
        .ok()
        .json_lines();
    assert_eq!(versions.len(), 1, "{versions:?}");
    assert_eq!(
        versions[0]["hash"],
        blake3::hash(&original).to_hex().as_str()
    );
    assert!(!trip.join("IMG_1.NEF (edit 1).xmp").exists());

    // Home for good: the next poll is quiet and the push side sends
    // nothing back.
    daemon.cli(&["wait", "--timeout", "60s"]).ok();
    let again = crate::pull::poll(&daemon, "local");
    assert!(!again.contains("edits"), "{again}");
    daemon.cli(&["wait", "--timeout", "60s"]).ok();
    assert_eq!(done_uploads(&daemon), uploads, "the edit was not sent back");
    assert_eq!(
        daemon.json(&["collections", "show", "Trip"])["collection"]["photo_count"],
        1
    );
}

#[test]
fn a_remote_sidecar_edit_comes_home_as_a_version_in_version_mode() {
    a_remote_sidecar_edit_comes_home_as_a_version("version");
}

#[test]
fn a_remote_sidecar_edit_comes_home_as_a_version_in_copy_mode() {
    a_remote_sidecar_edit_comes_home_as_a_version("copy");
}
