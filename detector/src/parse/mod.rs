//! Parsers for syslog and the formats that ride on it. Every parser borrows from its input.

pub mod framing;
mod pri;

pub use pri::{Facility, Pri, PriError, Severity, parse_pri};
