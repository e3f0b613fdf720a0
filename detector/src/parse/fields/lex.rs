//! The bytes of a body as the readers see them: key bytes, white space, and the marked bytes
//! found 64 at a time.

use crate::simd::Marks;

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
pub(super) fn is_key_byte(b: u8) -> bool {
    KEY_BYTES[usize::from(b)]
}

/// The first position from `i` that is not ASCII white space.
#[inline(always)]
pub(super) fn skip_space(s: &[u8], mut i: usize) -> usize {
    while s.get(i).is_some_and(u8::is_ascii_whitespace) {
        i += 1;
    }
    i
}

pub(super) fn trim_start(s: &[u8]) -> &[u8] {
    &s[skip_space(s, 0)..]
}

/// The bytes the readers find through [`Marks`], and their kinds' bits. Key=value bodies (and
/// audit records) have no pipes: their third kind is the single quote that may quote a value.
pub(super) const MARKED: [u8; 4] = [b'"', b'\\', b'|', b'='];
pub(super) const MARKED_KV: [u8; 4] = [b'"', b'\\', b'\'', b'='];
pub(super) const QUOTE: u8 = 1;
pub(super) const BACKSLASH: u8 = 2;
pub(super) const PIPE: u8 = 4;
pub(super) const SINGLE_QUOTE: u8 = 4;
pub(super) const EQUALS: u8 = 8;

pub(super) fn trim_end(s: &[u8]) -> &[u8] {
    let n = s
        .iter()
        .rev()
        .take_while(|b| b.is_ascii_whitespace())
        .count();
    &s[..s.len() - n]
}

/// One field as [`cef_scan`] or [`json_scan`] finds it, by positions in the body.
#[derive(Clone, Copy, Debug)]
pub(super) struct Spans {
    /// The CEF header field's number, or `None` for a field whose key is at `key`.
    pub(super) header: Option<usize>,
    pub(super) key: (usize, usize),
    pub(super) value: (usize, usize),
    pub(super) escaped: bool,
    /// Where the body's rest starts after this field (where [`Fields`] would go on).
    pub(super) end: usize,
    /// Whether [`Fields`] knows the body ends here (a JSON object's `}`).
    pub(super) last: bool,
}

/// From position `from` of the marked bytes: the position of the first byte of the kinds `stop`
/// that no backslash escapes (a backslash escapes the byte after it), and whether a backslash
/// came before it. `marks` marks backslashes as [`BACKSLASH`].
#[inline]
pub(super) fn until_mark(
    marks: &mut Marks<'_>,
    mut from: usize,
    stop: u8,
) -> Option<(usize, bool)> {
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
