//! The tonic services: a thin adapter that converts requests, calls [`App`],
//! and converts replies. No logic lives here.

mod convert;

use std::pin::Pin;
use std::sync::Arc;

use syncroll_proto::v1 as pb;
use syncroll_proto::v1::catalog_service_server::CatalogService;
use syncroll_proto::v1::collection_service_server::CollectionService;
use syncroll_proto::v1::daemon_service_server::DaemonService;
use tokio_stream::{Stream, StreamExt, wrappers::ReceiverStream};
use tonic::{Request, Response, Status};

use crate::app::App;

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
        let daemon = &self.app.config().daemon;
        Ok(Response::new(convert::status(
            snapshot,
            daemon.data_dir.display().to_string(),
            daemon.socket.display().to_string(),
        )))
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
        let photos_forgotten = self.app.remove_root(&request.into_inner().path).await?;
        Ok(Response::new(pb::RemoveRootResponse { photos_forgotten }))
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
            .create_collection(&request.name, &request.folder, &request.remote)
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
        Ok(Response::new(pb::ListCollectionsResponse {
            collections: collections.iter().map(convert::collection).collect(),
        }))
    }

    async fn get_collection(
        &self,
        request: Request<pb::GetCollectionRequest>,
    ) -> Reply<pb::GetCollectionResponse> {
        let collection = self.app.collection(&request.into_inner().name).await?;
        Ok(Response::new(pb::GetCollectionResponse {
            collection: Some(convert::collection(&collection)),
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
