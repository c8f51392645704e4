//! What every backend's tests need on the local side: files to upload,
//! uploads checked for their progress, patterned bytes and sorted listings,
//! all through the `Remote` trait.

use std::fs;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use syncroll_remote::{PutReport, Remote};
use tempfile::TempDir;
use tokio_stream::StreamExt;
use tokio_util::sync::CancellationToken;

/// A temp folder of files to upload.
pub struct Local(TempDir);

impl Local {
    pub fn new() -> Self {
        Self(TempDir::new().expect("creating a local folder"))
    }

    /// The folder.
    pub fn path(&self) -> &std::path::Path {
        self.0.path()
    }

    /// Uploads every `(key, bytes)` of `files` at once through `remote`,
    /// each from a file of its own; returns the reports in `files`' order.
    /// Panics naming the key of a failed upload, or when the uploads wait
    /// on one another for ever (five minutes without all of them done).
    pub async fn put_all_at_once<R: Remote + Clone + 'static>(
        &self,
        remote: &R,
        files: &[(String, Vec<u8>)],
    ) -> Vec<PutReport> {
        let mut uploads = tokio::task::JoinSet::new();
        for (at, (key, bytes)) in files.iter().enumerate() {
            let source = self.source(&key.replace('/', "_"), bytes);
            let (remote, key) = (remote.clone(), key.clone());
            uploads.spawn(async move {
                let (progress, cancel) = (AtomicU64::new(0), CancellationToken::new());
                let put = remote.put_file(&key, &source, &progress, &cancel).await;
                (at, put.unwrap_or_else(|err| panic!("putting {key}: {err}")))
            });
        }
        let all = async {
            let mut reports: Vec<Option<PutReport>> = vec![None; files.len()];
            while let Some(joined) = uploads.join_next().await {
                let (at, report) = joined.expect("an upload task");
                reports[at] = Some(report);
            }
            reports.into_iter().map(Option::unwrap).collect()
        };
        tokio::time::timeout(std::time::Duration::from_secs(300), all)
            .await
            .expect("uploads waited on one another for ever")
    }

    /// Writes `bytes` to a file called `name`.
    pub fn source(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.0.path().join(name);
        fs::write(&path, bytes).unwrap_or_else(|err| panic!("writing {}: {err}", path.display()));
        path
    }

    /// Uploads `bytes` to `key`, which must succeed with progress counting
    /// every byte.
    pub async fn put(&self, remote: &dyn Remote, key: &str, bytes: &[u8]) -> PutReport {
        let source = self.source(&key.replace('/', "_"), bytes);
        let progress = AtomicU64::new(0);
        let report = remote
            .put_file(key, &source, &progress, &CancellationToken::new())
            .await
            .unwrap_or_else(|err| panic!("putting {key}: {err}"));
        assert_eq!(
            progress.load(Ordering::Relaxed),
            report.size,
            "progress counts every byte"
        );
        report
    }

    /// Uploads `bytes` to `key`, which must fail; returns the error.
    pub async fn put_failing(
        &self,
        remote: &dyn Remote,
        key: &str,
        bytes: &[u8],
    ) -> syncroll_remote::RemoteError {
        let source = self.source(&key.replace('/', "_"), bytes);
        let progress = AtomicU64::new(0);
        match remote
            .put_file(key, &source, &progress, &CancellationToken::new())
            .await
        {
            Ok(report) => panic!("putting {key} succeeded: {report:?}"),
            Err(err) => err,
        }
    }
}

/// Bytes that differ everywhere, so a misplaced or repeated part shows.
pub fn pattern(len: usize, seed: &str) -> Vec<u8> {
    let mut bytes = vec![0; len];
    blake3::Hasher::new()
        .update(seed.as_bytes())
        .finalize_xof()
        .fill(&mut bytes);
    bytes
}

/// Every key under `prefix`, sorted; the listing must not fail.
pub async fn keys(remote: &dyn Remote, prefix: &str) -> Vec<String> {
    let mut keys: Vec<String> = remote
        .list(prefix)
        .map(|item| {
            item.unwrap_or_else(|err| panic!("listing {prefix:?}: {err}"))
                .key
        })
        .collect()
        .await;
    keys.sort();
    keys
}
