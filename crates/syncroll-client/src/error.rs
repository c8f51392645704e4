//! [`ClientError`]: why a call to the daemon did not give an answer.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing answers at the socket.
    #[error(
        "cannot reach syncrolld at {} ({detail}). Is it running?",
        .socket.display()
    )]
    Unreachable { socket: PathBuf, detail: String },
    /// The daemon refused or failed the request.
    #[error("{}", .0.message())]
    Rpc(#[from] tonic::Status),
    /// The daemon sent a state or kind this client does not know: it is
    /// newer than the client.
    #[error("the daemon sent an unknown {what} {value:?}; is the client older than the daemon?")]
    Unknown { what: &'static str, value: String },
    /// A reply lacked a part the protocol always sends.
    #[error("the daemon's reply has no {0}")]
    Missing(&'static str),
}
