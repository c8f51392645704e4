//! A real WebDAV server for tests: `dav-server`'s handler over a temp folder
//! (its `LocalFs`, which passes the litmus WebDAV test suite), behind HTTP
//! Basic authentication, on hyper, on 127.0.0.1 with a random port. Like
//! [`S3Server`](crate::S3Server) it runs on its own thread and runtime,
//! records each request (and the response bytes it sent), and stops when
//! dropped.
//!
//! Folder ETags change whenever anything below the folder changes, as on
//! Nextcloud (its "ETag propagation"): after each successful request that
//! changes the tree through the protocol, the server stamps every folder
//! above what changed with a new modification time, which `LocalFs` puts in
//! the folder's ETag. Changes made on disk behind the server's back
//! ([`WebDavServer::folder`]) do not propagate.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use base64::Engine;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tempfile::TempDir;
use tokio::net::TcpStream;

use crate::background::Background;
use crate::counted::{ReplyHold, counted, counted_held};

use crate::s3::Seen;

type Log = Arc<Mutex<Vec<Seen>>>;

/// A running server.
#[derive(Debug)]
pub struct WebDavServer {
    dir: TempDir,
    addr: SocketAddr,
    seen: Log,
    busy: Arc<std::sync::atomic::AtomicU32>,
    /// Whether conditional writes wait (see
    /// [`WebDavServer::hold_conditional_writes`]).
    gate: tokio::sync::watch::Sender<bool>,
    /// Pauses response bodies ([`WebDavServer::hold_replies_after`]).
    replies: Arc<ReplyHold>,
    _server: Background,
}

impl WebDavServer {
    pub const USER: &'static str = "syncroll-test-user";
    pub const PASSWORD: &'static str = "syncroll-test-password";
    /// The folder every server starts with, empty.
    pub const FOLDER: &'static str = "photos";

