//! The decision table: every combination of base, local and remote state,
//! direction, return mode and landing, against the rules.

use super::*;

const DIRECTIONS: [Direction; 3] = [Direction::Push, Direction::Pull, Direction::Both];
const RETURNS: [ReturnMode; 2] = [ReturnMode::Version, ReturnMode::Copy];
const LANDINGS: [(Landing, &str); 2] = [
    (Landing::MatchingPath, "folder"),
    (Landing::Inbox, "manual"),
];

fn hash(n: u8) -> ContentHash {
    ContentHash([n; 32])
}

fn local(label: &str) -> Option<LocalSide> {
    let base = LocalSide {
        hash: hash(0),
        size: 100,
        mtime_ns: 1,
    };
    match label {
        "absent" => None,
        "same" | "present" => Some(base),
        "touched" => Some(LocalSide {
            mtime_ns: 2,
            ..base
        }),
        "changed" => Some(LocalSide {
            hash: hash(1),
            size: 120,
            mtime_ns: 3,
        }),
        other => panic!("no local case {other}"),
    }
}

fn remote_at(size: u64, etag: &str, modified_ms: i64, hash: Option<ContentHash>) -> RemoteSide {
    RemoteSide {
        size,
        etag: Some(etag.to_owned()),
        modified_ms,
        hash,
    }
}

fn base_remote() -> RemoteSide {
    remote_at(100, "e0", 10, None)
}

/// The remote now, and whether the ledger says syncroll uploaded it.
fn remote(label: &str, local: Option<&LocalSide>) -> (Option<RemoteSide>, bool) {
    let local_size = local.map_or(100, |l| l.size);
    let local_hash = local.map_or(hash(9), |l| l.hash);
    match label {
        "absent" => (None, false),
        "same" => (Some(base_remote()), false),
        "ours" => (Some(remote_at(120, "e1", 20, None)), true),
        "changed" | "present" => (Some(remote_at(130, "e2", 30, None)), false),
        "changed-same-size" | "same-size" => (Some(remote_at(local_size, "e3", 40, None)), false),
        "changed-identical" | "identical" => (
            Some(remote_at(local_size, "e4", 50, Some(local_hash))),
            false,
        ),
        other => panic!("no remote case {other}"),
    }
}

/// Rows: "base local remote direction returns landing" with `*` for any
/// and `a|b` for either; every combination must match exactly one row.
const TABLE: &[(&str, &str)] = &[
    // The base is known.
    ("some absent absent * * *", "forget-base"),
    ("some absent same|ours push|both * *", "delete-remote"),
    ("some absent same|ours pull * *", "leave:pull-only"),
    (
        "some absent changed|changed-same-size|changed-identical pull|both * folder",
        "download-to-path",
    ),
    (
        "some absent changed|changed-same-size|changed-identical pull|both * manual",
        "download-to-inbox",
    ),
    (
        "some absent changed|changed-same-size|changed-identical push * *",
        "leave:remote-edit-unseen",
    ),
    ("some same|touched absent push * *", "upload-if-absent"),
    ("some same|touched absent pull|both * *", "leave-collection"),
    ("some same same * * *", "nothing"),
    ("some touched same * * *", "record-base"),
    ("some same|touched ours * * *", "record-base"),
    (
        "some same|touched changed|changed-same-size push * *",
        "leave:push-only",
    ),
    (
        "some same|touched changed|changed-same-size pull|both version *",
        "replace-keeping-version",
    ),
    (
        "some same|touched changed|changed-same-size pull|both copy *",
        "save-edit-copy",
    ),
    (
        "some same|touched|changed changed-identical * * *",
        "record-base",
    ),
    ("some changed absent push|both * *", "upload-if-absent"),
    ("some changed absent pull * *", "leave:pull-only"),
    (
        "some changed same|ours push|both * *",
        "upload-if-unchanged",
    ),
    ("some changed same|ours pull * *", "leave:pull-only"),
    ("some changed changed pull|both * *", "save-conflict-copy"),
    (
        "some changed changed-same-size pull|both * *",
        "fetch-to-compare",
    ),
    (
        "some changed changed|changed-same-size push * *",
        "leave:remote-edit-unseen",
    ),
    // No base: the key was never synced.
    ("none absent absent * * *", "nothing"),
    ("none absent ours * * *", "nothing"),
    (
        "none absent present|same-size|identical pull|both * folder",
        "download-to-path",
    ),
    (
        "none absent present|same-size|identical pull|both * manual",
        "download-to-inbox",
    ),
    (
        "none absent present|same-size|identical push * *",
        "leave:push-only",
    ),
    ("none present absent push|both * *", "upload-if-absent"),
    ("none present absent pull * *", "leave:pull-only"),
    ("none present identical * * *", "record-base"),
    ("none present ours push|both * *", "upload-if-unchanged"),
    ("none present ours pull * *", "leave:pull-only"),
    ("none present present pull|both * *", "save-conflict-copy"),
    ("none present same-size pull|both * *", "fetch-to-compare"),
    (
        "none present present|same-size push * *",
        "leave:remote-edit-unseen",
    ),
];

