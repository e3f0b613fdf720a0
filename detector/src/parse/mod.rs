//! Parsers for syslog and the formats that ride on it. Every parser borrows from its input and
//! none allocates: see [`parse`] and [`Event`].

mod event;
mod fields;
pub mod framing;
pub mod gelf;
mod pri;
pub mod time;

pub use event::{
    CiscoTag, Event, EventFields, Format, FormatHint, ParseError, ParseOptions, SdParams, parse,
    parse_indexed, unescape_into,
};
pub use fields::{
    Field, FieldIndex, Fields, INDEXED_FIELDS, IndexedFields, Payload, detect_payload,
};
pub use pri::{Facility, Pri, PriError, Severity, parse_pri};
