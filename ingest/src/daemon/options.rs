//! What the daemon is asked to do: the options, checked before anything starts, and the default
//! split of CPUs between workers and housekeeping.

use std::time::Duration;

use super::DaemonError;
use crate::{
    datapath::filter::SourceFilter,
    datapath::frame::Checksums,
    datapath::pipeline::Parsing,
    datapath::socket::TcpOptions,
    datapath::worker::Mode,
    datapath::xdp::AttachRequest,
    sys::{cpu, xsk::XskOptions},
};

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

/// Everything the daemon needs to start, checked by [`Options::validate`].
#[derive(Clone, Debug, serde::Serialize)]
pub struct Options {
    /// Interface to attach to (XDP backend).
    pub iface: String,
    /// Receive queues, one worker each (with `--backend socket`: one SO_REUSEPORT worker each).
    pub queues: Vec<u32>,
    /// CPUs for the workers, in queue order (reused round-robin when fewer than queues).
    pub worker_cpus: Vec<usize>,
    /// CPUs for the housekeeping thread and the XDP backend's socket-path worker.
    pub housekeeping_cpus: Vec<usize>,
    /// How workers wait.
    pub mode: Mode,
    /// Which path takes the log ports.
    pub backend: Backend,
    /// Log ports (UDP and TCP).
    pub ports: Vec<u16>,
    /// XDP attach mode.
    pub attach: AttachRequest,
    /// Source filter, on every path (XDP program and kernel sockets).
    #[serde(skip)]
    pub sources: SourceFilter,
    /// UMEM and ring sizes.
    #[serde(skip)]
    pub xsk: XskOptions,
    /// What the AF_XDP path does with checksums.
    pub checksums: Checksums,
    /// How long a `poll()` sleeps in poll mode.
    pub poll_timeout: Duration,
    /// Poll mode: pause after a partial batch so the next one is bigger (0: none).
    pub poll_coalesce: Duration,
    /// SO_BUSY_POLL microseconds in busy-poll mode.
    pub busy_poll_usecs: u32,
    /// Receive buffer asked for each UDP socket.
    pub udp_rcvbuf: usize,
    /// Whether to listen for TCP syslog.
    pub tcp: bool,
    /// TCP limits.
    #[serde(skip)]
    pub tcp_options: TcpOptions,
    /// How messages are parsed, per port.
    #[serde(skip)]
    pub parsing: Parsing,
    /// Copy every message to the output ring, for printing.
    pub print: bool,
    /// Slots in each worker's ring of printed messages.
    pub output_ring: usize,
    /// Slots in each worker's ring of alerts.
    pub alert_ring: usize,
}

impl Options {
    /// Defaults for `iface`: queue 0, CPUs from [`default_cpus`], the syslog port.
    pub fn new(iface: &str) -> Self {
        let (worker_cpus, housekeeping_cpus) = default_cpus();
        Self {
            iface: iface.to_string(),
            queues: vec![0],
            worker_cpus,
            housekeeping_cpus,
            mode: Mode::Auto,
            backend: Backend::Xdp,
            ports: vec![xdp_common::DEFAULT_LOG_PORT],
            attach: AttachRequest::Auto,
            sources: SourceFilter::default(),
            xsk: XskOptions::default(),
            checksums: Checksums::default(),
            poll_timeout: Duration::from_millis(100),
            poll_coalesce: Duration::from_micros(50),
            busy_poll_usecs: 20,
            udp_rcvbuf: 64 << 20,
            tcp: true,
            tcp_options: TcpOptions::default(),
            parsing: Parsing::default(),
            print: false,
            output_ring: 1024,
            alert_ring: 4096,
        }
    }

