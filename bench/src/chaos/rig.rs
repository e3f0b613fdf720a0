//! One scenario's stage: a fresh namespace pair, `ingest run` on its receiving end with the
//! scenario's options, senders in the sending namespace, and the daemon's final report.

use std::{
    collections::BTreeMap,
    net::{SocketAddr, UdpSocket},
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use serde_json::Value;
use testbed::{
    TempDir,
    netns::{self, Spawned, VethPair},
    packet::PacketSender,
};

use super::frames::Link;

/// The metrics endpoint inside the receiving namespace.
pub(super) const METRICS: &str = "127.0.0.1:9600";
/// The log port.
pub(super) const PORT: u16 = 514;

/// A scenario's namespaces and folder, and the `ingest` binary.
pub(super) struct Rig {
    pub(super) pair: VethPair,
    pub(super) dir: TempDir,
    pub(super) ingest: PathBuf,
}

/// `ingest run` as a scenario started it.
pub(super) struct Daemon {
    pub(super) process: Spawned,
    stats: PathBuf,
}

/// What the daemon printed and counted, once stopped.
pub(super) struct Stopped {
    /// Its final report (`--stats-json`).
    pub(super) report: Value,
    /// Every stdout line after the ready line.
    pub(super) lines: Vec<String>,
}

impl Rig {
    /// A fresh pair and folder for the scenario `name`.
    pub(super) fn new(name: &str, ingest: &Path) -> anyhow::Result<Self> {
        Ok(Self {
            pair: VethPair::create().context("creating the namespaces")?,
            dir: TempDir::new(&format!("chaos-{name}")),
            ingest: ingest.to_path_buf(),
        })
    }

    /// Starts `ingest run` on the receiving end (XDP backend, poll mode, the metrics endpoint,
    /// a stats file) with `extra` arguments, and waits until it is ready.
    pub(super) fn start(&self, extra: &[&str]) -> anyhow::Result<Daemon> {
        let stats = self.dir.0.join("stats.json");
        let _ = std::fs::remove_file(&stats);
        let mut cmd = VethPair::command(&self.pair.ns_b, self.ingest.to_str().context("path")?);
        cmd.args(["run", "--iface", netns::IFACE_B, "--mode", "poll"])
            .args(["--metrics-addr", METRICS, "--stats-json"])
            .arg(&stats)
            .args(extra)
            // Its warnings show (a scenario's faults cause some); not every start-up line.
            .env("RUST_LOG", "warn");
        let mut process = Spawned::spawn(cmd).context("starting ingest")?;
        process.wait_for_first_line("\"ready\"", Duration::from_secs(30))?;
        Ok(Daemon { process, stats })
    }

    /// The link's addresses, for crafted frames.
    pub(super) fn link(&self) -> anyhow::Result<Link> {
        Ok(Link {
            src_mac: self.pair.mac(&self.pair.ns_a)?,
            dst_mac: self.pair.mac(&self.pair.ns_b)?,
            src: netns::ADDR_A,
            dst: netns::ADDR_B,
            src6: netns::ADDR6_A,
            dst6: netns::ADDR6_B,
            port: PORT,
        })
    }

    /// Sends `frames` from the sending namespace through AF_PACKET, about `rate` frames a
    /// second. Returns how many the kernel took.
    pub(super) fn send_frames(&self, frames: &[Vec<u8>], rate: f64) -> anyhow::Result<u64> {
        let sent = VethPair::run_in(&self.pair.ns_a, || -> anyhow::Result<u64> {
            let sender = PacketSender::open(netns::IFACE_A, true)?;
            let start = Instant::now();
            let mut sent = 0u64;
            for chunk in frames.chunks(32) {
                let due = start + Duration::from_secs_f64(sent as f64 / rate);
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                let refs: Vec<&[u8]> = chunk.iter().map(Vec::as_slice).collect();
                let mut done = 0;
                let deadline = Instant::now() + Duration::from_secs(5);
                while done < refs.len() {
                    done += sender.send_batch(&refs[done..])?;
                    if Instant::now() > deadline {
                        bail!("the link took no frame for 5 s");
                    }
                }
                sent += chunk.len() as u64;
            }
            Ok(sent)
        })??;
        Ok(sent)
    }

    /// Sends `count` syslog datagrams from `from` (an address of the sending namespace) to the
    /// log port, about `rate` a second, each made by `message`.
    pub(super) fn send_udp(
        &self,
        from: std::net::IpAddr,
        count: u64,
        rate: f64,
        message: impl Fn(u64) -> String + Send + Sync,
    ) -> anyhow::Result<u64> {
        let sent = VethPair::run_in(&self.pair.ns_a, || -> anyhow::Result<u64> {
            let sock = UdpSocket::bind(SocketAddr::new(from, 0))?;
            let to = SocketAddr::from((netns::ADDR_B, PORT));
            let start = Instant::now();
            for i in 0..count {
                if i % 16 == 0 {
                    let due = start + Duration::from_secs_f64(i as f64 / rate);
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                }
                sock.send_to(message(i).as_bytes(), to)?;
            }
            Ok(count)
        })??;
        Ok(sent)
    }

    /// Runs `ingest` with `args` in the receiving namespace (`ingest reload`, ...) and returns
    /// its stdout.
    pub(super) fn ingest_command(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = VethPair::command(&self.pair.ns_b, self.ingest.to_str().context("path")?)
            .args(args)
            .output()?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            bail!(
                "ingest {}: {text}{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(text)
    }

    /// The metrics endpoint's value of `name` with `labels` (summed).
    pub(super) fn metric(&self, name: &str, labels: &[(&str, &str)]) -> anyhow::Result<f64> {
        let scrape = VethPair::run_in(&self.pair.ns_b, || ingest::metrics::scrape(METRICS))??;
        Ok(scrape.sum(name, labels))
    }

    /// Waits until `metric` (summed over `labels`) reaches `at_least`, or `timeout` passes.
    pub(super) fn wait_for(
        &self,
        name: &str,
        labels: &[(&str, &str)],
        at_least: f64,
        timeout: Duration,
    ) -> anyhow::Result<f64> {
        let deadline = Instant::now() + timeout;
        loop {
            let v = self.metric(name, labels)?;
            if v >= at_least || Instant::now() > deadline {
                return Ok(v);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Daemon {
    /// Stops the daemon with SIGTERM (it must exit 0) and reads its report.
    pub(super) fn stop(self) -> anyhow::Result<Stopped> {
        let (status, lines) = self.process.terminate(Duration::from_secs(30))?;
        if !status.success() {
            bail!("ingest exited with {status}");
        }
        let report = serde_json::from_slice(
            &std::fs::read(&self.stats).with_context(|| format!("{}", self.stats.display()))?,
        )?;
        Ok(Stopped { report, lines })
    }
}

impl Stopped {
    /// Every named drop that is not zero: the daemon's own, and the kernel's of what XDP
    /// passed on (as `kernel/<name>`).
    pub(super) fn drops(&self) -> BTreeMap<String, u64> {
        let of = |key: &str, prefix: &str| -> Vec<(String, u64)> {
            self.report[key]
                .as_object()
                .map(|d| {
                    d.iter()
                        .filter_map(|(k, v)| Some((format!("{prefix}{k}"), v.as_u64()?)))
                        .filter(|(_, v)| *v > 0)
                        .collect()
                })
                .unwrap_or_default()
        };
        of("drops", "")
            .into_iter()
            .chain(of("kernel_drops", "kernel/"))
            .collect()
    }

    /// A counter of the report, by its JSON pointer (`/tcp/tls_messages`); 0 when absent.
    pub(super) fn get(&self, pointer: &str) -> u64 {
        self.report
            .pointer(pointer)
            .and_then(Value::as_u64)
            .unwrap_or(0)
    }

    /// Messages received, all paths.
    pub(super) fn received(&self) -> u64 {
        self.get("/messages_received_total")
    }

    /// The `{"event":"alert"}` lines printed.
    pub(super) fn alert_lines(&self) -> u64 {
        self.lines
            .iter()
            .filter(|l| l.contains("\"event\":\"alert\""))
            .count() as u64
    }
}
