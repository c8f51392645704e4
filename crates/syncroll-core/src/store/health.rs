//! The catalog's own health: the integrity check at open, the write probe
//! that tells whether the disk under it takes writes again, and online
//! backups.

use std::path::Path;

use super::Store;
use crate::error::{DbContext, Error, Result};

/// The `settings` row the write probe rewrites.
const PROBE: &str = "data_dir_probe";
/// The most problems `quick_check` lists; the first few say enough.
const CHECK_REPORTED: usize = 5;

impl Store {
    /// `PRAGMA quick_check`: the b-trees' structure and the records' format,
    /// without matching indexes to their tables (the full `integrity_check`
    /// is several times slower). A damaged file is [`Error::CatalogDamaged`].
    pub(super) async fn quick_check(&self, path: &Path) -> Result<()> {
        let damaged = |detail: String| Error::CatalogDamaged {
            path: path.to_path_buf(),
            detail,
        };
        let rows: Vec<String> =
            sqlx::query_scalar(&format!("PRAGMA quick_check({CHECK_REPORTED})"))
                .fetch_all(&self.pool)
                .await
                .db("checking the catalog")
                .map_err(|e| match e.is_corruption() {
                    true => damaged(e.to_string()),
                    false => e,
                })?;
        if rows.len() == 1 && rows[0] == "ok" {
            return Ok(());
        }
        Err(damaged(rows.join("; ")))
    }

    /// Writes one small row in a transaction of its own: succeeds only when
    /// the catalog can be written (its disk neither full nor read-only).
    pub async fn probe_write(&self) -> Result<()> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .db("starting the write probe")?;
        sqlx::query(
            "INSERT INTO settings (name, value) VALUES (?1, ?2)
             ON CONFLICT (name) DO UPDATE SET value = ?2",
        )
        .bind(PROBE)
        .bind(super::now_ms().to_string())
        .execute(&mut *tx)
        .await
        .db("writing the probe")?;
        tx.commit().await.db("committing the probe")?;
        Ok(())
    }

    /// Writes a consistent copy of the catalog to `target` (`VACUUM INTO`,
    /// a read transaction: writers go on meanwhile in WAL mode). `target`
    /// must not exist or be empty; the caller syncs and renames it.
    pub async fn backup_into(&self, target: &Path) -> Result<()> {
        let target = target.to_str().ok_or_else(|| Error::InvalidPath {
            path: target.display().to_string(),
            reason: "a backup path must be UTF-8",
        })?;
        sqlx::query("VACUUM INTO ?")
            .bind(target)
            .execute(&self.pool)
            .await
            .db("writing a backup")?;
        Ok(())
    }
}
