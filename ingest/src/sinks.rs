//! Alert sinks: where alerts go besides stdout. A JSON-lines file (reopened on SIGHUP, for
//! logrotate), RFC 5424 syslog forwarding to a SIEM over UDP or TCP, and NATS JetStream.
//!
//! Each sink runs on a thread of its own behind a bounded queue. The housekeeping thread never
//! waits for a sink: when a queue is full the alert is dropped and counted for that sink, so a
//! slow or dead sink cannot slow the workers (they never see sinks at all). When a sink cannot
//! deliver (the SIEM is down, the disk is full), the alert goes to the sink's spool file, up to
//! a byte limit, and is replayed in order once delivery works again; the spool survives a
//! restart. Every alert ends in exactly one of: delivered, spooled (then replayed), or a named
//! drop.
//!
//! Syslog over TCP has no acknowledgements: before each write the sink checks whether the peer
//! has closed, which catches a receiver that stopped, but an alert written into the socket
//! buffer just before the peer's host died cannot be known lost. JetStream acknowledges every
//! alert: one not acknowledged in time goes back to the spool and is published again, with its
//! id in `Nats-Msg-Id` so the server keeps one copy (within its duplicate window).

use std::{
    fs::{File, OpenOptions},
    io::{self, BufRead, BufReader, BufWriter, Read, Seek, Write},
    net::{SocketAddr, TcpStream, ToSocketAddrs, UdpSocket},
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
        mpsc::{self, RecvTimeoutError, SyncSender, TrySendError},
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use serde::{Deserialize, Serialize};

/// One alert on its way to the sinks, shared by all of them.
#[derive(Clone, Debug)]
pub struct AlertOut {
    /// Unique across runs (the run's start and a sequence): how a receiver drops duplicates.
    pub id: String,
    /// The alert as one JSON object (no newline).
    pub json: String,
    /// The rule's level (`high`, ...).
    pub level: String,
    /// Syslog severity (0 emergency .. 7 debug), from the rule's level.
    pub severity: u8,
    /// When it was raised.
    pub time: std::time::SystemTime,
    /// For a parsed event rather than an alert: the sending host, as a subject token.
    pub event_host: Option<String>,
}

/// How a syslog sink sends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    /// One datagram per alert.
    Udp,
    /// RFC 6587 octet counting on one connection, reconnected when it breaks.
    #[default]
    Tcp,
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

/// What one sink counted. Written by its thread, read by the metrics.
#[derive(Debug, Default)]
pub struct SinkCounters {
    /// Alerts written to the destination.
    pub delivered: AtomicU64,
    /// Alerts put in the spool because the destination failed.
    pub spooled: AtomicU64,
    /// Spooled alerts delivered later (also counted in `delivered`).
    pub replayed: AtomicU64,
    /// Alerts dropped because the sink's queue was full.
    pub dropped_queue_full: AtomicU64,
    /// Alerts dropped because delivery failed and the spool was full (or there is none).
    pub dropped_undeliverable: AtomicU64,
    /// Failed attempts to deliver (each followed by a reconnect or reopen).
    pub failures: AtomicU64,
    /// Alerts in the spool now.
    pub spool_pending: AtomicU64,
}

/// A snapshot of [`SinkCounters`] with the sink's name.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SinkReport {
    /// The sink's name.
    pub name: String,
    /// Alerts written to the destination.
    pub delivered: u64,
    /// Alerts that went to the spool.
    pub spooled: u64,
    /// Spooled alerts delivered later.
    pub replayed: u64,
    /// Dropped: queue full.
    pub dropped_queue_full: u64,
    /// Dropped: could not deliver and could not spool.
    pub dropped_undeliverable: u64,
    /// Failed delivery attempts.
    pub failures: u64,
    /// Alerts waiting in the spool.
    pub spool_pending: u64,
}

