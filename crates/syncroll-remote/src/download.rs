//! Downloads: the one engine behind every backend's
//! [`Remote::get_file`]. The backend only streams bytes
//! ([`Remote::read`]); this module lands them through the shared atomic
//! write ([`crate::atomic`]), hashes and counts them, checks size and
//! checksum, and continues a download an earlier attempt left unfinished.
//!
//! Beside a destination `NAME` a download keeps two hidden files, both
//! recognised by [`is_download_temporary`]:
//! - `.NAME.syncroll-download`: the bytes so far;
//! - `.NAME.syncroll-download-source`: which object version they are of (key,
//!   size, ETag, modification time), written before the first byte, so that
//!   a later attempt continues them only if the object is unchanged.

use std::ffi::OsStr;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use tokio_stream::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::atomic::{AtomicFile, Placement, StepError, remove_if_present};
use crate::chunks::{CHUNK_BYTES, ChunkError, ChunkReader};
use crate::error::local_write_error;
use crate::{Direction, Throttle};
use crate::{GetOptions, GetReport, ObjectMeta, ObjectRead, Partial, Remote, RemoteError};

/// A server that sends nothing for this long mid-body has stalled.
const STALL_TIMEOUT: Duration = Duration::from_secs(60);
/// Suffix of a download's temporary.
const TEMP_SUFFIX: &str = ".syncroll-download";
/// Suffix of the note naming the version a temporary holds.
const NOTE_SUFFIX: &str = ".syncroll-download-source";
/// The action named when the bytes received fail their check.
const VERIFY_ACTION: &str = "verify the download of";
/// Longest file name most file systems take, in bytes.
const NAME_MAX_BYTES: usize = 255;

/// Whether a file name (not a path) is one of the hidden files a download in
/// progress, or one interrupted by a crash, keeps beside its destination
/// (`.NAME.syncroll-download` and `.NAME.syncroll-download-source`). A
/// scanner must ignore them: they are never photos, and they disappear when
/// the download lands or is given up ([`discard_download`]).
pub fn is_download_temporary(file_name: impl AsRef<OsStr>) -> bool {
    let name = file_name.as_ref().as_encoded_bytes();
    name.starts_with(b".")
        && (name.ends_with(TEMP_SUFFIX.as_bytes()) || name.ends_with(NOTE_SUFFIX.as_bytes()))
}

/// Removes what an interrupted download to `dest` left (see
/// [`Partial::KeepForResume`]); nothing there is `Ok`. For a download given
/// up for good.
pub async fn discard_download(dest: &Path) -> Result<(), RemoteError> {
    let names = Names::of(dest)?;
    blocking(move || names.discard()).await
}

/// The destinations in `dir` of downloads of `key` that an earlier attempt
/// left unfinished (their note names `key`), sorted. A caller whose
/// destination name is chosen afresh on each attempt (a conflict copy is
/// named by the time it is seen) takes one of these up again rather than
/// leave its kept bytes behind for ever, hidden beside the user's photos.
/// A destination whose temporary has a hashed name (a name too long for
/// the suffixes) is not found.
pub async fn unfinished_downloads(dir: &Path, key: &str) -> Vec<PathBuf> {
    let (dir, key) = (dir.to_owned(), key.to_owned());
    let found = blocking(move || {
        let Ok(entries) = fs::read_dir(&dir) else {
            return Ok(Vec::new());
        };
        let mut found: Vec<PathBuf> = entries
            .filter_map(|entry| {
                let file_name = entry.ok()?.file_name();
                let name = file_name.to_str()?;
                let dest = name.strip_prefix('.')?.strip_suffix(NOTE_SUFFIX)?;
                // A hashed stem does not name its destination.
                if hidden_stem(dest) != format!(".{dest}") {
                    return None;
                }
                let note = Note::load(&dir.join(name))?;
                (note.key == key).then(|| dir.join(dest))
            })
            .collect();
        found.sort();
        Ok(found)
    });
    found.await.unwrap_or_default()
}

/// The paths a download to one destination uses.
#[derive(Debug, Clone)]
struct Names {
    dir: PathBuf,
    dest: PathBuf,
    /// The destination's file name.
    name: String,
    temp: String,
    note: PathBuf,
}

