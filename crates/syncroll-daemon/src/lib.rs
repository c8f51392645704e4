//! syncrolld: keeps the catalog true to the disk and serves the control API.
//!
//! Start-up order matters and is kept in [`run`]: take the instance lock,
//! open the catalog, bind the socket, start the scanner and the root
//! monitor, then serve. Shutdown runs it backwards.

pub mod app;
pub mod authority;
pub mod config;
pub mod credentials;
pub mod remotes;
pub mod scanner;
pub mod service;
pub mod settling;
pub mod socket;
pub mod status;
pub mod sync;
pub mod watcher;

use std::fs::{File, TryLockError};
use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use syncroll_core::Store;
use syncroll_core::media::PhotoFilter;
use syncroll_proto::v1::catalog_service_server::CatalogServiceServer;
use syncroll_proto::v1::collection_service_server::CollectionServiceServer;
use syncroll_proto::v1::daemon_service_server::DaemonServiceServer;
use syncroll_proto::v1::remote_service_server::RemoteServiceServer;
use syncroll_proto::v1::sync_service_server::SyncServiceServer;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::app::App;
use crate::config::Config;
use crate::credentials::Credentials;
use crate::remotes::Remotes;
use crate::scanner::{ScanReason, ScanTarget, Scanner};
use crate::service::Control;
use crate::socket::SocketError;
use crate::status::LiveStatus;
use crate::sync::{PlanSignal, SyncEngine};
use crate::watcher::Monitor;

