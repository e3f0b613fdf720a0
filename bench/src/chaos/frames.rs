//! The frames of the malformed flood: each kind a log datagram gone wrong in one way, built
//! byte for byte (the kernel's sockets would refuse to make most of them).

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use testbed::craft::{ETH_P_8021AD, UdpFrame};
use xdp_common::checksum::{Sum, udp_pseudo_header};

/// One kind of malformed frame, and where it is expected to end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    /// The frame ends inside the UDP header (the IP header says more follows).
    TruncatedUdp,
    /// The IPv4 total length is beyond the frame.
    IpLengthBeyondFrame,
    /// An IPv4 header length below the minimum (IHL 4).
    ShortIhl,
    /// A UDP length field below the header's own 8 bytes.
    UdpLengthTooShort,
    /// Three VLAN tags, one more than the XDP program walks.
    VlanStack,
    /// IPv6 with more extension headers than the XDP program walks before UDP.
    Ipv6ExtensionChain,
    /// A wrong UDP checksum.
    BadUdpChecksum,
    /// A wrong IPv4 header checksum.
    BadIpChecksum,
    /// A whole datagram in 8-byte fragments.
    TinyFragments,
    /// Two fragments of one datagram that overlap.
    OverlappingFragments,
}

impl Kind {
    /// Every kind.
    pub(super) const ALL: [Kind; 10] = [
        Kind::TruncatedUdp,
        Kind::IpLengthBeyondFrame,
        Kind::ShortIhl,
        Kind::UdpLengthTooShort,
        Kind::VlanStack,
        Kind::Ipv6ExtensionChain,
        Kind::BadUdpChecksum,
        Kind::BadIpChecksum,
        Kind::TinyFragments,
        Kind::OverlappingFragments,
    ];

    /// Its name in the table.
    pub(super) fn name(self) -> &'static str {
        match self {
            Kind::TruncatedUdp => "truncated-udp",
            Kind::IpLengthBeyondFrame => "ip-length-beyond-frame",
            Kind::ShortIhl => "short-ihl",
            Kind::UdpLengthTooShort => "udp-length-too-short",
            Kind::VlanStack => "vlan-stack",
            Kind::Ipv6ExtensionChain => "ipv6-extension-chain",
            Kind::BadUdpChecksum => "bad-udp-checksum",
            Kind::BadIpChecksum => "bad-ip-checksum",
            Kind::TinyFragments => "tiny-fragments",
            Kind::OverlappingFragments => "overlapping-fragments",
        }
    }
}

/// Where the frames go: the link's two ends.
#[derive(Clone, Copy, Debug)]
pub(super) struct Link {
    pub(super) src_mac: [u8; 6],
    pub(super) dst_mac: [u8; 6],
    pub(super) src: Ipv4Addr,
    pub(super) dst: Ipv4Addr,
    pub(super) src6: Ipv6Addr,
    pub(super) dst6: Ipv6Addr,
    pub(super) port: u16,
}

const ETH: usize = 14;
const IP: usize = 20;

