//! The log: `tracing` events with fields (worker, queue, sink, rule, peer), and the `log`
//! records of the crates below (aya, rustls) bridged in. On stderr as text, or as JSON lines;
//! under systemd, when stderr is the journal, straight to the journal with each event's
//! priority and its fields as journal fields. `RUST_LOG` filters, as before (default `info`).

use std::os::fd::AsFd;

use tracing_subscriber::{EnvFilter, fmt, layer::SubscriberExt, util::SubscriberInitExt};

/// Where and how the log is written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// The journal when stderr is connected to it (systemd's `JOURNAL_STREAM`), else text.
    #[default]
    Auto,
    /// Human-readable lines on stderr.
    Text,
    /// One JSON object per event on stderr, fields included.
    Json,
    /// The systemd journal (native protocol): priorities and fields kept.
    Journald,
}

/// Whether stderr is the journal stream systemd connected (`JOURNAL_STREAM` is its
/// `device:inode`).
fn stderr_is_journal() -> bool {
    let Some(stream) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Ok(stat) = nix::sys::stat::fstat(std::io::stderr().as_fd()) else {
        return false;
    };
    stream.to_string_lossy() == format!("{}:{}", stat.st_dev, stat.st_ino)
}

/// Installs the log for the whole process; returns the format in effect. Called once, first
/// thing.
pub fn init(format: LogFormat) -> LogFormat {
    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let format = match format {
        LogFormat::Auto if stderr_is_journal() => LogFormat::Journald,
        LogFormat::Auto => LogFormat::Text,
        f => f,
    };
    let text = || fmt::layer().with_writer(std::io::stderr).with_target(false);
    let installed = match format {
        LogFormat::Journald => match tracing_journald::layer() {
            Ok(journal) => tracing_subscriber::registry()
                .with(filter())
                .with(journal.with_syslog_identifier("ingest".into()))
                .try_init(),
            Err(e) => {
                let r = tracing_subscriber::registry()
                    .with(filter())
                    .with(text())
                    .try_init();
                tracing::warn!("the journal is not reachable ({e}); logging to stderr");
                return match r {
                    Ok(()) => LogFormat::Text,
                    Err(_) => format,
                };
            }
        },
        LogFormat::Json => tracing_subscriber::registry()
            .with(filter())
            .with(
                fmt::layer()
                    .json()
                    .with_writer(std::io::stderr)
                    .with_current_span(false)
                    .flatten_event(true),
            )
            .try_init(),
        LogFormat::Text | LogFormat::Auto => tracing_subscriber::registry()
            .with(filter())
            .with(text())
            .try_init(),
    };
    // Installed once per process; a second call (tests) keeps the first.
    let _ = installed;
    format
}