impl Names {
    fn of(dest: &Path) -> Result<Self, RemoteError> {
        let unusable = |reason: &str| RemoteError::LocalWrite {
            action: "download to",
            path: dest.to_owned(),
            source: io::Error::new(io::ErrorKind::InvalidInput, reason.to_owned()),
        };
        let name = dest
            .file_name()
            .ok_or_else(|| unusable("it names no file"))?
            .to_str()
            .ok_or_else(|| unusable("its name is not UTF-8"))?
            .to_owned();
        let dir = match dest.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
            _ => PathBuf::from("."),
        };
        let stem = hidden_stem(&name);
        Ok(Self {
            note: dir.join(format!("{stem}{NOTE_SUFFIX}")),
            temp: format!("{stem}{TEMP_SUFFIX}"),
            dest: dest.to_owned(),
            dir,
            name,
        })
    }

    fn discard(&self) -> Result<(), RemoteError> {
        let temp = self.dir.join(&self.temp);
        remove_if_present(&temp).map_err(|e| local_write_error("remove", &temp, e))?;
        remove_if_present(&self.note).map_err(|e| local_write_error("remove", &self.note, e))
    }
}

/// `.NAME`, or a hashed stand-in when the suffixes would make the name too
/// long for the file system; deterministic either way, so the next attempt
/// finds it.
fn hidden_stem(name: &str) -> String {
    let longest = TEMP_SUFFIX.len().max(NOTE_SUFFIX.len());
    if 1 + name.len() + longest <= NAME_MAX_BYTES {
        return format!(".{name}");
    }
    let digest = blake3::hash(name.as_bytes()).to_hex();
    format!(".{}", &digest[..32])
}

/// Which object version a temporary holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Note {
    key: String,
    size: u64,
    etag: Option<String>,
    modified_ns: Option<u128>,
}

impl Note {
    fn of(meta: &ObjectMeta) -> Self {
        Self {
            key: meta.key.clone(),
            size: meta.size,
            etag: meta.etag.clone(),
            modified_ns: meta
                .modified
                .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
                .map(|d| d.as_nanos()),
        }
    }

    fn meta(&self) -> ObjectMeta {
        let modified = self.modified_ns.and_then(|ns| {
            let ns = u64::try_from(ns).ok()?;
            Some(SystemTime::UNIX_EPOCH + Duration::from_nanos(ns))
        });
        ObjectMeta {
            key: self.key.clone(),
            size: self.size,
            etag: self.etag.clone(),
            modified,
        }
    }

    fn load(path: &Path) -> Option<Self> {
        serde_json::from_slice(&fs::read(path).ok()?).ok()
    }

    fn save(&self, path: &Path) -> Result<(), RemoteError> {
        let text = serde_json::to_vec(self).expect("a note serialises");
        let written = fs::File::create(path).and_then(|mut file| {
            file.write_all(&text)?;
            file.sync_all()
        });
        written.map_err(|e| local_write_error("write", path, e))
    }
}

/// The temporary being filled, and where it stands.
struct Staging {
    file: AtomicFile,
    /// Bytes in it.
    len: u64,
    /// The version they are of, if any are kept from an earlier attempt.
    prior: Option<ObjectMeta>,
}

/// Opens the temporary an earlier attempt left for this key and the same
/// object version (as far as `expected` tells), or a fresh one.
fn take_up(
    names: &Names,
    key: &str,
    expected: Option<&ObjectMeta>,
) -> Result<Staging, RemoteError> {
    let note = Note::load(&names.note).map(|note| note.meta());
    let usable = note
        .as_ref()
        .is_some_and(|prior| prior.key == key && expected.is_none_or(|e| e.same_version(prior)));
    if usable
        && let Some((file, len)) = AtomicFile::reopen(&names.dir, &names.temp).map_err(step)?
        && len > 0
    {
        return Ok(Staging {
            file,
            len,
            prior: note,
        });
    }
    remove_if_present(&names.note).map_err(|e| local_write_error("remove", &names.note, e))?;
    let file = AtomicFile::create(&names.dir, &names.temp).map_err(step)?;
    Ok(Staging {
        file,
        len: 0,
        prior: None,
    })
}

