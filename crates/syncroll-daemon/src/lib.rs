//! syncrolld: keeps the catalog true to the disk and serves the control API.
//!
//! Start-up order matters and is kept in [`run`]: take the instance lock,
//! open the catalog, bind the socket, start the scanner and the root
//! monitor, then serve. Shutdown runs it backwards.

pub mod app;
pub mod authority;
pub mod backup;
pub mod bandwidth;
pub mod config;
pub mod connections;
pub mod credentials;
pub mod datadir;
pub mod events;
pub mod pull;
pub mod remotes;
pub mod scanner;
pub mod service;
pub mod service_manager;
pub mod settling;
pub mod socket;
pub mod status;
pub mod sync;
pub mod versions;
pub mod watcher;

use std::fs::{File, TryLockError};
use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use syncroll_core::Store;
use syncroll_proto::v1::catalog_service_server::CatalogServiceServer;
use syncroll_proto::v1::collection_service_server::CollectionServiceServer;
use syncroll_proto::v1::connection_service_server::ConnectionServiceServer;
use syncroll_proto::v1::daemon_service_server::DaemonServiceServer;
use syncroll_proto::v1::event_service_server::EventServiceServer;
use syncroll_proto::v1::remote_service_server::RemoteServiceServer;
use syncroll_proto::v1::sync_service_server::SyncServiceServer;
use syncroll_proto::v1::version_service_server::VersionServiceServer;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::app::App;
use crate::backup::Backups;
use crate::config::Config;
use crate::credentials::Credentials;
use crate::datadir::DataDirGuard;
use crate::remotes::Remotes;
use crate::scanner::{ScanReason, ScanTarget, Scanner};
use crate::service::Control;
use crate::socket::SocketError;
use crate::status::LiveStatus;
use crate::sync::{PlanSignal, SyncEngine};
use crate::watcher::Monitor;

