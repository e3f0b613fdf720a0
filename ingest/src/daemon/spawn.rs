//! One worker thread: pin it, open its source, say it is ready, run the loop, hand back what it
//! counted.

use std::sync::{Arc, atomic::AtomicBool, mpsc};

use super::options::Options;
use crate::report::WorkerInfo;
use crate::{
    datapath::live::{SlowStats, StatsPublisher, WorkerStats},
    datapath::pipeline::{Pipeline, StageLatency},
    datapath::socket::SocketSource,
    datapath::worker::{self, Mode, Source, Waiting, XdpSource},
    sys::{cpu, xsk::XskQueue},
};

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
                    if self.mode == Mode::BusyPoll {
                        info.busy_poll = Some(q.enable_busy_poll(
                            self.opts.busy_poll_usecs,
                            self.opts.xsk.batch_size as u32,
                        ));
                    }
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
                    end.error = Some(format!(
                        "reading the socket's final statistics: {}",
                        crate::error_chain(&e)
                    ));
                }
            }
            // Closing counts the messages cut off mid-stream.
            Source::Socket(s) => s.close_tcp(),
        }
        pipeline.expire_all();
        (end.stats, end.slow) = stats.finish(&mut source, &mut pipeline);
        end.latency = pipeline.finish().latency;
        end.error = error.or(end.error);
        end
    }
}
