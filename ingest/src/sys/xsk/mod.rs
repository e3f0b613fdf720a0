//! One AF_XDP socket bound to one (interface, queue), with its own UMEM, on top of xsk-rs.
//!
//! The receive loop follows xdp-tools' `xdpsock`: peek one batch from the RX ring, hand each
//! frame to the caller while it still lies in UMEM, then give the same frames back to the fill
//! ring in one commit, waking the kernel only when `needs_wakeup` says so.
//!
//! Frame accounting: the UMEM has exactly as many frames as the fill ring has slots, and every
//! frame is either in the fill ring, in the kernel's RX path, in the RX ring, or in this batch.
//! So a batch just consumed always fits back into the fill ring. Should that invariant ever break,
//! the frames wait in a stash (sized for all frames, allocated once) and the deferral is counted,
//! rather than being lost.

use std::{
    ffi::CString,
    io,
    num::NonZeroU32,
    os::fd::{AsRawFd, BorrowedFd, OwnedFd},
};

use detector::simd::{PREFETCH_AHEAD, prefetch_bytes};
use xdp_common::{XDP_META_LEN, XDP_META_MAGIC, XdpMeta};
use xsk_rs::{
    CompQueue, FillQueue, FrameDesc, RxQueue, TxQueue, Umem,
    config::{BindFlags, FrameSize, Interface, LibxdpFlags, QueueSize, SocketConfig, UmemConfig},
    socket::Socket,
};

mod counters;

pub use counters::{BusyPollStatus, KernelXskStats, XskCounters};

/// Sizes of one socket's UMEM and rings, checked by [`XskOptions::validate`].
#[derive(Clone, Debug)]
pub struct XskOptions {
    /// Frames in the UMEM, which is also the size of the fill ring. Power of two.
    pub frame_count: u32,
    /// Bytes per frame: 2048 or 4096.
    pub frame_size: u32,
    /// Slots in the RX ring. Power of two.
    pub rx_ring_size: u32,
    /// Most frames handled per batch.
    pub batch_size: usize,
    /// Back the UMEM with 2 MiB huge pages when any are reserved.
    pub hugepages: bool,
}

impl Default for XskOptions {
    fn default() -> Self {
        Self {
            frame_count: 8192,
            frame_size: 4096,
            rx_ring_size: 4096,
            batch_size: 64,
            hugepages: true,
        }
    }
}

impl XskOptions {
    /// Checks the sizes once, before any socket is made.
    pub fn validate(&self) -> Result<(), XskError> {
        let bad = |what: &str| Err(XskError::Options(what.to_string()));
        if !self.frame_count.is_power_of_two() || self.frame_count < 64 {
            return bad("frame_count must be a power of two, at least 64");
        }
        if self.frame_size != 2048 && self.frame_size != 4096 {
            return bad("frame_size must be 2048 or 4096");
        }
        if !self.rx_ring_size.is_power_of_two() || self.rx_ring_size > self.frame_count {
            return bad("rx_ring_size must be a power of two no larger than frame_count");
        }
        if self.batch_size == 0 || self.batch_size > self.rx_ring_size as usize {
            return bad("batch_size must be between 1 and rx_ring_size");
        }
        Ok(())
    }
}

/// How the kernel bound the socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BindMode {
    /// The NIC DMAs straight into UMEM.
    ZeroCopy,
    /// The kernel copies each packet into UMEM (veth, drivers without zero-copy support).
    Copy,
}

