//! The borrowed event view: what a message holds once its header is read, and the options and
//! errors of reading it.
//!
//! [`parse`](super::parse) never allocates and never panics: every field is a slice of the
//! input, structured data and payload fields are iterated lazily ([`Event::sd_params`],
//! [`Event::fields`]), and malformed input yields what could be read plus one [`ParseError`].

pub use super::error::ParseError;
use super::{
    fields::{Field, FieldIndex, Fields, IndexedFields, Payload},
    pri::Pri,
    sd::SdParams,
};

/// Which header format to read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FormatHint {
    /// Detect per message.
    #[default]
    Auto,
    /// RFC 5424 only.
    Rfc5424,
    /// RFC 3164 (BSD) only.
    Rfc3164,
    /// No syslog header: the whole message is the body (JSON over UDP, GELF, raw lines).
    Raw,
}

/// The header format a message was read as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// RFC 5424.
    Rfc5424,
    /// RFC 3164 / BSD syslog.
    Rfc3164,
    /// No syslog header.
    Raw,
}

impl Format {
    /// Stable name.
    pub fn name(self) -> &'static str {
        match self {
            Format::Rfc5424 => "rfc5424",
            Format::Rfc3164 => "rfc3164",
            Format::Raw => "raw",
        }
    }
}

/// How to parse.
#[derive(Clone, Copy, Debug)]
pub struct ParseOptions {
    /// Header format.
    pub format: FormatHint,
    /// Payload format of the body; `None` detects it.
    pub payload: Option<Payload>,
    /// Longest message read; the rest is ignored and [`ParseError::TooLong`] reported.
    pub max_len: usize,
    /// The year for BSD timestamps that have none (the year of the reading); without it they
    /// get no `timestamp_ns`.
    pub year: Option<i32>,
    /// The month (1-12) of the reading in `year`, when known: a BSD timestamp without a year
    /// then gets the year that puts it nearest (December's messages read in January belong to
    /// the year before). See [`super::time::nearest_year`].
    pub month: Option<u8>,
    /// The offset from UTC of the sender's clock, for BSD timestamps (which carry no zone).
    pub local_offset: super::time::LocalOffset,
}

impl Default for ParseOptions {
    fn default() -> Self {
        Self {
            format: FormatHint::Auto,
            payload: None,
            max_len: 64 * 1024,
            year: None,
            month: None,
            local_offset: super::time::LocalOffset::UTC,
        }
    }
}

/// A Cisco IOS message tag, `%FACILITY-SEVERITY-MNEMONIC`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CiscoTag<'a> {
    /// e.g. `SYS`, `LINEPROTO`.
    pub facility: &'a [u8],
    /// 0-7.
    pub severity: u8,
    /// e.g. `CONFIG_I`, `UPDOWN`.
    pub mnemonic: &'a [u8],
}

/// One parsed message. Every slice borrows the input.
#[derive(Clone, Copy, Debug)]
pub struct Event<'a> {
    /// The message as read (trailing newline, CR and NUL removed; cut at `max_len`).
    pub input: &'a [u8],
    /// Header format.
    pub format: Format,
    /// Facility and severity.
    pub pri: Option<Pri>,
    /// RFC 5424 version.
    pub version: Option<u16>,
    /// The timestamp as written.
    pub timestamp: Option<&'a [u8]>,
    /// The timestamp in nanoseconds since the epoch (UTC), when it could be computed.
    pub timestamp_ns: Option<i64>,
    /// HOSTNAME.
    pub host: Option<&'a [u8]>,
    /// APP-NAME, or the BSD tag.
    pub app: Option<&'a [u8]>,
    /// PROCID, or the BSD `[pid]`.
    pub procid: Option<&'a [u8]>,
    /// RFC 5424 MSGID.
    pub msgid: Option<&'a [u8]>,
    /// RFC 5424 STRUCTURED-DATA as written (`[id k="v"]...`); iterate with [`Event::sd_params`].
    pub structured_data: Option<&'a [u8]>,
    /// Cisco sequence number (`<189>123: ...`).
    pub sequence: Option<&'a [u8]>,
    /// Cisco `%FAC-SEV-MNEMONIC` tag at the start of the body.
    pub cisco: Option<CiscoTag<'a>>,
    /// The message body (MSG), UTF-8 BOM removed.
    pub body: &'a [u8],
    /// How the body is structured.
    pub payload: Payload,
    /// What went wrong, if anything.
    pub error: Option<ParseError>,
    /// The body's fields as [`parse_indexed`](super::parse_indexed) found them.
    pub(super) index: Option<&'a FieldIndex>,
}

