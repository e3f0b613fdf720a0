//! The detection engine: every rule kind and every kind of learning, composed for one worker
//! and run a batch at a time.
//!
//! A caller (a daemon worker, `ingest detect`, a benchmark) parses a batch of messages, hands
//! the engine the events with their senders and arrival times ([`Input`]), and drains what the
//! engine raised from an [`Alerts`] buffer it owns. One trip down and one back: the engine calls
//! nothing of the caller's, knows nothing of packets or sockets, and reads no clock of its own.
//!
//! Per batch, each stage runs over the whole batch before the next starts: times and senders,
//! template mining, Sigma matching with its correlations, silences, new-template alerts and rate
//! baselines (every key hashed and its bucket prefetched first, then every table updated), and
//! threshold rules. Every table is allocated when the engine is made ([`Blueprint::engine`]),
//! from its memory budget; after that, running a batch allocates nothing, new keys and alerts
//! included (`tests/no_alloc.rs`).

mod alerts;
pub mod audit_join;
mod blueprint;
mod clock;
mod stats;

use std::{hash::Hasher, sync::Arc};

pub use alerts::{Alert, Alerts, KEY_LEN, RuleRef};
pub use blueprint::{
    Blueprint, BudgetShares, DEFAULT_BUDGET_BYTES, EngineOptions, LearningOptions, Rules,
};
pub use clock::Clock;
use clock::TimeKeeper;
pub use stats::{EngineStats, StateTable};

use crate::{
    baseline::{Baselines, Located},
    mining::{Found, Mined, Miner, MinerOptions},
    parse::{Event, unescape_into},
    rules::{
        correlation::CorrelationEngine,
        sigma::{SigmaScratch, SigmaSet},
        silence::SilenceEngine,
        threshold::ThresholdEngine,
    },
    sketch::{DistinctCount, HeavyHitters, mix64},
};

/// Messages the engine takes per stage; a longer batch runs in chunks of this many.
pub const MAX_BATCH: usize = 64;

/// How many senders the top-senders sketch keeps.
pub const TOP_SOURCES: usize = 32;

/// One message in this many goes into the top-senders sketch: a random sample (so periodic
/// senders cannot alias with it), which keeps the sketch's cost near 1 ns per message even when
/// every message comes from another device (36 ns unsampled; `bench detect`).
pub const TOP_SOURCES_SAMPLE: u64 = 8;

/// The loudest senders: Space-Saving over addresses (IPv4 as IPv4-mapped IPv6, see
/// [`source_key`]).
pub type SourceTop = HeavyHitters<u128, TOP_SOURCES>;

/// How many different senders: HyperLogLog with 1024 registers (1 KiB, about 3 % error), fed
/// every message.
pub type SourceCount = DistinctCount<1024>;

/// The sketch key of a sender's address.
pub fn source_key(ip: std::net::IpAddr) -> u128 {
    let v6 = match ip {
        std::net::IpAddr::V4(a) => a.to_ipv6_mapped(),
        std::net::IpAddr::V6(a) => a,
    };
    u128::from(v6)
}

/// The address of a [`source_key`].
pub fn source_of_key(key: u128) -> std::net::IpAddr {
    std::net::Ipv6Addr::from(key).to_canonical()
}

/// The longest text the miner unescapes from a message (JSON, CEF): what is beyond it is not
/// mined. Its buffer is reserved once.
const UNESCAPED_MAX: usize = 8 << 10;

/// One message of a batch.
#[derive(Clone, Copy, Debug)]
pub struct Input<'a> {
    /// The message, parsed.
    pub event: Event<'a>,
    /// Its sender as a [`source_key`], when there is one (not offline).
    pub source: Option<u128>,
    /// When it arrived, on the caller's clock (nanoseconds; CLOCK_MONOTONIC in the daemon).
    pub arrival_ns: u64,
}

