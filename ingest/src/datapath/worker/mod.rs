//! The worker loop: run to completion on one batch at a time from one source, then either spin
//! (busy-poll) or sleep in `poll()` when there is nothing to do.

use std::{
    io,
    sync::atomic::{AtomicBool, Ordering},
};

use arrayvec::ArrayVec;
use detector::engine::MAX_BATCH;

use crate::{
    datapath::frame::{Checksums, FrameError, decode},
    datapath::live::{SourceStats, StatsPublisher, WorkerStats, XdpSourceReport},
    datapath::pipeline::{Message, Path, Pipeline, monotonic_ns},
    datapath::socket::SocketSource,
    sys::xsk::{KernelXskStats, Rings, XskQueue},
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

/// A worker's source of messages: the real AF_XDP socket by default, any [`Rings`] in tests.
#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "one per worker, made once and never moved on the packet path"
)]
pub enum Source<R: Rings = XskQueue> {
    /// One AF_XDP socket.
    Xdp(XdpSource<R>),
    /// Kernel sockets.
    Socket(SocketSource),
}

/// An AF_XDP socket and the counters of frames it could not decode.
#[derive(Debug)]
pub struct XdpSource<R: Rings = XskQueue> {
    queue: R,
    checksums: Checksums,
    frame_drops: [u64; FrameError::ALL.len()],
    /// What the queue's earlier sockets counted (a new socket's own counters start at 0).
    earlier: XdpSourceReport,
    /// The kernel's counters for the socket, as last read.
    kernel: KernelXskStats,
}

impl<R: Rings> XdpSource<R> {
    /// Wraps an open socket; its frames' checksums are handled as `checksums` says.
    pub fn new(queue: R, checksums: Checksums) -> Self {
        Self::resumed(queue, checksums, XdpSourceReport::default())
    }

    /// Wraps the queue's new socket, carrying on from what its earlier ones counted (what
    /// [`XdpSource::retire`] returned), so no counter goes backwards.
    pub fn resumed(queue: R, checksums: Checksums, earlier: XdpSourceReport) -> Self {
        Self {
            queue,
            checksums,
            frame_drops: earlier.frame_drops,
            earlier,
            kernel: KernelXskStats::default(),
        }
    }

    /// The socket.
    pub fn queue(&self) -> &R {
        &self.queue
    }

    /// Everything counted on this queue so far, the kernel's counters as last read.
    fn report(&self) -> XdpSourceReport {
        XdpSourceReport {
            xsk: self.earlier.xsk.plus(self.queue.counters()),
            kernel_xsk: self.earlier.kernel_xsk.plus(self.kernel),
            frame_drops: self.frame_drops,
            socket_reopens: self.earlier.socket_reopens,
        }
    }

    /// Closes the socket to open a new one on the queue: returns everything counted so far
    /// (the kernel's counters read one last time, or as last read if that fails), with this
    /// reopen counted.
    pub fn retire(mut self) -> XdpSourceReport {
        if let Ok(k) = self.queue.kernel_stats() {
            self.kernel = k;
        }
        let mut report = self.report();
        report.socket_reopens += 1;
        report
    }

    /// Takes one batch off the RX ring into `pipeline`: the clock read at its pickup and once
    /// its frames are decoded.
    fn poll_batch(&mut self, pipeline: &mut Pipeline) -> usize {
        let drops = &mut self.frame_drops;
        let checksums = self.checksums;
        self.queue.recv_batch(|frames| {
            let pickup_ns = monotonic_ns();
            let mut batch: ArrayVec<Message<'_>, MAX_BATCH> = ArrayVec::new();
            for frame in frames {
                match decode(frame.bytes, checksums) {
                    Ok(d) => batch.push(Message {
                        path: Path::Xdp,
                        src: d.src,
                        dst_port: d.dst.port(),
                        vlan: d.vlan,
                        payload: d.payload,
                        arrival_ns: frame.arrival_ns,
                    }),
                    Err(e) => drops[e.index()] += 1,
                }
                if batch.is_full() {
                    pipeline.handle_received(&batch, pickup_ns, monotonic_ns());
                    batch.clear();
                }
            }
            pipeline.handle_received(&batch, pickup_ns, monotonic_ns());
        })
    }
}

