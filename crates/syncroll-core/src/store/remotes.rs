//! Remotes as the catalog records them (non-secret settings only).

use super::Store;
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
