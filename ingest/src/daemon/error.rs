//! Why the daemon could not start or stopped.

use crate::datapath::xdp::XdpError;

/// Why the daemon could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The options are inconsistent.
    #[error("invalid options: {0}")]
    Options(String),
    /// Loading, attaching or configuring the XDP program.
    #[error(transparent)]
    Xdp(#[from] XdpError),
    /// A worker could not set up its socket.
    #[error("worker {worker}: {message}")]
    Worker {
        /// Worker index.
        worker: usize,
        /// What went wrong.
        message: String,
    },
}
