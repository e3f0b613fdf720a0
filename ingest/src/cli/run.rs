//! `ingest run` and `ingest check-config`: the configuration layered from the file, the
//! environment and the flags, and the daemon started from it.

use std::{
    io::{BufWriter, Write},
    path::{Path, PathBuf},
    sync::{Arc, mpsc},
    time::Duration,
};

use anyhow::Context as _;

use crate::cli::LearnArgs;
use detector::{
    engine::Clock,
    parse::{FormatHint, ParseOptions, Payload},
};
use ingest::{
    config::Config,
    daemon::housekeeping::{self, Housekeeper, Reconfigure},
    daemon::{self, Backend, Daemon, Limits, Options},
    datapath::filter::SourceFilter,
    datapath::frame::Checksums,
    datapath::pipeline::Parsing,
    datapath::socket::TcpOptions,
    datapath::worker::Mode,
    datapath::xdp::AttachRequest,
    metrics::{MetricsServer, Refusal},
    output::sinks::Sinks,
    rules::load_rules,
    sys::{self, xsk::XskOptions},
};

/// Stack the main thread has when memory is locked (it cannot grow later without CAP_IPC_LOCK).
const MAIN_STACK_MIB: usize = 4;

#[derive(Debug, clap::Args)]
pub(crate) struct CheckConfigArgs {
    /// The configuration file.
    file: PathBuf,
    /// Also print the configuration with every default filled in.
    #[arg(long)]
    print: bool,
}

