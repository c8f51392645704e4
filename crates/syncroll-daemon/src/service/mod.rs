//! The tonic services: a thin adapter that converts requests, calls [`App`],
//! and converts replies. No logic lives here.

mod connections;
mod convert;
mod events;
mod versions;

use std::pin::Pin;
use std::sync::Arc;

use syncroll_proto::v1 as pb;
use syncroll_proto::v1::catalog_service_server::CatalogService;
use syncroll_proto::v1::collection_service_server::CollectionService;
use syncroll_proto::v1::daemon_service_server::DaemonService;
use syncroll_proto::v1::remote_service_server::RemoteService;
use syncroll_proto::v1::sync_service_server::SyncService;
use tokio_stream::{Stream, StreamExt, wrappers::ReceiverStream};
use tonic::{Request, Response, Status};

use crate::app::{App, AppError};

type Reply<T> = Result<Response<T>, Status>;

/// Serves every control service over one [`App`].
#[derive(Debug, Clone)]
pub struct Control {
    app: Arc<App>,
}

impl Control {
    pub fn new(app: Arc<App>) -> Self {
        Self { app }
    }
}

#[tonic::async_trait]
impl DaemonService for Control {
    async fn get_status(&self, _: Request<pb::GetStatusRequest>) -> Reply<pb::GetStatusResponse> {
        let snapshot = self.app.status().await?;
        let sync = self.sync_status().await?;
        let daemon = &self.app.config().daemon;
        let mut reply = convert::status(
            snapshot,
            daemon.data_dir.display().to_string(),
            daemon.socket.display().to_string(),
        );
        reply.sync = Some(sync);
        reply.sync_blocked_reason = self.app.sync().blocked_reason().unwrap_or_default();
        Ok(Response::new(reply))
    }
}

type PhotoStream = Pin<Box<dyn Stream<Item = Result<pb::Photo, Status>> + Send>>;

#[tonic::async_trait]
impl CatalogService for Control {
    async fn add_root(&self, request: Request<pb::AddRootRequest>) -> Reply<pb::AddRootResponse> {
        let root = self.app.add_root(&request.into_inner().path).await?;
        Ok(Response::new(pb::AddRootResponse {
            root: Some(convert::root(&root)),
        }))
    }

    async fn list_roots(&self, _: Request<pb::ListRootsRequest>) -> Reply<pb::ListRootsResponse> {
        let roots = self.app.roots().await?;
        Ok(Response::new(pb::ListRootsResponse {
            roots: roots.iter().map(convert::root).collect(),
        }))
    }

    async fn remove_root(
        &self,
        request: Request<pb::RemoveRootRequest>,
    ) -> Reply<pb::RemoveRootResponse> {
        let request = request.into_inner();
        let photos_forgotten = self
            .app
            .remove_root(&request.path, request.confirmed)
            .await?;
        Ok(Response::new(pb::RemoveRootResponse { photos_forgotten }))
    }

    async fn accept_root(
        &self,
        request: Request<pb::AcceptRootRequest>,
    ) -> Reply<pb::AcceptRootResponse> {
        let request = request.into_inner();
        let expect = request.expect.map(convert::folder_identity_from);
        let outcome = self
            .app
            .accept_root(&request.path, request.dry_run, expect)
            .await?;
        Ok(Response::new(convert::accept_root(&outcome)))
    }

    async fn rescan(&self, request: Request<pb::RescanRequest>) -> Reply<pb::RescanResponse> {
        let request = request.into_inner();
        let summary = self.app.rescan(&request.path, request.wait).await?;
        Ok(Response::new(convert::rescan(&summary)))
    }

    type ListPhotosStream = PhotoStream;

    async fn list_photos(
        &self,
        request: Request<pb::ListPhotosRequest>,
    ) -> Reply<Self::ListPhotosStream> {
        let request = request.into_inner();
        let photos = self
            .app
            .list_photos(&request.collection, request.limit)
            .await?;
        let stream = ReceiverStream::new(photos).map(|photo| match photo {
            Ok(photo) => Ok(convert::photo(&photo)),
            Err(e) => Err(Status::from(e)),
        });
        Ok(Response::new(Box::pin(stream)))
    }
}

