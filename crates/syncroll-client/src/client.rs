//! [`Client`]: one connection to the daemon, its services, and typed calls
//! over them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use syncroll_proto::v1::catalog_service_client::CatalogServiceClient;
use syncroll_proto::v1::collection_service_client::CollectionServiceClient;
use syncroll_proto::v1::connection_service_client::ConnectionServiceClient;
use syncroll_proto::v1::daemon_service_client::DaemonServiceClient;
use syncroll_proto::v1::event_service_client::EventServiceClient;
use syncroll_proto::v1::remote_service_client::RemoteServiceClient;
use syncroll_proto::v1::sync_service_client::SyncServiceClient;
use syncroll_proto::v1::version_service_client::VersionServiceClient;
use tonic::transport::Channel;

use crate::error::ClientError;
use crate::events::EventStream;
use crate::pb;
use crate::states::{HoldState, JobState, RootState, SyncState};

/// The daemon's services over one connection. The typed methods cover what
/// the tray and scripts need; the generated clients are public for the
/// rest (each clone shares the connection).
#[derive(Debug, Clone)]
pub struct Client {
    socket: PathBuf,
    pub daemon: DaemonServiceClient<Channel>,
    pub catalog: CatalogServiceClient<Channel>,
    pub collections: CollectionServiceClient<Channel>,
    pub sync: SyncServiceClient<Channel>,
    pub remotes: RemoteServiceClient<Channel>,
    pub versions: VersionServiceClient<Channel>,
    pub connections: ConnectionServiceClient<Channel>,
    pub events: EventServiceClient<Channel>,
}

/// A root and its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootInfo {
    pub path: PathBuf,
    pub state: RootState,
    pub photo_count: u64,
}

/// A job of the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobInfo {
    /// `None` for a photo skipped instead of queued: it has no job.
    pub id: Option<u64>,
    pub collection: String,
    pub op: String,
    pub key: String,
    pub state: JobState,
    pub attempts: u32,
    /// The last error, if any.
    pub error: Option<String>,
}

/// Deletions held by the brake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldInfo {
    pub id: u64,
    pub collection: String,
    pub state: HoldState,
    pub deletions: u64,
    /// In words: "121 of 200 copies of Iceland on local would be deleted".
    pub reason: String,
}

impl Client {
    /// Connects to the daemon at `socket`. The connection is made now, so a
    /// daemon that is not running is [`ClientError::Unreachable`] here.
    pub async fn connect(socket: impl Into<PathBuf>) -> Result<Self, ClientError> {
        let socket = socket.into();
        let channel =
            syncroll_proto::connect(&socket)
                .await
                .map_err(|e| ClientError::Unreachable {
                    detail: root_cause(&e),
                    socket: socket.clone(),
                })?;
        Ok(Self {
            socket,
            daemon: DaemonServiceClient::new(channel.clone()),
            catalog: CatalogServiceClient::new(channel.clone()),
            collections: CollectionServiceClient::new(channel.clone()),
            sync: SyncServiceClient::new(channel.clone()),
            remotes: RemoteServiceClient::new(channel.clone()),
            versions: VersionServiceClient::new(channel.clone()),
            connections: ConnectionServiceClient::new(channel.clone()),
            events: EventServiceClient::new(channel),
        })
    }

    /// Connects to the socket [`crate::locate::socket`] finds.
    pub async fn connect_default() -> Result<Self, ClientError> {
        Self::connect(crate::locate::socket()).await
    }

    /// The socket this client is connected to.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Sync's state now, and the whole status it was read from.
    pub async fn sync_state(&self) -> Result<(SyncState, pb::SyncStatus), ClientError> {
        let reply = self
            .daemon
            .clone()
            .get_status(pb::GetStatusRequest {})
            .await?;
        let status = reply
            .into_inner()
            .sync
            .ok_or(ClientError::Missing("sync status"))?;
        Ok((SyncState::of(&status)?, status))
    }

