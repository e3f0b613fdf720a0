//! Sigma correlation rules (<https://sigmahq.io/docs/meta/correlations.html>) over the matches of
//! detection rules: `event_count`, `value_count`, `value_sum`, `value_avg`, `temporal` and
//! `temporal_ordered`, with `group-by` fields and a `timespan`.
//!
//! ```yaml
//! title: Many failed logins from one host
//! correlation:
//!     type: event_count
//!     rules: [failed_login]        # names or ids of detection rules
//!     group-by: [host]
//!     timespan: 5m
//!     condition: {gte: 10}
//! ```
//!
//! Conditions `gte` and `gt` fire the moment the count gets there. An `event_count` with `lt`,
//! `lte`, `eq` or a range is judged when its window ends (a window starts at a group's first
//! match and lasts the timespan; [`CorrelationEngine::tick`]); the other kinds refuse those. `value_sum` and
//! `value_avg` read their `field` as a number (events where it is not one are not counted)
//! over the timespan in [`SUM_BUCKETS`] steps. Time is the event's own
//! timestamp, or the arrival time passed in when it has none. State per group lives in a fixed
//! [`Table`] per rule, allocated at construction; evictions are counted.

use std::hash::Hasher;

use serde_yaml_ng::Value;

use super::{
    duration_ns,
    sigma::{About, Field, Level, RuleError, SigmaRule, parse_level, parse_tags},
};
use crate::{
    parse::Event,
    table::{self, Table},
};

/// The kinds of correlation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Matches of the rules per group within the timespan.
    EventCount,
    /// Distinct values of a field per group within the timespan.
    ValueCount,
    /// Every referenced rule matched within the timespan, in any order.
    Temporal,
    /// Every referenced rule matched within the timespan, in the order listed.
    TemporalOrdered,
    /// The sum of a numeric field's values per group within the timespan.
    ValueSum,
    /// The average of a numeric field's values per group within the timespan.
    ValueAvg,
}

/// Sub-windows of a `value_sum` or `value_avg` group: the timespan is read in this many steps,
/// so a group's state is fixed in size (the window slides by a step: its start is exact to
/// `timespan / SUM_BUCKETS`).
pub const SUM_BUCKETS: usize = 8;

/// One compiled correlation rule.
#[derive(Clone, Debug)]
pub struct CorrelationRule {
    /// `title`.
    pub title: String,
    /// `id`.
    pub id: Option<String>,
    /// `level`.
    pub level: Level,
    /// `tags` (ATT&CK, ...).
    pub tags: Vec<String>,
    /// The file it came from.
    pub file: String,
    /// Its description, author, license and references.
    pub about: About,
    /// The kind.
    pub kind: Kind,
    /// Indexes of the detection rules it refers to, in the order listed.
    pub rules: Vec<usize>,
    group_by: Vec<Field>,
    timespan_ns: u64,
    /// The count (or distinct values) to reach: `gte` n, or `gt` n - 1.
    threshold: u64,
    /// For `value_sum` and `value_avg`: the bound, and whether it must be exceeded (`gt`)
    /// rather than reached (`gte`).
    bound: (f64, bool),
    /// For an `event_count` judged at the end of its window (`lt`, `lte`, `eq`, a range): the
    /// counts that fire.
    window: Option<CountRange>,
    value_field: Option<Field>,
}

/// A condition's comparisons: the operator (`gt`, `gte`, `lt`, `lte`, `eq`) and its value.
type Comparisons<'v> = Vec<(&'v str, &'v Value)>;

/// A correlation condition's comparisons and, when `with_field`, its `field`; any other key is
/// refused, naming it.
fn comparisons<'v>(
    cond: &'v Value,
    with_field: bool,
    err: &impl Fn(&str, String) -> RuleError,
) -> Result<(Comparisons<'v>, Option<Field>), RuleError> {
    let map = cond
        .as_mapping()
        .ok_or_else(|| err("correlation.condition", "missing".into()))?;
    let mut ops = Vec::new();
    let mut field = None;
    for (k, v) in map {
        match k.as_str() {
            Some(op @ ("gt" | "gte" | "lt" | "lte" | "eq")) => ops.push((op, v)),
            Some("field") if with_field => field = v.as_str().map(Field::from_name),
            Some(other) => {
                return Err(err(
                    &format!("correlation.condition.{other}"),
                    "not a condition (gt, gte, lt, lte, eq)".into(),
                ));
            }
            None => return Err(err("correlation.condition", "a non-string key".into())),
        }
    }
    Ok((ops, field))
}