#[derive(Clone, Debug, clap::Args)]
pub(crate) struct RunArgs {
    /// Configuration file (TOML, see deploy/ingest.toml; default: /etc/ingest/ingest.toml when
    /// it exists); flags given here override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Interface to attach to (with --backend socket: only for reports).
    #[arg(long)]
    iface: Option<String>,
    /// Receive queues, one pinned worker each (comma separated). With --backend socket, one
    /// SO_REUSEPORT worker per entry.
    #[arg(long, value_delimiter = ',', default_value = "0")]
    queues: Vec<u32>,
    /// Worker CPUs, in queue order (e.g. 2-5,8). Default: the isolated CPUs, else all but CPU 0.
    #[arg(long)]
    cpus: Option<String>,
    /// Housekeeping CPUs. Default: the CPUs workers do not use.
    #[arg(long)]
    housekeeping_cpus: Option<String>,
    /// How workers wait for packets: auto is busy-poll when every worker CPU is isolated.
    #[arg(long, value_enum, default_value_t = Mode::Auto)]
    mode: Mode,
    /// Which path takes the log ports: xdp (AF_XDP, with the socket path for what XDP passes)
    /// or socket (kernel sockets only).
    #[arg(long, value_enum, default_value_t = Backend::Xdp)]
    backend: Backend,
    /// Log ports, UDP and TCP, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "514")]
    ports: Vec<u16>,
    /// XDP attach mode: auto tries native, then generic with a warning.
    #[arg(long, value_enum, default_value_t = AttachRequest::Auto)]
    xdp_mode: AttachRequest,
    /// Accept log messages only from these sources (CIDR, comma separated or repeated); all
    /// others are dropped and counted, on every path. The longest matching prefix wins.
    #[arg(long, value_delimiter = ',')]
    allow_source: Vec<String>,
    /// Drop log messages from these sources, counted, on every path: in XDP (fragments too) and
    /// on the kernel socket path (UDP datagrams, TCP connections). CIDR, comma separated or
    /// repeated.
    #[arg(long, value_delimiter = ',')]
    deny_source: Vec<String>,
    /// Frames (or datagrams) handled per batch.
    #[arg(long, default_value_t = XskOptions::default().batch_size)]
    batch_size: usize,
    /// Frames in each UMEM, also the fill ring size (power of two).
    #[arg(long, default_value_t = XskOptions::default().frame_count)]
    frame_count: u32,
    /// RX ring size (power of two, at most frame-count).
    #[arg(long, default_value_t = XskOptions::default().rx_ring_size)]
    rx_ring_size: u32,
    /// Do not try huge pages for the UMEM.
    #[arg(long)]
    no_hugepages: bool,
    /// AF_XDP path: verify IPv4 header and UDP checksums and drop, counted, what the kernel
    /// would drop; or accept every datagram (for senders whose checksum offload never ran).
    #[arg(long, value_enum, default_value_t = Config::default().checksums)]
    checksums: Checksums,
    /// Milliseconds one poll() sleeps when no packet is waiting (poll mode).
    #[arg(long, default_value_t = Config::default().poll_timeout_ms)]
    poll_timeout_ms: u64,
    /// Poll mode: microseconds to pause after a batch that was not full, so the next batch is
    /// bigger and wakeups fewer (interrupt coalescing for the worker, like a NIC's rx-usecs).
    /// 0: none, lowest latency, most CPU.
    #[arg(long, default_value_t = Config::default().poll_coalesce_us)]
    poll_coalesce_us: u64,
    /// SO_BUSY_POLL microseconds (busy-poll mode).
    #[arg(long, default_value_t = Config::default().busy_poll_usecs)]
    busy_poll_usecs: u32,
    /// Receive buffer for each UDP socket, bytes.
    #[arg(long, default_value_t = Config::default().udp_rcvbuf)]
    udp_rcvbuf: usize,
    /// Do not listen for TCP syslog on the log ports.
    #[arg(long)]
    no_tcp: bool,
    /// Longest TCP syslog message, bytes; longer ones are skipped and counted.
    #[arg(long, default_value_t = Config::default().tcp_max_message)]
    tcp_max_message: usize,
    /// Seconds after which a silent TCP connection is closed.
    #[arg(long, default_value_t = Config::default().tcp_idle_timeout)]
    tcp_idle_timeout: u64,
    /// Stop after this many seconds (default: run until SIGINT or SIGTERM).
    #[arg(long)]
    duration: Option<f64>,
    /// Stop after this many messages.
    #[arg(long)]
    max_messages: Option<u64>,
    /// Longest message parsed, bytes; longer ones are parsed up to it and counted as
    /// `too_long`.
    #[arg(long, default_value_t = Config::default().max_message_len)]
    max_message_len: usize,
    /// Parse messages to PORT as FORMAT (auto, rfc5424, rfc3164, raw), optionally with a fixed
    /// payload format: `5514=rfc3164/cef`. Repeatable.
    #[arg(long, value_name = "PORT=FORMAT[/PAYLOAD]")]
    format_for: Vec<String>,
    /// Sigma rules: a folder of `.yml` files (recursively), repeatable. Alerts are printed as
    /// `{"event":"alert",...}` lines. A rule that cannot be loaded stops the start.
    #[arg(long)]
    rules: Vec<PathBuf>,
    #[command(flatten)]
    learning: LearnArgs,
    /// The time rate baselines, silence rules and correlation windows run on: arrival, or the
    /// messages' own timestamps (for replayed captures).
    #[arg(long, default_value_t = Config::default().clock)]
    clock: Clock,
    /// Memory for each worker's detector state (threshold, correlation and silence windows,
    /// templates, baselines), MiB; full tables evict their least recently seen keys, counted.
    #[arg(long, default_value_t = Config::default().detector_budget_mb)]
    detector_budget_mb: usize,
    /// Once the program is attached and every socket bound, continue as this user, with no
    /// capabilities left.
    #[arg(long)]
    user: Option<String>,
    /// Print every received message as a JSON line on stdout.
    #[arg(long)]
    print: bool,
    /// At exit, write every counter of every stage as JSON to this file.
    #[arg(long)]
    stats_json: Option<PathBuf>,
    /// Serve Prometheus metrics here (host:port); an empty value turns the endpoint off.
    #[arg(long, default_value_t = Config::default().metrics_addr)]
    metrics_addr: String,
}

