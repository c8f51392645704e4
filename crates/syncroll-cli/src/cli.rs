//! The command line, as the contract (`CONTRACT.md`) spells it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Control syncrolld, the syncroll daemon: roots, collections, photos, status.
#[derive(Debug, Parser)]
#[command(name = "syncroll", version, about, propagate_version = true)]
pub struct Cli {
    /// The daemon's control socket [default: $XDG_RUNTIME_DIR/syncroll/syncroll.sock, else <data-dir>/syncroll.sock]
    #[arg(long, global = true, env = "SYNCROLL_SOCKET", value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// Machine-readable output: one JSON document per command, one object per line for listings
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Daemon state: version, uptime, roots, photo counts, scan and watcher
    Status,
    /// Catalog folders the daemon indexes and watches
    #[command(subcommand)]
    Roots(RootsCommand),
    /// Scan every root again, or one folder or file under a root
    Rescan(RescanArgs),
    /// Manual and folder collections
    #[command(subcommand)]
    Collections(CollectionsCommand),
    /// List photos: the whole catalog, one collection, or all synced photos
    Photos(PhotosArgs),
    /// Turn a collection's sync on or off
    #[command(subcommand)]
    Sync(SyncCommand),
    /// Live progress bars of the transfer queue
    Watch {
        /// Return when the queue is drained (exit 0, or 1 if some job failed)
        #[arg(long)]
        until_idle: bool,
    },
    /// Block until the queue is drained: exit 0 if no job failed, 1 if some failed, 4 on timeout, 5 if deletions are held for a decision
    Wait {
        /// Give up after this long (e.g. 90s, 10m) [default: no limit]
        #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
        timeout: Option<std::time::Duration>,
    },
    /// Stop starting transfers and interrupt running ones, for everything or one collection
    Pause {
        /// Only this collection
        collection: Option<String>,
        /// Resume by itself after this long (e.g. 30m, 2h; at most 100 years)
        #[arg(long = "for", value_name = "DURATION", value_parser = pause_duration)]
        for_duration: Option<std::time::Duration>,
    },
    /// Limit the bandwidth of all transfers now, over sync.bandwidth: a rate in bytes per second with rclone's binary units (8M, 512k; a bare number is KiB/s), UP:DOWN (10M:1M), or off
    Limit {
        /// 8M, 512k, 10M:1M (upload:download) or off
        #[arg(value_name = "RATE")]
        limit: String,
        /// Go back to sync.bandwidth (its rate or timetable) after this long (e.g. 30m, 2h) [default: until the next `syncroll limit` or a restart]
        #[arg(long = "for", value_name = "DURATION", value_parser = pause_duration)]
        for_duration: Option<std::time::Duration>,
    },
    /// Resume after a pause
    Resume {
        /// Only this collection
        collection: Option<String>,
    },
    /// Drop queued and in-flight work of a collection, or one job (the sync setting stays)
    #[command(group(clap::ArgGroup::new("what").required(true).args(["collection", "job"])))]
    Cancel {
        collection: Option<String>,
        /// One job, by id (see `syncroll jobs`)
        #[arg(long, value_name = "ID")]
        job: Option<u64>,
    },
    /// List sync jobs
    Jobs {
        /// Only jobs in this state: queued, running, held (deletions waiting for `syncroll holds`), done, failed, cancelled, dismissed (cancelled by you), left (uploads not sent because the remote changed since the last sync), or skipped (photos no remote can hold, such as names with a newline)
        #[arg(long)]
        state: Option<String>,
        /// Only jobs of this collection
        #[arg(long, value_name = "NAME")]
        collection: Option<String>,
    },
    /// Run failed jobs again
    #[command(group(clap::ArgGroup::new("which").required(true).args(["id", "all"])))]
    Retry {
        /// One job, by id
        id: Option<u64>,
        /// Every failed job
        #[arg(long)]
        all: bool,
    },
    /// Where collections sync to
    #[command(subcommand)]
    Remotes(RemotesCommand),
    /// The daemon's events as they happen (failed jobs, holds, conflicts, roots, pauses, ...), until interrupted; one JSON object per line with --json
    Events {
        /// First the events after this sequence number that the daemon still keeps (the last `seq` you saw)
        #[arg(long, value_name = "SEQ")]
        after: Option<u64>,
    },
    /// Deletions of remote copies held by the brake for your decision
    Holds {
        #[command(subcommand)]
        command: Option<HoldsCommand>,
        /// List decided holds too, not only pending ones
        #[arg(long)]
        all: bool,
    },
    /// Connect a collection to its remote album: changes made there come home (pull), local ones go out (push), or both
    Connect(ConnectArgs),
    /// Back to push-only sync: the connection goes, nothing is deleted anywhere (no remote object, no local file)
    Disconnect {
        /// The collection
        name: String,
    },
    /// Photos changed on both sides of a connection: the local file stayed, the remote's bytes were saved beside it
    Conflicts {
        /// List resolved conflicts too, not only open ones
        #[arg(long)]
        all: bool,
    },
    /// The previous bytes of a file, kept before new bytes replaced it (a remote edit, a restore)
    #[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
    Versions {
        #[command(subcommand)]
        command: Option<VersionsCommand>,
        /// The file whose versions to list (absolute, or relative to the current folder)
        #[arg(required = true)]
        path: Option<PathBuf>,
    },
    /// Print a completion script for a shell (needs no daemon); docs/install.md says where to put it
    Completions {
        /// The shell
        shell: clap_complete::Shell,
    },
    /// Write man pages for syncroll and every subcommand into a folder (needs no daemon)
    Man {
        /// The folder to write syncroll.1, syncroll-roots.1, syncroll-roots-add.1, ... into (made if missing)
        dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum VersionsCommand {
    /// Put version N's bytes back in the file; the bytes it holds now become a version first
    Restore {
        /// The file (absolute, or relative to the current folder)
        path: PathBuf,
        /// The version's number, as `syncroll versions PATH` lists it
        number: u64,
    },
}

#[derive(Debug, Subcommand)]
pub enum HoldsCommand {
    /// Every key a hold would delete, with why
    Show { id: u64 },
    /// Run the held deletions
    Approve { id: u64 },
    /// Keep the copies; the same deletions are not planned again until the photos change
    Reject { id: u64 },
}

#[derive(Debug, Subcommand)]
pub enum SyncCommand {
    /// Start syncing a collection: its photos are uploaded, and kept up to date
    On { name: String },
    /// Stop syncing; the collection's copies on the remote are deleted unless --keep-remote
    Off {
        name: String,
        /// Leave the remote copies in place
        #[arg(long)]
        keep_remote: bool,
        /// Delete the remote copies without asking, however many (needed off a terminal when there are more than the deletion brake lets run unasked)
        #[arg(long, conflicts_with = "keep_remote")]
        yes: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum RemotesCommand {
    /// Add a remote: kind fs (a folder or NAS mount), s3 (S3-compatible storage) or webdav (Nextcloud, any WebDAV server)
    Add(Box<RemoteAddArgs>),
    /// List remotes
    List,
    /// Write, read back and delete a test object on a remote
    Test { name: String },
    /// Remove a remote no collection uses (its objects are left in place)
    Remove { name: String },
}

#[derive(Debug, Subcommand)]
pub enum RootsCommand {
    /// Add a folder to the catalog; it is scanned and watched from now on
    Add {
        /// The folder
        path: PathBuf,
    },
    /// List roots with their state and totals
    List,
    /// Forget a root and its photos (files on disk are not touched); their copies in synced collections are deleted from the remotes
    Remove {
        /// The root's folder, as `roots list` shows it
        path: PathBuf,
        /// Delete the remote copies of its photos without asking, however many (needed off a terminal when there are more than the deletion brake lets run unasked)
        #[arg(long)]
        yes: bool,
    },
    /// Take the folder now at a root's path as the root (a disk really
    /// replaced), after showing what a scan of it would change
    Accept(RootAcceptArgs),
}

#[derive(Debug, Args)]
pub struct RootAcceptArgs {
    /// The root's folder, as `roots list` shows it
    pub path: PathBuf,
    /// Accept without a question (needed without a terminal)
    #[arg(long)]
    pub yes: bool,
    /// Only show what a scan would change; accept nothing
    #[arg(long, conflicts_with = "yes")]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct RescanArgs {
    /// A root, or a folder or file under one; all roots when left out
    pub path: Option<PathBuf>,
    /// Return at once instead of waiting for the scan to finish
    #[arg(long)]
    pub no_wait: bool,
    /// Poll this remote's pulling connections now instead of scanning roots (returns once asked)
    #[arg(long, value_name = "NAME", conflicts_with_all = ["path", "no_wait"])]
    pub remote: Option<String>,
}

#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// The collection; its remote is the album it connects to
    pub name: String,
    /// push: local changes go out (today's sync, turned on if it is off); pull: remote changes come home; both. pull and both need sync on. Can change later
    #[arg(long, value_parser = ["push", "pull", "both"])]
    pub direction: String,
    /// How a remote edit of a synced photo comes home: version (the local file takes the new bytes, the old ones are kept as a version) or copy (saved beside it as NAME (edit N).EXT). Required for a new connection; fixed once it exists (leave it out to keep it when changing the direction; to change it, disconnect and connect again)
    #[arg(long, value_parser = ["version", "copy"])]
    pub returns: Option<String>,
    /// Where a manual collection's new remote files land; under a root [default: <first root of the collection>/<NAME>]. A folder collection's land at their path under its folder
    #[arg(long, value_name = "DIR")]
    pub inbox: Option<PathBuf>,
    /// How often the remote folder is polled, in whole seconds from 10s to 24h (e.g. 30s, 5m, 1h) [default: 1m]
    #[arg(long, value_name = "DURATION", value_parser = whole_seconds)]
    pub poll: Option<std::time::Duration>,
}

#[derive(Debug, Subcommand)]
pub enum CollectionsCommand {
    /// Create a collection: manual, or following a folder with --folder
    Create {
        /// 1 to 128 characters, no '/', no control characters, not '.' or '..'
        name: String,
        /// Make it a folder collection holding every photo under PATH, now and later
        #[arg(long, value_name = "PATH")]
        folder: Option<PathBuf>,
        /// The remote it syncs to [default: the daemon's default remote, `local`]
        #[arg(long, value_name = "NAME")]
        remote: Option<String>,
        /// Turn sync on at once
        #[arg(long)]
        sync: bool,
    },
    /// List collections with their photo counts
    List,
    /// Show one collection
    Show { name: String },
    /// Rename a collection
    Rename { old: String, new: String },
    /// Delete a collection (its photos stay in the catalog and on disk)
    Delete { name: String },
    /// Add files or folders under a root to a manual collection
    Add {
        name: String,
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Remove files or folders from a manual collection
    Remove {
        name: String,
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct PhotosArgs {
    /// Only the photos of this collection
    #[arg(long, value_name = "NAME", conflicts_with = "synced")]
    pub collection: Option<String>,
    /// "All synced photos": the union over synced collections, with each one's sync state
    #[arg(long)]
    pub synced: bool,
    /// At most N photos [default: all]
    #[arg(long, value_name = "N")]
    pub limit: Option<u64>,
}

/// What `remotes add` takes (boxed in [`RemotesCommand`]: it is by far the
/// largest variant).
#[derive(Debug, clap::Args)]
pub struct RemoteAddArgs {
    pub name: String,
    /// fs (folder or NAS mount), s3 (MinIO, Garage, Ceph, B2, AWS, ...) or webdav (Nextcloud, ...)
    #[arg(long)]
    pub kind: String,
    /// fs: the remote folder; it must exist
    #[arg(long, value_name = "DIR")]
    pub path: Option<PathBuf>,
    /// s3: the server's URL, e.g. https://s3.example.com or http://nas:9000
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// s3: the bucket (it must exist)
    #[arg(long)]
    pub bucket: Option<String>,
    /// s3: the region requests are signed for [default: us-east-1]
    #[arg(long, value_name = "R")]
    pub region: Option<String>,
    /// s3, webdav: keep everything under this key prefix (folder)
    #[arg(long, value_name = "P")]
    pub prefix: Option<String>,
    /// s3: the access key id
    #[arg(long, value_name = "ID")]
    pub access_key_id: Option<String>,
    /// s3: the name of an environment variable holding the secret access key
    #[arg(long, value_name = "VAR")]
    pub secret_env: Option<String>,
    /// webdav: the folder's URL, e.g. https://cloud.example.com/remote.php/dav/files/alice/Photos; it must exist
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// webdav: the user name (with --password-env)
    #[arg(long, value_name = "USER", requires = "password_env")]
    pub user: Option<String>,
    /// webdav: the name of an environment variable holding the password (a Nextcloud app password, say)
    #[arg(long, value_name = "VAR", requires = "user")]
    pub password_env: Option<String>,
    /// webdav: the server changes a folder's ETag whenever anything below it changes (Nextcloud and ownCloud do), so polls of a connected album skip folders whose ETag is unchanged; leave it off for other servers, whose folder ETags may not change with what is below
    #[arg(long)]
    pub folder_etags: bool,
    /// This remote's own bandwidth limit, on top of sync.bandwidth: 5M, 512k, 10M:1M (upload:download); bytes per second with rclone's binary units
    #[arg(long, value_name = "RATE")]
    pub limit: Option<String>,
}

/// `connect --poll`: a duration in whole seconds; the daemon checks its
/// bounds (one rule, in `syncroll_core::connection`).
fn whole_seconds(text: &str) -> Result<std::time::Duration, String> {
    let duration = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    if duration.subsec_nanos() != 0 || duration.is_zero() {
        return Err(format!(
            "{text:?} is not a whole number of seconds of at least 1s (e.g. 30s, 5m, 1h)"
        ));
    }
    Ok(duration)
}

/// The longest `pause --for`, as the daemon allows it: 100 years of
/// 365.25 days (humantime's `100y`).
const MAX_PAUSE_SECS: u64 = 3_155_760_000;

/// `pause --for`: a duration of at most 100 years. The daemon refuses a
/// longer one too; saying so here names the flag rather than the field.
fn pause_duration(text: &str) -> Result<std::time::Duration, String> {
    let duration = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    if duration.as_secs() > MAX_PAUSE_SECS {
        return Err(
            "a pause lasts at most 100 years; leave out --for to pause until `syncroll resume`"
                .to_owned(),
        );
    }
    Ok(duration)
}