/// Where a sink writes.
trait Destination: Send {
    /// Makes the destination usable (connects, opens); called again after a failure.
    fn open(&mut self) -> io::Result<()>;
    /// Hands one alert over; returns how many alerts (this one or earlier ones) are now
    /// confirmed delivered.
    fn write(&mut self, alert: &AlertOut) -> io::Result<u64>;
    /// Pushes buffered writes out and waits for what is unconfirmed; returns how many were
    /// confirmed.
    fn flush(&mut self) -> io::Result<u64>;
    /// After a failure: the alerts handed over but never confirmed, to be tried again.
    fn unconfirmed(&mut self) -> Vec<AlertOut> {
        Vec::new()
    }
    /// Drops the connection or file so the next `open` starts afresh.
    fn close(&mut self);
}

struct FileDestination {
    path: PathBuf,
    file: Option<BufWriter<File>>,
}

impl Destination for FileDestination {
    fn open(&mut self) -> io::Result<()> {
        let f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        self.file = Some(BufWriter::new(f));
        Ok(())
    }

    fn write(&mut self, alert: &AlertOut) -> io::Result<u64> {
        let f = self.file.as_mut().ok_or_else(closed)?;
        f.write_all(alert.json.as_bytes())?;
        f.write_all(b"\n")?;
        Ok(1)
    }

    fn flush(&mut self) -> io::Result<u64> {
        self.file.as_mut().map_or(Ok(()), Write::flush).map(|()| 0)
    }

    fn close(&mut self) {
        if let Some(mut f) = self.file.take() {
            let _ = f.flush();
        }
    }
}

fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "not open")
}

struct SyslogDestination {
    address: String,
    protocol: Protocol,
    facility: u8,
    hostname: String,
    udp: Option<UdpSocket>,
    tcp: Option<BufWriter<TcpStream>>,
    line: Vec<u8>,
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

impl SyslogDestination {
    fn target(&self) -> io::Result<SocketAddr> {
        self.address
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| io::Error::other(format!("{}: no address", self.address)))
    }

    /// The RFC 5424 message: `<PRI>1 TIMESTAMP HOST ingest - alert - JSON`.
    fn format(&mut self, alert: &AlertOut) {
        let pri = u32::from(self.facility) * 8 + u32::from(alert.severity.min(7));
        let ts = humantime::format_rfc3339_micros(alert.time);
        self.line.clear();
        let _ = write!(
            self.line,
            "<{pri}>1 {ts} {} ingest - alert - {}",
            self.hostname, alert.json
        );
    }
}

impl Destination for SyslogDestination {
    fn open(&mut self) -> io::Result<()> {
        let target = self.target()?;
        match self.protocol {
            Protocol::Udp => {
                let any: SocketAddr = if target.is_ipv4() {
                    "0.0.0.0:0".parse().expect("constant")
                } else {
                    "[::]:0".parse().expect("constant")
                };
                let s = UdpSocket::bind(any)?;
                s.connect(target)?;
                self.udp = Some(s);
            }
            Protocol::Tcp => {
                let s = TcpStream::connect_timeout(&target, CONNECT_TIMEOUT)?;
                s.set_write_timeout(Some(CONNECT_TIMEOUT))?;
                s.set_nodelay(true)?;
                self.tcp = Some(BufWriter::new(s));
            }
        }
        Ok(())
    }

    fn write(&mut self, alert: &AlertOut) -> io::Result<u64> {
        self.format(alert);
        match self.protocol {
            Protocol::Udp => {
                let s = self.udp.as_ref().ok_or_else(closed)?;
                s.send(&self.line).map(|_| 1)
            }
            Protocol::Tcp => {
                let w = self.tcp.as_mut().ok_or_else(closed)?;
                if peer_closed(w.get_ref())? {
                    return Err(io::Error::new(
                        io::ErrorKind::ConnectionReset,
                        "the receiver closed the connection",
                    ));
                }
                write!(w, "{} ", self.line.len())?;
                w.write_all(&self.line)?;
                Ok(1)
            }
        }
    }

    fn flush(&mut self) -> io::Result<u64> {
        self.tcp.as_mut().map_or(Ok(()), Write::flush).map(|()| 0)
    }

    fn close(&mut self) {
        self.udp = None;
        self.tcp = None;
    }
}

