//! The latency samples the workers hand over, kept by the housekeeping loop.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::datapath::pipeline::{Stage, StageLatency, latency_histogram};

/// The latency samples the workers handed over: all since start, and the recent ones.
#[derive(Debug)]
pub(super) struct LatencyTotals {
    pub(super) all: StageLatency,
    /// The current window and the one before (XDP hook to detected): together the last 30 to 60
    /// seconds.
    recent: [Histogram<u64>; 2],
    rotated: Instant,
}

impl LatencyTotals {
    const WINDOW: Duration = Duration::from_secs(30);

    pub(super) fn new() -> Self {
        Self {
            all: StageLatency::default(),
            recent: [latency_histogram(), latency_histogram()],
            rotated: Instant::now(),
        }
    }

    pub(super) fn add(&mut self, h: &StageLatency) {
        if self.rotated.elapsed() >= Self::WINDOW {
            self.recent.swap(0, 1);
            self.recent[0].reset();
            self.rotated = Instant::now();
        }
        self.all.add(h);
        // Same bounds everywhere: adding cannot fail.
        let _ = self.recent[0].add(h.histogram(Stage::Detected));
    }

    pub(super) fn recent(&self) -> Histogram<u64> {
        let mut h = self.recent[0].clone();
        let _ = h.add(&self.recent[1]);
        h
    }
}