fn step(err: StepError) -> RemoteError {
    local_write_error(err.step, &err.path, err.source)
}

/// See [`Remote::get_file`].
pub(crate) async fn get_file<R: Remote + ?Sized>(
    remote: &R,
    key: &str,
    dest: &Path,
    options: &GetOptions,
    progress: &AtomicU64,
    cancel: &CancellationToken,
) -> Result<GetReport, RemoteError> {
    crate::validate_key(key)?;
    if cancel.is_cancelled() {
        return Err(RemoteError::Cancelled);
    }
    let names = Names::of(dest)?;
    if options.placement == Placement::IfAbsent && fs::symlink_metadata(dest).is_ok() {
        return Err(RemoteError::DestinationExists {
            path: dest.to_owned(),
        });
    }
    let expected = options.expected.clone();
    let (taken, key_owned) = (names.clone(), key.to_owned());
    let staging = blocking(move || take_up(&taken, &key_owned, expected.as_ref())).await?;
    let mut landing = Landing {
        names,
        file: Some(staging.file),
        kept: staging.len,
        prior: staging.prior,
        hasher: blake3::Hasher::new(),
        md5: None,
    };
    let outcome = landing.run(remote, key, options, progress, cancel).await;
    match outcome {
        Ok(report) => Ok(report),
        Err(err) => {
            landing.settle_failed(&err, options.partial).await;
            Err(err)
        }
    }
}

/// One download's temporary and running checksums.
struct Landing {
    names: Names,
    /// `None` only while a write holds it on the blocking pool.
    file: Option<AtomicFile>,
    /// Bytes in the temporary from an earlier attempt, and the object
    /// version they are of.
    kept: u64,
    prior: Option<ObjectMeta>,
    hasher: blake3::Hasher,
    md5: Option<md5::Md5>,
}

impl Landing {
    async fn run<R: Remote + ?Sized>(
        &mut self,
        remote: &R,
        key: &str,
        options: &GetOptions,
        progress: &AtomicU64,
        cancel: &CancellationToken,
    ) -> Result<GetReport, RemoteError> {
        let read = self.open(remote, key, options).await?;
        let resumed_from = read.offset;
        let (meta, want_md5) = (read.meta.clone(), read.md5);
        if want_md5.is_some() {
            self.md5 = Some(md5::Digest::new());
        }
        self.hash_kept(resumed_from).await?;
        progress.fetch_add(resumed_from, Ordering::Relaxed);
        let fetched = self
            .pump(read.body, &remote.throttle(), progress, cancel)
            .await?;
        let size = resumed_from + fetched;
        self.verify(key, &meta, size, want_md5)?;
        self.commit(options.placement).await?;
        tracing::debug!(key, size, resumed_from, "downloaded");
        Ok(GetReport {
            size,
            blake3: self.hasher.finalize().into(),
            etag: meta.etag,
            modified: meta.modified,
            resumed_from,
        })
    }

    /// Starts the read: from the end of the kept bytes if the object is
    /// still the version they are of, else from the start. Records the
    /// version read before any byte of it is written.
    async fn open<R: Remote + ?Sized>(
        &mut self,
        remote: &R,
        key: &str,
        options: &GetOptions,
    ) -> Result<ObjectRead, RemoteError> {
        let expected = options.expected.as_ref();
        let kept = self.kept;
        let read = match self.prior.take() {
            Some(prior) if kept > 0 => {
                // At least one byte is fetched, so the read always proves
                // the object unchanged (a range at the very end is refused
                // by servers).
                let offset = kept.min(prior.size.saturating_sub(1));
                match remote.read(key, offset, Some(&prior)).await {
                    Ok(read) => read,
                    // The object changed since: the kept bytes are void.
                    Err(err) if err.is_precondition_failed() => {
                        remote.read(key, 0, expected).await?
                    }
                    Err(err) => return Err(err),
                }
            }
            _ => remote.read(key, 0, expected).await?,
        };
        if let Some(expected) = expected
            && !expected.same_version(&read.meta)
        {
            return Err(RemoteError::PreconditionFailed {
                key: key.to_owned(),
                detail: "the object differs from the listed one".to_owned(),
            });
        }
        let offset = read.offset;
        let note = Note::of(&read.meta);
        let note_path = self.names.note.clone();
        let mut file = self.file.take().expect("the temporary is at hand");
        let prepared = blocking(move || {
            let kept_note = Note::load(&note_path);
            let truncated = file.truncate(offset).map_err(step);
            let saved = match kept_note {
                Some(kept) if kept == note => Ok(()),
                _ => note.save(&note_path),
            };
            Ok::<_, RemoteError>((file, truncated.and(saved)))
        })
        .await?;
        self.file = Some(prepared.0);
        prepared.1?;
        Ok(read)
    }

