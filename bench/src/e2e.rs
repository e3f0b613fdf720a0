//! `bench e2e`: the whole appliance against its labelled traffic and against its peers, in one
//! run.
//!
//! It generates a capture (`bench gen`), makes two namespaces joined by veth, and replays the
//! capture once per run at each offered rate into, in turn: a baseline (`ingest` dropping every
//! log packet in XDP), `ingest` with the XDP backend, `ingest` with the socket backend, rsyslog
//! (imudp, writing a file) and syslog-ng (udp source, writing a file). Sender and receiver are
//! pinned to different CPUs; CPU per message is measured as in `bench datapath` (busy time of
//! both CPUs minus the baseline's per frame sent, over messages received).
//!
//! `ingest` runs every rule (the SigmaHQ Linux rules, the native SSH brute-force rule, a
//! silence rule), mines templates and keeps rate baselines, on the capture's own time
//! (`--clock event`), so what it detects does not depend on how fast the capture is replayed.
//! Its alerts are scored against the capture's labels: per anomaly kind, recall over the
//! injected anomalies and precision over every alert of the kind (an alert about a background
//! anomaly the labels name, such as a real SSH attacker in the LogHub sample, is right).
//!
//! Last, a latency run: the XDP backend busy-polling at half the highest rate it took without
//! loss, whose per-stage histograms become the reports (`bench report`).
//!
//! VLAN tags are removed from the replayed frames unless `--keep-vlan`: this kernel cannot make
//! VLAN devices, so the kernel's path (the socket backend and both peers) would drop every
//! tagged frame, which says nothing about them. `bench/tests/replay.rs` covers tagged traffic.

use std::{
    collections::BTreeMap,
    io::Write as _,
    net::{IpAddr, SocketAddr},
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use ingest::sys::cpu;
use serde::Serialize;
use serde_json::Value;
use testbed::netns::{self, Spawned, VethPair};

use crate::{
    datapath::{cpu_idle_ns, process_cpu_ns},
    replay::{ReplayStats, Replayer},
    report,
    traffic::{self, GenOptions, Label, LabelFile},
};

/// What to run.
#[derive(Clone, Debug)]
pub struct E2eOptions {
    /// The `ingest` binary.
    pub ingest: PathBuf,
    /// Rule folders for `ingest --rules` (a silence rule for the capture is added).
    pub rules: Vec<PathBuf>,
    /// Where the capture, the labels, the alerts and the reports go.
    pub out: PathBuf,
    /// The capture.
    pub capture: GenOptions,
    /// Offered rates, frames per second; `None`: as fast as the generator goes.
    pub rates: Vec<Option<f64>>,
    /// Run the socket backend too.
    pub socket: bool,
    /// Peers to run (`rsyslog`, `syslog-ng`).
    pub peers: Vec<Peer>,
    /// CPU of the sender.
    pub sender_cpu: usize,
    /// CPU of the receiver.
    pub receiver_cpu: usize,
    /// Keep VLAN tags on the replayed frames.
    pub keep_vlan: bool,
    /// Measure CPU (needs the baseline runs).
    pub cpu: bool,
    /// Seconds of sending per run: each rate's capture has rate x seconds messages (at least
    /// `capture.messages`).
    pub seconds: f64,
    /// Also send the first rate's capture with `tcpreplay` and compare.
    pub tcpreplay: bool,
    /// Extra arguments for every `ingest run`.
    pub ingest_args: Vec<String>,
    /// Print progress on stderr.
    pub progress: bool,
}

/// A syslog daemon to compare with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Peer {
    /// rsyslog with imudp and omfile.
    Rsyslog,
    /// syslog-ng with a udp network source and a file destination.
    SyslogNg,
}

impl Peer {
    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Peer::Rsyslog => "rsyslog",
            Peer::SyslogNg => "syslog-ng",
        }
    }

    /// Parses a name.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "rsyslog" => Some(Peer::Rsyslog),
            "syslog-ng" => Some(Peer::SyslogNg),
            _ => None,
        }
    }
}

/// What is run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    Baseline,
    Xdp {
        busy_poll: bool,
    },
    /// The XDP backend, the capture sent by Debian's `tcpreplay` instead of `bench replay`.
    XdpTcpreplay,
    Socket,
    Peer(Peer),
}

impl Target {
    fn name(self) -> &'static str {
        match self {
            Target::Baseline => "baseline",
            Target::Xdp { busy_poll: false } => "xdp",
            Target::Xdp { busy_poll: true } => "xdp-busy-poll",
            Target::XdpTcpreplay => "xdp-tcpreplay",
            Target::Socket => "socket",
            Target::Peer(p) => p.name(),
        }
    }
}

