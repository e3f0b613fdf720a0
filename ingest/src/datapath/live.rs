//! Live counters: what each worker publishes while it runs, and how the housekeeping thread
//! reads it (for the metrics endpoint, limits, and the final report).
//!
//! A worker publishes its counters after every batch, never per message, through a triple
//! buffer: wait-free on both sides, the reader always sees one whole, consistent copy. What
//! changes slowly or costs a system call (the kernel's socket statistics, the engine's table
//! sizes, the senders' sketches) is refreshed at most every [`SLOW_INTERVAL_NS`], through a
//! triple buffer of its own, so a batch copies only the fast counters.
//!
//! Latency histograms are handed over rather than copied: at the slow interval the worker swaps
//! its histograms for empty ones that the housekeeping thread sent back, through two bounded
//! rings, so nothing is allocated after start and no sample is counted twice or lost.

use detector::engine::{EngineStats, SourceCount, SourceTop};

use crate::{
    datapath::frame::FrameError,
    datapath::pipeline::{Pipeline, PipelineCounters, StageLatency},
    datapath::socket::{TcpCounters, UdpCounters},
    sys::xsk::{KernelXskStats, XskCounters},
};

/// How often a worker refreshes its slow-changing state: 200 ms.
pub const SLOW_INTERVAL_NS: u64 = 200_000_000;

/// Empty histograms in circulation per worker: one in the worker, these on their way.
const SPARE_HISTOGRAMS: usize = 2;

/// What an AF_XDP worker counted, over every socket it has had on its queue.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct XdpSourceReport {
    /// The receive loop's ring counters.
    pub xsk: XskCounters,
    /// The kernel's counters for the socket.
    pub kernel_xsk: KernelXskStats,
    /// Frames that were not UDP datagrams after all, by [`FrameError`] index.
    #[serde(skip)]
    pub frame_drops: [u64; FrameError::ALL.len()],
    /// Times the worker closed its socket after the kernel kept refusing it, and opened a new
    /// one on the same queue.
    pub socket_reopens: u64,
}

impl Default for XdpSourceReport {
    fn default() -> Self {
        Self {
            xsk: XskCounters::default(),
            kernel_xsk: KernelXskStats::default(),
            frame_drops: [0; FrameError::ALL.len()],
            socket_reopens: 0,
        }
    }
}

/// A queue between two sockets (the old one closed, the new one not open yet) publishes what
/// its closed sockets counted.
impl SourceStats for XdpSourceReport {
    fn stats_into(&mut self, stats: &mut WorkerStats, _slow: bool) {
        stats.xdp = Some(*self);
    }
}

/// The counters one worker publishes after every batch.
#[derive(Clone, Copy, Debug, Default)]
pub struct WorkerStats {
    /// The pipeline's counters (messages, parse results, outputs, GELF).
    pub pipeline: PipelineCounters,
    /// AF_XDP ring and frame counters (AF_XDP workers).
    pub xdp: Option<XdpSourceReport>,
    /// UDP counters (socket workers).
    pub udp: Option<UdpCounters>,
    /// TCP counters (the socket worker that serves TCP).
    pub tcp: Option<TcpCounters>,
    /// The rule set generation the worker detects with.
    pub generation: u32,
}

/// What one worker publishes at the slow interval only.
#[derive(Clone, Copy, Debug, Default)]
pub struct SlowStats {
    /// The engine's state tables.
    pub engine: EngineStats,
    /// The loudest senders (sampled).
    pub top_sources: SourceTop,
    /// How many senders.
    pub distinct_sources: SourceCount,
}

/// The worker's side.
pub struct StatsPublisher {
    input: triple_buffer::Input<WorkerStats>,
    slow_input: triple_buffer::Input<SlowStats>,
    stats: WorkerStats,
    filled: rtrb::Producer<StageLatency>,
    spare: rtrb::Consumer<StageLatency>,
    next_slow_ns: u64,
}

