//! `EventService`: the typed event feed; converts and follows the
//! [`EventBus`](crate::events::EventBus), nothing more.

use std::pin::Pin;

use syncroll_core::events::EventSeq;
use syncroll_proto::v1 as pb;
use syncroll_proto::v1::event_service_server::EventService;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status};

use super::{Control, Reply, convert};

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::WatchEventsResponse, Status>> + Send>>;

#[tonic::async_trait]
impl EventService for Control {
    type WatchEventsStream = EventStream;

    async fn watch_events(
        &self,
        request: Request<pb::WatchEventsRequest>,
    ) -> Reply<Self::WatchEventsStream> {
        let after = request.into_inner().after_seq.map(EventSeq);
        let feed = self
            .app
            .events()
            .follow(after)
            .await
            .map_err(crate::app::AppError::from)?;
        let stream = ReceiverStream::new(feed).map(|item| match item {
            Ok(item) => Ok(convert::feed_item(item)),
            Err(error) => Err(Status::from(crate::app::AppError::from(error))),
        });
        Ok(Response::new(Box::pin(stream)))
    }
}
