//! Structured payloads inside a message body, read lazily as key/value fields without
//! allocating: JSON objects (GELF included), CEF, LEEF 1.0 and 2.0, key=value / logfmt, Linux
//! audit records, and events in the Windows event XML schema (Sysmon for Linux).

use super::scan::Marks;

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

/// Whether `b` (white space trimmed at the start) is a Linux audit record in one of the forms
/// it reaches syslog in: `type=X msg=audit(TIME:SERIAL): ...` (auditd's own log, audit 3's
/// `audisp-syslog`), with a `node=NAME ` before it (audit 2's `audispd`), or the kernel's
/// `audit: type=1400 audit(TIME:SERIAL): ...`, also after a `[seconds]` kernel timestamp.
fn is_audit_record(b: &[u8]) -> bool {
    let mut b = b;
    if b.starts_with(b"[")
        && let Some(close) = b.iter().take(32).position(|&c| c == b']')
    {
        b = trim_start(&b[close + 1..]);
    }
    let kernel = b.starts_with(b"audit:");
    if kernel {
        b = trim_start(&b[6..]);
    }
    if let Some(node) = b.strip_prefix(b"node=") {
        let n = node
            .iter()
            .position(u8::is_ascii_whitespace)
            .unwrap_or(node.len());
        b = trim_start(&node[n..]);
    }
    let Some(rest) = b.strip_prefix(b"type=") else {
        return false;
    };
    // The record's stamp follows its type.
    let t = rest
        .iter()
        .position(u8::is_ascii_whitespace)
        .unwrap_or(rest.len());
    let after = trim_start(&rest[t..]);
    after.starts_with(b"msg=audit(") || (kernel && after.starts_with(b"audit("))
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
            marks: Marks::new(
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

    fn json(&mut self) -> Option<Field<'a>> {
        // Positions in the body rather than slices of it: fewer bounds to keep.
        let b = self.marks.hay();
        let mut i = skip_space(b, b.len() - self.rest.len());
        if self.state == State::Start {
            if b.get(i) != Some(&b'{') {
                return self.fail();
            }
            i = skip_space(b, i + 1);
            self.state = State::Pairs;
            if b.get(i) == Some(&b'}') {
                self.rest = &b[i + 1..];
                self.state = State::Done;
                return None;
            }
        }
        let Some(m) = json_member(&mut self.marks, b, i) else {
            return self.fail();
        };
        self.rest = &b[m.end..];
        if m.last {
            self.state = State::Done;
        }
        let span = |(at, n): (usize, usize)| &b[at..at + n];
        Some(Field {
            key: span(m.key),
            value: span(m.value),
            escaped: m.escaped,
        })
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

/// A LEEF 2.0 delimiter field: one character, or its hex code as `x09` / `0x09`; empty means tab.
fn leef_delimiter(d: &[u8]) -> Option<u8> {
    let hex = |h: &[u8]| {
        std::str::from_utf8(h)
            .ok()
            .and_then(|h| u8::from_str_radix(h, 16).ok())
    };
    match d {
        [] => Some(b'\t'),
        [c] => Some(*c),
        [b'0', b'x' | b'X', h @ ..] | [b'x' | b'X', h @ ..] => hex(h),
        _ => None,
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

impl<'a> Fields<'a> {
    /// CEF extension: `key=value` pairs, values running to the space before the next key, with
    /// `\=` and `\\` escapes.
    fn cef_pair(&mut self) -> Option<Field<'a>> {
        let b = self.marks.hay();
        let start = skip_space(b, b.len() - self.rest.len());
        if start == b.len() {
            self.state = State::Done;
            return None;
        }
        let Some(eq) = self.marks.find(start, EQUALS) else {
            return self.fail();
        };
        let Some((key_at, key_len)) = cef_key(b, start, eq) else {
            return self.fail();
        };
        let key = &b[key_at..key_at + key_len];
        let v = eq + 1;
        let mut at = v;
        let mut escaped = false;
        let end = loop {
            let Some(i) = self.marks.find(at, EQUALS | BACKSLASH) else {
                break b.len();
            };
            if b[i] == b'\\' {
                escaped = true;
                at = i + 2;
                continue;
            }
            match b[v..i].iter().rposition(|&c| c == b' ') {
                Some(sp) => break v + sp,
                None => at = i + 1,
            }
        };
        self.rest = &b[end..];
        Some(Field {
            key,
            value: trim_end(&b[v..end]),
            escaped,
        })
    }

    /// LEEF attributes: `key=value` separated by the delimiter.
    fn leef_pair(&mut self) -> Option<Field<'a>> {
        loop {
            let s = self.rest;
            if s.is_empty() {
                self.state = State::Done;
                return None;
            }
            let n = s
                .iter()
                .position(|&b| b == self.delimiter)
                .unwrap_or(s.len());
            let token = &s[..n];
            self.rest = s.get(n + 1..).unwrap_or(&[]);
            if let Some(eq) = token.iter().position(|&b| b == b'=') {
                return Some(Field {
                    key: &token[..eq],
                    value: &token[eq + 1..],
                    escaped: false,
                });
            }
        }
    }

    /// `key=value` pairs separated by spaces; values may be double- or single-quoted with
    /// backslash escapes. Tokens that are not pairs are skipped.
    fn kv_pair(&mut self) -> Option<Field<'a>> {
        loop {
            let s = trim_start(self.rest);
            if s.is_empty() {
                self.state = State::Done;
                return None;
            }
            let k = s.iter().take_while(|&&b| is_key_byte(b)).count();
            if k == 0 || s.get(k) != Some(&b'=') {
                let skip = s
                    .iter()
                    .position(|b| b.is_ascii_whitespace())
                    .unwrap_or(s.len());
                self.rest = &s[skip..];
                continue;
            }
            let key = &s[..k];
            let v = &s[k + 1..];
            let (value, escaped, rest) = match v.first() {
                Some(&q @ (b'"' | b'\'')) => {
                    let quote = if q == b'"' { QUOTE } else { SINGLE_QUOTE };
                    match self.until(&v[1..], quote) {
                        Some((end, escaped)) => (&v[1..1 + end], escaped, &v[end + 2..]),
                        None => (&v[1..], false, &[][..]),
                    }
                }
                _ => {
                    let n = v
                        .iter()
                        .position(|b| b.is_ascii_whitespace())
                        .unwrap_or(v.len());
                    (&v[..n], false, &v[n..])
                }
            };
            self.rest = rest;
            return Some(Field {
                key,
                value,
                escaped,
            });
        }
    }

    /// An audit record: `type=...`, then `msg=audit(TIME:SERIAL):` (the kernel writes
    /// `audit(TIME:SERIAL):`) given as the field `audit`, then ordinary pairs. A user-space
    /// record's quoted message of pairs (`msg='op=login acct="root" res=failed'`) is given
    /// whole as `msg`, then each of its pairs as a field of its own.
    fn audit_pair(&mut self) -> Option<Field<'a>> {
        let s = trim_start(self.rest);
        if let Some(r) = s
            .strip_prefix(b"msg=audit(")
            .or_else(|| s.strip_prefix(b"audit("))
            && let Some(close) = r.iter().position(|&b| b == b')')
        {
            self.rest = r[close + 1..].strip_prefix(b":").unwrap_or(&r[close + 1..]);
            return Some(Field {
                key: b"audit",
                value: &r[..close],
                escaped: false,
            });
        }
        if !self.in_msg
            && let Some(inner) = s.strip_prefix(b"msg='")
            && let Some((end, escaped)) = self.until(inner, SINGLE_QUOTE)
            && inner[..end].contains(&b'=')
        {
            // Read on inside the quotes; the pair that ends at the closing quote leaves them.
            self.rest = inner;
            self.in_msg = true;
            return Some(Field {
                key: &s[..3],
                value: &inner[..end],
                escaped,
            });
        }
        let mut f = self.kv_pair()?;
        if self.in_msg {
            if let Some(v) = f.value.strip_suffix(b"'") {
                f.value = v;
                self.in_msg = false;
            } else if let Some(r) = self.rest.strip_prefix(b"'") {
                self.rest = r;
                self.in_msg = false;
            }
        }
        Some(f)
    }
}

