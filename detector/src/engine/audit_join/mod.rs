//! The records of one audit event joined into a process creation, so that Sigma's
//! `process_creation` rules run on hosts that have only auditd, and a rule can read the
//! SYSCALL, EXECVE, CWD and PATH fields of an `execve` together. auditd writes an `execve` as
//! several records of one `msg=audit(time:serial)`: `SYSCALL` (the program, the process and its
//! parent, the user), `EXECVE` (the arguments), `CWD`, one `PATH` per file, `PROCTITLE`, and in
//! its own log an `EOE` that ends the event. They are gathered per event (and sender) from the
//! SYSCALL of an `execve` on, and when the `PROCTITLE` or `EOE` comes (or, without either, a
//! second after the last record, at [`AuditJoin::flush`]), one record is written with
//! Sysmon's field names first and then every field of the records under its own name:
//!
//! `type=PROCESS_CREATION msg=audit(T:S): Image="/usr/bin/curl" ProcessId="4242"
//! ParentProcessId="4200" User="1000" LogonUser="1000" CommandName="curl" syscall="execve" ...
//! CurrentDirectory="/home/ann" cwd="/home/ann" name="/usr/bin/curl" ... CommandLine="curl -s
//! http://x" argc="3" a0="curl" ...`
//!
//! Values are decoded (hex strings, system call names). Left out: each record's `type` and
//! `msg`, and the SYSCALL's register arguments `a0` to `a3` (EXECVE's arguments take those
//! names). An event without an EXECVE (a failed `execve`) is let go.
//!
//! Memory is fixed: [`SLOTS`] events, each in two buffers of [`PART_MAX`] bytes (the SYSCALL,
//! CWD, PATH and PROCTITLE fields; the command line and arguments), so the record is at most
//! [`JOINED_MAX`] bytes and a field that does not fit is cut, its quotes kept. A SYSCALL whose
//! slot is taken by another event writes that one out if it has its EXECVE, else evicts it
//! (counted). Nothing is allocated after construction.

use std::hash::Hasher;

use crate::parse::{Event, Payload, audit};

/// Events gathered at once, at most.
pub const SLOTS: usize = 128;
/// Bytes of each of an event's two parts.
pub const PART_MAX: usize = 1024;
/// Longest joined record, bytes.
pub const JOINED_MAX: usize = 2 * PART_MAX;
/// How long an event's records are waited for after its SYSCALL, without an EXECVE.
pub const WINDOW_NS: u64 = 5_000_000_000;
/// How long after its last record an event that has its EXECVE but neither PROCTITLE nor EOE
/// is written out by [`AuditJoin::flush`].
pub const SETTLE_NS: u64 = 1_000_000_000;

/// The SYSCALL fields also written under Sysmon's names, and those names.
const SYSMON: [(&str, &str); 6] = [
    ("exe", "Image"),
    ("pid", "ProcessId"),
    ("ppid", "ParentProcessId"),
    ("uid", "User"),
    ("auid", "LogonUser"),
    ("comm", "CommandName"),
];

/// Part of a joined record, fixed in size; whatever does not fit is cut.
#[derive(Clone)]
struct Part {
    len: usize,
    bytes: [u8; PART_MAX],
}

impl Part {
    const EMPTY: Self = Self {
        len: 0,
        bytes: [0; PART_MAX],
    };

    fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// Appends as much of `b` as fits.
    fn put(&mut self, b: &[u8]) {
        let n = b.len().min(PART_MAX - self.len);
        self.bytes[self.len..self.len + n].copy_from_slice(&b[..n]);
        self.len += n;
    }

    /// Opens ` name="`, if there is room for it and its closing quote; the value's bytes go
    /// in with [`Part::text`], and [`Part::close`] ends it.
    fn open(&mut self, name: &[u8]) -> bool {
        if self.len + name.len() + 4 > PART_MAX {
            return false;
        }
        self.put(b" ");
        self.put(name);
        self.put(b"=\"");
        true
    }

    /// Appends value bytes, `"` and `\` escaped, keeping the last byte for the closing quote.
    fn text(&mut self, v: &[u8]) {
        for &b in v {
            let escaped = matches!(b, b'"' | b'\\');
            if self.len + 1 + usize::from(escaped) >= PART_MAX {
                return;
            }
            if escaped {
                self.bytes[self.len] = b'\\';
                self.len += 1;
            }
            self.bytes[self.len] = b;
            self.len += 1;
        }
    }

