//! `key=value` pairs (logfmt) and Linux audit records in every form they reach syslog in.

use super::lex::*;
use super::walker::{Field, Fields, State};

impl<'a> Fields<'a> {
    /// `key=value` pairs separated by spaces; values may be double- or single-quoted with
    /// backslash escapes. Tokens that are not pairs are skipped.
    pub(super) fn kv_pair(&mut self) -> Option<Field<'a>> {
        loop {
            let s = trim_start(self.rest);
            if s.is_empty() {
                self.state = State::Done;
                return None;
            }
            let k = s.iter().take_while(|&&b| is_key_byte(b)).count();
            if k == 0 || s.get(k) != Some(&b'=') {
                let skip = s
                    .iter()
                    .position(|b| b.is_ascii_whitespace())
                    .unwrap_or(s.len());
                self.rest = &s[skip..];
                continue;
            }
            let key = &s[..k];
            let v = &s[k + 1..];
            let (value, escaped, rest) = match v.first() {
                Some(&q @ (b'"' | b'\'')) => {
                    let quote = if q == b'"' { QUOTE } else { SINGLE_QUOTE };
                    match self.until(&v[1..], quote) {
                        Some((end, escaped)) => (&v[1..1 + end], escaped, &v[end + 2..]),
                        None => (&v[1..], false, &[][..]),
                    }
                }
                _ => {
                    let n = v
                        .iter()
                        .position(|b| b.is_ascii_whitespace())
                        .unwrap_or(v.len());
                    (&v[..n], false, &v[n..])
                }
            };
            self.rest = rest;
            return Some(Field {
                key,
                value,
                escaped,
            });
        }
    }

    /// An audit record: `type=...`, then `msg=audit(TIME:SERIAL):` (the kernel writes
    /// `audit(TIME:SERIAL):`) given as the field `audit`, then ordinary pairs. A user-space
    /// record's quoted message of pairs (`msg='op=login acct="root" res=failed'`) is given
    /// whole as `msg`, then each of its pairs as a field of its own.
    pub(super) fn audit_pair(&mut self) -> Option<Field<'a>> {
        let s = trim_start(self.rest);
        if let Some(r) = s
            .strip_prefix(b"msg=audit(")
            .or_else(|| s.strip_prefix(b"audit("))
            && let Some(close) = r.iter().position(|&b| b == b')')
        {
            self.rest = r[close + 1..].strip_prefix(b":").unwrap_or(&r[close + 1..]);
            return Some(Field {
                key: b"audit",
                value: &r[..close],
                escaped: false,
            });
        }
        if !self.in_msg
            && let Some(inner) = s.strip_prefix(b"msg='")
            && let Some((end, escaped)) = self.until(inner, SINGLE_QUOTE)
            && inner[..end].contains(&b'=')
        {
            // Read on inside the quotes; the pair that ends at the closing quote leaves them.
            self.rest = inner;
            self.in_msg = true;
            return Some(Field {
                key: &s[..3],
                value: &inner[..end],
                escaped,
            });
        }
        let mut f = self.kv_pair()?;
        if self.in_msg {
            if let Some(v) = f.value.strip_suffix(b"'") {
                f.value = v;
                self.in_msg = false;
            } else if let Some(r) = self.rest.strip_prefix(b"'") {
                self.rest = r;
                self.in_msg = false;
            }
        }
        Some(f)
    }
}

/// Whether `b` (white space trimmed at the start) is a Linux audit record in one of the forms
/// it reaches syslog in: `type=X msg=audit(TIME:SERIAL): ...` (auditd's own log, audit 3's
/// `audisp-syslog`), with a `node=NAME ` before it (audit 2's `audispd`), or the kernel's
/// `audit: type=1400 audit(TIME:SERIAL): ...`, also after a `[seconds]` kernel timestamp.
pub(super) fn is_audit_record(b: &[u8]) -> bool {
    let mut b = b;
    // The kernel's stamp holds digits, blanks and a dot only: other bracketed starts (Apache's
    // `[Sun Dec 04 ...]`, a `[pid]`) are given up at their first other byte.
    if let Some(stamp) = b.strip_prefix(b"[") {
        let n = stamp
            .iter()
            .take(32)
            .take_while(|&&c| c.is_ascii_digit() || c == b' ' || c == b'.')
            .count();
        if stamp.get(n) == Some(&b']') {
            b = trim_start(&stamp[n + 1..]);
        }
    }
    let kernel = b.starts_with(b"audit:");
    if kernel {
        b = trim_start(&b[6..]);
    }
    if let Some(node) = b.strip_prefix(b"node=") {
        let n = node
            .iter()
            .position(u8::is_ascii_whitespace)
            .unwrap_or(node.len());
        b = trim_start(&node[n..]);
    }
    let Some(rest) = b.strip_prefix(b"type=") else {
        return false;
    };
    // The record's stamp follows its type.
    let t = rest
        .iter()
        .position(u8::is_ascii_whitespace)
        .unwrap_or(rest.len());
    let after = trim_start(&rest[t..]);
    after.starts_with(b"msg=audit(") || (kernel && after.starts_with(b"audit("))
}
