//! Sigma correlation rules (<https://sigmahq.io/docs/meta/correlations.html>) over the matches of
//! detection rules: `event_count`, `value_count`, `value_sum`, `value_avg`, `value_percentile`,
//! `value_median`, `temporal` and `temporal_ordered`, with `group-by` fields and a `timespan`.
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
//! Conditions made of `gte` or `gt` alone fire the moment the count (or sum, or average) gets
//! there, over a window that slides. A condition with `lt`, `lte` or `eq` (alone or in a range)
//! can only be told when the window is over, and so can a percentile: those are judged when
//! the group's window ends (a window starts at a group's first match and lasts the timespan;
//! [`CorrelationEngine::tick`]). `value_sum`, `value_avg` and the percentiles read their
//! `field` as a number; events where it is not one are not counted. A percentile is read from
//! a [`sketch`] of fixed size, within [`sketch::RELATIVE_ERROR`] of the true value. Time is the event's own
//! timestamp, or the arrival time passed in when it has none. State per group lives in a fixed
//! [`Table`](crate::table::Table) per rule, allocated at construction; evictions are counted.

use std::hash::Hasher;

use serde_yaml_ng::Value;

use super::{
    duration_ns,
    sigma::{About, Field, Level, RuleError, SigmaRule, parse_level, parse_tags, title},
};
use crate::parse::Event;

mod engine;
pub mod sketch;
mod window;

pub use engine::{CorrelationAlert, CorrelationEngine};

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
    /// A percentile of a numeric field's values per group within the timespan (`value_median`
    /// is the 50th).
    ValuePercentile,
}

/// Sub-windows of a `value_sum` or `value_avg` group that fires on a stream: the timespan is
/// read in this many steps, so a group's state is fixed in size (the window slides by a step:
/// its start is exact to `timespan / SUM_BUCKETS`).
pub const SUM_BUCKETS: usize = 8;

/// Most distinct values a `value_count` judged at the end of its window tells apart: its
/// condition may name at most one less.
pub const MAX_WINDOW_DISTINCT: u64 = 1024;

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
    /// On a stream, the count (or distinct values) to reach: `gte` n, or `gt` n + 1. For a
    /// `value_count` judged at its window's end: how many distinct values it keeps.
    threshold: u64,
    /// For `value_sum` and `value_avg` on a stream: the bound, and whether it must be
    /// exceeded (`gt`) rather than reached (`gte`).
    bound: (f64, bool),
    /// For a rule judged at the end of its window: what its condition admits.
    window: Option<Bounds>,
    /// For `value_percentile`: which one, 0 to 100.
    percentile: f64,
    value_field: Option<Field>,
}

/// What a condition's comparisons admit together: above a lower bound (`gte`, or `gt`
/// strictly), below an upper one (`lte`, or `lt` strictly), exactly a value (`eq`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Bounds {
    /// The lower bound, and whether it is strict.
    pub lower: Option<(f64, bool)>,
    /// The upper bound, and whether it is strict.
    pub upper: Option<(f64, bool)>,
    /// The exact value.
    pub eq: Option<f64>,
}

impl Bounds {
    /// Whether it can only be judged when the window ends: it has an upper bound or an exact
    /// value.
    fn at_window_end(&self) -> bool {
        self.upper.is_some() || self.eq.is_some()
    }

    /// Whether `x` is admitted.
    pub fn holds(&self, x: f64) -> bool {
        self.lower
            .is_none_or(|(b, strict)| if strict { x > b } else { x >= b })
            && self
                .upper
                .is_none_or(|(b, strict)| if strict { x < b } else { x <= b })
            && self.eq.is_none_or(|e| x == e)
    }

    /// The largest number it names.
    fn largest(&self) -> f64 {
        [self.lower.map(|b| b.0), self.upper.map(|b| b.0), self.eq]
            .into_iter()
            .flatten()
            .fold(0.0, f64::max)
    }
}

/// A correlation condition as written: its comparisons, `field` and `percentile`.
struct Condition {
    bounds: Bounds,
    field: Option<Field>,
    percentile: Option<f64>,
}

/// Reads a correlation condition. Counts (`counts`) must be whole and not negative; other
/// values finite numbers. `field` is read unless `counts_events`, `percentile` only for a
/// percentile; any other key is refused, naming it.
fn condition(
    cond: &Value,
    kind: Kind,
    err: &impl Fn(&str, String) -> RuleError,
) -> Result<Condition, RuleError> {
    let map = cond
        .as_mapping()
        .ok_or_else(|| err("correlation.condition", "missing".into()))?;
    let counts = matches!(kind, Kind::EventCount | Kind::ValueCount);
    let mut out = Condition {
        bounds: Bounds::default(),
        field: None,
        percentile: None,
    };
    for (k, v) in map {
        let Some(key) = k.as_str() else {
            return Err(err("correlation.condition", "a non-string key".into()));
        };
        let number = || {
            let n = v.as_f64().filter(|n| n.is_finite());
            if counts {
                n.filter(|n| *n >= 0.0 && n.fract() == 0.0)
                    .ok_or_else(|| err("correlation.condition", format!("{v:?} is not a count")))
            } else {
                n.ok_or_else(|| err("correlation.condition", format!("{v:?} is not a number")))
            }
        };
        match key {
            "gt" => out.bounds.lower = Some((number()?, true)),
            "gte" => out.bounds.lower = Some((number()?, false)),
            "lt" => out.bounds.upper = Some((number()?, true)),
            "lte" => out.bounds.upper = Some((number()?, false)),
            "eq" => out.bounds.eq = Some(number()?),
            "field" if kind != Kind::EventCount => {
                out.field = v.as_str().map(Field::from_name);
            }
            "percentile" if kind == Kind::ValuePercentile => {
                let p = v.as_f64().filter(|p| (0.0..=100.0).contains(p));
                out.percentile = Some(p.ok_or_else(|| {
                    err(
                        "correlation.condition.percentile",
                        format!("{v:?} is not a percentile from 0 to 100"),
                    )
                })?);
            }
            other => {
                return Err(err(
                    &format!("correlation.condition.{other}"),
                    "not a condition (gt, gte, lt, lte, eq)".into(),
                ));
            }
        }
    }
    Ok(out)
}

