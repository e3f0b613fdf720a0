//! The borrowed event view and the syslog header parsers (RFC 5424, RFC 3164 as it is really
//! sent), with format detection.
//!
//! [`parse`] never allocates and never panics: every field is a slice of the input, structured
//! data and payload fields are iterated lazily ([`Event::sd_params`], [`Event::fields`]), and
//! malformed input yields what could be read plus one [`ParseError`].

use super::{
    fields::{self, Field, FieldIndex, Fields, IndexedFields, Payload, detect_payload},
    pri::{Pri, PriError, parse_pri},
    time,
};
use crate::simd::{self, ByteSet};

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
    /// the year before). See [`time::nearest_year`].
    pub month: Option<u8>,
}

impl Default for ParseOptions {
    fn default() -> Self {
        Self {
            format: FormatHint::Auto,
            payload: None,
            max_len: 64 * 1024,
            year: None,
            month: None,
        }
    }
}

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
    /// The body's fields as [`parse_indexed`] found them.
    index: Option<&'a FieldIndex>,
}

impl<'a> Event<'a> {
    fn empty(input: &'a [u8], format: Format) -> Self {
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
        SdParams {
            rest: self.structured_data.unwrap_or(&[]),
            id: &[],
        }
    }

    /// The body's key/value fields, per its payload format (JSON members, CEF header and
    /// extension, LEEF attributes, key=value pairs, audit record fields). Plain bodies have none.
    /// Read from the index when [`parse_indexed`] made the event, else by walking the body.
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
    /// Read from the index [`parse_indexed`] filled.
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

/// Iterator over structured-data parameters.
#[derive(Clone, Debug)]
pub struct SdParams<'a> {
    rest: &'a [u8],
    id: &'a [u8],
}

const SD_STOP: ByteSet = ByteSet::new(b"\"\\");

/// The end of a quoted PARAM-VALUE starting just after its opening quote: the index of the
/// closing quote.
#[inline(always)]
fn quoted_end(s: &[u8]) -> Option<usize> {
    // Most values are short and have no escape: found here, with no call.
    let short = &s[..s.len().min(32)];
    match first_marked(short, &VALUE_END) {
        i if i < short.len() && s[i] == b'"' => Some(i),
        i if i == short.len() && short.len() < 32 => None,
        // A backslash at `i`, or 32 plain bytes: the rest is read from there on.
        i => quoted_end_escaped_or_long(s, i),
    }
}

/// Which bytes end a PARAM-VALUE's plain stretch: its closing quote, or a backslash.
static VALUE_END: [bool; 256] = {
    let mut t = [false; 256];
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// [`quoted_end`] of a value with an escape or longer than 32 bytes, from `at`, before which
/// there is neither a quote nor a backslash.
#[inline(never)]
fn quoted_end_escaped_or_long(s: &[u8], mut at: usize) -> Option<usize> {
    // Short stretches a byte at a time before going wide.
    loop {
        let short = &s[at..s.len().min(at + 32)];
        let i = match first_marked(short, &VALUE_END) {
            i if i < short.len() => at + i,
            _ if short.len() < 32 => return None,
            _ => at + 32 + simd::find(&s[at + 32..], &SD_STOP)?,
        };
        if s[i] == b'"' {
            return Some(i);
        }
        at = i + 2; // skip the escaped byte
        if at > s.len() {
            return None;
        }
    }
}

impl<'a> Iterator for SdParams<'a> {
    type Item = (&'a [u8], &'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let s = self.rest;
            match s.first()? {
                // SD-IDs and names end as when they were validated (at a space, `]`, `=` or
                // `"`), found four bytes a step.
                b'[' => {
                    let n = sd_name_len(&s[1..]);
                    self.id = &s[1..1 + n];
                    self.rest = &s[1 + n..];
                }
                b']' => self.rest = &s[1..],
                b' ' => {
                    let s = &s[1..];
                    let eq = sd_name_len(s);
                    let name = &s[..eq];
                    if s.get(eq) != Some(&b'=') || s.get(eq + 1) != Some(&b'"') {
                        self.rest = &[];
                        return None;
                    }
                    let v = &s[eq + 2..];
                    let end = quoted_end(v)?;
                    self.rest = &v[end + 1..];
                    return Some((self.id, name, &v[..end]));
                }
                _ => {
                    self.rest = &[];
                    return None;
                }
            }
        }
    }
}

