//! A real WebDAV server for tests: `dav-server`'s handler over a temp folder
//! (its `LocalFs`, which passes the litmus WebDAV test suite), behind HTTP
//! Basic authentication, on hyper, on 127.0.0.1 with a random port. Like
//! [`S3Server`](crate::S3Server) it runs on its own thread and runtime,
//! records each request, and stops when dropped.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use base64::Engine;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tempfile::TempDir;
use tokio::net::TcpStream;

use crate::background::Background;

use crate::s3::Seen;

type Log = Arc<Mutex<Vec<Seen>>>;

/// A running server.
#[derive(Debug)]
pub struct WebDavServer {
    dir: TempDir,
    addr: SocketAddr,
    seen: Log,
    busy: Arc<std::sync::atomic::AtomicU32>,
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
        let server = Background::start("WebDAV server", 2, move |stream| {
            let (log, refusals) = (log.clone(), refusals.clone());
            serve(
                stream,
                handler.clone(),
                log,
                refusals,
                authorization.clone(),
            )
        });
        Self {
            dir,
            addr: server.addr,
            seen,
            busy,
            _server: server,
        }
    }

    /// Answers the next `requests` requests `503 Service Unavailable` with
    /// `Retry-After: 1`, as a server in maintenance mode does.
    pub fn busy_for(&self, requests: u32) {
        self.busy
            .store(requests, std::sync::atomic::Ordering::SeqCst);
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
}

fn expected_authorization() -> String {
    let token = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        WebDavServer::USER,
        WebDavServer::PASSWORD
    ));
    format!("Basic {token}")
}

/// Serves one connection.
async fn serve(
    stream: TcpStream,
    handler: dav_server::DavHandler,
    seen: Log,
    busy: Arc<std::sync::atomic::AtomicU32>,
    authorization: String,
) {
    let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        seen.lock().unwrap_or_else(|p| p.into_inner()).push(Seen {
            method: req.method().to_string(),
            target: req.uri().to_string(),
            copy_source: false,
            content_length: req
                .headers()
                .get(hyper::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok()?.parse().ok()),
        });
        let allowed = req
            .headers()
            .get(hyper::header::AUTHORIZATION)
            .is_some_and(|v| v.as_bytes() == authorization.as_bytes());
        let handler = handler.clone();
        let refuse = busy
            .fetch_update(
                std::sync::atomic::Ordering::SeqCst,
                std::sync::atomic::Ordering::SeqCst,
                |n| n.checked_sub(1),
            )
            .is_ok();
        async move {
            if refuse {
                let mut busy = hyper::Response::new(dav_server::body::Body::empty());
                *busy.status_mut() = hyper::StatusCode::SERVICE_UNAVAILABLE;
                busy.headers_mut().insert(
                    hyper::header::RETRY_AFTER,
                    hyper::header::HeaderValue::from_static("1"),
                );
                return Ok::<_, std::convert::Infallible>(busy);
            }
            if !allowed {
                let mut refused = hyper::Response::new(dav_server::body::Body::empty());
                *refused.status_mut() = hyper::StatusCode::UNAUTHORIZED;
                refused.headers_mut().insert(
                    hyper::header::WWW_AUTHENTICATE,
                    hyper::header::HeaderValue::from_static("Basic realm=\"syncroll-test\""),
                );
                return Ok(refused);
            }
            Ok(handler.handle(req).await)
        }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await;
}
