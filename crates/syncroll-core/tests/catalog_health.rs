//! The catalog's health at open and its backups: a damaged file is refused
//! as damaged (so the daemon can say how to restore it), a backup is a
//! whole catalog, and the errors of a disk that refuses writes are told
//! apart from the others.

use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::str::FromStr;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};
use syncroll_core::root_identity::FolderIdentity;
use syncroll_core::{Error, StorageFault, Store};

const FOLDER: FolderIdentity = FolderIdentity {
    device: 1,
    inode: 2,
};

/// A catalog with a few dozen roots, so it spans several pages.
async fn catalog(path: &Path) -> Store {
    let store = Store::open(path).await.unwrap();
    for i in 0..200 {
        let folder = format!("/photos/{i:04}/{}", "x".repeat(100));
        store.add_root(Path::new(&folder), FOLDER).await.unwrap();
    }
    store
}

#[tokio::test]
async fn a_catalog_with_damaged_pages_is_refused_as_damaged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.sqlite");
    catalog(&path).await.close().await;
    // A clean close leaves no WAL, so the damage below is in the file
    // itself; the last handle may still be letting go on its own thread.
    let wal = dir.path().join("catalog.sqlite-wal");
    syncroll_testkit::wait_until_async(syncroll_testkit::EVENT_TIMEOUT, "the WAL to go", || {
        if wal.exists() {
            Err("still there")
        } else {
            Ok(())
        }
    })
    .await;

    const PAGE: u64 = 4096;
    let pages = std::fs::metadata(&path).unwrap().len() / PAGE;
    assert!(pages >= 8, "{pages} pages");
    let mut file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    for page in pages / 4..pages * 3 / 4 {
        file.seek(SeekFrom::Start(page * PAGE)).unwrap();
        file.write_all(&[0xA5; 64]).unwrap();
    }
    drop(file);

    match Store::open(&path).await {
        Err(Error::CatalogDamaged {
            path: named,
            detail,
        }) => {
            assert_eq!(named, path);
            assert!(!detail.is_empty());
        }
        other => panic!("a damaged catalog opened as {other:?}"),
    }
}

#[tokio::test]
async fn a_file_that_is_no_database_is_refused_as_damaged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.sqlite");
    std::fs::write(&path, vec![0x5A; 64 * 1024]).unwrap();
    let opened = Store::open(&path).await;
    assert!(
        matches!(opened, Err(Error::CatalogDamaged { .. })),
        "{opened:?}"
    );
}

#[tokio::test]
async fn a_backup_is_a_whole_catalog_that_opens_and_checks() {
    let dir = tempfile::tempdir().unwrap();
    let store = catalog(&dir.path().join("catalog.sqlite")).await;
    let backup = dir.path().join("backup.db");
    store.backup_into(&backup).await.unwrap();
    // Writers go on after the backup; it holds what was there.
    store
        .add_root(Path::new("/photos/later"), FOLDER)
        .await
        .unwrap();
    store.close().await;

    let restored = Store::open(&backup).await.unwrap();
    assert_eq!(restored.roots().await.unwrap().len(), 200);
    restored.close().await;
}

#[tokio::test]
async fn a_write_to_a_read_only_catalog_is_a_storage_fault() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.sqlite");
    Store::open(&path).await.unwrap().close().await;
    let mut conn = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
        .unwrap()
        .read_only(true)
        .connect()
        .await
        .unwrap();
    let source = sqlx::query("INSERT INTO settings (name, value) VALUES ('x', 'y')")
        .execute(&mut conn)
        .await
        .unwrap_err();
    conn.close().await.unwrap();
    let error = Error::Database {
        action: "writing",
        source,
    };
    assert_eq!(
        error.storage_fault(),
        Some(StorageFault::ReadOnly),
        "{error}"
    );

    let other = Error::JobNotFound(1);
    assert_eq!(other.storage_fault(), None);
}