    /// The daemon's whole status (`syncroll status`): sync's state and
    /// counts, the roots, open conflicts, the data dir.
    pub async fn status(&self) -> Result<pb::GetStatusResponse, ClientError> {
        let reply = self
            .daemon
            .clone()
            .get_status(pb::GetStatusRequest {})
            .await?;
        Ok(reply.into_inner())
    }

    /// The catalog's roots.
    pub async fn roots(&self) -> Result<Vec<RootInfo>, ClientError> {
        let reply = self
            .catalog
            .clone()
            .list_roots(pb::ListRootsRequest {})
            .await?;
        reply
            .into_inner()
            .roots
            .into_iter()
            .map(|root| {
                Ok(RootInfo {
                    state: RootState::of(&root)?,
                    path: PathBuf::from(root.path),
                    photo_count: root.photo_count,
                })
            })
            .collect()
    }

    /// Pauses every collection (`None`) or one, until resumed (`None`) or
    /// for `duration`; returns when the pause ends, in Unix seconds.
    pub async fn pause(
        &self,
        collection: Option<&str>,
        duration: Option<Duration>,
    ) -> Result<Option<i64>, ClientError> {
        let request = pb::PauseRequest {
            collection: collection.unwrap_or_default().to_owned(),
            // The wire's 0 is "until resumed"; a zero duration is no pause
            // worth asking for, so it becomes one second rather than forever.
            for_seconds: duration.map_or(0, |d| d.as_secs().max(1)),
        };
        let reply = self.sync.clone().pause(request).await?.into_inner();
        Ok((reply.paused_until > 0).then_some(reply.paused_until))
    }

    /// Resumes every collection (`None`) or one.
    pub async fn resume(&self, collection: Option<&str>) -> Result<(), ClientError> {
        let request = pb::ResumeRequest {
            collection: collection.unwrap_or_default().to_owned(),
        };
        self.sync.clone().resume(request).await?;
        Ok(())
    }

    /// The queue's jobs, in any state (`None`) or one, of every collection
    /// (`None`) or one.
    pub async fn jobs(
        &self,
        state: Option<JobState>,
        collection: Option<&str>,
    ) -> Result<Vec<JobInfo>, ClientError> {
        let request = pb::ListJobsRequest {
            state: state.map(|s| s.as_str().to_owned()).unwrap_or_default(),
            collection: collection.unwrap_or_default().to_owned(),
        };
        let mut stream = self.sync.clone().list_jobs(request).await?.into_inner();
        let mut jobs = Vec::new();
        while let Some(job) = stream.message().await? {
            jobs.push(JobInfo {
                id: (job.id > 0).then_some(job.id),
                state: job.state.parse()?,
                collection: job.collection,
                op: job.op,
                key: job.key,
                attempts: job.attempts,
                error: (!job.error.is_empty()).then_some(job.error),
            });
        }
        Ok(jobs)
    }

    /// Holds of the deletion brake: pending ones, or all with `all`.
    pub async fn holds(&self, all: bool) -> Result<Vec<HoldInfo>, ClientError> {
        let reply = self
            .sync
            .clone()
            .list_holds(pb::ListHoldsRequest { all })
            .await?;
        reply
            .into_inner()
            .holds
            .into_iter()
            .map(|hold| {
                Ok(HoldInfo {
                    state: hold.state.parse()?,
                    id: hold.id,
                    collection: hold.collection,
                    deletions: hold.deletions,
                    reason: hold.reason,
                })
            })
            .collect()
    }

    /// Follows the event feed: the events after `after` the daemon still
    /// keeps (a [`crate::FeedItem::Gap`] first if it no longer keeps them
    /// all), then new ones as they happen. Without `after`, only new ones.
    pub async fn watch_events(&self, after: Option<u64>) -> Result<EventStream, ClientError> {
        let request = pb::WatchEventsRequest { after_seq: after };
        let stream = self.events.clone().watch_events(request).await?;
        Ok(EventStream::new(stream.into_inner()))
    }
}

/// The innermost error's words ("No such file or directory"), which say
/// more than tonic's "transport error".
fn root_cause(error: &dyn std::error::Error) -> String {
    let mut cause = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}