impl Link {
    fn udp(&self, sport: u16, payload: &[u8]) -> UdpFrame<'static> {
        UdpFrame {
            src_mac: self.src_mac,
            dst_mac: self.dst_mac,
            vlans: &[],
            src: SocketAddr::from((self.src, sport)),
            dst: SocketAddr::from((self.dst, self.port)),
            payload: payload.to_vec().leak(),
        }
    }

    /// A well-formed log datagram.
    pub(super) fn valid(&self, i: u64) -> Vec<u8> {
        let payload = format!("<14>Dec  7 10:00:00 chaos app[1]: valid message {i}");
        self.udp(40_000 + (i % 1000) as u16, payload.as_bytes())
            .build()
    }

    /// The frames of malformed datagram `i` of `kind` (several for fragments).
    pub(super) fn malformed(&self, kind: Kind, i: u64) -> Vec<Vec<u8>> {
        let payload = format!("<14>Dec  7 10:00:00 chaos app[1]: {} {i}", kind.name());
        let sport = 30_000 + (i % 1000) as u16;
        let good = self.udp(sport, payload.as_bytes()).build();
        match kind {
            Kind::TruncatedUdp => vec![good[..ETH + IP + 4].to_vec()],
            Kind::IpLengthBeyondFrame => {
                let mut f = good;
                let len = u16::from_be_bytes([f[ETH + 2], f[ETH + 3]]) + 100;
                f[ETH + 2..ETH + 4].copy_from_slice(&len.to_be_bytes());
                ipv4_checksum(&mut f);
                vec![f]
            }
            Kind::ShortIhl => {
                let mut f = good;
                f[ETH] = 0x44;
                ipv4_checksum(&mut f);
                vec![f]
            }
            Kind::UdpLengthTooShort => {
                let mut f = good;
                f[ETH + IP + 4..ETH + IP + 6].copy_from_slice(&4u16.to_be_bytes());
                vec![f]
            }
            Kind::VlanStack => {
                let tagged = UdpFrame {
                    vlans: &[10, 20],
                    ..self.udp(sport, payload.as_bytes())
                }
                .build();
                let mut f = tagged[..12].to_vec();
                f.extend_from_slice(&ETH_P_8021AD.to_be_bytes());
                f.extend_from_slice(&30u16.to_be_bytes());
                f.extend_from_slice(&tagged[12..]);
                vec![f]
            }
            Kind::Ipv6ExtensionChain => vec![self.ipv6_with_options(sport, payload.as_bytes(), 6)],
            Kind::BadUdpChecksum => {
                let mut f = good;
                f[ETH + IP + 6] ^= 0x5a;
                vec![f]
            }
            Kind::BadIpChecksum => {
                let mut f = good;
                f[ETH + 10] ^= 0x5a;
                vec![f]
            }
            Kind::TinyFragments => self.udp(sport, payload.as_bytes()).packets(IP + 8),
            Kind::OverlappingFragments => {
                let udp = &good[ETH + IP..];
                let ident = (i as u16).wrapping_mul(7919) ^ 0x5a5a;
                // The first 24 bytes, then everything from byte 16 on: 8 bytes twice.
                vec![
                    self.ipv4_fragment(ident, 0, true, &udp[..24]),
                    self.ipv4_fragment(ident, 16, false, &udp[16..]),
                ]
            }
        }
    }

    /// An IPv4 fragment carrying `data` at byte `offset` of its datagram.
    fn ipv4_fragment(&self, ident: u16, offset: usize, more: bool, data: &[u8]) -> Vec<u8> {
        let mut f = Vec::with_capacity(ETH + IP + data.len());
        f.extend_from_slice(&self.dst_mac);
        f.extend_from_slice(&self.src_mac);
        f.extend_from_slice(&0x0800u16.to_be_bytes());
        let mut ip = [0u8; IP];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&((IP + data.len()) as u16).to_be_bytes());
        ip[4..6].copy_from_slice(&ident.to_be_bytes());
        let flags: u16 = if more { 0x2000 } else { 0 };
        ip[6..8].copy_from_slice(&(flags | (offset / 8) as u16).to_be_bytes());
        ip[8] = 64;
        ip[9] = 17;
        ip[12..16].copy_from_slice(&self.src.octets());
        ip[16..20].copy_from_slice(&self.dst.octets());
        f.extend_from_slice(&ip);
        f.extend_from_slice(data);
        ipv4_checksum(&mut f);
        f
    }

    /// IPv6 with `count` destination-options headers (each 8 bytes of padding) before UDP.
    fn ipv6_with_options(&self, sport: u16, payload: &[u8], count: usize) -> Vec<u8> {
        const DSTOPTS: u8 = 60;
        let udp_len = 8 + payload.len();
        let mut udp = Vec::with_capacity(udp_len);
        udp.extend_from_slice(&sport.to_be_bytes());
        udp.extend_from_slice(&self.port.to_be_bytes());
        udp.extend_from_slice(&(udp_len as u16).to_be_bytes());
        udp.extend_from_slice(&[0, 0]);
        udp.extend_from_slice(payload);
        let csum = udp_pseudo_header(&self.src6.octets(), &self.dst6.octets(), udp_len as u16)
            .bytes(&udp)
            .udp_checksum();
        udp[6..8].copy_from_slice(&csum.to_be_bytes());
        let mut f = Vec::new();
        f.extend_from_slice(&self.dst_mac);
        f.extend_from_slice(&self.src_mac);
        f.extend_from_slice(&0x86ddu16.to_be_bytes());
        let mut ip = [0u8; 40];
        ip[0] = 0x60;
        ip[4..6].copy_from_slice(&((count * 8 + udp_len) as u16).to_be_bytes());
        ip[6] = DSTOPTS;
        ip[7] = 64;
        ip[8..24].copy_from_slice(&self.src6.octets());
        ip[24..40].copy_from_slice(&self.dst6.octets());
        f.extend_from_slice(&ip);
        for n in 0..count {
            let next = if n + 1 == count { 17 } else { DSTOPTS };
            // Next header, length 0 (8 bytes), then a PadN option of 4 bytes.
            f.extend_from_slice(&[next, 0, 1, 4, 0, 0, 0, 0]);
        }
        f.extend_from_slice(&udp);
        f
    }
}

/// Recomputes the IPv4 header checksum of an untagged frame.
fn ipv4_checksum(f: &mut [u8]) {
    let ihl = usize::from(f[ETH] & 0x0f) * 4;
    let end = (ETH + ihl.max(IP)).min(f.len());
    f[ETH + 10..ETH + 12].copy_from_slice(&[0, 0]);
    let csum = Sum::new().bytes(&f[ETH..end]).checksum();
    f[ETH + 10..ETH + 12].copy_from_slice(&csum.to_be_bytes());
}
