//! The accounting promise, end to end: a known number of log datagrams of every kind goes in,
//! and exactly that many come out as received messages plus named drops, with each kind on the
//! path it should take.
//!
//! Frames are built byte for byte and sent through an AF_PACKET socket on the sending veth end,
//! so the test can send what sockets cannot: VLAN tags (this kernel has no 802.1Q module),
//! truncated headers and a lying UDP length. The fragmented datagram goes through a real UDP
//! socket, so the kernel fragments it.
//!
//! Runs as root (CI does). Skips, saying why, only on a kernel without BPF or AF_XDP.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};

use crate::common::{Ingest, Outcome, drops_total, test_network};
use serde_json::Value;
use testbed::{
    craft::UdpFrame,
    netns::{self, VethPair},
    packet::PacketSender,
};

const DENIED_SRC: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 66);
const LOG_PORT: u16 = 514;
const OTHER_PORT: u16 = 5140;

#[test]
fn sent_equals_received_plus_named_drops() {
    let Some(pair) = test_network() else {
        return;
    };
    let src_mac = pair.mac(&pair.ns_a).unwrap();
    let dst_mac = pair.mac(&pair.ns_b).unwrap();
    let ingest = Ingest::start(&pair, "accounting", &["--deny-source", "198.18.0.64/26"]);
    assert_eq!(ingest.ready["xdp_mode"], "native", "{}", ingest.ready);

    let v4 = |ip: Ipv4Addr, port: u16| SocketAddr::new(IpAddr::V4(ip), port);
    let v6 = |ip, port| SocketAddr::new(IpAddr::V6(ip), port);
    let to_log = v4(netns::ADDR_B, LOG_PORT);
    let payload = |kind: &str, i: usize| format!("<13>1 - host acct - - - {kind} {i}").into_bytes();
    let frame = |vlans: &[u16], src: SocketAddr, dst: SocketAddr, payload: &[u8]| {
        UdpFrame {
            src_mac,
            dst_mac,
            vlans,
            src,
            dst,
            payload,
        }
        .build()
    };

    // Kind -> (payloads, frames). Every frame below except the two to OTHER_PORT is a log
    // datagram: it counts in `sent`.
    let mut frames: Vec<Vec<u8>> = Vec::new();
    let mut sent = 0u64;
    let mut expect_xdp = Vec::new();
    for i in 0..4 {
        let p = payload("plain", i);
        frames.push(frame(&[], v4(netns::ADDR_A, 40000 + i as u16), to_log, &p));
        expect_xdp.push((p, None));
    }
    for i in 0..2 {
        let p = payload("v6", i);
        frames.push(frame(
            &[],
            v6(netns::ADDR6_A, 41000 + i as u16),
            v6(netns::ADDR6_B, LOG_PORT),
            &p,
        ));
        expect_xdp.push((p, None));
    }
    for i in 0..2 {
        let p = payload("vlan", i);
        frames.push(frame(&[7], v4(netns::ADDR_A, 42000 + i as u16), to_log, &p));
        expect_xdp.push((p, Some(7)));
    }
    let p = payload("qinq", 0);
    frames.push(frame(&[100, 9], v4(netns::ADDR_A, 43000), to_log, &p));
    expect_xdp.push((p, Some(9)));
    sent += frames.len() as u64;

    let denied = 2;
    for i in 0..denied {
        let p = payload("denied", i);
        frames.push(frame(&[], v4(DENIED_SRC, 44000 + i as u16), to_log, &p));
    }
    // Malformed in XDP: an IPv4 header cut short.
    let mut truncated = frame(&[], v4(netns::ADDR_A, 45000), to_log, b"<13>cut");
    truncated.truncate(14 + 10);
    frames.push(truncated);
    // Steered by XDP (its headers are whole), refused by user space: the UDP length claims
    // more bytes than the frame has.
    let mut lying = frame(&[], v4(netns::ADDR_A, 45001), to_log, b"<13>lying length");
    let udp_len_at = 14 + 20 + 4;
    lying[udp_len_at..udp_len_at + 2].copy_from_slice(&2000u16.to_be_bytes());
    frames.push(lying);
    // Steered by XDP, refused by user space as the kernel would refuse them: a payload byte
    // changed after the UDP checksum was written, a TTL changed after the IPv4 header checksum
    // was, and a UDP/IPv6 datagram with no checksum at all.
    let mut bad_udp_sum = frame(&[], v4(netns::ADDR_A, 45002), to_log, b"<13>bad udp sum");
    *bad_udp_sum.last_mut().unwrap() ^= 0x20;
    frames.push(bad_udp_sum);
    let mut bad_ip_sum = frame(&[], v4(netns::ADDR_A, 45003), to_log, b"<13>bad ip sum");
    bad_ip_sum[14 + 8] -= 1;
    frames.push(bad_ip_sum);
    let mut no_v6_sum = frame(
        &[],
        v6(netns::ADDR6_A, 45004),
        v6(netns::ADDR6_B, LOG_PORT),
        b"<13>no v6 sum",
    );
    let v6_sum_at = 14 + 40 + 6;
    no_v6_sum[v6_sum_at..v6_sum_at + 2].copy_from_slice(&[0, 0]);
    frames.push(no_v6_sum);
    let user_space_refused = 4;
    sent += denied as u64 + 1 + user_space_refused;

    // Not log traffic: passed to the kernel by XDP, not part of `sent`.
    for i in 0..2 {
        frames.push(frame(
            &[],
            v4(netns::ADDR_A, 46000 + i),
            v4(netns::ADDR_B, OTHER_PORT),
            b"<13>other port",
        ));
    }

    let big = vec![b'f'; 3000];
    VethPair::run_in(&pair.ns_a, || {
        let tx = PacketSender::open(netns::IFACE_A, false)?;
        for f in &frames {
            tx.send(f)?;
        }
        // 3000 bytes over a 1500-byte MTU: the kernel sends three IPv4 fragments.
        let sock = UdpSocket::bind(v4(netns::ADDR_A, 0))?;
        sock.send_to(&big, to_log)?;
        std::io::Result::Ok(())
    })
    .unwrap()
    .expect("sending frames");
    sent += 1;

    let received = expect_xdp.len() + 1;
    let Outcome {
        messages,
        lines,
        report,
    } = ingest.stop_after(received);

    // Each kind took its path.
    for (p, vlan) in &expect_xdp {
        let m = messages
            .iter()
            .find(|m| m["message"].as_str().unwrap().as_bytes() == p.as_slice())
            .unwrap_or_else(|| panic!("{} not received: {lines:#?}", String::from_utf8_lossy(p)));
        assert_eq!(m["path"], "xdp", "{m}");
        assert_eq!(m["vlan"], vlan.map_or(Value::Null, Value::from), "{m}");
    }
    let frag: Vec<_> = messages.iter().filter(|m| m["path"] == "udp").collect();
    assert_eq!(frag.len(), 1, "{lines:#?}");
    assert_eq!(frag[0]["len"], big.len() as u64);
    assert_eq!(messages.len(), received, "{lines:#?}");
    assert!(
        messages.iter().all(|m| m["message"] != "<13>other port"),
        "other ports are not log traffic"
    );

    let xdp = &report["xdp"];
    assert_eq!(
        xdp["xdp_steered"],
        expect_xdp.len() as u64 + user_space_refused,
        "{report:#}"
    );
    assert_eq!(xdp["xdp_dropped_denied"], denied as u64, "{report:#}");
    assert_eq!(xdp["xdp_dropped_malformed"], 1, "{report:#}");
    assert_eq!(xdp["xdp_passed_fragment"], 3, "{report:#}");
    assert_eq!(xdp["xdp_passed_not_log_port"], 2, "{report:#}");
    assert_eq!(xdp["xdp_passed_no_socket"], 0, "{report:#}");
    let drops = &report["drops"];
    assert_eq!(drops["frame_dropped_bad_udp_length"], 1, "{report:#}");
    assert_eq!(drops["frame_dropped_bad_udp_checksum"], 2, "{report:#}");
    assert_eq!(drops["frame_dropped_bad_ip_checksum"], 1, "{report:#}");

    // The promise: sent = received + the sum of named drops, exactly.
    let received_total = report["messages_received_total"].as_u64().unwrap();
    assert_eq!(received_total, received as u64, "{report:#}");
    assert_eq!(
        report["messages_received_xdp_total"],
        expect_xdp.len() as u64
    );
    assert_eq!(report["messages_received_socket_total"], 1);
    assert_eq!(
        sent,
        received_total + drops_total(&report),
        "sent = received + named drops: {report:#}"
    );
    // Every message went through the parser: parsed or a named parse error.
    let parse_errors: u64 = report["parse_errors"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(
        report["messages_parsed_total"].as_u64().unwrap() + parse_errors,
        received_total
    );
    assert_eq!(parse_errors, 0, "every message is well formed: {report:#}");
    let plain = messages
        .iter()
        .find(|m| m["message"] == "<13>1 - host acct - - - plain 0");
    let parsed = &plain.expect("plain 0 printed")["parsed"];
    assert_eq!(
        (&parsed["format"], &parsed["app"], &parsed["message"]),
        (
            &Value::from("rfc5424"),
            &Value::from("acct"),
            &Value::from("plain 0")
        ),
        "parsed in the worker and shown: {parsed}"
    );
    // Every AF_XDP message carried its arrival time from the XDP hook.
    let latency = &report["latency_ns"];
    assert_eq!(
        latency["xdp_to_detected"]["count"],
        expect_xdp.len() as u64,
        "{report:#}"
    );
    assert_eq!(latency["unmeasured"], 0, "{report:#}");
    assert!(latency["xdp_to_detected"]["max"].as_u64().unwrap() > 0);
    // The histograms take one message in `sample_every` (the first of each), counts are exact;
    // they travel in HdrHistogram's encoding, for `bench report`.
    let every = latency["sample_every"].as_u64().unwrap();
    let sampled = (expect_xdp.len() as u64).div_ceil(every);
    assert_eq!(
        latency["stages"]["xdp_to_pickup"]["sampled"], sampled,
        "{report:#}"
    );
    let encoded = latency["histograms"]["xdp_to_pickup"].as_str().unwrap();
    let pickup = ingest::daemon::decode_histogram(encoded).unwrap();
    assert_eq!(pickup.len(), sampled);
    assert_eq!(
        latency["stages"]["parse"]["count"], report["messages_received_total"],
        "every message's parse is timed, on every path"
    );
    assert!(
        latency["stages"]["receive"]["count"].as_u64().unwrap() >= expect_xdp.len() as u64,
        "every message taken off the AF_XDP ring has its receive timed: {report:#}"
    );
}
