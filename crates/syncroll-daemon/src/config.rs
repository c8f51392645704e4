//! The daemon's configuration: one struct per area, each with its defaults
//! beside its fields, merged in one place ([`Config::load`]) as
//! flag over environment over file over default.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use syncroll_core::media::DEFAULT_PHOTO_EXTENSIONS;

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {}: {source}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {}: {source}", .path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: toml::de::Error,
    },
    #[error("{key} = {value} {rule}")]
    Invalid {
        key: &'static str,
        value: String,
        rule: &'static str,
    },
    #[error("remotes.default: {0}")]
    DefaultRemote(#[from] syncroll_core::Error),
}

/// Everything syncrolld can be told; `syncrolld --print-config` prints it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub daemon: DaemonConfig,
    pub catalog: CatalogConfig,
    pub watcher: WatcherConfig,
    pub sync: SyncConfig,
    pub remotes: RemotesConfig,
}

/// The transfer queue.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SyncConfig {
    /// Transfers running at once.
    pub concurrency: usize,
    /// Attempts before a job is marked failed.
    pub max_attempts: u32,
    /// First retry delay; it doubles per attempt (with jitter) up to
    /// `retry_max_secs`.
    pub retry_base_ms: u64,
    pub retry_max_secs: u64,
    /// While a remote or a photo's root is offline (an unmounted NAS or
    /// disk), its jobs look again this often, without using up attempts.
    pub offline_retry_secs: u64,
    /// The planner looks for waiting work, and old jobs are pruned, this
    /// often (changes are planned at once anyway).
    pub replan_interval_secs: u64,
    /// Every synced collection is reconciled in full this often as a safety
    /// net, in small chunks behind transfers; changes, `sync on`, `rescan`
    /// and a rename are planned without waiting for it.
    pub reconcile_interval_secs: u64,
    /// Done and cancelled jobs are forgotten after this many days (failed
    /// ones stay until retried); the ledger keeps what was uploaded.
    pub keep_finished_jobs_days: u64,
}

impl Default for SyncConfig {
    fn default() -> Self {
        Self {
            concurrency: 4,
            max_attempts: 8,
            retry_base_ms: 1000,
            retry_max_secs: 300,
            offline_retry_secs: 30,
            replan_interval_secs: 60,
            reconcile_interval_secs: 6 * 3600,
            keep_finished_jobs_days: 7,
        }
    }
}

/// Where the daemon keeps its state and listens.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DaemonConfig {
    /// SQLite catalog, the `local` remote's folder, the instance lock.
    pub data_dir: PathBuf,
    /// The control socket (owner-only).
    pub socket: PathBuf,
    /// A `tracing` filter such as `info` or `syncroll_daemon=debug`.
    pub log_level: String,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        let data_dir = default_data_dir();
        let socket = default_socket(&data_dir);
        Self {
            data_dir,
            socket,
            log_level: "info".to_owned(),
        }
    }
}

/// How photos are found and indexed.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CatalogConfig {
    /// File extensions indexed as photos (any case).
    pub photo_extensions: Vec<String>,
    /// Files hashed at once during a scan.
    pub hash_workers: usize,
    /// A full rescan of every root this often, to catch what a watcher
    /// cannot see (network mounts); 0 turns it off.
    pub rescan_interval_secs: u64,
    /// How often every root's folder is probed (present, readable, the
    /// device and inode it was added with): an unmounted root is unwatched
    /// and marked missing, one that is back is watched and rescanned. Kept
    /// short because a probe costs a `stat` and one directory read.
    pub root_check_interval_secs: u64,
}

impl Default for CatalogConfig {
    fn default() -> Self {
        Self {
            photo_extensions: DEFAULT_PHOTO_EXTENSIONS
                .iter()
                .map(|e| (*e).to_owned())
                .collect(),
            hash_workers: std::thread::available_parallelism().map_or(2, |n| n.get().min(4)),
            rescan_interval_secs: 6 * 3600,
            root_check_interval_secs: 5,
        }
    }
}

/// The file watcher.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WatcherConfig {
    pub enabled: bool,
    /// Events for one file are merged over this window before indexing.
    pub debounce_ms: u64,
    /// While the watcher is degraded (watch limit, overflow), roots are
    /// rescanned this often instead.
    pub fallback_rescan_interval_secs: u64,
    /// Most folders watched in all; past it the watcher degrades to rescans
    /// as if the system's inotify limit had been hit. 0: only the system's
    /// limit applies.
    pub max_watched_dirs: u64,
}

