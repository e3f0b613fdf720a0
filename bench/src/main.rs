//! `bench`: runs the appliance the way its users do, inside network namespaces it makes itself.

use std::{path::PathBuf, process::Stdio, time::Duration};

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};
use ingest::netns::{self, Spawned, VethPair};

#[derive(Debug, Parser)]
#[command(about = "Demo, traffic and end-to-end tests of the appliance")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Make two namespaces joined by veth, attach the XDP program on the receiving side, send
    /// real syslog messages with `logger`, and print what arrived through AF_XDP.
    Demo {
        /// The `ingest` binary (default: next to this one).
        #[arg(long)]
        ingest: Option<PathBuf>,
        /// How many syslog messages to send.
        #[arg(long, default_value_t = 5)]
        count: u32,
    },
}

fn main() -> anyhow::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    match Cli::parse().command {
        Command::Demo { ingest, count } => demo(ingest, count),
    }
}

fn demo(ingest: Option<PathBuf>, count: u32) -> anyhow::Result<()> {
    netns::available().map_err(|why| anyhow::anyhow!("the demo needs namespaces: {why}"))?;
    let ingest = match ingest {
        Some(path) => path,
        None => std::env::current_exe()?.with_file_name("ingest"),
    };
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
