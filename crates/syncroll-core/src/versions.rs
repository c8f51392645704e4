//! The version store's domain: what a kept version is, why it was kept,
//! and the retention rules, as pure functions over version rows.
//!
//! The bytes live in the daemon's content-addressed store (one blob per
//! distinct BLAKE3); here a version is its row. Several versions may share
//! one blob, so the store's size is the sum over *distinct* hashes, and
//! dropping a version frees bytes only when it was the last to reference
//! its blob.

use std::collections::HashMap;
use std::fmt;

use crate::job::state::TimestampMs;
use crate::types::ContentHash;

/// A version row's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VersionId(pub i64);

/// The id of a file (an absolute path) that has or had versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VersionFileId(pub i64);

/// Why a file's bytes were kept as a version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionOrigin {
    /// A connection brought a remote edit home and its bytes replaced the
    /// file (`--returns version`).
    RemoteEdit { remote: String },
    /// `versions restore PATH N` replaced the file with version N.
    Restore { number: u64 },
}

impl fmt::Display for VersionOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::RemoteEdit { remote } => write!(f, "replaced by remote edit from {remote}"),
            Self::Restore { number } => write!(f, "replaced by restore of version {number}"),
        }
    }
}

/// A kept version as the catalog records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub id: VersionId,
    pub file: VersionFileId,
    /// 1, 2, ... per file, in the order kept; never reused.
    pub number: u64,
    pub hash: ContentHash,
    pub size: u64,
    /// The replaced file's modification time.
    pub mtime_ns: i64,
    pub created_at_ms: TimestampMs,
    /// Why it was kept, in words (a [`VersionOrigin`] as text).
    pub origin: String,
}

/// What retention needs of a version: no origin text, so the whole store's
/// rows stay small in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionRef {
    pub id: VersionId,
    pub file: VersionFileId,
    pub number: u64,
    pub hash: ContentHash,
    pub size: u64,
    pub created_at_ms: TimestampMs,
}

impl From<&Version> for VersionRef {
    fn from(v: &Version) -> Self {
        Self {
            id: v.id,
            file: v.file,
            number: v.number,
            hash: v.hash,
            size: v.size,
            created_at_ms: v.created_at_ms,
        }
    }
}

/// How long versions are kept (`versions.*` in the daemon's config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// The newest this many versions of each file are kept (at least 1).
    pub keep: u64,
    /// Versions older than this are dropped; `None`: no age limit.
    pub max_age_ms: Option<i64>,
    /// The store's bytes (distinct blobs) at most, oldest dropped first;
    /// `None`: no limit. A file's newest version is never dropped for
    /// bytes (see [`over_budget`]).
    pub max_bytes: Option<u64>,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        Self {
            keep: 10,
            max_age_ms: Some(365 * 86_400_000),
            max_bytes: None,
        }
    }
}

/// The versions of one file that the per-file rules drop: all but the
/// newest `keep` (by number), and every one older than `max_age`.
pub fn per_file(
    versions: &[VersionRef],
    policy: &RetentionPolicy,
    now_ms: TimestampMs,
) -> Vec<VersionId> {
    let mut newest_first: Vec<&VersionRef> = versions.iter().collect();
    newest_first.sort_by_key(|v| std::cmp::Reverse(v.number));
    let keep = usize::try_from(policy.keep.max(1)).unwrap_or(usize::MAX);
    newest_first
        .iter()
        .enumerate()
        .filter(|(rank, v)| *rank >= keep || too_old(v, policy, now_ms))
        .map(|(_, v)| v.id)
        .collect()
}

fn too_old(version: &VersionRef, policy: &RetentionPolicy, now_ms: TimestampMs) -> bool {
    policy
        .max_age_ms
        .is_some_and(|age| now_ms.saturating_sub(version.created_at_ms) > age)
}

/// The bytes the store holds for `versions`: each distinct blob once.
pub fn store_bytes(versions: &[VersionRef]) -> u64 {
    let mut sizes: HashMap<ContentHash, u64> = HashMap::new();
    for v in versions {
        sizes.insert(v.hash, v.size);
    }
    sizes.values().sum()
}

/// The versions to drop, oldest first, until the distinct blobs of the
/// rest fit in `max_bytes`. Dropping a version whose blob another version
/// still references frees nothing, but it is still dropped when it is
/// older: the cap trims history from its old end.
///
/// A file's newest version is never dropped here: it holds the bytes the
/// file had just before its last replacement, and a cap smaller than one
/// photo must not turn "kept" into "lost" at the moment of keeping it. So
/// the newest versions alone may exceed the cap.
pub fn over_budget(versions: &[VersionRef], max_bytes: u64) -> Vec<VersionId> {
    let mut references: HashMap<ContentHash, (u64, u64)> = HashMap::new();
    let mut newest: HashMap<VersionFileId, u64> = HashMap::new();
    for v in versions {
        let entry = references.entry(v.hash).or_insert((0, v.size));
        entry.0 += 1;
        let n = newest.entry(v.file).or_insert(v.number);
        *n = (*n).max(v.number);
    }
    let mut total: u64 = references.values().map(|(_, size)| size).sum();
    let mut oldest_first: Vec<&VersionRef> = versions.iter().collect();
    oldest_first.sort_by_key(|v| (v.created_at_ms, v.id));
    let mut dropped = Vec::new();
    for v in oldest_first {
        if total <= max_bytes {
            break;
        }
        if newest.get(&v.file) == Some(&v.number) {
            continue;
        }
        dropped.push(v.id);
        if let Some(entry) = references.get_mut(&v.hash) {
            entry.0 -= 1;
            if entry.0 == 0 {
                total = total.saturating_sub(entry.1);
            }
        }
    }
    dropped
}