    /// Serves a fresh folder holding the empty folder
    /// [`WebDavServer::FOLDER`].
    pub fn start() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("syncroll-dav-")
            .tempdir()
            .expect("server folder");
        std::fs::create_dir(dir.path().join(Self::FOLDER)).expect("the served folder");
        let handler = dav_server::DavHandler::builder()
            .filesystem(dav_server::localfs::LocalFs::new(
                dir.path(),
                false,
                false,
                false,
            ))
            .locksystem(dav_server::fakels::FakeLs::new())
            .build_handler();
        let seen = Log::default();
        let log = seen.clone();
        let busy = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let refusals = busy.clone();
        let authorization = expected_authorization();
        let gate = tokio::sync::watch::channel(false).0;
        let gate_rx = gate.clone();
        let replies = Arc::new(ReplyHold::new());
        let paused = replies.clone();
        let stamps = Arc::new(Stamps {
            root: dir.path().to_path_buf(),
            last_micros: AtomicU64::new(0),
        });
        let server = Background::start("WebDAV server", 2, move |stream| {
            let (log, refusals) = (log.clone(), refusals.clone());
            serve(
                stream,
                handler.clone(),
                log,
                refusals,
                authorization.clone(),
                stamps.clone(),
                (gate_rx.subscribe(), paused.clone()),
            )
        });
        Self {
            dir,
            addr: server.addr,
            seen,
            busy,
            gate,
            replies,
            _server: server,
        }
    }

    /// Answers the next `requests` requests `503 Service Unavailable` with
    /// `Retry-After: 1`, as a server in maintenance mode does.
    pub fn busy_for(&self, requests: u32) {
        self.busy
            .store(requests, std::sync::atomic::Ordering::SeqCst);
    }

    /// From now on, conditional writes (a PUT or MOVE with `If`,
    /// `If-Match`, `If-None-Match` or `Overwrite: F`) are held unanswered,
    /// not yet applied, until [`WebDavServer::pass_held`] (or two minutes):
    /// a test can change the object between a client's last look and its
    /// conditional write.
    pub fn hold_conditional_writes(&self) {
        self.gate.send_replace(true);
    }

    /// From now on, every response body pauses once it has sent `bytes`
    /// bytes (a little more: a frame goes whole), until
    /// [`WebDavServer::pass_held`] (or two minutes): a download is under
    /// way, part of it on the client's disk, for as long as the test needs,
    /// however fast the loopback is.
    pub fn hold_replies_after(&self, bytes: u64) {
        self.replies.set(Some(bytes));
    }

    /// Serves the held requests now, and later ones without holding; paused
    /// replies go on.
    pub fn pass_held(&self) {
        self.gate.send_replace(false);
        self.replies.set(None);
    }

    /// Adds [`WebDavServer::FOLDER`] to `daemon` as the WebDAV remote
    /// `name`, with `extra` flags (`--folder-etags`, `--limit R`), the
    /// password passed through the environment as users pass it; panics
    /// with the CLI's output if the daemon refuses.
    pub fn add_as_remote(&self, daemon: &crate::Daemon, name: &str, extra: &[&str]) {
        const PASSWORD_VAR: &str = "SYNCROLL_TEST_DAV_PASSWORD";
        let url = self.url();
        let mut args = vec![
            "remotes",
            "add",
            name,
            "--kind",
            "webdav",
            "--url",
            &url,
            "--user",
            Self::USER,
            "--password-env",
            PASSWORD_VAR,
        ];
        args.extend_from_slice(extra);
        daemon
            .cli_with_env(&args, &[(PASSWORD_VAR, Self::PASSWORD)])
            .ok();
    }

    /// The URL of [`WebDavServer::FOLDER`].
    pub fn url(&self) -> String {
        format!("http://{}/{}", self.addr, Self::FOLDER)
    }

    /// The URL of the server's top, whose folders a test may name.
    pub fn root_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// [`WebDavServer::FOLDER`] on disk: objects appear here under their
    /// keys.
    pub fn folder(&self) -> PathBuf {
        self.dir.path().join(Self::FOLDER)
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Writes `bytes` to `key` under [`WebDavServer::FOLDER`] as another
    /// client would, through the protocol: MKCOL for each missing folder,
    /// then PUT, so folder ETags change as the server propagates them
    /// (a write on disk behind its back would not). Panics on a refusal.
    pub fn put(&self, key: &str, bytes: &[u8]) {
        let mut folder = String::new();
        let parts: Vec<&str> = key.split('/').collect();
        for part in &parts[..parts.len() - 1] {
            folder.push_str(part);
            folder.push('/');
            if !self.folder().join(&folder).is_dir() {
                let status = self.request("MKCOL", &folder, &[]);
                assert!(status == 201 || status == 405, "MKCOL {folder}: {status}");
            }
        }
        let status = self.request("PUT", key, bytes);
        assert!(status == 201 || status == 204, "PUT {key}: {status}");
    }

    /// Deletes `key` under [`WebDavServer::FOLDER`] through the protocol.
    pub fn delete(&self, key: &str) {
        let status = self.request("DELETE", key, &[]);
        assert!(status == 204 || status == 200, "DELETE {key}: {status}");
    }

    /// One HTTP/1.1 request of another client, on its own connection;
    /// returns the status code.
    fn request(&self, method: &str, key: &str, body: &[u8]) -> u16 {
        use std::io::{Read, Write};
        let path: String = format!("/{}/{key}", Self::FOLDER)
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        let mut stream = std::net::TcpStream::connect(self.addr).expect("connect to the server");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("a read timeout");
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: {}\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            self.addr,
            expected_authorization(),
            body.len()
        );
        stream.write_all(head.as_bytes()).expect("send the request");
        stream.write_all(body).expect("send the body");
        let mut reply = Vec::new();
        let _ = stream.read_to_end(&mut reply);
        let text = String::from_utf8_lossy(&reply);
        text.split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("{method} {key}: no status in {text:?}"))
    }
}

fn expected_authorization() -> String {
    let token = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        WebDavServer::USER,
        WebDavServer::PASSWORD
    ));
    format!("Basic {token}")
}

/// How long a held request waits at most for [`WebDavServer::pass_held`].
const HOLD_LIMIT: Duration = Duration::from_secs(120);

