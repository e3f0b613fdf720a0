//! The scenarios of `bench chaos`, each a fault or an abuse and the sums it must close.

use std::time::Duration;

use super::{Check, Outcome, Scale, frames::Kind, rig::Rig};

/// The sum of every named drop.
fn drops_sum(drops: &std::collections::BTreeMap<String, u64>) -> u64 {
    drops.values().sum()
}

/// A flood of malformed frames among well-formed log datagrams: every malformed one is dropped
/// with its reason (in XDP, in user space, by the kernel with a counter read back) or, when the
/// kernel can still read it (a long IPv6 extension chain, tiny fragments), received on the
/// socket path; every well-formed one is received through AF_XDP.
pub(super) fn malformed_flood(rig: &Rig, scale: Scale) -> anyhow::Result<Outcome> {
    let daemon = rig.start(&[])?;
    let link = rig.link()?;
    let per_kind = (scale.messages / 40).max(20);
    let bad: Vec<Vec<Vec<u8>>> = Kind::ALL
        .iter()
        .flat_map(|&k| (0..per_kind).map(move |i| (k, i)))
        .map(|(k, i)| link.malformed(k, i))
        .collect();
    // Interleaved: a malformed datagram every few well-formed ones.
    let stride = (scale.messages as usize / bad.len()).max(1);
    let mut frames = Vec::new();
    let mut bad_iter = bad.iter();
    for i in 0..scale.messages {
        frames.push(link.valid(i));
        if (i as usize).is_multiple_of(stride)
            && let Some(group) = bad_iter.next()
        {
            frames.extend(group.iter().cloned());
        }
    }
    for group in bad_iter {
        frames.extend(group.iter().cloned());
    }
    let datagrams = scale.messages + bad.len() as u64;
    rig.send_frames(&frames, scale.rate)?;
    std::thread::sleep(Duration::from_millis(500));
    let stopped = daemon.stop()?;
    let drops = stopped.drops();
    let received = stopped.received();
    let xdp = &stopped.report["xdp"];
    let decisions: Vec<String> = xdp
        .as_object()
        .map(|o| {
            o.iter()
                .filter(|(_, v)| v.as_u64().is_some_and(|n| n > 0))
                .map(|(k, v)| format!("{k} {v}"))
                .collect()
        })
        .unwrap_or_default();
    Ok(Outcome {
        name: "malformed-flood",
        sent: datagrams,
        received,
        checks: vec![
            Check::new(
                "datagrams: sent = received + drops (the kernel's too)",
                datagrams,
                received + drops_sum(&drops),
            ),
            Check::new(
                "well-formed: sent = received through AF_XDP",
                scale.messages,
                stopped.get("/messages_received_xdp_total"),
            ),
        ],
        drops,
        notes: vec![
            format!(
                "{per_kind} of each of {} kinds: {}",
                Kind::ALL.len(),
                Kind::ALL.map(Kind::name).join(", ")
            ),
            format!("XDP decisions (frames): {}", decisions.join(", ")),
        ],
    })
}

/// A sender the filter denies sends small and fragmented datagrams (4,000 bytes over a
/// 1,500-byte link) beside an allowed sender: every denied one is dropped and counted, none is
/// received. `backend` is `xdp` or `socket`.
fn denied_fragments(
    rig: &Rig,
    scale: Scale,
    backend: &str,
    name: &'static str,
) -> anyhow::Result<Outcome> {
    let denied: std::net::IpAddr = "198.18.0.200".parse()?;
    rig.pair.add_address(&rig.pair.ns_a, "198.18.0.200/24")?;
    let daemon = rig.start(&["--backend", backend, "--deny-source", "198.18.0.200/32"])?;
    let n = (scale.messages / 4).max(50);
    let message = |tag: &'static str| {
        move |i: u64| {
            let body = format!("<14>Dec  7 10:00:00 chaos app[1]: {tag} {i} ");
            if i % 2 == 1 {
                // Odd ones are fragmented.
                format!("{body}{}", "x".repeat(4000))
            } else {
                body
            }
        }
    };
    let rate = scale.rate.min(10_000.0);
    let from_allowed = rig.send_udp(testbed::netns::ADDR_A.into(), n, rate, message("allowed"))?;
    let from_denied = rig.send_udp(denied, n, rate, message("denied"))?;
    std::thread::sleep(Duration::from_millis(500));
    let stopped = daemon.stop()?;
    let drops = stopped.drops();
    let received = stopped.received();
    let sent = from_allowed + from_denied;
    Ok(Outcome {
        name,
        sent,
        received,
        checks: vec![
            Check::new(
                "datagrams: sent = received + drops",
                sent,
                received + drops_sum(&drops),
            ),
            Check::new(
                "nobody let in: received = the allowed sender's",
                from_allowed,
                received,
            ),
        ],
        drops,
        notes: vec![format!(
            "{n} datagrams from each sender, every other one fragmented"
        )],
    })
}