impl<R: Rings> SourceStats for Source<R> {
    fn stats_into(&mut self, stats: &mut WorkerStats, slow: bool) {
        match self {
            Source::Xdp(s) => {
                // The kernel's counters cost a system call: only at the slow interval, else the
                // last ones read (kept as they were when a read fails).
                if (slow || stats.xdp.is_none())
                    && let Ok(k) = s.queue.kernel_stats()
                {
                    s.kernel = k;
                }
                stats.xdp = Some(s.report());
            }
            Source::Socket(s) => {
                if slow {
                    s.refresh_kernel_drops();
                }
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
    /// Poll mode: after a batch that was not full, sleep at most this long before looking
    /// again, so the next batch is bigger and wakeups are fewer (like a NIC's rx-usecs): as
    /// long as the measured arrival rate says it takes to fill the batch (see [`Pacer`]). Zero:
    /// look at once.
    pub coalesce: std::time::Duration,
    /// The batch size: a batch this big means more is waiting.
    pub batch_size: usize,
    /// An AF_XDP socket whose every kick (busy-poll) or idle wait's probe (poll) the kernel
    /// has refused for this long, [`KickStreak::MIN_REFUSALS`] times at least, is closed and
    /// opened again ([`Ended::Reopen`]).
    pub reopen_after: std::time::Duration,
}

/// Why [`run`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    /// The stop flag was set, and the source was drained.
    Stopped,
    /// The kernel kept refusing the AF_XDP socket (see [`Waiting::reopen_after`]); what its
    /// RX ring held was read first. The caller opens a new socket and runs again.
    Reopen,
}

/// A run of refused kicks on an idle AF_XDP socket: a socket the kernel has unbound (its
/// interface left the namespace, or was unregistered) refuses every one, and recovers only by
/// being opened again.
#[derive(Clone, Copy, Debug, Default)]
pub struct KickStreak {
    /// The socket's kick-error count last seen.
    seen: u64,
    /// Refusals in a row.
    refusals: u32,
    /// When the first of them was seen.
    since_ns: u64,
}

impl KickStreak {
    /// A streak is judged only once it has this many refusals, however long it lasted.
    pub const MIN_REFUSALS: u32 = 3;

    /// After a kick or an idle wait at `now_ns`, with the socket's kick-error count then:
    /// whether every kick for at least `after`, and at least [`KickStreak::MIN_REFUSALS`] in a
    /// row, were refused. A kick that was not refused ends the streak.
    pub fn broken(&mut self, kick_errors: u64, now_ns: u64, after: std::time::Duration) -> bool {
        if kick_errors == self.seen {
            self.refusals = 0;
            return false;
        }
        self.seen = kick_errors;
        if self.refusals == 0 {
            self.since_ns = now_ns;
        }
        self.refusals = self.refusals.saturating_add(1);
        self.refusals >= Self::MIN_REFUSALS
            && u128::from(now_ns.saturating_sub(self.since_ns)) >= after.as_nanos()
    }
}

/// How long a poll-mode worker pauses after a batch that was not full: the time the measured
/// arrival rate says the rest of a batch takes to arrive, at most the configured coalescing
/// pause. A full batch, or a rate that fills one sooner than [`Pacer::MIN_PAUSE`], means no
/// pause; a trickle gets the whole pause, so a lone message waits at most that long. The rate
/// is an exponentially weighted mean of messages per nanosecond between batches.
#[derive(Clone, Copy, Debug)]
pub struct Pacer {
    batch: usize,
    max: std::time::Duration,
    /// Messages per nanosecond.
    rate: f64,
    last_ns: u64,
}

impl Pacer {
    /// Below this a sleep costs more (a wakeup is tens of microseconds of CPU) than it saves.
    pub const MIN_PAUSE: std::time::Duration = std::time::Duration::from_micros(5);

    /// A pacer for batches of `batch` with pauses of at most `max`.
    pub fn new(batch: usize, max: std::time::Duration) -> Self {
        Self {
            batch: batch.max(1),
            max,
            rate: 0.0,
            last_ns: 0,
        }
    }

    /// A batch of `n` messages was taken at `now_ns`: the pause before looking again.
    pub fn after_batch(&mut self, n: usize, now_ns: u64) -> std::time::Duration {
        let gap = now_ns.saturating_sub(self.last_ns).max(1) as f64;
        if self.last_ns != 0 {
            self.rate = 0.8 * self.rate + 0.2 * (n as f64 / gap);
        }
        self.last_ns = now_ns;
        if n >= self.batch {
            return std::time::Duration::ZERO;
        }
        let wait_ns = if self.rate > 0.0 {
            (self.batch - n) as f64 / self.rate
        } else {
            f64::INFINITY
        };
        let pause = std::time::Duration::from_nanos(wait_ns.min(self.max.as_nanos() as f64) as u64);
        if pause < Self::MIN_PAUSE {
            std::time::Duration::ZERO
        } else {
            pause
        }
    }
}

/// A worker that never finds its source empty still runs the pipeline's time-driven checks
/// (silences, correlation windows, audit events, GELF expiry) this often; an idle one runs
/// them at every empty look.
const BUSY_TICK_NS: u64 = 250_000_000;

/// A stopping worker reads on until its ring or sockets are found empty this many times in a
/// row, [`DRAIN_PAUSE`] apart: frames the driver or the kernel still had in flight when the
/// steering went off arrive within that.
const DRAIN_EMPTY_ROUNDS: u32 = 3;
/// The pause between two empty looks while draining.
const DRAIN_PAUSE: std::time::Duration = std::time::Duration::from_millis(1);
/// The longest a stopping worker drains: a sender that never stops cannot hold the daemon up.
const DRAIN_LIMIT: std::time::Duration = std::time::Duration::from_secs(1);

/// Runs `source` into `pipeline` until `stop` is set, publishing the counters into `stats`
/// after every batch; then drains what is left in the ring or the socket buffers, so that it
/// is received and counted rather than dropped unseen when the socket closes. An AF_XDP
/// socket that the kernel keeps refusing is drained too, and the caller told to reopen it.
pub fn run<R: Rings>(
    source: &mut Source<R>,
    pipeline: &mut Pipeline,
    stats: &mut StatsPublisher,
    stop: &AtomicBool,
    waiting: Waiting,
) -> io::Result<Ended> {
    let coalesce = waiting.mode == Mode::Poll && !waiting.coalesce.is_zero();
    let mut pacer = Pacer::new(waiting.batch_size, waiting.coalesce);
    let mut streak = KickStreak::default();
    let mut last_tick = 0;
    if let Source::Xdp(s) = source {
        streak.seen = s.queue.counters().kick_errors;
    }
    while !stop.load(Ordering::Relaxed) {
        let n = match source {
            Source::Xdp(s) => s.poll_batch(pipeline),
            Source::Socket(s) => s.poll_batch(pipeline)?,
        };
        let now = monotonic_ns();
        pipeline.between_batches();
        if n > 0 {
            // Time-driven checks also under a load that never lets the worker idle.
            if now >= last_tick + BUSY_TICK_NS {
                last_tick = now;
                pipeline.tick(now);
            }
            stats.publish(source, pipeline, now);
            let pause = pacer.after_batch(n, now);
            if coalesce && !pause.is_zero() {
                std::thread::sleep(pause);
            }
            continue;
        }
        last_tick = now;
        pipeline.tick(now);
        stats.publish_if_due(source, pipeline, now);
        match (waiting.mode, &mut *source) {
            (Mode::BusyPoll, Source::Xdp(s)) => s.queue.kick(),
            (Mode::BusyPoll, Source::Socket(_)) => std::hint::spin_loop(),
            (_, Source::Xdp(s)) => s.queue.wait(waiting.poll_timeout_ms)?,
            (_, Source::Socket(s)) => s.wait(waiting.poll_timeout_ms)?,
        }
        if let Source::Xdp(s) = source
            && streak.broken(s.queue.counters().kick_errors, now, waiting.reopen_after)
        {
            drain(source, pipeline, stats)?;
            return Ok(Ended::Reopen);
        }
    }
    drain(source, pipeline, stats)?;
    Ok(Ended::Stopped)
}

/// Reads `source` until it is empty [`DRAIN_EMPTY_ROUNDS`] times in a row, or for at most
/// [`DRAIN_LIMIT`].
fn drain<R: Rings>(
    source: &mut Source<R>,
    pipeline: &mut Pipeline,
    stats: &mut StatsPublisher,
) -> io::Result<()> {
    let deadline = std::time::Instant::now() + DRAIN_LIMIT;
    let mut empty = 0;
    while empty < DRAIN_EMPTY_ROUNDS && std::time::Instant::now() < deadline {
        let n = match source {
            Source::Xdp(s) => s.poll_batch(pipeline),
            Source::Socket(s) => s.poll_batch(pipeline)?,
        };
        pipeline.between_batches();
        if n > 0 {
            empty = 0;
            stats.publish(source, pipeline, monotonic_ns());
            continue;
        }
        empty += 1;
        if let Source::Xdp(s) = source {
            // Frames may wait for a fill-ring wakeup in copy mode.
            s.queue.kick();
        }
        std::thread::sleep(DRAIN_PAUSE);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
