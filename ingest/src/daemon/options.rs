//! What the daemon is asked to do: the options, checked before anything starts, and the default
//! split of CPUs between workers and housekeeping.

use std::time::Duration;

use detector::parse::ParseOptions;

use super::error::DaemonError;
use crate::{
    config::{Config, PortFormat},
    datapath::Backend,
    datapath::filter::SourceFilter,
    datapath::frame::Checksums,
    datapath::pipeline::{
        Parsing,
        zones::{TimeZones, Zone, ZoneFor},
    },
    datapath::socket::{TcpListen, TcpOptions},
    datapath::worker::Mode,
    datapath::xdp::AttachRequest,
    sys::{cpu, xsk::XskOptions},
    tls::Acceptor,
};

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
    /// TLS syslog ports.
    pub tls_ports: Vec<u16>,
    /// The TLS listener's configuration, shared with the reload (present when `tls_ports`
    /// is not empty).
    #[serde(skip)]
    pub tls: Option<Acceptor>,
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

/// Slots in each worker's ring of printed messages.
const OUTPUT_RING: usize = 1024;
/// Slots in each worker's ring of alerts.
const ALERT_RING: usize = 4096;

impl Options {
    /// The default configuration's options for `iface`: queue 0, CPUs from [`default_cpus`],
    /// the syslog port.
    pub fn new(iface: &str) -> Self {
        Self::from_config(&Config {
            iface: Some(iface.to_string()),
            ..Config::default()
        })
        .expect("the default configuration is valid")
    }

    /// The options a configuration asks for, checked ([`Options::validate`]).
    pub fn from_config(c: &Config) -> Result<Self, DaemonError> {
        let bad = |m: String| DaemonError::Options(m);
        let iface = c
            .iface
            .clone()
            .ok_or_else(|| bad("no interface: give --iface or `iface` in the file".into()))?;
        let (default_workers, _) = default_cpus();
        let list = |what: &str, list: &Option<String>, default: Vec<usize>| match list {
            Some(l) => cpu::parse_cpu_list(l).map_err(|e| bad(format!("{what}: {e}"))),
            None => Ok(default),
        };
        let worker_cpus = list("cpus", &c.cpus, default_workers)?;
        let online =
            cpu::online_cpus().map_err(|e| bad(format!("reading the online CPUs: {e}")))?;
        let rest: Vec<usize> = online
            .iter()
            .copied()
            .filter(|c| !worker_cpus.contains(c))
            .collect();
        let housekeeping_cpus = list(
            "housekeeping_cpus",
            &c.housekeeping_cpus,
            if rest.is_empty() { online } else { rest },
        )?;
        let sources = SourceFilter::from_lists(&c.allow_source, &c.deny_source)
            .map_err(|e| bad(format!("the source filter: {e}")))?;
        let base = ParseOptions {
            max_len: c.max_message_len,
            ..ParseOptions::default()
        };
        let per_port = c
            .format_for
            .iter()
            .map(|spec| {
                let f = PortFormat::parse(spec).map_err(|e| bad(format!("format_for {e}")))?;
                Ok((
                    f.port,
                    ParseOptions {
                        format: f.format,
                        payload: f.payload,
                        ..base
                    },
                ))
            })
            .collect::<Result<_, DaemonError>>()?;
        let zones = TimeZones::new(
            Zone::named(&c.timezone).map_err(|e| bad(format!("timezone: {e}")))?,
            c.timezone_for
                .iter()
                .map(|spec| ZoneFor::parse(spec).map_err(|e| bad(format!("timezone_for: {e}"))))
                .collect::<Result<_, _>>()?,
        );
        let tls = match c.tls_settings().map_err(bad)? {
            Some(settings) => {
                Some(Acceptor::new(settings.load().map_err(|e| {
                    bad(format!("the TLS listener: {}", crate::error_chain(&e)))
                })?))
            }
            None => None,
        };
        let opts = Self {
            iface,
            queues: c.queues.clone(),
            worker_cpus,
            housekeeping_cpus,
            mode: c.mode,
            backend: c.backend,
            ports: c.ports.clone(),
            attach: c.xdp_mode,
            sources,
            xsk: XskOptions {
                frame_count: c.frame_count,
                rx_ring_size: c.rx_ring_size,
                batch_size: c.batch_size,
                hugepages: c.hugepages,
                ..XskOptions::default()
            },
            checksums: c.checksums,
            poll_timeout: Duration::from_millis(c.poll_timeout_ms),
            poll_coalesce: Duration::from_micros(c.poll_coalesce_us),
            busy_poll_usecs: c.busy_poll_usecs,
            udp_rcvbuf: c.udp_rcvbuf,
            tcp: c.tcp,
            tcp_options: TcpOptions {
                max_message: c.tcp_max_message,
                idle_timeout: Duration::from_secs(c.tcp_idle_timeout),
                ..TcpOptions::default()
            },
            tls_ports: c.tls_ports.clone(),
            tls,
            parsing: Parsing::new(base, per_port)
                .with_time_zones(zones)
                .with_wall_clock_year(),
            print: false,
            output_ring: OUTPUT_RING,
            alert_ring: ALERT_RING,
        };
        opts.validate()?;
        Ok(opts)
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
        if self.tls_ports.contains(&0) {
            return bad("TLS ports are between 1 and 65535".into());
        }
        if let Some(p) = self
            .tls_ports
            .iter()
            .find(|p| self.tcp && self.ports.contains(p))
        {
            return bad(format!(
                "port {p} is both a log port (plaintext TCP) and a TLS port"
            ));
        }
        if self.tls_ports.is_empty() != self.tls.is_none() {
            return bad("TLS ports and the TLS configuration come together".into());
        }
        if self.output_ring == 0 || self.alert_ring == 0 {
            return bad("the output rings need at least one slot".into());
        }
        self.xsk
            .validate()
            .map_err(|e| DaemonError::Options(e.to_string()))
    }

    /// What the stream-serving socket worker listens on: plaintext TCP on the log ports (when
    /// `tcp`), TLS on the TLS ports (when configured).
    pub fn tcp_listen(&self) -> TcpListen {
        TcpListen {
            plain: if self.tcp {
                self.ports.clone()
            } else {
                Vec::new()
            },
            tls: self.tls.clone().map(|a| (self.tls_ports.clone(), a)),
            options: self.tcp_options.clone(),
        }
    }

    /// Whether any worker serves streams (plaintext TCP or TLS).
    pub fn serves_streams(&self) -> bool {
        self.tcp || self.tls.is_some()
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
