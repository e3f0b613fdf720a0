//! The Prometheus endpoint: every counter of the [`Report`] in the text exposition format
//! (version 0.0.4), served over plain HTTP from a thread of its own, and the reader that
//! `ingest status` uses to turn a scrape back into numbers.
//!
//! Names follow `ingest_<noun>_<verb>_total` for counters, with small fixed label sets (a drop
//! reason, a path, a queue, a rule). The server never touches the workers: for each scrape it
//! asks the housekeeping loop, which builds the report from what the workers published and
//! answers within a round (about a millisecond).

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    io::{self, BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs},
    sync::mpsc,
    time::Duration,
};

use detector::engine::StateTable as DetectorTable;

use crate::{daemon::Report, xdp::AttachMode};

/// Where the endpoint listens unless told otherwise.
pub const DEFAULT_ADDR: &str = "127.0.0.1:9514";

/// Alerts that reached the housekeeping thread, by rule. Kept by whoever prints them (it knows
/// the rules' names and levels).
#[derive(Clone, Debug, Default)]
pub struct AlertCounts {
    counts: BTreeMap<AlertKey, u64>,
}

/// What an alert count is labelled with.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct AlertKey {
    /// The rule's id (its title when it has none).
    pub rule: String,
    /// The rule's title.
    pub title: String,
    /// `sigma`, `threshold`, `correlation`, `silence`, `new_template` or `rate_spike`.
    pub kind: &'static str,
    /// The rule's level.
    pub level: &'static str,
}

impl AlertCounts {
    /// Counts one alert. Allocates only the first time a rule fires.
    pub fn add(&mut self, rule: &str, title: &str, kind: &'static str, level: &'static str) {
        // Rules raised by the learner carry a template id: one series per kind, not per
        // template, keeps the label set small.
        let rule = match kind {
            "new_template" | "rate_spike" => kind,
            _ => rule,
        };
        if let Some(n) = self
            .counts
            .iter_mut()
            .find(|(k, _)| k.rule == rule && k.kind == kind && k.level == level)
            .map(|(_, n)| n)
        {
            *n += 1;
            return;
        }
        self.counts.insert(
            AlertKey {
                rule: rule.to_string(),
                title: title.to_string(),
                kind,
                level,
            },
            1,
        );
    }

    /// Every rule that fired, with its count.
    pub fn iter(&self) -> impl Iterator<Item = (&AlertKey, u64)> {
        self.counts.iter().map(|(k, n)| (k, *n))
    }
}

/// Writes metric families in the text format: `# HELP` and `# TYPE` once per family.
#[derive(Debug, Default)]
struct Exposition {
    out: String,
    family: &'static str,
}

impl Exposition {
    fn family(&mut self, name: &'static str, kind: &str, help: &str) {
        self.family = name;
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, suffix: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.out.push_str(self.family);
        self.out.push_str(suffix);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"");
                for c in v.chars() {
                    match c {
                        '\\' => self.out.push_str("\\\\"),
                        '"' => self.out.push_str("\\\""),
                        '\n' => self.out.push_str("\\n"),
                        c => self.out.push(c),
                    }
                }
                self.out.push('"');
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
    }

    fn value(&mut self, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.sample("", labels, value);
    }
}

/// A value's serde name (`busy-poll`, `copy`, ...): how the report spells it, so labels do too.
fn name_of<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

