//! The running appliance: the XDP program, one pinned worker per queue, the kernel socket path,
//! and the housekeeping loop on the calling thread that drains the workers' output rings, watches
//! limits, and at the end merges every counter into one [`Report`].
//!
//! Accounting: every log datagram that reached the interface is either a message one of the
//! paths received ([`Report::messages_received_total`]) or one of the named drops in
//! [`Report::drops`]. The XDP program's pass decisions are in [`Report::xdp`]: those packets went
//! to the kernel, where the socket path receives the ones addressed to a log port.

use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
        mpsc,
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use detector::engine::{
    Blueprint, Engine, EngineOptions, EngineStats, Rules, TOP_SOURCES_SAMPLE, source_of_key,
};
use hdrhistogram::Histogram;

use crate::{
    filter::SourceFilter,
    frame::FrameError,
    live::{self, SlowStats, StatsPublisher, StatsReader, WorkerStats, XdpSourceReport},
    pipeline::{
        EngineSwapHandle, Inbox, NewEngine, Parsing, Pipeline, PipelineCounters, Sample, Stage,
        StageLatency, WorkerAlert, engine_swap, latency_histogram, outbox,
    },
    socket::{SocketSource, TcpCounters, TcpOptions, UdpCounters},
    sys::{
        cpu,
        udp::UdpKernelDrops,
        xsk::{BindMode, BusyPollStatus, XskOptions, XskQueue},
    },
    worker::{self, Mode, Source, Waiting, XdpSource},
    xdp::{AttachMode, AttachRequest, XdpCounters, XdpError, XdpSteering},
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

/// Why the daemon could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The options are inconsistent.
    #[error("invalid options: {0}")]
    Options(String),
    /// Loading, attaching or configuring the XDP program.
    #[error(transparent)]
    Xdp(#[from] XdpError),
    /// A worker could not set up its socket.
    #[error("worker {worker}: {message}")]
    Worker {
        /// Worker index.
        worker: usize,
        /// What went wrong.
        message: String,
    },
}

/// What a worker says once it is ready (in the `ready` line and the report).
#[derive(Clone, Debug, serde::Serialize)]
pub struct WorkerInfo {
    /// Index.
    pub worker: usize,
    /// `xdp` or `socket`.
    pub kind: &'static str,
    /// Receive queue (AF_XDP workers).
    pub queue: Option<u32>,
    /// CPUs it is pinned to.
    pub cpus: Vec<usize>,
    /// Whether pinning worked (`"ok"`, else the error).
    #[serde(serialize_with = "crate::sys::serialize_outcome")]
    pub pinned: crate::sys::Outcome,
    /// How it waits.
    pub mode: Mode,
    /// AF_XDP bind mode.
    pub bind_mode: Option<BindMode>,
    /// Whether the UMEM is on huge pages.
    pub hugepages: Option<bool>,
    /// Busy-poll socket options, in busy-poll mode.
    pub busy_poll: Option<BusyPollStatus>,
    /// UDP receive buffer granted (socket workers).
    pub udp_rcvbuf: Option<usize>,
    /// Whether it serves TCP.
    pub tcp: bool,
}

/// What a worker hands back when it ends.
#[derive(Debug)]
struct WorkerEnd {
    stats: WorkerStats,
    slow: SlowStats,
    /// What it recorded since it last handed its histograms over.
    latency: StageLatency,
    error: Option<String>,
}

struct Worker {
    /// Whether it reads an AF_XDP socket (else kernel sockets).
    xdp: bool,
    join: Option<JoinHandle<WorkerEnd>>,
    inbox: Inbox,
    stats: StatsReader,
    swap: EngineSwapHandle,
}

/// A started appliance.
pub struct Daemon {
    opts: Options,
    mode: Mode,
    workers: Vec<Worker>,
    /// The XDP program, detached first at shutdown (see [`Daemon::shutdown`]).
    steering: Option<XdpSteering>,
    /// The mode it was attached in (kept after the detach, for the report).
    attach_mode: Option<AttachMode>,
    infos: Vec<WorkerInfo>,
    /// Tells the AF_XDP workers to drain their rings and end.
    stop_xdp: Arc<AtomicBool>,
    /// Tells the socket workers to drain their sockets and end (after the AF_XDP workers).
    stop_socket: Arc<AtomicBool>,
    udp_before: UdpKernelDrops,
    /// The interface's `rx_otherhost_dropped` at start.
    otherhost_before: u64,
    /// Latency samples the workers have handed over so far.
    latency: LatencyTotals,
}

/// The latency samples the workers handed over: all since start, and the recent ones.
#[derive(Debug)]
struct LatencyTotals {
    all: StageLatency,
    /// The current window and the one before (XDP hook to detected): together the last 30 to 60
    /// seconds.
    recent: [Histogram<u64>; 2],
    rotated: Instant,
}

impl LatencyTotals {
    const WINDOW: Duration = Duration::from_secs(30);

    fn new() -> Self {
        Self {
            all: StageLatency::default(),
            recent: [latency_histogram(), latency_histogram()],
            rotated: Instant::now(),
        }
    }

    fn add(&mut self, h: &StageLatency) {
        if self.rotated.elapsed() >= Self::WINDOW {
            self.recent.swap(0, 1);
            self.recent[0].reset();
            self.rotated = Instant::now();
        }
        self.all.add(h);
        // Same bounds everywhere: adding cannot fail.
        let _ = self.recent[0].add(h.histogram(Stage::Detected));
    }

    fn recent(&self) -> Histogram<u64> {
        let mut h = self.recent[0].clone();
        let _ = h.add(&self.recent[1]);
        h
    }
}

impl std::fmt::Debug for Daemon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Daemon")
            .field("mode", &self.mode)
            .field("workers", &self.infos)
            .finish_non_exhaustive()
    }
}