    /// Hashes the first `len` bytes kept from an earlier attempt.
    async fn hash_kept(&mut self, len: u64) -> Result<(), RemoteError> {
        if len == 0 {
            return Ok(());
        }
        let path = self.file.as_ref().expect("at hand").path().to_owned();
        // The kept bytes are the first to be hashed.
        debug_assert_eq!(self.hasher.count(), 0);
        let mut md5 = self.md5.clone();
        let hashed = blocking(move || {
            let read_error = |e| local_write_error("read back", &path, e);
            let file = fs::File::open(&path).map_err(read_error)?;
            let mut reader = ChunkReader::new(file.take(len));
            let each = |chunk: &[u8]| {
                if let Some(md5) = md5.as_mut() {
                    md5::Digest::update(md5, chunk);
                }
                Ok(())
            };
            match reader.for_each_chunk(each) {
                Ok(()) => Ok((reader.into_hasher(), md5)),
                Err(ChunkError::Read(e)) => Err(read_error(e)),
                Err(ChunkError::Cancelled) => Err(RemoteError::Cancelled),
            }
        })
        .await?;
        (self.hasher, self.md5) = hashed;
        Ok(())
    }

    /// Writes the body to the temporary, a chunk at a time; returns the
    /// bytes written.
    async fn pump(
        &mut self,
        mut body: crate::ByteStream,
        throttle: &Throttle,
        progress: &AtomicU64,
        cancel: &CancellationToken,
    ) -> Result<u64, RemoteError> {
        let mut buf: Vec<u8> = Vec::with_capacity(CHUNK_BYTES);
        let mut written = 0;
        loop {
            let next = tokio::select! {
                biased;
                () = cancel.cancelled() => return Err(RemoteError::Cancelled),
                next = tokio::time::timeout(STALL_TIMEOUT, body.next()) => next,
            };
            let next = next.map_err(|_| RemoteError::Io {
                action: "download",
                key: self.names.name.clone(),
                source: io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the server sent nothing for a minute",
                ),
            })?;
            match next {
                Some(Err(err)) => {
                    // What arrived before the fault is good: kept for a
                    // resumption (a discarded temporary loses it anyway).
                    self.write(&mut buf, progress).await?;
                    return Err(err);
                }
                Some(Ok(bytes)) => {
                    // Passed before the next bytes are asked for, so a
                    // limited download reads the network at its rate.
                    throttle
                        .admit(Direction::Down, bytes.len() as u64, cancel)
                        .await?;
                    // A chunk larger than the buffer is written as it came.
                    buf.extend_from_slice(&bytes);
                    if buf.len() >= CHUNK_BYTES {
                        written += self.write(&mut buf, progress).await?;
                    }
                }
                None => {
                    written += self.write(&mut buf, progress).await?;
                    return Ok(written);
                }
            }
        }
    }

    /// Appends `buf` to the temporary and empties it.
    async fn write(&mut self, buf: &mut Vec<u8>, progress: &AtomicU64) -> Result<u64, RemoteError> {
        if buf.is_empty() {
            return Ok(0);
        }
        self.hasher.update(buf);
        if let Some(md5) = self.md5.as_mut() {
            md5::Digest::update(md5, &buf[..]);
        }
        let mut file = self.file.take().expect("the temporary is at hand");
        let chunk = std::mem::take(buf);
        let (file, chunk, written) = blocking(move || {
            let written = file.file().write_all(&chunk);
            Ok((file, chunk, written))
        })
        .await?;
        let path = file.path().to_owned();
        self.file = Some(file);
        written.map_err(|e| local_write_error("write", &path, e))?;
        let len = chunk.len() as u64;
        *buf = chunk;
        buf.clear();
        progress.fetch_add(len, Ordering::Relaxed);
        Ok(len)
    }

    /// The bytes must be as many as the object holds, and match its MD5
    /// where the backend knows it.
    fn verify(
        &mut self,
        key: &str,
        meta: &ObjectMeta,
        size: u64,
        want_md5: Option<[u8; 16]>,
    ) -> Result<(), RemoteError> {
        let mismatch = |detail: &'static str| RemoteError::Io {
            action: VERIFY_ACTION,
            key: key.to_owned(),
            source: io::Error::other(detail),
        };
        if size != meta.size {
            tracing::warn!(
                key,
                expected = meta.size,
                got = size,
                "size mismatch in a download"
            );
            return Err(mismatch(
                "the server sent a different number of bytes than the object holds",
            ));
        }
        if let (Some(want), Some(md5)) = (want_md5, self.md5.take()) {
            let got: [u8; 16] = md5::Digest::finalize(md5).into();
            if got != want {
                return Err(mismatch("the bytes received do not match the object's MD5"));
            }
        }
        Ok(())
    }

    async fn commit(&mut self, placement: Placement) -> Result<(), RemoteError> {
        let file = self.file.take().expect("the temporary is at hand");
        let names = self.names.clone();
        blocking(move || match file.commit(&names.name, placement) {
            Ok(_) => {
                // Harmless if it stays: a note without its temporary is
                // dropped by the next attempt.
                let _ = remove_if_present(&names.note);
                Ok(())
            }
            Err(err) if err.is_target_taken() => Err(RemoteError::DestinationExists {
                path: names.dest.clone(),
            }),
            Err(err) => Err(step(err)),
        })
        .await
    }

    /// After a failure: keeps the temporary for the next attempt if asked
    /// and worth it (a cancellation, or a passing fault of the remote or the
    /// network), else removes it and its note. A local fault never keeps
    /// it: on a full disk a partial file is exactly what must not stay.
    async fn settle_failed(&mut self, err: &RemoteError, partial: Partial) {
        let local_fault = matches!(
            err,
            RemoteError::LocalNoSpace { .. } | RemoteError::LocalWrite { .. }
        );
        let bad_bytes = matches!(err, RemoteError::Io { action, .. } if *action == VERIFY_ACTION);
        let worth_keeping = partial == Partial::KeepForResume
            && (err.is_cancelled() || err.is_transient())
            && !local_fault
            && !bad_bytes;
        let file = self.file.take();
        let names = self.names.clone();
        let settled = blocking(move || {
            match file {
                Some(file) if worth_keeping => file.keep(),
                Some(file) => {
                    drop(file);
                    let _ = remove_if_present(&names.note);
                }
                None => {}
            }
            Ok(())
        });
        let _ = settled.await;
    }
}