/// Precision and recall of one anomaly kind.
#[derive(Clone, Debug, Default, Serialize)]
pub struct KindScore {
    /// Alerts of the kind that match a label (injected or background).
    pub true_positives: u64,
    /// Alerts of the kind.
    pub alerts: u64,
    /// true_positives / alerts (1 when there is no alert).
    pub precision: f64,
    /// Injected anomalies of the kind.
    pub injected: u64,
    /// Injected anomalies some alert found.
    pub found: u64,
    /// found / injected.
    pub recall: f64,
    /// Background anomalies of the kind (labelled, not injected) some alert found, of those
    /// labelled.
    pub background_found: u64,
    /// Background anomalies labelled.
    pub background: u64,
    /// Alerts that matched no label, as `rule: message` (the first few).
    pub false_positives: Vec<String>,
}

impl KindScore {
    /// Precision and recall from the counts.
    fn finish(&mut self) {
        self.precision = if self.alerts == 0 {
            1.0
        } else {
            self.true_positives as f64 / self.alerts as f64
        };
        self.recall = if self.injected == 0 {
            1.0
        } else {
            self.found as f64 / self.injected as f64
        };
    }
}

/// One run: a target at an offered rate.
#[derive(Clone, Debug, Serialize)]
pub struct RunResult {
    /// `baseline`, `xdp`, `xdp-busy-poll`, `socket`, `rsyslog`, `syslog-ng`.
    pub target: &'static str,
    /// Offered frames per second (`None`: as fast as possible).
    pub offered_pps: Option<f64>,
    /// What the replayer did.
    pub replay: ReplayStats,
    /// Messages received (for a peer: lines in its file).
    pub received: u64,
    /// (datagrams sent - received) / datagrams sent.
    pub loss_ratio: f64,
    /// Named drops by reason (ingest only; non-zero ones).
    pub drops: BTreeMap<String, u64>,
    /// received + named drops account for every datagram sent (ingest only).
    pub accounting_ok: Option<bool>,
    /// Busy nanoseconds of both CPUs during the run.
    pub busy_ns: u64,
    /// CPU time of the receiving process.
    pub process_cpu_ns: u64,
    /// (busy - baseline busy per frame x frames sent) / received.
    pub cpu_ns_per_msg: Option<f64>,
    /// Where `cpu_ns_per_msg` went (ingest only).
    pub cpu_split: Option<CpuSplit>,
    /// Alerts raised (ingest with rules).
    pub alerts: u64,
    /// Detection scores (ingest with rules).
    pub detection: Option<BTreeMap<String, KindScore>>,
    /// ingest's latency percentiles per stage.
    pub latency_ns: Option<Value>,
}

/// Where a message's CPU went, nanoseconds per message received: the whole machine's
/// (net of the sender, as `cpu_ns_per_msg`) split by ingest's own account of its stages.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct CpuSplit {
    /// Outside ingest's threads: the driver, XDP, the copy into UMEM or the socket, softirqs
    /// (the machine's CPU per message minus the process's).
    pub kernel: f64,
    /// Decoding, counting and parsing (the pipeline's exact parse-stage sum).
    pub parse: f64,
    /// The detection engine (the exact detect-stage sum).
    pub detect: f64,
    /// The rest of ingest's threads: taking batches off the rings (system calls, wakeups),
    /// recycling frames, publishing counters, housekeeping, sinks.
    pub bookkeeping: f64,
}

impl CpuSplit {
    /// The split of a run whose machine CPU per message was `total`, from the process's CPU
    /// and ingest's stats.
    fn of(total: f64, process_cpu_ns: u64, received: u64, stats: &Value) -> Self {
        let n = received.max(1) as f64;
        let stage = |s: &str| stats["stages"][s]["sum"].as_u64().unwrap_or(0) as f64 / n;
        let process = process_cpu_ns as f64 / n;
        let (parse, detect) = (stage("parse"), stage("detect"));
        Self {
            kernel: (total - process).max(0.0),
            parse,
            detect,
            bookkeeping: (process - parse - detect).max(0.0),
        }
    }
}

/// `bench replay` and `tcpreplay` sending the same capture into the XDP backend.
#[derive(Clone, Debug, Serialize)]
pub struct TcpreplayCheck {
    /// The rate both were asked for.
    pub offered_pps: Option<f64>,
    /// Frames each sent.
    pub sent: [u64; 2],
    /// The rate each achieved.
    pub achieved_pps: [f64; 2],
    /// Messages the appliance received from each.
    pub received: [u64; 2],
    /// Alerts per kind from each.
    pub alerts: [BTreeMap<String, u64>; 2],
    /// The same messages received and the same alerts raised.
    pub same: bool,
}

