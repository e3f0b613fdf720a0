//! `bench demo`, the first thing to run on a new machine, and `bench wakeups`, what a thread's
//! sleep and wakeup costs it.

use std::{path::PathBuf, process::Stdio, time::Duration};

use anyhow::{Context as _, bail};
use testbed::netns::{self, Spawned, VethPair};

use crate::datapath::{self, ingest_path};

/// The arguments of `bench demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// The `ingest` binary (default: next to this one).
    #[arg(long)]
    pub(crate) ingest: Option<PathBuf>,
    /// How many syslog messages to send.
    #[arg(long, default_value_t = 5)]
    pub(crate) count: u32,
}

/// `bench demo`.
pub fn demo(args: DemoArgs) -> anyhow::Result<()> {
    let DemoArgs { ingest, count } = args;
    netns::available().map_err(|why| anyhow::anyhow!("the demo needs namespaces: {why}"))?;
    let ingest = ingest_path(ingest)?;
    let pair = VethPair::create().context("creating the veth pair")?;
    println!(
        "namespaces {} ({} {}) <-> {} ({} {})",
        pair.ns_a,
        netns::IFACE_A,
        netns::ADDR_A,
        pair.ns_b,
        netns::IFACE_B,
        netns::ADDR_B
    );
    let stats = std::env::temp_dir().join(format!("ingest-demo-{}.json", std::process::id()));
    let mut cmd = VethPair::command(&pair.ns_b, ingest.to_str().context("ingest path")?);
    cmd.args(["run", "--iface", netns::IFACE_B, "--print", "--stats-json"])
        .arg(&stats);
    let mut daemon =
        Spawned::spawn(cmd).with_context(|| format!("starting {}", ingest.display()))?;
    let ready = daemon.wait_for_first_line("\"ready\"", Duration::from_secs(30))?;
    println!("ingest ready: {ready}");

    for i in 1..=count {
        let status = VethPair::command(&pair.ns_a, "logger")
            .args(["--udp", "--rfc5424", "-n"])
            .arg(netns::ADDR_B.to_string())
            .args(["-P", "514", "-t", "demo", "-p", "auth.warning"])
            .arg(format!(
                "Failed password for root from 198.18.0.1 port {} ssh2 (demo {i}/{count})",
                40000 + i
            ))
            .status()
            .context("running logger")?;
        if !status.success() {
            bail!("logger failed: {status}");
        }
    }
    let ping = VethPair::command(&pair.ns_a, "ping")
        .args(["-c", "1", "-W", "2", "-q"])
        .arg(netns::ADDR_B.to_string())
        .stdout(Stdio::null())
        .status()?;
    println!(
        "ping {} through the kernel path: {}",
        netns::ADDR_B,
        if ping.success() {
            "answered"
        } else {
            "NOT answered"
        }
    );

    let (status, received) = daemon.terminate_after_lines(
        count as usize,
        Duration::from_secs(5),
        Duration::from_secs(10),
    )?;
    if !status.success() {
        bail!("ingest exited with {status}");
    }
    println!("received through AF_XDP:");
    for line in &received {
        println!("  {line}");
    }
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&stats)?)?;
    let _ = std::fs::remove_file(&stats);
    println!("counters: {}", serde_json::to_string_pretty(&report)?);
    let got = report["messages_received_xdp_total"].as_u64().unwrap_or(0);
    if got != u64::from(count) {
        bail!("sent {count} syslog messages, {got} arrived through AF_XDP");
    }
    println!("demo ok: {count} sent, {got} received through AF_XDP; namespaces removed");
    Ok(())
}

/// The arguments of `bench wakeups`.
#[derive(Debug, clap::Args)]
pub struct WakeupsArgs {
    /// Sleep per cycle, microseconds.
    #[arg(long, default_value_t = 50)]
    pub(crate) sleep_us: u64,
    /// Seconds to measure.
    #[arg(long, default_value_t = 3.0)]
    pub(crate) duration: f64,
}

/// Sleeps `sleep_us` in a loop and reports the CPU busy time per cycle, from the idle time of
/// every CPU (so the wakeup's cost on any CPU counts).
/// `bench wakeups`.
pub fn wakeups(args: WakeupsArgs) -> anyhow::Result<()> {
    let WakeupsArgs { sleep_us, duration } = args;
    let cpus = ingest::sys::cpu::online_cpus()?;
    let duration = Duration::try_from_secs_f64(duration).context("--duration")?;
    let idle_before = datapath::cpu_idle_ns(&cpus)?;
    let start = std::time::Instant::now();
    let mut cycles = 0u64;
    while start.elapsed() < duration {
        std::thread::sleep(Duration::from_micros(sleep_us));
        cycles += 1;
    }
    let wall = start.elapsed().as_nanos() as u64 * cpus.len() as u64;
    let busy = wall.saturating_sub(datapath::cpu_idle_ns(&cpus)?.saturating_sub(idle_before));
    println!(
        "{cycles} sleeps of {sleep_us} µs on {} CPUs: {} ms busy, {} ns of CPU per sleep and wakeup",
        cpus.len(),
        busy / 1_000_000,
        busy / cycles.max(1)
    );
    Ok(())
}
