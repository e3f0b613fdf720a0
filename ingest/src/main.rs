//! `ingest`: the appliance's daemon and command-line tool.

use std::{
    io::{BufWriter, Write},
    path::PathBuf,
    time::Duration,
};

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use ingest::{
    frame::UdpDatagram,
    run::{Limits, MessageHandler, XdpReceiver, XdpRunOptions},
    sys::{self, xsk::XskOptions},
    xdp::{AttachRequest, SourceFilter, SourcePrefix},
};
use xdp_common::Verdict;

#[derive(Debug, Parser)]
#[command(version, about = "Kernel-bypass syslog ingestion and detection")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Attach the XDP program to an interface and receive log datagrams through AF_XDP.
    Run(RunArgs),
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// Interface to attach to.
    #[arg(long)]
    iface: String,
    /// Receive queue to bind the AF_XDP socket to.
    #[arg(long, default_value_t = 0)]
    queue: u32,
    /// UDP destination ports to steer to AF_XDP, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "514")]
    ports: Vec<u16>,
    /// XDP attach mode: auto tries native, then generic with a warning.
    #[arg(long, value_enum, default_value_t = AttachRequest::Auto)]
    xdp_mode: AttachRequest,
    /// Steer log packets only from these sources (CIDR, comma separated or repeated); all
    /// others are dropped in XDP and counted. The longest matching prefix wins.
    #[arg(long, value_delimiter = ',')]
    allow_source: Vec<String>,
    /// Drop log packets from these sources in XDP, counted (CIDR, comma separated or repeated).
    #[arg(long, value_delimiter = ',')]
    deny_source: Vec<String>,
    /// Frames handled per batch.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Frames in the UMEM, also the fill ring size (power of two).
    #[arg(long, default_value_t = 4096)]
    frame_count: u32,
    /// RX ring size (power of two, at most frame-count).
    #[arg(long, default_value_t = 2048)]
    rx_ring_size: u32,
    /// Do not try huge pages for the UMEM.
    #[arg(long)]
    no_hugepages: bool,
    /// Milliseconds one poll() sleeps when no packet is waiting.
    #[arg(long, default_value_t = 100)]
    poll_timeout_ms: u64,
    /// Stop after this many seconds (default: run until SIGINT or SIGTERM).
    #[arg(long)]
    duration: Option<f64>,
    /// Stop after this many messages.
    #[arg(long)]
    max_messages: Option<u64>,
    /// Print every received message as a JSON line on stdout.
    #[arg(long)]
    print: bool,
    /// At exit, write every counter of every stage as JSON to this file.
    #[arg(long)]
    stats_json: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    match Cli::parse().command {
        Command::Run(args) => run(args),
    }
}

fn run(args: RunArgs) -> anyhow::Result<()> {
    if args.ports.is_empty() || args.ports.contains(&0) {
        anyhow::bail!("--ports needs at least one port between 1 and 65535");
    }
    let limits = Limits {
        duration: args
            .duration
            .map(Duration::try_from_secs_f64)
            .transpose()
            .context("--duration must be a non-negative number of seconds")?,
        max_messages: args.max_messages,
    };
    let mut sources = SourceFilter::default();
    for (list, verdict) in [
        (&args.allow_source, Verdict::Allow),
        (&args.deny_source, Verdict::Deny),
    ] {
        for cidr in list {
            let prefix = SourcePrefix::parse(cidr, verdict)
                .map_err(|e| anyhow::anyhow!("bad source prefix {e}"))?;
            sources.prefixes.push(prefix);
        }
    }
    let opts = XdpRunOptions {
        iface: args.iface,
        queue: args.queue,
        ports: args.ports,
        attach: args.xdp_mode,
        sources,
        xsk: XskOptions {
            frame_count: args.frame_count,
            rx_ring_size: args.rx_ring_size,
            batch_size: args.batch_size,
            hugepages: !args.no_hugepages,
            ..XskOptions::default()
        },
        poll_timeout: Duration::from_millis(args.poll_timeout_ms),
    };
    log::info!("effective options: {opts:?} {limits:?}");

    let stop = sys::signal::install_stop_handler().context("installing signal handlers")?;
    match sys::raise_memlock_limit() {
        Ok(u64::MAX) => log::debug!("RLIMIT_MEMLOCK unlimited"),
        Ok(limit) => log::info!(
            "RLIMIT_MEMLOCK is {} KiB (no CAP_SYS_RESOURCE to lift it); enough with CAP_IPC_LOCK",
            limit / 1024
        ),
        Err(err) => log::warn!("reading RLIMIT_MEMLOCK failed ({err}); UMEM registration may fail"),
    }
    let mut receiver = XdpReceiver::start(&opts)
        .with_context(|| format!("starting the XDP receive path on {}", opts.iface))?;
    log::info!(
        "receiving on {} queue {}: XDP {:?} mode, AF_XDP {:?} mode, ports {:?}",
        opts.iface,
        opts.queue,
        receiver.attach_mode(),
        receiver.bind_mode(),
        opts.ports
    );

    let mut out = BufWriter::new(std::io::stdout().lock());
    let ready = serde_json::json!({
        "event": "ready",
        "iface": opts.iface,
        "queue": opts.queue,
        "xdp_mode": receiver.attach_mode(),
        "bind_mode": receiver.bind_mode(),
    });
    writeln!(out, "{ready}")?;
    out.flush()?;

    let mut printer = Printer {
        out,
        enabled: args.print,
        error: None,
    };
    receiver.run(stop, limits, &mut printer)?;
    printer.out.flush()?;
    if let Some(e) = printer.error {
        log::warn!("printing messages stopped: {e}");
    }

    let report = receiver.report()?;
    log::info!(
        "received {} messages through AF_XDP; named drops {}; XDP saw {} frames",
        report.messages_received_total,
        report.drops_total(),
        report.xdp.total()
    );
    if let Some(path) = args.stats_json {
        let json = serde_json::to_vec_pretty(&report)?;
        std::fs::write(&path, json).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// Prints each message as a JSON line when enabled; stops printing at the first write error
/// (a closed pipe) without stopping the receive loop.
struct Printer<W: Write> {
    out: W,
    enabled: bool,
    error: Option<std::io::Error>,
}

impl<W: Write> MessageHandler for Printer<W> {
    fn on_message(&mut self, queue: u32, datagram: &UdpDatagram<'_>) {
        if self.enabled
            && self.error.is_none()
            && let Err(e) = print_message(&mut self.out, queue, datagram)
        {
            self.error = Some(e);
        }
    }

    fn on_batch_end(&mut self) {
        if self.enabled
            && self.error.is_none()
            && let Err(e) = self.out.flush()
        {
            self.error = Some(e);
        }
    }
}

fn print_message(out: &mut impl Write, queue: u32, d: &UdpDatagram<'_>) -> std::io::Result<()> {
    let pri = detector::parse::parse_pri(d.payload)
        .ok()
        .map(|(pri, _)| pri);
    let line = serde_json::json!({
        "event": "message",
        "queue": queue,
        "src": d.src.to_string(),
        "vlan": d.vlan,
        "dst_port": d.dst.port(),
        "facility": pri.map(|p| p.facility.name()),
        "severity": pri.map(|p| p.severity.name()),
        "message": String::from_utf8_lossy(d.payload),
    });
    writeln!(out, "{line}")
}