/// The whole exposition for `report` and `alerts`.
pub fn render(report: &Report, alerts: &AlertCounts) -> String {
    let mut e = Exposition::default();
    let backend = name_of(&report.backend);
    let mode = name_of(&report.mode);
    let xdp_mode = report.xdp_mode.map_or("none", |m| match m {
        AttachMode::Native => "native",
        AttachMode::Generic => "generic",
    });
    e.family(
        "ingest_info",
        "gauge",
        "The running appliance: interface, backend, worker mode and XDP attach mode.",
    );
    e.value(
        &[
            ("iface", &report.iface),
            ("backend", &backend),
            ("mode", &mode),
            ("xdp_mode", xdp_mode),
        ],
        1,
    );

    e.family(
        "ingest_queue_info",
        "gauge",
        "Each AF_XDP queue's worker: CPU, wait mode, bind mode (zero-copy or copy), huge pages.",
    );
    for q in &report.queues {
        let queue = q.info.queue.map(|n| n.to_string()).unwrap_or_default();
        let cpus = format!("{:?}", q.info.cpus);
        let bind = q.info.bind_mode.as_ref().map(name_of).unwrap_or_default();
        let hugepages = q.info.hugepages.unwrap_or(false).to_string();
        e.value(
            &[
                ("queue", &queue),
                ("cpus", &cpus),
                ("mode", &name_of(&q.info.mode)),
                ("bind", &bind),
                (
                    "zero_copy",
                    if bind == "zero-copy" { "true" } else { "false" },
                ),
                ("hugepages", &hugepages),
            ],
            1,
        );
    }

    e.family(
        "ingest_messages_received_total",
        "counter",
        "Log messages received, by path (xdp: AF_XDP; udp, tcp: the kernel socket path).",
    );
    e.value(&[("path", "xdp")], report.messages_received_xdp_total);
    e.value(&[("path", "udp")], report.messages_received_udp_total);
    e.value(&[("path", "tcp")], report.messages_received_tcp_total);

    e.family(
        "ingest_queue_messages_received_total",
        "counter",
        "Log messages received through each AF_XDP queue.",
    );
    for q in &report.queues {
        let queue = q.info.queue.map(|n| n.to_string()).unwrap_or_default();
        e.value(&[("queue", &queue)], q.messages);
    }

    e.family(
        "ingest_packets_dropped_total",
        "counter",
        "Every named drop of every stage: received + these = everything that reached the log ports.",
    );
    for (reason, n) in &report.drops {
        e.value(&[("reason", reason)], n);
    }

    e.family(
        "ingest_queue_packets_dropped_total",
        "counter",
        "Drops per AF_XDP queue: the kernel's socket counters and frames that did not decode.",
    );
    for q in &report.queues {
        let queue = q.info.queue.map(|n| n.to_string()).unwrap_or_default();
        let k = &q.counters.kernel_xsk;
        for (reason, n) in [
            ("xsk_rx_dropped", k.rx_dropped),
            ("xsk_rx_ring_full", k.rx_ring_full),
            ("xsk_rx_invalid_descs", k.rx_invalid_descs),
        ] {
            e.value(&[("queue", &queue), ("reason", reason)], n);
        }
        for err in crate::frame::FrameError::ALL {
            let n = q.counters.frame_drops[err.index()];
            e.value(&[("queue", &queue), ("reason", err.counter_name())], n);
        }
    }

    e.family(
        "ingest_queue_fill_ring_empty_total",
        "counter",
        "Times the kernel found a queue's fill ring empty (a sign the worker falls behind).",
    );
    for q in &report.queues {
        let queue = q.info.queue.map(|n| n.to_string()).unwrap_or_default();
        e.value(
            &[("queue", &queue)],
            q.counters.kernel_xsk.rx_fill_ring_empty_descs,
        );
    }

    if let Some(xdp) = &report.xdp {
        e.family(
            "ingest_xdp_packets_decided_total",
            "counter",
            "The XDP program's decisions not in ingest_packets_dropped_total: steered into AF_XDP, passed to the kernel and why, and the later fragments of denied datagrams (frames; their datagrams are dropped by their first fragment).",
        );
        for (counter, n) in xdp.iter().filter(|(c, _)| !c.is_drop()) {
            let decision = counter.name().trim_start_matches("xdp_");
            e.value(&[("decision", decision)], n);
        }
    }

    e.family(
        "ingest_messages_parsed_total",
        "counter",
        "Messages parsed without error.",
    );
    e.value(&[], report.messages_parsed_total);
    e.family(
        "ingest_messages_parse_failed_total",
        "counter",
        "Messages read only in part, by reason (still detected on; not drops).",
    );
    for (reason, n) in &report.parse_errors {
        e.value(&[("reason", reason)], n);
    }

    e.family(
        "ingest_alerts_dropped_total",
        "counter",
        "Alerts raised but lost: the engine's per-batch buffer or the worker's alert ring was full.",
    );
    e.value(
        &[("reason", "buffer_full")],
        report.alerts_dropped_buffer_full,
    );
    e.value(&[("reason", "ring_full")], report.alerts_dropped_ring_full);
    e.family(
        "ingest_samples_dropped_total",
        "counter",
        "Printed copies of messages dropped because a worker's sample ring was full.",
    );
    e.value(&[], report.samples_dropped_ring_full);

    e.family(
        "ingest_alerts_raised_total",
        "counter",
        "Alerts raised by the detectors, all rules (including any the output ring dropped).",
    );
    e.value(&[], report.alerts_raised_total);
    e.family(
        "ingest_rule_alerts_raised_total",
        "counter",
        "Alerts delivered, by rule, kind and level.",
    );
    for (k, n) in alerts.iter() {
        e.value(
            &[
                ("rule", &k.rule),
                ("title", &k.title),
                ("kind", k.kind),
                ("level", k.level),
            ],
            n,
        );
    }

    e.family(
        "ingest_detector_keys",
        "gauge",
        "Keys the detectors hold now, by table (all workers).",
    );
    for t in DetectorTable::ALL {
        e.value(&[("table", t.name())], report.detector.keys[t as usize]);
    }
    e.family(
        "ingest_detector_keys_evicted_total",
        "counter",
        "Keys evicted from full detector tables, by table.",
    );
    for t in DetectorTable::ALL {
        e.value(&[("table", t.name())], report.detector.evicted[t as usize]);
    }
    e.family(
        "ingest_detector_alerts_suppressed_total",
        "counter",
        "Threshold crossings folded into an earlier alert during its suppression.",
    );
    e.value(&[], report.detector.suppressed);

    e.family(
        "ingest_tcp_connections_total",
        "counter",
        "TCP syslog connections, by what happened to them.",
    );
    for (event, n) in [
        ("accepted", report.tcp.connections_accepted),
        ("refused", report.tcp.connections_refused),
        ("closed", report.tcp.connections_closed),
        ("idle_closed", report.tcp.connections_idle_closed),
    ] {
        e.value(&[("event", event)], n);
    }
    e.family(
        "ingest_udp_batches_received_total",
        "counter",
        "recvmmsg calls of the socket path that returned at least one datagram.",
    );
    e.value(&[], report.udp.batches);

    e.family(
        "ingest_gelf_messages_total",
        "counter",
        "What became of chunked or compressed GELF messages (their datagrams are received).",
    );
    for (outcome, n) in &report.gelf {
        e.value(&[("outcome", outcome.trim_start_matches("gelf_"))], n);
    }

    e.family(
        "ingest_latency_seconds",
        "summary",
        "Per stage since start: xdp_to_pickup (XDP hook to the worker taking the batch), parse, \
         detect, xdp_to_detected (hook to the message through the detector), xdp_to_alert (hook \
         to an alert queued).",
    );
    for (stage, l) in &report.latency_ns.stages {
        for (q, v) in [
            ("0.5", l.p50),
            ("0.9", l.p90),
            ("0.99", l.p99),
            ("0.999", l.p999),
            ("1", l.max),
        ] {
            e.value(&[("stage", stage), ("quantile", q)], seconds(v));
        }
        e.sample("_sum", &[("stage", stage)], seconds(l.sum));
        e.sample("_count", &[("stage", stage)], l.count);
    }
    let r = &report.latency_ns.recent_xdp_to_detected;
    e.family(
        "ingest_latency_recent_seconds",
        "gauge",
        "From the XDP hook to the message parsed and detected, over the last 30 to 60 seconds.",
    );
    for (q, v) in [
        ("0.5", r.p50),
        ("0.9", r.p90),
        ("0.99", r.p99),
        ("0.999", r.p999),
        ("1", r.max),
    ] {
        e.value(&[("stage", "xdp_to_detected"), ("quantile", q)], seconds(v));
    }
    e.family(
        "ingest_latency_recent_samples",
        "gauge",
        "Samples behind ingest_latency_recent_seconds.",
    );
    e.value(&[("stage", "xdp_to_detected")], r.count);
    e.family(
        "ingest_latency_unmeasured_total",
        "counter",
        "AF_XDP messages without an arrival time (the driver refused the metadata).",
    );
    e.value(&[], report.latency_ns.unmeasured);

    e.family(
        "ingest_source_messages_estimated",
        "gauge",
        "The loudest senders: messages estimated from a 1-in-8 sample (Space-Saving per worker).",
    );
    for t in &report.top_sources {
        e.value(&[("source", &t.source.to_string())], t.messages);
    }

    type SinkField = fn(&crate::sinks::SinkReport) -> u64;
    let per_sink: [(&'static str, &str, &str, SinkField); 5] = [
        (
            "ingest_sink_records_delivered_total",
            "counter",
            "Records (alerts; parsed events for an events sink) each sink delivered, counted when confirmed.",
            |s| s.delivered,
        ),
        (
            "ingest_sink_records_spooled_total",
            "counter",
            "Records each sink could not deliver at once and kept in its spool.",
            |s| s.spooled,
        ),
        (
            "ingest_sink_records_replayed_total",
            "counter",
            "Spooled records each sink sent again.",
            |s| s.replayed,
        ),
        (
            "ingest_sink_failures_total",
            "counter",
            "Failed deliveries (each followed by a reconnect or reopen).",
            |s| s.failures,
        ),
        (
            "ingest_sink_spool_records",
            "gauge",
            "Records waiting in each sink's spool.",
            |s| s.spool_pending,
        ),
    ];
    for (name, kind, help, field) in per_sink {
        e.family(name, kind, help);
        for s in &report.sinks {
            e.value(&[("sink", &s.name)], field(s));
        }
    }
    e.family(
        "ingest_sink_records_dropped_total",
        "counter",
        "Records a sink dropped: its queue was full, or it could neither deliver nor spool them.",
    );
    for s in &report.sinks {
        e.value(
            &[("sink", &s.name), ("reason", "queue_full")],
            s.dropped_queue_full,
        );
        e.value(
            &[("sink", &s.name), ("reason", "undeliverable")],
            s.dropped_undeliverable,
        );
    }

    e.family(
        "ingest_sources_distinct",
        "gauge",
        "Different senders seen since start, estimated (HyperLogLog per worker, merged; about 3 %).",
    );
    e.value(&[], report.distinct_sources);

    e.family(
        "ingest_rules_generation",
        "gauge",
        "The rule set every worker detects with: 0 at start, one more per reload.",
    );
    e.value(&[], report.rules_generation);

    e.family(
        "ingest_worker_errors",
        "gauge",
        "Workers that ended with an error.",
    );
    e.value(&[], report.errors.len());
    e.out
}

fn seconds(ns: u64) -> f64 {
    ns as f64 / 1e9
}

/// Why the housekeeping loop answers a request without what it asked for (a reload refused, the
/// counters unreadable), in words for the operator.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refusal(pub String);

/// Where the housekeeping loop answers a request: the text, or why there is none.
pub type Reply = mpsc::SyncSender<Result<String, Refusal>>;

/// A line of a scrape that is not a sample.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line} is not a sample: {text:?}")]
pub struct ScrapeError {
    /// 1-based.
    pub line: usize,
    /// The line.
    pub text: String,
}

/// What the server asks the housekeeping loop for.
#[derive(Debug)]
pub enum Request {
    /// `GET /metrics`: the exposition.
    Metrics(Reply),
    /// `POST /-/reload`: reload configuration and rules; the answer says what changed or why
    /// nothing did.
    Reload(Reply),
}

/// The endpoint, bound but not yet serving.
#[derive(Debug)]
pub struct MetricsServer {
    listener: TcpListener,
}

/// Largest request head read; anything longer is answered 431.
const MAX_REQUEST: usize = 8192;
/// How long a client may take to send its request, and the housekeeping loop to answer.
const TIMEOUT: Duration = Duration::from_secs(2);
/// How long a reload may take (reading and compiling every rule).
const RELOAD_TIMEOUT: Duration = Duration::from_secs(60);

impl MetricsServer {
    /// Binds `addr` (before privileges are dropped; any port works unprivileged anyway).
    pub fn bind(addr: &str) -> io::Result<Self> {
        let listener = TcpListener::bind(addr).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("binding the metrics endpoint {addr}: {e}"),
            )
        })?;
        Ok(Self { listener })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves scrapes on a thread of its own, one connection at a time, each answered with the
    /// text that `requests` hands back.
    pub fn spawn(self, requests: mpsc::Sender<Request>) -> io::Result<std::thread::JoinHandle<()>> {
        std::thread::Builder::new()
            .name("metrics".into())
            .spawn(move || {
                for stream in self.listener.incoming() {
                    let Ok(stream) = stream else { continue };
                    if let Err(e) = serve_one(stream, &requests) {
                        log::debug!("metrics request: {e}");
                    }
                }
            })
    }
}

