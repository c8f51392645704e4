//! `VersionService`: lists and restores versions; converts and calls
//! [`App`](crate::app::App), nothing more.

use std::pin::Pin;

use syncroll_proto::v1 as pb;
use syncroll_proto::v1::version_service_server::VersionService;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::{Control, Reply, convert};

type VersionStream = Pin<Box<dyn Stream<Item = Result<pb::Version, Status>> + Send>>;

#[tonic::async_trait]
impl VersionService for Control {
    type ListVersionsStream = VersionStream;

    async fn list_versions(
        &self,
        request: Request<pb::ListVersionsRequest>,
    ) -> Reply<Self::ListVersionsStream> {
        let (path, versions) = self.app.list_versions(&request.into_inner().path).await?;
        // A file keeps at most `versions.keep` of them: one reply's worth.
        let versions: Vec<_> = versions
            .iter()
            .map(|v| Ok(convert::version(&path, v)))
            .collect();
        Ok(Response::new(Box::pin(tokio_stream::iter(versions))))
    }

    async fn restore_version(
        &self,
        request: Request<pb::RestoreVersionRequest>,
    ) -> Reply<pb::RestoreVersionResponse> {
        let request = request.into_inner();
        let restored = self
            .app
            .restore_version(&request.path, request.number)
            .await?;
        let path = restored.path.display().to_string();
        Ok(Response::new(pb::RestoreVersionResponse {
            restored: Some(convert::version(&path, &restored.restored)),
            kept: restored.kept.as_ref().map(|v| convert::version(&path, v)),
        }))
    }
}
