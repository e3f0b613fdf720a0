//! `ingest status` and `ingest reload`: a running appliance, through its metrics endpoint.

use std::process::ExitCode;
use std::{io::Write, time::Duration};

use anyhow::Context as _;
use ingest::metrics::{self};

#[derive(Debug, clap::Args)]
pub(crate) struct ReloadArgs {
    /// The metrics endpoint (host:port).
    #[arg(long, default_value = metrics::DEFAULT_ADDR)]
    addr: String,
}

pub(crate) fn reload(args: ReloadArgs) -> anyhow::Result<ExitCode> {
    match metrics::reload(&args.addr) {
        Ok(summary) => {
            println!("{summary}");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("{e}");
            Ok(ExitCode::FAILURE)
        }
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
