//! The planner's decision, as pure functions: given what a collection
//! wants on its remote, what the ledger says is there, and the live jobs,
//! which jobs to add and which to cancel. The store feeds it and applies
//! the result in one transaction.
//!
//! Planning is incremental. Its unit is a *path group*: one collection and
//! one path relative to a root, which owns every key that path can take in
//! the collection (the plain key, and the `~r<root>` keys of photos of other
//! roots with the same path). [`plan_groups`] decides a set of groups from
//! their rows alone, so a change plans only the groups it touched, and the
//! full reconciliation is the same function applied chunk by chunk.
//!
//! Invariants:
//! - Planning is idempotent: applying the actions and planning again
//!   yields no actions.
//! - A delete is only ever planned for a key the ledger holds.
//! - A running job is never cancelled by planning; its result is looked at
//!   by the next pass.

use std::collections::{HashMap, HashSet};

use crate::connection::Direction;
use crate::job::{JobId, JobOp};
use crate::keys::{disambiguated, object_key, pinned_sidecar_key, sidecar_key, unsyncable_reason};
use crate::types::{ContentHash, PhotoId, RelPath, RootId};

/// A photo the collection wants at `key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub key: String,
    pub photo_id: PhotoId,
    pub rel_path: RelPath,
    pub hash: ContentHash,
    pub size: u64,
}

/// A key the ledger says syncroll put on the remote for this collection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    pub key: String,
    pub rel_path: RelPath,
    pub hash: ContentHash,
    /// Set when the key belongs to the photo at `rel_path` of this root
    /// whatever its path computes (a file a manual collection's connection
    /// brought home into its inbox keeps the key it came from): that
    /// photo's key, and its edits', is this one.
    pub pinned_root: Option<RootId>,
}

/// A queued or running job on one of the collection's keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveJob {
    pub id: JobId,
    pub op: JobOp,
    pub key: String,
    pub rel_path: Option<RelPath>,
    pub hash: Option<ContentHash>,
    pub running: bool,
}

/// What to do.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Actions {
    pub cancel: Vec<JobId>,
    pub uploads: Vec<Wanted>,
    /// Ledger keys to delete.
    pub deletes: Vec<Placed>,
    /// Ledger keys that hold what another of the planned groups wants: the
    /// row moves to that group (its path), with no transfer. A stem's
    /// sidecar (`IMG_1.xmp`) moves so when a raw of the stem arrives beside
    /// a JPEG, or leaves; without the move the old group would delete the
    /// key the next time it is planned alone.
    pub rehome: Vec<(String, RelPath)>,
}

impl Actions {
    pub fn is_empty(&self) -> bool {
        self.cancel.is_empty()
            && self.uploads.is_empty()
            && self.deletes.is_empty()
            && self.rehome.is_empty()
    }
}

/// Decides the jobs that make the remote match `wanted`.
pub fn diff(wanted: Vec<Wanted>, placed: Vec<Placed>, live: Vec<LiveJob>) -> Actions {
    let placed: HashMap<String, Placed> = placed.into_iter().map(|p| (p.key.clone(), p)).collect();
    let live: HashMap<String, LiveJob> = live.into_iter().map(|j| (j.key.clone(), j)).collect();
    let wanted_keys: HashSet<String> = wanted.iter().map(|w| w.key.clone()).collect();
    let mut actions = Actions::default();

    for want in wanted {
        let on_remote = placed.get(&want.key).map(|p| p.hash) == Some(want.hash);
        if let Some(place) = placed.get(&want.key)
            && on_remote
            && place.rel_path != want.rel_path
        {
            actions
                .rehome
                .push((want.key.clone(), want.rel_path.clone()));
        }
        match live.get(&want.key) {
            Some(job) if job.running => {}
            Some(job) if job.op == JobOp::Upload && job.hash == Some(want.hash) => {}
            Some(job) => {
                actions.cancel.push(job.id);
                if !on_remote {
                    actions.uploads.push(want);
                }
            }
            None if on_remote => {}
            None => actions.uploads.push(want),
        }
    }

    for place in placed.values().filter(|p| !wanted_keys.contains(&p.key)) {
        match live.get(&place.key) {
            Some(job) if job.running || job.op == JobOp::Delete => {}
            Some(job) => {
                actions.cancel.push(job.id);
                actions.deletes.push(place.clone());
            }
            None => actions.deletes.push(place.clone()),
        }
    }

    // Queued uploads to keys nobody wants and nothing holds yet.
    for (key, job) in &live {
        if !job.running
            && job.op == JobOp::Upload
            && !wanted_keys.contains(key)
            && !placed.contains_key(key)
        {
            actions.cancel.push(job.id);
        }
    }
    actions.cancel.sort();
    actions.deletes.sort_by(|a, b| a.key.cmp(&b.key));
    actions.rehome.sort();
    actions
}

