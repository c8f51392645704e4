//! The daemon's configuration: one struct per area, each with its defaults
//! beside its fields, merged in one place ([`Config::load`]) as
//! flag over environment over file over default.

// The socket rule is the client crate's, so daemon and clients agree on it.
use std::path::{Path, PathBuf};
pub use syncroll_client::locate::{default_data_dir, default_socket};

use serde::{Deserialize, Serialize};
use syncroll_core::bandwidth::Schedule;
use syncroll_core::media::{DEFAULT_PHOTO_EXTENSIONS, PhotoFilter};
use syncroll_core::sidecars::{
    DEFAULT_LIVE_PHOTO_EXTENSIONS, DEFAULT_SIDECAR_EXTENSIONS, SidecarRules,
};

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
    /// `sync.bandwidth` cannot be read (the message names it and the value).
    #[error("{0}")]
    Bandwidth(String),
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
    pub versions: VersionsConfig,
}

/// The version store: how long the bytes a file held before they were
/// replaced (by a remote edit, by `versions restore`) are kept.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VersionsConfig {
    /// The newest this many versions of each file are kept (at least 1).
    pub keep: u64,
    /// Versions older than this are dropped: a duration such as `365d`,
    /// `8w` or `12h`, or `off`.
    pub max_age: String,
    /// The store's size at most, oldest versions dropped first (a file's
    /// newest version always stays): bytes such as `20G` or `512M`
    /// (binary units), or `off`.
    pub max_bytes: String,
}

impl Default for VersionsConfig {
    fn default() -> Self {
        Self {
            keep: 10,
            max_age: "365d".to_owned(),
            max_bytes: OFF.to_owned(),
        }
    }
}

/// Turns a limit off where a config value can be one.
const OFF: &str = "off";

impl VersionsConfig {
    /// The retention policy the version store applies, or the key whose
    /// value cannot be one.
    pub fn policy(&self) -> Result<syncroll_core::versions::RetentionPolicy, ConfigError> {
        Ok(syncroll_core::versions::RetentionPolicy {
            keep: self.keep,
            max_age_ms: max_age_ms(&self.max_age)?,
            max_bytes: max_bytes(&self.max_bytes)?,
        })
    }
}

fn max_age_ms(value: &str) -> Result<Option<i64>, ConfigError> {
    if value.trim() == OFF {
        return Ok(None);
    }
    let invalid = |rule| ConfigError::Invalid {
        key: "versions.max_age",
        value: format!("{value:?}"),
        rule,
    };
    let age = humantime::parse_duration(value.trim()).map_err(|_| {
        invalid("is not a duration: use a number and a unit (365d, 8w, 12h) or \"off\"")
    })?;
    if age.as_secs() < 1 || age.as_secs() > MAX_SECS {
        return Err(invalid(
            "must be at least 1s and at most 100 years, or \"off\"",
        ));
    }
    Ok(Some(age.as_millis() as i64))
}

fn max_bytes(value: &str) -> Result<Option<u64>, ConfigError> {
    let value = value.trim();
    if value == OFF {
        return Ok(None);
    }
    let invalid = || ConfigError::Invalid {
        key: "versions.max_bytes",
        value: format!("{value:?}"),
        rule: "is not a size: use bytes with an optional unit (20G, 512M, 1T; binary units) \
               above 0, or \"off\"",
    };
    let digits = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(digits);
    let number: u64 = number.parse().map_err(|_| invalid())?;
    let shift = match unit
        .trim()
        .to_ascii_uppercase()
        .trim_end_matches("IB")
        .trim_end_matches('B')
    {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => return Err(invalid()),
    };
    match number.checked_mul(1 << shift) {
        Some(bytes) if bytes > 0 => Ok(Some(bytes)),
        _ => Err(invalid()),
    }
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
    /// When deletions of remote copies are held for review.
    pub brake: BrakeConfig,
    /// The bandwidth all transfers share: a rate (`8M`), `UP:DOWN`
    /// (`10M:1M`), a timetable in rclone's `--bwlimit` form
    /// (`"Mon-Fri 08:00,2M 18:00,off"`), or `off`.
    pub bandwidth: String,
}

impl SyncConfig {
    /// `bandwidth` read; `Config::load` checked it, so a config built in
    /// code with a bad one gets no limit.
    pub fn bandwidth_schedule(&self) -> Schedule {
        Schedule::parse(&self.bandwidth).unwrap_or_default()
    }
}

