//! The header walk from Ethernet to UDP, written once for both sides: the XDP program runs it on
//! packet memory through verifier-checked reads, user space on a frame slice in UMEM.
//!
//! Ethernet II, up to [`MAX_VLAN_TAGS`] VLAN tags (802.1Q and 802.1ad), IPv4 with any header
//! length, IPv6 skipping up to [`MAX_IPV6_EXT_HEADERS`] hop-by-hop, routing and
//! destination-options headers, then UDP. Fragments of UDP datagrams (IPv4 MF or offset, an IPv6
//! fragment header) are reported as such, with their source: only the kernel can reassemble them,
//! but every fragment carries its sender's address, so the source filter can judge each one.

use crate::wire;

/// Random access to a frame's bytes, bounds-checked by the implementation.
pub trait Packet {
    /// The `N` bytes at `offset`, or `None` when the frame ends before `offset + N`.
    fn bytes<const N: usize>(&self, offset: usize) -> Option<[u8; N]>;
}

impl Packet for [u8] {
    #[inline(always)]
    fn bytes<const N: usize>(&self, offset: usize) -> Option<[u8; N]> {
        let end = offset.checked_add(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(self.get(offset..end)?);
        Some(out)
    }
}

/// VLAN tags parsed at most; a frame with more is not walked further (reported as not IP).
pub const MAX_VLAN_TAGS: usize = 2;
/// IPv6 extension headers skipped at most before giving up (reported as not UDP).
pub const MAX_IPV6_EXT_HEADERS: usize = 4;

pub use crate::wire::{ETH_P_8021AD, ETH_P_8021Q, ETH_P_IPV6};
use crate::wire::{IPV6_HLEN, NEXTHDR_DEST, NEXTHDR_FRAGMENT, NEXTHDR_HOP, NEXTHDR_ROUTING};

/// A frame's source address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceAddr {
    /// IPv4, network order.
    V4([u8; 4]),
    /// IPv6, network order.
    V6([u8; 16]),
}

/// An IP fragment of a UDP datagram: its addresses as plain bytes (an IPv4 address in the first
/// four, the rest zero), where its IP header starts, and whether it is the datagram's first.
/// Plain bytes and flags rather than [`SourceAddr`]s and options, so that every byte is set
/// whichever the family: the eBPF verifier refuses a program that copies the unset tail of an
/// enum's smaller variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpFragment {
    /// Whether the addresses are IPv6.
    pub v6: bool,
    /// Whether this is the datagram's first fragment (offset 0): one per datagram.
    pub first: bool,
    /// Whether the frame carries a VLAN tag.
    pub tagged: bool,
    /// Offset of the IP header in the frame.
    pub l3: u16,
    /// The sender, network order.
    pub src: [u8; 16],
    /// The destination, network order.
    pub dst: [u8; 16],
}

impl IpFragment {
    /// The sender as a [`SourceAddr`].
    pub fn src_addr(&self) -> SourceAddr {
        self.addr(&self.src)
    }

    /// The destination as a [`SourceAddr`].
    pub fn dst_addr(&self) -> SourceAddr {
        self.addr(&self.dst)
    }

    fn addr(&self, a: &[u8; 16]) -> SourceAddr {
        if self.v6 {
            SourceAddr::V6(*a)
        } else {
            SourceAddr::V4([a[0], a[1], a[2], a[3]])
        }
    }
}

/// Where the UDP header is, and what the program decides on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpHeaders {
    /// Source address.
    pub src: SourceAddr,
    /// Destination address.
    pub dst: SourceAddr,
    /// VLAN id of the innermost tag (the one closest to the IP header), if tagged.
    pub vlan: Option<u16>,
    /// Offset of the IP header in the frame (IPv4: the header ends where UDP begins; IPv6: the
    /// extension headers lie between).
    pub ip_offset: usize,
    /// Offset of the UDP header in the frame.
    pub udp_offset: usize,
    /// UDP source port.
    pub src_port: u16,
    /// UDP destination port.
    pub dst_port: u16,
    /// The UDP length field (header included).
    pub udp_len: u16,
}

/// What the walk found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Walk {
    /// Not IPv4 or IPv6 (ARP, LLDP, more than [`MAX_VLAN_TAGS`] tags, ...).
    NotIp,
    /// IP, but not UDP (ICMP, TCP, too many IPv6 extension headers, ...).
    NotUdp,
    /// A fragment of a UDP datagram (IPv6: one whose fragment header announces UDP or another
    /// extension header, behind which UDP may follow), with its sender. Non-first fragments
    /// carry no port, so whether it is log traffic cannot be told.
    Fragment(IpFragment),
    /// A UDP datagram.
    Udp(UdpHeaders),
}

/// The frame ends before a header it announces, or an IP header is inconsistent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Malformed;