/// [`denied_fragments`] on the XDP backend.
pub(super) fn denied_fragments_xdp(rig: &Rig, scale: Scale) -> anyhow::Result<Outcome> {
    denied_fragments(rig, scale, "xdp", "denied-fragments-xdp")
}

/// [`denied_fragments`] on the socket backend.
pub(super) fn denied_fragments_socket(rig: &Rig, scale: Scale) -> anyhow::Result<Outcome> {
    denied_fragments(rig, scale, "socket", "denied-fragments-socket")
}

/// A rule that matches every message carrying `marker`, in `dir`.
fn marker_rule(dir: &std::path::Path, marker: &str) -> anyhow::Result<std::path::PathBuf> {
    let rules = dir.join("rules");
    std::fs::create_dir_all(&rules)?;
    std::fs::write(
        rules.join("marker.yml"),
        format!(
            "title: Chaos marker\nid: chaos-marker\nlogsource: {{product: linux}}\n\
             detection: {{keywords: ['{marker}'], condition: keywords}}\nlevel: high\n"
        ),
    )?;
    Ok(rules)
}

fn marked(i: u64) -> String {
    format!("<14>Dec  7 10:00:00 chaos app[1]: chaos-marker {i}")
}

/// Every message raises an alert while the daemon's stdout is not read (a stalled log
/// collector): the housekeeping thread blocks writing, the alert ring fills, and what does not
/// fit is dropped and counted. Every message is still received; every alert is printed or
/// counted as dropped.
pub(super) fn alert_ring_full(rig: &Rig, scale: Scale) -> anyhow::Result<Outcome> {
    let rules = marker_rule(&rig.dir.0, "chaos-marker")?;
    let daemon = rig.start(&["--rules", rules.to_str().unwrap_or_default()])?;
    // More alerts than the ring (4,096) and the pipe together hold.
    let n = scale.messages.max(12_000);
    daemon.process.pause_reading(true);
    let sent = rig.send_udp(testbed::netns::ADDR_A.into(), n, scale.rate, marked)?;
    std::thread::sleep(Duration::from_millis(1000));
    daemon.process.pause_reading(false);
    let stopped = daemon.stop()?;
    let drops = stopped.drops();
    let received = stopped.received();
    let raised = stopped.get("/alerts_raised_total");
    let printed = stopped.alert_lines();
    let ring = stopped.get("/alerts_dropped_ring_full");
    let buffer = stopped.get("/alerts_dropped_buffer_full");
    Ok(Outcome {
        name: "alert-ring-full",
        sent,
        received,
        checks: vec![
            Check::new(
                "datagrams: sent = received + drops",
                sent,
                received + drops_sum(&drops),
            ),
            Check::new(
                "alerts: raised = printed + dropped (ring, buffer)",
                raised,
                printed + ring + buffer,
            ),
        ],
        drops,
        notes: vec![format!(
            "{raised} alerts raised, {printed} printed, {ring} dropped at the full ring, {buffer} at \
             the full batch buffer"
        )],
    })
}

/// A TCP syslog receiver in the sending namespace: counts octet-counted frames until `stop`.
struct Receiver {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    join: std::thread::JoinHandle<anyhow::Result<u64>>,
}

