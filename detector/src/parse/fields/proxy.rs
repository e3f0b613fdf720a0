//! Web proxy access logs in squid's native format, read as the fields Sigma's `proxy` rules
//! name: `1765101600.123    150 192.0.2.5 TCP_MISS/200 5120 GET http://example.net/a?b=1 -
//! HIER_DIRECT/198.51.100.7 text/html` gives `c-ip`, `sc-status`, `sc-bytes`, `cs-method`,
//! `c-uri` (and its `cs-host`, `c-uri-stem`, `c-uri-query`) and `cs-username`, besides the
//! time and the elapsed milliseconds.

use super::{Field, Fields, State};

/// The fields, in the order given.
pub const PROXY_FIELDS: [&str; 11] = [
    "time",
    "elapsed",
    "c-ip",
    "sc-status",
    "sc-bytes",
    "cs-method",
    "c-uri",
    "cs-host",
    "c-uri-stem",
    "c-uri-query",
    "cs-username",
];

/// The words of a squid line (runs of spaces between them).
fn words(b: &[u8]) -> impl Iterator<Item = &[u8]> {
    b.split(|&c| c == b' ').filter(|w| !w.is_empty())
}

/// Whether `b` is a line of squid's native access log: `seconds.millis`, the elapsed ms, the
/// client, then `RESULT/status`.
pub fn is_squid_log(b: &[u8]) -> bool {
    // The time first, `seconds.millis ` (the first word, checked whole below): most lines that
    // start with a digit are given up here, before the line is split into words.
    let digits_at = |at: usize| {
        b[at.min(b.len())..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count()
    };
    let secs = digits_at(0);
    if secs == 0 || b.get(secs) != Some(&b'.') {
        return false;
    }
    let millis = digits_at(secs + 1);
    if millis == 0 || b.get(secs + 1 + millis) != Some(&b' ') {
        return false;
    }
    let mut w = words(&b[..b.len().min(160)]);
    let (Some(time), Some(elapsed), Some(_client), Some(result)) =
        (w.next(), w.next(), w.next(), w.next())
    else {
        return false;
    };
    let digits = |s: &[u8]| !s.is_empty() && s.iter().all(u8::is_ascii_digit);
    let Some((secs, millis)) = time
        .iter()
        .position(|&c| c == b'.')
        .map(|i| time.split_at(i))
    else {
        return false;
    };
    digits(secs)
        && digits(&millis[1..])
        && digits(elapsed)
        && result.iter().position(|&c| c == b'/').is_some_and(|i| {
            i > 0
                && digits(&result[i + 1..])
                && result[..i]
                    .iter()
                    .all(|c| c.is_ascii_uppercase() || *c == b'_')
        })
}

impl<'a> Fields<'a> {
    /// The next field of a squid line ([`PROXY_FIELDS`]); `State::Header(i)` counts them.
    pub(super) fn proxy_field(&mut self) -> Option<Field<'a>> {
        let i = match self.state {
            State::Start => 0,
            State::Header(i) => i,
            _ => return None,
        };
        let b: &'a [u8] = self.marks.hay();
        let mut w = words(b);
        let mut first = [&b[..0]; 8];
        let mut n = 0;
        for (slot, word) in first.iter_mut().zip(&mut w) {
            *slot = word;
            n += 1;
        }
        if n < 5 {
            return self.fail();
        }
        let [time, elapsed, client, result, bytes, method, uri, user] = first;
        let status = result
            .iter()
            .position(|&c| c == b'/')
            .map_or(&result[..0], |s| &result[s + 1..]);
        // `scheme://host[:port]/path?query`, or `host:port` for CONNECT.
        let after = uri
            .windows(3)
            .position(|x| x == b"://")
            .map_or(uri, |s| &uri[s + 3..]);
        let host_end = after
            .iter()
            .position(|&c| c == b'/' || c == b':' || c == b'?')
            .unwrap_or(after.len());
        let host = &after[..host_end];
        let path = after
            .iter()
            .position(|&c| c == b'/')
            .map_or(&after[after.len()..], |s| &after[s..]);
        let (stem, query) = match path.iter().position(|&c| c == b'?') {
            Some(q) => (&path[..q], &path[q + 1..]),
            None => (path, &path[path.len()..]),
        };
        let values: [&'a [u8]; 11] = [
            time, elapsed, client, status, bytes, method, uri, host, stem, query, user,
        ];
        self.state = if i + 1 == PROXY_FIELDS.len() {
            State::Done
        } else {
            State::Header(i + 1)
        };
        self.rest = &[];
        Some(Field {
            key: PROXY_FIELDS[i].as_bytes(),
            value: values[i],
            escaped: false,
        })
    }
}
