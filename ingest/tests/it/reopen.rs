//! A queue whose AF_XDP socket the kernel unbinds (its interface leaves the namespace and comes
//! back) gets a new socket: the worker sees its kicks refused, reads what its ring still held,
//! opens a new socket once the interface is back, and the daemon puts it in the XSKMAP. Until
//! then the queue's packets go to the kernel's socket path, so none is lost, and once it is
//! steered to, messages arrive on the AF_XDP path again.
//!
//! Runs as root (CI does). Skips, saying why, only on a kernel without BPF or AF_XDP.

use std::{
    net::{SocketAddr, UdpSocket},
    time::Duration,
};

use crate::common::{Ingest, Outcome, drops_total, scrape_until, test_network};
use testbed::netns::{self, VethPair};

const METRICS: &str = "127.0.0.1:9481";

fn send(pair: &VethPair, numbers: std::ops::Range<u32>) {
    VethPair::run_in(&pair.ns_a, || {
        let sock = UdpSocket::bind(SocketAddr::new(netns::ADDR_A.into(), 0))?;
        for i in numbers {
            let line = format!("<14>1 - host app - - - reopen {i}");
            sock.send_to(line.as_bytes(), SocketAddr::new(netns::ADDR_B.into(), 514))?;
        }
        std::io::Result::Ok(())
    })
    .unwrap()
    .expect("sending");
}

fn xdp_received(s: &ingest::metrics::Scrape) -> f64 {
    s.sum("ingest_messages_received_total", &[("path", "xdp")])
}

#[test]
fn a_socket_the_kernel_unbound_is_opened_again_and_nothing_is_lost() {
    for mode in ["poll", "busy-poll"] {
        let Some(pair) = test_network() else {
            return;
        };
        let ingest = Ingest::start(
            &pair,
            "reopen",
            &["--mode", mode, "--metrics-addr", METRICS],
        );
        assert_eq!(ingest.ready["xdp_mode"], "native", "{}", ingest.ready);
        let wait = Duration::from_secs(10);

        send(&pair, 0..3);
        scrape_until(&pair, METRICS, "3 on the AF_XDP path", wait, |s| {
            xdp_received(s) == 3.0
        });

        // Away long enough for the worker to give the socket up (100 ms of refused kicks).
        pair.move_b_away_and_back(Duration::from_millis(800))
            .expect("moving the interface away and back");

        // One message at a time until one arrives on the AF_XDP path again: the ones before
        // took the kernel's socket path.
        let mut sent = 3;
        let deadline = std::time::Instant::now() + wait;
        loop {
            send(&pair, sent..sent + 1);
            sent += 1;
            let s = scrape_until(&pair, METRICS, "the message received", wait, |s| {
                s.sum("ingest_messages_received_total", &[]) == f64::from(sent)
            });
            if xdp_received(&s) > 3.0 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{mode}: the AF_XDP path never came back: {s:#?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }

        let Outcome {
            messages, report, ..
        } = ingest.stop_after(sent as usize);
        assert_eq!(messages.len(), sent as usize, "{mode}: {report:#}");
        assert_eq!(
            report["messages_received_total"], sent,
            "{mode}: {report:#}"
        );
        assert_eq!(drops_total(&report), 0, "{mode}: {report:#}");
        let queue = &report["queues"][0];
        assert_eq!(queue["socket_reopens"], 1, "{mode}: {queue:#}");
        assert!(
            queue["xsk"]["kick_errors"].as_u64().unwrap() >= 3,
            "{mode}: the refusals are counted: {queue:#}"
        );
        // The ring counters carried on over the new socket.
        assert_eq!(
            queue["xsk"]["frames_received"], report["messages_received_xdp_total"],
            "{mode}: {queue:#}"
        );
    }
}
