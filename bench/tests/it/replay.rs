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

/// `ingest run` on `pair`'s receiving end, writing its report to `stats`, once it is ready.
fn start_ingest(ingest_bin: &std::path::Path, pair: &VethPair, stats: &std::path::Path) -> Spawned {
    let mut cmd = VethPair::command(&pair.ns_b, ingest_bin.to_str().unwrap());
    cmd.args(["run", "--iface", netns::IFACE_B, "--stats-json"])
        .arg(stats);
    let mut daemon = Spawned::spawn(cmd).expect("starting ingest");
    daemon
        .wait_for_first_line("\"ready\"", Duration::from_secs(30))
        .expect("ingest ready");
    daemon
}

/// The receiving end's MAC address, as `bench replay --dst-mac` takes it.
fn receiver_mac(pair: &VethPair) -> String {
    let mac = pair.mac(&pair.ns_b).unwrap();
    mac.map(|b| format!("{b:02x}")).join(":")
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
    let daemon = start_ingest(&ingest_bin, &pair, &stats);
    let mac = receiver_mac(&pair);
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

/// Rewrites the Ethernet capture at `from` as a Linux cooked capture: `sll2` a pcapng with a
/// LINKTYPE_LINUX_SLL2 interface at the default microsecond resolution (as Wireshark writes it),
/// else a big-endian classic pcap with LINKTYPE_LINUX_SLL. Returns the frames written.
fn cooked(from: &std::path::Path, to: &std::path::Path, sll2: bool) -> u64 {
    use pcap_file::{
        DataLink, Endianness, TsResolution,
        pcap::{PcapHeader, PcapPacket, PcapReader, PcapWriter},
        pcapng::{
            PcapNgWriter,
            blocks::{
                enhanced_packet::EnhancedPacketBlock,
                interface_description::InterfaceDescriptionBlock,
            },
        },
    };
    let bytes = std::fs::read(from).unwrap();
    let mut reader = PcapReader::new(&bytes[..]).unwrap();
    let mut packets = Vec::new();
    while let Some(p) = reader.next_packet() {
        let p = p.unwrap();
        let f = &p.data;
        let (src, proto, payload) = (&f[6..12], &f[12..14], &f[14..]);
        let mut cooked = Vec::new();
        if sll2 {
            cooked.extend_from_slice(proto);
            cooked.extend_from_slice(&[0, 0, 0, 0, 0, 2, 0, 1, 0, 6]);
        } else {
            cooked.extend_from_slice(&[0, 0, 0, 1, 0, 6]);
        }
        cooked.extend_from_slice(src);
        cooked.extend_from_slice(&[0, 0]);
        if !sll2 {
            cooked.extend_from_slice(proto);
        }
        cooked.extend_from_slice(payload);
        packets.push((p.timestamp, cooked));
    }
    let mut out = std::fs::File::create(to).unwrap();
    if sll2 {
        let mut w = PcapNgWriter::new(&mut out).unwrap();
        w.write_pcapng_block(InterfaceDescriptionBlock {
            linktype: DataLink::LINUX_SLL2,
            snaplen: 0,
            options: vec![],
        })
        .unwrap();
        for (t, data) in &packets {
            // Microseconds, the interface's resolution (pcap-file writes the raw count).
            let raw = std::time::Duration::from_nanos(t.as_micros() as u64);
            w.write_pcapng_block(EnhancedPacketBlock {
                interface_id: 0,
                timestamp: raw,
                original_len: data.len() as u32,
                data: data.into(),
                options: vec![],
            })
            .unwrap();
        }
    } else {
        let header = PcapHeader {
            datalink: DataLink::LINUX_SLL,
            ts_resolution: TsResolution::MicroSecond,
            endianness: Endianness::Big,
            ..PcapHeader::default()
        };
        let mut w = PcapWriter::with_header(&mut out, header).unwrap();
        for (t, data) in &packets {
            w.write_packet(&PcapPacket::new(*t, data.len() as u32, data))
                .unwrap();
        }
    }
    packets.len() as u64
}

#[test]
fn pcapng_and_linux_cooked_captures_replay_with_exact_accounting() {
    if let Err(why) = ingest::sys::kernel_support() {
        eprintln!("SKIPPED: {why}");
        return;
    }
    netns::available().expect("this test needs root and iproute2");
    let _serial = crate::serial();
    let ingest_bin = PathBuf::from(env!("CARGO_BIN_EXE_bench")).with_file_name("ingest");
    let dir = TempDir::new("replay-formats");
    let pcap = dir.0.join("capture.pcap");
    let generated = bench(&[
        "gen",
        "--out",
        pcap.to_str().unwrap(),
        "--messages",
        "2000",
        "--rate",
        "1000",
        "--hosts",
        "50",
        "--seed",
        "4",
    ]);
    let datagrams = generated["datagrams"].as_u64().unwrap();
    for (name, sll2) in [("capture-sll2.pcapng", true), ("capture-sll.pcap", false)] {
        let file = dir.0.join(name);
        let frames = cooked(&pcap, &file, sll2);
        let pair = VethPair::create().expect("creating namespaces and veth");
        let stats = dir.0.join(format!("{name}.json"));
        let daemon = start_ingest(&ingest_bin, &pair, &stats);
        let mac = receiver_mac(&pair);
        // VLAN tags removed: this kernel has no VLAN device to take tagged fragments.
        let sent = bench(&[
            "replay",
            "--pcap",
            file.to_str().unwrap(),
            "--iface",
            netns::IFACE_A,
            "--netns",
            &pair.ns_a,
            "--dst-mac",
            &mac,
            "--speed",
            "20",
            "--strip-vlan",
        ]);
        assert_eq!(sent["sent"], frames, "{name}: {sent}");
        let took = sent["elapsed_s"].as_f64().unwrap();
        assert!(
            (0.05..2.0).contains(&took),
            "{name}: the capture's own timing, 20x: {sent}"
        );
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
        assert_eq!(drops, 0, "{name}: {report:#}");
        assert_eq!(
            report["messages_received_total"], datagrams,
            "{name}: every datagram received: {report:#}"
        );
    }
}
