//! Roots: the catalog folders.

use std::path::{Path, PathBuf};

use super::Store;
use crate::error::{DbContext, Error, Result};
use crate::types::{RelPath, Root, RootId, RootState, unix_now};

type RootRow = (i64, String, String, String, i64, i64, i64);

const SELECT_ROOTS: &str = "
    SELECT r.id, r.path, r.state, r.missing_reason, r.last_scan_at,
           (SELECT COUNT(*) FROM photos p WHERE p.root_id = r.id),
           (SELECT COALESCE(SUM(p.size), 0) FROM photos p WHERE p.root_id = r.id)
    FROM roots r";

/// Roots without their totals: what the scanner and the watcher need, at
/// no cost per photo (the totals scan every photo row).
const SELECT_ROOTS_BRIEF: &str = "
    SELECT r.id, r.path, r.state, r.missing_reason, r.last_scan_at, 0, 0 FROM roots r";

fn root_from_row((id, path, state, reason, last_scan_at, count, bytes): RootRow) -> Root {
    let state = match state.as_str() {
        "missing" => RootState::Missing { reason },
        _ => RootState::Online,
    };
    Root {
        id: RootId(id),
        path: PathBuf::from(path),
        state,
        photo_count: count as u64,
        total_bytes: bytes as u64,
        last_scan_at,
    }
}

impl Store {
    /// Adds a root at `path`, which the caller has made absolute and
    /// canonical. Roots may not nest: a photo must belong to one root only.
    pub async fn add_root(&self, path: &Path) -> Result<Root> {
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
        sqlx::query("INSERT INTO roots (path, added_at) VALUES (?, ?)")
            .bind(text)
            .bind(unix_now())
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
    pub async fn remove_root(&self, root: &Root) -> Result<u64> {
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
        sqlx::query("DELETE FROM roots WHERE id = ?")
            .bind(root.id.0)
            .execute(&self.pool)
            .await
            .db("removing a root")?;
        Ok(root.photo_count)
    }

    /// Records whether a root can be read now.
    pub async fn set_root_state(&self, id: RootId, state: &RootState) -> Result<()> {
        let reason = match state {
            RootState::Online => "",
            RootState::Missing { reason } => reason.as_str(),
        };
        sqlx::query("UPDATE roots SET state = ?, missing_reason = ? WHERE id = ?")
            .bind(state.as_str())
            .bind(reason)
            .bind(id.0)
            .execute(&self.pool)
            .await
            .db("updating a root's state")?;
        Ok(())
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
