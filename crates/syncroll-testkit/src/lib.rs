//! Test helpers shared by every integration suite: a real `syncrolld` on
//! temp dirs ([`Daemon`]), the real `syncroll` CLI ([`Daemon::cli`]), the
//! one condition wait ([`wait_until`]), and servers to sync to: in-process
//! S3 ([`S3Server`]) and WebDAV ([`WebDavServer`]) servers, a
//! fault-injecting proxy ([`FaultProxy`]), and independent servers,
//! rclone's ([`RcloneServer`]), and clients, Python's grpcio
//! ([`python_with_grpcio`]); and [`CatalogLock`], the catalog's write lock
//! held from outside, to stop the daemon between a remote operation and its
//! record.
//!
//! Boundary: this crate is a dev-dependency only; it drives the binaries
//! through their public interface (flags, socket, CLI) and nothing else.

use std::fmt::Debug;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

mod background;
mod catalog_lock;
mod counted;
mod mount;
mod proxy;
mod python;
mod rclone;
mod s3;
mod webdav;
pub use catalog_lock::CatalogLock;
pub use mount::Mount;
pub use proxy::{FaultCounts, FaultPlan, FaultProxy};
pub use python::{GRPCIO_PIN, python_with_grpcio};
pub use rclone::{RcloneProtocol, RcloneServer, rclone_path};
pub use s3::{S3Server, Seen, add_s3_remote_at};
pub use webdav::WebDavServer;

/// Waits for a daemon to come up or go down.
pub const DAEMON_TIMEOUT: Duration = Duration::from_secs(30);
/// Generous bound for things that normally take well under a second;
/// speed is measured by `bench/`, never asserted here.
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(20);

