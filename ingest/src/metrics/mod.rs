//! The Prometheus endpoint: every counter of the [`Report`](crate::report::Report) in the text
//! exposition format (version 0.0.4), served over plain HTTP from a thread of its own, and the reader that
//! `ingest status` uses to turn a scrape back into numbers.
//!
//! Names follow `ingest_<noun>_<verb>_total` for counters, with small fixed label sets (a drop
//! reason, a path, a queue, a rule). The server never touches the workers: for each scrape it
//! asks the housekeeping loop, which builds the report from what the workers published and
//! answers within a round (about a millisecond).

mod alerts;
mod exposition;
mod render;
mod scrape;
mod server;

pub use alerts::{AlertCounts, AlertKey};
pub use render::render;
pub use scrape::{Sample, Scrape, ScrapeError, fetch, reload, scrape};
pub use server::{MetricsServer, Refusal, Reply, Request};

/// Where the endpoint listens unless told otherwise.
pub const DEFAULT_ADDR: &str = "127.0.0.1:9514";

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