fn matches(pattern: &str, case: &[&str; 6]) -> bool {
    let parts: Vec<&str> = pattern.split_whitespace().collect();
    assert_eq!(parts.len(), 6, "row {pattern:?} needs six columns");
    parts
        .iter()
        .zip(case)
        .all(|(p, v)| *p == "*" || p.split('|').any(|alt| alt == *v))
}

fn cases() -> Vec<[&'static str; 6]> {
    let mut out = Vec::new();
    let with_base = (
        "some",
        &["absent", "same", "touched", "changed"][..],
        &[
            "absent",
            "same",
            "ours",
            "changed",
            "changed-same-size",
            "changed-identical",
        ][..],
    );
    let without = (
        "none",
        &["absent", "present"][..],
        &["absent", "present", "ours", "same-size", "identical"][..],
    );
    for (base, locals, remotes) in [with_base, without] {
        for l in locals {
            for r in remotes {
                for d in DIRECTIONS {
                    for m in RETURNS {
                        for (_, landing) in LANDINGS {
                            out.push([base, l, r, d.as_str(), m.as_str(), landing]);
                        }
                    }
                }
            }
        }
    }
    out
}

fn run(case: &[&str; 6]) -> Action {
    let [base, l, r, d, m, landing] = case;
    let local = local(l);
    let (remote, ours) = remote(r, local.as_ref());
    let key = KeyState {
        base: (*base == "some").then(|| Base {
            local: self::local("same").unwrap(),
            remote: Some(base_remote()),
        }),
        local,
        remote,
        remote_is_ours: ours,
    };
    let policy = Policy {
        direction: Direction::parse(d).unwrap(),
        returns: ReturnMode::parse(m).unwrap(),
        landing: LANDINGS.iter().find(|(_, n)| n == landing).unwrap().0,
    };
    decide(&key, &policy)
}

#[test]
fn decision_table_is_exactly_this() {
    let cases = cases();
    assert_eq!(cases.len(), (4 * 6 + 2 * 5) * 3 * 2 * 2);
    for case in &cases {
        let rows: Vec<_> = TABLE.iter().filter(|(p, _)| matches(p, case)).collect();
        assert_eq!(rows.len(), 1, "{case:?} matches rows {rows:?}");
        assert_eq!(run(case).name(), rows[0].1, "{case:?}");
    }
}

#[test]
fn every_row_is_reached() {
    let cases = cases();
    for (pattern, _) in TABLE {
        assert!(
            cases.iter().any(|c| matches(pattern, c)),
            "row {pattern:?} matches no case"
        );
    }
}

#[test]
fn push_never_downloads_and_pull_never_sends() {
    for case in cases() {
        let action = run(&case);
        if case[3] == "push" {
            assert!(
                !matches!(
                    action,
                    Action::Download { .. }
                        | Action::ReplaceKeepingVersion
                        | Action::SaveEditCopy
                        | Action::SaveConflictCopy
                        | Action::FetchToCompare
                        | Action::LeaveCollection
                ),
                "{case:?}: {action:?}"
            );
        }
        if case[3] == "pull" {
            assert!(
                !matches!(action, Action::Upload { .. } | Action::DeleteRemote),
                "{case:?}: {action:?}"
            );
        }
    }
}

