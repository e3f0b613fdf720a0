//! The metrics endpoint and `ingest status` on a running appliance: live traffic through AF_XDP
//! with a denied sender and rules that fire; the scrape must account for every packet, name
//! every drop, count alerts by rule, carry latency and top sources, be well-formed, and agree
//! with the final report.
//!
//! Runs as root (CI does). Skips, saying why, only on a kernel without BPF or AF_XDP.

use std::{collections::BTreeSet, net::UdpSocket, time::Duration};

use crate::common::{Ingest, Outcome, drops_total, scrape_until, test_network};
use ingest::metrics::{self, Scrape};
use testbed::netns::{self, VethPair};

const RULES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../detector/rules");
const FAILED: &str =
    "<38>Nov 22 10:00:00 web1 sshd[9]: Failed password for root from 203.0.113.5 port 4711 ssh2";
const SHELLSHOCK: &str = "<13>Nov 22 10:00:00 web1 httpd[3]: GET /cgi-bin/x UA: () { :; }; /bin/id";
const DENIED: &str = "198.18.0.66";
const ADDR: &str = "127.0.0.1:9514";

#[test]
fn the_endpoint_accounts_for_every_packet_and_status_reads_it() {
    let Some(pair) = test_network() else {
        return;
    };
    pair.add_address(&pair.ns_a, &format!("{DENIED}/24"))
        .unwrap();
    let ingest = Ingest::start(
        &pair,
        "metrics",
        &[
            "--rules",
            RULES,
            "--deny-source",
            &format!("{DENIED}/32"),
            "--metrics-addr",
            ADDR,
        ],
    );
    assert_eq!(ingest.ready["xdp_mode"], "native", "{}", ingest.ready);
    let (allowed, denied) = (200u64, 7u64);
    VethPair::run_in(&pair.ns_a, || {
        let sock = UdpSocket::bind((netns::ADDR_A, 0))?;
        for i in 0..allowed {
            let m = match i {
                0 => SHELLSHOCK.to_string(),
                1..=8 => FAILED.to_string(),
                _ => format!("<14>Nov 22 10:00:00 web1 app[1]: hello {i}"),
            };
            sock.send_to(m.as_bytes(), (netns::ADDR_B, 514))?;
        }
        let other = UdpSocket::bind((DENIED, 0))?;
        for _ in 0..denied {
            other.send_to(b"<14>denied", (netns::ADDR_B, 514))?;
        }
        std::io::Result::Ok(())
    })
    .unwrap()
    .unwrap();

    let drop_of = |s: &Scrape, reason: &str| {
        s.sum("ingest_packets_dropped_total", &[("reason", reason)]) as u64
    };
    // Counters arrive per batch; detector state, top sources and latency every 200 ms.
    let scrape = scrape_until(&pair, ADDR, "every counter", Duration::from_secs(10), |s| {
        s.sum("ingest_messages_received_total", &[]) as u64 == allowed
            && drop_of(s, "xdp_dropped_denied") == denied
            && s.sum("ingest_rule_alerts_raised_total", &[]) as u64 == 2
            && s.sum(
                "ingest_latency_seconds_count",
                &[("stage", "xdp_to_detected")],
            ) as u64
                == allowed
            && s.sum("ingest_detector_keys", &[("table", "threshold")]) >= 1.0
    });

    // Accounting: everything sent is received or a named drop, and nothing else was dropped.
    let received = scrape.sum("ingest_messages_received_total", &[("path", "xdp")]) as u64;
    let drops = scrape.sum("ingest_packets_dropped_total", &[]) as u64;
    assert_eq!((received, drops), (allowed, denied), "{scrape:#?}");
    assert_eq!(
        scrape.sum("ingest_queue_messages_received_total", &[("queue", "0")]) as u64,
        allowed
    );
    assert_eq!(
        scrape.sum("ingest_messages_parsed_total", &[])
            + scrape.sum("ingest_messages_parse_failed_total", &[]),
        allowed as f64
    );
    assert_eq!(
        scrape.sum(
            "ingest_xdp_packets_decided_total",
            &[("decision", "steered")]
        ) as u64,
        allowed
    );

    // Modes: the queue's worker, copy mode on veth.
    let queue = scrape.all("ingest_queue_info").next().expect("queue info");
    assert_eq!(queue.label("bind"), Some("copy"));
    assert_eq!(queue.label("zero_copy"), Some("false"));
    let info = scrape.all("ingest_info").next().expect("info");
    assert_eq!(info.label("xdp_mode"), Some("native"));

    // The interface's own counters, over rtnetlink: every frame sent arrived at the veth.
    let frames = scrape.sum("ingest_iface_receive_total", &[("counter", "packets")]);
    assert!(frames >= (allowed + denied) as f64, "{frames} frames");

    // Alerts by rule and level.
    let shellshock = scrape
        .all("ingest_rule_alerts_raised_total")
        .find(|s| s.label("kind") == Some("sigma"))
        .expect("the Sigma rule's series");
    assert_eq!(shellshock.label("level"), Some("high"));
    assert_eq!(shellshock.label("title"), Some("Shellshock Expression"));
    assert_eq!(
        scrape.sum(
            "ingest_rule_alerts_raised_total",
            &[("rule", "ssh-brute-force"), ("kind", "threshold")]
        ),
        1.0
    );
    assert!(scrape.sum("ingest_detector_keys", &[("table", "threshold")]) >= 1.0);

    // Latency: every stage counts every message (and every alert), in a plausible range.
    for (stage, samples) in [
        ("xdp_to_pickup", allowed),
        ("parse", allowed),
        ("detect", allowed),
        ("xdp_to_detected", allowed),
        ("xdp_to_alert", 2),
    ] {
        assert_eq!(
            scrape.sum("ingest_latency_seconds_count", &[("stage", stage)]) as u64,
            samples,
            "{stage}: every histogram handed over once"
        );
    }
    let detected = ("stage", "xdp_to_detected");
    let p50 = scrape.sum("ingest_latency_seconds", &[detected, ("quantile", "0.5")]);
    assert!(p50 > 0.0 && p50 < 1.0, "p50 {p50} s");
    assert_eq!(
        scrape.sum("ingest_latency_recent_samples", &[detected]) as u64,
        allowed.div_ceil(ingest::datapath::pipeline::LATENCY_SAMPLE),
        "all of the sampled ones recent (one in LATENCY_SAMPLE; counts are exact)"
    );
    let recent = scrape.sum(
        "ingest_latency_recent_seconds",
        &[detected, ("quantile", "0.5")],
    );
    assert_eq!(recent, p50, "the same samples, the same median");

    // Top sources: the only allowed sender leads (the estimate comes from a sample).
    let top = scrape
        .all("ingest_source_messages_estimated")
        .max_by(|a, b| a.value.total_cmp(&b.value))
        .expect("top sources");
    assert_eq!(
        top.label("source"),
        Some(netns::ADDR_A.to_string().as_str())
    );
    assert_eq!(
        scrape.sum("ingest_sources_distinct", &[]),
        1.0,
        "one sender got through"
    );

    // Well-formed: every sample belongs to a family declared once with HELP and TYPE.
    let text = VethPair::run_in(&pair.ns_b, || metrics::fetch(ADDR))
        .unwrap()
        .unwrap();
    let mut declared = BTreeSet::new();
    for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
        let name = line.split_whitespace().nth(2).unwrap();
        assert!(declared.insert(name.to_string()), "{name} declared twice");
        assert!(name.starts_with("ingest_"), "{name}");
    }
    for line in text.lines().filter(|l| l.starts_with("# HELP ")) {
        let name = line.split_whitespace().nth(2).unwrap();
        assert!(declared.contains(name), "{name} has HELP without TYPE");
    }
    for s in Scrape::parse(&text).unwrap().samples {
        let family = ["_sum", "_count"]
            .iter()
            .find_map(|suffix| s.name.strip_suffix(suffix))
            .filter(|f| declared.contains(*f))
            .unwrap_or(&s.name);
        assert!(declared.contains(family), "{} has no TYPE line", s.name);
    }

    // `ingest status` on the same endpoint.
    let out = VethPair::command(&pair.ns_b, env!("CARGO_BIN_EXE_ingest"))
        .args(["status", "--addr", ADDR, "--interval", "0.2"])
        .output()
        .unwrap();
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{screen}");
    assert!(screen.contains("ingest on veth-b"), "{screen}");
    assert!(screen.contains("xdp_dropped_denied"), "{screen}");
    assert!(screen.contains("207 = received + dropped"), "{screen}");
    assert!(screen.contains("Shellshock Expression"), "{screen}");
    assert!(screen.contains(&netns::ADDR_A.to_string()), "{screen}");

    // The final report agrees with the last scrape (no traffic since).
    let Outcome {
        messages,
        lines,
        report,
    } = ingest.stop_after(allowed as usize);
    assert_eq!(messages.len() as u64, allowed, "{lines:#?}");
    assert_eq!(report["messages_received_total"], allowed, "{report:#}");
    assert_eq!(drops_total(&report), denied, "{report:#}");
    assert_eq!(report["drops"]["xdp_dropped_denied"], denied, "{report:#}");
    assert_eq!(report["latency_ns"]["xdp_to_detected"]["count"], allowed);
    assert_eq!(
        report["top_sources"][0]["source"],
        netns::ADDR_A.to_string()
    );
}
