//! Opens the `Remote` backend for a remote the catalog knows, and keeps one
//! instance per remote.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use syncroll_core::store::RemoteRecord;
use syncroll_core::{RemoteId, Store};
use syncroll_remote::{
    FsRemote, Remote, RemoteError, S3Remote, S3Settings, Secret, Throttle, TransferBudget,
    WebDavRemote, WebDavSettings,
};

use crate::bandwidth::Bandwidth;
use crate::config::RemotesConfig;
use crate::credentials::Credentials;

/// Settings of an `fs` remote, as stored in `remotes.settings_json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FsSettings {
    pub path: PathBuf,
}

/// Settings of an `s3` remote, as stored in `remotes.settings_json` (the
/// secret is in the credentials file). The planner puts `prefix` in front of
/// every key, so the backend itself is opened without one.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct S3Json {
    pub endpoint: String,
    pub bucket: String,
    pub region: String,
    #[serde(default)]
    pub prefix: String,
    pub access_key_id: String,
}

/// Settings of a `webdav` remote, as stored in `remotes.settings_json` (the
/// password is in the credentials file). Like S3's, the prefix is the
/// planner's.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WebDavJson {
    pub url: String,
    #[serde(default)]
    pub prefix: String,
    #[serde(default)]
    pub user: String,
    /// The server's folder ETags change with anything below them, so a
    /// poll may skip a folder whose ETag it saw before (`--folder-etags`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub folder_etags: bool,
}

/// A remote to add, as the user described it.
#[derive(Debug, Clone)]
pub struct NewRemote {
    pub name: String,
    pub kind: String,
    pub path: String,
    pub endpoint: String,
    pub bucket: String,
    pub region: String,
    pub prefix: String,
    pub access_key_id: String,
    pub url: String,
    pub user: String,
    pub folder_etags: bool,
    pub secret: Secret,
    /// `--limit`, as the user wrote it.
    pub limit: Option<String>,
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
    #[error("remote {name:?}: {source}")]
    Backend {
        name: String,
        #[source]
        source: RemoteError,
    },
}

/// Open remotes by id.
#[derive(Debug, Clone)]
pub struct Remotes {
    store: Store,
    credentials: Credentials,
    config: RemotesConfig,
    open: Arc<Mutex<HashMap<RemoteId, Arc<dyn Remote>>>>,
    /// One memory budget for the uploads of every remote.
    budget: TransferBudget,
    /// The daemon's bandwidth limit, which every remote's transfers share.
    bandwidth: Bandwidth,
}

impl Remotes {
    pub fn new(
        store: Store,
        credentials: Credentials,
        config: RemotesConfig,
        bandwidth: Bandwidth,
    ) -> Self {
        Self {
            bandwidth,
            budget: TransferBudget::new(config.transfer_memory_bytes),
            store,
            credentials,
            config,
            open: Arc::default(),
        }
    }

    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// Builds the backend a record describes.
    pub fn open(&self, record: &RemoteRecord) -> Result<Arc<dyn Remote>, OpenError> {
        let backend = open(record, &self.credentials, &self.config, &self.budget)?;
        Ok(backend.with_throttle(self.bandwidth.throttle_for(record.limit)))
    }

    /// The daemon's bandwidth limit.
    pub fn bandwidth(&self) -> &Bandwidth {
        &self.bandwidth
    }

    /// The backend of remote `id`, opened on first use.
    pub async fn get(&self, id: RemoteId) -> Result<Arc<dyn Remote>, OpenError> {
        if let Some(remote) = self.open.lock().unwrap_or_else(|p| p.into_inner()).get(&id) {
            return Ok(remote.clone());
        }
        let record = self.store.remote(id).await?;
        let remote = self.open(&record)?;
        // Jobs starting together may each have opened one: all use the
        // first, since a backend keeps state (connections, uploads left to
        // abort).
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        Ok(open.entry(id).or_insert(remote).clone())
    }

    /// Forgets an open backend (after the remote was removed).
    pub fn forget(&self, id: RemoteId) {
        self.open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
    }
}

/// A backend before it is shared.
enum Backend {
    Fs(FsRemote),
    S3(S3Remote),
    WebDav(WebDavRemote),
}

impl Backend {
    fn with_throttle(self, throttle: Throttle) -> Arc<dyn Remote> {
        match self {
            Self::Fs(remote) => Arc::new(remote.with_throttle(throttle)),
            Self::S3(remote) => Arc::new(remote.with_throttle(throttle)),
            Self::WebDav(remote) => Arc::new(remote.with_throttle(throttle)),
        }
    }
}

