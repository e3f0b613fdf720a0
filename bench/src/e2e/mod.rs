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

use crate::datapath::{ingest_path, parse_rates};
use std::{collections::BTreeMap, path::PathBuf};

use anyhow::Context as _;
use testbed::netns::{self, VethPair};

use crate::{
    report,
    traffic::{self},
};

mod harness;
mod options;
mod peers;
mod results;
mod score;
mod summary;

use harness::Harness;
pub use options::{E2eOptions, Peer};
use options::{SILENCE_RULE, Target};
use peers::peer_command;
use results::combine;
pub use results::{CpuSplit, E2eReport, RunResult, Summary, TcpreplayCheck};
pub use summary::print_summary;

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
        bar: progress_bar(
            opts.progress,
            (per_rate + 1) * opts.rates.len() + 2 + usize::from(use_tcpreplay),
        ),
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
    h.bar.finish_and_clear();
    Ok(report)
}

/// A bar of `steps` on stderr, or a hidden one.
fn progress_bar(shown: bool, steps: usize) -> indicatif::ProgressBar {
    if !shown {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(steps as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("[{bar:30}] {pos}/{len} {msg:40} {elapsed:>4}")
            .expect("a constant template")
            .progress_chars("#>-"),
    );
    bar
}

/// The highest rate `target` achieved without loss.
fn lossless(runs: &[RunResult], target: &str) -> Option<f64> {
    runs.iter()
        .filter(|r| r.target == target && r.loss_ratio == 0.0 && r.replay.sent > 0)
        .map(|r| r.replay.pps())
        .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))))
}

/// The arguments of `bench e2e`.
#[derive(Debug, clap::Args)]
pub struct E2eArgs {
    /// The `ingest` binary (default: next to this one).
    #[arg(long)]
    pub(crate) ingest: Option<PathBuf>,
    /// The short version (under a minute): one rate, XDP backend only, no peers.
    #[arg(long)]
    pub(crate) quick: bool,
    /// Offered rates in frames per second, comma separated; `max` sends unpaced.
    #[arg(long, value_delimiter = ',')]
    pub(crate) rates: Vec<String>,
    /// Peers to compare with (rsyslog, syslog-ng); `none` for none.
    #[arg(long, value_delimiter = ',', default_value = "rsyslog,syslog-ng")]
    pub(crate) peers: Vec<String>,
    /// Rule folders for ingest.
    #[arg(long, default_value = "detector/rules")]
    pub(crate) rules: Vec<PathBuf>,
    /// Where the capture, alerts and reports go.
    #[arg(long, default_value = "target/e2e")]
    pub(crate) out: PathBuf,
    /// Fewest regular messages in a capture.
    #[arg(long, default_value_t = 60_000)]
    pub(crate) messages: usize,
    /// Seconds of sending per run: each rate gets a capture of rate x seconds messages.
    #[arg(long, default_value_t = 5.0)]
    pub(crate) seconds: f64,
    /// Messages per second of capture time.
    #[arg(long, default_value_t = 2000.0)]
    pub(crate) capture_rate: f64,
    /// Sending hosts.
    #[arg(long, default_value_t = 2000)]
    pub(crate) hosts: usize,
    /// Seed.
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
    /// CPU for the sender.
    #[arg(long, default_value_t = 0)]
    pub(crate) sender_cpu: usize,
    /// CPU for the receiver.
    #[arg(long, default_value_t = 1)]
    pub(crate) receiver_cpu: usize,
    /// Keep VLAN tags (the kernel path drops tagged frames on this test kernel).
    #[arg(long)]
    pub(crate) keep_vlan: bool,
    /// Do not compare with tcpreplay sending the first rate's capture.
    #[arg(long)]
    pub(crate) no_tcpreplay: bool,
    /// An extra argument for every `ingest run` (repeatable), e.g. `--ingest-arg=--frame-count=16384`.
    #[arg(long, allow_hyphen_values = true)]
    pub(crate) ingest_arg: Vec<String>,
    /// Print JSON instead of the summary.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `bench e2e`.
pub fn command(args: E2eArgs) -> anyhow::Result<()> {
    let E2eArgs {
        ingest,
        quick,
        rates,
        peers,
        rules,
        out,
        messages,
        seconds,
        capture_rate,
        hosts,
        seed,
        sender_cpu,
        receiver_cpu,
        keep_vlan,
        no_tcpreplay,
        ingest_arg,
        json,
    } = args;
    anyhow::ensure!(capture_rate > 0.0, "--capture-rate must be positive");
    let rates = if rates.is_empty() {
        if quick {
            vec![Some(20_000.0)]
        } else {
            [25_000.0, 50_000.0, 100_000.0, 200_000.0, 300_000.0]
                .into_iter()
                .map(Some)
                .chain([None])
                .collect()
        }
    } else {
        parse_rates(&rates)?
    };
    let peers = if quick {
        Vec::new()
    } else {
        peers
            .iter()
            .filter(|p| p.as_str() != "none")
            .map(|p| Peer::from_name(p).with_context(|| format!("unknown peer {p:?}")))
            .collect::<anyhow::Result<_>>()?
    };
    let opts = E2eOptions {
        ingest: ingest_path(ingest)?,
        rules,
        // Absolute: the peers are given paths inside it, and rsyslog leaves the working
        // directory.
        out: std::path::absolute(&out)
            .with_context(|| format!("the output folder {}", out.display()))?,
        capture: traffic::GenOptions {
            seed,
            messages,
            rate: capture_rate,
            hosts,
        },
        rates,
        socket: !quick,
        peers,
        sender_cpu,
        receiver_cpu,
        keep_vlan,
        cpu: !quick,
        seconds: if quick { 1.0 } else { seconds },
        tcpreplay: !quick && !no_tcpreplay,
        ingest_args: ingest_arg,
        progress: !json,
    };
    let report = run(&opts)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_summary(&report);
    }
    Ok(())
}
