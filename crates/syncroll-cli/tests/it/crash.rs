//! The crash matrix of issue 10: `kill -9` at points spread over a sync to
//! an `fs` remote and to the in-process S3 server. Each point is reached by
//! a condition (a phase in `status`, objects on the remote, a temporary
//! being written, the catalog's write lock held by the test so a transfer
//! or a deletion has reached the remote but not the ledger), never by
//! sleeping. After each kill the daemon is restarted on the same data dir
//! and, once idle, the remote must hold exactly the wanted keys and bytes,
//! no temporary and no multipart upload may be left, and no job may have
//! failed.
//!
//! Not covered here: a kill during a hold's approval (the deletion brake is
//! being built in another branch; add that point when holds land).

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::Value;
use syncroll_testkit::{
    CatalogLock, Daemon, EVENT_TIMEOUT, S3Server, s, wait_until, write_file, write_photos,
};

/// Photos per case: enough that a sync takes a while, few enough for CI.
const PHOTOS: usize = 300;
const PHOTO_BYTES: usize = 16 * 1024;
/// Photos of the scan case: many batches of the scanner's 256, so the scan
/// is still going when the test has seen 300 hashed and locked the catalog
/// (1,500 were all hashed in under a second on a quiet machine, and the
/// lock came too late).
const SCAN_PHOTOS: usize = 5000;
/// The lowest part size S3 allows, so multipart files stay small.
const PART: usize = 5 << 20;
/// Suffix of the `fs` remote's temporaries (`syncroll-remote`'s
/// `TEMP_SUFFIX`).
const FS_TEMP_SUFFIX: &str = ".syncroll-part";

/// Where a case syncs to.
enum Dest {
    Fs(PathBuf),
    S3(S3Server),
}

/// One case: a daemon, a root whose `trip` folder is the collection
/// `Trip`, and the remote `dest`.
struct Crash {
    name: &'static str,
    daemon: Daemon,
    root: PathBuf,
    dest: Dest,
    started: Instant,
}

impl Crash {
    fn fs(name: &'static str) -> Self {
        Self::start(name, false, "")
    }

    fn s3(name: &'static str) -> Self {
        Self::start(name, true, "")
    }

    /// `fs`, one transfer at a time: large photos go one after another, so
    /// a put half done is there to be seen for longer.
    fn fs_one_at_a_time(name: &'static str) -> Self {
        Self::start(name, false, "concurrency = 1\n")
    }

    fn start(name: &'static str, s3: bool, sync_config: &str) -> Self {
        let started = Instant::now();
        // The photos are written by the test just before the daemon sees
        // them; waiting for them to settle is watcher.rs's subject.
        let mut config =
            format!("[watcher]\nsettle_ms = 0\n[sync]\nretry_base_ms = 50\n{sync_config}");
        if s3 {
            config.push_str(&format!(
                "[remotes]\nmultipart_threshold_bytes = {PART}\npart_size_bytes = {PART}\n"
            ));
        }
        let daemon = Daemon::builder().config(&config).start();
        let root = daemon.scratch("photos");
        fs::create_dir_all(root.join("trip")).unwrap();
        let dest = if s3 {
            let server = S3Server::start();
            server.add_as_remote(&daemon, "dest", &[]);
            Dest::S3(server)
        } else {
            let dir = daemon.scratch("dest");
            daemon
                .cli(&["remotes", "add", "dest", "--kind", "fs", "--path", s(&dir)])
                .ok();
            Dest::Fs(dir)
        };
        daemon.cli(&["roots", "add", s(&root)]).ok();
        Self {
            name,
            daemon,
            root,
            dest,
            started,
        }
    }

    fn server(&self) -> &S3Server {
        match &self.dest {
            Dest::S3(server) => server,
            Dest::Fs(_) => panic!("{}: not an S3 case", self.name),
        }
    }

    /// Writes [`PHOTOS`] small photos in ten folders under `trip`.
    fn write_small_photos(&self) {
        for folder in 0..10 {
            let dir = self.root.join(format!("trip/d{folder}"));
            write_photos(&dir, &format!("p{folder}-"), PHOTOS / 10, PHOTO_BYTES);
        }
    }