/// The space-delimited fields of an RFC 5424 header, cut with one vector pass: a mask of the
/// spaces in the first 64 bytes (where a header nearly always ends), each field ending at its
/// lowest bit, then a scan beyond them.
struct HeaderFields<'a> {
    s: &'a [u8],
    /// Where the next field starts.
    at: usize,
    /// The spaces at or after `at` among the first 64 bytes: each field clears the one that
    /// ends it.
    spaces: u64,
}

impl<'a> HeaderFields<'a> {
    fn new(s: &'a [u8]) -> Self {
        Self {
            s,
            at: 0,
            spaces: simd::mask64(s, b' '),
        }
    }

    /// What follows the fields read so far.
    fn rest(&self) -> &'a [u8] {
        self.s.get(self.at..).unwrap_or(&[])
    }

    /// The next field; `-` (NILVALUE) is `None`.
    #[inline(always)]
    fn next(&mut self) -> Result<Option<&'a [u8]>, ParseError> {
        let (s, at) = (self.s, self.at);
        let end = if self.spaces != 0 {
            self.spaces.trailing_zeros() as usize
        } else {
            // No space left among the first 64 bytes: the field ends past them, or at the end.
            let from = at.max(64).min(s.len());
            simd::find_byte(&s[from..], b' ').map_or(s.len(), |i| from + i)
        };
        self.spaces &= self.spaces.wrapping_sub(1);
        if end <= at {
            // Nothing left, or an empty field (two spaces).
            return Err(ParseError::TruncatedHeader);
        }
        let f = &s[at..end];
        self.at = end + 1;
        Ok((f != b"-").then_some(f))
    }
}

/// Which bytes end an SD-ID or a PARAM-NAME (space, `]`, `=`, `"`), as a table: one load per
/// byte instead of four comparisons.
static SD_NAME_END: [bool; 256] = {
    let mut t = [false; 256];
    t[b' ' as usize] = true;
    t[b']' as usize] = true;
    t[b'=' as usize] = true;
    t[b'"' as usize] = true;
    t
};

/// The length of the SD-ID or PARAM-NAME at the start of `s`.
#[inline(always)]
fn sd_name_len(s: &[u8]) -> usize {
    first_marked(s, &SD_NAME_END)
}

/// The index of the first byte of `s` that `stop` marks, or `s.len()`. Four bytes a step, each
/// tested with its own branch as a loop of one byte would: only the loop's count and bound are
/// paid once per four bytes instead of once per byte.
#[inline(always)]
fn first_marked(s: &[u8], stop: &[bool; 256]) -> usize {
    let (fours, rest) = s.as_chunks::<4>();
    for (n, four) in fours.iter().enumerate() {
        for (i, &b) in four.iter().enumerate() {
            if stop[usize::from(b)] {
                return 4 * n + i;
            }
        }
    }
    let at = 4 * fours.len();
    at + rest
        .iter()
        .position(|&b| stop[usize::from(b)])
        .unwrap_or(rest.len())
}

/// Validates STRUCTURED-DATA at the start of `s` and returns its length. The NILVALUE is
/// checked inline; elements in [`sd_elements_len`].
#[inline(always)]
fn structured_data_len(s: &[u8]) -> Result<usize, ParseError> {
    if s.first() == Some(&b'-') {
        return Ok(1);
    }
    sd_elements_len(s)
}

