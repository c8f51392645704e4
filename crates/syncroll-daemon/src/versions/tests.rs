//! The version store against real files and a real catalog.

use std::path::Path;

use syncroll_core::ContentHash;
use syncroll_core::versions::{RetentionPolicy, VersionOrigin};

use super::*;

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    data_dir: PathBuf,
    versions: VersionStore,
}

async fn fixture(policy: RetentionPolicy) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("photos");
    let data_dir = dir.path().join("data");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(&data_dir).unwrap();
    let store = Store::open(&data_dir.join("catalog.sqlite")).await.unwrap();
    let versions = VersionStore::new(store, &data_dir, policy);
    versions.start().await.unwrap();
    Fixture {
        root: std::fs::canonicalize(&root).unwrap(),
        data_dir,
        versions,
        _dir: dir,
    }
}

fn edit(remote: &str) -> VersionOrigin {
    VersionOrigin::RemoteEdit {
        remote: remote.to_owned(),
    }
}

/// Writes `bytes` to a temporary beside `path`, as a download would.
fn download(path: &Path, bytes: &[u8]) -> PathBuf {
    let temp = path.with_file_name(".incoming.tmp");
    std::fs::write(&temp, bytes).unwrap();
    temp
}

fn blob_files(data_dir: &Path) -> usize {
    walkdir::WalkDir::new(data_dir.join(VERSIONS_DIR))
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .ends_with(blobs::BLOB_SUFFIX)
        })
        .count()
}

#[tokio::test]
async fn replace_with_keeps_the_old_bytes_then_swaps_the_new_ones_in() {
    let f = fixture(RetentionPolicy::default()).await;
    let photo = f.root.join("IMG_1.jpg");
    std::fs::write(&photo, b"original bytes").unwrap();
    std::fs::set_permissions(&photo, std::fs::Permissions::from_mode(0o640)).unwrap();

    let temp = download(&photo, b"edited remotely");
    let kept = f
        .versions
        .replace_with(&photo, &temp, edit("nas"))
        .await
        .unwrap()
        .expect("a version was kept");
    assert_eq!(std::fs::read(&photo).unwrap(), b"edited remotely");
    assert!(!temp.exists());
    assert_eq!(
        std::fs::metadata(&photo).unwrap().permissions().mode() & 0o777,
        0o640
    );
    assert_eq!(kept.number, 1);
    assert_eq!(kept.origin, "replaced by remote edit from nas");
    assert_eq!(kept.hash.0, *blake3::hash(b"original bytes").as_bytes());
    let blob = std::fs::read(
        f.data_dir
            .join(VERSIONS_DIR)
            .join(&kept.hash.to_hex()[..2])
            .join(format!("{}.blob", &kept.hash.to_hex()[2..])),
    )
    .unwrap();
    assert_eq!(blob, b"original bytes");

    // New bytes from another folder could not replace it atomically.
    let elsewhere = f.data_dir.join("incoming.tmp");
    std::fs::write(&elsewhere, b"from elsewhere").unwrap();
    let err = f
        .versions
        .replace_with(&photo, &elsewhere, edit("nas"))
        .await
        .unwrap_err();
    assert!(matches!(err, VersionError::TempElsewhere { .. }), "{err}");
    assert_eq!(std::fs::read(&photo).unwrap(), b"edited remotely");

    // A file that is not there yet just takes the temporary's place.
    let new_photo = f.root.join("IMG_2.jpg");
    let temp = download(&new_photo, b"brand new");
    assert!(
        f.versions
            .replace_with(&new_photo, &temp, edit("nas"))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(std::fs::read(&new_photo).unwrap(), b"brand new");
}

#[tokio::test]
async fn restore_brings_old_bytes_back_and_keeps_the_replaced_ones() {
    let f = fixture(RetentionPolicy::default()).await;
    let photo = f.root.join("IMG_1.jpg");
    std::fs::write(&photo, b"first").unwrap();
    std::fs::set_permissions(&photo, std::fs::Permissions::from_mode(0o640)).unwrap();
    let temp = download(&photo, b"second");
    f.versions
        .replace_with(&photo, &temp, edit("nas"))
        .await
        .unwrap();

    let restored = f.versions.restore(&photo, 1).await.unwrap();
    assert_eq!(std::fs::read(&photo).unwrap(), b"first");
    assert_eq!(restored.restored.number, 1);
    let kept = restored.kept.expect("the replaced bytes became a version");
    assert_eq!(kept.number, 2);
    assert_eq!(kept.origin, "replaced by restore of version 1");
    // The file keeps its permissions, and no temporary is left beside it.
    assert_eq!(
        std::fs::metadata(&photo).unwrap().permissions().mode() & 0o777,
        0o640
    );
    assert_eq!(std::fs::read_dir(&f.root).unwrap().count(), 1);

    // Restoring version 2 brings "second" back, byte for byte.
    f.versions.restore(&photo, 2).await.unwrap();
    assert_eq!(std::fs::read(&photo).unwrap(), b"second");
    let (_, listed) = f.versions.list(&photo).await.unwrap();
    let numbers: Vec<u64> = listed.iter().map(|v| v.number).collect();
    assert_eq!(numbers, [1, 2, 3]);
    // "first" is kept twice (versions 1 and 3) but stored once.
    assert_eq!(blob_files(&f.data_dir), 2);
    assert_eq!(f.versions.totals().await.unwrap().bytes, 11);
}

#[tokio::test]
async fn an_unknown_path_or_number_is_an_error_naming_it() {
    let f = fixture(RetentionPolicy::default()).await;
    let photo = f.root.join("IMG_1.jpg");
    std::fs::write(&photo, b"bytes").unwrap();
    // A file without versions lists none; a path that is nowhere is an error.
    assert!(f.versions.list(&photo).await.unwrap().1.is_empty());
    let gone = f.root.join("nope.jpg");
    let err = f.versions.list(&gone).await.unwrap_err();
    assert!(err.to_string().contains("nope.jpg"), "{err}");
    let err = f.versions.restore(&photo, 4).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "version 4 of {} does not exist (list its versions with `syncroll versions`)",
            photo.display()
        )
    );
    assert_eq!(std::fs::read(&photo).unwrap(), b"bytes");
}

