//! Remotes as the catalog records them (non-secret settings only).

use super::Store;
use crate::bandwidth::Limit;
use crate::error::{DbContext, Error, Result};
use crate::names::validate_name;
use crate::types::{RemoteId, unix_now};

impl Store {
    /// Makes sure a remote of this name exists, creating it with these
    /// settings if not. Used for the built-in `local` remote at start.
    pub async fn ensure_remote(
        &self,
        name: &str,
        kind: &str,
        settings_json: &str,
    ) -> Result<RemoteId> {
        validate_name("remote", name)?;
        sqlx::query(
            "INSERT INTO remotes (name, kind, settings_json, created_at) VALUES (?, ?, ?, ?)
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(kind)
        .bind(settings_json)
        .bind(unix_now())
        .execute(&self.pool)
        .await
        .db("creating a remote")?;
        self.remote_id(name).await
    }

    /// The id of the remote called `name`.
    pub async fn remote_id(&self, name: &str) -> Result<RemoteId> {
        let id: Option<i64> = sqlx::query_scalar("SELECT id FROM remotes WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .db("looking up a remote")?;
        id.map(RemoteId)
            .ok_or_else(|| Error::RemoteNotFound(name.to_owned()))
    }
}

/// A remote as the catalog records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteRecord {
    pub id: RemoteId,
    pub name: String,
    pub kind: String,
    /// Non-secret settings as JSON (`{"path": ...}` for `fs`).
    pub settings_json: String,
    pub collection_count: u64,
    /// The remote's own bandwidth limit (`remotes add --limit`), on top of
    /// the daemon's.
    pub limit: Option<Limit>,
}

impl Store {
    /// Every remote, by name.
    pub async fn remotes(&self) -> Result<Vec<RemoteRecord>> {
        type Row = (i64, String, String, String, i64, Option<String>);
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT r.id, r.name, r.kind, r.settings_json,
                    (SELECT COUNT(*) FROM collections c WHERE c.remote_id = r.id),
                    r.bandwidth_limit
             FROM remotes r ORDER BY r.name",
        )
        .fetch_all(&self.pool)
        .await
        .db("listing remotes")?;
        rows.into_iter()
            .map(|(id, name, kind, settings_json, n, limit)| {
                Ok(RemoteRecord {
                    id: RemoteId(id),
                    name,
                    kind,
                    settings_json,
                    collection_count: n as u64,
                    limit: limit.as_deref().map(Limit::parse).transpose()?,
                })
            })
            .collect()
    }

    /// The remote with this id.
    pub async fn remote(&self, id: RemoteId) -> Result<RemoteRecord> {
        self.remotes()
            .await?
            .into_iter()
            .find(|r| r.id == id)
            .ok_or_else(|| Error::RemoteNotFound(id.to_string()))
    }

    /// Adds a remote; its name must be new.
    pub async fn add_remote(
        &self,
        name: &str,
        kind: &str,
        settings_json: &str,
        limit: Option<Limit>,
    ) -> Result<RemoteRecord> {
        validate_name("remote", name)?;
        let done = sqlx::query(
            "INSERT INTO remotes (name, kind, settings_json, created_at, bandwidth_limit)
             VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(kind)
        .bind(settings_json)
        .bind(unix_now())
        .bind(limit.map(|l| l.to_string()))
        .execute(&self.pool)
        .await
        .db("adding a remote")?;
        if done.rows_affected() == 0 {
            return Err(Error::RemoteExists(name.to_owned()));
        }
        let id = self.remote_id(name).await?;
        self.remote(id).await
    }

    /// Removes a remote no collection uses. The ledger of what syncroll put
    /// there goes with it; the objects themselves are left alone.
    pub async fn remove_remote(&self, name: &str) -> Result<()> {
        let id = self.remote_id(name).await?;
        let users: Vec<String> =
            sqlx::query_scalar("SELECT name FROM collections WHERE remote_id = ? ORDER BY name")
                .bind(id.0)
                .fetch_all(&self.pool)
                .await
                .db("checking collections")?;
        if !users.is_empty() {
            return Err(Error::RemoteInUse {
                name: name.to_owned(),
                collections: users.join(", "),
            });
        }
        sqlx::query("DELETE FROM remotes WHERE id = ?")
            .bind(id.0)
            .execute(&self.pool)
            .await
            .db("removing a remote")?;
        Ok(())
    }
}
