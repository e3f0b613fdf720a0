//! A sink's configuration: one `[[sink]]` of the configuration file.

use std::{net::ToSocketAddrs, path::PathBuf};

use serde::{Deserialize, Serialize};

use crate::tls::ClientSettings;

/// How a syslog sink sends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    /// One datagram per alert.
    Udp,
    /// RFC 6587 octet counting on one connection, reconnected when it breaks.
    #[default]
    Tcp,
    /// RFC 5425: octet counting over TLS, the receiver's certificate checked against
    /// `tls_ca` (or the system's trust store) and the name it was reached by.
    Tls,
}

/// One `[[sink]]` of the configuration.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SinkConfig {
    /// `file` or `syslog`.
    pub kind: SinkKind,
    /// A name for metrics and the spool file (default: the kind and its index).
    #[serde(default)]
    pub name: Option<String>,
    /// File sink: where to append the JSON lines.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// Syslog sink: `host:port` of the receiver. NATS sink: the server URLs, comma separated
    /// (`nats://10.0.0.1:4222,nats://10.0.0.2:4222`).
    #[serde(default)]
    pub address: Option<String>,
    /// NATS sink: the JetStream stream, created when missing (file storage, subjects
    /// `<subject_prefix>.>`).
    #[serde(default = "default_stream")]
    pub stream: String,
    /// NATS sink: alerts go to `<prefix>.alerts.<level>`.
    #[serde(default = "default_prefix")]
    pub subject_prefix: String,
    /// NATS sink: alerts published and not yet acknowledged, at most.
    #[serde(default = "default_in_flight")]
    pub max_in_flight: usize,
    /// NATS sink: how long to wait for an acknowledgement, milliseconds.
    #[serde(default = "default_ack_timeout")]
    pub ack_timeout_ms: u64,
    /// NATS sink: also publish every parsed message as compact JSON to
    /// `<prefix>.events.<host>`, through a second sink (`<name>-events`) with its own queue,
    /// spool and counters. Every message is then copied out of the workers.
    #[serde(default)]
    pub events: bool,
    /// Alerts as ECS lines (`ecs`, the default) or the native shape (`native`). Parsed events
    /// (`events`) keep their own shape.
    #[serde(default)]
    pub format: crate::output::AlertFormat,
    /// Syslog sink: `udp` or `tcp`.
    #[serde(default)]
    pub protocol: Protocol,
    /// Syslog sink: the facility of the forwarded messages (0-23; default 13, log audit).
    #[serde(default = "default_facility")]
    pub facility: u8,
    /// Alerts waiting for this sink before more are dropped and counted.
    #[serde(default = "default_queue")]
    pub queue: usize,
    /// Where undeliverable alerts wait for the sink to work again; none: they are dropped and
    /// counted.
    #[serde(default)]
    pub spool_dir: Option<PathBuf>,
    /// Largest spool file, bytes.
    #[serde(default = "default_spool_max")]
    pub spool_max_bytes: u64,
    /// Syslog over TLS and NATS: the CA bundle (PEM) the server's certificate must chain to;
    /// none: the system's trust store. For NATS, any `tls_*` setting turns TLS on.
    #[serde(default)]
    pub tls_ca: Option<PathBuf>,
    /// Syslog over TLS and NATS: the certificate chain (PEM) to show a server that asks for
    /// one.
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    /// Its private key (PEM).
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
    /// Syslog over TLS: the name the receiver's certificate must carry (default: the host of
    /// `address`).
    #[serde(default)]
    pub tls_server_name: Option<String>,
    /// NATS: user name, with `password`.
    #[serde(default)]
    pub user: Option<String>,
    /// NATS: password, with `user`.
    #[serde(default)]
    pub password: Option<String>,
    /// NATS: authentication token.
    #[serde(default)]
    pub token: Option<String>,
    /// NATS: a file holding an nkey seed (`SU...`).
    #[serde(default)]
    pub nkey_seed_file: Option<PathBuf>,
    /// NATS: a credentials file (JWT and nkey seed, as `nsc` writes it).
    #[serde(default)]
    pub creds_file: Option<PathBuf>,
}

/// The kinds of sink.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SinkKind {
    /// JSON lines appended to a file.
    File,
    /// RFC 5424 syslog to a receiver.
    Syslog,
    /// NATS JetStream, acknowledged.
    Nats,
}

fn default_facility() -> u8 {
    13
}
fn default_queue() -> usize {
    10_000
}
fn default_spool_max() -> u64 {
    64 << 20
}
fn default_stream() -> String {
    "INGEST".into()
}
fn default_prefix() -> String {
    "ingest".into()
}
fn default_in_flight() -> usize {
    256
}
fn default_ack_timeout() -> u64 {
    5000
}