/// What the engine learns from the traffic itself: message templates (and an alert for a new
/// one after a warm-up) and rate baselines per (host, app, template).
#[derive(Clone, Debug)]
struct Learning {
    miner: Miner,
    baselines: Baselines,
    warmup_messages: u64,
    seen: u64,
    /// Escaped text, unescaped (reserved once, never grown).
    unescaped: Vec<u8>,
}

/// The senders counted: sampled heavy hitters and every message's distinct count.
#[derive(Clone, Copy, Debug)]
struct Senders {
    top: SourceTop,
    distinct: SourceCount,
    /// xorshift state choosing the sample.
    sample: u64,
}

impl Senders {
    #[inline]
    fn add(&mut self, source: u128) {
        self.distinct.add_hash(mix64(source));
        let mut x = self.sample;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.sample = x;
        if x.is_multiple_of(TOP_SOURCES_SAMPLE) {
            self.top.add(source);
        }
    }
}

/// What a message says in words, for the miner: a JSON or CEF message field, else the body,
/// without the payload format's escapes (unescaped into `buf`, cut at [`UNESCAPED_MAX`]).
#[inline]
fn mined_text<'e>(event: &Event<'e>, buf: &'e mut Vec<u8>) -> &'e [u8] {
    let (text, escaped) = event.text_escaped();
    if !escaped {
        return text;
    }
    buf.clear();
    unescape_into(&text[..text.len().min(UNESCAPED_MAX)], buf);
    buf
}

/// What each message of the chunk being run carries from stage to stage.
#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    /// Its key for the miner's fastest path, and where that found its template.
    quick: u64,
    found: Option<Found>,
    /// Its time on the engine's clock.
    now: u64,
    /// Its own timestamp, if it has one, else `now`: the time its alerts carry.
    t: u64,
    /// Its template.
    mined: Option<Mined>,
    /// Its rate baseline key, and where that was found.
    baseline: u64,
    located: Option<Located>,
}

/// One worker's detection engine. See the module docs.
#[derive(Debug)]
pub struct Engine {
    sigma: Arc<SigmaSet>,
    scratch: SigmaScratch,
    correlations: CorrelationEngine,
    thresholds: ThresholdEngine,
    silences: SilenceEngine,
    learning: Option<Learning>,
    time: TimeKeeper,
    last_check_ns: u64,
    senders: Senders,
    slots: [Slot; MAX_BATCH],
    /// Messages in the last chunk run.
    last_len: usize,
    /// Audit records of one event joined into a process creation, for Sigma's rules.
    audit: audit_join::AuditJoin,
}

impl Blueprint {
    /// A new engine with empty state, all of it allocated now.
    pub fn engine(&self) -> Engine {
        Engine::new(self)
    }
}

impl Engine {
    fn new(b: &Blueprint) -> Self {
        let base = b.sigma.rules().len();
        let shares = BudgetShares::new(
            b.opts.budget_bytes,
            !b.thresholds.is_empty(),
            !b.correlations.is_empty(),
            !b.silences.is_empty(),
            b.opts.learning.is_some(),
        );
        Self {
            scratch: b.sigma.scratch(),
            sigma: b.sigma.clone(),
            correlations: CorrelationEngine::with_budget(
                b.correlations.clone(),
                base,
                shares.correlation,
            ),
            thresholds: ThresholdEngine::with_budget(b.thresholds.clone(), shares.threshold),
            silences: SilenceEngine::with_budget(b.silences.clone(), shares.silence),
            learning: b.opts.learning.map(|opts| Learning {
                miner: Miner::new(MinerOptions::default().within(shares.templates)),
                baselines: Baselines::new(Baselines::options_within(
                    opts.baselines,
                    shares.baselines,
                )),
                warmup_messages: opts.warmup_messages,
                seen: 0,
                unescaped: Vec::with_capacity(UNESCAPED_MAX),
            }),
            time: TimeKeeper::new(b.opts.clock),
            last_check_ns: 0,
            senders: Senders {
                top: SourceTop::default(),
                distinct: SourceCount::default(),
                sample: 0x9e37_79b9_7f4a_7c15,
            },
            slots: [Slot::default(); MAX_BATCH],
            last_len: 0,
            audit: audit_join::AuditJoin::new(),
        }
    }