    /// Writes `n` photos of `parts` S3 parts each (plus a few bytes).
    fn write_large_photos(&self, n: usize, parts: usize) {
        for i in 0..n {
            let bytes: Vec<u8> = (0..parts * PART + 100)
                .map(|b| ((b * 7 + b / 4093 + i) % 251) as u8)
                .collect();
            write_file(&self.root.join(format!("trip/clips/c{i}.mov")), &bytes);
        }
    }

    /// Indexes everything written so far and waits for it.
    fn index(&self) {
        self.daemon.json(&["rescan"]);
    }

    fn create(&self, sync: bool) {
        let folder = self.root.join("trip");
        let mut args = vec![
            "collections",
            "create",
            "Trip",
            "--folder",
            s(&folder),
            "--remote",
            "dest",
        ];
        if sync {
            args.push("--sync");
        }
        self.daemon.cli(&args).ok();
    }

    /// Indexes the photos, turns sync on and waits until it is done.
    fn synced(&self) {
        self.index();
        self.create(true);
        self.daemon.cli(&["wait", "--timeout", "300s"]).ok();
        assert_eq!(self.remote_files(), self.wanted_synced("Trip"));
    }

    /// Every object on the remote: key and bytes. For `fs`, every file
    /// under its folder, temporaries included; for S3, the bucket's
    /// objects (s3s-fs keeps its own bookkeeping in dot-files).
    fn remote_files(&self) -> Vec<(String, Vec<u8>)> {
        match &self.dest {
            Dest::Fs(dir) => files_under(dir, true),
            Dest::S3(server) => files_under(&server.bucket_dir(), false),
        }
    }

    /// Objects on the remote, temporaries (dot-files) left out.
    fn remote_count(&self) -> usize {
        match &self.dest {
            Dest::Fs(dir) => count_files(dir),
            Dest::S3(server) => count_files(&server.bucket_dir()),
        }
    }

    /// The collection's photos as the remote must hold them under `name`.
    fn wanted_synced(&self, name: &str) -> Vec<(String, Vec<u8>)> {
        files_under(&self.root.join("trip"), true)
            .into_iter()
            .map(|(path, bytes)| (format!("{name}/trip/{path}"), bytes))
            .collect()
    }

    fn status(&self) -> Value {
        self.daemon.json(&["status"])
    }

    /// Waits until `probe` accepts the daemon's `status`.
    fn wait_status(&self, what: &str, probe: impl Fn(&Value) -> bool) -> Value {
        wait_until(EVENT_TIMEOUT, what, || {
            let status = self.status();
            if probe(&status) {
                Ok(status)
            } else {
                Err(status)
            }
        })
    }

    /// `fs`: waits until a temporary holds some bytes: a put half done.
    fn wait_for_a_temporary(&self) {
        let Dest::Fs(dir) = &self.dest else {
            panic!("{}: not an fs case", self.name)
        };
        wait_until(EVENT_TIMEOUT, "a temporary being written", || {
            let written = fs_temporaries(dir)
                .iter()
                .any(|p| fs::metadata(p).is_ok_and(|m| m.len() > 0));
            if written {
                Ok(())
            } else {
                Err(self.remote_count())
            }
        });
    }

    /// Waits until the remote holds at least `n` objects.
    fn wait_remote_at_least(&self, n: usize) -> usize {
        wait_until(EVENT_TIMEOUT, "objects on the remote", || {
            let count = self.remote_count();
            if count >= n { Ok(count) } else { Err(count) }
        })
    }

    /// Waits until the remote holds at most `n` objects.
    fn wait_remote_at_most(&self, n: usize) -> usize {
        wait_until(EVENT_TIMEOUT, "objects gone from the remote", || {
            let count = self.remote_count();
            if count <= n { Ok(count) } else { Err(count) }
        })
    }

