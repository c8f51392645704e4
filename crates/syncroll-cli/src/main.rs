//! `syncroll`: the command-line client. It speaks only the control API;
//! it never opens the catalog database or a remote itself.

mod cli;
mod commands;
mod manuals;
mod output;

use std::process::ExitCode;

use clap::Parser;
use syncroll_client::{Client, ClientError};

use crate::cli::{Cli, Command};
use crate::output::{Failure, Output};

/// Connects to the daemon; not reachable is the CLI's own failure (exit 3).
async fn connect(socket: std::path::PathBuf) -> Result<Client, Failure> {
    Client::connect(socket).await.map_err(|error| match error {
        ClientError::Unreachable { socket, detail } => Failure::Unreachable { socket, detail },
        ClientError::Rpc(status) => Failure::Rpc(status),
        other => Failure::Input(other.to_string()),
    })
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
    let socket = cli.socket.unwrap_or_else(syncroll_client::locate::socket);
    let result = runtime.block_on(async move {
        let client = connect(socket).await?;
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
        Command::Events { after } => commands::events::run(client, after, out).await,
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
