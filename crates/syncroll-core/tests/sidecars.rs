//! Sidecars in the catalog and the planner: they are indexed beside their
//! photo but never counted as photos, they are planned in their photo's
//! path group (uploaded beside it, re-uploaded alone, deleted with it), and
//! what a change costs is the same in a library of 100 photos with their
//! sidecars and in one of 10,000.

use syncroll_core::job::JobOp;
use syncroll_core::reconcile::FoundFile;
use syncroll_core::root_identity::{self, FolderIdentity, FolderProbe, VerifiedRoot};
use syncroll_core::store::{
    Finished, Landed, NewCollectionSource, PLAN_CHUNK, PhotoChanges, PlanWork,
};
use syncroll_core::{ContentHash, FileStat, PhotoId, RelPath, Store};

const FOLDER: FolderIdentity = FolderIdentity {
    device: 1,
    inode: 2,
};

struct Library {
    _dir: tempfile::TempDir,
    store: Store,
    root: VerifiedRoot,
}

fn hash(seed: u64) -> ContentHash {
    let mut bytes = [0u8; 32];
    for chunk in bytes.chunks_mut(8) {
        chunk.copy_from_slice(&seed.to_le_bytes());
    }
    ContentHash(bytes)
}

fn found(path: &str, size: u64, inode: u64) -> FoundFile {
    FoundFile {
        rel_path: RelPath::from_bytes(path.as_bytes().to_vec()),
        stat: FileStat {
            size,
            mtime_ns: inode as i64,
            inode,
        },
    }
}

/// Photo `i` (a raw) and its sidecar `IMG_i.NEF.xmp`.
fn raw_and_xmp(i: u64) -> [(FoundFile, ContentHash); 2] {
    let raw = format!("2024/d{:03}/IMG_{i:06}.NEF", i / 100);
    [
        (found(&raw, 1000, 2 * i + 1), hash(2 * i + 1)),
        (found(&format!("{raw}.xmp"), 10, 2 * i + 2), hash(2 * i + 2)),
    ]
}

/// A synced folder collection of `n` raws, each with an `.xmp`.
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
    for batch in (0..n).collect::<Vec<_>>().chunks(128) {
        let changes = PhotoChanges {
            added: batch.iter().flat_map(|&i| raw_and_xmp(i)).collect(),
            ..Default::default()
        };
        store
            .apply_photo_changes(&verified, &changes)
            .await
            .unwrap();
    }
    Library {
        _dir: dir,
        store,
        root: verified,
    }
}

/// Plans everything waiting; returns (uploads, deletes) queued.
async fn drain(store: &Store) -> (u64, u64) {
    let (mut uploads, mut deletes) = (0, 0);
    loop {
        let (outcome, taken) = store.plan_pending(PLAN_CHUNK).await.unwrap();
        uploads += outcome.uploads;
        deletes += outcome.deletes + outcome.held;
        if taken > 0 {
            continue;
        }
        match store.reconcile_step(None).await.unwrap() {
            Some(step) => {
                uploads += step.outcome.uploads;
                deletes += step.outcome.deletes + step.outcome.held;
            }
            None => return (uploads, deletes),
        }
    }
}

/// Runs every queued job as the workers would; returns the keys uploaded
/// and deleted.
async fn run_all(store: &Store) -> (Vec<String>, Vec<String>) {
    let (mut up, mut down) = (Vec::new(), Vec::new());
    loop {
        let claimed = store.claim_jobs(512, &[]).await.unwrap();
        if claimed.is_empty() {
            up.sort();
            down.sort();
            return (up, down);
        }
        let mut finished = Vec::new();
        for c in claimed {
            match c.job.op {
                JobOp::Upload => {
                    // The worker reads the file the job's row names: for a
                    // sidecar, the sidecar's own file.
                    let photo = c.photo.expect("an upload reads its file");
                    let key_name = c.job.key.rsplit('/').next().unwrap();
                    let file_name = photo.rel_path.as_bytes().rsplit(|&b| b == b'/').next();
                    assert_eq!(file_name, Some(key_name.as_bytes()), "{:?}", c.job);
                    up.push(c.job.key.clone());
                    finished.push((
                        c.job.id,
                        Finished::Uploaded(Landed {
                            hash: c.job.hash.unwrap(),
                            size: c.job.bytes_total,
                            etag: None,
                            transfer: "put",
                            base: None,
                        }),
                    ));
                }
                _ => {
                    down.push(c.job.key.clone());
                    finished.push((c.job.id, Finished::Deleted));
                }
            }
        }
        store.finish_transfers(&finished).await.unwrap();
    }
}