/// The housekeeping thread's side.
pub struct StatsReader {
    output: triple_buffer::Output<WorkerStats>,
    slow_output: triple_buffer::Output<SlowStats>,
    filled: rtrb::Consumer<StageLatency>,
    spare: rtrb::Producer<StageLatency>,
}

impl std::fmt::Debug for StatsPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatsPublisher")
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for StatsReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatsReader").finish_non_exhaustive()
    }
}

/// A connected publisher and reader for one worker, with its spare histograms allocated now.
pub fn channel() -> (StatsPublisher, StatsReader) {
    let (input, output) = triple_buffer::triple_buffer(&WorkerStats::default());
    let (slow_input, slow_output) = triple_buffer::triple_buffer(&SlowStats::default());
    let (filled_tx, filled_rx) = rtrb::RingBuffer::new(SPARE_HISTOGRAMS);
    let (mut spare_tx, spare_rx) = rtrb::RingBuffer::new(SPARE_HISTOGRAMS);
    for _ in 0..SPARE_HISTOGRAMS {
        let _ = spare_tx.push(StageLatency::default());
    }
    (
        StatsPublisher {
            input,
            slow_input,
            stats: WorkerStats::default(),
            filled: filled_tx,
            spare: spare_rx,
            next_slow_ns: 0,
        },
        StatsReader {
            output,
            slow_output,
            filled: filled_rx,
            spare: spare_tx,
        },
    )
}

/// What a source contributes to [`WorkerStats`].
pub trait SourceStats {
    /// Copies the source's counters into `stats`; with `slow`, also those that cost a system
    /// call.
    fn stats_into(&mut self, stats: &mut WorkerStats, slow: bool);
}

impl StatsPublisher {
    /// After a batch: publishes every counter (and the slow state when it is due).
    pub fn publish(&mut self, source: &mut impl SourceStats, pipeline: &mut Pipeline, now_ns: u64) {
        let slow = now_ns >= self.next_slow_ns;
        if slow {
            self.next_slow_ns = now_ns + SLOW_INTERVAL_NS;
            self.refresh_slow(pipeline);
        }
        self.stats.pipeline = *pipeline.counters();
        self.stats.generation = pipeline.generation();
        source.stats_into(&mut self.stats, slow);
        // One copy into the back buffer (`write` would copy twice).
        *self.input.input_buffer_mut() = self.stats;
        self.input.publish();
    }

    /// When idle: publishes only when the slow state is due, so a spinning worker does not
    /// write its counters millions of times a second.
    pub fn publish_if_due(
        &mut self,
        source: &mut impl SourceStats,
        pipeline: &mut Pipeline,
        now: u64,
    ) {
        if now >= self.next_slow_ns {
            self.publish(source, pipeline, now);
        }
    }

    fn refresh_slow(&mut self, pipeline: &mut Pipeline) {
        let slow = self.slow_input.input_buffer_mut();
        slow.engine = pipeline.engine_stats();
        slow.top_sources = *pipeline.top_sources();
        slow.distinct_sources = *pipeline.distinct_sources();
        self.slow_input.publish();
        // Hand the histogram over only when the reader has room for it and an empty one is
        // back; otherwise keep recording into the same one until next time.
        if pipeline.latency_mut().is_empty() || self.filled.slots() == 0 {
            return;
        }
        if let Ok(mut empty) = self.spare.pop() {
            std::mem::swap(pipeline.latency_mut(), &mut empty);
            // Cannot fail: a slot was free above and only this thread pushes.
            let _ = self.filled.push(empty);
        }
    }

    /// The final counters, published once more for the reader.
    pub fn finish(
        &mut self,
        source: &mut impl SourceStats,
        pipeline: &mut Pipeline,
    ) -> (WorkerStats, SlowStats) {
        self.next_slow_ns = 0;
        self.publish(source, pipeline, 0);
        (self.stats, *self.slow_input.input_buffer_mut())
    }
}

impl StatsReader {
    /// The worker's latest counters.
    pub fn read(&mut self) -> &WorkerStats {
        self.output.read()
    }