impl<'a> Fields<'a> {
    /// An event in the Windows event XML schema: its `<EventID>` as the field `EventID`, then
    /// each `<Data Name="K">V</Data>` as the field `K` (an empty `<Data Name="K"/>` as an
    /// empty value). Values are as written: XML entities (`&quot;`, `&amp;`) are not decoded.
    fn xml_field(&mut self) -> Option<Field<'a>> {
        loop {
            let s = self.rest;
            let Some(lt) = s.iter().position(|&b| b == b'<') else {
                self.rest = &s[s.len()..];
                self.state = State::Done;
                return None;
            };
            let t = &s[lt..];
            let id = t
                .strip_prefix(b"<EventID")
                .filter(|r| matches!(r.first(), Some(b'>' | b' ')));
            if let Some(r) = id
                && let Some(gt) = r.iter().position(|&b| b == b'>')
            {
                let v = &r[gt + 1..];
                let end = v.iter().position(|&b| b == b'<').unwrap_or(v.len());
                self.rest = &v[end..];
                return Some(Field {
                    key: &t[1..8],
                    value: &v[..end],
                    escaped: false,
                });
            }
            if let Some(r) = t.strip_prefix(b"<Data Name=\"")
                && let Some(q) = r.iter().position(|&b| b == b'"')
            {
                let (key, after) = (&r[..q], &r[q + 1..]);
                if let Some(rest) = after.strip_prefix(b"/>") {
                    self.rest = rest;
                    return Some(Field {
                        key,
                        value: &after[..0],
                        escaped: false,
                    });
                }
                if let Some(v) = after.strip_prefix(b">") {
                    let end = v.iter().position(|&b| b == b'<').unwrap_or(v.len());
                    self.rest = &v[end..];
                    return Some(Field {
                        key,
                        value: &v[..end],
                        escaped: false,
                    });
                }
            }
            self.rest = &t[1..];
        }
    }
}

/// The bytes [`cef_scan`] finds with [`Marks`]: space, backslash, pipe and `=`.
const CEF_MARKED: [u8; 4] = [b' ', b'\\', b'|', b'='];