/// The catalog's file name in the data dir.
pub const CATALOG_FILE: &str = "catalog.sqlite";

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
        "cannot open the catalog {}: {reason}; free some space there (or make it writable) and \
         start syncrolld again",
        .catalog.display()
    )]
    DataDirUnwritable { catalog: PathBuf, reason: String },
    #[error("{}", damaged_catalog_message(.catalog, .detail, .backup.as_deref()))]
    CatalogDamaged {
        catalog: PathBuf,
        detail: String,
        /// The newest backup, if there is one.
        backup: Option<PathBuf>,
    },
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
    /// `SYNCROLL_TEST_CLOCK_START` (for tests) cannot be read.
    #[error("{0}")]
    TestClock(String),
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
    let catalog = data_dir.join(CATALOG_FILE);
    let store = open_catalog(&catalog, &data_dir)
        .await?
        .with_brake_policy(config.sync.brake.policy())
        .with_sidecar_rules(config.catalog.sidecar_rules());
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
    // `Config::load` validated the policy; a config built in code without
    // it gets the defaults rather than a daemon that will not start.
    let policy = config.versions.policy().unwrap_or_default();
    let versions = versions::VersionStore::new(store.clone(), &data_dir, policy);
    // Not fatal: a data dir full or read-only at start must not keep the
    // daemon (and its status) from running; keeping a version then fails
    // with the reason, and nothing is replaced.
    if let Err(error) = versions.start().await {
        warn!(%error, "the version store could not be prepared");
    }

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
    let guard = DataDirGuard::new(
        store.clone(),
        data_dir.clone(),
        Duration::from_secs(config.catalog.data_dir_check_interval_secs),
    );
    let (scanner, scanner_task) = Scanner::new(
        store.clone(),
        config.catalog.file_filter(),
        status.clone(),
        config.catalog.hash_workers,
        skip_dirs.clone(),
        cancel.clone(),
        plan.clone(),
        guard.clone(),
    )
    .settle_after(Duration::from_millis(config.watcher.settle_ms))
    .spawn();
    let guard_task = guard.spawn(scanner.clone(), cancel.clone());
    let backup_task = Backups::new(
        store.clone(),
        &catalog,
        &data_dir,
        Duration::from_secs(config.catalog.backup_interval_hours.saturating_mul(3600)),
        config.catalog.backups_kept as usize,
    )
    .spawn(guard.clone(), cancel.clone());
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
    // Setting the watches walks every folder of every root (seconds for a
    // million photos), so it runs beside the server rather than before it;
    // until the start-up scan has run, `status` says it is scanning and
    // the daemon is not idle.
    {
        let mut scan = status.scan();
        scan.scanning = true;
        scan.reason = ScanReason::Startup.as_str().to_owned();
    }
    let startup_task = {
        let (monitor, scanner) = (monitor.clone(), scanner.clone());
        tokio::spawn(async move {
            monitor.refresh().await;
            scanner.request(ScanTarget::All, ScanReason::Startup);
        })
    };

    let clock = bandwidth::WeekClock::from_env().map_err(DaemonError::TestClock)?;
    let bandwidth = bandwidth::Bandwidth::new(config.sync.bandwidth_schedule(), clock);
    let events = events::EventBus::new(store.clone(), cancel.clone());
    let bandwidth_task = bandwidth.spawn(cancel.clone(), events.clone());
    let remotes = Remotes::new(
        store.clone(),
        credentials,
        config.remotes.clone(),
        bandwidth,
    );
    let sync = SyncEngine::new(
        store.clone(),
        remotes.clone(),
        scanner.clone(),
        status.clone(),
        plan,
        config.sync.clone(),
        guard,
    );
    let sync_task = sync.spawn(cancel.clone());
    // Photos, and the sidecars the pull engine tells apart.
    let photo_filter = config.catalog.file_filter();
    let pull_parts = (
        scanner.clone(),
        remotes.clone(),
        versions.clone(),
        sync.clone(),
    );
    let app = Arc::new(App::new(
        store.clone(),
        scanner,
        monitor,
        status,
        config.clone(),
        sync,
        remotes,
        versions,
        events,
    ));
    // Beside the sync engine: it polls the connections that pull, woken by
    // `rescan --remote` through the app's poll signal.
    let pull = pull::PullEngine::new(
        store.clone(),
        pull_parts.1,
        pull_parts.0,
        app.poll_signal().clone(),
        photo_filter,
        pull_parts.2,
        pull_parts.3.clone(),
    );
    // The sync workers run the download jobs polls queue.
    pull_parts.3.set_download_runner(Arc::new(pull.clone()));
    let pull_task = pull.spawn(cancel.clone());
    let service_manager = service_manager::ServiceManager::from_env();
    let manager_app = app.clone();
    let control = Control::new(app);
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<DaemonServiceServer<Control>>().await;
    health.set_serving::<CatalogServiceServer<Control>>().await;
    health
        .set_serving::<CollectionServiceServer<Control>>()
        .await;
    health.set_serving::<SyncServiceServer<Control>>().await;
    health.set_serving::<RemoteServiceServer<Control>>().await;
    health.set_serving::<VersionServiceServer<Control>>().await;
    health
        .set_serving::<ConnectionServiceServer<Control>>()
        .await;
    health.set_serving::<EventServiceServer<Control>>().await;
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
        .add_service(VersionServiceServer::new(control.clone()))
        .add_service(ConnectionServiceServer::new(control.clone()))
        .add_service(EventServiceServer::new(control.clone()))
        .add_service(RemoteServiceServer::new(control))
        .serve_with_incoming_shutdown(socket::owner_only(listener), async move {
            server_cancel.cancelled().await;
        });
    let mut server = tokio::spawn(server);
    info!(socket = %socket_path.display(), data_dir = %data_dir.display(), version = env!("CARGO_PKG_VERSION"), "syncrolld ready");
    // The listener is bound and the catalog open: a client connecting now
    // is served. The status line follows within seconds.
    service_manager.ready("starting: the start-up scan is under way");
    let manager_task = service_manager.spawn(manager_app, cancel.clone());

    let served = tokio::select! {
        result = &mut server => Some(result),
        () = shutdown => None,
    };
    info!("shutting down");
    service_manager.stopping();
    cancel.cancel();
    startup_task.abort();
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
    if let Some(task) = manager_task {
        let _ = task.await;
    }
    let _ = tokio::join!(
        scanner_task,
        monitor_task,
        sync_task,
        pull_task,
        guard_task,
        backup_task,
        bandwidth_task
    );
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