    /// Whether this engine mines templates.
    pub fn learns(&self) -> bool {
        self.learning.is_some()
    }

    /// The template with `id`, as text, if the engine mines templates and still keeps it.
    pub fn template_text(&self, id: u64) -> Option<String> {
        self.learning.as_ref()?.miner.template(id).map(|t| t.text())
    }

    /// Runs every rule and every kind of learning over `batch`, adding what fires to `out`.
    /// An alert's [`Alert::input`] is the index in `batch` of the message it is about.
    pub fn run(&mut self, batch: &[Input<'_>], out: &mut Alerts) {
        for (c, chunk) in batch.chunks(MAX_BATCH).enumerate() {
            self.run_chunk(c * MAX_BATCH, chunk, out);
        }
    }

    /// The template of each message of the last chunk run, in order (a batch of at most
    /// [`MAX_BATCH`] is one chunk), when the engine mines them.
    pub fn templates(&self) -> impl Iterator<Item = Option<Mined>> + '_ {
        self.slots[..self.last_len].iter().map(|s| s.mined)
    }

    fn run_chunk(&mut self, base: usize, batch: &[Input<'_>], out: &mut Alerts) {
        let index = |i: usize| u16::try_from(base + i).ok();
        self.last_len = batch.len();
        // Times and senders.
        for (s, inp) in self.slots.iter_mut().zip(batch) {
            let event_ns = inp.event.timestamp_ns.and_then(|t| u64::try_from(t).ok());
            s.now = self.time.at(event_ns, inp.arrival_ns);
            s.t = event_ns.unwrap_or(s.now);
            s.mined = None;
            if let Some(source) = inp.source {
                self.senders.add(source);
            }
        }
        // Templates first, so every alert on a message can name its template. In passes over
        // the batch: every message's key and its cache bucket fetched; every key looked up and
        // its template fetched; every template counted; and the few messages no cached
        // template took, mined in full.
        if let Some(l) = &mut self.learning {
            for (s, inp) in self.slots.iter_mut().zip(batch) {
                s.quick = Miner::quick_key(mined_text(&inp.event, &mut l.unescaped));
                l.miner.prefetch(s.quick);
            }
            for s in self.slots[..batch.len()].iter_mut() {
                s.found = l.miner.lookup(s.quick);
            }
            for (s, inp) in self.slots.iter_mut().zip(batch) {
                l.seen += 1;
                let counted = s.found.and_then(|f| l.miner.count(f));
                s.mined = Some(match counted {
                    Some(m) => m,
                    None => {
                        let text = mined_text(&inp.event, &mut l.unescaped);
                        l.miner.add_keyed(text, s.quick)
                    }
                });
            }
        }
        // Sigma rules, and the correlations over their matches; an audit record that
        // completes a process creation also runs the rules on the joined record (its alerts
        // show the record that completed it).
        for (i, (s, inp)) in self.slots.iter().zip(batch).enumerate() {
            let mut sigma = SigmaRun {
                sigma: &self.sigma,
                correlations: &mut self.correlations,
                scratch: &mut self.scratch,
                input: index(i),
                template: s.mined.map(|m| m.id),
            };
            sigma.run(&inp.event, s.t, s.now, out);
            if let Some(joined) = self.audit.add(&inp.event, s.now) {
                sigma.run_joined(joined, s.t, s.now, out);
            }
        }
        if !self.silences.rules().is_empty() {
            for (s, inp) in self.slots.iter().zip(batch) {
                self.silences.on_event(&inp.event, s.now);
            }
        }
        if let Some(l) = &mut self.learning {
            // New templates, after the warm-up.
            let warm = l.seen.saturating_sub(batch.len() as u64);
            for (i, s) in self.slots[..batch.len()].iter().enumerate() {
                let Some(m) = s.mined.filter(|m| m.new) else {
                    continue;
                };
                if warm + i as u64 + 1 > l.warmup_messages {
                    let mut alert =
                        Alert::new(RuleRef::NewTemplate(m.id), index(i), s.t, Some(m.id));
                    if let Some(t) = l.miner.template(m.id) {
                        let n = t.write_text(alert.key_space());
                        alert.set_key_len(n);
                    }
                    out.push(alert);
                }
            }
            // Rate baselines: every key hashed and its bucket prefetched; every key located and
            // its state prefetched; then each observed.
            for (s, inp) in self.slots.iter_mut().zip(batch) {
                let mut h = crate::bounded::key_hasher();
                h.write(inp.event.host.unwrap_or_default());
                h.write(inp.event.app.unwrap_or_default());
                h.write_u64(s.mined.map_or(0, |m| m.id));
                s.baseline = h.finish();
                l.baselines.prefetch(s.baseline);
            }
            for s in self.slots[..batch.len()].iter_mut() {
                s.located = Some(l.baselines.locate(s.baseline));
            }
            for (i, s) in self.slots[..batch.len()].iter().enumerate() {
                let Some(at) = s.located else { continue };
                if let Some(a) = l.baselines.observe_at(at, s.now) {
                    let id = s.mined.map_or(0, |m| m.id);
                    let mut alert = Alert::new(RuleRef::RateSpike(id), index(i), s.now, Some(id));
                    alert.count = a.count;
                    if let Some(t) = l.miner.template(id) {
                        let n = t.write_text(alert.key_space());
                        alert.set_key_len(n);
                    }
                    out.push(alert);
                }
            }
        }
        if !self.thresholds.rules().is_empty() {
            for (i, (s, inp)) in self.slots.iter().zip(batch).enumerate() {
                let template = s.mined.map(|m| m.id);
                self.thresholds.on_event(&inp.event, s.now, |a| {
                    let mut alert = Alert::new(
                        RuleRef::Threshold(a.rule as u32),
                        index(i),
                        a.last_ns,
                        template,
                    )
                    .with_key(a.key);
                    alert.count = a.count;
                    alert.folded = a.folded;
                    alert.first_ns = a.first_ns;
                    out.push(alert);
                });
            }
        }
    }

    /// Nothing arrived at `now_ns` (the caller's arrival clock): runs the checks that depend on
    /// time alone, silences and correlation windows judged at their end (at most once a
    /// second). Cheap when nothing is due.
    pub fn tick(&mut self, now_ns: u64, out: &mut Alerts) {
        let now_ns = self.time.now(now_ns);
        if (self.silences.rules().is_empty()
            && !self.correlations.has_windows()
            && self.audit.waiting() == 0)
            || now_ns < self.last_check_ns + 1_000_000_000
        {
            return;
        }
        self.last_check_ns = now_ns;
        // Audit events whose records stopped coming.
        self.flush_audit(now_ns, out);
        // Correlations judged at their windows' end.
        self.correlations.tick(now_ns, |a| {
            out.push(correlation_alert(&a, None, None));
        });
        self.silences.check(now_ns, |a| {
            let secs = u32::try_from(a.quiet_ns / 1_000_000_000).unwrap_or(u32::MAX);
            let mut alert =
                Alert::new(RuleRef::Silence(a.rule as u32), None, now_ns, None).with_key(a.key);
            alert.count = secs;
            alert.first_ns = now_ns.saturating_sub(a.quiet_ns);
            out.push(alert);
        });
    }

    /// The input is over (an offline run's end of file): judges every correlation window
    /// still open, as if its time had passed.
    pub fn finish(&mut self, out: &mut Alerts) {
        self.flush_audit(u64::MAX, out);
        self.correlations.tick(u64::MAX, |a| {
            out.push(correlation_alert(&a, None, None));
        });
    }

    /// Runs the rules on the audit events [`AuditJoin::flush`](audit_join::AuditJoin::flush)
    /// writes out at `now_ns` (`u64::MAX`: all of them); their alerts name no message of a
    /// batch and carry the time of the event's last record.
    fn flush_audit(&mut self, now_ns: u64, out: &mut Alerts) {
        let mut sigma = SigmaRun {
            sigma: &self.sigma,
            correlations: &mut self.correlations,
            scratch: &mut self.scratch,
            input: None,
            template: None,
        };
        self.audit.flush(now_ns, |joined, at_ns| {
            sigma.run_joined(joined, at_ns, at_ns, out);
        });
    }

    /// The sizes of its state tables and what they evicted.
    pub fn stats(&self) -> EngineStats {
        let mut s = EngineStats::default();
        let mut set = |t: StateTable, keys: usize, evicted: u64| {
            s.keys[t as usize] = keys as u64;
            s.evicted[t as usize] = evicted;
        };
        let t = self.thresholds.counters();
        set(StateTable::Threshold, self.thresholds.keys(), t.evicted);
        set(
            StateTable::Correlation,
            self.correlations.keys(),
            self.correlations.evicted(),
        );
        set(
            StateTable::Silence,
            self.silences.keys(),
            self.silences.evicted(),
        );
        set(
            StateTable::AuditEvents,
            self.audit.waiting(),
            self.audit.evicted(),
        );
        let mut bytes = self.thresholds.state_bytes()
            + self.correlations.state_bytes()
            + self.silences.state_bytes()
            + self.audit.state_bytes();
        if let Some(l) = &self.learning {
            set(StateTable::Templates, l.miner.len(), l.miner.evicted());
            set(
                StateTable::Baselines,
                l.baselines.len(),
                l.baselines.evicted(),
            );
            bytes += l.miner.state_bytes() + l.baselines.state_bytes();
        }
        s.suppressed = t.suppressed;
        s.state_bytes = bytes as u64;
        s
    }

    /// The loudest senders so far (sampled; see [`TOP_SOURCES_SAMPLE`]).
    pub fn top_sources(&self) -> &SourceTop {
        &self.senders.top
    }

    /// The senders seen so far, counted.
    pub fn distinct_sources(&self) -> &SourceCount {
        &self.senders.distinct
    }
}

/// The alert of a correlation, on message `input` of the batch (none for a window judged at
/// its end) of `template`.
/// The Sigma rules, and the correlations over their matches, run on one message of a batch
/// (`input`) or on an audit event joined outside one.
struct SigmaRun<'a> {
    sigma: &'a SigmaSet,
    correlations: &'a mut CorrelationEngine,
    scratch: &'a mut SigmaScratch,
    input: Option<u16>,
    template: Option<u64>,
}