/// Where the housekeeping loop puts what workers send out.
pub trait OutputSink {
    /// One alert from a worker's alert ring.
    fn on_alert(&mut self, alert: WorkerAlert);
    /// One copy of a message from a worker's sample ring (when printing).
    fn on_sample(&mut self, sample: Sample);
    /// The end of a round of draining: the place to flush.
    fn flush(&mut self) {}
    /// Every round of the housekeeping loop (about every millisecond when idle): the place to
    /// answer requests for the live counters.
    fn on_round(&mut self, _live: &mut Live<'_>) {}
}

/// Hands everything in `inbox` to `sink`; returns how many items there were.
fn drain(inbox: &mut Inbox, sink: &mut impl OutputSink) -> usize {
    let mut moved = 0;
    while let Ok(alert) = inbox.alerts.pop() {
        sink.on_alert(alert);
        moved += 1;
    }
    while let Ok(sample) = inbox.samples.pop() {
        sink.on_sample(sample);
        moved += 1;
    }
    moved
}

/// The running appliance's counters, as the housekeeping loop can read them between rounds.
#[derive(Debug)]
pub struct Live<'a> {
    daemon: &'a mut Daemon,
}

impl Live<'_> {
    /// Every counter now, as in the final report.
    pub fn report(&mut self) -> Result<Report, DaemonError> {
        let stats: Vec<(WorkerStats, SlowStats)> = self
            .daemon
            .workers
            .iter_mut()
            .map(|w| (*w.stats.read(), *w.stats.read_slow()))
            .collect();
        self.daemon.report_from(&stats, Vec::new())
    }

    /// Hands every worker a new engine, `make(worker)`, for rule set `generation`. Each worker
    /// puts it in place between two batches, so no message is skipped or seen by neither; until
    /// then it keeps detecting with the old one. Refused (nothing handed over) while an earlier
    /// replacement has not been taken up by every worker.
    pub fn replace_engines(
        &mut self,
        generation: u32,
        make: impl Fn(usize) -> Box<Engine>,
    ) -> Result<(), SwapError> {
        if self
            .daemon
            .workers
            .iter()
            .any(|w| w.swap.incoming.slots() == 0)
        {
            return Err(SwapError::Busy);
        }
        for (i, w) in self.daemon.workers.iter_mut().enumerate() {
            let new = NewEngine {
                generation,
                engine: make(i),
            };
            if w.swap.incoming.push(new).is_err() {
                return Err(SwapError::Taken(i));
            }
        }
        Ok(())
    }

    /// The rule set generation each worker detects with now.
    pub fn generations(&mut self) -> Vec<u32> {
        self.daemon
            .workers
            .iter_mut()
            .map(|w| w.stats.read().generation)
            .collect()
    }
}

/// Why new engines were not handed over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SwapError {
    /// Some worker has not taken up the previous ones yet.
    #[error("the previous reload has not been taken up by every worker yet")]
    Busy,
    /// A worker's swap slot was taken after all (by another caller).
    #[error("worker {0}: its swap slot is taken")]
    Taken(usize),
}

/// When to stop, besides the stop flag.
#[derive(Clone, Copy, Debug, Default)]
pub struct Limits {
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Stop after this many messages, all paths.
    pub max_messages: Option<u64>,
}

