//! The ABI between the XDP program (`xdp-ebpf`) and user space (`ingest`).
//!
//! Everything here is `#![no_std]` and `#[repr(C)]` (or plain integers) so that both sides agree
//! on the layout of every map key and value. Map names are constants so a rename cannot make the
//! two sides disagree silently.
#![no_std]
#![warn(missing_docs)]

pub mod checksum;
pub mod walk;

/// Name of the `BPF_MAP_TYPE_XSKMAP` that maps an RX queue index to its AF_XDP socket.
pub const XSK_MAP: &str = "XSKS";
/// Name of the hash map whose keys are the UDP destination ports steered to AF_XDP
/// (host byte order, value unused but set to 1).
pub const LOG_PORTS_MAP: &str = "LOG_PORTS";
/// Name of the per-CPU array of `u64` decision counters, indexed by [`XdpCounter`].
pub const COUNTERS_MAP: &str = "COUNTERS";
/// Name of the LPM trie of IPv4 source prefixes (key: prefix length + 4 address bytes, value: a
/// [`Verdict`] as `u8`).
pub const SOURCES_V4_MAP: &str = "SOURCES_V4";
/// Name of the LPM trie of IPv6 source prefixes (key: prefix length + 16 address bytes).
pub const SOURCES_V6_MAP: &str = "SOURCES_V6";
/// Name of the one-element array holding the verdict for log sources no prefix matches
/// (a [`Verdict`] as `u32`; 0, the initial value, means no filter).
pub const SOURCE_DEFAULT_MAP: &str = "SOURCE_DEFAULT";
/// Most prefixes per address family in the source filter.
pub const MAX_SOURCE_PREFIXES: u32 = 16384;
/// Name of the XDP program in the object file.
pub const XDP_PROGRAM: &str = "ingest_xdp";

/// What the source filter says about a log packet's sender. The longest matching prefix decides;
/// with no match, the default in [`SOURCE_DEFAULT_MAP`] does.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// No filter configured: everything is allowed (the zeroed default).
    Unfiltered = 0,
    /// Steer the packet.
    Allow = 1,
    /// Drop the packet in XDP, counted as [`XdpCounter::DroppedDenied`].
    Deny = 2,
}

impl Verdict {
    /// Whether a log packet is dropped, from the verdict of the longest prefix that matched its
    /// sender (none: no prefix matched) and the filter's default (a [`Verdict`] as `u32`, the
    /// value of [`SOURCE_DEFAULT_MAP`], read only when no prefix matched). The one rule both
    /// sides apply: the XDP program to what it steers and to fragments, user space to what the
    /// kernel socket path receives.
    #[inline(always)]
    pub fn denies(matched: Option<u8>, default: impl FnOnce() -> u32) -> bool {
        match matched {
            Some(v) => v == Verdict::Deny as u8,
            None => default() == Verdict::Deny as u32,
        }
    }
}

/// Capacity of the XSKMAP: the highest RX queue index that can be served is one less.
pub const MAX_QUEUES: u32 = 64;
/// Capacity of the log-port map.
pub const MAX_LOG_PORTS: u32 = 64;
/// The syslog port steered when the configuration names none.
pub const DEFAULT_LOG_PORT: u16 = 514;

