//! JSON objects (GELF included): members read with the marks of quotes and backslashes.

use super::lex::*;
use super::walker::{Field, Fields, State};
use crate::simd::Marks;

impl<'a> Fields<'a> {
    pub(super) fn json(&mut self) -> Option<Field<'a>> {
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
}

/// The length of a JSON value at `body[at]` that is not a string: a nested object or array
/// (brackets counted, strings inside skipped), or a literal running to a `,`, `}`, `]` or
/// white space. As [`Fields`] reads them.
pub(super) fn json_value_len(marks: &mut Marks<'_>, body: &[u8], at: usize) -> Option<usize> {
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
pub(super) fn json_member(marks: &mut Marks<'_>, body: &[u8], mut i: usize) -> Option<Spans> {
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
pub(super) fn json_scan(body: &[u8], mut found: impl FnMut(Spans)) -> bool {
    let mut marks = crate::simd::marks(body, MARKED);
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