impl Daemon {
    /// Attaches XDP (XDP backend), starts every worker, and returns once all are receiving. The
    /// workers detect nothing: no rules, no learning.
    pub fn start(opts: Options) -> Result<Self, DaemonError> {
        let none = Blueprint::new(
            &Rules::default(),
            EngineOptions {
                budget_bytes: 1 << 20,
                ..EngineOptions::default()
            },
        );
        Self::start_with(opts, |_| Box::new(none.engine()))
    }

    /// As [`Daemon::start`], with `engine(worker)` making each worker's engine (with its
    /// share of the per-source state).
    pub fn start_with(
        opts: Options,
        engine: impl Fn(usize) -> Box<Engine>,
    ) -> Result<Self, DaemonError> {
        opts.validate()?;
        let mode = opts.resolved_mode();
        if let Err(e) = cpu::pin_current_thread(&opts.housekeeping_cpus) {
            log::warn!(
                "pinning housekeeping to CPUs {:?} failed: {e}",
                opts.housekeeping_cpus
            );
        }
        // Loaded with its ports and source filter, not attached: until every socket is in place,
        // log packets go to the kernel, whose socket path starts below with the same filter.
        let mut steering = match opts.backend {
            Backend::Xdp => Some(XdpSteering::load(&opts.iface, &opts.ports, &opts.sources)?),
            Backend::Socket => None,
        };
        let udp_before = UdpKernelDrops::read().unwrap_or_default();
        let otherhost_before = crate::sys::iface_otherhost_dropped(&opts.iface);
        let stop_xdp = Arc::new(AtomicBool::new(false));
        let stop_socket = Arc::new(AtomicBool::new(false));
        let mut daemon = Self {
            mode,
            workers: Vec::new(),
            steering: None,
            attach_mode: None,
            infos: Vec::new(),
            stop_xdp: stop_xdp.clone(),
            stop_socket: stop_socket.clone(),
            udp_before,
            otherhost_before,
            latency: LatencyTotals::new(),
            opts: opts.clone(),
        };

        let (ready_tx, ready_rx) = mpsc::channel();
        let mut plans = Vec::new();
        for (i, &queue) in opts.queues.iter().enumerate() {
            let cpus = vec![opts.worker_cpus[i % opts.worker_cpus.len()]];
            plans.push(match opts.backend {
                Backend::Xdp => (Plan::Xdp(queue), cpus, mode),
                Backend::Socket => (
                    Plan::Socket {
                        tcp: opts.tcp && i == 0,
                    },
                    cpus,
                    mode,
                ),
            });
        }
        if opts.backend == Backend::Xdp {
            // Fragments and queues without a socket reach the kernel: this worker takes them.
            plans.push((
                Plan::Socket { tcp: opts.tcp },
                opts.housekeeping_cpus.clone(),
                Mode::Poll,
            ));
        }
        for (worker, (plan, cpus, mode)) in plans.into_iter().enumerate() {
            let (out, inbox) = outbox(opts.alert_ring, opts.output_ring);
            let (publisher, reader) = live::channel();
            let (swap, swap_handle) = engine_swap();
            let pipeline = Pipeline::new(worker, opts.print, engine(worker), out)
                .with_parsing(opts.parsing.clone())
                .with_swap(swap);
            let spec = WorkerSpec {
                worker,
                cpus,
                mode,
                stop: match plan {
                    Plan::Xdp(_) => stop_xdp.clone(),
                    Plan::Socket { .. } => stop_socket.clone(),
                },
                plan,
                opts: opts.clone(),
                ready: ready_tx.clone(),
            };
            let xdp = matches!(spec.plan, Plan::Xdp(_));
            // Named by what they do, for `top -H` and `perf`.
            let name = match spec.plan {
                Plan::Xdp(queue) => format!("xdp-q{queue}"),
                Plan::Socket { .. } => format!("sock-w{worker}"),
            };
            let join = std::thread::Builder::new()
                .name(name)
                .spawn(move || spec.run(pipeline, publisher))
                .expect("spawning a worker thread");
            daemon.workers.push(Worker {
                xdp,
                join: Some(join),
                inbox,
                stats: reader,
                swap: swap_handle,
            });
        }
        drop(ready_tx);

        let mut infos = Vec::new();
        for _ in 0..daemon.workers.len() {
            match ready_rx.recv_timeout(Duration::from_secs(30)) {
                Ok(Ready::Up { info, xsk_fd }) => {
                    if let (Some(fd), Some(queue), Some(s)) = (xsk_fd, info.queue, &mut steering)
                        && let Err(e) = s.register_socket(queue, fd)
                    {
                        daemon.shutdown();
                        return Err(e.into());
                    }
                    infos.push(info);
                }
                Ok(Ready::Failed { worker, message }) => {
                    daemon.shutdown();
                    return Err(DaemonError::Worker { worker, message });
                }
                Err(_) => {
                    daemon.shutdown();
                    return Err(DaemonError::Worker {
                        worker: infos.len(),
                        message: "did not start within 30 s".into(),
                    });
                }
            }
        }
        infos.sort_by_key(|i| i.worker);
        daemon.infos = infos;
        // Every socket is in the XSKMAP and the socket path is receiving: now steer.
        if let Some(s) = &mut steering {
            match s.attach(opts.attach) {
                Ok(mode) => daemon.attach_mode = Some(mode),
                Err(e) => {
                    daemon.shutdown();
                    return Err(e.into());
                }
            }
        }
        daemon.steering = steering;
        Ok(daemon)
    }