impl SinkConfig {
    /// The TLS client settings, when this sink speaks TLS (syslog with `protocol = "tls"`,
    /// NATS with any `tls_*` setting).
    pub fn tls(&self) -> Option<ClientSettings> {
        let any = self.tls_ca.is_some() || self.tls_cert.is_some() || self.tls_key.is_some();
        let on = match self.kind {
            SinkKind::Syslog => self.protocol == Protocol::Tls,
            SinkKind::Nats => any,
            SinkKind::File => false,
        };
        on.then(|| ClientSettings {
            ca: self.tls_ca.clone(),
            cert: self.tls_cert.clone(),
            key: self.tls_key.clone(),
        })
    }

    fn tls_problems(&self, p: &mut Vec<(&'static str, String)>) {
        let any = self.tls_ca.is_some()
            || self.tls_cert.is_some()
            || self.tls_key.is_some()
            || self.tls_server_name.is_some();
        match self.tls() {
            Some(settings) => {
                if let Err(e) = settings.load() {
                    let key = match &e {
                        crate::tls::TlsError::Pem { path, .. }
                        | crate::tls::TlsError::NoCertificate(path)
                        | crate::tls::TlsError::NoTrustAnchor { path, .. } => {
                            if Some(path) == self.tls_key.as_ref() {
                                "tls_key"
                            } else if Some(path) == self.tls_cert.as_ref() {
                                "tls_cert"
                            } else {
                                "tls_ca"
                            }
                        }
                        _ => "tls_cert",
                    };
                    p.push((key, crate::error_chain(&e)));
                }
            }
            None if any => p.push((
                "tls_ca",
                match self.kind {
                    SinkKind::Syslog => "TLS settings need protocol = \"tls\"".into(),
                    _ => "only syslog and NATS sinks speak TLS".into(),
                },
            )),
            None => {}
        }
        if self.tls_server_name.is_some() && self.kind != SinkKind::Syslog {
            p.push((
                "tls_server_name",
                "only a syslog sink takes a server name".into(),
            ));
        }
        if let Some(name) = &self.tls_server_name
            && rustls_pki_types::ServerName::try_from(name.as_str()).is_err()
        {
            p.push((
                "tls_server_name",
                format!("{name:?} is not a DNS name or IP address"),
            ));
        }
    }

    fn credential_problems(&self, p: &mut Vec<(&'static str, String)>) {
        let given = [
            ("user", self.user.is_some() || self.password.is_some()),
            ("token", self.token.is_some()),
            ("nkey_seed_file", self.nkey_seed_file.is_some()),
            ("creds_file", self.creds_file.is_some()),
        ];
        let named: Vec<&str> = given.iter().filter(|g| g.1).map(|g| g.0).collect();
        if self.kind != SinkKind::Nats {
            if let Some(first) = named.first() {
                p.push((first, "only a NATS sink takes credentials".into()));
            }
            return;
        }
        if named.len() > 1 {
            p.push((
                named[1],
                format!("one way to authenticate, not {}", named.join(" and ")),
            ));
        }
        if self.user.is_some() != self.password.is_some() {
            p.push(("user", "user and password come together".into()));
        }
        for (key, file) in [
            ("nkey_seed_file", &self.nkey_seed_file),
            ("creds_file", &self.creds_file),
        ] {
            if let Some(f) = file
                && let Err(e) = std::fs::metadata(f)
            {
                p.push((key, format!("{}: {e}", f.display())));
            }
        }
    }

    /// Every value that cannot work, as (key, why).
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut p = Vec::new();
        match self.kind {
            SinkKind::File if self.path.is_none() => {
                p.push(("path", "a file sink needs a path".into()))
            }
            SinkKind::Syslog => match &self.address {
                None => p.push(("address", "a syslog sink needs an address".into())),
                Some(a)
                    if a.to_socket_addrs()
                        .map(|mut i| i.next().is_none())
                        .unwrap_or(true) =>
                {
                    p.push(("address", format!("{a:?} is not a host:port")))
                }
                Some(_) => {}
            },
            SinkKind::Nats => {
                if self.address.as_deref().is_none_or(|a| a.trim().is_empty()) {
                    p.push(("address", "a NATS sink needs its server URLs".into()));
                }
                if self.stream.is_empty() || self.stream.contains(['.', ' ', '*', '>']) {
                    p.push(("stream", format!("{:?} is not a stream name", self.stream)));
                }
                if self.subject_prefix.is_empty() || self.subject_prefix.contains([' ', '*', '>']) {
                    p.push((
                        "subject_prefix",
                        format!("{:?} is not a subject prefix", self.subject_prefix),
                    ));
                }
                if self.max_in_flight == 0 {
                    p.push(("max_in_flight", "at least one".into()));
                }
            }
            SinkKind::File => {}
        }
        self.tls_problems(&mut p);
        self.credential_problems(&mut p);
        if self.events && self.kind != SinkKind::Nats {
            p.push(("events", "only a NATS sink publishes events".into()));
        }
        if self.facility > 23 {
            p.push((
                "facility",
                format!("{} is not a facility (0-23)", self.facility),
            ));
        }
        if self.queue == 0 {
            p.push(("queue", "the queue needs at least one slot".into()));
        }
        p
    }
}
