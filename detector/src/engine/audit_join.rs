//! The records of one audit event joined into a process creation, so that Sigma's
//! `process_creation` rules run on hosts that have only auditd. auditd writes an `execve` as
//! several records of one `msg=audit(time:serial)`: `SYSCALL` first (the program, the process
//! and its parent, the user), then `EXECVE` (the arguments), then `CWD`, `PATH`, `PROCTITLE`.
//! The SYSCALL's fields are kept a short while; when the EXECVE of the same event (and sender)
//! arrives, one record of Sigma's field names is written:
//!
//! `type=PROCESS_CREATION msg=audit(T:S): Image="/usr/bin/curl" CommandLine="curl -s http://x"
//! ProcessId=4242 ParentProcessId=4200 User=1000 LogonUser=1000 CommandName="curl"`
//!
//! Memory is fixed: [`SLOTS`] events, each field cut at [`FIELD_MAX`] bytes; a SYSCALL whose
//! slot is taken by another event not yet joined evicts it (counted), and one older than
//! [`WINDOW_NS`] is not joined. Nothing is allocated after construction.

use std::hash::Hasher;

use crate::parse::{Event, Payload, audit};

/// Events waiting for their EXECVE, at most.
pub const SLOTS: usize = 128;
/// Longest field kept, bytes.
pub const FIELD_MAX: usize = 128;
/// Longest joined record, bytes (its command line is cut to fit).
pub const JOINED_MAX: usize = 4096;
/// How long a SYSCALL waits for its EXECVE.
pub const WINDOW_NS: u64 = 5_000_000_000;

/// The SYSCALL fields kept, and the names they are written under.
const KEPT: [(&str, &str); 6] = [
    ("exe", "Image"),
    ("pid", "ProcessId"),
    ("ppid", "ParentProcessId"),
    ("uid", "User"),
    ("auid", "LogonUser"),
    ("comm", "CommandName"),
];

/// One event's SYSCALL, waiting.
#[derive(Clone)]
struct Waiting {
    /// Hash of the sender and `time:serial`; 0: free.
    key: u64,
    at_ns: u64,
    lens: [u8; KEPT.len()],
    values: [[u8; FIELD_MAX]; KEPT.len()],
}

/// The join of SYSCALL and EXECVE records.
pub struct AuditJoin {
    slots: Box<[Waiting]>,
    evicted: u64,
    joined: Vec<u8>,
}

impl std::fmt::Debug for AuditJoin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditJoin")
            .field("waiting", &self.waiting())
            .field("evicted", &self.evicted)
            .finish_non_exhaustive()
    }
}

impl Default for AuditJoin {
    fn default() -> Self {
        Self::new()
    }
}

impl AuditJoin {
    /// Everything allocated now.
    pub fn new() -> Self {
        Self {
            slots: vec![
                Waiting {
                    key: 0,
                    at_ns: 0,
                    lens: [0; KEPT.len()],
                    values: [[0; FIELD_MAX]; KEPT.len()],
                };
                SLOTS
            ]
            .into_boxed_slice(),
            evicted: 0,
            joined: Vec::with_capacity(JOINED_MAX),
        }
    }

    /// Events waiting for their EXECVE.
    pub fn waiting(&self) -> usize {
        self.slots.iter().filter(|w| w.key != 0).count()
    }

    /// Events evicted before their EXECVE came.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Bytes its state takes.
    pub fn state_bytes(&self) -> usize {
        std::mem::size_of_val(&*self.slots) + JOINED_MAX
    }

