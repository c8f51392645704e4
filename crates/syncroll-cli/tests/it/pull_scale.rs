//! An unchanged album of 10,000 photos, polled twice, downloads nothing and
//! uploads nothing, and each poll costs its listing only: the in-process S3
//! server records every request, so the test counts what a poll asked for
//! (ListObjectsV2 pages of 1,000 keys, never a GET or HEAD of an object).
//! A poll that touched each photo would show here as 10,000 requests.
//!
//! s3s-fs, the in-process server, lists no ETags (S3 and MinIO do). The
//! uploads record the remote side of their base (size and modified time),
//! so the listing still tells syncroll's own photos from edits; a photo
//! whose base has no remote side would be fetched and hashed once, at most
//! 256 a poll (docs/connections.md, "Checked against the recorded bytes").
//! The test lets any such first pass finish, bounded, before it counts.

use std::time::Duration;

use serde_json::Value;
use syncroll_testkit::{S3Server, Seen, write_photos};

use crate::pull_harness::{Album, Kind};

const PHOTOS: usize = 10_000;
/// Folders the photos are spread over, so the album is nested as a real
/// one is (the listing is flat on S3 either way).
const FOLDERS: usize = 20;
/// Keys an S3 ListObjectsV2 page holds at most (the server's default,
/// which the client does not lower).
const PAGE: usize = 1_000;
/// Actions one poll carries out at most (the pull engine's
/// `MAX_ACTIONS_PER_POLL`).
const MAX_ACTIONS_PER_POLL: usize = 256;
const POLL_TIMEOUT: Duration = Duration::from_secs(300);

/// Whether `seen` is a ListObjectsV2 request.
fn is_listing(seen: &Seen) -> bool {
    let query = seen.target.split_once('?').map_or("", |(_, q)| q);
    seen.method == "GET" && query.split('&').any(|p| p == "list-type=2")
}

fn versions_and_conflicts(status: &Value) -> (u64, u64) {
    (
        status["versions"]["count"].as_u64().unwrap_or(0),
        status["open_conflicts"].as_u64().unwrap_or(0),
    )
}

#[test]
fn pull_of_an_unchanged_album_of_10000_photos_lists_and_moves_nothing() {
    let setup = Album::new(
        Kind::S3(S3Server::start()),
        // Uploads as fast as the machine lets the setup go.
        "[sync]\nconcurrency = 8\n",
        |root| {
            for folder in 0..FOLDERS {
                write_photos(
                    &root.join(format!("trip/{folder:02}")),
                    &format!("p{folder:02}-"),
                    PHOTOS / FOLDERS,
                    256,
                );
            }
        },
    );
    assert_eq!(
        setup.daemon.photo_paths(Some("Trip")).len(),
        PHOTOS,
        "the collection holds every photo"
    );
    // The connection's own first poll may run at any moment; a poll asked
    // for after it is ours. Polls are hourly, so no scheduled one runs in
    // the middle of the counted ones.
    setup
        .daemon
        .cli(&[
            "connect",
            "Trip",
            "--direction",
            "both",
            "--returns",
            "version",
            "--poll",
            "1h",
        ])
        .ok();
    setup.poll(POLL_TIMEOUT);
    let uploads = setup.done_uploads();
    assert_eq!(uploads, PHOTOS, "every photo went up once");
    let status = setup.daemon.json(&["status"]);
    let (versions, conflicts) = versions_and_conflicts(&status);
    let quiet = format!("{PHOTOS} listed, 0 downloaded");
    let first_pass = PHOTOS.div_ceil(MAX_ACTIONS_PER_POLL) + 2;
    let mut checking = Vec::new();
    for _ in 0..first_pass {
        let outcome = setup.poll(POLL_TIMEOUT);
        if outcome == quiet {
            break;
        }
        assert!(
            outcome.starts_with(&format!("{PHOTOS} listed, 0 downloaded, "))
                && outcome.contains("checked against the recorded bytes")
                && !outcome.contains("failed"),
            "{outcome}"
        );
        checking.push(outcome);
    }
    assert!(
        checking.len() < first_pass,
        "the first pass over pushed photos never ended: {checking:#?}"
    );

    let Kind::S3(server) = &setup.kind else {
        unreachable!()
    };
    for round in 1..=2 {
        let before = server.seen().len();
        let outcome = setup.poll(POLL_TIMEOUT);
        let after = server.seen();
        // Nothing downloaded, checked, returned, conflicting, failed or put
        // off: the outcome names the listing only.
        assert_eq!(outcome, quiet, "poll {round}");
        let asked = &after[before..];
        let not_listing: Vec<&Seen> = asked.iter().filter(|r| !is_listing(r)).collect();
        assert!(
            not_listing.is_empty(),
            "poll {round} asked for more than the listing: {} requests, first {:#?}",
            not_listing.len(),
            &not_listing[..not_listing.len().min(5)]
        );
        assert_eq!(
            asked.len(),
            PHOTOS.div_ceil(PAGE),
            "poll {round}: one ListObjectsV2 request per page of {PAGE} keys"
        );
    }

    setup.daemon.cli(&["wait", "--timeout", "300s"]).ok();
    assert_eq!(setup.done_uploads(), uploads, "nothing was uploaded");
    let status = setup.daemon.json(&["status"]);
    assert_eq!(
        versions_and_conflicts(&status),
        (versions, conflicts),
        "no version kept, no conflict found: {status}"
    );
    assert_eq!(conflicts, 0, "{status}");
    assert_eq!(
        setup.daemon.json(&["conflicts"])["conflicts"]
            .as_array()
            .map(Vec::len),
        Some(0)
    );
}
