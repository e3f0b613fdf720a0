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

    let drop_of = |s: &Scrape, stage: &str, reason: &str| {
        s.sum(
            "ingest_datagrams_dropped_total",
            &[("stage", stage), ("reason", reason)],
        ) as u64
    };
    let histogram_count = |s: &Scrape, stage: &str| {
        s.sum("ingest_stage_latency_seconds_count", &[("stage", stage)]) as u64
    };
    // Counters arrive per batch; detector state, top sources and latency every 200 ms.
    let scrape = scrape_until(&pair, ADDR, "every counter", Duration::from_secs(10), |s| {
        s.sum("ingest_messages_received_total", &[]) as u64 == allowed
            && drop_of(s, "xdp", "denied") == denied
            && s.sum("ingest_rule_alerts_total", &[]) as u64 == 2
            && histogram_count(s, "xdp_to_detected") == allowed
            && s.sum("ingest_detector_keys", &[("table", "threshold")]) >= 1.0
    });

    // Accounting: everything sent is received or a named drop, and nothing else was dropped.
    let received = scrape.sum("ingest_messages_received_total", &[("path", "xdp")]) as u64;
    let drops = (scrape.sum("ingest_datagrams_dropped_total", &[])
        + scrape.sum("ingest_frames_dropped_total", &[])
        + scrape.sum("ingest_messages_dropped_total", &[])) as u64;
    assert_eq!((received, drops), (allowed, denied), "{scrape:#?}");
    assert_eq!(
        scrape.sum("ingest_queue_messages_received_total", &[("queue", "0")]) as u64,
        allowed
    );
    assert_eq!(
        scrape.sum("ingest_messages_parsed_total", &[])
            + scrape.sum("ingest_messages_parse_errors_total", &[]),
        allowed as f64
    );
    assert_eq!(
        scrape.sum("ingest_xdp_frames_total", &[("action", "steered")]) as u64,
        allowed
    );

    // Modes: the queue's worker, copy mode on veth.
    let queue = scrape.all("ingest_queue_info").next().expect("queue info");
    assert_eq!(queue.label("bind"), Some("copy"));
    assert_eq!(queue.label("zero_copy"), Some("false"));
    let info = scrape.all("ingest_info").next().expect("info");
    assert_eq!(info.label("xdp_mode"), Some("native"));

    // The interface's own counters, over rtnetlink: every frame sent arrived at the veth.
    let frames = scrape.sum("ingest_iface_received_frames_total", &[]);
    assert!(frames >= (allowed + denied) as f64, "{frames} frames");

    // Alerts by rule; titles and levels in the rule info family.
    let shellshock = scrape
        .all("ingest_rule_alerts_total")
        .find(|s| s.label("kind") == Some("sigma"))
        .expect("the Sigma rule's series");
    assert_eq!(shellshock.value, 1.0);
    let info = scrape
        .all("ingest_rule_info")
        .find(|s| s.label("rule") == shellshock.label("rule"))
        .expect("the Sigma rule's info");
    assert_eq!(info.label("level"), Some("high"));
    assert_eq!(info.label("title"), Some("Shellshock Expression"));
    assert_eq!(
        scrape.sum(
            "ingest_rule_alerts_total",
            &[("rule", "ssh-brute-force"), ("kind", "threshold")]
        ),
        1.0
    );
    assert!(scrape.sum("ingest_detector_keys", &[("table", "threshold")]) >= 1.0);

    // Latency: every stage counts every message (and every alert), in a plausible range.
    for (stage, samples) in [
        ("xdp_to_pickup", allowed),
        ("receive", allowed),
        ("parse", allowed),
        ("detect", allowed),
        ("xdp_to_detected", allowed),
        ("xdp_to_alert", 2),
    ] {
        assert_eq!(
            histogram_count(&scrape, stage),
            samples,
            "{stage}: every histogram handed over once"
        );
        // The +Inf bucket holds every message, and the buckets never fall.
        let buckets: Vec<f64> = scrape
            .all("ingest_stage_latency_seconds_bucket")
            .filter(|b| b.label("stage") == Some(stage))
            .map(|b| b.value)
            .collect();
        assert_eq!(buckets.last().copied(), Some(samples as f64), "{stage}");
        assert!(
            buckets.windows(2).all(|w| w[0] <= w[1]),
            "{stage}: {buckets:?}"
        );
    }
    let detected = ("stage", "xdp_to_detected");
    let p50 = ingest::status::histogram_quantile(
        &scrape,
        "ingest_stage_latency_seconds",
        &[detected],
        0.5,
    )
    .expect("observations");
    assert!(p50 > 0.0 && p50 < 1.0, "p50 {p50} s");
    assert_eq!(
        scrape.sum("ingest_stage_latency_recent_samples", &[detected]) as u64,
        allowed.div_ceil(ingest::datapath::pipeline::LATENCY_SAMPLE),
        "all of the sampled ones recent (one in LATENCY_SAMPLE; counts are exact)"
    );
    let recent = scrape.sum(
        "ingest_stage_latency_recent_seconds",
        &[detected, ("percentile", "p50")],
    );
    assert!(recent > 0.0 && recent < 1.0, "recent p50 {recent} s");

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

    // Well-formed by the book: `promtool check metrics` (Prometheus's own linter) passes,
    // and every family is ours or the standard process_* ones.
    let text = VethPair::run_in(&pair.ns_b, || metrics::fetch(ADDR))
        .unwrap()
        .unwrap();
    let mut promtool = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool (Debian's prometheus package; deploy/bootstrap.sh installs it)");
    std::io::Write::write_all(&mut promtool.stdin.take().unwrap(), text.as_bytes()).unwrap();
    let checked = promtool.wait_with_output().unwrap();
    assert!(
        checked.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
    let mut declared = BTreeSet::new();
    for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
        let name = line.split_whitespace().nth(2).unwrap();
        assert!(declared.insert(name.to_string()), "{name} declared twice");
        assert!(
            name.starts_with("ingest_") || name.starts_with("process_"),
            "{name}"
        );
    }
    assert!(
        declared.contains("ingest_build_info") && declared.contains("process_cpu_seconds_total")
    );

    // `ingest status` on the same endpoint.
    let out = VethPair::command(&pair.ns_b, env!("CARGO_BIN_EXE_ingest"))
        .args(["status", "--addr", ADDR, "--interval", "0.2"])
        .output()
        .unwrap();
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{screen}");
    assert!(screen.contains("ingest on veth-b"), "{screen}");
    assert!(screen.contains("xdp/denied"), "{screen}");
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
