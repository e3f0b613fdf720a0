//! The RFC 5424 header: `VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP
//! STRUCTURED-DATA [SP MSG]`.

use super::{
    event::{Event, ParseError, strip_bom},
    sd::structured_data_len,
    time,
};
use crate::simd;

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

/// RFC 5424 after the PRI: `VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP
/// STRUCTURED-DATA [SP MSG]`.
pub(super) fn rfc5424<'a>(ev: &mut Event<'a>, s: &'a [u8]) -> Result<(), ParseError> {
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

/// RFC 5424's VERSION after the PRI: one to three digits, the first not zero, then a space.
/// (A BSD message never starts so; a Cisco sequence number is followed by a colon.)
pub(super) fn looks_like_5424(rest: &[u8]) -> bool {
    let n = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    (1..=3).contains(&n) && rest[0] != b'0' && rest.get(n) == Some(&b' ')
}
