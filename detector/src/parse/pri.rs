//! The `<PRI>` prefix shared by RFC 5424 and RFC 3164 messages.

/// Syslog facility: the code is `pri / 8`, 0..=23.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Facility(u8);

/// Syslog severity: the code is `pri % 8`, 0 (emergency) ..= 7 (debug).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Severity(u8);

const FACILITY_NAMES: [&str; 24] = [
    "kern",
    "user",
    "mail",
    "daemon",
    "auth",
    "syslog",
    "lpr",
    "news",
    "uucp",
    "cron",
    "authpriv",
    "ftp",
    "ntp",
    "security",
    "console",
    "solaris-cron",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
];

const SEVERITY_NAMES: [&str; 8] = [
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];

impl Facility {
    /// The numeric code.
    pub const fn code(self) -> u8 {
        self.0
    }

    /// The keyword of RFC 5424 table 1 as syslog implementations print it (`auth`, `local0`).
    pub fn name(self) -> &'static str {
        FACILITY_NAMES[usize::from(self.0)]
    }
}

impl Severity {
    /// The numeric code.
    pub const fn code(self) -> u8 {
        self.0
    }

    /// The keyword of RFC 5424 table 2 as syslog implementations print it (`err`, `info`).
    pub fn name(self) -> &'static str {
        SEVERITY_NAMES[usize::from(self.0)]
    }
}

/// A decoded `<PRI>` value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pri {
    /// Facility, `pri / 8`.
    pub facility: Facility,
    /// Severity, `pri % 8`.
    pub severity: Severity,
}

/// Why a `<PRI>` prefix could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PriError {
    /// The message does not start with `<`.
    Missing,
    /// No `>` within the 3 digits RFC 5424 allows, or a non-digit inside the brackets.
    Malformed,
    /// A number above 191 (facility 23, severity 7), or with a leading zero (RFC 5424 6.2.1).
    OutOfRange,
}

/// Reads the `<PRI>` prefix of a syslog message and returns it with the rest of the message.
///
/// RFC 5424 section 6.2.1: one to three digits, no leading zeros except for `<0>`, at most 191.
pub fn parse_pri(msg: &[u8]) -> Result<(Pri, &[u8]), PriError> {
    let rest = match msg.split_first() {
        Some((b'<', rest)) => rest,
        _ => return Err(PriError::Missing),
    };
    let digits = rest
        .iter()
        .take(4)
        .take_while(|b| b.is_ascii_digit())
        .count();
    if digits == 0 || digits > 3 || rest.get(digits) != Some(&b'>') {
        return Err(PriError::Malformed);
    }
    if digits > 1 && rest[0] == b'0' {
        return Err(PriError::OutOfRange);
    }
    let value = rest[..digits]
        .iter()
        .fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0'));
    if value > 191 {
        return Err(PriError::OutOfRange);
    }
    let value = value as u8;
    let pri = Pri {
        facility: Facility(value / 8),
        severity: Severity(value % 8),
    };
    Ok((pri, &rest[digits + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(msg: &[u8]) -> (u8, u8, &[u8]) {
        let (pri, rest) = parse_pri(msg).expect("valid PRI");
        (pri.facility.code(), pri.severity.code(), rest)
    }

    #[test]
    fn rfc5424_examples() {
        // RFC 5424 section 6.5, examples 1 and 3: <34> is auth.crit, <165> is local4.notice.
        assert_eq!(
            ok(b"<34>1 2003-10-11T22:14:15.003Z"),
            (4, 2, &b"1 2003-10-11T22:14:15.003Z"[..])
        );
        let (pri, _) = parse_pri(b"<165>1 -").unwrap();
        assert_eq!(
            (pri.facility.name(), pri.severity.name()),
            ("local4", "notice")
        );
    }

    #[test]
    fn bounds() {
        assert_eq!(ok(b"<0>x"), (0, 0, &b"x"[..]));
        assert_eq!(ok(b"<191>"), (23, 7, &b""[..]));
        assert_eq!(parse_pri(b"<192>x"), Err(PriError::OutOfRange));
        assert_eq!(parse_pri(b"<013>x"), Err(PriError::OutOfRange));
    }

    #[test]
    fn malformed_inputs_are_errors_not_panics() {
        assert_eq!(parse_pri(b""), Err(PriError::Missing));
        assert_eq!(parse_pri(b"Jan  1 host"), Err(PriError::Missing));
        assert_eq!(parse_pri(b"<"), Err(PriError::Malformed));
        assert_eq!(parse_pri(b"<>"), Err(PriError::Malformed));
        assert_eq!(parse_pri(b"<1a>"), Err(PriError::Malformed));
        assert_eq!(parse_pri(b"<1234>"), Err(PriError::Malformed));
        assert_eq!(parse_pri(b"<12"), Err(PriError::Malformed));
    }

    #[test]
    fn every_byte_pair_is_handled() {
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                let _ = parse_pri(&[b'<', a, b, b'>']);
            }
        }
    }
}