/// Runs blocking file work off the async runtime; a panic resurfaces, a
/// task dropped by a shutting-down runtime counts as cancelled.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, RemoteError> + Send + 'static,
) -> Result<T, RemoteError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
        Err(_) => Err(RemoteError::Cancelled),
    }
}

/// A file name of `dest`'s folder, for tests of the naming rules.
#[cfg(test)]
fn temp_name_of(dest: &Path) -> std::ffi::OsString {
    std::ffi::OsString::from(Names::of(dest).expect("a usable destination").temp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn download_temporaries_are_recognised_and_photos_are_not() {
        let temp = temp_name_of(Path::new("/photos/IMG_1.jpg"));
        assert_eq!(temp, ".IMG_1.jpg.syncroll-download");
        assert!(is_download_temporary(&temp));
        assert!(is_download_temporary(".IMG_1.jpg.syncroll-download-source"));
        assert!(!is_download_temporary("IMG_1.jpg"));
        assert!(!is_download_temporary("IMG_1.syncroll-download"));
        let long = format!("/p/{}.jpg", "x".repeat(250));
        let hashed = temp_name_of(Path::new(&long));
        assert!(hashed.len() <= NAME_MAX_BYTES, "{hashed:?}");
        assert!(is_download_temporary(&hashed));
    }
}
