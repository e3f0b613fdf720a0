//! The Prometheus endpoint: every counter of the [`Report`](crate::report::Report) in the text exposition format
//! (version 0.0.4), served over plain HTTP from a thread of its own, and the reader that
//! `ingest status` uses to turn a scrape back into numbers.
//!
//! Names follow `ingest_<noun>_<verb>_total` for counters, with small fixed label sets (a drop
//! reason, a path, a queue, a rule). The server never touches the workers: for each scrape it
//! asks the housekeeping loop, which builds the report from what the workers published and
//! answers within a round (about a millisecond).

use std::collections::BTreeMap;

mod exposition;
mod render;
mod scrape;
mod server;

pub use render::render;
pub use scrape::{Sample, Scrape, ScrapeError, fetch, reload, scrape};
pub use server::{MetricsServer, Refusal, Reply, Request};

/// Where the endpoint listens unless told otherwise.
pub const DEFAULT_ADDR: &str = "127.0.0.1:9514";

/// Alerts that reached the housekeeping thread, by rule. Kept by whoever prints them (it knows
/// the rules' names and levels).
#[derive(Clone, Debug, Default)]
pub struct AlertCounts {
    counts: BTreeMap<AlertKey, u64>,
}

/// What an alert count is labelled with.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct AlertKey {
    /// The rule's id (its title when it has none).
    pub rule: String,
    /// The rule's title.
    pub title: String,
    /// `sigma`, `threshold`, `correlation`, `silence`, `new_template` or `rate_spike`.
    pub kind: &'static str,
    /// The rule's level.
    pub level: &'static str,
}

impl AlertCounts {
    /// Counts one alert. Allocates only the first time a rule fires.
    pub fn add(&mut self, rule: &str, title: &str, kind: &'static str, level: &'static str) {
        // Rules raised by the learner carry a template id: one series per kind, not per
        // template, keeps the label set small.
        let rule = match kind {
            "new_template" | "rate_spike" => kind,
            _ => rule,
        };
        if let Some(n) = self
            .counts
            .iter_mut()
            .find(|(k, _)| k.rule == rule && k.kind == kind && k.level == level)
            .map(|(_, n)| n)
        {
            *n += 1;
            return;
        }
        self.counts.insert(
            AlertKey {
                rule: rule.to_string(),
                title: title.to_string(),
                kind,
                level,
            },
            1,
        );
    }

    /// Every rule that fired, with its count.
    pub fn iter(&self) -> impl Iterator<Item = (&AlertKey, u64)> {
        self.counts.iter().map(|(k, n)| (k, *n))
    }
}

#[cfg(test)]
mod tests {
    use super::{exposition::Exposition, *};

    #[test]
    fn labels_are_escaped_and_read_back() {
        let mut e = Exposition::default();
        e.family("ingest_x_total", "counter", "test");
        e.value(&[("rule", "a \"quoted\" \\ rule\nx"), ("level", "high")], 3);
        e.sample("_count", &[], 2.5);
        let scrape = Scrape::parse(&e.out).unwrap();
        assert_eq!(scrape.samples.len(), 2);
        let s = &scrape.samples[0];
        assert_eq!(s.name, "ingest_x_total");
        assert_eq!(s.label("rule"), Some("a \"quoted\" \\ rule\nx"));
        assert_eq!(s.label("level"), Some("high"));
        assert_eq!(s.value, 3.0);
        assert_eq!(scrape.samples[1].name, "ingest_x_total_count");
        assert_eq!(scrape.sum("ingest_x_total", &[("level", "high")]), 3.0);
        assert!(Scrape::parse("bad{line 1").is_err());
    }

    #[test]
    fn alert_counts_keep_one_series_per_rule_and_learned_kinds_together() {
        let mut a = AlertCounts::default();
        a.add("rule-1", "Rule one", "sigma", "high");
        a.add("rule-1", "Rule one", "sigma", "high");
        a.add("template-7", "New", "new_template", "low");
        a.add("template-9", "New", "new_template", "low");
        let all: Vec<_> = a.iter().map(|(k, n)| (k.rule.as_str(), n)).collect();
        assert_eq!(all, [("new_template", 2), ("rule-1", 2)]);
    }
}
