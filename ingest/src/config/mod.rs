//! The configuration of `ingest run`: every option once, in the table of the `options!` macro
//! below, with its type, its default and its flag. From that one table come the file's type
//! ([`Config`], TOML, `deploy/ingest.toml` documents each key), its defaults, and the command
//! line's overrides ([`Overrides`], each flag showing the default and, for the common ones, an
//! `INGEST_*` environment variable). A new option is one row: it cannot be forgotten in a
//! layer. The daemon's options are made from a configuration (the daemon's `Options::from_config`).
//!
//! Layers, later over earlier: the defaults, the file (`--config`, `INGEST_CONFIG`, else
//! `/etc/ingest/ingest.toml` when it exists), the environment, the flags. `ingest check-config
//! FILE` reports every problem of a file with its line and column ([`mod@file`]).

pub mod file;
mod options;
mod port_format;

pub use file::{ConfigError, Location};
pub use options::{Config, Overrides};
pub use port_format::{PortFormat, PortFormatError};

#[cfg(test)]
mod tests;
