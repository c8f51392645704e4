//! A real S3 server for tests: `s3s-fs` serving a temp folder (one subfolder
//! per bucket) behind `s3s`'s SigV4 check, on hyper, on 127.0.0.1 with a
//! random port. It runs on its own thread and runtime, so plain `#[test]`
//! functions and async tests alike can use it, and stops when dropped. It
//! records each request line, so a test can tell how an operation was done.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use s3s::auth::SimpleAuth;
use s3s::service::{S3Service, S3ServiceBuilder};
use tempfile::TempDir;
use tokio::net::TcpStream;

use crate::background::Background;
use crate::counted::{ReplyHold, counted, counted_held};

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// Path and query.
    pub target: String,
    /// Whether it named a source to copy from (CopyObject, UploadPartCopy).
    pub copy_source: bool,
    /// The body's declared length, if any.
    pub content_length: Option<u64>,
    /// The `Range` header, if any (`bytes=100-`).
    pub range: Option<String>,
    /// Response body bytes the server has sent so far.
    pub served: Arc<AtomicU64>,
    /// The request's write preconditions, as `Header: value`: `If-Match`,
    /// `If-None-Match`, WebDAV's `If` and `Overwrite: F`.
    pub conditions: Vec<String>,
}

impl Seen {
    /// What the server saw of `req`.
    pub(crate) fn of<B>(req: &hyper::Request<B>) -> Self {
        let header = |name| req.headers().get(name)?.to_str().ok();
        Self {
            method: req.method().to_string(),
            target: req.uri().to_string(),
            copy_source: req.headers().contains_key("x-amz-copy-source"),
            content_length: header(hyper::header::CONTENT_LENGTH).and_then(|v| v.parse().ok()),
            range: header(hyper::header::RANGE).map(str::to_owned),
            served: Arc::default(),
            conditions: ["If-Match", "If-None-Match", "If", "Overwrite"]
                .into_iter()
                .filter_map(|name| {
                    let value = req.headers().get(name)?.to_str().ok()?;
                    Some(format!("{name}: {value}"))
                })
                .filter(|condition| condition != "Overwrite: T")
                .collect(),
        }
    }

    /// Whether this request writes only if a precondition holds.
    pub fn is_conditional_write(&self) -> bool {
        matches!(self.method.as_str(), "PUT" | "MOVE" | "COPY" | "POST")
            && !self.conditions.is_empty()
    }

    /// Response body bytes sent for this request so far.
    pub fn served_bytes(&self) -> u64 {
        self.served.load(Ordering::SeqCst)
    }

    /// The part number of an UploadPart request.
    pub fn part_number(&self) -> Option<u32> {
        if self.method != "PUT" || !self.target.contains("uploadId=") {
            return None;
        }
        let query = self.target.split_once('?')?.1;
        query
            .split('&')
            .find_map(|pair| pair.strip_prefix("partNumber="))?
            .parse()
            .ok()
    }

    /// Whether this is a DeleteObjects request (many keys at once).
    pub fn deletes_objects(&self) -> bool {
        let query = self.target.split_once('?').map_or("", |(_, q)| q);
        self.method == "POST" && query.split('&').any(|p| p == "delete" || p == "delete=")
    }

    /// Whether this started a multipart upload (CreateMultipartUpload).
    pub fn creates_upload(&self) -> bool {
        let query = self.target.split_once('?').map_or("", |(_, q)| q);
        self.method == "POST" && query.split('&').any(|p| p == "uploads" || p == "uploads=")
    }
}

type Log = Arc<Mutex<Vec<Seen>>>;

/// Holds UploadPart requests above a part number, to freeze a multipart
/// upload midway ([`S3Server::hold_parts_above`]), and DeleteObjects
/// requests ([`S3Server::hold_bulk_deletes`]).
#[derive(Debug)]
struct PartHold {
    /// 0: no part is held.
    above: std::sync::atomic::AtomicU32,
    deletes: std::sync::atomic::AtomicBool,
    conditional: std::sync::atomic::AtomicBool,
    released: tokio::sync::watch::Sender<Release>,
    /// Pauses response bodies ([`S3Server::hold_replies_after`]).
    replies: ReplyHold,
}

/// What held requests are told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Release {
    /// Nothing yet: they wait.
    Holding,
    /// 503, nothing stored.
    Refuse,
    /// Served as if never held.
    Pass,
}

/// How long a held request waits at most for [`S3Server::release_held`].
const HOLD_LIMIT: std::time::Duration = std::time::Duration::from_secs(120);

