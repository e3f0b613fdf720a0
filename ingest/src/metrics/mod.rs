//! The Prometheus endpoint: every counter of the [`Report`](crate::report::Report) in the text
//! exposition format (version 0.0.4, encoded by prometheus-client), served over HTTP from a
//! thread of its own, and the reader that `ingest status` uses to turn a scrape back into
//! numbers.
//!
//! Names follow Prometheus's naming guide (see [`render`]). The server never touches the
//! workers: for each scrape it asks the housekeeping loop, which builds the report from what the
//! workers published and answers within a round (about a millisecond).

mod alerts;
mod render;
mod scrape;
mod server;
mod state;

pub use alerts::{AlertCounts, AlertKey};
pub use render::render;
pub use scrape::{Sample, Scrape, ScrapeError, fetch, fetch_state, reload, scrape};
pub use server::{MetricsServer, Refusal, Reply, Request};
pub use state::{RECENT_ALERTS, RecentAlerts, state_json};

/// A value's serde name (an enum's kebab-case variant), for a label or a log field.
pub fn name_of<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

/// Where the endpoint listens unless told otherwise.
pub const DEFAULT_ADDR: &str = "127.0.0.1:9514";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped_and_read_back() {
        let text = "# HELP ingest_x_total test\n# TYPE ingest_x_total counter\n\
                    ingest_x_total{rule=\"a \\\"quoted\\\" \\\\ rule\\nx\",level=\"high\"} 3\n\
                    ingest_x_total_count 2.5\n";
        let scrape = Scrape::parse(text).unwrap();
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
