//! `bench gen` and `bench replay` against the appliance: a generated capture (IPv4 and IPv6,
//! VLAN tags, fragmented long messages) is replayed across a veth pair into `ingest run`, and
//! every datagram in it must be received (through AF_XDP, or reassembled on the socket path) or
//! named as a drop. The one drop here: VLAN-tagged fragments, which XDP passes to the kernel,
//! and which the kernel drops as not for this host since veth here has no VLAN device (this
//! kernel cannot make one); `iface_rx_otherhost_dropped` counts them, frame by frame.
//!
//! Runs as root (CI does). Skips, saying why, only on a kernel without BPF or AF_XDP. Needs the
//! `ingest` binary next to `bench`, which `cargo test` of the workspace builds.

use std::{path::PathBuf, process::Command, time::Duration};

use serde_json::Value;
use testbed::netns::{self, Spawned, VethPair};

use testbed::TempDir;

fn bench(args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_bench"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "bench {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("bench prints JSON")
}

#[test]
fn a_generated_capture_replayed_into_ingest_is_all_received() {
    if let Err(why) = ingest::sys::kernel_support() {
        eprintln!("SKIPPED: {why}");
        return;
    }
    netns::available().expect("this test needs root and iproute2");
    let _serial = crate::serial();
    let ingest_bin = PathBuf::from(env!("CARGO_BIN_EXE_bench")).with_file_name("ingest");
    assert!(
        ingest_bin.exists(),
        "{} missing: run the workspace's tests (cargo test builds ingest)",
        ingest_bin.display()
    );
    let dir = TempDir::new("replay");
    let pcap = dir.0.join("capture.pcap");
    let generated = bench(&[
        "gen",
        "--out",
        pcap.to_str().unwrap(),
        "--messages",
        "5000",
        "--rate",
        "1000",
        "--hosts",
        "100",
        "--seed",
        "9",
    ]);
    let datagrams = generated["datagrams"].as_u64().unwrap();
    let frames = generated["frames"].as_u64().unwrap();
    assert!(
        frames > datagrams,
        "some datagrams are fragmented: {generated}"
    );

    let pair = VethPair::create().expect("creating namespaces and veth");
    let stats = dir.0.join("stats.json");
    let mut cmd = VethPair::command(&pair.ns_b, ingest_bin.to_str().unwrap());
    cmd.args(["run", "--iface", netns::IFACE_B, "--stats-json"])
        .arg(&stats);
    let mut daemon = Spawned::spawn(cmd).expect("starting ingest");
    daemon
        .wait_for_first_line("\"ready\"", Duration::from_secs(30))
        .expect("ingest ready");

    let mac = pair.mac(&pair.ns_b).unwrap();
    let mac = mac.map(|b| format!("{b:02x}")).join(":");
    let sent = bench(&[
        "replay",
        "--pcap",
        pcap.to_str().unwrap(),
        "--iface",
        netns::IFACE_A,
        "--netns",
        &pair.ns_a,
        "--dst-mac",
        &mac,
        // The capture's own timing (5 s of traffic, bursts included), twenty times as fast.
        "--speed",
        "20",
    ]);
    assert_eq!(sent["sent"], frames, "{sent}");
    let took = sent["elapsed_s"].as_f64().unwrap();
    assert!(
        (0.2..2.0).contains(&took),
        "about a twentieth of 5 s: {sent}"
    );
    assert_eq!(sent["skipped_not_udp"], 0, "{sent}");

    // Let the socket path reassemble and take the last ones, then stop.
    std::thread::sleep(Duration::from_millis(500));
    let (status, _) = daemon.terminate(Duration::from_secs(10)).unwrap();
    assert!(status.success(), "ingest exited with {status}");
    let report: Value = serde_json::from_slice(&std::fs::read(&stats).unwrap()).unwrap();
    let drops: u64 = report["drops"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    let tagged = generated["tagged_fragments"].as_u64().unwrap();
    let tagged_datagrams = generated["tagged_fragmented_datagrams"].as_u64().unwrap();
    assert_eq!(
        report["drops"]["iface_rx_otherhost_dropped"], tagged,
        "{report:#}"
    );
    assert_eq!(drops, tagged, "no other drop: {report:#}");
    assert_eq!(
        report["messages_received_total"],
        datagrams - tagged_datagrams,
        "every datagram received but those of the dropped fragments: {report:#}"
    );
    let udp = report["messages_received_udp_total"].as_u64().unwrap();
    assert!(udp > 0, "the fragmented ones came through the socket path");
    assert_eq!(
        report["xdp"]["xdp_passed_fragment"],
        frames - datagrams + udp + tagged_datagrams,
        "every fragment went to the kernel"
    );
}