/// Builds the backend a record describes.
fn open(
    record: &RemoteRecord,
    credentials: &Credentials,
    config: &RemotesConfig,
    budget: &TransferBudget,
) -> Result<Backend, OpenError> {
    let settings_error = |source| OpenError::Settings {
        name: record.name.clone(),
        source,
    };
    match record.kind.as_str() {
        "fs" => {
            let settings: FsSettings =
                serde_json::from_str(&record.settings_json).map_err(settings_error)?;
            Ok(Backend::Fs(FsRemote::new(settings.path)))
        }
        "s3" => {
            let settings: S3Json =
                serde_json::from_str(&record.settings_json).map_err(settings_error)?;
            let secret = credentials
                .get(&record.name)
                .map(|s| s.secret)
                .unwrap_or_default();
            let remote = s3_backend(&settings, Secret::new(secret), config).map_err(|source| {
                OpenError::Backend {
                    name: record.name.clone(),
                    source,
                }
            })?;
            Ok(Backend::S3(remote.with_budget(budget.clone())))
        }
        "webdav" => {
            let settings: WebDavJson =
                serde_json::from_str(&record.settings_json).map_err(settings_error)?;
            let password = credentials
                .get(&record.name)
                .map(|s| s.secret)
                .unwrap_or_default();
            let remote = webdav_backend(&settings, Secret::new(password)).map_err(|source| {
                OpenError::Backend {
                    name: record.name.clone(),
                    source,
                }
            })?;
            Ok(Backend::WebDav(remote.with_budget(budget.clone())))
        }
        kind => Err(OpenError::UnknownKind {
            name: record.name.clone(),
            kind: kind.to_owned(),
        }),
    }
}

/// The WebDAV backend for these settings; also how `remotes add` validates
/// them.
pub fn webdav_backend(
    settings: &WebDavJson,
    password: Secret,
) -> Result<WebDavRemote, RemoteError> {
    WebDavRemote::new(WebDavSettings {
        url: settings.url.clone(),
        user: settings.user.clone(),
        password,
        allow_http: settings.url.starts_with("http://"),
        folder_etags: settings.folder_etags,
    })
}

/// The S3 backend for these settings; also how `remotes add` validates them.
pub fn s3_backend(
    settings: &S3Json,
    secret: Secret,
    config: &RemotesConfig,
) -> Result<S3Remote, RemoteError> {
    S3Remote::new(S3Settings {
        endpoint: settings.endpoint.clone(),
        bucket: settings.bucket.clone(),
        region: settings.region.clone(),
        prefix: String::new(),
        access_key_id: settings.access_key_id.clone(),
        secret_access_key: secret,
        allow_http: settings.endpoint.starts_with("http://"),
        multipart_threshold: config.multipart_threshold_bytes,
        part_size: config.part_size_bytes,
    })
}

/// Where a remote is, for people (no secrets).
pub fn location(record: &RemoteRecord) -> String {
    match record.kind.as_str() {
        "fs" => serde_json::from_str::<FsSettings>(&record.settings_json)
            .map(|s| format!("fs:{}", s.path.display()))
            .unwrap_or_else(|e| format!("unreadable settings: {e}")),
        "s3" => serde_json::from_str::<S3Json>(&record.settings_json)
            .map(|s| {
                let prefix = if s.prefix.is_empty() {
                    String::new()
                } else {
                    format!("/{}", s.prefix)
                };
                format!(
                    "s3:{}/{}{prefix} (key id {})",
                    s.endpoint.trim_end_matches('/'),
                    s.bucket,
                    s.access_key_id
                )
            })
            .unwrap_or_else(|e| format!("unreadable settings: {e}")),
        "webdav" => serde_json::from_str::<WebDavJson>(&record.settings_json)
            .map(|s| {
                let prefix = if s.prefix.is_empty() {
                    String::new()
                } else {
                    format!(" prefix {}", s.prefix)
                };
                let user = if s.user.is_empty() {
                    String::new()
                } else {
                    format!(" (user {})", s.user)
                };
                let tags = if s.folder_etags {
                    ", folder ETags trusted"
                } else {
                    ""
                };
                format!("webdav:{}{prefix}{user}{tags}", s.url)
            })
            .unwrap_or_else(|e| format!("unreadable settings: {e}")),
        kind => format!("{kind}: not supported by this version"),
    }
}

/// Writes, reads back and deletes a small object under `.syncroll/`, and
/// says what happened in words a user can act on.
pub async fn round_trip(remote: &dyn Remote, prefix: &str) -> Result<String, String> {
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let prefix = prefix.trim_matches('/');
    let top = if prefix.is_empty() {
        String::new()
    } else {
        format!("{prefix}/")
    };
    let key = format!("{top}.syncroll/test-{}-{nonce}", std::process::id());
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
