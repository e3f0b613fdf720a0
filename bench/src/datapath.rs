//! `bench datapath`: the XDP backend and the socket backend on the same traffic, in one run.
//!
//! For each offered rate, three runs of the same length: the XDP backend, the socket backend,
//! and a baseline in which the XDP program drops every log packet (a deny-all source filter).
//! The replayer runs in the sending namespace pinned to one CPU, `ingest` in the receiving one
//! pinned (workers and housekeeping) to the other, in poll mode.
//!
//! CPU per message: on veth the receive work of the kernel (the XDP program, the copy into UMEM,
//! or the UDP stack) runs in softirq on the sender's CPU, so the busy time of both CPUs is
//! measured (/proc/stat), and the baseline's busy time per frame sent, times the frames sent in
//! the run, is subtracted: what is left is what receiving cost, divided by messages received.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{Context as _, bail};
use ingest::sys::cpu;
use serde::Serialize;
use testbed::netns::{self, Spawned, VethPair};

use crate::replay::{ReplayStats, Replayer, syslog_frames};

/// Options of one `bench datapath` run.
#[derive(Debug, Clone)]
pub struct DatapathOptions {
    /// The `ingest` binary.
    pub ingest: PathBuf,
    /// Offered rates in frames per second; `None` means as fast as the generator goes.
    pub rates: Vec<Option<f64>>,
    /// Length of each run.
    pub duration: Duration,
    /// CPU for the sender.
    pub sender_cpu: usize,
    /// CPU for the receiver.
    pub receiver_cpu: usize,
    /// `ingest --poll-coalesce-us` for every run.
    pub poll_coalesce_us: u64,
    /// Rounds per rate; the median round (by CPU per message) is reported.
    pub repeat: usize,
}

/// One backend (or the baseline) at one rate.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    /// What the replayer did.
    pub replay: ReplayStats,
    /// Messages `ingest` received.
    pub received: u64,
    /// Named drops `ingest` counted.
    pub drops: u64,
    /// The non-zero named drops, by reason.
    pub drops_by_reason: serde_json::Map<String, serde_json::Value>,
    /// The AF_XDP queues' ring counters (batches, empty polls, wakeups), XDP runs.
    pub queues: serde_json::Value,
    /// `ingest`'s latency percentiles.
    pub latency_ns: serde_json::Value,
    /// (sent - received) / sent.
    pub loss_ratio: f64,
    /// Messages received per second of sending.
    pub received_pps: f64,
    /// Busy nanoseconds of both CPUs during the run (wall time minus idle time).
    pub busy_ns: u64,
    /// CPU time of the `ingest` process itself (its threads, user and system).
    pub ingest_cpu_ns: u64,
    /// (busy - baseline busy per frame x frames sent) / messages received.
    pub cpu_ns_per_msg: Option<f64>,
}

/// One backend's rounds at one rate.
#[derive(Debug, Clone, Serialize)]
pub struct BackendResult {
    /// The median round by CPU per message.
    pub run: Run,
    /// CPU per message of every round.
    pub cpu_ns_per_msg_rounds: Vec<Option<f64>>,
    /// The highest loss of any round: a rate is lossless only if every round was.
    pub worst_loss_ratio: f64,
}

impl BackendResult {
    fn of(mut rounds: Vec<Run>) -> Self {
        let cpu_ns_per_msg_rounds = rounds.iter().map(|r| r.cpu_ns_per_msg).collect();
        let worst_loss_ratio = rounds.iter().map(|r| r.loss_ratio).fold(0.0, f64::max);
        let key = |r: &Run| r.cpu_ns_per_msg.unwrap_or(r.busy_ns as f64);
        rounds.sort_by(|a, b| key(a).total_cmp(&key(b)));
        let run = rounds.swap_remove(rounds.len() / 2);
        Self {
            run,
            cpu_ns_per_msg_rounds,
            worst_loss_ratio,
        }
    }
}

/// All runs at one offered rate.
#[derive(Debug, Clone, Serialize)]
pub struct RatePoint {
    /// Offered frames per second (`None`: unpaced).
    pub offered_pps: Option<f64>,
    /// XDP backend.
    pub xdp: BackendResult,
    /// Socket backend.
    pub socket: BackendResult,
    /// Deny-all baseline (median round by busy time).
    pub baseline: Run,
}

