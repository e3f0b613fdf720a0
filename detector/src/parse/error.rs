//! What can be wrong with a message.

use super::pri::PriError;

/// What was wrong with a message. The event still carries everything read before the problem.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// Nothing but whitespace.
    Empty,
    /// Longer than `max_len`: only the first `max_len` bytes were read.
    TooLong,
    /// A `<PRI>` that is not one (RFC 5424 needs one; RFC 3164 messages may lack it).
    Pri(PriError),
    /// RFC 5424: the header ended before all its fields.
    TruncatedHeader,
    /// RFC 5424: the timestamp is not RFC 3339.
    BadTimestamp,
    /// RFC 5424: structured data is malformed (unclosed element, bad parameter).
    BadStructuredData,
    /// The body is not the payload format detected or requested (e.g. broken JSON).
    BadPayload,
}

impl ParseError {
    /// Every kind, for counters.
    pub const ALL: [ParseError; 9] = [
        ParseError::Empty,
        ParseError::TooLong,
        ParseError::Pri(PriError::Missing),
        ParseError::Pri(PriError::Malformed),
        ParseError::Pri(PriError::OutOfRange),
        ParseError::TruncatedHeader,
        ParseError::BadTimestamp,
        ParseError::BadStructuredData,
        ParseError::BadPayload,
    ];

    /// Stable counter name.
    pub fn name(self) -> &'static str {
        match self {
            ParseError::Empty => "empty",
            ParseError::TooLong => "too_long",
            ParseError::Pri(PriError::Missing) => "pri_missing",
            ParseError::Pri(PriError::Malformed) => "pri_malformed",
            ParseError::Pri(PriError::OutOfRange) => "pri_out_of_range",
            ParseError::TruncatedHeader => "truncated_header",
            ParseError::BadTimestamp => "bad_timestamp",
            ParseError::BadStructuredData => "bad_structured_data",
            ParseError::BadPayload => "bad_payload",
        }
    }

    /// Dense index into [`ParseError::ALL`].
    pub fn index(self) -> usize {
        ParseError::ALL
            .iter()
            .position(|e| *e == self)
            .expect("ALL lists every kind")
    }
}
