//! RFC 5424 STRUCTURED-DATA: validating it as the header is read, and iterating its parameters
//! when a rule asks.

use super::error::ParseError;
use crate::simd::{self, ByteSet};

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
pub(super) fn quoted_end(s: &[u8]) -> Option<usize> {
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
pub(super) static VALUE_END: [bool; 256] = {
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

impl<'a> SdParams<'a> {
    /// The parameters of STRUCTURED-DATA as written (`[id k="v"...]...`; empty: none).
    pub(super) fn new(structured_data: &'a [u8]) -> Self {
        Self {
            rest: structured_data,
            id: &[],
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

/// Which bytes end an SD-ID or a PARAM-NAME (space, `]`, `=`, `"`), as a table: one load per
/// byte instead of four comparisons.
pub(super) static SD_NAME_END: [bool; 256] = {
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
pub(super) fn first_marked(s: &[u8], stop: &[bool; 256]) -> usize {
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
pub(super) fn structured_data_len(s: &[u8]) -> Result<usize, ParseError> {
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