/// The whole result, as printed with `--json`.
#[derive(Debug, Clone, Serialize)]
pub struct DatapathReport {
    /// Seconds per run.
    pub duration_s: f64,
    /// Bytes per frame (average).
    pub frame_bytes: usize,
    /// CPU the sender was pinned to.
    pub sender_cpu: usize,
    /// CPU `ingest` was pinned to.
    pub receiver_cpu: usize,
    /// `ingest --poll-coalesce-us`.
    pub poll_coalesce_us: u64,
    /// Rounds per rate.
    pub repeat: usize,
    /// Every rate.
    pub points: Vec<RatePoint>,
    /// Highest achieved rate with zero loss, per backend.
    pub lossless_pps: Lossless,
    /// Fastest the generator sent in any run.
    pub generator_max_pps: f64,
    /// CPU per message at the highest rate both backends received without loss (the fairest
    /// comparison), and their ratio.
    pub cpu_ns_per_msg: Comparison,
}

/// Highest lossless rate per backend.
#[derive(Debug, Clone, Serialize)]
pub struct Lossless {
    /// XDP backend.
    pub xdp: Option<f64>,
    /// Socket backend.
    pub socket: Option<f64>,
}

/// CPU per message compared.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// The offered rate compared at.
    pub at_offered_pps: Option<f64>,
    /// XDP backend.
    pub xdp: Option<f64>,
    /// Socket backend.
    pub socket: Option<f64>,
    /// xdp / socket.
    pub ratio: Option<f64>,
}

/// Idle nanoseconds of `cpus` so far, from /proc/stat (idle + iowait).
///
/// Busy time is measured as wall time minus idle time: the kernel tracks idle time exactly
/// (NO_HZ idle accounting), while user/system/softirq are sampled at the tick, which misjudges a
/// CPU that wakes thousands of times per second for a few microseconds each.
pub fn cpu_idle_ns(cpus: &[usize]) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    // Jiffies per second: 100 on every common build, read rather than assumed.
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)?.unwrap_or(100) as u64;
    let mut idle = 0;
    for &c in cpus {
        let name = format!("cpu{c}");
        let line = stat
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name.as_str()))
            .with_context(|| format!("{name} not in /proc/stat"))?;
        let v: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .map(|x| x.parse().unwrap_or(0))
            .collect();
        // user nice system idle iowait ...
        idle += v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    }
    Ok(idle * 1_000_000_000 / hz)
}

/// CPU time (user + system) of process `pid` so far, nanoseconds.
pub fn process_cpu_ns(pid: u32) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)?.unwrap_or(100) as u64;
    let ticks: u64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    Ok(ticks * 1_000_000_000 / hz)
}

enum Backend {
    Xdp,
    Socket,
    Baseline,
}