/// [`structured_data_len`] of one or more elements (`[id k="v"...]`).
#[inline(never)]
fn sd_elements_len(s: &[u8]) -> Result<usize, ParseError> {
    let mut at = 0;
    while s.get(at) == Some(&b'[') {
        at += 1;
        let id = sd_name_len(&s[at..]);
        if id == 0 || id > 32 {
            return Err(ParseError::BadStructuredData);
        }
        at += id;
        loop {
            match s.get(at) {
                Some(b']') => {
                    at += 1;
                    break;
                }
                Some(b' ') => {
                    at += 1;
                    let name = sd_name_len(&s[at..]);
                    if name == 0 || name > 32 || s.get(at + name) != Some(&b'=') {
                        return Err(ParseError::BadStructuredData);
                    }
                    at += name + 1;
                    if s.get(at) != Some(&b'"') {
                        return Err(ParseError::BadStructuredData);
                    }
                    at += 1;
                    at += quoted_end(&s[at..]).ok_or(ParseError::BadStructuredData)? + 1;
                }
                _ => return Err(ParseError::BadStructuredData),
            }
        }
    }
    if at == 0 {
        return Err(ParseError::BadStructuredData);
    }
    Ok(at)
}

fn strip_bom(s: &[u8]) -> &[u8] {
    s.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(s)
}

/// RFC 5424 after the PRI: `VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP
/// STRUCTURED-DATA [SP MSG]`.
fn rfc5424<'a>(ev: &mut Event<'a>, s: &'a [u8]) -> Result<(), ParseError> {
    let mut header = HeaderFields::new(s);
    let v = header.next()?.ok_or(ParseError::TruncatedHeader)?;
    // One to three digits (checked by `looks_like_5424` when detected).
    if v.is_empty() || v.len() > 3 || !v.iter().all(u8::is_ascii_digit) {
        return Err(ParseError::TruncatedHeader);
    }
    ev.version = Some(v.iter().fold(0u16, |n, d| n * 10 + u16::from(d - b'0')));
    // The timestamp is read where it stands, not from its field cut out: the bytes after it
    // let its fraction be read a word at a time. It must end where its field does.
    let from_timestamp = header.rest();
    ev.timestamp = header.next()?;
    if let Some(ts) = ev.timestamp {
        ev.timestamp_ns = match time::parse_rfc3339_prefix(from_timestamp) {
            Some((ns, used)) if used == ts.len() => Some(ns),
            _ => return Err(ParseError::BadTimestamp),
        };
    }
    ev.host = header.next()?;
    ev.app = header.next()?;
    ev.procid = header.next()?;
    ev.msgid = header.next()?;
    let s = header.rest();
    if s.is_empty() {
        return Err(ParseError::TruncatedHeader);
    }
    let n = structured_data_len(s)?;
    if s[..n] != *b"-" {
        ev.structured_data = Some(&s[..n]);
    }
    match s.get(n) {
        None => {}
        Some(b' ') => ev.body = strip_bom(&s[n + 1..]),
        Some(_) => return Err(ParseError::BadStructuredData),
    }
    Ok(())
}

/// RFC 3164 as sent: `[seq: ][*]TIMESTAMP[:] [HOST ]TAG[[PID]]: MSG`, with every part but the
/// message optional. Never fails: what cannot be read stays in the body.
fn rfc3164<'a>(ev: &mut Event<'a>, mut s: &'a [u8], opts: &ParseOptions) {
    // Cisco sequence number: digits, then ": ".
    let seq = s.iter().take_while(|b| b.is_ascii_digit()).count();
    if seq > 0 && s.get(seq) == Some(&b':') && s.get(seq + 1) == Some(&b' ') {
        ev.sequence = Some(&s[..seq]);
        s = &s[seq + 2..];
    }
    // Cisco marks unsynchronised clocks with `*` and synchronised-then-lost with `.`.
    let t = match s.first() {
        Some(b'*' | b'.') => &s[1..],
        _ => s,
    };
    let stamp = time::parse_bsd_prefix(t, opts.year, opts.month)
        .or_else(|| time::parse_rfc3339_prefix(t).map(|(ns, n)| (n, Some(ns))));
    if let Some((n, ns)) = stamp {
        ev.timestamp = Some(&t[..n]);
        ev.timestamp_ns = ns;
        s = &t[n..];
        s = s.strip_prefix(b":").unwrap_or(s);
        s = s.strip_prefix(b" ").unwrap_or(s);
    }
    // HOST, unless the next token is already the tag (`tag:` or `tag[pid]:`) or a Cisco tag.
    if ev.timestamp.is_some() && !s.starts_with(b"%") {
        // The first token, up to a space; a `[` in it makes it a tag.
        let (mut n, mut bracket) = (0, false);
        while let Some(&b) = s.get(n).filter(|&&b| b != b' ') {
            bracket |= b == b'[';
            n += 1;
        }
        let token = &s[..n];
        let is_tag = bracket || token.ends_with(b":");
        if !is_tag && n < s.len() && n > 0 {
            ev.host = Some(token);
            // Some senders pad with more than one space.
            let pad = s[n..].iter().take_while(|&&b| b == b' ').count();
            s = &s[n + pad..];
        }
    }
    // TAG[PID]: (not a Cisco `%FAC-SEV-MNEMONIC:`, which is the start of the message)
    if !s.starts_with(b"%")
        && let Some(t) = tag(s)
    {
        ev.app = Some(t.name);
        ev.procid = t.pid;
        s = t.rest;
    }
    ev.body = strip_bom(s);
    ev.cisco = cisco_tag(ev.body);
}

