//! An S3 server on loopback for tests: `s3s-fs` serving a temp folder (one
//! subfolder per bucket), behind `s3s`'s SigV4 check, on hyper. It records
//! each request line so tests can tell how an operation was carried out.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use s3s::auth::SimpleAuth;
use s3s::service::{S3Service, S3ServiceBuilder};
use syncroll_remote::{S3Remote, S3Settings, Secret};
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub const ACCESS_KEY: &str = "syncroll-test-key";
pub const SECRET_KEY: &str = "syncroll-test-secret";
/// The bucket every server starts with.
pub const BUCKET: &str = "photos";

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// Path and query.
    pub target: String,
    /// Whether it named a source to copy from (CopyObject, UploadPartCopy).
    pub copy_source: bool,
}

type Log = Arc<Mutex<Vec<Seen>>>;

/// A running server; stops when dropped.
pub struct S3Server {
    dir: TempDir,
    addr: SocketAddr,
    seen: Log,
    shutdown: CancellationToken,
}

impl S3Server {
    /// Serves a fresh folder holding the (empty) bucket [`BUCKET`].
    pub async fn start() -> Self {
        let dir = TempDir::new().expect("creating the server's folder");
        std::fs::create_dir(dir.path().join(BUCKET)).expect("creating the bucket folder");
        let fs = s3s_fs::FileSystem::new(dir.path()).expect("starting s3s-fs");
        let mut builder = S3ServiceBuilder::new(fs);
        builder.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding a loopback port");
        let addr = listener.local_addr().expect("the bound address");
        let seen = Log::default();
        let shutdown = CancellationToken::new();
        tokio::spawn(serve(
            listener,
            builder.build(),
            seen.clone(),
            shutdown.clone(),
        ));
        Self {
            dir,
            addr,
            seen,
            shutdown,
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Settings for this server, its bucket and `prefix`.
    pub fn settings(&self, prefix: &str) -> S3Settings {
        S3Settings {
            endpoint: self.endpoint(),
            bucket: BUCKET.to_owned(),
            prefix: prefix.to_owned(),
            access_key_id: ACCESS_KEY.to_owned(),
            secret_access_key: Secret::new(SECRET_KEY),
            allow_http: true,
            ..S3Settings::default()
        }
    }

    pub fn remote(&self, prefix: &str) -> S3Remote {
        S3Remote::new(self.settings(prefix)).expect("valid settings")
    }

    /// Where the server keeps the object stored under `stored_key` (the key
    /// including any remote prefix).
    pub fn object_file(&self, stored_key: &str) -> PathBuf {
        self.dir.path().join(BUCKET).join(stored_key)
    }

    /// The bucket's folder, to place objects without going through S3.
    pub fn bucket_dir(&self) -> PathBuf {
        self.dir.path().join(BUCKET)
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
        self.seen.lock().expect("the request log").clone()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Serves `service` on `listener` until `shutdown` fires, logging each
/// request to `seen`.
pub async fn serve(
    listener: TcpListener,
    service: S3Service,
    seen: Log,
    shutdown: CancellationToken,
) {
    loop {
        let stream = tokio::select! {
            () = shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
        };
        let (service, seen, shutdown) = (service.clone(), seen.clone(), shutdown.clone());
        tokio::spawn(async move {
            let logged = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                seen.lock().expect("the request log").push(Seen {
                    method: req.method().to_string(),
                    target: req.uri().to_string(),
                    copy_source: req.headers().contains_key("x-amz-copy-source"),
                });
                let service = service.clone();
                async move { hyper::service::Service::call(&service, req).await }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), logged);
            tokio::select! {
                _ = connection => {}
                () = shutdown.cancelled() => {}
            }
        });
    }
}
