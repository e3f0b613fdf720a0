//! What every receive path (AF_XDP, kernel UDP, kernel TCP) does with one message, on the
//! worker's thread: count it, parse it, hand it to the detector, and pass whatever must leave the
//! worker through its bounded output ring.
//!
//! Nothing here allocates or locks per message: the output ring is preallocated, samples are
//! fixed-size copies, the latency histogram is sized once, and the top-sources sketch is a fixed
//! array. The worker loop publishes the counters once per batch ([`crate::live`]).

use std::{hash::Hasher, net::SocketAddr, sync::Arc};

use detector::baseline::{BaselineOptions, Baselines};
use detector::mining::{Miner, MinerOptions};
use detector::parse::{
    Event, FieldIndex, ParseError, ParseOptions,
    gelf::{GelfAssembler, GelfDrop, GelfOutcome, is_gelf_transport},
    parse_indexed,
};
use detector::rules::{
    correlation::{CorrelationEngine, CorrelationRule},
    sigma::{SigmaScratch, SigmaSet},
    silence::{SilenceEngine, SilenceRule},
    threshold::{ThresholdEngine, ThresholdRule},
};
use hdrhistogram::Histogram;

/// Which path a message came by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Path {
    /// AF_XDP, steered by the XDP program.
    Xdp,
    /// The kernel's UDP stack (fragments, queues without a socket, `--backend socket`).
    Udp,
    /// A TCP syslog connection.
    Tcp,
}

/// One message, borrowed from wherever it arrived (UMEM frame, socket buffer, stream buffer).
#[derive(Clone, Copy, Debug)]
pub struct Message<'a> {
    /// How it came.
    pub path: Path,
    /// Sender address and port.
    pub src: SocketAddr,
    /// Destination (log) port.
    pub dst_port: u16,
    /// VLAN id, when it came tagged through AF_XDP.
    pub vlan: Option<u16>,
    /// The log message.
    pub payload: &'a [u8],
    /// When the XDP program saw it (CLOCK_MONOTONIC ns).
    pub arrival_ns: Option<u64>,
}

/// The detector a worker runs every message through. Called inside the batch loop: must not
/// block or allocate.
pub trait Detect: Send {
    /// Looks at one message and its parsed event; anything it raises goes into `out`.
    fn on_message(&mut self, msg: &Message<'_>, event: &Event<'_>, out: &mut Outbox<'_>);

    /// Called when the worker finds nothing to do (often, when busy-polling): the place for
    /// checks that depend on time alone, such as silences. Must be cheap.
    fn on_tick(&mut self, _now_ns: u64, _out: &mut Outbox<'_>) {}

    /// The sizes of its state tables and what they evicted. Read a few times a second, off the
    /// per-message path.
    fn stats(&self) -> DetectorStats {
        DetectorStats::default()
    }
}

/// What a detector holds and has evicted, per kind of per-key state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct DetectorStats {
    /// Keys held now, by [`DetectorTable`] index.
    pub keys: [u64; DetectorTable::ALL.len()],
    /// Keys evicted from full tables so far, by [`DetectorTable`] index.
    pub evicted: [u64; DetectorTable::ALL.len()],
    /// Threshold crossings folded into a suppression instead of a new alert.
    pub suppressed: u64,
}

impl DetectorStats {
    /// Adds `other` into `self`.
    pub fn add(&mut self, other: &Self) {
        for (a, b) in self.keys.iter_mut().zip(other.keys) {
            *a += b;
        }
        for (a, b) in self.evicted.iter_mut().zip(other.evicted) {
            *a += b;
        }
        self.suppressed += other.suppressed;
    }
}

/// The detector's kinds of per-key state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DetectorTable {
    /// Threshold rules' windows, per group key.
    Threshold,
    /// Correlation rules' windows, per group.
    Correlation,
    /// Silence rules' last-seen times, per host or app.
    Silence,
    /// Mined templates.
    Templates,
    /// Rate baselines, per (host, app, template).
    Baselines,
}

impl DetectorTable {
    /// Every table, in index order.
    pub const ALL: [DetectorTable; 5] = [
        DetectorTable::Threshold,
        DetectorTable::Correlation,
        DetectorTable::Silence,
        DetectorTable::Templates,
        DetectorTable::Baselines,
    ];

    /// The metric label.
    pub const fn name(self) -> &'static str {
        match self {
            DetectorTable::Threshold => "threshold",
            DetectorTable::Correlation => "correlation",
            DetectorTable::Silence => "silence",
            DetectorTable::Templates => "templates",
            DetectorTable::Baselines => "baselines",
        }
    }
}

/// The detector until the detector issue lands: looks at nothing, raises nothing.
#[derive(Debug, Default)]
pub struct NoDetector;

impl Detect for NoDetector {
    fn on_message(&mut self, _: &Message<'_>, _: &Event<'_>, _: &mut Outbox<'_>) {}
}

/// Longest message copied into a [`Sample`]; longer ones are cut and flagged.
pub const SAMPLE_LEN: usize = 2048;

/// A fixed-size copy of a message that leaves the worker (for `--print`, and later alerts).
#[derive(Clone, Debug)]
pub struct Sample {
    /// Worker that handled it.
    pub worker: usize,
    /// Path it came by.
    pub path: Path,
    /// Sender.
    pub src: SocketAddr,
    /// Destination port.
    pub dst_port: u16,
    /// VLAN id.
    pub vlan: Option<u16>,
    /// Length of the whole message (may exceed what was copied).
    pub len: usize,
    bytes: [u8; SAMPLE_LEN],
}

impl Sample {
    /// A sample of no message (for alerts about silence).
    pub fn empty(worker: usize) -> Self {
        Sample {
            worker,
            path: Path::Udp,
            src: SocketAddr::from(([0, 0, 0, 0], 0)),
            dst_port: 0,
            vlan: None,
            len: 0,
            bytes: [0; SAMPLE_LEN],
        }
    }

    /// Copies `bytes` (the message of `msg`, or its first [`SAMPLE_LEN`] bytes).
    pub fn copy(worker: usize, msg: &Message<'_>, bytes: &[u8]) -> Self {
        let mut sample = Sample {
            worker,
            path: msg.path,
            src: msg.src,
            dst_port: msg.dst_port,
            vlan: msg.vlan,
            len: bytes.len(),
            bytes: [0; SAMPLE_LEN],
        };
        let n = bytes.len().min(SAMPLE_LEN);
        sample.bytes[..n].copy_from_slice(&bytes[..n]);
        sample
    }

    /// The copied bytes: the message, or its first [`SAMPLE_LEN`] bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes[..self.len.min(SAMPLE_LEN)]
    }