/// Runs ingest with `backend`, replays at `rate`, and measures.
fn one_run(
    opts: &DatapathOptions,
    pair: &VethPair,
    frames: &[Vec<u8>],
    backend: Backend,
    rate: Option<f64>,
) -> anyhow::Result<Run> {
    let stats = std::env::temp_dir().join(format!("bench-datapath-{}.json", std::process::id()));
    let cpu = opts.receiver_cpu.to_string();
    let mut cmd = VethPair::command(&pair.ns_b, opts.ingest.to_str().context("ingest path")?);
    cmd.args([
        "run",
        "--iface",
        netns::IFACE_B,
        "--mode",
        "poll",
        "--no-tcp",
    ])
    .args(["--cpus", &cpu, "--housekeeping-cpus", &cpu])
    .args(["--poll-coalesce-us", &opts.poll_coalesce_us.to_string()])
    .arg("--stats-json")
    .arg(&stats);
    match backend {
        Backend::Xdp => {}
        Backend::Socket => {
            cmd.args(["--backend", "socket"]);
        }
        Backend::Baseline => {
            cmd.args(["--deny-source", "0.0.0.0/0,::/0"]);
        }
    }
    cmd.env("RUST_LOG", "warn");
    let mut daemon = Spawned::spawn(cmd).context("starting ingest")?;
    daemon.wait_for_first_line("\"ready\"", Duration::from_secs(30))?;

    let cpus = [opts.sender_cpu, opts.receiver_cpu];
    let idle_before = cpu_idle_ns(&cpus)?;
    let ingest_before = process_cpu_ns(daemon.pid())?;
    let window = std::time::Instant::now();
    let sender_cpu = opts.sender_cpu;
    let duration = opts.duration;
    let replay = VethPair::run_in(&pair.ns_a, || {
        if let Err(e) = cpu::pin_current_thread(&[sender_cpu]) {
            log::warn!("pinning the sender to CPU {sender_cpu}: {e}");
        }
        Replayer::new(netns::IFACE_A, frames.to_vec())?.run(rate, duration, u64::MAX)
    })??;
    // Let the receiver drain its rings and buffers before the window closes.
    std::thread::sleep(Duration::from_millis(300));
    let idle = cpu_idle_ns(&cpus)?.saturating_sub(idle_before);
    let wall = window.elapsed().as_nanos() as u64 * cpus.len() as u64;
    let busy_ns = wall.saturating_sub(idle);
    let ingest_cpu_ns = process_cpu_ns(daemon.pid())?.saturating_sub(ingest_before);
    let (status, _) = daemon.terminate(Duration::from_secs(10))?;
    if !status.success() {
        bail!("ingest exited with {status}");
    }
    let report = read_report(&stats)?;
    let received = report["messages_received_total"].as_u64().unwrap_or(0);
    let drops: u64 = report["drops"]
        .as_object()
        .map(|d| d.values().filter_map(|v| v.as_u64()).sum())
        .unwrap_or(0);
    let drops_by_reason = report["drops"]
        .as_object()
        .map(|d| {
            d.iter()
                .filter(|(_, v)| v.as_u64() != Some(0))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    let sent = replay.sent.max(1);
    Ok(Run {
        replay,
        received,
        drops,
        drops_by_reason,
        queues: report["queues"].clone(),
        latency_ns: report["latency_ns"].clone(),
        loss_ratio: sent.saturating_sub(received) as f64 / sent as f64,
        received_pps: received as f64 / replay.elapsed_s.max(1e-9),
        busy_ns,
        ingest_cpu_ns,
        cpu_ns_per_msg: None,
    })
}

fn read_report(path: &Path) -> anyhow::Result<serde_json::Value> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let _ = std::fs::remove_file(path);
    Ok(serde_json::from_slice(&bytes)?)
}

/// Runs the whole comparison.
pub fn run(opts: &DatapathOptions) -> anyhow::Result<DatapathReport> {
    netns::available().map_err(|why| anyhow::anyhow!("bench datapath needs namespaces: {why}"))?;
    let pair = VethPair::create().context("creating the veth pair")?;
    let frames = syslog_frames(
        1024,
        32,
        pair.mac(&pair.ns_a)?,
        pair.mac(&pair.ns_b)?,
        (netns::ADDR_B, 514).into(),
    );
    let frame_bytes = frames.iter().map(Vec::len).sum::<usize>() / frames.len();
    let mut points = Vec::new();
    for &rate in &opts.rates {
        let label = rate.map_or("max".to_string(), |r| format!("{r:.0}"));
        let mut samples: [Vec<Run>; 3] = Default::default();
        for rep in 1..=opts.repeat {
            eprintln!(
                "offered {label} frames/s, round {rep} of {}: baseline, xdp, socket ...",
                opts.repeat
            );
            // Interleaved, so that a slow spell of the machine hits all three alike.
            let baseline = one_run(opts, &pair, &frames, Backend::Baseline, rate)?;
            let per_frame = baseline.busy_ns as f64 / baseline.replay.sent.max(1) as f64;
            let mut xdp = one_run(opts, &pair, &frames, Backend::Xdp, rate)?;
            let mut socket = one_run(opts, &pair, &frames, Backend::Socket, rate)?;
            for r in [&mut xdp, &mut socket] {
                if r.received > 0 {
                    let own = r.busy_ns as f64 - per_frame * r.replay.sent as f64;
                    r.cpu_ns_per_msg = Some(own.max(0.0) / r.received as f64);
                }
            }
            samples[0].push(baseline);
            samples[1].push(xdp);
            samples[2].push(socket);
        }
        let [baseline, xdp, socket] = samples;
        points.push(RatePoint {
            offered_pps: rate,
            xdp: BackendResult::of(xdp),
            socket: BackendResult::of(socket),
            baseline: BackendResult::of(baseline).run,
        });
    }
    let lossless = |f: fn(&RatePoint) -> &BackendResult| {
        points
            .iter()
            .map(f)
            .filter(|r| r.run.replay.sent > 0 && r.worst_loss_ratio == 0.0)
            .map(|r| r.run.replay.pps())
            .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))))
    };
    let both = points
        .iter()
        .filter(|p| p.xdp.worst_loss_ratio == 0.0 && p.socket.worst_loss_ratio == 0.0)
        .max_by(|a, b| a.xdp.run.replay.sent.cmp(&b.xdp.run.replay.sent));
    let cpu_ns_per_msg = Comparison {
        at_offered_pps: both.and_then(|p| p.offered_pps),
        xdp: both.and_then(|p| p.xdp.run.cpu_ns_per_msg),
        socket: both.and_then(|p| p.socket.run.cpu_ns_per_msg),
        ratio: both.and_then(|p| Some(p.xdp.run.cpu_ns_per_msg? / p.socket.run.cpu_ns_per_msg?)),
    };
    let generator_max_pps = points
        .iter()
        .flat_map(|p| [&p.xdp.run, &p.socket.run, &p.baseline])
        .map(|r| r.replay.pps())
        .fold(0.0, f64::max);
    Ok(DatapathReport {
        duration_s: opts.duration.as_secs_f64(),
        frame_bytes,
        sender_cpu: opts.sender_cpu,
        receiver_cpu: opts.receiver_cpu,
        repeat: opts.repeat,
        poll_coalesce_us: opts.poll_coalesce_us,
        lossless_pps: Lossless {
            xdp: lossless(|p| &p.xdp),
            socket: lossless(|p| &p.socket),
        },
        points,
        generator_max_pps,
        cpu_ns_per_msg,
    })
}

