//! Writing a file so that it appears under its name only when complete: the
//! bytes go to a temporary beside the target, which is synced, then moved
//! over the name (or linked beside it, when an existing file must not be
//! replaced), and the folder is synced so that the new name survives a power
//! cut. The `fs` backend's staging and every download ([`crate::Remote::get_file`])
//! write through this one module.
//!
//! Blocking: callers run it on tokio's blocking pool.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

/// Whether a write may replace a file already under the target name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Placement {
    /// Only if nothing is there: an existing file (which may hold bytes
    /// nobody has seen yet) is never replaced. Checked atomically where the
    /// file system allows (a hard link never replaces), else just before
    /// the rename.
    #[default]
    IfAbsent,
    /// Replaces whatever file is there, atomically.
    Replace,
}

/// A step of an atomic write that failed, and on which path: callers turn
/// it into their own error, naming the step.
#[derive(Debug)]
pub(crate) struct StepError {
    /// A verb phrase: "create the temporary of", "sync", "move into place".
    pub step: &'static str,
    pub path: PathBuf,
    pub source: io::Error,
}

impl StepError {
    fn on<'p>(step: &'static str, path: &'p Path) -> impl FnOnce(io::Error) -> Self + 'p {
        move |source| Self {
            step,
            path: path.to_owned(),
            source,
        }
    }

    /// Whether the step failed because the target name was taken, with
    /// [`Placement::IfAbsent`].
    pub fn is_target_taken(&self) -> bool {
        self.step == PLACE_STEP && self.source.kind() == io::ErrorKind::AlreadyExists
    }
}

const PLACE_STEP: &str = "move into place";

/// A temporary being written in `dir`. Dropping it before
/// [`AtomicFile::commit`] or [`AtomicFile::keep`] removes the temporary,
/// whatever the reason: an error, a cancellation, a panic.
#[derive(Debug)]
pub(crate) struct AtomicFile {
    dir: PathBuf,
    temp: PathBuf,
    file: File,
    /// Placed or kept: the temporary is no longer ours to remove.
    settled: bool,
}

impl AtomicFile {
    /// A new, empty temporary `temp_name` in `dir`. One left there by a
    /// crash is removed rather than opened, and the new one is created
    /// exclusively: `O_EXCL` never follows a link, so a link planted under
    /// the temporary's name cannot redirect the bytes.
    pub fn create(dir: &Path, temp_name: &str) -> Result<Self, StepError> {
        let temp = dir.join(temp_name);
        remove_if_present(&temp).map_err(StepError::on("remove the old temporary of", &temp))?;
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
            .map_err(StepError::on("create the temporary of", &temp))?;
        Ok(Self::settle_later(dir, temp, file))
    }

    /// The temporary `temp_name` an earlier attempt left in `dir` (see
    /// [`AtomicFile::keep`]), opened to read and append, with its length;
    /// `None` if there is no regular file of that name.
    pub fn reopen(dir: &Path, temp_name: &str) -> Result<Option<(Self, u64)>, StepError> {
        let temp = dir.join(temp_name);
        // Only a regular file is taken up; a link there is not followed.
        match fs::symlink_metadata(&temp) {
            Ok(meta) if meta.is_file() => {}
            Ok(_) => return Ok(None),
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(StepError::on("look up the temporary of", &temp)(err)),
        }
        let opened = OpenOptions::new().read(true).append(true).open(&temp);
        let file = match opened {
            Ok(file) => file,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(StepError::on("open the temporary of", &temp)(err)),
        };
        let len = file
            .metadata()
            .map_err(StepError::on("look up the temporary of", &temp))?
            .len();
        Ok(Some((Self::settle_later(dir, temp, file), len)))
    }

    fn settle_later(dir: &Path, temp: PathBuf, file: File) -> Self {
        Self {
            dir: dir.to_owned(),
            temp,
            file,
            settled: false,
        }
    }

    pub fn file(&mut self) -> &mut File {
        &mut self.file
    }

    /// The temporary's path.
    pub fn path(&self) -> &Path {
        &self.temp
    }

    /// Cuts the temporary back to `len` bytes (a resumed write that must
    /// start earlier, or over).
    pub fn truncate(&mut self, len: u64) -> Result<(), StepError> {
        self.file
            .set_len(len)
            .map_err(StepError::on("truncate the temporary of", &self.temp))
    }

