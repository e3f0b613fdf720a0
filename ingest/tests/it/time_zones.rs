//! BSD timestamps name no zone: `ingest run` reads them in the zone configured for the sender's
//! source prefix, else for the port, else the default.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};

use testbed::netns::{self, VethPair};

use crate::common::{Ingest, test_network};

/// A sender with a zone of its own (Asia/Tokyo: +09:00, no daylight saving time).
const TOKYO_SRC: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 77);

#[test]
fn bsd_timestamps_are_read_in_the_zone_of_their_source_or_port() {
    let Some(pair) = test_network() else {
        return;
    };
    pair.add_address(&pair.ns_a, &format!("{TOKYO_SRC}/24"))
        .unwrap();
    let ingest = Ingest::start(
        &pair,
        "time-zones",
        &[
            "--backend",
            "socket",
            "--ports",
            "514,5514",
            "--timezone",
            "+01:00",
            "--timezone-for",
            "5514=-05:00",
            "--timezone-for",
            &format!("{TOKYO_SRC}/32=Asia/Tokyo"),
        ],
    );
    // 22:14:15 on the senders' clocks, a year written so the reading does not depend on today.
    let msg = b"<13>Oct 11 2025 22:14:15 dev app: hello";
    let utc_s: i64 = 1_760_220_855; // 2025-10-11T22:14:15Z
    let sends: [(Ipv4Addr, u16, i64); 4] = [
        (netns::ADDR_A, 514, utc_s - 3600),
        (netns::ADDR_A, 5514, utc_s + 5 * 3600),
        (TOKYO_SRC, 514, utc_s - 9 * 3600),
        (TOKYO_SRC, 5514, utc_s - 9 * 3600),
    ];
    for (from, port, _) in sends {
        VethPair::run_in(&pair.ns_a, || {
            let sock = UdpSocket::bind(SocketAddr::new(IpAddr::V4(from), 0))?;
            sock.send_to(msg, SocketAddr::new(netns::ADDR_B.into(), port))
        })
        .unwrap()
        .unwrap();
    }
    let out = ingest.stop_after(sends.len());
    assert_eq!(out.messages.len(), sends.len(), "{:#?}", out.lines);
    for (from, port, want) in sends {
        let m = out
            .messages
            .iter()
            .find(|m| {
                m["dst_port"] == port
                    && m["src"]
                        .as_str()
                        .is_some_and(|s| s.starts_with(&format!("{from}:")))
            })
            .unwrap_or_else(|| panic!("no message from {from} to {port}: {:#?}", out.lines));
        assert_eq!(
            m["parsed"]["timestamp_ns"].as_i64(),
            Some(want * 1_000_000_000),
            "from {from} to port {port}: {m}"
        );
    }
}
