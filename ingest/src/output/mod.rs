//! Where what the workers raise goes: alerts and events as JSON lines, and the alert sinks
//! (a file, syslog, NATS), each with its own thread, queue and spool.

pub mod ecs;
pub mod json;
pub mod sinks;

/// The shape of an alert line.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum AlertFormat {
    /// The Elastic Common Schema ([`ecs`]), as SIEMs ingest it.
    #[default]
    Ecs,
    /// The appliance's own compact shape (`{"event":"alert","rule":...}`).
    Native,
}