/// `PORT=FORMAT[/PAYLOAD]` as `--format-for` takes it.
fn port_format(spec: &str, base: ParseOptions) -> anyhow::Result<(u16, ParseOptions)> {
    let (port, format) = spec
        .split_once('=')
        .with_context(|| format!("--format-for {spec:?}: expected PORT=FORMAT[/PAYLOAD]"))?;
    let port: u16 = port
        .parse()
        .with_context(|| format!("--format-for {spec:?}: {port:?} is not a port"))?;
    let (format, payload) = match format.split_once('/') {
        Some((f, p)) => (f, Some(p)),
        None => (format, None),
    };
    let format = match format {
        "auto" => FormatHint::Auto,
        "rfc5424" => FormatHint::Rfc5424,
        "rfc3164" => FormatHint::Rfc3164,
        "raw" => FormatHint::Raw,
        other => anyhow::bail!(
            "--format-for {spec:?}: format {other:?} is not auto, rfc5424, rfc3164 or raw"
        ),
    };
    let payload = match payload {
        None | Some("auto") => None,
        Some(p) => Some(Payload::from_name(p).with_context(|| {
            format!(
                "--format-for {spec:?}: payload {p:?} is not plain, json, cef, leef, kv or audit"
            )
        })?),
    };
    Ok((
        port,
        ParseOptions {
            format,
            payload,
            ..base
        },
    ))
}

fn cpu_list(arg: Option<&str>, default: Vec<usize>) -> anyhow::Result<Vec<usize>> {
    match arg {
        Some(list) => sys::cpu::parse_cpu_list(list).map_err(anyhow::Error::msg),
        None => Ok(default),
    }
}

fn options(args: &Config) -> anyhow::Result<Options> {
    let iface = args
        .iface
        .as_deref()
        .context("no interface: give --iface or `iface` in the config file")?;
    let mut opts = Options::new(iface);
    let (workers, _) = daemon::default_cpus();
    opts.worker_cpus = cpu_list(args.cpus.as_deref(), workers).context("--cpus")?;
    let online = sys::cpu::online_cpus().context("reading the online CPUs")?;
    let rest: Vec<usize> = online
        .iter()
        .copied()
        .filter(|c| !opts.worker_cpus.contains(c))
        .collect();
    opts.housekeeping_cpus = cpu_list(
        args.housekeeping_cpus.as_deref(),
        if rest.is_empty() { online } else { rest },
    )
    .context("--housekeeping-cpus")?;
    let sources = SourceFilter::from_lists(&args.allow_source, &args.deny_source)
        .context("the source filter")?;
    opts.queues = args.queues.clone();
    opts.mode = args.mode;
    opts.backend = args.backend;
    opts.ports = args.ports.clone();
    opts.attach = args.xdp_mode;
    opts.sources = sources;
    opts.xsk = XskOptions {
        frame_count: args.frame_count,
        rx_ring_size: args.rx_ring_size,
        batch_size: args.batch_size,
        hugepages: args.hugepages,
        ..XskOptions::default()
    };
    opts.checksums = args.checksums;
    opts.poll_timeout = Duration::from_millis(args.poll_timeout_ms);
    opts.poll_coalesce = Duration::from_micros(args.poll_coalesce_us);
    opts.busy_poll_usecs = args.busy_poll_usecs;
    opts.udp_rcvbuf = args.udp_rcvbuf;
    opts.tcp = args.tcp;
    opts.tcp_options = TcpOptions {
        max_message: args.tcp_max_message,
        idle_timeout: Duration::from_secs(args.tcp_idle_timeout),
        ..TcpOptions::default()
    };
    let base = ParseOptions {
        max_len: args.max_message_len,
        ..ParseOptions::default()
    };
    opts.parsing = Parsing::new(
        base,
        args.format_for
            .iter()
            .map(|spec| port_format(spec, base))
            .collect::<anyhow::Result<_>>()?,
    )
    .with_wall_clock_year();
    opts.validate()?;
    Ok(opts)
}

/// Where `ingest run` reads its configuration when `--config` is not given, if it exists.
const DEFAULT_CONFIG: &str = "/etc/ingest/ingest.toml";

/// The configuration file to read: the one given, else `default` if it is a file.
fn config_file(given: Option<&Path>, default: &Path) -> Option<PathBuf> {
    given
        .map(Path::to_path_buf)
        .or_else(|| default.is_file().then(|| default.to_path_buf()))
}