/// Walks the headers of one Ethernet frame.
#[inline(always)]
pub fn walk<P: Packet + ?Sized>(p: &P) -> Result<Walk, Malformed> {
    let mut offset = 12;
    let mut ether_type = u16::from_be_bytes(p.bytes::<2>(offset).ok_or(Malformed)?);
    let mut vlan = None;
    for _ in 0..MAX_VLAN_TAGS {
        if ether_type != ETH_P_8021Q && ether_type != ETH_P_8021AD {
            break;
        }
        let tag = p.bytes::<4>(offset + 2).ok_or(Malformed)?;
        vlan = Some(u16::from_be_bytes([tag[0], tag[1]]) & 0x0fff);
        ether_type = u16::from_be_bytes([tag[2], tag[3]]);
        offset += 4;
    }
    let l3 = offset + 2;
    match ether_type {
        wire::ETH_P_IP => ipv4(p, l3, vlan),
        ETH_P_IPV6 => ipv6(p, l3, vlan),
        _ => Ok(Walk::NotIp),
    }
}

#[inline(always)]
fn ipv4<P: Packet + ?Sized>(p: &P, l3: usize, vlan: Option<u16>) -> Result<Walk, Malformed> {
    // The fixed header in one read, then fields at constant offsets into it: the verifier
    // follows that, where per-field checks could be folded away by LLVM.
    let h = p.bytes::<{ wire::IPV4_MIN_HLEN }>(l3).ok_or(Malformed)?;
    let ihl = usize::from(h[0] & 0x0f) * 4;
    if h[0] >> 4 != 4 || ihl < wire::IPV4_MIN_HLEN {
        return Err(Malformed);
    }
    if h[9] != wire::IPPROTO_UDP {
        return Ok(Walk::NotUdp);
    }
    let frag = u16::from_be_bytes([h[6], h[7]]);
    if frag & (wire::IP_MF | wire::IP_OFFSET_MASK) != 0 {
        let (mut src, mut dst) = ([0u8; 16], [0u8; 16]);
        src[..4].copy_from_slice(&h[12..16]);
        dst[..4].copy_from_slice(&h[16..20]);
        return Ok(Walk::Fragment(IpFragment {
            v6: false,
            first: frag & wire::IP_OFFSET_MASK == 0,
            tagged: vlan.is_some(),
            l3: l3 as u16,
            src,
            dst,
        }));
    }
    let src = SourceAddr::V4([h[12], h[13], h[14], h[15]]);
    let dst = SourceAddr::V4([h[16], h[17], h[18], h[19]]);
    // Reading the UDP header whole also proves the options before it are in the frame.
    udp(p, l3, l3 + ihl, src, dst, vlan)
}

#[inline(always)]
fn ipv6<P: Packet + ?Sized>(p: &P, l3: usize, vlan: Option<u16>) -> Result<Walk, Malformed> {
    let h = p.bytes::<IPV6_HLEN>(l3).ok_or(Malformed)?;
    if h[0] >> 4 != 6 {
        return Err(Malformed);
    }
    let mut src = [0u8; 16];
    src.copy_from_slice(&h[8..24]);
    let mut dst = [0u8; 16];
    dst.copy_from_slice(&h[24..40]);
    let mut next = h[6];
    let mut offset = l3 + IPV6_HLEN;
    for _ in 0..MAX_IPV6_EXT_HEADERS {
        match next {
            NEXTHDR_HOP | NEXTHDR_ROUTING | NEXTHDR_DEST => {
                let ext = p.bytes::<2>(offset).ok_or(Malformed)?;
                next = ext[0];
                offset += (usize::from(ext[1]) + 1) * 8;
            }
            _ => break,
        }
    }
    match next {
        NEXTHDR_FRAGMENT => {
            // The fragment header: what the fragmentable part starts with, a reserved byte, then
            // the offset in 8-byte units above three flag bits.
            let fh = p.bytes::<4>(offset).ok_or(Malformed)?;
            match fh[0] {
                wire::IPPROTO_UDP | NEXTHDR_ROUTING | NEXTHDR_DEST => {
                    Ok(Walk::Fragment(IpFragment {
                        v6: true,
                        first: u16::from_be_bytes([fh[2], fh[3]]) >> 3 == 0,
                        tagged: vlan.is_some(),
                        l3: l3 as u16,
                        src,
                        dst,
                    }))
                }
                _ => Ok(Walk::NotUdp),
            }
        }
        wire::IPPROTO_UDP => udp(
            p,
            l3,
            offset,
            SourceAddr::V6(src),
            SourceAddr::V6(dst),
            vlan,
        ),
        _ => Ok(Walk::NotUdp),
    }
}

#[inline(always)]
fn udp<P: Packet + ?Sized>(
    p: &P,
    ip_offset: usize,
    offset: usize,
    src: SourceAddr,
    dst: SourceAddr,
    vlan: Option<u16>,
) -> Result<Walk, Malformed> {
    let u = p.bytes::<{ wire::UDP_HLEN }>(offset).ok_or(Malformed)?;
    Ok(Walk::Udp(UdpHeaders {
        src,
        dst,
        vlan,
        ip_offset,
        udp_offset: offset,
        src_port: u16::from_be_bytes([u[0], u[1]]),
        dst_port: u16::from_be_bytes([u[2], u[3]]),
        udp_len: u16::from_be_bytes([u[4], u[5]]),
    }))
}
