//! Structured payloads inside a message body, read lazily as key/value fields without
//! allocating: JSON objects (GELF included), CEF, LEEF 1.0 and 2.0, key=value / logfmt, Linux
//! audit records, and events in the Windows event XML schema (Sysmon for Linux).

pub mod access;
mod cef;
mod dns;
mod index;
mod json;
mod kv;
mod leef;
mod lex;
mod payload;
pub mod proxy;
mod walker;
mod xml;

use cef::cef_scan;
pub use index::{FieldIndex, INDEXED_FIELDS, IndexedFields};
use json::json_scan;
use kv::is_audit_record;
use leef::leef_delimiter;
use lex::{is_key_byte, trim_start};
pub use payload::Payload;
use walker::{CEF_HEADER, LEEF_HEADER, State};
pub use walker::{Field, Fields};

/// Detects the payload format of a body from its first bytes.
pub fn detect_payload(body: &[u8]) -> Payload {
    let b = trim_start(body);
    if b.starts_with(b"{") {
        return Payload::Json;
    }
    if b.starts_with(b"CEF:") {
        return Payload::Cef;
    }
    if b.starts_with(b"LEEF:") {
        return Payload::Leef;
    }
    if is_audit_record(b) {
        return Payload::Audit;
    }
    if b.starts_with(b"<Event>") || b.starts_with(b"<Event ") {
        return Payload::EventXml;
    }
    let key = b.iter().take_while(|&&c| is_key_byte(c)).count();
    if key > 0 && b.get(key) == Some(&b'=') {
        return Payload::Kv;
    }
    match b.first() {
        // The line formats of servers, told by their first byte before anything is read.
        Some(c) if c.is_ascii_hexdigit() || *c == b':' => server_line(b),
        Some(b'q' | b'r' | b'c') if dns::is_dns_log(b) => Payload::DnsLog,
        _ => Payload::Plain,
    }
}

/// An access log line (its client's address first) or a squid line (its time first), else
/// plain. Out of line: most bodies never get here.
#[inline(never)]
fn server_line(b: &[u8]) -> Payload {
    if access::is_access_log(b) {
        Payload::AccessLog
    } else if proxy::is_squid_log(b) {
        Payload::ProxyLog
    } else if dns::is_dns_log(b) {
        // BIND's and dnsmasq's lines start with a letter that is also a hex digit (`c`).
        Payload::DnsLog
    } else {
        Payload::Plain
    }
}

/// Whether a kernel message's body is a netfilter log line (iptables' or nftables' `LOG`
/// target, ufw): an optional prefix (`[UFW BLOCK] `, `IPTABLES-DROP: `), then `IN=` and
/// `OUT=` pairs and the packet's (`SRC=`, `DST=`, `PROTO=`, `DPT=` ...). Read as key=value,
/// the prefix and the flags (`DF`, `SYN`) left out.
pub fn is_netfilter_log(body: &[u8]) -> bool {
    let at_token = |i: usize| i == 0 || body[i - 1] == b' ';
    let Some(input) = body
        .windows(3)
        .enumerate()
        .position(|(i, w)| w == b"IN=" && at_token(i))
    else {
        return false;
    };
    body[input..].windows(5).any(|w| w == b" OUT=")
}

/// Whether `body` reads as `kind` ([`Fields::valid`] of a fresh iterator), without making one
/// for the formats read in a loop of their own, or for a plain body.
pub fn valid(kind: Payload, body: &[u8]) -> bool {
    match kind {
        Payload::Plain => true,
        Payload::Cef => cef_scan(body, |_| {}),
        Payload::Json => json_scan(body, |_| {}),
        _ => Fields::new(kind, body).walk_valid(),
    }
}

impl<'a> Fields<'a> {
    /// Whether the whole body reads as its format (a fresh iterator runs to the end). CEF and
    /// JSON are checked in one loop each (`cef_scan`, `json_scan`), the others by walking
    /// their fields.
    pub fn valid(&self) -> bool {
        match self.state {
            State::Start => valid(self.kind, self.marks.hay()),
            _ => self.walk_valid(),
        }
    }

    /// [`Fields::valid`] by walking the fields, whatever the format: the oracle of the tests.
    pub(crate) fn walk_valid(&self) -> bool {
        let mut it = self.clone();
        while it.next().is_some() {}
        it.state != State::Failed
    }

    fn header(&mut self, names: &'static [&'static str], prefix: &[u8]) -> Option<Field<'a>> {
        let i = match self.state {
            State::Start => {
                let Some(r) = trim_start(self.rest).strip_prefix(prefix) else {
                    return self.fail();
                };
                self.rest = r;
                0
            }
            State::Header(i) => i,
            _ => unreachable!("only called in header states"),
        };
        let Some((value, escaped)) = self.header_value() else {
            return self.fail();
        };
        if self.kind == Payload::Leef && i == 0 {
            self.leef_version = value;
        }
        self.state = if i + 1 == names.len() {
            State::Pairs
        } else {
            State::Header(i + 1)
        };
        // LEEF 2.0 names its attribute delimiter after the event id: a character, or its code
        // as `x09` / `0x09`.
        if self.kind == Payload::Leef && i + 1 == names.len() && self.leef_version.starts_with(b"2")
        {
            let Some((d, _)) = self.header_value() else {
                return self.fail();
            };
            self.delimiter = match leef_delimiter(d) {
                Some(c) => c,
                None => return self.fail(),
            };
        }
        Some(Field {
            key: names[i].as_bytes(),
            value,
            escaped,
        })
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Field<'a>;

    fn next(&mut self) -> Option<Field<'a>> {
        match (self.kind, self.state) {
            (_, State::Done | State::Failed) | (Payload::Plain, _) => None,
            (Payload::Json, _) => self.json(),
            (Payload::Cef, State::Start | State::Header(_)) => self.header(&CEF_HEADER, b"CEF:"),
            (Payload::Cef, State::Pairs) => self.cef_pair(),
            (Payload::Leef, State::Start | State::Header(_)) => self.header(&LEEF_HEADER, b"LEEF:"),
            (Payload::Leef, State::Pairs) => self.leef_pair(),
            (Payload::Kv, _) => self.kv_pair(),
            (Payload::Audit, _) => self.audit_pair(),
            (Payload::EventXml, _) => self.xml_field(),
            (Payload::AccessLog, _) => self.access_field(),
            (Payload::DnsLog, _) => self.dns_field(),
            (Payload::ProxyLog, _) => self.proxy_field(),
        }
    }
}

#[cfg(test)]
mod tests;
