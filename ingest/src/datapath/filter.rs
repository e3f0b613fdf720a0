//! The source filter: which senders may deliver log messages. One list of prefixes with
//! verdicts; the longest matching prefix decides, and a default covers the rest
//! ([`Verdict::denies`], the rule the XDP program applies too).
//!
//! It is the appliance's one trust boundary, applied on every path:
//! - the XDP backend loads it into the program's LPM tries ([`crate::datapath::xdp::XdpSteering`]), which
//!   drop a denied sender's log datagrams and every fragment of its UDP datagrams;
//! - the kernel socket path asks [`SourceFilter::denies`] for every UDP datagram and every TCP
//!   connection it takes, whatever brought it there: `--backend socket`, datagrams the kernel
//!   reassembled, frames XDP could not walk (more VLAN tags or IPv6 extension headers than it
//!   reads), a queue without an AF_XDP socket.

use std::{collections::HashMap, net::IpAddr};

use xdp_common::{MAX_SOURCE_PREFIXES, Verdict};

use super::prefixes::{Prefix, PrefixError, PrefixMap};

/// Why a prefix or a filter cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// A prefix does not read.
    #[error(transparent)]
    Prefix(#[from] PrefixError),
    /// The same prefix is both allowed and denied.
    #[error("{0} is both allowed and denied")]
    Conflict(String),
    /// More prefixes of one family than the XDP program's tries hold.
    #[error("{count} {family} prefixes: the filter holds at most {MAX_SOURCE_PREFIXES}")]
    TooMany {
        /// `IPv4` or `IPv6`.
        family: &'static str,
        /// How many were given.
        count: usize,
    },
}

/// One CIDR prefix of the source filter and what happens to log packets from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SourcePrefix {
    /// Network address, host bits cleared.
    pub addr: IpAddr,
    /// Prefix length.
    pub len: u8,
    /// Allow or deny.
    pub verdict: Verdict,
}

impl SourcePrefix {
    /// Parses `ADDR/LEN` (or a bare address, meaning one host).
    pub fn parse(cidr: &str, verdict: Verdict) -> Result<Self, FilterError> {
        let Prefix { addr, len } = Prefix::parse(cidr)?;
        Ok(Self { addr, len, verdict })
    }

    /// The prefix, without its verdict.
    pub fn prefix(&self) -> Prefix {
        Prefix {
            addr: self.addr,
            len: self.len,
        }
    }
}

impl std::fmt::Display for SourcePrefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.prefix().fmt(f)
    }
}

/// The source filter: prefixes with verdicts, and the lookup the kernel socket path runs.
#[derive(Clone, Debug, Default)]
pub struct SourceFilter {
    prefixes: Vec<SourcePrefix>,
    verdicts: PrefixMap<Verdict>,
}

impl PartialEq for SourceFilter {
    fn eq(&self, other: &Self) -> bool {
        self.prefixes == other.prefixes
    }
}

impl SourceFilter {
    /// A filter of `prefixes`. A prefix given twice with the same verdict counts once; with
    /// both verdicts it is an error, as is a family with more prefixes than the XDP program
    /// holds.
    pub fn new(prefixes: Vec<SourcePrefix>) -> Result<Self, FilterError> {
        let mut kept: Vec<SourcePrefix> = Vec::with_capacity(prefixes.len());
        let mut seen: HashMap<(IpAddr, u8), Verdict> = HashMap::new();
        for p in prefixes {
            match seen.insert((p.addr, p.len), p.verdict) {
                Some(v) if v != p.verdict => return Err(FilterError::Conflict(p.to_string())),
                Some(_) => {}
                None => kept.push(p),
            }
        }
        let mut verdicts = PrefixMap::default();
        for p in &kept {
            verdicts.insert(p.prefix(), p.verdict);
        }
        for (family, count) in [
            ("IPv4", kept.iter().filter(|p| p.addr.is_ipv4()).count()),
            ("IPv6", kept.iter().filter(|p| p.addr.is_ipv6()).count()),
        ] {
            if count > MAX_SOURCE_PREFIXES as usize {
                return Err(FilterError::TooMany { family, count });
            }
        }
        Ok(Self {
            prefixes: kept,
            verdicts,
        })
    }

    /// The filter the `allow` and `deny` lists of CIDRs (as the configuration writes them) make.
    pub fn from_lists(allow: &[String], deny: &[String]) -> Result<Self, FilterError> {
        let mut prefixes = Vec::with_capacity(allow.len() + deny.len());
        for (list, verdict) in [(allow, Verdict::Allow), (deny, Verdict::Deny)] {
            for cidr in list {
                prefixes.push(SourcePrefix::parse(cidr, verdict)?);
            }
        }
        Self::new(prefixes)
    }