    /// Takes the catalog's write lock at a moment when the remote is
    /// ahead of the ledger: `unrecorded(objects on the remote, rows in the
    /// ledger)` says so (transfers landed, or deletions done, that the
    /// ledger does not hold yet). While the lock is held nothing can be
    /// recorded, so the kill finds them so. Until then the lock is let go
    /// again at once and the sync goes on.
    fn lock_with_unrecorded(&self, unrecorded: impl Fn(usize, i64) -> bool) -> CatalogLock {
        let (lock, remote, ledger) = wait_until(
            EVENT_TIMEOUT,
            "the remote to be ahead of the ledger",
            || {
                let lock = CatalogLock::take(&self.daemon.data_dir);
                let ledger = lock.count("SELECT count(*) FROM remote_objects");
                let remote = self.remote_count();
                if unrecorded(remote, ledger) {
                    Ok((lock, remote, ledger))
                } else {
                    Err((remote, ledger))
                }
            },
        );
        println!(
            "{}: {remote} objects on the remote, {ledger} in the ledger",
            self.name
        );
        lock
    }

    /// `kill -9`, then restart on the same data dir. Returns how many
    /// objects the remote held at the kill.
    fn kill_and_restart(&mut self, lock: Option<CatalogLock>) -> usize {
        let at_kill = self.remote_count();
        self.daemon.kill();
        drop(lock);
        let temporaries = match &self.dest {
            Dest::Fs(dir) => fs_temporaries(dir).len(),
            Dest::S3(server) => server.multipart_files().len(),
        };
        println!(
            "{}: killed with {at_kill} objects on the remote and {temporaries} \
             temporaries or multipart files",
            self.name
        );
        self.daemon.restart();
        at_kill
    }

    /// Once the restarted daemon is idle: the remote holds exactly
    /// `wanted`, with no temporary or multipart upload left, and no job
    /// failed.
    fn check(&self, wanted: &[(String, Vec<u8>)]) {
        self.daemon.cli(&["wait", "--timeout", "300s"]).ok();
        let failed = self
            .daemon
            .cli(&["--json", "jobs", "--state", "failed"])
            .ok()
            .json_lines();
        assert!(failed.is_empty(), "{}: failed jobs: {failed:#?}", self.name);
        let remote = self.remote_files();
        let keys = |files: &[(String, Vec<u8>)]| -> Vec<String> {
            files.iter().map(|(k, _)| k.clone()).collect()
        };
        let temporaries: Vec<String> = keys(&remote)
            .into_iter()
            .filter(|k| k.ends_with(FS_TEMP_SUFFIX))
            .collect();
        assert!(
            temporaries.is_empty(),
            "{}: temporaries left: {temporaries:?}",
            self.name
        );
        assert_eq!(
            keys(&remote),
            keys(wanted),
            "{}: the remote holds exactly the wanted keys",
            self.name
        );
        assert!(
            remote == wanted,
            "{}: every object holds its photo's bytes",
            self.name
        );
        if let Dest::S3(server) = &self.dest {
            // Abandoned uploads are aborted by the sweep after a planning
            // pass, which may come just after the queue drained.
            wait_until(EVENT_TIMEOUT, "no multipart upload left", || {
                let left = server.multipart_files();
                if left.is_empty() { Ok(()) } else { Err(left) }
            });
        }
        println!(
            "{}: converged; case took {:?}",
            self.name,
            self.started.elapsed()
        );
    }
}

/// Every file below `dir` (relative path, bytes), sorted; dot-files only
/// with `hidden`.
fn files_under(dir: &Path, hidden: bool) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = paths_under(dir, hidden)
        .into_iter()
        .filter_map(|p| {
            // A file deleted between the listing and the read is gone.
            let bytes = fs::read(&p).ok()?;
            let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
            Some((rel, bytes))
        })
        .collect();
    files.sort();
    files
}

/// The `fs` remote's temporaries under `dir`.
fn fs_temporaries(dir: &Path) -> Vec<PathBuf> {
    paths_under(dir, true)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(FS_TEMP_SUFFIX))
        .collect()
}

fn count_files(dir: &Path) -> usize {
    paths_under(dir, false).len()
}

