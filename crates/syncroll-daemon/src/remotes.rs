//! Opens the `Remote` backend for a remote the catalog knows, and keeps one
//! instance per remote.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use syncroll_core::store::RemoteRecord;
use syncroll_core::{RemoteId, Store};
use syncroll_remote::{FsRemote, Remote};

/// Settings of an `fs` remote, as stored in `remotes.settings_json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FsSettings {
    pub path: PathBuf,
}

/// Why a remote could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("remote {name:?} has kind {kind:?}, which this version of syncrolld cannot use")]
    UnknownKind { name: String, kind: String },
    #[error("remote {name:?} has unreadable settings: {source}")]
    Settings {
        name: String,
        #[source]
        source: serde_json::Error,
    },
    #[error(transparent)]
    Catalog(#[from] syncroll_core::Error),
}

/// Open remotes by id.
#[derive(Debug, Clone)]
pub struct Remotes {
    store: Store,
    open: Arc<Mutex<HashMap<RemoteId, Arc<dyn Remote>>>>,
}

impl Remotes {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            open: Arc::default(),
        }
    }

    /// The backend of remote `id`, opened on first use.
    pub async fn get(&self, id: RemoteId) -> Result<Arc<dyn Remote>, OpenError> {
        if let Some(remote) = self.open.lock().unwrap_or_else(|p| p.into_inner()).get(&id) {
            return Ok(remote.clone());
        }
        let record = self.store.remote(id).await?;
        let remote = open(&record)?;
        self.open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, remote.clone());
        Ok(remote)
    }

    /// Forgets an open backend (after the remote was removed).
    pub fn forget(&self, id: RemoteId) {
        self.open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
    }
}

/// Builds the backend a record describes.
pub fn open(record: &RemoteRecord) -> Result<Arc<dyn Remote>, OpenError> {
    match record.kind.as_str() {
        "fs" => {
            let settings: FsSettings =
                serde_json::from_str(&record.settings_json).map_err(|source| {
                    OpenError::Settings {
                        name: record.name.clone(),
                        source,
                    }
                })?;
            Ok(Arc::new(FsRemote::new(settings.path)))
        }
        kind => Err(OpenError::UnknownKind {
            name: record.name.clone(),
            kind: kind.to_owned(),
        }),
    }
}

/// Where a remote is, for people (no secrets).
pub fn location(record: &RemoteRecord) -> String {
    match open(record) {
        Ok(remote) => remote.describe(),
        Err(e) => e.to_string(),
    }
}

/// Writes, reads back and deletes a small object under `.syncroll/`, and
/// says what happened in words a user can act on.
pub async fn round_trip(remote: &dyn Remote) -> Result<String, String> {
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let key = format!(".syncroll/test-{}-{nonce}", std::process::id());
    let source = std::env::temp_dir().join(format!(
        "syncroll-remote-test-{}-{nonce}",
        std::process::id()
    ));
    let body = format!("syncroll remote test {nonce}\n");
    std::fs::write(&source, &body)
        .map_err(|e| format!("cannot write a local test file {}: {e}", source.display()))?;
    let progress = std::sync::atomic::AtomicU64::new(0);
    let cancel = tokio_util::sync::CancellationToken::new();
    let result = async {
        remote
            .put_file(&key, &source, &progress, &cancel)
            .await
            .map_err(|e| format!("write failed: {e}"))?;
        match remote.head(&key).await {
            Ok(Some(meta)) if meta.size == body.len() as u64 => {}
            Ok(Some(meta)) => {
                return Err(format!(
                    "read back {} bytes instead of {}",
                    meta.size,
                    body.len()
                ));
            }
            Ok(None) => return Err("the test object was written but cannot be found".to_owned()),
            Err(e) => return Err(format!("read failed: {e}")),
        }
        remote
            .delete(&key)
            .await
            .map_err(|e| format!("delete failed: {e}"))?;
        Ok(format!(
            "{}: write, read and delete of {key} worked",
            remote.describe()
        ))
    }
    .await;
    let _ = std::fs::remove_file(&source);
    result
}
