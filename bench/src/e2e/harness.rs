//! The namespaces, the capture of each rate, and one target's run: start it, replay into it,
//! measure its CPU, stop it, read its counters and alerts.

use super::options::{E2eOptions, Target, UNPACED_PPS};
use super::results::RunResult;
use super::score::score;
use std::{
    collections::BTreeMap,
    io::Write as _,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use ingest::sys::cpu;
use serde_json::Value;
use testbed::netns::{self, Spawned, VethPair};

use crate::{
    datapath::{cpu_idle_ns, process_cpu_ns},
    replay::{ReplayStats, Replayer},
    traffic::{self, GenOptions, LabelFile},
};

pub(super) struct Harness<'a> {
    pub(super) opts: &'a E2eOptions,
    pub(super) pair: VethPair,
    pub(super) rewrite: traffic::Rewrite,
    pub(super) rules_dir: PathBuf,
    pub(super) step: usize,
    /// Progress on stderr (hidden with `--json`); what the appliance under test logs is
    /// printed above it.
    pub(super) bar: indicatif::ProgressBar,
}

/// One rate's capture, ready to send.
pub(super) struct Workload {
    pub(super) frames: Vec<Vec<u8>>,
    pub(super) datagrams: u64,
    /// VLAN-tagged fragments in `frames`, and the datagrams they carry.
    pub(super) tagged: (u64, u64),
    pub(super) labels: LabelFile,
}

