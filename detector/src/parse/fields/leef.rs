//! LEEF 1.0 and 2.0 attributes and the 2.0 delimiter.

use super::walker::{Field, Fields, State};

impl<'a> Fields<'a> {
    /// LEEF attributes: `key=value` separated by the delimiter.
    pub(super) fn leef_pair(&mut self) -> Option<Field<'a>> {
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
}

/// A LEEF 2.0 delimiter field: one character, or its hex code as `x09` / `0x09`; empty means tab.
pub(super) fn leef_delimiter(d: &[u8]) -> Option<u8> {
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
