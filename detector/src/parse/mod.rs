//! Parsers for syslog and the formats that ride on it. Every parser borrows from its input and
//! none allocates: see [`parse`] and [`Event`].

pub mod audit;
mod audit_syscalls;
mod dispatch;
mod error;
mod event;
mod fields;
pub mod framing;
pub mod gelf;
mod pri;
mod rfc3164;
mod rfc5424;
mod sd;
pub mod time;

pub use dispatch::{parse, parse_indexed, parse_indexed_into};
pub use event::{
    CiscoTag, Event, EventFields, Format, FormatHint, ParseError, ParseOptions, unescape_into,
};
pub use fields::{
    Field, FieldIndex, Fields, INDEXED_FIELDS, IndexedFields, Payload, detect_payload,
};
pub use pri::{Facility, Pri, PriError, Severity, parse_pri};
pub use sd::SdParams;

#[cfg(test)]
mod tests;
