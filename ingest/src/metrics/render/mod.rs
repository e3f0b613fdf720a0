//! The exposition of a [`Report`]: every family, encoded by prometheus-client in the text
//! format (version 0.0.4).
//!
//! Naming follows Prometheus's guide: one unit per family (messages, datagrams, frames,
//! connections, bytes, seconds), counters end in `_total`, and labels say where (`stage`, `path`,
//! `queue`) and why (`reason`) without repeating the family's name. The workers never take part:
//! the housekeeping loop makes the report from what they published and renders it per scrape.

use std::fmt;

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, NoLabelSet},
    metrics::MetricType,
    registry::Registry,
};

use super::alerts::AlertCounts;
use crate::report::Report;

mod detection;
mod traffic;

use detection::{detection, latency, process, sinks};
use traffic::{connections, dropped, identity, queues, received};

/// The whole exposition for `report` and `alerts`.
pub fn render(report: &Report, alerts: &AlertCounts) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Snapshot {
        report: report.clone(),
        alerts: alerts.clone(),
    }));
    let mut out = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut out, &registry)
        .expect("encoding into a String cannot fail");
    out
}

/// What one scrape shows.
#[derive(Debug)]
struct Snapshot {
    report: Report,
    alerts: AlertCounts,
}

impl Collector for Snapshot {
    fn encode(&self, encoder: DescriptorEncoder) -> fmt::Result {
        let mut f = Families(encoder);
        identity(&self.report, &mut f)?;
        received(&self.report, &mut f)?;
        dropped(&self.report, &mut f)?;
        queues(&self.report, &mut f)?;
        connections(&self.report, &mut f)?;
        detection(&self.report, &self.alerts, &mut f)?;
        latency(&self.report, &mut f)?;
        sinks(&self.report, &mut f)?;
        process(&self.report, &mut f)
    }
}

/// A sample's labels.
type Labels = Vec<(&'static str, String)>;

fn labels<const N: usize>(pairs: [(&'static str, &str); N]) -> Labels {
    pairs.iter().map(|(k, v)| (*k, v.to_string())).collect()
}

/// The families of one scrape, written through prometheus-client's encoder.
struct Families<'a>(DescriptorEncoder<'a>);

impl Families<'_> {
    /// A counter family; `name` without `_total` (the encoder adds it).
    fn counter<V>(
        &mut self,
        name: &str,
        help: &str,
        samples: impl IntoIterator<Item = (Labels, V)>,
    ) -> fmt::Result
    where
        V: prometheus_client::encoding::EncodeCounterValue,
    {
        let mut m = self
            .0
            .encode_descriptor(name, help, None, MetricType::Counter)?;
        for (l, v) in samples {
            m.encode_family(&l)?
                .encode_counter::<NoLabelSet, V, u64>(&v, None)?;
        }
        Ok(())
    }

    fn gauge<V>(
        &mut self,
        name: &str,
        help: &str,
        samples: impl IntoIterator<Item = (Labels, V)>,
    ) -> fmt::Result
    where
        V: prometheus_client::encoding::EncodeGaugeValue,
    {
        let mut m = self
            .0
            .encode_descriptor(name, help, None, MetricType::Gauge)?;
        for (l, v) in samples {
            m.encode_family(&l)?.encode_gauge(&v)?;
        }
        Ok(())
    }

    /// An info family (a gauge of 1 per label set); `name` without `_info`.
    fn info(
        &mut self,
        name: &str,
        help: &str,
        sets: impl IntoIterator<Item = Labels>,
    ) -> fmt::Result {
        let mut m = self
            .0
            .encode_descriptor(name, help, None, MetricType::Info)?;
        for l in sets {
            m.encode_info(&l)?;
        }
        Ok(())
    }

    /// A histogram family: per label set the sum, the count, and the count of each bucket
    /// (upper bound, not cumulative).
    fn histogram(
        &mut self,
        name: &str,
        help: &str,
        samples: impl IntoIterator<Item = (Labels, f64, u64, Vec<(f64, u64)>)>,
    ) -> fmt::Result {
        let mut m = self
            .0
            .encode_descriptor(name, help, None, MetricType::Histogram)?;
        for (l, sum, count, buckets) in samples {
            m.encode_family(&l)?
                .encode_histogram::<NoLabelSet>(sum, count, &buckets, None)?;
        }
        Ok(())
    }
}

fn seconds(ns: u64) -> f64 {
    ns as f64 / 1e9
}

fn queue_label(q: &crate::report::QueueReport) -> String {
    q.info.queue.map(|n| n.to_string()).unwrap_or_default()
}
