//! The configuration file of `ingest run --config FILE` (TOML): every option of the command
//! line, with the same names and defaults (`deploy/ingest.toml` documents each). Flags given on
//! the command line override the file. `ingest check-config FILE` reports every problem with its
//! line and column.

use std::path::PathBuf;

use detector::engine::Clock;
use serde::{Deserialize, Serialize};

use crate::{
    daemon::Backend, datapath::frame::Checksums, datapath::worker::Mode,
    datapath::xdp::AttachRequest, output::sinks::SinkConfig, sys::xsk::XskOptions,
};

/// Everything `ingest run` can be told.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Interface to attach to.
    pub iface: Option<String>,
    /// Receive queues, one pinned worker each.
    pub queues: Vec<u32>,
    /// Worker CPUs (a kernel CPU list); default: the isolated CPUs, else all but CPU 0.
    pub cpus: Option<String>,
    /// Housekeeping CPUs; default: the others.
    pub housekeeping_cpus: Option<String>,
    /// `auto`, `busy-poll` or `poll`.
    pub mode: Mode,
    /// `xdp` or `socket`.
    pub backend: Backend,
    /// Log ports.
    pub ports: Vec<u16>,
    /// XDP attach mode: `auto`, `native` or `generic`.
    pub xdp_mode: AttachRequest,
    /// Sources to accept (CIDRs); all others dropped and counted, on every path.
    pub allow_source: Vec<String>,
    /// Sources to drop and count, on every path (CIDRs).
    pub deny_source: Vec<String>,
    /// Frames per batch.
    pub batch_size: usize,
    /// UMEM frames per queue.
    pub frame_count: u32,
    /// RX ring slots.
    pub rx_ring_size: u32,
    /// Try huge pages for the UMEM.
    pub hugepages: bool,
    /// AF_XDP path: `verify` checksums as the kernel would, or `accept` every datagram.
    pub checksums: Checksums,
    /// Poll mode: longest sleep in poll(), ms.
    pub poll_timeout_ms: u64,
    /// Poll mode: pause after a partial batch, µs.
    pub poll_coalesce_us: u64,
    /// Busy-poll mode: SO_BUSY_POLL, µs.
    pub busy_poll_usecs: u32,
    /// Receive buffer of each UDP socket, bytes.
    pub udp_rcvbuf: usize,
    /// Listen for TCP syslog.
    pub tcp: bool,
    /// Longest TCP message, bytes.
    pub tcp_max_message: usize,
    /// Idle TCP connections are closed after this many seconds.
    pub tcp_idle_timeout: u64,
    /// Longest message parsed, bytes.
    pub max_message_len: usize,
    /// Per-port parse formats, `PORT=FORMAT[/PAYLOAD]`.
    pub format_for: Vec<String>,
    /// Rule folders.
    pub rules: Vec<PathBuf>,
    /// Mine templates and keep rate baselines.
    pub learn: bool,
    /// Messages per worker before new templates alert.
    pub learn_warmup: u64,
    /// Length of a rate baseline's counting interval, seconds.
    pub learn_interval: u64,
    /// The time baselines, silences and correlation windows run on: `arrival` or `event`.
    pub clock: Clock,
    /// Memory for each worker's detector state (every per-key table), MiB.
    pub detector_budget_mb: usize,
    /// Write every counter here at exit.
    pub stats_json: Option<PathBuf>,
    /// Once attached and bound, continue as this user, with no capabilities left.
    pub user: Option<String>,
    /// The Prometheus endpoint, `host:port`; empty: none.
    pub metrics_addr: String,
    /// Alert sinks (`[[sink]]` tables), besides stdout.
    pub sink: Vec<SinkConfig>,
}

impl Default for Config {
    fn default() -> Self {
        let xsk = XskOptions::default();
        Self {
            iface: None,
            queues: vec![0],
            cpus: None,
            housekeeping_cpus: None,
            mode: Mode::Auto,
            backend: Backend::Xdp,
            ports: vec![xdp_common::DEFAULT_LOG_PORT],
            xdp_mode: AttachRequest::Auto,
            allow_source: Vec::new(),
            deny_source: Vec::new(),
            batch_size: xsk.batch_size,
            frame_count: xsk.frame_count,
            rx_ring_size: xsk.rx_ring_size,
            hugepages: true,
            checksums: Checksums::default(),
            poll_timeout_ms: 100,
            poll_coalesce_us: 50,
            busy_poll_usecs: 20,
            udp_rcvbuf: 64 << 20,
            tcp: true,
            tcp_max_message: 64 * 1024,
            tcp_idle_timeout: 300,
            max_message_len: 64 * 1024,
            format_for: Vec::new(),
            rules: Vec::new(),
            learn: false,
            learn_warmup: 10_000,
            learn_interval: 60,
            clock: Clock::Arrival,
            detector_budget_mb: detector::engine::DEFAULT_BUDGET_BYTES >> 20,
            stats_json: None,
            user: None,
            metrics_addr: crate::metrics::DEFAULT_ADDR.to_string(),
            sink: Vec::new(),
        }
    }
}

