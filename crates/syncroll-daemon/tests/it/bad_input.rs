//! Every RPC, called with what a careless or hostile client sends: empty,
//! 1 MiB, control-character, path-traversal, unknown-id and out-of-range
//! arguments. Each is refused with InvalidArgument or NotFound and a short,
//! escaped message; nothing panics; the daemon keeps serving.

use std::future::Future;
use std::pin::Pin;

use syncroll_proto::v1 as pb;
use syncroll_proto::v1::catalog_service_client::CatalogServiceClient;
use syncroll_proto::v1::collection_service_client::CollectionServiceClient;
use syncroll_proto::v1::connection_service_client::ConnectionServiceClient;
use syncroll_proto::v1::daemon_service_client::DaemonServiceClient;
use syncroll_proto::v1::remote_service_client::RemoteServiceClient;
use syncroll_proto::v1::sync_service_client::SyncServiceClient;
use syncroll_proto::v1::version_service_client::VersionServiceClient;
use syncroll_testkit::{Daemon, s, write_file};
use tonic::transport::Channel;
use tonic::{Code, Status};

type Call = Pin<Box<dyn Future<Output = Result<(), Status>> + Send>>;

/// The longest message a refusal may carry: at most 200 characters of the
/// bad value, its length, and a sentence around them.
const MAX_MESSAGE_CHARS: usize = 320;

#[derive(Clone)]
struct Clients {
    daemon: DaemonServiceClient<Channel>,
    catalog: CatalogServiceClient<Channel>,
    collections: CollectionServiceClient<Channel>,
    sync: SyncServiceClient<Channel>,
    remotes: RemoteServiceClient<Channel>,
    versions: VersionServiceClient<Channel>,
    connections: ConnectionServiceClient<Channel>,
}

impl Clients {
    fn new(channel: Channel) -> Self {
        Self {
            daemon: DaemonServiceClient::new(channel.clone()),
            catalog: CatalogServiceClient::new(channel.clone()),
            collections: CollectionServiceClient::new(channel.clone()),
            sync: SyncServiceClient::new(channel.clone()),
            remotes: RemoteServiceClient::new(channel.clone()),
            versions: VersionServiceClient::new(channel.clone()),
            connections: ConnectionServiceClient::new(channel),
        }
    }
}

/// One call: the RPC, what is wrong with its argument, what must come back.
struct Case {
    rpc: &'static str,
    input: &'static str,
    expect: Expect,
    call: Call,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    Refused(Code),
    /// Nothing wrong after all (an empty name meaning "all", say).
    Served,
}

/// A unary call, its reply dropped.
macro_rules! unary {
    ($client:expr, $method:ident, $request:expr) => {{
        let mut client = $client.clone();
        let request = $request;
        Box::pin(async move { client.$method(request).await.map(drop) }) as Call
    }};
}

/// A server-streaming call, drained (an error may come with the first
/// message rather than the call).
macro_rules! streamed {
    ($client:expr, $method:ident, $request:expr) => {{
        let mut client = $client.clone();
        let request = $request;
        Box::pin(async move {
            let mut stream = client.$method(request).await?.into_inner();
            while stream.message().await?.is_some() {}
            Ok(())
        }) as Call
    }};
}

fn case(rpc: &'static str, input: &'static str, expect: Expect, call: Call) -> Case {
    Case {
        rpc,
        input,
        expect,
        call,
    }
}

/// Bad values, shared by the cases.
struct Values {
    mib: String,
    mib_path: String,
    control: String,
    control_path: String,
    traversal: String,
    /// A spelling of `/etc` that starts in a temp folder.
    climb_to_etc: String,
    root: String,
}