/// A running server.
#[derive(Debug)]
pub struct S3Server {
    dir: TempDir,
    endpoint: String,
    seen: Log,
    hold: Arc<PartHold>,
    _server: Background,
}

impl S3Server {
    pub const ACCESS_KEY: &'static str = "syncroll-test-key";
    pub const SECRET_KEY: &'static str = "syncroll-test-secret";
    /// The bucket every server starts with.
    pub const BUCKET: &'static str = "photos";

    /// Adds this server's bucket to `daemon` as the S3 remote `name`, with
    /// `extra` flags (`--prefix P`, `--limit R`), the secret passed through
    /// the environment as users pass it; panics with the CLI's output if
    /// the daemon refuses.
    pub fn add_as_remote(&self, daemon: &crate::Daemon, name: &str, extra: &[&str]) {
        add_s3_remote_at(daemon, name, self.endpoint_str(), extra);
    }

    /// Serves a fresh folder holding the empty bucket [`S3Server::BUCKET`].
    pub fn start() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("syncroll-s3-")
            .tempdir()
            .expect("server folder");
        std::fs::create_dir(dir.path().join(Self::BUCKET)).expect("bucket folder");
        let fs = s3s_fs::FileSystem::new(dir.path()).expect("starting s3s-fs");
        let mut builder = S3ServiceBuilder::new(fs);
        builder.set_auth(SimpleAuth::from_single(Self::ACCESS_KEY, Self::SECRET_KEY));
        let service = builder.build();
        let seen = Log::default();
        let log = seen.clone();
        let hold = Arc::new(PartHold {
            above: 0.into(),
            deletes: false.into(),
            conditional: false.into(),
            released: tokio::sync::watch::channel(Release::Holding).0,
            replies: ReplyHold::new(),
        });
        let gate = hold.clone();
        let root = dir.path().to_path_buf();
        let server = Background::start("S3 server", 2, move |stream| {
            serve(
                stream,
                service.clone(),
                log.clone(),
                gate.clone(),
                root.clone(),
            )
        });
        Self {
            dir,
            endpoint: format!("http://{}", server.addr),
            seen,
            hold,
            _server: server,
        }
    }

    /// From now on, UploadPart requests for parts numbered above `n` (S3
    /// numbers from 1) are held unanswered, never reaching the store, until
    /// [`S3Server::release_held`] (or two minutes) — a multipart upload
    /// frozen with exactly `n` parts stored, whatever the client's
    /// concurrency.
    pub fn hold_parts_above(&self, n: u32) {
        assert!(n > 0, "part numbers start at 1");
        self.hold.released.send_replace(Release::Holding);
        self.hold
            .above
            .store(n, std::sync::atomic::Ordering::SeqCst);
    }

    /// From now on, DeleteObjects requests are held unanswered, not yet
    /// applied, until [`S3Server::pass_held`] or [`S3Server::release_held`]
    /// (or two minutes): a test can act while a batch of deletions is
    /// claimed by the daemon but not done.
    pub fn hold_bulk_deletes(&self) {
        self.hold.released.send_replace(Release::Holding);
        self.hold
            .deletes
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// From now on, conditional writes (a PUT with `If-Match` or
    /// `If-None-Match`) are held unanswered, not yet applied, until
    /// [`S3Server::pass_held`] (or two minutes): a test can change the
    /// object between a client's last look and its conditional write.
    pub fn hold_conditional_writes(&self) {
        self.hold.released.send_replace(Release::Holding);
        self.hold
            .conditional
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// From now on, every response body pauses once it has sent `bytes`
    /// bytes (a little more: a frame goes whole), until
    /// [`S3Server::pass_held`] or [`S3Server::release_held`] (or two
    /// minutes): a download is under way, part of it on the client's disk,
    /// for as long as the test needs, however fast the loopback is.
    pub fn hold_replies_after(&self, bytes: u64) {
        self.hold.replies.set(Some(bytes));
    }

    /// Ends the holds: held requests are answered 503 (their client may be
    /// long gone) without storing anything, and later ones are served
    /// normally.
    pub fn release_held(&self) {
        self.end_holds(Release::Refuse);
    }

    /// Ends the holds: held requests are served now, as if never held, and
    /// so are later ones.
    pub fn pass_held(&self) {
        self.end_holds(Release::Pass);
    }

    fn end_holds(&self, release: Release) {
        self.hold
            .above
            .store(0, std::sync::atomic::Ordering::SeqCst);
        self.hold
            .deletes
            .store(false, std::sync::atomic::Ordering::SeqCst);
        self.hold
            .conditional
            .store(false, std::sync::atomic::Ordering::SeqCst);
        self.hold.released.send_replace(release);
        // A paused reply goes on either way: its client may be long gone.
        self.hold.replies.set(None);
    }

    pub fn endpoint_str(&self) -> &str {
        &self.endpoint
    }

    /// The bucket's folder: objects appear here under their keys.
    pub fn bucket_dir(&self) -> PathBuf {
        self.dir.path().join(Self::BUCKET)
    }

    /// Where the server keeps the object stored under `stored_key`.
    pub fn object_file(&self, stored_key: &str) -> PathBuf {
        self.bucket_dir().join(stored_key)
    }

    /// s3s-fs's multipart bookkeeping: `.upload-<id>.json` for each upload
    /// in progress and `.upload_id-<id>.part-<n>` for each part received.
    pub fn multipart_files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.dir.path())
            .expect("reading the server's folder")
            .map(|entry| {
                entry
                    .expect("an entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .filter(|name| name.starts_with(".upload"))
            .collect();
        names.sort();
        names
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// An abort of a multipart upload the server does not know (completed,
/// or aborted already): S3, MinIO and Ceph answer 404 NoSuchUpload, s3s-fs
/// answers AccessDenied, which a client must take for a real refusal. The
/// test server answers as S3 does.
fn unknown_upload_aborted(req: &hyper::Request<hyper::body::Incoming>, root: &Path) -> bool {
    if req.method() != hyper::Method::DELETE {
        return false;
    }
    let Some(id) = req.uri().query().and_then(|q| {
        q.split('&')
            .find_map(|pair| pair.strip_prefix("uploadId="))
            .map(str::to_owned)
    }) else {
        return false;
    };
    !root.join(format!(".upload-{id}.json")).exists()
}

fn no_such_upload() -> hyper::Response<s3s::Body> {
    let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
        <Error><Code>NoSuchUpload</Code><Message>The specified upload does not exist.</Message></Error>";
    let mut response = hyper::Response::new(s3s::Body::from(body.to_owned()));
    *response.status_mut() = hyper::StatusCode::NOT_FOUND;
    response
}

/// Serves one connection.
async fn serve(
    stream: TcpStream,
    service: S3Service,
    seen: Log,
    hold: Arc<PartHold>,
    root: PathBuf,
) {
    let handler = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let request = Seen::of(&req);
        let served = request.served.clone();
        let above = hold.above.load(std::sync::atomic::Ordering::SeqCst);
        let held = (above > 0 && request.part_number().is_some_and(|n| n > above))
            || (hold.deletes.load(std::sync::atomic::Ordering::SeqCst)
                && request.deletes_objects())
            || (hold.conditional.load(std::sync::atomic::Ordering::SeqCst)
                && request.is_conditional_write());
        seen.lock().unwrap_or_else(|p| p.into_inner()).push(request);
        let unknown_upload = unknown_upload_aborted(&req, &root);
        let service = service.clone();
        let mut released = hold.released.subscribe();
        let gate = hold.clone();
        async move {
            if held {
                let waited =
                    tokio::time::timeout(HOLD_LIMIT, released.wait_for(|r| *r != Release::Holding))
                        .await;
                let pass = matches!(waited, Ok(Ok(r)) if *r == Release::Pass);
                if !pass {
                    let mut refused = hyper::Response::new(s3s::Body::empty());
                    *refused.status_mut() = hyper::StatusCode::SERVICE_UNAVAILABLE;
                    return Ok::<_, s3s::HttpError>(counted(refused, served));
                }
            }
            if unknown_upload {
                return Ok(counted(no_such_upload(), served));
            }
            let response = hyper::service::Service::call(&service, req).await?;
            Ok(counted_held(response, served, &gate.replies))
        }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), handler)
        .await;
}

/// Adds the S3 remote `name` at `endpoint` (this server, or a proxy in
/// front of it) with the test credentials; see [`S3Server::add_as_remote`].
pub fn add_s3_remote_at(daemon: &crate::Daemon, name: &str, endpoint: &str, extra: &[&str]) {
    const SECRET_VAR: &str = "SYNCROLL_TEST_S3_SECRET";
    let mut args = vec![
        "remotes",
        "add",
        name,
        "--kind",
        "s3",
        "--endpoint",
        endpoint,
        "--bucket",
        S3Server::BUCKET,
        "--access-key-id",
        S3Server::ACCESS_KEY,
        "--secret-env",
        SECRET_VAR,
    ];
    args.extend_from_slice(extra);
    daemon
        .cli_with_env(&args, &[(SECRET_VAR, S3Server::SECRET_KEY)])
        .ok();
}