impl SigmaRun<'_> {
    /// Runs the rules on `e`; its alerts carry time `t`, the correlations read `now_ns`.
    fn run(&mut self, e: &Event<'_>, t: u64, now_ns: u64, out: &mut Alerts) {
        let (input, template) = (self.input, self.template);
        let correlations = &mut *self.correlations;
        self.sigma.for_each_match(e, self.scratch, |r| {
            out.push(Alert::new(RuleRef::Sigma(r as u32), input, t, template));
            correlations.on_match(r, e, now_ns, |a| {
                out.push(correlation_alert(&a, input, template));
            });
        });
    }

    /// Runs the rules on a joined audit record.
    fn run_joined(&mut self, joined: &[u8], t: u64, now_ns: u64, out: &mut Alerts) {
        let e = crate::parse::parse(joined, &crate::parse::ParseOptions::default());
        self.run(&e, t, now_ns, out);
    }
}

fn correlation_alert(
    a: &crate::rules::correlation::CorrelationAlert<'_>,
    input: Option<u16>,
    template: Option<u64>,
) -> Alert {
    let mut alert = Alert::new(
        RuleRef::Correlation(a.rule as u32),
        input,
        a.last_ns,
        template,
    )
    .with_key(a.group);
    alert.count = u32::try_from(a.count).unwrap_or(u32::MAX);
    alert.first_ns = a.first_ns;
    alert
}

#[cfg(test)]
mod tests;