    /// Takes one message at `now_ns`: a SYSCALL record is kept; an EXECVE record whose SYSCALL
    /// is kept returns the joined record, a syslog line from the same host (valid until the
    /// next call).
    pub fn add(&mut self, e: &Event<'_>, now_ns: u64) -> Option<&[u8]> {
        if e.payload != Payload::Audit {
            return None;
        }
        let (mut kind, mut id) = (&b""[..], &b""[..]);
        for f in e.fields() {
            match f.key {
                b"type" if kind.is_empty() => kind = f.value,
                b"audit" if id.is_empty() => id = f.value,
                _ => {}
            }
            if !kind.is_empty() && !id.is_empty() {
                break;
            }
        }
        if id.is_empty() || !(kind == b"SYSCALL" || kind == b"EXECVE") {
            return None;
        }
        let mut h = crate::bounded::key_hasher();
        h.write(e.host.unwrap_or_default());
        h.write(id);
        let key = h.finish().max(1);
        let slot = (key % SLOTS as u64) as usize;
        if kind == b"SYSCALL" {
            let w = &mut self.slots[slot];
            if w.key != 0 && w.key != key && now_ns.saturating_sub(w.at_ns) <= WINDOW_NS {
                self.evicted += 1;
            }
            w.key = key;
            w.at_ns = now_ns;
            w.lens = [0; KEPT.len()];
            for f in e.fields() {
                let Some(k) = KEPT.iter().position(|(name, _)| f.key == name.as_bytes()) else {
                    continue;
                };
                let slot = &mut w.values[k];
                let mut n = 0;
                if !audit::derived_values(e, f.key, f.value, |d| {
                    n = d.len().min(FIELD_MAX);
                    slot[..n].copy_from_slice(&d[..n]);
                    true
                }) {
                    n = f.value.len().min(FIELD_MAX);
                    slot[..n].copy_from_slice(&f.value[..n]);
                }
                w.lens[k] = n as u8;
            }
            return None;
        }
        let w = &mut self.slots[slot];
        if w.key != key || now_ns.saturating_sub(w.at_ns) > WINDOW_NS {
            return None;
        }
        w.key = 0;
        let out = &mut self.joined;
        out.clear();
        put(out, b"<14>1 - ");
        put(out, e.host.filter(|h| !h.is_empty()).unwrap_or(b"-"));
        put(out, b" audit - - - type=PROCESS_CREATION msg=audit(");
        put(out, id);
        put(out, b"):");
        for (k, (_, name)) in KEPT.iter().enumerate() {
            let v = &w.values[k][..usize::from(w.lens[k])];
            if !v.is_empty() {
                put(out, b" ");
                put(out, name.as_bytes());
                put(out, b"=\"");
                quoted(out, v);
                put(out, b"\"");
            }
        }
        // The arguments, in order, decoded, one space between.
        put(out, b" CommandLine=\"");
        let mut first = true;
        for f in e.fields() {
            if !audit::may_be_hex(f.key) || f.key.first() != Some(&b'a') || f.key.len() < 2 {
                continue;
            }
            if !first {
                put(out, b" ");
            }
            first = false;
            if !audit::derived_values(e, f.key, f.value, |d| {
                quoted(out, d);
                true
            }) {
                quoted(out, f.value);
            }
        }
        // Room for the closing quote, whatever was cut.
        out.truncate(JOINED_MAX - 1);
        out.push(b'"');
        Some(&self.joined)
    }
}

/// Appends as much of `bytes` as fits in [`JOINED_MAX`] - 1.
fn put(out: &mut Vec<u8>, bytes: &[u8]) {
    let room = (JOINED_MAX - 1).saturating_sub(out.len());
    out.extend_from_slice(&bytes[..bytes.len().min(room)]);
}