impl Receiver {
    fn start(rig: &Rig, port: u16) -> anyhow::Result<Self> {
        use std::sync::{Arc, atomic::AtomicBool};
        let listener = testbed::netns::VethPair::run_in(&rig.pair.ns_a, || {
            std::net::TcpListener::bind((testbed::netns::ADDR_A, port))
        })??;
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let join = std::thread::spawn(move || count_frames(&listener, &flag));
        Ok(Self { stop, join })
    }

    /// Stops listening; the frames received.
    fn finish(self) -> anyhow::Result<u64> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.join
            .join()
            .map_err(|_| anyhow::anyhow!("the receiver panicked"))?
    }
}

/// Reads every connection to `listener` (one at a time, as the sink makes them) and counts
/// the octet-counted frames, until `stop`.
fn count_frames(
    listener: &std::net::TcpListener,
    stop: &std::sync::atomic::AtomicBool,
) -> anyhow::Result<u64> {
    use std::io::Read;
    let mut frames = 0;
    let mut buf = vec![0u8; 64 * 1024];
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let mut conn = match listener.accept() {
            Ok((c, _)) => c,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        conn.set_read_timeout(Some(Duration::from_millis(100)))?;
        let mut pending = Vec::new();
        loop {
            match conn.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => pending.extend_from_slice(&buf[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    if stop.load(std::sync::atomic::Ordering::Relaxed) {
                        break;
                    }
                }
                Err(_) => break,
            }
            // Take every whole frame: "LEN SP MSG".
            while let Some(space) = pending.iter().position(|&b| b == b' ') {
                let len: usize = std::str::from_utf8(&pending[..space])?.parse()?;
                if pending.len() < space + 1 + len {
                    break;
                }
                pending.drain(..space + 1 + len);
                frames += 1;
            }
        }
    }
    Ok(frames)
}

/// The sink's counters in the final report.
fn sink_report(stopped: &super::rig::Stopped) -> serde_json::Value {
    stopped.report["sinks"][0].clone()
}

fn field(v: &serde_json::Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or(0)
}

/// A syslog sink whose receiver is down when the alerts start: they wait in the spool, and
/// once the receiver listens they are delivered. Every alert is delivered or counted, and the
/// receiver got exactly what the sink says it delivered.
pub(super) fn sink_down_and_back(rig: &Rig, scale: Scale) -> anyhow::Result<Outcome> {
    const SINK_PORT: u16 = 6601;
    let rules = marker_rule(&rig.dir.0, "chaos-marker")?;
    let config = rig.dir.0.join("ingest.toml");
    std::fs::write(
        &config,
        format!(
            "[[sink]]\nkind = \"syslog\"\nname = \"siem\"\nprotocol = \"tcp\"\n\
             address = \"{}:{SINK_PORT}\"\nqueue = 100000\nspool_dir = \"{}\"\n",
            testbed::netns::ADDR_A,
            rig.dir.0.join("spool").display()
        ),
    )?;
    let daemon = rig.start(&[
        "--config",
        config.to_str().unwrap_or_default(),
        "--rules",
        rules.to_str().unwrap_or_default(),
    ])?;
    let n = scale.messages;
    let rate = scale.rate.min(10_000.0);
    let first = rig.send_udp(testbed::netns::ADDR_A.into(), n / 2, rate, marked)?;
    let spooled = rig.wait_for(
        "ingest_sink_records_spooled_total",
        &[("sink", "siem")],
        first as f64,
        Duration::from_secs(20),
    )?;
    let receiver = Receiver::start(rig, SINK_PORT)?;
    let second = rig.send_udp(testbed::netns::ADDR_A.into(), n - n / 2, rate, |i| {
        marked(i + 1_000_000)
    })?;
    let sent = first + second;
    rig.wait_for(
        "ingest_sink_records_delivered_total",
        &[("sink", "siem")],
        sent as f64,
        Duration::from_secs(60),
    )?;
    let stopped = daemon.stop()?;
    let got = receiver.finish()?;
    let drops = stopped.drops();
    let received = stopped.received();
    let sink = sink_report(&stopped);
    let raised = stopped.get("/alerts_raised_total");
    let delivered = field(&sink, "delivered");
    Ok(Outcome {
        name: "sink-down-and-back",
        sent,
        received,
        checks: vec![
            Check::new(
                "datagrams: sent = received + drops",
                sent,
                received + drops_sum(&drops),
            ),
            Check::new(
                "alerts: raised = delivered + still spooled + dropped",
                raised,
                delivered
                    + field(&sink, "spool_pending")
                    + field(&sink, "dropped_queue_full")
                    + field(&sink, "dropped_undeliverable")
                    + stopped.get("/alerts_dropped_ring_full")
                    + stopped.get("/alerts_dropped_buffer_full"),
            ),
            Check::new("the receiver got what the sink delivered", delivered, got),
        ],
        drops,
        notes: vec![format!(
            "{spooled} alerts spooled while the receiver was down; {} replayed; {} failures",
            field(&sink, "replayed"),
            field(&sink, "failures")
        )],
    })
}

