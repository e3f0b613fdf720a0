//! Sigma correlation rules (<https://sigmahq.io/docs/meta/correlations.html>) over the matches of
//! detection rules: `event_count`, `value_count`, `temporal` and `temporal_ordered`, with
//! `group-by` fields and a `timespan`.
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
//! Conditions `gte` and `gt` are supported (an alert the moment the count gets there); `lt`,
//! `lte`, `eq` and ranges need the end of a window and are rejected. Time is the event's own
//! timestamp, or the arrival time passed in when it has none. State per group is bounded (LRU,
//! evictions counted).

use std::{hash::Hasher, num::NonZeroUsize};

use lru::LruCache;
use serde_yaml::Value;

use super::{
    duration_ns,
    sigma::{Field, Level, RuleError, SigmaRule, parse_level, parse_tags},
};
use crate::parse::Event;

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
}

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
    /// The kind.
    pub kind: Kind,
    /// Indexes of the detection rules it refers to, in the order listed.
    pub rules: Vec<usize>,
    group_by: Vec<Field>,
    timespan_ns: u64,
    /// The count (or distinct values) to reach: `gte` n, or `gt` n - 1.
    threshold: u64,
    value_field: Option<Field>,
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
        let level = parse_level(doc["level"].as_str()).map_err(|m| err("level", m))?;
        let kind = match c["type"].as_str() {
            Some("event_count") => Kind::EventCount,
            Some("value_count") => Kind::ValueCount,
            Some("temporal") => Kind::Temporal,
            Some("temporal_ordered") => Kind::TemporalOrdered,
            other => {
                return Err(err(
                    "correlation.type",
                    format!(
                        "{other:?} is not event_count, value_count, temporal or temporal_ordered"
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
        let threshold = match kind {
            Kind::Temporal | Kind::TemporalOrdered => indexes.len() as u64,
            Kind::EventCount | Kind::ValueCount => {
                let map = cond
                    .as_mapping()
                    .ok_or_else(|| err("correlation.condition", "missing".into()))?;
                let mut threshold = None;
                for (k, v) in map {
                    match k.as_str() {
                        Some("gte") => threshold = v.as_u64(),
                        Some("gt") => threshold = v.as_u64().map(|n| n + 1),
                        Some("field") if kind == Kind::ValueCount => {
                            value_field = v.as_str().map(Field::from_name);
                        }
                        Some(other) => {
                            return Err(err(
                                &format!("correlation.condition.{other}"),
                                "only gte and gt can fire on a stream (lt, lte, eq and ranges need the end of a window)".into(),
                            ));
                        }
                        None => {
                            return Err(err("correlation.condition", "a non-string key".into()));
                        }
                    }
                }
                if kind == Kind::ValueCount && value_field.is_none() {
                    return Err(err(
                        "correlation.condition.field",
                        "value_count needs a field".into(),
                    ));
                }
                threshold.filter(|n| *n >= 1).ok_or_else(|| {
                    err(
                        "correlation.condition",
                        "needs gte or gt with a count".into(),
                    )
                })?
            }
        };
        Ok(Self {
            title,
            id: doc["id"].as_str().map(str::to_string),
            level,
            tags: parse_tags(&doc["tags"]).map_err(|m| err("tags", m))?,
            file: file.to_string(),
            kind,
            rules: indexes,
            group_by,
            timespan_ns,
            threshold,
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

#[derive(Debug)]
enum State {
    /// Times of the last `threshold` matches (a ring).
    Count {
        times: Vec<u64>,
        next: usize,
        seen: u64,
    },
    /// Distinct values (hashes) with their last time.
    Values(Vec<(u64, u64)>),
    /// Last match time per referenced rule.
    Temporal(Vec<Option<u64>>),
}

/// A correlation that fired.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CorrelationAlert {
    /// Index of the correlation rule.
    pub rule: usize,
    /// The count or number of distinct values reached (the number of rules for temporal).
    pub count: u64,
    /// The group-by values of the event that completed it.
    pub group: Vec<String>,
    /// Time of the earliest match counted (the rule's clock: event time, else `now_ns`).
    pub first_ns: u64,
    /// Time of the match that completed it.
    pub last_ns: u64,
}

/// The correlation rules and their state.
#[derive(Debug)]
pub struct CorrelationEngine {
    rules: Vec<CorrelationRule>,
    tables: Vec<LruCache<u64, State>>,
    /// Detection rule index -> the correlations that use it.
    by_base: Vec<Vec<usize>>,
    evicted: u64,
}

impl CorrelationEngine {
    /// An engine for `rules` over `base_rules` detection rules, each keeping at most
    /// `max_groups` groups.
    /// What one group of `rule` costs, from above.
    fn group_bytes(rule: &CorrelationRule) -> usize {
        let state = match rule.kind {
            Kind::EventCount => rule.threshold as usize * 8,
            Kind::ValueCount => rule.threshold as usize * 16,
            Kind::Temporal | Kind::TemporalOrdered => rule.rules.len() * 16,
        };
        crate::bounded::entry_bytes(std::mem::size_of::<State>() + state)
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
            .map(|r| crate::bounded::keys_within(per_rule, Self::group_bytes(r)))
            .min()
            .unwrap_or(1);
        Self::new(rules, base_rules, groups)
    }

    /// An engine keeping at most `max_groups` groups per rule.
    pub fn new(rules: Vec<CorrelationRule>, base_rules: usize, max_groups: usize) -> Self {
        let mut by_base = vec![Vec::new(); base_rules];
        for (i, r) in rules.iter().enumerate() {
            for &b in &r.rules {
                if !by_base[b].contains(&i) {
                    by_base[b].push(i);
                }
            }
        }
        let cap = NonZeroUsize::new(max_groups.max(1)).expect("at least one");
        Self {
            tables: rules.iter().map(|_| LruCache::sparse(cap)).collect(),
            rules,
            by_base,
            evicted: 0,
        }
    }

    /// The correlation rules.
    pub fn rules(&self) -> &[CorrelationRule] {
        &self.rules
    }

    /// Groups evicted from full tables.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Groups held now, all rules.
    pub fn keys(&self) -> usize {
        self.tables.iter().map(LruCache::len).sum()
    }

    /// Feeds one match of detection rule `base` on `e`; `now_ns` is used when the event has no
    /// timestamp.
    pub fn on_match(
        &mut self,
        base: usize,
        e: &Event<'_>,
        now_ns: u64,
        mut alert: impl FnMut(CorrelationAlert),
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
            let table = &mut self.tables[ci];
            let g = rule.group(e);
            let n = rule.threshold as usize;
            let st = crate::bounded::entry(table, g, &mut self.evicted, || match rule.kind {
                Kind::EventCount => State::Count {
                    times: vec![0; n],
                    next: 0,
                    seen: 0,
                },
                Kind::ValueCount => State::Values(Vec::with_capacity(n)),
                Kind::Temporal | Kind::TemporalOrdered => {
                    State::Temporal(vec![None; rule.rules.len()])
                }
            });
            let fired = match st {
                State::Count { times, next, seen } => {
                    times[*next] = t;
                    *next = (*next + 1) % n;
                    *seen += 1;
                    let first = times[*next];
                    let hit = *seen >= n as u64 && t.saturating_sub(first) <= rule.timespan_ns;
                    if hit {
                        *seen = 0;
                    }
                    hit.then_some((n as u64, first))
                }
                State::Values(values) => {
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
                    values.retain(|(_, seen)| t.saturating_sub(*seen) <= rule.timespan_ns);
                    match values.iter_mut().find(|(h, _)| *h == v) {
                        Some(entry) => entry.1 = t,
                        None => values.push((v, t)),
                    }
                    let hit = values.len() >= n;
                    let first = values.iter().map(|(_, seen)| *seen).min().unwrap_or(t);
                    if hit {
                        values.clear();
                    }
                    hit.then_some((n as u64, first))
                }
                State::Temporal(last) => {
                    for (slot, &b) in rule.rules.iter().enumerate() {
                        if b == base {
                            // In order: only when every earlier rule has matched since.
                            let ready = rule.kind == Kind::Temporal
                                || last[..slot].iter().all(|x| x.is_some_and(|x| x <= t));
                            if ready {
                                last[slot] = Some(t);
                            }
                        }
                    }
                    let complete = last
                        .iter()
                        .all(|x| x.is_some_and(|x| t.saturating_sub(x) <= rule.timespan_ns));
                    let first = last.iter().flatten().copied().min().unwrap_or(t);
                    if complete {
                        last.iter_mut().for_each(|x| *x = None);
                    }
                    complete.then_some((rule.rules.len() as u64, first))
                }
            };
            if let Some((count, first_ns)) = fired {
                let group = rule
                    .group_by
                    .iter()
                    .map(|f| {
                        let mut text = String::new();
                        f.any_value(e, |v| {
                            text = String::from_utf8_lossy(v).into_owned();
                            true
                        });
                        text
                    })
                    .collect();
                alert(CorrelationAlert {
                    rule: ci,
                    count,
                    group,
                    first_ns,
                    last_ns: t,
                });
            }
        }
    }
}