/// The counts a condition admits: at least `gte`, at most `lte`, exactly `eq`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CountRange {
    /// `gte` (or `gt` + 1).
    pub gte: Option<u64>,
    /// `lte` (or `lt` - 1).
    pub lte: Option<u64>,
    /// `eq`.
    pub eq: Option<u64>,
}

impl CountRange {
    /// Whether it can only be judged when the window ends: it has an upper bound or an
    /// exact count.
    fn at_window_end(&self) -> bool {
        self.lte.is_some() || self.eq.is_some()
    }

    /// Whether `n` is admitted.
    pub fn holds(&self, n: u64) -> bool {
        self.gte.is_none_or(|g| n >= g)
            && self.lte.is_none_or(|l| n <= l)
            && self.eq.is_none_or(|e| n == e)
    }
}

impl CorrelationRule {
    /// Compiles one correlation document, resolving its rule references among `rules` (by
    /// `name` or `id`).
    pub fn from_value(file: &str, doc: &Value, rules: &[SigmaRule]) -> Result<Self, RuleError> {
        let err = |construct: &str, message: String| RuleError {
            file: file.to_string(),
            construct: construct.to_string(),
            message,
        };
        let c = &doc["correlation"];
        let title = doc["title"]
            .as_str()
            .ok_or_else(|| err("title", "missing".into()))?
            .to_string();
        let level = parse_level(doc["level"].as_str()).map_err(|m| err("level", m.0))?;
        let kind = match c["type"].as_str() {
            Some("event_count") => Kind::EventCount,
            Some("value_count") => Kind::ValueCount,
            Some("temporal") => Kind::Temporal,
            Some("temporal_ordered") => Kind::TemporalOrdered,
            Some("value_sum") => Kind::ValueSum,
            Some("value_avg") => Kind::ValueAvg,
            other => {
                return Err(err(
                    "correlation.type",
                    format!(
                        "{other:?} is not event_count, value_count, value_sum, value_avg, \
                         temporal or temporal_ordered"
                    ),
                ));
            }
        };
        let refs: Vec<&str> = match &c["rules"] {
            Value::String(s) => vec![s.as_str()],
            Value::Sequence(list) => list
                .iter()
                .map(|v| {
                    v.as_str()
                        .ok_or_else(|| err("correlation.rules", "a non-string entry".into()))
                })
                .collect::<Result<_, _>>()?,
            _ => return Err(err("correlation.rules", "missing".into())),
        };
        let mut indexes = Vec::new();
        for r in refs {
            let i = rules
                .iter()
                .position(|x| x.name.as_deref() == Some(r) || x.id.as_deref() == Some(r))
                .ok_or_else(|| err("correlation.rules", format!("no loaded rule named {r:?}")))?;
            indexes.push(i);
        }
        let group_by = match &c["group-by"] {
            Value::Null => Vec::new(),
            Value::Sequence(list) => list
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(Field::from_name)
                        .ok_or_else(|| err("correlation.group-by", "a non-string entry".into()))
                })
                .collect::<Result<_, _>>()?,
            Value::String(s) => vec![Field::from_name(s)],
            _ => return Err(err("correlation.group-by", "not a list".into())),
        };
        let span = c["timespan"]
            .as_str()
            .ok_or_else(|| err("correlation.timespan", "missing".into()))?;
        let timespan_ns = duration_ns(span).ok_or_else(|| {
            err(
                "correlation.timespan",
                format!("{span:?} is not like 5m, 1h"),
            )
        })?;
        let cond = &c["condition"];
        let mut value_field = None;
        let mut bound = None;
        let mut window = None;
        let threshold = match kind {
            Kind::Temporal | Kind::TemporalOrdered => indexes.len() as u64,
            Kind::ValueSum | Kind::ValueAvg => {
                let (ops, field) = comparisons(cond, true, &err)?;
                value_field = field;
                for (op, v) in ops {
                    let number = v.as_f64().filter(|n| n.is_finite()).ok_or_else(|| {
                        err("correlation.condition", format!("{v:?} is not a number"))
                    })?;
                    bound = Some(match op {
                        "gte" => (number, false),
                        "gt" => (number, true),
                        _ => {
                            return Err(err(
                                &format!("correlation.condition.{op}"),
                                "only gte and gt can fire on a stream (lt, lte, eq and ranges need the end of a window)".into(),
                            ));
                        }
                    });
                }
                if value_field.is_none() {
                    return Err(err(
                        "correlation.condition.field",
                        "value_sum and value_avg need a field".into(),
                    ));
                }
                if bound.is_none() {
                    return Err(err("correlation.condition", "needs gte or gt".into()));
                }
                1
            }
            Kind::EventCount | Kind::ValueCount => {
                let (ops, field) = comparisons(cond, kind == Kind::ValueCount, &err)?;
                value_field = field;
                let mut range = CountRange::default();
                for (op, v) in ops {
                    let count = v.as_u64().ok_or_else(|| {
                        err("correlation.condition", format!("{v:?} is not a count"))
                    })?;
                    match op {
                        "gte" => range.gte = Some(count),
                        "gt" => range.gte = Some(count + 1),
                        "lte" => range.lte = Some(count),
                        "lt" => {
                            range.lte = Some(count.checked_sub(1).ok_or_else(|| {
                                err("correlation.condition.lt", "no count is below 0".into())
                            })?)
                        }
                        _ => range.eq = Some(count),
                    }
                }
                if kind == Kind::ValueCount && value_field.is_none() {
                    return Err(err(
                        "correlation.condition.field",
                        "value_count needs a field".into(),
                    ));
                }
                if range.at_window_end() {
                    if kind != Kind::EventCount {
                        return Err(err(
                            "correlation.condition",
                            "lt, lte, eq and ranges are read for event_count only".into(),
                        ));
                    }
                    window = Some(range);
                    1
                } else {
                    range.gte.filter(|n| *n >= 1).ok_or_else(|| {
                        err(
                            "correlation.condition",
                            "needs gte or gt with a count, or lt, lte or eq".into(),
                        )
                    })?
                }
            }
        };
        Ok(Self {
            title,
            id: doc["id"].as_str().map(str::to_string),
            level,
            tags: parse_tags(&doc["tags"]).map_err(|m| err("tags", m.0))?,
            file: file.to_string(),
            about: About::of(doc),
            kind,
            rules: indexes,
            group_by,
            timespan_ns,
            threshold,
            bound: bound.unwrap_or((0.0, false)),
            window,
            value_field,
        })
    }

    /// The group of `e`: a hash of its group-by values, and their text for the alert.
    fn group(&self, e: &Event<'_>) -> u64 {
        let mut h = crate::bounded::key_hasher();
        for f in &self.group_by {
            let mut found = false;
            f.any_value(e, |v| {
                h.write(v);
                found = true;
                true
            });
            h.write_u8(u8::from(found));
        }
        h.finish()
    }
}

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