/// NATS JetStream: each alert published to `<prefix>.alerts.<level>` with its id as
/// `Nats-Msg-Id`, up to `max_in_flight` awaiting their acknowledgement.
struct NatsDestination {
    servers: String,
    stream: String,
    prefix: String,
    max_in_flight: usize,
    ack_timeout: Duration,
    runtime: tokio::runtime::Runtime,
    jetstream: Option<async_nats::jetstream::Context>,
    in_flight:
        std::collections::VecDeque<(AlertOut, async_nats::jetstream::context::PublishAckFuture)>,
    /// An alert whose acknowledgement failed, until `unconfirmed` takes it.
    failed: Vec<AlertOut>,
}

impl NatsDestination {
    fn new(c: &SinkConfig) -> io::Result<Self> {
        Ok(Self {
            servers: c.address.clone().unwrap_or_default(),
            stream: c.stream.clone(),
            prefix: c.subject_prefix.clone(),
            max_in_flight: c.max_in_flight.max(1),
            ack_timeout: Duration::from_millis(c.ack_timeout_ms.max(1)),
            // The sink's own thread drives it; nothing else runs on it.
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?,
            jetstream: None,
            in_flight: std::collections::VecDeque::new(),
            failed: Vec::new(),
        })
    }

    /// Waits for the oldest acknowledgement.
    fn confirm_oldest(&mut self) -> io::Result<u64> {
        let Some((alert, ack)) = self.in_flight.pop_front() else {
            return Ok(0);
        };
        match self.runtime.block_on(ack.into_future()) {
            Ok(_) => Ok(1),
            Err(e) => {
                self.failed.push(alert);
                Err(io::Error::other(format!("no acknowledgement: {e}")))
            }
        }
    }
}

impl Destination for NatsDestination {
    fn open(&mut self) -> io::Result<()> {
        use async_nats::jetstream::stream;
        let servers: Vec<async_nats::ServerAddr> = self
            .servers
            .split(',')
            .map(|s| s.trim().parse())
            .collect::<Result<_, _>>()
            .map_err(|e| io::Error::other(format!("{}: {e}", self.servers)))?;
        let config = stream::Config {
            name: self.stream.clone(),
            subjects: vec![format!("{}.>", self.prefix)],
            storage: stream::StorageType::File,
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        };
        let ack_timeout = self.ack_timeout;
        let jetstream = self.runtime.block_on(async move {
            let client = async_nats::ConnectOptions::new()
                .connection_timeout(CONNECT_TIMEOUT)
                .connect(servers)
                .await
                .map_err(io::Error::other)?;
            let mut js = async_nats::jetstream::new(client);
            js.set_timeout(ack_timeout);
            js.get_or_create_stream(config)
                .await
                .map_err(|e| io::Error::other(format!("stream: {e}")))?;
            io::Result::Ok(js)
        })?;
        self.jetstream = Some(jetstream);
        Ok(())
    }

    fn write(&mut self, alert: &AlertOut) -> io::Result<u64> {
        let mut confirmed = 0;
        while self.in_flight.len() >= self.max_in_flight {
            confirmed += self.confirm_oldest()?;
        }
        let js = self.jetstream.as_ref().ok_or_else(closed)?;
        let subject = match &alert.event_host {
            Some(host) => format!("{}.events.{host}", self.prefix),
            None => format!("{}.alerts.{}", self.prefix, alert.level),
        };
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", alert.id.as_str());
        let payload = alert.json.clone().into_bytes().into();
        let ack = self
            .runtime
            .block_on(js.publish_with_headers(subject, headers, payload))
            .map_err(|e| io::Error::other(format!("publishing: {e}")))?;
        self.in_flight.push_back((alert.clone(), ack));
        Ok(confirmed)
    }

    fn flush(&mut self) -> io::Result<u64> {
        let mut confirmed = 0;
        while !self.in_flight.is_empty() {
            confirmed += self.confirm_oldest()?;
        }
        Ok(confirmed)
    }

    fn unconfirmed(&mut self) -> Vec<AlertOut> {
        let mut all = std::mem::take(&mut self.failed);
        all.extend(self.in_flight.drain(..).map(|(a, _)| a));
        all
    }

