//! Live reload under load: while a sender streams messages, a new rule is added and reloaded
//! (`ingest reload`), then a broken rule is refused with its error while the running rules keep
//! working, then SIGHUP reloads once the broken file is gone. Every packet is accounted for
//! across the swaps, and every alert is named by the rule set that raised it.
//!
//! Runs as root (CI does). Skips, saying why, only on a kernel without BPF or AF_XDP.

use std::{
    net::UdpSocket,
    process::Output,
    time::{Duration, Instant},
};

use crate::common::{Ingest, Outcome, TempDir, drops_total, test_network};
use ingest::metrics;
use serde_json::Value;
use testbed::netns::{self, VethPair};

const ADDR: &str = "127.0.0.1:9514";
const TOTAL: usize = 30_000;
const RATE: f64 = 15_000.0;

fn rule(name: &str, marker: &str) -> String {
    format!(
        "title: {name}\nid: {name}\nlogsource: {{product: linux}}\n\
         detection: {{keywords: ['{marker}'], condition: keywords}}\nlevel: high\n"
    )
}

fn reload(pair: &VethPair) -> Output {
    VethPair::command(&pair.ns_b, env!("CARGO_BIN_EXE_ingest"))
        .args(["reload", "--addr", ADDR])
        .output()
        .unwrap()
}

fn generation(pair: &VethPair) -> f64 {
    VethPair::run_in(&pair.ns_b, || metrics::scrape(ADDR))
        .unwrap()
        .unwrap()
        .sum("ingest_rules_generation", &[])
}

#[test]
fn rules_reload_under_load_without_losing_a_packet() {
    let Some(pair) = test_network() else {
        return;
    };
    let dir = TempDir::new("reload");
    let rules = dir.0.join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(rules.join("alpha.yml"), rule("alpha", "alpha-marker")).unwrap();
    let config = dir.0.join("ingest.toml");
    std::fs::write(&config, format!("rules = [\"{}\"]\n", rules.display())).unwrap();
    let ingest = Ingest::start_with(
        &pair,
        "reload",
        &[
            "--config",
            config.to_str().unwrap(),
            "--metrics-addr",
            ADDR,
            "--metrics-reload",
        ],
        false,
    );
    assert_eq!(ingest.ready["xdp_mode"], "native", "{}", ingest.ready);

    // The load: every 100th message carries the alpha marker, every 100th (offset 50) the beta
    // marker, at a bounded rate for a bounded count.
    let ns_a = pair.ns_a.clone();
    let sender = std::thread::spawn(move || {
        VethPair::run_in(&ns_a, || {
            let sock = UdpSocket::bind((netns::ADDR_A, 0))?;
            let start = Instant::now();
            for i in 0..TOTAL {
                let due = start + Duration::from_secs_f64(i as f64 / RATE);
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                let marker = match i % 100 {
                    0 => "alpha-marker",
                    50 => "beta-marker",
                    _ => "nothing",
                };
                let m = format!("<14>Nov 22 10:00:00 web1 app[1]: message {i} {marker}");
                sock.send_to(m.as_bytes(), (netns::ADDR_B, 514))?;
            }
            std::io::Result::Ok(())
        })
    });

    // A new rule, reloaded through the endpoint.
    std::thread::sleep(Duration::from_millis(400));
    std::fs::write(rules.join("beta.yml"), rule("beta", "beta-marker")).unwrap();
    let out = reload(&pair);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("reloaded: rule set 1: 2 Sigma"), "{said}");

    // A broken rule: refused with its file named; the running rules stay.
    std::thread::sleep(Duration::from_millis(300));
    std::fs::write(
        rules.join("broken.yml"),
        "title: broken\ndetection: {condition: nope}\n",
    )
    .unwrap();
    let out = reload(&pair);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a broken rule must be refused");
    assert!(
        err.contains("reload rejected") && err.contains("broken.yml"),
        "{err}"
    );
    assert_eq!(generation(&pair), 1.0, "still rule set 1");

    // SIGHUP once it is gone, as systemd's ExecReload sends it: `ingest reload --pid` waits
    // for the outcome and says it.
    std::fs::remove_file(rules.join("broken.yml")).unwrap();
    let out = VethPair::command(&pair.ns_b, env!("CARGO_BIN_EXE_ingest"))
        .args(["reload", "--addr", ADDR, "--pid", &ingest.pid().to_string()])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("reloaded: rule set 2"), "{said}");
    // Handed over; each worker takes it up between two batches.
    let deadline = Instant::now() + Duration::from_secs(10);
    while generation(&pair) < 2.0 {
        assert!(
            Instant::now() < deadline,
            "the workers never took rule set 2 up"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    sender.join().unwrap().unwrap().unwrap();
    let alpha = TOTAL / 100;
    let Outcome {
        report,
        lines,
        messages,
    } = ingest.stop_after(alpha + 1);
    assert!(messages.is_empty(), "not printing messages");

    // Every packet accounted for across three swaps.
    assert_eq!(
        report["messages_received_total"], TOTAL as u64,
        "{report:#}"
    );
    assert_eq!(drops_total(&report), 0, "{report:#}");
    assert_eq!(report["rules_generation"], 2, "{report:#}");

    // Alpha fires on every alpha message, whatever rule set was running; beta only once loaded,
    // and then on every one.
    let alerts: Vec<Value> = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["event"] == "alert")
        .collect();
    let named = |id: &str| -> Vec<usize> {
        alerts
            .iter()
            .filter(|a| a["id"] == id)
            .map(|a| {
                let m = a["message"].as_str().unwrap();
                assert!(m.contains(&format!("{id}-marker")), "{id} named right: {m}");
                m.split_whitespace().nth(6).unwrap().parse().unwrap()
            })
            .collect()
    };
    assert_eq!(named("alpha").len(), alpha, "{} alerts", alerts.len());
    let beta = named("beta");
    assert!(!beta.is_empty(), "beta fired after the reload");
    let first = beta[0];
    let expected: Vec<usize> = (first..TOTAL).filter(|i| i % 100 == 50).collect();
    assert_eq!(beta, expected, "every beta message after the swap");
    assert_eq!(alerts.len(), alpha + beta.len(), "nothing else");
}
