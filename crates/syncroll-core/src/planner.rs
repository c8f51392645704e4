//! The planner's decision, as a pure function: given what a collection
//! wants on its remote, what the ledger says is there, and the live jobs,
//! which jobs to add and which to cancel. The store feeds it and applies
//! the result in one transaction.
//!
//! Invariants:
//! - Planning is idempotent: applying the actions and planning again
//!   yields no actions.
//! - A delete is only ever planned for a key the ledger holds.
//! - A running job is never cancelled by planning; its result is looked at
//!   by the next pass.

use std::collections::{HashMap, HashSet};

use crate::job::{JobId, JobOp};
use crate::types::{ContentHash, PhotoId};

/// A photo the collection wants at `key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub key: String,
    pub photo_id: PhotoId,
    pub hash: ContentHash,
    pub size: u64,
}

/// A key the ledger says syncroll put on the remote for this collection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    pub key: String,
    pub hash: ContentHash,
}

/// A queued or running job on one of the collection's keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveJob {
    pub id: JobId,
    pub op: JobOp,
    pub key: String,
    pub hash: Option<ContentHash>,
    pub running: bool,
}

/// What to do.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Actions {
    pub cancel: Vec<JobId>,
    pub uploads: Vec<Wanted>,
    pub deletes: Vec<String>,
}

impl Actions {
    pub fn is_empty(&self) -> bool {
        self.cancel.is_empty() && self.uploads.is_empty() && self.deletes.is_empty()
    }
}

/// Decides the jobs that make the remote match `wanted`.
pub fn diff(wanted: Vec<Wanted>, placed: Vec<Placed>, live: Vec<LiveJob>) -> Actions {
    let placed: HashMap<String, ContentHash> =
        placed.into_iter().map(|p| (p.key, p.hash)).collect();
    let live: HashMap<String, LiveJob> = live.into_iter().map(|j| (j.key.clone(), j)).collect();
    let wanted_keys: HashSet<String> = wanted.iter().map(|w| w.key.clone()).collect();
    let mut actions = Actions::default();

    for want in wanted {
        let on_remote = placed.get(&want.key) == Some(&want.hash);
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

    for key in placed.keys().filter(|k| !wanted_keys.contains(*k)) {
        match live.get(key) {
            Some(job) if job.running || job.op == JobOp::Delete => {}
            Some(job) => {
                actions.cancel.push(job.id);
                actions.deletes.push(key.clone());
            }
            None => actions.deletes.push(key.clone()),
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
    actions.deletes.sort();
    actions
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(n: u8) -> ContentHash {
        ContentHash([n; 32])
    }
    fn want(key: &str, n: u8) -> Wanted {
        Wanted {
            key: key.into(),
            photo_id: PhotoId(n.into()),
            hash: h(n),
            size: 1,
        }
    }
    fn placed(key: &str, n: u8) -> Placed {
        Placed {
            key: key.into(),
            hash: h(n),
        }
    }
    fn job(id: i64, op: JobOp, key: &str, n: Option<u8>, running: bool) -> LiveJob {
        LiveJob {
            id: JobId(id),
            op,
            key: key.into(),
            hash: n.map(h),
            running,
        }
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
        assert_eq!(a.deletes, vec!["C/old".to_owned()]);
    }

    #[test]
    fn only_ledger_keys_are_deleted() {
        let a = diff(
            vec![],
            vec![placed("C/a", 1)],
            vec![job(7, JobOp::Upload, "C/q", Some(2), false)],
        );
        assert_eq!(a.deletes, vec!["C/a".to_owned()]);
        assert_eq!(a.cancel, vec![JobId(7)]);
    }

    #[test]
    fn a_queued_delete_of_a_key_wanted_again_is_cancelled() {
        let live = vec![job(3, JobOp::Delete, "C/a", None, false)];
        let a = diff(vec![want("C/a", 1)], vec![placed("C/a", 1)], live);
        assert_eq!(a.cancel, vec![JobId(3)]);
        assert!(a.uploads.is_empty() && a.deletes.is_empty());
    }
}