#[test]
fn same_bytes_on_both_sides_is_never_a_conflict_whatever_the_times() {
    let edited = LocalSide {
        hash: hash(7),
        size: 5,
        mtime_ns: 999,
    };
    let key = KeyState {
        base: Some(Base {
            local: local("same").unwrap(),
            remote: Some(base_remote()),
        }),
        local: Some(edited),
        remote: Some(remote_at(5, "other", 1, Some(hash(7)))),
        remote_is_ours: false,
    };
    let policy = Policy {
        direction: Direction::Both,
        returns: ReturnMode::Version,
        landing: Landing::Inbox,
    };
    assert_eq!(decide(&key, &policy), Action::RecordBase);
}

#[test]
fn an_upload_expects_the_remote_state_it_saw() {
    let key = KeyState {
        base: Some(Base {
            local: local("same").unwrap(),
            remote: Some(base_remote()),
        }),
        local: local("changed"),
        remote: Some(base_remote()),
        remote_is_ours: false,
    };
    let policy = Policy {
        direction: Direction::Both,
        returns: ReturnMode::Copy,
        landing: Landing::Inbox,
    };
    assert_eq!(
        decide(&key, &policy),
        Action::Upload {
            expect: Expect::Holds(base_remote())
        }
    );
}

#[test]
fn a_base_without_its_remote_side_trusts_only_the_ledger_etag() {
    let mut key = KeyState {
        base: Some(Base {
            local: local("same").unwrap(),
            remote: None,
        }),
        local: local("same"),
        remote: Some(base_remote()),
        remote_is_ours: true,
    };
    let policy = Policy {
        direction: Direction::Both,
        returns: ReturnMode::Version,
        landing: Landing::Inbox,
    };
    // Ours: only the base's missing half is filled in.
    assert_eq!(decide(&key, &policy), Action::RecordBase);
    // Not ours, and nothing to compare with: an edit, never an overwrite.
    key.remote_is_ours = false;
    assert_eq!(decide(&key, &policy), Action::ReplaceKeepingVersion);
}

#[test]
fn without_etags_size_and_modified_time_tell_a_remote_change() {
    let untagged = |size, modified_ms| RemoteSide {
        size,
        etag: None,
        modified_ms,
        hash: None,
    };
    assert!(!untagged(1, 2).differs_from(&untagged(1, 2)));
    assert!(untagged(1, 3).differs_from(&untagged(1, 2)));
    assert!(untagged(2, 2).differs_from(&untagged(1, 2)));
    // Where both have an ETag, it alone decides (S3 copies keep sizes).
    let tagged = remote_at(1, "a", 2, None);
    assert!(!remote_at(1, "a", 9, None).differs_from(&tagged));
    assert!(remote_at(1, "b", 2, None).differs_from(&tagged));
}

/// What an upload records (a HEAD's quoted ETag, an HTTP date in whole
/// seconds) is the state the next listing shows (a bare ETag, milliseconds).
#[test]
fn a_whole_second_time_and_a_quoted_etag_are_the_state_a_listing_shows() {
    let after_upload = RemoteSide {
        size: 1,
        etag: Some("\"a\"".to_owned()),
        modified_ms: 5_000,
        hash: None,
    };
    let listed = RemoteSide {
        etag: Some("a".to_owned()),
        modified_ms: 5_274,
        ..after_upload.clone()
    };
    assert!(after_upload.same_state(&listed));
    assert!(!listed.differs_from(&after_upload));
    let next_second = RemoteSide {
        modified_ms: 6_001,
        ..listed.clone()
    };
    assert!(!after_upload.same_state(&next_second));
    // A listing without ETags (some servers') is compared by size and time.
    let unlisted = RemoteSide {
        etag: None,
        ..listed.clone()
    };
    assert!(after_upload.same_state(&unlisted));
    let untagged = |modified_ms| RemoteSide {
        etag: None,
        modified_ms,
        ..after_upload.clone()
    };
    assert!(untagged(6_001).differs_from(&untagged(6_000 + 2_000)));
    assert!(!untagged(5_274).differs_from(&untagged(5_000)));
}