/// A group of an `event_count` judged at its window's end: when the window started, the count,
/// the group text's length, then the text (at most [`CorrelationEngine::GROUP_MAX`] bytes).
const WINDOW_WORDS: usize = 3 + CorrelationEngine::GROUP_MAX / 8;

/// A time slot of a temporal group that no match has filled.
const NONE: u64 = u64::MAX;

/// One rule's groups: the table and a fixed stretch of `u64`s per slot, laid out by kind:
/// - event count: where the ring continues, matches seen, then the times of the last
///   `threshold` matches;
/// - value count: how many values are held, then (value hash, last time) pairs, `threshold`
///   of them;
/// - temporal: the last match time of each referenced rule ([`NONE`] when none).
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
        match rule.kind {
            Kind::EventCount => 2 + n,
            Kind::ValueCount => 1 + 2 * n,
            Kind::Temporal | Kind::TemporalOrdered => rule.rules.len(),
            Kind::ValueSum | Kind::ValueAvg => 3 * SUM_BUCKETS,
        }
        .max(if rule.window.is_some() {
            WINDOW_WORDS
        } else {
            0
        })
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
            let st = &mut self.state[ci];
            let n = rule.threshold as usize;
            let entry = st.table.entry(rule.group(e));
            let w = &mut st.words[entry.slot * st.stride..(entry.slot + 1) * st.stride];
            if entry.fresh {
                let empty = match rule.kind {
                    Kind::Temporal | Kind::TemporalOrdered | Kind::ValueSum | Kind::ValueAvg => {
                        NONE
                    }
                    Kind::EventCount | Kind::ValueCount => 0,
                };
                w.fill(empty);
            }
            if let Some(range) = rule.window {
                // Judged at the window's end (tick); a match after it ends judges it first.
                if !entry.fresh && t.saturating_sub(w[0]) > rule.timespan_ns {
                    judge_window(ci, rule, range, w, &mut self.group, &mut alert);
                    w.fill(0);
                }
                if w[1] == 0 {
                    w[0] = t;
                    group_text(rule, e, &mut self.group);
                    store_text(w, &self.group);
                }
                w[1] += 1;
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
                    let mut v = crate::bounded::key_hasher();
                    let mut found = false;
                    if let Some(f) = &rule.value_field {
                        f.any_value(e, |x| {
                            v.write(x);
                            found = true;
                            true
                        });
                    }
                    if !found {
                        continue;
                    }
                    let v = v.finish();
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
                    let mut value = None;
                    if let Some(f) = &rule.value_field {
                        f.any_value(e, |x| {
                            value = std::str::from_utf8(x)
                                .ok()
                                .and_then(|s| s.trim().parse::<f64>().ok())
                                .filter(|n| n.is_finite());
                            value.is_some()
                        });
                    }
                    let Some(value) = value else {
                        continue;
                    };
                    sum_window(rule, w, t, value)
                }
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

    /// Judges the windows of the `event_count` rules with an end-of-window condition (`lt`,
    /// `lte`, `eq`, a range) that ended by `now_ns`: an alert for each whose count the
    /// condition admits; every ended window is let go. Call it now and again (once a second);
    /// a window that a later match finds ended is judged then. `u64::MAX` judges every open
    /// window (the input is over).
    pub fn tick(&mut self, now_ns: u64, mut alert: impl FnMut(CorrelationAlert<'_>)) {
        for ci in 0..self.rules.len() {
            let rule = &self.rules[ci];
            let Some(range) = rule.window else {
                continue;
            };
            let st = &mut self.state[ci];
            for slot in 0..st.table.capacity() {
                let Some(key) = st.table.key_at(slot) else {
                    continue;
                };
                let w = &st.words[slot * st.stride..(slot + 1) * st.stride];
                if now_ns != u64::MAX && now_ns.saturating_sub(w[0]) <= rule.timespan_ns {
                    continue;
                }
                judge_window(ci, rule, range, w, &mut self.group, &mut alert);
                st.table.remove(key);
            }
        }
    }

    /// Whether some rule judges its windows at their end ([`CorrelationEngine::tick`]).
    pub fn has_windows(&self) -> bool {
        self.rules.iter().any(|r| r.window.is_some())
    }
}

