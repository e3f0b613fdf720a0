//! Workers and the kernel socket path between two namespaces:
//! - two queues, one AF_XDP worker each, busy-polling: flows spread over both, nothing is lost;
//! - `--backend socket`: UDP (IPv4 and IPv6) and TCP syslog in both RFC 6587 framings, with an
//!   over-long message and a connection cut mid-message counted as named drops, and a per-port
//!   parse format.
//!
//! Runs as root (CI does). Skips, saying why, only on a kernel without BPF or AF_XDP.

use std::{
    io::Write,
    net::{IpAddr, SocketAddr, TcpStream, UdpSocket},
    time::Duration,
};

use crate::common::{
    Ingest, Outcome, TempDir, drops_total, test_network, test_network_with_queues,
};
use testbed::netns::{self, VethPair};

#[test]
fn two_queues_two_busy_polling_workers() {
    let Some(pair) = test_network_with_queues(2) else {
        return;
    };
    let ingest = Ingest::start(
        &pair,
        "two-queues",
        &["--queues", "0,1", "--mode", "busy-poll"],
    );
    let workers = ingest.ready["workers"].as_array().unwrap();
    assert_eq!(workers.len(), 3, "two AF_XDP workers and the socket path");
    for w in &workers[..2] {
        assert_eq!(w["kind"], "xdp", "{w}");
        assert_eq!(w["mode"], "busy-poll", "{w}");
        assert!(
            w["busy_poll"].is_object(),
            "busy-poll options reported: {w}"
        );
    }

    // 64 flows (source ports): the sender's transmit queue, and so the receive queue on the
    // other end, follows the flow hash.
    let flows = 64;
    VethPair::run_in(&pair.ns_a, || {
        for i in 0..flows {
            let sock = UdpSocket::bind(SocketAddr::new(IpAddr::V4(netns::ADDR_A), 0))?;
            sock.send_to(format!("<14>flow {i}").as_bytes(), (netns::ADDR_B, 514))?;
        }
        std::io::Result::Ok(())
    })
    .unwrap()
    .unwrap();

    let Outcome {
        messages, report, ..
    } = ingest.stop_after(flows);
    assert_eq!(messages.len(), flows);
    assert_eq!(
        report["messages_received_xdp_total"], flows as u64,
        "{report:#}"
    );
    assert_eq!(drops_total(&report), 0, "{report:#}");
    let queues = report["queues"].as_array().unwrap();
    assert_eq!(queues.len(), 2);
    for q in queues {
        assert!(
            q["messages"].as_u64().unwrap() > 0,
            "64 flows land on both queues: {report:#}"
        );
    }
    let workers_seen: std::collections::BTreeSet<_> = messages
        .iter()
        .map(|m| m["worker"].as_u64().unwrap())
        .collect();
    assert_eq!(workers_seen.into_iter().collect::<Vec<_>>(), vec![0, 1]);
}

fn tcp_send(ns: &str, chunks: &[&[u8]]) {
    VethPair::run_in(ns, || {
        let mut s = TcpStream::connect((netns::ADDR_B, 514))?;
        for c in chunks {
            s.write_all(c)?;
            s.flush()?;
            // Separate segments, so messages span reads.
            std::thread::sleep(Duration::from_millis(20));
        }
        std::io::Result::Ok(())
    })
    .unwrap()
    .unwrap_or_else(|e| panic!("TCP send: {e}"));
}

#[test]
fn socket_backend_udp_and_tcp() {
    let Some(pair) = test_network() else {
        return;
    };
    let ingest = Ingest::start(
        &pair,
        "socket-backend",
        &[
            "--backend",
            "socket",
            "--tcp-max-message",
            "100",
            "--format-for",
            "514=raw",
        ],
    );
    assert_eq!(ingest.ready["backend"], "socket");
    assert_eq!(ingest.ready["xdp_mode"], serde_json::Value::Null);

    VethPair::run_in(&pair.ns_a, || {
        let s4 = UdpSocket::bind((netns::ADDR_A, 0))?;
        let s6 = UdpSocket::bind((netns::ADDR6_A, 0))?;
        for i in 0..3 {
            s4.send_to(format!("<14>udp4 {i}").as_bytes(), (netns::ADDR_B, 514))?;
        }
        s6.send_to(b"<14>udp6 0", (netns::ADDR6_B, 514))?;
        std::io::Result::Ok(())
    })
    .unwrap()
    .unwrap();

    // Octet counting, split inside the count and inside a message.
    tcp_send(&pair.ns_a, &[b"12 <14>tcp oc 0", b"12 <14>t", b"cp oc 1"]);
    // LF framing with CRLF, and a 150-byte line over the 100-byte limit in between.
    let long = format!("<14>{}\n", "y".repeat(146));
    tcp_send(
        &pair.ns_a,
        &[b"<14>tcp lf 0\r\n", long.as_bytes(), b"<14>tcp lf 1\n"],
    );
    // A connection that ends in the middle of a message.
    tcp_send(&pair.ns_a, &[b"<14>tcp lf 2\n<14>cut sh"]);

    let expected = 4 + 2 + 2 + 1;
    let Outcome {
        messages,
        lines,
        report,
    } = ingest.stop_after(expected);
    let texts: Vec<&str> = messages
        .iter()
        .map(|m| m["message"].as_str().unwrap())
        .collect();
    for want in [
        "<14>udp4 0",
        "<14>udp4 1",
        "<14>udp4 2",
        "<14>udp6 0",
        "<14>tcp oc 0",
        "<14>tcp oc 1",
        "<14>tcp lf 0",
        "<14>tcp lf 1",
        "<14>tcp lf 2",
    ] {
        assert!(texts.contains(&want), "{want:?} missing: {lines:#?}");
    }
    assert_eq!(messages.len(), expected, "{lines:#?}");
    for m in &messages {
        assert_eq!(m["parsed"]["format"], "raw", "--format-for 514=raw: {m}");
        let path = if m["message"].as_str().unwrap().contains("tcp") {
            "tcp"
        } else {
            "udp"
        };
        assert_eq!(m["path"], path, "{m}");
    }
    let udp6 = messages
        .iter()
        .find(|m| m["message"] == "<14>udp6 0")
        .unwrap();
    assert!(udp6["src"].as_str().unwrap().starts_with("[2001:2::1]:"));
    let udp4 = messages
        .iter()
        .find(|m| m["message"] == "<14>udp4 0")
        .unwrap();
    assert!(
        udp4["src"].as_str().unwrap().starts_with("198.18.0.1:"),
        "IPv4 senders are shown as IPv4, not mapped: {udp4}"
    );

    assert_eq!(report["xdp"], serde_json::Value::Null);
    assert_eq!(report["messages_received_xdp_total"], 0);
    assert_eq!(report["messages_received_udp_total"], 4, "{report:#}");
    assert_eq!(report["messages_received_tcp_total"], 5, "{report:#}");
    assert_eq!(report["tcp"]["connections_accepted"], 3, "{report:#}");
    let drops = &report["drops"];
    assert_eq!(drops["tcp_dropped_too_long"], 1, "{report:#}");
    assert_eq!(drops["tcp_dropped_partial_at_close"], 1, "{report:#}");
    assert_eq!(drops["udp_dropped_socket"], 0, "{report:#}");
    assert_eq!(drops_total(&report), 2, "{report:#}");
}

