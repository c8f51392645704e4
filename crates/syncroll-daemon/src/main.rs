//! `syncrolld`: parses flags, sets up logging, runs the daemon until
//! SIGTERM or SIGINT, exits 0 after a clean shutdown.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use syncroll_daemon::config::{Config, Overrides};
use tracing_subscriber::EnvFilter;

/// glibc gives each thread that allocates its own arena (up to eight per
/// core) and keeps what is freed in it: the transfer budget's buffers, read
/// on blocking threads and freed on the runtime's, left peak RSS about
/// 11 MB above the budget. Two arenas measured the same speed. Called
/// before any thread exists.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn limit_malloc_arenas() {
    // SAFETY: mallopt only sets an allocator parameter; it is called once,
    // first thing in main, before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn limit_malloc_arenas() {}

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
    /// Write the syncrolld(1) man page into DIR (made if missing) and exit
    #[arg(long, value_name = "DIR")]
    man: Option<PathBuf>,
}

fn main() -> ExitCode {
    limit_malloc_arenas();
    let args = Args::parse();
    if let Some(dir) = &args.man {
        return match write_man_page(dir) {
            Ok(path) => {
                println!("wrote {}", path.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("syncrolld: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("syncrolld: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `--man DIR`: the page, from the same clap definition as the flags.
fn write_man_page(dir: &std::path::Path) -> anyhow::Result<PathBuf> {
    use anyhow::Context;
    use clap::CommandFactory;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot make {}", dir.display()))?;
    let mut roff = Vec::new();
    clap_mangen::Man::new(Args::command()).render(&mut roff)?;
    let path = dir.join("syncrolld.1");
    std::fs::write(&path, roff).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
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
    let _log_flush = init_logging(&config)?;

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

/// Logs go to stderr (for journald and launchd) and to daily files in
/// `<data-dir>/logs`, the last `LOG_FILES_KEPT` kept. The returned guard
/// flushes the file writer when dropped.
fn init_logging(config: &Config) -> anyhow::Result<tracing_appender::non_blocking::WorkerGuard> {
    use std::os::unix::fs::DirBuilderExt;
    use tracing_subscriber::prelude::*;

    const LOG_FILES_KEPT: usize = 14;
    let filter = EnvFilter::try_new(&config.daemon.log_level)
        .with_context(|| format!("invalid log level {:?}", config.daemon.log_level))?;
    let log_dir = config.daemon.data_dir.join("logs");
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&log_dir)
        .with_context(|| format!("creating the log folder {}", log_dir.display()))?;
    let files = tracing_appender::rolling::Builder::new()
        .rotation(tracing_appender::rolling::Rotation::DAILY)
        .filename_prefix("syncrolld")
        .filename_suffix("log")
        .max_log_files(LOG_FILES_KEPT)
        .build(&log_dir)
        .with_context(|| format!("opening log files in {}", log_dir.display()))?;
    let (file_writer, guard) = tracing_appender::non_blocking(files);
    tracing_subscriber::registry()
        .with(filter)
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::stderr().is_terminal()),
        )
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(file_writer)
                .with_ansi(false),
        )
        .init();
    Ok(guard)
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
