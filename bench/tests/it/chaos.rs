//! `bench chaos --short`, as CI runs it: every fault and abuse scenario in its own namespaces,
//! and in each every sum closes exactly (sent = received + named drops; alerts raised =
//! delivered or counted; refused TLS clients let in: none).
//!
//! Runs as root (CI does). Skips, saying why, only on a kernel without BPF or AF_XDP. Needs the
//! `ingest` binary next to `bench` and `nats-server` (deploy/bootstrap.sh installs it).

use std::{path::PathBuf, process::Command};

use serde_json::Value;

#[test]
fn every_chaos_scenario_closes_its_sums() {
    if let Err(why) = ingest::sys::kernel_support() {
        eprintln!("SKIPPED: {why}");
        return;
    }
    testbed::netns::available().expect("this test needs root and iproute2");
    let _serial = crate::serial();
    let bench = PathBuf::from(env!("CARGO_BIN_EXE_bench"));
    let out = Command::new(&bench)
        .args(["chaos", "--short", "--json"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let outcomes: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "bench chaos --json: {e}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let outcomes = outcomes.as_array().expect("a list of outcomes");
    let by_name = |name: &str| {
        outcomes
            .iter()
            .find(|o| o["name"] == name)
            .unwrap_or_else(|| panic!("no scenario {name}: {outcomes:#?}"))
    };
    assert_eq!(outcomes.len(), 10, "{outcomes:#?}");
    for o in outcomes {
        let checks = o["checks"].as_array().unwrap();
        assert!(!checks.is_empty(), "{o:#}");
        for c in checks {
            assert_eq!(c["left"], c["right"], "{}: {}: {o:#}", o["name"], c["what"]);
        }
        assert!(o["sent"].as_u64().unwrap() > 0, "{o:#}");
    }
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Each malformed kind met its own end, by name.
    let flood = &by_name("malformed-flood")["drops"];
    for name in [
        "xdp_dropped_malformed",
        "frame_dropped_bad_ip_length",
        "frame_dropped_bad_udp_length",
        "frame_dropped_bad_udp_checksum",
        "frame_dropped_bad_ip_checksum",
        "kernel/iface_rx_dropped",
        "kernel/ip_reassembly_failed",
    ] {
        assert!(flood[name].as_u64().unwrap_or(0) > 0, "{name}: {flood:#}");
    }
    // The denied sender reached nothing on either backend, and its datagrams were counted.
    assert!(
        by_name("denied-fragments-xdp")["drops"]["xdp_dropped_denied_fragment"].as_u64() > Some(0)
    );
    assert!(by_name("denied-fragments-socket")["drops"]["udp_dropped_denied"].as_u64() > Some(0));
    // The stalled stdout did overflow the alert ring (the scenario tests what it claims).
    let ring = by_name("alert-ring-full");
    assert!(
        ring["notes"][0]
            .as_str()
            .unwrap()
            .contains("dropped at the full ring")
    );
}