    /// Syncs the bytes, puts the temporary under `name` in its folder as
    /// `placement` allows, and syncs the folder. Returns the final path.
    pub fn commit(mut self, name: &str, placement: Placement) -> Result<PathBuf, StepError> {
        let dest = self.dir.join(name);
        self.file
            .sync_all()
            .map_err(StepError::on("sync", &self.temp))?;
        place(&self.temp, &dest, placement)?;
        self.settled = true;
        sync_folder(&self.dir).map_err(StepError::on("sync the folder of", &self.dir))?;
        Ok(dest)
    }

    /// Leaves the temporary where it is, synced, for a later attempt to
    /// continue ([`AtomicFile::reopen`]).
    pub fn keep(mut self) {
        if let Err(err) = self.file.sync_all() {
            tracing::debug!(temporary = %self.temp.display(), error = %err, "could not sync a temporary kept for later");
        }
        self.settled = true;
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        if let Err(err) = remove_if_present(&self.temp) {
            tracing::warn!(temporary = %self.temp.display(), error = %err, "could not remove a temporary; the next write of its target replaces it");
        }
    }
}

/// Moves `temp` to `dest`. With [`Placement::IfAbsent`], a hard link makes
/// the new name (it fails rather than replace an existing file, atomically)
/// and the temporary's name is then removed; on file systems without hard
/// links (FAT, some FUSE and network shares) an existing `dest` is looked
/// for just before a rename instead, which leaves a short window.
fn place(temp: &Path, dest: &Path, placement: Placement) -> Result<(), StepError> {
    let failed = |err| StepError::on(PLACE_STEP, dest)(err);
    if placement == Placement::Replace {
        return fs::rename(temp, dest).map_err(failed);
    }
    match fs::hard_link(temp, dest) {
        Ok(()) => {
            if let Err(err) = fs::remove_file(temp) {
                tracing::warn!(temporary = %temp.display(), error = %err, "could not remove a placed temporary's other name");
            }
            Ok(())
        }
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => Err(failed(err)),
        Err(err) if links_unsupported(&err) => {
            if fs::symlink_metadata(dest).is_ok() {
                return Err(failed(io::ErrorKind::AlreadyExists.into()));
            }
            fs::rename(temp, dest).map_err(failed)
        }
        Err(err) => Err(failed(err)),
    }
}

/// `link(2)` refused because the file system has no hard links (EPERM on
/// FAT, ENOTSUP/EOPNOTSUPP on others).
fn links_unsupported(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::PermissionDenied | io::ErrorKind::Unsupported
    )
}

/// Makes a folder's entries durable (a rename or a new folder in it).
pub(crate) fn sync_folder(dir: &Path) -> io::Result<()> {
    match File::open(dir).and_then(|folder| folder.sync_all()) {
        // Some network and FUSE file systems cannot fsync a folder and offer
        // no other way to make a rename durable; there is nothing more to do.
        Err(err)
            if matches!(
                err.kind(),
                io::ErrorKind::InvalidInput | io::ErrorKind::Unsupported
            ) =>
        {
            Ok(())
        }
        other => other,
    }
}

/// Removes `path` if it is there.
pub(crate) fn remove_if_present(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(dir: &Path, bytes: &[u8]) -> AtomicFile {
        let mut file = AtomicFile::create(dir, ".t.tmp").expect("a temporary");
        io::Write::write_all(file.file(), bytes).expect("writing");
        file
    }

    #[test]
    fn if_absent_never_replaces_an_existing_file() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("a.jpg"), b"mine").unwrap();
        let err = written(dir.path(), b"theirs")
            .commit("a.jpg", Placement::IfAbsent)
            .expect_err("the name is taken");
        assert!(err.is_target_taken(), "{err:?}");
        assert_eq!(fs::read(dir.path().join("a.jpg")).unwrap(), b"mine");
        assert!(!dir.path().join(".t.tmp").exists(), "the temporary is gone");
    }

    #[test]
    fn if_absent_places_a_new_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let placed = written(dir.path(), b"new")
            .commit("a.jpg", Placement::IfAbsent)
            .unwrap();
        assert_eq!(fs::read(placed).unwrap(), b"new");
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn replace_replaces_and_a_kept_temporary_can_be_reopened() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("a.jpg"), b"old").unwrap();
        written(dir.path(), b"par").keep();
        let (mut file, len) = AtomicFile::reopen(dir.path(), ".t.tmp").unwrap().unwrap();
        assert_eq!(len, 3);
        io::Write::write_all(file.file(), b"tial").unwrap();
        file.commit("a.jpg", Placement::Replace).unwrap();
        assert_eq!(fs::read(dir.path().join("a.jpg")).unwrap(), b"partial");
    }
}
