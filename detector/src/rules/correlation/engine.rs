//! The correlation rules' state, all allocated at construction, fed one match at a time.

use super::{CorrelationRule, Kind, Observed, SUM_BUCKETS, window};
use crate::{
    parse::Event,
    table::{self, Table},
};

/// Adds `value` at time `t` to a `value_sum` or `value_avg` group's sub-windows `w` (each:
/// its step number, the sum's bits, the count; a step is `timespan / SUM_BUCKETS`), and says
/// whether the window's sum (or average) now meets the rule's bound: the total (the sum, or
/// the count for an average) and the start of the earliest step counted. A group that fires
/// starts again empty.
fn sum_window(rule: &CorrelationRule, w: &mut [u64], t: u64, value: f64) -> Option<(u64, u64)> {
    let step_ns = (rule.timespan_ns / SUM_BUCKETS as u64).max(1);
    let step = t / step_ns;
    let slot = (step % SUM_BUCKETS as u64) as usize;
    let b = &mut w[3 * slot..3 * slot + 3];
    if b[0] != step {
        b[0] = step;
        b[1] = 0f64.to_bits();
        b[2] = 0;
    }
    b[1] = (f64::from_bits(b[1]) + value).to_bits();
    b[2] += 1;
    let (mut sum, mut count, mut first) = (0.0, 0u64, step);
    for b in w.chunks_exact(3) {
        // Steps of this window only: the last SUM_BUCKETS, this one included.
        if b[0] != NONE && b[0] <= step && step - b[0] < SUM_BUCKETS as u64 {
            sum += f64::from_bits(b[1]);
            count += b[2];
            first = first.min(b[0]);
        }
    }
    let measured = match rule.kind {
        Kind::ValueAvg => sum / count.max(1) as f64,
        _ => sum,
    };
    let (bound, strict) = rule.bound;
    let hit = if strict {
        measured > bound
    } else {
        measured >= bound
    };
    if hit {
        w.fill(NONE);
    }
    hit.then_some((measured.max(0.0).round() as u64, first * step_ns))
}

/// A correlation that fired. The group borrows the engine's scratch space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CorrelationAlert<'g> {
    /// Index of the correlation rule.
    pub rule: usize,
    /// The count or number of distinct values reached (the number of rules for temporal).
    pub count: u64,
    /// The group-by values of the event that completed it, comma-separated (cut at
    /// [`CorrelationEngine::GROUP_MAX`] bytes).
    pub group: &'g [u8],
    /// Time of the earliest match counted (the rule's clock: event time, else `now_ns`).
    pub first_ns: u64,
    /// Time of the match that completed it.
    pub last_ns: u64,
}

/// A time slot of a temporal group that no match has filled.
const NONE: u64 = u64::MAX;

/// One rule's groups: the table and a fixed stretch of `u64`s per slot, laid out by kind:
/// - event count: where the ring continues, matches seen, then the times of the last
///   `threshold` matches;
/// - value count: how many values are held, then (value hash, last time) pairs, `threshold`
///   of them;
/// - temporal: the last match time of each referenced rule ([`NONE`] when none);
/// - value sum and average on a stream: [`SUM_BUCKETS`] steps of (step, sum, count);
/// - a rule judged at its window's end: as [`window`] lays it out.
#[derive(Clone, Debug)]
struct RuleState {
    table: Table,
    stride: usize,
    words: Box<[u64]>,
}

/// The correlation rules and their state, all allocated at construction.
#[derive(Clone, Debug)]
pub struct CorrelationEngine {
    rules: Vec<CorrelationRule>,
    state: Vec<RuleState>,
    /// Detection rule index -> the correlations that use it.
    by_base: Vec<Vec<usize>>,
    /// Where an alert's group text is written (its capacity is reserved once).
    group: Vec<u8>,
}

impl CorrelationEngine {
    /// Longest group text an alert carries, bytes.
    pub const GROUP_MAX: usize = 256;

    /// The `u64`s one group of `rule` holds.
    fn stride(rule: &CorrelationRule) -> usize {
        let n = rule.threshold as usize;
        if rule.window.is_some() {
            return window::words(rule);
        }
        match rule.kind {
            Kind::EventCount => 2 + n,
            Kind::ValueCount => 1 + 2 * n,
            Kind::Temporal | Kind::TemporalOrdered => rule.rules.len(),
            Kind::ValueSum | Kind::ValueAvg => 3 * SUM_BUCKETS,
            Kind::ValuePercentile => unreachable!("a percentile is judged at its window's end"),
        }
    }

