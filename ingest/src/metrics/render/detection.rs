//! The families of what is found and what it costs: detection, latency, sinks, the process.

use std::fmt;

use detector::engine::StateTable as DetectorTable;

use super::{Families, labels, seconds};
use crate::{
    metrics::alerts::AlertCounts,
    report::{LATENCY_BUCKETS_NS, Report},
};

/// Alerts and the detectors' state.
pub(super) fn detection(
    report: &Report,
    alerts: &AlertCounts,
    f: &mut Families<'_>,
) -> fmt::Result {
    f.counter(
        "ingest_alerts_raised",
        "Alerts raised by the detectors, all rules (including any later dropped).",
        [(vec![], report.alerts_raised_total)],
    )?;
    f.counter(
        "ingest_alerts_dropped",
        "Alerts raised but lost, by reason: buffer_full (the engine's per-batch buffer), ring_full (the worker's alert ring).",
        [
            (labels([("reason", "buffer_full")]), report.alerts_dropped_buffer_full),
            (labels([("reason", "ring_full")]), report.alerts_dropped_ring_full),
        ],
    )?;
    f.counter(
        "ingest_message_copies_dropped",
        "Copies of messages for printing or event sinks dropped because a worker's copy ring was full.",
        [(vec![], report.samples_dropped_ring_full)],
    )?;
    f.counter(
        "ingest_rule_alerts",
        "Alerts delivered, by rule id and kind (title and level in ingest_rule_info).",
        alerts
            .iter()
            .map(|(k, n)| (labels([("rule", &k.rule), ("kind", k.kind)]), n)),
    )?;
    f.info(
        "ingest_rule",
        "Each rule that has raised an alert: its title and level, by rule id and kind.",
        alerts.iter().map(|(k, _)| {
            labels([
                ("rule", &k.rule),
                ("kind", k.kind),
                ("title", &k.title),
                ("level", k.level),
            ])
        }),
    )?;
    f.gauge(
        "ingest_detector_keys",
        "Keys the detectors hold now, by table (all workers).",
        DetectorTable::ALL.map(|t| {
            (
                labels([("table", t.name())]),
                report.detector.keys[t as usize],
            )
        }),
    )?;
    f.counter(
        "ingest_detector_keys_evicted",
        "Keys evicted from full detector tables, by table.",
        DetectorTable::ALL.map(|t| {
            (
                labels([("table", t.name())]),
                report.detector.evicted[t as usize],
            )
        }),
    )?;
    f.counter(
        "ingest_detector_alerts_suppressed",
        "Threshold crossings folded into an earlier alert during its suppression.",
        [(vec![], report.detector.suppressed)],
    )?;
    f.gauge(
        "ingest_source_messages_estimated",
        "The loudest senders: messages estimated from a 1-in-8 sample (Space-Saving per worker).",
        report
            .top_sources
            .iter()
            .map(|t| (labels([("source", &t.source.to_string())]), t.messages)),
    )?;
    f.gauge(
        "ingest_sources_distinct",
        "Different senders seen since start, estimated (HyperLogLog per worker, merged; about 3 %).",
        [(vec![], report.distinct_sources)],
    )
}