impl TcpreplayCheck {
    fn of(ours: &RunResult, theirs: &RunResult) -> Self {
        let alerts = |r: &RunResult| -> BTreeMap<String, u64> {
            r.detection
                .iter()
                .flatten()
                .map(|(k, s)| (k.clone(), s.alerts))
                .collect()
        };
        let alerts = [alerts(ours), alerts(theirs)];
        Self {
            offered_pps: ours.offered_pps,
            sent: [ours.replay.sent, theirs.replay.sent],
            achieved_pps: [ours.replay.pps(), theirs.replay.pps()],
            received: [ours.received, theirs.received],
            same: ours.received == theirs.received && alerts[0] == alerts[1],
            alerts,
        }
    }
}

/// A backend's or peer's summary.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// Messages received at the highest offered rate.
    pub received: u64,
    /// Loss at the highest offered rate.
    pub loss_ratio: f64,
    /// Highest achieved rate without loss.
    pub lossless_pps: Option<f64>,
    /// CPU per message at the comparison rate (the highest every target took without loss).
    pub cpu_ns_per_msg: Option<f64>,
}

/// Everything, as printed with `--json`.
#[derive(Clone, Debug, Serialize)]
pub struct E2eReport {
    /// Datagrams in the captures of all rates (each sent once to every target).
    pub sent: u64,
    /// Every ingest run accounted for every datagram.
    pub accounting_ok: bool,
    /// `xdp`, `socket`.
    pub backends: BTreeMap<String, Summary>,
    /// `rsyslog`, `syslog-ng` (those that ran).
    pub peers: BTreeMap<String, Summary>,
    /// Peers that could not run, and why.
    pub peers_skipped: BTreeMap<String, String>,
    /// The rate the CPU per message is compared at.
    pub compare_at_pps: Option<f64>,
    /// Scores of the XDP backend's lossless runs together (each rate has its own capture).
    pub detection: BTreeMap<String, KindScore>,
    /// The latency run's percentiles per stage (XDP, busy-poll).
    pub latency_ns: BTreeMap<String, ingest::daemon::Percentiles>,
    /// The rate the latency run was offered.
    pub latency_offered_pps: Option<f64>,
    /// The first rate's capture sent by `tcpreplay` instead, compared.
    pub tcpreplay: Option<TcpreplayCheck>,
    /// Every run.
    pub runs: Vec<RunResult>,
    /// The files written.
    pub report_files: Vec<PathBuf>,
}

/// What unpaced sending reaches here, for sizing its capture.
const UNPACED_PPS: f64 = 400_000.0;

/// The silence rule the capture's silent host should trip: a host that sent at least 20
/// messages, then nothing for 20 times its usual interval and at least 10 s (capture time).
const SILENCE_RULE: &str = r#"# Written by bench e2e for its capture.
[[silence]]
id = "quiet-host"
title = "A host stopped sending logs"
level = "medium"
group_by = "host"
factor = 20
min_events = 20
min_quiet = "10s"
"#;

struct Harness<'a> {
    opts: &'a E2eOptions,
    pair: VethPair,
    rewrite: traffic::Rewrite,
    rules_dir: PathBuf,
    step: usize,
    steps: usize,
    started: Instant,
}