/// The bytes of a 64-byte block that a backslash escapes. `backslashes` are the block's
/// backslashes; `carry` says whether its first byte is escaped (the block before ended in an
/// escaping backslash), and is set for the next block. A backslash escapes the byte after it,
/// so of `\\` only the first escapes.
#[inline]
fn escaped_bits(mut backslashes: u64, carry: &mut bool) -> u64 {
    let mut escaped = 0;
    if std::mem::take(carry) {
        escaped = 1;
        backslashes &= !1;
    }
    while backslashes != 0 {
        let i = backslashes.trailing_zeros();
        if i == 63 {
            *carry = true;
            break;
        }
        escaped |= 2 << i;
        backslashes &= !(3 << i);
    }
    escaped
}

/// The bits `from..to` of a block (`from <= to <= 64`).
#[inline]
fn bits(from: usize, to: usize) -> u64 {
    let below = |n: usize| if n >= 64 { !0 } else { (1u64 << n) - 1 };
    below(to) & !below(from)
}

/// The position of the highest bit of `m` (not 0) in a block at `at`.
#[inline]
fn last_bit(at: usize, m: u64) -> usize {
    at + 63 - m.leading_zeros() as usize
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

/// The key of a CEF pair in `body[from..eq]`, trailing white space trimmed, when it is one.
fn cef_key(body: &[u8], from: usize, eq: usize) -> Option<(usize, usize)> {
    let key = trim_end(&body[from..eq]);
    (!key.is_empty() && key.iter().all(|&c| is_key_byte(c))).then_some((from, key.len()))
}

/// A CEF body read a block of 64 bytes at a time, from the bit masks of its spaces,
/// backslashes, pipes and `=` (simdjson's structural index, for CEF): header values end at the
/// pipes no backslash escapes, and an unescaped `=` with a space between it and the value's
/// start ends that value at the last such space. `found` gets every field in order, as
/// [`Fields`] reads them (and before a failure, the same ones); returns whether the body is
/// valid CEF, by the same rules. The property tests compare the two.
fn cef_scan(body: &[u8], mut found: impl FnMut(Spans)) -> bool {
    let len = body.len();
    let start = skip_space(body, 0);
    if !body[start..].starts_with(b"CEF:") {
        return false;
    }
    let mut marks = Marks::new(body, CEF_MARKED);
    // The header's seven values.
    let mut field = start + 4;
    let mut field_escaped = false;
    let mut header = 0;
    let mut at = field;
    let mut carry = false;
    while header < CEF_HEADER.len() {
        if at >= len {
            return false;
        }
        let [_, backslashes, pipes, _] = marks.window(at);
        let mut pipes = pipes & !escaped_bits(backslashes, &mut carry);
        while pipes != 0 && header < CEF_HEADER.len() {
            let r = pipes.trailing_zeros() as usize;
            pipes &= pipes - 1;
            let from = field.saturating_sub(at);
            found(Spans {
                header: Some(header),
                key: (0, 0),
                value: (field, at + r - field),
                escaped: field_escaped || backslashes & bits(from, r) != 0,
                end: at + r + 1,
                last: false,
            });
            header += 1;
            field = at + r + 1;
            field_escaped = false;
        }
        field_escaped |= backslashes & bits(field.saturating_sub(at).min(64), 64) != 0;
        at += 64;
    }
    // The extension. Its first key runs to the first `=`, escaped or not.
    let ks = skip_space(body, field);
    if ks == len {
        return true;
    }
    let Some(eq) = body[ks..].iter().position(|&c| c == b'=') else {
        return false;
    };
    let Some(mut key) = cef_key(body, ks, ks + eq) else {
        return false;
    };
    // The value's start, and what the blocks before `at` held of it.
    let mut v = ks + eq + 1;
    let mut value_escaped = false;
    let mut last_space = None;
    let mut at = v;
    let mut carry = false;
    while at < len {
        let [spaces, backslashes, _, eqs] = marks.window(at);
        let mut eqs = eqs & !escaped_bits(backslashes, &mut carry);
        while eqs != 0 {
            let r = eqs.trailing_zeros() as usize;
            eqs &= eqs - 1;
            let from = v.saturating_sub(at);
            let before = spaces & bits(from, r);
            let end = match (before, last_space) {
                (0, None) => continue, // an `=` inside the value
                (0, Some(s)) => s,
                (m, _) => last_bit(at, m),
            };
            found(Spans {
                header: None,
                key,
                value: (v, trim_end(&body[v..end]).len()),
                escaped: value_escaped || backslashes & bits(from, r) != 0,
                end,
                last: false,
            });
            let Some(k) = cef_key(body, skip_space(body, end), at + r) else {
                return false;
            };
            key = k;
            v = at + r + 1;
            value_escaped = false;
            last_space = None;
        }
        let rest = bits(v.saturating_sub(at).min(64), 64);
        if spaces & rest != 0 {
            last_space = Some(last_bit(at, spaces & rest));
        }
        value_escaped |= backslashes & rest != 0;
        at += 64;
    }
    found(Spans {
        header: None,
        key,
        value: (v, trim_end(&body[v..]).len()),
        escaped: value_escaped,
        end: len,
        last: false,
    });
    true
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

/// The length of a JSON value at `body[at]` that is not a string: a nested object or array
/// (brackets counted, strings inside skipped), or a literal running to a `,`, `}`, `]` or
/// white space. As [`Fields`] reads them.
fn json_value_len(marks: &mut Marks<'_>, body: &[u8], at: usize) -> Option<usize> {
    match body.get(at)? {
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut i = at;
            while i < body.len() {
                match body[i] {
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(i + 1 - at);
                        }
                    }
                    b'"' => i = until_mark(marks, i + 1, QUOTE)?.0,
                    _ => {}
                }
                i += 1;
            }
            None
        }
        _ => {
            let n = body[at..]
                .iter()
                .take_while(|&&b| !matches!(b, b',' | b'}' | b']') && !b.is_ascii_whitespace())
                .count();
            (n > 0).then_some(n)
        }
    }
}

