//! The control socket: created owner-only (0600 in a 0700 folder), stale
//! sockets from a crashed daemon replaced, anything else at the path refused,
//! and every connection from another user dropped after a peer-credential
//! check.

use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tokio::net::{UnixListener, UnixStream};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tracing::{debug, warn};

use crate::authority::LocalAuthority;

/// Why the socket could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    #[error("{} exists and is not a socket; refusing to replace it (remove it or pass another --socket)", .0.display())]
    NotASocket(PathBuf),
    #[error("another syncrolld is already listening on {}", .0.display())]
    InUse(PathBuf),
    #[error(
        "socket folder {} has mode {mode:04o} and is not owned by this user with mode 0700; \
         the control socket must live in a private folder (chmod 700 it, or pass another --socket)",
        .dir.display()
    )]
    UnsafeDir { dir: PathBuf, mode: u32 },
    #[error("cannot {action} {}: {source}", .path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> SocketError + 'a {
    move |source| SocketError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// Creates `dir` (and parents) if needed and makes sure it is a private
/// folder: owned by us, mode 0700. A folder we just created, or one the
/// daemon owns by convention (`owned`), is tightened; any other is refused.
pub fn ensure_private_dir(dir: &Path, owned: bool) -> Result<(), SocketError> {
    let existed = dir.exists();
    if !existed {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io("create folder", dir))?;
    }
    let meta = std::fs::metadata(dir).map_err(io("inspect folder", dir))?;
    let mode = meta.mode() & 0o777;
    let ours = meta.uid() == nix::unistd::geteuid().as_raw();
    if ours && mode & 0o077 != 0 && (owned || !existed) {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(io("chmod folder", dir))?;
        return Ok(());
    }
    if !ours || mode & 0o077 != 0 {
        return Err(SocketError::UnsafeDir {
            dir: dir.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

/// Binds the control socket at `path`, owner-only.
///
/// `dir_is_ours`: the socket's folder is one the daemon owns (its default
/// runtime folder or the data dir), so loose permissions are tightened
/// rather than refused.
pub async fn bind(path: &Path, dir_is_ours: bool) -> Result<UnixListener, SocketError> {
    let dir = path.parent().unwrap_or(Path::new("/"));
    ensure_private_dir(dir, dir_is_ours)?;
    match std::fs::symlink_metadata(path) {
        Ok(meta) if !meta.file_type().is_socket() => {
            return Err(SocketError::NotASocket(path.to_path_buf()));
        }
        Ok(_) => {
            if UnixStream::connect(path).await.is_ok() {
                return Err(SocketError::InUse(path.to_path_buf()));
            }
            debug!(socket = %path.display(), "replacing a stale socket");
            std::fs::remove_file(path).map_err(io("remove stale socket", path))?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io("inspect", path)(e)),
    }
    let listener = UnixListener::bind(path).map_err(io("bind socket", path))?;
    // The folder is already private, so the moment between bind and chmod
    // exposes nothing.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(io("chmod socket", path))?;
    Ok(listener)
}

/// Accepts connections, dropping any whose peer is not this user, and yields
/// the rest as a stream for tonic, each with its HTTP/2 authority mended for
/// clients that send the socket's path as one ([`LocalAuthority`]).
pub fn owner_only(listener: UnixListener) -> ReceiverStream<std::io::Result<LocalAuthority>> {
    let (tx, rx) = mpsc::channel(16);
    let me = nix::unistd::geteuid().as_raw();
    tokio::spawn(async move {
        loop {
            let accepted = listener.accept().await;
            let stream = match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    warn!(error = %e, "accept on control socket failed");
                    // Out of file descriptors and the like: back off rather
                    // than spin on an error that will repeat at once.
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            };
            match stream.peer_cred() {
                Ok(cred) if cred.uid() == me => {}
                Ok(cred) => {
                    warn!(uid = cred.uid(), pid = ?cred.pid(), "refused a control connection from another user");
                    continue;
                }
                Err(e) => {
                    warn!(error = %e, "refused a control connection whose peer is unknown");
                    continue;
                }
            }
            if tx.send(Ok(LocalAuthority::new(stream))).await.is_err() {
                return;
            }
        }
    });
    ReceiverStream::new(rx)
}
