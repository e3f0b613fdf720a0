//! `ingest status` and `ingest reload`: a running appliance, through its metrics endpoint.

use std::process::ExitCode;
use std::{io::Write, time::Duration};

use anyhow::Context as _;
use ingest::metrics::{self};

#[derive(Debug, clap::Args)]
pub(crate) struct ReloadArgs {
    /// The metrics endpoint (host:port). Default: the `metrics_addr` of `--config`, else
    /// 127.0.0.1:9514.
    #[arg(long)]
    addr: Option<String>,
    /// The configuration file the daemon runs with, to find its metrics endpoint.
    #[arg(long)]
    config: Option<std::path::PathBuf>,
    /// Reload by sending SIGHUP to this process and waiting for the outcome on the metrics
    /// endpoint (systemd's `ExecReload=` passes `$MAINPID`). Without it, `POST /-/reload`,
    /// which the daemon must allow (`metrics_reload = true`).
    #[arg(long)]
    pid: Option<u32>,
}

/// How long a reload may take before `ingest reload --pid` gives up waiting.
const RELOAD_WAIT: Duration = Duration::from_secs(90);

pub(crate) fn reload(args: ReloadArgs) -> anyhow::Result<ExitCode> {
    let addr = match (&args.addr, &args.config) {
        (Some(a), _) => a.clone(),
        (None, Some(file)) => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("reading {}", file.display()))?;
            let config = ingest::config::Config::parse(&text).map_err(|e| {
                anyhow::anyhow!(
                    "{}: {}",
                    file.display(),
                    e.iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; ")
                )
            })?;
            config.metrics_addr
        }
        (None, None) => metrics::DEFAULT_ADDR.to_string(),
    };
    let outcome = match args.pid {
        Some(pid) => reload_by_signal(&addr, pid),
        None => metrics::reload(&addr).map_err(anyhow::Error::from),
    };
    match outcome {
        Ok(summary) => {
            println!("{summary}");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("{e:#}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Sends SIGHUP to `pid` and waits until the daemon at `addr` counts one more reload; Ok if it
/// was applied, an error with the reason (from the web view's state) if it was refused.
fn reload_by_signal(addr: &str, pid: u32) -> anyhow::Result<String> {
    let outcomes = |s: &metrics::Scrape| s.sum("ingest_config_reloads_total", &[]);
    let before = outcomes(&metrics::scrape(addr).with_context(|| format!("reading {addr}"))?);
    let pid = nix::unistd::Pid::from_raw(i32::try_from(pid).context("--pid")?);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP)
        .with_context(|| format!("signalling process {pid}"))?;
    let deadline = std::time::Instant::now() + RELOAD_WAIT;
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let now = metrics::scrape(addr).with_context(|| format!("reading {addr}"))?;
        if outcomes(&now) > before {
            let state: serde_json::Value = serde_json::from_str(&metrics::fetch_state(addr)?)?;
            let last = &state["reloads"];
            let message = last["last_message"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            return if last["last_successful"] == true {
                Ok(message)
            } else {
                Err(anyhow::anyhow!("{message}"))
            };
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "no reload outcome within {RELOAD_WAIT:?} of SIGHUP"
        );
    }
}

#[derive(Debug, clap::Args)]
pub(crate) struct StatusArgs {
    /// The metrics endpoint (host:port).
    #[arg(long, default_value = metrics::DEFAULT_ADDR)]
    addr: String,
    /// Seconds between the two scrapes that rates are computed from.
    #[arg(long, default_value_t = 1.0)]
    interval: f64,
    /// Refresh the screen every this many seconds until interrupted.
    #[arg(long)]
    watch: Option<f64>,
}

pub(crate) fn status(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let interval = Duration::try_from_secs_f64(args.interval)
        .ok()
        .filter(|d| !d.is_zero())
        .context("--interval must be a positive number of seconds")?;
    let scrape = || {
        metrics::scrape(&args.addr).with_context(|| format!("reading http://{}/metrics", args.addr))
    };
    let mut before = scrape()?;
    let mut taken = std::time::Instant::now();
    std::thread::sleep(interval);
    loop {
        let after = scrape()?;
        let screen = ingest::status::render(&before, &after, taken.elapsed().as_secs_f64());
        let now = std::time::Instant::now();
        match args.watch {
            None => {
                print!("{screen}");
                return Ok(ExitCode::SUCCESS);
            }
            Some(every) => {
                // Clear the screen and draw from the top.
                print!("\x1b[H\x1b[2J{screen}");
                std::io::stdout().flush()?;
                let every = Duration::try_from_secs_f64(every)
                    .ok()
                    .filter(|d| !d.is_zero())
                    .context("--watch must be a positive number of seconds")?;
                std::thread::sleep(every);
            }
        }
        before = after;
        taken = now;
    }
}
