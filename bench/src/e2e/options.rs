//! What `bench e2e` is asked to run: its options, the peers, the targets of a rate.

use std::path::PathBuf;

use serde::Serialize;

use crate::traffic::GenOptions;

/// What to run.
#[derive(Clone, Debug)]
pub struct E2eOptions {
    /// The `ingest` binary.
    pub ingest: PathBuf,
    /// Rule folders for `ingest --rules` (a silence rule for the capture is added).
    pub rules: Vec<PathBuf>,
    /// Where the capture, the labels, the alerts and the reports go.
    pub out: PathBuf,
    /// The capture.
    pub capture: GenOptions,
    /// Offered rates, frames per second; `None`: as fast as the generator goes.
    pub rates: Vec<Option<f64>>,
    /// Run the socket backend too.
    pub socket: bool,
    /// Peers to run (`rsyslog`, `syslog-ng`).
    pub peers: Vec<Peer>,
    /// CPU of the sender.
    pub sender_cpu: usize,
    /// CPU of the receiver.
    pub receiver_cpu: usize,
    /// Keep VLAN tags on the replayed frames.
    pub keep_vlan: bool,
    /// Measure CPU (needs the baseline runs).
    pub cpu: bool,
    /// Seconds of sending per run: each rate's capture has rate x seconds messages (at least
    /// `capture.messages`).
    pub seconds: f64,
    /// Also send the first rate's capture with `tcpreplay` and compare.
    pub tcpreplay: bool,
    /// Extra arguments for every `ingest run`.
    pub ingest_args: Vec<String>,
    /// Print progress on stderr.
    pub progress: bool,
}

/// A syslog daemon to compare with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Peer {
    /// rsyslog with imudp and omfile.
    Rsyslog,
    /// syslog-ng with a udp network source and a file destination.
    SyslogNg,
}

impl Peer {
    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Peer::Rsyslog => "rsyslog",
            Peer::SyslogNg => "syslog-ng",
        }
    }

    /// Parses a name.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "rsyslog" => Some(Peer::Rsyslog),
            "syslog-ng" => Some(Peer::SyslogNg),
            _ => None,
        }
    }
}

/// What is run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Target {
    Baseline,
    Xdp {
        busy_poll: bool,
    },
    /// The XDP backend, the capture sent by Debian's `tcpreplay` instead of `bench replay`.
    XdpTcpreplay,
    Socket,
    Peer(Peer),
}

impl Target {
    pub(super) fn name(self) -> &'static str {
        match self {
            Target::Baseline => "baseline",
            Target::Xdp { busy_poll: false } => "xdp",
            Target::Xdp { busy_poll: true } => "xdp-busy-poll",
            Target::XdpTcpreplay => "xdp-tcpreplay",
            Target::Socket => "socket",
            Target::Peer(p) => p.name(),
        }
    }
}

/// What unpaced sending reaches here, for sizing its capture.
pub(super) const UNPACED_PPS: f64 = 400_000.0;

/// The silence rule the capture's silent host should trip: a host that sent at least 20
/// messages, then nothing for 20 times its usual interval and at least 10 s (capture time).
pub(super) const SILENCE_RULE: &str = r#"# Written by bench e2e for its capture.
[[silence]]
id = "quiet-host"
title = "A host stopped sending logs"
level = "medium"
group_by = "host"
factor = 20
min_events = 20
min_quiet = "10s"
"#;
