//! Structured payloads inside a message body, read lazily as key/value fields without
//! allocating: JSON objects (GELF included), CEF, LEEF 1.0 and 2.0, key=value / logfmt, Linux
//! audit records, and events in the Windows event XML schema (Sysmon for Linux).

use crate::simd::Marks;

mod cef;
mod index;
mod json;
mod kv;
mod leef;
mod xml;

use cef::cef_scan;
pub use index::{FieldIndex, INDEXED_FIELDS, IndexedFields};
use json::json_scan;
use kv::is_audit_record;
use leef::leef_delimiter;

/// How a body is structured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Payload {
    /// Free text: no fields.
    Plain,
    /// A JSON object (GELF is one).
    Json,
    /// ArcSight Common Event Format.
    Cef,
    /// IBM QRadar Log Event Extended Format, 1.0 or 2.0.
    Leef,
    /// `key=value` pairs (logfmt).
    Kv,
    /// A Linux audit record, `type=X msg=audit(ts:serial): k=v ...`.
    Audit,
    /// An event in the Windows event XML schema, `<Event>...<EventID>1</EventID>...<Data
    /// Name="Image">/usr/bin/curl</Data>...</Event>`, as Sysmon for Linux writes them.
    EventXml,
}

impl Payload {
    /// Every kind.
    pub const ALL: [Payload; 7] = [
        Payload::Plain,
        Payload::Json,
        Payload::Cef,
        Payload::Leef,
        Payload::Kv,
        Payload::Audit,
        Payload::EventXml,
    ];

    /// Stable name.
    pub fn name(self) -> &'static str {
        match self {
            Payload::Plain => "plain",
            Payload::Json => "json",
            Payload::Cef => "cef",
            Payload::Leef => "leef",
            Payload::Kv => "kv",
            Payload::Audit => "audit",
            Payload::EventXml => "event-xml",
        }
    }

    /// The kind with this name.
    pub fn from_name(name: &str) -> Option<Self> {
        Payload::ALL.into_iter().find(|p| p.name() == name)
    }
}

/// Which bytes a key is made of: letters, digits, `_`, `.` and `-`, as a table (one load per
/// byte instead of four ranges).
static KEY_BYTES: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-');
        b += 1;
    }
    t
};

#[inline(always)]
fn is_key_byte(b: u8) -> bool {
    KEY_BYTES[usize::from(b)]
}

/// Detects the payload format of a body from its first bytes.
pub fn detect_payload(body: &[u8]) -> Payload {
    let b = trim_start(body);
    if b.starts_with(b"{") {
        return Payload::Json;
    }
    if b.starts_with(b"CEF:") {
        return Payload::Cef;
    }
    if b.starts_with(b"LEEF:") {
        return Payload::Leef;
    }
    if is_audit_record(b) {
        return Payload::Audit;
    }
    if b.starts_with(b"<Event>") || b.starts_with(b"<Event ") {
        return Payload::EventXml;
    }
    let key = b.iter().take_while(|&&c| is_key_byte(c)).count();
    if key > 0 && b.get(key) == Some(&b'=') {
        return Payload::Kv;
    }
    Payload::Plain
}

/// The first position from `i` that is not ASCII white space.
#[inline(always)]
fn skip_space(s: &[u8], mut i: usize) -> usize {
    while s.get(i).is_some_and(u8::is_ascii_whitespace) {
        i += 1;
    }
    i
}

fn trim_start(s: &[u8]) -> &[u8] {
    &s[skip_space(s, 0)..]
}

/// Whether `body` reads as `kind` ([`Fields::valid`] of a fresh iterator), without making one
/// for the formats read in a loop of their own, or for a plain body.
pub fn valid(kind: Payload, body: &[u8]) -> bool {
    match kind {
        Payload::Plain => true,
        Payload::Cef => cef_scan(body, |_| {}),
        Payload::Json => json_scan(body, |_| {}),
        _ => Fields::new(kind, body).walk_valid(),
    }
}

/// One field. `value` is as written, without surrounding quotes; when `escaped`, it still holds
/// backslash escapes (see [`super::unescape_into`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field<'a> {
    /// Key.
    pub key: &'a [u8],
    /// Value.
    pub value: &'a [u8],
    /// Whether `value` contains backslash escapes.
    pub escaped: bool,
}

const CEF_HEADER: [&str; 7] = [
    "cef_version",
    "device_vendor",
    "device_product",
    "device_version",
    "signature_id",
    "name",
    "severity",
];
const LEEF_HEADER: [&str; 5] = [
    "leef_version",
    "vendor",
    "product",
    "product_version",
    "event_id",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Start,
    Header(usize),
    Pairs,
    Done,
    Failed,
}

/// The bytes the readers find through [`Marks`], and their kinds' bits. Key=value bodies (and
/// audit records) have no pipes: their third kind is the single quote that may quote a value.
const MARKED: [u8; 4] = [b'"', b'\\', b'|', b'='];
const MARKED_KV: [u8; 4] = [b'"', b'\\', b'\'', b'='];
const QUOTE: u8 = 1;
const BACKSLASH: u8 = 2;
const PIPE: u8 = 4;
const SINGLE_QUOTE: u8 = 4;
const EQUALS: u8 = 8;

/// Lazy iterator over a body's fields.
#[derive(Clone, Debug)]
pub struct Fields<'a> {
    kind: Payload,
    /// What is left to read: always a suffix of the body.
    rest: &'a [u8],
    /// Quotes, backslashes, pipes and `=` of the body, 64 bytes at a time.
    marks: Marks<'a>,
    state: State,
    /// LEEF attribute delimiter.
    delimiter: u8,
    /// LEEF version, once read.
    leef_version: &'a [u8],
    /// Inside an audit record's quoted `msg='...'`, whose pairs are read one by one.
    in_msg: bool,
}

