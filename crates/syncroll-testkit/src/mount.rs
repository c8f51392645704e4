//! Mounts for tests about disks that come and go or fill up. They need
//! root (CI runs as root): a refused `mount` fails the test saying so; it is
//! never skipped.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::s;

/// A mount made by a test, unmounted when dropped (lazily if busy), so a
/// failing test leaves no mount behind.
#[derive(Debug)]
pub struct Mount {
    target: PathBuf,
    mounted: bool,
}

impl Mount {
    /// A fresh tmpfs at `target`: a "disk".
    pub fn tmpfs(target: &Path) -> Self {
        Self::tmpfs_of(target, "64m")
    }

    /// A fresh tmpfs of `size` (as `mount -o size=` takes it) at `target`:
    /// a small disk to fill.
    pub fn tmpfs_of(target: &Path, size: &str) -> Self {
        let size = format!("size={size}");
        Self::run_mount(&["-t", "tmpfs", "-o", &size, "tmpfs", s(target)], target)
    }

    /// `source` mounted again at `target`: the same folder (device and
    /// inode), so unmounting and binding again is a disk unplugged and
    /// plugged back with its photos.
    pub fn bind(source: &Path, target: &Path) -> Self {
        Self::run_mount(&["--bind", s(source), s(target)], target)
    }

    /// A fresh exFAT file system of `size_mb` MiB, made in the file
    /// `image`, mounted at `target` through FUSE: a case-insensitive disk
    /// (a camera card, a stick formatted elsewhere), on a kernel without
    /// vfat, exFAT or casefold of its own. Needs Debian's `exfatprogs` and
    /// `exfat-fuse` (scripts/test installs them); a missing one fails the
    /// test saying so.
    pub fn exfat(image: &Path, target: &Path, size_mb: u64) -> Self {
        const INSTALL: &str = "this test needs a case-insensitive file system: install \
                               Debian's exfatprogs and exfat-fuse (`apt-get install -y \
                               exfatprogs exfat-fuse`, which scripts/test does)";
        let file = std::fs::File::create(image).expect("create the exFAT image");
        file.set_len(size_mb << 20).expect("size the exFAT image");
        drop(file);
        let made = Command::new("mkfs.exfat")
            .arg(image)
            .output()
            .unwrap_or_else(|e| panic!("{INSTALL}: cannot run mkfs.exfat: {e}"));
        assert!(
            made.status.success(),
            "{INSTALL}: mkfs.exfat {} failed: {}",
            image.display(),
            String::from_utf8_lossy(&made.stderr)
        );
        assert!(
            Path::new("/usr/sbin/mount.exfat-fuse").exists()
                || Path::new("/sbin/mount.exfat-fuse").exists(),
            "{INSTALL}: mount.exfat-fuse is missing"
        );
        Self::run_mount(
            &["-t", "exfat-fuse", "-o", "loop", s(image), s(target)],
            target,
        )
    }

    fn run_mount(args: &[&str], target: &Path) -> Self {
        let output = Command::new("mount")
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("this test needs root and `mount`: cannot run mount: {e}"));
        assert!(
            output.status.success(),
            "this test needs root (CI runs it as root): `mount {}` was refused: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
        Self {
            target: target.to_path_buf(),
            mounted: true,
        }
    }

    /// Unmounts now; a failure fails the test.
    pub fn unmount(&mut self) {
        let status = Command::new("umount")
            .arg(&self.target)
            .status()
            .expect("run umount");
        assert!(status.success(), "umount {} failed", self.target.display());
        self.mounted = false;
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        if !self.mounted {
            return;
        }
        let unmounted = Command::new("umount")
            .arg(&self.target)
            .status()
            .is_ok_and(|s| s.success());
        if !unmounted {
            let _ = Command::new("umount").arg("-l").arg(&self.target).status();
        }
    }
}