    /// The XDP attach mode, XDP backend.
    pub fn attach_mode(&self) -> Option<AttachMode> {
        self.attach_mode
    }

    /// Every worker as it started.
    pub fn workers(&self) -> &[WorkerInfo] {
        &self.infos
    }

    /// The mode workers run in.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The housekeeping loop: hands every worker output to `sink` until `stop` is set or a
    /// limit is reached, then stops the workers, drains what they left, and reports.
    pub fn run(
        mut self,
        stop: &AtomicBool,
        limits: Limits,
        sink: &mut impl OutputSink,
    ) -> Result<Report, DaemonError> {
        let deadline = limits.duration.map(|d| Instant::now() + d);
        loop {
            let mut moved = 0;
            for w in &mut self.workers {
                moved += drain(&mut w.inbox, sink);
            }
            if moved > 0 {
                sink.flush();
            }
            let mut received = 0;
            for w in &mut self.workers {
                w.stats.collect_latency(|h| self.latency.add(h));
                received += w.stats.read().pipeline.received();
                // Replaced engines are dropped here, off the workers' threads.
                while let Ok(old) = w.swap.retired.pop() {
                    drop(old);
                }
            }
            sink.on_round(&mut Live { daemon: &mut self });
            let finished = self
                .workers
                .iter()
                .any(|w| w.join.as_ref().is_some_and(JoinHandle::is_finished));
            if stop.load(Ordering::Relaxed)
                || finished
                || deadline.is_some_and(|d| Instant::now() >= d)
                || limits.max_messages.is_some_and(|m| received >= m)
            {
                break;
            }
            if moved == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        let ends = self.shutdown();
        for w in &mut self.workers {
            drain(&mut w.inbox, sink);
            w.stats.collect_latency(|h| self.latency.add(h));
        }
        sink.flush();
        let mut stats = Vec::new();
        let mut errors = Vec::new();
        for (info, end) in self.infos.iter().zip(&ends) {
            self.latency.add(&end.latency);
            stats.push((end.stats, end.slow));
            if let Some(e) = &end.error {
                errors.push(format!("worker {}: {e}", info.worker));
            }
        }
        self.report_from(&stats, errors)
    }

    /// Stops without a gap, and joins every worker (their ends in worker order): steering off
    /// first, so every packet from then on goes to the kernel, whose socket path is still
    /// receiving; then the AF_XDP workers read and count what is left in their RX rings and
    /// end; then the socket workers do the same with their socket buffers.
    fn shutdown(&mut self) -> Vec<WorkerEnd> {
        if let Some(s) = &mut self.steering
            && let Err(e) = s.detach()
        {
            log::warn!("detaching the XDP program failed ({e}); stopping the workers anyway");
        }
        let mut ends: Vec<Option<WorkerEnd>> = self.workers.iter().map(|_| None).collect();
        for (stop, xdp) in [(&self.stop_xdp, true), (&self.stop_socket, false)] {
            stop.store(true, Ordering::Relaxed);
            for (i, w) in self.workers.iter_mut().enumerate() {
                if w.xdp != xdp {
                    continue;
                }
                if let Some(join) = w.join.take() {
                    ends[i] = Some(join.join().unwrap_or_else(|_| WorkerEnd {
                        error: Some("worker thread panicked".into()),
                        ..WorkerEnd::empty()
                    }));
                }
            }
        }
        ends.into_iter().flatten().collect()
    }

    /// Merges the workers' counters (in worker order) into one report.
    fn report_from(
        &self,
        stats: &[(WorkerStats, SlowStats)],
        errors: Vec<String>,
    ) -> Result<Report, DaemonError> {
        let xdp = self
            .steering
            .as_ref()
            .map(XdpSteering::counters)
            .transpose()?;
        let udp_kernel = UdpKernelDrops::read()
            .unwrap_or_default()
            .since(self.udp_before);
        let mut pipeline = PipelineCounters::default();
        let mut tcp = TcpCounters::default();
        let mut udp = UdpCounters::default();
        let mut engine = EngineStats::default();
        let mut sources: BTreeMap<u128, (u64, u64)> = BTreeMap::new();
        let mut distinct = detector::engine::SourceCount::default();
        let mut frame_drops = [0u64; FrameError::ALL.len()];
        let mut queues = Vec::new();
        for (info, (w, slow)) in self.infos.iter().zip(stats) {
            pipeline.add(&w.pipeline);
            engine.add(&slow.engine);
            distinct.merge(&slow.distinct_sources);
            for h in slow.top_sources.iter() {
                let e = sources.entry(h.key).or_default();
                e.0 += h.count;
                e.1 += h.error;
            }
            if let Some(t) = &w.tcp {
                tcp.add(t);
            }
            if let Some(u) = &w.udp {
                udp.add(u);
            }
            if let Some(x) = &w.xdp {
                for (total, n) in frame_drops.iter_mut().zip(x.frame_drops) {
                    *total += n;
                }
                queues.push(QueueReport {
                    info: info.clone(),
                    counters: *x,
                    messages: w.pipeline.received_xdp,
                });
            }
        }
        let mut top_sources: Vec<TopSource> = sources
            .into_iter()
            .map(|(key, (count, error))| TopSource {
                source: source_of_key(key),
                messages: count * TOP_SOURCES_SAMPLE,
                error: error * TOP_SOURCES_SAMPLE,
            })
            .collect();
        top_sources.sort_by_key(|t| std::cmp::Reverse(t.messages));
        top_sources.truncate(TOP_SOURCES_REPORTED);

        let mut drops = BTreeMap::new();
        if let Some(x) = &xdp {
            for (counter, value) in x.iter().filter(|(c, _)| c.is_drop()) {
                drops.insert(counter.name(), value);
            }
        }
        if self.opts.backend == Backend::Xdp {
            let sum = |f: fn(&QueueReport) -> u64| queues.iter().map(f).sum::<u64>();
            drops.insert("xsk_rx_dropped", sum(|q| q.counters.kernel_xsk.rx_dropped));
            drops.insert(
                "xsk_rx_ring_full",
                sum(|q| q.counters.kernel_xsk.rx_ring_full),
            );
            drops.insert(
                "xsk_rx_invalid_descs",
                sum(|q| q.counters.kernel_xsk.rx_invalid_descs),
            );
            for e in FrameError::ALL {
                drops.insert(e.counter_name(), frame_drops[e.index()]);
            }
        }
        // The socket path's own filter: datagrams of denied senders that reached a socket.
        drops.insert("udp_dropped_denied", udp.dropped_denied);
        drops.insert(
            "udp_rcvbuf_errors",
            udp_kernel.rcvbuf_errors_v4 + udp_kernel.rcvbuf_errors_v6,
        );
        // What XDP passed on that the kernel then dropped as not for this host (VLAN-tagged
        // fragments without a VLAN device), counted in frames.
        drops.insert(
            "iface_rx_otherhost_dropped",
            crate::sys::iface_otherhost_dropped(&self.opts.iface)
                .saturating_sub(self.otherhost_before),
        );
        drops.insert("tcp_dropped_too_long", tcp.dropped_too_long);
        drops.insert("tcp_dropped_bad_framing", tcp.dropped_bad_framing);
        drops.insert("tcp_dropped_partial_at_close", tcp.dropped_partial_at_close);

        let mut parse_errors = BTreeMap::new();
        for e in detector::parse::ParseError::ALL {
            parse_errors.insert(e.name(), pipeline.parse_errors[e.index()]);
        }

        let mut gelf = BTreeMap::new();
        gelf.insert("gelf_messages", pipeline.gelf_messages);
        gelf.insert("gelf_chunks_held", pipeline.gelf_chunks_held);
        gelf.insert("gelf_expired", pipeline.gelf_expired);
        for (i, why) in detector::parse::gelf::GelfDrop::ALL.iter().enumerate() {
            gelf.insert(why.name(), pipeline.gelf_dropped[i]);
        }

        Ok(Report {
            backend: self.opts.backend,
            mode: self.mode,
            iface: self.opts.iface.clone(),
            xdp_mode: self.attach_mode,
            messages_received_total: pipeline.received(),
            messages_received_xdp_total: pipeline.received_xdp,
            messages_received_socket_total: pipeline.received_udp + pipeline.received_tcp,
            messages_received_udp_total: pipeline.received_udp,
            messages_received_tcp_total: pipeline.received_tcp,
            alerts_raised_total: pipeline.alerts_raised,
            messages_parsed_total: pipeline.parsed,
            parse_errors,
            drops,
            alerts_dropped_buffer_full: pipeline.alerts_dropped_buffer_full,
            alerts_dropped_ring_full: pipeline.alerts_dropped_ring_full,
            samples_dropped_ring_full: pipeline.samples_dropped_ring_full,
            xdp,
            queues,
            workers: self.infos.clone(),
            udp,
            udp_kernel,
            tcp,
            gelf,
            latency_ns: LatencyReport {
                xdp_to_detected: Percentiles::of_stage(&self.latency.all, Stage::Detected),
                recent_xdp_to_detected: Percentiles::of(&self.latency.recent()),
                unmeasured: pipeline.latency_unmeasured,
                sample_every: crate::pipeline::LATENCY_SAMPLE,
                stages: Stage::ALL
                    .iter()
                    .map(|s| (s.name(), Percentiles::of_stage(&self.latency.all, *s)))
                    .collect(),
                histograms: Stage::ALL
                    .iter()
                    .map(|s| (s.name(), encode_histogram(self.latency.all.histogram(*s))))
                    .collect(),
            },
            detector: engine,
            top_sources,
            distinct_sources: distinct.estimate(),
            rules_generation: stats.iter().map(|(w, _)| w.generation).min().unwrap_or(0),
            sinks: Vec::new(),
            errors,
        })
    }
}

impl WorkerEnd {
    fn empty() -> Self {
        Self {
            stats: WorkerStats::default(),
            slow: SlowStats::default(),
            latency: StageLatency::default(),
            error: None,
        }
    }
}

enum Plan {
    Xdp(u32),
    Socket { tcp: bool },
}

enum Ready {
    Up {
        info: WorkerInfo,
        xsk_fd: Option<std::os::fd::RawFd>,
    },
    Failed {
        worker: usize,
        message: String,
    },
}

struct WorkerSpec {
    worker: usize,
    plan: Plan,
    cpus: Vec<usize>,
    mode: Mode,
    opts: Options,
    stop: Arc<AtomicBool>,
    ready: mpsc::Sender<Ready>,
}

impl WorkerSpec {
    /// The worker thread: pin, open the source, say ready, loop, report.
    fn run(self, mut pipeline: Pipeline, mut stats: StatsPublisher) -> WorkerEnd {
        let pinned = cpu::pin_current_thread(&self.cpus)
            .err()
            .map(|e| e.to_string());
        let mut info = WorkerInfo {
            worker: self.worker,
            kind: "socket",
            queue: None,
            cpus: self.cpus.clone(),
            pinned,
            mode: self.mode,
            bind_mode: None,
            hugepages: None,
            busy_poll: None,
            udp_rcvbuf: None,
            tcp: false,
        };
        let opened = match self.plan {
            Plan::Xdp(queue) => XskQueue::open(&self.opts.iface, queue, &self.opts.xsk)
                .map(|q| {
                    info.kind = "xdp";
                    info.queue = Some(queue);
                    info.bind_mode = Some(q.mode());
                    info.hugepages = Some(q.hugepages());
                    if self.mode == Mode::BusyPoll {
                        info.busy_poll = Some(q.enable_busy_poll(
                            self.opts.busy_poll_usecs,
                            self.opts.xsk.batch_size as u32,
                        ));
                    }
                    Source::Xdp(XdpSource::new(q))
                })
                .map_err(|e| e.to_string()),
            Plan::Socket { tcp } => SocketSource::bind(
                &self.opts.ports,
                self.opts.udp_rcvbuf,
                self.opts.xsk.batch_size,
                tcp.then(|| self.opts.tcp_options.clone()),
                Arc::new(self.opts.sources.clone()),
            )
            .map(|s| {
                info.udp_rcvbuf = Some(s.udp_rcvbuf());
                info.tcp = s.serves_tcp();
                Source::Socket(s)
            })
            .map_err(|e| format!("binding the log ports: {e}")),
        };
        let mut source = match opened {
            Ok(s) => s,
            Err(message) => {
                let _ = self.ready.send(Ready::Failed {
                    worker: self.worker,
                    message,
                });
                return WorkerEnd::empty();
            }
        };
        let xsk_fd = match &source {
            Source::Xdp(s) => Some(s.queue().fd()),
            Source::Socket(_) => None,
        };
        let _ = self.ready.send(Ready::Up { info, xsk_fd });
        let waiting = Waiting {
            mode: self.mode,
            poll_timeout_ms: i32::try_from(self.opts.poll_timeout.as_millis()).unwrap_or(i32::MAX),
            coalesce: self.opts.poll_coalesce,
            batch_size: self.opts.xsk.batch_size,
        };
        if !waiting.coalesce.is_zero() {
            // Pause for about the coalescing interval, not up to 50 µs more.
            let _ = cpu::set_timer_slack(waiting.coalesce / 10);
        }
        let error = worker::run(&mut source, &mut pipeline, &mut stats, &self.stop, waiting)
            .err()
            .map(|e| e.to_string());
        let mut end = WorkerEnd::empty();
        match &mut source {
            Source::Xdp(s) => {
                if let Err(e) = s.queue().kernel_stats() {
                    end.error = Some(format!("reading the socket's final statistics: {e}"));
                }
            }
            // Closing counts the messages cut off mid-stream.
            Source::Socket(s) => s.close_tcp(),
        }
        pipeline.expire_all();
        (end.stats, end.slow) = stats.finish(&source, &mut pipeline);
        end.latency = pipeline.finish().latency;
        end.error = error.or(end.error);
        end
    }
}

/// One AF_XDP queue in the report.
#[derive(Clone, Debug, serde::Serialize)]
pub struct QueueReport {
    /// How its worker started.
    #[serde(flatten)]
    pub info: WorkerInfo,
    /// Its counters.
    #[serde(flatten)]
    pub counters: XdpSourceReport,
    /// Messages it received.
    pub messages: u64,
}

/// How many of the loudest senders a report lists.
pub const TOP_SOURCES_REPORTED: usize = 10;

/// One of the loudest senders.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TopSource {
    /// Its address.
    pub source: std::net::IpAddr,
    /// Messages from it, estimated: a sample of one in [`TOP_SOURCES_SAMPLE`], scaled up.
    pub messages: u64,
    /// How much of `messages` may belong to senders it displaced in the sketch.
    pub error: u64,
}

