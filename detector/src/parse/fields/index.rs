//! The first fields of a body kept as spans ([`FieldIndex`]), and reading them back.

use super::access::ACCESS_LOG_FIELDS;
use super::cef::cef_scan;
use super::json::json_scan;
use super::lex::*;
use super::payload::Payload;
use super::proxy::PROXY_FIELDS;
use super::walker::{CEF_HEADER, Field, Fields, LEEF_HEADER, State};

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
/// per message ([`crate::parse::parse_indexed`]); it holds spans, not slices, so it outlives the input.
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

/// The field names readers give that are not in the body (beside the header names).
const STATIC_NAMES: [&[u8]; 5] = [b"audit", b"query", b"record_type", b"answer", b"src_ip"];

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
                (Payload::AccessLog, State::Start) => Some(ACCESS_LOG_FIELDS[0]),
                (Payload::AccessLog, State::Header(i)) => ACCESS_LOG_FIELDS.get(i).copied(),
                (Payload::ProxyLog, State::Start) => Some(PROXY_FIELDS[0]),
                (Payload::ProxyLog, State::Header(i)) => PROXY_FIELDS.get(i).copied(),
                _ => None,
            };
            let Some(f) = it.next() else {
                return it.state != State::Failed;
            };
            let key = match (named, span_in(f.key, body)) {
                (Some(name), _) => Key::Named(name.as_bytes()),
                (None, Some((at, len))) => Key::Body { at, len },
                // Not of the body: one of the other names a reader gives.
                (None, None) => Key::Named(
                    STATIC_NAMES
                        .iter()
                        .find(|n| **n == f.key)
                        .copied()
                        .unwrap_or(b""),
                ),
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