/// One counter per decision the XDP program takes. Every packet the program sees increments
/// exactly one of them, so their sum is the number of packets seen on the interface.
///
/// The value is the index into the [`COUNTERS_MAP`] per-CPU array.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XdpCounter {
    /// UDP to a log port, redirected into the AF_XDP socket of the receive queue.
    Steered = 0,
    /// Passed to the kernel: not IPv4 or IPv6 (ARP, LLDP, more than two VLAN tags).
    PassedNotIp = 1,
    /// Passed to the kernel: IP but not UDP (ICMP, TCP, ...).
    PassedNotUdp = 2,
    /// Passed to the kernel: UDP to a port that is not a log port.
    PassedNotLogPort = 3,
    /// Passed to the kernel: a fragment of a UDP datagram from a source the filter does not
    /// deny, which only the kernel can reassemble.
    PassedFragment = 4,
    /// Passed to the kernel: a log packet whose receive queue has no AF_XDP socket bound.
    PassedNoSocket = 5,
    /// Dropped: headers truncated or inconsistent (frame shorter than its headers say).
    DroppedMalformed = 6,
    /// Dropped: a log packet from a source the source filter denies.
    DroppedDenied = 7,
    /// Dropped: the first fragment of a UDP datagram from a source the source filter denies:
    /// one per datagram (a later fragment has no port to tell whether it is log traffic; the
    /// sender is denied either way, and passing it would let it reach the kernel socket path
    /// reassembled).
    DroppedDeniedFragment = 8,
    /// Dropped: a later fragment of such a datagram. Frames, not datagrams: the datagram is
    /// counted once, by its first fragment.
    DroppedDeniedFragmentTail = 9,
    /// Passed to the kernel: a log packet the driver left no headroom to stamp with its arrival
    /// time ([`XdpMeta`]), which every frame on an AF_XDP ring carries.
    PassedNoHeadroom = 10,
}

/// Number of [`XdpCounter`] values, the size of the [`COUNTERS_MAP`] array.
pub const XDP_COUNTER_COUNT: u32 = 11;

impl XdpCounter {
    /// Every counter, in index order.
    pub const ALL: [XdpCounter; XDP_COUNTER_COUNT as usize] = [
        XdpCounter::Steered,
        XdpCounter::PassedNotIp,
        XdpCounter::PassedNotUdp,
        XdpCounter::PassedNotLogPort,
        XdpCounter::PassedFragment,
        XdpCounter::PassedNoSocket,
        XdpCounter::DroppedMalformed,
        XdpCounter::DroppedDenied,
        XdpCounter::DroppedDeniedFragment,
        XdpCounter::DroppedDeniedFragmentTail,
        XdpCounter::PassedNoHeadroom,
    ];

    /// Stable metric name of the counter (`<noun>_<verb>` with the reason last).
    pub const fn name(self) -> &'static str {
        match self {
            XdpCounter::Steered => "xdp_steered",
            XdpCounter::PassedNotIp => "xdp_passed_not_ip",
            XdpCounter::PassedNotUdp => "xdp_passed_not_udp",
            XdpCounter::PassedNotLogPort => "xdp_passed_not_log_port",
            XdpCounter::PassedFragment => "xdp_passed_fragment",
            XdpCounter::PassedNoSocket => "xdp_passed_no_socket",
            XdpCounter::DroppedMalformed => "xdp_dropped_malformed",
            XdpCounter::DroppedDenied => "xdp_dropped_denied",
            XdpCounter::DroppedDeniedFragment => "xdp_dropped_denied_fragment",
            XdpCounter::DroppedDeniedFragmentTail => "xdp_dropped_denied_fragment_tail",
            XdpCounter::PassedNoHeadroom => "xdp_passed_no_headroom",
        }
    }

    /// Whether the packet left the appliance's hands by being dropped in XDP, counted once per
    /// datagram (a fragment's tail is a drop too, but of frames of a datagram its first
    /// fragment counts).
    pub const fn is_drop(self) -> bool {
        matches!(
            self,
            XdpCounter::DroppedMalformed
                | XdpCounter::DroppedDenied
                | XdpCounter::DroppedDeniedFragment
        )
    }
}

