//! A stand-in for an AF_XDP socket in tests: the frames a test queued, served a batch at a
//! time as the RX ring would, each with the XDP program's stamp in front and taken off as the
//! real ring's are; no system call, no root.

use std::{collections::VecDeque, io};

use super::xsk::{KernelXskStats, Rings, RxFrame, XskCounters, XskError, take_arrival};

/// Frames waiting in a pretend RX ring, and what the worker did with it.
#[derive(Debug, Default)]
pub struct FakeRings {
    /// Batches not yet taken, each as the ring would hand it out (stamp included).
    pub batches: VecDeque<Vec<Vec<u8>>>,
    /// Times the worker slept in `wait`.
    pub waits: u64,
    /// Times the worker kicked the driver.
    pub kicks: u64,
    /// Refuse every kick and idle wait, as the kernel does a socket it has unbound.
    pub refuse_kicks: bool,
    counters: XskCounters,
}

impl FakeRings {
    /// Rings whose every kick and idle wait is refused (see [`FakeRings::refuse_kicks`]).
    pub fn refusing() -> Self {
        Self {
            refuse_kicks: true,
            ..Self::default()
        }
    }

    /// Queues one batch of Ethernet frames, each stamped as the XDP program would with
    /// `arrival_ns`.
    pub fn push_batch(&mut self, frames: &[Vec<u8>], arrival_ns: u64) {
        let batch = frames
            .iter()
            .map(|f| {
                let mut stamped = arrival_ns.to_ne_bytes().to_vec();
                stamped.extend_from_slice(&xdp_common::XDP_META_MAGIC.to_ne_bytes());
                stamped.extend_from_slice(&0u32.to_ne_bytes());
                stamped.extend_from_slice(f);
                stamped
            })
            .collect();
        self.batches.push_back(batch);
    }
}

/// The frames of one batch of a [`FakeRings`].
#[derive(Debug)]
pub struct FakeFrames<'a> {
    frames: std::slice::Iter<'a, Vec<u8>>,
    no_arrival_time: &'a mut u64,
}

impl<'a> Iterator for FakeFrames<'a> {
    type Item = RxFrame<'a>;

    fn next(&mut self) -> Option<RxFrame<'a>> {
        let (arrival_ns, bytes) = take_arrival(self.frames.next()?);
        if arrival_ns.is_none() {
            *self.no_arrival_time += 1;
        }
        Some(RxFrame { bytes, arrival_ns })
    }
}

impl Rings for FakeRings {
    type Frames<'a> = FakeFrames<'a>;

    fn recv_batch(&mut self, handle: impl FnOnce(FakeFrames<'_>)) -> usize {
        let Some(batch) = self.batches.pop_front() else {
            self.counters.empty_polls += 1;
            return 0;
        };
        handle(FakeFrames {
            frames: batch.iter(),
            no_arrival_time: &mut self.counters.no_arrival_time,
        });
        self.counters.frames_received += batch.len() as u64;
        self.counters.batches += 1;
        batch.len()
    }

    fn wait(&mut self, _timeout_ms: i32) -> io::Result<()> {
        self.waits += 1;
        if self.refuse_kicks && self.batches.is_empty() {
            self.counters.kick_errors += 1;
        }
        Ok(())
    }

    fn kick(&mut self) {
        self.kicks += 1;
        if self.refuse_kicks {
            self.counters.kick_errors += 1;
        }
    }

    fn counters(&self) -> XskCounters {
        self.counters
    }

    fn kernel_stats(&self) -> Result<KernelXskStats, XskError> {
        Ok(KernelXskStats::default())
    }
}
