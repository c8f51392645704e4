//! Files that changed a moment ago and are not indexed yet.
//!
//! A file whose size or mtime changed within `watcher.settle_ms` is most
//! likely still being written (a copy, a card import, an export). Indexing
//! it would plan an upload of bytes about to change, and then another one
//! per write. The scanner asks [`Settling::check`] before hashing a new or
//! changed file; a file that is not settled is kept here with the moment it
//! is due to be looked at again, and the scanner rescans it then, so no
//! later event is needed.
//!
//! Only settling files are kept: a file whose mtime is older than the
//! settle time is settled without being tracked, so the cost does not grow
//! with the library. A file whose mtime is in the future (another clock)
//! settles once its stat has been seen unchanged for the settle time.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use syncroll_core::{FileStat, RelPath, RootId};

/// One settling file.
#[derive(Debug, Clone)]
struct Entry {
    stat: FileStat,
    /// When this stat was first seen.
    since: Instant,
    /// When to look at the file again.
    due: Instant,
    /// The scan that last saw the file unsettled.
    scan: u64,
}

/// The files waiting to hold still, by root and path.
#[derive(Debug)]
pub struct Settling {
    settle: Duration,
    files: HashMap<(RootId, RelPath), Entry>,
    scan: u64,
}

impl Settling {
    /// `settle` zero turns settling off: every file is settled.
    pub fn new(settle: Duration) -> Self {
        Self {
            settle,
            files: HashMap::new(),
            scan: 0,
        }
    }

    /// Starts a scan; entries the scan does not see unsettled again are
    /// dropped by [`Settling::end_scan`].
    pub fn begin_scan(&mut self) {
        self.scan += 1;
    }

    /// Whether a file with `stat` has held still for the settle time. If
    /// not, it is tracked (or its entry updated) until it has.
    pub fn check(
        &mut self,
        root: RootId,
        rel: &RelPath,
        stat: FileStat,
        now: Instant,
        wall: SystemTime,
    ) -> bool {
        let key = (root, rel.clone());
        let by_mtime = match settle_left_by_mtime(stat.mtime_ns, wall, self.settle) {
            None => {
                self.files.remove(&key);
                return true;
            }
            Some(left) => left,
        };
        let since = match self.files.get(&key) {
            Some(entry) if entry.stat == stat => entry.since,
            _ => now,
        };
        let held = now.saturating_duration_since(since);
        if held >= self.settle {
            self.files.remove(&key);
            return true;
        }
        let due = now + by_mtime.min(self.settle - held);
        self.track(key, stat, since, due);
        false
    }

    /// Tracks a file seen changing while it was hashed: it is looked at
    /// again one settle time from now.
    pub fn changing(&mut self, root: RootId, rel: &RelPath, stat: FileStat, now: Instant) {
        let due = now + self.settle.max(Duration::from_millis(1));
        self.track((root, rel.clone()), stat, now, due);
    }

    fn track(&mut self, key: (RootId, RelPath), stat: FileStat, since: Instant, due: Instant) {
        let scan = self.scan;
        self.files.insert(
            key,
            Entry {
                stat,
                since,
                due,
                scan,
            },
        );
    }

    /// Drops the entries of `root` under `scopes` that the scan just ended
    /// did not see unsettled: they were indexed, or are gone, or were
    /// indexed by a scan that does not wait for files to settle.
    pub fn end_scan(&mut self, root: RootId, scopes: &[RelPath]) {
        let scan = self.scan;
        self.files.retain(|(r, rel), entry| {
            *r != root || entry.scan == scan || !scopes.iter().any(|s| s.contains(rel))
        });
    }

    /// Forgets one file: it is known to be complete.
    pub fn forget(&mut self, root: RootId, rel: &RelPath) {
        self.files.remove(&(root, rel.clone()));
    }

    /// Forgets every entry of a root (missing or removed: a scan of the
    /// whole root follows its return).
    pub fn forget_root(&mut self, root: RootId) {
        self.files.retain(|(r, _), _| *r != root);
    }

    /// When the next file is due to be looked at again.
    pub fn next_due(&self) -> Option<Instant> {
        self.files.values().map(|e| e.due).min()
    }