    /// The prefixes, each once, in the order given.
    pub fn prefixes(&self) -> &[SourcePrefix] {
        &self.prefixes
    }

    /// Whether there is no prefix at all: everything is allowed.
    pub fn is_empty(&self) -> bool {
        self.prefixes.is_empty()
    }

    /// The verdict for sources no prefix matches: with any allow prefix the filter is an
    /// allow-list (deny the rest); with only deny prefixes, allow the rest; empty, no filter.
    pub fn default_verdict(&self) -> Verdict {
        if self.prefixes.iter().any(|p| p.verdict == Verdict::Allow) {
            Verdict::Deny
        } else if self.prefixes.is_empty() {
            Verdict::Unfiltered
        } else {
            Verdict::Allow
        }
    }

    /// Whether log messages from `ip` are dropped. IPv4-mapped IPv6 addresses (a dual-stack
    /// socket's view of an IPv4 sender) are judged as the IPv4 address they are.
    pub fn denies(&self, ip: IpAddr) -> bool {
        if self.prefixes.is_empty() {
            return false;
        }
        let matched = self.verdicts.longest(ip);
        Verdict::denies(matched.map(|&v| v as u8), || self.default_verdict() as u32)
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn filter(allow: &[&str], deny: &[&str]) -> SourceFilter {
        let owned = |l: &[&str]| l.iter().map(ToString::to_string).collect::<Vec<_>>();
        SourceFilter::from_lists(&owned(allow), &owned(deny)).unwrap()
    }

    #[test]
    fn default_verdict_follows_the_prefixes() {
        assert_eq!(
            SourceFilter::default().default_verdict(),
            Verdict::Unfiltered
        );
        assert_eq!(
            filter(&[], &["198.18.0.0/24"]).default_verdict(),
            Verdict::Allow
        );
        assert_eq!(
            filter(&["198.18.1.0/24"], &["198.18.0.0/24"]).default_verdict(),
            Verdict::Deny
        );
    }

    #[test]
    fn the_longest_matching_prefix_decides() {
        let f = filter(
            &["198.18.0.0/16", "2001:2::/48"],
            &["198.18.200.0/24", "198.18.200.2"],
        );
        assert!(!f.denies(ip("198.18.0.1")));
        assert!(f.denies(ip("198.18.200.2")), "a host inside a denied /24");
        assert!(f.denies(ip("198.18.200.77")));
        assert!(f.denies(ip("198.19.0.1")), "outside every allow prefix");
        assert!(!f.denies(ip("2001:2::9")));
        assert!(f.denies(ip("2001:3::9")));
        // A dual-stack socket reports IPv4 senders as IPv4-mapped IPv6.
        assert!(f.denies(ip("::ffff:198.18.200.2")));
        assert!(!f.denies(ip("::ffff:198.18.0.1")));
        // An allowed host inside a denied prefix.
        let f = filter(&["198.18.200.9/32"], &["198.18.200.0/24"]);
        assert!(!f.denies(ip("198.18.200.9")));
        assert!(f.denies(ip("198.18.200.8")));
        assert!(f.denies(ip("203.0.113.1")), "an allow-list denies the rest");
        // Deny only: the rest is allowed.
        let f = filter(&[], &["0.0.0.0/0"]);
        assert!(f.denies(ip("203.0.113.1")));
        assert!(!f.denies(ip("2001:2::1")), "no IPv6 prefix, no IPv6 deny");
        assert!(!SourceFilter::default().denies(ip("198.18.0.1")));
    }

    #[test]
    fn a_prefix_both_allowed_and_denied_is_refused() {
        let e = SourceFilter::from_lists(&["198.18.0.0/24".into()], &["198.18.0.7/24".into()]);
        assert_eq!(e, Err(FilterError::Conflict("198.18.0.0/24".into())));
        let twice = filter(&[], &["198.18.0.0/24", "198.18.0.0/24"]);
        assert_eq!(twice.prefixes().len(), 1);
    }

    #[test]
    fn the_filter_holds_what_the_xdp_program_holds() {
        let many: Vec<SourcePrefix> = (0..=MAX_SOURCE_PREFIXES)
            .map(|i| SourcePrefix {
                addr: IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)),
                len: 32,
                verdict: Verdict::Deny,
            })
            .collect();
        assert!(matches!(
            SourceFilter::new(many),
            Err(FilterError::TooMany { family: "IPv4", .. })
        ));
    }
}