/// nats-server in the receiving namespace, on a store that outlives it.
struct Nats(std::process::Child);

impl Nats {
    const PORT: u16 = 4222;

    fn start(rig: &Rig, store: &std::path::Path) -> anyhow::Result<Self> {
        let child = testbed::netns::VethPair::command(&rig.pair.ns_b, "nats-server")
            .args([
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                &Self::PORT.to_string(),
                "-sd",
            ])
            .arg(store)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| anyhow::anyhow!("nats-server (deploy/bootstrap.sh installs it): {e}"))?;
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while testbed::netns::VethPair::run_in(&rig.pair.ns_b, || {
            std::net::TcpStream::connect(("127.0.0.1", Self::PORT)).is_err()
        })? {
            anyhow::ensure!(
                std::time::Instant::now() < deadline,
                "nats-server did not listen"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Self(child))
    }

    /// Kills it (SIGKILL, as a crash).
    fn kill(mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }

    /// The number of messages in the stream `INGEST` and how many distinct alert ids.
    fn stream(rig: &Rig) -> anyhow::Result<(u64, u64)> {
        testbed::netns::VethPair::run_in(&rig.pair.ns_b, || -> anyhow::Result<(u64, u64)> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async {
                let client = async_nats::connect(format!("127.0.0.1:{}", Self::PORT)).await?;
                let js = async_nats::jetstream::new(client);
                let mut stream = js
                    .get_stream("INGEST")
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                let n = stream
                    .info()
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?
                    .state
                    .messages;
                let mut ids = std::collections::BTreeSet::new();
                for seq in 1..=n {
                    let m = stream
                        .get_raw_message(seq)
                        .await
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
                    let v: serde_json::Value = serde_json::from_slice(&m.payload)?;
                    // Each alert's message is unique (its marker carries a sequence number);
                    // the sink writes ECS lines, the message in `event.original`.
                    ids.insert(v["event"]["original"].to_string());
                }
                Ok((n, ids.len() as u64))
            })
        })?
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The NATS server is killed in the middle of the alerts and started again on its store:
/// what it never acknowledged waits in the spool and is published again. The stream then holds
/// every alert once, and the sink's counters account for each.
pub(super) fn nats_restart(rig: &Rig, scale: Scale) -> anyhow::Result<Outcome> {
    let store = rig.dir.0.join("store");
    std::fs::create_dir_all(&store)?;
    let rules = marker_rule(&rig.dir.0, "chaos-marker")?;
    let config = rig.dir.0.join("ingest.toml");
    std::fs::write(
        &config,
        format!(
            "[[sink]]\nkind = \"nats\"\nname = \"js\"\naddress = \"nats://127.0.0.1:{}\"\n\
             ack_timeout_ms = 1000\nmax_in_flight = 64\nqueue = 100000\nspool_dir = \"{}\"\n",
            Nats::PORT,
            rig.dir.0.join("spool").display()
        ),
    )?;
    let server = Nats::start(rig, &store)?;
    let daemon = rig.start(&[
        "--config",
        config.to_str().unwrap_or_default(),
        "--rules",
        rules.to_str().unwrap_or_default(),
    ])?;
    let third = (scale.messages / 3).max(100);
    let rate = scale.rate.min(5_000.0);
    let mut sent = rig.send_udp(testbed::netns::ADDR_A.into(), third, rate, marked)?;
    server.kill();
    sent += rig.send_udp(testbed::netns::ADDR_A.into(), third, rate, |i| {
        marked(i + 1_000_000)
    })?;
    let server = Nats::start(rig, &store)?;
    sent += rig.send_udp(testbed::netns::ADDR_A.into(), third, rate, |i| {
        marked(i + 2_000_000)
    })?;
    rig.wait_for(
        "ingest_sink_records_delivered_total",
        &[("sink", "js")],
        sent as f64,
        Duration::from_secs(60),
    )?;
    let stopped = daemon.stop()?;
    let (in_stream, distinct) = Nats::stream(rig)?;
    drop(server);
    let drops = stopped.drops();
    let received = stopped.received();
    let sink = sink_report(&stopped);
    let raised = stopped.get("/alerts_raised_total");
    Ok(Outcome {
        name: "nats-restart",
        sent,
        received,
        checks: vec![
            Check::new(
                "datagrams: sent = received + drops",
                sent,
                received + drops_sum(&drops),
            ),
            Check::new(
                "alerts: raised = delivered + still spooled + dropped",
                raised,
                field(&sink, "delivered")
                    + field(&sink, "spool_pending")
                    + field(&sink, "dropped_queue_full")
                    + field(&sink, "dropped_undeliverable"),
            ),
            Check::new("the stream holds each alert once", raised, distinct),
            Check::new("and nothing twice", in_stream, distinct),
        ],
        drops,
        notes: vec![format!(
            "{} spooled while the server was down, {} published again, {} failures",
            field(&sink, "spooled"),
            field(&sink, "replayed"),
            field(&sink, "failures")
        )],
    })
}