fn paths_under(dir: &Path, hidden: bool) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if !hidden && entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            match entry.file_type() {
                Ok(t) if t.is_dir() => stack.push(path),
                Ok(_) => out.push(path),
                Err(_) => {}
            }
        }
    }
    out
}

fn running(status: &Value) -> u64 {
    status["sync"]["running"].as_u64().unwrap_or(0)
}

/// A transfer in `status` that has sent some but not all of its bytes.
fn partly_sent(status: &Value) -> bool {
    status["sync"]["transfers"]
        .as_array()
        .is_some_and(|transfers| {
            transfers.iter().any(|t| {
                let done = t["bytes_done"].as_u64().unwrap_or(0);
                done > 0 && done < t["bytes_total"].as_u64().unwrap_or(0)
            })
        })
}

// --- The points, each for `fs` and for S3 -------------------------------

/// Killed while a scan of a synced collection's folder is hashing: some
/// batches of new photos are in the catalog (and being uploaded), the
/// rest are not indexed yet. The photos arrive as one folder moved in, so
/// one scan indexes them; once it has hashed more than a batch the catalog
/// is locked, which holds the scan at its next batch until the kill.
fn during_the_scan(mut case: Crash) {
    case.create(true);
    let incoming = case.daemon.scratch("incoming");
    write_photos(&incoming.join("shoot"), "s", SCAN_PHOTOS, 1024);
    fs::rename(incoming.join("shoot"), case.root.join("trip/shoot")).unwrap();
    case.wait_status("a scan that has hashed more than a batch", |st| {
        st["scan"]["scanning"] == true && st["scan"]["files_hashed"].as_u64().unwrap_or(0) > 300
    });
    let lock = CatalogLock::take(&case.daemon.data_dir);
    let status = case.status();
    assert_eq!(
        status["scan"]["scanning"], true,
        "{}: the scan ended before the catalog was locked: {status}",
        case.name
    );
    println!(
        "{}: killed with {} of {SCAN_PHOTOS} photos hashed",
        case.name, status["scan"]["files_hashed"]
    );
    case.kill_and_restart(Some(lock));
    let wanted = case.wanted_synced("Trip");
    case.check(&wanted);
}

/// Killed as soon as `sync on` returned: the jobs are queued, few or none
/// have run.
fn right_after_sync_on(mut case: Crash) {
    case.write_small_photos();
    case.index();
    case.create(false);
    case.daemon.cli(&["sync", "on", "Trip"]).ok();
    case.kill_and_restart(None);
    let wanted = case.wanted_synced("Trip");
    case.check(&wanted);
}

/// Killed with a third of the photos on the remote and transfers running.
fn mid_transfer(mut case: Crash) {
    case.write_small_photos();
    case.index();
    case.create(true);
    case.wait_remote_at_least(PHOTOS / 3);
    let at_kill = case.kill_and_restart(None);
    assert!(
        at_kill < PHOTOS,
        "{}: the sync had ended before the kill ({at_kill} objects); use more photos",
        case.name
    );
    let wanted = case.wanted_synced("Trip");
    case.check(&wanted);
}

/// Killed with transfers landed on the remote whose ledger commit is
/// waiting for the catalog.
fn between_a_transfer_and_its_ledger_commit(mut case: Crash) {
    case.write_small_photos();
    case.index();
    case.create(true);
    case.wait_remote_at_least(PHOTOS / 10);
    let lock = case.lock_with_unrecorded(|remote, ledger| remote as i64 > ledger);
    case.kill_and_restart(Some(lock));
    let wanted = case.wanted_synced("Trip");
    case.check(&wanted);
}

/// Killed as soon as `sync off` returned: the deletions are queued.
fn right_after_sync_off(mut case: Crash) {
    case.write_small_photos();
    case.synced();
    case.daemon.cli(&["sync", "off", "Trip", "--yes"]).ok();
    case.kill_and_restart(None);
    case.check(&[]);
}

