//! One worker thread: pin it, open its source, say it is ready, run the loop, hand back what it
//! counted.

use std::{
    os::fd::OwnedFd,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
        mpsc,
    },
    time::Duration,
};

use super::options::Options;
use crate::report::WorkerInfo;
use crate::{
    datapath::live::{SlowStats, SourceStats, StatsPublisher, WorkerStats, XdpSourceReport},
    datapath::pipeline::{Pipeline, StageLatency, monotonic_ns},
    datapath::socket::SocketSource,
    datapath::worker::{self, Ended, Mode, Source, Waiting, XdpSource},
    sys::{cpu, xsk::XskQueue},
};

/// An AF_XDP socket the kernel has refused this long is opened again.
pub(super) const REOPEN_AFTER: Duration = Duration::from_millis(100);
/// A new socket that could not be opened is tried again after this long.
const REOPEN_RETRY: Duration = Duration::from_millis(100);
/// While a queue's new socket cannot be opened, the failure is logged at most this often.
const REOPEN_LOG_EVERY: Duration = Duration::from_secs(10);

/// A queue's new AF_XDP socket, for the daemon to put in the XSKMAP in place of the old one.
#[derive(Debug)]
pub(super) struct Reopened {
    pub(super) queue: u32,
    /// A descriptor of the daemon's own for the socket: closed once it is registered.
    pub(super) fd: OwnedFd,
}

/// What a worker hands back when it ends.
#[derive(Debug)]
pub(super) struct WorkerEnd {
    pub(super) stats: WorkerStats,
    pub(super) slow: SlowStats,
    /// What it recorded since it last handed its histograms over.
    pub(super) latency: StageLatency,
    pub(super) error: Option<String>,
}

impl WorkerEnd {
    pub(super) fn empty() -> Self {
        Self {
            stats: WorkerStats::default(),
            slow: SlowStats::default(),
            latency: StageLatency::default(),
            error: None,
        }
    }
}

pub(super) enum Plan {
    Xdp(u32),
    Socket { tcp: bool },
}

pub(super) enum Ready {
    Up {
        info: WorkerInfo,
        xsk_fd: Option<std::os::fd::RawFd>,
    },
    Failed {
        worker: usize,
        message: String,
    },
}

pub(super) struct WorkerSpec {
    pub(super) worker: usize,
    pub(super) plan: Plan,
    pub(super) cpus: Vec<usize>,
    pub(super) mode: Mode,
    pub(super) opts: Options,
    pub(super) stop: Arc<AtomicBool>,
    pub(super) ready: mpsc::Sender<Ready>,
    /// Where the worker sends each new socket it opens after the kernel refused the old one.
    pub(super) reopened: mpsc::Sender<Reopened>,
}

