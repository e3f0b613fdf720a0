//! The first packet, for real: two network namespaces joined by veth, the XDP program attached
//! on the receiving end, syslog datagrams sent from the other end.
//!
//! Asserts that the log datagrams arrive intact through AF_XDP (exact bytes, in order), that the
//! kernel path still works (ping is answered, a datagram to another port reaches a kernel socket
//! and not AF_XDP), and that the counters account for every log datagram.
//!
//! Runs as root (CI does). Skips, saying why, only on a kernel without BPF or AF_XDP.

use std::{
    net::{SocketAddrV4, UdpSocket},
    process::Stdio,
    time::Duration,
};

use crate::common::{Ingest, Outcome, drops_total, test_network};
use testbed::netns::{self, VethPair};

const LOG_PORT: u16 = 514;
const OTHER_PORT: u16 = 9999;

/// Payloads sent to the log port, chosen to catch framing mistakes: the shortest message
/// (its frame gets Ethernet padding), RFC 5424 and RFC 3164 forms, structured data with escapes,
/// and one near the MTU.
fn log_payloads() -> Vec<Vec<u8>> {
    let mut payloads: Vec<Vec<u8>> = vec![
        b"<0>".to_vec(),
        b"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - 'su root' failed for lonvick on /dev/pts/8".to_vec(),
        b"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"] An application event log entry...".to_vec(),
        b"<13>Feb  5 17:32:18 10.0.0.99 sshd[24200]: Failed password for invalid user admin from 198.18.0.1 port 22 ssh2".to_vec(),
        b"<86>1 - host app - - [x@1 k=\"a\\\"b\\\\c\\]d\"] escapes".to_vec(),
        b"<14>trailing newline\n".to_vec(),
    ];
    let mut big = b"<14>1 - big - - - - ".to_vec();
    big.resize(1400, b'x');
    payloads.push(big);
    payloads
}

#[test]
fn syslog_reaches_af_xdp_and_everything_else_the_kernel() {
    let Some(pair) = test_network() else {
        return;
    };
    let target = SocketAddrV4::new(netns::ADDR_B, LOG_PORT);

    // A kernel socket on another port in the receiving namespace: it must get its datagram.
    let other = VethPair::run_in(&pair.ns_b, || {
        UdpSocket::bind(SocketAddrV4::new(netns::ADDR_B, OTHER_PORT))
    })
    .unwrap()
    .expect("binding the kernel UDP socket");
    other
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();

    let ingest = Ingest::start(&pair, "first-packet", &[]);
    assert_eq!(
        ingest.ready["xdp_mode"], "native",
        "veth supports native XDP: {}",
        ingest.ready
    );

    // Send from the other namespace, with exact bytes we can compare.
    let payloads = log_payloads();
    VethPair::run_in(&pair.ns_a, || {
        let sock = UdpSocket::bind(SocketAddrV4::new(netns::ADDR_A, 0))?;
        for p in &payloads {
            sock.send_to(p, target)?;
        }
        sock.send_to(
            b"<14>not for the log port",
            SocketAddrV4::new(netns::ADDR_B, OTHER_PORT),
        )?;
        std::io::Result::Ok(())
    })
    .unwrap()
    .expect("sending datagrams");

    // And one from a real syslog client.
    let marker = format!("first-packet-{}", std::process::id());
    let logger = VethPair::command(&pair.ns_a, "logger")
        .args([
            "--udp",
            "--rfc5424",
            "-n",
            &netns::ADDR_B.to_string(),
            "-P",
            "514",
            "-t",
            "itest",
        ])
        .arg(&marker)
        .status()
        .expect("running logger");
    assert!(logger.success(), "logger failed: {logger}");

    let ping = VethPair::command(&pair.ns_a, "ping")
        .args(["-c", "1", "-W", "5", &netns::ADDR_B.to_string()])
        .stdout(Stdio::null())
        .status()
        .expect("running ping");
    assert!(
        ping.success(),
        "ping through the kernel path was not answered"
    );

    let mut buf = [0u8; 2048];
    let (n, from) = other
        .recv_from(&mut buf)
        .expect("the kernel socket got nothing");
    assert_eq!(&buf[..n], b"<14>not for the log port");
    assert_eq!(from.ip(), netns::ADDR_A);

    // Collect what ingest printed, then stop it the way an operator would.
    let expected = payloads.len() + 1;
    let Outcome {
        messages,
        lines,
        report,
    } = ingest.stop_after(expected);
    assert_eq!(messages.len(), expected, "messages printed: {lines:#?}");
    for (got, sent) in messages.iter().zip(&payloads) {
        assert_eq!(got["message"].as_str().unwrap().as_bytes(), sent.as_slice());
        assert_eq!(got["dst_port"], LOG_PORT);
        assert_eq!(
            got["src"].as_str().unwrap().split(':').next().unwrap(),
            netns::ADDR_A.to_string()
        );
    }
    let from_logger = messages.last().unwrap()["message"].as_str().unwrap();
    assert!(
        from_logger.starts_with("<13>1 "),
        "logger sends RFC 5424 user.notice: {from_logger}"
    );
    assert!(from_logger.ends_with(&marker), "{from_logger}");
    assert!(
        messages
            .iter()
            .all(|m| m["message"] != "<14>not for the log port")
    );

    // Accounting: every log datagram was steered and received, nothing dropped.
    let xdp = &report["xdp"];
    assert_eq!(xdp["xdp_steered"], expected as u64, "{report:#}");
    assert_eq!(
        report["messages_received_xdp_total"], expected as u64,
        "{report:#}"
    );
    let drops = drops_total(&report);
    assert_eq!(drops, 0, "{report:#}");
    assert!(
        xdp["xdp_passed_not_log_port"].as_u64().unwrap() >= 1,
        "{report:#}"
    );
    assert!(
        xdp["xdp_passed_not_udp"].as_u64().unwrap() >= 1,
        "the ping's echo request: {report:#}"
    );
    assert!(
        xdp["xdp_passed_not_ip"].as_u64().unwrap() >= 1,
        "ARP: {report:#}"
    );
    assert_eq!(xdp["xdp_passed_no_socket"], 0, "{report:#}");
    assert_eq!(xdp["xdp_dropped_malformed"], 0, "{report:#}");
}
