//! Web server access logs in the common and combined formats (Apache's and nginx's default):
//! `203.0.113.5 - alice [07/Dec/2026:10:00:00 +0000] "GET /a.php?id=1 HTTP/1.1" 200 1234
//! "https://example.net/" "curl/8.5.0"`, read as the W3C extended log fields Sigma's
//! `webserver` rules name.

use super::{Field, Fields, State};

/// The fields of an access log line, in order: the client, identd's user, the authenticated
/// user, the time, the request line's method, path, query (without `?`) and protocol, the
/// status, the bytes sent, and (combined format) the referrer and the user agent. A field the
/// line does not have reads as empty.
pub const ACCESS_LOG_FIELDS: [&str; 12] = [
    "c-ip",
    "ident",
    "cs-username",
    "time",
    "cs-method",
    "cs-uri-stem",
    "cs-uri-query",
    "cs-version",
    "sc-status",
    "sc-bytes",
    "cs-referer",
    "cs-user-agent",
];

/// Longest stretch of a body looked at to tell an access log line.
const SNIFF: usize = 256;

/// Whether `b` starts as an access log line: an address (hex digits, `.` and `:`), two more
/// words, then `[time] "`.
pub fn is_access_log(b: &[u8]) -> bool {
    let b = &b[..b.len().min(SNIFF)];
    let addr = b
        .iter()
        .take_while(|c| c.is_ascii_hexdigit() || matches!(c, b'.' | b':'))
        .count();
    if addr == 0 || b.get(addr) != Some(&b' ') {
        return false;
    }
    let mut at = addr + 1;
    for _ in 0..2 {
        let Some(sp) = b[at..].iter().position(|&c| c == b' ') else {
            return false;
        };
        at += sp + 1;
    }
    if b.get(at) != Some(&b'[') {
        return false;
    }
    b[at..].windows(3).any(|w| w == b"] \"")
}

/// The end of a quoted value starting at `s` (just after its opening quote): the index of the
/// closing quote, and whether it holds backslash escapes.
fn closing_quote(s: &[u8]) -> Option<(usize, bool)> {
    let mut i = 0;
    let mut escaped = false;
    while i < s.len() {
        match s[i] {
            b'\\' => {
                escaped = true;
                i += 2;
            }
            b'"' => return Some((i, escaped)),
            _ => i += 1,
        }
    }
    None
}

impl<'a> Fields<'a> {
    /// The next field of an access log line ([`ACCESS_LOG_FIELDS`]).
    pub(super) fn access_field(&mut self) -> Option<Field<'a>> {
        let i = match self.state {
            State::Start => 0,
            State::Header(i) => i,
            _ => return None,
        };
        let s = self.rest;
        let word = |s: &'a [u8]| {
            let end = s.iter().position(|&c| c == b' ').unwrap_or(s.len());
            (&s[..end], s.get(end + 1..).unwrap_or(&[]))
        };
        let empty = &s[..0];
        let (value, rest, escaped): (&'a [u8], &'a [u8], bool) = match i {
            // The client, identd's user, the user.
            0..=2 | 8 | 9 => {
                let (v, r) = word(s);
                (v, r, false)
            }
            3 => {
                let Some(inner) = s.strip_prefix(b"[") else {
                    return self.fail();
                };
                let Some(end) = inner.iter().position(|&c| c == b']') else {
                    return self.fail();
                };
                let r = &inner[end + 1..];
                (&inner[..end], r.strip_prefix(b" ").unwrap_or(r), false)
            }
            // The request line: `"METHOD PATH?QUERY PROTOCOL"`.
            4 => {
                let Some(inner) = s.strip_prefix(b"\"") else {
                    return self.fail();
                };
                let end = inner
                    .iter()
                    .position(|&c| c == b' ' || c == b'"')
                    .unwrap_or(inner.len());
                let r = &inner[end..];
                (&inner[..end], r.strip_prefix(b" ").unwrap_or(r), false)
            }
            5 => {
                let end = s
                    .iter()
                    .position(|&c| matches!(c, b' ' | b'"' | b'?'))
                    .unwrap_or(s.len());
                (&s[..end], &s[end..], false)
            }
            6 => match s.strip_prefix(b"?") {
                Some(q) => {
                    let end = q
                        .iter()
                        .position(|&c| c == b' ' || c == b'"')
                        .unwrap_or(q.len());
                    (&q[..end], &q[end..], false)
                }
                None => (empty, s, false),
            },
            7 => {
                let v = s.strip_prefix(b" ").unwrap_or(s);
                let end = v.iter().position(|&c| c == b'"').unwrap_or(v.len());
                let r = &v[end..];
                let r = r.strip_prefix(b"\"").unwrap_or(r);
                (&v[..end], r.strip_prefix(b" ").unwrap_or(r), false)
            }
            // Combined format: the referrer and the user agent, quoted.
            _ => match s.strip_prefix(b"\"") {
                Some(inner) => {
                    let Some((end, escaped)) = closing_quote(inner) else {
                        return self.fail();
                    };
                    let r = &inner[end + 1..];
                    (&inner[..end], r.strip_prefix(b" ").unwrap_or(r), escaped)
                }
                None => (empty, s, false),
            },
        };
        self.rest = rest;
        self.state = if i + 1 == ACCESS_LOG_FIELDS.len() {
            State::Done
        } else {
            State::Header(i + 1)
        };
        Some(Field {
            key: ACCESS_LOG_FIELDS[i].as_bytes(),
            value,
            escaped,
        })
    }
}
