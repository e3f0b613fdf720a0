//! `bench`: runs the appliance the way its users do, inside network namespaces it makes itself.
//! Each subcommand's arguments and code live in its module; this file only dispatches.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod chaos;
mod datapath;
mod demo;
mod detect;
mod e2e;
mod parse;
mod replay;
mod report;
mod templates;
mod traffic;

/// The daemon's allocator, so that `bench detect` measures the engine on the memory the daemon
/// gives it (large tables on huge pages).
#[global_allocator]
static ALLOCATOR: ingest::sys::memory::HugeAlloc = ingest::sys::memory::HugeAlloc;

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
    Demo(demo::DemoArgs),
    /// Compare the XDP backend and the socket backend on the same replayed traffic: received
    /// rate, loss, highest lossless rate and CPU time per message (see the module docs).
    Datapath(datapath::DatapathArgs),
    /// Compare this parser with syslog_loose and syslog_rfc5424 on the same corpora: ns per
    /// message and MB/s.
    Parse(parse::ParseArgs),
    /// Detection throughput on one core: Sigma rules, threshold rules, parse + both, and the
    /// template miner.
    Detect(detect::DetectArgs),
    /// The template miner on the LogHub samples: grouping accuracy per sample and lines per
    /// second on one core, in one run.
    Templates(templates::TemplatesArgs),
    /// Write labelled syslog traffic as a pcap: many hosts, mixed formats, LogHub bodies, and
    /// injected anomalies (brute force, a Sigma match, new templates, a rate spike, a silent
    /// host) described in a JSON file beside it. Seeded and reproducible.
    Gen(traffic::GenArgs),
    /// Replay a pcap onto an interface (AF_PACKET, PACKET_QDISC_BYPASS, sendmmsg): every UDP
    /// datagram is rebuilt for the given receiver (MAC, address, port; sender, VLAN tag and
    /// payload kept), sent at a set rate, for a count or a duration, once or looping. Prints
    /// what it sent as JSON.
    Replay(replay::ReplayArgs),
    /// End to end: generate labelled traffic, replay it at each rate into ingest (XDP and socket
    /// backends), rsyslog and syslog-ng, and report loss, CPU per message, the accounting check,
    /// detection precision and recall per anomaly kind, and latency per stage (with report
    /// files: table, .hgrm, JSON, SVG).
    E2e(e2e::E2eArgs),
    /// Latency reports from an `ingest run --stats-json` file: a table, one .hgrm per stage,
    /// JSON and an SVG percentile plot.
    Report(report::ReportArgs),
    /// The appliance under faults and abuse (malformed floods, denied fragments, full rings,
    /// sinks and NATS down, reload and SIGTERM under load, wrong TLS certificates): for each,
    /// sent, received, every named drop, and whether the sums close exactly.
    Chaos(chaos::ChaosArgs),
    /// Measure what one sleep and wakeup of a thread costs this machine in CPU time (the fixed
    /// cost that poll mode pays per batch).
    Wakeups(demo::WakeupsArgs),
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let result = match Cli::parse().command {
        Command::Demo(args) => demo::demo(args),
        Command::Wakeups(args) => demo::wakeups(args),
        Command::Datapath(args) => datapath::command(args),
        Command::Parse(args) => parse::command(args),
        Command::Detect(args) => detect::command(args),
        Command::Templates(args) => templates::command(args),
        Command::Gen(args) => traffic::command(args),
        Command::Replay(args) => replay::command(args),
        Command::E2e(args) => e2e::command(args),
        Command::Report(args) => report::command(args),
        Command::Chaos(args) => chaos::command(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:?}");
            ExitCode::FAILURE
        }
    }
}
