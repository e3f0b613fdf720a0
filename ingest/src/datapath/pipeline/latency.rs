//! Per-stage latency, on CLOCK_MONOTONIC, the clock of the XDP program's arrival stamp.
//!
//! The clock is read four times per batch (its pickup, after decoding, after parsing, after
//! detection), not per message. Every stage's count and sum are exact; its histogram takes one
//! message in [`LATENCY_SAMPLE`] (recording into a histogram costs more than the arithmetic),
//! so its percentiles are those of a sample, and reports say so.

use hdrhistogram::Histogram;

/// Highest latency the histograms track: 60 s in nanoseconds. Longer values are clamped.
const LATENCY_MAX_NS: u64 = 60_000_000_000;

/// One message in this many has its stage times put into the histograms (counts and sums are
/// exact).
pub const LATENCY_SAMPLE: u64 = 16;

/// A latency histogram with the bounds every worker uses, so they can be merged: 1 ns to 60 s
/// at two significant digits (values within 1 %), 30 KiB.
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_MAX_NS, 2).expect("constant bounds are valid")
}

/// What a worker times for each message, in report order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// From the XDP hook to the worker taking the message's batch off the RX ring.
    Pickup,
    /// Taking the batch off the ring, per message: decoding the frames and checking their
    /// checksums (AF_XDP), or sorting the datagrams (sockets). CPU time, like the next two.
    /// Timed per batch: its histogram takes the mean of a batch that starts at a sampled
    /// message, not one message in [`LATENCY_SAMPLE`].
    Receive,
    /// The batch's counting and parsing, per message.
    Parse,
    /// The engine's work on the batch, per message.
    Detect,
    /// From the XDP hook to the message through the engine.
    Detected,
    /// From the XDP hook to an alert on the message queued for the sinks.
    Alert,
}

impl Stage {
    /// Every stage, in report order.
    pub const ALL: [Stage; 6] = [
        Stage::Pickup,
        Stage::Receive,
        Stage::Parse,
        Stage::Detect,
        Stage::Detected,
        Stage::Alert,
    ];

    /// Its name in reports and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Pickup => "xdp_to_pickup",
            Stage::Receive => "receive",
            Stage::Parse => "parse",
            Stage::Detect => "detect",
            Stage::Detected => "xdp_to_detected",
            Stage::Alert => "xdp_to_alert",
        }
    }
}

/// Per [`Stage`]: a histogram of sampled messages (same bounds everywhere, so they merge), and
/// the exact count and sum of every message. Allocated once.
#[derive(Clone, Debug)]
pub struct StageLatency {
    histograms: [Histogram<u64>; Stage::ALL.len()],
    counts: [u64; Stage::ALL.len()],
    sums: [u64; Stage::ALL.len()],
}

impl Default for StageLatency {
    fn default() -> Self {
        Self {
            histograms: std::array::from_fn(|_| latency_histogram()),
            counts: [0; Stage::ALL.len()],
            sums: [0; Stage::ALL.len()],
        }
    }
}

impl StageLatency {
    /// Counts `n` messages of `stage` that took `total_ns` in all (exact).
    #[inline]
    pub fn count(&mut self, stage: Stage, n: u64, total_ns: u64) {
        self.counts[stage as usize] += n;
        self.sums[stage as usize] += total_ns;
    }

    /// Puts one sampled message's `ns` for `stage` into its histogram (clamped into range).
    #[inline]
    pub fn sample(&mut self, stage: Stage, ns: u64) {
        self.histograms[stage as usize].saturating_record(ns.clamp(1, LATENCY_MAX_NS));
    }

    /// Counts one message of `stage` and, when `sampled`, puts it into the histogram too.
    #[inline]
    pub fn record(&mut self, stage: Stage, ns: u64, sampled: bool) {
        self.count(stage, 1, ns);
        if sampled {
            self.sample(stage, ns);
        }
    }

    /// The histogram of `stage` (sampled messages).
    pub fn histogram(&self, stage: Stage) -> &Histogram<u64> {
        &self.histograms[stage as usize]
    }

    /// Messages counted for `stage` (exact).
    pub fn count_of(&self, stage: Stage) -> u64 {
        self.counts[stage as usize]
    }

    /// Their total time, ns (exact).
    pub fn sum_of(&self, stage: Stage) -> u64 {
        self.sums[stage as usize]
    }

    /// True when no stage has a message.
    pub fn is_empty(&self) -> bool {
        self.counts.iter().all(|&c| c == 0)
    }

    /// Adds every message of `other`.
    pub fn add(&mut self, other: &StageLatency) {
        for (a, b) in self.histograms.iter_mut().zip(&other.histograms) {
            // Same bounds everywhere: adding cannot fail.
            let _ = a.add(b);
        }
        for (a, b) in self.counts.iter_mut().zip(other.counts) {
            *a += b;
        }
        for (a, b) in self.sums.iter_mut().zip(other.sums) {
            *a += b;
        }
    }

    /// Empties every stage, keeping the memory.
    pub fn reset(&mut self) {
        self.histograms.iter_mut().for_each(Histogram::reset);
        self.counts = [0; Stage::ALL.len()];
        self.sums = [0; Stage::ALL.len()];
    }
}

/// CLOCK_MONOTONIC now, in nanoseconds: the clock `bpf_ktime_get_ns` reads.
pub fn monotonic_ns() -> u64 {
    let t = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .expect("CLOCK_MONOTONIC is always available");
    t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64
}

/// `t_ns` as nanoseconds since the epoch: alert times are either already that (event time) or
/// CLOCK_MONOTONIC (arrival time). Monotonic time counts from boot, so below 10^18 ns (31 years
/// of uptime) it is monotonic, and above it an epoch time (after 2001).
pub fn wall_clock_ns(t_ns: u64) -> u64 {
    const EPOCH_FLOOR: u64 = 1_000_000_000_000_000_000;
    if t_ns >= EPOCH_FLOOR || t_ns == 0 {
        return t_ns;
    }
    let now_wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    now_wall.saturating_sub(monotonic_ns().saturating_sub(t_ns))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_sums_are_exact_and_histograms_sampled() {
        let mut l = StageLatency::default();
        for i in 0..100u64 {
            l.record(Stage::Detected, 1000 + i, i % LATENCY_SAMPLE == 0);
        }
        l.count(Stage::Parse, 64, 6400);
        assert_eq!(l.count_of(Stage::Detected), 100);
        assert_eq!(l.sum_of(Stage::Detected), 100 * 1000 + 4950);
        assert_eq!(
            l.histogram(Stage::Detected).len(),
            7,
            "one in sixteen of 100"
        );
        assert_eq!(
            (l.count_of(Stage::Parse), l.sum_of(Stage::Parse)),
            (64, 6400)
        );
        let mut m = StageLatency::default();
        m.add(&l);
        m.add(&l);
        assert_eq!(m.count_of(Stage::Detected), 200);
        m.reset();
        assert!(m.is_empty());
    }
}