/// Runs everything.
pub fn run(opts: &E2eOptions) -> anyhow::Result<E2eReport> {
    netns::available().map_err(|why| anyhow::anyhow!("bench e2e needs namespaces: {why}"))?;
    std::fs::create_dir_all(&opts.out)
        .with_context(|| format!("creating {}", opts.out.display()))?;
    let mut files = Vec::new();

    let rules_dir = opts.out.join("rules");
    std::fs::create_dir_all(&rules_dir)?;
    std::fs::write(rules_dir.join("silence.toml"), SILENCE_RULE)?;
    let pair = VethPair::create().context("creating the veth pair")?;
    let rewrite = traffic::Rewrite {
        src_mac: pair.mac(&pair.ns_a)?,
        dst_mac: pair.mac(&pair.ns_b)?,
        dst_v4: netns::ADDR_B,
        dst_v6: netns::ADDR6_B,
        dst_port: 514,
        strip_vlan: !opts.keep_vlan,
    };

    let mut targets = vec![Target::Xdp { busy_poll: false }];
    if opts.socket {
        targets.push(Target::Socket);
    }
    targets.extend(opts.peers.iter().map(|p| Target::Peer(*p)));
    let mut peers_skipped = BTreeMap::new();
    targets.retain(|t| match t {
        Target::Peer(p) => match peer_command(*p) {
            Ok(_) => true,
            Err(why) => {
                log::warn!("{} skipped: {why}", p.name());
                peers_skipped.insert(p.name().to_string(), why.to_string());
                false
            }
        },
        _ => true,
    });
    let use_tcpreplay = opts.tcpreplay
        && std::process::Command::new("tcpreplay")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success());
    if opts.tcpreplay && !use_tcpreplay {
        log::warn!("tcpreplay not installed: no comparison (deploy/bootstrap.sh installs it)");
    }
    let per_rate = targets.len() + usize::from(opts.cpu);
    let mut h = Harness {
        opts,
        pair,
        rewrite,
        rules_dir,
        step: 0,
        steps: (per_rate + 1) * opts.rates.len() + 2 + usize::from(use_tcpreplay),
        started: Instant::now(),
    };

    let mut runs: Vec<RunResult> = Vec::new();
    let mut tcpreplay = None;
    let mut sent = 0;
    for &rate in &opts.rates {
        let w = h.workload(rate, &mut files)?;
        sent += w.datagrams;
        let baseline = if opts.cpu {
            Some(h.run(&w, Target::Baseline, rate)?)
        } else {
            None
        };
        let per_frame = baseline
            .as_ref()
            .map(|b| b.busy_ns as f64 / b.replay.sent.max(1) as f64);
        for &t in &targets {
            let mut r = h.run(&w, t, rate)?;
            if let Some(per_frame) = per_frame
                && r.received > 0
            {
                let own = r.busy_ns as f64 - per_frame * r.replay.sent as f64;
                let total = own.max(0.0) / r.received as f64;
                r.cpu_ns_per_msg = Some(total);
                r.cpu_split = r
                    .latency_ns
                    .as_ref()
                    .map(|l| CpuSplit::of(total, r.process_cpu_ns, r.received, l));
            }
            runs.push(r);
        }
        runs.extend(baseline);
        // The same capture through tcpreplay, once, at the first rate: the appliance must see
        // the same thing.
        if use_tcpreplay && tcpreplay.is_none() {
            let r = h.run(&w, Target::XdpTcpreplay, rate)?;
            let ours = runs
                .iter()
                .find(|x| x.target == "xdp" && x.offered_pps == rate)
                .context("the xdp run")?;
            tcpreplay = Some(TcpreplayCheck::of(ours, &r));
            runs.push(r);
        }
    }

    // Latency: busy-polling, at half the highest rate the XDP backend took without loss.
    let half = lossless(&runs, "xdp")
        .or_else(|| runs.first().map(|r| r.replay.pps()))
        .map(|r| (r / 2.0).round());
    let w = h.workload(half, &mut files)?;
    let latency_run = h.run(&w, Target::Xdp { busy_poll: true }, half)?;
    drop(w);
    let latency_stats = serde_json::json!({ "latency_ns": latency_run.latency_ns });
    let stages = report::stages_of(&latency_stats).context("the latency run's histograms")?;
    files.extend(report::write(
        &opts.out,
        "latency",
        &format!(
            "ingest, XDP backend, busy-poll, {:.0} msg/s offered",
            half.unwrap_or(0.0)
        ),
        &stages,
    )?);
    // Percentiles from the sampled histograms; counts and sums exact, from the stats.
    let latency_ns = report::percentiles(&stages)
        .into_iter()
        .map(|(name, mut p)| {
            let exact = &latency_stats["latency_ns"]["stages"][&name];
            if let (Some(count), Some(sum)) = (exact["count"].as_u64(), exact["sum"].as_u64()) {
                (p.count, p.sum) = (count, sum);
            }
            (name, p)
        })
        .collect();
    runs.push(latency_run);

    // Summaries.
    let highest = |name: &str| {
        runs.iter()
            .filter(|r| r.target == name)
            .max_by(|a, b| a.replay.pps().total_cmp(&b.replay.pps()))
    };
    let names: Vec<&str> = targets.iter().map(|t| t.name()).collect();
    // The highest offered rate every target took without loss.
    let compare_at = opts
        .rates
        .iter()
        .filter(|rate| {
            names.iter().all(|n| {
                runs.iter()
                    .any(|r| r.target == *n && r.offered_pps == **rate && r.loss_ratio == 0.0)
            })
        })
        .max_by(|a, b| a.unwrap_or(f64::MAX).total_cmp(&b.unwrap_or(f64::MAX)))
        .copied();
    let summary = |name: &str| {
        let top = highest(name);
        Summary {
            received: top.map_or(0, |r| r.received),
            loss_ratio: top.map_or(1.0, |r| r.loss_ratio),
            lossless_pps: lossless(&runs, name),
            cpu_ns_per_msg: compare_at.and_then(|rate| {
                runs.iter()
                    .find(|r| r.target == name && r.offered_pps == rate)
                    .and_then(|r| r.cpu_ns_per_msg)
            }),
        }
    };
    let mut backends = BTreeMap::new();
    let mut peers = BTreeMap::new();
    for t in &targets {
        match t {
            Target::Peer(_) => peers.insert(t.name().to_string(), summary(t.name())),
            _ => backends.insert(t.name().to_string(), summary(t.name())),
        };
    }
    // Every lossless run of the XDP backend together (a run that lost messages may miss what
    // they carried); all of them if none was lossless.
    let lossless_xdp: Vec<&RunResult> = runs
        .iter()
        .filter(|r| r.target == "xdp" && r.loss_ratio == 0.0)
        .collect();
    let detection = if lossless_xdp.is_empty() {
        combine(runs.iter().filter(|r| r.target == "xdp"))
    } else {
        combine(lossless_xdp.into_iter())
    };
    let accounting_ok = runs.iter().all(|r| r.accounting_ok != Some(false));
    let report = E2eReport {
        sent,
        accounting_ok,
        backends,
        peers,
        peers_skipped,
        compare_at_pps: compare_at.flatten(),
        detection,
        latency_ns,
        latency_offered_pps: half,
        runs,
        tcpreplay,
        report_files: Vec::new(),
    };
    let json_path = opts.out.join("e2e.json");
    files.push(json_path.clone());
    let report = E2eReport {
        report_files: files,
        ..report
    };
    std::fs::write(&json_path, serde_json::to_vec_pretty(&report)?)?;
    if opts.progress {
        eprintln!();
    }
    Ok(report)
}

