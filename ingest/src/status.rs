//! `ingest status`: one screen from the metrics endpoint: what runs where, messages per second,
//! drops by reason, alerts, latency, detector state and the loudest senders. Rates come from two
//! scrapes a known time apart.

use std::fmt::Write as _;

use crate::metrics::Scrape;

/// Formats `n` with thousands separators.
fn count(n: f64) -> String {
    let n = n.round() as u64;
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A rate per second, readable.
fn rate(n: f64) -> String {
    if n >= 100.0 || n == 0.0 {
        count(n)
    } else {
        format!("{n:.1}")
    }
}

/// A duration given in seconds, in the unit that reads best.
fn duration(s: f64) -> String {
    match s {
        s if s >= 1.0 => format!("{s:.2} s"),
        s if s >= 1e-3 => format!("{:.2} ms", s * 1e3),
        s => format!("{:.1} µs", s * 1e6),
    }
}

/// The screen for two scrapes `seconds` apart (`after` is the newer).
pub fn render(before: &Scrape, after: &Scrape, seconds: f64) -> String {
    let mut o = String::new();
    let per_s = |name: &str, with: &[(&str, &str)]| {
        (after.sum(name, with) - before.sum(name, with)).max(0.0) / seconds.max(1e-9)
    };

    if let Some(info) = after.all("ingest_info").next() {
        let _ = writeln!(
            o,
            "ingest on {}   backend {}   mode {}   xdp {}",
            info.label("iface").unwrap_or("?"),
            info.label("backend").unwrap_or("?"),
            info.label("mode").unwrap_or("?"),
            info.label("xdp_mode").unwrap_or("?"),
        );
    }

    let queues: Vec<_> = after.all("ingest_queue_info").collect();
    if !queues.is_empty() {
        let _ = writeln!(
            o,
            "\n{:<6} {:<8} {:<10} {:<10} {:>12} {:>10}",
            "queue", "cpus", "mode", "bind", "msgs/s", "drops/s"
        );
        for q in queues {
            let queue = q.label("queue").unwrap_or("?");
            let _ = writeln!(
                o,
                "{:<6} {:<8} {:<10} {:<10} {:>12} {:>10}",
                queue,
                q.label("cpus").unwrap_or("?"),
                q.label("mode").unwrap_or("?"),
                q.label("bind").unwrap_or("?"),
                rate(per_s(
                    "ingest_queue_messages_received_total",
                    &[("queue", queue)]
                )),
                rate(per_s(
                    "ingest_queue_packets_dropped_total",
                    &[("queue", queue)]
                )),
            );
        }
    }

    let received = after.sum("ingest_messages_received_total", &[]);
    let by_path: Vec<String> = ["xdp", "udp", "tcp"]
        .iter()
        .map(|p| {
            let n = after.sum("ingest_messages_received_total", &[("path", p)]);
            format!("{p} {}", count(n))
        })
        .collect();
    let _ = writeln!(
        o,
        "\nreceived   {:>14} msgs  {:>10}/s   ({})",
        count(received),
        rate(per_s("ingest_messages_received_total", &[])),
        by_path.join(", ")
    );

    let parsed = after.sum("ingest_messages_parsed_total", &[]);
    let failed: Vec<String> = after
        .all("ingest_messages_parse_failed_total")
        .filter(|s| s.value > 0.0)
        .map(|s| format!("{} {}", s.label("reason").unwrap_or("?"), count(s.value)))
        .collect();
    let _ = writeln!(
        o,
        "parsed     {:>14} msgs  {:>9.2} %    (read in part: {})",
        count(parsed),
        if received > 0.0 {
            100.0 * parsed / received
        } else {
            100.0
        },
        if failed.is_empty() {
            "none".to_string()
        } else {
            failed.join(", ")
        }
    );

    let drops = after.sum("ingest_packets_dropped_total", &[]);
    let _ = writeln!(
        o,
        "dropped    {:>14} pkts  {:>10}/s",
        count(drops),
        rate(per_s("ingest_packets_dropped_total", &[]))
    );
    for s in after
        .all("ingest_packets_dropped_total")
        .filter(|s| s.value > 0.0)
    {
        let reason = s.label("reason").unwrap_or("?");
        let _ = writeln!(
            o,
            "  {:<28} {:>14}  {:>10}/s",
            reason,
            count(s.value),
            rate(per_s("ingest_packets_dropped_total", &[("reason", reason)]))
        );
    }
    let _ = writeln!(
        o,
        "accounted  {:>14} = received + dropped",
        count(received + drops)
    );

    let _ = writeln!(
        o,
        "\nalerts     {:>14}       {:>10}/s   (dropped: {})",
        count(after.sum("ingest_alerts_raised_total", &[])),
        rate(per_s("ingest_alerts_raised_total", &[])),
        count(after.sum("ingest_alerts_dropped_total", &[])),
    );
    let mut rules: Vec<_> = after.all("ingest_rule_alerts_raised_total").collect();
    rules.sort_by(|a, b| b.value.total_cmp(&a.value));
    for r in rules.iter().take(5) {
        let _ = writeln!(
            o,
            "  {:<40} {:<13} {:>10}",
            r.label("title").or(r.label("rule")).unwrap_or("?"),
            r.label("level").unwrap_or("?"),
            count(r.value)
        );
    }

    let q = |family: &str, quantile: &str| {
        after
            .all(family)
            .find(|s| {
                s.label("quantile") == Some(quantile) && s.label("stage") == Some("xdp_to_detected")
            })
            .map_or(0.0, |s| s.value)
    };
    for (family, samples, when) in [
        (
            "ingest_latency_recent_seconds",
            after.sum(
                "ingest_latency_recent_samples",
                &[("stage", "xdp_to_detected")],
            ),
            "last minute",
        ),
        (
            "ingest_latency_seconds",
            after.sum(
                "ingest_latency_seconds_count",
                &[("stage", "xdp_to_detected")],
            ),
            "since start",
        ),
    ] {
        if samples > 0.0 {
            let _ = writeln!(
                o,
                "latency    p50 {}   p99 {}   p99.9 {}   max {}   (XDP hook to detected, {when})",
                duration(q(family, "0.5")),
                duration(q(family, "0.99")),
                duration(q(family, "0.999")),
                duration(q(family, "1")),
            );
        }
    }

    for sink in after.all("ingest_sink_records_delivered_total") {
        let name = sink.label("sink").unwrap_or("?");
        let with = [("sink", name)];
        let _ = writeln!(
            o,
            "sink {:<16} delivered {:>10}  {:>8}/s   spooled {}  waiting {}  dropped {}",
            name,
            count(sink.value),
            rate(per_s("ingest_sink_records_delivered_total", &with)),
            count(after.sum("ingest_sink_records_spooled_total", &with)),
            count(after.sum("ingest_sink_spool_records", &with)),
            count(after.sum("ingest_sink_records_dropped_total", &with)),
        );
    }

    let tables: Vec<String> = after
        .all("ingest_detector_keys")
        .map(|s| {
            let table = s.label("table").unwrap_or("?");
            let evicted = after.sum("ingest_detector_keys_evicted_total", &[("table", table)]);
            format!("{table} {} ({} evicted)", count(s.value), count(evicted))
        })
        .collect();
    if !tables.is_empty() {
        let _ = writeln!(o, "detector   {}", tables.join(", "));
    }

    let mut top: Vec<_> = after.all("ingest_source_messages_estimated").collect();
    top.sort_by(|a, b| b.value.total_cmp(&a.value));
    if !top.is_empty() {
        let _ = writeln!(
            o,
            "\nsenders    {} seen (estimated); the loudest, estimated from a sample:",
            count(after.sum("ingest_sources_distinct", &[]))
        );
        for s in top.iter().take(5) {
            let _ = writeln!(
                o,
                "  {:<40} {:>14} msgs",
                s.label("source").unwrap_or("?"),
                count(s.value)
            );
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_screen_shows_rates_drops_and_alerts() {
        let before = Scrape::parse(
            "ingest_messages_received_total{path=\"xdp\"} 1000\n\
             ingest_packets_dropped_total{reason=\"xsk_rx_ring_full\"} 0\n",
        )
        .unwrap();
        let after = Scrape::parse(
            "ingest_info{iface=\"eth1\",backend=\"xdp\",mode=\"busy-poll\",xdp_mode=\"native\"} 1\n\
             ingest_queue_info{queue=\"0\",cpus=\"[2]\",mode=\"busy-poll\",bind=\"zero-copy\"} 1\n\
             ingest_queue_messages_received_total{queue=\"0\"} 3000\n\
             ingest_messages_received_total{path=\"xdp\"} 3000\n\
             ingest_messages_received_total{path=\"udp\"} 5\n\
             ingest_messages_parsed_total 3005\n\
             ingest_packets_dropped_total{reason=\"xsk_rx_ring_full\"} 40\n\
             ingest_packets_dropped_total{reason=\"udp_dropped_socket\"} 0\n\
             ingest_alerts_raised_total 3\n\
             ingest_rule_alerts_raised_total{rule=\"ssh-brute-force\",kind=\"threshold\",level=\"high\"} 3\n\
             ingest_latency_seconds{stage=\"xdp_to_detected\",quantile=\"0.5\"} 0.0000123\n\
             ingest_latency_seconds_count{stage=\"xdp_to_detected\"} 3000\n\
             ingest_latency_recent_seconds{stage=\"xdp_to_detected\",quantile=\"0.5\"} 0.000009\n\
             ingest_latency_recent_samples{stage=\"xdp_to_detected\"} 100\n\
             ingest_source_messages_estimated{source=\"198.18.0.1\"} 2400\n\
             ingest_sources_distinct 17\n\
             ingest_sink_records_delivered_total{sink=\"siem\"} 2\n\
             ingest_sink_spool_records{sink=\"siem\"} 1\n",
        )
        .unwrap();
        let screen = render(&before, &after, 2.0);
        assert!(screen.contains("ingest on eth1"), "{screen}");
        assert!(screen.contains("zero-copy"), "{screen}");
        assert!(
            screen.contains("3,005 msgs") && screen.contains("1,003/s"),
            "{screen}"
        );
        assert!(screen.contains("xsk_rx_ring_full"), "{screen}");
        assert!(
            !screen.contains("udp_dropped_socket"),
            "zero drops hidden: {screen}"
        );
        assert!(screen.contains("3,045 = received + dropped"), "{screen}");
        assert!(screen.contains("ssh-brute-force"), "{screen}");
        assert!(screen.contains("p50 12.3 µs"), "{screen}");
        assert!(
            screen.contains("p50 9.0 µs"),
            "the recent window too: {screen}"
        );
        assert!(screen.contains("198.18.0.1"), "{screen}");
        assert!(screen.contains("senders    17 seen"), "{screen}");
        assert!(screen.contains("sink siem"), "{screen}");
        assert!(screen.contains("waiting 1"), "{screen}");
    }

    #[test]
    fn counts_read_well() {
        assert_eq!(count(1234567.0), "1,234,567");
        assert_eq!(count(12.0), "12");
        assert_eq!(rate(2.24), "2.2");
        assert_eq!(duration(0.0015), "1.50 ms");
    }
}