/// Killed while the deletions of `sync off` run: some objects are gone.
fn during_the_deletions_of_sync_off(mut case: Crash) {
    case.write_small_photos();
    case.synced();
    case.daemon.cli(&["sync", "off", "Trip", "--yes"]).ok();
    case.wait_remote_at_most(PHOTOS - 1);
    case.kill_and_restart(None);
    case.check(&[]);
}

/// Killed with deletions done on the remote whose ledger commit is waiting
/// for the catalog (`fs`: each deletion is its own operation, so one is
/// caught by looking).
fn between_a_deletion_and_its_ledger_commit(mut case: Crash) {
    case.write_small_photos();
    case.synced();
    case.daemon.cli(&["sync", "off", "Trip", "--yes"]).ok();
    case.wait_remote_at_most(PHOTOS - 1);
    let lock = case.lock_with_unrecorded(|remote, ledger| (remote as i64) < ledger);
    case.kill_and_restart(Some(lock));
    case.check(&[]);
}

#[test]
fn fs_converges_after_kill_9_during_the_scan() {
    during_the_scan(Crash::fs("fs/during the scan"));
}

#[test]
fn s3_converges_after_kill_9_during_the_scan() {
    during_the_scan(Crash::s3("s3/during the scan"));
}

#[test]
fn fs_converges_after_kill_9_right_after_sync_on() {
    right_after_sync_on(Crash::fs("fs/right after sync on"));
}

#[test]
fn s3_converges_after_kill_9_right_after_sync_on() {
    right_after_sync_on(Crash::s3("s3/right after sync on"));
}

#[test]
fn fs_converges_after_kill_9_mid_transfer() {
    mid_transfer(Crash::fs("fs/mid-transfer"));
}

#[test]
fn s3_converges_after_kill_9_mid_transfer() {
    mid_transfer(Crash::s3("s3/mid-transfer"));
}

#[test]
fn fs_converges_after_kill_9_between_a_transfer_and_its_ledger_commit() {
    between_a_transfer_and_its_ledger_commit(Crash::fs("fs/transfer before ledger"));
}

#[test]
fn s3_converges_after_kill_9_between_a_transfer_and_its_ledger_commit() {
    between_a_transfer_and_its_ledger_commit(Crash::s3("s3/transfer before ledger"));
}

#[test]
fn fs_converges_after_kill_9_right_after_sync_off() {
    right_after_sync_off(Crash::fs("fs/right after sync off"));
}

#[test]
fn s3_converges_after_kill_9_right_after_sync_off() {
    right_after_sync_off(Crash::s3("s3/right after sync off"));
}

#[test]
fn fs_converges_after_kill_9_during_the_deletions_of_sync_off() {
    during_the_deletions_of_sync_off(Crash::fs("fs/during sync off deletions"));
}

#[test]
fn s3_converges_after_kill_9_during_the_deletions_of_sync_off() {
    during_the_deletions_of_sync_off(Crash::s3("s3/during sync off deletions"));
}

#[test]
fn fs_converges_after_kill_9_between_a_deletion_and_its_ledger_commit() {
    between_a_deletion_and_its_ledger_commit(Crash::fs("fs/deletion before ledger"));
}

/// S3 deletes a batch in one request, too quickly to be caught between
/// request and record by looking: the server holds the request until the
/// catalog is locked, then applies it.
#[test]
fn s3_converges_after_kill_9_between_a_deletion_and_its_ledger_commit() {
    let mut case = Crash::s3("s3/deletion before ledger");
    case.write_small_photos();
    case.synced();
    let server = case.server();
    server.hold_bulk_deletes();
    let before = server.seen().len();
    case.daemon.cli(&["sync", "off", "Trip", "--yes"]).ok();
    wait_until(EVENT_TIMEOUT, "a DeleteObjects request held", || {
        let seen = server.seen();
        if seen[before..].iter().any(|r| r.deletes_objects()) {
            Ok(())
        } else {
            Err(seen.len())
        }
    });
    let lock = CatalogLock::take(&case.daemon.data_dir);
    let ledger = lock.count("SELECT count(*) FROM remote_objects");
    server.pass_held();
    let remote = case.wait_remote_at_most(PHOTOS - 1);
    assert!(
        (remote as i64) < ledger,
        "deleted on the server ({remote} left), not in the ledger ({ledger} rows)"
    );
    println!(
        "{}: {remote} objects on the remote, {ledger} in the ledger",
        case.name
    );
    case.kill_and_restart(Some(lock));
    case.check(&[]);
}