/// Latency percentiles, nanoseconds.
#[derive(Clone, Debug, serde::Serialize)]
pub struct LatencyReport {
    /// From the XDP hook to the message parsed and through the detector, since start.
    pub xdp_to_detected: Percentiles,
    /// The same over the last 30 to 60 seconds.
    pub recent_xdp_to_detected: Percentiles,
    /// AF_XDP messages without an arrival time.
    pub unmeasured: u64,
    /// One message in this many went into the histograms (counts and sums are exact).
    pub sample_every: u64,
    /// Every [`Stage`] since start (parse and detect also for socket-path messages).
    pub stages: BTreeMap<&'static str, Percentiles>,
    /// Every stage's histogram in HdrHistogram's interchange encoding (V2, deflated, base64, as
    /// in its log files), for `bench report`.
    pub histograms: BTreeMap<&'static str, String>,
}

/// `h` in HdrHistogram's compressed V2 encoding, base64: what its log files hold per interval.
pub fn encode_histogram(h: &Histogram<u64>) -> String {
    use base64::Engine as _;
    let mut bytes = Vec::new();
    // Writing into a Vec cannot fail for a histogram this size.
    use hdrhistogram::serialization::Serializer as _;
    let _ = hdrhistogram::serialization::V2DeflateSerializer::new().serialize(h, &mut bytes);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Why a text is not an encoded histogram.
#[derive(Debug, thiserror::Error)]
pub enum HistogramError {
    /// Not base64.
    #[error("not base64")]
    Base64(#[from] base64::DecodeError),
    /// Not HdrHistogram's V2 encoding.
    #[error("not an encoded histogram ({0:?})")]
    Encoding(hdrhistogram::serialization::DeserializeError),
}

/// The inverse of [`encode_histogram`].
pub fn decode_histogram(text: &str) -> Result<Histogram<u64>, HistogramError> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD.decode(text.trim())?;
    hdrhistogram::serialization::Deserializer::new()
        .deserialize(&mut std::io::Cursor::new(bytes))
        .map_err(HistogramError::Encoding)
}

/// Percentiles of one stage.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Percentiles {
    /// Messages (exact).
    pub count: u64,
    /// Messages the percentiles were read from (one in `sample_every` of the report).
    pub sampled: u64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// 99.99th percentile.
    pub p9999: u64,
    /// Largest sampled.
    pub max: u64,
    /// Sum of all messages' times (exact).
    pub sum: u64,
}

