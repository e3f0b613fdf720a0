//! The NATS JetStream sink against a real `nats-server` (Debian's, JetStream on, file storage)
//! in the receiving namespace: alerts are published under load and acknowledged; the server is
//! killed mid-run, so alerts wait in the spool (those published but never acknowledged too);
//! it is started again on the same store, and the spool is published again. The stream must
//! then hold every alert exactly once (`Nats-Msg-Id` deduplication), on its level's subject,
//! and the sink's counters must say what was delivered, spooled and sent again, with no drop.
//!
//! Runs as root (CI does). Skips, saying why, only on a kernel without BPF or AF_XDP.

use std::{
    collections::BTreeSet,
    net::{TcpStream, UdpSocket},
    path::{Path, PathBuf},
    process::{Child, Stdio},
    time::{Duration, Instant},
};

use crate::common::{Ingest, Outcome, TempDir, drops_total, scrape_until, test_network};
use ingest::metrics::Scrape;
use testbed::{
    netns::{self, VethPair},
    tls::Pki,
};

const RULES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../detector/rules/sigma-linux");
const METRICS: &str = "127.0.0.1:9514";
const NATS_PORT: u16 = 4222;
/// How long a sink counter may take to get where a test waits for it.
const WAIT: Duration = Duration::from_secs(30);

/// A nats-server this test started (in the receiving namespace); killed when dropped.
struct NatsServer(Child);

impl NatsServer {
    fn start(pair: &VethPair, store: &Path) -> Self {
        Self::start_with(pair, store, &[])
    }

