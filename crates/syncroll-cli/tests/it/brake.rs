//! The deletion brake: many deletions of remote copies the daemon planned
//! on its own are held for the user's decision (`holds`), and `sync off`
//! asks before deleting many.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;
use syncroll_testkit::{Daemon, EVENT_TIMEOUT, s, wait_until, write_file, write_photos};

/// Scans only when asked (`rescan`), so each test decides what one
/// planning pass sees.
pub(crate) const NO_WATCHER: &str = "[watcher]\nenabled = false\n";

pub(crate) struct Setup {
    pub(crate) daemon: Daemon,
    photos: Vec<PathBuf>,
}

impl Setup {
    /// 200 photos in a folder collection synced to the `local` remote.
    pub(crate) fn synced(config: &str) -> Self {
        let daemon = Daemon::builder().config(config).start();
        let root = daemon.scratch("photos");
        let photos = write_photos(&root.join("trip"), "t", 200, 1024);
        daemon.cli(&["roots", "add", s(&root)]).ok();
        daemon.json(&["rescan"]);
        crate::create_trip(&daemon, &root, &["--sync"]);
        daemon.cli(&["wait", "--timeout", "120s"]).ok();
        let setup = Self { daemon, photos };
        assert_eq!(setup.copies(), 200);
        setup
    }

    fn cloud(&self) -> PathBuf {
        self.daemon.data_dir.join("cloud/Trip/trip")
    }

    fn copies(&self) -> usize {
        fs::read_dir(self.cloud()).map_or(0, |d| d.count())
    }

    /// Moves photos `range` out of the root (to a folder no root holds), and
    /// rescans.
    pub(crate) fn vanish(&self, range: std::ops::Range<usize>) {
        let away = self.daemon.scratch("away");
        fs::create_dir_all(&away).unwrap();
        for photo in &self.photos[range] {
            fs::rename(photo, away.join(photo.file_name().unwrap())).unwrap();
        }
        self.daemon.json(&["rescan"]);
    }

    /// Brings photos `range` back, and rescans.
    fn bring_back(&self, range: std::ops::Range<usize>) {
        let away = self.daemon.scratch("away");
        for photo in &self.photos[range] {
            fs::rename(away.join(photo.file_name().unwrap()), photo).unwrap();
        }
        self.daemon.json(&["rescan"]);
    }

    fn pending_holds(&self) -> Vec<Value> {
        let listed = self.daemon.json(&["holds"]);
        listed["holds"].as_array().cloned().unwrap_or_default()
    }

    /// `wait`, which must exit `code`; returns its stderr.
    #[track_caller]
    fn wait_exits(&self, code: i32) -> String {
        let run = self.daemon.cli(&["wait", "--timeout", "120s"]);
        run.fails_with(code).stderr
    }
}

fn held_keys(daemon: &Daemon, hold: u64) -> Vec<Value> {
    daemon
        .cli(&["--json", "holds", "show", &hold.to_string()])
        .ok()
        .json_lines()
}

#[test]
fn forty_percent_vanished_is_held_until_approved() {
    let setup = Setup::synced(NO_WATCHER);
    setup.vanish(0..80);
    let stderr = setup.wait_exits(5);
    assert!(stderr.contains("hold 1"), "{stderr}");
    assert!(stderr.contains("80 of 200 copies of \"Trip\""), "{stderr}");
    assert_eq!(setup.copies(), 200, "nothing is deleted while held");

    let holds = setup.pending_holds();
    assert_eq!(holds.len(), 1, "{holds:?}");
    let hold = &holds[0];
    assert_eq!(hold["deletions"], 80);
    assert_eq!(hold["vanished"], 80);
    assert_eq!(hold["synced_copies"], 200);
    assert_eq!(hold["bytes"], 80 * 1024);
    let keys = held_keys(&setup.daemon, 1);
    assert_eq!(keys.len(), 80);
    assert!(keys.iter().all(|k| k["state"] == "held"), "{keys:?}");
    assert!(
        keys.iter()
            .all(|k| k["reason"] == "its photo vanished from disk"),
        "{keys:?}"
    );
    let status = setup.daemon.json(&["status"]);
    assert_eq!(status["sync"]["holds"][0]["id"], 1, "{status}");
    let held_jobs = setup
        .daemon
        .cli(&["--json", "jobs", "--state", "held"])
        .ok()
        .json_lines();
    assert_eq!(held_jobs.len(), 80);

    let approved = setup.daemon.json(&["holds", "approve", "1"]);
    assert_eq!(approved["deletions"], 80);
    assert_eq!(approved["hold"]["state"], "approved");
    setup.wait_exits(0);
    assert_eq!(setup.copies(), 120);
    assert!(setup.pending_holds().is_empty());
    // Decided once: a second decision is refused, naming the hold.
    let again = setup.daemon.cli(&["holds", "reject", "1"]).fails_with(1);
    assert!(
        again.stderr.contains("hold 1 is approved"),
        "{}",
        again.stderr
    );
}

