//! The log as operators read it: `--log-format json` gives one object per event with its fields
//! (worker, kind, queue; rule counts; the sink's counters), and `journald` without a journal
//! falls back to stderr saying so.
//!
//! Runs as root (CI does), in a namespace of its own.

use serde_json::Value;
use testbed::netns::{self, VethPair};

use crate::common::test_network;

const RULES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../detector/rules");

/// `ingest run` for half a second on the socket backend in namespace B, with `format`; its
/// stderr.
fn run_with(pair: &VethPair, format: &str) -> String {
    let out = VethPair::command(&pair.ns_b, env!("CARGO_BIN_EXE_ingest"))
        .args(["--log-format", format, "run", "--iface", netns::IFACE_B])
        .args([
            "--backend",
            "socket",
            "--metrics-addr",
            "",
            "--duration",
            "0.5",
        ])
        .args(["--rules", RULES])
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stderr).unwrap()
}

#[test]
fn json_events_carry_their_fields_and_a_missing_journal_is_named() {
    let Some(pair) = test_network() else {
        return;
    };
    let stderr = run_with(&pair, "json");
    let events: Vec<Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let find = |message: &str| {
        events
            .iter()
            .find(|e| e["message"] == message)
            .unwrap_or_else(|| panic!("no {message:?} event: {stderr}"))
    };
    let worker = find("worker started");
    assert_eq!(worker["level"], "INFO");
    assert_eq!(worker["worker"], 0);
    assert_eq!(worker["kind"], "socket");
    assert_eq!(worker["tcp"], true);
    let rules = find("rules loaded");
    assert!(rules["sigma"].as_u64().unwrap() > 10, "{rules}");
    assert!(rules["thresholds"].as_u64().unwrap() >= 1, "{rules}");
    assert!(
        events.iter().all(|e| e["timestamp"].is_string()),
        "{stderr}"
    );

    // No journal here (systemd is not running): the events go to stderr, and the first says so.
    let stderr = run_with(&pair, "journald");
    assert!(stderr.contains("the journal is not reachable"), "{stderr}");
    assert!(stderr.contains("worker started"), "{stderr}");
}