/// A BSD tag as [`tag`] finds it.
struct Tag<'a> {
    name: &'a [u8],
    pid: Option<&'a [u8]>,
    rest: &'a [u8],
}

/// [`TAG_BYTE`] of a byte that ends a tag's name (`:`, `[`, `]`, tab).
const TAG_END: u8 = 1;
/// [`TAG_BYTE`] of a space, which a tag's name may hold once.
const TAG_SPACE: u8 = 2;

/// What each byte is to a BSD tag's name: [`TAG_END`], [`TAG_SPACE`] or 0.
static TAG_BYTE: [u8; 256] = {
    let mut t = [0; 256];
    t[b':' as usize] = TAG_END;
    t[b'[' as usize] = TAG_END;
    t[b']' as usize] = TAG_END;
    t[b'\t' as usize] = TAG_END;
    t[b' ' as usize] = TAG_SPACE;
    t
};

/// The length of the BSD tag name at the start of `s` and the spaces in it: it ends at the
/// first `:`, `[`, `]` or tab of the first 65 bytes, its spaces counted on the way from one
/// table. `None` when no such byte ends it.
#[inline(always)]
fn tag_name(s: &[u8]) -> Option<(usize, usize)> {
    let (mut end, mut spaces) = (0, 0);
    loop {
        match TAG_BYTE[usize::from(*s.get(end).filter(|_| end < 65)?)] {
            TAG_END => return Some((end, spaces)),
            TAG_SPACE => spaces += 1,
            _ => {}
        }
        end += 1;
    }
}

/// `TAG[PID]: ` at the start of `s`: the tag, the pid, and the rest after `": "`.
///
/// The colon must end the input or be followed by a space, so `CEF:0|...` or `key:value` bodies
/// are not taken for tags. sysklogd writes tags with one space (`syslogd 1.4.1:`,
/// `-- root[2421]:`): one space is allowed when a word of the tag is not purely letters, so
/// `Invalid user: x` stays a message.
fn tag(s: &[u8]) -> Option<Tag<'_>> {
    let (end, spaces) = tag_name(s)?;
    let name = &s[..end];
    if name.is_empty() {
        return None;
    }
    match spaces {
        0 => {}
        1 => {
            let (a, b) = name.split_at(name.iter().position(|&b| b == b' ')?);
            let letters = |w: &[u8]| w.iter().all(u8::is_ascii_alphabetic);
            if a.is_empty() || b.len() < 2 || (letters(a) && letters(&b[1..])) {
                return None;
            }
        }
        _ => return None,
    }
    let mut at = end;
    let mut pid = None;
    if s[at] == b'[' {
        let close = s[at..].iter().position(|&b| b == b']')?;
        pid = Some(&s[at + 1..at + close]);
        at += close + 1;
    }
    if s.get(at) != Some(&b':') {
        return None;
    }
    match s.get(at + 1) {
        None => Some(Tag {
            name,
            pid,
            rest: &[],
        }),
        Some(b' ') => Some(Tag {
            name,
            pid,
            rest: &s[at + 2..],
        }),
        Some(_) => None,
    }
}

