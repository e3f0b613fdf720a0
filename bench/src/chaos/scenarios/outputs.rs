//! Scenarios of the outputs: the alert ring behind a stalled stdout, a syslog sink down and
//! back, NATS killed and restarted.

use std::time::Duration;

use super::{datagrams_close, field, marked, marker_rule, sink_report};
use crate::chaos::{Check, Outcome, Scale, rig::Rig};

/// Every message raises an alert while the daemon's stdout is not read (a stalled log
/// collector): the housekeeping thread blocks writing, the alert ring fills, and what does not
/// fit is dropped and counted. Every message is still received; every alert is printed or
/// counted as dropped.
pub(in crate::chaos) fn alert_ring_full(rig: &Rig, scale: Scale) -> anyhow::Result<Outcome> {
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
            datagrams_close(sent, received, &drops),
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

/// A syslog sink whose receiver is down when the alerts start: they wait in the spool, and
/// once the receiver listens they are delivered. Every alert is delivered or counted, and the
/// receiver got exactly what the sink says it delivered.
pub(in crate::chaos) fn sink_down_and_back(rig: &Rig, scale: Scale) -> anyhow::Result<Outcome> {
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
            datagrams_close(sent, received, &drops),
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
pub(in crate::chaos) fn nats_restart(rig: &Rig, scale: Scale) -> anyhow::Result<Outcome> {
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
            datagrams_close(sent, received, &drops),
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