    /// Whether the message was longer than what was copied.
    pub fn truncated(&self) -> bool {
        self.len > SAMPLE_LEN
    }
}

/// What leaves a worker for the housekeeping thread. Stored inline in the ring's preallocated
/// slots, so queueing one never allocates.
#[derive(Clone, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Output {
    /// A received message, when printing is on.
    Message(Sample),
    /// A rule fired.
    Alert(Alert),
}

/// Where a worker puts what leaves it: the producer side of its bounded ring. When the ring is
/// full the item is dropped and counted; the worker never waits.
#[derive(Debug)]
pub struct Outbox<'a> {
    ring: &'a mut rtrb::Producer<Output>,
    dropped: &'a mut u64,
    alerts: &'a mut u64,
    worker: usize,
    generation: u32,
    /// The message's XDP arrival time, for the alert latency.
    arrival_ns: Option<u64>,
    latency: &'a mut StageLatency,
    /// CLOCK_MONOTONIC when the detector was handed the message (or ticked).
    now_ns: u64,
}

impl Outbox<'_> {
    /// CLOCK_MONOTONIC as the detector got the message: its arrival clock, read once per
    /// message by the pipeline.
    pub fn now_ns(&self) -> u64 {
        self.now_ns
    }

    /// Queues `item`, or counts it as dropped when the ring is full (and says which).
    pub fn push(&mut self, item: Output) -> bool {
        let queued = self.ring.push(item).is_ok();
        if !queued {
            *self.dropped += 1;
        }
        queued
    }

    /// Raises an alert for `rule` on `msg`, whose bytes are `bytes`: the one copy that outlives
    /// the frame. `info` says what the rule counted.
    pub fn alert(&mut self, rule: RuleRef, msg: &Message<'_>, bytes: &[u8], info: AlertInfo<'_>) {
        let sample = Sample::copy(self.worker, msg, bytes);
        self.raise(rule, sample, info);
    }

    /// Raises an alert about no message (a silence): the key says what went quiet, the count
    /// the seconds of quiet.
    pub fn alert_without_message(&mut self, rule: RuleRef, info: AlertInfo<'_>) {
        let sample = Sample::empty(self.worker);
        self.raise(rule, sample, info);
    }

    fn raise(&mut self, rule: RuleRef, sample: Sample, info: AlertInfo<'_>) {
        *self.alerts += 1;
        let n = info.key.len().min(KEY_LEN);
        let mut alert = Alert {
            rule,
            generation: self.generation,
            sample,
            count: info.count,
            folded: info.folded,
            first_ns: info.first_ns,
            last_ns: info.last_ns,
            template: info.template,
            key: [0; KEY_LEN],
            key_len: n as u8,
        };
        alert.key[..n].copy_from_slice(&info.key[..n]);
        if let (true, Some(t)) = (self.push(Output::Alert(alert)), self.arrival_ns) {
            self.latency
                .record(Stage::Alert, monotonic_ns().saturating_sub(t));
        }
    }
}

/// What an alert says besides its rule and message.
#[derive(Clone, Copy, Debug)]
pub struct AlertInfo<'a> {
    /// What was counted: a threshold's group, a correlation's group-by values, a template, what
    /// went quiet; empty for a match. Cut at [`KEY_LEN`].
    pub key: &'a [u8],
    /// Events counted (1 for a match; seconds of quiet for a silence).
    pub count: u32,
    /// Earlier crossings folded into this one during a suppression.
    pub folded: u64,
    /// The first and last event counted, nanoseconds: since the epoch when the events carried
    /// their own time, else CLOCK_MONOTONIC (see [`wall_clock_ns`]).
    pub first_ns: u64,
    /// See `first_ns`.
    pub last_ns: u64,
    /// The message's template, when the detector mines them.
    pub template: Option<u64>,
}

impl AlertInfo<'static> {
    /// A single match at `t_ns`.
    pub fn one(t_ns: u64, template: Option<u64>) -> Self {
        Self {
            key: &[],
            count: 1,
            folded: 0,
            first_ns: t_ns,
            last_ns: t_ns,
            template,
        }
    }
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

/// Longest group key kept in an alert.
pub const KEY_LEN: usize = 64;

/// Which rule raised an alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleRef {
    /// A Sigma rule, by index.
    Sigma(u32),
    /// A threshold rule, by index.
    Threshold(u32),
    /// A Sigma correlation rule, by index.
    Correlation(u32),
    /// A silence rule, by index.
    Silence(u32),
    /// A message of a template never seen before (after the warm-up); the id is the template's.
    NewTemplate(u64),
    /// A (host, app, template) far above its usual rate; the id is the template's.
    RateSpike(u64),
}

/// A rule that fired, with a copy of the message.
#[derive(Clone, Debug)]
pub struct Alert {
    /// The rule.
    pub rule: RuleRef,
    /// The rule set it belongs to: 0 at start, then one more per reload.
    pub generation: u32,
    /// The message (for a threshold, the one that crossed it).
    pub sample: Sample,
    /// Events counted (1 for a Sigma match).
    pub count: u32,
    /// Earlier crossings folded into this alert during a suppression.
    pub folded: u64,
    /// The first event counted (see [`AlertInfo::first_ns`]).
    pub first_ns: u64,
    /// The last event counted.
    pub last_ns: u64,
    /// The message's template, when mined.
    pub template: Option<u64>,
    key: [u8; KEY_LEN],
    key_len: u8,
}

impl Alert {
    /// The group key of a threshold alert (empty for Sigma).
    pub fn key(&self) -> &[u8] {
        &self.key[..usize::from(self.key_len)]
    }
}

/// The rules a worker runs: Sigma rules, shared read-only by all workers, and threshold rules,
/// whose per-key state is the worker's own (sources are spread over workers by address, so a
/// source's events meet on one worker).
#[derive(Debug)]
pub struct RuleDetector {
    sigma: Arc<SigmaSet>,
    scratch: SigmaScratch,
    hits: Vec<usize>,
    correlations: CorrelationEngine,
    thresholds: ThresholdEngine,
    silences: SilenceEngine,
    last_check_ns: u64,
    learning: Option<Learning>,
    time: TimeKeeper,
}

/// What the detector learns from the traffic itself: message templates (and an alert for a new
/// one after a warm-up) and rate baselines per (host, app, template).
#[derive(Debug)]
struct Learning {
    miner: Miner,
    baselines: Baselines,
    warmup_messages: u64,
    seen: u64,
    /// Escaped text, unescaped (kept to reuse its memory).
    unescaped: Vec<u8>,
}