/// `fs`: killed while a large photo is half written to its temporary.
#[test]
fn fs_converges_after_kill_9_mid_transfer_of_a_large_photo() {
    let mut case = Crash::fs_one_at_a_time("fs/large photo half written");
    case.write_large_photos(4, 8);
    case.index();
    case.create(true);
    case.wait_for_a_temporary();
    case.kill_and_restart(None);
    let wanted = case.wanted_synced("Trip");
    case.check(&wanted);
}

/// `fs`: `sync off` while a large photo is half written to its temporary,
/// killed as soon as it returned: nothing may be left, the temporary
/// included (its key is in no ledger, so no deletion would ever reach it).
#[test]
fn fs_converges_after_kill_9_sync_off_during_a_transfer() {
    let mut case = Crash::fs_one_at_a_time("fs/sync off mid transfer");
    case.write_large_photos(4, 8);
    case.index();
    case.create(true);
    case.wait_for_a_temporary();
    case.daemon.cli(&["sync", "off", "Trip", "--yes"]).ok();
    case.kill_and_restart(None);
    case.check(&[]);
}

/// S3: killed in the middle of multipart uploads (two parts of each
/// stored, the rest held by the server), among small photos.
#[test]
fn s3_converges_after_kill_9_mid_multipart_upload() {
    let mut case = Crash::s3("s3/mid multipart");
    case.write_small_photos();
    case.write_large_photos(3, 4);
    case.index();
    case.server().hold_parts_above(2);
    case.create(true);
    case.wait_status("a multipart upload partly sent", partly_sent);
    case.kill_and_restart(None);
    case.server().release_held();
    let wanted = case.wanted_synced("Trip");
    case.check(&wanted);
}

/// S3: `sync off` while a multipart upload is under way, killed as soon
/// as it returned: the upload must be aborted, nothing left.
#[test]
fn s3_converges_after_kill_9_sync_off_during_a_multipart_upload() {
    let mut case = Crash::s3("s3/sync off mid multipart");
    case.write_large_photos(2, 4);
    case.index();
    case.server().hold_parts_above(2);
    case.create(true);
    case.wait_status("a multipart upload partly sent", partly_sent);
    case.daemon.cli(&["sync", "off", "Trip", "--yes"]).ok();
    case.kill_and_restart(None);
    case.server().release_held();
    case.check(&[]);
}

/// Killed a second time while the restarted daemon is catching up.
fn again_while_recovering(mut case: Crash) {
    case.write_small_photos();
    case.index();
    case.create(true);
    case.wait_remote_at_least(PHOTOS / 5);
    case.kill_and_restart(None);
    let first = case.remote_count();
    case.wait_status("transfers running after the restart", |st| running(st) > 0);
    case.wait_remote_at_least(first + 1);
    case.kill_and_restart(None);
    let wanted = case.wanted_synced("Trip");
    case.check(&wanted);
}

#[test]
fn fs_converges_after_kill_9_again_while_recovering() {
    again_while_recovering(Crash::fs("fs/twice"));
}

#[test]
fn s3_converges_after_kill_9_again_while_recovering() {
    again_while_recovering(Crash::s3("s3/twice"));
}

/// `fs`: killed while a rename of the synced collection moves its copies
/// (new keys filled by copies, old ones deleted).
#[test]
fn fs_converges_after_kill_9_during_a_rename_of_a_synced_collection() {
    let mut case = Crash::fs("fs/during a rename");
    case.write_small_photos();
    case.synced();
    case.daemon
        .cli(&["collections", "rename", "Trip", "Voyage"])
        .ok();
    case.wait_remote_at_least(PHOTOS + 1);
    case.kill_and_restart(None);
    let wanted = case.wanted_synced("Voyage");
    case.check(&wanted);
}