/// One problem in a configuration file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message)
    }
}

/// Line and column (1-based) of byte `offset` in `text`.
fn position(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, column)
}

/// Where a problem is: a top-level key, or a key inside the n-th (0-based) `[[table]]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Location {
    /// `key = ...` at the top level.
    Key(&'static str),
    /// `key = ...` in the n-th `[[table]]`, or its header when the key is not written.
    InTable(&'static str, usize, &'static str),
}

/// Where `key = ...` is written in `text` (its first occurrence at the start of a line), for
/// errors about a value.
fn key_position(text: &str, at: Location) -> (usize, usize) {
    let (table, key) = match at {
        Location::Key(key) => (None, key),
        Location::InTable(table, n, key) => (Some((format!("[[{table}]]"), n)), key),
    };
    let mut offset = 0;
    let mut tables_seen = 0;
    let mut inside = table.is_none();
    let mut header = None;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        if trimmed.starts_with('[') {
            inside = false;
            if let Some((name, n)) = &table
                && trimmed.starts_with(name.as_str())
            {
                inside = tables_seen == *n;
                if inside {
                    header = Some(position(text, offset + indent));
                }
                tables_seen += 1;
            }
        } else if inside
            && let Some(rest) = trimmed.strip_prefix(key)
            && rest.trim_start().starts_with('=')
        {
            return position(text, offset + indent);
        }
        offset += line.len();
    }
    header.unwrap_or((1, 1))
}

impl Config {
    /// The detector state budget of each worker, bytes.
    pub fn detector_budget_bytes(&self) -> usize {
        self.detector_budget_mb.saturating_mul(1 << 20)
    }

    /// Parses and checks a configuration file's text: the syntax and types first (one error),
    /// then every value (all errors).
    pub fn parse(text: &str) -> Result<Self, Vec<ConfigError>> {
        let config: Config = toml::from_str(text).map_err(|e| {
            let (line, column) = e.span().map_or((1, 1), |s| position(text, s.start));
            vec![ConfigError {
                line,
                column,
                message: e.message().to_string(),
            }]
        })?;
        let problems = config.problems();
        if problems.is_empty() {
            Ok(config)
        } else {
            let mut errors: Vec<ConfigError> = problems
                .into_iter()
                .map(|(at, message)| {
                    let (line, column) = key_position(text, at);
                    let message = match at {
                        Location::Key(key) => format!("{key}: {message}"),
                        Location::InTable(table, n, key) => {
                            format!("{table} {}: {key}: {message}", n + 1)
                        }
                    };
                    ConfigError {
                        line,
                        column,
                        message,
                    }
                })
                .collect();
            errors.sort_by_key(|e| (e.line, e.column));
            Err(errors)
        }
    }

    /// Every value that cannot work, as (where, why).
    pub fn problems(&self) -> Vec<(Location, String)> {
        let mut p = Vec::new();
        for (i, sink) in self.sink.iter().enumerate() {
            for (key, why) in sink.problems() {
                p.push((Location::InTable("sink", i, key), why));
            }
        }
        let mut p: Vec<(Location, String)> = p;
        let mut top = Vec::new();
        self.top_level_problems(&mut top);
        p.extend(top.into_iter().map(|(k, why)| (Location::Key(k), why)));
        p
    }

