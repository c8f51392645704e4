//! A download job's turn ([`JobOp::Download`]): the key a poll queued is
//! decided again from what the remote holds now, then carried out.
//!
//! Deciding again is what makes a queued download safe to run late (after
//! a pause, a retry's backoff, a restart): the listing it was queued from
//! may be hours old, and the local file or the remote object may have
//! changed since. It costs one `HEAD` (or `stat`) a download.
//!
//! [`JobOp::Download`]: syncroll_core::job::JobOp::Download

use std::sync::atomic::AtomicU64;

use syncroll_core::job::Job;
use syncroll_remote::RemoteError;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use super::PullEngine;
use super::land::{self, LandError, Turn};
use super::poll::{self, PollError, PollReport};
use crate::sync::{DownloadError, DownloadOutcome, DownloadRunner};

#[async_trait::async_trait]
impl DownloadRunner for PullEngine {
    async fn download(
        &self,
        job: &Job,
        progress: &AtomicU64,
        cancel: &CancellationToken,
    ) -> Result<DownloadOutcome, DownloadError> {
        let inner = &*self.inner;
        let Some(album) = album_of(inner, job).await? else {
            return Ok(DownloadOutcome::NotNeeded(
                "the collection no longer pulls from this remote".to_owned(),
            ));
        };
        let (album, policy) = album;
        let Some(meta) = album.remote.head(&job.key).await? else {
            return Ok(DownloadOutcome::NotNeeded(
                "the key is no longer on the remote (the next poll sees it gone)".to_owned(),
            ));
        };
        let bytes = meta.size;
        let mut report = PollReport::default();
        let decided = poll::decide_key(inner, &album, &policy, meta, &mut report)
            .await
            .map_err(from_poll)?;
        let Some(decided) = decided else {
            if let Some(refusal) = report.refusals.first() {
                return Err(DownloadError::Refused(refusal.clone()));
            }
            if report.later > 0 {
                return Err(DownloadError::Passing(
                    "the local file is not indexed yet; tried again once it is".to_owned(),
                ));
            }
            debug!("decided again at its turn: nothing left to bring home");
            return Ok(DownloadOutcome::Landed {
                landed: "nothing",
                bytes: 0,
            });
        };
        let turn = Turn { cancel, progress };
        match land::carry_out(inner, &album, &decided, &turn).await {
            Ok(landed) => Ok(DownloadOutcome::Landed {
                landed: landed.name(),
                bytes,
            }),
            Err(error) => Err(from_land(error)),
        }
    }

    async fn discard_partial(&self, job: &Job) {
        let inner = &*self.inner;
        let Ok(Some((album, _))) = album_of(inner, job).await else {
            return;
        };
        let Some(rest) = job.key.strip_prefix(&album.folder_prefix) else {
            return;
        };
        let sidecar = poll::is_sidecar_name(inner, rest);
        if let Ok(Ok(located)) = poll::locate(inner, &album, &job.key, rest, sidecar).await {
            let dest = poll::local_path(&located.root, &located.rel_path);
            land::discard_stale_downloads(&dest, &job.key).await;
        }
    }
}

/// The album of the job's connection and the policy it is decided under;
/// `None` when the collection no longer pulls (disconnected, sync off).
async fn album_of(
    inner: &super::Inner,
    job: &Job,
) -> Result<Option<(poll::Album, syncroll_core::connection::Policy)>, DownloadError> {
    let Some(collection) = job.collection_id else {
        return Ok(None);
    };
    let connection = inner.store.connection(collection).await.map_err(catalog)?;
    let Some(connection) = connection.filter(|c| c.direction.pulls()) else {
        return Ok(None);
    };
    match poll::open_album(
        inner,
        &connection,
        job.remote_id,
        poll::CaseProbe::LastPolls,
    )
    .await
    {
        Ok(album) if album.remote_id == job.remote_id => {
            Ok(Some((album, poll::policy_of(&connection))))
        }
        Ok(_) | Err(PollError::NotSynced(_)) => Ok(None),
        Err(error) => Err(from_poll(error)),
    }
}

fn catalog(error: syncroll_core::Error) -> DownloadError {
    DownloadError::Passing(error.to_string())
}

fn from_poll(error: PollError) -> DownloadError {
    match error {
        PollError::RootMissing { path, .. } => {
            DownloadError::RootMissing(path.display().to_string())
        }
        PollError::Listing { source, .. } => DownloadError::Remote(source),
        PollError::Cancelled => DownloadError::Remote(RemoteError::Cancelled),
        PollError::Catalog(e) => catalog(e),
        other => DownloadError::Refused(other.to_string()),
    }
}

fn from_land(error: LandError) -> DownloadError {
    match error {
        LandError::Cancelled => DownloadError::Remote(RemoteError::Cancelled),
        LandError::Remote(e) => DownloadError::Remote(e),
        LandError::LeavesRoot(_) | LandError::NotCarriedOut(_) => {
            DownloadError::Refused(error.to_string())
        }
        LandError::NotEnoughSpace { .. }
        | LandError::Io { .. }
        | LandError::NotIndexed(_)
        | LandError::Catalog(_)
        | LandError::ChangedMeanwhile(_)
        | LandError::Replace(_) => DownloadError::Passing(error.to_string()),
    }
}
