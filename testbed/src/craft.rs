//! Building Ethernet frames carrying UDP datagrams, byte for byte, for senders that bypass the
//! kernel's stack: the namespace tests (VLAN tags and malformed frames, which this kernel cannot
//! make through sockets) and `bench`'s replayer. Checksums are real, so the kernel's stack
//! accepts the frames the XDP program passes on.

use std::net::{IpAddr, SocketAddr};

use xdp_common::checksum::{Sum, udp_pseudo_header};
pub use xdp_common::wire::{ETH_P_8021AD, ETH_P_8021Q};
use xdp_common::wire::{ETH_P_IP, ETH_P_IPV6, IPPROTO_UDP, NEXTHDR_FRAGMENT as IPPROTO_FRAGMENT};

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

impl UdpFrame<'_> {
    /// The frame's bytes (one frame, whatever its size: see [`UdpFrame::packets`] for an MTU).
    /// Panics if `src` and `dst` are of different families (a caller bug).
    pub fn build(&self) -> Vec<u8> {
        self.packets(usize::MAX).remove(0)
    }

    /// The frames that carry the datagram over a link of `mtu` bytes (IP packet size): one when
    /// it fits, else IP fragments (IPv4 with MF and offsets, IPv6 with a fragment header), as a
    /// sender's kernel would make them. Panics if `src` and `dst` are of different families.
    pub fn packets(&self, mtu: usize) -> Vec<Vec<u8>> {
        let udp = self.udp_segment();
        match (self.src.ip(), self.dst.ip()) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                if 20 + udp.len() <= mtu {
                    return vec![self.ipv4_frame(s, d, &udp, 0, false, true)];
                }
                let chunk = (mtu.saturating_sub(20) / 8 * 8).max(8);
                let chunks: Vec<&[u8]> = udp.chunks(chunk).collect();
                let last = chunks.len() - 1;
                chunks
                    .iter()
                    .enumerate()
                    .map(|(i, c)| self.ipv4_frame(s, d, c, i * chunk, i < last, false))
                    .collect()
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                if 40 + udp.len() <= mtu {
                    return vec![self.ipv6_frame(s, d, &udp, None)];
                }
                let chunk = (mtu.saturating_sub(48) / 8 * 8).max(8);
                let chunks: Vec<&[u8]> = udp.chunks(chunk).collect();
                let last = chunks.len() - 1;
                chunks
                    .iter()
                    .enumerate()
                    .map(|(i, c)| self.ipv6_frame(s, d, c, Some((i * chunk, i < last))))
                    .collect()
            }
            _ => panic!("source and destination must be of the same address family"),
        }
    }

    /// The datagram's identification in fragments: the same for every fragment of it, and
    /// different for different payloads or senders.
    fn ident(&self) -> u32 {
        let mut h: u32 = 0x811c_9dc5;
        for b in self.payload.iter().chain(&self.src.port().to_be_bytes()) {
            h = (h ^ u32::from(*b)).wrapping_mul(0x0100_0193);
        }
        h
    }

    /// The UDP header and payload, with the checksum over the pseudo-header.
    fn udp_segment(&self) -> Vec<u8> {
        let udp_len = 8 + self.payload.len();
        let mut udp = Vec::with_capacity(udp_len);
        udp.extend_from_slice(&self.src.port().to_be_bytes());
        udp.extend_from_slice(&self.dst.port().to_be_bytes());
        udp.extend_from_slice(&(udp_len as u16).to_be_bytes());
        udp.extend_from_slice(&[0, 0]);
        udp.extend_from_slice(self.payload);
        let (s, d): (Vec<u8>, Vec<u8>) = match (self.src.ip(), self.dst.ip()) {
            (IpAddr::V4(s), IpAddr::V4(d)) => (s.octets().to_vec(), d.octets().to_vec()),
            (IpAddr::V6(s), IpAddr::V6(d)) => (s.octets().to_vec(), d.octets().to_vec()),
            _ => panic!("source and destination must be of the same address family"),
        };
        let csum = udp_pseudo_header(&s, &d, udp_len as u16)
            .bytes(&udp)
            .udp_checksum();
        udp[6..8].copy_from_slice(&csum.to_be_bytes());
        udp
    }

    /// Ethernet header and VLAN tags, then `ethertype`.
    fn ethernet(&self, ethertype: u16, capacity: usize) -> Vec<u8> {
        let mut f = Vec::with_capacity(14 + 8 + capacity);
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
        f.extend_from_slice(&ethertype.to_be_bytes());
        f
    }

    fn ipv4_frame(
        &self,
        s: std::net::Ipv4Addr,
        d: std::net::Ipv4Addr,
        data: &[u8],
        offset: usize,
        more: bool,
        dont_fragment: bool,
    ) -> Vec<u8> {
        let mut f = self.ethernet(ETH_P_IP, 20 + data.len());
        let mut ip = [0u8; 20];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&((20 + data.len()) as u16).to_be_bytes());
        ip[4..6].copy_from_slice(&(self.ident() as u16).to_be_bytes());
        let flags: u16 = if dont_fragment { 0x4000 } else { 0 } | if more { 0x2000 } else { 0 };
        ip[6..8].copy_from_slice(&(flags | (offset / 8) as u16).to_be_bytes());
        ip[8] = 64;
        ip[9] = IPPROTO_UDP;
        ip[12..16].copy_from_slice(&s.octets());
        ip[16..20].copy_from_slice(&d.octets());
        let csum = Sum::new().bytes(&ip).checksum();
        ip[10..12].copy_from_slice(&csum.to_be_bytes());
        f.extend_from_slice(&ip);
        f.extend_from_slice(data);
        f
    }

    /// An IPv6 frame; with `fragment` (offset, more), a fragment header goes before `data`.
    fn ipv6_frame(
        &self,
        s: std::net::Ipv6Addr,
        d: std::net::Ipv6Addr,
        data: &[u8],
        fragment: Option<(usize, bool)>,
    ) -> Vec<u8> {
        let mut f = self.ethernet(ETH_P_IPV6, 48 + data.len());
        let ext = if fragment.is_some() { 8 } else { 0 };
        let mut ip = [0u8; 40];
        ip[0] = 0x60;
        ip[4..6].copy_from_slice(&((ext + data.len()) as u16).to_be_bytes());
        ip[6] = if fragment.is_some() {
            IPPROTO_FRAGMENT
        } else {
            IPPROTO_UDP
        };
        ip[7] = 64;
        ip[8..24].copy_from_slice(&s.octets());
        ip[24..40].copy_from_slice(&d.octets());
        f.extend_from_slice(&ip);
        if let Some((offset, more)) = fragment {
            f.push(IPPROTO_UDP);
            f.push(0);
            f.extend_from_slice(&((offset as u16) | u16::from(more)).to_be_bytes());
            f.extend_from_slice(&self.ident().to_be_bytes());
        }
        f.extend_from_slice(data);
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
    use ingest::datapath::frame::decode_udp;

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
        assert!(Sum::new().bytes(ip).verifies(), "IPv4 header checksum");
        let udp = &bytes[34..];
        let pseudo = udp_pseudo_header(&ip[12..16], &ip[16..20], udp.len() as u16);
        assert!(pseudo.bytes(udp).verifies(), "UDP checksum");
    }

    #[test]
    fn large_datagrams_become_fragments_that_add_up() {
        let payload: Vec<u8> = (0..4000u32).map(|i| b'a' + (i % 26) as u8).collect();
        for (src, dst, ip_len, frag_hdr) in [
            ("198.18.0.1:4000", "198.18.0.2:514", 20, 0),
            ("[2001:2::1]:4000", "[2001:2::2]:514", 40, 8),
        ] {
            let f = frame(&[7], src, dst, &payload);
            let frames = f.packets(1500);
            assert_eq!(
                frames.len(),
                3,
                "{src}: 4008 bytes of UDP in 1500-byte packets"
            );
            let mut udp = Vec::new();
            for (i, fr) in frames.iter().enumerate() {
                assert!(fr.len() - 18 <= 1500, "fits the MTU");
                assert_eq!(
                    decode_udp(fr).unwrap_err(),
                    ingest::datapath::frame::FrameError::Fragment,
                    "fragment {i} is seen as one"
                );
                if ip_len == 20 {
                    assert!(Sum::new().bytes(&fr[18..38]).verifies(), "header checksum");
                }
                udp.extend_from_slice(&fr[18 + ip_len + frag_hdr..]);
            }
            assert_eq!(
                udp,
                f.udp_segment(),
                "{src}: the fragments carry the datagram"
            );
            assert_eq!(f.packets(9000).len(), 1, "fits a jumbo MTU");
        }
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