/// Sends `count` marked messages on a thread while `during` runs; returns what was sent.
fn under_load<T>(
    rig: &Rig,
    count: u64,
    rate: f64,
    during: impl FnOnce() -> anyhow::Result<T>,
) -> anyhow::Result<(u64, T)> {
    std::thread::scope(|s| {
        let sender = s.spawn(|| rig.send_udp(testbed::netns::ADDR_A.into(), count, rate, marked));
        let result = during();
        let sent = sender
            .join()
            .map_err(|_| anyhow::anyhow!("the sender panicked"))??;
        Ok((sent, result?))
    })
}

/// Three reloads while messages stream in: every message is received or counted, across every
/// engine swap.
pub(super) fn reload_under_load(rig: &Rig, scale: Scale) -> anyhow::Result<Outcome> {
    let rules = marker_rule(&rig.dir.0, "chaos-marker")?;
    let daemon = rig.start(&["--rules", rules.to_str().unwrap_or_default()])?;
    let n = scale.messages.max(6_000);
    let rate = scale.rate.min(10_000.0);
    let seconds = n as f64 / rate;
    let (sent, said) = under_load(rig, n, rate, || {
        let mut said = Vec::new();
        for _ in 0..3 {
            std::thread::sleep(Duration::from_secs_f64(seconds / 4.0));
            said.push(rig.ingest_command(&[
                "reload",
                "--addr",
                super::rig::METRICS,
                "--pid",
                &daemon.process.pid().to_string(),
            ])?);
        }
        Ok(said)
    })?;
    std::thread::sleep(Duration::from_millis(500));
    let generation = rig.metric("ingest_rules_generation", &[])?;
    let stopped = daemon.stop()?;
    let drops = stopped.drops();
    let received = stopped.received();
    Ok(Outcome {
        name: "reload-under-load",
        sent,
        received,
        checks: vec![
            Check::new(
                "datagrams: sent = received + drops",
                sent,
                received + drops_sum(&drops),
            ),
            Check::new("reloads applied", 3, generation as u64),
        ],
        drops,
        notes: vec![
            said.last()
                .map(|s| s.trim().to_string())
                .unwrap_or_default(),
        ],
    })
}