#[tonic::async_trait]
impl CollectionService for Control {
    async fn create_collection(
        &self,
        request: Request<pb::CreateCollectionRequest>,
    ) -> Reply<pb::CreateCollectionResponse> {
        let request = request.into_inner();
        let collection = self
            .app
            .create_collection(
                &request.name,
                &request.folder,
                &request.remote,
                request.sync,
            )
            .await?;
        Ok(Response::new(pb::CreateCollectionResponse {
            collection: Some(convert::collection(&collection)),
        }))
    }

    async fn list_collections(
        &self,
        _: Request<pb::ListCollectionsRequest>,
    ) -> Reply<pb::ListCollectionsResponse> {
        let collections = self.app.collections().await?;
        let connections = self.app.connections().await?;
        Ok(Response::new(pb::ListCollectionsResponse {
            collections: collections
                .iter()
                .map(|c| with_connection(c, &connections))
                .collect(),
        }))
    }

    async fn get_collection(
        &self,
        request: Request<pb::GetCollectionRequest>,
    ) -> Reply<pb::GetCollectionResponse> {
        let collection = self.app.collection(&request.into_inner().name).await?;
        let connections = self.app.connections().await?;
        Ok(Response::new(pb::GetCollectionResponse {
            collection: Some(with_connection(&collection, &connections)),
        }))
    }

    async fn rename_collection(
        &self,
        request: Request<pb::RenameCollectionRequest>,
    ) -> Reply<pb::RenameCollectionResponse> {
        let request = request.into_inner();
        let collection = self
            .app
            .rename_collection(&request.name, &request.new_name)
            .await?;
        Ok(Response::new(pb::RenameCollectionResponse {
            collection: Some(convert::collection(&collection)),
        }))
    }

    async fn delete_collection(
        &self,
        request: Request<pb::DeleteCollectionRequest>,
    ) -> Reply<pb::DeleteCollectionResponse> {
        self.app
            .delete_collection(&request.into_inner().name)
            .await?;
        Ok(Response::new(pb::DeleteCollectionResponse {}))
    }

    async fn add_to_collection(
        &self,
        request: Request<pb::AddToCollectionRequest>,
    ) -> Reply<pb::AddToCollectionResponse> {
        let request = request.into_inner();
        let (photos_added, collection) = self
            .app
            .add_to_collection(&request.name, &request.paths)
            .await?;
        Ok(Response::new(pb::AddToCollectionResponse {
            photos_added,
            photo_count: collection.photo_count,
        }))
    }

    async fn remove_from_collection(
        &self,
        request: Request<pb::RemoveFromCollectionRequest>,
    ) -> Reply<pb::RemoveFromCollectionResponse> {
        let request = request.into_inner();
        let (photos_removed, collection) = self
            .app
            .remove_from_collection(&request.name, &request.paths)
            .await?;
        Ok(Response::new(pb::RemoveFromCollectionResponse {
            photos_removed,
            photo_count: collection.photo_count,
        }))
    }
}

/// A collection with its connection, if it has one.
fn with_connection(
    collection: &syncroll_core::Collection,
    connections: &[syncroll_core::connection::Connection],
) -> pb::Collection {
    let mut reply = convert::collection(collection);
    reply.connection = connections
        .iter()
        .find(|k| k.collection_id == collection.id)
        .map(convert::connection);
    reply
}

impl Control {
    async fn sync_status(&self) -> Result<pb::SyncStatus, Status> {
        let snapshot = self.app.sync().snapshot().await.map_err(AppError::from)?;
        let collections = self.app.collections().await?;
        let store = self.app.store();
        let failures = store.recent_failures(5).await.map_err(AppError::from)?;
        let skipped = convert::Skipped {
            count: store.skipped_count().await.map_err(AppError::from)?,
            first: store
                .skipped_photos(None, 0, 5)
                .await
                .map_err(AppError::from)?,
        };
        let holds = self.app.holds(false).await?;
        let mut status = convert::sync_status(snapshot, &collections, &failures, &skipped);
        status.holds = holds.iter().map(convert::hold).collect();
        let connections = self.app.connections().await?;
        for c in &mut status.collections {
            if let Some(k) = connections.iter().find(|k| k.collection_name == c.name) {
                c.direction = k.direction.as_str().to_owned();
            }
        }
        status.blocked_reason = self.app.sync().blocked_reason().unwrap_or_default();
        status.bandwidth = Some(convert::bandwidth(&self.app.bandwidth().now()));
        Ok(status)
    }
}