#[test]
fn a_rejected_hold_keeps_its_copies_across_a_restart_and_a_rescan() {
    let mut setup = Setup::synced(NO_WATCHER);
    setup.vanish(0..80);
    setup.wait_exits(5);
    let rejected = setup.daemon.json(&["holds", "reject", "1"]);
    assert_eq!(rejected["hold"]["state"], "rejected");
    assert_eq!(rejected["deletions"], 80);
    setup.wait_exits(0);

    setup.daemon.stop();
    setup.daemon.restart();
    setup.daemon.json(&["rescan"]);
    setup.wait_exits(0);
    assert_eq!(setup.copies(), 200, "rejected copies stay");
    assert!(setup.pending_holds().is_empty());
    let all = setup.daemon.json(&["holds", "--all"]);
    assert_eq!(all["holds"].as_array().unwrap().len(), 1, "{all}");
    assert_eq!(all["holds"][0]["deletions"], 80, "{all}");

    // A photo that comes back is its own again: vanishing anew plans its
    // deletion, which (one photo) just runs.
    setup.bring_back(0..1);
    setup.wait_exits(0);
    setup.vanish(0..1);
    setup.wait_exits(0);
    assert_eq!(setup.copies(), 199);
    assert!(setup.pending_holds().is_empty());
}

#[test]
fn five_percent_just_runs() {
    let setup = Setup::synced(NO_WATCHER);
    setup.vanish(0..10);
    setup.wait_exits(0);
    assert_eq!(setup.copies(), 190, "5 % runs as before");
    assert!(setup.pending_holds().is_empty());
}

/// Five passes of 8 % (16 of 200) within the window: the fourth takes the
/// window past 25 % (50); it and the fifth are held together.
#[test]
fn a_drip_of_small_passes_is_held_at_the_threshold() {
    let setup = Setup::synced(NO_WATCHER);
    let mut copies = Vec::new();
    for pass in 0..5 {
        let from = pass * 16;
        setup.vanish(from..from + 16);
        let code = if pass < 3 { 0 } else { 5 };
        setup.wait_exits(code);
        copies.push(setup.copies());
    }
    assert_eq!(copies, [184, 168, 152, 152, 152]);
    let holds = setup.pending_holds();
    assert_eq!(holds.len(), 1, "the fifth pass joins the pending hold");
    assert_eq!(holds[0]["deletions"], 32);
}

