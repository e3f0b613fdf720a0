//! What auditd writes in its own encodings, read as an analyst (and a rule) means it:
//! untrusted strings as hex (`a0=2F62696E2F7368` is `/bin/sh`; `proctitle`'s arguments are
//! separated by NULs, read as spaces), and system calls by number (`syscall=59` on x86_64 is
//! `execve`). Nothing here allocates: a decoded value is written into the caller's buffer.

use super::{Event, Payload, audit_syscalls};

/// The fields auditd hex-encodes when their value holds a space, a double quote, a control
/// character or a byte above 0x7e (its "untrusted strings"): the command line (`proctitle`,
/// `EXECVE`'s `a0`, `a1`, ... and the parts `a1[0]` of a long one), the program (`comm`,
/// `exe`), paths (`cwd`, `name`, `path`), and `cmd`, `key`, `data`, `acct`.
pub fn may_be_hex(key: &[u8]) -> bool {
    const KEYS: [&[u8]; 10] = [
        b"proctitle",
        b"comm",
        b"exe",
        b"cwd",
        b"name",
        b"path",
        b"cmd",
        b"key",
        b"data",
        b"acct",
    ];
    if KEYS.iter().any(|k| key.eq_ignore_ascii_case(k)) {
        return true;
    }
    // a<N> and a<N>[<M>]
    let Some(rest) = key.strip_prefix(b"a") else {
        return false;
    };
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    digits > 0
        && match &rest[digits..] {
            [] => true,
            [b'[', inner @ .., b']'] => !inner.is_empty() && inner.iter().all(u8::is_ascii_digit),
            _ => false,
        }
}

/// Whether `value`, the value of field `key` of `e`, is a hex-encoded string: `e` is an audit
/// record, `key` one auditd encodes ([`may_be_hex`]), and the value is unquoted (auditd quotes
/// the strings it leaves as they are), of even length, and uppercase hex digits only.
pub fn is_hex_encoded(e: &Event<'_>, key: &[u8], value: &[u8]) -> bool {
    e.payload == Payload::Audit
        && value.len() >= 2
        && value.len().is_multiple_of(2)
        && value
            .iter()
            .all(|&b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
        && may_be_hex(key)
        && !quoted(e.input, value)
}

/// Whether `value`, a part of `input`, has a double quote just before it.
fn quoted(input: &[u8], value: &[u8]) -> bool {
    let (base, at) = (input.as_ptr() as usize, value.as_ptr() as usize);
    match at.checked_sub(base) {
        Some(start) if start > 0 && start + value.len() <= input.len() => input[start - 1] == b'"',
        // Not in the message (or at its start): taken as unquoted only if in it.
        Some(0) => false,
        _ => true,
    }
}

/// Decodes the hex string `hex` into `out`, as much as fits; NULs (between `proctitle`'s
/// arguments) become spaces. Returns the decoded bytes.
pub fn decode_hex<'o>(hex: &[u8], out: &'o mut [u8]) -> &'o [u8] {
    let nibble = |b: u8| match b {
        b'0'..=b'9' => b - b'0',
        b'A'..=b'F' => b - b'A' + 10,
        b'a'..=b'f' => b - b'a' + 10,
        _ => 0,
    };
    let n = (hex.len() / 2).min(out.len());
    for (o, pair) in out[..n].iter_mut().zip(hex.chunks_exact(2)) {
        let b = nibble(pair[0]) << 4 | nibble(pair[1]);
        *o = if b == 0 { b' ' } else { b };
    }
    // The trailing NUL of the last argument is no space.
    let mut end = n;
    while end > 0 && out[end - 1] == b' ' && hex.len() / 2 <= out.len() {
        end -= 1;
    }
    &out[..end]
}

/// The name of system call `nr` (decimal) on audit's `arch` (`c000003e` is x86_64, the only
/// table kept), or `None`.
pub fn syscall_name(arch: &[u8], nr: &[u8]) -> Option<&'static str> {
    if !arch.eq_ignore_ascii_case(b"c000003e") {
        return None;
    }
    let nr: usize = std::str::from_utf8(nr).ok()?.parse().ok()?;
    audit_syscalls::X86_64
        .get(nr)
        .copied()
        .filter(|n| !n.is_empty())
}

