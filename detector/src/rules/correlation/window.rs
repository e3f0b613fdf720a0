//! A group's window for a rule judged when the window ends (a condition with `lt`, `lte` or
//! `eq`, or a percentile): it starts at the group's first match and lasts the timespan.
//!
//! Layout in `u64` words: when it started, the matches counted, the group text's length, the
//! text (at most [`CorrelationEngine::GROUP_MAX`] bytes), then what the kind measures:
//! - `event_count`: nothing more;
//! - `value_count`: how many distinct values are held, then their hashes (up to the rule's
//!   `threshold`: one more than any bound it names, so "more than that" is told apart);
//! - `value_sum`, `value_avg`: the sum's bits;
//! - `value_percentile`: a [`sketch`].

use super::{CorrelationAlert, CorrelationEngine, CorrelationRule, Kind, Observed, sketch};

/// Words before the kind's own.
pub(super) const HEAD_WORDS: usize = 3 + CorrelationEngine::GROUP_MAX / 8;

/// Words one group of `rule` (judged at its window's end) takes.
pub(super) fn words(rule: &CorrelationRule) -> usize {
    HEAD_WORDS
        + match rule.kind {
            Kind::ValueCount => 1 + rule.threshold as usize,
            Kind::ValueSum | Kind::ValueAvg => 1,
            Kind::ValuePercentile => sketch::WORDS,
            Kind::EventCount | Kind::Temporal | Kind::TemporalOrdered => 0,
        }
}

/// Whether the window in `w` ended by `t`.
pub(super) fn ended(rule: &CorrelationRule, w: &[u64], t: u64) -> bool {
    t.saturating_sub(w[0]) > rule.timespan_ns
}

/// Whether the next match starts the window in `w` (then [`add`] reads the group text).
pub(super) fn starting(w: &[u64]) -> bool {
    w[1] == 0
}

/// Counts one match at `t` with what it gave, `seen`, into the window `w`; the first match
/// starts it, with `group` (the group text) kept for the alert.
pub(super) fn add(rule: &CorrelationRule, w: &mut [u64], t: u64, seen: Observed, group: &[u8]) {
    let (head, own) = w.split_at_mut(HEAD_WORDS);
    if head[1] == 0 {
        head[0] = t;
        store_text(head, group);
        own.fill(0);
        if rule.kind == Kind::ValuePercentile {
            sketch::clear(own);
        }
    }
    head[1] += 1;
    match (rule.kind, seen) {
        (Kind::ValueCount, Observed::Hash(h)) => {
            let held = own[0] as usize;
            if !own[1..=held].contains(&h) && held < rule.threshold as usize {
                own[1 + held] = h;
                own[0] += 1;
            }
        }
        (Kind::ValueSum | Kind::ValueAvg, Observed::Number(v)) => {
            own[0] = (f64::from_bits(own[0]) + v).to_bits();
        }
        (Kind::ValuePercentile, Observed::Number(v)) => sketch::add(own, v),
        _ => {}
    }
}

/// What the window in `w` measured: its matches, distinct values (at most the rule's
/// `threshold`), sum, average or percentile.
fn measure(rule: &CorrelationRule, w: &[u64]) -> Option<f64> {
    let own = &w[HEAD_WORDS..];
    Some(match rule.kind {
        Kind::EventCount | Kind::Temporal | Kind::TemporalOrdered => w[1] as f64,
        Kind::ValueCount => own[0] as f64,
        Kind::ValueSum => f64::from_bits(own[0]),
        Kind::ValueAvg => f64::from_bits(own[0]) / w[1].max(1) as f64,
        Kind::ValuePercentile => sketch::percentile(own, rule.percentile)?,
    })
}

/// An ended window of correlation `ci` (its words `w`): an alert when the rule's condition
/// admits what it measured (the alert's count: that, rounded), its group text read into
/// `group`.
pub(super) fn judge(
    ci: usize,
    rule: &CorrelationRule,
    w: &[u64],
    group: &mut Vec<u8>,
    alert: &mut impl FnMut(CorrelationAlert<'_>),
) {
    let Some(bounds) = rule.window else {
        return;
    };
    if w[1] == 0 {
        return;
    }
    if let Some(measured) = measure(rule, w)
        && bounds.holds(measured)
    {
        load_text(w, group);
        alert(CorrelationAlert {
            rule: ci,
            count: measured.max(0.0).round() as u64,
            group,
            first_ns: w[0],
            last_ns: w[0] + rule.timespan_ns,
        });
    }
}

/// Keeps `text` in a window's head words (its length in `w[2]`, the bytes from `w[3]`).
fn store_text(w: &mut [u64], text: &[u8]) {
    let room = (HEAD_WORDS - 3) * 8;
    let text = &text[..text.len().min(room)];
    w[2] = text.len() as u64;
    w[3..HEAD_WORDS].fill(0);
    for (i, &b) in text.iter().enumerate() {
        w[3 + i / 8] |= u64::from(b) << (8 * (i % 8));
    }
}

/// The text [`store_text`] kept, into `out`.
fn load_text(w: &[u64], out: &mut Vec<u8>) {
    out.clear();
    let n = (w[2] as usize).min((HEAD_WORDS - 3) * 8);
    out.extend((0..n).map(|i| (w[3 + i / 8] >> (8 * (i % 8))) as u8));
}
