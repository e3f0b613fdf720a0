//! The kernel's IP statistics for this network namespace (/proc/net/snmp and snmp6): the
//! datagrams it could not reassemble from the fragments the XDP program passed on.

use std::{fs, io};

/// IP reassembly failures (`ReasmFails`, `Ip6ReasmFails`): a datagram whose fragments
/// overlapped, timed out, or exceeded the reassembly memory. The kernel counts them for the
/// whole namespace, log traffic or not.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Reassembly {
    /// IPv4 reassembly failures.
    pub failed_v4: u64,
    /// IPv6 reassembly failures.
    pub failed_v6: u64,
}

impl Reassembly {
    /// Reads the counters now. A missing snmp6 (IPv6 disabled) counts as zero.
    pub fn read() -> io::Result<Self> {
        let v4 = snmp_value(&fs::read_to_string("/proc/net/snmp")?, "Ip:", "ReasmFails");
        let v6 = fs::read_to_string("/proc/net/snmp6")
            .ok()
            .and_then(|t| snmp6_value(&t, "Ip6ReasmFails"));
        Ok(Self {
            failed_v4: v4.unwrap_or(0),
            failed_v6: v6.unwrap_or(0),
        })
    }

    /// What was added since `earlier`.
    pub fn since(self, earlier: Self) -> Self {
        Self {
            failed_v4: self.failed_v4.saturating_sub(earlier.failed_v4),
            failed_v6: self.failed_v6.saturating_sub(earlier.failed_v6),
        }
    }

    /// Both families.
    pub fn failed(&self) -> u64 {
        self.failed_v4 + self.failed_v6
    }
}

/// A value from /proc/net/snmp, where a `Proto: names...` line is followed by a
/// `Proto: values...` line.
fn snmp_value(text: &str, proto: &str, field: &str) -> Option<u64> {
    let mut lines = text.lines().filter(|l| l.starts_with(proto));
    let names = lines.next()?;
    let values = lines.next()?;
    let i = names.split_whitespace().position(|n| n == field)?;
    values.split_whitespace().nth(i)?.parse().ok()
}

/// A value from /proc/net/snmp6, one `Name value` pair per line.
fn snmp6_value(text: &str, field: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let mut parts = l.split_whitespace();
        (parts.next()? == field).then(|| parts.next()?.parse().ok())?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_found_by_name() {
        let snmp = "Ip: Forwarding DefaultTTL ReasmOKs ReasmFails\nIp: 1 64 3 7\nIcmp: InMsgs\n\
                    Icmp: 1\n";
        assert_eq!(snmp_value(snmp, "Ip:", "ReasmFails"), Some(7));
        assert_eq!(snmp_value(snmp, "Ip:", "Missing"), None);
        let snmp6 = "Ip6ReasmOKs                 \t7\nIp6ReasmFails\t11\n";
        assert_eq!(snmp6_value(snmp6, "Ip6ReasmFails"), Some(11));
        assert_eq!(snmp6_value(snmp6, "Ip6Nothing"), None);
        let now = Reassembly {
            failed_v4: 9,
            failed_v6: 11,
        };
        assert_eq!(
            now.since(Reassembly {
                failed_v4: 7,
                failed_v6: 11
            })
            .failed(),
            2
        );
        Reassembly::read().expect("this host has /proc/net/snmp");
    }
}