    fn close(&mut self) {
        self.bytes[self.len] = b'"';
        self.len += 1;
    }

    /// ` name="value"`, the value decoded as [`audit::derived_values`] reads it.
    fn field(&mut self, e: &Event<'_>, name: &[u8], key: &[u8], value: &[u8]) {
        if !self.open(name) {
            return;
        }
        if !audit::derived_values(e, key, value, |d| {
            self.text(d);
            true
        }) {
            self.text(value);
        }
        self.close();
    }
}

/// One event's records, gathered.
#[derive(Clone)]
struct Pending {
    /// Hash of the sender and `time:serial`; 0: free.
    key: u64,
    /// When its last record came.
    at_ns: u64,
    /// Whether its EXECVE came.
    execve: bool,
    /// The header, then the SYSCALL, CWD, PATH and PROCTITLE fields.
    head: Part,
    /// The command line, then EXECVE's fields.
    args: Part,
}

/// The join of an `execve`'s audit records.
pub struct AuditJoin {
    slots: Box<[Pending]>,
    /// Slots in use.
    pending: usize,
    evicted: u64,
    joined: Vec<u8>,
}

impl std::fmt::Debug for AuditJoin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditJoin")
            .field("waiting", &self.pending)
            .field("evicted", &self.evicted)
            .finish_non_exhaustive()
    }
}

impl Default for AuditJoin {
    fn default() -> Self {
        Self::new()
    }
}

/// A record's `type` and its event's `time:serial`.
fn record_id<'a>(e: &Event<'a>) -> (&'a [u8], &'a [u8]) {
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
    (kind, id)
}

/// Whether a SYSCALL record is an `execve` or `execveat`, or says too little to tell (a
/// number of an architecture whose table is not known).
fn is_exec(e: &Event<'_>) -> bool {
    let exec = |name: &[u8]| name == b"execve" || name == b"execveat";
    let mut verdict = None;
    for f in e.fields() {
        if f.key == b"SYSCALL" {
            // The name an enriched record gives.
            return exec(f.value);
        }
        if f.key == b"syscall" && verdict.is_none() {
            let mut named = false;
            audit::derived_values(e, f.key, f.value, |name| {
                named = true;
                verdict = Some(exec(name));
                true
            });
            if !named {
                let number = f.value.iter().all(u8::is_ascii_digit);
                verdict = Some(number || exec(f.value));
            }
        }
    }
    verdict.unwrap_or(false)
}

/// Fields not written under their own name: each record's `type` and `msg` (and the event's
/// id, in the header), and the SYSCALL's register arguments, whose names EXECVE's arguments
/// take.
fn left_out(kind: &[u8], key: &[u8]) -> bool {
    matches!(key, b"type" | b"audit" | b"msg")
        || (kind == b"SYSCALL" && matches!(key, b"a0" | b"a1" | b"a2" | b"a3"))
}

impl AuditJoin {
    /// Everything allocated now.
    pub fn new() -> Self {
        Self {
            slots: vec![
                Pending {
                    key: 0,
                    at_ns: 0,
                    execve: false,
                    head: Part::EMPTY,
                    args: Part::EMPTY,
                };
                SLOTS
            ]
            .into_boxed_slice(),
            pending: 0,
            evicted: 0,
            joined: Vec::with_capacity(JOINED_MAX),
        }
    }

    /// Events being gathered.
    pub fn waiting(&self) -> usize {
        self.pending
    }

    /// Events evicted before their EXECVE came.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Bytes its state takes.
    pub fn state_bytes(&self) -> usize {
        std::mem::size_of_val(&*self.slots) + JOINED_MAX
    }

