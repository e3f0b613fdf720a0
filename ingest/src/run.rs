//! The XDP receive path for one queue: attach the program, bind the socket, receive until told
//! to stop, and account for every frame.
//!
//! Accounting: every log datagram that reached the interface is either a message handed to the
//! caller, or one of the named drops in [`RunReport::drops`] (XDP malformed, the kernel's AF_XDP
//! ring drops, frames user space could not decode). Packets the XDP program passed to the kernel
//! are counted by reason in [`RunReport::xdp`].

use std::{
    collections::BTreeMap,
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant},
};

use crate::{
    frame::{FrameError, UdpDatagram, decode_udp},
    sys::xsk::{BindMode, KernelXskStats, XskCounters, XskError, XskOptions, XskQueue},
    xdp::{AttachMode, AttachRequest, SourceFilter, XdpCounters, XdpError, XdpSteering},
};

/// What to receive and for how long.
#[derive(Clone, Debug)]
pub struct XdpRunOptions {
    /// Interface to attach to.
    pub iface: String,
    /// Receive queue to bind the AF_XDP socket to.
    pub queue: u32,
    /// UDP destination ports steered to AF_XDP.
    pub ports: Vec<u16>,
    /// XDP attach mode.
    pub attach: AttachRequest,
    /// Which log sources to steer or drop.
    pub sources: SourceFilter,
    /// UMEM and ring sizes.
    pub xsk: XskOptions,
    /// How long one `poll()` sleeps when the RX ring is empty.
    pub poll_timeout: Duration,
}

/// Why receiving could not start or went on.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Loading, attaching or configuring the XDP program.
    #[error(transparent)]
    Xdp(#[from] XdpError),
    /// Creating or using the AF_XDP socket.
    #[error(transparent)]
    Xsk(#[from] XskError),
    /// Waiting on the socket.
    #[error("polling the AF_XDP socket: {0}")]
    Poll(#[source] std::io::Error),
}

/// What the receive loop hands each message to. Called on the worker's thread, inside the batch
/// loop: implementations must not block.
pub trait MessageHandler {
    /// One UDP datagram, its payload still in UMEM; it is recycled after this returns.
    fn on_message(&mut self, queue: u32, datagram: &UdpDatagram<'_>);
    /// The end of a batch: the place to publish or flush per-batch work.
    fn on_batch_end(&mut self) {}
}

/// When to stop receiving, besides the stop flag.
#[derive(Clone, Copy, Debug, Default)]
pub struct Limits {
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Stop after this many messages.
    pub max_messages: Option<u64>,
}

/// One attached XDP program and one bound AF_XDP socket.
#[derive(Debug)]
pub struct XdpReceiver {
    // Socket before program: the XSKMAP entry goes away with the socket, then the program.
    queue: XskQueue,
    steering: XdpSteering,
    queue_index: u32,
    poll_timeout_ms: i32,
    messages: u64,
    frame_drops: [u64; FrameError::ALL.len()],
}

impl XdpReceiver {
    /// Attaches the program, binds the socket and registers it in the XSKMAP.
    pub fn start(opts: &XdpRunOptions) -> Result<Self, RunError> {
        opts.xsk.validate()?;
        let mut steering = XdpSteering::attach(&opts.iface, &opts.ports, opts.attach)?;
        steering.set_source_filter(&opts.sources)?;
        let queue = XskQueue::open(&opts.iface, opts.queue, &opts.xsk)?;
        steering.register_socket(opts.queue, queue.fd())?;
        Ok(Self {
            queue,
            steering,
            queue_index: opts.queue,
            poll_timeout_ms: i32::try_from(opts.poll_timeout.as_millis()).unwrap_or(i32::MAX),
            messages: 0,
            frame_drops: [0; FrameError::ALL.len()],
        })
    }

    /// The XDP attach mode in effect.
    pub fn attach_mode(&self) -> AttachMode {
        self.steering.mode()
    }

    /// The socket's bind mode.
    pub fn bind_mode(&self) -> BindMode {
        self.queue.mode()
    }

    /// Receives until `stop` is set or a limit is reached, handing every UDP datagram to
    /// `handler`.
    pub fn run(
        &mut self,
        stop: &AtomicBool,
        limits: Limits,
        handler: &mut impl MessageHandler,
    ) -> Result<(), RunError> {
        let deadline = limits.duration.map(|d| Instant::now() + d);
        let queue_index = self.queue_index;
        let Self {
            queue,
            messages,
            frame_drops,
            ..
        } = self;
        while !stop.load(Ordering::Relaxed) {
            if deadline.is_some_and(|d| Instant::now() >= d)
                || limits.max_messages.is_some_and(|max| *messages >= max)
            {
                break;
            }
            let n = queue.recv_batch(|frame| match decode_udp(frame) {
                Ok(datagram) => {
                    *messages += 1;
                    handler.on_message(queue_index, &datagram);
                }
                Err(e) => frame_drops[e.index()] += 1,
            });
            if n == 0 {
                queue.wait(self.poll_timeout_ms).map_err(RunError::Poll)?;
            } else {
                handler.on_batch_end();
            }
        }
        Ok(())
    }

    /// Every counter of every stage, read now.
    pub fn report(&self) -> Result<RunReport, RunError> {
        let xdp = self.steering.counters()?;
        let kernel_xsk = self.queue.kernel_stats()?;
        let mut drops = BTreeMap::new();
        for (counter, value) in xdp.iter().filter(|(c, _)| c.is_drop()) {
            drops.insert(counter.name(), value);
        }
        drops.insert("xsk_rx_dropped", kernel_xsk.rx_dropped);
        drops.insert("xsk_rx_ring_full", kernel_xsk.rx_ring_full);
        drops.insert("xsk_rx_invalid_descs", kernel_xsk.rx_invalid_descs);
        for e in FrameError::ALL {
            drops.insert(e.counter_name(), self.frame_drops[e.index()]);
        }
        Ok(RunReport {
            iface: self.steering.iface().to_string(),
            queue: self.queue_index,
            xdp_mode: self.steering.mode(),
            bind_mode: self.queue.mode(),
            hugepages: self.queue.hugepages(),
            messages_received_total: self.messages,
            messages_received_xdp_total: self.messages,
            messages_received_socket_total: 0,
            drops,
            xdp,
            xsk: self.queue.counters(),
            kernel_xsk,
        })
    }
}

/// Every counter of a run, as written by `ingest run --stats-json`.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RunReport {
    /// Interface.
    pub iface: String,
    /// Queue the socket was bound to.
    pub queue: u32,
    /// XDP attach mode in effect.
    pub xdp_mode: AttachMode,
    /// Socket bind mode in effect.
    pub bind_mode: BindMode,
    /// Whether the UMEM is on huge pages.
    pub hugepages: bool,
    /// Messages handed on, all paths.
    pub messages_received_total: u64,
    /// Messages that came through AF_XDP.
    pub messages_received_xdp_total: u64,
    /// Messages that came through the kernel socket path (not built yet: always 0).
    pub messages_received_socket_total: u64,
    /// Every named drop of every stage, reason -> count.
    pub drops: BTreeMap<&'static str, u64>,
    /// The XDP program's decision counters.
    pub xdp: XdpCounters,
    /// The receive loop's ring counters.
    pub xsk: XskCounters,
    /// The kernel's AF_XDP socket counters.
    pub kernel_xsk: KernelXskStats,
}

impl RunReport {
    /// Sum of all named drops.
    pub fn drops_total(&self) -> u64 {
        self.drops.values().sum()
    }
}