/// How the workers learn what is normal.
#[derive(Clone, Copy, Debug)]
pub struct LearningOptions {
    /// Messages a worker sees before a new template raises an alert.
    pub warmup_messages: u64,
    /// Rate baselines.
    pub baselines: BaselineOptions,
}

impl Default for LearningOptions {
    fn default() -> Self {
        Self {
            warmup_messages: 10_000,
            baselines: BaselineOptions::default(),
        }
    }
}

/// The time that rate baselines, silence rules and correlation windows run on (threshold rules
/// say theirs per rule).
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Clock {
    /// When the message arrived (CLOCK_MONOTONIC): what live traffic needs.
    #[default]
    Arrival,
    /// The message's own timestamp where it has one, else the latest seen (a watermark); a
    /// silence is measured against that watermark. For replayed captures, whose time the
    /// replay compresses. A device whose clock runs far ahead moves the watermark for all.
    Event,
}

/// The detector's notion of now under a [`Clock`].
#[derive(Clone, Copy, Debug, Default)]
struct TimeKeeper {
    clock: Clock,
    /// Event clock: the latest message time seen.
    watermark: u64,
}

impl TimeKeeper {
    /// The time of a message that says `event_ns` and arrived at `arrival_ns`.
    fn at(&mut self, event_ns: Option<u64>, arrival_ns: u64) -> u64 {
        match self.clock {
            Clock::Arrival => arrival_ns,
            Clock::Event => {
                if let Some(t) = event_ns {
                    self.watermark = self.watermark.max(t);
                }
                event_ns.unwrap_or(self.watermark)
            }
        }
    }

    /// Now, with no message: the wall (arrival) clock or the watermark.
    fn now(&self, arrival_ns: u64) -> u64 {
        match self.clock {
            Clock::Arrival => arrival_ns,
            Clock::Event => self.watermark,
        }
    }
}

/// The per-key state budget of one worker's detector unless configured: 256 MiB.
pub const DEFAULT_BUDGET_BYTES: usize = 256 << 20;

/// How a detector's budget is shared: evenly among the tables in use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BudgetShares {
    /// Threshold windows, bytes.
    pub threshold: usize,
    /// Correlation windows.
    pub correlation: usize,
    /// Silence last-seen times.
    pub silence: usize,
    /// Mined templates and their tree.
    pub templates: usize,
    /// Rate baselines.
    pub baselines: usize,
}

impl BudgetShares {
    /// `budget` bytes shared among the tables these rules (and learning) use.
    pub fn new(
        budget: usize,
        thresholds: bool,
        correlations: bool,
        silences: bool,
        learning: bool,
    ) -> Self {
        let [threshold, correlation, silence, templates, baselines] =
            detector::bounded::split_budget(
                budget,
                [thresholds, correlations, silences, learning, learning],
            );
        Self {
            threshold,
            correlation,
            silence,
            templates,
            baselines,
        }
    }
}

impl RuleDetector {
    /// A detector for these rules, mining templates and keeping rate baselines when `learning`
    /// is given (alerting on new templates and rate spikes), with all its per-key state within
    /// `budget_bytes`.
    pub fn new(
        sigma: Arc<SigmaSet>,
        correlations: Vec<CorrelationRule>,
        thresholds: Vec<ThresholdRule>,
        silences: Vec<SilenceRule>,
        learning: Option<LearningOptions>,
        clock: Clock,
        budget_bytes: usize,
    ) -> Self {
        let base = sigma.rules().len();
        let shares = BudgetShares::new(
            budget_bytes,
            !thresholds.is_empty(),
            !correlations.is_empty(),
            !silences.is_empty(),
            learning.is_some(),
        );
        Self {
            sigma,
            scratch: SigmaScratch::default(),
            hits: Vec::with_capacity(base),
            correlations: CorrelationEngine::with_budget(correlations, base, shares.correlation),
            thresholds: ThresholdEngine::with_budget(thresholds, shares.threshold),
            silences: SilenceEngine::with_budget(silences, shares.silence),
            last_check_ns: 0,
            learning: learning.map(|opts| Learning {
                miner: Miner::new(MinerOptions::default().within(shares.templates)),
                baselines: Baselines::new(Baselines::options_within(
                    opts.baselines,
                    shares.baselines,
                )),
                warmup_messages: opts.warmup_messages,
                seen: 0,
                unescaped: Vec::with_capacity(1024),
            }),
            time: TimeKeeper {
                clock,
                watermark: 0,
            },
        }
    }
}

impl Detect for RuleDetector {
    fn on_message(&mut self, msg: &Message<'_>, event: &Event<'_>, out: &mut Outbox<'_>) {
        let event_ns = event.timestamp_ns.and_then(|t| u64::try_from(t).ok());
        let now = self.time.at(event_ns, out.now_ns());
        // Mined first, so every alert on this message can name its template.
        let mined = self.learning.as_mut().map(|l| {
            l.seen += 1;
            // What the message says (a JSON or CEF message field, else the body), without the
            // payload format's escapes.
            l.miner.add(event.plain_text(&mut l.unescaped))
        });
        let template = mined.as_ref().map(|m| m.id);
        let t = event_ns.unwrap_or(now);
        self.hits.clear();
        let hits = &mut self.hits;
        self.sigma
            .for_each_match(event, &mut self.scratch, |i| hits.push(i));
        for &i in &self.hits {
            out.alert(
                RuleRef::Sigma(i as u32),
                msg,
                event.input,
                AlertInfo::one(t, template),
            );
            self.correlations.on_match(i, event, now, |a| {
                let group = a.group.join(",");
                let info = AlertInfo {
                    key: group.as_bytes(),
                    count: u32::try_from(a.count).unwrap_or(u32::MAX),
                    folded: 0,
                    first_ns: a.first_ns,
                    last_ns: a.last_ns,
                    template,
                };
                out.alert(RuleRef::Correlation(a.rule as u32), msg, event.input, info);
            });
        }
        if !self.silences.rules().is_empty() {
            self.silences.on_event(event, now);
        }
        if let (Some(l), Some(mined)) = (&mut self.learning, mined) {
            let text = |l: &Learning| {
                l.miner
                    .template(mined.id)
                    .map(|t| t.text())
                    .unwrap_or_default()
            };
            if mined.new && l.seen > l.warmup_messages {
                let text = text(l);
                let info = AlertInfo {
                    key: text.as_bytes(),
                    ..AlertInfo::one(t, template)
                };
                out.alert(RuleRef::NewTemplate(mined.id), msg, event.input, info);
            }
            let mut h = detector::bounded::key_hasher();
            h.write(event.host.unwrap_or_default());
            h.write(event.app.unwrap_or_default());
            h.write_u64(mined.id);
            if let Some(a) = l.baselines.observe(h.finish(), now) {
                let text = text(l);
                let info = AlertInfo {
                    key: text.as_bytes(),
                    count: a.count,
                    ..AlertInfo::one(now, template)
                };
                out.alert(RuleRef::RateSpike(mined.id), msg, event.input, info);
            }
        }
        if !self.thresholds.rules().is_empty() {
            self.thresholds.on_event(event, now, |a| {
                let info = AlertInfo {
                    key: &a.key,
                    count: a.count,
                    folded: a.folded,
                    first_ns: a.first_ns,
                    last_ns: a.last_ns,
                    template,
                };
                out.alert(RuleRef::Threshold(a.rule as u32), msg, event.input, info);
            });
        }
    }