/// The highest rate `target` achieved without loss.
fn lossless(runs: &[RunResult], target: &str) -> Option<f64> {
    runs.iter()
        .filter(|r| r.target == target && r.loss_ratio == 0.0 && r.replay.sent > 0)
        .map(|r| r.replay.pps())
        .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))))
}

/// One rate's capture, ready to send.
struct Workload {
    frames: Vec<Vec<u8>>,
    datagrams: u64,
    /// VLAN-tagged fragments in `frames`, and the datagrams they carry.
    tagged: (u64, u64),
    labels: LabelFile,
}

impl Harness<'_> {
    /// The capture for `rate`: long enough for `seconds` of sending at that rate (at least the
    /// configured messages), so that no receiver's buffers hide what it cannot keep up with.
    /// Written with its labels into the output folder.
    fn workload(
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
        if !self.opts.progress {
            return;
        }
        let width = 30;
        let done = self.step * width / self.steps.max(1);
        eprint!(
            "\r[{}{}] {}/{} {:<40} {:>4.0} s",
            "#".repeat(done.min(width)),
            " ".repeat(width - done.min(width)),
            self.step,
            self.steps,
            what,
            self.started.elapsed().as_secs_f64()
        );
        let _ = std::io::stderr().flush();
    }

    /// Replays the capture once into `target` at `rate` and measures.
    fn run(
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
                    // Warnings (no huge pages on a test machine) would break the progress line.
                    .env("RUST_LOG", "error");
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

    fn start_peer(&self, peer: Peer, file: &Path) -> anyhow::Result<Spawned> {
        let dir = self.opts.out.join(format!("{}-state", peer.name()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let conf = dir.join("peer.conf");
        let (program, mut args) = peer_command(peer)?;
        let file = file.display();
        let (a4, a6) = (netns::ADDR_B, netns::ADDR6_B);
        match peer {
            Peer::Rsyslog => {
                // imudp into a file, nothing else (no local sockets, no kernel log).
                std::fs::write(
                    &conf,
                    format!(
                        "global(workDirectory=\"{d}\")\n\
                         module(load=\"imudp\" threads=\"1\")\n\
                         input(type=\"imudp\" address=\"{a4}\" port=\"514\" rcvbufSize=\"64m\")\n\
                         input(type=\"imudp\" address=\"{a6}\" port=\"514\" rcvbufSize=\"64m\")\n\
                         *.* action(type=\"omfile\" file=\"{file}\")\n",
                        d = dir.display()
                    ),
                )?;
                args.extend([
                    "-n".into(),
                    "-f".into(),
                    conf.display().to_string(),
                    "-i".into(),
                    dir.join("pid").display().to_string(),
                ]);
            }
            Peer::SyslogNg => {
                std::fs::write(
                    &conf,
                    format!(
                        "@version: 3.38\n\
                         options {{ log-fifo-size(100000); flush-lines(1000); stats-freq(0); }};\n\
                         source s {{\n\
                           network(ip(\"{a4}\") port(514) transport(\"udp\") so-rcvbuf(67108864));\n\
                           network(ip(\"{a6}\") ip-protocol(6) port(514) transport(\"udp\") so-rcvbuf(67108864));\n\
                         }};\n\
                         destination d {{ file(\"{file}\"); }};\n\
                         log {{ source(s); destination(d); }};\n"
                    ),
                )?;
                args.extend([
                    "-F".into(),
                    "--no-caps".into(),
                    "-f".into(),
                    conf.display().to_string(),
                    "-p".into(),
                    dir.join("pid").display().to_string(),
                    "-R".into(),
                    dir.join("persist").display().to_string(),
                    "-c".into(),
                    dir.join("ctl").display().to_string(),
                ]);
            }
        }
        let mut cmd = VethPair::command(&self.pair.ns_b, "taskset");
        cmd.args(["-c", &self.opts.receiver_cpu.to_string()])
            .arg(&program)
            .args(&args)
            .stdout(std::process::Stdio::null());
        if peer == Peer::SyslogNg
            && let Some(lib) = syslog_ng_root().map(|r| r.join("usr/lib/syslog-ng"))
        {
            cmd.env("LD_LIBRARY_PATH", lib);
        }
        let mut d = Spawned::spawn(cmd).with_context(|| format!("starting {}", peer.name()))?;
        // Ready when its UDP socket is bound in the receiving namespace.
        let deadline = Instant::now() + Duration::from_secs(15);
        while !udp_bound(&self.pair.ns_b)? {
            if let Some(status) = d.try_wait()? {
                bail!(
                    "{} exited ({status}) at start; its log is above",
                    peer.name()
                );
            }
            if Instant::now() > deadline {
                bail!("{} did not bind UDP port 514 within 15 s", peer.name());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(d)
    }
}

/// Whether something listens on UDP port 514 in namespace `ns`.
fn udp_bound(ns: &str) -> anyhow::Result<bool> {
    let out = VethPair::command(ns, "ss")
        .args(["-Hlun", "sport", "=", ":514"])
        .output()
        .context("running ss")?;
    Ok(!String::from_utf8_lossy(&out.stdout).trim().is_empty())
}

/// Where syslog-ng was unpacked (`deploy/bootstrap.sh` puts it in /opt/syslog-ng, since it
/// conflicts with rsyslog as a package); `SYSLOG_NG_ROOT` overrides.
fn syslog_ng_root() -> Option<PathBuf> {
    let root = std::env::var_os("SYSLOG_NG_ROOT")
        .map_or_else(|| PathBuf::from("/opt/syslog-ng"), PathBuf::from);
    root.join("usr/sbin/syslog-ng").exists().then_some(root)
}

/// The peer's program and its fixed arguments, or why it cannot run.
fn peer_command(peer: Peer) -> anyhow::Result<(PathBuf, Vec<String>)> {
    match peer {
        Peer::Rsyslog => {
            let path = PathBuf::from("/usr/sbin/rsyslogd");
            anyhow::ensure!(
                path.exists(),
                "rsyslogd not installed (deploy/bootstrap.sh installs it)"
            );
            Ok((path, Vec::new()))
        }
        Peer::SyslogNg => {
            let root = syslog_ng_root().context(
                "syslog-ng not unpacked in /opt/syslog-ng (deploy/bootstrap.sh does it)",
            )?;
            let modules = std::fs::read_dir(root.join("usr/lib/syslog-ng"))
                .ok()
                .and_then(|mut d| d.find_map(|e| e.ok().filter(|e| e.path().is_dir())))
                .map(|e| e.path())
                .context("no syslog-ng module folder")?;
            Ok((
                root.join("usr/sbin/syslog-ng"),
                vec![format!("--module-path={}", modules.display())],
            ))
        }
    }
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

/// The alert's sender address.
fn src_of(alert: &Value) -> Option<IpAddr> {
    alert["src"]
        .as_str()
        .and_then(|s| s.parse::<SocketAddr>().ok())
        .map(|s| s.ip())
}

/// Which label kind an alert is about, and whether it matches `label`.
fn alert_kind(alert: &Value) -> Option<&'static str> {
    match alert["kind"].as_str()? {
        "threshold" if alert["id"] == "ssh-brute-force" => Some("brute_force"),
        "sigma" => Some("sigma"),
        "new_template" => Some("new_template"),
        "rate_spike" => Some("rate_spike"),
        "silence" => Some("silence"),
        _ => None,
    }
}

fn matches(alert: &Value, label: &Label) -> bool {
    let key = alert["key"].as_str().unwrap_or("");
    let message = alert["message"].as_str().unwrap_or("");
    match label.kind.as_str() {
        "brute_force" => key == label.key,
        "sigma" => alert["id"] == label.rule.as_str() && src_of(alert) == Some(label.sender),
        "new_template" => message.contains(&label.key),
        "rate_spike" => src_of(alert) == Some(label.sender),
        "silence" => key == label.key,
        _ => false,
    }
}

/// Precision and recall per anomaly kind.
pub fn score(alerts: &[Value], labels: &[Label]) -> BTreeMap<String, KindScore> {
    let mut scores: BTreeMap<String, KindScore> = BTreeMap::new();
    for l in labels {
        let s = scores.entry(l.kind.clone()).or_default();
        let found = alerts
            .iter()
            .any(|a| alert_kind(a) == Some(l.kind.as_str()) && matches(a, l));
        if l.injected {
            s.injected += 1;
            s.found += u64::from(found);
        } else {
            s.background += 1;
            s.background_found += u64::from(found);
        }
    }
    for a in alerts {
        let Some(kind) = alert_kind(a) else { continue };
        let s = scores.entry(kind.to_string()).or_default();
        s.alerts += 1;
        if labels.iter().any(|l| l.kind == kind && matches(a, l)) {
            s.true_positives += 1;
        } else if s.false_positives.len() < 5 {
            s.false_positives.push(format!(
                "{}: {}",
                a["rule"].as_str().unwrap_or("?"),
                a["message"]
                    .as_str()
                    .filter(|m| !m.is_empty())
                    .or(a["key"].as_str())
                    .unwrap_or("")
            ));
        }
    }
    scores.values_mut().for_each(KindScore::finish);
    scores
}

/// The scores of several runs as one: counts added, precision and recall of the sums.
fn combine<'a>(runs: impl Iterator<Item = &'a RunResult>) -> BTreeMap<String, KindScore> {
    let mut all: BTreeMap<String, KindScore> = BTreeMap::new();
    for (kind, s) in runs.filter_map(|r| r.detection.as_ref()).flatten() {
        let a = all.entry(kind.clone()).or_default();
        a.true_positives += s.true_positives;
        a.alerts += s.alerts;
        a.injected += s.injected;
        a.found += s.found;
        a.background += s.background;
        a.background_found += s.background_found;
        for fp in &s.false_positives {
            if a.false_positives.len() < 5 {
                a.false_positives.push(fp.clone());
            }
        }
    }
    all.values_mut().for_each(KindScore::finish);
    all
}

/// The readable summary.
pub fn print_summary(r: &E2eReport) {
    println!(
        "{} datagrams sent to each target over all rates; accounting {}",
        r.sent,
        if r.accounting_ok {
            "ok: every datagram received or a named drop"
        } else {
            "FAILED"
        }
    );
    println!(
        "{:<16} {:>12} {:>12} {:>12} {:>10} {:>10} {:>8}",
        "target", "offered/s", "sent/s", "received", "loss", "ns/msg", "alerts"
    );
    for run in &r.runs {
        println!(
            "{:<16} {:>12} {:>12.0} {:>12} {:>9.3}% {:>10} {:>8}",
            run.target,
            run.offered_pps
                .map_or("max".to_string(), |v| format!("{v:.0}")),
            run.replay.pps(),
            run.received,
            run.loss_ratio * 100.0,
            run.cpu_ns_per_msg
                .map_or("-".to_string(), |v| format!("{v:.0}")),
            run.alerts
        );
    }
    let pps = |v: Option<f64>| v.map_or("none".to_string(), |v| format!("{v:.0}/s"));
    for (name, s) in r.backends.iter().chain(&r.peers) {
        println!(
            "{name:<10} highest lossless rate {:>10}   CPU per message at {}: {}",
            pps(s.lossless_pps),
            pps(r.compare_at_pps),
            s.cpu_ns_per_msg
                .map_or("-".to_string(), |v| format!("{v:.0} ns"))
        );
    }
    for (name, why) in &r.peers_skipped {
        println!("{name:<10} skipped: {why}");
    }
    println!(
        "detection (XDP backend, lossless runs together):\n{:<14} {:>9} {:>7} {:>9} {:>7} {:>11}",
        "kind", "precision", "recall", "injected", "alerts", "background"
    );
    for (kind, s) in &r.detection {
        println!(
            "{kind:<14} {:>9.3} {:>7.3} {:>9} {:>7} {:>5} of {:<3}",
            s.precision, s.recall, s.injected, s.alerts, s.background_found, s.background
        );
        for fp in &s.false_positives {
            println!(
                "    not labelled: {}",
                fp.chars().take(110).collect::<String>()
            );
        }
    }
    println!(
        "latency, XDP busy-poll at {} offered (µs):",
        pps(r.latency_offered_pps)
    );
    println!(
        "{:<16} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "stage", "messages", "mean", "p50", "p99", "p99.9", "max"
    );
    let us = |ns: u64| format!("{:.1}", ns as f64 / 1000.0);
    for (stage, p) in &r.latency_ns {
        println!(
            "{stage:<16} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9}",
            p.count,
            format!("{:.2}", p.mean() / 1000.0),
            us(p.p50),
            us(p.p99),
            us(p.p999),
            us(p.max)
        );
    }
    println!(
        "  (counts and means exact; percentiles of one message in {})",
        ingest::datapath::pipeline::LATENCY_SAMPLE
    );
    if let Some(rate) = r.compare_at_pps {
        println!("CPU per message at {} (ns):", pps(Some(rate)));
        println!(
            "{:<16} {:>8} {:>8} {:>8} {:>8} {:>12}",
            "target", "total", "kernel", "parse", "detect", "bookkeeping"
        );
        for run in r
            .runs
            .iter()
            .filter(|x| x.offered_pps == Some(rate) && x.cpu_split.is_some())
        {
            let (t, c) = (
                run.cpu_ns_per_msg.unwrap_or(0.0),
                run.cpu_split.unwrap_or_default(),
            );
            println!(
                "{:<16} {:>8.0} {:>8.0} {:>8.0} {:>8.0} {:>12.0}",
                run.target, t, c.kernel, c.parse, c.detect, c.bookkeeping
            );
        }
    }
    if let Some(t) = &r.tcpreplay {
        println!(
            "tcpreplay at {}: sent {} frames at {:.0}/s, received {} (bench replay: {} at {:.0}/s, {}); {}",
            pps(t.offered_pps),
            t.sent[1],
            t.achieved_pps[1],
            t.received[1],
            t.sent[0],
            t.achieved_pps[0],
            t.received[0],
            if t.same {
                "the same messages and alerts"
            } else {
                "DIFFERENT"
            }
        );
    }
    println!("report files:");
    for f in &r.report_files {
        println!("  {}", f.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(kind: &str, key: &str, injected: bool) -> Label {
        Label {
            kind: kind.into(),
            rule: "r".into(),
            sender: "198.18.1.5".parse().unwrap(),
            key: key.into(),
            start_s: 0.0,
            end_s: 1.0,
            messages: 1,
            injected,
        }
    }

    #[test]
    fn alerts_are_scored_per_kind_against_injected_and_background_labels() {
        let labels = [
            label("brute_force", "203.0.113.66", true),
            label("brute_force", "198.51.100.23", true),
            label("brute_force", "5.188.10.180", false),
            label("rate_spike", "host0007", true),
            label("silence", "host0500", true),
        ];
        let alerts: Vec<Value> = [
            r#"{"kind":"threshold","id":"ssh-brute-force","key":"203.0.113.66","message":"m"}"#,
            r#"{"kind":"threshold","id":"ssh-brute-force","key":"5.188.10.180","message":"m"}"#,
            r#"{"kind":"threshold","id":"ssh-brute-force","key":"10.9.9.9","message":"m"}"#,
            r#"{"kind":"rate_spike","src":"198.18.1.5:514","key":"t","message":"m"}"#,
            r#"{"kind":"sigma","id":"x","rule":"X","src":"198.18.1.6:514","message":"m"}"#,
            r#"{"kind":"correlation","id":"c","message":"m"}"#,
        ]
        .iter()
        .map(|a| serde_json::from_str(a).unwrap())
        .collect();
        let s = score(&alerts, &labels);
        let bf = &s["brute_force"];
        assert_eq!(
            (bf.injected, bf.found, bf.background, bf.background_found),
            (2, 1, 1, 1)
        );
        assert_eq!((bf.alerts, bf.true_positives), (3, 2));
        assert!((bf.recall - 0.5).abs() < 1e-9 && (bf.precision - 2.0 / 3.0).abs() < 1e-9);
        assert_eq!(bf.false_positives.len(), 1);
        assert_eq!(
            (s["rate_spike"].recall, s["rate_spike"].precision),
            (1.0, 1.0)
        );
        assert_eq!((s["silence"].recall, s["silence"].alerts), (0.0, 0));
        let sigma = &s["sigma"];
        assert_eq!(
            (sigma.alerts, sigma.true_positives, sigma.precision),
            (1, 0, 0.0)
        );
        assert!(
            !s.contains_key("correlation"),
            "unlabelled kinds are not scored"
        );
    }

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
