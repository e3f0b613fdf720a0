//! One message as a receive path hands it over, borrowed from wherever it arrived.

use std::net::SocketAddr;

/// Which path a message came by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Path {
    /// AF_XDP, steered by the XDP program.
    Xdp,
    /// The kernel's UDP stack (fragments, queues without a socket, `--backend socket`).
    Udp,
    /// A TCP syslog connection.
    Tcp,
}

/// One message, borrowed from wherever it arrived (UMEM frame, socket buffer, stream buffer).
#[derive(Clone, Copy, Debug)]
pub struct Message<'a> {
    /// How it came.
    pub path: Path,
    /// Sender address and port.
    pub src: SocketAddr,
    /// Destination (log) port.
    pub dst_port: u16,
    /// VLAN id, when it came tagged through AF_XDP.
    pub vlan: Option<u16>,
    /// The log message.
    pub payload: &'a [u8],
    /// When the XDP program saw it (CLOCK_MONOTONIC ns).
    pub arrival_ns: Option<u64>,
}
