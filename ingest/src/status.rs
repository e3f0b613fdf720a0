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

/// The drop families and the unit each counts in.
const DROPS: [(&str, &str); 3] = [
    ("ingest_datagrams_dropped_total", "dgrams"),
    ("ingest_frames_dropped_total", "frames"),
    ("ingest_messages_dropped_total", "msgs"),
];

/// The `q` quantile of histogram `family` (its `_bucket` series with `with`), interpolated
/// within the bucket as Prometheus's `histogram_quantile` does. None without observations.
pub fn histogram_quantile(
    scrape: &Scrape,
    family: &str,
    with: &[(&str, &str)],
    q: f64,
) -> Option<f64> {
    let name = format!("{family}_bucket");
    let mut buckets: Vec<(f64, f64)> = scrape
        .samples
        .iter()
        .filter(|s| s.name == name && with.iter().all(|(k, v)| s.label(k) == Some(v)))
        .filter_map(|s| {
            let le = s.label("le")?;
            let bound = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((bound, s.value))
        })
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total = buckets.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let (mut lower, mut below) = (0.0, 0.0);
    for (bound, cumulative) in buckets {
        if cumulative >= rank {
            if bound.is_infinite() {
                return Some(lower);
            }
            let within = cumulative - below;
            let share = if within > 0.0 {
                (rank - below) / within
            } else {
                1.0
            };
            return Some(lower + (bound - lower) * share);
        }
        (lower, below) = (bound, cumulative);
    }
    Some(lower)
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
                    "ingest_queue_datagrams_dropped_total",
                    &[("queue", queue)]
                )),
            );
        }
    }

    let received = after.sum("ingest_messages_received_total", &[]);
    let by_path: Vec<String> = ["xdp", "udp", "tcp", "tls"]
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
        .all("ingest_messages_parse_errors_total")
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

    let sum_all = |scrape: &Scrape| DROPS.iter().map(|(f, _)| scrape.sum(f, &[])).sum::<f64>();
    let drops = sum_all(after);
    let _ = writeln!(
        o,
        "dropped    {:>14}       {:>10}/s",
        count(drops),
        rate((drops - sum_all(before)).max(0.0) / seconds.max(1e-9))
    );
    for (family, unit) in DROPS {
        for s in after.all(family).filter(|s| s.value > 0.0) {
            let (stage, reason) = (
                s.label("stage").unwrap_or("?"),
                s.label("reason").unwrap_or("?"),
            );
            let _ = writeln!(
                o,
                "  {:<34} {:>14} {unit:<6} {:>10}/s",
                format!("{stage}/{reason}"),
                count(s.value),
                rate(per_s(family, &[("stage", stage), ("reason", reason)]))
            );
        }
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
    let mut rules: Vec<_> = after.all("ingest_rule_alerts_total").collect();
    rules.sort_by(|a, b| b.value.total_cmp(&a.value));
    for r in rules.iter().take(5) {
        let (rule, kind) = (
            r.label("rule").unwrap_or("?"),
            r.label("kind").unwrap_or("?"),
        );
        let info = after
            .all("ingest_rule_info")
            .find(|i| i.label("rule") == Some(rule) && i.label("kind") == Some(kind));
        let _ = writeln!(
            o,
            "  {:<40} {:<13} {:>10}",
            info.and_then(|i| i.label("title")).unwrap_or(rule),
            info.and_then(|i| i.label("level")).unwrap_or("?"),
            count(r.value)
        );
    }

    let detected = [("stage", "xdp_to_detected")];
    let recent = |p: &str| {
        after.sum(
            "ingest_stage_latency_recent_seconds",
            &[("stage", "xdp_to_detected"), ("percentile", p)],
        )
    };
    if after.sum("ingest_stage_latency_recent_samples", &detected) > 0.0 {
        let _ = writeln!(
            o,
            "latency    p50 {}   p99 {}   p99.9 {}   max {}   (XDP hook to detected, last minute)",
            duration(recent("p50")),
            duration(recent("p99")),
            duration(recent("p999")),
            duration(recent("max")),
        );
    }
    let since = |q: f64| histogram_quantile(after, "ingest_stage_latency_seconds", &detected, q);
    if let (Some(p50), Some(p99)) = (since(0.5), since(0.99)) {
        let _ = writeln!(
            o,
            "latency    p50 {}   p99 {}   (XDP hook to detected, since start, from the histogram's buckets)",
            duration(p50),
            duration(p99),
        );
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
             ingest_datagrams_dropped_total{stage=\"xsk\",reason=\"ring_full\"} 0\n",
        )
        .unwrap();
        let after = Scrape::parse(
            "ingest_info{iface=\"eth1\",backend=\"xdp\",mode=\"busy-poll\",xdp_mode=\"native\"} 1\n\
             ingest_queue_info{queue=\"0\",cpus=\"[2]\",mode=\"busy-poll\",bind=\"zero-copy\"} 1\n\
             ingest_queue_messages_received_total{queue=\"0\"} 3000\n\
             ingest_messages_received_total{path=\"xdp\"} 3000\n\
             ingest_messages_received_total{path=\"udp\"} 5\n\
             ingest_messages_parsed_total 3005\n\
             ingest_datagrams_dropped_total{stage=\"xsk\",reason=\"ring_full\"} 40\n\
             ingest_datagrams_dropped_total{stage=\"socket\",reason=\"kernel\"} 0\n\
             ingest_alerts_raised_total 3\n\
             ingest_rule_alerts_total{rule=\"ssh-brute-force\",kind=\"threshold\"} 3\n\
             ingest_rule_info{rule=\"ssh-brute-force\",kind=\"threshold\",title=\"SSH brute force\",level=\"high\"} 1\n\
             ingest_stage_latency_seconds_bucket{stage=\"xdp_to_detected\",le=\"0.00001\"} 1000\n\
             ingest_stage_latency_seconds_bucket{stage=\"xdp_to_detected\",le=\"0.00002\"} 3000\n\
             ingest_stage_latency_seconds_bucket{stage=\"xdp_to_detected\",le=\"+Inf\"} 3000\n\
             ingest_stage_latency_recent_seconds{stage=\"xdp_to_detected\",percentile=\"p50\"} 0.000009\n\
             ingest_stage_latency_recent_samples{stage=\"xdp_to_detected\"} 100\n\
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
        assert!(screen.contains("xsk/ring_full"), "{screen}");
        assert!(
            !screen.contains("socket/kernel"),
            "zero drops hidden: {screen}"
        );
        assert!(screen.contains("3,045 = received + dropped"), "{screen}");
        assert!(screen.contains("SSH brute force"), "{screen}");
        assert!(screen.contains("high"), "{screen}");
        // Half of 3,000 is 500 into the second bucket's 2,000: a quarter of 10 µs past 10 µs.
        assert!(screen.contains("p50 12.5 µs"), "{screen}");
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