#[rustfmt::skip] // a table: one line per case
fn cases(c: &Clients, v: &Values) -> Vec<Case> {
    use Code::{InvalidArgument as Invalid, NotFound};
    use Expect::{Refused, Served};
    let name = |name: &str| name.to_owned();
    let collection = |n: &str| pb::GetCollectionRequest { name: name(n) };
    let create = |n: &str, folder: &str, remote: &str| pb::CreateCollectionRequest {
        name: name(n),
        folder: folder.to_owned(),
        remote: remote.to_owned(),
        sync: false,
    };
    let fs_remote = |n: &str, path: &str| pb::AddRemoteRequest {
        name: name(n),
        kind: "fs".to_owned(),
        path: path.to_owned(),
        ..Default::default()
    };
    let s3_remote = |endpoint: &str| pb::AddRemoteRequest {
        name: name("S3"),
        kind: "s3".to_owned(),
        endpoint: endpoint.to_owned(),
        bucket: "b".to_owned(),
        access_key_id: "id".to_owned(),
        secret: "secret".to_owned(),
        ..Default::default()
    };
    let add_to = |n: &str, path: &str| pb::AddToCollectionRequest {
        name: name(n),
        paths: vec![path.to_owned()],
    };
    let remove_from = |n: &str, path: &str| pb::RemoveFromCollectionRequest {
        name: name(n),
        paths: vec![path.to_owned()],
    };
    let rename = |n: &str, new: &str| pb::RenameCollectionRequest {
        name: name(n),
        new_name: new.to_owned(),
    };
    let rescan = |path: &str| pb::RescanRequest {
        path: path.to_owned(),
        wait: true,
    };
    let path = |p: &str| p.to_owned();
    let versions = |p: &str| pb::ListVersionsRequest { path: path(p) };
    let restore = |p: &str, number| pb::RestoreVersionRequest { path: path(p), number };
    let photo = format!("{}/a.jpg", v.root);
    let connect = |n: &str, direction: &str, returns: &str, inbox: &str, poll_seconds| pb::ConnectCollectionRequest {
        name: name(n),
        direction: direction.to_owned(),
        returns: returns.to_owned(),
        inbox: inbox.to_owned(),
        poll_seconds,
    };
    let poll = |remote: &str| pb::PollRemoteRequest { remote: remote.to_owned() };
    vec![
        case("GetStatus", "none", Served, unary!(c.daemon, get_status, pb::GetStatusRequest {})),
        // Catalog.
        case("AddRoot", "empty", Refused(Invalid), unary!(c.catalog, add_root, pb::AddRootRequest { path: path("") })),
        case("AddRoot", "1 MiB", Refused(Invalid), unary!(c.catalog, add_root, pb::AddRootRequest { path: v.mib_path.clone() })),
        case("AddRoot", "control", Refused(NotFound), unary!(c.catalog, add_root, pb::AddRootRequest { path: v.control_path.clone() })),
        case("AddRoot", "traversal", Refused(Invalid), unary!(c.catalog, add_root, pb::AddRootRequest { path: v.traversal.clone() })),
        case("AddRoot", "NUL", Refused(Invalid), unary!(c.catalog, add_root, pb::AddRootRequest { path: path("/tmp/a\0b") })),
        case("AddRoot", "a 300-byte name", Refused(Invalid), unary!(c.catalog, add_root, pb::AddRootRequest { path: format!("/tmp/{}", "n".repeat(300)) })),
        case("ListRoots", "none", Served, unary!(c.catalog, list_roots, pb::ListRootsRequest {})),
        case("RemoveRoot", "empty", Refused(Invalid), unary!(c.catalog, remove_root, pb::RemoveRootRequest { path: path(""), confirmed: false })),
        case("RemoveRoot", "1 MiB", Refused(Invalid), unary!(c.catalog, remove_root, pb::RemoveRootRequest { path: v.mib_path.clone(), confirmed: false })),
        case("RemoveRoot", "control", Refused(NotFound), unary!(c.catalog, remove_root, pb::RemoveRootRequest { path: v.control_path.clone(), confirmed: false })),
        case("RemoveRoot", "traversal", Refused(Invalid), unary!(c.catalog, remove_root, pb::RemoveRootRequest { path: v.traversal.clone(), confirmed: false })),
        case("RemoveRoot", "unknown", Refused(NotFound), unary!(c.catalog, remove_root, pb::RemoveRootRequest { path: path("/nonexistent/root"), confirmed: false })),
        case("Rescan", "1 MiB", Refused(Invalid), unary!(c.catalog, rescan, rescan(&v.mib_path))),
        // A path under a root that is not there is rescanned (and found gone).
        case("Rescan", "control", Served, unary!(c.catalog, rescan, rescan(&v.control_path))),
        case("Rescan", "control outside the roots", Refused(Invalid), unary!(c.catalog, rescan, rescan("/nowhere/a\nb\u{1b}[2J"))),
        case("Rescan", "traversal", Refused(Invalid), unary!(c.catalog, rescan, rescan(&v.traversal))),
        case("Rescan", "climbing out of a root", Refused(Invalid), unary!(c.catalog, rescan, rescan(&format!("{}/../..", v.root)))),
        case("ListPhotos", "1 MiB", Refused(NotFound), streamed!(c.catalog, list_photos, pb::ListPhotosRequest { collection: v.mib.clone(), limit: 0 })),
        case("ListPhotos", "control", Refused(NotFound), streamed!(c.catalog, list_photos, pb::ListPhotosRequest { collection: v.control.clone(), limit: 0 })),
        case("ListPhotos", "out of range", Served, streamed!(c.catalog, list_photos, pb::ListPhotosRequest { collection: String::new(), limit: u64::MAX })),
        // Collections.
        case("CreateCollection", "empty", Refused(Invalid), unary!(c.collections, create_collection, create("", "", ""))),
        case("CreateCollection", "blank", Refused(Invalid), unary!(c.collections, create_collection, create(" \u{3000} ", "", ""))),
        case("CreateCollection", "1 MiB", Refused(Invalid), unary!(c.collections, create_collection, create(&v.mib, "", ""))),
        // Past tonic's 4 MiB limit on a request: refused before any handler, briefly.
        case("CreateCollection", "5 MiB", Refused(Code::OutOfRange), unary!(c.collections, create_collection, create(&"x".repeat(5 << 20), "", ""))),
        case("CreateCollection", "control", Refused(Invalid), unary!(c.collections, create_collection, create(&v.control, "", ""))),
        case("CreateCollection", "bidi override", Refused(Invalid), unary!(c.collections, create_collection, create("abc\u{202e}gpj", "", ""))),
        case("CreateCollection", "zero width", Refused(Invalid), unary!(c.collections, create_collection, create("Trip\u{200b}", "", ""))),
        case("CreateCollection", "traversal", Refused(Invalid), unary!(c.collections, create_collection, create(&v.traversal, "", ""))),
        case("CreateCollection", "traversal folder", Refused(Invalid), unary!(c.collections, create_collection, create("F", &v.traversal, ""))),
        case("CreateCollection", "1 MiB folder", Refused(Invalid), unary!(c.collections, create_collection, create("F", &v.mib_path, ""))),
        case("CreateCollection", "unknown remote", Refused(NotFound), unary!(c.collections, create_collection, create("F", "", "nope"))),
        case("ListCollections", "none", Served, unary!(c.collections, list_collections, pb::ListCollectionsRequest {})),
        case("GetCollection", "empty", Refused(NotFound), unary!(c.collections, get_collection, collection(""))),
        case("GetCollection", "1 MiB", Refused(NotFound), unary!(c.collections, get_collection, collection(&v.mib))),
        case("GetCollection", "control", Refused(NotFound), unary!(c.collections, get_collection, collection(&v.control))),
        case("GetCollection", "traversal", Refused(NotFound), unary!(c.collections, get_collection, collection(&v.traversal))),
        case("RenameCollection", "unknown", Refused(NotFound), unary!(c.collections, rename_collection, rename("nope", "Other"))),
        case("RenameCollection", "empty", Refused(Invalid), unary!(c.collections, rename_collection, rename("Good", ""))),
        case("RenameCollection", "1 MiB", Refused(Invalid), unary!(c.collections, rename_collection, rename("Good", &v.mib))),
        case("RenameCollection", "control", Refused(Invalid), unary!(c.collections, rename_collection, rename("Good", &v.control))),
        case("RenameCollection", "traversal", Refused(Invalid), unary!(c.collections, rename_collection, rename("Good", "../Good"))),
        case("DeleteCollection", "empty", Refused(NotFound), unary!(c.collections, delete_collection, pb::DeleteCollectionRequest { name: name("") })),
        case("DeleteCollection", "1 MiB", Refused(NotFound), unary!(c.collections, delete_collection, pb::DeleteCollectionRequest { name: v.mib.clone() })),
        case("AddToCollection", "unknown", Refused(NotFound), unary!(c.collections, add_to_collection, add_to("nope", &v.root))),
        case("AddToCollection", "empty", Refused(Invalid), unary!(c.collections, add_to_collection, add_to("Good", ""))),
        case("AddToCollection", "1 MiB", Refused(Invalid), unary!(c.collections, add_to_collection, add_to("Good", &v.mib_path))),
        case("AddToCollection", "control", Refused(NotFound), unary!(c.collections, add_to_collection, add_to("Good", &v.control_path))),
        case("AddToCollection", "traversal", Refused(Invalid), unary!(c.collections, add_to_collection, add_to("Good", &v.traversal))),
        case("AddToCollection", "climbing out of a root", Refused(Invalid), unary!(c.collections, add_to_collection, add_to("Good", &v.climb_to_etc))),
        case("RemoveFromCollection", "unknown", Refused(NotFound), unary!(c.collections, remove_from_collection, remove_from("nope", &v.root))),
        case("RemoveFromCollection", "1 MiB", Refused(Invalid), unary!(c.collections, remove_from_collection, remove_from("Good", &v.mib_path))),
        // A path under a root that is not there removes nothing.
        case("RemoveFromCollection", "control", Served, unary!(c.collections, remove_from_collection, remove_from("Good", &v.control_path))),
        case("RemoveFromCollection", "control outside the roots", Refused(Invalid), unary!(c.collections, remove_from_collection, remove_from("Good", "/nowhere/a\nb"))),
        case("RemoveFromCollection", "traversal", Refused(Invalid), unary!(c.collections, remove_from_collection, remove_from("Good", &v.traversal))),
        // Sync.
        case("SetSync", "empty", Refused(NotFound), unary!(c.sync, set_sync, pb::SetSyncRequest { name: name(""), enabled: true, keep_remote: false, confirmed: false })),
        case("SetSync", "1 MiB", Refused(NotFound), unary!(c.sync, set_sync, pb::SetSyncRequest { name: v.mib.clone(), enabled: true, keep_remote: false, confirmed: false })),
        case("SetSync", "control", Refused(NotFound), unary!(c.sync, set_sync, pb::SetSyncRequest { name: v.control.clone(), enabled: false, keep_remote: true, confirmed: false })),
        case("Pause", "out of range", Refused(Invalid), unary!(c.sync, pause, pb::PauseRequest { collection: String::new(), for_seconds: u64::MAX })),
        case("Pause", "past 100 years", Refused(Invalid), unary!(c.sync, pause, pb::PauseRequest { collection: String::new(), for_seconds: 3_155_760_001 })),
        case("Pause", "1 MiB", Refused(NotFound), unary!(c.sync, pause, pb::PauseRequest { collection: v.mib.clone(), for_seconds: 60 })),
        case("Resume", "control", Refused(NotFound), unary!(c.sync, resume, pb::ResumeRequest { collection: v.control.clone() })),
        case("Resume", "1 MiB", Refused(NotFound), unary!(c.sync, resume, pb::ResumeRequest { collection: v.mib.clone() })),
        case("Cancel", "out of range", Refused(Invalid), unary!(c.sync, cancel, pb::CancelRequest { collection: String::new(), job_id: u64::MAX })),
        case("Cancel", "unknown id", Refused(NotFound), unary!(c.sync, cancel, pb::CancelRequest { collection: String::new(), job_id: 999_999 })),
        case("Cancel", "empty", Refused(NotFound), unary!(c.sync, cancel, pb::CancelRequest { collection: String::new(), job_id: 0 })),
        case("Cancel", "1 MiB", Refused(NotFound), unary!(c.sync, cancel, pb::CancelRequest { collection: v.mib.clone(), job_id: 0 })),
        case("ListJobs", "control state", Refused(Invalid), streamed!(c.sync, list_jobs, pb::ListJobsRequest { state: v.control.clone(), collection: String::new() })),
        case("ListJobs", "1 MiB state", Refused(Invalid), streamed!(c.sync, list_jobs, pb::ListJobsRequest { state: v.mib.clone(), collection: String::new() })),
        case("ListJobs", "unknown collection", Refused(NotFound), streamed!(c.sync, list_jobs, pb::ListJobsRequest { state: String::new(), collection: name("nope") })),
        case("RetryJobs", "out of range", Refused(Invalid), unary!(c.sync, retry_jobs, pb::RetryJobsRequest { job_id: u64::MAX, all: false })),
        case("RetryJobs", "empty", Refused(Invalid), unary!(c.sync, retry_jobs, pb::RetryJobsRequest { job_id: 0, all: false })),
        case("RetryJobs", "unknown id", Refused(NotFound), unary!(c.sync, retry_jobs, pb::RetryJobsRequest { job_id: 999_999, all: false })),
        case("WatchSync", "out of range", Refused(Invalid), streamed!(c.sync, watch_sync, pb::WatchSyncRequest { interval_ms: u32::MAX })),
        case("WatchSync", "too often", Refused(Invalid), streamed!(c.sync, watch_sync, pb::WatchSyncRequest { interval_ms: 1 })),
        case("ListSyncedPhotos", "out of range", Served, streamed!(c.sync, list_synced_photos, pb::ListSyncedPhotosRequest { limit: u64::MAX })),
        case("ListHolds", "all", Served, unary!(c.sync, list_holds, pb::ListHoldsRequest { all: true })),
        case("ListHoldKeys", "empty", Refused(Invalid), streamed!(c.sync, list_hold_keys, pb::ListHoldKeysRequest { hold_id: 0 })),
        case("ListHoldKeys", "out of range", Refused(Invalid), streamed!(c.sync, list_hold_keys, pb::ListHoldKeysRequest { hold_id: u64::MAX })),
        case("ListHoldKeys", "unknown id", Refused(NotFound), streamed!(c.sync, list_hold_keys, pb::ListHoldKeysRequest { hold_id: 999_999 })),
        case("ApproveHold", "empty", Refused(Invalid), unary!(c.sync, approve_hold, pb::DecideHoldRequest { hold_id: 0 })),
        case("ApproveHold", "out of range", Refused(Invalid), unary!(c.sync, approve_hold, pb::DecideHoldRequest { hold_id: u64::MAX })),
        case("ApproveHold", "unknown id", Refused(NotFound), unary!(c.sync, approve_hold, pb::DecideHoldRequest { hold_id: 999_999 })),
        case("RejectHold", "unknown id", Refused(NotFound), unary!(c.sync, reject_hold, pb::DecideHoldRequest { hold_id: 999_999 })),
        // Remotes.
        case("AddRemote", "empty", Refused(Invalid), unary!(c.remotes, add_remote, fs_remote("", &v.root))),
        case("AddRemote", "1 MiB", Refused(Invalid), unary!(c.remotes, add_remote, fs_remote(&v.mib, &v.root))),
        case("AddRemote", "control", Refused(Invalid), unary!(c.remotes, add_remote, fs_remote(&v.control, &v.root))),
        case("AddRemote", "1 MiB kind", Refused(Invalid), unary!(c.remotes, add_remote, pb::AddRemoteRequest { name: name("R"), kind: v.mib.clone(), ..Default::default() })),
        case("AddRemote", "traversal", Refused(Invalid), unary!(c.remotes, add_remote, fs_remote("R", &v.traversal))),
        case("AddRemote", "the root folder", Refused(Invalid), unary!(c.remotes, add_remote, fs_remote("R", "/"))),
        case("AddRemote", "a system folder", Refused(Invalid), unary!(c.remotes, add_remote, fs_remote("R", "/etc"))),
        case("AddRemote", "climbing to a system folder", Refused(Invalid), unary!(c.remotes, add_remote, fs_remote("R", &v.climb_to_etc))),
        case("AddRemote", "1 MiB path", Refused(Invalid), unary!(c.remotes, add_remote, fs_remote("R", &v.mib_path))),
        case("AddRemote", "1 MiB endpoint", Refused(Invalid), unary!(c.remotes, add_remote, s3_remote(&format!("http://{}", v.mib)))),
        case("AddRemote", "control endpoint", Refused(Invalid), unary!(c.remotes, add_remote, s3_remote("http://a\nb\u{1b}[2J"))),
        case("ListRemotes", "none", Served, unary!(c.remotes, list_remotes, pb::ListRemotesRequest {})),
        case("RemoveRemote", "empty", Refused(NotFound), unary!(c.remotes, remove_remote, pb::RemoveRemoteRequest { name: name("") })),
        case("RemoveRemote", "1 MiB", Refused(NotFound), unary!(c.remotes, remove_remote, pb::RemoveRemoteRequest { name: v.mib.clone() })),
        case("TestRemote", "control", Refused(NotFound), unary!(c.remotes, test_remote, pb::TestRemoteRequest { name: v.control.clone() })),
        case("TestRemote", "1 MiB", Refused(NotFound), unary!(c.remotes, test_remote, pb::TestRemoteRequest { name: v.mib.clone() })),
        // Versions.
        case("ListVersions", "empty", Refused(Invalid), streamed!(c.versions, list_versions, versions(""))),
        case("ListVersions", "1 MiB", Refused(Invalid), streamed!(c.versions, list_versions, versions(&v.mib_path))),
        case("ListVersions", "control", Refused(NotFound), streamed!(c.versions, list_versions, versions(&v.control_path))),
        case("ListVersions", "traversal", Refused(Invalid), streamed!(c.versions, list_versions, versions(&v.traversal))),
        // A photo without versions lists none.
        case("ListVersions", "a photo without versions", Served, streamed!(c.versions, list_versions, versions(&photo))),
        case("RestoreVersion", "empty", Refused(Invalid), unary!(c.versions, restore_version, restore("", 1))),
        case("RestoreVersion", "1 MiB", Refused(Invalid), unary!(c.versions, restore_version, restore(&v.mib_path, 1))),
        case("RestoreVersion", "control", Refused(NotFound), unary!(c.versions, restore_version, restore(&v.control_path, 1))),
        case("RestoreVersion", "traversal", Refused(Invalid), unary!(c.versions, restore_version, restore(&v.traversal, 1))),
        case("RestoreVersion", "climbing out of a root", Refused(Invalid), unary!(c.versions, restore_version, restore(&v.climb_to_etc, 1))),
        case("RestoreVersion", "unknown number", Refused(NotFound), unary!(c.versions, restore_version, restore(&photo, 1))),
        case("RestoreVersion", "out of range", Refused(NotFound), unary!(c.versions, restore_version, restore(&photo, u64::MAX))),
        case("RestoreVersion", "zero", Refused(NotFound), unary!(c.versions, restore_version, restore(&photo, 0))),
        // Connections.
        case("ConnectCollection", "empty", Refused(NotFound), unary!(c.connections, connect_collection, connect("", "push", "copy", "", 0))),
        case("ConnectCollection", "1 MiB", Refused(NotFound), unary!(c.connections, connect_collection, connect(&v.mib, "push", "copy", "", 0))),
        case("ConnectCollection", "control direction", Refused(Invalid), unary!(c.connections, connect_collection, connect("Good", &v.control, "copy", "", 0))),
        case("ConnectCollection", "1 MiB return mode", Refused(Invalid), unary!(c.connections, connect_collection, connect("Good", "push", &v.mib, "", 0))),
        case("ConnectCollection", "out of range", Refused(Invalid), unary!(c.connections, connect_collection, connect("Good", "push", "copy", "", u64::MAX))),
        case("ConnectCollection", "too often", Refused(Invalid), unary!(c.connections, connect_collection, connect("Good", "push", "copy", "", 1))),
        case("ConnectCollection", "traversal inbox", Refused(Invalid), unary!(c.connections, connect_collection, connect("Good", "push", "copy", &v.traversal, 0))),
        case("ConnectCollection", "inbox climbing out of a root", Refused(Invalid), unary!(c.connections, connect_collection, connect("Good", "push", "copy", &v.climb_to_etc, 0))),
        case("ConnectCollection", "1 MiB inbox", Refused(Invalid), unary!(c.connections, connect_collection, connect("Good", "push", "copy", &v.mib_path, 0))),
        case("ConnectCollection", "inbox outside the roots", Refused(Invalid), unary!(c.connections, connect_collection, connect("Good", "push", "copy", "/nowhere/a\nb", 0))),
        case("ConnectCollection", "pull while not synced", Refused(Code::FailedPrecondition), unary!(c.connections, connect_collection, connect("Good", "pull", "copy", "", 0))),
        case("DisconnectCollection", "empty", Refused(NotFound), unary!(c.connections, disconnect_collection, pb::DisconnectCollectionRequest { name: name("") })),
        case("DisconnectCollection", "1 MiB", Refused(NotFound), unary!(c.connections, disconnect_collection, pb::DisconnectCollectionRequest { name: v.mib.clone() })),
        case("ListConflicts", "all", Served, unary!(c.connections, list_conflicts, pb::ListConflictsRequest { all: true })),
        case("PollRemote", "empty", Refused(NotFound), unary!(c.connections, poll_remote, poll(""))),
        case("PollRemote", "1 MiB", Refused(NotFound), unary!(c.connections, poll_remote, poll(&v.mib))),
        case("PollRemote", "control", Refused(NotFound), unary!(c.connections, poll_remote, poll(&v.control))),
        case("PollRemote", "a remote nothing pulls from", Refused(Code::FailedPrecondition), unary!(c.connections, poll_remote, poll("local"))),
    ]
}