/// An ended window of correlation `ci` (its words `w`): an alert when `range` admits its
/// count, its group text read into `group`.
fn judge_window(
    ci: usize,
    rule: &CorrelationRule,
    range: CountRange,
    w: &[u64],
    group: &mut Vec<u8>,
    alert: &mut impl FnMut(CorrelationAlert<'_>),
) {
    if range.holds(w[1]) {
        load_text(w, group);
        alert(CorrelationAlert {
            rule: ci,
            count: w[1],
            group,
            first_ns: w[0],
            last_ns: w[0] + rule.timespan_ns,
        });
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

/// Keeps `text` in a window group's words (its length in `w[2]`, the bytes from `w[3]`).
fn store_text(w: &mut [u64], text: &[u8]) {
    let room = (w.len() - 3) * 8;
    let text = &text[..text.len().min(room)];
    w[2] = text.len() as u64;
    w[3..].fill(0);
    for (i, &b) in text.iter().enumerate() {
        w[3 + i / 8] |= u64::from(b) << (8 * (i % 8));
    }
}

/// The text [`store_text`] kept, into `out`.
fn load_text(w: &[u64], out: &mut Vec<u8>) {
    out.clear();
    let n = (w[2] as usize).min((w.len() - 3) * 8);
    out.extend((0..n).map(|i| (w[3 + i / 8] >> (8 * (i % 8))) as u8));
}
