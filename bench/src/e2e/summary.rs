//! The readable summary of a run.

use super::results::E2eReport;

/// The readable summary.
pub fn print_summary(r: &E2eReport) {
    println!(
        "{} datagrams sent to each target over all rates; accounting {}",
        r.sent,
        if r.accounting_ok {
            "ok: every datagram received or a named drop"
        } else {
            "FAILED"
        }
    );
    println!(
        "{:<16} {:>12} {:>12} {:>12} {:>10} {:>10} {:>8}",
        "target", "offered/s", "sent/s", "received", "loss", "ns/msg", "alerts"
    );
    for run in &r.runs {
        println!(
            "{:<16} {:>12} {:>12.0} {:>12} {:>9.3}% {:>10} {:>8}",
            run.target,
            run.offered_pps
                .map_or("max".to_string(), |v| format!("{v:.0}")),
            run.replay.pps(),
            run.received,
            run.loss_ratio * 100.0,
            run.cpu_ns_per_msg
                .map_or("-".to_string(), |v| format!("{v:.0}")),
            run.alerts
        );
    }
    let pps = |v: Option<f64>| v.map_or("none".to_string(), |v| format!("{v:.0}/s"));
    for (name, s) in r.backends.iter().chain(&r.peers) {
        println!(
            "{name:<10} highest lossless rate {:>10}   CPU per message at {}: {}",
            pps(s.lossless_pps),
            pps(r.compare_at_pps),
            s.cpu_ns_per_msg
                .map_or("-".to_string(), |v| format!("{v:.0} ns"))
        );
    }
    for (name, why) in &r.peers_skipped {
        println!("{name:<10} skipped: {why}");
    }
    println!(
        "detection (XDP backend, lossless runs together):\n{:<14} {:>9} {:>7} {:>9} {:>7} {:>11}",
        "kind", "precision", "recall", "injected", "alerts", "background"
    );
    for (kind, s) in &r.detection {
        println!(
            "{kind:<14} {:>9.3} {:>7.3} {:>9} {:>7} {:>5} of {:<3}",
            s.precision, s.recall, s.injected, s.alerts, s.background_found, s.background
        );
        for fp in &s.false_positives {
            println!(
                "    not labelled: {}",
                fp.chars().take(110).collect::<String>()
            );
        }
    }
    println!(
        "latency, XDP busy-poll at {} offered (µs):",
        pps(r.latency_offered_pps)
    );
    println!(
        "{:<16} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "stage", "messages", "mean", "p50", "p99", "p99.9", "max"
    );
    let us = |ns: u64| format!("{:.1}", ns as f64 / 1000.0);
    for (stage, p) in &r.latency_ns {
        println!(
            "{stage:<16} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9}",
            p.count,
            format!("{:.2}", p.mean() / 1000.0),
            us(p.p50),
            us(p.p99),
            us(p.p999),
            us(p.max)
        );
    }
    println!(
        "  (counts and means exact; percentiles of one message in {})",
        ingest::datapath::pipeline::LATENCY_SAMPLE
    );
    if let Some(rate) = r.compare_at_pps {
        println!("CPU per message at {} (ns):", pps(Some(rate)));
        println!(
            "{:<16} {:>8} {:>8} {:>8} {:>8} {:>8} {:>12}",
            "target", "total", "kernel", "pickup", "parse", "detect", "bookkeeping"
        );
        for run in r
            .runs
            .iter()
            .filter(|x| x.offered_pps == Some(rate) && x.cpu_split.is_some())
        {
            let (t, c) = (
                run.cpu_ns_per_msg.unwrap_or(0.0),
                run.cpu_split.unwrap_or_default(),
            );
            println!(
                "{:<16} {:>8.0} {:>8.0} {:>8.0} {:>8.0} {:>8.0} {:>12.0}",
                run.target, t, c.kernel, c.pickup, c.parse, c.detect, c.bookkeeping
            );
        }
    }
    if let Some(t) = &r.tcpreplay {
        println!(
            "tcpreplay at {}: sent {} frames at {:.0}/s, received {} (bench replay: {} at {:.0}/s, {}); {}",
            pps(t.offered_pps),
            t.sent[1],
            t.achieved_pps[1],
            t.received[1],
            t.sent[0],
            t.achieved_pps[0],
            t.received[0],
            if t.same {
                "the same messages and alerts"
            } else {
                "DIFFERENT"
            }
        );
    }
    println!("report files:");
    for f in &r.report_files {
        println!("  {}", f.display());
    }
}