impl Harness<'_> {
    /// The capture for `rate`: long enough for `seconds` of sending at that rate (at least the
    /// configured messages), so that no receiver's buffers hide what it cannot keep up with.
    /// Written with its labels into the output folder.
    pub(super) fn workload(
        &mut self,
        rate: Option<f64>,
        files: &mut Vec<PathBuf>,
    ) -> anyhow::Result<Workload> {
        let o = self.opts;
        let tag = rate.map_or("max".into(), |r| format!("{r:.0}"));
        self.progress(&format!("generating the capture for {tag}/s"));
        let pps = rate.unwrap_or(UNPACED_PPS);
        let capture_opts = GenOptions {
            messages: o.capture.messages.max((pps * o.seconds) as usize),
            ..o.capture
        };
        let capture = traffic::generate(capture_opts);
        let labels = LabelFile {
            seed: capture_opts.seed,
            duration_s: capture.duration_s,
            warmup_messages: capture.warmup_messages,
            labels: capture.labels.clone(),
        };
        let pcap = o.out.join(format!("capture-{tag}.pcap"));
        let mut w = std::io::BufWriter::new(std::fs::File::create(&pcap)?);
        traffic::write_pcap(&mut w, &capture.frames)?;
        w.flush()?;
        let labels_path = o.out.join(format!("capture-{tag}.labels.json"));
        std::fs::write(&labels_path, serde_json::to_vec_pretty(&labels)?)?;
        files.extend([pcap, labels_path]);
        let (frames, _) = traffic::rewrite(&capture.frames, &self.rewrite);
        let datagrams = frames
            .iter()
            .filter(|(_, f)| traffic::first_of_datagram(f))
            .count() as u64;
        let frames: Vec<Vec<u8>> = frames.into_iter().map(|(_, f)| f).collect();
        Ok(Workload {
            tagged: traffic::tagged_fragments(&frames),
            frames,
            datagrams,
            labels,
        })
    }

    fn progress(&mut self, what: &str) {
        self.step += 1;
        self.bar.set_message(what.to_string());
        self.bar.set_position(self.step as u64);
    }

    /// Prints what `daemon` writes on stderr (its warnings) above the progress bar, each line
    /// named by `who`, until it exits.
    fn forward_stderr(&self, daemon: &mut Spawned, who: String) {
        let Some(stderr) = daemon.take_stderr() else {
            return;
        };
        let bar = self.bar.clone();
        std::thread::spawn(move || {
            use std::io::BufRead as _;
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if bar.is_hidden() {
                    eprintln!("{who}: {line}");
                } else {
                    bar.println(format!("{who}: {line}"));
                }
            }
        });
    }

    /// Replays the capture once into `target` at `rate` and measures.
    pub(super) fn run(
        &mut self,
        w: &Workload,
        target: Target,
        rate: Option<f64>,
    ) -> anyhow::Result<RunResult> {
        let label = rate.map_or("max".into(), |r| format!("{r:.0}/s"));
        self.progress(&format!("{} at {label}", target.name()));
        let o = self.opts;
        let tag = format!(
            "{}-{}",
            target.name(),
            rate.map_or("max".into(), |r| format!("{r:.0}"))
        );
        let stats_path = o.out.join(format!("stats-{tag}.json"));
        let peer_file = o.out.join(format!("received-{tag}.log"));
        let _ = std::fs::remove_file(&peer_file);
        let cpu = o.receiver_cpu.to_string();
        let daemon = match target {
            Target::Peer(p) => self.start_peer(p, &peer_file)?,
            _ => {
                let mut cmd =
                    VethPair::command(&self.pair.ns_b, o.ingest.to_str().context("ingest path")?);
                // The worker on the receiver's CPU. Housekeeping shares it (so that the CPU
                // measured is the appliance's), except when busy-polling for latency, where it
                // goes to the other CPU as it would on a tuned host.
                let housekeeping = match target {
                    Target::Xdp { busy_poll: true } => o.sender_cpu.to_string(),
                    _ => cpu.clone(),
                };
                cmd.args(["run", "--iface", netns::IFACE_B, "--no-tcp"])
                    .args(["--cpus", &cpu, "--housekeeping-cpus", &housekeeping])
                    .args(["--metrics-addr", ""])
                    .arg("--stats-json")
                    .arg(&stats_path)
                    // Warnings and errors, printed above the progress bar; not every start-up
                    // line of every run.
                    .env("RUST_LOG", "warn")
                    .stderr(std::process::Stdio::piped());
                match target {
                    Target::Xdp { busy_poll: true } => {
                        cmd.args(["--mode", "busy-poll"]);
                    }
                    _ => {
                        cmd.args(["--mode", "poll", "--poll-coalesce-us", "200"]);
                    }
                }
                if target == Target::Socket {
                    cmd.args(["--backend", "socket"]);
                } else {
                    // A UMEM as large as the socket path's receive buffer (64 MiB), so that both
                    // ride out the same bursts.
                    cmd.args(["--frame-count", "16384", "--rx-ring-size", "8192"]);
                }
                if target == Target::Baseline {
                    cmd.args(["--deny-source", "0.0.0.0/0,::/0"]);
                } else {
                    for r in o.rules.iter().chain([&self.rules_dir]) {
                        cmd.arg("--rules").arg(r);
                    }
                    cmd.args(["--learn", "--learn-interval", "1", "--clock", "event"])
                        .args(["--learn-warmup", &w.labels.warmup_messages.to_string()]);
                }
                cmd.args(&o.ingest_args);
                let mut d = Spawned::spawn(cmd).context("starting ingest")?;
                self.forward_stderr(&mut d, format!("ingest ({})", target.name()));
                d.wait_for_first_line("\"ready\"", Duration::from_secs(30))?;
                d
            }
        };

        let cpus = [o.sender_cpu, o.receiver_cpu];
        let idle_before = cpu_idle_ns(&cpus)?;
        let proc_before = process_cpu_ns(daemon.pid())?;
        let window = Instant::now();
        let sender_cpu = o.sender_cpu;
        let frames = &w.frames;
        // Once through the capture: long enough at any rate the generator reaches.
        let longest =
            Duration::from_secs_f64(rate.map_or(60.0, |r| (frames.len() as f64 / r) * 2.0 + 10.0));
        let replay = if target == Target::XdpTcpreplay {
            self.tcpreplay(w, rate, &tag)?
        } else {
            VethPair::run_in(&self.pair.ns_a, || {
                if let Err(e) = cpu::pin_current_thread(&[sender_cpu]) {
                    log::warn!("pinning the sender to CPU {sender_cpu}: {e}");
                }
                Replayer::new(netns::IFACE_A, frames.clone())?.run(
                    rate,
                    longest,
                    frames.len() as u64,
                )
            })??
        };
        // Let the receiver drain its rings and buffers (and a peer write its file).
        std::thread::sleep(Duration::from_millis(
            if matches!(target, Target::Peer(_)) {
                1000
            } else {
                500
            },
        ));
        let idle = cpu_idle_ns(&cpus)?.saturating_sub(idle_before);
        let wall = window.elapsed().as_nanos() as u64 * cpus.len() as u64;
        let busy_ns = wall.saturating_sub(idle);
        let process_cpu_ns = process_cpu_ns(daemon.pid())?.saturating_sub(proc_before);
        let (status, lines) = daemon.terminate(Duration::from_secs(15))?;
        if !status.success() && !matches!(target, Target::Peer(_)) {
            bail!("{} exited with {status}", target.name());
        }
        let sent = w.datagrams;
        let mut result = RunResult {
            target: target.name(),
            offered_pps: rate,
            replay,
            received: 0,
            loss_ratio: 1.0,
            drops: BTreeMap::new(),
            accounting_ok: None,
            busy_ns,
            process_cpu_ns,
            cpu_ns_per_msg: None,
            cpu_split: None,
            alerts: 0,
            detection: None,
            latency_ns: None,
        };
        if let Target::Peer(_) = target {
            result.received = count_lines(&peer_file)?;
            let _ = std::fs::remove_file(&peer_file);
        } else {
            let stats: Value = serde_json::from_slice(
                &std::fs::read(&stats_path)
                    .with_context(|| format!("reading {}", stats_path.display()))?,
            )?;
            result.received = stats["messages_received_total"].as_u64().unwrap_or(0);
            let drops: BTreeMap<String, u64> = stats["drops"]
                .as_object()
                .map(|d| {
                    d.iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.as_u64()?)))
                        .filter(|(_, v)| *v > 0)
                        .collect()
                })
                .unwrap_or_default();
            result.accounting_ok = Some(accounts_for(result.received, &drops, sent, w.tagged));
            result.drops = drops;
            result.latency_ns = Some(stats["latency_ns"].clone());
            if target != Target::Baseline {
                let alerts: Vec<Value> = lines
                    .iter()
                    .filter(|l| l.contains("\"event\":\"alert\""))
                    .filter_map(|l| serde_json::from_str(l).ok())
                    .collect();
                result.alerts = alerts.len() as u64;
                result.detection = Some(score(&alerts, &w.labels.labels));
                let path = o.out.join(format!("alerts-{tag}.jsonl"));
                let text: String = alerts.iter().map(|a| format!("{a}\n")).collect();
                std::fs::write(path, text)?;
            } else {
                let _ = std::fs::remove_file(&stats_path);
            }
        }
        result.loss_ratio = sent.saturating_sub(result.received) as f64 / sent.max(1) as f64;
        Ok(result)
    }

    /// Sends the workload with `tcpreplay` (the frames as `bench replay` sends them, written to
    /// a pcap) at `rate`, pinned to the sender's CPU.
    fn tcpreplay(&self, w: &Workload, rate: Option<f64>, tag: &str) -> anyhow::Result<ReplayStats> {
        let pcap = self.opts.out.join(format!("replayed-{tag}.pcap"));
        let timed: Vec<(u64, Vec<u8>)> = w.frames.iter().map(|f| (0, f.clone())).collect();
        let mut file = std::io::BufWriter::new(std::fs::File::create(&pcap)?);
        traffic::write_pcap(&mut file, &timed)?;
        file.flush()?;
        drop(file);
        let mut cmd = VethPair::command(&self.pair.ns_a, "taskset");
        cmd.args(["-c", &self.opts.sender_cpu.to_string(), "tcpreplay"])
            .arg(format!("--intf1={}", netns::IFACE_A));
        match rate {
            Some(r) => cmd.arg(format!("--pps={r:.0}")),
            None => cmd.arg("--topspeed"),
        };
        let out = cmd.arg(&pcap).output().context("running tcpreplay")?;
        let _ = std::fs::remove_file(&pcap);
        let text = String::from_utf8_lossy(&out.stdout);
        anyhow::ensure!(
            out.status.success(),
            "tcpreplay failed: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // "Actual: 60607 packets (15254390 bytes) sent in 3.03 seconds"
        let actual = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("Actual: "))
            .context("no 'Actual:' line from tcpreplay")?;
        let words: Vec<&str> = actual.split_whitespace().collect();
        let sent = words.first().and_then(|n| n.parse().ok()).unwrap_or(0);
        let elapsed_s = words
            .iter()
            .position(|w| *w == "in")
            .and_then(|i| words.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        Ok(ReplayStats {
            sent,
            elapsed_s,
            partial_batches: 0,
        })
    }
}