/// One member of a collection, as the planner needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub photo_id: PhotoId,
    pub root_id: RootId,
    pub rel_path: RelPath,
    pub hash: ContentHash,
    pub size: u64,
    /// False while the photo's root is missing: its copy is kept, but it
    /// cannot be read to upload.
    pub readable: bool,
    /// Its sidecars (see [`crate::sidecars`]), wanted beside it in its
    /// group.
    pub sidecars: Vec<SidecarFile>,
}

/// A sidecar of a member: uploaded beside it under the key rules applied to
/// its own path ([`crate::keys::sidecar_key`]), in the member's path group
/// (its ledger row and jobs carry the member's path), so it is re-uploaded
/// when it changes and deleted when the member's copy is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SidecarFile {
    pub id: PhotoId,
    pub rel_path: RelPath,
    pub hash: ContentHash,
    pub size: u64,
}

/// Work that must not be planned again: a failed job (until `retry`) or one
/// the user dismissed (cancelled, or a held deletion rejected), by key,
/// operation and bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocked {
    pub id: JobId,
    pub key: String,
    pub op: JobOp,
    pub hash: Option<ContentHash>,
    /// Dismissed by the user (not failed): a deletion dismissed so is
    /// released when its photo comes back, so that it can vanish again.
    pub dismissed: bool,
}

/// Everything the store knows about some path groups of one collection:
/// every member, ledger row and live or blocked job whose path is one of
/// the groups'. Rows of other groups must not be mixed in.
#[derive(Debug, Clone, Default)]
pub struct GroupRows {
    /// Empty when the goal is to remove every copy (`sync off`).
    pub members: Vec<Member>,
    pub placed: Vec<Placed>,
    pub live: Vec<LiveJob>,
    pub blocked: Vec<Blocked>,
}

/// A member no remote can hold under its key (see
/// [`crate::keys::unsyncable_reason`]): skipped, with the reason, rather
/// than queued as an upload that can only fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub photo_id: PhotoId,
    pub rel_path: RelPath,
    pub key: String,
    pub reason: &'static str,
}

/// The decision for some path groups.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct GroupPlan {
    pub actions: Actions,
    /// Every member of these groups that cannot be synced: the groups'
    /// complete list, replacing what was recorded for them before.
    pub skipped: Vec<Skipped>,
    /// Groups to plan again when the named job leaves `running`: it was
    /// left alone now, and its outcome may call for more work.
    pub after_running: Vec<(RelPath, JobId)>,
    /// Dismissed deletions whose key is wanted again (the photo came
    /// back): they no longer block, so a later vanishing is planned (and
    /// braked) anew.
    pub released: Vec<JobId>,
    /// Why the jobs of [`Actions::cancel`] are cancelled, in words.
    pub cancel_reason: &'static str,
}

/// Why planning cancels a waiting job it no longer needs.
pub const NOT_WANTED: &str = "no longer wanted on the remote";
/// Why planning cancels the waiting jobs of a collection connected with
/// `--direction pull`.
pub const PULL_ONLY: &str = "not sent: the collection's connection is pull-only";

