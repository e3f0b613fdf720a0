//! The BSD header (RFC 3164) as devices really send it: a timestamp in one of many shapes, a
//! host, a tag with or without a pid, and Cisco's `%FAC-SEV-MNEMONIC:` tags.

use super::{
    event::{CiscoTag, Event, ParseOptions, strip_bom},
    time,
};
use crate::simd;

/// RFC 3164 as sent: `[seq: ][*]TIMESTAMP[:] [HOST ]TAG[[PID]]: MSG`, with every part but the
/// message optional. Never fails: what cannot be read stays in the body.
pub(super) fn rfc3164<'a>(ev: &mut Event<'a>, mut s: &'a [u8], opts: &ParseOptions) {
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
        .map(|(n, ns)| (n, ns.map(|ns| opts.local_offset.to_utc_ns(ns))))
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
pub(super) fn tag_name(s: &[u8]) -> Option<(usize, usize)> {
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
    // Every `%` of 64 bytes at once (one vector compare): most bodies have none.
    for base in (0..within.len()).step_by(64) {
        let mut marks = simd::mask64(&within[base..], b'%');
        while marks != 0 {
            let at = base + marks.trailing_zeros() as usize;
            marks &= marks - 1;
            if (at == 0 || s[at - 1] == b' ')
                && let Some(tag) = cisco_tag_at(&s[at + 1..])
            {
                return Some(tag);
            }
        }
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