/// Whether something listens on UDP port 514 in namespace `ns`.
pub(super) fn udp_bound(ns: &str) -> anyhow::Result<bool> {
    let out = VethPair::command(ns, "ss")
        .args(["-Hlun", "sport", "=", ":514"])
        .output()
        .context("running ss")?;
    Ok(!String::from_utf8_lossy(&out.stdout).trim().is_empty())
}

fn count_lines(path: &Path) -> anyhow::Result<u64> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(bytecount(&bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

fn bytecount(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|b| **b == b'\n').count() as u64
}

/// Whether `received` and the named `drops` account for all `sent` datagrams, of which
/// `tagged` = (VLAN-tagged fragments, the datagrams they carry). Drops are counted in
/// datagrams, except `iface_rx_otherhost_dropped`, counted in frames (the kernel drops
/// VLAN-tagged fragments one by one): those frames are matched to the datagrams they belonged to.
fn accounts_for(
    received: u64,
    drops: &BTreeMap<String, u64>,
    sent: u64,
    tagged: (u64, u64),
) -> bool {
    let otherhost = drops
        .get("iface_rx_otherhost_dropped")
        .copied()
        .unwrap_or(0);
    let other: u64 = drops
        .iter()
        .filter(|(k, _)| *k != "iface_rx_otherhost_dropped")
        .map(|(_, v)| v)
        .sum();
    let (tagged_fragments, tagged_datagrams) = tagged;
    let lost_whole = if otherhost == tagged_fragments {
        tagged_datagrams
    } else {
        otherhost
    };
    received + other + lost_whole == sent
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounting_matches_fragment_drops_to_their_datagrams() {
        let none = BTreeMap::new();
        assert!(accounts_for(10, &none, 10, (0, 0)));
        assert!(!accounts_for(9, &none, 10, (0, 0)));
        let drops = BTreeMap::from([("xdp_dropped_denied".to_string(), 1)]);
        assert!(accounts_for(9, &drops, 10, (0, 0)));
        // Three tagged fragments of one datagram dropped by the kernel: one datagram lost.
        let otherhost = BTreeMap::from([("iface_rx_otherhost_dropped".to_string(), 3)]);
        assert!(accounts_for(9, &otherhost, 10, (3, 1)));
        assert!(!accounts_for(7, &otherhost, 10, (3, 1)));
    }
}
