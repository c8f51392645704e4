//! Generated types of syncroll's control API (`syncroll.v1`), and [`connect`],
//! the one way a client reaches the daemon's Unix socket.
//!
//! API boundary: no logic lives here; the daemon converts these types into
//! its core types in one `convert` module.

use std::path::{Path, PathBuf};

use hyper_util::rt::TokioIo;
use tonic::transport::{Channel, Endpoint, Uri};

/// Everything `protox` generated from `proto/syncroll/v1/syncroll.proto`.
#[allow(missing_debug_implementations, reason = "generated code")]
pub mod v1 {
    tonic::include_proto!("syncroll.v1");
}

/// The encoded `FileDescriptorSet`, served by gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/syncroll_descriptor.bin"));

/// Opens a channel to the daemon listening on `socket`.
///
/// The connection is made eagerly, so a daemon that is not running shows up
/// here as an error rather than on the first call.
pub async fn connect(socket: &Path) -> Result<Channel, tonic::transport::Error> {
    let socket: PathBuf = socket.to_path_buf();
    // The URI is required by the builder but never used: the connector below
    // ignores it and dials the socket.
    Endpoint::from_static("http://syncrolld.invalid")
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let socket = socket.clone();
            async move {
                let stream = tokio::net::UnixStream::connect(socket).await?;
                Ok::<_, std::io::Error>(TokioIo::new(stream))
            }
        }))
        .await
}
