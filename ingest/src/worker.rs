//! The worker loop: run to completion on one batch at a time from one source, then either spin
//! (busy-poll) or sleep in `poll()` when there is nothing to do.

use std::{
    io,
    sync::atomic::{AtomicBool, Ordering},
};

use crate::{
    frame::{FrameError, decode_udp},
    live::{SourceStats, StatsPublisher, WorkerStats, XdpSourceReport},
    pipeline::{Message, Path, Pipeline, monotonic_ns},
    socket::SocketSource,
    sys::xsk::XskQueue,
};

/// How a worker waits when its rings are empty.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Busy-poll when every worker CPU is isolated, else poll.
    Auto,
    /// Spin on the rings and drive the driver from the worker (SO_PREFER_BUSY_POLL): lowest
    /// latency, one CPU per worker at 100 %.
    BusyPoll,
    /// Sleep in `poll()` with a timeout: for hosts that share their CPUs.
    Poll,
}

/// A worker's source of messages.
#[derive(Debug)]
pub enum Source {
    /// One AF_XDP socket.
    Xdp(XdpSource),
    /// Kernel sockets.
    Socket(SocketSource),
}

/// An AF_XDP socket and the counters of frames it could not decode.
#[derive(Debug)]
pub struct XdpSource {
    queue: XskQueue,
    frame_drops: [u64; FrameError::ALL.len()],
}

impl XdpSource {
    /// Wraps an open socket.
    pub fn new(queue: XskQueue) -> Self {
        Self {
            queue,
            frame_drops: [0; FrameError::ALL.len()],
        }
    }

    /// The socket.
    pub fn queue(&self) -> &XskQueue {
        &self.queue
    }

    fn poll_batch(&mut self, pipeline: &mut Pipeline) -> usize {
        let drops = &mut self.frame_drops;
        self.queue
            .recv_batch(|frame| match decode_udp(frame.bytes) {
                Ok(d) => pipeline.handle(&Message {
                    path: Path::Xdp,
                    src: d.src,
                    dst_port: d.dst.port(),
                    vlan: d.vlan,
                    payload: d.payload,
                    arrival_ns: frame.arrival_ns,
                }),
                Err(e) => drops[e.index()] += 1,
            })
    }
}

impl SourceStats for Source {
    fn stats_into(&self, stats: &mut WorkerStats, slow: bool) {
        match self {
            Source::Xdp(s) => {
                // The kernel's counters cost a system call: only at the slow interval, else the
                // last ones read.
                let previous = stats.xdp.map(|x| x.kernel_xsk);
                let kernel_xsk = match previous {
                    Some(k) if !slow => k,
                    _ => s.queue.kernel_stats().ok().or(previous).unwrap_or_default(),
                };
                stats.xdp = Some(XdpSourceReport {
                    xsk: s.queue.counters(),
                    kernel_xsk,
                    frame_drops: s.frame_drops,
                });
            }
            Source::Socket(s) => {
                let (udp, tcp) = s.counters();
                stats.udp = Some(udp);
                stats.tcp = tcp;
            }
        }
    }
}

/// How a worker waits when its source has nothing.
#[derive(Clone, Copy, Debug)]
pub struct Waiting {
    /// Busy-poll or poll (resolved, not `Auto`).
    pub mode: Mode,
    /// Longest sleep in `poll()`, milliseconds.
    pub poll_timeout_ms: i32,
    /// Poll mode: after a batch that was not full, sleep this long before looking again, so the
    /// next batch is bigger and wakeups are fewer (like a NIC's rx-usecs). Zero: look at once.
    pub coalesce: std::time::Duration,
    /// The batch size: a batch this big means more is waiting.
    pub batch_size: usize,
}

/// Runs `source` into `pipeline` until `stop` is set, publishing the counters into `stats`
/// after every batch.
pub fn run(
    source: &mut Source,
    pipeline: &mut Pipeline,
    stats: &mut StatsPublisher,
    stop: &AtomicBool,
    waiting: Waiting,
) -> io::Result<()> {
    let coalesce = waiting.mode == Mode::Poll && !waiting.coalesce.is_zero();
    while !stop.load(Ordering::Relaxed) {
        let n = match source {
            Source::Xdp(s) => s.poll_batch(pipeline),
            Source::Socket(s) => s.poll_batch(pipeline)?,
        };
        let now = monotonic_ns();
        pipeline.between_batches();
        if n > 0 {
            stats.publish(source, pipeline, now);
            if coalesce && n < waiting.batch_size {
                std::thread::sleep(waiting.coalesce);
            }
            continue;
        }
        pipeline.tick(now);
        stats.publish_if_due(source, pipeline, now);
        match (waiting.mode, &mut *source) {
            (Mode::BusyPoll, Source::Xdp(s)) => s.queue.kick(),
            (Mode::BusyPoll, Source::Socket(_)) => std::hint::spin_loop(),
            (_, Source::Xdp(s)) => s.queue.wait(waiting.poll_timeout_ms)?,
            (_, Source::Socket(s)) => s.wait(waiting.poll_timeout_ms)?,
        }
    }
    Ok(())
}
