//! What every receive path (AF_XDP, kernel UDP, kernel TCP) does with a batch of messages, on
//! the worker's thread: count them, parse them, run the detection engine over the whole batch,
//! and pass whatever must leave the worker through its bounded output rings.
//!
//! One trip down into `detector::engine` per batch and one back: the pipeline fills a batch of
//! parsed events, the engine fills the pipeline's alert buffer, and the pipeline copies each
//! alert's message (still in its frame) into the alert ring. Nothing here allocates or locks per
//! message: the field indexes, the alert buffer and the rings are allocated once, samples are
//! fixed-size copies, and the clock is read three times per batch. The worker loop publishes
//! the counters once per batch ([`crate::datapath::live`]).

pub mod counters;
pub mod latency;
pub mod message;
pub mod outbox;
pub mod parsing;
pub mod swap;
pub mod zones;

use arrayvec::ArrayVec;
pub use counters::PipelineCounters;
use detector::{
    engine::{Alerts, Engine, EngineStats, Input, MAX_BATCH, SourceCount, SourceTop, source_key},
    parse::{
        Event, FieldIndex,
        gelf::{GelfAssembler, GelfDrop, GelfOutcome, is_gelf_transport},
        parse_indexed_into,
    },
};
pub use latency::{
    LATENCY_SAMPLE, Stage, StageLatency, latency_histogram, monotonic_ns, wall_clock_ns,
};
pub use message::{Message, Path};
pub use outbox::{Inbox, MessageCopy, Outbox, SAMPLE_LEN, WorkerAlert, outbox};
pub use parsing::{Parsing, wall_calendar};
pub use swap::{EngineSwap, EngineSwapHandle, NewEngine, engine_swap};

/// Most GELF messages in reassembly per worker.
const GELF_PENDING_MAX: usize = 1024;
/// Largest GELF message after reassembly and inflation.
const GELF_MESSAGE_MAX: usize = 1 << 20;
/// Alerts the engine can raise per chunk of a batch before it drops and counts.
pub const ALERTS_PER_BATCH: usize = 1024;

/// One worker's message pipeline.
pub struct Pipeline {
    worker: usize,
    print: bool,
    engine: Box<Engine>,
    /// The rule set generation of `engine`.
    generation: u32,
    parsing: Parsing,
    /// The fields of each message of a chunk, found once by the parser for every rule that
    /// reads them.
    fields: Box<[FieldIndex]>,
    gelf: GelfAssembler,
    gelf_buf: Vec<u8>,
    alerts: Alerts,
    outbox: Outbox,
    counters: PipelineCounters,
    latency: StageLatency,
    /// New engines (a reload) arrive here and old ones leave, both between batches.
    swap: Option<EngineSwap>,
    /// Messages handled, to pick the latency samples.
    seen: u64,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("worker", &self.worker)
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

/// What a pipeline leaves behind when its worker ends.
#[derive(Debug)]
pub struct PipelineReport {
    /// Its counters.
    pub counters: PipelineCounters,
    /// Per stage, nanoseconds.
    pub latency: StageLatency,
}

impl Pipeline {
    /// A pipeline for worker `worker` that detects with `engine` and sends what leaves the
    /// worker into `outbox`. With `print`, every message is also copied out as a [`MessageCopy`].
    pub fn new(worker: usize, print: bool, engine: Box<Engine>, outbox: Outbox) -> Self {
        Self {
            worker,
            print,
            engine,
            generation: 0,
            parsing: Parsing::default(),
            fields: (0..MAX_BATCH).map(|_| FieldIndex::default()).collect(),
            // GELF 1.1: at most 128 chunks, given up after 5 s.
            gelf: GelfAssembler::new(GELF_PENDING_MAX, GELF_MESSAGE_MAX, 5_000_000_000),
            gelf_buf: Vec::with_capacity(GELF_MESSAGE_MAX),
            alerts: Alerts::new(ALERTS_PER_BATCH),
            outbox,
            counters: PipelineCounters::default(),
            latency: StageLatency::default(),
            swap: None,
            seen: 0,
        }
    }