/// Appends `v` for a double-quoted value: `"` and `\` escaped.
fn quoted(out: &mut Vec<u8>, v: &[u8]) {
    for &b in v {
        if matches!(b, b'"' | b'\\') {
            put(out, b"\\");
        }
        put(out, &[b]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::{ParseOptions, parse};

    const SYSCALL: &str = "<85>Nov 22 10:00:00 web1 audisp-syslog: type=SYSCALL \
        msg=audit(1700000000.123:4242): arch=c000003e syscall=59 success=yes exit=0 ppid=1000 \
        pid=1234 auid=1000 uid=0 comm=\"curl\" exe=\"/usr/bin/curl\" key=(null)";

    fn execve(serial: u32, args: &str) -> String {
        format!(
            "<85>Nov 22 10:00:00 web1 audisp-syslog: type=EXECVE \
             msg=audit(1700000000.123:{serial}): argc=3 {args}"
        )
    }

    fn add(j: &mut AuditJoin, line: &str, now: u64) -> Option<String> {
        let e = parse(line.as_bytes(), &ParseOptions::default());
        j.add(&e, now)
            .map(|b| String::from_utf8_lossy(b).into_owned())
    }

    #[test]
    fn a_syscall_and_its_execve_make_a_process_creation() {
        let mut j = AuditJoin::new();
        assert_eq!(add(&mut j, SYSCALL, 0), None);
        assert_eq!(j.waiting(), 1);
        let joined = add(
            &mut j,
            &execve(
                4242,
                "a0=\"curl\" a1=\"-s\" a2=687474703A2F2F782F6120622E7368",
            ),
            1,
        )
        .expect("joined");
        assert_eq!(
            joined,
            "<14>1 - web1 audit - - - type=PROCESS_CREATION msg=audit(1700000000.123:4242): \
             Image=\"/usr/bin/curl\" ProcessId=\"1234\" ParentProcessId=\"1000\" User=\"0\" \
             LogonUser=\"1000\" CommandName=\"curl\" CommandLine=\"curl -s http://x/a b.sh\""
        );
        assert_eq!(j.waiting(), 0, "joined once");
        let e = parse(joined.as_bytes(), &ParseOptions::default());
        assert_eq!(e.payload, Payload::Audit);
        let value = |k: &[u8]| e.fields().find(|f| f.key == k).map(|f| f.value.to_vec());
        assert_eq!(
            value(b"CommandLine"),
            Some(b"curl -s http://x/a b.sh".to_vec())
        );
        assert_eq!(e.host, Some(&b"web1"[..]));
    }

    #[test]
    fn another_event_a_late_execve_or_a_full_table_do_not_join() {
        let mut j = AuditJoin::new();
        add(&mut j, SYSCALL, 0);
        assert_eq!(
            add(&mut j, &execve(4243, "a0=\"ls\""), 1),
            None,
            "another serial"
        );
        assert_eq!(
            add(&mut j, &execve(4242, "a0=\"ls\""), WINDOW_NS + 1),
            None,
            "too late"
        );
        // Another host, same serial.
        let mut j = AuditJoin::new();
        add(&mut j, &SYSCALL.replace("web1", "web2"), 0);
        assert_eq!(add(&mut j, &execve(4242, "a0=\"ls\""), 1), None);
        // More events than slots: some are evicted, counted.
        let mut j = AuditJoin::new();
        for serial in 0..(2 * SLOTS as u32) {
            add(&mut j, &SYSCALL.replace("4242", &serial.to_string()), 0);
        }
        assert!(j.evicted() > 0 && j.waiting() <= SLOTS);
        // A plain message, a PATH record: nothing.
        assert_eq!(add(&mut j, "<13>Nov 22 10:00:00 h app: hello", 0), None);
    }

    #[test]
    fn quotes_in_values_stay_inside_them() {
        let mut j = AuditJoin::new();
        add(&mut j, SYSCALL, 0);
        // `sh -c 'echo "x"'`: hex, as auditd writes an argument with quotes.
        let hex = |s: &str| s.bytes().map(|b| format!("{b:02X}")).collect::<String>();
        let joined = add(
            &mut j,
            &execve(
                4242,
                &format!("a0=\"sh\" a1=\"-c\" a2={}", hex("echo \"x\\\"")),
            ),
            1,
        )
        .unwrap();
        let e = parse(joined.as_bytes(), &ParseOptions::default());
        let cl = e.fields().find(|f| f.key == b"CommandLine").unwrap();
        let mut v = Vec::new();
        crate::parse::unescape_into(cl.value, &mut v);
        assert_eq!(v, b"sh -c echo \"x\\\"");
    }
}
