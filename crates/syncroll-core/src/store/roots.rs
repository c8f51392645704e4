//! Roots: the catalog folders.

use std::path::{Path, PathBuf};

use super::Store;
use super::holds::CopiesOfRoot;
use crate::error::{DbContext, Error, Result};
use crate::events::EventKind;
use crate::root_identity::{FolderIdentity, MissingReason, VerifiedRoot};
use crate::types::{RelPath, Root, RootId, RootState, unix_now};

type RootRow = (
    i64,
    String,
    String,
    String,
    i64,
    Option<i64>,
    Option<i64>,
    i64,
    i64,
);

const SELECT_ROOTS: &str = "
    SELECT r.id, r.path, r.state, r.missing_reason, r.last_scan_at, r.device, r.inode,
           COALESCE(t.photos, 0), COALESCE(t.bytes, 0)
    FROM roots r LEFT JOIN root_tallies t ON t.root_id = r.id";

/// Roots without their totals: what the scanner and the watcher need, at
/// no cost per photo (the totals scan every photo row).
const SELECT_ROOTS_BRIEF: &str = "
    SELECT r.id, r.path, r.state, r.missing_reason, r.last_scan_at, r.device, r.inode, 0, 0
    FROM roots r";

fn root_from_row(
    (id, path, state, reason, last_scan_at, device, inode, count, bytes): RootRow,
) -> Root {
    let state = match state.as_str() {
        "missing" => RootState::Missing { reason },
        _ => RootState::Online,
    };
    // Unsigned values kept bit for bit in SQLite's signed integers.
    let identity = device.zip(inode).map(|(device, inode)| FolderIdentity {
        device: device as u64,
        inode: inode as u64,
    });
    Root {
        id: RootId(id),
        path: PathBuf::from(path),
        state,
        identity,
        photo_count: count as u64,
        total_bytes: bytes as u64,
        last_scan_at,
    }
}

impl Store {
    /// Adds a root at `path`, which the caller has made absolute and
    /// canonical, whose folder has `identity` now. Roots may not nest: a
    /// photo must belong to one root only.
    pub async fn add_root(&self, path: &Path, identity: FolderIdentity) -> Result<Root> {
        let text = path
            .to_str()
            .ok_or_else(|| Error::NonUtf8Root(path.to_path_buf()))?;
        for other in self.roots_brief().await? {
            if other.path == path {
                return Err(Error::RootExists(path.to_path_buf()));
            }
            if other.path.starts_with(path) || path.starts_with(&other.path) {
                return Err(Error::RootOverlaps {
                    path: path.to_path_buf(),
                    other: other.path,
                });
            }
        }
        sqlx::query("INSERT INTO roots (path, added_at, device, inode) VALUES (?, ?, ?, ?)")
            .bind(text)
            .bind(unix_now())
            .bind(identity.device as i64)
            .bind(identity.inode as i64)
            .execute(&self.pool)
            .await
            .db("adding a root")?;
        self.root_by_path(path).await
    }

    /// Every root, ordered by path, with zero totals; cheap enough to call
    /// on every scan.
    pub async fn roots_brief(&self) -> Result<Vec<Root>> {
        let rows: Vec<RootRow> = sqlx::query_as(&format!("{SELECT_ROOTS_BRIEF} ORDER BY r.path"))
            .fetch_all(&self.pool)
            .await
            .db("listing roots")?;
        Ok(rows.into_iter().map(root_from_row).collect())
    }

    /// Every root with its totals, ordered by path.
    pub async fn roots(&self) -> Result<Vec<Root>> {
        let rows: Vec<RootRow> = sqlx::query_as(&format!("{SELECT_ROOTS} ORDER BY r.path"))
            .fetch_all(&self.pool)
            .await
            .db("listing roots")?;
        Ok(rows.into_iter().map(root_from_row).collect())
    }

    /// The root stored under exactly `path`.
    pub async fn root_by_path(&self, path: &Path) -> Result<Root> {
        let text = path.to_string_lossy();
        let row: Option<RootRow> = sqlx::query_as(&format!("{SELECT_ROOTS} WHERE r.path = ?"))
            .bind(text.as_ref())
            .fetch_optional(&self.pool)
            .await
            .db("looking up a root")?;
        row.map(root_from_row)
            .ok_or_else(|| Error::RootNotFound(path.to_path_buf()))
    }

