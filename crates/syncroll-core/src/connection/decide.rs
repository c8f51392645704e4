//! The three-way decision for one key of a connected collection: the base
//! (the last state both sides agreed on, kept in the ledger), the local
//! file now and the remote object now, under the connection's direction
//! and return mode.
//!
//! The rules, from the issue (docs/connections.md tells them to users):
//! - a side *changed* when it differs from the base: locally by content
//!   (BLAKE3; a touched file with the same bytes did not change), on the
//!   remote by ETag where both have one, else by size or modified time;
//!   an object whose ETag the ledger says syncroll uploaded did not change;
//! - the same bytes on both sides is never a conflict, whatever the times;
//! - a remote edit is never overwritten or deleted unseen;
//! - modify beats delete, on either side;
//! - nothing is ever deleted on disk: a remote deletion takes the photo
//!   out of the collection, no more;
//! - `push` never downloads, `pull` never uploads or deletes remotely.

use super::{Direction, ReturnMode};
use crate::types::ContentHash;

/// The local file as the catalog knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalSide {
    pub hash: ContentHash,
    pub size: u64,
    /// 0 when unknown (ledger rows written before bases were kept).
    pub mtime_ns: i64,
}

/// The remote object as a listing shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteSide {
    pub size: u64,
    /// ETag (S3, WebDAV) or version; `None` where the remote gives none
    /// (`fs`), and then size and modified time tell changes.
    pub etag: Option<String>,
    /// Unix ms.
    pub modified_ms: i64,
    /// BLAKE3 of its bytes, when syncroll knows them (it fetched them to
    /// compare, or they are a base it recorded); `None` from a listing.
    pub hash: Option<ContentHash>,
}

impl RemoteSide {
    /// Whether this is another state of the object than `base`.
    pub fn differs_from(&self, base: &RemoteSide) -> bool {
        match (&self.etag, &base.etag) {
            (Some(now), Some(then)) => bare_etag(now) != bare_etag(then),
            _ => self.size != base.size || !same_time(self.modified_ms, base.modified_ms),
        }
    }

    /// Whether this and `other` describe the same state to the field, as
    /// far as the remote reports them: the ETag (where both have one)
    /// without quotes and weakness marks (a listing and a HEAD may differ
    /// only so), the size, and the time within the second when one side
    /// has only whole seconds (an HTTP date after an upload, milliseconds
    /// in a listing).
    fn same_state(&self, other: &RemoteSide) -> bool {
        // Where only one side has an ETag (a put's reply has one, some
        // servers' listings not), size and time are all there is to compare.
        let etags = match (&self.etag, &other.etag) {
            (Some(a), Some(b)) => bare_etag(a) == bare_etag(b),
            _ => true,
        };
        etags && self.size == other.size && same_time(self.modified_ms, other.modified_ms)
    }
}

/// An entity tag without `W/` and quotes, as listings, HEADs and GETs may
/// differ only so.
pub fn bare_etag(etag: &str) -> &str {
    etag.trim_start_matches("W/").trim_matches('"')
}

/// Two modification times in Unix ms: equal, or in the same second when
/// one of them is a whole second (all an HTTP date says).
fn same_time(a_ms: i64, b_ms: i64) -> bool {
    a_ms == b_ms || ((a_ms % 1000 == 0 || b_ms % 1000 == 0) && a_ms / 1000 == b_ms / 1000)
}

/// The last state both sides agreed on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Base {
    pub local: LocalSide,
    /// `None` for a ledger row written before remote states were kept:
    /// then only [`KeyState::remote_is_ours`] can say the remote is as
    /// syncroll left it.
    pub remote: Option<RemoteSide>,
}

/// Everything known of one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyState {
    pub base: Option<Base>,
    pub local: Option<LocalSide>,
    pub remote: Option<RemoteSide>,
    /// The ledger says syncroll uploaded exactly the remote's current ETag.
    pub remote_is_ours: bool,
}

/// Where a downloaded new file lands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Landing {
    /// At the matching path under a folder collection's folder.
    MatchingPath,
    /// In a manual collection's inbox.
    Inbox,
}

/// A connection's settings, as far as decisions need them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub direction: Direction,
    pub returns: ReturnMode,
    pub landing: Landing,
}

