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
    datapath::frame::FrameError,
    datapath::live::{self, SlowStats, StatsReader, WorkerStats},
    datapath::pipeline::{
        EngineSwapHandle, Inbox, NewEngine, Pipeline, PipelineCounters, Sample, Stage,
        StageLatency, WorkerAlert, engine_swap, latency_histogram, outbox,
    },
    datapath::socket::{TcpCounters, UdpCounters},
    datapath::worker::Mode,
    datapath::xdp::{AttachMode, XdpError, XdpSteering},
    sys::{
        cpu,
        udp::UdpKernelDrops,
        xsk::{BindMode, BusyPollStatus},
    },
};

pub mod housekeeping;
mod options;
mod report;
mod spawn;

pub use crate::datapath::Backend;
pub use options::{Options, default_cpus};
pub use report::{
    HistogramError, LatencyReport, Percentiles, QueueReport, Report, TOP_SOURCES_REPORTED,
    TopSource, decode_histogram, encode_histogram,
};
use spawn::{Plan, Ready, WorkerEnd, WorkerSpec};

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
        drops.insert("udp_dropped_truncated", udp.dropped_truncated);
        drops.insert("udp_dropped_no_source", udp.dropped_no_source);
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
                sample_every: crate::datapath::pipeline::LATENCY_SAMPLE,
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