#[tokio::test]
async fn retention_keeps_the_last_n_and_removes_a_blob_only_when_unreferenced() {
    let policy = RetentionPolicy {
        keep: 2,
        ..RetentionPolicy::default()
    };
    let f = fixture(policy).await;
    let (a, b) = (f.root.join("a.jpg"), f.root.join("b.jpg"));
    std::fs::write(&a, b"shared").unwrap();
    std::fs::write(&b, b"shared").unwrap();
    // b keeps "shared" once; a keeps "shared", then "a2", then "a3".
    f.versions.save(&b, edit("nas")).await.unwrap();
    for next in [b"a2".as_slice(), b"a3", b"a4"] {
        let temp = download(&a, next);
        f.versions
            .replace_with(&a, &temp, edit("nas"))
            .await
            .unwrap();
    }
    let (_, kept) = f.versions.list(&a).await.unwrap();
    let numbers: Vec<u64> = kept.iter().map(|v| v.number).collect();
    assert_eq!(numbers, [2, 3], "the last 2 of a's 3 versions");
    // a's version 1 ("shared") went, but b still references its blob.
    assert_eq!(blob_files(&f.data_dir), 3);
    let shared = ContentHash(*blake3::hash(b"shared").as_bytes());
    assert!(f.versions.inner.blobs.path_of(&shared).exists());

    // Once b's version goes too, so does the blob.
    let temp = download(&b, b"b2");
    f.versions
        .replace_with(&b, &temp, edit("nas"))
        .await
        .unwrap();
    let temp = download(&b, b"b3");
    f.versions
        .replace_with(&b, &temp, edit("nas"))
        .await
        .unwrap();
    let temp = download(&b, b"b4");
    f.versions
        .replace_with(&b, &temp, edit("nas"))
        .await
        .unwrap();
    assert!(!f.versions.inner.blobs.path_of(&shared).exists());
    assert_eq!(f.versions.totals().await.unwrap().versions, 4);
}

#[tokio::test]
async fn a_damaged_version_is_refused_and_the_file_left_as_it_is() {
    let f = fixture(RetentionPolicy::default()).await;
    let photo = f.root.join("IMG_1.jpg");
    std::fs::write(&photo, b"first").unwrap();
    let kept = f.versions.save(&photo, edit("nas")).await.unwrap();
    std::fs::write(&photo, b"now").unwrap();
    let blob = f.versions.inner.blobs.path_of(&kept.hash);
    std::fs::write(&blob, b"rot").unwrap();
    let err = f.versions.restore(&photo, 1).await.unwrap_err();
    assert!(matches!(err, VersionError::BlobDamaged { .. }), "{err}");
    assert_eq!(std::fs::read(&photo).unwrap(), b"now");
    assert_eq!(std::fs::read_dir(&f.root).unwrap().count(), 1);
    std::fs::remove_file(&blob).unwrap();
    let err = f.versions.restore(&photo, 1).await.unwrap_err();
    assert!(matches!(err, VersionError::BlobMissing { .. }), "{err}");
    assert_eq!(f.versions.list(&photo).await.unwrap().1.len(), 1);
}

#[tokio::test]
async fn a_folder_is_not_a_file_with_versions() {
    let f = fixture(RetentionPolicy::default()).await;
    let err = f.versions.save(&f.root, edit("nas")).await.unwrap_err();
    assert!(matches!(err, VersionError::NotAFile(_)), "{err}");
}

#[test]
fn a_file_written_to_after_its_bytes_were_kept_is_not_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let photo = dir.path().join("IMG_1.jpg");
    std::fs::write(&photo, b"kept").unwrap();
    let seen = stat_of(&std::fs::metadata(&photo).unwrap());
    std::fs::write(&photo, b"written since").unwrap();
    let temp = download(&photo, b"incoming");
    let err = swap_in(&photo, &temp, Some(seen)).unwrap_err();
    assert!(matches!(err, VersionError::ChangedMeanwhile(_)), "{err}");
    assert_eq!(std::fs::read(&photo).unwrap(), b"written since");
    // Nor is a file that appeared where there was none.
    let err = swap_in(&photo, &temp, None).unwrap_err();
    assert!(matches!(err, VersionError::ChangedMeanwhile(_)), "{err}");
    assert_eq!(std::fs::read(&photo).unwrap(), b"written since");
}