/// A Cisco `%FAC-SEV-MNEMONIC:` tag in a body: at its start, or after a clock, a sequence number
/// or a host name that the header did not take (a relay's `45: Nov 22 10:00:00 UTC: %TCP-...`,
/// NX-OS's `2026 Nov 22 10:00:00 nx1 %AUTHPRIV-...`), within the first [`CISCO_TAG_WITHIN`]
/// bytes. The facility may hold dashes (`IP-TCP-3-BADAUTH`): the severity is the first
/// `-0-` to `-7-` of the tag.
fn cisco_tag(s: &[u8]) -> Option<CiscoTag<'_>> {
    let within = &s[..s.len().min(CISCO_TAG_WITHIN)];
    let mut from = 0;
    while let Some(p) = simd::find_byte(&within[from..], b'%') {
        let at = from + p;
        if (at == 0 || s[at - 1] == b' ')
            && let Some(tag) = cisco_tag_at(&s[at + 1..])
        {
            return Some(tag);
        }
        from = at + 1;
    }
    None
}

/// How far into a body [`cisco_tag`] looks.
const CISCO_TAG_WITHIN: usize = 96;

/// `FAC-SEV-MNEMONIC:` at the start of `s`.
fn cisco_tag_at(s: &[u8]) -> Option<CiscoTag<'_>> {
    let end = s.iter().position(|&b| b == b':' || b == b' ')?;
    if s.get(end) != Some(&b':') {
        return None;
    }
    let tag = &s[..end];
    let valid = |b: &u8| b.is_ascii_uppercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-');
    if !tag.iter().all(valid) {
        return None;
    }
    let d = tag
        .windows(3)
        .position(|w| w[0] == b'-' && (b'0'..=b'7').contains(&w[1]) && w[2] == b'-')?;
    let (facility, mnemonic) = (&tag[..d], &tag[d + 3..]);
    if facility.is_empty() || mnemonic.is_empty() {
        return None;
    }
    Some(CiscoTag {
        facility,
        severity: tag[d + 1] - b'0',
        mnemonic,
    })
}

/// RFC 5424's VERSION after the PRI: one to three digits, the first not zero, then a space.
/// (A BSD message never starts so; a Cisco sequence number is followed by a colon.)
fn looks_like_5424(rest: &[u8]) -> bool {
    let n = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    (1..=3).contains(&n) && rest[0] != b'0' && rest.get(n) == Some(&b' ')
}

/// Parses one message. The payload is validated by a walk over its fields; [`Event::fields`]
/// walks them again when asked.
///
/// Inlined, so the event is filled where the caller keeps it: returned by value from a call,
/// it was copied (224 bytes) on the way out, and that copy cost as much as a JSON line's whole
/// header.
#[inline]
pub fn parse<'a>(input: &'a [u8], opts: &ParseOptions) -> Event<'a> {
    let mut ev = Event::empty(input, Format::Raw);
    parse_header(&mut ev, input, opts);
    // A plain body is valid as it is: no call.
    if ev.error.is_none() && ev.payload != Payload::Plain && !fields::valid(ev.payload, ev.body) {
        ev.error = Some(ParseError::BadPayload);
    }
    ev
}

/// [`parse`], keeping the fields that validating the payload finds in `index` (the caller's,
/// reused from message to message): [`Event::fields`] then reads them from there. For a caller
/// that reads the fields, often more than once, as a rule set does. Inlined as [`parse`] is.
#[inline]
pub fn parse_indexed<'a>(
    input: &'a [u8],
    opts: &ParseOptions,
    index: &'a mut FieldIndex,
) -> Event<'a> {
    let mut ev = Event::empty(input, Format::Raw);
    parse_header(&mut ev, input, opts);
    // A plain body has no fields to keep.
    if ev.payload != Payload::Plain {
        if !index.fill(ev.payload, ev.body) && ev.error.is_none() {
            ev.error = Some(ParseError::BadPayload);
        }
        ev.index = Some(index);
    }
    ev
}

