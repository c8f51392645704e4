//! `syncrolld`: parses flags, sets up logging, runs the daemon until
//! SIGTERM or SIGINT, exits 0 after a clean shutdown.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use syncroll_daemon::config::{Config, Overrides};
use tracing_subscriber::EnvFilter;

/// The syncroll daemon: watches photo folders, keeps the catalog, serves
/// the control socket. Runs in the foreground; service managers supervise it.
#[derive(Debug, Parser)]
#[command(name = "syncrolld", version, about)]
struct Args {
    /// Catalog, queue, the `local` remote's folder [default: platform data dir]
    #[arg(long, env = "SYNCROLL_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Control socket [default: $XDG_RUNTIME_DIR/syncroll/syncroll.sock, else <data-dir>/syncroll.sock]
    #[arg(long, env = "SYNCROLL_SOCKET", value_name = "PATH")]
    socket: Option<PathBuf>,
    /// TOML config file [default: $XDG_CONFIG_HOME/syncroll/syncrolld.toml if present]
    #[arg(long, env = "SYNCROLL_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Log filter, such as `info` or `syncroll_daemon=debug` [default: RUST_LOG, else the config's]
    #[arg(long, value_name = "LEVEL")]
    log_level: Option<String>,
    /// Print the effective config (defaults, file, environment and flags merged) and exit
    #[arg(long)]
    print_config: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("syncrolld: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    let log_level = args
        .log_level
        .or_else(|| std::env::var("RUST_LOG").ok().filter(|l| !l.is_empty()));
    let config = Config::load(Overrides {
        config_file: args.config,
        data_dir: args.data_dir,
        socket: args.socket,
        log_level,
    })?;
    if args.print_config {
        print!("{}", config.to_toml());
        return Ok(());
    }
    let filter = EnvFilter::try_new(&config.daemon.log_level)
        .with_context(|| format!("invalid log level {:?}", config.daemon.log_level))?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let shutdown = shutdown_signal().context("installing signal handlers")?;
        syncroll_daemon::run(config, shutdown).await?;
        Ok(())
    })
}

/// Completes on the first SIGTERM or SIGINT.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}