    fn stats(&self) -> DetectorStats {
        let mut s = DetectorStats::default();
        let mut set = |t: DetectorTable, keys: usize, evicted: u64| {
            s.keys[t as usize] = keys as u64;
            s.evicted[t as usize] = evicted;
        };
        let t = self.thresholds.counters();
        set(DetectorTable::Threshold, self.thresholds.keys(), t.evicted);
        set(
            DetectorTable::Correlation,
            self.correlations.keys(),
            self.correlations.evicted(),
        );
        set(
            DetectorTable::Silence,
            self.silences.keys(),
            self.silences.evicted(),
        );
        if let Some(l) = &self.learning {
            set(DetectorTable::Templates, l.miner.len(), l.miner.evicted());
            set(
                DetectorTable::Baselines,
                l.baselines.len(),
                l.baselines.evicted(),
            );
        }
        s.suppressed = t.suppressed;
        s
    }

    fn on_tick(&mut self, now_ns: u64, out: &mut Outbox<'_>) {
        let now_ns = self.time.now(now_ns);
        // Silences are checked once a second at most.
        if self.silences.rules().is_empty() || now_ns < self.last_check_ns + 1_000_000_000 {
            return;
        }
        self.last_check_ns = now_ns;
        self.silences.check(now_ns, |a| {
            let secs = u32::try_from(a.quiet_ns / 1_000_000_000).unwrap_or(u32::MAX);
            let info = AlertInfo {
                key: &a.key,
                count: secs,
                first_ns: now_ns.saturating_sub(a.quiet_ns),
                last_ns: now_ns,
                ..AlertInfo::one(now_ns, None)
            };
            out.alert_without_message(RuleRef::Silence(a.rule as u32), info);
        });
    }
}

/// Counters of one worker's pipeline. Summed over workers for the report.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct PipelineCounters {
    /// Messages through AF_XDP.
    pub received_xdp: u64,
    /// Messages through the kernel's UDP stack.
    pub received_udp: u64,
    /// Messages through TCP connections.
    pub received_tcp: u64,
    /// Messages parsed without error.
    pub parsed: u64,
    /// Messages the parser read only in part, by [`ParseError::index`]; they still went to the
    /// detector with what could be read.
    pub parse_errors: [u64; ParseError::ALL.len()],
    /// Items (samples, alerts) dropped because the output ring was full.
    pub output_dropped_ring_full: u64,
    /// XDP messages without an arrival time, so without a latency sample.
    pub latency_unmeasured: u64,
    /// Alerts the detector raised (including any the output ring dropped).
    pub alerts_raised: u64,
    /// GELF messages completed from chunks or inflated from compressed datagrams.
    pub gelf_messages: u64,
    /// GELF chunks held until their message is complete (their datagrams are received; the
    /// message counts once, in `gelf_messages`).
    pub gelf_chunks_held: u64,
    /// GELF datagrams or messages given up, by [`GelfDrop`] (index in [`GelfDrop::ALL`]).
    pub gelf_dropped: [u64; GelfDrop::ALL.len()],
    /// GELF messages given up because their chunks did not all arrive within 5 s.
    pub gelf_expired: u64,
}

impl PipelineCounters {
    /// Messages received on every path.
    pub fn received(&self) -> u64 {
        self.received_xdp + self.received_udp + self.received_tcp
    }

    /// Adds `other` into `self`.
    pub fn add(&mut self, other: &Self) {
        self.received_xdp += other.received_xdp;
        self.received_udp += other.received_udp;
        self.received_tcp += other.received_tcp;
        self.parsed += other.parsed;
        for (a, b) in self.parse_errors.iter_mut().zip(other.parse_errors) {
            *a += b;
        }
        self.output_dropped_ring_full += other.output_dropped_ring_full;
        self.latency_unmeasured += other.latency_unmeasured;
        self.alerts_raised += other.alerts_raised;
        self.gelf_messages += other.gelf_messages;
        self.gelf_chunks_held += other.gelf_chunks_held;
        for (a, b) in self.gelf_dropped.iter_mut().zip(other.gelf_dropped) {
            *a += b;
        }
        self.gelf_expired += other.gelf_expired;
    }
}

/// Highest latency the histograms track: 60 s in nanoseconds. Longer values are clamped.
const LATENCY_MAX_NS: u64 = 60_000_000_000;

/// A latency histogram with the bounds every worker uses, so they can be merged: 1 ns to 60 s
/// at two significant digits (values within 1 %), 30 KiB. Each worker records into five of
/// them per message; at three digits they took 1 MiB, and the cache misses of recording cost
/// more than the clock reads did.
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_MAX_NS, 2).expect("constant bounds are valid")
}

/// What a worker times for each message, in report order. All on CLOCK_MONOTONIC, the clock of
/// the XDP program's arrival stamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// From the XDP hook to the worker taking the message's batch off the RX ring.
    Pickup,
    /// From the end of the previous message of the batch (or the pickup) to this one parsed:
    /// frame decode, counting and parsing.
    Parse,
    /// The detector's work on the message (and, with `--print`, its copy out).
    Detect,
    /// From the XDP hook to the message through the detector.
    Detected,
    /// From the XDP hook to an alert on the message queued for the sinks.
    Alert,
}

impl Stage {
    /// Every stage, in report order.
    pub const ALL: [Stage; 5] = [
        Stage::Pickup,
        Stage::Parse,
        Stage::Detect,
        Stage::Detected,
        Stage::Alert,
    ];

    /// Its name in reports and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Pickup => "xdp_to_pickup",
            Stage::Parse => "parse",
            Stage::Detect => "detect",
            Stage::Detected => "xdp_to_detected",
            Stage::Alert => "xdp_to_alert",
        }
    }
}

/// One histogram per [`Stage`], all with the same bounds (so they merge), allocated once.
#[derive(Clone, Debug)]
pub struct StageLatency([Histogram<u64>; Stage::ALL.len()]);