/// The readable table.
pub fn print_table(r: &DatapathReport) {
    println!(
        "{:>10} | {:>10} {:>10} {:>8} {:>9} | {:>10} {:>10} {:>8} {:>9}",
        "offered",
        "xdp sent/s",
        "recv/s",
        "loss",
        "ns/msg",
        "sock sent/s",
        "recv/s",
        "loss",
        "ns/msg"
    );
    let ns = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.0}"));
    for p in &r.points {
        println!(
            "{:>10} | {:>10.0} {:>10.0} {:>7.3}% {:>9} | {:>10.0} {:>10.0} {:>7.3}% {:>9}",
            p.offered_pps
                .map_or("max".to_string(), |v| format!("{v:.0}")),
            p.xdp.run.replay.pps(),
            p.xdp.run.received_pps,
            p.xdp.worst_loss_ratio * 100.0,
            ns(p.xdp.run.cpu_ns_per_msg),
            p.socket.run.replay.pps(),
            p.socket.run.received_pps,
            p.socket.worst_loss_ratio * 100.0,
            ns(p.socket.run.cpu_ns_per_msg),
        );
    }
    let pps = |v: Option<f64>| v.map_or("none".to_string(), |v| format!("{v:.0}/s"));
    println!(
        "highest lossless rate: xdp {}, socket {}; generator max {:.0}/s",
        pps(r.lossless_pps.xdp),
        pps(r.lossless_pps.socket),
        r.generator_max_pps
    );
    if let Some(ratio) = r.cpu_ns_per_msg.ratio {
        println!(
            "CPU per message at the highest rate both took without loss: xdp {} ns, socket {} ns, \
             ratio {ratio:.2}",
            ns(r.cpu_ns_per_msg.xdp),
            ns(r.cpu_ns_per_msg.socket)
        );
    }
}

/// The arguments of `bench datapath`.
#[derive(Debug, clap::Args)]
pub struct DatapathArgs {
    /// The `ingest` binary (default: next to this one).
    #[arg(long)]
    pub(crate) ingest: Option<PathBuf>,
    /// Offered rates in frames per second, comma separated; `max` sends unpaced.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "50000,100000,200000,400000,max"
    )]
    pub(crate) rates: Vec<String>,
    /// Seconds per run (three runs per rate).
    #[arg(long, default_value_t = 3.0)]
    pub(crate) duration: f64,
    /// CPU for the sender (and the kernel's receive work on veth).
    #[arg(long, default_value_t = 0)]
    pub(crate) sender_cpu: usize,
    /// CPU for ingest.
    #[arg(long, default_value_t = 1)]
    pub(crate) receiver_cpu: usize,
    /// Rounds per rate (baseline, xdp, socket interleaved); the median is reported.
    #[arg(long, default_value_t = 3)]
    pub(crate) repeat: usize,
    /// `ingest --poll-coalesce-us` for both backends.
    #[arg(long, default_value_t = 200)]
    pub(crate) poll_coalesce_us: u64,
    /// Print the result as JSON instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `bench datapath`.
pub fn command(args: DatapathArgs) -> anyhow::Result<()> {
    let DatapathArgs {
        ingest,
        rates,
        duration,
        sender_cpu,
        receiver_cpu,
        poll_coalesce_us,
        repeat,
        json,
    } = args;
    let rates = parse_rates(&rates)?;
    let opts = DatapathOptions {
        ingest: ingest_path(ingest)?,
        rates,
        duration: Duration::try_from_secs_f64(duration).context("--duration")?,
        sender_cpu,
        receiver_cpu,
        poll_coalesce_us,
        repeat: repeat.max(1),
    };
    let report = run(&opts)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_table(&report);
    }
    Ok(())
}

/// Rates in frames per second; `max` is unpaced.
pub(crate) fn parse_rates(rates: &[String]) -> anyhow::Result<Vec<Option<f64>>> {
    rates
        .iter()
        .map(|r| match r.as_str() {
            "max" => Ok(None),
            n => n
                .parse::<f64>()
                .ok()
                .filter(|v| *v > 0.0)
                .map(Some)
                .with_context(|| format!("bad rate {n:?}")),
        })
        .collect()
}

/// The `ingest` binary: the one given, else the one next to this `bench`.
pub(crate) fn ingest_path(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    Ok(match given {
        Some(path) => path,
        None => std::env::current_exe()?.with_file_name("ingest"),
    })
}
