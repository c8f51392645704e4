//! The catalog on a disk that fills up, on a real (small) tmpfs: writes
//! fail while it is full, and once space is freed every connection of the
//! pool writes again, without a restart. Before, a connection whose
//! transaction SQLite had rolled back on "disk full" stayed counted inside
//! it, and every later transaction on it failed until the daemon restarted.
//!
//! Needs root to mount (CI runs as root): a refused `mount` fails the test
//! saying so; it is never skipped.

use std::io::Write;
use std::path::Path;

use syncroll_core::reconcile::FoundFile;
use syncroll_core::root_identity::{self, FolderIdentity, FolderProbe, VerifiedRoot};
use syncroll_core::store::PhotoChanges;
use syncroll_core::{ContentHash, FileStat, RelPath, StorageFault, Store};
use syncroll_testkit::Mount;

/// The photos folder's identity; the store only compares it.
const FOLDER: FolderIdentity = FolderIdentity {
    device: 1,
    inode: 2,
};

/// `n` new photos from number `first` on, each with a distinct digest.
fn photos(first: u64, n: u64) -> PhotoChanges {
    let added = (first..first + n)
        .map(|i| {
            let file = FoundFile {
                rel_path: RelPath::from_bytes(format!("2024/IMG_{i:08}.jpg").into_bytes()),
                stat: FileStat {
                    size: 1000 + i,
                    mtime_ns: i as i64,
                    inode: i + 1,
                },
            };
            let mut digest = [0u8; 32];
            digest[..8].copy_from_slice(&i.to_le_bytes());
            (file, ContentHash(digest))
        })
        .collect();
    PhotoChanges {
        added,
        ..Default::default()
    }
}

/// Writes to `path` until the disk it is on is full.
fn fill(path: &Path) {
    let mut filler = std::fs::File::create(path).expect("creating the filler");
    let block = vec![0u8; 64 * 1024];
    loop {
        match filler.write_all(&block) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
            Err(e) => panic!("filling the disk: {e}"),
        }
    }
    let _ = filler.sync_all();
}

async fn root_of(store: &Store, folder: &Path) -> VerifiedRoot {
    let root = store.add_root(folder, FOLDER).await.unwrap();
    let present = FolderProbe::Present {
        identity: FOLDER,
        empty: false,
    };
    root_identity::verify(&root, &present, 0).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_work_again_once_a_full_disk_has_room() {
    let dir = tempfile::tempdir().unwrap();
    let disk = dir.path().join("disk");
    std::fs::create_dir(&disk).unwrap();
    let _mount = Mount::tmpfs_of(&disk, "4m");
    std::fs::create_dir(dir.path().join("photos")).unwrap();
    let store = Store::open(&disk.join("catalog.sqlite")).await.unwrap();
    let root = root_of(&store, &dir.path().join("photos")).await;
    store
        .apply_photo_changes(&root, &photos(0, 100))
        .await
        .unwrap();

    let filler = disk.join("filler");
    fill(&filler);
    let mut refused = 0;
    for batch in 1..=20 {
        if let Err(e) = store
            .apply_photo_changes(&root, &photos(batch * 1000, 500))
            .await
        {
            // What tells the daemon to pause sync rather than fail jobs.
            assert_eq!(e.storage_fault(), Some(StorageFault::Full), "{e}");
            refused += 1;
        }
    }
    assert!(refused > 0, "a full disk refused no write");
    // The probe the daemon tries while blocked fails the same way, even
    // when a small write might still fit in the WAL: the disk is full.
    let probed = store.probe_write().await;
    let backup = store.backup_into(&disk.join("backup.db")).await;
    assert!(
        backup
            .as_ref()
            .is_err_and(|e| e.storage_fault() == Some(StorageFault::Full)),
        "a backup on a full disk: {backup:?}"
    );

    std::fs::remove_file(&filler).unwrap();
    if let Err(e) = probed {
        assert!(e.is_storage_exhausted(), "{e}");
    }
    store
        .probe_write()
        .await
        .unwrap_or_else(|e| panic!("the probe once the disk had room again: {e}"));
    // More writes than the pool has connections, so each one serves.
    for batch in 100..112 {
        store
            .apply_photo_changes(&root, &photos(batch * 1000, 50))
            .await
            .unwrap_or_else(|e| panic!("a write once the disk had room again: {e}"));
    }
    store.close().await;
}
