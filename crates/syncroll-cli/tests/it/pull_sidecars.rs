//! Sidecars new on the remote come home: a raw editor run on the album's
//! copy of a photo (darktable on the NAS) writes `IMG_1.NEF.xmp` beside
//! it, and the pull engine lands it beside the local photo as that photo's
//! sidecar, recorded as the push side records one it uploaded. The real
//! daemon and CLI, on the `fs` remote, the in-process S3 server and the
//! in-process WebDAV server; the other client writes straight into the
//! server's folder.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use syncroll_testkit::{Daemon, EVENT_TIMEOUT, S3Server, WebDavServer, s, wait_until, write_file};

use crate::objects;
use crate::pull::{Kind, add_remote, bytes_of, done_uploads, poll};

/// How long a test polls again for a departure to be seen.
const POLL_AGAIN: Duration = Duration::from_secs(30);

const RAW_1: &[u8] = b"raw sensor data one";
const RAW_2: &[u8] = b"raw sensor data two";
const XMP_2: &[u8] = b"<darktable exposure=0/>";

/// A daemon whose root's `trip/` holds `IMG_1.NEF` (no sidecar) and
/// `IMG_2.NEF` with `IMG_2.NEF.xmp`, the folder collection Trip synced to
/// the remote and connected `direction`, edits returning as versions; the
/// connection's first poll (which checks the pushed keys) is over.
struct Shoot {
    daemon: Daemon,
    trip: PathBuf,
    /// `trip/` of the album on the remote's disk.
    album: PathBuf,
    remote: &'static str,
    _kind: Kind,
}

impl Shoot {
    fn new(kind: Kind, direction: &str) -> Self {
        let daemon = Daemon::start();
        let root = daemon.scratch("photos");
        let trip = root.join("trip");
        write_file(&trip.join("IMG_1.NEF"), RAW_1);
        write_file(&trip.join("IMG_2.NEF"), RAW_2);
        write_file(&trip.join("IMG_2.NEF.xmp"), XMP_2);
        daemon.cli(&["roots", "add", s(&root)]).ok();
        daemon.json(&["rescan"]);
        let (remote, store) = add_remote(&daemon, &kind);
        crate::create_trip(&daemon, &root, &["--remote", remote, "--sync"]);
        daemon.cli(&["wait", "--timeout", "120s"]).ok();
        daemon
            .cli(&[
                "connect",
                "Trip",
                "--direction",
                direction,
                "--returns",
                "version",
            ])
            .ok();
        poll(&daemon, remote);
        Self {
            daemon,
            trip: fs::canonicalize(trip).unwrap(),
            album: store.join("Trip/trip"),
            remote,
            _kind: kind,
        }
    }

    fn poll(&self) -> String {
        poll(&self.daemon, self.remote)
    }

    fn wait(&self) {
        self.daemon.cli(&["wait", "--timeout", "120s"]).ok();
    }

    /// The size `photos` lists for `trip/NAME`: the photo's bytes and its
    /// sidecars'.
    fn listed_size(&self, name: &str) -> u64 {
        let path = format!("trip/{name}");
        let photos = self.daemon.photos(Some("Trip"));
        photos
            .iter()
            .find(|p| p["path"] == path.as_str())
            .unwrap_or_else(|| panic!("{path} not listed: {photos:?}"))["size"]
            .as_u64()
            .unwrap_or(0)
    }

    fn album_names(&self) -> Vec<String> {
        objects(&self.album).into_iter().map(|(n, _)| n).collect()
    }
}

fn hash_of(path: &Path) -> String {
    blake3::hash(&fs::read(path).unwrap()).to_hex().to_string()
}

/// `IMG_1.NEF.xmp` written on the album comes home beside `IMG_1.NEF` as
/// its sidecar; `IMG_7.NEF.xmp`, a sidecar of no photo here, does not.
/// Nothing goes back, and the ledger holds the sidecar as the push side
/// would: `sync off` takes it off the remote with its photo, and leaves
/// the stranger.
fn a_new_remote_sidecar_comes_home_beside_its_photo(kind: Kind) {
    let shoot = Shoot::new(kind, "both");
    let uploads = done_uploads(&shoot.daemon);
    let edited = b"<darktable exposure=+0.7 crop=1/>".to_vec();
    write_file(&shoot.album.join("IMG_1.NEF.xmp"), &edited);
    write_file(&shoot.album.join("IMG_7.NEF.xmp"), b"<a photo not here/>");

    let outcome = shoot.poll();
    assert!(outcome.contains("1 downloaded"), "{outcome}");
    assert!(!outcome.contains("failed"), "{outcome}");
    assert_eq!(
        bytes_of(&shoot.trip.join("IMG_1.NEF.xmp")),
        Some(edited.clone())
    );
    assert_eq!(
        bytes_of(&shoot.trip.join("IMG_1.NEF")).as_deref(),
        Some(RAW_1)
    );
    assert!(!shoot.trip.join("IMG_7.NEF.xmp").exists());

    // The photo's sidecar, not a photo: listed with the photo's bytes.
    wait_until(EVENT_TIMEOUT, "the sidecar counted with its photo", || {
        let size = shoot.listed_size("IMG_1.NEF");
        if size == (RAW_1.len() + edited.len()) as u64 {
            Ok(())
        } else {
            Err(size)
        }
    });
    assert_eq!(
        shoot.daemon.photo_paths(Some("Trip")),
        ["trip/IMG_1.NEF", "trip/IMG_2.NEF"]
    );

    // Home for good: the next poll is quiet, nothing is sent back and
    // nothing deleted.
    shoot.wait();
    let again = shoot.poll();
    assert!(again.contains(" 0 downloaded"), "{again}");
    assert!(!again.contains("failed"), "{again}");
    shoot.wait();
    assert_eq!(done_uploads(&shoot.daemon), uploads, "nothing sent back");
    assert_eq!(
        shoot.album_names(),
        [
            "IMG_1.NEF",
            "IMG_1.NEF.xmp",
            "IMG_2.NEF",
            "IMG_2.NEF.xmp",
            "IMG_7.NEF.xmp"
        ]
    );
    assert_eq!(
        bytes_of(&shoot.album.join("IMG_1.NEF.xmp")),
        Some(edited.clone())
    );

    // Its ledger row names its photo: sync off deletes it with the photo's
    // keys; the stranger, in no ledger row, stays. Nothing local moves.
    shoot.daemon.cli(&["disconnect", "Trip"]).ok();
    shoot.daemon.cli(&["sync", "off", "Trip", "--yes"]).ok();
    shoot.wait();
    assert_eq!(shoot.album_names(), ["IMG_7.NEF.xmp"]);
    assert_eq!(bytes_of(&shoot.trip.join("IMG_1.NEF.xmp")), Some(edited));
}