/// The server paths a request changes, if it changes any: its own, and a
/// MOVE's or COPY's destination.
fn changed_paths<B>(req: &hyper::Request<B>) -> Vec<String> {
    const CHANGING: [&str; 6] = ["PUT", "DELETE", "MKCOL", "MOVE", "COPY", "PROPPATCH"];
    if !CHANGING.contains(&req.method().as_str()) {
        return Vec::new();
    }
    let mut paths = vec![req.uri().path().to_owned()];
    if let Some(dest) = req.headers().get("Destination")
        && let Ok(dest) = dest.to_str()
        && let Ok(uri) = dest.parse::<hyper::Uri>()
    {
        paths.push(uri.path().to_owned());
    }
    paths
}

/// Stamps folders with modification times that only go up, so that each
/// change gives every folder above it a new ETag even within one clock
/// tick (the ETag counts microseconds).
#[derive(Debug)]
struct Stamps {
    root: PathBuf,
    last_micros: AtomicU64,
}

impl Stamps {
    /// Gives every folder above each of `paths` (up to the served root) a
    /// new modification time.
    fn propagate(&self, paths: &[String]) {
        for path in paths {
            let decoded = percent_decode(path);
            let mut dir = self.root.join(decoded.trim_start_matches('/'));
            while dir.pop() && dir.starts_with(&self.root) && dir != self.root {
                let stamp = self.next();
                if let Ok(folder) = std::fs::File::open(&dir) {
                    let _ = folder.set_modified(stamp);
                }
            }
        }
    }

    fn next(&self) -> SystemTime {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        let previous = self
            .last_micros
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| {
                Some(now.max(last + 1))
            })
            .unwrap_or(now);
        SystemTime::UNIX_EPOCH + Duration::from_micros(now.max(previous + 1))
    }
}

/// `%XX` escapes of a URL path decoded (the test servers' paths are UTF-8).
fn percent_decode(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        let escaped = (bytes[at] == b'%')
            .then(|| path.get(at + 1..at + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                at += 3;
            }
            None => {
                out.push(bytes[at]);
                at += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Serves one connection.
async fn serve(
    stream: TcpStream,
    handler: dav_server::DavHandler,
    seen: Log,
    busy: Arc<std::sync::atomic::AtomicU32>,
    authorization: String,
    stamps: Arc<Stamps>,
    // What holds requests and what pauses replies, together.
    (gate, replies): (tokio::sync::watch::Receiver<bool>, Arc<ReplyHold>),
) {
    let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let request = Seen::of(&req);
        let served = request.served.clone();
        let held = *gate.borrow() && request.is_conditional_write();
        let mut gate = gate.clone();
        seen.lock().unwrap_or_else(|p| p.into_inner()).push(request);
        let changed = changed_paths(&req);
        let allowed = req
            .headers()
            .get(hyper::header::AUTHORIZATION)
            .is_some_and(|v| v.as_bytes() == authorization.as_bytes());
        let (handler, stamps, replies) = (handler.clone(), stamps.clone(), replies.clone());
        let refuse = busy
            .fetch_update(
                std::sync::atomic::Ordering::SeqCst,
                std::sync::atomic::Ordering::SeqCst,
                |n| n.checked_sub(1),
            )
            .is_ok();
        async move {
            if held {
                let passed = gate.wait_for(|holding| !holding);
                let _ = tokio::time::timeout(HOLD_LIMIT, passed).await;
            }
            if refuse {
                let mut busy = hyper::Response::new(dav_server::body::Body::empty());
                *busy.status_mut() = hyper::StatusCode::SERVICE_UNAVAILABLE;
                busy.headers_mut().insert(
                    hyper::header::RETRY_AFTER,
                    hyper::header::HeaderValue::from_static("1"),
                );
                return Ok::<_, std::convert::Infallible>(counted(busy, served));
            }
            if !allowed {
                let mut refused = hyper::Response::new(dav_server::body::Body::empty());
                *refused.status_mut() = hyper::StatusCode::UNAUTHORIZED;
                refused.headers_mut().insert(
                    hyper::header::WWW_AUTHENTICATE,
                    hyper::header::HeaderValue::from_static("Basic realm=\"syncroll-test\""),
                );
                return Ok(counted(refused, served));
            }
            let response = handler.handle(req).await;
            if response.status().is_success() {
                stamps.propagate(&changed);
            }
            Ok(counted_held(response, served, &replies))
        }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await;
}