/// The member of a JSON object at `body[i]`: `"key"`, `:`, a value, then the `,` or `}` after
/// it (white space allowed between), for the walker ([`Fields`]) and [`json_scan`] alike.
/// `None` when it is not one.
#[inline(always)]
fn json_member(marks: &mut Marks<'_>, body: &[u8], mut i: usize) -> Option<Spans> {
    if body.get(i) != Some(&b'"') {
        return None;
    }
    let (kend, _) = until_mark(marks, i + 1, QUOTE)?;
    let key = (i + 1, kend - i - 1);
    i = skip_space(body, kend + 1);
    if body.get(i) != Some(&b':') {
        return None;
    }
    i = skip_space(body, i + 1);
    let (value, escaped) = if body.get(i) == Some(&b'"') {
        let (end, escaped) = until_mark(marks, i + 1, QUOTE)?;
        let value = (i + 1, end - i - 1);
        i = end + 1;
        (value, escaped)
    } else {
        let n = json_value_len(marks, body, i)?;
        i += n;
        ((i - n, n), false)
    };
    i = skip_space(body, i);
    let last = match body.get(i) {
        Some(b',') => false,
        Some(b'}') => true,
        _ => return None,
    };
    Some(Spans {
        header: None,
        key,
        value,
        escaped,
        end: i + 1,
        last,
    })
}

/// A JSON object's members in one loop ([`json_member`] each, as [`Fields`] reads them one
/// call at a time): `found` gets every member in order (and before a failure, the same ones);
/// returns whether the body is an object by the same rules. The property tests compare the
/// two.
fn json_scan(body: &[u8], mut found: impl FnMut(Spans)) -> bool {
    let mut marks = Marks::new(body, MARKED);
    let mut i = skip_space(body, 0);
    if body.get(i) != Some(&b'{') {
        return false;
    }
    i = skip_space(body, i + 1);
    if body.get(i) == Some(&b'}') {
        return true;
    }
    loop {
        let Some(m) = json_member(&mut marks, body, i) else {
            return false;
        };
        found(m);
        if m.last {
            return true;
        }
        i = skip_space(body, m.end);
    }
}

/// Fields a [`FieldIndex`] holds; readers walk the body again past them.
pub const INDEXED_FIELDS: usize = 32;

// A walk resumed past the index is in its pairs: every header is shorter than the index.
const _: () = assert!(INDEXED_FIELDS > CEF_HEADER.len() && INDEXED_FIELDS > LEEF_HEADER.len());

/// A key of a [`FieldIndex`] slot: a span of the body, or a name the format gives (the CEF and
/// LEEF header fields, `audit`).
#[derive(Clone, Copy, Debug)]
enum Key {
    Body { at: u32, len: u32 },
    Named(&'static [u8]),
}

#[derive(Clone, Copy, Debug)]
struct Slot {
    key: Key,
    value_at: u32,
    value_len: u32,
    escaped: bool,
}

impl Slot {
    const EMPTY: Slot = Slot {
        key: Key::Named(b""),
        value_at: 0,
        value_len: 0,
        escaped: false,
    };

    fn field<'a>(&self, body: &'a [u8]) -> Field<'a> {
        let span = |at: u32, len: u32| {
            let at = at as usize;
            body.get(at..at + len as usize).unwrap_or(&[])
        };
        Field {
            key: match self.key {
                Key::Body { at, len } => span(at, len),
                Key::Named(name) => name,
            },
            value: span(self.value_at, self.value_len),
            escaped: self.escaped,
        }
    }
}

/// Where a walk stopped when the index was full.
#[derive(Clone, Copy, Debug)]
struct Resume {
    at: usize,
    state: State,
    delimiter: u8,
    in_msg: bool,
}

/// The first [`INDEXED_FIELDS`] fields of one body, found by the one walk that also validates
/// it: a reader of the fields ([`IndexedFields`]) then takes them from here instead of walking
/// the body again (a rule set asks for fields once per rule). A worker keeps one and refills it
/// per message ([`super::parse_indexed`]); it holds spans, not slices, so it outlives the input.
#[derive(Clone)]
pub struct FieldIndex {
    kind: Payload,
    slots: [Slot; INDEXED_FIELDS],
    len: usize,
    resume: Option<Resume>,
}

// The slots in use only: an event's debug output shows its index.
impl std::fmt::Debug for FieldIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FieldIndex")
            .field("kind", &self.kind)
            .field("slots", &&self.slots[..self.len])
            .field("resume", &self.resume)
            .finish()
    }
}

impl Default for FieldIndex {
    fn default() -> Self {
        Self {
            kind: Payload::Plain,
            slots: [Slot::EMPTY; INDEXED_FIELDS],
            len: 0,
            resume: None,
        }
    }
}