#[test]
fn a_new_sidecar_on_fs_comes_home_beside_its_photo() {
    a_new_remote_sidecar_comes_home_beside_its_photo(Kind::Fs);
}

#[test]
fn a_new_sidecar_on_s3_comes_home_beside_its_photo() {
    a_new_remote_sidecar_comes_home_beside_its_photo(Kind::S3(S3Server::start()));
}

#[test]
fn a_new_sidecar_on_webdav_comes_home_beside_its_photo() {
    a_new_remote_sidecar_comes_home_beside_its_photo(Kind::WebDav(WebDavServer::start()));
}

/// A sidecar the user has here but never synced (a `pull` connection sends
/// nothing) meets one new on the remote: the local bytes are never
/// replaced. Other bytes: the remote's are saved beside it as a conflict
/// copy; the same bytes: only the agreement is recorded.
#[test]
fn a_new_remote_sidecar_never_replaces_an_unsynced_local_one() {
    let shoot = Shoot::new(Kind::Fs, "pull");
    let local_xmp = b"<rawtherapee, made here/>".to_vec();
    let same = b"<the same on both sides/>".to_vec();
    write_file(&shoot.trip.join("IMG_1.NEF.xmp"), &local_xmp);
    write_file(&shoot.trip.join("IMG_2.xmp"), &same);
    shoot.daemon.json(&["rescan"]);
    wait_until(EVENT_TIMEOUT, "the local sidecars indexed", || {
        let sizes = (
            shoot.listed_size("IMG_1.NEF"),
            shoot.listed_size("IMG_2.NEF"),
        );
        let want = (
            (RAW_1.len() + local_xmp.len()) as u64,
            (RAW_2.len() + XMP_2.len() + same.len()) as u64,
        );
        if sizes == want { Ok(()) } else { Err(sizes) }
    });
    let before = hash_of(&shoot.trip.join("IMG_1.NEF.xmp"));
    let remote_xmp = b"<darktable on the NAS, other bytes/>".to_vec();
    write_file(&shoot.album.join("IMG_1.NEF.xmp"), &remote_xmp);
    write_file(&shoot.album.join("IMG_2.xmp"), &same);

    let outcome = shoot.poll();
    assert!(outcome.contains("1 conflicts saved as copies"), "{outcome}");
    assert!(outcome.contains("1 the same on both sides"), "{outcome}");
    assert_eq!(hash_of(&shoot.trip.join("IMG_1.NEF.xmp")), before);
    assert_eq!(bytes_of(&shoot.trip.join("IMG_2.xmp")), Some(same));
    let copies: Vec<Vec<u8>> = fs::read_dir(&shoot.trip)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("IMG_1.NEF (conflict ")
        })
        .map(|p| fs::read(p).unwrap())
        .collect();
    assert_eq!(copies, [remote_xmp], "the remote's bytes kept beside");

    // Recorded: the next poll saves no second copy.
    shoot.wait();
    let again = shoot.poll();
    assert!(!again.contains("conflicts"), "{again}");
    assert!(!again.contains("same on both"), "{again}");
    assert_eq!(hash_of(&shoot.trip.join("IMG_1.NEF.xmp")), before);
}

/// A sidecar comes home only for a photo of the collection: `IMG_1.NEF`,
/// deleted on the album, left the collection (kept on disk); a sidecar of
/// it written on the album afterwards is not brought home beside it.
#[test]
fn a_new_remote_sidecar_of_a_photo_that_left_the_collection_stays_away() {
    let shoot = Shoot::new(Kind::Fs, "both");
    fs::remove_file(shoot.album.join("IMG_1.NEF")).unwrap();
    // A key placed in the second a listing began is left for a later
    // poll's deletion check (the ledger keeps seconds).
    let left = "1 deleted on the remote left the collection";
    wait_until(POLL_AGAIN, "a poll taking IMG_1.NEF out", || {
        let outcome = shoot.poll();
        if outcome.contains(left) {
            Ok(())
        } else {
            Err(outcome)
        }
    });
    assert_eq!(shoot.daemon.photo_paths(Some("Trip")), ["trip/IMG_2.NEF"]);
    shoot.wait();

    write_file(&shoot.album.join("IMG_1.NEF.xmp"), b"<for a photo gone/>");
    let outcome = shoot.poll();
    assert!(outcome.contains(" 0 downloaded"), "{outcome}");
    assert!(!outcome.contains("failed"), "{outcome}");
    assert!(!shoot.trip.join("IMG_1.NEF.xmp").exists());
    assert_eq!(
        bytes_of(&shoot.trip.join("IMG_1.NEF")).as_deref(),
        Some(RAW_1)
    );
}
