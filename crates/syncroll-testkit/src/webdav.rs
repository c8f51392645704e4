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
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::s3::Seen;

type Log = Arc<Mutex<Vec<Seen>>>;

/// A running server.
#[derive(Debug)]
pub struct WebDavServer {
    dir: TempDir,
    addr: SocketAddr,
    seen: Log,
    busy: Arc<std::sync::atomic::AtomicU32>,
    shutdown: CancellationToken,
    thread: Option<std::thread::JoinHandle<()>>,
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
        let shutdown = CancellationToken::new();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<SocketAddr>();
        let stop = shutdown.clone();
        let seen = Log::default();
        let log = seen.clone();
        let busy = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let refusals = busy.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("server runtime");
            runtime.block_on(async move {
                let listener = TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("loopback port");
                ready_tx
                    .send(listener.local_addr().expect("bound address"))
                    .expect("report address");
                serve(listener, handler, log, refusals, stop).await;
            });
        });
        let addr = ready_rx.recv().expect("the server to start");
        Self {
            dir,
            addr,
            seen,
            busy,
            shutdown,
            thread: Some(thread),
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

impl Drop for WebDavServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
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

async fn serve(
    listener: TcpListener,
    handler: dav_server::DavHandler,
    seen: Log,
    busy: Arc<std::sync::atomic::AtomicU32>,
    shutdown: CancellationToken,
) {
    let authorization = expected_authorization();
    loop {
        let stream = tokio::select! {
            () = shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
        };
        let (handler, seen, shutdown) = (handler.clone(), seen.clone(), shutdown.clone());
        let busy = busy.clone();
        let authorization = authorization.clone();
        tokio::spawn(async move {
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
                        return Ok(busy);
                    }
                    if !allowed {
                        let mut refused = hyper::Response::new(dav_server::body::Body::empty());
                        *refused.status_mut() = hyper::StatusCode::UNAUTHORIZED;
                        refused.headers_mut().insert(
                            hyper::header::WWW_AUTHENTICATE,
                            hyper::header::HeaderValue::from_static(
                                "Basic realm=\"syncroll-test\"",
                            ),
                        );
                        return Ok::<_, std::convert::Infallible>(refused);
                    }
                    Ok(handler.handle(req).await)
                }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = connection => {}
                () = shutdown.cancelled() => {}
            }
        });
    }
}