    fn close(&mut self) {
        // Dropping the context closes the client once nothing else holds it. The sink took
        // what was unconfirmed before.
        self.jetstream = None;
    }
}

/// Whether the peer of `s` has closed its side (a read would return end of file), without
/// blocking. Data the receiver sends back is read and ignored.
fn peer_closed(s: &TcpStream) -> io::Result<bool> {
    s.set_nonblocking(true)?;
    let mut buf = [0u8; 512];
    let result = loop {
        match (&*s).read(&mut buf) {
            Ok(0) => break Ok(true),
            Ok(_) => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break Ok(false),
            Err(e) => break Err(e),
        }
    };
    s.set_nonblocking(false)?;
    result
}

/// Alerts that could not be delivered yet: one JSON line each (with its severity and time) in
/// a file, replayed from the front.
struct Spool {
    path: PathBuf,
    max_bytes: u64,
    len_bytes: u64,
    pending: u64,
}

#[derive(Serialize, Deserialize)]
struct SpooledAlert {
    #[serde(default)]
    id: String,
    #[serde(default)]
    level: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    event_host: Option<String>,
    severity: u8,
    time_us: u64,
    json: String,
}

impl Spool {
    fn open(path: PathBuf, max_bytes: u64) -> io::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut spool = Self {
            path,
            max_bytes,
            len_bytes: 0,
            pending: 0,
        };
        // Alerts left from an earlier run are replayed first.
        if let Ok(f) = File::open(&spool.path) {
            spool.len_bytes = f.metadata()?.len();
            spool.pending = BufReader::new(f).lines().count() as u64;
        }
        Ok(spool)
    }

    fn is_empty(&self) -> bool {
        self.pending == 0
    }

    /// Appends `alert`; `false` when it does not fit.
    fn push(&mut self, alert: &AlertOut) -> io::Result<bool> {
        let time_us = alert
            .time
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        let mut line = serde_json::to_vec(&SpooledAlert {
            id: alert.id.clone(),
            level: alert.level.clone(),
            event_host: alert.event_host.clone(),
            severity: alert.severity,
            time_us,
            json: alert.json.clone(),
        })
        .map_err(io::Error::other)?;
        line.push(b'\n');
        if self.len_bytes + line.len() as u64 > self.max_bytes {
            return Ok(false);
        }
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        f.write_all(&line)?;
        self.len_bytes += line.len() as u64;
        self.pending += 1;
        Ok(true)
    }

    /// Delivers spooled alerts in order through `deliver` until it fails or the spool is empty;
    /// returns how many went out. What was delivered leaves the file.
    fn replay(&mut self, mut deliver: impl FnMut(&AlertOut) -> io::Result<()>) -> io::Result<u64> {
        let mut f = File::open(&self.path)?;
        let mut reader = BufReader::new(&mut f);
        let mut done_bytes = 0u64;
        let mut sent = 0;
        let mut line = String::new();
        let mut failed = None;
        loop {
            line.clear();
            if reader.read_line(&mut line)? == 0 {
                break;
            }
            let alert = match serde_json::from_str::<SpooledAlert>(line.trim_end()) {
                Ok(s) => AlertOut {
                    id: s.id,
                    json: s.json,
                    level: s.level,
                    event_host: s.event_host,
                    severity: s.severity,
                    time: std::time::UNIX_EPOCH + Duration::from_micros(s.time_us),
                },
                // A torn last line (a crash mid-write) is skipped, not replayed as garbage.
                Err(_) => {
                    done_bytes += line.len() as u64;
                    self.pending = self.pending.saturating_sub(1);
                    continue;
                }
            };
            if let Err(e) = deliver(&alert) {
                failed = Some(e);
                break;
            }
            done_bytes += line.len() as u64;
            sent += 1;
            self.pending = self.pending.saturating_sub(1);
        }
        // Keep what is left: copy the rest to the front of the file.
        reader.seek(io::SeekFrom::Start(done_bytes))?;
        let mut rest = Vec::new();
        reader.read_to_end(&mut rest)?;
        drop(reader);
        std::fs::write(&self.path, &rest)?;
        self.len_bytes = rest.len() as u64;
        if rest.is_empty() {
            self.pending = 0;
        }
        match failed {
            Some(e) if sent == 0 => Err(e),
            _ => Ok(sent),
        }
    }
}