/// The deletion brake: deletions of remote copies the daemon plans on its
/// own (photos vanished from disk or left a collection) are held for the
/// user's decision (`syncroll holds`) when, within one window, they are
/// more than `max_count`, or more than `max_share` of a collection's
/// copies. `sync off` and `collections delete` ask first past the same
/// thresholds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BrakeConfig {
    /// Deletions planned this long ago still count, so a slow drip adds up.
    pub window_secs: u64,
    /// From 0 to 1: the share of a collection's copies.
    pub max_share: f64,
    pub max_count: u64,
    /// Never hold this many deletions or fewer.
    pub min_count: u64,
}

impl Default for BrakeConfig {
    fn default() -> Self {
        let policy = syncroll_core::brake::BrakePolicy::default();
        Self {
            window_secs: (policy.window_ms / 1000) as u64,
            max_share: policy.max_share,
            max_count: policy.max_count,
            min_count: policy.min_count,
        }
    }
}

impl BrakeConfig {
    /// The policy the store applies.
    pub fn policy(&self) -> syncroll_core::brake::BrakePolicy {
        syncroll_core::brake::BrakePolicy {
            window_ms: (self.window_secs as i64).saturating_mul(1000),
            max_share: self.max_share,
            max_count: self.max_count,
            min_count: self.min_count,
        }
    }
}

