//! The exposition of a [`Report`]: every counter, gauge and summary.

use detector::engine::StateTable as DetectorTable;

use super::{
    alerts::AlertCounts,
    exposition::{Exposition, name_of},
};
use crate::{datapath::xdp::AttachMode, report::Report, tls::Refusal};

/// The whole exposition for `report` and `alerts`.
pub fn render(report: &Report, alerts: &AlertCounts) -> String {
    let mut e = Exposition::default();
    let backend = name_of(&report.backend);
    let mode = name_of(&report.mode);
    let xdp_mode = report.xdp_mode.map_or("none", |m| match m {
        AttachMode::Native => "native",
        AttachMode::Generic => "generic",
    });
    e.family(
        "ingest_info",
        "gauge",
        "The running appliance: interface, backend, worker mode and XDP attach mode.",
    );
    e.value(
        &[
            ("iface", &report.iface),
            ("backend", &backend),
            ("mode", &mode),
            ("xdp_mode", xdp_mode),
        ],
        1,
    );

    e.family(
        "ingest_queue_info",
        "gauge",
        "Each AF_XDP queue's worker: CPU, wait mode, bind mode (zero-copy or copy), huge pages.",
    );
    for q in &report.queues {
        let queue = q.info.queue.map(|n| n.to_string()).unwrap_or_default();
        let cpus = format!("{:?}", q.info.cpus);
        let bind = q.info.bind_mode.as_ref().map(name_of).unwrap_or_default();
        let hugepages = q.info.hugepages.unwrap_or(false).to_string();
        e.value(
            &[
                ("queue", &queue),
                ("cpus", &cpus),
                ("mode", &name_of(&q.info.mode)),
                ("bind", &bind),
                (
                    "zero_copy",
                    if bind == "zero-copy" { "true" } else { "false" },
                ),
                ("hugepages", &hugepages),
            ],
            1,
        );
    }

    e.family(
        "ingest_messages_received_total",
        "counter",
        "Log messages received, by path (xdp: AF_XDP; udp, tcp: the kernel socket path).",
    );
    e.value(&[("path", "xdp")], report.messages_received_xdp_total);
    e.value(&[("path", "udp")], report.messages_received_udp_total);
    e.value(&[("path", "tcp")], report.messages_received_tcp_total);

    e.family(
        "ingest_queue_messages_received_total",
        "counter",
        "Log messages received through each AF_XDP queue.",
    );
    for q in &report.queues {
        let queue = q.info.queue.map(|n| n.to_string()).unwrap_or_default();
        e.value(&[("queue", &queue)], q.messages);
    }

    e.family(
        "ingest_packets_dropped_total",
        "counter",
        "Every named drop of every stage: received + these = everything that reached the log ports.",
    );
    for (reason, n) in &report.drops {
        e.value(&[("reason", reason)], n);
    }

    e.family(
        "ingest_kernel_packets_dropped_total",
        "counter",
        "What the kernel dropped of what XDP passed on to it, by its own counters (interface rx_dropped and rx_nohandler, IP reassembly failures): all traffic, not only log traffic, so not in ingest_packets_dropped_total.",
    );
    for (reason, n) in &report.kernel_drops {
        e.value(&[("reason", reason)], n);
    }

    e.family(
        "ingest_queue_packets_dropped_total",
        "counter",
        "Drops per AF_XDP queue: the kernel's socket counters and frames that did not decode.",
    );
    for q in &report.queues {
        let queue = q.info.queue.map(|n| n.to_string()).unwrap_or_default();
        let k = &q.counters.kernel_xsk;
        for (reason, n) in [
            ("xsk_rx_dropped", k.rx_dropped),
            ("xsk_rx_ring_full", k.rx_ring_full),
            ("xsk_rx_invalid_descs", k.rx_invalid_descs),
        ] {
            e.value(&[("queue", &queue), ("reason", reason)], n);
        }
        for err in crate::datapath::frame::FrameError::ALL {
            let n = q.counters.frame_drops[err.index()];
            e.value(&[("queue", &queue), ("reason", err.counter_name())], n);
        }
    }

    e.family(
        "ingest_queue_fill_ring_empty_total",
        "counter",
        "Times the kernel found a queue's fill ring empty (a sign the worker falls behind).",
    );
    for q in &report.queues {
        let queue = q.info.queue.map(|n| n.to_string()).unwrap_or_default();
        e.value(
            &[("queue", &queue)],
            q.counters.kernel_xsk.rx_fill_ring_empty_descs,
        );
    }

    e.family(
        "ingest_queue_kick_errors_total",
        "counter",
        "Busy-poll kicks and fill-ring wakeups of a queue's AF_XDP socket that the kernel refused with an error other than a transient one.",
    );
    for q in &report.queues {
        let queue = q.info.queue.map(|n| n.to_string()).unwrap_or_default();
        e.value(&[("queue", &queue)], q.counters.xsk.kick_errors);
    }

    if let Some(l) = &report.link {
        e.family(
            "ingest_iface_receive_total",
            "counter",
            "The log interface's own receive counters during the run (rtnetlink IFLA_STATS64): frames, bytes, and what the NIC, the driver or the stack dropped. Those lost before XDP (missed, fifo, over, crc_frame_length) and otherhost_dropped are also in ingest_packets_dropped_total.",
        );
        for (counter, n) in [
            ("packets", l.rx_packets),
            ("bytes", l.rx_bytes),
            ("missed", l.rx_missed),
            ("fifo", l.rx_fifo),
            ("over", l.rx_over),
            ("crc_frame_length", l.rx_crc_frame_length),
            ("dropped", l.rx_dropped),
            ("nohandler", l.rx_nohandler),
            ("otherhost_dropped", l.rx_otherhost_dropped),
        ] {
            e.value(&[("iface", &report.iface), ("counter", counter)], n);
        }
    }

    if let Some(xdp) = &report.xdp {
        e.family(
            "ingest_xdp_packets_decided_total",
            "counter",
            "The XDP program's decisions not in ingest_packets_dropped_total: steered into AF_XDP, passed to the kernel and why, and the later fragments of denied datagrams (frames; their datagrams are dropped by their first fragment).",
        );
        for (counter, n) in xdp.iter().filter(|(c, _)| !c.is_drop()) {
            let decision = counter.name().trim_start_matches("xdp_");
            e.value(&[("decision", decision)], n);
        }
    }

    e.family(
        "ingest_messages_parsed_total",
        "counter",
        "Messages parsed without error.",
    );
    e.value(&[], report.messages_parsed_total);
    e.family(
        "ingest_messages_parse_failed_total",
        "counter",
        "Messages read only in part, by reason (still detected on; not drops).",
    );
    for (reason, n) in &report.parse_errors {
        e.value(&[("reason", reason)], n);
    }

    e.family(
        "ingest_alerts_dropped_total",
        "counter",
        "Alerts raised but lost: the engine's per-batch buffer or the worker's alert ring was full.",
    );
    e.value(
        &[("reason", "buffer_full")],
        report.alerts_dropped_buffer_full,
    );
    e.value(&[("reason", "ring_full")], report.alerts_dropped_ring_full);
    e.family(
        "ingest_samples_dropped_total",
        "counter",
        "Printed copies of messages dropped because a worker's sample ring was full.",
    );
    e.value(&[], report.samples_dropped_ring_full);

    e.family(
        "ingest_alerts_raised_total",
        "counter",
        "Alerts raised by the detectors, all rules (including any the output ring dropped).",
    );
    e.value(&[], report.alerts_raised_total);
    e.family(
        "ingest_rule_alerts_raised_total",
        "counter",
        "Alerts delivered, by rule, kind and level.",
    );
    for (k, n) in alerts.iter() {
        e.value(
            &[
                ("rule", &k.rule),
                ("title", &k.title),
                ("kind", k.kind),
                ("level", k.level),
            ],
            n,
        );
    }

    e.family(
        "ingest_detector_keys",
        "gauge",
        "Keys the detectors hold now, by table (all workers).",
    );
    for t in DetectorTable::ALL {
        e.value(&[("table", t.name())], report.detector.keys[t as usize]);
    }
    e.family(
        "ingest_detector_keys_evicted_total",
        "counter",
        "Keys evicted from full detector tables, by table.",
    );
    for t in DetectorTable::ALL {
        e.value(&[("table", t.name())], report.detector.evicted[t as usize]);
    }
    e.family(
        "ingest_detector_alerts_suppressed_total",
        "counter",
        "Threshold crossings folded into an earlier alert during its suppression.",
    );
    e.value(&[], report.detector.suppressed);

    e.family(
        "ingest_tcp_connections_total",
        "counter",
        "TCP and TLS syslog connections, by what happened to them (denied: by the source filter; refused: over the connection limit; tls_refused: in the TLS handshake, see ingest_tls_connections_refused_total).",
    );
    let tls_refused: u64 = Refusal::ALL
        .iter()
        .map(|&r| report.tcp.tls_refused(r))
        .sum();
    for (event, n) in [
        ("accepted", report.tcp.connections_accepted),
        ("denied", report.tcp.connections_denied),
        ("refused", report.tcp.connections_refused),
        ("tls_refused", tls_refused),
        ("closed", report.tcp.connections_closed),
        ("idle_closed", report.tcp.connections_idle_closed),
    ] {
        e.value(&[("event", event)], n);
    }
    e.family(
        "ingest_tls_connections_refused_total",
        "counter",
        "TLS syslog connections refused in the handshake, by reason: certificate (none, or not from the client CA), not_allowed (not on the allow-list), handshake (protocol, version, plaintext), timeout.",
    );
    for r in Refusal::ALL {
        let reason = r.name().trim_start_matches("tls_refused_");
        e.value(&[("reason", reason)], report.tcp.tls_refused(r));
    }
    e.family(
        "ingest_tls_handshakes_total",
        "counter",
        "TLS syslog handshakes completed.",
    );
    e.value(&[], report.tcp.tls_handshakes);
    e.family(
        "ingest_tls_messages_received_total",
        "counter",
        "Log messages received over TLS (also counted in ingest_messages_received_total{path=\"tcp\"}).",
    );
    e.value(&[], report.tcp.tls_messages);
    e.family(
        "ingest_udp_batches_received_total",
        "counter",
        "recvmmsg calls of the socket path that returned at least one datagram.",
    );
    e.value(&[], report.udp.batches);

    e.family(
        "ingest_gelf_messages_total",
        "counter",
        "What became of chunked or compressed GELF messages (their datagrams are received).",
    );
    for (outcome, n) in &report.gelf {
        e.value(&[("outcome", outcome.trim_start_matches("gelf_"))], n);
    }

    e.family(
        "ingest_latency_seconds",
        "summary",
        "Per stage since start: xdp_to_pickup (XDP hook to the worker taking the batch), parse, \
         detect, xdp_to_detected (hook to the message through the detector), xdp_to_alert (hook \
         to an alert queued).",
    );
    for (stage, l) in &report.latency_ns.stages {
        for (q, v) in [
            ("0.5", l.p50),
            ("0.9", l.p90),
            ("0.99", l.p99),
            ("0.999", l.p999),
            ("1", l.max),
        ] {
            e.value(&[("stage", stage), ("quantile", q)], seconds(v));
        }
        e.sample("_sum", &[("stage", stage)], seconds(l.sum));
        e.sample("_count", &[("stage", stage)], l.count);
    }
    let r = &report.latency_ns.recent_xdp_to_detected;
    e.family(
        "ingest_latency_recent_seconds",
        "gauge",
        "From the XDP hook to the message parsed and detected, over the last 30 to 60 seconds.",
    );
    for (q, v) in [
        ("0.5", r.p50),
        ("0.9", r.p90),
        ("0.99", r.p99),
        ("0.999", r.p999),
        ("1", r.max),
    ] {
        e.value(&[("stage", "xdp_to_detected"), ("quantile", q)], seconds(v));
    }
    e.family(
        "ingest_latency_recent_samples",
        "gauge",
        "Samples behind ingest_latency_recent_seconds.",
    );
    e.value(&[("stage", "xdp_to_detected")], r.count);
    e.family(
        "ingest_latency_unmeasured_total",
        "counter",
        "AF_XDP frames without the XDP program's arrival stamp.",
    );
    e.value(&[], report.latency_ns.unmeasured);

    e.family(
        "ingest_source_messages_estimated",
        "gauge",
        "The loudest senders: messages estimated from a 1-in-8 sample (Space-Saving per worker).",
    );
    for t in &report.top_sources {
        e.value(&[("source", &t.source.to_string())], t.messages);
    }

    type SinkField = fn(&crate::output::sinks::SinkReport) -> u64;
    let per_sink: [(&'static str, &str, &str, SinkField); 5] = [
        (
            "ingest_sink_records_delivered_total",
            "counter",
            "Records (alerts; parsed events for an events sink) each sink delivered, counted when confirmed.",
            |s| s.delivered,
        ),
        (
            "ingest_sink_records_spooled_total",
            "counter",
            "Records each sink could not deliver at once and kept in its spool.",
            |s| s.spooled,
        ),
        (
            "ingest_sink_records_replayed_total",
            "counter",
            "Spooled records each sink sent again.",
            |s| s.replayed,
        ),
        (
            "ingest_sink_failures_total",
            "counter",
            "Failed deliveries (each followed by a reconnect or reopen).",
            |s| s.failures,
        ),
        (
            "ingest_sink_spool_records",
            "gauge",
            "Records waiting in each sink's spool.",
            |s| s.spool_pending,
        ),
    ];
    for (name, kind, help, field) in per_sink {
        e.family(name, kind, help);
        for s in &report.sinks {
            e.value(&[("sink", &s.name)], field(s));
        }
    }
    e.family(
        "ingest_sink_records_dropped_total",
        "counter",
        "Records a sink dropped: its queue was full, or it could neither deliver nor spool them.",
    );
    for s in &report.sinks {
        e.value(
            &[("sink", &s.name), ("reason", "queue_full")],
            s.dropped_queue_full,
        );
        e.value(
            &[("sink", &s.name), ("reason", "undeliverable")],
            s.dropped_undeliverable,
        );
    }

    e.family(
        "ingest_sources_distinct",
        "gauge",
        "Different senders seen since start, estimated (HyperLogLog per worker, merged; about 3 %).",
    );
    e.value(&[], report.distinct_sources);

    e.family(
        "ingest_rules_generation",
        "gauge",
        "The rule set every worker detects with: 0 at start, one more per reload.",
    );
    e.value(&[], report.rules_generation);

    e.family(
        "ingest_worker_errors",
        "gauge",
        "Workers that ended with an error.",
    );
    e.value(&[], report.errors.len());
    e.out
}

fn seconds(ns: u64) -> f64 {
    ns as f64 / 1e9
}