/// Plans and runs until nothing is left to do, as the daemon's loops
/// would; returns every key uploaded and deleted.
async fn settle(store: &Store) -> (Vec<String>, Vec<String>) {
    let (mut up, mut down) = (Vec::new(), Vec::new());
    loop {
        drain(store).await;
        let (u, d) = run_all(store).await;
        if u.is_empty() && d.is_empty() {
            up.sort();
            down.sort();
            return (up, down);
        }
        up.extend(u);
        down.extend(d);
    }
}

fn minus(after: PlanWork, before: PlanWork) -> PlanWork {
    PlanWork {
        groups: after.groups - before.groups,
        rows: after.rows - before.rows,
        transactions: after.transactions - before.transactions,
    }
}

fn xmp_id(i: u64) -> PhotoId {
    // Photos and sidecars were added in pairs, photo first.
    PhotoId(2 * i as i64 + 2)
}

/// What planning reads for: one sidecar edited alone, one photo with its
/// sidecar removed, one photo with a sidecar added. Checks each outcome.
async fn work_of_changes(n: u64) -> (PlanWork, PlanWork, PlanWork) {
    let lib = library(n).await;
    let store = &lib.store;
    assert_eq!(
        store.photo_count().await.unwrap(),
        n,
        "sidecars are not photos"
    );
    let trip = store.collection("Trip").await.unwrap();
    assert_eq!(trip.photo_count, n);
    assert_eq!(
        trip.total_bytes,
        n * 1010,
        "a photo's bytes include its sidecar"
    );
    assert_eq!(
        drain(store).await,
        (2 * n, 0),
        "every photo and every sidecar"
    );
    let (up, _) = run_all(store).await;
    assert_eq!(up.len() as u64, 2 * n);
    assert!(up.contains(&"Trip/2024/d000/IMG_000007.NEF.xmp".to_owned()));

    // The xmp of photo 7 edited: that key alone goes again.
    let before = store.plan_work();
    let edited = PhotoChanges {
        rehashed: vec![(
            xmp_id(7),
            found("2024/d000/IMG_000007.NEF.xmp", 12, 16),
            hash(1 << 40),
        )],
        ..Default::default()
    };
    store.apply_photo_changes(&lib.root, &edited).await.unwrap();
    assert_eq!(drain(store).await, (1, 0));
    let edit = minus(store.plan_work(), before);
    assert_eq!(
        run_all(store).await.0,
        vec!["Trip/2024/d000/IMG_000007.NEF.xmp".to_owned()]
    );

    // Photo 9 removed: its copy and its sidecar's go; the sidecar's file
    // stays indexed, owned by nobody, and is not uploaded again.
    let before = store.plan_work();
    let removed = PhotoChanges {
        removed: vec![PhotoId(2 * 9 + 1)],
        ..Default::default()
    };
    store
        .apply_photo_changes(&lib.root, &removed)
        .await
        .unwrap();
    assert_eq!(drain(store).await, (0, 2));
    let removal = minus(store.plan_work(), before);
    assert_eq!(
        run_all(store).await.1,
        vec![
            "Trip/2024/d000/IMG_000009.NEF".to_owned(),
            "Trip/2024/d000/IMG_000009.NEF.xmp".to_owned()
        ]
    );
    assert_eq!(store.photo_count().await.unwrap(), n - 1);
    assert_eq!(
        store.collection("Trip").await.unwrap().total_bytes,
        (n - 1) * 1010 + 2
    );

    // A stem sidecar arrives for photo 11: it belongs to the raw.
    let before = store.plan_work();
    let added = PhotoChanges {
        added: vec![(found("2024/d000/IMG_000011.xmp", 5, 1 << 30), hash(1 << 41))],
        ..Default::default()
    };
    store.apply_photo_changes(&lib.root, &added).await.unwrap();
    assert_eq!(drain(store).await, (1, 0));
    let addition = minus(store.plan_work(), before);
    assert_eq!(
        run_all(store).await.0,
        vec!["Trip/2024/d000/IMG_000011.xmp".to_owned()]
    );
    assert_eq!(store.photo_count().await.unwrap(), n - 1);
    (edit, removal, addition)
}

#[tokio::test]
async fn sidecar_changes_cost_the_same_in_a_library_of_100_or_10000() {
    let small = work_of_changes(100).await;
    let large = work_of_changes(10_000).await;
    assert_eq!(
        small, large,
        "planning work per change grew with the library"
    );
    // And it is small: one group, a handful of rows, one transaction each.
    for work in [small.0, small.1, small.2] {
        assert!(
            work.groups <= 2 && work.rows <= 8 && work.transactions <= 2,
            "{work:?}"
        );
    }
}

