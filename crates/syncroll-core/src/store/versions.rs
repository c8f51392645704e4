//! The version store's rows (see [`crate::versions`]): which bytes were
//! kept for which file, numbered per file. The daemon writes a row only
//! once the bytes are durable in its blob store, and deletes a blob only
//! when [`Store::drop_versions`] says no row references it any more.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::Store;
use super::jobs::now_ms;
use crate::error::{DbContext, Error, Result};
use crate::types::ContentHash;
use crate::versions::{Version, VersionFileId, VersionId, VersionRef};

/// A version about to be recorded: its bytes are already in the blob store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewVersion<'a> {
    /// The file's absolute path.
    pub path: &'a Path,
    pub hash: ContentHash,
    pub size: u64,
    pub mtime_ns: i64,
    pub origin: String,
}

/// How much the version store holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VersionTotals {
    pub versions: u64,
    /// Bytes of the distinct blobs (versions sharing bytes count once).
    pub bytes: u64,
}

type VersionRow = (i64, i64, i64, Vec<u8>, i64, i64, i64, String);

const VERSION_COLUMNS: &str =
    "SELECT id, file_id, number, blake3, size, mtime_ns, created_at, origin FROM versions";

fn hash_of(bytes: &[u8]) -> ContentHash {
    let mut digest = [0u8; 32];
    if bytes.len() == 32 {
        digest.copy_from_slice(bytes);
    }
    ContentHash(digest)
}

fn version_of(row: VersionRow) -> Version {
    let (id, file, number, hash, size, mtime_ns, created_at_ms, origin) = row;
    Version {
        id: VersionId(id),
        file: VersionFileId(file),
        number: number as u64,
        hash: hash_of(&hash),
        size: size as u64,
        mtime_ns,
        created_at_ms,
        origin,
    }
}

impl Store {
    /// Records a version of `new.path`, numbered one past the file's last
    /// (even one retention dropped), in one transaction.
    pub async fn add_version(&self, new: NewVersion<'_>) -> Result<Version> {
        let path = new.path.as_os_str().as_bytes();
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .db("beginning to record a version")?;
        let (file_id, number): (i64, i64) = sqlx::query_as(
            "INSERT INTO version_files (path, last_number) VALUES (?, 1)
             ON CONFLICT (path) DO UPDATE SET last_number = last_number + 1
             RETURNING id, last_number",
        )
        .bind(path)
        .fetch_one(&mut *tx)
        .await
        .db("numbering a version")?;
        let row: VersionRow = sqlx::query_as(
            "INSERT INTO versions (file_id, number, blake3, size, mtime_ns, created_at, origin)
             VALUES (?, ?, ?, ?, ?, ?, ?)
             RETURNING id, file_id, number, blake3, size, mtime_ns, created_at, origin",
        )
        .bind(file_id)
        .bind(number)
        .bind(&new.hash.0[..])
        .bind(new.size as i64)
        .bind(new.mtime_ns)
        .bind(now_ms())
        .bind(&new.origin)
        .fetch_one(&mut *tx)
        .await
        .db("recording a version")?;
        tx.commit().await.db("committing a version")?;
        Ok(version_of(row))
    }

    /// The versions of the file at `path`, oldest first; `None` when it
    /// never had one.
    pub async fn versions_of(&self, path: &Path) -> Result<Option<Vec<Version>>> {
        let file: Option<i64> = sqlx::query_scalar("SELECT id FROM version_files WHERE path = ?")
            .bind(path.as_os_str().as_bytes())
            .fetch_optional(&self.pool)
            .await
            .db("finding a file's versions")?;
        let Some(file) = file else {
            return Ok(None);
        };
        let rows: Vec<VersionRow> = sqlx::query_as(&format!(
            "{VERSION_COLUMNS} WHERE file_id = ? ORDER BY number"
        ))
        .bind(file)
        .fetch_all(&self.pool)
        .await
        .db("listing a file's versions")?;
        Ok(Some(rows.into_iter().map(version_of).collect()))
    }

    /// Version `number` of the file at `path`.
    pub async fn version(&self, path: &Path, number: u64) -> Result<Version> {
        let row: Option<VersionRow> = sqlx::query_as(&format!(
            "{VERSION_COLUMNS} WHERE number = ?
             AND file_id = (SELECT id FROM version_files WHERE path = ?)"
        ))
        .bind(i64::try_from(number).unwrap_or(i64::MAX))
        .bind(path.as_os_str().as_bytes())
        .fetch_optional(&self.pool)
        .await
        .db("finding a version")?;
        row.map(version_of).ok_or_else(|| Error::VersionNotFound {
            path: path.to_path_buf(),
            number,
        })
    }

