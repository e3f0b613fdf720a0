//! CIDR prefixes and the longest-prefix lookup over them, for IPv4 and IPv6 alike: the source
//! filter's verdicts ([`super::filter`]) and the senders' time zones
//! ([`super::pipeline::zones`]) are both tables of this kind.

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    str::FromStr,
};

/// Why a CIDR prefix does not read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PrefixError {
    /// The address part is not an IP address.
    #[error("{cidr:?}: not an IP address")]
    Address {
        /// The prefix as written.
        cidr: String,
    },
    /// The length is not a number within the family's bits.
    #[error("{cidr:?}: the prefix length must be 0..={max}")]
    Length {
        /// The prefix as written.
        cidr: String,
        /// 32 or 128.
        max: u8,
    },
}

/// A CIDR prefix: a network address (host bits cleared) and a length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Prefix {
    /// Network address, host bits cleared.
    pub addr: IpAddr,
    /// Prefix length.
    pub len: u8,
}

impl Prefix {
    /// Parses `ADDR/LEN`, or a bare address (one host). Host bits are cleared.
    pub fn parse(cidr: &str) -> Result<Self, PrefixError> {
        let (addr, len) = match cidr.split_once('/') {
            Some((addr, len)) => (addr, Some(len)),
            None => (cidr, None),
        };
        let addr = IpAddr::from_str(addr).map_err(|_| PrefixError::Address {
            cidr: cidr.to_string(),
        })?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len = match len {
            Some(len) => u8::from_str(len)
                .ok()
                .filter(|&l| l <= max)
                .ok_or_else(|| PrefixError::Length {
                    cidr: cidr.to_string(),
                    max,
                })?,
            None => max,
        };
        let addr = match addr {
            IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask_v4(len))),
            IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask_v6(len))),
        };
        Ok(Self { addr, len })
    }
}

impl std::fmt::Display for Prefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

fn mask_v4(len: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0)
}

fn mask_v6(len: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0)
}

/// The prefixes of one length, by their network address.
#[derive(Clone, Debug)]
struct Level<A, V> {
    len: u8,
    values: HashMap<A, V>,
}

/// Values by prefix, looked up by the longest prefix that holds an address: one hash probe
/// per prefix length in use, longest first (tables here hold a few lengths).
#[derive(Clone, Debug)]
pub struct PrefixMap<V> {
    /// Longest prefixes first.
    v4: Vec<Level<u32, V>>,
    /// Longest prefixes first.
    v6: Vec<Level<u128, V>>,
}

impl<V> Default for PrefixMap<V> {
    fn default() -> Self {
        Self {
            v4: Vec::new(),
            v6: Vec::new(),
        }
    }
}

impl<V> PrefixMap<V> {
    /// Sets the value of `prefix`, returning the one it had.
    pub fn insert(&mut self, prefix: Prefix, value: V) -> Option<V> {
        match prefix.addr {
            IpAddr::V4(a) => level(&mut self.v4, prefix.len).insert(u32::from(a), value),
            IpAddr::V6(a) => level(&mut self.v6, prefix.len).insert(u128::from(a), value),
        }
    }

    /// Whether it holds no prefix.
    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    /// The value of the longest prefix that holds `ip`. IPv4-mapped IPv6 addresses (a
    /// dual-stack socket's view of an IPv4 sender) are looked up as the IPv4 address they are.
    pub fn longest(&self, ip: IpAddr) -> Option<&V> {
        match ip.to_canonical() {
            IpAddr::V4(a) => longest(&self.v4, u32::from(a), mask_v4),
            IpAddr::V6(a) => longest(&self.v6, u128::from(a), mask_v6),
        }
    }
}

/// The table of prefixes of length `len`, made (in order, longest first) if new.
fn level<A, V>(levels: &mut Vec<Level<A, V>>, len: u8) -> &mut HashMap<A, V> {
    let i = match levels.iter().position(|l| l.len == len) {
        Some(i) => i,
        None => {
            let at = levels.partition_point(|l| l.len > len);
            levels.insert(
                at,
                Level {
                    len,
                    values: HashMap::new(),
                },
            );
            at
        }
    };
    &mut levels[i].values
}

/// The value of the longest prefix in `levels` (longest first) that holds `addr`.
fn longest<A, V>(levels: &[Level<A, V>], addr: A, mask: fn(u8) -> A) -> Option<&V>
where
    A: Copy + Eq + std::hash::Hash + std::ops::BitAnd<Output = A>,
{
    levels
        .iter()
        .find_map(|l| l.values.get(&(addr & mask(l.len))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn prefixes_parse_and_lose_their_host_bits() {
        let p = Prefix::parse("198.18.7.9/16").unwrap();
        assert_eq!((p.addr, p.len), (ip("198.18.0.0"), 16));
        let p = Prefix::parse("2001:2::1/48").unwrap();
        assert_eq!((p.addr, p.len), (ip("2001:2::"), 48));
        assert_eq!(Prefix::parse("198.18.0.1").unwrap().len, 32);
        let p = Prefix::parse("0.0.0.0/0").unwrap();
        assert_eq!((p.addr, p.len), (ip("0.0.0.0"), 0));
        assert!(matches!(
            Prefix::parse("198.18.0.0/33"),
            Err(PrefixError::Length { max: 32, .. })
        ));
        assert!(Prefix::parse("::/129").is_err());
        assert!(matches!(
            Prefix::parse("host/8"),
            Err(PrefixError::Address { .. })
        ));
    }

    #[test]
    fn the_longest_prefix_holding_an_address_answers() {
        let mut m = PrefixMap::default();
        assert!(m.is_empty());
        for (cidr, v) in [
            ("198.18.0.0/16", 16),
            ("198.18.200.0/24", 24),
            ("0.0.0.0/0", 0),
            ("198.18.200.2", 32),
            ("2001:2::/48", 48),
        ] {
            assert_eq!(m.insert(Prefix::parse(cidr).unwrap(), v), None);
        }
        assert_eq!(
            m.insert(Prefix::parse("198.18.9.9/16").unwrap(), 16),
            Some(16)
        );
        assert_eq!(m.longest(ip("198.18.200.2")), Some(&32));
        assert_eq!(m.longest(ip("198.18.200.3")), Some(&24));
        assert_eq!(m.longest(ip("198.18.1.1")), Some(&16));
        assert_eq!(m.longest(ip("203.0.113.1")), Some(&0));
        assert_eq!(
            m.longest(ip("::ffff:198.18.200.2")),
            Some(&32),
            "IPv4-mapped"
        );
        assert_eq!(m.longest(ip("2001:2::9")), Some(&48));
        assert_eq!(m.longest(ip("2001:3::9")), None);
    }
}