/// How long a failed sink waits before trying again, at first and at most.
const RETRY_MIN: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(5);

struct SinkThread {
    name: String,
    destination: Box<dyn Destination>,
    spool: Option<Spool>,
    counters: Arc<SinkCounters>,
    up: bool,
    retry_at: Instant,
    retry: Duration,
}

enum Command {
    Alert(Arc<AlertOut>),
    Reopen,
}

impl SinkThread {
    fn run(mut self, rx: mpsc::Receiver<Command>) {
        self.try_open();
        loop {
            let wait = if self.up && self.spool.as_ref().is_none_or(Spool::is_empty) {
                Duration::from_secs(1)
            } else {
                self.retry_at
                    .saturating_duration_since(Instant::now())
                    .max(Duration::from_millis(1))
            };
            match rx.recv_timeout(wait) {
                Ok(Command::Alert(a)) => {
                    self.handle(&a);
                    // Whatever else is queued, then one flush.
                    while let Ok(cmd) = rx.try_recv() {
                        match cmd {
                            Command::Alert(a) => self.handle(&a),
                            Command::Reopen => self.reopen(),
                        }
                    }
                    self.flush();
                }
                Ok(Command::Reopen) => self.reopen(),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    self.flush();
                    self.close_destination();
                    return;
                }
            }
            if !self.up && Instant::now() >= self.retry_at {
                self.try_open();
            }
            if self.up {
                self.replay();
            }
        }
    }

    fn try_open(&mut self) {
        match self.destination.open() {
            Ok(()) => {
                self.up = true;
                self.retry = RETRY_MIN;
            }
            Err(e) => self.failed(&e),
        }
    }

    fn failed(&mut self, e: &io::Error) {
        if self.up || self.retry == RETRY_MIN {
            log::warn!("alert sink {}: {e}; retrying", self.name);
        }
        self.counters.failures.fetch_add(1, Ordering::Relaxed);
        self.close_destination();
        self.up = false;
        self.retry_at = Instant::now() + self.retry;
        self.retry = (self.retry * 2).min(RETRY_MAX);
    }

    fn reopen(&mut self) {
        self.flush();
        self.close_destination();
        self.try_open();
    }

    /// Closes the destination; what it was handed but never confirmed is tried again later,
    /// after what waits in the spool already.
    fn close_destination(&mut self) {
        for alert in self.destination.unconfirmed() {
            self.spool_or_drop(&alert);
        }
        self.destination.close();
    }

    fn handle(&mut self, alert: &AlertOut) {
        // Order is kept: while anything waits in the spool, new alerts queue behind it.
        let spooling = self.spool.as_ref().is_some_and(|s| !s.is_empty());
        if self.up && !spooling {
            match self.destination.write(alert) {
                Ok(confirmed) => {
                    self.counters
                        .delivered
                        .fetch_add(confirmed, Ordering::Relaxed);
                    return;
                }
                Err(e) => self.failed(&e),
            }
        }
        self.spool_or_drop(alert);
    }

    fn spool_or_drop(&mut self, alert: &AlertOut) {
        let spooled = match &mut self.spool {
            Some(s) => s.push(alert).unwrap_or_else(|e| {
                log::warn!("alert sink {}: spooling failed: {e}", self.name);
                false
            }),
            None => false,
        };
        let c = &self.counters;
        if spooled {
            c.spooled.fetch_add(1, Ordering::Relaxed);
        } else {
            c.dropped_undeliverable.fetch_add(1, Ordering::Relaxed);
        }
        self.publish_pending();
    }

    fn flush(&mut self) {
        if !self.up {
            return;
        }
        match self.destination.flush() {
            Ok(confirmed) => {
                self.counters
                    .delivered
                    .fetch_add(confirmed, Ordering::Relaxed);
            }
            Err(e) => self.failed(&e),
        }
    }

    fn replay(&mut self) {
        let Some(spool) = &mut self.spool else {
            return;
        };
        if spool.is_empty() {
            return;
        }
        let destination = &mut self.destination;
        let mut confirmed = 0;
        let replayed = spool.replay(|a| {
            confirmed += destination.write(a)?;
            Ok(())
        });
        if let Ok(n) = replayed {
            self.counters.replayed.fetch_add(n, Ordering::Relaxed);
            if n > 0 {
                log::info!("alert sink {}: {n} spooled alerts sent again", self.name);
            }
        }
        self.counters
            .delivered
            .fetch_add(confirmed, Ordering::Relaxed);
        match replayed {
            Ok(_) => self.flush(),
            Err(e) => self.failed(&e),
        }
        self.publish_pending();
    }

    fn publish_pending(&self) {
        let pending = self.spool.as_ref().map_or(0, |s| s.pending);
        self.counters
            .spool_pending
            .store(pending, Ordering::Relaxed);
    }
}

