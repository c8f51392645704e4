//! `syncroll`: the command-line client. It speaks only the control API;
//! it never opens the catalog database or a remote itself.

mod cli;
mod commands;
mod manuals;
mod output;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use syncroll_proto::v1::catalog_service_client::CatalogServiceClient;
use syncroll_proto::v1::collection_service_client::CollectionServiceClient;
use syncroll_proto::v1::connection_service_client::ConnectionServiceClient;
use syncroll_proto::v1::daemon_service_client::DaemonServiceClient;
use syncroll_proto::v1::remote_service_client::RemoteServiceClient;
use syncroll_proto::v1::sync_service_client::SyncServiceClient;
use syncroll_proto::v1::version_service_client::VersionServiceClient;
use tonic::transport::Channel;

use crate::cli::{Cli, Command};
use crate::output::{Failure, Output};

/// Clients for every service, over one connection.
#[derive(Debug, Clone)]
pub struct Client {
    pub daemon: DaemonServiceClient<Channel>,
    pub catalog: CatalogServiceClient<Channel>,
    pub collections: CollectionServiceClient<Channel>,
    pub sync: SyncServiceClient<Channel>,
    pub remotes: RemoteServiceClient<Channel>,
    pub versions: VersionServiceClient<Channel>,
    pub connections: ConnectionServiceClient<Channel>,
}

impl Client {
    async fn connect(socket: PathBuf) -> Result<Self, Failure> {
        let channel = syncroll_proto::connect(&socket)
            .await
            .map_err(|e| Failure::Unreachable {
                detail: root_cause(&e),
                socket: socket.clone(),
            })?;
        Ok(Self {
            daemon: DaemonServiceClient::new(channel.clone()),
            catalog: CatalogServiceClient::new(channel.clone()),
            collections: CollectionServiceClient::new(channel.clone()),
            sync: SyncServiceClient::new(channel.clone()),
            remotes: RemoteServiceClient::new(channel.clone()),
            versions: VersionServiceClient::new(channel.clone()),
            connections: ConnectionServiceClient::new(channel),
        })
    }
}

fn root_cause(error: &dyn std::error::Error) -> String {
    let mut cause = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// The socket the daemon listens on by default; it mirrors syncrolld's rule.
fn default_socket() -> PathBuf {
    if let Some(run) = std::env::var_os("XDG_RUNTIME_DIR").filter(|r| !r.is_empty()) {
        return PathBuf::from(run).join("syncroll").join("syncroll.sock");
    }
    let data_dir = std::env::var_os("SYNCROLL_DATA_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            directories::ProjectDirs::from("", "", "syncroll").map(|d| d.data_dir().to_path_buf())
        })
        .unwrap_or_else(|| PathBuf::from(".syncroll"));
    data_dir.join("syncroll.sock")
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let out = Output { json: cli.json };
    // Generated from the command line itself: no daemon is asked.
    match &cli.command {
        Command::Completions { shell } => return manuals::completions(*shell),
        Command::Man { dir } => {
            return match manuals::man_pages(dir) {
                Ok(written) => {
                    println!("wrote {written} man pages to {}", dir.display());
                    ExitCode::SUCCESS
                }
                Err(failure) => out.failure(&failure),
            };
        }
        _ => {}
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            return out.failure(&Failure::Input(format!(
                "cannot start the async runtime: {e}"
            )));
        }
    };
    let socket = cli.socket.unwrap_or_else(default_socket);
    let result = runtime.block_on(async move {
        let client = Client::connect(socket).await?;
        dispatch(client, cli.command, out).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => out.failure(&failure),
    }
}

async fn dispatch(client: Client, command: Command, out: Output) -> Result<(), Failure> {
    match command {
        Command::Status => commands::status::run(client, out).await,
        Command::Roots(command) => commands::roots::run(client, command, out).await,
        Command::Rescan(args) if args.remote.is_some() => {
            commands::connections::poll(client, args, out).await
        }
        Command::Rescan(args) => commands::roots::rescan(client, args, out).await,
        Command::Collections(command) => commands::collections::run(client, command, out).await,
        Command::Photos(args) => commands::photos::run(client, args, out).await,
        Command::Sync(command) => commands::sync::set(client, command, out).await,
        Command::Watch { until_idle } => commands::sync::watch(client, until_idle, out).await,
        Command::Wait { timeout } => commands::sync::wait(client, timeout, out).await,
        Command::Pause {
            collection,
            for_duration,
        } => commands::sync::pause(client, collection, for_duration, out).await,
        Command::Limit {
            limit,
            for_duration,
        } => commands::sync::limit(client, limit, for_duration, out).await,
        Command::Resume { collection } => commands::sync::resume(client, collection, out).await,
        Command::Cancel { collection, job } => {
            commands::sync::cancel(client, collection, job, out).await
        }
        Command::Jobs { state, collection } => {
            commands::sync::jobs(client, state, collection, out).await
        }
        Command::Retry { id, all } => commands::sync::retry(client, id, all, out).await,
        Command::Remotes(command) => commands::remotes::run(client, command, out).await,
        Command::Holds { command, all } => commands::holds::run(client, command, all, out).await,
        Command::Connect(args) => commands::connections::connect(client, args, out).await,
        Command::Disconnect { name } => commands::connections::disconnect(client, name, out).await,
        Command::Conflicts { all } => commands::connections::conflicts(client, all, out).await,
        Command::Versions { command, path } => {
            commands::versions::run(client, command, path, out).await
        }
        Command::Completions { .. } | Command::Man { .. } => {
            unreachable!("answered in main without a daemon")
        }
    }
}