impl Default for WatcherConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            debounce_ms: 300,
            fallback_rescan_interval_secs: 60,
            max_watched_dirs: 0,
        }
    }
}

/// Remotes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RemotesConfig {
    /// Used by collections created without `--remote`.
    pub default: String,
    /// S3: files up to this size go up in one request, larger ones as a
    /// multipart upload.
    pub multipart_threshold_bytes: u64,
    /// S3: bytes per multipart part (at least 5 MiB, S3's minimum).
    pub part_size_bytes: u64,
}

impl Default for RemotesConfig {
    fn default() -> Self {
        Self {
            default: "local".to_owned(),
            multipart_threshold_bytes: 16 << 20,
            part_size_bytes: 8 << 20,
        }
    }
}

/// What the command line (and its environment variables) said.
#[derive(Debug, Default)]
pub struct Overrides {
    pub config_file: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
    pub socket: Option<PathBuf>,
    pub log_level: Option<String>,
}

impl Config {
    /// Merges flag over environment over file over default.
    ///
    /// Without `--config`, `$XDG_CONFIG_HOME/syncroll/syncrolld.toml` is read
    /// when it exists. A socket not set anywhere follows the data dir.
    pub fn load(overrides: Overrides) -> Result<Self, ConfigError> {
        let explicit = overrides.config_file.is_some();
        let file = overrides.config_file.or_else(default_config_file);
        let mut config = match file {
            Some(path) if explicit || path.exists() => Self::from_file(&path)?,
            _ => Self::default(),
        };
        let socket_from_file = config.daemon.socket != DaemonConfig::default().socket;
        if let Some(dir) = overrides.data_dir {
            config.daemon.data_dir = dir;
        }
        config.daemon.data_dir = absolute(&config.daemon.data_dir)?;
        match overrides.socket {
            Some(socket) => config.daemon.socket = socket,
            None if !socket_from_file => {
                config.daemon.socket = default_socket(&config.daemon.data_dir)
            }
            None => {}
        }
        config.daemon.socket = absolute(&config.daemon.socket)?;
        if let Some(level) = overrides.log_level {
            config.daemon.log_level = level;
        }
        config.validate()?;
        Ok(config)
    }

    fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.to_path_buf(),
            source,
        })
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let at_least_one: [(&'static str, u64); 7] = [
            ("catalog.hash_workers", self.catalog.hash_workers as u64),
            (
                "catalog.root_check_interval_secs",
                self.catalog.root_check_interval_secs,
            ),
            ("sync.concurrency", self.sync.concurrency as u64),
            ("sync.offline_retry_secs", self.sync.offline_retry_secs),
            ("sync.max_attempts", u64::from(self.sync.max_attempts)),
            (
                "watcher.fallback_rescan_interval_secs",
                self.watcher.fallback_rescan_interval_secs,
            ),
            ("watcher.debounce_ms", self.watcher.debounce_ms),
        ];
        if let Some((key, value)) = at_least_one.into_iter().find(|(_, value)| *value == 0) {
            return Err(ConfigError::Invalid {
                key,
                value: value.to_string(),
                rule: "must be at least 1",
            });
        }
        if self.remotes.part_size_bytes < 5 << 20 {
            return Err(ConfigError::Invalid {
                key: "remotes.part_size_bytes",
                value: self.remotes.part_size_bytes.to_string(),
                rule: "must be at least 5242880 (5 MiB, the S3 minimum)",
            });
        }
        if self.catalog.photo_extensions.is_empty() {
            return Err(ConfigError::Invalid {
                key: "catalog.photo_extensions",
                value: "[]".to_owned(),
                rule: "is empty: nothing would be indexed",
            });
        }
        syncroll_core::names::validate_name("remote", &self.remotes.default)?;
        Ok(())
    }

    /// The effective config as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot print config: {e}\n"))
    }
}

fn absolute(path: &Path) -> Result<PathBuf, ConfigError> {
    std::path::absolute(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn default_data_dir() -> PathBuf {
    directories::ProjectDirs::from("", "", "syncroll")
        .map(|dirs| dirs.data_dir().to_path_buf())
        .unwrap_or_else(|| PathBuf::from(".syncroll"))
}

fn default_config_file() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "syncroll")
        .map(|dirs| dirs.config_dir().join("syncrolld.toml"))
}

/// `$XDG_RUNTIME_DIR/syncroll/syncroll.sock`, else `<data-dir>/syncroll.sock`.
pub fn default_socket(data_dir: &Path) -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(run) if !run.is_empty() => PathBuf::from(run).join("syncroll").join("syncroll.sock"),
        _ => data_dir.join("syncroll.sock"),
    }
}