/// Why a socket could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum XskError {
    /// The options are inconsistent.
    #[error("invalid AF_XDP options: {0}")]
    Options(String),
    /// The interface name cannot be passed to the kernel.
    #[error("invalid interface name {0:?}")]
    InterfaceName(String),
    /// UMEM allocation or registration failed.
    #[error("creating the UMEM failed")]
    Umem(#[source] xsk_rs::umem::UmemCreateError),
    /// Socket creation or bind failed (no such queue, another socket bound, no AF_XDP support).
    #[error("creating the AF_XDP socket on {iface} queue {queue} failed")]
    Socket {
        /// Interface.
        iface: String,
        /// Queue index.
        queue: u32,
        /// What the kernel or libxdp said.
        #[source]
        source: xsk_rs::socket::SocketCreateError,
    },
    /// The new UMEM came without a fill ring (it was already shared).
    #[error("the UMEM of {0} queue {1} has no fill ring")]
    NoFillRing(String, u32),
    /// The socket's descriptor could not be duplicated.
    #[error("duplicating the AF_XDP socket's descriptor")]
    Dup(#[source] io::Error),
    /// A socket option could not be read.
    #[error("reading socket option {what}")]
    SockOpt {
        /// Which option.
        what: &'static str,
        /// The error.
        #[source]
        source: io::Error,
    },
}

/// One received frame, lent to the handler while it lies in UMEM.
#[derive(Clone, Copy, Debug)]
pub struct RxFrame<'a> {
    /// The Ethernet frame.
    pub bytes: &'a [u8],
    /// When the XDP program saw it (CLOCK_MONOTONIC ns), if it could stamp it.
    pub arrival_ns: Option<u64>,
}

/// The frames of one batch, lent by [`XskQueue::recv_batch`] while they lie in UMEM.
pub struct Frames<'a> {
    descs: std::slice::Iter<'a, FrameDesc>,
    umem: &'a Umem,
    no_arrival_time: &'a mut u64,
}

impl std::fmt::Debug for Frames<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Frames")
            .field("left", &self.descs.len())
            .finish_non_exhaustive()
    }
}

impl<'a> Frames<'a> {
    /// The frames of `descs`, the first [`PREFETCH_AHEAD`] asked into cache at once, and each
    /// later one as the frame that many before it is handed out: the first read of a frame (the
    /// checksum check, in the worker) then finds it there, where before each frame's misses
    /// came one after the other.
    fn new(descs: &'a [FrameDesc], umem: &'a Umem, no_arrival_time: &'a mut u64) -> Self {
        for desc in descs.iter().take(PREFETCH_AHEAD) {
            prefetch_frame(umem, desc);
        }
        Self {
            descs: descs.iter(),
            umem,
            no_arrival_time,
        }
    }
}

/// Asks the first cache lines of the frame of `desc`, one of a batch consumed from the RX ring
/// of `umem`'s socket, into cache.
#[inline(always)]
fn prefetch_frame(umem: &Umem, desc: &FrameDesc) {
    // SAFETY: as in `Frames::next`: `desc` was consumed from this socket's RX ring with the rest
    // of its batch, so it names a frame of this UMEM the kernel has finished writing, and the
    // slice is only read for its address here.
    let data = unsafe { umem.data(desc) };
    prefetch_bytes(data.contents());
}

impl<'a> Iterator for Frames<'a> {
    type Item = RxFrame<'a>;

    fn next(&mut self) -> Option<RxFrame<'a>> {
        let desc = self.descs.next()?;
        if let Some(ahead) = self.descs.as_slice().get(PREFETCH_AHEAD - 1) {
            prefetch_frame(self.umem, ahead);
        }
        // SAFETY: `desc` was consumed from this socket's RX ring by `recv_batch`, so it names a
        // frame of this UMEM that the kernel has finished writing and will not touch again until
        // `recv_batch` hands the batch back to the fill ring, after this iterator (and every
        // slice it lent, bound to its lifetime) is gone.
        let data = unsafe { self.umem.data(desc) };
        let (arrival_ns, bytes) = take_arrival(data.contents());
        if arrival_ns.is_none() {
            *self.no_arrival_time += 1;
        }
        Some(RxFrame { bytes, arrival_ns })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.descs.size_hint()
    }
}

