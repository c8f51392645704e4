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
    /// List photos: the whole catalog, or one collection
    Photos(PhotosArgs),
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
    /// Forget a root and its photos (files on disk are not touched)
    Remove {
        /// The root's folder, as `roots list` shows it
        path: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct RescanArgs {
    /// A root, or a folder or file under one; all roots when left out
    pub path: Option<PathBuf>,
    /// Return at once instead of waiting for the scan to finish
    #[arg(long)]
    pub no_wait: bool,
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
    #[arg(long, value_name = "NAME")]
    pub collection: Option<String>,
    /// At most N photos [default: all]
    #[arg(long, value_name = "N")]
    pub limit: Option<u64>,
}