type JobStream = Pin<Box<dyn Stream<Item = Result<pb::Job, Status>> + Send>>;
type SyncStream = Pin<Box<dyn Stream<Item = Result<pb::SyncStatus, Status>> + Send>>;
type SyncedPhotoStream = Pin<Box<dyn Stream<Item = Result<pb::SyncedPhoto, Status>> + Send>>;
type HeldKeyStream = Pin<Box<dyn Stream<Item = Result<pb::HeldKey, Status>> + Send>>;

#[tonic::async_trait]
impl SyncService for Control {
    async fn set_sync(&self, request: Request<pb::SetSyncRequest>) -> Reply<pb::SetSyncResponse> {
        let request = request.into_inner();
        let (collection, outcome) = self
            .app
            .set_sync(
                &request.name,
                request.enabled,
                request.keep_remote,
                request.confirmed,
            )
            .await?;
        Ok(Response::new(pb::SetSyncResponse {
            collection: Some(convert::collection(&collection)),
            uploads_queued: outcome.uploads,
            deletes_queued: outcome.deletes,
            jobs_cancelled: outcome.cancelled,
        }))
    }

    async fn pause(&self, request: Request<pb::PauseRequest>) -> Reply<pb::PauseResponse> {
        let request = request.into_inner();
        let duration = convert::pause_duration(request.for_seconds)?;
        let (paused_until, transfers_interrupted) =
            self.app.pause(&request.collection, duration).await?;
        Ok(Response::new(pb::PauseResponse {
            paused_until,
            transfers_interrupted,
        }))
    }

    async fn resume(&self, request: Request<pb::ResumeRequest>) -> Reply<pb::ResumeResponse> {
        self.app.resume(&request.into_inner().collection).await?;
        Ok(Response::new(pb::ResumeResponse {}))
    }

    async fn cancel(&self, request: Request<pb::CancelRequest>) -> Reply<pb::CancelResponse> {
        let request = request.into_inner();
        let job = convert::job_id(request.job_id)?;
        let jobs_cancelled = self.app.cancel(&request.collection, job).await?;
        Ok(Response::new(pb::CancelResponse { jobs_cancelled }))
    }

    type ListJobsStream = JobStream;

    async fn list_jobs(
        &self,
        request: Request<pb::ListJobsRequest>,
    ) -> Reply<Self::ListJobsStream> {
        let request = request.into_inner();
        let jobs = self
            .app
            .list_jobs(&request.state, &request.collection)
            .await?;
        let stream = ReceiverStream::new(jobs).map(|listing| match listing {
            Ok(listing) => Ok(convert::job_listing(&listing)),
            Err(e) => Err(Status::from(e)),
        });
        Ok(Response::new(Box::pin(stream)))
    }

    async fn retry_jobs(
        &self,
        request: Request<pb::RetryJobsRequest>,
    ) -> Reply<pb::RetryJobsResponse> {
        let request = request.into_inner();
        let target = convert::retry_target(request.job_id, request.all)?;
        let jobs_retried = self.app.retry(target).await?;
        Ok(Response::new(pb::RetryJobsResponse { jobs_retried }))
    }

    type WatchSyncStream = SyncStream;