/// The configuration: the file named by `--config` (or [`DEFAULT_CONFIG`], or the defaults),
/// with every flag given on the command line put over it.
fn effective_config(args: &RunArgs, given: &clap::ArgMatches) -> anyhow::Result<Config> {
    let file = config_file(args.config.as_deref(), Path::new(DEFAULT_CONFIG));
    if args.config.is_none()
        && let Some(path) = &file
    {
        log::info!("configuration from {}", path.display());
    }
    let mut c = match &file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            Config::parse(&text).map_err(|errors| {
                let list: Vec<String> = errors
                    .iter()
                    .map(|e| format!("{}:{e}", path.display()))
                    .collect();
                anyhow::anyhow!("invalid configuration:\n  {}", list.join("\n  "))
            })?
        }
        None => Config::default(),
    };
    let on_command_line =
        |id: &str| given.value_source(id) == Some(clap::parser::ValueSource::CommandLine);
    macro_rules! over {
        ($($field:ident),*) => {
            $(if on_command_line(stringify!($field)) {
                c.$field = args.$field.clone().into();
            })*
        };
    }
    over!(
        queues,
        mode,
        backend,
        ports,
        xdp_mode,
        allow_source,
        deny_source,
        batch_size,
        frame_count,
        rx_ring_size,
        checksums,
        poll_timeout_ms,
        poll_coalesce_us,
        busy_poll_usecs,
        udp_rcvbuf,
        tcp_max_message,
        tcp_idle_timeout,
        max_message_len,
        format_for,
        rules,
        clock,
        detector_budget_mb,
        metrics_addr
    );
    args.learning.apply(&mut c, on_command_line);
    for (id, field, value) in [
        ("iface", &mut c.iface, &args.iface),
        ("cpus", &mut c.cpus, &args.cpus),
        (
            "housekeeping_cpus",
            &mut c.housekeeping_cpus,
            &args.housekeeping_cpus,
        ),
    ] {
        if on_command_line(id) {
            field.clone_from(value);
        }
    }
    if on_command_line("stats_json") {
        c.stats_json.clone_from(&args.stats_json);
    }
    if on_command_line("user") {
        c.user.clone_from(&args.user);
    }
    if args.no_hugepages {
        c.hugepages = false;
    }
    if args.no_tcp {
        c.tcp = false;
    }
    Ok(c)
}

pub(crate) fn check_config(args: CheckConfigArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?;
    match Config::parse(&text) {
        Ok(c) => {
            println!("{}: ok", args.file.display());
            if args.print {
                print!("{}", toml::to_string(&c)?);
            }
            Ok(())
        }
        Err(errors) => {
            for e in &errors {
                println!("{}:{e}", args.file.display());
            }
            std::process::exit(1);
        }
    }
}