/// The stamp the XDP program puts in front of each frame it steers (`bpf_xdp_adjust_head`), so
/// user space can measure latency from the XDP hook onwards.
///
/// Every frame on an AF_XDP ring starts with it: the program steers only frames it could stamp
/// ([`XdpCounter::PassedNoHeadroom`] otherwise). User space checks [`XdpMeta::magic`] and reads
/// the Ethernet frame after [`XDP_META_LEN`] bytes; a frame without the magic (which only
/// another program in the XSKMAP's place could send) is read whole and counted as having no
/// arrival time.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XdpMeta {
    /// `bpf_ktime_get_ns()` when the program saw the packet: CLOCK_MONOTONIC, nanoseconds.
    pub arrival_ns: u64,
    /// Always [`XDP_META_MAGIC`] when written by the program.
    pub magic: u32,
    /// Zero; keeps the length a multiple of 8.
    pub reserved: u32,
}

/// Marks metadata written by this program.
pub const XDP_META_MAGIC: u32 = 0x1a6e_57a1;
/// Length of [`XdpMeta`] in bytes: a multiple of 8, so the IP header behind a 14-byte
/// Ethernet header keeps the alignment it would have had.
pub const XDP_META_LEN: usize = core::mem::size_of::<XdpMeta>();
const _: () = assert!(XDP_META_LEN == 16);

/// Wire constants, shared so user space decodes frames with the same numbers the XDP program
/// matches on.
pub mod wire {
    /// Length of an Ethernet II header without VLAN tags.
    pub const ETH_HLEN: usize = 14;
    /// Ethertype of IPv4, host order.
    pub const ETH_P_IP: u16 = 0x0800;
    /// Minimum IPv4 header length (IHL 5).
    pub const IPV4_MIN_HLEN: usize = 20;
    /// IP protocol number of UDP.
    pub const IPPROTO_UDP: u8 = 17;
    /// UDP header length.
    pub const UDP_HLEN: usize = 8;
    /// IPv4 "more fragments" flag in the flags/fragment-offset field (host order).
    pub const IP_MF: u16 = 0x2000;
    /// IPv4 fragment offset mask in the flags/fragment-offset field (host order).
    pub const IP_OFFSET_MASK: u16 = 0x1fff;
    /// 802.1Q customer VLAN tag.
    pub const ETH_P_8021Q: u16 = 0x8100;
    /// 802.1ad service VLAN tag (QinQ outer tag).
    pub const ETH_P_8021AD: u16 = 0x88a8;
    /// Ethertype of IPv6.
    pub const ETH_P_IPV6: u16 = 0x86dd;
    /// IPv6 fixed header length.
    pub const IPV6_HLEN: usize = 40;
    /// IPv6 next header: hop-by-hop options.
    pub const NEXTHDR_HOP: u8 = 0;
    /// IPv6 next header: routing.
    pub const NEXTHDR_ROUTING: u8 = 43;
    /// IPv6 next header: fragment.
    pub const NEXTHDR_FRAGMENT: u8 = 44;
    /// IPv6 next header: destination options.
    pub const NEXTHDR_DEST: u8 = 60;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_indexes_are_dense_and_in_order() {
        for (i, c) in XdpCounter::ALL.iter().enumerate() {
            assert_eq!(*c as u32, i as u32, "{c:?} is out of place");
        }
        assert_eq!(XdpCounter::ALL.len() as u32, XDP_COUNTER_COUNT);
    }

    #[test]
    fn the_longest_match_decides_else_the_default() {
        let deny = Verdict::Deny as u8;
        let allow = Verdict::Allow as u8;
        let default = |v: Verdict| move || v as u32;
        assert!(Verdict::denies(Some(deny), default(Verdict::Allow)));
        assert!(!Verdict::denies(Some(allow), default(Verdict::Deny)));
        assert!(Verdict::denies(None, default(Verdict::Deny)));
        assert!(!Verdict::denies(None, default(Verdict::Allow)));
        assert!(!Verdict::denies(None, default(Verdict::Unfiltered)));
    }

    #[test]
    fn counter_names_are_unique() {
        for (i, a) in XdpCounter::ALL.iter().enumerate() {
            for b in &XdpCounter::ALL[i + 1..] {
                assert_ne!(a.name(), b.name());
            }
        }
    }
}
