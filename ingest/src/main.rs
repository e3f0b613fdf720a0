//! `ingest`: the appliance's daemon and command-line tool.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cli;

/// Large blocks (the engine's tables) on huge pages: see `ingest::sys::memory`.
#[global_allocator]
static ALLOCATOR: ingest::sys::memory::HugeAlloc = ingest::sys::memory::HugeAlloc;

use cli::{
    host::{CheckHostArgs, check_host},
    offline::{DetectArgs, ParseArgs, TemplatesArgs, detect_lines, parse_lines, templates},
    remote::{ReloadArgs, StatusArgs, reload, status},
    run::{CheckConfigArgs, RunArgs, check_config, run},
};

#[derive(Debug, Parser)]
#[command(version, about = "Kernel-bypass syslog ingestion and detection")]
pub(crate) struct Cli {
    /// How the log is written: `auto` (the systemd journal when stderr is connected to it,
    /// else text on stderr), `text`, `json` (one object per event, with its fields) or
    /// `journald`. `RUST_LOG` filters it (default `info`).
    #[arg(long, global = true, value_enum, default_value_t = ingest::logging::LogFormat::Auto, env = "INGEST_LOG_FORMAT")]
    pub(crate) log_format: ingest::logging::LogFormat,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the appliance: XDP steering into AF_XDP workers (or kernel sockets only), parse and
    /// detect every message, and account for every packet.
    Run(Box<RunArgs>),
    /// Check a configuration file: every problem with its line and column; exit 1 if any.
    CheckConfig(CheckConfigArgs),
    /// Parse log messages, one per line, and print every field as a JSON object per message:
    /// how the appliance reads a device's messages.
    Parse(ParseArgs),
    /// Check what the appliance needs from this host (kernel, BPF, NIC and driver, queues,
    /// isolated CPUs, hugepages, transparent huge pages, memlock, busy-poll settings, IRQs,
    /// irqbalance). Exits 1 when a check fails.
    CheckHost(CheckHostArgs),
    /// Run log messages, one per line, through Sigma rules offline and print an alert line for
    /// every rule that fires.
    Detect(DetectArgs),
    /// Mine templates from log messages, one per line: prints, for each line, its template id
    /// and template (tab-separated), in input order.
    Templates(TemplatesArgs),
    /// One screen from a running appliance's metrics endpoint: mode per queue, messages/s,
    /// drops by reason, alerts, latency, detector state, top sources.
    Status(StatusArgs),
    /// Ask a running appliance (through its metrics endpoint) to reload its configuration and
    /// rules, as SIGHUP does; prints what changed, or why nothing did (exit 1).
    Reload(ReloadArgs),
}

fn main() -> ExitCode {
    use clap::{CommandFactory, FromArgMatches};
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    ingest::logging::init(cli.log_format);
    cli::exit_status(match cli.command {
        Command::Run(args) => {
            let given = matches
                .subcommand_matches("run")
                .expect("the run subcommand");
            run(*args, given)
        }
        Command::CheckConfig(args) => check_config(args),
        Command::Parse(args) => parse_lines(args),
        Command::CheckHost(args) => check_host(args),
        Command::Detect(args) => detect_lines(args),
        Command::Templates(args) => templates(args),
        Command::Status(args) => status(args),
        Command::Reload(args) => reload(args),
    })
}
