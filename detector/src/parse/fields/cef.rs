//! CEF: the extension's `key=value` pairs, and the one-pass scan of a whole CEF body.

use super::lex::*;
use super::walker::{CEF_HEADER, Field, Fields, State};

impl<'a> Fields<'a> {
    /// CEF extension: `key=value` pairs, values running to the space before the next key, with
    /// `\=` and `\\` escapes.
    pub(super) fn cef_pair(&mut self) -> Option<Field<'a>> {
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
}

/// The bytes [`cef_scan`] finds with [`Marks`]: space, backslash, pipe and `=`.
pub(super) const CEF_MARKED: [u8; 4] = [b' ', b'\\', b'|', b'='];

/// The bytes of a 64-byte block that a backslash escapes. `backslashes` are the block's
/// backslashes; `carry` says whether its first byte is escaped (the block before ended in an
/// escaping backslash), and is set for the next block. A backslash escapes the byte after it,
/// so of `\\` only the first escapes.
#[inline]
pub(super) fn escaped_bits(mut backslashes: u64, carry: &mut bool) -> u64 {
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
pub(super) fn bits(from: usize, to: usize) -> u64 {
    let below = |n: usize| if n >= 64 { !0 } else { (1u64 << n) - 1 };
    below(to) & !below(from)
}

/// The position of the highest bit of `m` (not 0) in a block at `at`.
#[inline]
pub(super) fn last_bit(at: usize, m: u64) -> usize {
    at + 63 - m.leading_zeros() as usize
}

/// The key of a CEF pair in `body[from..eq]`, trailing white space trimmed, when it is one.
pub(super) fn cef_key(body: &[u8], from: usize, eq: usize) -> Option<(usize, usize)> {
    let key = trim_end(&body[from..eq]);
    (!key.is_empty() && key.iter().all(|&c| is_key_byte(c))).then_some((from, key.len()))
}

/// A CEF body read a block of 64 bytes at a time, from the bit masks of its spaces,
/// backslashes, pipes and `=` (simdjson's structural index, for CEF): header values end at the
/// pipes no backslash escapes, and an unescaped `=` with a space between it and the value's
/// start ends that value at the last such space. `found` gets every field in order, as
/// [`Fields`] reads them (and before a failure, the same ones); returns whether the body is
/// valid CEF, by the same rules. The property tests compare the two.
pub(super) fn cef_scan(body: &[u8], mut found: impl FnMut(Spans)) -> bool {
    let len = body.len();
    let start = skip_space(body, 0);
    if !body[start..].starts_with(b"CEF:") {
        return false;
    }
    let mut marks = crate::simd::marks(body, CEF_MARKED);
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
