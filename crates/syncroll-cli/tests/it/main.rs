//! End-to-end tests of the catalog: the real `syncrolld` on temp dirs,
//! driven through the real `syncroll` binary.

mod bad_names;
mod bandwidth;
mod brake;
mod collections;
mod connections;
mod crash;
mod data_dir;
mod download_jobs;
mod errors;
mod events;
mod faults;
mod load;
mod manuals;
mod photos;
mod pull;
mod pull_crash;
mod pull_harness;
mod pull_manual;
mod pull_scale;
mod pull_sidecars;
mod push_guard;
mod root_safety;
mod roots;
mod s3;
mod sidecars;
mod sync;
mod versions;
mod watcher;
mod webdav;

use std::fs;
use std::path::Path;

use syncroll_testkit::{Daemon, s};

/// `collections create Trip --folder <root>/trip EXTRA...`, which must succeed.
pub fn create_trip(daemon: &Daemon, root: &Path, extra: &[&str]) {
    let folder = root.join("trip");
    let mut args = vec!["collections", "create", "Trip", "--folder", s(&folder)];
    args.extend_from_slice(extra);
    daemon.cli(&args).ok();
}

/// Every file below `dir`, relative, with its bytes (server bookkeeping,
/// which s3s-fs keeps in dot-files, left out).
pub fn objects(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push((
                    path.strip_prefix(dir)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                    fs::read(&path).unwrap(),
                ));
            }
        }
    }
    out.sort();
    out
}
