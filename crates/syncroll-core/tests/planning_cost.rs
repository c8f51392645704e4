//! Planning costs the size of a change, not of the collection: the work the
//! planner does (path groups planned, rows read, transactions) for finished
//! jobs and for a changed photo is counted in a collection of 100 photos and
//! in one of 10,000, and must be the same.

use syncroll_core::connection::{Base, LocalSide};
use syncroll_core::job::JobState;
use syncroll_core::reconcile::FoundFile;
use syncroll_core::root_identity::{self, FolderIdentity, FolderProbe, VerifiedRoot};
use syncroll_core::store::{
    Finished, Landed, NewCollectionSource, PLAN_CHUNK, PhotoChanges, PlanWork,
};
use syncroll_core::{CollectionId, ContentHash, FileStat, PhotoId, RelPath, RemoteId, Store};

/// The photos folder's identity; the store only compares it.
const FOLDER: FolderIdentity = FolderIdentity {
    device: 1,
    inode: 2,
};

struct Library {
    _dir: tempfile::TempDir,
    store: Store,
    collection: CollectionId,
    remote: RemoteId,
    root: VerifiedRoot,
}

/// A stand-in digest, distinct per seed.
fn hash(seed: u64) -> ContentHash {
    let mut bytes = [0u8; 32];
    for chunk in bytes.chunks_mut(8) {
        chunk.copy_from_slice(&seed.to_le_bytes());
    }
    ContentHash(bytes)
}

fn file(i: u64, size: u64) -> FoundFile {
    FoundFile {
        rel_path: RelPath::from_bytes(format!("2024/d{:03}/IMG_{i:06}.jpg", i / 100).into_bytes()),
        stat: FileStat {
            size,
            mtime_ns: i as i64,
            inode: i + 1,
        },
    }
}

/// A synced folder collection of `n` photos, reconciled: `n` uploads queued.
async fn library(n: u64) -> Library {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("catalog.sqlite"))
        .await
        .unwrap();
    let remote = store.ensure_remote("local", "fs", "{}").await.unwrap();
    std::fs::create_dir(dir.path().join("photos")).unwrap();
    let root = store
        .add_root(&dir.path().join("photos"), FOLDER)
        .await
        .unwrap();
    let verified = root_identity::verify(
        &root,
        &FolderProbe::Present {
            identity: FOLDER,
            empty: false,
        },
        0,
    )
    .unwrap();
    let collection = store
        .create_collection(
            "Trip",
            NewCollectionSource::Folder {
                root: &root,
                rel_path: &RelPath::root(),
            },
            remote,
        )
        .await
        .unwrap();
    store
        .set_sync_enabled(collection.id, true, false)
        .await
        .unwrap();
    for batch in (0..n).collect::<Vec<_>>().chunks(256) {
        let changes = PhotoChanges {
            added: batch.iter().map(|&i| (file(i, 1000), hash(i))).collect(),
            ..Default::default()
        };
        store
            .apply_photo_changes(&verified, &changes)
            .await
            .unwrap();
    }
    let library = Library {
        _dir: dir,
        store,
        collection: collection.id,
        remote,
        root: verified,
    };
    let queued = drain(&library.store).await;
    assert_eq!(queued, n, "every photo gets one upload");
    library
}

/// Plans everything waiting; returns the uploads queued.
async fn drain(store: &Store) -> u64 {
    let mut uploads = 0;
    loop {
        let (outcome, taken) = store.plan_pending(PLAN_CHUNK).await.unwrap();
        uploads += outcome.uploads;
        if taken > 0 {
            continue;
        }
        match store.reconcile_step(None).await.unwrap() {
            Some(step) => uploads += step.outcome.uploads,
            None => return uploads,
        }
    }
}

fn minus(after: PlanWork, before: PlanWork) -> PlanWork {
    PlanWork {
        groups: after.groups - before.groups,
        rows: after.rows - before.rows,
        transactions: after.transactions - before.transactions,
    }
}

/// What lands for an upload that sends the bytes it was planned with.
fn as_planned(job: &syncroll_core::job::Job) -> Landed {
    Landed {
        hash: job.hash.unwrap(),
        size: job.bytes_total,
        etag: None,
        transfer: "put",
        base: None,
    }
}

/// Runs `jobs` queued uploads to the end as the workers would, recorded in
/// one batch.
async fn finish_uploads(store: &Store, jobs: usize) {
    let finished: Vec<_> = store
        .claim_jobs(jobs, &[])
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.job.id, Finished::Uploaded(as_planned(&c.job))))
        .collect();
    let recorded = store.finish_transfers(&finished).await.unwrap();
    assert!(recorded.iter().all(|r| r.done && !r.planning_due));
}