#[test]
fn a_config_file_with_flags_over_it() {
    let Some(pair) = test_network() else {
        return;
    };
    let config = std::env::temp_dir().join(format!("ingest-config-{}.toml", std::process::id()));
    std::fs::write(
        &config,
        "iface = \"nosuch0\"\nbackend = \"socket\"\nqueues = [0, 1]\nports = [5514]\ntcp = false\n",
    )
    .unwrap();
    // --iface and --ports on the command line win over the file.
    let ingest = Ingest::start(
        &pair,
        "config",
        &["--config", config.to_str().unwrap(), "--ports", "514"],
    );
    assert_eq!(
        ingest.ready["backend"], "socket",
        "from the file: {}",
        ingest.ready
    );
    let workers = ingest.ready["workers"].as_array().unwrap();
    assert_eq!(workers.len(), 2, "two queues from the file");
    assert!(
        workers.iter().all(|w| w["tcp"] == false),
        "tcp = false from the file"
    );
    VethPair::run_in(&pair.ns_a, || {
        UdpSocket::bind((netns::ADDR_A, 0))?.send_to(b"<14>via 514", (netns::ADDR_B, 514))
    })
    .unwrap()
    .unwrap();
    let Outcome { messages, .. } = ingest.stop_after(1);
    std::fs::remove_file(&config).unwrap();
    assert_eq!(
        messages.len(),
        1,
        "port 514 from the flag, not 5514 from the file"
    );
}

#[test]
fn after_start_the_daemon_holds_no_privileges() {
    let Some(pair) = test_network() else {
        return;
    };
    // A sink whose receiver is not there: its alert must wait in a spool the dropped user can
    // still write.
    let tmp = TempDir::new("user");
    let dir = &tmp.0;
    let config = dir.join("ingest.toml");
    std::fs::write(
        &config,
        format!(
            "[[sink]]\nkind = \"syslog\"\nname = \"siem\"\naddress = \"{}:6514\"\nspool_dir = \"{}\"\n",
            netns::ADDR_A,
            dir.join("spool").display()
        ),
    )
    .unwrap();
    let rules = concat!(env!("CARGO_MANIFEST_DIR"), "/../detector/rules/sigma-linux");
    let ingest = Ingest::start(
        &pair,
        "user",
        &[
            "--user",
            "nobody",
            "--config",
            config.to_str().unwrap(),
            "--rules",
            rules,
        ],
    );
    assert_eq!(ingest.ready["user"], "nobody", "{}", ingest.ready);
    let status = std::fs::read_to_string(format!("/proc/{}/status", ingest.pid())).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name} in {status}"))
            .split_whitespace()
            .skip(1)
            .collect::<Vec<_>>()
    };
    assert!(field("Uid:").iter().all(|id| *id == "65534"), "{status}");
    for caps in ["CapPrm:", "CapEff:", "CapAmb:"] {
        assert_eq!(field(caps), ["0000000000000000"], "{caps} {status}");
    }
    // And it still works: a message arrives through AF_XDP, raises an alert that is spooled,
    // and it stops and reports cleanly.
    let shellshock = "<13>Nov 22 10:00:00 web1 httpd[3]: GET /cgi-bin/x UA: () { :; }; /bin/id";
    VethPair::run_in(&pair.ns_a, || {
        UdpSocket::bind((netns::ADDR_A, 0))?.send_to(shellshock.as_bytes(), (netns::ADDR_B, 514))
    })
    .unwrap()
    .unwrap();
    let Outcome {
        messages, report, ..
    } = ingest.stop_after(2);
    assert_eq!(messages.len(), 1);
    assert_eq!(report["messages_received_xdp_total"], 1, "{report:#}");
    let sink = &report["sinks"][0];
    assert_eq!(
        (&sink["spooled"], &sink["dropped_undeliverable"]),
        (&1.into(), &0.into()),
        "{sink}"
    );
}