    /// An engine whose groups stay within `budget_bytes` in all (split evenly over the rules).
    pub fn with_budget(
        rules: Vec<CorrelationRule>,
        base_rules: usize,
        budget_bytes: usize,
    ) -> Self {
        let per_rule = budget_bytes / rules.len().max(1);
        let groups = rules
            .iter()
            .map(|r| Table::slots_within(per_rule, Self::stride(r) * 8))
            .min()
            .unwrap_or(1);
        Self::new(rules, base_rules, groups)
    }

    /// An engine keeping at most `max_groups` groups per rule (fewer: whole buckets of a power
    /// of two). Everything is allocated here.
    pub fn new(rules: Vec<CorrelationRule>, base_rules: usize, max_groups: usize) -> Self {
        let mut by_base = vec![Vec::new(); base_rules];
        for (i, r) in rules.iter().enumerate() {
            for &b in &r.rules {
                if !by_base[b].contains(&i) {
                    by_base[b].push(i);
                }
            }
        }
        let state = rules
            .iter()
            .map(|r| {
                let table = Table::new(max_groups);
                let stride = Self::stride(r);
                RuleState {
                    words: table::committed(table.capacity() * stride, 0),
                    stride,
                    table,
                }
            })
            .collect();
        Self {
            rules,
            state,
            by_base,
            group: Vec::with_capacity(Self::GROUP_MAX),
        }
    }

    /// The correlation rules.
    pub fn rules(&self) -> &[CorrelationRule] {
        &self.rules
    }

    /// Groups evicted from full tables.
    pub fn evicted(&self) -> u64 {
        self.state.iter().map(|s| s.table.evicted()).sum()
    }

    /// Groups held now, all rules.
    pub fn keys(&self) -> usize {
        self.state.iter().map(|s| s.table.len()).sum()
    }

    /// Bytes the engine's state takes (allocated at construction).
    pub fn state_bytes(&self) -> usize {
        self.state
            .iter()
            .map(|s| s.table.capacity() * table::SLOT_BYTES + std::mem::size_of_val(&*s.words))
            .sum()
    }

