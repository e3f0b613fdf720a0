//! The appliance's daemon side: the XDP program's loader, AF_XDP sockets, pinned workers, the
//! kernel socket path, the housekeeping loop.
//!
//! Unsafe system calls live in [`sys`] only.

#![warn(missing_docs)]

pub mod config;
pub mod daemon;
pub mod datapath;
pub mod host;
pub mod logging;
pub mod metrics;
pub mod output;
pub mod report;
pub mod rules;
pub mod service;
pub mod status;
pub mod sys;
pub mod tls;

/// An error with its causes, `: `-separated, for a one-line report (what `{:#}` gives an
/// `anyhow` error).
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}