/// What planning costs in a library of `n` photos for: 50 finished jobs, one
/// photo changed on disk, and one photo changed while its upload ran.
async fn work_of_changes(n: u64) -> (PlanWork, PlanWork, PlanWork) {
    let lib = library(n).await;
    let store = &lib.store;

    let before = store.plan_work();
    finish_uploads(store, 50).await;
    assert_eq!(drain(store).await, 0);
    let finished = minus(store.plan_work(), before);

    let before = store.plan_work();
    let changed = PhotoChanges {
        rehashed: vec![(PhotoId(7), file(6, 2000), hash(10_000_000))],
        ..Default::default()
    };
    store
        .apply_photo_changes(&lib.root, &changed)
        .await
        .unwrap();
    assert_eq!(drain(store).await, 1, "the changed photo is uploaded again");
    let one_change = minus(store.plan_work(), before);

    // A photo that changes while its upload runs: planning leaves the
    // running job alone, and plans its path again when the job is done.
    let before = store.plan_work();
    let running = store.claim_jobs(1, &[]).await.unwrap().remove(0).job;
    let photo = running.photo_id.unwrap();
    let i = (photo.0 - 1) as u64;
    let changed = PhotoChanges {
        rehashed: vec![(photo, file(i, 3000), hash(20_000_000 + i))],
        ..Default::default()
    };
    store
        .apply_photo_changes(&lib.root, &changed)
        .await
        .unwrap();
    assert_eq!(
        drain(store).await,
        0,
        "nothing is queued beside a running job"
    );
    let recorded = store
        .finish_transfer(running.id, Finished::Uploaded(as_planned(&running)))
        .await
        .unwrap();
    assert!(recorded.done && recorded.planning_due, "{recorded:?}");
    assert_eq!(
        drain(store).await,
        1,
        "the new bytes follow once the old ones landed"
    );
    let during_run = minus(store.plan_work(), before);

    let job = store.job(running.id).await.unwrap();
    assert!(matches!(job.state, JobState::Done { .. }), "{job:?}");
    let _ = lib.collection;
    (finished, one_change, during_run)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planning_a_change_costs_the_same_in_a_collection_of_100_or_10000() {
    let small = work_of_changes(100).await;
    let large = work_of_changes(10_000).await;
    assert_eq!(
        small, large,
        "(finished jobs, one change, change while running)"
    );
    let (finished, one_change, during_run) = large;
    assert_eq!(
        finished.groups, 0,
        "finished jobs plan nothing: {finished:?}"
    );
    assert_eq!(one_change.groups, 1, "{one_change:?}");
    assert!(one_change.rows <= 4, "{one_change:?}");
    assert_eq!(during_run.groups, 2, "{during_run:?}");
}

/// What planning costs in a library of `n` photos when a photo whose key
/// is pinned (a file brought home into a manual collection's inbox keeps
/// the key it came from) changes: the pin is read with the group's ledger
/// rows, so it costs what any change costs, and the new bytes go to the
/// pinned key.
async fn work_of_a_pinned_change(n: u64) -> PlanWork {
    let lib = library(n).await;
    let store = &lib.store;
    let (photo, found) = (PhotoId(7), file(6, 1000));
    let pinned = "Trip/from the phone/IMG_7.jpg";
    let base = Base {
        local: LocalSide {
            hash: hash(6),
            size: 1000,
            mtime_ns: 6,
        },
        remote: None,
    };
    store
        .record_download(
            lib.remote,
            lib.collection,
            pinned,
            &found.rel_path,
            &base,
            Some((lib.root.id(), photo)),
        )
        .await
        .unwrap();
    let last = store
        .jobs_page(None, None, 0, u32::MAX)
        .await
        .unwrap()
        .last()
        .map_or(0, |j| j.id.0);

    let before = store.plan_work();
    let changed = PhotoChanges {
        rehashed: vec![(photo, file(6, 2000), hash(30_000_000))],
        ..Default::default()
    };
    store
        .apply_photo_changes(&lib.root, &changed)
        .await
        .unwrap();
    assert_eq!(drain(store).await, 1, "the edit is uploaded once");
    let work = minus(store.plan_work(), before);
    let queued = store
        .jobs_page(Some("queued"), None, last, 10)
        .await
        .unwrap();
    let keys: Vec<&str> = queued.iter().map(|j| j.key.as_str()).collect();
    assert_eq!(keys, [pinned], "to the key it came from");
    work
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pinned_key_costs_the_same_in_a_collection_of_100_or_10000() {
    let small = work_of_a_pinned_change(100).await;
    let large = work_of_a_pinned_change(10_000).await;
    assert_eq!(small, large);
    assert_eq!(large.groups, 1, "{large:?}");
    assert!(large.rows <= 4, "{large:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_reconciliation_holds_the_write_lock_for_one_chunk_at_a_time() {
    let lib = library(3 * PLAN_CHUNK as u64 + 10).await;
    let store = &lib.store;
    store.request_reconcile(None, true).await.unwrap();
    let mut steps = 0;
    let mut groups = Vec::new();
    while let Some(step) = store.reconcile_step(None).await.unwrap() {
        steps += 1;
        groups.push(store.plan_work().groups);
        if step.finished {
            break;
        }
        // Nothing changed: a reconciliation of a planned collection adds
        // nothing.
        assert_eq!(step.outcome, Default::default());
    }
    // 4 member pages, an empty one that moves to the ledger (empty: nothing
    // uploaded yet), and the end.
    assert!(steps >= 5, "{steps} steps");
    let per_step: Vec<u64> = groups.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        per_step.iter().all(|g| *g <= PLAN_CHUNK as u64),
        "{per_step:?}"
    );
}