/// An event of no input: what a caller's slot holds before [`parse_indexed_into`] fills it.
///
/// [`parse_indexed_into`]: super::parse_indexed_into
impl Default for Event<'_> {
    fn default() -> Self {
        Self::empty(&[], Format::Raw)
    }
}

impl<'a> Event<'a> {
    pub(super) fn empty(input: &'a [u8], format: Format) -> Self {
        Self {
            input,
            format,
            pri: None,
            version: None,
            timestamp: None,
            timestamp_ns: None,
            host: None,
            app: None,
            procid: None,
            msgid: None,
            structured_data: None,
            sequence: None,
            cisco: None,
            body: &[],
            payload: Payload::Plain,
            error: None,
            index: None,
        }
    }

    /// Every structured-data parameter: `(SD-ID, PARAM-NAME, PARAM-VALUE)`, the value as
    /// written (escapes `\"`, `\\`, `\]` still in it; see [`unescape_into`]).
    pub fn sd_params(&self) -> SdParams<'a> {
        SdParams::new(self.structured_data.unwrap_or(&[]))
    }

    /// The body's key/value fields, per its payload format (JSON members, CEF header and
    /// extension, LEEF attributes, key=value pairs, audit record fields). Plain bodies have none.
    /// Read from the index when [`parse_indexed`](super::parse_indexed) made the event, else by walking the body.
    pub fn fields(&self) -> EventFields<'a> {
        match self.index {
            Some(index) => EventFields::Indexed(IndexedFields::new(self.body, index)),
            None => EventFields::Walked(Fields::new(self.payload, self.body)),
        }
    }

    /// What the message says in words: for a structured body (JSON and GELF, CEF, LEEF,
    /// key=value), its `message`, `short_message` or `msg` field as written (escapes kept), else
    /// the body. The same words sent as plain text or inside JSON read the same here, which is
    /// what template mining wants. No allocation; plain bodies cost one comparison.
    pub fn text(&self) -> &'a [u8] {
        self.text_escaped().0
    }

    /// [`Event::text`] without the payload format's escapes: the text itself when it has none,
    /// else its unescaped copy in `buf` (cleared first; reused, so no allocation once it is
    /// large enough).
    pub fn plain_text<'r>(&self, buf: &'r mut Vec<u8>) -> &'r [u8]
    where
        'a: 'r,
    {
        let (text, escaped) = self.text_escaped();
        if !escaped {
            return text;
        }
        buf.clear();
        unescape_into(text, buf);
        buf
    }

    /// [`Event::text`], and whether it has backslash escapes (a CEF `\=`, a JSON `\"`): remove
    /// them with [`unescape_into`] to read the words as a plain-text sender would send them.
    pub fn text_escaped(&self) -> (&'a [u8], bool) {
        if matches!(
            self.payload,
            Payload::Plain | Payload::Audit | Payload::EventXml
        ) {
            return (self.body, false);
        }
        self.fields()
            .find(|f| matches!(f.key, b"message" | b"short_message" | b"msg"))
            .map_or((self.body, false), |f| (f.value, f.escaped))
    }
}

/// The fields of an event ([`Event::fields`]): from its index when it has one, else walked.
#[derive(Clone, Debug)]
pub enum EventFields<'a> {
    /// Read from the body.
    Walked(Fields<'a>),
    /// Read from the index [`parse_indexed`](super::parse_indexed) filled.
    Indexed(IndexedFields<'a>),
}

impl<'a> Iterator for EventFields<'a> {
    type Item = Field<'a>;

    #[inline]
    fn next(&mut self) -> Option<Field<'a>> {
        match self {
            EventFields::Walked(f) => f.next(),
            EventFields::Indexed(f) => f.next(),
        }
    }
}

/// Removes backslash escapes (`\x` becomes `x`) from `raw`, appending to `out`.
pub fn unescape_into(raw: &[u8], out: &mut Vec<u8>) {
    let mut escaped = false;
    for &b in raw {
        if escaped || b != b'\\' {
            out.push(b);
            escaped = false;
        } else {
            escaped = true;
        }
    }
}

/// The body without a UTF-8 byte order mark in front.
pub(super) fn strip_bom(s: &[u8]) -> &[u8] {
    s.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(s)
}
