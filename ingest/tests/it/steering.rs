//! Steering decisions on real traffic between two namespaces: IPv4, IPv6, a denied source, and
//! datagrams the kernel fragments (IPv4 and IPv6), which XDP passes on and the socket path
//! receives once the kernel has reassembled them. Each kind must take its path, and the counters
//! must say so exactly.
//!
//! VLAN-tagged frames are not sent here: this kernel has no 802.1Q support to make VLAN devices
//! with, so they need a raw frame sender. The header walk that handles tags is the same code in
//! the XDP program and in user space, and its unit tests cover one and two tags.
//!
//! Runs as root (CI does). Skips, saying why, only on a kernel without BPF or AF_XDP.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};

use crate::common::{Ingest, Outcome, drops_total, test_network};
use serde_json::Value;
use testbed::netns::{self, VethPair};

const DENIED_SRC: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 66);

fn send(ns: &str, from: IpAddr, to: SocketAddr, payloads: &[Vec<u8>]) {
    VethPair::run_in(ns, || {
        let sock = UdpSocket::bind(SocketAddr::new(from, 0))?;
        for p in payloads {
            sock.send_to(p, to)?;
        }
        std::io::Result::Ok(())
    })
    .unwrap()
    .unwrap_or_else(|e| panic!("sending from {from} to {to}: {e}"));
}

#[test]
fn each_kind_of_frame_takes_its_path() {
    let Some(pair) = test_network() else {
        return;
    };
    pair.add_address(&pair.ns_a, &format!("{DENIED_SRC}/24"))
        .unwrap();

    let ingest = Ingest::start(&pair, "steering", &["--deny-source", "198.18.0.64/26"]);
    assert_eq!(ingest.ready["xdp_mode"], "native", "{}", ingest.ready);

    let msg = |tag: &str, i: usize| format!("<14>1 - host app - - - {tag} {i}").into_bytes();
    let plain: Vec<_> = (0..3).map(|i| msg("v4", i)).collect();
    let v6: Vec<_> = (0..2).map(|i| msg("v6", i)).collect();
    let denied: Vec<_> = (0..2).map(|i| msg("denied", i)).collect();
    // 3000 bytes: three fragments over a 1500-byte MTU, in IPv4 (1480 per fragment) and IPv6
    // (1448 per fragment).
    let big = vec![b'x'; 3000];

    let a = IpAddr::V4(netns::ADDR_A);
    send(
        &pair.ns_a,
        a,
        SocketAddr::new(netns::ADDR_B.into(), 514),
        &plain,
    );
    let a6 = IpAddr::V6(netns::ADDR6_A);
    send(
        &pair.ns_a,
        a6,
        SocketAddr::new(netns::ADDR6_B.into(), 514),
        &v6,
    );
    send(
        &pair.ns_a,
        DENIED_SRC.into(),
        SocketAddr::new(netns::ADDR_B.into(), 514),
        &denied,
    );
    send(
        &pair.ns_a,
        a,
        SocketAddr::new(netns::ADDR_B.into(), 514),
        std::slice::from_ref(&big),
    );
    send(
        &pair.ns_a,
        a6,
        SocketAddr::new(netns::ADDR6_B.into(), 514),
        std::slice::from_ref(&big),
    );

    let steered = plain.len() + v6.len();
    // The two fragmented datagrams go to the kernel, which reassembles them for the socket path.
    let expected = steered + 2;
    let Outcome {
        messages,
        lines,
        report,
    } = ingest.stop_after(expected);
    let find = |payload: &[u8]| {
        messages
            .iter()
            .find(|m| m["message"].as_str().unwrap().as_bytes() == payload)
            .unwrap_or_else(|| {
                panic!(
                    "{:?} not received: {lines:#?}",
                    String::from_utf8_lossy(payload)
                )
            })
    };
    for p in &plain {
        let m = find(p);
        assert_eq!(m["vlan"], Value::Null);
        assert!(m["src"].as_str().unwrap().starts_with("198.18.0.1:"));
    }
    for p in &v6 {
        let m = find(p);
        assert!(
            m["src"].as_str().unwrap().starts_with("[2001:2::1]:"),
            "{m}"
        );
    }
    for p in plain.iter().chain(&v6) {
        assert_eq!(find(p)["path"], "xdp");
    }
    let reassembled: Vec<_> = messages.iter().filter(|m| m["path"] == "udp").collect();
    assert_eq!(reassembled.len(), 2, "{lines:#?}");
    for m in &reassembled {
        assert_eq!(m["len"], big.len() as u64, "{m}");
        assert_eq!(m["truncated"], true, "printing copies the first 2048 bytes");
        assert!(m["message"].as_str().unwrap().bytes().all(|b| b == b'x'));
    }
    let sources: Vec<_> = reassembled
        .iter()
        .map(|m| m["src"].as_str().unwrap())
        .collect();
    assert!(
        sources.iter().any(|s| s.starts_with("198.18.0.1:"))
            && sources.iter().any(|s| s.starts_with("[2001:2::1]:")),
        "one IPv4 and one IPv6 datagram: {sources:?}"
    );
    assert_eq!(
        messages.len(),
        expected,
        "only the steered kinds and the reassembled datagrams arrive: {lines:#?}"
    );

    let xdp = &report["xdp"];
    assert_eq!(xdp["xdp_steered"], steered as u64, "{report:#}");
    assert_eq!(
        report["messages_received_xdp_total"], steered as u64,
        "{report:#}"
    );
    assert_eq!(report["messages_received_socket_total"], 2, "{report:#}");
    assert_eq!(
        report["messages_received_total"], expected as u64,
        "{report:#}"
    );
    assert_eq!(xdp["xdp_dropped_denied"], denied.len() as u64, "{report:#}");
    assert_eq!(
        xdp["xdp_passed_fragment"], 6,
        "3 IPv4 + 3 IPv6 fragments: {report:#}"
    );
    assert_eq!(xdp["xdp_dropped_malformed"], 0, "{report:#}");
    assert_eq!(xdp["xdp_passed_no_socket"], 0, "{report:#}");
    let total = drops_total(&report);
    assert_eq!(
        total,
        denied.len() as u64,
        "the only drops are the denied source's: {report:#}"
    );
    assert_eq!(report["drops"]["xdp_dropped_denied"], denied.len() as u64);
}