fn serve_one(mut stream: TcpStream, requests: &mpsc::Sender<Request>) -> io::Result<()> {
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    let mut head = Vec::new();
    let mut reader = BufReader::new((&stream).take(MAX_REQUEST as u64));
    loop {
        let before = head.len();
        reader.read_until(b'\n', &mut head)?;
        if head.len() == before || head.ends_with(b"\r\n\r\n") || head.ends_with(b"\n\n") {
            break;
        }
        if head.len() >= MAX_REQUEST {
            return respond(&mut stream, "431 Request Header Fields Too Large", "", "");
        }
    }
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    match (method, path) {
        ("POST", "/-/reload") => {
            let (tx, rx) = mpsc::sync_channel(1);
            let answer = requests
                .send(Request::Reload(tx))
                .ok()
                .and_then(|()| rx.recv_timeout(RELOAD_TIMEOUT).ok());
            match answer {
                Some(Ok(summary)) => respond(&mut stream, "200 OK", "text/plain", &summary),
                Some(Err(why)) => respond(
                    &mut stream,
                    "422 Unprocessable Content",
                    "text/plain",
                    &why.0,
                ),
                None => respond(
                    &mut stream,
                    "503 Service Unavailable",
                    "text/plain",
                    "no answer from the appliance",
                ),
            }
        }
        ("GET" | "HEAD", "/metrics") => {
            let (tx, rx) = mpsc::sync_channel(1);
            let body = requests
                .send(Request::Metrics(tx))
                .ok()
                .and_then(|()| rx.recv_timeout(TIMEOUT).ok());
            match body {
                Some(Err(why)) => respond(
                    &mut stream,
                    "500 Internal Server Error",
                    "text/plain",
                    &format!("{why}\n"),
                ),
                Some(Ok(body)) => {
                    let body = if method == "HEAD" { "" } else { &body };
                    respond(
                        &mut stream,
                        "200 OK",
                        "text/plain; version=0.0.4; charset=utf-8",
                        body,
                    )
                }
                None => respond(
                    &mut stream,
                    "503 Service Unavailable",
                    "text/plain",
                    "the appliance is stopping\n",
                ),
            }
        }
        ("GET" | "HEAD", "/") => respond(
            &mut stream,
            "200 OK",
            "text/html",
            "<html><body><a href=\"/metrics\">metrics</a></body></html>\n",
        ),
        (_, "/metrics" | "/" | "/-/reload") => {
            respond(&mut stream, "405 Method Not Allowed", "text/plain", "")
        }
        _ => respond(&mut stream, "404 Not Found", "text/plain", "not found\n"),
    }
}