/// What an upload may replace: it is sent only if the remote still holds
/// this (If-Match / If-None-Match on S3 and WebDAV, a HEAD just before
/// where the server has no conditional put, (size, mtime) on `fs`); if the
/// remote changed meanwhile, the key is decided again, as a conflict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// The key must not exist.
    Absent,
    /// The key must still hold this state.
    Holds(RemoteSide),
}

/// Why a change stays where it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// A `pull` connection does not send local changes or deletions.
    PullOnly,
    /// A `push` connection does not bring remote files or edits home.
    PushOnly,
    /// The remote object changed since the last sync and a `push`
    /// connection would have to overwrite or delete it unseen.
    RemoteEditUnseen,
}

impl Why {
    /// In words, for `status`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PullOnly => "a pull connection does not send local changes",
            Self::PushOnly => "a push connection does not bring remote changes home",
            Self::RemoteEditUnseen => {
                "the remote copy changed since the last sync; a push connection does not \
                 overwrite or delete a remote edit it has not brought home"
            }
        }
    }
}

/// What to do with one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Both sides are exactly the base.
    Nothing,
    /// Both sides hold the same bytes, but the base is not their state
    /// (first sight, a touched file, identical edits on both sides):
    /// record the current states as the new base; no transfer.
    RecordBase,
    /// Send the local bytes, conditional on `expect`.
    Upload { expect: Expect },
    /// A new remote file syncroll did not put there: download it, index
    /// it and add it to the collection, recording it in the ledger so it
    /// is never uploaded back as new.
    Download { landing: Landing },
    /// A remote edit, `--returns version`: keep the local file's bytes in
    /// the version store, then replace them with the remote's.
    ReplaceKeepingVersion,
    /// A remote edit, `--returns copy`: save it beside the original as
    /// `NAME (edit N).EXT` ([`super::edit_copy_name`]); the original stays.
    SaveEditCopy,
    /// Both sides changed and differ: the local file stays; the remote
    /// bytes are saved beside it as `NAME (conflict ...).EXT`
    /// ([`super::conflict_copy_name`]) and recorded as a conflict.
    SaveConflictCopy,
    /// Both sides changed to the same size and the remote's hash is not
    /// known: fetch its bytes to a temporary, hash them, and decide again
    /// with [`RemoteSide::hash`] set (identical: [`Action::RecordBase`];
    /// else [`Action::SaveConflictCopy`]).
    FetchToCompare,
    /// The remote deleted an unchanged photo: it leaves the collection
    /// (through the deletion brake, so an album emptied by mistake holds);
    /// the file is never deleted on disk.
    LeaveCollection,
    /// The local file is gone and the remote holds what syncroll put
    /// there: delete it as today's push does (only a ledger key, through
    /// the brake).
    DeleteRemote,
    /// Both sides are gone: drop the base.
    ForgetBase,
    /// The direction keeps a change where it is.
    Leave(Why),
}

impl Action {
    /// A short name, for logs and tests.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Nothing => "nothing",
            Self::RecordBase => "record-base",
            Self::Upload {
                expect: Expect::Absent,
            } => "upload-if-absent",
            Self::Upload {
                expect: Expect::Holds(_),
            } => "upload-if-unchanged",
            Self::Download {
                landing: Landing::MatchingPath,
            } => "download-to-path",
            Self::Download {
                landing: Landing::Inbox,
            } => "download-to-inbox",
            Self::ReplaceKeepingVersion => "replace-keeping-version",
            Self::SaveEditCopy => "save-edit-copy",
            Self::SaveConflictCopy => "save-conflict-copy",
            Self::FetchToCompare => "fetch-to-compare",
            Self::LeaveCollection => "leave-collection",
            Self::DeleteRemote => "delete-remote",
            Self::ForgetBase => "forget-base",
            Self::Leave(Why::PullOnly) => "leave:pull-only",
            Self::Leave(Why::PushOnly) => "leave:push-only",
            Self::Leave(Why::RemoteEditUnseen) => "leave:remote-edit-unseen",
        }
    }
}

/// Decides what to do with one key. See the module's rules.
pub fn decide(key: &KeyState, policy: &Policy) -> Action {
    match (&key.base, &key.local, &key.remote) {
        (Some(_), None, None) => Action::ForgetBase,
        (None, None, None) => Action::Nothing,
        (None, Some(_), None) => send(policy, Expect::Absent),
        (None, None, Some(_)) if key.remote_is_ours => Action::Nothing,
        (None, None, Some(_)) => bring(
            policy,
            Action::Download {
                landing: policy.landing,
            },
        ),
        (None, Some(local), Some(remote)) => unrelated_pair(local, remote, key, policy),
        (Some(base), Some(local), None) => remote_deleted(base, local, policy),
        (Some(base), None, Some(remote)) => local_deleted(base, remote, key, policy),
        (Some(base), Some(local), Some(remote)) => both_present(base, local, remote, key, policy),
    }
}

