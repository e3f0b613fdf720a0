//! `ingest run` and `ingest check-config`: the configuration layered from the file, the
//! environment and the flags, and the daemon started from it.

use std::process::ExitCode;
use std::{
    io::{BufWriter, Write},
    path::{Path, PathBuf},
    sync::{Arc, mpsc},
    time::Duration,
};

use anyhow::Context as _;

use crate::cli::ConfigProblem;
use ingest::{
    config::{Config, Overrides},
    daemon::housekeeping::{self, Housekeeper, Reconfigure},
    daemon::{Daemon, Limits, Options},
    metrics::{MetricsServer, Refusal},
    output::sinks::Sinks,
    rules::load_rules,
    service::Service,
    sys,
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
    /// it exists). The options given below, or in their environment variables, override it.
    #[arg(long, env = "INGEST_CONFIG")]
    config: Option<PathBuf>,
    #[command(flatten)]
    options: Overrides,
    /// Do not try huge pages for the UMEM (the same as --hugepages=false).
    #[arg(long)]
    no_hugepages: bool,
    /// Do not listen for TCP syslog on the log ports (the same as --tcp=false).
    #[arg(long)]
    no_tcp: bool,
    /// Stop after this many seconds (default: run until SIGINT or SIGTERM).
    #[arg(long)]
    duration: Option<f64>,
    /// Stop after this many messages.
    #[arg(long)]
    max_messages: Option<u64>,
    /// Print every received message as a JSON line on stdout.
    #[arg(long)]
    print: bool,
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
        tracing::info!(file = %path.display(), "configuration file");
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
    args.options.apply(&mut c, given);
    if args.no_hugepages {
        c.hugepages = false;
    }
    if args.no_tcp {
        c.tcp = false;
    }
    Ok(c)
}

pub(crate) fn check_config(args: CheckConfigArgs) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?;
    match Config::parse(&text) {
        Ok(c) => {
            println!("{}: ok", args.file.display());
            if args.print {
                print!("{}", toml::to_string(&c.redacted())?);
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            for e in &errors {
                println!("{}:{e}", args.file.display());
            }
            Ok(ExitCode::FAILURE)
        }
    }
}