#[test]
fn sync_off_asks_before_deleting_many_copies() {
    let setup = Setup::synced(NO_WATCHER);
    // Not on a terminal: refused, naming the count, the remote and --yes.
    let refused = setup.daemon.cli(&["sync", "off", "Trip"]).fails_with(1);
    assert!(
        refused.stderr.contains("would delete 200 remote copies"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("on remote \"local\""),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains("--yes"), "{}", refused.stderr);
    let shown = setup.daemon.json(&["collections", "show", "Trip"]);
    assert_eq!(shown["collection"]["sync_enabled"], true, "nothing changed");

    let off = setup.daemon.json(&["sync", "off", "Trip", "--yes"]);
    assert_eq!(off["deletes_queued"], 200);
    setup.wait_exits(0);
    assert_eq!(setup.copies(), 0);
}

/// `sync off` decides a pending hold: removing every copy approves it,
/// keeping them withdraws it.
#[test]
fn sync_off_decides_a_pending_hold() {
    let setup = Setup::synced(NO_WATCHER);
    setup.vanish(0..80);
    setup.wait_exits(5);
    setup.daemon.json(&["sync", "off", "Trip", "--keep-remote"]);
    setup.wait_exits(0);
    assert_eq!(setup.copies(), 200);
    let all = setup.daemon.json(&["holds", "--all"]);
    assert_eq!(all["holds"][0]["state"], "withdrawn", "{all}");
}

/// A root's photos that vanish all at once while its disk stays mounted
/// (a folder emptied by mistake) are held, and the watcher's drip adds up.
#[test]
fn a_folder_emptied_under_the_watcher_is_held() {
    let setup = Setup::synced("");
    let trip = setup.photos[0].parent().unwrap().to_path_buf();
    for photo in &setup.photos[..150] {
        fs::remove_file(photo).unwrap();
    }
    // A new photo still syncs while the hold waits.
    write_file(&trip.join("new.jpg"), b"new photo");
    let holds = wait_until(EVENT_TIMEOUT, "a hold", || {
        let holds = setup.pending_holds();
        if holds.len() == 1 {
            Ok(holds)
        } else {
            Err(holds)
        }
    });
    setup.wait_exits(5);
    // However the watcher batched the removals, at most 50 (25 %) ran.
    let held = setup.pending_holds()[0]["deletions"].as_u64().unwrap();
    assert!(held >= 100, "{held} held: {holds:?}");
    assert_eq!(setup.copies() as u64, 200 + 1 - (150 - held));
    assert!(cloud_has(&setup.cloud(), "new.jpg"), "{holds:?}");
}

fn cloud_has(dir: &Path, name: &str) -> bool {
    dir.join(name).exists()
}

/// `roots remove` of a root whose photos have many copies in a synced
/// (manual) collection asks first; confirmed, the copies go without a hold.
#[test]
fn roots_remove_asks_then_deletes_what_was_confirmed() {
    let daemon = Daemon::builder().config(NO_WATCHER).start();
    let root = daemon.scratch("photos");
    write_photos(&root.join("trip"), "t", 60, 1024);
    daemon.cli(&["roots", "add", s(&root)]).ok();
    daemon.json(&["rescan"]);
    daemon.cli(&["collections", "create", "Picks"]).ok();
    daemon
        .cli(&["collections", "add", "Picks", s(&root.join("trip"))])
        .ok();
    daemon.cli(&["sync", "on", "Picks"]).ok();
    daemon.cli(&["wait", "--timeout", "120s"]).ok();
    let cloud = daemon.data_dir.join("cloud/Picks/trip");
    let copies = || fs::read_dir(&cloud).map_or(0, |d| d.count());
    assert_eq!(copies(), 60);

    let refused = daemon.cli(&["roots", "remove", s(&root)]).fails_with(1);
    assert!(
        refused
            .stderr
            .contains("roots remove would delete 60 remote copies"),
        "{}",
        refused.stderr
    );
    assert_eq!(
        daemon.json(&["roots", "list"])["roots"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    daemon.cli(&["roots", "remove", s(&root), "--yes"]).ok();
    daemon.cli(&["wait", "--timeout", "120s"]).ok();
    assert_eq!(copies(), 0);
    let all = daemon.json(&["holds", "--all"]);
    assert_eq!(all["holds"].as_array().unwrap().len(), 0, "{all}");
}

/// `kill -9` while an approved hold's deletions run: after the restart the
/// remote holds exactly the wanted copies, and nothing failed.
#[test]
fn kill_9_during_a_hold_s_approval_converges() {
    let mut setup = Setup::synced(NO_WATCHER);
    setup.vanish(0..120);
    setup.wait_exits(5);
    setup.daemon.json(&["holds", "approve", "1"]);
    // Some deletions done, some queued or running: cut it off there.
    setup.daemon.kill();
    let left = setup.copies();
    assert!(left <= 200, "{left}");
    setup.daemon.restart();
    setup.wait_exits(0);
    assert_eq!(setup.copies(), 80);
    let failed = setup
        .daemon
        .cli(&["--json", "jobs", "--state", "failed"])
        .ok()
        .json_lines();
    assert!(failed.is_empty(), "{failed:?}");
    let all = setup.daemon.json(&["holds", "--all"]);
    assert_eq!(all["holds"][0]["state"], "approved", "{all}");
    assert_eq!(all["holds"][0]["deletions"], 120, "{all}");
}