    /// Feeds one match of detection rule `base` on `e`; `now_ns` is used when the event has no
    /// timestamp.
    pub fn on_match(
        &mut self,
        base: usize,
        e: &Event<'_>,
        now_ns: u64,
        mut alert: impl FnMut(CorrelationAlert<'_>),
    ) {
        let Some(correlations) = self.by_base.get(base) else {
            return;
        };
        let t = e
            .timestamp_ns
            .and_then(|t| u64::try_from(t).ok())
            .unwrap_or(now_ns);
        for &ci in correlations {
            let rule = &self.rules[ci];
            // An event without the value counts for nothing, and makes no group.
            let Some(seen) = rule.observe(e) else {
                continue;
            };
            let st = &mut self.state[ci];
            let n = rule.threshold as usize;
            let entry = st.table.entry(rule.group(e));
            let w = &mut st.words[entry.slot * st.stride..(entry.slot + 1) * st.stride];
            if entry.fresh {
                let empty = match rule.kind {
                    _ if rule.window.is_some() => 0,
                    Kind::Temporal | Kind::TemporalOrdered | Kind::ValueSum | Kind::ValueAvg => {
                        NONE
                    }
                    Kind::EventCount | Kind::ValueCount | Kind::ValuePercentile => 0,
                };
                w.fill(empty);
            }
            if rule.window.is_some() {
                // Judged at the window's end (tick); a match after it ends judges it first.
                if !entry.fresh && window::ended(rule, w, t) {
                    window::judge(ci, rule, w, &mut self.group, &mut alert);
                    w[1] = 0;
                }
                if window::starting(w) {
                    group_text(rule, e, &mut self.group);
                }
                window::add(rule, w, t, seen, &self.group);
                continue;
            }
            let fired = match rule.kind {
                Kind::EventCount => {
                    let (head, times) = w.split_at_mut(2);
                    let next = head[0] as usize;
                    times[next] = t;
                    head[0] = ((next + 1) % n) as u64;
                    head[1] += 1;
                    let first = times[head[0] as usize];
                    let hit = head[1] >= n as u64 && t.saturating_sub(first) <= rule.timespan_ns;
                    if hit {
                        head[1] = 0;
                    }
                    hit.then_some((n as u64, first))
                }
                Kind::ValueCount => {
                    let Observed::Hash(v) = seen else {
                        continue;
                    };
                    let (len, pairs) = w.split_at_mut(1);
                    let mut held = len[0] as usize;
                    // Values last seen outside the timespan no longer count.
                    let mut i = 0;
                    while i < held {
                        if t.saturating_sub(pairs[2 * i + 1]) > rule.timespan_ns {
                            held -= 1;
                            pairs.copy_within(2 * held..2 * held + 2, 2 * i);
                        } else {
                            i += 1;
                        }
                    }
                    match (0..held).find(|&i| pairs[2 * i] == v) {
                        Some(i) => pairs[2 * i + 1] = t,
                        None => {
                            // `held < n`: reaching `n` fires and empties the set.
                            pairs[2 * held] = v;
                            pairs[2 * held + 1] = t;
                            held += 1;
                        }
                    }
                    let hit = held >= n;
                    let first = (0..held).map(|i| pairs[2 * i + 1]).min().unwrap_or(t);
                    len[0] = if hit { 0 } else { held as u64 };
                    hit.then_some((n as u64, first))
                }
                Kind::ValueSum | Kind::ValueAvg => {
                    let Observed::Number(value) = seen else {
                        continue;
                    };
                    sum_window(rule, w, t, value)
                }
                Kind::ValuePercentile => unreachable!("a percentile is judged at its window's end"),
                Kind::Temporal | Kind::TemporalOrdered => {
                    for (slot, &b) in rule.rules.iter().enumerate() {
                        if b == base {
                            // In order: only when every earlier rule has matched since.
                            let ready = rule.kind == Kind::Temporal
                                || w[..slot].iter().all(|&x| x != NONE && x <= t);
                            if ready {
                                w[slot] = t;
                            }
                        }
                    }
                    let complete = w
                        .iter()
                        .all(|&x| x != NONE && t.saturating_sub(x) <= rule.timespan_ns);
                    let first = w.iter().copied().filter(|&x| x != NONE).min().unwrap_or(t);
                    if complete {
                        w.fill(NONE);
                    }
                    complete.then_some((rule.rules.len() as u64, first))
                }
            };
            if let Some((count, first_ns)) = fired {
                group_text(rule, e, &mut self.group);
                alert(CorrelationAlert {
                    rule: ci,
                    count,
                    group: &self.group,
                    first_ns,
                    last_ns: t,
                });
            }
        }
    }

    /// Judges the windows of the rules judged at their end (a condition with `lt`, `lte` or
    /// `eq`, or a percentile) that ended by `now_ns`: an alert for each whose measure the
    /// condition admits; every ended window is let go. Call it now and again (once a second);
    /// a window that a later match finds ended is judged then. `u64::MAX` judges every open
    /// window (the input is over).
    pub fn tick(&mut self, now_ns: u64, mut alert: impl FnMut(CorrelationAlert<'_>)) {
        for ci in 0..self.rules.len() {
            let rule = &self.rules[ci];
            if rule.window.is_none() {
                continue;
            }
            let st = &mut self.state[ci];
            for slot in 0..st.table.capacity() {
                let Some(key) = st.table.key_at(slot) else {
                    continue;
                };
                let w = &st.words[slot * st.stride..(slot + 1) * st.stride];
                if now_ns != u64::MAX && !window::ended(rule, w, now_ns) {
                    continue;
                }
                window::judge(ci, rule, w, &mut self.group, &mut alert);
                st.table.remove(key);
            }
        }
    }

    /// Whether some rule judges its windows at their end ([`CorrelationEngine::tick`]).
    pub fn has_windows(&self) -> bool {
        self.rules.iter().any(|r| r.window.is_some())
    }
}

/// The group-by values of `e` for `rule`, comma-separated, cut at
/// [`CorrelationEngine::GROUP_MAX`] bytes, into `out`.
fn group_text(rule: &CorrelationRule, e: &Event<'_>, out: &mut Vec<u8>) {
    out.clear();
    for (i, f) in rule.group_by.iter().enumerate() {
        if i > 0 && out.len() < CorrelationEngine::GROUP_MAX {
            out.push(b',');
        }
        f.any_value(e, |v| {
            let room = CorrelationEngine::GROUP_MAX - out.len();
            out.extend_from_slice(&v[..v.len().min(room)]);
            true
        });
    }
}
