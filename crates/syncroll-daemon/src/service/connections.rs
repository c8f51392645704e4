//! `ConnectionService`: `connect`, `disconnect`, `conflicts`, `rescan
//! --remote`; converts and calls [`App`](crate::app::App), nothing more.

use syncroll_proto::v1 as pb;
use syncroll_proto::v1::connection_service_server::ConnectionService;
use tonic::{Request, Response};

use super::{Control, Reply, convert};

#[tonic::async_trait]
impl ConnectionService for Control {
    async fn connect_collection(
        &self,
        request: Request<pb::ConnectCollectionRequest>,
    ) -> Reply<pb::ConnectCollectionResponse> {
        let request = request.into_inner();
        let connect = convert::connect_request(&request)?;
        let connected = self.app.connect(&request.name, connect).await?;
        let mut collection = convert::collection(&connected.collection);
        collection.connection = Some(convert::connection(&connected.connection));
        Ok(Response::new(pb::ConnectCollectionResponse {
            connection: Some(convert::connection(&connected.connection)),
            created: connected.created,
            collection: Some(collection),
            uploads_queued: connected.uploads_queued,
        }))
    }

    async fn disconnect_collection(
        &self,
        request: Request<pb::DisconnectCollectionRequest>,
    ) -> Reply<pb::DisconnectCollectionResponse> {
        let (was_connected, collection) = self.app.disconnect(&request.into_inner().name).await?;
        Ok(Response::new(pb::DisconnectCollectionResponse {
            was_connected,
            collection: Some(convert::collection(&collection)),
        }))
    }

    async fn list_conflicts(
        &self,
        request: Request<pb::ListConflictsRequest>,
    ) -> Reply<pb::ListConflictsResponse> {
        let conflicts = self.app.conflicts(request.into_inner().all).await?;
        Ok(Response::new(pb::ListConflictsResponse {
            conflicts: conflicts.iter().map(convert::conflict).collect(),
        }))
    }

    async fn poll_remote(
        &self,
        request: Request<pb::PollRemoteRequest>,
    ) -> Reply<pb::PollRemoteResponse> {
        let collections = self.app.poll_remote(&request.into_inner().remote).await?;
        Ok(Response::new(pb::PollRemoteResponse { collections }))
    }
}
