//! `syncroll-tray`: flags, logging, signals; then [`Link::run`] until Quit.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use syncroll_tray::link::Link;
use syncroll_tray::model::TrayModel;
use syncroll_tray::platform::sni::Sni;
use tokio::signal::unix::{SignalKind, signal};
use tracing_subscriber::EnvFilter;

/// The desktop tray helper of syncrolld: sync's state as an icon, a menu
/// to pause and resume, notifications of what needs you.
#[derive(Debug, Parser)]
#[command(name = "syncroll-tray", version)]
struct Args {
    /// The daemon's control socket. Default: $XDG_RUNTIME_DIR/syncroll/syncroll.sock,
    /// else <data-dir>/syncroll.sock (as syncroll finds it).
    #[arg(long, env = "SYNCROLL_SOCKET", value_name = "PATH")]
    socket: Option<PathBuf>,
    /// What to log (to stderr), as RUST_LOG takes it.
    #[arg(long, env = "RUST_LOG", default_value = "info", value_name = "LEVEL")]
    log_level: String,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let filter = EnvFilter::try_new(&args.log_level)
        .with_context(|| format!("invalid log level {:?}", args.log_level))?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let socket = args.socket.unwrap_or_else(syncroll_client::locate::socket);
    let (actions_tx, actions) = tokio::sync::mpsc::unbounded_channel();
    let platform = Sni::start(TrayModel::default().local_view(), actions_tx).await?;
    tracing::info!(socket = %socket.display(), "tray item started");
    let mut terminate = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
    tokio::select! {
        () = Link::new(socket, platform, actions).run() => {}
        _ = terminate.recv() => tracing::info!("SIGTERM: quitting"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: quitting"),
    }
    Ok(())
}