    fn top_level_problems(&self, p: &mut Vec<(&'static str, String)>) {
        if self.queues.is_empty() {
            p.push(("queues", "at least one queue is needed".to_string()));
        }
        if self.ports.is_empty() || self.ports.contains(&0) {
            p.push((
                "ports",
                "ports must be between 1 and 65535, at least one".into(),
            ));
        }
        for (key, list) in [
            ("cpus", &self.cpus),
            ("housekeeping_cpus", &self.housekeeping_cpus),
        ] {
            if let Some(l) = list
                && let Err(e) = crate::sys::cpu::parse_cpu_list(l)
            {
                p.push((key, e));
            }
        }
        for (key, list, verdict) in [
            (
                "allow_source",
                &self.allow_source,
                xdp_common::Verdict::Allow,
            ),
            ("deny_source", &self.deny_source, xdp_common::Verdict::Deny),
        ] {
            for cidr in list {
                if let Err(e) = crate::datapath::filter::SourcePrefix::parse(cidr, verdict) {
                    p.push((key, format!("bad prefix {e}")));
                }
            }
        }
        if let Err(
            e @ crate::datapath::filter::FilterError::Conflict(_)
            | e @ crate::datapath::filter::FilterError::TooMany { .. },
        ) =
            crate::datapath::filter::SourceFilter::from_lists(&self.allow_source, &self.deny_source)
        {
            p.push(("deny_source", e.to_string()));
        }
        let xsk = XskOptions {
            frame_count: self.frame_count,
            rx_ring_size: self.rx_ring_size,
            batch_size: self.batch_size,
            ..XskOptions::default()
        };
        if let Err(e) = xsk.validate() {
            p.push(("frame_count", e.to_string()));
        }
        for spec in &self.format_for {
            let ok = spec.split_once('=').is_some_and(|(port, fmt)| {
                port.parse::<u16>().is_ok_and(|p| p > 0)
                    && matches!(
                        fmt.split('/').next(),
                        Some("auto" | "rfc5424" | "rfc3164" | "raw")
                    )
            });
            if !ok {
                p.push((
                    "format_for",
                    format!("{spec:?} is not PORT=FORMAT[/PAYLOAD]"),
                ));
            }
        }
        if self.detector_budget_mb == 0 {
            p.push((
                "detector_budget_mb",
                "at least 1 MiB for the detector's state".into(),
            ));
        }
        if !self.metrics_addr.is_empty()
            && self.metrics_addr.parse::<std::net::SocketAddr>().is_err()
        {
            p.push((
                "metrics_addr",
                format!(
                    "{:?} is not an address and port like 127.0.0.1:9514 (empty: no endpoint)",
                    self.metrics_addr
                ),
            ));
        }
        for dir in &self.rules {
            if !dir.is_dir() {
                p.push(("rules", format!("{} is not a folder", dir.display())));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_file_is_the_defaults() {
        let text = include_str!("../../../deploy/ingest.toml");
        let example = Config::parse(text).unwrap_or_else(|e| panic!("{e:?}"));
        let defaults = Config {
            iface: example.iface.clone(),
            ..Config::default()
        };
        assert_eq!(
            toml::to_string(&example).unwrap(),
            toml::to_string(&defaults).unwrap(),
            "deploy/ingest.toml documents every default"
        );
    }

    #[test]
    fn syntax_and_type_errors_have_a_line_and_column() {
        let e = Config::parse("iface = \"eth0\"\nqueues = [0, 1\n").unwrap_err();
        assert_eq!((e.len(), e[0].line), (1, 2), "{e:?}");
        let e = Config::parse("iface = \"eth0\"\nbatch_size = \"big\"\n").unwrap_err();
        assert_eq!((e[0].line, e[0].column), (2, 14), "{e:?}");
        let e = Config::parse("ifcae = \"eth0\"\n").unwrap_err();
        assert!(e[0].message.contains("unknown field"), "{e:?}");
    }

    #[test]
    fn every_bad_value_is_reported_at_its_key() {
        let text = "iface = \"eth0\"\nports = [0]\n  deny_source = [\"10.0.0.0/33\"]\nframe_count = 1000\nmetrics_addr = \"localhost\"\n";
        let e = Config::parse(text).unwrap_err();
        let at: Vec<(usize, usize)> = e.iter().map(|e| (e.line, e.column)).collect();
        assert_eq!(at, [(2, 1), (3, 3), (4, 1), (5, 1)], "{e:?}");
        assert!(e[3].message.starts_with("metrics_addr:"), "{e:?}");
        assert!(e[1].message.starts_with("deny_source: bad prefix"), "{e:?}");
    }

    #[test]
    fn a_source_both_allowed_and_denied_is_a_problem() {
        let e = Config::parse(
            "allow_source = [\"198.18.0.0/24\"]\ndeny_source = [\"198.18.0.9/24\"]\n",
        )
        .unwrap_err();
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(
            e[0].message,
            "deny_source: 198.18.0.0/24 is both allowed and denied"
        );
        assert_eq!(e[0].line, 2);
    }

    #[test]
    fn sink_problems_point_into_their_table() {
        let text = "iface = \"eth0\"\n\n[[sink]]\nkind = \"file\"\npath = \"/tmp/a\"\n\n[[sink]]\nkind = \"syslog\"\n  facility = 99\n";
        let e = Config::parse(text).unwrap_err();
        let at: Vec<(usize, usize)> = e.iter().map(|e| (e.line, e.column)).collect();
        // The second sink: its header for the missing address, the line of the bad facility.
        assert_eq!(at, [(7, 1), (9, 3)], "{e:?}");
        assert_eq!(
            e[0].message,
            "sink 2: address: a syslog sink needs an address"
        );
        assert!(e[1].message.starts_with("sink 2: facility:"), "{e:?}");
        let e = Config::parse("[[sink]]\nkind = \"file\"\npth = \"x\"\n").unwrap_err();
        assert!(e[0].message.contains("unknown field"), "{e:?}");
        assert_eq!(e[0].line, 3, "{e:?}");
    }
}