impl Default for SyncConfig {
    fn default() -> Self {
        Self {
            concurrency: 16,
            max_attempts: 8,
            retry_base_ms: 1000,
            retry_max_secs: 300,
            offline_retry_secs: 30,
            replan_interval_secs: 60,
            reconcile_interval_secs: 6 * 3600,
            keep_finished_jobs_days: 7,
            brake: BrakeConfig::default(),
            bandwidth: OFF.to_owned(),
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
    /// Sidecar extensions (any case): a file `IMG_1.xmp` or `IMG_1.NEF.xmp`
    /// beside a photo `IMG_1.NEF` is part of it (uploaded beside it,
    /// counted in its bytes, deleted with it), never a photo of its own.
    pub sidecar_extensions: Vec<String>,
    /// Live Photo motion extensions (any case): `IMG_1.mov` beside a still
    /// `IMG_1.heic`/`.heif`/`.jpg`/`.jpeg` travels with the still as its
    /// sidecar; without a still it is a photo if `photo_extensions` has
    /// its extension. Empty: motion files are photos like any other.
    pub live_photo_extensions: Vec<String>,
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
    /// While the data dir cannot be written (its disk full or read-only),
    /// sync is paused and a small write is tried this often; sync resumes
    /// by itself when one commits. Free space is looked at this often too.
    pub data_dir_check_interval_secs: u64,
    /// An online backup of the catalog is written to `<data-dir>/backups`
    /// this often (and at start when the newest is older).
    pub backup_interval_hours: u64,
    /// Backups kept; older ones are deleted. 0 turns backups off.
    pub backups_kept: u64,
}

impl Default for CatalogConfig {
    fn default() -> Self {
        Self {
            photo_extensions: DEFAULT_PHOTO_EXTENSIONS
                .iter()
                .map(|e| (*e).to_owned())
                .collect(),
            sidecar_extensions: DEFAULT_SIDECAR_EXTENSIONS
                .iter()
                .map(|e| (*e).to_owned())
                .collect(),
            live_photo_extensions: DEFAULT_LIVE_PHOTO_EXTENSIONS
                .iter()
                .map(|e| (*e).to_owned())
                .collect(),
            hash_workers: std::thread::available_parallelism().map_or(2, |n| n.get().min(4)),
            rescan_interval_secs: 6 * 3600,
            root_check_interval_secs: 5,
            data_dir_check_interval_secs: 30,
            backup_interval_hours: 24,
            backups_kept: 7,
        }
    }
}

impl CatalogConfig {
    /// Which files the scanner indexes: photos, and the sidecars and
    /// motion files that may belong to them.
    pub fn file_filter(&self) -> PhotoFilter {
        PhotoFilter::new(&self.photo_extensions).with_companions(
            self.sidecar_extensions
                .iter()
                .chain(&self.live_photo_extensions),
        )
    }

    /// Which indexed files are sidecars (see `syncroll_core::sidecars`).
    pub fn sidecar_rules(&self) -> SidecarRules {
        SidecarRules::new(&self.sidecar_extensions, &self.live_photo_extensions)
            .with_photo_extensions(&self.photo_extensions)
    }

    /// Each extension list holds extensions, and a sidecar extension is not
    /// also a photo's or a motion file's: one file cannot be both.
    fn check_extensions(&self) -> Result<(), ConfigError> {
        let lists = [
            ("catalog.photo_extensions", &self.photo_extensions),
            ("catalog.sidecar_extensions", &self.sidecar_extensions),
            ("catalog.live_photo_extensions", &self.live_photo_extensions),
        ];
        for (key, list) in lists {
            for ext in list {
                let bare = ext.strip_prefix('.').unwrap_or(ext);
                if bare.is_empty()
                    || bare.len() > 32
                    || !bare
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                {
                    return Err(ConfigError::Invalid {
                        key,
                        value: syncroll_core::quoted::quoted(ext).to_string(),
                        rule: "is not an extension: letters, digits, '_' or '-' (at most 32), with or without a leading dot",
                    });
                }
            }
        }
        let bare = |e: &String| e.trim_start_matches('.').to_ascii_lowercase();
        let photos: Vec<String> = self.photo_extensions.iter().map(bare).collect();
        let motion: Vec<String> = self.live_photo_extensions.iter().map(bare).collect();
        for ext in &self.sidecar_extensions {
            let (clash, rule) = if photos.contains(&bare(ext)) {
                (
                    true,
                    "is also in catalog.photo_extensions: a file is a photo or a sidecar, not both",
                )
            } else if motion.contains(&bare(ext)) {
                (
                    true,
                    "is also in catalog.live_photo_extensions: a file is a sidecar or a motion file, not both",
                )
            } else {
                (false, "")
            };
            if clash {
                return Err(ConfigError::Invalid {
                    key: "catalog.sidecar_extensions",
                    value: syncroll_core::quoted::quoted(ext).to_string(),
                    rule,
                });
            }
        }
        Ok(())
    }
}

/// The file watcher.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WatcherConfig {
    pub enabled: bool,
    /// Events for one file are merged over this window before indexing.
    pub debounce_ms: u64,
    /// A new or changed file is indexed (and so uploaded) only once its
    /// size and mtime have not changed for this long: a file being written
    /// goes up once, complete, not once per write. 0: at once.
    pub settle_ms: u64,
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
            settle_ms: 2000,
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
    /// Bytes all uploads together hold in memory at most (S3 parts and the
    /// files sent whole), whatever `sync.concurrency` is. At least one part.
    pub transfer_memory_bytes: u64,
}

impl Default for RemotesConfig {
    fn default() -> Self {
        Self {
            default: "local".to_owned(),
            multipart_threshold_bytes: 16 << 20,
            part_size_bytes: 8 << 20,
            transfer_memory_bytes: syncroll_remote::DEFAULT_TRANSFER_MEMORY,
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
        Self::parse(&text, path)
    }

    /// The config in `text` (read from `path`), not yet validated.
    fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|source| ConfigError::Parse {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Every number within its range: at least 1 where 0 would stall the
    /// daemon, and no interval past 100 years, where a typo ends (and where
    /// adding it to a clock would overflow).
    fn validate(&self) -> Result<(), ConfigError> {
        if let Some((key, value, rule)) = self.ranges().into_iter().find_map(NumberRange::fault) {
            return Err(ConfigError::Invalid {
                key,
                value: value.to_string(),
                rule,
            });
        }
        if self.remotes.transfer_memory_bytes < self.remotes.part_size_bytes {
            return Err(ConfigError::Invalid {
                key: "remotes.transfer_memory_bytes",
                value: self.remotes.transfer_memory_bytes.to_string(),
                rule: "must hold at least one part (remotes.part_size_bytes)",
            });
        }
        if let Err(err) = Schedule::parse(&self.sync.bandwidth) {
            return Err(ConfigError::Bandwidth(err.in_setting("sync.bandwidth")));
        }
        let share = self.sync.brake.max_share;
        if !(0.0..=1.0).contains(&share) {
            return Err(ConfigError::Invalid {
                key: "sync.brake.max_share",
                value: share.to_string(),
                rule: "must be from 0 to 1 (a share of a collection's copies: 0.25 is a quarter)",
            });
        }
        if self.catalog.photo_extensions.is_empty() {
            return Err(ConfigError::Invalid {
                key: "catalog.photo_extensions",
                value: "[]".to_owned(),
                rule: "is empty: nothing would be indexed",
            });
        }
        self.catalog.check_extensions()?;
        syncroll_core::names::validate_name("remote", &self.remotes.default)?;
        self.versions.policy()?;
        Ok(())
    }

    /// Every number of the config with the range it must be in.
    fn ranges(&self) -> [NumberRange; 23] {
        let (c, w, s, r) = (&self.catalog, &self.watcher, &self.sync, &self.remotes);
        let secs = |key, value, least| NumberRange::interval(key, value, least, MAX_SECS);
        let ms = |key, value, least| NumberRange::interval(key, value, least, MAX_SECS * 1000);
        [
            NumberRange::workers("catalog.hash_workers", c.hash_workers),
            secs("catalog.rescan_interval_secs", c.rescan_interval_secs, 0),
            secs(
                "catalog.root_check_interval_secs",
                c.root_check_interval_secs,
                1,
            ),
            secs(
                "catalog.data_dir_check_interval_secs",
                c.data_dir_check_interval_secs,
                1,
            ),
            NumberRange::interval(
                "catalog.backup_interval_hours",
                c.backup_interval_hours,
                1,
                MAX_SECS / 3600,
            ),
            NumberRange::new(
                "catalog.backups_kept",
                c.backups_kept,
                0,
                MAX_BACKUPS,
                "must be at most 1000",
            ),
            ms("watcher.debounce_ms", w.debounce_ms, 1),
            ms("watcher.settle_ms", w.settle_ms, 0),
            secs(
                "watcher.fallback_rescan_interval_secs",
                w.fallback_rescan_interval_secs,
                1,
            ),
            NumberRange::workers("sync.concurrency", s.concurrency),
            NumberRange::new(
                "sync.max_attempts",
                u64::from(s.max_attempts),
                1,
                u64::MAX,
                "",
            ),
            ms("sync.retry_base_ms", s.retry_base_ms, 0),
            secs("sync.retry_max_secs", s.retry_max_secs, 0),
            secs("sync.offline_retry_secs", s.offline_retry_secs, 1),
            secs("sync.replan_interval_secs", s.replan_interval_secs, 0),
            secs("sync.reconcile_interval_secs", s.reconcile_interval_secs, 0),
            NumberRange::interval(
                "sync.keep_finished_jobs_days",
                s.keep_finished_jobs_days,
                0,
                MAX_SECS / 86_400,
            ),
            secs("sync.brake.window_secs", s.brake.window_secs, 1),
            NumberRange::new("sync.brake.max_count", s.brake.max_count, 0, u64::MAX, ""),
            NumberRange::new("sync.brake.min_count", s.brake.min_count, 0, u64::MAX, ""),
            NumberRange::new(
                "remotes.multipart_threshold_bytes",
                r.multipart_threshold_bytes,
                0,
                u64::MAX,
                "",
            ),
            NumberRange::new(
                "remotes.part_size_bytes",
                r.part_size_bytes,
                MIN_PART_BYTES,
                MAX_PART_BYTES,
                "must be from 5242880 (5 MiB, the S3 minimum) to 5368709120 (5 GiB, the S3 maximum)",
            ),
            NumberRange::new(
                "versions.keep",
                self.versions.keep,
                1,
                MAX_VERSIONS_KEPT,
                "must be at least 1 and at most 100000",
            ),
        ]
    }

    /// The effective config as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot print config: {e}\n"))
    }
}

/// The longest interval any setting may be: 100 years of 365.25 days.
pub const MAX_SECS: u64 = 3_155_760_000;
/// The most catalog backups kept: each is a full copy of the catalog.
const MAX_BACKUPS: u64 = 1000;
/// The most versions kept per file.
const MAX_VERSIONS_KEPT: u64 = 100_000;
/// The most workers of one kind: each holds a file or a connection open.
const MAX_WORKERS: u64 = 256;
/// S3's smallest and largest multipart part.
const MIN_PART_BYTES: u64 = 5 << 20;
const MAX_PART_BYTES: u64 = 5 << 30;

/// A number of the config and the range it must be in.
#[derive(Debug)]
struct NumberRange {
    key: &'static str,
    value: u64,
    least: u64,
    most: u64,
    /// The range in words; empty for the generic "at least 1".
    rule: &'static str,
}

impl NumberRange {
    fn new(key: &'static str, value: u64, least: u64, most: u64, rule: &'static str) -> Self {
        Self {
            key,
            value,
            least,
            most,
            rule,
        }
    }