fn respond(stream: &mut TcpStream, status: &str, kind: &str, body: &str) -> io::Result<()> {
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

/// One sample of a scrape.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// Metric name (with `_sum` / `_count` for summaries).
    pub name: String,
    /// Labels, in order.
    pub labels: Vec<(String, String)>,
    /// Value.
    pub value: f64,
}

impl Sample {
    /// The value of label `key`.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// A scrape, parsed.
#[derive(Clone, Debug, Default)]
pub struct Scrape {
    /// Every sample, in order.
    pub samples: Vec<Sample>,
}

impl Scrape {
    /// Parses the text format; a line that does not parse is an error naming it.
    pub fn parse(text: &str) -> Result<Self, ScrapeError> {
        let mut samples = Vec::new();
        for (n, line) in text.lines().enumerate() {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            samples.push(parse_line(line).ok_or_else(|| ScrapeError {
                line: n + 1,
                text: line.to_string(),
            })?);
        }
        Ok(Self { samples })
    }

    /// Every sample of `name`.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples.iter().filter(move |s| s.name == name)
    }

    /// The sum of every sample of `name` whose labels include all of `with`.
    pub fn sum(&self, name: &str, with: &[(&str, &str)]) -> f64 {
        self.all(name)
            .filter(|s| with.iter().all(|(k, v)| s.label(k) == Some(v)))
            .map(|s| s.value)
            .sum()
    }
}