/// What is wrong with how a call was answered, if anything.
fn judge(label: &str, expect: Expect, result: &Result<(), Status>) -> Option<String> {
    match (expect, result) {
        (Expect::Served, Ok(())) => None,
        (Expect::Served, Err(status)) => Some(format!("{label}: refused: {status:?}")),
        (Expect::Refused(code), Ok(())) => Some(format!("{label}: served, wanted {code:?}")),
        (Expect::Refused(code), Err(status)) => {
            let message = status.message();
            if status.code() != code {
                Some(format!(
                    "{label}: {:?} {message:?}, wanted {code:?}",
                    status.code()
                ))
            } else if message.chars().count() > MAX_MESSAGE_CHARS {
                Some(format!(
                    "{label}: message of {} characters",
                    message.chars().count()
                ))
            } else if message.chars().any(char::is_control) {
                Some(format!("{label}: raw control character in {message:?}"))
            } else if message.is_empty() {
                Some(format!("{label}: no message"))
            } else {
                None
            }
        }
    }
}

#[test]
fn every_rpc_refuses_bad_arguments_briefly_and_keeps_serving() {
    let daemon = Daemon::start();
    let root = daemon.scratch("photos");
    write_file(&root.join("a.jpg"), b"a");
    daemon.cli(&["roots", "add", s(&root)]).ok();
    daemon.cli(&["collections", "create", "Good"]).ok();
    let values = Values {
        mib: "x".repeat(1 << 20),
        mib_path: format!("/{}", "x".repeat(1 << 20)),
        control: "a\nb\u{1b}[2J\u{7}".to_owned(),
        control_path: format!("{}/a\nb\u{1b}[2J.jpg", s(&root)),
        traversal: "../../etc/passwd".to_owned(),
        climb_to_etc: format!("{}/../../../../../../../../etc", s(&root)),
        root: s(&root).to_owned(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let faults = runtime.block_on(async {
        let channel = syncroll_proto::connect(&daemon.socket).await.unwrap();
        let clients = Clients::new(channel);
        let mut faults = Vec::new();
        for Case {
            rpc,
            input,
            expect,
            call,
        } in cases(&clients, &values)
        {
            let label = format!("{rpc} with {input} argument");
            let result = call.await;
            faults.extend(judge(&label, expect, &result));
            let mut daemon_client = clients.daemon.clone();
            if let Err(status) = daemon_client.get_status(pb::GetStatusRequest {}).await {
                panic!("the daemon stopped serving after {label}: {status:?}");
            }
        }
        faults
    });
    assert!(
        faults.is_empty(),
        "{} bad answers:\n{}\n--- log ---\n{}",
        faults.len(),
        faults.join("\n"),
        daemon.log()
    );
    assert!(!daemon.log().contains("panicked"), "{}", daemon.log());
}