/// Latency per stage: histograms since start, and the recent percentiles.
pub(super) fn latency(report: &Report, f: &mut Families<'_>) -> fmt::Result {
    let l = &report.latency_ns;
    f.histogram(
        "ingest_stage_latency_seconds",
        "Per stage since start: xdp_to_pickup (XDP hook to the worker taking the batch), receive (taking it off the ring), parse, detect, xdp_to_detected (hook to the message through the detector), xdp_to_alert (hook to an alert queued). Buckets from a sampled HDR histogram scaled to the exact count.",
        l.stages.iter().map(|(stage, p)| {
            let buckets = LATENCY_BUCKETS_NS
                .iter()
                .zip(&p.buckets)
                .map(|(&b, &n)| (seconds(b), n))
                .collect();
            (labels([("stage", stage)]), seconds(p.sum), p.count, buckets)
        }),
    )?;
    let r = &l.recent_xdp_to_detected;
    f.gauge(
        "ingest_stage_latency_recent_seconds",
        "From the XDP hook to the message parsed and detected, over the last 30 to 60 seconds, by percentile (p50, p90, p99, p999, max).",
        [("p50", r.p50), ("p90", r.p90), ("p99", r.p99), ("p999", r.p999), ("max", r.max)].map(
            |(p, v)| {
                (
                    labels([("stage", "xdp_to_detected"), ("percentile", p)]),
                    seconds(v),
                )
            },
        ),
    )?;
    f.gauge(
        "ingest_stage_latency_recent_samples",
        "Samples behind ingest_stage_latency_recent_seconds.",
        [(labels([("stage", "xdp_to_detected")]), r.count)],
    )?;
    f.counter(
        "ingest_latency_unmeasured_frames",
        "AF_XDP frames without the XDP program's arrival stamp.",
        [(vec![], l.unmeasured)],
    )
}

/// The alert sinks.
pub(super) fn sinks(report: &Report, f: &mut Families<'_>) -> fmt::Result {
    type SinkField = fn(&crate::output::sinks::SinkReport) -> u64;
    let counters: [(&str, &str, SinkField); 4] = [
        (
            "ingest_sink_records_delivered",
            "Records (alerts; parsed events for an events sink) each sink delivered, counted when confirmed.",
            |s| s.delivered,
        ),
        (
            "ingest_sink_records_spooled",
            "Records each sink could not deliver at once and kept in its spool.",
            |s| s.spooled,
        ),
        (
            "ingest_sink_records_replayed",
            "Spooled records each sink sent again.",
            |s| s.replayed,
        ),
        (
            "ingest_sink_failures",
            "Failed deliveries (each followed by a reconnect or reopen).",
            |s| s.failures,
        ),
    ];
    for (name, help, field) in counters {
        f.counter(
            name,
            help,
            report
                .sinks
                .iter()
                .map(|s| (labels([("sink", &s.name)]), field(s))),
        )?;
    }
    f.gauge(
        "ingest_sink_spool_records",
        "Records waiting in each sink's spool.",
        report
            .sinks
            .iter()
            .map(|s| (labels([("sink", &s.name)]), s.spool_pending)),
    )?;
    f.counter(
        "ingest_sink_records_dropped",
        "Records a sink dropped, by reason: queue_full, or undeliverable (it could neither deliver nor spool them).",
        report.sinks.iter().flat_map(|s| {
            [
                (labels([("sink", &s.name), ("reason", "queue_full")]), s.dropped_queue_full),
                (
                    labels([("sink", &s.name), ("reason", "undeliverable")]),
                    s.dropped_undeliverable,
                ),
            ]
        }),
    )
}

/// The standard `process_*` families (client_golang's names).
pub(super) fn process(report: &Report, f: &mut Families<'_>) -> fmt::Result {
    let Some(p) = &report.process else {
        return Ok(());
    };
    f.counter(
        "process_cpu_seconds",
        "Total user and system CPU time spent in seconds.",
        [(vec![], p.cpu_seconds)],
    )?;
    f.gauge(
        "process_resident_memory_bytes",
        "Resident memory size in bytes.",
        [(vec![], p.resident_bytes)],
    )?;
    f.gauge(
        "process_virtual_memory_bytes",
        "Virtual memory size in bytes.",
        [(vec![], p.virtual_bytes)],
    )?;
    f.gauge(
        "process_open_fds",
        "Number of open file descriptors.",
        [(vec![], p.open_fds)],
    )?;
    f.gauge(
        "process_max_fds",
        "Maximum number of open file descriptors.",
        [(vec![], p.max_fds)],
    )?;
    f.gauge(
        "process_threads",
        "Number of OS threads in the process.",
        [(vec![], p.threads)],
    )?;
    f.gauge(
        "process_start_time_seconds",
        "Start time of the process since unix epoch in seconds.",
        [(vec![], p.start_time_seconds)],
    )
}