/// SIGTERM while messages stream in: the steering goes off first, then the rings and socket
/// buffers are drained. Every datagram the XDP program steered is received or counted, and so
/// is every one the sockets took; what arrives after the steering is off is the kernel's (no
/// listener), not a loss inside the appliance.
pub(super) fn sigterm_under_load(rig: &Rig, scale: Scale) -> anyhow::Result<Outcome> {
    let daemon = rig.start(&[])?;
    let n = scale.messages.max(6_000);
    let rate = scale.rate.min(20_000.0);
    let (sent, stopped) = under_load(rig, n, rate, || {
        std::thread::sleep(Duration::from_secs_f64(n as f64 / rate / 2.0));
        daemon.stop()
    })?;
    let drops = stopped.drops();
    let received = stopped.received();
    let after_close = sent.saturating_sub(received + drops_sum(&drops));
    let xdp = |name: &str| stopped.get(&format!("/xdp/{name}"));
    let queue_drops: u64 = drops
        .iter()
        .filter(|(k, _)| k.starts_with("xsk_") || k.starts_with("frame_"))
        .map(|(_, v)| v)
        .sum();
    let udp_drops: u64 = drops
        .iter()
        .filter(|(k, _)| k.starts_with("udp_"))
        .map(|(_, v)| v)
        .sum();
    Ok(Outcome {
        name: "sigterm-under-load",
        sent,
        received,
        checks: vec![
            Check::new(
                "steered by XDP = received through AF_XDP + ring and frame drops",
                xdp("xdp_steered"),
                stopped.get("/messages_received_xdp_total") + queue_drops,
            ),
            Check::new(
                "taken by the sockets = received on them + socket drops",
                stopped.get("/udp/datagrams") + stopped.get("/udp/dropped_socket"),
                stopped.get("/messages_received_udp_total") + udp_drops,
            ),
        ],
        drops,
        notes: vec![format!(
            "stopped half way: {} received through AF_XDP before the steering went off, {} by \
             the sockets while draining; the other {} arrived after the sockets closed",
            stopped.get("/messages_received_xdp_total"),
            stopped.get("/messages_received_udp_total"),
            after_close
        )],
    })
}