    /// The root holding `path` (absolute) and the path relative to it.
    pub async fn locate(&self, path: &Path) -> Result<(Root, RelPath)> {
        self.roots_brief()
            .await?
            .into_iter()
            .find_map(|root| RelPath::from_child(&root.path, path).map(|rel| (root, rel)))
            .ok_or_else(|| Error::OutsideRoots(path.to_path_buf()))
    }

    /// Forgets a root and every photo in it (the files are not touched).
    /// Refused while a folder collection follows a folder in it.
    pub async fn remove_root(&self, root: &Root, confirmed: &[CopiesOfRoot]) -> Result<u64> {
        let followers: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM collections WHERE folder_root_id = ? ORDER BY name",
        )
        .bind(root.id.0)
        .fetch_all(&self.pool)
        .await
        .db("checking folder collections")?;
        if !followers.is_empty() {
            return Err(Error::RootInUse {
                root: root.path.clone(),
                collections: followers
                    .iter()
                    .map(|n| format!("{n:?}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .db("starting a transaction")?;
        super::holds::allow_deletions(&mut tx, confirmed, super::jobs::now_ms()).await?;
        sqlx::query("DELETE FROM roots WHERE id = ?")
            .bind(root.id.0)
            .execute(&mut *tx)
            .await
            .db("removing a root")?;
        tx.commit().await.db("committing a root's removal")?;
        Ok(root.photo_count)
    }

    /// Sets a root online, which only a verified folder can do, and records
    /// the folder's identity if the root had none yet. A root that was
    /// missing tells the event feed it is back.
    pub async fn set_root_online(&self, root: &VerifiedRoot) -> Result<()> {
        let identity = root.identity();
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .db("starting a transaction")?;
        let was = root_state(&mut tx, root.id()).await?;
        sqlx::query(
            "UPDATE roots SET state = 'online', missing_reason = '',
                 device = CASE WHEN ?1 THEN ?2 ELSE device END,
                 inode = CASE WHEN ?1 THEN ?3 ELSE inode END
             WHERE id = ?4",
        )
        .bind(root.records_identity())
        .bind(identity.device as i64)
        .bind(identity.inode as i64)
        .bind(root.id().0)
        .execute(&mut *tx)
        .await
        .db("setting a root online")?;
        let back = match was {
            Some((path, state)) if state == "missing" => Some(EventKind::RootBack { path }),
            _ => None,
        };
        self.commit_root_change(tx, back).await
    }

    /// Marks a root missing, saying why; its photos are kept. A root that
    /// was online tells the event feed it is missing.
    pub async fn set_root_missing(&self, id: RootId, reason: &MissingReason) -> Result<()> {
        let reason = reason.to_string();
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .db("starting a transaction")?;
        let was = root_state(&mut tx, id).await?;
        sqlx::query("UPDATE roots SET state = 'missing', missing_reason = ? WHERE id = ?")
            .bind(&reason)
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .db("marking a root missing")?;
        let missing = match was {
            Some((path, state)) if state != "missing" => {
                Some(EventKind::RootMissing { path, reason })
            }
            _ => None,
        };
        self.commit_root_change(tx, missing).await
    }

    /// Commits a root's new state with the event it makes, if any.
    async fn commit_root_change(
        &self,
        mut tx: sqlx::Transaction<'_, sqlx::Sqlite>,
        event: Option<EventKind>,
    ) -> Result<()> {
        if let Some(event) = &event {
            super::events::append(&mut tx, event).await?;
        }
        tx.commit().await.db("committing a root's state")?;
        if event.is_some() {
            self.announce_events();
        }
        Ok(())
    }

    /// Takes `identity` as the root's folder from now on (`roots accept`:
    /// a disk that was really replaced). The state is left to the scan that
    /// follows, which verifies the folder against it.
    pub async fn accept_root_identity(&self, id: RootId, identity: FolderIdentity) -> Result<()> {
        sqlx::query("UPDATE roots SET device = ?, inode = ? WHERE id = ?")
            .bind(identity.device as i64)
            .bind(identity.inode as i64)
            .bind(id.0)
            .execute(&self.pool)
            .await
            .db("recording a root's identity")?;
        Ok(())
    }

    /// How many photos the catalog holds for one root.
    pub async fn root_photo_count(&self, id: RootId) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM photos WHERE root_id = ?")
            .bind(id.0)
            .fetch_one(&self.pool)
            .await
            .db("counting a root's photos")?;
        Ok(n as u64)
    }

    /// Records that a full scan of the root finished now.
    pub async fn mark_root_scanned(&self, id: RootId) -> Result<()> {
        sqlx::query("UPDATE roots SET last_scan_at = ? WHERE id = ?")
            .bind(unix_now())
            .bind(id.0)
            .execute(&self.pool)
            .await
            .db("recording a finished scan")?;
        Ok(())
    }
}

/// A root's path and state, read in the transaction that changes it.
async fn root_state(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    id: RootId,
) -> Result<Option<(String, String)>> {
    sqlx::query_as("SELECT path, state FROM roots WHERE id = ?")
        .bind(id.0)
        .fetch_optional(&mut **tx)
        .await
        .db("reading a root's state")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::FoundFile;
    use crate::root_identity::{FolderProbe, verify};
    use crate::store::PhotoChanges;
    use crate::types::{ContentHash, FileStat};

    const ADDED: FolderIdentity = FolderIdentity {
        device: 40,
        inode: 1,
    };

    async fn store_with_root() -> (tempfile::TempDir, Store, Root) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("c.sqlite")).await.unwrap();
        let root = store
            .add_root(&dir.path().join("photos"), ADDED)
            .await
            .unwrap();
        (dir, store, root)
    }

    fn present(identity: FolderIdentity) -> FolderProbe {
        FolderProbe::Present {
            identity,
            empty: false,
        }
    }

    fn one_photo(name: &str) -> PhotoChanges {
        let file = FoundFile {
            rel_path: RelPath::from_bytes(name.as_bytes().to_vec()),
            stat: FileStat {
                size: 1,
                mtime_ns: 1,
                inode: 7,
            },
        };
        PhotoChanges {
            added: vec![(file, ContentHash([1; 32]))],
            ..PhotoChanges::default()
        }
    }

    #[tokio::test]
    async fn a_root_records_the_identity_it_was_added_with() {
        let (_dir, store, root) = store_with_root().await;
        assert_eq!(root.identity, Some(ADDED));
        assert_eq!(store.roots_brief().await.unwrap()[0].identity, Some(ADDED));
    }

    #[tokio::test]
    async fn a_root_from_before_identities_takes_the_first_non_empty_folder() {
        let (_dir, store, root) = store_with_root().await;
        sqlx::query("UPDATE roots SET device = NULL, inode = NULL")
            .execute(&store.pool)
            .await
            .unwrap();
        let legacy = store.root_by_path(&root.path).await.unwrap();
        assert_eq!(legacy.identity, None);
        let verified = verify(&legacy, &present(ADDED), 0).unwrap();
        store.set_root_online(&verified).await.unwrap();
        assert_eq!(
            store.root_by_path(&root.path).await.unwrap().identity,
            Some(ADDED)
        );
    }

    #[tokio::test]
    async fn photo_rows_of_a_root_marked_missing_since_its_check_are_left_alone() {
        let (_dir, store, root) = store_with_root().await;
        let verified = verify(&root, &present(ADDED), 0).unwrap();
        store
            .apply_photo_changes(&verified, &one_photo("a.jpg"))
            .await
            .unwrap();
        store
            .set_root_missing(root.id, &MissingReason::Absent)
            .await
            .unwrap();
        let refused = store
            .apply_photo_changes(&verified, &one_photo("b.jpg"))
            .await
            .unwrap_err();
        assert!(matches!(refused, Error::RootNotVerified(_)), "{refused}");
        assert_eq!(store.root_photo_count(root.id).await.unwrap(), 1);
    }

    #[tokio::test]
    async fn photo_rows_are_left_alone_once_another_folder_was_accepted() {
        let (_dir, store, root) = store_with_root().await;
        let verified = verify(&root, &present(ADDED), 0).unwrap();
        let replaced = FolderIdentity {
            device: 41,
            inode: 1,
        };
        store.accept_root_identity(root.id, replaced).await.unwrap();
        let refused = store
            .apply_photo_changes(&verified, &one_photo("a.jpg"))
            .await
            .unwrap_err();
        assert!(matches!(refused, Error::RootNotVerified(_)), "{refused}");
    }
}