/// A running sink, as the housekeeping thread sees it.
#[derive(Debug)]
struct SinkHandle {
    name: String,
    /// Takes parsed events, not alerts.
    events: bool,
    tx: Option<SyncSender<Command>>,
    counters: Arc<SinkCounters>,
    join: Option<JoinHandle<()>>,
}

/// Every configured sink.
#[derive(Debug, Default)]
pub struct Sinks {
    sinks: Vec<SinkHandle>,
}

impl Sinks {
    /// Starts a thread for each sink. Fails only when a spool cannot be opened.
    pub fn start(configs: &[SinkConfig]) -> io::Result<Self> {
        let hostname = nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "-".into());
        let mut sinks = Vec::new();
        let mut plans = Vec::new();
        for (i, c) in configs.iter().enumerate() {
            let kind = match c.kind {
                SinkKind::File => "file",
                SinkKind::Syslog => "syslog",
                SinkKind::Nats => "nats",
            };
            let name = c.name.clone().unwrap_or_else(|| format!("{kind}-{i}"));
            if c.events {
                plans.push((format!("{name}-events"), c, true));
            }
            plans.push((name, c, false));
        }
        for (name, c, events) in plans {
            let destination: Box<dyn Destination> = match c.kind {
                SinkKind::File => Box::new(FileDestination {
                    path: c.path.clone().unwrap_or_default(),
                    file: None,
                }),
                SinkKind::Syslog => Box::new(SyslogDestination {
                    address: c.address.clone().unwrap_or_default(),
                    protocol: c.protocol,
                    facility: c.facility,
                    hostname: hostname.clone(),
                    udp: None,
                    tcp: None,
                    line: Vec::new(),
                }),
                SinkKind::Nats => Box::new(NatsDestination::new(c)?),
            };
            let spool = c
                .spool_dir
                .as_ref()
                .map(|dir| Spool::open(spool_path(dir, &name), c.spool_max_bytes))
                .transpose()
                .map_err(|e| io::Error::new(e.kind(), format!("sink {name}: spool: {e}")))?;
            let counters = Arc::new(SinkCounters::default());
            if let Some(s) = &spool {
                counters.spool_pending.store(s.pending, Ordering::Relaxed);
            }
            let (tx, rx) = mpsc::sync_channel(c.queue.max(1));
            let thread = SinkThread {
                name: name.clone(),
                destination,
                spool,
                counters: counters.clone(),
                up: false,
                retry_at: Instant::now(),
                retry: RETRY_MIN,
            };
            let join = std::thread::Builder::new()
                .name(format!("sink-{name}"))
                .spawn(move || thread.run(rx))?;
            sinks.push(SinkHandle {
                name,
                events,
                tx: Some(tx),
                counters,
                join: Some(join),
            });
        }
        Ok(Self { sinks })
    }

    /// Hands `alert` to every sink without waiting; a full queue drops it for that sink.
    pub fn send(&self, alert: &Arc<AlertOut>) {
        for s in &self.sinks {
            if s.events != alert.event_host.is_some() {
                continue;
            }
            let Some(tx) = &s.tx else { continue };
            match tx.try_send(Command::Alert(alert.clone())) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                    s.counters
                        .dropped_queue_full
                        .fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    /// Reopens file sinks and reconnects the others (SIGHUP, after logrotate moved the file).
    pub fn reopen(&self) {
        for s in &self.sinks {
            if let Some(tx) = &s.tx
                && tx.try_send(Command::Reopen).is_err()
            {
                log::warn!("alert sink {}: queue full, not reopened", s.name);
            }
        }
    }

    /// Whether there are any.
    pub fn is_empty(&self) -> bool {
        self.sinks.is_empty()
    }

    /// Whether any sink takes parsed events.
    pub fn want_events(&self) -> bool {
        self.sinks.iter().any(|s| s.events)
    }

    /// Every sink's counters now.
    pub fn reports(&self) -> Vec<SinkReport> {
        self.sinks
            .iter()
            .map(|s| {
                let c = &s.counters;
                let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
                SinkReport {
                    name: s.name.clone(),
                    delivered: get(&c.delivered),
                    spooled: get(&c.spooled),
                    replayed: get(&c.replayed),
                    dropped_queue_full: get(&c.dropped_queue_full),
                    dropped_undeliverable: get(&c.dropped_undeliverable),
                    failures: get(&c.failures),
                    spool_pending: get(&c.spool_pending),
                }
            })
            .collect()
    }

    /// Delivers what is queued (waiting up to `timeout` in all), stops every sink thread, and
    /// returns the final counters. Whatever a sink could not deliver stays in its spool.
    pub fn close(mut self, timeout: Duration) -> Vec<SinkReport> {
        for s in &mut self.sinks {
            s.tx = None;
        }
        let deadline = Instant::now() + timeout;
        for s in &mut self.sinks {
            while s.join.as_ref().is_some_and(|j| !j.is_finished()) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            match s.join.take() {
                Some(j) if j.is_finished() => {
                    let _ = j.join();
                }
                Some(_) => log::warn!("alert sink {}: still busy at exit", s.name),
                None => {}
            }
        }
        self.reports()
    }
}

/// The spool file a sink named `name` uses in `dir`.
pub fn spool_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.spool"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(n: u32) -> AlertOut {
        AlertOut {
            id: format!("test-{n}"),
            json: format!("{{\"n\":{n}}}"),
            level: "high".into(),
            event_host: None,
            severity: 3,
            time: std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        }
    }

    /// A folder for one test; removed when dropped, also when an assertion fails.
    struct Temp(PathBuf);

    impl Drop for Temp {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn temp(name: &str) -> Temp {
        let dir = std::env::temp_dir().join(format!("ingest-sinks-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Temp(dir)
    }

    #[test]
    fn the_spool_replays_in_order_keeps_the_rest_and_respects_its_limit() {
        let tmp = temp("spool");
        let path = spool_path(&tmp.0, "s");
        let mut spool = Spool::open(path.clone(), 500).unwrap();
        let mut kept = 0;
        for n in 0..10 {
            if spool.push(&alert(n)).unwrap() {
                kept += 1;
            }
        }
        assert!((3..10).contains(&kept), "the byte limit stops it: {kept}");
        assert_eq!(spool.pending, kept);
        // Delivery fails after two: those two leave, the rest stays, in order.
        let mut seen = Vec::new();
        let n = spool
            .replay(|a| {
                if seen.len() == 2 {
                    return Err(io::Error::other("down"));
                }
                seen.push(a.json.clone());
                Ok(())
            })
            .unwrap();
        assert_eq!(
            (n, seen.as_slice()),
            (2, &["{\"n\":0}".to_string(), "{\"n\":1}".into()][..])
        );
        assert_eq!(spool.pending, kept - 2);
        // A restart finds what is left.
        let mut again = Spool::open(path, 500).unwrap();
        assert_eq!(again.pending, kept - 2);
        let mut rest = Vec::new();
        again
            .replay(|a| {
                rest.push(a.json.clone());
                assert_eq!(a.time, alert(0).time);
                Ok(())
            })
            .unwrap();
        assert_eq!(rest.first().map(String::as_str), Some("{\"n\":2}"));
        assert!(again.is_empty());
    }

    #[test]
    fn a_file_sink_appends_lines_and_reopens_after_rotation() {
        let tmp = temp("file");
        let dir = &tmp.0;
        let path = dir.join("alerts.jsonl");
        let config: SinkConfig = toml::from_str(&format!(
            "kind = \"file\"\npath = \"{}\"\nqueue = 16\n",
            path.display()
        ))
        .unwrap();
        let sinks = Sinks::start(&[config]).unwrap();
        sinks.send(&Arc::new(alert(1)));
        // logrotate: move the file away, then SIGHUP.
        let wait_for = |p: &Path, lines: usize| {
            for _ in 0..200 {
                if std::fs::read_to_string(p).is_ok_and(|t| t.lines().count() == lines) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            panic!("{} never had {lines} lines", p.display());
        };
        wait_for(&path, 1);
        std::fs::rename(&path, dir.join("alerts.jsonl.1")).unwrap();
        sinks.reopen();
        sinks.send(&Arc::new(alert(2)));
        let reports = sinks.close(Duration::from_secs(5));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"n\":2}\n");
        assert_eq!(
            std::fs::read_to_string(dir.join("alerts.jsonl.1")).unwrap(),
            "{\"n\":1}\n"
        );
        assert_eq!(reports[0].name, "file-0");
        assert_eq!(reports[0].delivered, 2);
    }

    #[test]
    fn an_unwritable_file_sink_spools_then_drops_and_counts_all() {
        let tmp = temp("unwritable");
        let dir = &tmp.0;
        // A folder cannot be opened for appending.
        let config: SinkConfig = toml::from_str(&format!(
            "kind = \"file\"\nname = \"audit\"\npath = \"{}\"\nqueue = 64\n\
             spool_dir = \"{}\"\nspool_max_bytes = 600\n",
            dir.display(),
            dir.join("spool").display()
        ))
        .unwrap();
        let sinks = Sinks::start(&[config]).unwrap();
        for n in 0..20 {
            sinks.send(&Arc::new(alert(n)));
        }
        let r = sinks.close(Duration::from_secs(5)).remove(0);
        assert_eq!(r.delivered, 0);
        assert!(r.spooled > 0 && r.dropped_undeliverable > 0, "{r:?}");
        assert_eq!(r.spooled + r.dropped_undeliverable, 20, "{r:?}");
        assert_eq!(r.spool_pending, r.spooled);
        assert!(r.failures >= 1);
    }

    #[test]
    fn syslog_lines_are_rfc5424_with_the_level_as_severity() {
        let mut d = SyslogDestination {
            address: "198.18.0.1:514".into(),
            protocol: Protocol::Udp,
            facility: 13,
            hostname: "sensor1".into(),
            udp: None,
            tcp: None,
            line: Vec::new(),
        };
        d.format(&alert(7));
        assert_eq!(
            String::from_utf8(d.line.clone()).unwrap(),
            "<107>1 2023-11-14T22:13:20.000000Z sensor1 ingest - alert - {\"n\":7}"
        );
        let parsed = detector::parse::parse(&d.line, &detector::parse::ParseOptions::default());
        assert_eq!(parsed.error, None);
        assert_eq!(parsed.app, Some(&b"ingest"[..]));
    }

    #[test]
    fn bad_sink_configs_are_named() {
        let c: SinkConfig = toml::from_str("kind = \"syslog\"\nfacility = 30\nqueue = 0").unwrap();
        let keys: Vec<&str> = c.problems().iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, ["address", "facility", "queue"]);
        let c: SinkConfig = toml::from_str("kind = \"file\"\npath = \"x\"\nevents = true").unwrap();
        let keys: Vec<&str> = c.problems().iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, ["events"]);
        let c: SinkConfig =
            toml::from_str("kind = \"nats\"\naddress = \"nats://h:4222\"\nstream = \"a.b\"")
                .unwrap();
        let keys: Vec<&str> = c.problems().iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, ["stream"]);
        assert!(toml::from_str::<SinkConfig>("kind = \"kafka\"").is_err());
        assert!(toml::from_str::<SinkConfig>("kind = \"file\"\npaht = \"x\"").is_err());
    }
}