/// Opens (and checks) the catalog; a damaged one, or one on a disk that
/// refuses writes, is an error that says what to do.
async fn open_catalog(catalog: &Path, data_dir: &Path) -> Result<Store, DaemonError> {
    Store::open(catalog).await.map_err(|e| match e {
        syncroll_core::Error::CatalogDamaged { path, detail } => DaemonError::CatalogDamaged {
            catalog: path,
            detail,
            backup: backup::newest_backup(&data_dir.join(backup::BACKUP_DIR)),
        },
        // SQLite cannot even set up its WAL index on a full disk.
        e => match datadir::reason_for(&e, data_dir) {
            Some(reason) => DaemonError::DataDirUnwritable {
                catalog: catalog.to_path_buf(),
                reason,
            },
            None => e.into(),
        },
    })
}

/// What to do about a damaged catalog: the exact commands that put the
/// newest backup in its place (keeping the damaged file beside it, and
/// removing its WAL and shared-memory files, which belong to the damaged
/// file and would be replayed onto the backup).
fn damaged_catalog_message(catalog: &Path, detail: &str, backup: Option<&Path>) -> String {
    let q = |p: &Path| shell_quoted(&p.display().to_string());
    let with_suffix = |suffix: &str| {
        let mut name = catalog.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    };
    let move_aside = format!(
        "mv {} {} && rm -f {} {}",
        q(catalog),
        q(&with_suffix(".damaged")),
        q(&with_suffix("-wal")),
        q(&with_suffix("-shm"))
    );
    let what = format!(
        "the catalog {} is damaged ({detail}); syncrolld stopped without changing it",
        catalog.display()
    );
    match backup {
        Some(backup) => format!(
            "{what}. The newest backup is {}. To restore it (syncrolld is not running), run:\n  \
             {move_aside} && cp {} {}\nthen start syncrolld again: photos added or changed since \
             the backup are found again by its first scan",
            backup.display(),
            q(backup),
            q(catalog)
        ),
        None => format!(
            "{what}, and there is no backup of it. To start over with an empty catalog (the damaged \
             file kept beside it), run:\n  {move_aside}\nthen start syncrolld again and add the \
             roots, remotes and collections again"
        ),
    }
}

/// `text` as one shell word: as it is when it holds only safe characters,
/// else in single quotes.
fn shell_quoted(text: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "/._-+:@%,=".contains(c);
    if !text.is_empty() && text.chars().all(safe) {
        return text.to_owned();
    }
    format!("'{}'", text.replace('\'', r"'\''"))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_in_commands_are_quoted_only_when_the_shell_would_split_them() {
        assert_eq!(
            shell_quoted("/var/lib/syncroll/catalog.sqlite"),
            "/var/lib/syncroll/catalog.sqlite"
        );
        assert_eq!(shell_quoted("/home/me/My Data"), "'/home/me/My Data'");
        assert_eq!(shell_quoted("/it's"), r"'/it'\''s'");
        assert_eq!(shell_quoted("/a;rm -rf ~"), "'/a;rm -rf ~'");
        assert_eq!(shell_quoted(""), "''");
    }

    #[test]
    fn without_a_backup_the_message_says_how_to_start_over() {
        let message = damaged_catalog_message(Path::new("/d/catalog.sqlite"), "bad page", None);
        assert!(message.contains("there is no backup"), "{message}");
        assert!(
            message.contains(
                "mv /d/catalog.sqlite /d/catalog.sqlite.damaged && rm -f /d/catalog.sqlite-wal /d/catalog.sqlite-shm"
            ),
            "{message}"
        );
    }
}