    /// An interval: 0 allowed or not (`least`), at most `most` (100 years).
    fn interval(key: &'static str, value: u64, least: u64, most: u64) -> Self {
        let rule = if least == 0 {
            "must be at most 100 years"
        } else {
            "must be at least 1 and at most 100 years"
        };
        Self::new(key, value, least, most, rule)
    }

    fn workers(key: &'static str, value: usize) -> Self {
        Self::new(
            key,
            value as u64,
            1,
            MAX_WORKERS,
            "must be at least 1 and at most 256",
        )
    }

    /// The key, value and rule when the value is out of range.
    fn fault(self) -> Option<(&'static str, u64, &'static str)> {
        let inside = (self.least..=self.most).contains(&self.value);
        let rule = if self.rule.is_empty() {
            "must be at least 1"
        } else {
            self.rule
        };
        (!inside).then_some((self.key, self.value, rule))
    }
}

fn absolute(path: &Path) -> Result<PathBuf, ConfigError> {
    std::path::absolute(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn default_config_file() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "syncroll")
        .map(|dirs| dirs.config_dir().join("syncrolld.toml"))
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use proptest::prelude::*;

    use super::*;

    /// Every numeric key of the config file, by section.
    const NUMBER_KEYS: &[(&str, &str)] = &[
        ("catalog", "hash_workers"),
        ("catalog", "rescan_interval_secs"),
        ("catalog", "root_check_interval_secs"),
        ("catalog", "data_dir_check_interval_secs"),
        ("catalog", "backup_interval_hours"),
        ("catalog", "backups_kept"),
        ("watcher", "debounce_ms"),
        ("watcher", "settle_ms"),
        ("watcher", "fallback_rescan_interval_secs"),
        ("watcher", "max_watched_dirs"),
        ("sync", "concurrency"),
        ("sync", "max_attempts"),
        ("sync", "retry_base_ms"),
        ("sync", "retry_max_secs"),
        ("sync", "offline_retry_secs"),
        ("sync", "replan_interval_secs"),
        ("sync", "reconcile_interval_secs"),
        ("sync", "keep_finished_jobs_days"),
        ("sync.brake", "window_secs"),
        ("sync.brake", "max_count"),
        ("sync.brake", "min_count"),
        ("remotes", "multipart_threshold_bytes"),
        ("remotes", "part_size_bytes"),
        ("versions", "keep"),
    ];

    fn parsed(text: &str) -> Result<Config, ConfigError> {
        let config = Config::parse(text, Path::new("syncrolld.toml"))?;
        config.validate()?;
        Ok(config)
    }

    /// TOML integers are i64: every one, with the edges and the ranges'
    /// bounds likely.
    fn number() -> impl Strategy<Value = i64> {
        prop_oneof![
            Just(0),
            Just(1),
            Just(-1),
            Just(i64::MAX),
            Just(i64::MIN),
            Just(MAX_SECS as i64),
            Just(MAX_SECS as i64 + 1),
            Just(MAX_SECS as i64 * 1000 + 1),
            0i64..1_000_000,
            any::<i64>(),
        ]
    }

    proptest! {
        #[test]
        fn a_number_is_accepted_in_range_or_refused_naming_its_key(
            entry in prop::sample::select(NUMBER_KEYS),
            value in number(),
        ) {
            let (section, key) = entry;
            match parsed(&format!("[{section}]\n{key} = {value}\n")) {
                Ok(config) => {
                    // Every interval can be waited for: added to a clock
                    // and scaled to milliseconds without overflow.
                    let now = Instant::now();
                    for range in config.ranges() {
                        prop_assert!(range.value <= range.most);
                    }
                    let s = &config.sync;
                    for secs in [
                        s.offline_retry_secs,
                        s.replan_interval_secs,
                        s.reconcile_interval_secs,
                        s.retry_max_secs,
                        config.catalog.rescan_interval_secs,
                        config.catalog.root_check_interval_secs,
                        config.catalog.data_dir_check_interval_secs,
                        config.catalog.backup_interval_hours.saturating_mul(3600),
                        config.watcher.fallback_rescan_interval_secs,
                        s.brake.window_secs,
                    ] {
                        prop_assert!(now.checked_add(Duration::from_secs(secs)).is_some());
                        prop_assert!((secs as i64).checked_mul(1000).is_some());
                    }
                    // What --print-config shows reads back as the same.
                    let again = parsed(&config.to_toml()).expect("printed config parses");
                    prop_assert_eq!(again.to_toml(), config.to_toml());
                }
                Err(err) => {
                    let message = err.to_string();
                    prop_assert!(message.contains(key), "{}", message);
                }
            }
        }

        #[test]
        fn any_text_is_a_config_or_an_error_never_a_panic(text in "\\PC{0,200}|[\\[\\]a-z_=\" 0-9.\n-]{0,200}") {
            let _ = parsed(&text);
        }
    }

    #[test]
    fn the_defaults_are_valid() {
        Config::default().validate().unwrap();
    }

    #[test]
    fn a_brake_share_outside_0_to_1_is_refused_naming_it() {
        for share in ["1.5", "-0.1", "nan"] {
            let err = parsed(&format!("[sync.brake]\nmax_share = {share}\n")).unwrap_err();
            assert!(err.to_string().contains("sync.brake.max_share"), "{err}");
        }
        let ok = parsed("[sync.brake]\nmax_share = 0.5\nmax_count = 100\n").unwrap();
        assert_eq!(ok.sync.brake.policy().max_share, 0.5);
        assert_eq!(ok.sync.brake.policy().max_count, 100);
    }

    #[test]
    fn version_retention_reads_durations_and_sizes_or_off() {
        let policy = Config::default().versions.policy().unwrap();
        assert_eq!(policy.keep, 10);
        assert_eq!(policy.max_age_ms, Some(365 * 86_400_000));
        assert_eq!(policy.max_bytes, None);
        let set = parsed("[versions]\nkeep = 3\nmax_age = \"8w\"\nmax_bytes = \"20G\"\n").unwrap();
        let policy = set.versions.policy().unwrap();
        assert_eq!(policy.max_age_ms, Some(8 * 7 * 86_400_000));
        assert_eq!(policy.max_bytes, Some(20 << 30));
        for (size, bytes) in [
            ("512M", 512 << 20),
            ("1 GiB", 1 << 30),
            ("4096", 4096),
            ("2kb", 2048),
        ] {
            assert_eq!(max_bytes(size).unwrap(), Some(bytes), "{size}");
        }
        let off = parsed("[versions]\nmax_age = \"off\"\n").unwrap();
        assert_eq!(off.versions.policy().unwrap().max_age_ms, None);
    }

    #[test]
    fn bandwidth_reads_a_rate_or_a_timetable_and_refuses_naming_the_value() {
        assert_eq!(
            Config::default().sync.bandwidth_schedule(),
            Schedule::default()
        );
        let set = parsed("[sync]\nbandwidth = \"Mon-Fri 08:00,2M 18:00,off\"\n").unwrap();
        assert!(matches!(
            set.sync.bandwidth_schedule(),
            Schedule::Timetable(_)
        ));
        let err = parsed("[sync]\nbandwidth = \"8Q\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("invalid bandwidth \"8Q\" in sync.bandwidth: use a rate"),
            "{err}"
        );
    }

    #[test]
    fn a_bad_retention_value_is_refused_naming_its_key_and_value() {
        for (key, value) in [
            ("max_age", "\"a year\""),
            ("max_age", "\"0s\""),
            ("max_age", "\"200years\""),
            ("max_bytes", "\"20X\""),
            ("max_bytes", "\"0\""),
            ("max_bytes", "\"-1G\""),
            ("max_bytes", "\"99999999999T\""),
            ("keep", "0"),
        ] {
            let err = parsed(&format!("[versions]\n{key} = {value}\n"))
                .unwrap_err()
                .to_string();
            assert!(err.contains(&format!("versions.{key}")), "{err}");
            assert!(err.contains(value.trim_matches('"')), "{err}");
        }
    }

    #[test]
    fn an_interval_past_a_century_is_refused() {
        let err = parsed("[sync]\nreplan_interval_secs = 3155760001\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "sync.replan_interval_secs = 3155760001 must be at most 100 years"
        );
    }
}