/// How long in-flight RPCs get to finish after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Why the daemon could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(
        "another syncrolld is already running with data dir {}{}; stop it first or use another --data-dir",
        .data_dir.display(),
        .pid.as_ref().map(|p| format!(" (pid {p})")).unwrap_or_default()
    )]
    AlreadyRunning {
        data_dir: PathBuf,
        pid: Option<String>,
    },
    #[error(transparent)]
    Socket(#[from] SocketError),
    #[error(transparent)]
    Credentials(#[from] credentials::CredentialsError),
    #[error(transparent)]
    Catalog(#[from] syncroll_core::Error),
    #[error(
        "the data dir {} is inside root {}: the root's scans would index syncroll's own catalog \
         and local remote. Use a data dir outside every root (--data-dir), or forget the root \
         with `syncroll roots remove` from a daemon on another data dir",
        .data_dir.display(), .root.display()
    )]
    DataDirInsideRoot { data_dir: PathBuf, root: PathBuf },
    #[error("cannot {action} {}: {source}", .path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("gRPC server: {0}")]
    Serve(#[from] tonic::transport::Error),
    #[error("gRPC reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
}

/// Runs the daemon until `shutdown` completes.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), DaemonError> {
    let config = Arc::new(config);
    let data_dir = config.daemon.data_dir.clone();
    socket::ensure_private_dir(&data_dir, true)?;
    let _lock = lock_instance(&data_dir)?;

    // Before anything else touches remotes: refuse secrets others can read.
    let credentials = Credentials::load(&data_dir)?;
    let store = Store::open(&data_dir.join("catalog.sqlite")).await?;
    refuse_data_dir_inside_root(&store, &data_dir).await?;
    let cloud = data_dir.join("cloud");
    std::fs::create_dir_all(&cloud).map_err(|source| DaemonError::Io {
        action: "create the local remote's folder",
        path: cloud.clone(),
        source,
    })?;
    let settings = format!("{{\"path\":{:?}}}", cloud.display().to_string());
    store.ensure_remote("local", "fs", &settings).await?;
    store.remote_id(&config.remotes.default).await?;

    let socket_path = config.daemon.socket.clone();
    let socket_dir_is_ours = socket_path.parent() == Some(data_dir.as_path())
        || socket_path == config::default_socket(&data_dir);
    let listener = socket::bind(&socket_path, socket_dir_is_ours).await?;

    let cancel = CancellationToken::new();
    let status = LiveStatus::new(config.watcher.enabled);
    let skip_dirs = vec![
        data_dir.clone(),
        socket_path.parent().unwrap_or(Path::new("/")).to_path_buf(),
    ];
    let plan = Arc::new(PlanSignal::default());
    let (scanner, scanner_task) = Scanner::new(
        store.clone(),
        PhotoFilter::new(&config.catalog.photo_extensions),
        status.clone(),
        config.catalog.hash_workers,
        skip_dirs.clone(),
        cancel.clone(),
        plan.clone(),
    )
    .settle_after(Duration::from_millis(config.watcher.settle_ms))
    .spawn();
    let (monitor, monitor_task) = Monitor::new(
        store.clone(),
        scanner.clone(),
        status.clone(),
        config.watcher.clone(),
        config.catalog.clone(),
        skip_dirs,
    )
    .spawn(cancel.clone());
    // Watch first, then scan: a change during the start-up scan is seen.
    monitor.refresh().await;
    scanner.request(ScanTarget::All, ScanReason::Startup);

    let remotes = Remotes::new(store.clone(), credentials, config.remotes.clone());
    let sync = SyncEngine::new(
        store.clone(),
        remotes.clone(),
        scanner.clone(),
        status.clone(),
        plan,
        config.sync.clone(),
    );
    let sync_task = sync.spawn(cancel.clone());
    let app = Arc::new(App::new(
        store.clone(),
        scanner,
        monitor,
        status,
        config.clone(),
        sync,
        remotes,
    ));
    let control = Control::new(app);
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<DaemonServiceServer<Control>>().await;
    health.set_serving::<CatalogServiceServer<Control>>().await;
    health
        .set_serving::<CollectionServiceServer<Control>>()
        .await;
    health.set_serving::<SyncServiceServer<Control>>().await;
    health.set_serving::<RemoteServiceServer<Control>>().await;
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(syncroll_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(syncroll_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;

    let server_cancel = cancel.clone();
    let server = tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(DaemonServiceServer::new(control.clone()))
        .add_service(CatalogServiceServer::new(control.clone()))
        .add_service(CollectionServiceServer::new(control.clone()))
        .add_service(SyncServiceServer::new(control.clone()))
        .add_service(RemoteServiceServer::new(control))
        .serve_with_incoming_shutdown(socket::owner_only(listener), async move {
            server_cancel.cancelled().await;
        });
    let mut server = tokio::spawn(server);
    info!(socket = %socket_path.display(), data_dir = %data_dir.display(), version = env!("CARGO_PKG_VERSION"), "syncrolld ready");

    let served = tokio::select! {
        result = &mut server => Some(result),
        () = shutdown => None,
    };
    info!("shutting down");
    cancel.cancel();
    let served = match served {
        Some(result) => result,
        None => match tokio::time::timeout(SHUTDOWN_GRACE, &mut server).await {
            Ok(result) => result,
            Err(_) => {
                warn!("in-flight requests did not finish in time; closing them");
                server.abort();
                Ok(Ok(()))
            }
        },
    };
    let _ = tokio::join!(scanner_task, monitor_task, sync_task);
    store.close().await;
    let _ = std::fs::remove_file(&socket_path);
    info!("stopped");
    match served {
        Ok(result) => result.map_err(DaemonError::from),
        Err(join) => {
            warn!(error = %join, "server task ended abnormally");
            Ok(())
        }
    }
}

/// A data dir inside a root would be scanned as photos and, through the
/// `local` remote under it, copied into itself; refused at start (roots add
/// refuses such a root too, but an older catalog may hold one).
async fn refuse_data_dir_inside_root(store: &Store, data_dir: &Path) -> Result<(), DaemonError> {
    let data_dir = std::fs::canonicalize(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
    for root in store.roots_brief().await? {
        let root_path = std::fs::canonicalize(&root.path).unwrap_or(root.path);
        if data_dir.starts_with(&root_path) {
            return Err(DaemonError::DataDirInsideRoot {
                data_dir,
                root: root_path,
            });
        }
    }
    Ok(())
}

/// Takes the data dir's instance lock, held until the returned file drops.
/// The OS releases it if the daemon dies, so a crash never leaves it stuck.
fn lock_instance(data_dir: &Path) -> Result<File, DaemonError> {
    let path = data_dir.join("syncrolld.lock");
    let io = |action| {
        let path = path.clone();
        move |source| DaemonError::Io {
            action,
            path,
            source,
        }
    };
    let mut file = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io("open the instance lock"))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let pid = std::fs::read_to_string(&path)
                .ok()
                .map(|p| p.trim().to_owned())
                .filter(|p| !p.is_empty());
            return Err(DaemonError::AlreadyRunning {
                data_dir: data_dir.to_path_buf(),
                pid,
            });
        }
        Err(TryLockError::Error(e)) => return Err(io("lock")(e)),
    }
    file.set_len(0).map_err(io("write the instance lock"))?;
    writeln!(file, "{}", std::process::id()).map_err(io("write the instance lock"))?;
    Ok(file)
}