/// Polls `probe` until it returns `Ok`, every 20 ms, for at most
/// `timeout`. On timeout it panics naming `what` and the last value seen.
pub fn wait_until<T, L: Debug>(
    timeout: Duration,
    what: &str,
    mut probe: impl FnMut() -> Result<T, L>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = settle(probe(), deadline, timeout, what) {
            return value;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One probe's outcome: the value, `None` to poll again, or the timeout
/// panic.
fn settle<T, L: Debug>(
    result: Result<T, L>,
    deadline: Instant,
    timeout: Duration,
    what: &str,
) -> Option<T> {
    match result {
        Ok(value) => Some(value),
        Err(last) if Instant::now() >= deadline => {
            panic!("timed out after {timeout:?} waiting for {what}; last seen: {last:?}")
        }
        Err(_) => None,
    }
}

/// [`wait_until`] for async tests: sleeps on the runtime instead of blocking
/// it, so the work being waited for can run on the same runtime.
pub async fn wait_until_async<T, L: Debug>(
    timeout: Duration,
    what: &str,
    mut probe: impl FnMut() -> Result<T, L>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = settle(probe(), deadline, timeout, what) {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Where the workspace's binaries were built: `SYNCROLL_BIN_DIR`, else the
/// profile folder above this test executable (`target/debug`).
pub fn bin_path(name: &str) -> PathBuf {
    let dir = std::env::var_os("SYNCROLL_BIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let exe = std::env::current_exe().expect("test executable path");
            let deps = exe.parent().expect("deps folder");
            deps.parent().expect("profile folder").to_path_buf()
        });
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built; run `cargo build --workspace --bins` first (or set SYNCROLL_BIN_DIR)",
        path.display()
    );
    path
}

/// A finished `syncroll` (or `rclone`) run.
#[derive(Debug)]
pub struct CliRun {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl CliRun {
    pub(crate) fn from_output(output: Output) -> Self {
        Self {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Panics unless the command exited 0.
    #[track_caller]
    pub fn ok(self) -> Self {
        assert_eq!(self.code, 0, "the command failed: {self:#?}");
        self
    }

    /// Panics unless the command exited with `code`.
    #[track_caller]
    pub fn fails_with(self, code: i32) -> Self {
        assert_eq!(self.code, code, "unexpected exit code: {self:#?}");
        self
    }

    /// stdout as one JSON document.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:#?}"))
    }

    /// stdout as JSON lines.
    #[track_caller]
    pub fn json_lines(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| panic!("line is not JSON ({e}): {l}"))
            })
            .collect()
    }
}

/// How to start a daemon.
#[derive(Debug, Default)]
pub struct DaemonBuilder {
    config_toml: String,
    socket: Option<PathBuf>,
    data_dir_tmpfs: Option<String>,
    env: Vec<(String, String)>,
}

impl DaemonBuilder {
    /// Extra TOML for the daemon's config file.
    pub fn config(mut self, toml: &str) -> Self {
        self.config_toml.push_str(toml);
        self.config_toml.push('\n');
        self
    }

    /// An environment variable for `syncrolld` (a test-only setting such
    /// as `SYNCROLL_TEST_CLOCK_START`).
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// A socket path other than `<data-dir>/syncroll.sock`.
    pub fn socket(mut self, socket: PathBuf) -> Self {
        self.socket = Some(socket);
        self
    }

    /// The data dir on a fresh tmpfs of `size` (as `mount -o size=` takes
    /// it): a small disk to fill. Needs root, like [`Mount`].
    pub fn data_dir_on_tmpfs(mut self, size: &str) -> Self {
        self.data_dir_tmpfs = Some(size.to_owned());
        self
    }

    /// Starts `syncrolld` and waits until it answers `syncroll status`.
    pub fn start(self) -> Daemon {
        let dir = tempfile::Builder::new()
            .prefix("syncroll-test-")
            .tempdir()
            .expect("temp dir");
        let data_dir = dir.path().join("data");
        let socket = self
            .socket
            .unwrap_or_else(|| data_dir.join("syncroll.sock"));
        let config = dir.path().join("syncrolld.toml");
        fs::write(&config, &self.config_toml).expect("write config");
        let data_disk = self.data_dir_tmpfs.map(|size| {
            fs::create_dir_all(&data_dir).expect("create the data dir");
            Mount::tmpfs_of(&data_dir, &size)
        });
        let mut daemon = Daemon {
            _data_disk: data_disk,
            dir,
            data_dir,
            socket,
            config,
            env: self.env,
            child: None,
        };
        daemon.restart();
        daemon
    }
}

/// A real `syncrolld` on a temp dir, killed when dropped.
#[derive(Debug)]
pub struct Daemon {
    /// Before `dir`: fields drop in order, and the disk must be unmounted
    /// before its mount point is removed.
    _data_disk: Option<Mount>,
    dir: TempDir,
    pub data_dir: PathBuf,
    pub socket: PathBuf,
    config: PathBuf,
    /// Extra environment for `syncrolld`.
    env: Vec<(String, String)>,
    child: Option<Child>,
}

impl Daemon {
    /// A daemon on default settings.
    pub fn start() -> Self {
        Self::builder().start()
    }

    pub fn builder() -> DaemonBuilder {
        DaemonBuilder::default()
    }

    /// A scratch folder beside the data dir, for photo roots.
    pub fn scratch(&self, name: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        fs::create_dir_all(&path).expect("create scratch folder");
        path
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("syncrolld.log")
    }

    /// Everything the daemon logged so far (all runs).
    pub fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// The daemon's config file.
    pub fn config_path(&self) -> &Path {
        &self.config
    }

    /// A `syncrolld` command on this daemon's data dir, not yet started;
    /// the caller adds `--socket` and `--config` as the test needs.
    pub fn command(&self) -> Command {
        let mut command = Command::new(bin_path("syncrolld"));
        command
            .arg("--data-dir")
            .arg(&self.data_dir)
            .env_remove("RUST_LOG")
            .env_remove("SYNCROLL_SOCKET")
            .env_remove("SYNCROLL_CONFIG")
            .env_remove("XDG_RUNTIME_DIR")
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        command
    }

    /// Starts the daemon (again) and waits until it serves.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "daemon is already running");
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("open daemon log");
        let child = self
            .command()
            .arg("--socket")
            .arg(&self.socket)
            .arg("--config")
            .arg(&self.config)
            .arg("--log-level")
            .arg("info,syncroll_daemon=debug")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("spawn syncrolld");
        self.child = Some(child);
        wait_until(DAEMON_TIMEOUT, "syncrolld to serve its socket", || {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("syncrolld exited early with {status}; log:\n{}", self.log());
            }
            let run = self.cli(&["status"]);
            if run.code == 0 { Ok(()) } else { Err(run) }
        });
    }

    /// Runs `syncroll --socket <socket> ARGS`.
    pub fn cli(&self, args: &[&str]) -> CliRun {
        self.cli_with_env(args, &[])
    }

    /// Runs `syncroll --socket <socket> ARGS` with extra environment.
    pub fn cli_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> CliRun {
        let output = Command::new(bin_path("syncroll"))
            .arg("--socket")
            .arg(&self.socket)
            .args(args)
            .env_remove("SYNCROLL_SOCKET")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .output()
            .expect("run syncroll");
        CliRun::from_output(output)
    }

    /// Runs `syncroll --json ARGS`, expecting success, and parses stdout.
    #[track_caller]
    pub fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        self.cli(&all).ok().json()
    }

    /// Every photo the daemon lists (optionally of one collection).
    pub fn photos(&self, collection: Option<&str>) -> Vec<Value> {
        let mut args = vec!["--json", "photos"];
        if let Some(name) = collection {
            args.extend(["--collection", name]);
        }
        self.cli(&args).ok().json_lines()
    }

    /// The relative paths of [`Daemon::photos`], sorted.
    pub fn photo_paths(&self, collection: Option<&str>) -> Vec<String> {
        let mut paths: Vec<String> = self
            .photos(collection)
            .iter()
            .map(|p| p["path"].as_str().unwrap_or_default().to_owned())
            .collect();
        paths.sort();
        paths
    }

    /// Waits until the listed photo paths equal `expected` (any order).
    #[track_caller]
    pub fn wait_for_photos(&self, collection: Option<&str>, expected: &[&str]) {
        let mut expected: Vec<String> = expected.iter().map(|s| (*s).to_owned()).collect();
        expected.sort();
        wait_until(EVENT_TIMEOUT, &format!("photos {expected:?}"), || {
            let seen = self.photo_paths(collection);
            if seen == expected { Ok(()) } else { Err(seen) }
        });
    }

    /// Waits until no scan is running and one has finished.
    pub fn wait_scan_idle(&self) -> Value {
        wait_until(EVENT_TIMEOUT, "the scanner to go idle", || {
            let status = self.json(&["status"]);
            let scan = &status["scan"];
            if scan["scanning"] == Value::Bool(false)
                && scan["last_finished_at"].as_i64().unwrap_or(0) > 0
            {
                Ok(status)
            } else {
                Err(status)
            }
        })
    }

    /// Sends `signal` and waits for the process to exit.
    pub fn stop_with(&mut self, signal: nix::sys::signal::Signal) -> ExitStatus {
        let mut child = self.child.take().expect("daemon is not running");
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        nix::sys::signal::kill(pid, signal).expect("signal syncrolld");
        wait_until(DAEMON_TIMEOUT, "syncrolld to exit", || {
            match child.try_wait() {
                Ok(Some(status)) => Ok(status),
                other => Err(other.map(|_| "still running").map_err(|e| e.to_string())),
            }
        })
    }

    /// Graceful stop (SIGTERM).
    pub fn stop(&mut self) -> ExitStatus {
        self.stop_with(nix::sys::signal::Signal::SIGTERM)
    }

    /// Crash (SIGKILL): no cleanup happens.
    pub fn kill(&mut self) {
        self.stop_with(nix::sys::signal::Signal::SIGKILL);
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("--- syncrolld log ---\n{}", self.log());
        }
    }
}

/// Writes a photo-like file (creating folders), returning its path.
pub fn write_file(path: &Path, bytes: &[u8]) -> PathBuf {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).expect("create folders");
    }
    fs::write(path, bytes).expect("write file");
    path.to_path_buf()
}

/// `n` distinct photos named `{prefix}{i}.jpg` in `dir`, each `size` bytes.
pub fn write_photos(dir: &Path, prefix: &str, n: usize, size: usize) -> Vec<PathBuf> {
    (0..n)
        .map(|i| {
            let mut bytes = format!("{prefix}{i}:").into_bytes();
            bytes.resize(size.max(bytes.len()), (i % 251) as u8);
            write_file(&dir.join(format!("{prefix}{i}.jpg")), &bytes)
        })
        .collect()
}

/// A path as the UTF-8 string the CLI takes.
pub fn s(path: &Path) -> &str {
    path.to_str().expect("test paths are UTF-8")
}