/// [`parse`] up to detecting the payload format, which is not validated, written into `ev`
/// (fresh from [`Event::empty`]). Not inlined: one copy serves both callers, and the header
/// parsers stay inlined in it.
#[inline(never)]
fn parse_header<'a>(ev: &mut Event<'a>, input: &'a [u8], opts: &ParseOptions) {
    let mut error = None;
    let mut input = input;
    if input.len() > opts.max_len {
        input = &input[..opts.max_len];
        error = Some(ParseError::TooLong);
    }
    while let Some((&last, rest)) = input.split_last() {
        if matches!(last, b'\n' | b'\r' | b'\0') {
            input = rest;
        } else {
            break;
        }
    }
    ev.input = input;
    if input.iter().all(u8::is_ascii_whitespace) {
        ev.error = Some(ParseError::Empty);
        return;
    }

    let pri = parse_pri(input);
    let format = match (opts.format, &pri) {
        (FormatHint::Auto, Ok((_, rest))) => {
            if looks_like_5424(rest) {
                Format::Rfc5424
            } else {
                Format::Rfc3164
            }
        }
        (FormatHint::Auto, Err(_)) => {
            let t = input.strip_prefix(b"*").unwrap_or(input);
            // An RFC 3339 timestamp starts with a digit: a JSON line is not read as one.
            let rfc3339 = || {
                t.first().is_some_and(u8::is_ascii_digit) && time::parse_rfc3339_prefix(t).is_some()
            };
            if time::month(t).is_some() || rfc3339() {
                Format::Rfc3164
            } else {
                Format::Raw
            }
        }
        (FormatHint::Rfc5424, _) => Format::Rfc5424,
        (FormatHint::Rfc3164, _) => Format::Rfc3164,
        (FormatHint::Raw, _) => Format::Raw,
    };

    ev.format = format;
    match format {
        Format::Raw => {
            ev.body = strip_bom(input);
            // Starting with `<` but not a PRI: a broken syslog header, not a raw message.
            if let (FormatHint::Auto, Err(e @ (PriError::Malformed | PriError::OutOfRange))) =
                (opts.format, pri)
            {
                error = error.or(Some(ParseError::Pri(e)));
            }
        }
        Format::Rfc5424 => match pri {
            Ok((p, rest)) => {
                ev.pri = Some(p);
                if let Err(e) = rfc5424(ev, rest) {
                    error = error.or(Some(e));
                    if ev.body.is_empty() {
                        ev.body = rest;
                    }
                }
            }
            Err(e) => {
                error = error.or(Some(ParseError::Pri(e)));
                ev.body = input;
            }
        },
        Format::Rfc3164 => {
            let rest = match pri {
                Ok((p, rest)) => {
                    ev.pri = Some(p);
                    rest
                }
                // A BSD message without PRI is common (files, some devices); a broken one is not.
                Err(PriError::Missing) => input,
                Err(e) => {
                    error = error.or(Some(ParseError::Pri(e)));
                    input
                }
            };
            rfc3164(ev, rest, opts);
        }
    }
    ev.payload = opts.payload.unwrap_or_else(|| detect_payload(ev.body));
    ev.error = error;
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Up to `max` bytes drawn from `alphabet`, often starting with a long run of `a` (no
    /// delimiter), so that scans reach their limits and the tails after their steps.
    fn bytes_with_a_plain_run(alphabet: &[u8], max: usize) -> impl Strategy<Value = Vec<u8>> {
        let bytes = proptest::collection::vec(proptest::sample::select(alphabet.to_vec()), 0..max);
        (bytes, 0..max).prop_map(|(mut s, plain)| {
            let plain = plain.min(s.len());
            s[..plain].fill(b'a');
            s
        })
    }

    proptest! {
        /// Four bytes a step find the first marked byte as one byte a step does, wherever it is
        /// (in a step of four or in the tail after the last) and when there is none.
        #[test]
        fn the_first_marked_byte_is_found_as_one_byte_a_step_finds_it(
            s in bytes_with_a_plain_run(b"ab1 ]=\"\\-", 40),
        ) {
            for table in [&SD_NAME_END, &VALUE_END] {
                let by_bytes = s.iter().position(|&b| table[usize::from(b)]).unwrap_or(s.len());
                prop_assert_eq!(first_marked(&s, table), by_bytes);
            }
        }

        /// A BSD tag's name is found with one table as with the four comparisons it replaced,
        /// at every length up to its limit and past it.
        #[test]
        fn a_bsd_tag_name_is_found_as_by_comparing_each_byte(
            s in bytes_with_a_plain_run(b"ab1( ):[]\t-", 80),
        ) {
            let by_bytes = s
                .iter()
                .take(65)
                .position(|&b| matches!(b, b':' | b'[' | b']' | b'\t'))
                .map(|end| (end, s[..end].iter().filter(|&&b| b == b' ').count()));
            prop_assert_eq!(tag_name(&s), by_bytes);
        }

        /// Structured-data parameters are read back as they were written: each element's
        /// SD-ID, each name, each value with its escapes as written, long values too.
        #[test]
        fn structured_data_params_read_back_as_written(
            elements in proptest::collection::vec(
                (
                    "[a-zA-Z@.0-9]{1,32}",
                    proptest::collection::vec(
                        ("[a-zA-Z0-9_.-]{1,32}", r#"([a-z0-9 =\[]|\\"|\\\\|\\\]){0,50}"#),
                        0..4,
                    ),
                ),
                1..4,
            ),
        ) {
            let mut sd = String::new();
            let mut written = Vec::new();
            for (id, params) in &elements {
                sd.push('[');
                sd.push_str(id);
                for (name, value) in params {
                    sd.push_str(&format!(" {name}=\"{value}\""));
                    written.push((id.clone(), name.clone(), value.clone()));
                }
                sd.push(']');
            }
            let msg = format!("<13>1 - host app - - {sd} body");
            let ev = parse(msg.as_bytes(), &ParseOptions::default());
            prop_assert_eq!(ev.error, None);
            let read: Vec<_> = ev
                .sd_params()
                .map(|(id, k, v)| {
                    let text = |b: &[u8]| String::from_utf8(b.to_vec()).expect("ASCII");
                    (text(id), text(k), text(v))
                })
                .collect();
            prop_assert_eq!(read, written);
        }

        /// Structured data set by hand (the field is public) is read without a panic,
        /// whatever it holds, and a parameter is only ever a name, `="`, and a closed value.
        #[test]
        fn structured_data_params_of_any_bytes_never_panic(
            sd in proptest::collection::vec(
                proptest::sample::select(b"[] =\"\\ab".to_vec()),
                0..60,
            ),
        ) {
            let mut ev = parse(b"<13>1 - - - - - -", &ParseOptions::default());
            ev.structured_data = Some(&sd);
            // Where a slice of `sd` ends in it.
            let end = |part: &[u8]| part.as_ptr() as usize - sd.as_ptr() as usize + part.len();
            for (_, name, value) in ev.sd_params() {
                prop_assert!(!name.iter().any(|b| b" ]=\"".contains(b)), "{:?}", name);
                prop_assert!(sd[end(name)..].starts_with(b"=\""), "{:?}", sd);
                prop_assert_eq!(end(name) + 2, end(value) - value.len(), "{:?}", sd);
                prop_assert_eq!(sd.get(end(value)), Some(&b'"'), "{:?}", sd);
            }
        }

        /// The header's fields are cut where its spaces are, however long (past the 64 bytes
        /// one mask covers, too), and an empty one is a truncated header.
        #[test]
        fn the_5424_header_is_cut_at_its_spaces(
            fields in proptest::collection::vec("-|[a-z0-9.]{0,40}", 4),
            body in "[ a-z]{0,80}",
        ) {
            let msg = format!("<13>1 - {} - {body}", fields.join(" "));
            let ev = parse(msg.as_bytes(), &ParseOptions::default());
            let read = [ev.host, ev.app, ev.procid, ev.msgid];
            match fields.iter().position(String::is_empty) {
                Some(empty) => {
                    prop_assert_eq!(ev.error, Some(ParseError::TruncatedHeader));
                    // What came before the empty field was read.
                    for (f, r) in fields.iter().zip(read).take(empty) {
                        prop_assert_eq!(r, (f != "-").then_some(f.as_bytes()));
                    }
                }
                None => {
                    prop_assert_eq!(ev.error, None);
                    for (f, r) in fields.iter().zip(read) {
                        prop_assert_eq!(r, (f != "-").then_some(f.as_bytes()));
                    }
                    prop_assert_eq!(ev.body, body.as_bytes());
                }
            }
        }

        /// An RFC 5424 timestamp is read where it stands in the message, bytes after it in
        /// reach; it reads as its field cut out on its own does.
        #[test]
        fn a_5424_timestamp_reads_as_its_field_alone(
            valid in (1970u32..=9999, 1u32..=12, 1u32..=28, 0u32..=23, 0u32..=59, 0u32..=59),
            t in "[Tt ]",
            rest in "([.,][0-9]{0,12})?([Zz]|[+-][01][0-9](:?[0-5][0-9])?)?",
            changes in proptest::collection::vec((0usize..40, proptest::sample::select(b"0123456789.:+-Zz,T".to_vec())), 0..3),
            after in proptest::sample::select(vec![" host app - - - msg", " h", ""]),
        ) {
            let (y, mo, d, h, mi, sec) = valid;
            let mut ts = format!("{y:04}-{mo:02}-{d:02}{t}{h:02}:{mi:02}:{sec:02}{rest}").into_bytes();
            for (i, b) in changes {
                if let Some(x) = ts.get_mut(i) {
                    *x = b;
                }
            }
            let mut msg = b"<13>1 ".to_vec();
            msg.extend_from_slice(&ts);
            msg.extend_from_slice(after.as_bytes());
            // A space ends the field: the timestamp is what comes before it.
            let ts = ts.split(|&b| b == b' ').next().unwrap_or_default().to_vec();
            let ev = parse(&msg, &ParseOptions::default());
            let alone = time::parse_rfc3339(&ts);
            if ts.is_empty() {
                prop_assert_eq!(ev.error, Some(ParseError::TruncatedHeader));
            } else {
                // Read before the fields after it: its verdict comes first.
                prop_assert_eq!(ev.error == Some(ParseError::BadTimestamp), alone.is_none());
                prop_assert_eq!(ev.timestamp_ns, alone);
            }
        }
    }

    #[test]
    fn a_bsd_message_of_december_read_in_january_is_dated_the_year_before() {
        let msg = b"<13>Dec 31 23:59:59 host app: last words of the year";
        let read = |year, month| {
            let opts = ParseOptions {
                year: Some(year),
                month,
                ..ParseOptions::default()
            };
            parse(msg, &opts).timestamp_ns
        };
        assert_eq!(read(2027, Some(1)), read(2026, None));
        assert_eq!(read(2026, Some(12)), read(2026, None));
        assert_ne!(read(2027, None), read(2026, None));
    }

    #[test]
    fn a_bsd_tag_name_ends_within_its_first_65_bytes() {
        for len in 60..70 {
            let mut s = vec![b'a'; len];
            s.extend_from_slice(b": msg");
            let want = (len < 65).then_some((len, 0));
            assert_eq!(tag_name(&s), want, "a name of {len} bytes");
        }
    }

    #[test]
    fn quoted_values_end_at_their_first_unescaped_quote_at_any_length() {
        for len in 0..100usize {
            for escape_at in [None, Some(0), Some(len / 2), Some(len.saturating_sub(2))] {
                let mut v = vec![b'a'; len];
                if let Some(i) = escape_at.filter(|&i| i + 1 < len) {
                    v[i] = b'\\';
                    v[i + 1] = b'"';
                }
                let mut s = v.clone();
                s.extend_from_slice(b"\" rest\"");
                assert_eq!(
                    quoted_end(&s),
                    Some(len),
                    "len {len}, escape at {escape_at:?}"
                );
                assert_eq!(quoted_end(&v[..]), None, "unclosed, len {len}");
            }
        }
        assert_eq!(
            quoted_end(b"ab\\"),
            None,
            "a trailing backslash escapes nothing"
        );
    }
}