    /// Takes new engines from `swap` between batches (see [`Pipeline::between_batches`]).
    pub fn with_swap(mut self, swap: EngineSwap) -> Self {
        self.swap = Some(swap);
        self
    }

    /// Parses with `parsing` instead of the defaults.
    pub fn with_parsing(mut self, parsing: Parsing) -> Self {
        self.parsing = parsing;
        self
    }

    /// Between batches: if a new engine (a reload) has arrived, puts it in place and sends the
    /// old one back to be dropped off this thread. One atomic load when there is none.
    pub fn between_batches(&mut self) {
        let Some(swap) = &mut self.swap else {
            return;
        };
        if swap.retired.slots() == 0 {
            return; // the old one could not be sent back yet: try next time
        }
        if let Ok(NewEngine { generation, engine }) = swap.incoming.pop() {
            let old = std::mem::replace(&mut self.engine, engine);
            self.generation = generation;
            // Cannot fail: a slot was free above and only this thread pushes.
            let _ = swap.retired.push(old);
        }
    }

    /// The rule set generation this pipeline detects with.
    pub fn generation(&self) -> u32 {
        self.generation
    }

    /// Handles one batch of messages taken off a ring or socket at `pickup_ns`
    /// (CLOCK_MONOTONIC): count, parse, detect, and measure. A batch longer than
    /// [`MAX_BATCH`] goes through in chunks.
    pub fn handle_batch(&mut self, msgs: &[Message<'_>], pickup_ns: u64) {
        self.handle_from(msgs, pickup_ns, pickup_ns);
    }

    /// [`Pipeline::handle_batch`] of a batch taken off a ring or socket at `pickup_ns` and
    /// made into messages by `received_ns`: that time counts as the receive stage, and parsing
    /// is timed from `received_ns`.
    pub fn handle_received(&mut self, msgs: &[Message<'_>], pickup_ns: u64, received_ns: u64) {
        if msgs.is_empty() {
            return;
        }
        let (n, ns) = (msgs.len() as u64, received_ns.saturating_sub(pickup_ns));
        self.latency.count(Stage::Receive, n, ns);
        if self.seen.is_multiple_of(LATENCY_SAMPLE) {
            self.latency.sample(Stage::Receive, ns / n);
        }
        self.handle_from(msgs, pickup_ns, received_ns);
    }

    /// [`Pipeline::handle_batch`], its parsing timed from `parse_from_ns`.
    fn handle_from(&mut self, msgs: &[Message<'_>], pickup_ns: u64, parse_from_ns: u64) {
        self.parsing.refresh_calendar(pickup_ns);
        let c = &mut self.counters;
        for msg in msgs {
            let n = msg.payload.len() as u64;
            match msg.path {
                Path::Xdp => (c.received_xdp, c.bytes_xdp) = (c.received_xdp + 1, c.bytes_xdp + n),
                Path::Udp => (c.received_udp, c.bytes_udp) = (c.received_udp + 1, c.bytes_udp + n),
                Path::Tcp => (c.received_tcp, c.bytes_tcp) = (c.received_tcp + 1, c.bytes_tcp + n),
            }
        }
        for chunk in msgs.chunks(MAX_BATCH) {
            let mut gelf: ArrayVec<usize, MAX_BATCH> = ArrayVec::new();
            self.run(chunk, pickup_ns, parse_from_ns, |i, m| {
                if m.path != Path::Tcp && is_gelf_transport(m.payload) {
                    gelf.push(i);
                    None
                } else {
                    Some(m.payload)
                }
            });
            for i in gelf {
                self.gelf(&chunk[i], pickup_ns);
            }
        }
    }

    /// One message as a batch of its own, picked up now.
    pub fn handle(&mut self, msg: &Message<'_>) {
        self.handle_batch(std::slice::from_ref(msg), monotonic_ns());
    }

    /// A chunked or compressed GELF datagram: the message is what the assembler hands out.
    fn gelf(&mut self, msg: &Message<'_>, pickup_ns: u64) {
        let mut buf = std::mem::take(&mut self.gelf_buf);
        match self.gelf.push(msg.payload, pickup_ns, &mut buf) {
            GelfOutcome::Plain => {
                self.run(std::slice::from_ref(msg), pickup_ns, pickup_ns, |_, m| {
                    Some(m.payload)
                })
            }
            GelfOutcome::Complete => {
                self.counters.gelf_messages += 1;
                self.run(std::slice::from_ref(msg), pickup_ns, pickup_ns, |_, _| {
                    Some(&buf[..])
                });
            }
            GelfOutcome::Pending => self.counters.gelf_chunks_held += 1,
            GelfOutcome::Dropped(why) => {
                let i = GelfDrop::ALL
                    .iter()
                    .position(|d| *d == why)
                    .expect("listed");
                self.counters.gelf_dropped[i] += 1;
            }
        }
        self.counters.gelf_expired = self.gelf.expired();
        self.gelf_buf = buf;
    }

    /// Parses and detects `msgs` (at most [`MAX_BATCH`], already counted as received);
    /// `bytes_of(i, msg)` is the
    /// message to parse, or none to leave it to a later step (GELF). Then drains the alerts and
    /// records the stage times.
    fn run<'b>(
        &mut self,
        msgs: &[Message<'b>],
        pickup_ns: u64,
        parse_from_ns: u64,
        mut bytes_of: impl FnMut(usize, &Message<'b>) -> Option<&'b [u8]>,
    ) {
        let Self {
            worker,
            print,
            engine,
            generation,
            parsing,
            fields,
            alerts,
            outbox,
            counters: c,
            latency,
            seen,
            ..
        } = self;
        let mut inputs: ArrayVec<Input<'_>, MAX_BATCH> = ArrayVec::new();
        // For each input: its message, and the bytes parsed.
        let mut of: ArrayVec<(usize, &'b [u8]), MAX_BATCH> = ArrayVec::new();
        let mut indexes = fields.iter_mut();
        // The first messages' cache lines asked for now, and each later one's a few messages
        // ahead of its parse: the first reads (the GELF check, the parser) find them in cache
        // instead of waiting for each in turn.
        for m in msgs.iter().take(detector::simd::PREFETCH_AHEAD) {
            detector::simd::prefetch_bytes(m.payload);
        }
        for (i, msg) in msgs.iter().enumerate() {
            if let Some(ahead) = msgs.get(i + detector::simd::PREFETCH_AHEAD) {
                detector::simd::prefetch_bytes(ahead.payload);
            }
            let Some(bytes) = bytes_of(i, msg) else {
                continue;
            };
            let index = indexes
                .next()
                .expect("a field index per message of a chunk");
            // Parsed in its slot of the batch: a parsed event returned by value was copied
            // (224 bytes) on its way there.
            inputs.push(Input {
                event: Event::default(),
                source: Some(source_key(msg.src.ip())),
                arrival_ns: msg.arrival_ns.unwrap_or(pickup_ns),
            });
            let input = inputs.last_mut().expect("just pushed");
            parse_indexed_into(
                &mut input.event,
                bytes,
                &parsing.for_message(msg.dst_port, msg.src.ip()),
                index,
            );
            match input.event.error {
                None => c.parsed += 1,
                Some(e) => c.parse_errors[e.index()] += 1,
            }
            of.push((i, bytes));
        }
        if inputs.is_empty() {
            return;
        }
        let parsed_ns = monotonic_ns();
        engine.run(&inputs, alerts);
        let detected_ns = monotonic_ns();
        count_raised(c, alerts);
        for a in alerts.as_slice() {
            let sample = match a.input {
                Some(k) => {
                    let (i, bytes) = of[usize::from(k)];
                    MessageCopy::copy(*worker, &msgs[i], bytes)
                }
                None => MessageCopy::empty(*worker),
            };
            let out = WorkerAlert {
                alert: *a,
                generation: *generation,
                sample,
            };
            if outbox.alerts.push(out).is_err() {
                c.alerts_dropped_ring_full += 1;
            }
        }
        if !alerts.is_empty() {
            // One more clock read, only for batches that raised something.
            let queued_ns = monotonic_ns();
            for a in alerts.as_slice() {
                if let Some(t) = a.input.and_then(|k| msgs[of[usize::from(k)].0].arrival_ns) {
                    latency.record(Stage::Alert, queued_ns.saturating_sub(t), true);
                }
            }
            alerts.clear();
        }
        if *print {
            for &(i, bytes) in &of {
                if outbox
                    .samples
                    .push(MessageCopy::copy(*worker, &msgs[i], bytes))
                    .is_err()
                {
                    c.samples_dropped_ring_full += 1;
                }
            }
        }
        let n = of.len() as u64;
        let (parse, detect) = (
            parsed_ns.saturating_sub(parse_from_ns),
            detected_ns.saturating_sub(parsed_ns),
        );
        latency.count(Stage::Parse, n, parse);
        latency.count(Stage::Detect, n, detect);
        for &(i, _) in &of {
            // The first message of every LATENCY_SAMPLE, so that a short run has samples too.
            let sampled = seen.is_multiple_of(LATENCY_SAMPLE);
            *seen += 1;
            if sampled {
                latency.sample(Stage::Parse, parse / n);
                latency.sample(Stage::Detect, detect / n);
            }
            let msg = &msgs[i];
            match msg.arrival_ns {
                Some(t) => {
                    latency.record(Stage::Pickup, pickup_ns.saturating_sub(t), sampled);
                    latency.record(Stage::Detected, detected_ns.saturating_sub(t), sampled);
                }
                None if msg.path == Path::Xdp => c.latency_unmeasured += 1,
                None => {}
            }
        }
    }

    /// Nothing to do at `now_ns`: lets the engine run its time-based checks, and gives up GELF
    /// messages whose chunks are overdue (counted now, not only at the end).
    pub fn tick(&mut self, now_ns: u64) {
        self.engine.tick(now_ns, &mut self.alerts);
        count_raised(&mut self.counters, &self.alerts);
        for a in self.alerts.as_slice() {
            let out = WorkerAlert {
                alert: *a,
                generation: self.generation,
                sample: MessageCopy::empty(self.worker),
            };
            if self.outbox.alerts.push(out).is_err() {
                self.counters.alerts_dropped_ring_full += 1;
            }
        }
        self.alerts.clear();
        if self.gelf.pending() > 0 {
            self.gelf.expire(now_ns);
            self.counters.gelf_expired = self.gelf.expired();
        }
    }

    /// Counters so far.
    pub fn counters(&self) -> &PipelineCounters {
        &self.counters
    }

    /// The engine's table sizes and evictions.
    pub fn engine_stats(&self) -> EngineStats {
        self.engine.stats()
    }

    /// The loudest senders so far (sampled; see [`detector::engine::TOP_SOURCES_SAMPLE`]).
    pub fn top_sources(&self) -> &SourceTop {
        self.engine.top_sources()
    }

    /// The senders seen so far, counted.
    pub fn distinct_sources(&self) -> &SourceCount {
        self.engine.distinct_sources()
    }

    /// The latency histograms, for handing them over (swapped with empty ones).
    pub fn latency_mut(&mut self) -> &mut StageLatency {
        &mut self.latency
    }

    /// Gives up every GELF message still waiting for chunks (the worker is ending).
    pub fn expire_all(&mut self) {
        self.gelf.expire(u64::MAX);
        self.counters.gelf_expired = self.gelf.expired();
    }

    /// Ends the pipeline.
    pub fn finish(mut self) -> PipelineReport {
        self.expire_all();
        PipelineReport {
            counters: self.counters,
            latency: self.latency,
        }
    }
}

/// Counts what the engine just raised into `alerts`, and what the buffer dropped since the last
/// count.
fn count_raised(c: &mut PipelineCounters, alerts: &Alerts) {
    let dropped = alerts.overflowed() - c.alerts_dropped_buffer_full;
    c.alerts_raised += alerts.len() as u64 + dropped;
    c.alerts_dropped_buffer_full = alerts.overflowed();
}

#[cfg(test)]
mod tests;
