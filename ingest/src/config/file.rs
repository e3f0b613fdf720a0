//! Reading a configuration file: its syntax and types, then every value, each problem with its
//! line and column.

use super::options::Config;
use crate::{
    datapath::pipeline::zones::{Zone, ZoneFor},
    sys::xsk::XskOptions,
};

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

    /// What keeps the TLS listener from starting: a missing setting, a port taken twice, a
    /// file that does not read (pointed at by the key that names it).
    fn tls_problems(&self, p: &mut Vec<(&'static str, String)>) {
        let settings = match self.tls_settings() {
            Ok(Some(s)) => s,
            Ok(None) => return,
            Err(why) => return p.push(("tls_ports", why)),
        };
        if self.tls_ports.contains(&0) {
            p.push(("tls_ports", "TLS ports are between 1 and 65535".into()));
        }
        if let Some(port) = self
            .tls_ports
            .iter()
            .find(|t| self.tcp && self.ports.contains(t))
        {
            p.push((
                "tls_ports",
                format!("port {port} is also a log port, where plaintext TCP listens"),
            ));
        }
        if let Err(e) = settings.load() {
            use crate::tls::TlsError;
            let by_path = |path: &std::path::Path| {
                if Some(path) == self.tls_client_ca.as_deref() {
                    "tls_client_ca"
                } else if Some(path) == self.tls_key.as_deref() {
                    "tls_key"
                } else {
                    "tls_cert"
                }
            };
            let key = match &e {
                TlsError::Pem { path, .. }
                | TlsError::NoCertificate(path)
                | TlsError::NoTrustAnchor { path, .. } => by_path(path),
                TlsError::AllowEntry(..) | TlsError::Incomplete(_) => "tls_allowed_clients",
                TlsError::Rustls(_) => "tls_key",
            };
            p.push((key, crate::error_chain(&e)));
        }
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
                p.push((key, e.to_string()));
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
            if let Err(e) = super::port_format::PortFormat::parse(spec) {
                p.push(("format_for", e.to_string()));
            }
        }
        if let Err(e) = Zone::named(&self.timezone) {
            p.push(("timezone", e.to_string()));
        }
        for spec in &self.timezone_for {
            if let Err(e) = ZoneFor::parse(spec) {
                p.push(("timezone_for", e.to_string()));
            }
        }
        self.tls_problems(p);
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