/// The keys the members of a collection take: `P/NAME/<path>`, and when
/// photos of several roots share a path, the one of the lowest root id
/// keeps the plain key and each other one is tagged with its root.
pub fn member_keys(prefix: &str, name: &str, members: Vec<Member>) -> Vec<(Member, String)> {
    let mut members = members;
    members.sort_by(|a, b| {
        (a.rel_path.as_bytes(), a.root_id.0).cmp(&(b.rel_path.as_bytes(), b.root_id.0))
    });
    let mut keyed: Vec<(Member, String)> = Vec::with_capacity(members.len());
    for member in members {
        let plain = object_key(prefix, name, &member.rel_path);
        let shared = keyed
            .last()
            .is_some_and(|(prev, _)| prev.rel_path == member.rel_path);
        let key = if shared {
            disambiguated(&plain, member.root_id)
        } else {
            plain
        };
        keyed.push((member, key));
    }
    keyed
}

/// Decides the jobs for some path groups of the collection `name` on a
/// remote with prefix `prefix`, from [`GroupRows`] holding every row of
/// those groups. Equal to planning the whole collection, restricted to
/// these groups; so planning twice adds nothing, and planning the groups a
/// change touched is enough.
///
/// A collection connected with `--direction pull` sends nothing: no upload
/// and no remote delete is planned, and its waiting jobs are cancelled
/// (running ones finish; their groups are planned again after them). The
/// members still count as wanted, so turning the direction back to `push`
/// or `both` (which asks for a full reconciliation) plans what changed
/// meanwhile.
pub fn plan_groups(prefix: &str, name: &str, rows: GroupRows, direction: Direction) -> GroupPlan {
    let GroupRows {
        members,
        placed,
        live,
        blocked,
    } = rows;
    let mut after_running: Vec<(RelPath, JobId)> = Vec::new();
    for job in live.iter().filter(|j| j.running) {
        if let Some(rel) = &job.rel_path
            && !after_running.iter().any(|(r, _)| r == rel)
        {
            after_running.push((rel.clone(), job.id));
        }
    }
    let waiting: Vec<JobId> = live.iter().filter(|j| !j.running).map(|j| j.id).collect();
    let mut unreadable = HashSet::new();
    let mut skipped = Vec::new();
    let mut wanted: Vec<Wanted> = Vec::new();
    // The group's own rows: a pin is found among what was read anyway,
    // so honouring it costs no query per photo.
    let pins: HashMap<(RootId, &RelPath), &str> = placed
        .iter()
        .filter_map(|p| Some(((p.pinned_root?, &p.rel_path), p.key.as_str())))
        .collect();
    let keyed: Vec<(Member, String, bool)> = member_keys(prefix, name, members)
        .into_iter()
        .map(|(m, key)| match pins.get(&(m.root_id, &m.rel_path)) {
            Some(pinned) => {
                let pinned = (*pinned).to_owned();
                (m, pinned, true)
            }
            None => (m, key, false),
        })
        .collect();
    for (m, key, pinned) in keyed {
        // After keying: skipping a photo must not move another one's key.
        if let Some(reason) = unsyncable_reason(&m.rel_path) {
            skipped.push(Skipped {
                photo_id: m.photo_id,
                rel_path: m.rel_path.clone(),
                key,
                reason,
            });
            continue;
        }
        let plain = object_key(prefix, name, &m.rel_path);
        for sidecar in m.sidecars {
            if !m.readable {
                unreadable.insert(sidecar.id);
            }
            let own = object_key(prefix, name, &sidecar.rel_path);
            // A sidecar's name is its photo's stem (which passed) and an
            // extension from the config, so this never trips in practice;
            // it only keeps a key no remote accepts out of the queue.
            if unsyncable_reason(&sidecar.rel_path).is_some() {
                continue;
            }
            let key = if pinned {
                pinned_sidecar_key(&key, &sidecar.rel_path)
            } else {
                sidecar_key(&plain, &key, &own)
            };
            wanted.push(Wanted {
                key,
                photo_id: sidecar.id,
                rel_path: m.rel_path.clone(),
                hash: sidecar.hash,
                size: sidecar.size,
            });
        }
        if !m.readable {
            unreadable.insert(m.photo_id);
        }
        wanted.push(Wanted {
            key,
            photo_id: m.photo_id,
            rel_path: m.rel_path,
            hash: m.hash,
            size: m.size,
        });
    }
    let released = blocked
        .iter()
        .filter(|b| b.dismissed && b.op == JobOp::Delete)
        .filter(|b| wanted.iter().any(|w| w.key == b.key))
        .map(|b| b.id)
        .collect::<Vec<_>>();
    let mut actions = diff(wanted, placed, live);
    let blocked: HashSet<(String, JobOp, Option<ContentHash>)> = blocked
        .into_iter()
        .filter(|b| !released.contains(&b.id))
        .map(|b| (b.key, b.op, b.hash))
        .collect();
    actions.uploads.retain(|w| {
        !unreadable.contains(&w.photo_id)
            && !blocked.contains(&(w.key.clone(), JobOp::Upload, Some(w.hash)))
    });
    actions
        .deletes
        .retain(|p| !blocked.contains(&(p.key.clone(), JobOp::Delete, None)));
    let mut cancel_reason = NOT_WANTED;
    if !direction.pushes() {
        let mut cancel = waiting;
        cancel.sort();
        // Moving a ledger row between groups sends nothing: it stays.
        actions = Actions {
            cancel,
            uploads: Vec::new(),
            deletes: Vec::new(),
            rehome: std::mem::take(&mut actions.rehome),
        };
        cancel_reason = PULL_ONLY;
    }
    GroupPlan {
        actions,
        skipped,
        after_running,
        released,
        cancel_reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(n: u8) -> ContentHash {
        ContentHash([n; 32])
    }
    /// The path of key `C/x` is `x`.
    fn rel_of(key: &str) -> RelPath {
        RelPath::from_bytes(
            key.split_once('/')
                .map_or(key, |(_, r)| r)
                .as_bytes()
                .to_vec(),
        )
    }
    fn want(key: &str, n: u8) -> Wanted {
        Wanted {
            key: key.into(),
            photo_id: PhotoId(n.into()),
            rel_path: rel_of(key),
            hash: h(n),
            size: 1,
        }
    }
    fn placed(key: &str, n: u8) -> Placed {
        Placed {
            key: key.into(),
            rel_path: rel_of(key),
            hash: h(n),
            pinned_root: None,
        }
    }
    fn job(id: i64, op: JobOp, key: &str, n: Option<u8>, running: bool) -> LiveJob {
        LiveJob {
            id: JobId(id),
            op,
            key: key.into(),
            rel_path: Some(rel_of(key)),
            hash: n.map(h),
            running,
        }
    }
    fn deleted(a: &Actions) -> Vec<String> {
        a.deletes.iter().map(|p| p.key.clone()).collect()
    }

    fn uploaded(a: &Actions) -> Vec<&str> {
        a.uploads.iter().map(|w| w.key.as_str()).collect()
    }

    #[test]
    fn missing_photos_are_uploaded_and_present_ones_left_alone() {
        let a = diff(
            vec![want("C/a", 1), want("C/b", 2)],
            vec![placed("C/a", 1)],
            vec![],
        );
        assert_eq!(a.uploads, vec![want("C/b", 2)]);
        assert!(a.deletes.is_empty() && a.cancel.is_empty());
    }

    #[test]
    fn planning_twice_adds_nothing() {
        let live = vec![job(1, JobOp::Upload, "C/b", Some(2), false)];
        let a = diff(
            vec![want("C/a", 1), want("C/b", 2)],
            vec![placed("C/a", 1)],
            live,
        );
        assert!(a.is_empty(), "{a:?}");
    }

    #[test]
    fn changed_photo_is_uploaded_again() {
        let a = diff(vec![want("C/a", 9)], vec![placed("C/a", 1)], vec![]);
        assert_eq!(a.uploads, vec![want("C/a", 9)]);
    }

    #[test]
    fn a_queued_upload_of_stale_bytes_is_replaced() {
        let live = vec![job(4, JobOp::Upload, "C/a", Some(1), false)];
        let a = diff(vec![want("C/a", 9)], vec![], live);
        assert_eq!(a.cancel, vec![JobId(4)]);
        assert_eq!(a.uploads, vec![want("C/a", 9)]);
    }

    #[test]
    fn running_jobs_are_left_to_finish() {
        let live = vec![
            job(4, JobOp::Upload, "C/a", Some(1), true),
            job(5, JobOp::Upload, "C/z", Some(3), true),
        ];
        let a = diff(vec![want("C/a", 9)], vec![placed("C/old", 1)], live);
        assert!(a.cancel.is_empty() && a.uploads.is_empty());
        assert_eq!(deleted(&a), vec!["C/old".to_owned()]);
    }

    #[test]
    fn only_ledger_keys_are_deleted() {
        let a = diff(
            vec![],
            vec![placed("C/a", 1)],
            vec![job(7, JobOp::Upload, "C/q", Some(2), false)],
        );
        assert_eq!(deleted(&a), vec!["C/a".to_owned()]);
        assert_eq!(a.cancel, vec![JobId(7)]);
    }

    #[test]
    fn a_queued_delete_of_a_key_wanted_again_is_cancelled() {
        let live = vec![job(3, JobOp::Delete, "C/a", None, false)];
        let a = diff(vec![want("C/a", 1)], vec![placed("C/a", 1)], live);
        assert_eq!(a.cancel, vec![JobId(3)]);
        assert!(a.uploads.is_empty() && a.deletes.is_empty());
    }

    fn member(root: i64, rel: &str, n: u8) -> Member {
        Member {
            photo_id: PhotoId(i64::from(n)),
            root_id: RootId(root),
            rel_path: RelPath::from_bytes(rel.as_bytes().to_vec()),
            hash: h(n),
            size: 1,
            readable: true,
            sidecars: Vec::new(),
        }
    }

    fn sidecar(rel: &str, n: u8) -> SidecarFile {
        SidecarFile {
            id: PhotoId(100 + i64::from(n)),
            rel_path: RelPath::from_bytes(rel.as_bytes().to_vec()),
            hash: h(n),
            size: 2,
        }
    }

    /// A ledger row of the group `group`.
    fn placed_in(key: &str, group: &str, n: u8) -> Placed {
        Placed {
            key: key.into(),
            rel_path: RelPath::from_bytes(group.as_bytes().to_vec()),
            hash: h(n),
            pinned_root: None,
        }
    }

    #[test]
    fn a_key_another_planned_group_holds_with_the_wanted_bytes_moves_without_a_transfer() {
        let mut jpg = member(1, "IMG_1.jpg", 1);
        jpg.sidecars = vec![sidecar("IMG_1.xmp", 2)];
        let rows = GroupRows {
            members: vec![jpg, member(1, "IMG_1.NEF", 3)],
            placed: vec![
                placed_in("C/IMG_1.jpg", "IMG_1.jpg", 1),
                placed_in("C/IMG_1.xmp", "IMG_1.NEF", 2),
                placed_in("C/IMG_1.NEF", "IMG_1.NEF", 3),
            ],
            ..GroupRows::default()
        };
        let plan = plan_groups("", "C", rows, Direction::Push);
        assert!(plan.actions.uploads.is_empty() && plan.actions.deletes.is_empty());
        assert_eq!(
            plan.actions.rehome,
            vec![(
                "C/IMG_1.xmp".to_owned(),
                RelPath::from_bytes(b"IMG_1.jpg".to_vec())
            )]
        );
    }

    #[test]
    fn sidecars_are_wanted_beside_their_photo_in_its_group_and_go_with_it() {
        let mut raw = member(3, "d/IMG_1.NEF", 1);
        raw.sidecars = vec![sidecar("d/IMG_1.NEF.xmp", 2), sidecar("d/IMG_1.xmp", 3)];
        let mut plain = member(1, "d/IMG_1.NEF", 4);
        plain.sidecars = vec![sidecar("d/IMG_1.xmp", 5)];
        let rows = GroupRows {
            members: vec![raw.clone(), plain],
            ..GroupRows::default()
        };
        let plan = plan_groups("", "C", rows, Direction::Push);
        let mut up: Vec<(String, i64, Vec<u8>)> = plan
            .actions
            .uploads
            .iter()
            .map(|w| (w.key.clone(), w.photo_id.0, w.rel_path.as_bytes().to_vec()))
            .collect();
        up.sort();
        let group = b"d/IMG_1.NEF".to_vec();
        assert_eq!(
            up,
            vec![
                ("C/d/IMG_1.NEF".to_owned(), 4, group.clone()),
                ("C/d/IMG_1.xmp".to_owned(), 105, group.clone()),
                ("C/d/IMG_1~r3.NEF".to_owned(), 1, group.clone()),
                ("C/d/IMG_1~r3.NEF.xmp".to_owned(), 102, group.clone()),
                ("C/d/IMG_1~r3.xmp".to_owned(), 103, group.clone()),
            ]
        );

        // Only the changed sidecar goes again (the raw alone in its group
        // now: plain keys).
        let mut edited = raw.clone();
        edited.sidecars[1].hash = h(9);
        let placed = vec![
            placed_in("C/d/IMG_1.NEF", "d/IMG_1.NEF", 1),
            placed_in("C/d/IMG_1.NEF.xmp", "d/IMG_1.NEF", 2),
            placed_in("C/d/IMG_1.xmp", "d/IMG_1.NEF", 3),
        ];
        let rows = GroupRows {
            members: vec![edited],
            placed: placed.clone(),
            ..GroupRows::default()
        };
        let plan = plan_groups("", "C", rows, Direction::Push);
        let keys = uploaded(&plan.actions);
        assert_eq!(keys, ["C/d/IMG_1.xmp"]);
        assert!(plan.actions.deletes.is_empty());

        // The photo gone: its sidecars' copies go with its own.
        let rows = GroupRows {
            placed,
            ..GroupRows::default()
        };
        let plan = plan_groups("", "C", rows, Direction::Push);
        assert_eq!(plan.actions.deletes.len(), 3);
        assert!(plan.actions.uploads.is_empty());
    }

    #[test]
    fn photos_of_two_roots_with_one_path_get_the_lowest_root_the_plain_key() {
        let keys: Vec<String> = member_keys(
            "p",
            "C",
            vec![
                member(3, "a.jpg", 2),
                member(1, "a.jpg", 1),
                member(1, "b.jpg", 4),
            ],
        )
        .into_iter()
        .map(|(_, k)| k)
        .collect();
        assert_eq!(keys, ["p/C/a.jpg", "p/C/a~r3.jpg", "p/C/b.jpg"]);
    }

    #[test]
    fn a_group_plans_uploads_and_leaves_failed_unreadable_and_synced_work_alone() {
        let mut offline = member(1, "off.jpg", 5);
        offline.readable = false;
        let rows = GroupRows {
            members: vec![
                member(1, "new.jpg", 1),
                member(1, "failed.jpg", 2),
                member(1, "done.jpg", 3),
                offline,
            ],
            placed: vec![placed("C/done.jpg", 3)],
            live: vec![],
            blocked: vec![Blocked {
                id: JobId(9),
                key: "C/failed.jpg".into(),
                op: JobOp::Upload,
                hash: Some(h(2)),
                dismissed: false,
            }],
        };
        let plan = plan_groups("", "C", rows, Direction::Push);
        let keys = upload_keys(&plan);
        assert_eq!(keys, ["C/new.jpg"]);
        assert!(plan.actions.deletes.is_empty() && plan.after_running.is_empty());
    }

    /// A rejected deletion keeps its copy while the photo stays away, and
    /// stops blocking once the photo is back, so that a later vanishing is
    /// planned (and braked) anew.
    #[test]
    fn a_dismissed_deletion_blocks_until_its_photo_returns() {
        let rejected = Blocked {
            id: JobId(7),
            key: "C/a.jpg".into(),
            op: JobOp::Delete,
            hash: None,
            dismissed: true,
        };
        let away = GroupRows {
            members: vec![],
            placed: vec![placed("C/a.jpg", 1)],
            live: vec![],
            blocked: vec![rejected.clone()],
        };
        let plan = plan_groups("", "C", away, Direction::Push);
        assert!(plan.actions.is_empty() && plan.released.is_empty());

        let back = GroupRows {
            members: vec![member(1, "a.jpg", 1)],
            placed: vec![placed("C/a.jpg", 1)],
            live: vec![],
            blocked: vec![rejected],
        };
        let plan = plan_groups("", "C", back, Direction::Push);
        assert!(plan.actions.is_empty());
        assert_eq!(plan.released, vec![JobId(7)]);
    }

    /// The keys a plan uploads, in its order.
    fn upload_keys(plan: &GroupPlan) -> Vec<&str> {
        let uploads = plan.actions.uploads.iter();
        uploads.map(|w| w.key.as_str()).collect()
    }

    #[test]
    fn a_member_no_remote_can_hold_is_skipped_not_uploaded() {
        let rows = GroupRows {
            members: vec![member(1, "a\nb.jpg", 1), member(1, "ok.jpg", 2)],
            placed: vec![],
            // An upload queued before the name was known to be unsyncable.
            live: vec![job(4, JobOp::Upload, "C/a\nb.jpg", Some(1), false)],
            blocked: vec![],
        };
        let plan = plan_groups("", "C", rows, Direction::Push);
        let keys = upload_keys(&plan);
        assert_eq!(keys, ["C/ok.jpg"]);
        assert_eq!(plan.actions.cancel, [JobId(4)]);
        assert_eq!(
            plan.skipped,
            [Skipped {
                photo_id: PhotoId(1),
                rel_path: RelPath::from_bytes(b"a\nb.jpg".to_vec()),
                key: "C/a\nb.jpg".into(),
                reason: "name holds a control character",
            }]
        );
    }

    #[test]
    fn a_group_left_alone_for_a_running_job_is_planned_again_after_it() {
        let rows = GroupRows {
            members: vec![member(1, "a.jpg", 9)],
            placed: vec![],
            live: vec![job(4, JobOp::Upload, "C/a.jpg", Some(1), true)],
            blocked: vec![],
        };
        let plan = plan_groups("", "C", rows, Direction::Push);
        assert!(plan.actions.is_empty(), "{:?}", plan.actions);
        assert_eq!(plan.after_running, vec![(rel_of("C/a.jpg"), JobId(4))]);
    }

    #[test]
    fn keys_of_a_path_nobody_wants_any_more_are_deleted_with_their_path() {
        let rows = GroupRows {
            members: vec![member(1, "a.jpg", 1)],
            // A photo of root 5 had the same path; the root is gone.
            placed: vec![
                placed("C/a.jpg", 1),
                Placed {
                    key: "C/a~r5.jpg".into(),
                    rel_path: rel_of("C/a.jpg"),
                    hash: h(7),
                    pinned_root: None,
                },
            ],
            live: vec![],
            blocked: vec![],
        };
        let plan = plan_groups("", "C", rows, Direction::Push);
        assert_eq!(deleted(&plan.actions), ["C/a~r5.jpg"]);
        assert_eq!(plan.actions.deletes[0].rel_path, rel_of("C/a.jpg"));
        assert!(plan.actions.uploads.is_empty());
    }

    #[test]
    fn a_pull_connection_plans_no_upload_or_delete_and_cancels_waiting_jobs() {
        let rows = || GroupRows {
            members: vec![member(1, "new.jpg", 1), member(1, "edited.jpg", 9)],
            // edited.jpg was sent with other bytes; gone.jpg left the disk.
            placed: vec![placed("C/edited.jpg", 2), placed("C/gone.jpg", 3)],
            live: vec![
                job(4, JobOp::Upload, "C/new.jpg", Some(1), false),
                job(5, JobOp::Upload, "C/other.jpg", Some(5), true),
            ],
            blocked: vec![],
        };
        let pushed = plan_groups("", "C", rows(), Direction::Both);
        assert_eq!(upload_keys(&pushed), ["C/edited.jpg"]);
        assert_eq!(deleted(&pushed.actions), ["C/gone.jpg"]);

        let pulled = plan_groups("", "C", rows(), Direction::Pull);
        assert!(upload_keys(&pulled).is_empty());
        assert!(pulled.actions.deletes.is_empty());
        // The queued upload goes; the running one finishes.
        assert_eq!(pulled.actions.cancel, [JobId(4)]);
        assert_eq!(pulled.cancel_reason, PULL_ONLY);
        assert_eq!(pulled.after_running, [(rel_of("C/other.jpg"), JobId(5))]);
    }

    /// A file brought home into a manual collection's inbox: `P/C/a.NEF`
    /// landed at `Phone/a.NEF` of root 1, pinned there.
    fn pinned(key: &str, group: &str, root: i64, n: u8) -> Placed {
        Placed {
            pinned_root: Some(RootId(root)),
            ..placed_in(key, group, n)
        }
    }

    #[test]
    fn a_pinned_photo_keeps_the_key_it_came_from() {
        let rows = GroupRows {
            members: vec![member(1, "Phone/a.NEF", 1)],
            placed: vec![pinned("C/a.NEF", "Phone/a.NEF", 1, 1)],
            live: vec![],
            blocked: vec![],
        };
        let plan = plan_groups("", "C", rows, Direction::Both);
        assert!(plan.actions.is_empty(), "{:?}", plan.actions);
    }

    #[test]
    fn an_edit_of_a_pinned_photo_goes_to_its_pinned_key_with_its_sidecar() {
        let mut edited = member(1, "Phone/a.NEF", 2);
        edited.sidecars.push(sidecar("Phone/a.xmp", 3));
        let rows = GroupRows {
            members: vec![edited],
            placed: vec![pinned("C/a.NEF", "Phone/a.NEF", 1, 1)],
            live: vec![],
            blocked: vec![],
        };
        let plan = plan_groups("", "C", rows, Direction::Both);
        let keys = uploaded(&plan.actions);
        assert_eq!(keys, ["C/a.xmp", "C/a.NEF"]);
        assert!(plan.actions.deletes.is_empty());
    }

    #[test]
    fn a_pin_names_its_root_so_a_photo_of_another_root_keys_by_its_path() {
        let rows = GroupRows {
            members: vec![member(2, "Phone/a.NEF", 1)],
            placed: vec![pinned("C/a.NEF", "Phone/a.NEF", 1, 1)],
            live: vec![],
            blocked: vec![],
        };
        let plan = plan_groups("", "C", rows, Direction::Both);
        let keys = uploaded(&plan.actions);
        assert_eq!(keys, ["C/Phone/a.NEF"]);
        // The pinned photo left the collection: its copy goes (the brake
        // decides), as any member's would.
        assert_eq!(deleted(&plan.actions), ["C/a.NEF"]);
    }
}