impl WorkerSpec {
    /// The worker thread: pin, open the source, say ready, loop, report.
    pub(super) fn run(self, mut pipeline: Pipeline, mut stats: StatsPublisher) -> WorkerEnd {
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
                    info.busy_poll = self.busy_poll(&q);
                    Source::Xdp(XdpSource::new(q, self.opts.checksums))
                })
                .map_err(|e| crate::error_chain(&e)),
            Plan::Socket { tcp } => SocketSource::bind(
                &self.opts.ports,
                self.opts.udp_rcvbuf,
                self.opts.xsk.batch_size,
                tcp.then(|| self.opts.tcp_listen()),
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
            reopen_after: REOPEN_AFTER,
        };
        if !waiting.coalesce.is_zero() {
            // Pause for about the coalescing interval, not up to 50 µs more.
            let _ = cpu::set_timer_slack(waiting.coalesce / 10);
        }
        let error = loop {
            match worker::run(&mut source, &mut pipeline, &mut stats, &self.stop, waiting) {
                Ok(Ended::Stopped) => break None,
                Err(e) => break Some(e.to_string()),
                Ok(Ended::Reopen) => {
                    let Source::Xdp(old) = source else {
                        unreachable!("only an AF_XDP socket is reopened")
                    };
                    // A UMEM on 4 KiB pages stays so, without a warning at every try.
                    let hugepages = old.queue().hugepages();
                    // Closed first: the kernel binds one socket per queue.
                    let mut earlier = old.retire();
                    match self.reopen(hugepages, &mut earlier, &mut pipeline, &mut stats) {
                        Some(queue) => {
                            source = Source::Xdp(XdpSource::resumed(
                                queue,
                                self.opts.checksums,
                                earlier,
                            ));
                        }
                        // Stopped before a new socket could be opened.
                        None => return finish(&mut earlier, pipeline, stats, None),
                    }
                }
            }
        };
        let mut end_error = None;
        match &mut source {
            Source::Xdp(s) => {
                if let Err(e) = s.queue().kernel_stats() {
                    end_error = Some(format!(
                        "reading the socket's final statistics: {}",
                        crate::error_chain(&e)
                    ));
                }
            }
            // Closing counts the messages cut off mid-stream.
            Source::Socket(s) => s.close_tcp(),
        }
        finish(&mut source, pipeline, stats, error.or(end_error))
    }

    /// In busy-poll mode, sets the socket's busy-poll options and says what the kernel said
    /// to each.
    fn busy_poll(&self, q: &XskQueue) -> Option<crate::sys::xsk::BusyPollStatus> {
        (self.mode == Mode::BusyPoll)
            .then(|| q.enable_busy_poll(self.opts.busy_poll_usecs, self.opts.xsk.batch_size as u32))
    }

    /// Opens the queue's new socket after the kernel refused the old one, and sends the daemon
    /// a descriptor of it for the XSKMAP. Until it opens (the interface may be away for a
    /// while), tries again every [`REOPEN_RETRY`], the pipeline's clock and the counters (the
    /// old sockets' ones) going on meanwhile. `None`: the stop came first.
    fn reopen(
        &self,
        hugepages: bool,
        earlier: &mut XdpSourceReport,
        pipeline: &mut Pipeline,
        stats: &mut StatsPublisher,
    ) -> Option<XskQueue> {
        let Plan::Xdp(queue) = self.plan else {
            unreachable!("only an AF_XDP socket is reopened")
        };
        let iface = &self.opts.iface;
        tracing::warn!(
            queue,
            "the kernel kept refusing the AF_XDP socket of {iface} queue {queue} for {} ms; \
             opening a new one (until then, the queue's packets go to the kernel's socket path)",
            REOPEN_AFTER.as_millis()
        );
        let xsk = crate::sys::xsk::XskOptions {
            hugepages,
            ..self.opts.xsk.clone()
        };
        let mut logged: Option<std::time::Instant> = None;
        while !self.stop.load(Ordering::Relaxed) {
            let opened =
                XskQueue::open(iface, queue, &xsk).and_then(|q| q.dup_fd().map(|fd| (q, fd)));
            match opened {
                Ok((q, fd)) => {
                    // What the kernel says to the options was reported at start.
                    let _ = self.busy_poll(&q);
                    if self.reopened.send(Reopened { queue, fd }).is_err() {
                        // The daemon is gone: it is stopping.
                        return None;
                    }
                    tracing::info!(
                        queue,
                        "a new AF_XDP socket is open on {iface} queue {queue}"
                    );
                    return Some(q);
                }
                Err(e) => {
                    if logged.is_none_or(|t| t.elapsed() >= REOPEN_LOG_EVERY) {
                        logged = Some(std::time::Instant::now());
                        tracing::warn!(
                            queue,
                            "opening a new AF_XDP socket on {iface} queue {queue} failed ({}); \
                             trying again every {} ms",
                            crate::error_chain(&e),
                            REOPEN_RETRY.as_millis()
                        );
                    }
                }
            }
            let until = std::time::Instant::now() + REOPEN_RETRY;
            while std::time::Instant::now() < until && !self.stop.load(Ordering::Relaxed) {
                let now = monotonic_ns();
                pipeline.tick(now);
                stats.publish_if_due(earlier, pipeline, now);
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        None
    }
}

/// What a worker hands back: the last counters of `source`, after the pipeline has expired
/// what it held.
fn finish(
    source: &mut impl SourceStats,
    mut pipeline: Pipeline,
    mut stats: StatsPublisher,
    error: Option<String>,
) -> WorkerEnd {
    pipeline.expire_all();
    let (stats, slow) = stats.finish(source, &mut pipeline);
    WorkerEnd {
        stats,
        slow,
        latency: pipeline.finish().latency,
        error,
    }
}