    /// Takes one message at `now_ns`. Returns a joined record, a syslog line from the same
    /// host (valid until the next call), when this record ends an event that has its EXECVE,
    /// or when this SYSCALL takes the slot of such an event.
    pub fn add(&mut self, e: &Event<'_>, now_ns: u64) -> Option<&[u8]> {
        if e.payload != Payload::Audit {
            return None;
        }
        let (kind, id) = record_id(e);
        if id.is_empty() || kind.is_empty() {
            return None;
        }
        let mut h = crate::bounded::key_hasher();
        h.write(e.host.unwrap_or_default());
        h.write(id);
        let key = h.finish().max(1);
        let slot = (key % SLOTS as u64) as usize;
        if kind == b"SYSCALL" {
            if !is_exec(e) {
                return None;
            }
            let mut out = false;
            let p = &self.slots[slot];
            if p.key != 0 {
                if p.key != key && p.execve {
                    self.assemble(slot);
                    out = true;
                } else if p.key != key && now_ns.saturating_sub(p.at_ns) <= WINDOW_NS {
                    self.evicted += 1;
                }
                self.free(slot);
            }
            self.start(slot, key, e, id, now_ns);
            return out.then_some(&self.joined[..]);
        }
        let p = &mut self.slots[slot];
        if p.key != key {
            return None;
        }
        p.at_ns = now_ns;
        if kind == b"EXECVE" {
            p.execve = true;
            // The arguments, in order, decoded, one space between.
            if p.args.open(b"CommandLine") {
                let mut first = true;
                for f in e.fields() {
                    if !audit::may_be_hex(f.key) || f.key.first() != Some(&b'a') || f.key.len() < 2
                    {
                        continue;
                    }
                    if !first {
                        p.args.text(b" ");
                    }
                    first = false;
                    let args = &mut p.args;
                    if !audit::derived_values(e, f.key, f.value, |d| {
                        args.text(d);
                        true
                    }) {
                        p.args.text(f.value);
                    }
                }
                p.args.close();
            }
            for f in e.fields().filter(|f| !left_out(kind, f.key)) {
                p.args.field(e, f.key, f.key, f.value);
            }
            return None;
        }
        for f in e.fields().filter(|f| !left_out(kind, f.key)) {
            if kind == b"CWD" && f.key == b"cwd" {
                p.head.field(e, b"CurrentDirectory", f.key, f.value);
            }
            p.head.field(e, f.key, f.key, f.value);
        }
        if kind == b"PROCTITLE" || kind == b"EOE" {
            let complete = p.execve;
            if complete {
                self.assemble(slot);
            }
            self.free(slot);
            return complete.then_some(&self.joined[..]);
        }
        None
    }

    /// Writes out, through `emit` (the record and when its last record came), every event with
    /// its EXECVE whose last record came more than [`SETTLE_NS`] before `now_ns` (every one,
    /// at `u64::MAX`: the input is over), and lets go of those without one after
    /// [`WINDOW_NS`]. For the once-a-second tick.
    pub fn flush(&mut self, now_ns: u64, mut emit: impl FnMut(&[u8], u64)) {
        if self.pending == 0 {
            return;
        }
        for slot in 0..SLOTS {
            let p = &self.slots[slot];
            if p.key == 0 {
                continue;
            }
            let age = now_ns.saturating_sub(p.at_ns);
            if p.execve && (age > SETTLE_NS || now_ns == u64::MAX) {
                let at_ns = p.at_ns;
                self.assemble(slot);
                emit(&self.joined, at_ns);
                self.free(slot);
            } else if !p.execve && (age > WINDOW_NS || now_ns == u64::MAX) {
                self.free(slot);
            }
        }
    }

    fn start(&mut self, slot: usize, key: u64, e: &Event<'_>, id: &[u8], now_ns: u64) {
        self.pending += 1;
        let p = &mut self.slots[slot];
        p.key = key;
        p.at_ns = now_ns;
        p.execve = false;
        p.args.len = 0;
        let head = &mut p.head;
        head.len = 0;
        head.put(b"<14>1 - ");
        head.put(e.host.filter(|h| !h.is_empty()).unwrap_or(b"-"));
        head.put(b" audit - - - type=PROCESS_CREATION msg=audit(");
        head.put(id);
        head.put(b"):");
        for (key, name) in SYSMON {
            if let Some(f) = e.fields().find(|f| f.key == key.as_bytes()) {
                head.field(e, name.as_bytes(), f.key, f.value);
            }
        }
        for f in e.fields().filter(|f| !left_out(b"SYSCALL", f.key)) {
            head.field(e, f.key, f.key, f.value);
        }
    }

    fn free(&mut self, slot: usize) {
        self.slots[slot].key = 0;
        self.pending -= 1;
    }

    /// The event in `slot` as one record, into `joined`.
    fn assemble(&mut self, slot: usize) {
        let p = &self.slots[slot];
        self.joined.clear();
        self.joined.extend_from_slice(p.head.as_slice());
        self.joined.extend_from_slice(p.args.as_slice());
    }
}

#[cfg(test)]
mod tests;