impl Percentiles {
    /// Reads the percentiles of `h`, whose every value counts (count and sum from it).
    pub fn of(h: &Histogram<u64>) -> Self {
        Self {
            count: h.len(),
            sampled: h.len(),
            p50: h.value_at_quantile(0.5),
            p90: h.value_at_quantile(0.9),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            p9999: h.value_at_quantile(0.9999),
            max: h.max(),
            sum: (h.mean() * h.len() as f64).round() as u64,
        }
    }

    /// The percentiles of `stage` in `l`: read from its sampled histogram, with the exact
    /// count and sum.
    pub fn of_stage(l: &StageLatency, stage: Stage) -> Self {
        Self {
            count: l.count_of(stage),
            sum: l.sum_of(stage),
            ..Self::of(l.histogram(stage))
        }
    }

    /// The mean of every message (exact), ns.
    pub fn mean(&self) -> f64 {
        self.sum as f64 / self.count.max(1) as f64
    }
}

/// Every counter of a run, as written by `ingest run --stats-json`.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Report {
    /// Backend.
    pub backend: Backend,
    /// Worker mode in effect.
    pub mode: Mode,
    /// Interface.
    pub iface: String,
    /// XDP attach mode in effect (XDP backend).
    pub xdp_mode: Option<AttachMode>,
    /// Messages received, all paths.
    pub messages_received_total: u64,
    /// Messages through AF_XDP.
    pub messages_received_xdp_total: u64,
    /// Messages through the kernel socket path (UDP and TCP).
    pub messages_received_socket_total: u64,
    /// Of which UDP.
    pub messages_received_udp_total: u64,
    /// Of which TCP.
    pub messages_received_tcp_total: u64,
    /// Alerts the rules raised (printed as `{"event":"alert"}` lines).
    pub alerts_raised_total: u64,
    /// Messages parsed without error; the rest are in `parse_errors` (and were still detected
    /// on with what could be read).
    pub messages_parsed_total: u64,
    /// Messages the parser could not read fully, by reason. Not drops.
    pub parse_errors: BTreeMap<&'static str, u64>,
    /// Every named drop of every stage, reason -> count.
    pub drops: BTreeMap<&'static str, u64>,
    /// Alerts the engines raised but could not keep: their per-batch alert buffer was full.
    /// Not part of packet accounting (the messages were processed), but every alert lost is
    /// here or in `alerts_dropped_ring_full`.
    pub alerts_dropped_buffer_full: u64,
    /// Alerts dropped because a worker's alert ring to the sinks was full.
    pub alerts_dropped_ring_full: u64,
    /// Printed copies of messages dropped because a worker's sample ring was full.
    pub samples_dropped_ring_full: u64,
    /// The XDP program's decision counters.
    pub xdp: Option<XdpCounters>,
    /// Per AF_XDP queue.
    pub queues: Vec<QueueReport>,
    /// Every worker as it started.
    pub workers: Vec<WorkerInfo>,
    /// The socket path's UDP counters.
    pub udp: UdpCounters,
    /// The kernel's UDP buffer drops during the run (this namespace).
    pub udp_kernel: UdpKernelDrops,
    /// The TCP listener's counters.
    pub tcp: TcpCounters,
    /// GELF reassembly: messages completed, chunks held, and what was given up. The datagrams
    /// themselves are counted as received; these say what became of their messages.
    pub gelf: BTreeMap<&'static str, u64>,
    /// Latency percentiles.
    pub latency_ns: LatencyReport,
    /// The engines' state tables: sizes and evictions.
    pub detector: EngineStats,
    /// The loudest senders, estimated from a sample (heaviest first).
    pub top_sources: Vec<TopSource>,
    /// Different senders seen, estimated (HyperLogLog, about 3 %).
    pub distinct_sources: u64,
    /// The rule set every worker detects with (the oldest, while a reload is taken up).
    pub rules_generation: u32,
    /// The alert sinks (filled in by whoever runs them).
    pub sinks: Vec<crate::sinks::SinkReport>,
    /// Workers that ended with an error.
    pub errors: Vec<String>,
}

impl Report {
    /// Sum of all named drops.
    pub fn drops_total(&self) -> u64 {
        self.drops.values().sum()
    }
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