    /// The worker's latest slow-changing state.
    pub fn read_slow(&mut self) -> &SlowStats {
        self.slow_output.read()
    }

    /// Hands every histogram the worker handed over to `add`, and sends them back empty.
    pub fn collect_latency(&mut self, mut add: impl FnMut(&StageLatency)) {
        while let Ok(mut h) = self.filled.pop() {
            add(&h);
            h.reset();
            let _ = self.spare.push(h);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datapath::pipeline::{Message, Path, Stage, monotonic_ns, outbox};

    fn pipeline() -> Pipeline {
        let blueprint = detector::engine::Blueprint::new(
            &detector::engine::Rules::default(),
            detector::engine::EngineOptions::default(),
        );
        Pipeline::new(0, false, Box::new(blueprint.engine()), outbox(1, 1).0)
    }

    struct NoSource;
    impl SourceStats for NoSource {
        fn stats_into(&mut self, stats: &mut WorkerStats, _slow: bool) {
            stats.udp = Some(UdpCounters {
                datagrams: stats.pipeline.received(),
                batches: 1,
                ..UdpCounters::default()
            });
        }
    }

    fn message(arrival_ns: u64) -> Message<'static> {
        Message {
            path: Path::Xdp,
            src: "198.18.0.1:4000".parse().unwrap(),
            dst_port: 514,
            vlan: None,
            payload: b"<14>1 - host app - - - ok",
            arrival_ns: Some(arrival_ns),
        }
    }

    #[test]
    fn counters_arrive_per_batch_and_latency_samples_once_each() {
        let mut pipeline = pipeline();
        let (mut publisher, mut reader) = channel();
        let mut merged = StageLatency::default();
        let mut now = 1;
        let mut sent = 0;
        // Ten batches of 100, each at a new slow interval: histograms go back and forth.
        for _ in 0..10 {
            for _ in 0..100 {
                pipeline.handle(&message(monotonic_ns()));
                sent += 1;
            }
            publisher.publish(&mut NoSource, &mut pipeline, now);
            now += SLOW_INTERVAL_NS;
            assert_eq!(reader.read().pipeline.received(), sent);
            assert_eq!(reader.read().udp.unwrap().datagrams, sent);
            reader.collect_latency(|h| merged.add(h));
        }
        // A batch within the same interval: counters are published, the histogram stays.
        pipeline.handle(&message(monotonic_ns()));
        publisher.publish(&mut NoSource, &mut pipeline, now - 1);
        assert_eq!(reader.read().pipeline.received(), sent + 1);
        reader.collect_latency(|h| merged.add(h));
        let (last, slow) = publisher.finish(&mut NoSource, &mut pipeline);
        assert_eq!(last.pipeline.received(), sent + 1);
        assert_eq!(slow.distinct_sources.estimate(), 1);
        assert_eq!(reader.read_slow().distinct_sources.estimate(), 1);
        reader.collect_latency(|h| merged.add(h));
        let left = pipeline.finish().latency;
        let detected = |l: &StageLatency| l.count_of(Stage::Detected);
        assert_eq!(
            detected(&merged) + detected(&left),
            sent + 1,
            "every sample counted exactly once"
        );
        assert!(detected(&merged) >= 1000, "handed over while running");
        let parsed = |l: &StageLatency| l.count_of(Stage::Parse);
        assert_eq!(parsed(&merged) + parsed(&left), sent + 1, "every stage too");
    }

    #[test]
    fn an_idle_worker_publishes_only_when_the_slow_state_is_due() {
        let mut pipeline = pipeline();
        let (mut publisher, mut reader) = channel();
        publisher.publish(&mut NoSource, &mut pipeline, 5);
        pipeline.handle(&message(monotonic_ns()));
        publisher.publish_if_due(&mut NoSource, &mut pipeline, 6);
        assert_eq!(reader.read().pipeline.received(), 0, "not due yet");
        publisher.publish_if_due(&mut NoSource, &mut pipeline, 5 + SLOW_INTERVAL_NS);
        assert_eq!(reader.read().pipeline.received(), 1);
    }
}
