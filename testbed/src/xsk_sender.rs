//! Sending frames through an AF_XDP socket's TX ring (`bench replay --sender af-xdp`), on the
//! product's socket setup (`ingest::sys::xsk::bind`).

use std::{io, num::NonZeroU32};

use ingest::sys::xsk::{BindMode, XskError, bind, bind_mode};
use xsk_rs::{
    CompQueue, FillQueue, FrameDesc, RxQueue, TxQueue, Umem,
    config::{FrameSize, QueueSize, UmemConfig},
};

/// An AF_XDP socket used to send: frames are copied into UMEM frames, queued on the TX ring in
/// batches, and their frames come back through the completion ring once the kernel has sent
/// them (`bench replay --sender af-xdp`). No XDP program is needed to send.
pub struct XskSender {
    // Field order is drop order: the rings go before the socket's UMEM.
    tx: TxQueue,
    comp: CompQueue,
    _rx: RxQueue,
    _fill: FillQueue,
    umem: Umem,
    /// Frames free to fill.
    free: Vec<FrameDesc>,
    /// Scratch for completions and for the batch being queued (allocated once).
    done: Vec<FrameDesc>,
    batch: Vec<FrameDesc>,
    mode: BindMode,
}

impl std::fmt::Debug for XskSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XskSender")
            .field("mode", &self.mode)
            .field("free", &self.free.len())
            .finish_non_exhaustive()
    }
}

impl XskSender {
    /// Frames of the sender's UMEM (also its TX and completion ring sizes).
    pub const FRAMES: u32 = 4096;

    /// Binds a socket for sending on `iface` queue `queue`.
    pub fn open(iface: &str, queue: u32) -> Result<Self, XskError> {
        let ring = |n| QueueSize::new(n).map_err(|e| XskError::Options(e.to_string()));
        let umem_config = UmemConfig::builder()
            .frame_size(FrameSize::new(4096).map_err(|e| XskError::Options(e.to_string()))?)
            .fill_queue_size(ring(64)?)
            .comp_queue_size(ring(Self::FRAMES)?)
            .build()
            .map_err(|e| XskError::Options(e.to_string()))?;
        let frames = NonZeroU32::new(Self::FRAMES).expect("non-zero");
        let (umem, descs) = Umem::new(umem_config, frames, false).map_err(XskError::Umem)?;
        let (tx, rx, fill, comp) = bind(iface, queue, &umem, 64, Self::FRAMES)?;
        let mode = bind_mode(&rx)?;
        let n = descs.len();
        Ok(Self {
            tx,
            comp,
            _rx: rx,
            _fill: fill,
            umem,
            done: vec![descs[0]; n],
            batch: Vec::with_capacity(n),
            free: descs,
            mode,
        })
    }

    /// Zero-copy or copy, as the kernel bound it.
    pub fn mode(&self) -> BindMode {
        self.mode
    }

    /// Queues as many of `frames` as free UMEM frames and TX slots allow (each at most a frame
    /// long; longer ones are an error), wakes the kernel, and returns how many were queued.
    pub fn send_batch(&mut self, frames: &[&[u8]]) -> io::Result<usize> {
        // Frames the kernel has finished with.
        // SAFETY: `done` is overwritten only with descriptors of this socket's UMEM.
        let n = unsafe { self.comp.consume(&mut self.done) };
        self.free.extend_from_slice(&self.done[..n]);
        let want = frames.len().min(self.free.len());
        self.batch.clear();
        for frame in &frames[..want] {
            let mut desc = self.free.pop().expect("counted above");
            // SAFETY: `desc` is a free frame of this UMEM: not in any ring, so neither the kernel
            // nor another descriptor refers to it while it is written.
            let mut data = unsafe { self.umem.data_mut(&mut desc) };
            let mut cursor = data.cursor();
            io::Write::write_all(&mut cursor, frame)?;
            self.batch.push(desc);
        }
        // SAFETY: the descriptors name frames of this UMEM just written and owned by no ring.
        let queued = unsafe { self.tx.produce_and_wakeup(&self.batch) }?;
        // What the TX ring did not take is free again.
        self.free.extend_from_slice(&self.batch[queued..]);
        Ok(queued)
    }

    /// Waits until the kernel has sent every queued frame (all frames are back from the
    /// completion ring), waking it as needed, for at most `timeout`. Returns whether it has.
    pub fn flush(&mut self, timeout: std::time::Duration) -> io::Result<bool> {
        let deadline = std::time::Instant::now() + timeout;
        while self.free.len() < self.done.len() {
            if std::time::Instant::now() >= deadline {
                return Ok(false);
            }
            if self.tx.needs_wakeup() {
                self.tx.wakeup()?;
            }
            // SAFETY: `done` is overwritten only with descriptors of this socket's UMEM.
            let n = unsafe { self.comp.consume(&mut self.done) };
            self.free.extend_from_slice(&self.done[..n]);
            if n == 0 {
                std::thread::yield_now();
            }
        }
        Ok(true)
    }
}