/// Sends local bytes if the direction does.
fn send(policy: &Policy, expect: Expect) -> Action {
    if policy.direction.pushes() {
        Action::Upload { expect }
    } else {
        Action::Leave(Why::PullOnly)
    }
}

/// Brings a remote change home if the direction does.
fn bring(policy: &Policy, action: Action) -> Action {
    if policy.direction.pulls() {
        action
    } else {
        Action::Leave(Why::PushOnly)
    }
}

/// Both sides changed (or appeared without a base) and the remote's bytes
/// are not known to be the local ones.
fn both_changed(local: &LocalSide, remote: &RemoteSide, policy: &Policy) -> Action {
    if !policy.direction.pulls() {
        return Action::Leave(Why::RemoteEditUnseen);
    }
    if remote.hash.is_none() && remote.size == local.size {
        Action::FetchToCompare
    } else {
        Action::SaveConflictCopy
    }
}

fn same_bytes(local: &LocalSide, remote: &RemoteSide) -> bool {
    remote.hash == Some(local.hash)
}

fn remote_changed(base: &Base, remote: &RemoteSide, key: &KeyState) -> bool {
    !key.remote_is_ours && base.remote.as_ref().is_none_or(|b| remote.differs_from(b))
}

/// A local file and a remote object at the same key, with no base.
fn unrelated_pair(
    local: &LocalSide,
    remote: &RemoteSide,
    key: &KeyState,
    policy: &Policy,
) -> Action {
    if same_bytes(local, remote) {
        Action::RecordBase
    } else if key.remote_is_ours {
        // syncroll put the remote there: only the local side moved on.
        send(policy, Expect::Holds(remote.clone()))
    } else {
        both_changed(local, remote, policy)
    }
}

fn remote_deleted(base: &Base, local: &LocalSide, policy: &Policy) -> Action {
    let local_changed = local.hash != base.hash();
    match (local_changed, policy.direction) {
        // Modify beats delete.
        (true, _) => send(policy, Expect::Absent),
        // A push connection mirrors the local side: the copy goes back.
        (false, Direction::Push) => Action::Upload {
            expect: Expect::Absent,
        },
        (false, _) => Action::LeaveCollection,
    }
}

fn local_deleted(base: &Base, remote: &RemoteSide, key: &KeyState, policy: &Policy) -> Action {
    if remote_changed(base, remote, key) {
        // Modify beats delete: the remote edit comes home, landing where
        // new remote files of the collection land.
        if policy.direction.pulls() {
            Action::Download {
                landing: policy.landing,
            }
        } else {
            Action::Leave(Why::RemoteEditUnseen)
        }
    } else if policy.direction.pushes() {
        Action::DeleteRemote
    } else {
        Action::Leave(Why::PullOnly)
    }
}

fn both_present(
    base: &Base,
    local: &LocalSide,
    remote: &RemoteSide,
    key: &KeyState,
    policy: &Policy,
) -> Action {
    let local_changed = local.hash != base.hash();
    let remote_changed = remote_changed(base, remote, key);
    if remote_changed && same_bytes(local, remote) {
        return Action::RecordBase;
    }
    match (local_changed, remote_changed) {
        (false, false) if base.is_exactly(local, remote) => Action::Nothing,
        (false, false) => Action::RecordBase,
        (true, false) => send(policy, Expect::Holds(remote.clone())),
        (false, true) => bring(policy, edit(policy.returns)),
        (true, true) => both_changed(local, remote, policy),
    }
}

fn edit(returns: ReturnMode) -> Action {
    match returns {
        ReturnMode::Version => Action::ReplaceKeepingVersion,
        ReturnMode::Copy => Action::SaveEditCopy,
    }
}

impl Base {
    fn hash(&self) -> ContentHash {
        self.local.hash
    }

    /// Both sides are this base to the field, so there is nothing to record.
    fn is_exactly(&self, local: &LocalSide, remote: &RemoteSide) -> bool {
        let remote_same = self.remote.as_ref().is_some_and(|b| b.same_state(remote));
        self.local == *local && remote_same
    }
}

#[cfg(test)]
mod tests;