    /// Started with `extra` arguments (authentication, TLS).
    fn start_with(pair: &VethPair, store: &Path, extra: &[&str]) -> Self {
        let child = VethPair::command(&pair.ns_b, "nats-server")
            .args([
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                &NATS_PORT.to_string(),
                "-sd",
            ])
            .arg(store)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server (Debian package nats-server; deploy/bootstrap.sh installs it)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while VethPair::run_in(&pair.ns_b, || {
            TcpStream::connect(("127.0.0.1", NATS_PORT)).is_err()
        })
        .unwrap()
        {
            assert!(
                Instant::now() < deadline,
                "nats-server did not start listening"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        NatsServer(child)
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn shellshock(i: usize) -> String {
    format!("<13>Nov 22 10:00:00 web1 httpd[3]: GET /cgi-bin/{i} UA: () {{ :; }}; /bin/id")
}

fn send(pair: &VethPair, range: std::ops::Range<usize>) {
    VethPair::run_in(&pair.ns_a, || {
        let sock = UdpSocket::bind((netns::ADDR_A, 0))?;
        for i in range {
            sock.send_to(shellshock(i).as_bytes(), (netns::ADDR_B, 514))?;
            if i % 10 == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        std::io::Result::Ok(())
    })
    .unwrap()
    .unwrap();
}

fn count(s: &Scrape, name: &str) -> u64 {
    s.sum(name, &[("sink", "js")]) as u64
}

fn events_count(s: &Scrape) -> u64 {
    s.sum(
        "ingest_sink_records_delivered_total",
        &[("sink", "js-events")],
    ) as u64
}

/// Every message of the stream, read inside the receiving namespace.
fn stream_messages(pair: &VethPair) -> Vec<(String, String)> {
    VethPair::run_in(&pair.ns_b, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let client = async_nats::connect(format!("127.0.0.1:{NATS_PORT}"))
                .await
                .unwrap();
            let js = async_nats::jetstream::new(client);
            let mut stream = js.get_stream("INGEST").await.unwrap();
            let n = stream.info().await.unwrap().state.messages;
            let mut all = Vec::new();
            for seq in 1..=n {
                let m = stream.get_raw_message(seq).await.unwrap();
                all.push((
                    m.subject.to_string(),
                    String::from_utf8(m.payload.to_vec()).unwrap(),
                ));
            }
            all
        })
    })
    .unwrap()
}

fn write_config(dir: &Path, extra: &str) -> PathBuf {
    let config = dir.join("ingest.toml");
    std::fs::write(
        &config,
        format!(
            "[[sink]]\nkind = \"nats\"\nname = \"js\"\naddress = \"nats://127.0.0.1:{NATS_PORT}\"\n\
             ack_timeout_ms = 1000\nmax_in_flight = 32\nspool_dir = \"{}\"\n{extra}",
            dir.join("spool").display()
        ),
    )
    .unwrap();
    config
}

#[test]
fn jetstream_gets_every_alert_once_across_a_server_restart() {
    let Some(pair) = test_network() else {
        return;
    };
    let dir = TempDir::new("nats");
    let store = dir.0.join("store");
    std::fs::create_dir_all(&store).unwrap();
    let config = write_config(&dir.0, "");
    let server = NatsServer::start(&pair, &store);
    let ingest = Ingest::start_with(
        &pair,
        "nats",
        &["--config", config.to_str().unwrap(), "--rules", RULES],
        false,
    );
    assert_eq!(ingest.ready["xdp_mode"], "native", "{}", ingest.ready);

    // Up, under load: 300 alerts, acknowledged.
    send(&pair, 0..300);
    scrape_until(&pair, METRICS, "300 acknowledged", WAIT, |s| {
        count(s, "ingest_sink_records_delivered_total") == 300
    });

    // Down: 100 more wait in the spool.
    drop(server);
    send(&pair, 300..400);
    let down = scrape_until(&pair, METRICS, "100 spooled", WAIT, |s| {
        count(s, "ingest_sink_spool_records") == 100
    });
    assert_eq!(count(&down, "ingest_sink_records_delivered_total"), 300);

    // Back on the same store: the spool is published again, then new alerts follow.
    let _server = NatsServer::start(&pair, &store);
    scrape_until(&pair, METRICS, "spool sent again", WAIT, |s| {
        count(s, "ingest_sink_records_delivered_total") == 400
            && count(s, "ingest_sink_spool_records") == 0
    });
    send(&pair, 400..450);
    scrape_until(&pair, METRICS, "450 acknowledged", WAIT, |s| {
        count(s, "ingest_sink_records_delivered_total") == 450
    });

    let Outcome {
        report,
        lines,
        messages,
    } = ingest.stop_after(450);
    assert!(messages.is_empty(), "not printing messages");
    assert_eq!(report["messages_received_total"], 450, "{report:#}");
    assert_eq!(drops_total(&report), 0, "{report:#}");
    let sink = &report["sinks"][0];
    assert_eq!(sink["delivered"], 450, "{sink}");
    assert_eq!(sink["dropped_queue_full"], 0, "{sink}");
    assert_eq!(sink["dropped_undeliverable"], 0, "{sink}");
    assert_eq!(sink["spool_pending"], 0, "{sink}");
    let spooled = sink["spooled"].as_u64().unwrap();
    assert!(spooled >= 100, "at least the 100 sent while down: {sink}");
    assert_eq!(
        sink["replayed"], spooled,
        "everything spooled was sent again: {sink}"
    );
    assert_eq!(lines.len(), 450, "one alert line per message");

    // The stream holds each alert once, on the subject of its level.
    let stored = stream_messages(&pair);
    assert_eq!(stored.len(), 450, "no alert lost, none twice");
    let mut seen = BTreeSet::new();
    for (subject, payload) in &stored {
        assert_eq!(subject, "ingest.alerts.high");
        // An ECS line, the sinks' default.
        let alert: serde_json::Value = serde_json::from_str(payload).unwrap();
        assert_eq!(alert["rule"]["name"], "Shellshock Expression");
        let m = alert["event"]["original"].as_str().unwrap();
        let i: usize = m
            .split("/cgi-bin/")
            .nth(1)
            .and_then(|r| r.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap();
        assert!(seen.insert(i), "alert {i} stored twice");
    }
    assert_eq!(seen, (0..450).collect::<BTreeSet<_>>());
}

#[test]
fn parsed_events_go_to_their_hosts_subject() {
    let Some(pair) = test_network() else {
        return;
    };
    let dir = TempDir::new("nats-ev");
    let store = dir.0.join("store");
    std::fs::create_dir_all(&store).unwrap();
    let config = write_config(&dir.0, "events = true\n");
    let _server = NatsServer::start(&pair, &store);
    let ingest = Ingest::start_with(
        &pair,
        "nats-events",
        &["--config", config.to_str().unwrap()],
        false,
    );
    VethPair::run_in(&pair.ns_a, || {
        let sock = UdpSocket::bind((netns::ADDR_A, 0))?;
        for i in 0..10 {
            let m = format!("<38>Nov 22 10:00:00 web1 sshd[9]: Accepted publickey for u{i}");
            sock.send_to(m.as_bytes(), (netns::ADDR_B, 514))?;
        }
        for i in 0..5 {
            sock.send_to(format!("no header {i}").as_bytes(), (netns::ADDR_B, 514))?;
        }
        std::io::Result::Ok(())
    })
    .unwrap()
    .unwrap();
    scrape_until(&pair, METRICS, "15 events", WAIT, |s| events_count(s) == 15);
    let Outcome {
        report, messages, ..
    } = ingest.stop_after(0);
    assert!(
        messages.is_empty(),
        "messages leave the workers for the sink, not for stdout"
    );
    assert_eq!(report["messages_received_total"], 15, "{report:#}");
    let stored = stream_messages(&pair);
    let on = |subject: &str| stored.iter().filter(|(s, _)| s == subject).count();
    assert_eq!(on("ingest.events.web1"), 10, "{stored:#?}");
    assert_eq!(
        on("ingest.events.198_18_0_1"),
        5,
        "the sender when there is no host"
    );
    let (_, first) = stored.iter().find(|(s, _)| s.ends_with("web1")).unwrap();
    let e: serde_json::Value = serde_json::from_str(first).unwrap();
    assert_eq!(
        (&e["app"], &e["severity"]),
        (&"sshd".into(), &"info".into()),
        "{e}"
    );
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .starts_with("Accepted publickey"),
        "{e}"
    );
    assert_eq!(e["src"], netns::ADDR_A.to_string());
}

/// Delivers `count` alerts through one sink configured by `toml` (in the receiving namespace)
/// and returns its final counters.
fn deliver(pair: &VethPair, toml: &str, count: u32) -> ingest::output::sinks::SinkReport {
    use ingest::output::sinks::{Outgoing, SinkConfig, Sinks};
    let config: SinkConfig = toml::from_str(toml).expect("a sink table");
    assert!(config.problems().is_empty(), "{:?}", config.problems());
    VethPair::run_in(&pair.ns_b, move || {
        let sinks = Sinks::start(&[config]).expect("starting the sink");
        for n in 0..count {
            sinks.send(&std::sync::Arc::new(Outgoing {
                id: format!("guarded-{n}"),
                json: format!("{{\"n\":{n}}}"),
                ecs: None,
                level: "high".into(),
                severity: 3,
                time: std::time::SystemTime::now(),
                event_host: None,
            }));
        }
        sinks.close(Duration::from_secs(10)).remove(0)
    })
    .unwrap()
}

#[test]
fn a_server_that_wants_tls_and_a_password_gets_them_and_refuses_the_wrong_ones() {
    let Some(pair) = test_network() else {
        return;
    };
    let dir = TempDir::new("nats-guarded");
    let store = dir.0.join("store");
    std::fs::create_dir_all(&store).unwrap();
    let site = Pki::new(&dir.0, "nats-site");
    let rogue = Pki::new(&dir.0, "nats-rogue");
    let cert = site.issue("nats", "nats", &["127.0.0.1"]);
    let _server = NatsServer::start_with(
        &pair,
        &store,
        &[
            "--user",
            "ingest",
            "--pass",
            "s3cret-pass",
            "--tls",
            "--tlscert",
            cert.cert.to_str().unwrap(),
            "--tlskey",
            cert.key.to_str().unwrap(),
        ],
    );
    let sink = |ca: &Path, password: &str| {
        format!(
            "kind = \"nats\"\naddress = \"tls://127.0.0.1:{NATS_PORT}\"\nack_timeout_ms = 2000\n\
             user = \"ingest\"\npassword = \"{password}\"\ntls_ca = \"{}\"\n",
            ca.display()
        )
    };
    let good = deliver(&pair, &sink(&site.ca(), "s3cret-pass"), 3);
    assert_eq!(
        (good.delivered, good.dropped_undeliverable),
        (3, 0),
        "{good:?}"
    );
    let wrong_password = deliver(&pair, &sink(&site.ca(), "guess"), 2);
    assert_eq!(
        (
            wrong_password.delivered,
            wrong_password.dropped_undeliverable
        ),
        (0, 2),
        "{wrong_password:?}"
    );
    assert!(wrong_password.failures >= 1);
    let untrusted = deliver(&pair, &sink(&rogue.ca(), "s3cret-pass"), 2);
    assert_eq!(
        (untrusted.delivered, untrusted.dropped_undeliverable),
        (0, 2),
        "{untrusted:?}"
    );
}