impl<'a> Fields<'a> {
    /// The fields of `body` read as `kind`.
    pub fn new(kind: Payload, body: &'a [u8]) -> Self {
        Self {
            kind,
            rest: body,
            marks: crate::simd::marks(
                body,
                if matches!(kind, Payload::Kv | Payload::Audit) {
                    MARKED_KV
                } else {
                    MARKED
                },
            ),
            state: if kind == Payload::Plain {
                State::Done
            } else {
                State::Start
            },
            delimiter: b'\t',
            leef_version: &[],
            in_msg: false,
        }
    }

    /// Whether the whole body reads as its format (a fresh iterator runs to the end). CEF and
    /// JSON are checked in one loop each (`cef_scan`, `json_scan`), the others by walking
    /// their fields.
    pub fn valid(&self) -> bool {
        match self.state {
            State::Start => valid(self.kind, self.marks.hay()),
            _ => self.walk_valid(),
        }
    }

    /// [`Fields::valid`] by walking the fields, whatever the format: the oracle of the tests.
    pub(crate) fn walk_valid(&self) -> bool {
        let mut it = self.clone();
        while it.next().is_some() {}
        it.state != State::Failed
    }

    fn fail(&mut self) -> Option<Field<'a>> {
        self.state = State::Failed;
        None
    }

    /// [`until_mark`] in the body.
    #[inline]
    fn until_at(&mut self, from: usize, stop: u8) -> Option<(usize, bool)> {
        until_mark(&mut self.marks, from, stop)
    }

    /// [`Fields::until_at`] in `s`, a suffix of the body; the index is `s`'s.
    #[inline]
    fn until(&mut self, s: &'a [u8], stop: u8) -> Option<(usize, bool)> {
        let start = self.marks.hay().len() - s.len();
        let (i, escaped) = self.until_at(start, stop)?;
        Some((i - start, escaped))
    }

    /// The next `|`-separated header value (with `\|` and `\\` escapes).
    fn header_value(&mut self) -> Option<(&'a [u8], bool)> {
        let b = self.marks.hay();
        let start = b.len() - self.rest.len();
        let (i, escaped) = self.until_at(start, PIPE)?;
        self.rest = &b[i + 1..];
        Some((&b[start..i], escaped))
    }

    fn header(&mut self, names: &'static [&'static str], prefix: &[u8]) -> Option<Field<'a>> {
        let i = match self.state {
            State::Start => {
                let Some(r) = trim_start(self.rest).strip_prefix(prefix) else {
                    return self.fail();
                };
                self.rest = r;
                0
            }
            State::Header(i) => i,
            _ => unreachable!("only called in header states"),
        };
        let Some((value, escaped)) = self.header_value() else {
            return self.fail();
        };
        if self.kind == Payload::Leef && i == 0 {
            self.leef_version = value;
        }
        self.state = if i + 1 == names.len() {
            State::Pairs
        } else {
            State::Header(i + 1)
        };
        // LEEF 2.0 names its attribute delimiter after the event id: a character, or its code
        // as `x09` / `0x09`.
        if self.kind == Payload::Leef && i + 1 == names.len() && self.leef_version.starts_with(b"2")
        {
            let Some((d, _)) = self.header_value() else {
                return self.fail();
            };
            self.delimiter = match leef_delimiter(d) {
                Some(c) => c,
                None => return self.fail(),
            };
        }
        Some(Field {
            key: names[i].as_bytes(),
            value,
            escaped,
        })
    }
}

fn trim_end(s: &[u8]) -> &[u8] {
    let n = s
        .iter()
        .rev()
        .take_while(|b| b.is_ascii_whitespace())
        .count();
    &s[..s.len() - n]
}

/// One field as [`cef_scan`] or [`json_scan`] finds it, by positions in the body.
#[derive(Clone, Copy, Debug)]
struct Spans {
    /// The CEF header field's number, or `None` for a field whose key is at `key`.
    header: Option<usize>,
    key: (usize, usize),
    value: (usize, usize),
    escaped: bool,
    /// Where the body's rest starts after this field (where [`Fields`] would go on).
    end: usize,
    /// Whether [`Fields`] knows the body ends here (a JSON object's `}`).
    last: bool,
}

/// From position `from` of the marked bytes: the position of the first byte of the kinds `stop`
/// that no backslash escapes (a backslash escapes the byte after it), and whether a backslash
/// came before it. `marks` marks backslashes as [`BACKSLASH`].
#[inline]
fn until_mark(marks: &mut Marks<'_>, mut from: usize, stop: u8) -> Option<(usize, bool)> {
    let b = marks.hay();
    let mut escaped = false;
    loop {
        let i = marks.find(from, stop | BACKSLASH)?;
        if b[i] != b'\\' {
            return Some((i, escaped));
        }
        escaped = true;
        from = i + 2;
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Field<'a>;

    fn next(&mut self) -> Option<Field<'a>> {
        match (self.kind, self.state) {
            (_, State::Done | State::Failed) | (Payload::Plain, _) => None,
            (Payload::Json, _) => self.json(),
            (Payload::Cef, State::Start | State::Header(_)) => self.header(&CEF_HEADER, b"CEF:"),
            (Payload::Cef, State::Pairs) => self.cef_pair(),
            (Payload::Leef, State::Start | State::Header(_)) => self.header(&LEEF_HEADER, b"LEEF:"),
            (Payload::Leef, State::Pairs) => self.leef_pair(),
            (Payload::Kv, _) => self.kv_pair(),
            (Payload::Audit, _) => self.audit_pair(),
            (Payload::EventXml, _) => self.xml_field(),
        }
    }
}

#[cfg(test)]
mod tests;
