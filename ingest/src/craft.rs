//! Building Ethernet frames carrying UDP datagrams, byte for byte, for senders that bypass the
//! kernel's stack: the namespace tests (VLAN tags and malformed frames, which this kernel cannot
//! make through sockets) and `bench`'s replayer. Checksums are real, so the kernel's stack
//! accepts the frames the XDP program passes on.

use std::net::{IpAddr, SocketAddr};

/// 802.1Q (customer) tag ethertype.
pub const ETH_P_8021Q: u16 = 0x8100;
/// 802.1ad (service, outer QinQ) tag ethertype.
pub const ETH_P_8021AD: u16 = 0x88a8;
const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86dd;
const IPPROTO_UDP: u8 = 17;

/// One UDP datagram in an Ethernet frame.
#[derive(Clone, Debug)]
pub struct UdpFrame<'a> {
    /// Source MAC.
    pub src_mac: [u8; 6],
    /// Destination MAC.
    pub dst_mac: [u8; 6],
    /// VLAN ids, outermost first (at most two: 802.1ad then 802.1Q).
    pub vlans: &'a [u16],
    /// Sender; its family must match `dst`'s.
    pub src: SocketAddr,
    /// Receiver.
    pub dst: SocketAddr,
    /// UDP payload.
    pub payload: &'a [u8],
}

/// The Internet checksum (RFC 1071) of `data`, continuing from `sum`.
fn sum16(mut sum: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(u16::from_be_bytes([*last, 0]));
    }
    sum
}

fn fold(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

impl UdpFrame<'_> {
    /// The frame's bytes. Panics if `src` and `dst` are of different families (a caller bug).
    pub fn build(&self) -> Vec<u8> {
        let udp_len = 8 + self.payload.len();
        let mut f = Vec::with_capacity(14 + 8 + 40 + udp_len);
        f.extend_from_slice(&self.dst_mac);
        f.extend_from_slice(&self.src_mac);
        for (i, vid) in self.vlans.iter().enumerate() {
            let tpid = if i + 1 < self.vlans.len() {
                ETH_P_8021AD
            } else {
                ETH_P_8021Q
            };
            f.extend_from_slice(&tpid.to_be_bytes());
            f.extend_from_slice(&(vid & 0x0fff).to_be_bytes());
        }
        let mut udp = Vec::with_capacity(udp_len);
        udp.extend_from_slice(&self.src.port().to_be_bytes());
        udp.extend_from_slice(&self.dst.port().to_be_bytes());
        udp.extend_from_slice(&(udp_len as u16).to_be_bytes());
        udp.extend_from_slice(&[0, 0]);
        udp.extend_from_slice(self.payload);
        match (self.src.ip(), self.dst.ip()) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                f.extend_from_slice(&ETH_P_IP.to_be_bytes());
                let total = (20 + udp_len) as u16;
                let mut ip = [0u8; 20];
                ip[0] = 0x45;
                ip[2..4].copy_from_slice(&total.to_be_bytes());
                ip[6] = 0x40; // don't fragment
                ip[8] = 64;
                ip[9] = IPPROTO_UDP;
                ip[12..16].copy_from_slice(&s.octets());
                ip[16..20].copy_from_slice(&d.octets());
                let csum = fold(sum16(0, &ip));
                ip[10..12].copy_from_slice(&csum.to_be_bytes());
                f.extend_from_slice(&ip);
                let mut pseudo = sum16(0, &s.octets());
                pseudo = sum16(pseudo, &d.octets());
                pseudo += u32::from(IPPROTO_UDP) + udp_len as u32;
                let csum = match fold(sum16(pseudo, &udp)) {
                    0 => 0xffff,
                    c => c,
                };
                udp[6..8].copy_from_slice(&csum.to_be_bytes());
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                f.extend_from_slice(&ETH_P_IPV6.to_be_bytes());
                let mut ip = [0u8; 40];
                ip[0] = 0x60;
                ip[4..6].copy_from_slice(&(udp_len as u16).to_be_bytes());
                ip[6] = IPPROTO_UDP;
                ip[7] = 64;
                ip[8..24].copy_from_slice(&s.octets());
                ip[24..40].copy_from_slice(&d.octets());
                f.extend_from_slice(&ip);
                let mut pseudo = sum16(0, &s.octets());
                pseudo = sum16(pseudo, &d.octets());
                pseudo += udp_len as u32 + u32::from(IPPROTO_UDP);
                let csum = match fold(sum16(pseudo, &udp)) {
                    0 => 0xffff,
                    c => c,
                };
                udp[6..8].copy_from_slice(&csum.to_be_bytes());
            }
            _ => panic!("source and destination must be of the same address family"),
        }
        f.extend_from_slice(&udp);
        f
    }
}

/// Parses `aa:bb:cc:dd:ee:ff`.
pub fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut parts = text.trim().split(':');
    for byte in &mut mac {
        *byte = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::decode_udp;

    fn frame<'a>(vlans: &'a [u16], src: &str, dst: &str, payload: &'a [u8]) -> UdpFrame<'a> {
        UdpFrame {
            src_mac: [2, 0, 0, 0, 0, 1],
            dst_mac: [2, 0, 0, 0, 0, 2],
            vlans,
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            payload,
        }
    }

    #[test]
    fn built_frames_decode_to_what_was_put_in() {
        for (vlans, src, dst) in [
            (&[][..], "198.18.0.1:4000", "198.18.0.2:514"),
            (&[7][..], "198.18.0.1:4000", "198.18.0.2:514"),
            (&[100, 7][..], "[2001:2::1]:4000", "[2001:2::2]:514"),
        ] {
            let bytes = frame(vlans, src, dst, b"<14>hello").build();
            let d = decode_udp(&bytes).unwrap();
            assert_eq!(d.src, src.parse().unwrap());
            assert_eq!(d.dst, dst.parse().unwrap());
            assert_eq!(d.payload, b"<14>hello");
            assert_eq!(d.vlan, vlans.last().copied());
        }
    }

    #[test]
    fn checksums_verify() {
        let bytes = frame(&[], "198.18.0.1:4000", "198.18.0.2:514", b"<14>odd").build();
        let ip = &bytes[14..34];
        assert_eq!(fold(sum16(0, ip)), 0, "IPv4 header checksum");
        let udp = &bytes[34..];
        let mut pseudo = sum16(0, &ip[12..20]);
        pseudo += 17 + udp.len() as u32;
        assert_eq!(fold(sum16(pseudo, udp)), 0, "UDP checksum");
    }

    #[test]
    fn macs_parse() {
        assert_eq!(
            parse_mac("02:00:0a:ff:00:01\n"),
            Some([2, 0, 10, 255, 0, 1])
        );
        assert_eq!(parse_mac("02:00:0a:ff:00"), None);
        assert_eq!(parse_mac("02:00:0a:ff:00:01:02"), None);
        assert_eq!(parse_mac("zz:00:0a:ff:00:01"), None);
    }
}