    async fn watch_sync(
        &self,
        request: Request<pb::WatchSyncRequest>,
    ) -> Reply<Self::WatchSyncStream> {
        let interval = convert::watch_interval(request.into_inner().interval_ms)?;
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                let status = this.sync_status().await;
                let failed = status.is_err();
                if tx.send(status).await.is_err() || failed {
                    return;
                }
                tokio::time::sleep(interval).await;
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    type ListSyncedPhotosStream = SyncedPhotoStream;

    async fn list_synced_photos(
        &self,
        request: Request<pb::ListSyncedPhotosRequest>,
    ) -> Reply<Self::ListSyncedPhotosStream> {
        let photos = self
            .app
            .list_synced_photos(request.into_inner().limit)
            .await?;
        let stream = ReceiverStream::new(photos).map(|item| match item {
            Ok((photo, states)) => Ok(convert::synced_photo(&photo, &states)),
            Err(e) => Err(Status::from(e)),
        });
        Ok(Response::new(Box::pin(stream)))
    }

    async fn list_holds(
        &self,
        request: Request<pb::ListHoldsRequest>,
    ) -> Reply<pb::ListHoldsResponse> {
        let holds = self.app.holds(request.into_inner().all).await?;
        Ok(Response::new(pb::ListHoldsResponse {
            holds: holds.iter().map(convert::hold).collect(),
        }))
    }

    type ListHoldKeysStream = HeldKeyStream;

    async fn list_hold_keys(
        &self,
        request: Request<pb::ListHoldKeysRequest>,
    ) -> Reply<Self::ListHoldKeysStream> {
        let id = convert::hold_id(request.into_inner().hold_id)?;
        let keys = self.app.hold_keys(id).await?;
        let stream = ReceiverStream::new(keys).map(|item| match item {
            Ok(key) => Ok(convert::held_key(&key)),
            Err(e) => Err(Status::from(e)),
        });
        Ok(Response::new(Box::pin(stream)))
    }

    async fn approve_hold(
        &self,
        request: Request<pb::DecideHoldRequest>,
    ) -> Reply<pb::DecideHoldResponse> {
        self.decide_hold(request.into_inner(), true).await
    }

    async fn reject_hold(
        &self,
        request: Request<pb::DecideHoldRequest>,
    ) -> Reply<pb::DecideHoldResponse> {
        self.decide_hold(request.into_inner(), false).await
    }

    async fn set_limit(
        &self,
        request: Request<pb::SetLimitRequest>,
    ) -> Reply<pb::SetLimitResponse> {
        let request = request.into_inner();
        let duration = convert::limit_duration(request.for_seconds)?;
        let now = self.app.set_limit(&request.limit, duration)?;
        Ok(Response::new(pb::SetLimitResponse {
            bandwidth: Some(convert::bandwidth(&now)),
        }))
    }
}

impl Control {
    async fn decide_hold(
        &self,
        request: pb::DecideHoldRequest,
        approve: bool,
    ) -> Reply<pb::DecideHoldResponse> {
        let id = convert::hold_id(request.hold_id)?;
        let (hold, deletions) = self.app.decide_hold(id, approve).await?;
        Ok(Response::new(pb::DecideHoldResponse {
            hold: Some(convert::hold(&hold)),
            deletions,
        }))
    }
}

#[tonic::async_trait]
impl RemoteService for Control {
    async fn add_remote(
        &self,
        request: Request<pb::AddRemoteRequest>,
    ) -> Reply<pb::AddRemoteResponse> {
        let remote = self
            .app
            .add_remote(convert::new_remote(request.into_inner()))
            .await?;
        Ok(Response::new(pb::AddRemoteResponse {
            remote: Some(convert::remote(&remote, &self.app.config().remotes.default)),
        }))
    }

    async fn list_remotes(
        &self,
        _: Request<pb::ListRemotesRequest>,
    ) -> Reply<pb::ListRemotesResponse> {
        let default = &self.app.config().remotes.default;
        let remotes = self.app.remotes().await?;
        Ok(Response::new(pb::ListRemotesResponse {
            remotes: remotes
                .iter()
                .map(|r| convert::remote(r, default))
                .collect(),
        }))
    }

    async fn remove_remote(
        &self,
        request: Request<pb::RemoveRemoteRequest>,
    ) -> Reply<pb::RemoveRemoteResponse> {
        self.app.remove_remote(&request.into_inner().name).await?;
        Ok(Response::new(pb::RemoveRemoteResponse {}))
    }

    async fn test_remote(
        &self,
        request: Request<pb::TestRemoteRequest>,
    ) -> Reply<pb::TestRemoteResponse> {
        let (ok, detail) = match self.app.test_remote(&request.into_inner().name).await? {
            Ok(detail) => (true, detail),
            Err(detail) => (false, detail),
        };
        Ok(Response::new(pb::TestRemoteResponse { ok, detail }))
    }
}