/// `IMG_1.xmp` beside `IMG_1.jpg` belongs to the JPEG until a raw of the
/// stem arrives, then to the raw; and back when the raw goes.
#[tokio::test]
async fn a_stem_sidecar_moves_to_the_raw_and_back() {
    let lib = library(0).await;
    let store = &lib.store;
    let add = |files: Vec<(&str, u64)>| PhotoChanges {
        added: files
            .into_iter()
            .map(|(p, inode)| (found(p, 100, inode), hash(inode)))
            .collect(),
        ..Default::default()
    };
    store
        .apply_photo_changes(
            &lib.root,
            &add(vec![("a/IMG_1.jpg", 1), ("a/IMG_1.xmp", 2)]),
        )
        .await
        .unwrap();
    let (up, _) = settle(store).await;
    assert_eq!(up, ["Trip/a/IMG_1.jpg", "Trip/a/IMG_1.xmp"]);
    assert_eq!(store.collection("Trip").await.unwrap().total_bytes, 200);

    store
        .apply_photo_changes(&lib.root, &add(vec![("a/IMG_1.NEF", 3)]))
        .await
        .unwrap();
    let (up, down) = settle(store).await;
    // The xmp's key stays, and so do its bytes: its ledger row moves to
    // the raw's group (no transfer), so the JPEG's group lets it go and it
    // is neither deleted nor sent again.
    assert_eq!(up, ["Trip/a/IMG_1.NEF"], "{down:?}");
    assert!(down.is_empty(), "{down:?}");
    assert_eq!(store.photo_count().await.unwrap(), 2);
    assert_eq!(store.collection("Trip").await.unwrap().total_bytes, 300);

    // The raw goes: its copy is deleted, the xmp returns to the JPEG.
    store
        .apply_photo_changes(
            &lib.root,
            &PhotoChanges {
                removed: vec![PhotoId(3)],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let (up, down) = settle(store).await;
    assert_eq!(down, ["Trip/a/IMG_1.NEF"], "{up:?}");
    assert!(up.is_empty(), "{up:?}");
    assert_eq!(drain(store).await, (0, 0), "planning settles");
    assert_eq!(store.collection("Trip").await.unwrap().total_bytes, 200);
}

/// The owner of a sidecar not yet in the catalog (one new on a remote, to
/// be brought home) is the one the scanner would give it once indexed: the
/// exact photo for `N.NEF.xmp`, the raw of the stem for `N.xmp`, none for
/// a stem with no photo.
#[tokio::test]
async fn a_sidecar_not_yet_indexed_has_the_owner_it_will_have() {
    let lib = library(0).await;
    let store = &lib.store;
    let changes = PhotoChanges {
        added: [("a/IMG_1.jpg", 1), ("a/IMG_1.NEF", 2), ("a/IMG_2.jpg", 3)]
            .into_iter()
            .map(|(p, inode)| (found(p, 100, inode), hash(inode)))
            .collect(),
        ..Default::default()
    };
    store
        .apply_photo_changes(&lib.root, &changes)
        .await
        .unwrap();
    let rel = |p: &str| RelPath::from_bytes(p.as_bytes().to_vec());
    let owner = async |p: &str| {
        store
            .sidecar_owner(lib.root.id(), &rel(p))
            .await
            .unwrap()
            .map(|(_, path)| String::from_utf8(path.as_bytes().to_vec()).unwrap())
    };
    assert_eq!(
        owner("a/IMG_1.jpg.xmp").await.as_deref(),
        Some("a/IMG_1.jpg")
    );
    assert_eq!(owner("a/IMG_1.xmp").await.as_deref(), Some("a/IMG_1.NEF"));
    assert_eq!(owner("a/IMG_2.aae").await.as_deref(), Some("a/IMG_2.jpg"));
    assert_eq!(owner("a/IMG_3.xmp").await, None);
    assert_eq!(owner("b/IMG_1.xmp").await, None, "another folder");

    // Indexed, it gets that very owner.
    let xmp = PhotoChanges {
        added: vec![(found("a/IMG_1.xmp", 10, 4), hash(4))],
        ..Default::default()
    };
    store.apply_photo_changes(&lib.root, &xmp).await.unwrap();
    let raw = store
        .photo_at(lib.root.id(), &rel("a/IMG_1.NEF"))
        .await
        .unwrap()
        .unwrap();
    let (id, _) = store
        .sidecar_owner(lib.root.id(), &rel("a/IMG_1.xmp"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(id, raw.id);
}
