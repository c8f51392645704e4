//! [`FsRemote`]: a remote that is a folder on this machine, typically a NAS
//! mount or an external disk.
//!
//! Safety rules, each guarding against losing or misplacing photos:
//! - The root folder is never created. If it is missing (an unmounted NAS),
//!   every operation fails with [`RemoteError::Unavailable`]; creating it
//!   would fill the empty mount point on the local disk instead.
//! - Objects appear under their final name only when complete: bytes go to a
//!   temporary beside the destination (named after it, so a crash leaves at
//!   most one per key and the retry overwrites it), which is synced, renamed
//!   into place, and its folder synced.
//! - Keys never lead outside the root: they are validated, and no folder on
//!   the way may be a symbolic link.
//! - Only regular files are objects; folders, links and other entries under a
//!   key are "nothing there" to head, copy, delete and list.
//!
//! All file system work runs on tokio's blocking pool; the async methods only
//! validate, hand over, and forward progress.

mod errors;
mod listing;
mod objects;
mod paths;
mod staging;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::mpsc;
use tokio::task::JoinError;
use tokio_util::sync::CancellationToken;

use crate::{
    ObjectMeta, ObjectRead, ObjectStream, Precondition, PutReport, Remote, RemoteError,
    validate_key,
};
use staging::Transfer;

/// How many progress reports may wait for the async side; a full queue just
/// makes the copy loop wait a moment.
const PROGRESS_QUEUE: usize = 16;

/// A remote stored in a local folder (kind `fs`).
#[derive(Debug, Clone)]
pub struct FsRemote {
    root: PathBuf,
    throttle: crate::Throttle,
}

impl FsRemote {
    /// A remote whose objects live under `root`, which should be absolute.
    /// Nothing is checked or created here: a root that is missing now may be
    /// mounted later, and each operation checks it anew.
    ///
    /// Point it at a folder *inside* a mount (`/mnt/nas/photos`), not at the
    /// mount point itself: an unmounted mount point is still an empty folder,
    /// which this remote cannot tell from a mounted, empty share.
    pub fn new(root: PathBuf) -> Self {
        Self {
            root,
            throttle: crate::Throttle::default(),
        }
    }

    /// Uploads and downloads obey `throttle`'s limits.
    #[must_use]
    pub fn with_throttle(mut self, throttle: crate::Throttle) -> Self {
        self.throttle = throttle;
        self
    }

    /// The remote's root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

#[async_trait::async_trait]
impl Remote for FsRemote {
    /// The precondition is checked just before the rename that places the
    /// object: [`Precondition::Absent`] atomically (the object is placed by
    /// a hard link, which never replaces), [`Precondition::Matches`] by
    /// comparing (size, mtime), with a window of one `stat` and one rename.
    async fn put_file_if(
        &self,
        key: &str,
        source: &Path,
        precondition: &Precondition,
        progress: &AtomicU64,
        cancel: &CancellationToken,
    ) -> Result<PutReport, RemoteError> {
        validate_key(key)?;
        let (root, key, source) = (self.root.clone(), key.to_owned(), source.to_owned());
        let precondition = precondition.clone();
        let throttle = self.throttle.clone();
        transfer(progress, cancel, throttle, move |t| {
            staging::put(&root, &key, &source, &precondition, &t)
        })
        .await
    }

    async fn read(
        &self,
        key: &str,
        offset: u64,
        expected: Option<&ObjectMeta>,
    ) -> Result<ObjectRead, RemoteError> {
        validate_key(key)?;
        let (root, key, expected) = (self.root.clone(), key.to_owned(), expected.cloned());
        blocking(move || objects::read(&root, &key, offset, expected.as_ref())).await
    }

    async fn copy(
        &self,
        from_key: &str,
        to_key: &str,
        cancel: &CancellationToken,
    ) -> Result<ObjectMeta, RemoteError> {
        validate_key(from_key)?;
        validate_key(to_key)?;
        let (root, from, to) = (self.root.clone(), from_key.to_owned(), to_key.to_owned());
        let unreported = AtomicU64::new(0);
        // Server-side: no bytes cross the link, so no limit applies.
        let unlimited = crate::Throttle::default();
        transfer(&unreported, cancel, unlimited, move |t| {
            staging::copy(&root, &from, &to, &t)
        })
        .await
    }

    async fn delete(&self, key: &str) -> Result<(), RemoteError> {
        validate_key(key)?;
        let (root, key) = (self.root.clone(), key.to_owned());
        blocking(move || objects::delete(&root, &key)).await
    }

    async fn discard_interrupted_put(&self, key: &str) -> Result<(), RemoteError> {
        validate_key(key)?;
        let (root, key) = (self.root.clone(), key.to_owned());
        blocking(move || objects::discard_temporary(&root, &key)).await
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, RemoteError> {
        validate_key(key)?;
        let (root, key) = (self.root.clone(), key.to_owned());
        blocking(move || objects::head(&root, &key)).await
    }

    fn list(&self, prefix: &str) -> ObjectStream {
        listing::list(self.root.clone(), prefix.to_owned())
    }

    fn throttle(&self) -> crate::Throttle {
        self.throttle.clone()
    }

    fn describe(&self) -> String {
        format!("fs:{}", self.root.display())
    }
}

/// Runs short blocking file system work off the async runtime.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, RemoteError> + Send + 'static,
) -> Result<T, RemoteError> {
    joined(tokio::task::spawn_blocking(work).await)
}

/// Runs a byte-moving loop on the blocking pool, forwarding its progress to
/// the caller's counter (which the loop cannot borrow: it outlives no one).
async fn transfer<T: Send + 'static>(
    progress: &AtomicU64,
    cancel: &CancellationToken,
    throttle: crate::Throttle,
    work: impl FnOnce(Transfer) -> Result<T, RemoteError> + Send + 'static,
) -> Result<T, RemoteError> {
    let (sent_tx, mut sent_rx) = mpsc::channel(PROGRESS_QUEUE);
    // A child token that also fires when this future is dropped, so an
    // abandoned transfer stops at its next chunk and removes its temporary
    // instead of running on unseen.
    let token = cancel.child_token();
    let _stop_if_dropped = token.clone().drop_guard();
    let t = Transfer::new(token, sent_tx, throttle);
    let task = tokio::task::spawn_blocking(move || work(t));
    while let Some(bytes) = sent_rx.recv().await {
        progress.fetch_add(bytes, Ordering::Relaxed);
    }
    joined(task.await)
}

/// A panic in blocking work resurfaces in the caller; a task dropped by a
/// shutting-down runtime counts as cancelled.
fn joined<T>(outcome: Result<Result<T, RemoteError>, JoinError>) -> Result<T, RemoteError> {
    match outcome {
        Ok(result) => result,
        Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
        Err(_) => Err(RemoteError::Cancelled),
    }
}