/// The span of `part` in `whole`, when `part` is a slice of it.
fn span_in(part: &[u8], whole: &[u8]) -> Option<(u32, u32)> {
    let at = (part.as_ptr() as usize).wrapping_sub(whole.as_ptr() as usize);
    let fits = at <= whole.len() && part.len() <= whole.len() - at;
    Some((u32::try_from(at).ok()?, u32::try_from(part.len()).ok()?)).filter(|_| fits)
}

impl FieldIndex {
    /// Walks `body` as `kind` once, keeping its first fields; returns whether the whole body
    /// reads as `kind` (as [`Fields::valid`]).
    pub fn fill(&mut self, kind: Payload, body: &[u8]) -> bool {
        self.kind = kind;
        self.len = 0;
        self.resume = None;
        match kind {
            Payload::Cef => return cef_scan(body, |f| self.keep(f)),
            Payload::Json => return json_scan(body, |f| self.keep(f)),
            _ => {}
        }
        let mut it = Fields::new(kind, body);
        while self.len < INDEXED_FIELDS {
            let named = match (kind, it.state) {
                (Payload::Cef, State::Start) => Some(CEF_HEADER[0]),
                (Payload::Cef, State::Header(i)) => CEF_HEADER.get(i).copied(),
                (Payload::Leef, State::Start) => Some(LEEF_HEADER[0]),
                (Payload::Leef, State::Header(i)) => LEEF_HEADER.get(i).copied(),
                _ => None,
            };
            let Some(f) = it.next() else {
                return it.state != State::Failed;
            };
            let key = match (named, span_in(f.key, body)) {
                (Some(name), _) => Key::Named(name.as_bytes()),
                (None, Some((at, len))) => Key::Body { at, len },
                // Not of the body: the one other name a reader gives.
                (None, None) => Key::Named(if f.key == b"audit" { b"audit" } else { b"" }),
            };
            self.push(key, span_in(f.value, body), f.escaped);
        }
        self.resume = Some(Resume {
            at: body.len() - it.rest.len(),
            state: it.state,
            delimiter: it.delimiter,
            in_msg: it.in_msg,
        });
        while it.next().is_some() {}
        it.state != State::Failed
    }
}

impl FieldIndex {
    /// Fills the next slot (there is one); a value whose span is not known reads as empty.
    fn push(&mut self, key: Key, value: Option<(u32, u32)>, escaped: bool) {
        let (value_at, value_len) = value.unwrap_or((0, 0));
        self.slots[self.len] = Slot {
            key,
            value_at,
            value_len,
            escaped,
        };
        self.len += 1;
    }

    /// Keeps a field a reader ([`cef_scan`], [`json_scan`]) found, while there is room, and
    /// where a walk goes on past the last one kept.
    fn keep(&mut self, f: Spans) {
        if self.len == INDEXED_FIELDS {
            return;
        }
        let span =
            |(at, n): (usize, usize)| Some((u32::try_from(at).ok()?, u32::try_from(n).ok()?));
        let key = match (f.header, span(f.key)) {
            (Some(i), _) => Key::Named(CEF_HEADER[i].as_bytes()),
            (None, Some((at, len))) => Key::Body { at, len },
            (None, None) => Key::Named(b""),
        };
        self.push(key, span(f.value), f.escaped);
        if self.len == INDEXED_FIELDS {
            // Past any header: a walk goes on in the pairs (for JSON, its members).
            self.resume = Some(Resume {
                at: f.end,
                state: if f.last { State::Done } else { State::Pairs },
                delimiter: b'\t',
                in_msg: false,
            });
        }
    }
}

/// The fields of a body as a [`FieldIndex`] holds them: read from it without walking the body
/// again, then, past its [`INDEXED_FIELDS`], from a walk resumed where it stopped.
#[derive(Clone, Debug)]
pub struct IndexedFields<'a> {
    body: &'a [u8],
    index: &'a FieldIndex,
    slot: usize,
    /// The walk past the index, once started.
    walk: Option<Fields<'a>>,
}

impl<'a> IndexedFields<'a> {
    /// The fields of `body` in `index`, which [`FieldIndex::fill`] filled from `body`.
    pub fn new(body: &'a [u8], index: &'a FieldIndex) -> Self {
        Self {
            body,
            index,
            slot: 0,
            walk: None,
        }
    }
}

impl<'a> Iterator for IndexedFields<'a> {
    type Item = Field<'a>;