/// What a worker needs of an AF_XDP socket: its RX ring a batch at a time, and the waits and
/// kicks around it. [`XskQueue`] is the real socket; `sys::fake::FakeRings` (in tests)
/// serves frames from memory, so the worker loop runs in an unprivileged test.
pub trait Rings {
    /// The frames of one batch, lent while they lie in the ring's memory.
    type Frames<'a>: Iterator<Item = RxFrame<'a>>
    where
        Self: 'a;

    /// Takes up to one batch and lends it to `handle`; returns the number of frames taken (0:
    /// the ring was empty, and `handle` was not called).
    fn recv_batch(&mut self, handle: impl FnOnce(Self::Frames<'_>)) -> usize;

    /// Sleeps for up to `timeout_ms` until frames arrive; a wait that times out probes the
    /// socket as a kick does, counting a refusal in [`XskCounters::kick_errors`].
    fn wait(&mut self, timeout_ms: i32) -> io::Result<()>;

    /// Busy-poll mode: drives the driver from this thread when the ring is empty.
    fn kick(&mut self);

    /// What the receive loop has counted so far.
    fn counters(&self) -> XskCounters;

    /// The kernel's counters for the socket.
    fn kernel_stats(&self) -> Result<KernelXskStats, XskError>;
}

impl Rings for XskQueue {
    type Frames<'a> = Frames<'a>;

    fn recv_batch(&mut self, handle: impl FnOnce(Frames<'_>)) -> usize {
        XskQueue::recv_batch(self, handle)
    }

    fn wait(&mut self, timeout_ms: i32) -> io::Result<()> {
        XskQueue::wait(self, timeout_ms)
    }

    fn kick(&mut self) {
        XskQueue::kick(self);
    }

    fn counters(&self) -> XskCounters {
        XskQueue::counters(self)
    }

    fn kernel_stats(&self) -> Result<KernelXskStats, XskError> {
        XskQueue::kernel_stats(self)
    }
}

/// An open AF_XDP socket with its UMEM, fill ring and RX ring.
pub struct XskQueue {
    // Field order is drop order: the rings go before the socket's UMEM.
    rx: RxQueue,
    fill: FillQueue,
    _tx: TxQueue,
    _comp: CompQueue,
    umem: Umem,
    batch: Vec<FrameDesc>,
    stash: Vec<FrameDesc>,
    mode: BindMode,
    hugepages: bool,
    counters: XskCounters,
}

impl std::fmt::Debug for XskQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XskQueue")
            .field("fd", &self.rx.fd().as_raw_fd())
            .field("mode", &self.mode)
            .field("hugepages", &self.hugepages)
            .finish_non_exhaustive()
    }
}

impl XskQueue {
    /// Creates a UMEM, binds a socket to `iface` queue `queue`, and fills the fill ring.
    ///
    /// No XDP program is loaded: the caller puts [`XskQueue::fd`] into its own XSKMAP. The kernel
    /// tries zero-copy and falls back to copy mode by itself; [`XskQueue::mode`] tells which.
    pub fn open(iface: &str, queue: u32, opts: &XskOptions) -> Result<Self, XskError> {
        opts.validate()?;
        let ring = |n| QueueSize::new(n).map_err(|e| XskError::Options(e.to_string()));
        let umem_config = UmemConfig::builder()
            .frame_size(
                FrameSize::new(opts.frame_size).map_err(|e| XskError::Options(e.to_string()))?,
            )
            .fill_queue_size(ring(opts.frame_count)?)
            .comp_queue_size(ring(64)?)
            .build()
            .map_err(|e| XskError::Options(e.to_string()))?;
        let frame_count = NonZeroU32::new(opts.frame_count).expect("validated non-zero");

        let (umem, frames, hugepages) = match Umem::new(umem_config, frame_count, opts.hugepages) {
            Ok((umem, frames)) => (umem, frames, opts.hugepages),
            Err(err) if opts.hugepages => {
                tracing::warn!(
                    "no huge pages for the UMEM of {iface} queue {queue} ({err}); using 4 KiB \
                     pages. Reserve some with: echo 64 > /proc/sys/vm/nr_hugepages"
                );
                let (umem, frames) =
                    Umem::new(umem_config, frame_count, false).map_err(XskError::Umem)?;
                (umem, frames, false)
            }
            Err(err) => return Err(XskError::Umem(err)),
        };

        let (tx, rx, mut fill, comp) = bind(iface, queue, &umem, opts.rx_ring_size, 64)?;

        // The fill ring has exactly frame_count slots and is empty, so all frames fit at once.
        // SAFETY: the descriptors come from this UMEM and none is in use anywhere yet.
        let produced = unsafe { fill.produce(&frames) };
        assert_eq!(
            produced,
            frames.len(),
            "an empty fill ring takes every frame"
        );

        let mode = bind_mode(&rx)?;
        let batch = vec![frames[0]; opts.batch_size];
        Ok(Self {
            rx,
            fill,
            _tx: tx,
            _comp: comp,
            umem,
            batch,
            stash: Vec::with_capacity(frames.len()),
            mode,
            hugepages,
            counters: XskCounters::default(),
        })
    }

