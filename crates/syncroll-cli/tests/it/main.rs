//! End-to-end tests of the catalog: the real `syncrolld` on temp dirs,
//! driven through the real `syncroll` binary.

mod collections;
mod errors;
mod faults;
mod photos;
mod roots;
mod s3;
mod sync;
mod watcher;

use std::path::Path;

use syncroll_testkit::{Daemon, s};

/// `collections create Trip --folder <root>/trip EXTRA...`, which must succeed.
pub fn create_trip(daemon: &Daemon, root: &Path, extra: &[&str]) {
    let folder = root.join("trip");
    let mut args = vec!["collections", "create", "Trip", "--folder", s(&folder)];
    args.extend_from_slice(extra);
    daemon.cli(&args).ok();
}