fn parse_line(line: &str) -> Option<Sample> {
    let name_end = line.find(['{', ' '])?;
    let name = line[..name_end].to_string();
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(r) = rest.strip_prefix('{') {
        rest = r;
        loop {
            if let Some(r) = rest.strip_prefix('}') {
                rest = r;
                break;
            }
            rest = rest.strip_prefix(',').unwrap_or(rest);
            let eq = rest.find('=')?;
            let key = rest[..eq].to_string();
            let mut chars = rest[eq + 1..].strip_prefix('"')?.char_indices();
            let mut value = String::new();
            let end = loop {
                match chars.next()? {
                    (i, '"') => break i,
                    (_, '\\') => match chars.next()?.1 {
                        'n' => value.push('\n'),
                        c => value.push(c),
                    },
                    (_, c) => value.push(c),
                }
            };
            rest = &rest[eq + 1..][end + 2..];
            labels.push((key, value));
        }
    }
    let value = rest.split_whitespace().next()?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    Some(Sample {
        name,
        labels,
        value,
    })
}

/// Fetches `/metrics` from `addr` (host:port) and parses it.
pub fn scrape(addr: &str) -> io::Result<Scrape> {
    Scrape::parse(&fetch(addr)?).map_err(io::Error::other)
}

/// Fetches the text of `/metrics` from `addr` (host:port).
pub fn fetch(addr: &str) -> io::Result<String> {
    request(addr, "GET", "/metrics", TIMEOUT * 2)
}