    /// Checks the options once, before anything is started.
    pub fn validate(&self) -> Result<(), DaemonError> {
        let bad = |m: String| Err(DaemonError::Options(m));
        if self.queues.is_empty() {
            return bad("at least one queue is needed".into());
        }
        let mut q = self.queues.clone();
        q.sort_unstable();
        q.dedup();
        if q.len() != self.queues.len() {
            return bad(format!("queue listed twice in {:?}", self.queues));
        }
        if let Some(&big) = q.iter().find(|&&q| q >= xdp_common::MAX_QUEUES) {
            return bad(format!(
                "queue {big} is beyond the {} queues the XSKMAP holds",
                xdp_common::MAX_QUEUES
            ));
        }
        if self.worker_cpus.is_empty() || self.housekeeping_cpus.is_empty() {
            return bad("no CPU to run workers or housekeeping on".into());
        }
        if self.ports.is_empty() || self.ports.contains(&0) {
            return bad("at least one port between 1 and 65535 is needed".into());
        }
        if self.output_ring == 0 || self.alert_ring == 0 {
            return bad("the output rings need at least one slot".into());
        }
        self.xsk
            .validate()
            .map_err(|e| DaemonError::Options(e.to_string()))
    }

    /// The mode workers run in: `Auto` becomes busy-poll when every worker CPU is isolated.
    pub fn resolved_mode(&self) -> Mode {
        match self.mode {
            Mode::Auto => {
                let isolated = cpu::isolated_cpus().unwrap_or_default();
                if self.worker_cpus.iter().all(|c| isolated.contains(c)) {
                    Mode::BusyPoll
                } else {
                    Mode::Poll
                }
            }
            m => m,
        }
    }
}

/// Worker and housekeeping CPUs when none are configured: the isolated CPUs for workers when
/// there are any, else every CPU but CPU 0; housekeeping gets the rest (all CPUs on a
/// one-CPU host).
pub fn default_cpus() -> (Vec<usize>, Vec<usize>) {
    let online = cpu::online_cpus().unwrap_or_else(|_| vec![0]);
    let isolated = cpu::isolated_cpus().unwrap_or_default();
    split_cpus(&online, &isolated)
}

/// The rule of [`default_cpus`], on given CPU lists.
fn split_cpus(online: &[usize], isolated: &[usize]) -> (Vec<usize>, Vec<usize>) {
    let workers: Vec<usize> = if !isolated.is_empty() {
        isolated.to_vec()
    } else if online.len() > 1 {
        online.iter().copied().filter(|&c| c != 0).collect()
    } else {
        online.to_vec()
    };
    let mut housekeeping: Vec<usize> = online
        .iter()
        .copied()
        .filter(|c| !workers.contains(c))
        .collect();
    if housekeeping.is_empty() {
        housekeeping = online.to_vec();
    }
    (workers, housekeeping)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_get_isolated_cpus_else_all_but_cpu0() {
        assert_eq!(split_cpus(&[0, 1, 2, 3], &[2, 3]), (vec![2, 3], vec![0, 1]));
        assert_eq!(split_cpus(&[0, 1], &[]), (vec![1], vec![0]));
        assert_eq!(
            split_cpus(&[0], &[]),
            (vec![0], vec![0]),
            "one CPU does everything"
        );
        assert_eq!(split_cpus(&[0, 1], &[0, 1]), (vec![0, 1], vec![0, 1]));
    }

    #[test]
    fn bad_options_are_refused_before_anything_starts() {
        let ok = Options::new("eth0");
        assert!(ok.validate().is_ok());
        let refused = |change: fn(&mut Options)| {
            let mut o = ok.clone();
            change(&mut o);
            o.validate().unwrap_err().to_string()
        };
        assert!(refused(|o| o.queues = vec![]).contains("at least one queue"));
        assert!(refused(|o| o.queues = vec![1, 1]).contains("twice"));
        assert!(refused(|o| o.queues = vec![64]).contains("beyond"));
        assert!(refused(|o| o.ports = vec![0]).contains("port"));
        assert!(refused(|o| o.worker_cpus = vec![]).contains("CPU"));
        assert!(refused(|o| o.xsk.batch_size = 0).contains("batch_size"));
    }
}