/// Longest decoded value a rule sees; a longer one is cut.
pub const DECODED_MAX: usize = 4096;

/// Calls `f` with what the value of field `key` of the audit record `e` means besides its
/// text, until it returns true: a hex-encoded string decoded, a system call's name. Returns
/// whether `f` did.
pub fn derived_values(
    e: &Event<'_>,
    key: &[u8],
    value: &[u8],
    mut f: impl FnMut(&[u8]) -> bool,
) -> bool {
    if e.payload != Payload::Audit {
        return false;
    }
    if is_hex_encoded(e, key, value) {
        let mut buf = [0u8; DECODED_MAX];
        return f(decode_hex(value, &mut buf));
    }
    if key.eq_ignore_ascii_case(b"syscall") && value.iter().all(u8::is_ascii_digit) {
        let arch = e
            .fields()
            .find(|x| x.key.eq_ignore_ascii_case(b"arch"))
            .map_or(&b""[..], |x| x.value);
        if let Some(name) = syscall_name(arch, value) {
            return f(name.as_bytes());
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::{ParseOptions, parse};

    #[test]
    fn hex_strings_of_the_fields_auditd_encodes_are_decoded() {
        let mut buf = [0u8; 64];
        assert_eq!(decode_hex(b"2F62696E2F7368", &mut buf), b"/bin/sh");
        // proctitle: the arguments between NULs.
        assert_eq!(decode_hex(b"62617368002D63006964", &mut buf), b"bash -c id");
        assert_eq!(decode_hex(b"41424344", &mut [0u8; 2]), b"AB", "cut to fit");
        for key in ["a0", "a12", "a1[0]", "proctitle", "EXE", "name", "cwd"] {
            assert!(may_be_hex(key.as_bytes()), "{key}");
        }
        for key in ["a", "ab", "a1[]", "a1[x]", "arch", "syscall", "uid", "a0x"] {
            assert!(!may_be_hex(key.as_bytes()), "{key}");
        }
    }

    #[test]
    fn only_unquoted_uppercase_hex_in_an_audit_record_is_a_hex_string() {
        let line =
            b"<14>Dec  7 10:00:00 h audisp-syslog: type=EXECVE msg=audit(1765101600.123:42): \
                     argc=2 a0=\"cat\" a1=2F6574632F736861646F77 a2=\"ABCD\"";
        let e = parse(line, &ParseOptions::default());
        assert_eq!(e.payload, Payload::Audit);
        let value = |k: &[u8]| e.fields().find(|f| f.key == k).unwrap().value;
        assert!(is_hex_encoded(&e, b"a1", value(b"a1")));
        assert!(!is_hex_encoded(&e, b"a2", value(b"a2")), "quoted");
        assert!(!is_hex_encoded(&e, b"a0", value(b"a0")));
        assert!(
            !is_hex_encoded(&e, b"argc", value(b"argc")),
            "not a string field"
        );
        let mut seen = Vec::new();
        derived_values(&e, b"a1", value(b"a1"), |v| {
            seen.push(v.to_vec());
            false
        });
        assert_eq!(seen, [b"/etc/shadow".to_vec()]);
    }

    #[test]
    fn system_calls_are_named_on_x86_64() {
        assert_eq!(syscall_name(b"c000003e", b"59"), Some("execve"));
        assert_eq!(syscall_name(b"C000003E", b"2"), Some("open"));
        assert_eq!(syscall_name(b"c000003e", b"99999"), None);
        assert_eq!(
            syscall_name(b"40000003", b"11"),
            None,
            "i386 has no table here"
        );
        let e = parse(
            b"type=SYSCALL msg=audit(1765101600.123:42): arch=c000003e syscall=59 success=yes \
              exe=\"/usr/bin/cat\"",
            &ParseOptions::default(),
        );
        let nr = e.fields().find(|f| f.key == b"syscall").unwrap().value;
        assert!(derived_values(&e, b"syscall", nr, |v| v == b"execve"));
    }
}