impl Default for StageLatency {
    fn default() -> Self {
        Self(std::array::from_fn(|_| latency_histogram()))
    }
}

impl StageLatency {
    /// Records `ns` for `stage` (clamped into the histograms' range).
    #[inline]
    pub fn record(&mut self, stage: Stage, ns: u64) {
        self.0[stage as usize].saturating_record(ns.clamp(1, LATENCY_MAX_NS));
    }

    /// The histogram of `stage`.
    pub fn get(&self, stage: Stage) -> &Histogram<u64> {
        &self.0[stage as usize]
    }

    /// True when no stage has a sample.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(Histogram::is_empty)
    }

    /// Adds every sample of `other`.
    pub fn add(&mut self, other: &StageLatency) {
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            // Same bounds everywhere: adding cannot fail.
            let _ = a.add(b);
        }
    }

    /// Empties every stage, keeping the memory.
    pub fn reset(&mut self) {
        self.0.iter_mut().for_each(Histogram::reset);
    }
}

/// CLOCK_MONOTONIC now, in nanoseconds: the clock `bpf_ktime_get_ns` reads.
pub fn monotonic_ns() -> u64 {
    let t = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .expect("CLOCK_MONOTONIC is always available");
    t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64
}

/// The wall clock's year and month (UTC).
pub fn wall_calendar() -> (i32, u8) {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    detector::parse::time::year_month_from_days((secs / 86_400) as i64)
}

/// How often a pipeline reads the wall clock's year and month again: [`Parsing::refresh_calendar`].
const CALENDAR_EVERY_NS: u64 = 1_000_000_000;

/// How messages are parsed: the default, and overrides for some destination ports (a port that
/// only receives RFC 3164 with CEF bodies, say).
#[derive(Clone, Debug, Default)]
pub struct Parsing {
    /// For every port without an override.
    pub default: ParseOptions,
    /// Per-port overrides (few: looked up linearly).
    pub per_port: Vec<(u16, ParseOptions)>,
    /// Whether BSD timestamps without a year take the wall clock's, kept current.
    wall_clock: bool,
    /// When (monotonic ns) the wall clock is read next.
    calendar_due_ns: u64,
}

impl Parsing {
    /// The default options, and per-port overrides.
    pub fn new(default: ParseOptions, per_port: Vec<(u16, ParseOptions)>) -> Self {
        Self {
            default,
            per_port,
            ..Self::default()
        }
    }

    /// BSD timestamps without a year get the wall clock's year (or the one before or after,
    /// whichever is nearest, by its month: see `detector::parse::time::nearest_year`), read
    /// now and again by [`Parsing::refresh_calendar`].
    pub fn with_wall_clock_year(mut self) -> Self {
        self.wall_clock = true;
        self.set_calendar(wall_calendar());
        self
    }

    fn set_calendar(&mut self, (year, month): (i32, u8)) {
        let per_port = self.per_port.iter_mut().map(|(_, o)| o);
        for o in std::iter::once(&mut self.default).chain(per_port) {
            o.year = Some(year);
            o.month = Some(month);
        }
    }

    /// When following the wall clock and a second has passed since its last reading (by
    /// `now_ns`, monotonic), reads its year and month again: a daemon that runs across New
    /// Year dates the new year's BSD timestamps in the new year. One comparison otherwise.
    #[inline]
    pub fn refresh_calendar(&mut self, now_ns: u64) {
        if self.wall_clock && now_ns >= self.calendar_due_ns {
            self.set_calendar(wall_calendar());
            self.calendar_due_ns = now_ns + CALENDAR_EVERY_NS;
        }
    }

    /// The options for messages to `port`.
    pub fn for_port(&self, port: u16) -> &ParseOptions {
        self.per_port
            .iter()
            .find(|(p, _)| *p == port)
            .map_or(&self.default, |(_, o)| o)
    }
}

/// Most GELF messages in reassembly per worker.
const GELF_PENDING_MAX: usize = 1024;
/// Largest GELF message after reassembly and inflation.
const GELF_MESSAGE_MAX: usize = 1 << 20;

/// One worker's message pipeline.
pub struct Pipeline {
    worker: usize,
    print: bool,
    detector: Box<dyn Detect>,
    parsing: Parsing,
    /// The fields of the message being handled, found once by the parser for every rule that
    /// reads them.
    fields: FieldIndex,
    gelf: GelfAssembler,
    gelf_buf: Vec<u8>,
    ring: rtrb::Producer<Output>,
    counters: PipelineCounters,
    /// Per stage, see [`Stage`].
    latency: StageLatency,
    /// When this batch was picked up (read at its first message; 0 between batches).
    pickup_ns: u64,
    /// When the previous message of this batch was done (the next one's parse starts).
    cursor_ns: u64,
    /// The rule set generation of `detector`.
    generation: u32,
    /// New detectors (a reload) arrive here and old ones leave, both between batches.
    swap: Option<DetectorSwap>,
    /// The loudest senders, counted on a sample of the messages.
    top_sources: SourceTop,
    /// How many senders, every message counted.
    distinct_sources: SourceCount,
    /// xorshift state choosing the sample.
    sample_state: u64,
}

/// A detector for a new rule set, and its generation.
pub struct NewDetector {
    /// 1 for the first reload, and so on.
    pub generation: u32,
    /// The detector.
    pub detector: Box<dyn Detect>,
}

/// A worker's side of a detector swap: where new detectors arrive and old ones leave.
pub struct DetectorSwap {
    /// New detectors.
    pub incoming: rtrb::Consumer<NewDetector>,
    /// Replaced detectors, dropped by the housekeeping thread.
    pub retired: rtrb::Producer<Box<dyn Detect>>,
}

/// The housekeeping side of a worker's [`DetectorSwap`].
pub struct DetectorSwapHandle {
    /// Where new detectors go.
    pub incoming: rtrb::Producer<NewDetector>,
    /// Where old ones come back.
    pub retired: rtrb::Consumer<Box<dyn Detect>>,
}

/// A connected pair: one detector in flight each way at a time.
pub fn detector_swap() -> (DetectorSwap, DetectorSwapHandle) {
    let (in_tx, in_rx) = rtrb::RingBuffer::new(1);
    let (out_tx, out_rx) = rtrb::RingBuffer::new(1);
    (
        DetectorSwap {
            incoming: in_rx,
            retired: out_tx,
        },
        DetectorSwapHandle {
            incoming: in_tx,
            retired: out_rx,
        },
    )
}

impl std::fmt::Debug for NewDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewDetector")
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for DetectorSwap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DetectorSwap").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for DetectorSwapHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DetectorSwapHandle").finish_non_exhaustive()
    }
}