pub(crate) fn run(args: RunArgs, given: &clap::ArgMatches) -> anyhow::Result<ExitCode> {
    let config = effective_config(&args, given).map_err(ConfigProblem)?;
    tracing::info!(
        "effective configuration:\n{}",
        toml::to_string(&config.redacted())?
    );
    let limits = Limits {
        duration: args
            .duration
            .map(Duration::try_from_secs_f64)
            .transpose()
            .context("--duration must be a non-negative number of seconds")?,
        max_messages: args.max_messages,
    };
    let mut opts = Options::from_config(&config).map_err(|e| ConfigProblem(e.into()))?;
    // Every message leaves the workers when printed, or when a sink publishes events.
    opts.print = args.print || config.sink.iter().any(|s| s.events);

    let stop = sys::signal::install_stop_handler().context("installing signal handlers")?;
    let reload = sys::signal::install_reload_handler().context("installing signal handlers")?;
    let memlock_limit = sys::raise_memlock_limit();
    match memlock_limit {
        Ok(u64::MAX) => tracing::debug!("RLIMIT_MEMLOCK unlimited"),
        Ok(limit) => tracing::info!(
            "RLIMIT_MEMLOCK is {} KiB (no CAP_SYS_RESOURCE to lift it); enough with CAP_IPC_LOCK",
            limit / 1024
        ),
        Err(err) => {
            tracing::warn!("reading RLIMIT_MEMLOCK failed ({err}); UMEM registration may fail")
        }
    }
    // Bound before anything starts, so a taken port stops the start with a clear error.
    let metrics = if config.metrics_addr.is_empty() {
        None
    } else {
        let server = MetricsServer::bind(&config.metrics_addr, config.metrics_reload)?;
        let addr = server.local_addr()?;
        tracing::info!(%addr, "metrics on http://{addr}/metrics, the live view on http://{addr}/");
        let (tx, rx) = mpsc::channel();
        server.spawn(tx).context("starting the metrics thread")?;
        Some(rx)
    };
    let rules = Arc::new(load_rules(&config.rules).map_err(|e| ConfigProblem(e.into()))?);
    // Before privileges are dropped: spool folders may need creating.
    let sinks = Sinks::start(&config.sink).context("starting the alert sinks")?;
    tracing::info!(
        sigma = rules.sigma.len(),
        correlations = rules.correlations.len(),
        filtered = rules.sigma.iter().filter(|r| !r.filters.is_empty()).count(),
        thresholds = rules.thresholds.len(),
        silences = rules.silences.len(),
        "rules loaded"
    );
    let blueprint = housekeeping::blueprint(&rules, &config);
    let daemon = Daemon::start_with(opts.clone(), |_| Box::new(blueprint.engine()))
        .with_context(|| format!("starting the appliance on {}", opts.iface))?;
    // After start: the UMEMs and rings exist, and every later page is locked as it is mapped.
    // The main thread (housekeeping, the final report) gets its stack's depth first.
    sys::cpu::prefault_stack(MAIN_STACK_MIB);
    if let Err(e) = sys::cpu::lock_memory() {
        tracing::warn!(
            "mlockall failed ({e}): workers may stall on page faults; needs CAP_IPC_LOCK"
        );
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
                    Ok(()) => tracing::warn!(
                        "RLIMIT_MEMLOCK is finite and {user} will lack CAP_IPC_LOCK: memory \
                         mapped from now on is not locked (run with LimitMEMLOCK=infinity, as \
                         the systemd unit does)"
                    ),
                    Err(e) => tracing::warn!("mlockall(MCL_CURRENT) failed ({e})"),
                }
            }
            let (uid, gid) = sys::drop_privileges(user)
                .with_context(|| format!("dropping privileges to {user}"))?;
            tracing::info!(user, %uid, %gid, "running with no capabilities");
            Some(user.clone())
        }
        None => None,
    };
    for w in daemon.workers() {
        tracing::info!(
            worker = w.worker,
            kind = w.kind,
            queue = w.queue,
            cpus = ?w.cpus,
            mode = %ingest::metrics::name_of(&w.mode),
            bind = w.bind_mode.as_ref().map(ingest::metrics::name_of),
            hugepages = w.hugepages,
            tcp = w.tcp,
            "worker started"
        );
        if let Some(bp) = w.busy_poll.as_ref().filter(|bp| !bp.complete()) {
            tracing::warn!(worker = w.worker, options = ?bp, "busy-poll options not all taken");
        }
        if let Some(e) = &w.pinned {
            tracing::warn!(worker = w.worker, cpus = ?w.cpus, error = %e, "pinning failed");
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
    let mut service = Service::from_env();
    service.ready(&format!(
        "receiving on {} ({} workers, {} backend)",
        opts.iface,
        daemon.workers().len(),
        match opts.backend {
            ingest::datapath::Backend::Xdp => "xdp",
            ingest::datapath::Backend::Socket => "socket",
        }
    ));

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
    )
    .with_service(service);
    let mut report = daemon.run(stop, limits, &mut housekeeper)?;
    if let Some(e) = housekeeper.error() {
        tracing::warn!("printing messages stopped: {e}");
    }
    report.sinks = housekeeper.close_sinks(Duration::from_secs(5));
    report.reloads = housekeeper.reloads();
    for s in &report.sinks {
        tracing::info!(
            sink = %s.name,
            delivered = s.delivered,
            spooled = s.spooled,
            replayed = s.replayed,
            dropped_queue_full = s.dropped_queue_full,
            dropped_undeliverable = s.dropped_undeliverable,
            failures = s.failures,
            spool_pending = s.spool_pending,
            "alert sink closed"
        );
    }

    tracing::info!(
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
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Cli, Command};

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

    /// The configuration `argv` (after `ingest run`) gives over a file holding `file`.
    fn config_with(file_text: &str, extra: &[&str], tag: &str) -> Config {
        use clap::{CommandFactory, FromArgMatches};
        let dir = std::env::temp_dir().join(format!("ingest-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("ingest.toml");
        std::fs::write(&file, file_text).unwrap();
        let mut argv = vec!["ingest", "run", "--config", file.to_str().unwrap()];
        argv.extend_from_slice(extra);
        let matches = Cli::command().try_get_matches_from(argv).unwrap();
        let Command::Run(args) = Cli::from_arg_matches(&matches).unwrap().command else {
            panic!("run");
        };
        let c = effective_config(&args, matches.subcommand_matches("run").unwrap()).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        c
    }

    #[test]
    fn learning_flags_go_over_the_config_file_only_when_given() {
        let file = "learn = true\nlearn_warmup = 5\n";
        let c = config_with(file, &[], "learn-a");
        assert!(c.learn, "from the file");
        assert_eq!((c.learn_warmup, c.learn_interval), (5, 60));
        let c = config_with(
            file,
            &["--learn-interval", "7", "--learn-warmup", "9"],
            "learn-b",
        );
        assert!(c.learn);
        assert_eq!((c.learn_warmup, c.learn_interval), (9, 7));
        let c = config_with(file, &["--learn=false"], "learn-c");
        assert!(!c.learn);
    }

    /// Every option of the file is a flag too, derived from the one table of options: given,
    /// it wins over the file; not given, the file's value (or the default) stays.
    #[test]
    fn every_option_is_a_flag_that_overrides_the_file_only_when_given() {
        let file = "iface = \"file0\"\nqueues = [3]\npoll_coalesce_us = 7\ntcp = false\n";
        let c = config_with(file, &[], "over-a");
        assert_eq!(c.iface.as_deref(), Some("file0"));
        assert_eq!(
            (c.queues.clone(), c.poll_coalesce_us, c.tcp),
            (vec![3], 7, false)
        );
        assert_eq!(
            c.batch_size,
            Config::default().batch_size,
            "neither: the default"
        );
        let c = config_with(
            file,
            &[
                "--iface",
                "flag0",
                "--queues",
                "0,1",
                "--poll-coalesce-us",
                "9",
                "--tcp",
                "--batch-size",
                "32",
                "--rules",
                "/a",
                "--rules",
                "/b",
                "--hugepages=false",
            ],
            "over-b",
        );
        assert_eq!(c.iface.as_deref(), Some("flag0"));
        assert_eq!(
            (c.queues.clone(), c.poll_coalesce_us, c.tcp),
            (vec![0, 1], 9, true)
        );
        assert_eq!(c.batch_size, 32);
        assert_eq!(c.rules, [PathBuf::from("/a"), PathBuf::from("/b")]);
        assert!(!c.hugepages);
        let c = config_with(file, &["--no-tcp", "--no-hugepages"], "over-c");
        assert!(!c.tcp && !c.hugepages);
        // Every key the file has is a flag of `ingest run`.
        use clap::CommandFactory;
        let run = Cli::command();
        let run = run.find_subcommand("run").unwrap();
        let value = toml::Value::try_from(Config::default()).unwrap();
        for key in value.as_table().unwrap().keys().filter(|k| *k != "sink") {
            assert!(
                run.get_arguments().any(|a| a.get_id() == key.as_str()),
                "{key} has no flag"
            );
        }
    }
}
