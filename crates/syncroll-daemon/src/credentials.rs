//! Remote credentials: kept out of the catalog, in `<data-dir>/credentials.toml`,
//! mode 0600, written atomically. The daemon refuses to start when the file
//! can be read by anyone but its owner. Secrets never reach logs, status or
//! any API reply: they live in `Secret`, whose `Debug` prints `***`.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

/// Why the credentials file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error(
        "credentials file {} has mode {mode:04o}: other users could read remote secrets; \
         run `chmod 600 {}` and start again",
        .path.display(), .path.display()
    )]
    Exposed { path: PathBuf, mode: u32 },
    #[error("cannot {action} credentials file {}: {source}", .path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("credentials file {}: {source}", .path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: toml::de::Error,
    },
}

/// The secrets of one remote.
#[derive(Clone, Default, Serialize, Deserialize)]
pub struct RemoteSecrets {
    /// S3 secret access key, or WebDAV password.
    pub secret: String,
}

impl std::fmt::Debug for RemoteSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Users paste logs into bug reports.
        f.write_str("RemoteSecrets { secret: *** }")
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct File {
    #[serde(default)]
    remotes: BTreeMap<String, RemoteSecrets>,
}

/// The credentials file, loaded once and written through.
#[derive(Debug, Clone)]
pub struct Credentials {
    path: PathBuf,
    file: Arc<Mutex<File>>,
}

impl Credentials {
    /// Loads `<data_dir>/credentials.toml` (absent means none), refusing a
    /// file that is group- or world-accessible.
    pub fn load(data_dir: &Path) -> Result<Self, CredentialsError> {
        let path = data_dir.join("credentials.toml");
        let io = |action| {
            let path = path.clone();
            move |source| CredentialsError::Io {
                action,
                path,
                source,
            }
        };
        let file = match std::fs::metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => File::default(),
            Err(e) => return Err(io("inspect")(e)),
            Ok(meta) => {
                let mode = meta.permissions().mode() & 0o777;
                if mode & 0o077 != 0 {
                    return Err(CredentialsError::Exposed { path, mode });
                }
                let text = std::fs::read_to_string(&path).map_err(io("read"))?;
                toml::from_str(&text).map_err(|source| CredentialsError::Parse {
                    path: path.clone(),
                    source,
                })?
            }
        };
        Ok(Self {
            path,
            file: Arc::new(Mutex::new(file)),
        })
    }

    /// The secrets of remote `name`, if any were stored.
    pub fn get(&self, name: &str) -> Option<RemoteSecrets> {
        self.lock().remotes.get(name).cloned()
    }

    /// Stores (or, with `None`, forgets) the secrets of remote `name`.
    pub fn set(&self, name: &str, secrets: Option<RemoteSecrets>) -> Result<(), CredentialsError> {
        let mut file = self.lock();
        match secrets {
            Some(secrets) => file.remotes.insert(name.to_owned(), secrets),
            None => file.remotes.remove(name),
        };
        self.write(&file)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, File> {
        self.file.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes a 0600 temporary beside the file, fsyncs and renames it over,
    /// so the file is never briefly readable or half-written.
    fn write(&self, file: &File) -> Result<(), CredentialsError> {
        let io = |action| {
            let path = self.path.clone();
            move |source| CredentialsError::Io {
                action,
                path,
                source,
            }
        };
        let text = toml::to_string(file).unwrap_or_default();
        let temp = self.path.with_extension("toml.tmp");
        let _ = std::fs::remove_file(&temp);
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)
            .map_err(io("create"))?;
        out.write_all(text.as_bytes()).map_err(io("write"))?;
        out.sync_all().map_err(io("sync"))?;
        std::fs::rename(&temp, &self.path).map_err(io("replace"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_round_trip_in_a_0600_file() {
        let dir = tempfile::tempdir().unwrap();
        let creds = Credentials::load(dir.path()).unwrap();
        creds
            .set(
                "b2",
                Some(RemoteSecrets {
                    secret: "s3cr3t".into(),
                }),
            )
            .unwrap();
        let path = dir.path().join("credentials.toml");
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let again = Credentials::load(dir.path()).unwrap();
        assert_eq!(again.get("b2").unwrap().secret, "s3cr3t");
        assert!(!format!("{:?}", again.get("b2")).contains("s3cr3t"));
    }

    #[test]
    fn a_readable_credentials_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials.toml");
        std::fs::write(&path, "").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = Credentials::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("0644") && err.contains("chmod 600"), "{err}");
    }
}