pub(crate) fn run(args: RunArgs, given: &clap::ArgMatches) -> anyhow::Result<()> {
    let config = effective_config(&args, given)?;
    log::info!("effective configuration:\n{}", toml::to_string(&config)?);
    let limits = Limits {
        duration: args
            .duration
            .map(Duration::try_from_secs_f64)
            .transpose()
            .context("--duration must be a non-negative number of seconds")?,
        max_messages: args.max_messages,
    };
    let mut opts = options(&config)?;
    // Every message leaves the workers when printed, or when a sink publishes events.
    opts.print = args.print || config.sink.iter().any(|s| s.events);

    let stop = sys::signal::install_stop_handler().context("installing signal handlers")?;
    let reload = sys::signal::install_reload_handler().context("installing signal handlers")?;
    let memlock_limit = sys::raise_memlock_limit();
    match memlock_limit {
        Ok(u64::MAX) => log::debug!("RLIMIT_MEMLOCK unlimited"),
        Ok(limit) => log::info!(
            "RLIMIT_MEMLOCK is {} KiB (no CAP_SYS_RESOURCE to lift it); enough with CAP_IPC_LOCK",
            limit / 1024
        ),
        Err(err) => log::warn!("reading RLIMIT_MEMLOCK failed ({err}); UMEM registration may fail"),
    }
    // Bound before anything starts, so a taken port stops the start with a clear error.
    let metrics = if config.metrics_addr.is_empty() {
        None
    } else {
        let server = MetricsServer::bind(&config.metrics_addr)?;
        log::info!("metrics on http://{}/metrics", server.local_addr()?);
        let (tx, rx) = mpsc::channel();
        server.spawn(tx).context("starting the metrics thread")?;
        Some(rx)
    };
    let rules = Arc::new(load_rules(&config.rules)?);
    // Before privileges are dropped: spool folders may need creating.
    let sinks = Sinks::start(&config.sink).context("starting the alert sinks")?;
    log::info!(
        "{} Sigma rules and {} threshold rules loaded",
        rules.sigma.len(),
        rules.thresholds.len()
    );
    let blueprint = housekeeping::blueprint(&rules, &config);
    let daemon = Daemon::start_with(opts.clone(), |_| Box::new(blueprint.engine()))
        .with_context(|| format!("starting the appliance on {}", opts.iface))?;
    // After start: the UMEMs and rings exist, and every later page is locked as it is mapped.
    // The main thread (housekeeping, the final report) gets its stack's depth first.
    sys::cpu::prefault_stack(MAIN_STACK_MIB);
    if let Err(e) = sys::cpu::lock_memory() {
        log::warn!("mlockall failed ({e}): workers may stall on page faults; needs CAP_IPC_LOCK");
    }
    // Everything that needed privileges is done: the program is attached, the sockets are
    // bound, memory is locked. Reading counters and detaching need none.
    let running_as = match &config.user {
        Some(user) => {
            // The sinks' spools were made as root; the sinks keep writing them afterwards.
            let spools: Vec<PathBuf> = config
                .sink
                .iter()
                .filter_map(|s| s.spool_dir.clone())
                .collect();
            sys::give_to(user, &spools).context("giving the spool folders to the user")?;
            // Without CAP_IPC_LOCK every page locked counts against RLIMIT_MEMLOCK, and what is
            // locked already (the UMEMs) is far beyond a finite limit: with MCL_FUTURE still on,
            // any new page (a heap mapping, a deeper stack) would fail, and the daemon with it.
            // So below an unlimited limit, keep what is locked and lock nothing more.
            if memlock_limit.as_ref().is_ok_and(|l| *l != u64::MAX) {
                match sys::cpu::lock_current_memory() {
                    Ok(()) => log::warn!(
                        "RLIMIT_MEMLOCK is finite and {user} will lack CAP_IPC_LOCK: memory \
                         mapped from now on is not locked (run with LimitMEMLOCK=infinity, as \
                         the systemd unit does)"
                    ),
                    Err(e) => log::warn!("mlockall(MCL_CURRENT) failed ({e})"),
                }
            }
            let (uid, gid) = sys::drop_privileges(user)
                .with_context(|| format!("dropping privileges to {user}"))?;
            log::info!("running as {user} (uid {uid}, gid {gid}) with no capabilities");
            Some(user.clone())
        }
        None => None,
    };
    for w in daemon.workers() {
        log::info!("worker {}: {}", w.worker, serde_json::to_string(w)?);
        if let Some(bp) = w.busy_poll.as_ref().filter(|bp| !bp.complete()) {
            log::warn!(
                "worker {}: busy-poll options not all taken: {bp:?}",
                w.worker
            );
        }
        if let Some(e) = &w.pinned {
            log::warn!(
                "worker {}: pinning to CPUs {:?} failed: {e}",
                w.worker,
                w.cpus
            );
        }
    }

    let mut out = BufWriter::new(std::io::stdout().lock());
    let ready = serde_json::json!({
        "event": "ready",
        "iface": opts.iface,
        "backend": opts.backend,
        "mode": daemon.mode(),
        "xdp_mode": daemon.attach_mode(),
        "workers": daemon.workers(),
        "user": running_as,
    });
    writeln!(out, "{ready}")?;
    out.flush()?;

    let reconfigure: Reconfigure = {
        let (args, given) = (args.clone(), given.clone());
        Arc::new(move || effective_config(&args, &given).map_err(|e| Refusal(format!("{e:#}"))))
    };
    let mut housekeeper = Housekeeper::new(
        out,
        args.print,
        opts.parsing.clone(),
        rules,
        metrics,
        sinks,
        reload,
        reconfigure,
        config.clone(),
    );
    let mut report = daemon.run(stop, limits, &mut housekeeper)?;
    if let Some(e) = housekeeper.error() {
        log::warn!("printing messages stopped: {e}");
    }
    report.sinks = housekeeper.close_sinks(Duration::from_secs(5));
    for s in &report.sinks {
        log::info!("alert sink {}: {}", s.name, serde_json::to_string(s)?);
    }

    log::info!(
        "received {} messages ({} AF_XDP, {} UDP, {} TCP); {} alerts; named drops {}",
        report.messages_received_total,
        report.messages_received_xdp_total,
        report.messages_received_udp_total,
        report.messages_received_tcp_total,
        report.alerts_raised_total,
        report.drops_total(),
    );
    if let Some(path) = config.stats_json {
        let json = serde_json::to_vec_pretty(&report)?;
        std::fs::write(&path, json).with_context(|| format!("writing {}", path.display()))?;
    }
    if !report.errors.is_empty() {
        anyhow::bail!("workers failed: {}", report.errors.join("; "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Cli, Command};

    #[test]
    fn port_formats_parse_and_keep_the_base_options() {
        let base = ParseOptions {
            max_len: 100,
            year: Some(2026),
            ..ParseOptions::default()
        };
        let (port, o) = port_format("5514=rfc3164/cef", base).unwrap();
        assert_eq!(port, 5514);
        assert_eq!(o.format, FormatHint::Rfc3164);
        assert_eq!(o.payload, Some(Payload::Cef));
        assert_eq!((o.max_len, o.year), (100, Some(2026)));
        let (_, o) = port_format("514=auto", base).unwrap();
        assert_eq!((o.format, o.payload), (FormatHint::Auto, None));
        for bad in [
            "514",
            "x=rfc3164",
            "514=xml",
            "514=rfc3164/yaml",
            "70000=raw",
        ] {
            assert!(port_format(bad, base).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_default_configuration_file_is_read_only_when_there() {
        let dir = std::env::temp_dir().join(format!("ingest-config-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let default = dir.join("ingest.toml");
        let given = dir.join("given.toml");
        assert_eq!(
            config_file(None, &default),
            None,
            "absent: the built-in defaults"
        );
        assert_eq!(config_file(Some(&given), &default), Some(given.clone()));
        std::fs::write(&default, "").unwrap();
        assert_eq!(config_file(None, &default), Some(default.clone()));
        assert_eq!(
            config_file(Some(&given), &default),
            Some(given),
            "--config wins"
        );
        // A folder where the file should be is not a file.
        assert_eq!(config_file(None, &dir), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn learning_flags_go_over_the_config_file_only_when_given() {
        use clap::{CommandFactory, FromArgMatches};
        let dir = std::env::temp_dir().join(format!("ingest-learn-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("ingest.toml");
        std::fs::write(&file, "learn = true\nlearn_warmup = 5\n").unwrap();
        let config = |extra: &[&str]| {
            let mut argv = vec!["ingest", "run", "--config", file.to_str().unwrap()];
            argv.extend_from_slice(extra);
            let matches = Cli::command().try_get_matches_from(argv).unwrap();
            let Command::Run(args) = Cli::from_arg_matches(&matches).unwrap().command else {
                panic!("run");
            };
            effective_config(&args, matches.subcommand_matches("run").unwrap()).unwrap()
        };
        let c = config(&[]);
        assert!(c.learn, "from the file");
        assert_eq!((c.learn_warmup, c.learn_interval), (5, 60));
        let c = config(&["--learn-interval", "7", "--learn-warmup", "9"]);
        assert!(c.learn);
        assert_eq!((c.learn_warmup, c.learn_interval), (9, 7));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