impl CorrelationRule {
    /// Compiles one correlation document, resolving its rule references among `rules` (by
    /// `name` or `id`).
    pub fn from_value(file: &str, doc: &Value, rules: &[SigmaRule]) -> Result<Self, RuleError> {
        let err = RuleError::in_file(file);
        let c = &doc["correlation"];
        let title = title(doc, &err)?;
        let level = parse_level(doc["level"].as_str()).map_err(|m| err("level", m.0))?;
        let type_name = c["type"].as_str();
        let kind = match type_name {
            Some("event_count") => Kind::EventCount,
            Some("value_count") => Kind::ValueCount,
            Some("temporal") => Kind::Temporal,
            Some("temporal_ordered") => Kind::TemporalOrdered,
            Some("value_sum") => Kind::ValueSum,
            Some("value_avg") => Kind::ValueAvg,
            Some("value_percentile" | "value_median") => Kind::ValuePercentile,
            other => {
                return Err(err(
                    "correlation.type",
                    format!(
                        "{other:?} is not event_count, value_count, value_sum, value_avg, \
                         value_percentile, value_median, temporal or temporal_ordered"
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

        let mut rule = Self {
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
            threshold: 1,
            bound: (0.0, false),
            window: None,
            percentile: 50.0,
            value_field: None,
        };
        if matches!(kind, Kind::Temporal | Kind::TemporalOrdered) {
            rule.threshold = rule.rules.len() as u64;
            return Ok(rule);
        }
        let cond = condition(&c["condition"], kind, &err)?;
        let bounds = cond.bounds;
        rule.value_field = cond.field;
        if kind != Kind::EventCount && rule.value_field.is_none() {
            return Err(err(
                "correlation.condition.field",
                format!("{} needs a field", type_name.unwrap_or_default()),
            ));
        }
        if bounds == Bounds::default() {
            return Err(err(
                "correlation.condition",
                "needs a comparison: gt, gte, lt, lte or eq".into(),
            ));
        }
        if kind == Kind::ValuePercentile {
            rule.percentile = match (type_name, cond.percentile) {
                (Some("value_median"), None) => 50.0,
                (Some("value_median"), Some(_)) => {
                    return Err(err(
                        "correlation.condition.percentile",
                        "value_median is the 50th percentile".into(),
                    ));
                }
                (_, Some(p)) => p,
                (_, None) => {
                    return Err(err(
                        "correlation.condition.percentile",
                        "value_percentile needs a percentile".into(),
                    ));
                }
            };
        }
        if bounds.at_window_end() || kind == Kind::ValuePercentile {
            if kind == Kind::ValueCount {
                // Enough distinct values kept to tell every bound named from one more.
                let keep = bounds.largest() as u64 + 1;
                if keep > MAX_WINDOW_DISTINCT {
                    return Err(err(
                        "correlation.condition",
                        format!(
                            "a value_count judged at the end of its window (lt, lte, eq) tells \
                             apart at most {} distinct values",
                            MAX_WINDOW_DISTINCT - 1
                        ),
                    ));
                }
                rule.threshold = keep;
            }
            rule.window = Some(bounds);
            return Ok(rule);
        }
        // Only a lower bound: fires on the stream.
        let (lower, strict) = bounds
            .lower
            .expect("a comparison that is not an upper bound");
        match kind {
            Kind::ValueSum | Kind::ValueAvg => rule.bound = (lower, strict),
            _ => {
                let count = lower as u64 + u64::from(strict);
                if count == 0 {
                    return Err(err(
                        "correlation.condition",
                        "every window reaches a count of 0: name a count of at least 1".into(),
                    ));
                }
                rule.threshold = count;
            }
        }
        Ok(rule)
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

    /// What `e` gives the rule to count: nothing for the kinds that count matches, else its
    /// field's value (hashed for `value_count`, as a number for the others). `None`: the event
    /// lacks it (or it is not a number), and does not count.
    fn observe(&self, e: &Event<'_>) -> Option<Observed> {
        let field = match (self.kind, &self.value_field) {
            (Kind::EventCount | Kind::Temporal | Kind::TemporalOrdered, _) | (_, None) => {
                return Some(Observed::Match);
            }
            (_, Some(f)) => f,
        };
        if self.kind == Kind::ValueCount {
            let mut v = crate::bounded::key_hasher();
            let found = field.any_value(e, |x| {
                v.write(x);
                true
            });
            return found.then(|| Observed::Hash(v.finish()));
        }
        let mut value = None;
        field.any_value(e, |x| {
            value = std::str::from_utf8(x)
                .ok()
                .and_then(|s| s.trim().parse::<f64>().ok())
                .filter(|n| n.is_finite());
            value.is_some()
        });
        value.map(Observed::Number)
    }
}

/// What one match gives a correlation to count.
#[derive(Clone, Copy, Debug)]
enum Observed {
    /// The match itself.
    Match,
    /// The hash of a field's value (`value_count`).
    Hash(u64),
    /// A field's value as a number.
    Number(f64),
}
