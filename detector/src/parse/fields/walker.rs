//! The lazy walk over a body's fields: its state, and the helpers every format's reader uses.

use super::{
    lex::{MARKED, MARKED_KV, PIPE, until_mark},
    payload::Payload,
};
use crate::simd::Marks;

/// One field. `value` is as written, without surrounding quotes; when `escaped`, it still holds
/// backslash escapes (see [`crate::parse::unescape_into`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field<'a> {
    /// Key.
    pub key: &'a [u8],
    /// Value.
    pub value: &'a [u8],
    /// Whether `value` contains backslash escapes.
    pub escaped: bool,
}

pub(super) const CEF_HEADER: [&str; 7] = [
    "cef_version",
    "device_vendor",
    "device_product",
    "device_version",
    "signature_id",
    "name",
    "severity",
];
pub(super) const LEEF_HEADER: [&str; 5] = [
    "leef_version",
    "vendor",
    "product",
    "product_version",
    "event_id",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum State {
    Start,
    Header(usize),
    Pairs,
    Done,
    Failed,
}

/// Lazy iterator over a body's fields.
#[derive(Clone, Debug)]
pub struct Fields<'a> {
    pub(super) kind: Payload,
    /// What is left to read: always a suffix of the body.
    pub(super) rest: &'a [u8],
    /// Quotes, backslashes, pipes and `=` of the body, 64 bytes at a time.
    pub(super) marks: Marks<'a>,
    pub(super) state: State,
    /// LEEF attribute delimiter.
    pub(super) delimiter: u8,
    /// LEEF version, once read.
    pub(super) leef_version: &'a [u8],
    /// Inside an audit record's quoted `msg='...'`, whose pairs are read one by one.
    pub(super) in_msg: bool,
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

    pub(super) fn fail(&mut self) -> Option<Field<'a>> {
        self.state = State::Failed;
        None
    }

    /// [`until_mark`] in the body.
    #[inline]
    pub(super) fn until_at(&mut self, from: usize, stop: u8) -> Option<(usize, bool)> {
        until_mark(&mut self.marks, from, stop)
    }

    /// [`Fields::until_at`] in `s`, a suffix of the body; the index is `s`'s.
    #[inline]
    pub(super) fn until(&mut self, s: &'a [u8], stop: u8) -> Option<(usize, bool)> {
        let start = self.marks.hay().len() - s.len();
        let (i, escaped) = self.until_at(start, stop)?;
        Some((i - start, escaped))
    }

    /// The next `|`-separated header value (with `\|` and `\\` escapes).
    pub(super) fn header_value(&mut self) -> Option<(&'a [u8], bool)> {
        let b = self.marks.hay();
        let start = b.len() - self.rest.len();
        let (i, escaped) = self.until_at(start, PIPE)?;
        self.rest = &b[i + 1..];
        Some((&b[start..i], escaped))
    }
}