/// Every version `policy` drops: the per-file rules for each file, then
/// the byte cap over what is left.
pub fn retention(
    versions: &[VersionRef],
    policy: &RetentionPolicy,
    now_ms: TimestampMs,
) -> Vec<VersionId> {
    let mut by_file: HashMap<VersionFileId, Vec<VersionRef>> = HashMap::new();
    for v in versions {
        by_file.entry(v.file).or_default().push(*v);
    }
    let mut dropped: Vec<VersionId> = by_file
        .values()
        .flat_map(|file| per_file(file, policy, now_ms))
        .collect();
    if let Some(max_bytes) = policy.max_bytes {
        let left: Vec<VersionRef> = versions
            .iter()
            .filter(|v| !dropped.contains(&v.id))
            .copied()
            .collect();
        dropped.extend(over_budget(&left, max_bytes));
    }
    dropped.sort();
    dropped
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY_MS: i64 = 86_400_000;

    fn version(id: i64, file: i64, number: u64, blob: u8, size: u64, at: i64) -> VersionRef {
        VersionRef {
            id: VersionId(id),
            file: VersionFileId(file),
            number,
            hash: ContentHash([blob; 32]),
            size,
            created_at_ms: at,
        }
    }

    fn ids(ids: &[i64]) -> Vec<VersionId> {
        ids.iter().copied().map(VersionId).collect()
    }

    fn policy(keep: u64, max_age_days: Option<i64>, max_bytes: Option<u64>) -> RetentionPolicy {
        RetentionPolicy {
            keep,
            max_age_ms: max_age_days.map(|d| d * DAY_MS),
            max_bytes,
        }
    }

    #[test]
    fn keep_holds_the_newest_n_versions_of_each_file() {
        // Numbers decide, not ids or times: 12 versions, the 10 newest kept.
        let versions: Vec<_> = (1..=12)
            .map(|n| version(100 - n, 1, n as u64, n as u8, 1, n))
            .collect();
        let dropped = retention(&versions, &policy(10, None, None), 100);
        assert_eq!(dropped, ids(&[98, 99]));
        // Per file: another file's versions do not count against it.
        let mut two_files = versions.clone();
        two_files.push(version(500, 2, 1, 7, 1, 1));
        assert_eq!(
            retention(&two_files, &policy(10, None, None), 100),
            ids(&[98, 99])
        );
    }

    #[test]
    fn keep_of_zero_still_keeps_the_newest() {
        let versions = [version(1, 1, 1, 1, 1, 0), version(2, 1, 2, 2, 1, 0)];
        assert_eq!(retention(&versions, &policy(0, None, None), 0), ids(&[1]));
    }

    #[test]
    fn versions_older_than_max_age_are_dropped() {
        let now = 1000 * DAY_MS;
        let versions = [
            version(1, 1, 1, 1, 1, now - 400 * DAY_MS),
            version(2, 1, 2, 2, 1, now - 366 * DAY_MS),
            version(3, 1, 3, 3, 1, now - 365 * DAY_MS),
            version(4, 1, 4, 4, 1, now - DAY_MS),
        ];
        assert_eq!(
            retention(&versions, &policy(10, Some(365), None), now),
            ids(&[1, 2])
        );
        assert!(retention(&versions, &policy(10, None, None), now).is_empty());
    }

    #[test]
    fn the_byte_cap_drops_oldest_first_across_files() {
        // Three files, 100 bytes a blob; 500 bytes held, cap 300.
        let versions = [
            version(1, 1, 1, 1, 100, 10),
            version(2, 2, 1, 2, 100, 20),
            version(3, 1, 2, 3, 100, 30),
            version(4, 2, 2, 4, 100, 40),
            version(5, 3, 1, 5, 100, 50),
        ];
        assert_eq!(store_bytes(&versions), 500);
        assert_eq!(
            retention(&versions, &policy(10, None, Some(300)), 60),
            ids(&[1, 2])
        );
        assert!(retention(&versions, &policy(10, None, Some(500)), 60).is_empty());
    }

    #[test]
    fn the_byte_cap_never_drops_a_file_s_newest_version() {
        let versions = [
            version(1, 1, 1, 1, 100, 10),
            version(2, 1, 2, 2, 100, 20),
            version(3, 2, 1, 3, 100, 30),
        ];
        // A cap below one blob: only the old version of file 1 can go.
        assert_eq!(
            retention(&versions, &policy(10, None, Some(50)), 60),
            ids(&[1])
        );
    }

    #[test]
    fn a_shared_blob_frees_its_bytes_only_with_its_last_version() {
        // Versions 1 and 3 share blob 9 (the same bytes kept twice): the
        // store holds 200 bytes, not 300.
        let versions = [
            version(1, 1, 1, 9, 100, 10),
            version(2, 1, 2, 2, 100, 20),
            version(3, 2, 1, 9, 100, 30),
            version(4, 2, 2, 4, 100, 40),
        ];
        assert_eq!(store_bytes(&versions), 300);
        // Cap 250: dropping version 1 frees nothing (3 still holds blob
        // 9); 2 is file 1's newest and stays; dropping 3 frees blob 9.
        assert_eq!(
            retention(&versions, &policy(10, None, Some(250)), 50),
            ids(&[1, 3])
        );
        // Below what the newest versions hold, only older ones go.
        assert_eq!(
            retention(&versions, &policy(10, None, Some(10)), 50),
            ids(&[1, 3])
        );
    }

    #[test]
    fn origins_read_as_sentences() {
        assert_eq!(
            VersionOrigin::RemoteEdit {
                remote: "nas".into()
            }
            .to_string(),
            "replaced by remote edit from nas"
        );
        assert_eq!(
            VersionOrigin::Restore { number: 3 }.to_string(),
            "replaced by restore of version 3"
        );
    }
}