    /// The files due by `now`, by root. Their next look is pushed one
    /// settle time on, so a scan that never reaches them (its root went
    /// missing) does not make them due again at once.
    pub fn take_due(&mut self, now: Instant) -> HashMap<RootId, Vec<RelPath>> {
        let mut due: HashMap<RootId, Vec<RelPath>> = HashMap::new();
        let later = now + self.settle.max(Duration::from_millis(1));
        for ((root, rel), entry) in &mut self.files {
            if entry.due <= now {
                entry.due = later;
                due.entry(*root).or_default().push(rel.clone());
            }
        }
        due
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

/// How long a file last modified at `mtime_ns` still has to settle by its
/// mtime alone; `None` once its mtime is at least `settle` old. A future
/// mtime counts as just now.
fn settle_left_by_mtime(mtime_ns: i64, wall: SystemTime, settle: Duration) -> Option<Duration> {
    let now_ns = wall
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i128::try_from(d.as_nanos()).unwrap_or(i128::MAX));
    let age_ns = (now_ns - i128::from(mtime_ns)).max(0);
    let settle_ns = settle.as_nanos() as i128;
    (age_ns < settle_ns).then(|| Duration::from_nanos((settle_ns - age_ns) as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SETTLE: Duration = Duration::from_secs(2);

    fn rel(s: &str) -> RelPath {
        RelPath::from_bytes(s.as_bytes().to_vec())
    }

    fn stat_at(wall: SystemTime, size: u64) -> FileStat {
        let mtime = wall.duration_since(UNIX_EPOCH).unwrap().as_nanos() as i64;
        FileStat {
            size,
            mtime_ns: mtime,
            inode: 7,
        }
    }

    #[test]
    fn an_old_file_is_settled_and_not_tracked() {
        let mut settling = Settling::new(SETTLE);
        let wall = SystemTime::now();
        let stat = stat_at(wall - Duration::from_secs(3), 10);
        assert!(settling.check(RootId(1), &rel("a.jpg"), stat, Instant::now(), wall));
        assert!(settling.is_empty());
    }

    #[test]
    fn a_fresh_file_waits_until_its_mtime_is_old_enough() {
        let mut settling = Settling::new(SETTLE);
        let (now, wall) = (Instant::now(), SystemTime::now());
        let stat = stat_at(wall - Duration::from_millis(500), 10);
        assert!(!settling.check(RootId(1), &rel("a.jpg"), stat, now, wall));
        assert_eq!(settling.next_due(), Some(now + Duration::from_millis(1500)));
        assert!(settling.take_due(now).is_empty());
        let later = now + Duration::from_millis(1500);
        let due = settling.take_due(later);
        assert_eq!(due[&RootId(1)], vec![rel("a.jpg")]);
        let wall_later = wall + Duration::from_millis(1500);
        assert!(settling.check(RootId(1), &rel("a.jpg"), stat, later, wall_later));
        assert!(settling.is_empty());
    }

    #[test]
    fn a_write_restarts_the_wait() {
        let mut settling = Settling::new(SETTLE);
        let (now, wall) = (Instant::now(), SystemTime::now());
        assert!(!settling.check(RootId(1), &rel("a.jpg"), stat_at(wall, 10), now, wall));
        let (now, wall) = (now + SETTLE / 2, wall + SETTLE / 2);
        assert!(!settling.check(RootId(1), &rel("a.jpg"), stat_at(wall, 20), now, wall));
        assert_eq!(settling.next_due(), Some(now + SETTLE));
    }

    #[test]
    fn a_future_mtime_settles_once_the_stat_held_still() {
        let mut settling = Settling::new(SETTLE);
        let (now, wall) = (Instant::now(), SystemTime::now());
        let stat = stat_at(wall + Duration::from_secs(3600), 10);
        assert!(!settling.check(RootId(1), &rel("a.jpg"), stat, now, wall));
        let (now, wall) = (now + SETTLE, wall + SETTLE);
        assert!(settling.check(RootId(1), &rel("a.jpg"), stat, now, wall));
    }

    #[test]
    fn a_scan_drops_what_it_did_not_see_settling() {
        let mut settling = Settling::new(SETTLE);
        let (now, wall) = (Instant::now(), SystemTime::now());
        settling.begin_scan();
        settling.check(RootId(1), &rel("d/a.jpg"), stat_at(wall, 1), now, wall);
        settling.check(RootId(1), &rel("d/b.jpg"), stat_at(wall, 1), now, wall);
        settling.check(RootId(1), &rel("e/c.jpg"), stat_at(wall, 1), now, wall);
        settling.check(RootId(2), &rel("d/a.jpg"), stat_at(wall, 1), now, wall);
        settling.begin_scan();
        settling.check(RootId(1), &rel("d/b.jpg"), stat_at(wall, 1), now, wall);
        settling.end_scan(RootId(1), &[rel("d")]);
        assert_eq!(settling.len(), 3, "d/a.jpg went; the rest stay");
        settling.forget_root(RootId(1));
        assert_eq!(settling.len(), 1);
    }

    #[test]
    fn zero_settle_time_settles_everything() {
        let mut settling = Settling::new(Duration::ZERO);
        let wall = SystemTime::now();
        let stat = stat_at(wall + Duration::from_secs(10), 1);
        assert!(settling.check(RootId(1), &rel("a.jpg"), stat, Instant::now(), wall));
    }
}