/// How many senders each worker's top-sources sketch keeps.
pub const TOP_SOURCES: usize = 32;

/// One message in this many goes into the top-sources sketch: a random sample (so periodic
/// senders cannot alias with it), which keeps the sketch's cost near 1 ns per message even when
/// every message comes from another device (36 ns unsampled; `bench detect`).
pub const TOP_SOURCES_SAMPLE: u64 = 8;

/// The loudest senders of one worker: Space-Saving over addresses (IPv4 as IPv4-mapped IPv6).
pub type SourceTop = detector::sketch::HeavyHitters<u128, TOP_SOURCES>;

/// How many different senders one worker has seen: HyperLogLog with 1024 registers (1 KiB,
/// about 3 % error), fed every message.
pub type SourceCount = detector::sketch::DistinctCount<1024>;

/// The key of `src` in a [`SourceTop`].
pub fn source_key(src: &SocketAddr) -> u128 {
    let v6 = match src.ip() {
        std::net::IpAddr::V4(a) => a.to_ipv6_mapped(),
        std::net::IpAddr::V6(a) => a,
    };
    u128::from(v6)
}

/// The address of a [`SourceTop`] key.
pub fn source_of_key(key: u128) -> std::net::IpAddr {
    std::net::Ipv6Addr::from(key).to_canonical()
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
    /// A pipeline for worker `worker` that sends its output into `ring`. With `print`, every
    /// message is also copied out as a [`Sample`].
    pub fn new(
        worker: usize,
        print: bool,
        detector: Box<dyn Detect>,
        ring: rtrb::Producer<Output>,
    ) -> Self {
        Self {
            worker,
            print,
            detector,
            parsing: Parsing::default(),
            fields: FieldIndex::default(),
            // GELF 1.1: at most 128 chunks, given up after 5 s.
            gelf: GelfAssembler::new(GELF_PENDING_MAX, GELF_MESSAGE_MAX, 5_000_000_000),
            gelf_buf: Vec::new(),
            ring,
            counters: PipelineCounters::default(),
            latency: StageLatency::default(),
            pickup_ns: 0,
            cursor_ns: 0,
            generation: 0,
            swap: None,
            top_sources: SourceTop::default(),
            distinct_sources: SourceCount::default(),
            sample_state: 0x9e37_79b9_7f4a_7c15 ^ worker as u64,
        }
    }

    /// Takes new detectors from `swap` between batches (see [`Pipeline::between_batches`]).
    pub fn with_swap(mut self, swap: DetectorSwap) -> Self {
        self.swap = Some(swap);
        self
    }

    /// Between batches: if a new detector (a reload) has arrived, puts it in place and sends the
    /// old one back to be dropped off this thread. One atomic load when there is none.
    pub fn between_batches(&mut self) {
        self.pickup_ns = 0;
        let Some(swap) = &mut self.swap else {
            return;
        };
        if swap.retired.slots() == 0 {
            return; // the old one could not be sent back yet: try next time
        }
        if let Ok(NewDetector {
            generation,
            detector,
        }) = swap.incoming.pop()
        {
            let old = std::mem::replace(&mut self.detector, detector);
            self.generation = generation;
            // Cannot fail: a slot was free above and only this thread pushes.
            let _ = swap.retired.push(old);
        }
    }

    /// The rule set generation this pipeline detects with.
    pub fn generation(&self) -> u32 {
        self.generation
    }

    /// Parses with `parsing` instead of the defaults.
    pub fn with_parsing(mut self, parsing: Parsing) -> Self {
        self.parsing = parsing;
        self
    }

    /// Handles one message: count, parse, detect, and measure the time since XDP saw it.
    pub fn handle(&mut self, msg: &Message<'_>) {
        if self.pickup_ns == 0 {
            // The first message of a batch: the whole batch was taken off the ring now.
            self.pickup_ns = monotonic_ns();
            self.cursor_ns = self.pickup_ns;
            self.parsing.refresh_calendar(self.pickup_ns);
        }
        if let Some(t) = msg.arrival_ns {
            self.latency
                .record(Stage::Pickup, self.pickup_ns.saturating_sub(t));
        }
        let c = &mut self.counters;
        match msg.path {
            Path::Xdp => c.received_xdp += 1,
            Path::Udp => c.received_udp += 1,
            Path::Tcp => c.received_tcp += 1,
        }
        let source = source_key(&msg.src);
        self.distinct_sources
            .add_hash(detector::sketch::mix64(source));
        // xorshift64: one in TOP_SOURCES_SAMPLE messages, at random, counts its sender.
        let mut x = self.sample_state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.sample_state = x;
        if x.is_multiple_of(TOP_SOURCES_SAMPLE) {
            self.top_sources.add(source);
        }
        if msg.path == Path::Tcp || !is_gelf_transport(msg.payload) {
            self.process(msg, msg.payload);
            return;
        }
        // Chunked or compressed GELF: the message is what the assembler hands out.
        let mut buf = std::mem::take(&mut self.gelf_buf);
        match self.gelf.push(msg.payload, monotonic_ns(), &mut buf) {
            GelfOutcome::Plain => self.process(msg, msg.payload),
            GelfOutcome::Complete => {
                self.counters.gelf_messages += 1;
                self.process(msg, &buf);
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
        self.gelf_buf = buf;
    }

    /// Parses `bytes` (the datagram, or a reassembled GELF message), detects, and measures.
    fn process(&mut self, msg: &Message<'_>, bytes: &[u8]) {
        let c = &mut self.counters;
        let event = parse_indexed(bytes, self.parsing.for_port(msg.dst_port), &mut self.fields);
        match event.error {
            None => c.parsed += 1,
            Some(e) => c.parse_errors[e.index()] += 1,
        }
        let parsed_ns = monotonic_ns();
        let mut out = Outbox {
            ring: &mut self.ring,
            dropped: &mut self.counters.output_dropped_ring_full,
            alerts: &mut self.counters.alerts_raised,
            worker: self.worker,
            generation: self.generation,
            arrival_ns: msg.arrival_ns,
            latency: &mut self.latency,
            now_ns: parsed_ns,
        };
        self.detector.on_message(msg, &event, &mut out);
        if self.print {
            let _ = out.push(Output::Message(Sample::copy(self.worker, msg, bytes)));
        }
        let done_ns = monotonic_ns();
        let l = &mut self.latency;
        l.record(Stage::Parse, parsed_ns.saturating_sub(self.cursor_ns));
        l.record(Stage::Detect, done_ns.saturating_sub(parsed_ns));
        self.cursor_ns = done_ns;
        match msg.arrival_ns {
            Some(t) => l.record(Stage::Detected, done_ns.saturating_sub(t)),
            None if msg.path == Path::Xdp => self.counters.latency_unmeasured += 1,
            None => {}
        }
    }

    /// Nothing to do at `now_ns`: lets the detector run its time-based checks.
    pub fn tick(&mut self, now_ns: u64) {
        let mut out = Outbox {
            ring: &mut self.ring,
            dropped: &mut self.counters.output_dropped_ring_full,
            alerts: &mut self.counters.alerts_raised,
            worker: self.worker,
            generation: self.generation,
            arrival_ns: None,
            latency: &mut self.latency,
            now_ns,
        };
        self.detector.on_tick(now_ns, &mut out);
    }

    /// Counters so far.
    pub fn counters(&self) -> &PipelineCounters {
        &self.counters
    }

    /// The loudest senders so far (sampled; see [`TOP_SOURCES_SAMPLE`]).
    pub fn top_sources(&self) -> &SourceTop {
        &self.top_sources
    }

    /// The senders seen so far, counted.
    pub fn distinct_sources(&self) -> &SourceCount {
        &self.distinct_sources
    }

    /// The detector's table sizes and evictions.
    pub fn detector_stats(&self) -> DetectorStats {
        self.detector.stats()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn message(payload: &[u8], arrival_ns: Option<u64>) -> Message<'_> {
        Message {
            path: Path::Xdp,
            src: "198.18.0.1:4000".parse().unwrap(),
            dst_port: 514,
            vlan: None,
            payload,
            arrival_ns,
        }
    }

    #[test]
    fn counts_parses_and_measures_every_message() {
        let (tx, _rx) = rtrb::RingBuffer::new(4);
        let mut p = Pipeline::new(0, false, Box::new(NoDetector), tx);
        p.handle(&message(b"<14>1 - host app - - - ok", Some(monotonic_ns())));
        p.handle(&message(b"no header: a raw line is fine", None));
        p.handle(&message(b"<999>too big", None));
        p.handle(&message(b"<14>1 - host app - - - {\"json\":", None));
        let report = p.finish();
        let c = report.counters;
        assert_eq!((c.received_xdp, c.parsed), (4, 2));
        let count = |e: ParseError| c.parse_errors[e.index()];
        assert_eq!(
            count(ParseError::Pri(detector::parse::PriError::OutOfRange)),
            1
        );
        assert_eq!(count(ParseError::BadPayload), 1);
        assert_eq!(c.latency_unmeasured, 3);
        let l = &report.latency;
        assert_eq!(l.get(Stage::Detected).len(), 1);
        assert_eq!(l.get(Stage::Pickup).len(), 1);
        assert_eq!(l.get(Stage::Parse).len(), 4, "timed on every path");
        assert_eq!(l.get(Stage::Detect).len(), 4);
        assert!(l.get(Stage::Alert).is_empty(), "no detector, no alert");
    }

    #[test]
    fn the_loudest_sender_leads_the_sampled_top_sources() {
        let (tx, _rx) = rtrb::RingBuffer::new(1);
        let mut p = Pipeline::new(0, false, Box::new(NoDetector), tx);
        let loud: SocketAddr = "198.18.0.9:4000".parse().unwrap();
        // 6,000 messages from one device among 2,000 from 2,000 others.
        for i in 0..8000u32 {
            let mut m = message(b"<14>hello", None);
            m.src = if i % 4 == 0 {
                SocketAddr::from(([198, 19, (i >> 8) as u8, i as u8], 514))
            } else {
                loud
            };
            p.handle(&m);
        }
        let sampled = p.top_sources().events();
        assert!((700..1300).contains(&sampled), "about 1 in 8: {sampled}");
        let top = p.top_sources().top(1);
        assert_eq!(source_of_key(top[0].key), loud.ip());
        let estimate = top[0].count * TOP_SOURCES_SAMPLE;
        assert!((4500..7500).contains(&estimate), "about 6000: {estimate}");
        let distinct = p.distinct_sources().estimate();
        // 1024 registers: about 3 % standard error; this allows four of it.
        assert!((1750..2250).contains(&distinct), "2001 senders: {distinct}");
        let v6: SocketAddr = "[2001:db8::7]:514".parse().unwrap();
        assert_eq!(source_of_key(source_key(&v6)), v6.ip());
    }

    /// Raises one alert per message with its own rule index.
    struct Fires(u32);
    impl Detect for Fires {
        fn on_message(&mut self, msg: &Message<'_>, e: &Event<'_>, out: &mut Outbox<'_>) {
            out.alert(
                RuleRef::Sigma(self.0),
                msg,
                e.input,
                AlertInfo::one(1, None),
            );
        }
    }

    #[test]
    fn on_the_event_clock_a_replayed_silence_is_seen_however_fast_it_arrives() {
        let silences = detector::rules::silence::from_toml(
            "quiet.toml",
            "[[silence]]\nid = \"quiet\"\ntitle = \"quiet\"\ngroup_by = \"host\"\n\
             factor = 5\nmin_events = 5\nmin_quiet = \"10s\"\n",
        )
        .unwrap();
        let run = |clock: Clock| {
            let (tx, mut rx) = rtrb::RingBuffer::new(64);
            let detector = RuleDetector::new(
                Arc::new(SigmaSet::new(Vec::new())),
                Vec::new(),
                Vec::new(),
                silences.clone(),
                None,
                clock,
                1 << 20,
            );
            let mut p = Pipeline::new(0, false, Box::new(detector), tx);
            // One minute of a capture in a few milliseconds: host a every second for 20 s,
            // then only host b, every second, until 60 s.
            for s in 0..60u32 {
                let host = if s < 20 { "a" } else { "b" };
                let line = format!("<14>1 2026-11-22T10:00:{s:02}Z {host} app - - - tick");
                p.handle(&message(line.as_bytes(), None));
                p.tick(monotonic_ns());
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
            p.tick(monotonic_ns());
            std::iter::from_fn(|| rx.pop().ok())
                .filter_map(|o| match o {
                    Output::Alert(a) => Some(a.key().to_vec()),
                    Output::Message(_) => None,
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(
            run(Clock::Event),
            [b"a".to_vec()],
            "a was quiet 40 s of event time"
        );
        assert!(
            run(Clock::Arrival).is_empty(),
            "on arrival time it was a blink"
        );
    }

    #[test]
    fn every_stage_is_timed_and_the_stages_add_up() {
        let (tx, mut rx) = rtrb::RingBuffer::new(64);
        let mut p = Pipeline::new(0, false, Box::new(Fires(1)), tx);
        let arrival = monotonic_ns();
        std::thread::sleep(std::time::Duration::from_millis(2));
        for _ in 0..3 {
            p.handle(&message(b"<14>1 - host app - - - ok", Some(arrival)));
        }
        p.between_batches();
        p.handle(&message(b"<14>1 - host app - - - ok", Some(monotonic_ns())));
        let l = p.finish().latency;
        for stage in Stage::ALL {
            assert_eq!(l.get(stage).len(), 4, "{}", stage.name());
        }
        // The first batch waited 2 ms before its pickup; the second did not.
        let pickup = l.get(Stage::Pickup);
        assert!(pickup.max() >= 2_000_000, "{}", pickup.max());
        assert!(pickup.min() < 2_000_000, "{}", pickup.min());
        // Hook to detected is pickup, then parse and detect of the batch so far: never less
        // than the pickup wait of the same message.
        assert!(l.get(Stage::Detected).max() >= pickup.max());
        // The alert is queued before the message is done.
        assert!(l.get(Stage::Alert).max() <= l.get(Stage::Detected).max());
        assert_eq!(std::iter::from_fn(|| rx.pop().ok()).count(), 4);
    }

    #[test]
    fn a_new_detector_takes_over_between_batches_and_alerts_say_which() {
        let (tx, mut rx) = rtrb::RingBuffer::new(8);
        let (swap, mut handle) = detector_swap();
        let mut p = Pipeline::new(0, false, Box::new(Fires(7)), tx).with_swap(swap);
        p.handle(&message(b"one", None));
        handle
            .incoming
            .push(NewDetector {
                generation: 1,
                detector: Box::new(Fires(9)),
            })
            .unwrap();
        p.handle(&message(b"two", None)); // same batch: still the old rules
        p.between_batches();
        p.handle(&message(b"three", None));
        let seen: Vec<(u32, RuleRef)> = std::iter::from_fn(|| rx.pop().ok())
            .map(|o| match o {
                Output::Alert(a) => (a.generation, a.rule),
                Output::Message(_) => panic!("not printing"),
            })
            .collect();
        assert_eq!(
            seen,
            [
                (0, RuleRef::Sigma(7)),
                (0, RuleRef::Sigma(7)),
                (1, RuleRef::Sigma(9))
            ]
        );
        assert_eq!(p.generation(), 1);
        assert!(handle.retired.pop().is_ok(), "the old detector came back");
    }

    #[test]
    fn the_budget_is_shared_by_the_tables_in_use_only() {
        let s = BudgetShares::new(300, true, false, true, true);
        assert_eq!(
            (
                s.threshold,
                s.correlation,
                s.silence,
                s.templates,
                s.baselines
            ),
            (75, 0, 75, 75, 75)
        );
        let s = BudgetShares::new(300, false, false, false, false);
        assert_eq!(s.threshold + s.correlation + s.silence + s.templates, 0);
    }

    #[test]
    fn ports_can_have_their_own_parse_options() {
        let cef_only = ParseOptions {
            payload: Some(detector::parse::Payload::Plain),
            ..ParseOptions::default()
        };
        let parsing = Parsing::new(ParseOptions::default(), vec![(5514, cef_only)]);
        assert_eq!(parsing.for_port(5514).payload, cef_only.payload);
        assert_eq!(parsing.for_port(514).payload, None);
    }

    #[test]
    fn the_year_of_bsd_timestamps_follows_the_wall_clock() {
        let (year, month) = wall_calendar();
        assert!((2025..2100).contains(&year) && (1..=12).contains(&month));
        let fixed = Parsing::new(
            ParseOptions::default(),
            vec![(5514, ParseOptions::default())],
        );
        let mut p = fixed.clone().with_wall_clock_year();
        for port in [514, 5514] {
            assert_eq!(
                (p.for_port(port).year, p.for_port(port).month),
                (Some(year), Some(month))
            );
        }
        // As if the year turned: read again once a second of monotonic time has passed.
        p.default.year = Some(1999);
        p.refresh_calendar(5);
        assert_eq!(
            p.default.year,
            Some(year),
            "the first refresh reads the clock"
        );
        p.default.year = Some(1999);
        p.refresh_calendar(5 + CALENDAR_EVERY_NS - 1);
        assert_eq!(p.default.year, Some(1999), "not within the second");
        p.refresh_calendar(5 + CALENDAR_EVERY_NS);
        assert_eq!(p.default.year, Some(year));
        let mut fixed = fixed;
        fixed.refresh_calendar(u64::MAX);
        assert_eq!(
            fixed.default.year, None,
            "options without the wall clock stay as given"
        );
    }

    #[test]
    fn chunked_gelf_becomes_one_message() {
        let (tx, mut rx) = rtrb::RingBuffer::new(8);
        let mut p = Pipeline::new(0, true, Box::new(NoDetector), tx);
        let json = br#"{"version":"1.1","host":"gelf.example","short_message":"hello","level":5}"#;
        let parts: Vec<&[u8]> = json.chunks(30).collect();
        for (i, part) in parts.iter().enumerate() {
            let mut d = vec![
                0x1e,
                0x0f,
                7,
                7,
                7,
                7,
                7,
                7,
                7,
                7,
                i as u8,
                parts.len() as u8,
            ];
            d.extend_from_slice(part);
            let mut m = message(&d, None);
            m.path = Path::Udp;
            p.handle(&m);
        }
        let c = *p.counters();
        assert_eq!(
            c.received_udp,
            parts.len() as u64,
            "every datagram is received"
        );
        assert_eq!(
            (c.gelf_chunks_held, c.gelf_messages),
            (parts.len() as u64 - 1, 1)
        );
        assert_eq!(c.parsed, 1);
        let Ok(Output::Message(sample)) = rx.pop() else {
            panic!("the reassembled message is printed");
        };
        assert_eq!(sample.bytes(), json);
        assert!(rx.pop().is_err(), "once");
    }

    #[test]
    fn a_full_output_ring_drops_and_counts_without_waiting() {
        let (tx, mut rx) = rtrb::RingBuffer::new(2);
        let mut p = Pipeline::new(3, true, Box::new(NoDetector), tx);
        let long = vec![b'z'; SAMPLE_LEN + 10];
        for _ in 0..4 {
            p.handle(&message(&long, None));
        }
        assert_eq!(p.counters().output_dropped_ring_full, 2);
        let Ok(Output::Message(sample)) = rx.pop() else {
            panic!("a sample was queued");
        };
        assert_eq!(sample.worker, 3);
        assert!(sample.truncated());
        assert_eq!(sample.bytes().len(), SAMPLE_LEN);
        assert_eq!(sample.len, SAMPLE_LEN + 10);
    }
}