    fn next(&mut self) -> Option<Field<'a>> {
        let index = self.index;
        if let Some(slot) = index.slots[..index.len].get(self.slot) {
            self.slot += 1;
            return Some(slot.field(self.body));
        }
        if self.walk.is_none() {
            let r = index.resume?;
            let mut walk = Fields::new(index.kind, self.body);
            walk.rest = self.body.get(r.at..).unwrap_or(&[]);
            walk.state = r.state;
            walk.delimiter = r.delimiter;
            walk.in_msg = r.in_msg;
            self.walk = Some(walk);
        }
        self.walk.as_mut()?.next()
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
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Every field [`cef_scan`] or [`json_scan`] finds, as slices, with where the body's rest
    /// starts after it; and the verdict.
    fn scanned(kind: Payload, body: &[u8]) -> (Vec<(Field<'_>, usize)>, bool) {
        let mut out = Vec::new();
        let found = |f: Spans| {
            let key = match f.header {
                Some(i) => CEF_HEADER[i].as_bytes(),
                None => &body[f.key.0..f.key.0 + f.key.1],
            };
            let value = &body[f.value.0..f.value.0 + f.value.1];
            out.push((
                Field {
                    key,
                    value,
                    escaped: f.escaped,
                },
                f.end,
            ));
        };
        let valid = match kind {
            Payload::Cef => cef_scan(body, found),
            _ => json_scan(body, found),
        };
        (out, valid)
    }

    /// The same, walked.
    fn walked(kind: Payload, body: &[u8]) -> (Vec<(Field<'_>, usize)>, bool) {
        let mut it = Fields::new(kind, body);
        let mut out = Vec::new();
        while let Some(f) = it.next() {
            out.push((f, body.len() - it.rest.len()));
        }
        (out, it.state != State::Failed)
    }

    /// Bodies: one of `leads`, then up to 80 pieces: `tokens`, what `extra` makes, short words
    /// and runs of 55-70 bytes (so fields cross the 64-byte blocks' edges).
    fn bodies(
        leads: &'static [&'static str],
        tokens: &'static [&'static str],
        extra: BoxedStrategy<String>,
    ) -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            proptest::sample::select(tokens).prop_map(String::from),
            extra,
            "[a-z0-9]{1,5}",
            "x{55,70}",
        ];
        (
            proptest::sample::select(leads),
            proptest::collection::vec(piece, 0..80),
        )
            .prop_map(|(lead, parts)| format!("{lead}{}", parts.concat()))
    }

    proptest! {
        /// CEF read from its bit masks reads as walked, field by field, up to the same failure:
        /// bodies of its delimiters, escapes, white space and keys.
        #[test]
        fn cef_read_from_bit_masks_reads_as_walked(body in bodies(
            &["", "CEF:", " CEF:0|", "CEF:0|v|p|1|s|n|5|"],
            &["|", "=", " ", "\\", "\t", "k=", " a="],
            Just(String::new()).boxed(),
        )) {
            prop_assert_eq!(scanned(Payload::Cef, body.as_bytes()), walked(Payload::Cef, body.as_bytes()));
        }

        /// JSON read in one loop reads as walked, member by member, up to the same failure:
        /// objects of strings (with escaped quotes anywhere in their first 70 bytes),
        /// literals, nested values and broken pieces.
        #[test]
        fn json_read_in_one_loop_reads_as_walked(body in bodies(
            &["", "{", " { \"k\":", "{\"a\":\"b\","],
            &["\"", "\\", ",", ":", " ", "{", "}", "[", "]", "\"k\":", "\"v\\\"w\","],
            ("x{0,70}", "x{0,70}").prop_map(|(a, b)| format!("\"k\":\"{a}\\\"{b}\",")).boxed(),
        )) {
            prop_assert_eq!(scanned(Payload::Json, body.as_bytes()), walked(Payload::Json, body.as_bytes()));
        }

        /// Both on arbitrary bytes after a start of their format.
        #[test]
        fn arbitrary_bytes_read_in_one_loop_read_as_walked(
            lead in prop_oneof![Just(&b""[..]), Just(&b"CEF:0|"[..]), Just(&b"CEF:0|v|p|1|s|n|5|"[..]), Just(&b"{\""[..])],
            bytes in proptest::collection::vec(any::<u8>(), 0..400),
        ) {
            let body = [lead, &bytes[..]].concat();
            for kind in [Payload::Cef, Payload::Json] {
                prop_assert_eq!(scanned(kind, &body), walked(kind, &body));
            }
        }
    }

    #[test]
    fn escaped_bits_follow_backslashes_from_left_to_right() {
        let bs = |s: &str| {
            s.bytes()
                .enumerate()
                .filter(|&(_, b)| b == b'\\')
                .fold(0u64, |m, (i, _)| m | 1 << i)
        };
        let mut carry = false;
        // `\\a`: the second backslash is escaped, `a` is not; `\\\a`: `a` is.
        assert_eq!(escaped_bits(bs("\\\\a"), &mut carry), 0b010);
        assert_eq!(escaped_bits(bs("\\\\\\a"), &mut carry), 0b1010);
        assert!(!carry);
        // A backslash at bit 63 escapes the next block's first byte, and only that.
        assert_eq!(escaped_bits(1 << 63, &mut carry), 0);
        assert!(carry);
        assert_eq!(escaped_bits(0b11, &mut carry), 0b101);
        assert!(!carry);
    }

    fn pairs(kind: Payload, body: &str) -> Vec<(String, String)> {
        let f = Fields::new(kind, body.as_bytes());
        assert!(f.valid(), "{body}");
        f.map(|f| {
            (
                String::from_utf8_lossy(f.key).into_owned(),
                String::from_utf8_lossy(f.value).into_owned(),
            )
        })
        .collect()
    }

    fn kv(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn event_xml_gives_its_event_id_and_data_fields() {
        let xml = concat!(
            "<Event><System><Provider Name=\"Linux-Sysmon\"/><EventID Qualifiers=\"0\">1",
            "</EventID><Computer>web1</Computer></System><EventData>",
            "<Data Name=\"Image\">/usr/bin/cat</Data><Data Name=\"ParentUser\"/>",
            "<Data Name=\"CommandLine\">cat &quot;a b&quot;</Data><Data Name=\"Cut\">to the end"
        );
        assert_eq!(
            pairs(Payload::EventXml, xml),
            kv(&[
                ("EventID", "1"),
                ("Image", "/usr/bin/cat"),
                ("ParentUser", ""),
                // As written: entities are not decoded.
                ("CommandLine", "cat &quot;a b&quot;"),
                ("Cut", "to the end"),
            ])
        );
        assert!(valid(Payload::EventXml, xml.as_bytes()));
    }

    #[test]
    fn detection() {
        assert_eq!(detect_payload(b" {\"a\":1}"), Payload::Json);
        assert_eq!(detect_payload(b"CEF:0|a|b|c|d|e|5|x=1"), Payload::Cef);
        assert_eq!(detect_payload(b"LEEF:1.0|a|b|c|d|"), Payload::Leef);
        assert_eq!(
            detect_payload(b"type=SYSCALL msg=audit(1.2:3): a=b"),
            Payload::Audit
        );
        // The other forms of an audit record: audispd's node, the kernel's own lines.
        for audit in [
            &b"node=web1 type=EXECVE msg=audit(1.2:3): argc=1 a0=\"ls\""[..],
            b"audit: type=1400 audit(1.2:3): apparmor=\"DENIED\"",
            b"[ 1234.567890] audit: type=1327 audit(1.2:3): proctitle=6C73",
        ] {
            assert_eq!(detect_payload(audit), Payload::Audit, "{audit:?}");
        }
        assert_eq!(
            detect_payload(b" <Event><System><EventID>1</EventID></System></Event>"),
            Payload::EventXml
        );
        assert_eq!(detect_payload(b"<Events>x</Events>"), Payload::Plain);
        // Near misses: key=value text, and a stamp without `msg=` outside the kernel's form.
        assert_eq!(detect_payload(b"type=info note=x"), Payload::Kv);
        assert_eq!(detect_payload(b"type=1400 audit(1.2:3): x=y"), Payload::Kv);
        assert_eq!(
            detect_payload(b"audit: backlog limit exceeded"),
            Payload::Plain
        );
        assert_eq!(detect_payload(b"level=info msg=\"x y\""), Payload::Kv);
        assert_eq!(
            detect_payload(b"authentication failure; uid=0"),
            Payload::Plain
        );
    }

    #[test]
    fn json_members_including_nested_and_escaped() {
        let body = r#"{"version":"1.1", "host":"h\"1", "level":3, "_tags":["a","b]"], "o":{"k":"}"}, "n":null}"#;
        assert_eq!(
            pairs(Payload::Json, body),
            kv(&[
                ("version", "1.1"),
                ("host", r#"h\"1"#),
                ("level", "3"),
                ("_tags", r#"["a","b]"]"#),
                ("o", r#"{"k":"}"}"#),
                ("n", "null"),
            ])
        );
        assert_eq!(pairs(Payload::Json, "{ }"), vec![]);
        for bad in [
            r#"{"a":1"#,
            r#"{"a" 1}"#,
            r#"{"a":"x}"#,
            "[1]",
            r#"{"a":1,}"#,
            // No colon, with what follows still a value.
            r#"{"a" "b"}"#,
            r#"{"a"x1}"#,
        ] {
            let fields = Fields::new(Payload::Json, bad.as_bytes());
            assert!(!fields.valid() && !fields.walk_valid(), "{bad}");
        }
    }

    #[test]
    fn an_index_shows_the_slots_in_use_only() {
        let mut index = FieldIndex::default();
        assert!(index.fill(Payload::Kv, b"a=1 b=\"two\""));
        let shown = format!("{index:?}");
        assert_eq!(shown.matches("Slot {").count(), 2, "{shown}");
    }

    #[test]
    fn cef_header_and_extension() {
        let body = r"CEF:0|Security|threatmanager|1.0|100|worm successfully stopped|10|src=10.0.0.1 dst=2.1.2.2 spt=1232 msg=Detected a threat. No action needed cs1=a\=b";
        assert_eq!(
            pairs(Payload::Cef, body),
            kv(&[
                ("cef_version", "0"),
                ("device_vendor", "Security"),
                ("device_product", "threatmanager"),
                ("device_version", "1.0"),
                ("signature_id", "100"),
                ("name", "worm successfully stopped"),
                ("severity", "10"),
                ("src", "10.0.0.1"),
                ("dst", "2.1.2.2"),
                ("spt", "1232"),
                ("msg", "Detected a threat. No action needed"),
                ("cs1", r"a\=b"),
            ])
        );
        assert!(!Fields::new(Payload::Cef, b"CEF:0|a|b").valid());
        // Keys: not empty, of key bytes only (white space after one is trimmed).
        for bad in ["=1", "a b=1", "k!=1", "x=1 =2", "b\\=1"] {
            let body = format!("CEF:0|v|p|1|s|n|5|{bad}");
            let fields = Fields::new(Payload::Cef, body.as_bytes());
            assert!(!fields.valid() && !fields.walk_valid(), "{body}");
        }
        let fields = Fields::new(Payload::Cef, b"CEF:0|v|p|1|s|n|5|k\t=1");
        assert!(fields.valid() && fields.walk_valid());
    }

    /// The readers find quotes, pipes, `=` and backslashes 64 bytes at a time: escapes and
    /// delimiters on either side of every block edge read the same.
    #[test]
    fn escapes_and_delimiters_at_every_offset_of_a_long_body() {
        for pad in 0..150 {
            let p = "x".repeat(pad);
            let json = format!(r#"{{"a{p}":"{p}\"q\\","n":[1,"{p}]"],"m":"{p}"}}"#);
            let fields: Vec<Field<'_>> = Fields::new(Payload::Json, json.as_bytes()).collect();
            let want_a = format!(r#"{p}\"q\\"#);
            assert_eq!(fields.len(), 3, "pad {pad}: {json}");
            assert_eq!(fields[0].value, want_a.as_bytes(), "pad {pad}");
            assert!(fields[0].escaped, "pad {pad}");
            assert_eq!(fields[1].value, format!(r#"[1,"{p}]"]"#).as_bytes());
            assert_eq!((fields[2].value, fields[2].escaped), (p.as_bytes(), false));

            let cef = format!(r"CEF:0|V{p}\|x|P|1|S|N|5|k={p}\=v {p}b=2 msg={p} t");
            let fields: Vec<Field<'_>> = Fields::new(Payload::Cef, cef.as_bytes()).collect();
            assert_eq!(fields.len(), 10, "pad {pad}: {cef}");
            assert_eq!(fields[1].value, format!(r"V{p}\|x").as_bytes(), "pad {pad}");
            assert!(fields[1].escaped && !fields[2].escaped, "pad {pad}");
            assert_eq!(fields[7].value, format!(r"{p}\=v").as_bytes(), "pad {pad}");
            let b_key = format!("{p}b");
            assert_eq!(
                (fields[8].key, fields[8].value),
                (b_key.as_bytes(), &b"2"[..])
            );
            assert_eq!(fields[9].value, format!("{p} t").as_bytes(), "pad {pad}");
        }
    }

    #[test]
    fn leef_1_and_2() {
        let body =
            "LEEF:1.0|Microsoft|MSExchange|4.0 SP1|15345|src=192.0.2.0\tdst=172.50.123.1\tsev=5";
        assert_eq!(
            pairs(Payload::Leef, body),
            kv(&[
                ("leef_version", "1.0"),
                ("vendor", "Microsoft"),
                ("product", "MSExchange"),
                ("product_version", "4.0 SP1"),
                ("event_id", "15345"),
                ("src", "192.0.2.0"),
                ("dst", "172.50.123.1"),
                ("sev", "5"),
            ])
        );
        let body = "LEEF:2.0|Lancope|StealthWatch|1.0|41|^|src=10.0.1.8^dst=10.0.0.5^sev=5";
        let got = pairs(Payload::Leef, body);
        assert_eq!(
            &got[5..],
            &kv(&[("src", "10.0.1.8"), ("dst", "10.0.0.5"), ("sev", "5")])[..]
        );
        let body = "LEEF:2.0|V|P|1|E|x7C|a=1|b=2";
        assert_eq!(
            &pairs(Payload::Leef, body)[5..],
            &kv(&[("a", "1"), ("b", "2")])[..]
        );
    }

    #[test]
    fn key_value_and_audit() {
        assert_eq!(
            pairs(
                Payload::Kv,
                r#"level=info msg="a \"b\" c" bare n=5 q='x y'"#
            ),
            kv(&[
                ("level", "info"),
                ("msg", r#"a \"b\" c"#),
                ("n", "5"),
                ("q", "x y")
            ])
        );
        assert_eq!(
            pairs(Payload::Kv, r"a='it\'s' b=1"),
            kv(&[("a", r"it\'s"), ("b", "1")])
        );
        let escaped: Vec<bool> = Fields::new(Payload::Kv, br"a='it\'s' b='x'")
            .map(|f| f.escaped)
            .collect();
        assert_eq!(escaped, [true, false]);
        let audit = "type=USER_LOGIN msg=audit(1364481363.243:24287): pid=2222 uid=0 msg='op=login acct=\"root\" res=failed'";
        assert_eq!(
            pairs(Payload::Audit, audit),
            kv(&[
                ("type", "USER_LOGIN"),
                ("audit", "1364481363.243:24287"),
                ("pid", "2222"),
                ("uid", "0"),
                ("msg", "op=login acct=\"root\" res=failed"),
                // The message's own pairs, one by one.
                ("op", "login"),
                ("acct", "root"),
                ("res", "failed"),
            ])
        );
        // A quoted value last in the message, then a pair after it: out of the quotes again.
        let audit = "type=USER_CMD msg=audit(1.2:3): msg='cwd=\"/root\" cmd=\"ls\"' extra=1";
        assert_eq!(
            pairs(Payload::Audit, audit),
            kv(&[
                ("type", "USER_CMD"),
                ("audit", "1.2:3"),
                ("msg", "cwd=\"/root\" cmd=\"ls\""),
                ("cwd", "/root"),
                ("cmd", "ls"),
                ("extra", "1"),
            ])
        );
        // A quoted message without pairs stays one field.
        assert_eq!(
            pairs(Payload::Audit, "type=X msg=audit(1.2:3): msg='just text'"),
            kv(&[("type", "X"), ("audit", "1.2:3"), ("msg", "just text")])
        );
    }
}