    /// The socket's file descriptor, for the XSKMAP.
    pub fn fd(&self) -> std::os::fd::RawFd {
        self.rx.fd().as_raw_fd()
    }

    /// A descriptor of its own for the same socket, for a thread that registers the socket
    /// later: unlike the number, it cannot come to name another file meanwhile. Whoever holds
    /// it keeps the socket (and its binding to the queue) alive, so it is closed as soon as
    /// the socket is registered.
    pub fn dup_fd(&self) -> Result<OwnedFd, XskError> {
        // SAFETY: the descriptor is this socket's, open for as long as `self` lives, which
        // outlasts the borrow (it ends with the clone below).
        unsafe { BorrowedFd::borrow_raw(self.fd()) }
            .try_clone_to_owned()
            .map_err(XskError::Dup)
    }

    /// Zero-copy or copy, as the kernel bound it.
    pub fn mode(&self) -> BindMode {
        self.mode
    }

    /// Whether the UMEM is on huge pages.
    pub fn hugepages(&self) -> bool {
        self.hugepages
    }

    /// What the receive loop has counted so far.
    pub fn counters(&self) -> XskCounters {
        self.counters
    }

    /// Takes up to one batch from the RX ring and lends it to `handle` as an iterator of frames
    /// (each the whole Ethernet frame, in place in UMEM, with the arrival time the XDP program
    /// stamped in front of it); then returns the frames to the fill ring.
    ///
    /// Returns the number of frames taken; 0 means the ring was empty (and `handle` was not
    /// called).
    pub fn recv_batch(&mut self, handle: impl FnOnce(Frames<'_>)) -> usize {
        self.refill_stash();
        // SAFETY: the descriptors in `batch` are only overwritten by the ring with frames of this
        // socket's own UMEM.
        let n = unsafe { self.rx.consume(&mut self.batch) };
        if n == 0 {
            self.counters.empty_polls += 1;
            return 0;
        }
        handle(Frames::new(
            &self.batch[..n],
            &self.umem,
            &mut self.counters.no_arrival_time,
        ));
        self.counters.frames_received += n as u64;
        self.counters.batches += 1;
        self.give_back(n);
        n
    }

    /// Sleeps in `poll()` for up to `timeout_ms` until the RX ring has frames, waking the kernel
    /// first if the fill ring asks for it. A signal ends the wait early without an error. A
    /// wait that times out probes the socket with [`XskQueue::kick`]'s receive: `poll()` says
    /// nothing of a socket the kernel has unbound, the receive does.
    pub fn wait(&mut self, timeout_ms: i32) -> io::Result<()> {
        self.wake_fill_if_needed();
        match self.rx.poll(timeout_ms) {
            Ok(true) => Ok(()),
            Ok(false) => {
                self.receive_probe();
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Sets the busy-poll socket options (SO_PREFER_BUSY_POLL, SO_BUSY_POLL with `usecs`,
    /// SO_BUSY_POLL_BUDGET with `budget`) and reports, per option, what the kernel said.
    pub fn enable_busy_poll(&self, usecs: u32, budget: u32) -> BusyPollStatus {
        let fd = self.fd();
        let set = |name, value: u32| {
            let value = libc::c_int::try_from(value).unwrap_or(libc::c_int::MAX);
            // SAFETY: `value` is a live c_int and the length passed is its size, the layout the
            // kernel reads for these integer socket options.
            let rc = unsafe {
                libc::setsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    name,
                    (&raw const value).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
            (rc != 0).then(|| io::Error::last_os_error().to_string())
        };
        BusyPollStatus {
            prefer_busy_poll: set(libc::SO_PREFER_BUSY_POLL, 1),
            busy_poll_usecs: set(libc::SO_BUSY_POLL, usecs),
            busy_poll_budget: set(libc::SO_BUSY_POLL_BUDGET, budget),
        }
    }

    /// Drives the driver from this thread when the RX ring is empty in busy-poll mode: a
    /// non-blocking `recvfrom` makes the kernel run the queue's NAPI poll here (xdpsock does the
    /// same).
    pub fn kick(&mut self) {
        self.receive_probe();
        self.wake_fill_if_needed();
    }

    /// A zero-length, non-blocking receive: in busy-poll mode it runs the queue's NAPI poll;
    /// in any mode the kernel refuses it when the socket is no longer bound. A refusal other
    /// than a transient one is counted in [`XskCounters::kick_errors`].
    fn receive_probe(&mut self) {
        // SAFETY: a zero-length receive with null buffers and addresses is valid for an AF_XDP
        // socket; it only triggers the busy poll and returns at once (MSG_DONTWAIT).
        let rc = unsafe {
            libc::recvfrom(
                self.fd(),
                std::ptr::null_mut(),
                0,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
        if rc < 0 && !transient(&io::Error::last_os_error()) {
            self.counters.kick_errors += 1;
        }
    }

    /// Reads the kernel's counters for this socket.
    pub fn kernel_stats(&self) -> Result<KernelXskStats, XskError> {
        let s = self
            .rx
            .fd()
            .xdp_statistics()
            .map_err(|source| XskError::SockOpt {
                what: "XDP_STATISTICS",
                source,
            })?;
        Ok(KernelXskStats {
            rx_dropped: s.rx_dropped(),
            rx_ring_full: s.rx_ring_full(),
            rx_fill_ring_empty_descs: s.rx_fill_ring_empty_descs(),
            rx_invalid_descs: s.rx_invalid_descs(),
        })
    }

    fn give_back(&mut self, n: usize) {
        if self.stash.is_empty() && self.fill.nb_free(n as u32) as usize >= n {
            // SAFETY: these frames of this UMEM were consumed from RX and are no longer read.
            let produced = unsafe { self.fill.produce(&self.batch[..n]) };
            if produced == n {
                self.wake_fill_if_needed();
                return;
            }
        }
        self.counters.fill_deferred += 1;
        self.stash.extend_from_slice(&self.batch[..n]);
        self.refill_stash();
    }

    fn refill_stash(&mut self) {
        if self.stash.is_empty() {
            return;
        }
        let free = self.fill.nb_free(self.stash.len() as u32) as usize;
        let k = free.min(self.stash.len());
        if k == 0 {
            return;
        }
        // SAFETY: stashed frames belong to this UMEM and are no longer read; the fill ring has
        // room for all `k` of them, so it takes them whole.
        let produced = unsafe { self.fill.produce(&self.stash[..k]) };
        self.stash.drain(..produced);
        self.wake_fill_if_needed();
    }

    /// Wakes the kernel when the fill ring asks for it; an error is counted in
    /// [`XskCounters::kick_errors`].
    fn wake_fill_if_needed(&mut self) {
        if self.fill.needs_wakeup() {
            self.counters.fill_wakeups += 1;
            if let Err(e) = self.fill.wakeup(self.rx.fd_mut(), 0)
                && !transient(&e)
            {
                self.counters.kick_errors += 1;
            }
        }
    }
}

/// Whether a kick's error only means "not now": the kernel is busy, out of buffers for the
/// moment, or the link is down, and the next kick will try again.
fn transient(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EAGAIN | libc::EBUSY | libc::ENOBUFS | libc::ENETDOWN | libc::EINTR)
    )
}

/// Splits the [`XdpMeta`] stamp the XDP program put in front of a frame from the frame: the
/// arrival time and the Ethernet frame after it. A frame that does not start with the stamp is
/// returned whole, without a time.
pub(super) fn take_arrival(data: &[u8]) -> (Option<u64>, &[u8]) {
    let Some((stamp, frame)) = data.split_first_chunk::<XDP_META_LEN>() else {
        return (None, data);
    };
    // The program wrote the stamp in the host's byte order (eBPF runs in it), field by field
    // as `#[repr(C)]` lays it out.
    let field = |at: usize, len: usize| &stamp[at..at + len];
    let magic = field(std::mem::offset_of!(XdpMeta, magic), 4);
    if magic != XDP_META_MAGIC.to_ne_bytes() {
        return (None, data);
    }
    let arrival = field(std::mem::offset_of!(XdpMeta, arrival_ns), 8);
    let arrival = u64::from_ne_bytes(arrival.try_into().expect("8 bytes"));
    (Some(arrival), frame)
}

/// Binds a new socket on a UMEM made for it alone to `iface` queue `queue`, with RX and TX rings
/// of the given sizes, waking the kernel only when it asks; no XDP program is loaded.
pub fn bind(
    iface: &str,
    queue: u32,
    umem: &Umem,
    rx_size: u32,
    tx_size: u32,
) -> Result<(TxQueue, RxQueue, FillQueue, CompQueue), XskError> {
    let ring = |n| QueueSize::new(n).map_err(|e| XskError::Options(e.to_string()));
    let socket_config = SocketConfig::builder()
        .rx_queue_size(ring(rx_size)?)
        .tx_queue_size(ring(tx_size)?)
        .libxdp_flags(LibxdpFlags::XSK_LIBXDP_FLAGS_INHIBIT_PROG_LOAD)
        .bind_flags(BindFlags::XDP_USE_NEED_WAKEUP)
        .build();
    let name = CString::new(iface).map_err(|_| XskError::InterfaceName(iface.to_string()))?;
    // SAFETY: callers pass a UMEM they just made for this one socket, so the (iface, queue)
    // pair is not already bound through it; the libxdp program load is inhibited as required.
    let (tx, rx, rings) = unsafe { Socket::new(socket_config, umem, &Interface::new(name), queue) }
        .map_err(|source| XskError::Socket {
            iface: iface.to_string(),
            queue,
            source,
        })?;
    let (fill, comp) = rings.ok_or_else(|| XskError::NoFillRing(iface.to_string(), queue))?;
    Ok((tx, rx, fill, comp))
}

/// Asks the kernel whether the socket was bound in zero-copy mode.
pub fn bind_mode(rx: &RxQueue) -> Result<BindMode, XskError> {
    let mut opts = libc::xdp_options { flags: 0 };
    let mut len = std::mem::size_of::<libc::xdp_options>() as libc::socklen_t;
    // SAFETY: `opts` and `len` are valid for writes and `len` holds the size of `opts`, which is
    // the layout the kernel writes for XDP_OPTIONS.
    let rc = unsafe {
        libc::getsockopt(
            rx.fd().as_raw_fd(),
            libc::SOL_XDP,
            libc::XDP_OPTIONS,
            (&raw mut opts).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(XskError::SockOpt {
            what: "XDP_OPTIONS",
            source: io::Error::last_os_error(),
        });
    }
    Ok(if opts.flags & libc::XDP_OPTIONS_ZEROCOPY != 0 {
        BindMode::ZeroCopy
    } else {
        BindMode::Copy
    })
}

#[cfg(test)]
mod tests;
