//! The table of options: [`Config`], its defaults and the flags that override it, from one
//! macro invocation (see the module above).

use std::path::PathBuf;

use detector::engine::Clock;
use serde::{Deserialize, Serialize};

use crate::{
    datapath::{Backend, frame::Checksums, worker::Mode, xdp::AttachRequest},
    output::{AlertFormat, sinks::SinkConfig},
    sys::xsk::XskOptions,
};
/// Whether the flag `id` of `matches` was given on the command line or in the environment
/// (rather than left at its default).
fn given(matches: &clap::ArgMatches, id: &str) -> bool {
    use clap::parser::ValueSource::{CommandLine, EnvVariable};
    matches!(matches.value_source(id), Some(CommandLine | EnvVariable))
}

/// The table of options: each row is its documentation, `name: Type = default`, and its flag's
/// clap attributes. Generates [`Config`], its `Default`, and [`Overrides`].
macro_rules! options {
    ($(
        $(#[doc = $doc:literal])+
        $field:ident: $ty:ty = $default:expr, [$($arg:tt)*];
    )*) => {
        /// Everything `ingest run` can be told (see the module documentation).
        #[derive(Clone, Debug, Deserialize, Serialize)]
        #[serde(deny_unknown_fields, default)]
        pub struct Config {
            $($(#[doc = $doc])+ pub $field: $ty,)*
            /// Alert sinks (`[[sink]]` tables), besides stdout. Only in the file.
            pub sink: Vec<SinkConfig>,
        }

        impl Default for Config {
            fn default() -> Self {
                Self {
                    $($field: $default,)*
                    sink: Vec::new(),
                }
            }
        }

        /// The flags of `ingest run` that override the file, one per option of [`Config`]:
        /// only those given (on the command line or in the environment) count.
        #[derive(Clone, Debug, clap::Args)]
        pub struct Overrides {
            $($(#[doc = $doc])+ #[arg($($arg)*)] pub $field: $ty,)*
        }

        impl Overrides {
            /// Puts the options given in `matches` (the matches these overrides were read
            /// from) over `config`.
            pub fn apply(&self, config: &mut Config, matches: &clap::ArgMatches) {
                $(if given(matches, stringify!($field)) {
                    config.$field = self.$field.clone();
                })*
            }
        }
    };
}

options! {
    /// Interface to attach to (with the socket backend: only for reports). No default: name
    /// the capture interface.
    iface: Option<String> = None, [long, env = "INGEST_IFACE"];
    /// Receive queues, one pinned worker each (the socket backend: one SO_REUSEPORT worker
    /// each).
    queues: Vec<u32> = vec![0],
        [long, value_delimiter = ',', env = "INGEST_QUEUES",
         default_values_t = Config::default().queues];
    /// Worker CPUs as a kernel CPU list (e.g. `2-5,8`). Default: the isolated CPUs, else all
    /// but CPU 0.
    cpus: Option<String> = None, [long, env = "INGEST_CPUS"];
    /// Housekeeping CPUs. Default: the CPUs workers do not use.
    housekeeping_cpus: Option<String> = None, [long];
    /// How workers wait for packets: `auto` (busy-poll when every worker CPU is isolated),
    /// `busy-poll` or `poll`.
    mode: Mode = Mode::Auto,
        [long, value_enum, env = "INGEST_MODE", default_value_t = Config::default().mode];
    /// Which path takes the log ports: `xdp` (AF_XDP, with the kernel socket path for what
    /// XDP passes on) or `socket` (kernel sockets only).
    backend: Backend = Backend::Xdp,
        [long, value_enum, env = "INGEST_BACKEND", default_value_t = Config::default().backend];
    /// Log ports, UDP and TCP.
    ports: Vec<u16> = vec![xdp_common::DEFAULT_LOG_PORT],
        [long, value_delimiter = ',', env = "INGEST_PORTS",
         default_values_t = Config::default().ports];
    /// XDP attach mode: `auto` (native, else generic with a warning), `native` or `generic`.
    xdp_mode: AttachRequest = AttachRequest::Auto,
        [long, value_enum, default_value_t = Config::default().xdp_mode];
    /// Accept log messages only from these sources (CIDRs); all others are dropped and
    /// counted, on every path. The longest matching prefix wins.
    allow_source: Vec<String> = Vec::new(), [long, value_delimiter = ','];
    /// Drop log messages from these sources (CIDRs), counted, on every path: in XDP
    /// (fragments too) and on the kernel socket path (UDP datagrams, TCP connections).
    deny_source: Vec<String> = Vec::new(), [long, value_delimiter = ','];
    /// Frames (or datagrams) handled per batch.
    batch_size: usize = XskOptions::default().batch_size,
        [long, default_value_t = Config::default().batch_size];
    /// UMEM frames per queue, also the fill ring size (a power of two).
    frame_count: u32 = XskOptions::default().frame_count,
        [long, default_value_t = Config::default().frame_count];
    /// RX ring slots (a power of two, at most frame_count).
    rx_ring_size: u32 = XskOptions::default().rx_ring_size,
        [long, default_value_t = Config::default().rx_ring_size];
    /// Back the UMEM with 2 MiB huge pages when reserved (`deploy/hugepages.sh`).
    hugepages: bool = true,
        [long, num_args = 0..=1, require_equals = true, default_missing_value = "true",
         default_value_t = Config::default().hugepages];
    /// AF_XDP path: `verify` the IPv4 header and UDP checksums and drop, counted, what the
    /// kernel would drop; or `accept` every datagram (for senders whose checksum offload never
    /// ran).
    checksums: Checksums = Checksums::default(),
        [long, value_enum, default_value_t = Config::default().checksums];
    /// Poll mode: the longest sleep in poll(), milliseconds.
    poll_timeout_ms: u64 = 100, [long, default_value_t = Config::default().poll_timeout_ms];
    /// Poll mode: the longest pause after a batch that was not full, microseconds, so the next
    /// batch is bigger and wakeups fewer (paced by the measured arrival rate, like a NIC's
    /// rx-usecs). 0: none, lowest latency, most CPU.
    poll_coalesce_us: u64 = 50, [long, default_value_t = Config::default().poll_coalesce_us];
    /// Busy-poll mode: SO_BUSY_POLL, microseconds.
    busy_poll_usecs: u32 = 20, [long, default_value_t = Config::default().busy_poll_usecs];
    /// Receive buffer of each UDP socket, bytes.
    udp_rcvbuf: usize = 64 << 20, [long, default_value_t = Config::default().udp_rcvbuf];
    /// Listen for TCP syslog (RFC 6587) on the log ports.
    tcp: bool = true,
        [long, num_args = 0..=1, require_equals = true, default_missing_value = "true",
         default_value_t = Config::default().tcp];
    /// Longest TCP syslog message, bytes; longer ones are skipped and counted.
    tcp_max_message: usize = 64 * 1024,
        [long, default_value_t = Config::default().tcp_max_message];
    /// Seconds after which a silent TCP connection is closed.
    tcp_idle_timeout: u64 = 300, [long, default_value_t = Config::default().tcp_idle_timeout];
    /// TLS syslog ports (RFC 5425; 6514 is the registered one): octet-counted syslog over
    /// TLS, on the kernel socket path. Needs `tls_cert` and `tls_key`.
    tls_ports: Vec<u16> = Vec::new(), [long, value_delimiter = ','];
    /// The TLS listener's certificate chain (PEM, its own certificate first). Read again at
    /// each reload, so a renewed certificate needs no restart.
    tls_cert: Option<PathBuf> = None, [long];
    /// The TLS listener's private key (PEM).
    tls_key: Option<PathBuf> = None, [long];
    /// Require every TLS client to present a certificate this CA bundle (PEM) vouches for.
    tls_client_ca: Option<PathBuf> = None, [long];
    /// Admit only these TLS clients: subject names (the certificate's DNS subjectAltNames,
    /// else its common name) or `sha256:` fingerprints. Needs `tls_client_ca`.
    tls_allowed_clients: Vec<String> = Vec::new(), [long, value_delimiter = ','];
    /// Longest message parsed, bytes; longer ones are parsed up to it and counted as
    /// `too_long`.
    max_message_len: usize = 64 * 1024,
        [long, default_value_t = Config::default().max_message_len];
    /// Parse messages to PORT as FORMAT (`auto`, `rfc5424`, `rfc3164`, `raw`), optionally with
    /// a fixed payload format (`plain`, `json`, `cef`, `leef`, `kv`, `audit`, `event-xml`,
    /// `access-log`, `dns-log`, `proxy-log`):
    /// `5514=rfc3164/cef`.
    format_for: Vec<String> = Vec::new(), [long, value_name = "PORT=FORMAT[/PAYLOAD]"];
    /// The time zone of the senders' clocks, for RFC 3164 timestamps (which name none): a tz
    /// database name (`Europe/Berlin`), `UTC`, `local` (this host's zone), or an offset
    /// (`+05:30`). Daylight saving time is followed.
    timezone: String = "UTC".to_string(),
        [long, env = "INGEST_TIMEZONE", default_value_t = Config::default().timezone];
    /// Time zones of some senders' clocks: `PORT=ZONE` for messages to a port, `PREFIX=ZONE`
    /// for messages from a source prefix (which wins over the port):
    /// `5514=America/New_York`, `10.1.0.0/16=Asia/Tokyo`.
    timezone_for: Vec<String> = Vec::new(), [long, value_name = "PORT|PREFIX=ZONE"];
    /// Rule folders: Sigma rules and correlations (`*.yml`), native threshold and silence rules
    /// (`*.toml`). A rule that cannot be loaded stops the start.
    rules: Vec<PathBuf> = Vec::new(), [long, env = "INGEST_RULES", value_delimiter = ':'];
    /// Learn what is normal: mine message templates and keep rate baselines per (host, app,
    /// template), alerting on a new template (after the warm-up) and on rate spikes.
    learn: bool = false,
        [long, num_args = 0..=1, require_equals = true, default_missing_value = "true",
         env = "INGEST_LEARN", default_value_t = Config::default().learn];
    /// Messages each worker sees before new templates raise alerts.
    learn_warmup: u64 = 10_000, [long, default_value_t = Config::default().learn_warmup];
    /// Length of a rate baseline's counting interval, seconds; a key needs ten intervals
    /// before it alerts.
    learn_interval: u64 = 60, [long, default_value_t = Config::default().learn_interval];
    /// The time rate baselines, silence rules and correlation windows run on: `arrival`, or
    /// `event` (the messages' own timestamps, else the latest seen: for replayed captures).
    clock: Clock = Clock::Arrival, [long, default_value_t = Config::default().clock];
    /// Memory for each worker's detector state, MiB: threshold, correlation and silence
    /// windows, templates and baselines share it evenly (the kinds in use). A full table
    /// evicts its least recently seen key and counts it.
    detector_budget_mb: usize = detector::engine::DEFAULT_BUDGET_BYTES >> 20,
        [long, default_value_t = Config::default().detector_budget_mb];
    /// At exit, write every counter of every stage as JSON to this file.
    stats_json: Option<PathBuf> = None, [long];
    /// Once the program is attached and every socket bound, continue as this user, with no
    /// capabilities left.
    user: Option<String> = None, [long];
    /// The shape of the alert lines `ingest run` prints: `native` (`{"event":"alert",...}`,
    /// beside the other lines it prints) or `ecs`. Sinks have a `format` of their own
    /// (default `ecs`).
    alert_format: AlertFormat = AlertFormat::Native,
        [long, value_enum, env = "INGEST_ALERT_FORMAT", default_value_t = Config::default().alert_format];
    /// The Prometheus endpoint (`host:port`, text format at /metrics); empty: none.
    metrics_addr: String = crate::metrics::DEFAULT_ADDR.to_string(),
        [long, env = "INGEST_METRICS_ADDR", default_value_t = Config::default().metrics_addr];
    /// Allow `POST /-/reload` on the metrics endpoint: anyone who reaches the endpoint may then
    /// make the appliance reload. SIGHUP and `ingest reload --pid` work either way.
    metrics_reload: bool = false,
        [long, num_args = 0..=1, require_equals = true, default_missing_value = "true",
         default_value_t = Config::default().metrics_reload];
}

impl Config {
    /// This configuration with its secrets (sink passwords and tokens) replaced, for logs and
    /// printing.
    pub fn redacted(&self) -> Self {
        let mut c = self.clone();
        for sink in &mut c.sink {
            for secret in [&mut sink.password, &mut sink.token] {
                if secret.is_some() {
                    *secret = Some("(redacted)".into());
                }
            }
        }
        c
    }

    /// The TLS listener's settings: none without `tls_ports`; an error when a setting is
    /// missing, or given with nothing to apply to.
    pub fn tls_settings(&self) -> Result<Option<crate::tls::ServerSettings>, String> {
        if self.tls_ports.is_empty() {
            let given = [
                ("tls_cert", self.tls_cert.is_some()),
                ("tls_key", self.tls_key.is_some()),
                ("tls_client_ca", self.tls_client_ca.is_some()),
                ("tls_allowed_clients", !self.tls_allowed_clients.is_empty()),
            ];
            return match given.iter().find(|(_, g)| *g) {
                Some((name, _)) => Err(format!("{name} is set but tls_ports is empty")),
                None => Ok(None),
            };
        }
        let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) else {
            return Err("tls_ports needs tls_cert and tls_key".into());
        };
        Ok(Some(crate::tls::ServerSettings {
            cert: cert.clone(),
            key: key.clone(),
            client_ca: self.tls_client_ca.clone(),
            allowed_clients: self.tls_allowed_clients.clone(),
        }))
    }

    /// The detector state budget of each worker, bytes.
    pub fn detector_budget_bytes(&self) -> usize {
        self.detector_budget_mb.saturating_mul(1 << 20)
    }
}
