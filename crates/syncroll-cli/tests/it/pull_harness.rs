//! What the pull robustness tests (`pull_crash`, `pull_scale`) share: a
//! folder collection Trip synced to a remote and connected `both`, a poll
//! asked for and waited on through the CLI, and looks at the root's disk.
//! Kept apart from `pull.rs` so those tests do not depend on its private
//! helpers.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use syncroll_testkit::{Daemon, S3Server, WebDavServer, s, wait_until};

/// Which remote the album is on; the servers run as long as it lives.
/// (The `fs` remote cannot pause or count requests, which is what these
/// tests need of a remote; `pull.rs` covers it.)
pub enum Kind {
    S3(S3Server),
    WebDav(WebDavServer),
}

/// A daemon whose root's `trip/` folder is the collection Trip, synced to
/// the remote and connected `both`, edits returning as versions.
pub struct Album {
    pub daemon: Daemon,
    /// The root, resolved (the daemon reports resolved paths).
    pub root: PathBuf,
    /// The album on the remote's disk: `<store>/Trip/`, which holds the
    /// collection's keys (`trip/...`).
    pub album: PathBuf,
    pub kind: Kind,
}

impl Album {
    /// `prepare` fills the root (its `trip/` folder is the collection)
    /// before it is added.
    pub fn new(kind: Kind, config: &str, prepare: impl FnOnce(&Path)) -> Self {
        let daemon = Daemon::builder().config(config).start();
        let root = daemon.scratch("photos");
        fs::create_dir_all(root.join("trip")).unwrap();
        prepare(&root);
        daemon.cli(&["roots", "add", s(&root)]).ok();
        daemon.json(&["rescan"]);
        let (remote, store) = match &kind {
            Kind::S3(server) => {
                server.add_as_remote(&daemon, "minio", &[]);
                ("minio", server.bucket_dir())
            }
            Kind::WebDav(server) => {
                server.add_as_remote(&daemon, "dav", &[]);
                ("dav", server.folder())
            }
        };
        crate::create_trip(&daemon, &root, &["--remote", remote, "--sync"]);
        daemon.cli(&["wait", "--timeout", "600s"]).ok();
        daemon
            .cli(&[
                "connect",
                "Trip",
                "--direction",
                "both",
                "--returns",
                "version",
            ])
            .ok();
        let root = fs::canonicalize(root).unwrap();
        Self {
            daemon,
            root,
            album: store.join("Trip"),
            kind,
        }
    }

    pub fn remote_name(&self) -> &'static str {
        match self.kind {
            Kind::S3(_) => "minio",
            Kind::WebDav(_) => "dav",
        }
    }

    /// The connection as `status` shows it.
    pub fn connection(&self) -> Value {
        self.daemon.json(&["status"])["connections"][0].clone()
    }

    /// Asks for a poll without waiting for it; returns when it was asked
    /// (ms since the epoch), for [`Album::wait_poll_since`].
    pub fn ask_poll(&self) -> i64 {
        let before = now_ms();
        self.daemon
            .cli(&["rescan", "--remote", self.remote_name()])
            .ok();
        before
    }

    /// Waits for a poll begun at or after `since` to finish; returns its
    /// outcome.
    pub fn wait_poll_since(&self, since: i64, timeout: Duration) -> String {
        wait_until(timeout, "a poll to finish", || {
            let connection = self.connection();
            if connection["last_polled_at_ms"].as_i64().unwrap_or(0) >= since {
                Ok(connection["last_poll_outcome"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned())
            } else {
                Err(connection)
            }
        })
    }

    /// Asks for a poll and waits for one begun after the asking to finish
    /// (a poll's time is when it began); returns its outcome.
    pub fn poll(&self, timeout: Duration) -> String {
        let since = self.ask_poll();
        self.wait_poll_since(since, timeout)
    }

    /// Upload jobs done so far.
    pub fn done_uploads(&self) -> usize {
        self.daemon
            .cli(&["--json", "jobs", "--state", "done"])
            .ok()
            .json_lines()
            .iter()
            .filter(|j| j["op"] == "upload")
            .count()
    }
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Every file below `dir` whose name starts with a dot (download
/// temporaries, their notes, the pull engine's edit temporaries), relative.
pub fn hidden_files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path
                .file_name()
                .unwrap()
                .as_encoded_bytes()
                .starts_with(b".")
            {
                out.push(path.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

/// `len` bytes no compressor or dedup would shorten, the same for the same
/// `seed`: a photo-sized stand-in whose every byte is checked.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 8);
    let mut x = seed ^ 0x9e37_79b9_7f4a_7c15;
    while out.len() < len {
        // splitmix64
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(len);
    out
}