/// The filter bypass: a denied source's datagrams that travel as IP fragments were passed to
/// the kernel before the source check and received, and `--backend socket` had no filter at
/// all. Now every path judges every datagram, fragment and connection of a denied sender, and
/// counts each one it drops.
#[test]
fn a_denied_source_is_dropped_on_every_path_fragments_included() {
    for backend in ["xdp", "socket"] {
        let Some(pair) = test_network() else {
            return;
        };
        denied_source_on(&pair, backend);
    }
}

fn denied_source_on(pair: &VethPair, backend: &str) {
    const DENIED6: &str = "2001:2::66";
    pair.add_address(&pair.ns_a, &format!("{DENIED_SRC}/24"))
        .unwrap();
    pair.add_address(&pair.ns_a, &format!("{DENIED6}/64"))
        .unwrap();
    let denied6: IpAddr = DENIED6.parse().unwrap();
    let name = format!("denied-{backend}");
    let ingest = Ingest::start(
        pair,
        &name,
        &[
            "--backend",
            backend,
            "--deny-source",
            &format!("{DENIED_SRC}/32,{DENIED6}/128"),
        ],
    );
    let to4 = SocketAddr::new(netns::ADDR_B.into(), 514);
    let to6 = SocketAddr::new(netns::ADDR6_B.into(), 514);
    let small: Vec<Vec<u8>> = (0..20)
        .map(|i| format!("<14>1 - attacker app - - - small {i}").into_bytes())
        .collect();
    // 4,000 bytes: three fragments over a 1500-byte MTU, in IPv4 and in IPv6.
    let big: Vec<Vec<u8>> = (0..10)
        .map(|i| {
            let mut m = format!("<14>1 - attacker app - - - big {i} ").into_bytes();
            m.resize(4000, b'x');
            m
        })
        .collect();
    send(&pair.ns_a, DENIED_SRC.into(), to4, &small);
    send(&pair.ns_a, DENIED_SRC.into(), to4, &big);
    send(&pair.ns_a, denied6, to6, &small);
    send(&pair.ns_a, denied6, to6, &big);
    // A denied sender's TCP connection is closed unread.
    VethPair::run_in(&pair.ns_a, || {
        use std::io::Write;
        let mut sock = tcp_from(DENIED_SRC.into(), to4)?;
        // The write fails if ingest has closed the connection already; either way nothing may
        // arrive.
        let _ = sock.write_all(b"<14>1 - attacker app - - - over tcp\n");
        std::io::Result::Ok(())
    })
    .unwrap()
    .expect("connecting from the denied source");
    // The allowed sender, for contrast: small and fragmented, both arrive.
    let allowed: Vec<Vec<u8>> = vec![b"<14>1 - friend app - - - hello".to_vec(), {
        let mut m = b"<14>1 - friend app - - - long ".to_vec();
        m.resize(4000, b'y');
        m
    }];
    send(&pair.ns_a, netns::ADDR_A.into(), to4, &allowed);

    let Outcome {
        messages,
        lines,
        report,
    } = ingest.stop_after(allowed.len());
    assert_eq!(
        messages.len(),
        allowed.len(),
        "{backend}: only the allowed sender's messages arrive: {lines:#?}"
    );
    for m in &messages {
        assert!(
            m["src"].as_str().unwrap().starts_with("198.18.0.1:"),
            "{backend}: {m}"
        );
    }
    let denied_datagrams = 2 * (small.len() + big.len()) as u64;
    let drops = &report["drops"];
    match backend {
        "xdp" => {
            assert_eq!(
                drops["xdp_dropped_denied"],
                2 * small.len() as u64,
                "{report:#}"
            );
            assert_eq!(
                drops["xdp_dropped_denied_fragment"],
                2 * big.len() as u64,
                "one first fragment per datagram, IPv4 and IPv6: {report:#}"
            );
            assert_eq!(
                report["xdp"]["xdp_dropped_denied_fragment_tail"],
                2 * 2 * big.len() as u64,
                "and two more fragments each: {report:#}"
            );
            assert_eq!(drops["udp_dropped_denied"], 0, "{report:#}");
        }
        _ => {
            assert_eq!(drops["udp_dropped_denied"], denied_datagrams, "{report:#}");
            assert_eq!(report["xdp"], Value::Null, "{report:#}");
        }
    }
    assert_eq!(report["tcp"]["connections_denied"], 1, "{report:#}");
    assert_eq!(report["tcp"]["connections_accepted"], 0, "{report:#}");
    let named: u64 = [
        "xdp_dropped_denied",
        "xdp_dropped_denied_fragment",
        "udp_dropped_denied",
    ]
    .iter()
    .map(|k| drops[k].as_u64().unwrap_or(0))
    .sum();
    assert_eq!(
        drops_total(&report),
        named,
        "{backend}: the denied sender's are the only drops: {report:#}"
    );
    assert_eq!(
        report["messages_received_total"],
        allowed.len() as u64,
        "{report:#}"
    );
}

/// A TCP connection from `from` to `to`.
fn tcp_from(from: IpAddr, to: SocketAddr) -> std::io::Result<std::net::TcpStream> {
    // std has no bind-then-connect for TCP: a raw socket through nix.
    use nix::sys::socket::{
        AddressFamily, SockFlag, SockType, SockaddrStorage, bind, connect, socket,
    };
    let family = if from.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    let fd = socket(family, SockType::Stream, SockFlag::SOCK_CLOEXEC, None)?;
    bind(
        std::os::fd::AsRawFd::as_raw_fd(&fd),
        &SockaddrStorage::from(SocketAddr::new(from, 0)),
    )?;
    connect(
        std::os::fd::AsRawFd::as_raw_fd(&fd),
        &SockaddrStorage::from(to),
    )?;
    Ok(std::net::TcpStream::from(fd))
}
