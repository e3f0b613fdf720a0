//! The running appliance: the XDP program, one pinned worker per queue, the kernel socket path,
//! and the housekeeping loop on the calling thread that drains the workers' output rings, watches
//! limits, and at the end merges every counter into one [`Report`].
//!
//! Accounting: every log datagram that reached the interface is either a message one of the
//! paths received ([`Report::messages_received_total`]) or one of the named drops in
//! [`Report::drops`]. The XDP program's pass decisions are in [`Report::xdp`]: those packets went
//! to the kernel, where the socket path receives the ones addressed to a log port.

use std::{
    sync::{Arc, atomic::AtomicBool, mpsc},
    thread::JoinHandle,
    time::Duration,
};

use detector::engine::{Blueprint, Engine, EngineOptions, Rules};

use crate::{
    datapath::live::{self, StatsReader},
    datapath::pipeline::{EngineSwapHandle, Inbox, Pipeline, engine_swap, outbox},
    datapath::worker::Mode,
    datapath::xdp::{AttachMode, XdpSteering},
    sys::cpu,
};

mod error;
pub mod housekeeping;
mod latency;
mod merge;
mod options;
mod run;
pub mod running;
mod spawn;

pub use crate::datapath::Backend;
pub use crate::report::{
    HistogramError, LatencyReport, Percentiles, QueueReport, Report, TOP_SOURCES_REPORTED,
    TopSource, WorkerInfo, decode_histogram, encode_histogram,
};
pub use error::DaemonError;
use latency::LatencyTotals;
pub use options::{Options, default_cpus};
use spawn::{Plan, Ready, Reopened, WorkerEnd, WorkerSpec};

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
    /// The interface's counters at start.
    link_before: crate::sys::link::LinkStats,
    reassembly_before: crate::sys::snmp::Reassembly,
    /// Latency samples the workers have handed over so far.
    latency: LatencyTotals,
    /// New AF_XDP sockets that workers opened after the kernel refused their old ones, for
    /// the XSKMAP.
    reopened: mpsc::Receiver<Reopened>,
}

impl std::fmt::Debug for Daemon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Daemon")
            .field("mode", &self.mode)
            .field("workers", &self.infos)
            .finish_non_exhaustive()
    }
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
            tracing::warn!(
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
        // The socket backend may run without an interface of that name (`--iface` only names
        // the reports): no link counters then.
        let link_before = crate::sys::link::link_stats(&opts.iface).unwrap_or_default();
        let reassembly_before = crate::sys::snmp::Reassembly::read().unwrap_or_default();
        let stop_xdp = Arc::new(AtomicBool::new(false));
        let stop_socket = Arc::new(AtomicBool::new(false));
        let (reopened_tx, reopened) = mpsc::channel();
        let mut daemon = Self {
            reopened,
            mode,
            workers: Vec::new(),
            steering: None,
            attach_mode: None,
            infos: Vec::new(),
            stop_xdp: stop_xdp.clone(),
            stop_socket: stop_socket.clone(),
            link_before,
            reassembly_before,
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
                        tcp: opts.serves_streams() && i == 0,
                    },
                    cpus,
                    mode,
                ),
            });
        }
        if opts.backend == Backend::Xdp {
            // Fragments and queues without a socket reach the kernel: this worker takes them.
            plans.push((
                Plan::Socket {
                    tcp: opts.serves_streams(),
                },
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
                reopened: reopened_tx.clone(),
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
}