    /// Every version, without its origin text: what retention decides on.
    pub async fn version_refs(&self) -> Result<Vec<VersionRef>> {
        let rows: Vec<(i64, i64, i64, Vec<u8>, i64, i64)> = sqlx::query_as(
            "SELECT id, file_id, number, blake3, size, created_at FROM versions ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await
        .db("reading the version store")?;
        Ok(rows
            .into_iter()
            .map(|(id, file, number, hash, size, created_at_ms)| VersionRef {
                id: VersionId(id),
                file: VersionFileId(file),
                number: number as u64,
                hash: hash_of(&hash),
                size: size as u64,
                created_at_ms,
            })
            .collect())
    }

    /// Deletes the rows of `ids` in one transaction and returns the hashes
    /// that no version references any more: their blobs may go.
    pub async fn drop_versions(&self, ids: &[VersionId]) -> Result<Vec<ContentHash>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .db("beginning to drop versions")?;
        let mut candidates = Vec::new();
        for id in ids {
            let hash: Option<Vec<u8>> =
                sqlx::query_scalar("DELETE FROM versions WHERE id = ? RETURNING blake3")
                    .bind(id.0)
                    .fetch_optional(&mut *tx)
                    .await
                    .db("dropping a version")?;
            candidates.extend(hash);
        }
        candidates.sort();
        candidates.dedup();
        let mut unreferenced = Vec::new();
        for hash in candidates {
            let referenced: bool =
                sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM versions WHERE blake3 = ?)")
                    .bind(&hash)
                    .fetch_one(&mut *tx)
                    .await
                    .db("checking a version's bytes")?;
            if !referenced {
                unreferenced.push(hash_of(&hash));
            }
        }
        tx.commit().await.db("committing dropped versions")?;
        Ok(unreferenced)
    }

    /// Whether any version references the bytes `hash`.
    pub async fn version_blob_referenced(&self, hash: &ContentHash) -> Result<bool> {
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM versions WHERE blake3 = ?)")
            .bind(&hash.0[..])
            .fetch_one(&self.pool)
            .await
            .db("checking a version's bytes")
    }

    /// The number of versions and the bytes of their distinct blobs.
    pub async fn version_totals(&self) -> Result<VersionTotals> {
        let (versions, bytes): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM versions),
                    (SELECT COALESCE(SUM(size), 0) FROM
                        (SELECT MAX(size) AS size FROM versions GROUP BY blake3))",
        )
        .fetch_one(&self.pool)
        .await
        .db("counting the version store")?;
        Ok(VersionTotals {
            versions: versions as u64,
            bytes: bytes as u64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::store::temp_store as store;

    fn new(path: &Path, blob: u8, size: u64) -> NewVersion<'_> {
        NewVersion {
            path,
            hash: ContentHash([blob; 32]),
            size,
            mtime_ns: 7,
            origin: "replaced by restore of version 1".to_owned(),
        }
    }

    #[tokio::test]
    async fn versions_are_numbered_per_file_and_numbers_are_never_reused() {
        let (_dir, store) = store().await;
        let (a, b) = (Path::new("/photos/a.jpg"), Path::new("/photos/b.jpg"));
        assert_eq!(store.add_version(new(a, 1, 10)).await.unwrap().number, 1);
        assert_eq!(store.add_version(new(a, 2, 10)).await.unwrap().number, 2);
        assert_eq!(store.add_version(new(b, 3, 10)).await.unwrap().number, 1);
        let second = store.version(a, 2).await.unwrap();
        store.drop_versions(&[second.id]).await.unwrap();
        assert_eq!(store.add_version(new(a, 4, 10)).await.unwrap().number, 3);
        let numbers: Vec<u64> = store
            .versions_of(a)
            .await
            .unwrap()
            .unwrap()
            .iter()
            .map(|v| v.number)
            .collect();
        assert_eq!(numbers, [1, 3]);
        assert!(
            store
                .versions_of(Path::new("/nope"))
                .await
                .unwrap()
                .is_none()
        );
        assert!(matches!(
            store.version(a, 2).await,
            Err(Error::VersionNotFound { number: 2, .. })
        ));
    }

    #[tokio::test]
    async fn a_blob_is_unreferenced_only_when_its_last_version_is_dropped() {
        let (_dir, store) = store().await;
        let (a, b) = (Path::new("/photos/a.jpg"), Path::new("/photos/b.jpg"));
        let first = store.add_version(new(a, 9, 100)).await.unwrap();
        let shared = store.add_version(new(b, 9, 100)).await.unwrap();
        store.add_version(new(b, 2, 50)).await.unwrap();
        assert_eq!(
            store.version_totals().await.unwrap(),
            VersionTotals {
                versions: 3,
                bytes: 150
            }
        );
        assert!(store.drop_versions(&[first.id]).await.unwrap().is_empty());
        assert!(
            store
                .version_blob_referenced(&ContentHash([9; 32]))
                .await
                .unwrap()
        );
        assert_eq!(
            store.drop_versions(&[shared.id]).await.unwrap(),
            [ContentHash([9; 32])]
        );
        assert!(
            !store
                .version_blob_referenced(&ContentHash([9; 32]))
                .await
                .unwrap()
        );
        assert_eq!(store.version_totals().await.unwrap().bytes, 50);
    }
}
