//! The path of a message through a worker: the XDP program's loader and source filter, the
//! AF_XDP frames and the kernel sockets a worker reads, the worker loop, the pipeline that
//! parses a batch and runs the detection engine over it, and the counters a worker publishes.
//!
//! Data flows one way: [`worker`] takes a batch from [`xdp`]'s sockets or [`socket`]'s, decodes
//! it ([`frame`]), and hands it to [`pipeline`], which hands the engine's alerts to its output
//! rings; [`live`] carries the counters out.

pub mod filter;
pub mod frame;
pub mod live;
pub mod pipeline;
pub mod prefixes;
pub mod socket;
pub mod worker;
pub mod xdp;

/// Which path takes the log ports' packets off the wire.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Backend {
    /// XDP steers them into AF_XDP sockets; the socket path takes what XDP passes on.
    Xdp,
    /// Kernel sockets only (SO_REUSEPORT workers): hosts without XDP, and the baseline.
    Socket,
}