/// TLS clients with a certificate from another CA, one the allow-list does not name, and one
/// speaking plaintext, beside an admitted client: each refusal counted by reason, every
/// message of the admitted client received.
pub(super) fn tls_wrong_certificate(rig: &Rig, scale: Scale) -> anyhow::Result<Outcome> {
    use testbed::tls::{Pki, client_config, send_messages};
    const TLS_PORT: u16 = 6514;
    let site = Pki::new(&rig.dir.0, "site");
    let rogue = Pki::new(&rig.dir.0, "rogue");
    let server = site.issue(
        "collector",
        "collector",
        &[&testbed::netns::ADDR_B.to_string()],
    );
    let admitted = site.issue("router1", "router-1.example", &["router-1.example"]);
    let stranger = site.issue("router2", "router-2.example", &["router-2.example"]);
    let forged = rogue.issue("forged", "router-1.example", &["router-1.example"]);
    let path = |p: &std::path::Path| p.to_str().unwrap_or_default().to_string();
    let (cert, key, ca) = (path(&server.cert), path(&server.key), path(&site.ca()));
    let daemon = rig.start(&[
        "--backend",
        "socket",
        "--tls-ports",
        &TLS_PORT.to_string(),
        "--tls-cert",
        &cert,
        "--tls-key",
        &key,
        "--tls-client-ca",
        &ca,
        "--tls-allowed-clients",
        "router-1.example",
    ])?;
    let addr = std::net::SocketAddr::from((testbed::netns::ADDR_B, TLS_PORT));
    let n = (scale.messages / 4).max(100);
    let messages: Vec<String> = (0..n).map(marked).collect();
    let attempt = |config| {
        testbed::netns::VethPair::run_in(&rig.pair.ns_a, || {
            send_messages(addr, config, &messages).is_ok()
        })
    };
    anyhow::ensure!(
        attempt(client_config(&site.ca(), Some(&admitted)))?,
        "the admitted client was refused"
    );
    let tries = 5u64;
    let mut let_in = 0;
    for _ in 0..tries {
        for config in [
            client_config(&site.ca(), Some(&forged)),
            client_config(&site.ca(), Some(&stranger)),
            client_config(&site.ca(), None),
        ] {
            let_in += u64::from(attempt(config)?);
        }
    }
    let stopped = daemon.stop()?;
    let drops = stopped.drops();
    let received = stopped.received();
    let tcp = |k: &str| stopped.get(&format!("/tcp/{k}"));
    let refused = tcp("tls_refused_certificate")
        + tcp("tls_refused_not_allowed")
        + tcp("tls_refused_handshake")
        + tcp("tls_refused_timeout");
    Ok(Outcome {
        name: "tls-wrong-certificate",
        sent: n,
        received,
        checks: vec![
            Check::new(
                "messages of the admitted client = received over TLS",
                n,
                tcp("tls_messages"),
            ),
            Check::new("refused clients let in", 0, let_in),
            Check::new(
                "connections: accepted = handshakes + refusals",
                tcp("connections_accepted"),
                tcp("tls_handshakes") + refused,
            ),
            Check::new(
                "refused: 5 of another CA and 5 without a certificate, 5 not allowed",
                3 * tries,
                refused,
            ),
        ],
        drops,
        notes: vec![format!(
            "refused: certificate {}, not allowed {}, handshake {}, timeout {}",
            tcp("tls_refused_certificate"),
            tcp("tls_refused_not_allowed"),
            tcp("tls_refused_handshake"),
            tcp("tls_refused_timeout")
        )],
    })
}

/// Plaintext TCP syslog gone wrong: well-framed messages, a message longer than the limit, a
/// stream whose octet count is not a number, and a connection closed in the middle of a
/// message. Every message is received or dropped with its reason.
pub(super) fn tcp_abuse(rig: &Rig, scale: Scale) -> anyhow::Result<Outcome> {
    use std::io::Write;
    let daemon = rig.start(&["--backend", "socket", "--tcp-max-message", "4096"])?;
    let n = (scale.messages / 4).max(100);
    let to = std::net::SocketAddr::from((testbed::netns::ADDR_B, super::rig::PORT));
    let sent = testbed::netns::VethPair::run_in(&rig.pair.ns_a, || -> anyhow::Result<u64> {
        let connect = || std::net::TcpStream::connect_timeout(&to, Duration::from_secs(5));
        let mut sent = 0;
        // Well framed, with a too-long message in the middle: skipped, the stream goes on.
        let mut good = connect()?;
        for i in 0..n {
            let m = marked(i);
            write!(good, "{} {m}", m.len())?;
            sent += 1;
            if i == n / 2 {
                let long = "y".repeat(5000);
                write!(good, "{} {long}", long.len())?;
                sent += 1;
            }
        }
        drop(good);
        // An octet count that is not a number: the rest of that stream is discarded.
        let mut bad = connect()?;
        bad.write_all(b"12x <14>Dec  7 10:00:00 chaos app[1]: bad count")?;
        sent += 1;
        drop(bad);
        // Closed half way through a message.
        let mut cut = connect()?;
        cut.write_all(b"100 <14>Dec  7 10:00:00 chaos app[1]: cut short")?;
        sent += 1;
        drop(cut);
        Ok(sent)
    })??;
    std::thread::sleep(Duration::from_millis(500));
    let stopped = daemon.stop()?;
    let drops = stopped.drops();
    let received = stopped.received();
    Ok(Outcome {
        name: "tcp-abuse",
        sent,
        received,
        checks: vec![Check::new(
            "messages: sent = received + drops",
            sent,
            received + drops_sum(&drops),
        )],
        drops,
        notes: Vec::new(),
    })
}