/// Asks the appliance at `addr` to reload its configuration and rules; its answer says what
/// changed, or (as the error) why nothing did.
pub fn reload(addr: &str) -> io::Result<String> {
    request(addr, "POST", "/-/reload", RELOAD_TIMEOUT + TIMEOUT)
}

fn request(addr: &str, method: &str, path: &str, timeout: Duration) -> io::Result<String> {
    let target = addr
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::other(format!("{addr}: no address")))?;
    let mut stream = TcpStream::connect_timeout(&target, TIMEOUT)?;
    stream.set_read_timeout(Some(timeout))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| io::Error::other("no HTTP response"))?;
    let status = head.lines().next().unwrap_or_default();
    if !status.contains(" 200 ") {
        return Err(io::Error::other(format!("{addr}: {status}: {body}")));
    }
    Ok(body.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped_and_read_back() {
        let mut e = Exposition::default();
        e.family("ingest_x_total", "counter", "test");
        e.value(&[("rule", "a \"quoted\" \\ rule\nx"), ("level", "high")], 3);
        e.sample("_count", &[], 2.5);
        let scrape = Scrape::parse(&e.out).unwrap();
        assert_eq!(scrape.samples.len(), 2);
        let s = &scrape.samples[0];
        assert_eq!(s.name, "ingest_x_total");
        assert_eq!(s.label("rule"), Some("a \"quoted\" \\ rule\nx"));
        assert_eq!(s.label("level"), Some("high"));
        assert_eq!(s.value, 3.0);
        assert_eq!(scrape.samples[1].name, "ingest_x_total_count");
        assert_eq!(scrape.sum("ingest_x_total", &[("level", "high")]), 3.0);
        assert!(Scrape::parse("bad{line 1").is_err());
    }

    #[test]
    fn alert_counts_keep_one_series_per_rule_and_learned_kinds_together() {
        let mut a = AlertCounts::default();
        a.add("rule-1", "Rule one", "sigma", "high");
        a.add("rule-1", "Rule one", "sigma", "high");
        a.add("template-7", "New", "new_template", "low");
        a.add("template-9", "New", "new_template", "low");
        let all: Vec<_> = a.iter().map(|(k, n)| (k.rule.as_str(), n)).collect();
        assert_eq!(all, [("new_template", 2), ("rule-1", 2)]);
    }
}
