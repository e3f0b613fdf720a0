//! `bench e2e --quick`, as the demo runs it: a generated, labelled capture replayed across a
//! veth pair into `ingest run` (XDP backend, every rule, learning on), then a busy-poll latency
//! run. Every datagram must be accounted for, every injected anomaly found with no alert that
//! the labels do not explain, and the report files written with every stage in them.
//!
//! Runs as root (CI does). Skips, saying why, only on a kernel without BPF or AF_XDP. Needs the
//! `ingest` binary next to `bench`, which `cargo test` of the workspace builds.

use std::{path::PathBuf, process::Command};

use serde_json::Value;

use testbed::TempDir;

#[test]
fn the_quick_end_to_end_run_accounts_detects_and_reports() {
    if let Err(why) = ingest::sys::kernel_support() {
        eprintln!("SKIPPED: {why}");
        return;
    }
    testbed::netns::available().expect("this test needs root and iproute2");
    let _serial = crate::serial();
    let bench = PathBuf::from(env!("CARGO_BIN_EXE_bench"));
    assert!(
        bench.with_file_name("ingest").exists(),
        "ingest missing next to bench: run the workspace's tests (cargo test builds it)"
    );
    let dir = TempDir::new("e2e");
    let rules = concat!(env!("CARGO_MANIFEST_DIR"), "/../detector/rules");
    let out = Command::new(&bench)
        .args(["e2e", "--quick", "--json", "--rules", rules, "--out"])
        .arg(&dir.0)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "bench e2e: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).expect("bench e2e --json prints JSON");

    // Accounting: every run, every datagram received or a named drop; at this rate, received.
    assert_eq!(r["accounting_ok"], true, "{r:#}");
    let xdp = &r["backends"]["xdp"];
    assert_eq!(xdp["loss_ratio"], 0.0, "{xdp:#}");
    assert!(r["sent"].as_u64().unwrap() >= 60_000, "{r:#}");
    let runs = r["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2, "the rate's run and the latency run");
    for run in runs {
        assert_eq!(run["loss_ratio"], 0.0, "{run:#}");
        assert_eq!(run["accounting_ok"], true, "{run:#}");
        assert_eq!(
            run["drops"],
            serde_json::json!({}),
            "nothing dropped: {run:#}"
        );
    }

    // Detection: every injected anomaly found, and every alert explained by a label.
    let detection = r["detection"].as_object().unwrap();
    for kind in [
        "brute_force",
        "sigma",
        "new_template",
        "rate_spike",
        "silence",
    ] {
        let s = &detection[kind];
        assert_eq!(s["recall"], 1.0, "{kind}: {s:#}");
        assert!(s["precision"].as_f64().unwrap() >= 0.99, "{kind}: {s:#}");
        assert!(s["injected"].as_u64().unwrap() >= 1, "{kind}: {s:#}");
    }
    // The LogHub background's own SSH attackers are found too.
    let bf = &detection["brute_force"];
    assert!(bf["background"].as_u64().unwrap() > 0, "{bf:#}");
    assert_eq!(bf["background_found"], bf["background"], "{bf:#}");

    // Latency: every stage, a sample per message (per alert for the alert stage).
    let latency = r["latency_ns"].as_object().unwrap();
    for stage in [
        "xdp_to_pickup",
        "receive",
        "parse",
        "detect",
        "xdp_to_detected",
        "xdp_to_alert",
    ] {
        let p = &latency[stage];
        assert!(p["count"].as_u64().unwrap() > 0, "{stage}: {p:#}");
        let (p50, p99, max) = (
            p["p50"].as_u64().unwrap(),
            p["p99"].as_u64().unwrap(),
            p["max"].as_u64().unwrap(),
        );
        assert!(0 < p50 && p50 <= p99 && p99 <= max, "{stage}: {p:#}");
    }
    assert!(
        latency["xdp_to_alert"]["count"].as_u64().unwrap()
            < latency["parse"]["count"].as_u64().unwrap()
    );

    // The report files: there, and what they say they are.
    let files: Vec<PathBuf> = r["report_files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| PathBuf::from(f.as_str().unwrap()))
        .collect();
    let named = |suffix: &str| {
        files
            .iter()
            .find(|f| f.to_string_lossy().ends_with(suffix))
            .unwrap_or_else(|| panic!("no {suffix} in {files:?}"))
    };
    let svg = std::fs::read_to_string(named("latency.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.matches("<polyline").count() == 6);
    let hgrm = std::fs::read_to_string(named("latency-xdp_to_detected.hgrm")).unwrap();
    assert!(
        hgrm.contains("Percentile") && hgrm.contains("#[Max"),
        "{hgrm}"
    );
    let table = std::fs::read_to_string(named("latency.txt")).unwrap();
    assert_eq!(table.lines().count(), 7, "a header and six stages: {table}");
    let labels: Value =
        serde_json::from_slice(&std::fs::read(named("capture-20000.labels.json")).unwrap())
            .unwrap();
    assert!(labels["warmup_messages"].as_u64().unwrap() > 0);
    assert!(
        std::fs::metadata(named("capture-20000.pcap"))
            .unwrap()
            .len()
            > 1_000_000
    );
}
