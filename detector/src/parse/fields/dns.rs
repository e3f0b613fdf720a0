//! DNS server query logs, read as the fields Sigma's `dns` rules name (`query`, `record_type`,
//! `answer`, `src_ip`): dnsmasq's `query[A] example.com from 192.0.2.5` and
//! `reply example.com is 198.51.100.7`, and BIND's `client @0x7f3a 192.0.2.5#53211
//! (example.com): query: example.com IN A +E(0)K (10.0.0.1)`.

use super::{Field, Fields, State};

/// Whether `b` is a DNS query log line of dnsmasq or BIND.
pub fn is_dns_log(b: &[u8]) -> bool {
    if let Some(r) = b.strip_prefix(b"query[") {
        return r
            .iter()
            .position(|&c| c == b']')
            .is_some_and(|i| r.get(i + 1) == Some(&b' '));
    }
    if let Some(r) = b.strip_prefix(b"reply ") {
        return word(r).1.starts_with(b"is ");
    }
    bind_client(b).is_some()
}

/// BIND's `client [@0x...] ADDR#PORT (NAME): query: NAME CLASS TYPE ...`: the address, and
/// the rest after `query: `.
fn bind_client(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut rest = b.strip_prefix(b"client ")?;
    if rest.starts_with(b"@0x") {
        let sp = rest.iter().position(|&c| c == b' ')?;
        rest = &rest[sp + 1..];
    }
    let hash = rest.iter().position(|&c| c == b'#' || c == b' ')?;
    if rest[hash] != b'#' {
        return None;
    }
    let addr = &rest[..hash];
    let at = rest.windows(7).position(|w| w == b"query: ")?;
    Some((addr, &rest[at + 7..]))
}

/// The next word of `s` and what follows it (after one space).
fn word(s: &[u8]) -> (&[u8], &[u8]) {
    let end = s.iter().position(|&c| c == b' ').unwrap_or(s.len());
    (&s[..end], s.get(end + 1..).unwrap_or(&[]))
}

impl<'a> Fields<'a> {
    /// The next field of a DNS query log line: `State::Header(i)` counts the fields given.
    pub(super) fn dns_field(&mut self) -> Option<Field<'a>> {
        let i = match self.state {
            State::Start => 0,
            State::Header(i) => i,
            _ => return None,
        };
        let b = self.marks.hay();
        // Every field is found from the whole line: the lines are short, and this keeps no
        // state but the count.
        let fields: [(&'static [u8], &'a [u8]); 3] = if let Some(r) = b.strip_prefix(b"query[") {
            let close = r.iter().position(|&c| c == b']')?;
            let (name, rest) = word(r.get(close + 2..).unwrap_or(&[]));
            let from = rest.strip_prefix(b"from ").map_or(&[][..], |r| word(r).0);
            [
                (b"record_type", &r[..close]),
                (b"query", name),
                (b"src_ip", from),
            ]
        } else if let Some(r) = b.strip_prefix(b"reply ") {
            let (name, rest) = word(r);
            let answer = rest.strip_prefix(b"is ").unwrap_or(rest);
            [(b"query", name), (b"answer", answer), (b"", &[])]
        } else if let Some((addr, q)) = bind_client(b) {
            let (name, rest) = word(q);
            let (_class, rest) = word(rest);
            let (kind, _) = word(rest);
            [(b"src_ip", addr), (b"query", name), (b"record_type", kind)]
        } else {
            return self.fail();
        };
        let Some(&(key, value)) = fields.get(i).filter(|(k, _)| !k.is_empty()) else {
            self.state = State::Done;
            return None;
        };
        self.state = State::Header(i + 1);
        self.rest = &[];
        Some(Field {
            key,
            value,
            escaped: false,
        })
    }
}
