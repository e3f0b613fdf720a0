//! Decoding the Ethernet frames that arrive through AF_XDP down to their UDP payload.
//!
//! The header walk is `xdp_common::walk`, the same code the XDP program runs, so both sides
//! always agree on what a log datagram is. User space walks again because it must never trust
//! packet memory, and it cuts the payload at the UDP length so that Ethernet padding of short
//! frames never becomes part of a message.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use xdp_common::{
    checksum::{Sum, udp_pseudo_header},
    walk::{Malformed, SourceAddr, Walk, walk},
};

/// A UDP datagram inside a received frame; the payload borrows the frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpDatagram<'a> {
    /// Sender address and port.
    pub src: SocketAddr,
    /// Destination address and port.
    pub dst: SocketAddr,
    /// VLAN id of the innermost tag, if the frame was tagged.
    pub vlan: Option<u16>,
    /// The UDP payload: the log message.
    pub payload: &'a [u8],
}

/// Why a frame is not a UDP datagram this decoder can hand on. Each kind has its own counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Shorter than the headers it announces, or an inconsistent IP header.
    #[error("malformed frame")]
    Malformed = 0,
    /// Not IPv4 or IPv6.
    #[error("not IP")]
    NotIp = 1,
    /// Not UDP.
    #[error("not UDP")]
    NotUdp = 2,
    /// An IP fragment: the XDP program passes those to the kernel, so one here is a bug.
    #[error("IP fragment")]
    Fragment = 3,
    /// The UDP length field is below 8 or beyond the frame.
    #[error("bad UDP length")]
    BadUdpLength = 4,
    /// The IPv4 header checksum is wrong: the kernel drops such a packet.
    #[error("bad IPv4 header checksum")]
    BadIpChecksum = 5,
    /// The UDP checksum is wrong, or missing over IPv6 (where it is mandatory): the kernel drops
    /// such a datagram.
    #[error("bad UDP checksum")]
    BadUdpChecksum = 6,
    /// The IP header's length disagrees with the frame: an IPv4 total length beyond the frame
    /// or shorter than the header, an IPv6 payload length beyond the frame. The kernel drops
    /// such a packet (truncated, or a header error).
    #[error("bad IP length")]
    BadIpLength = 7,
}

impl FrameError {
    /// Every kind, in index order.
    pub const ALL: [FrameError; 8] = [
        FrameError::Malformed,
        FrameError::NotIp,
        FrameError::NotUdp,
        FrameError::Fragment,
        FrameError::BadUdpLength,
        FrameError::BadIpChecksum,
        FrameError::BadUdpChecksum,
        FrameError::BadIpLength,
    ];

    /// Dense index, for counter arrays.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// Stable counter name for this kind of frame drop.
    pub const fn counter_name(self) -> &'static str {
        match self {
            FrameError::Malformed => "frame_dropped_malformed",
            FrameError::NotIp => "frame_dropped_not_ip",
            FrameError::NotUdp => "frame_dropped_not_udp",
            FrameError::Fragment => "frame_dropped_fragment",
            FrameError::BadUdpLength => "frame_dropped_bad_udp_length",
            FrameError::BadIpChecksum => "frame_dropped_bad_ip_checksum",
            FrameError::BadUdpChecksum => "frame_dropped_bad_udp_checksum",
            FrameError::BadIpLength => "frame_dropped_bad_ip_length",
        }
    }
}

/// What the AF_XDP path does with checksums, which the kernel stack would have checked had the
/// frame not been steered past it.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Checksums {
    /// Verify the IPv4 header and UDP checksums and drop, counted, what the kernel would drop:
    /// a wrong checksum, or none over IPv6. The two paths then take the same datagrams.
    #[default]
    Verify,
    /// Take every datagram whatever its checksums say, as Suricata's `checksum-validation: no`
    /// does: for captures and senders whose checksums are left to an offload that never ran.
    Accept,
}

fn ip(addr: SourceAddr) -> IpAddr {
    match addr {
        SourceAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(a)),
        SourceAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(a)),
    }
}

/// Walks the frame's headers and returns its UDP datagram, checksums not looked at (for
/// captures, whose checksums a sender's offload may never have filled in).
pub fn decode_udp(frame: &[u8]) -> Result<UdpDatagram<'_>, FrameError> {
    decode(frame, Checksums::Accept)
}

/// Walks the frame's headers and returns its UDP datagram, its checksums handled as `checksums`
/// says.
pub fn decode(frame: &[u8], checksums: Checksums) -> Result<UdpDatagram<'_>, FrameError> {
    let udp = match walk(frame) {
        Ok(Walk::Udp(udp)) => udp,
        Ok(Walk::NotIp) => return Err(FrameError::NotIp),
        Ok(Walk::NotUdp) => return Err(FrameError::NotUdp),
        Ok(Walk::Fragment(_)) => return Err(FrameError::Fragment),
        Err(Malformed) => return Err(FrameError::Malformed),
    };
    // What the IP header says the packet is: the rest of the frame is link padding.
    let packet_end = ip_end(frame, &udp).ok_or(FrameError::BadIpLength)?;
    let len = usize::from(udp.udp_len);
    let datagram = frame[..packet_end]
        .get(udp.udp_offset..udp.udp_offset + len)
        .filter(|datagram| datagram.len() >= xdp_common::wire::UDP_HLEN)
        .ok_or(FrameError::BadUdpLength)?;
    if checksums == Checksums::Verify {
        verify(frame, &udp, datagram)?;
    }
    let payload = &datagram[xdp_common::wire::UDP_HLEN..];
    Ok(UdpDatagram {
        src: SocketAddr::new(ip(udp.src), udp.src_port),
        dst: SocketAddr::new(ip(udp.dst), udp.dst_port),
        vlan: udp.vlan,
        payload,
    })
}

/// Where the IP packet ends in `frame`, as its header says, when the header's length agrees
/// with the frame as the kernel requires (`ip_rcv`, `ipv6_rcv`): an IPv4 total length covering
/// at least its header and within the frame; an IPv6 payload length (not zero: no jumbograms)
/// within the frame.
fn ip_end(frame: &[u8], udp: &xdp_common::walk::UdpHeaders) -> Option<usize> {
    let at = udp.ip_offset;
    let field = |o: usize| {
        Some(usize::from(u16::from_be_bytes([
            *frame.get(o)?,
            *frame.get(o + 1)?,
        ])))
    };
    let end = match udp.src {
        SourceAddr::V4(_) => {
            let total = field(at + 2)?;
            (total >= udp.udp_offset - at).then_some(at + total)?
        }
        SourceAddr::V6(_) => {
            let payload = field(at + 4)?;
            (payload > 0).then_some(at + 40 + payload)?
        }
    };
    (end <= frame.len()).then_some(end)
}

/// Checks what the kernel checks of a UDP datagram it receives: the IPv4 header checksum, then
/// the UDP checksum over the pseudo-header and the datagram (`datagram`, cut at the UDP length).
/// Over IPv4 a zero UDP checksum means none was sent; over IPv6 it is refused (RFC 8200,
/// section 8.1).
fn verify(
    frame: &[u8],
    udp: &xdp_common::walk::UdpHeaders,
    datagram: &[u8],
) -> Result<(), FrameError> {
    let pseudo = match (udp.src, udp.dst) {
        (SourceAddr::V4(s), SourceAddr::V4(d)) => {
            // The walk read the header whole, options included, before the UDP header.
            let header = frame
                .get(udp.ip_offset..udp.udp_offset)
                .ok_or(FrameError::Malformed)?;
            if !Sum::new().bytes(header).verifies() {
                return Err(FrameError::BadIpChecksum);
            }
            if datagram[6..8] == [0, 0] {
                return Ok(());
            }
            udp_pseudo_header(&s, &d, udp.udp_len)
        }
        (SourceAddr::V6(s), SourceAddr::V6(d)) => {
            if datagram[6..8] == [0, 0] {
                return Err(FrameError::BadUdpChecksum);
            }
            udp_pseudo_header(&s, &d, udp.udp_len)
        }
        _ => return Err(FrameError::Malformed),
    };
    if pseudo.bytes(datagram).verifies() {
        Ok(())
    } else {
        Err(FrameError::BadUdpChecksum)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds test frames: Ethernet, optional VLAN tags, IPv4 or IPv6 (with extension headers),
    /// UDP; checksums zero unless `checksums`.
    #[derive(Default)]
    struct Builder {
        checksums: bool,
        vlans: Vec<(u16, u16)>,
        ipv6: bool,
        ipv4_options: Vec<u8>,
        ipv4_flags_frag: u16,
        ipv6_ext: Vec<(u8, Vec<u8>)>,
        pad_to: usize,
    }

    impl Builder {
        fn build(&self, dst_port: u16, payload: &[u8]) -> Vec<u8> {
            let mut udp = 40000u16.to_be_bytes().to_vec();
            udp.extend_from_slice(&dst_port.to_be_bytes());
            udp.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
            udp.extend_from_slice(&[0, 0]);
            udp.extend_from_slice(payload);

            let mut f = vec![0u8; 12];
            for (tpid, vid) in &self.vlans {
                f.extend_from_slice(&tpid.to_be_bytes());
                f.extend_from_slice(&vid.to_be_bytes());
            }
            if self.ipv6 {
                f.extend_from_slice(&0x86ddu16.to_be_bytes());
                let mut ext = Vec::new();
                let mut next = 17u8;
                for (kind, body) in self.ipv6_ext.iter().rev() {
                    let mut h = vec![next, ((body.len() + 2) / 8 - 1) as u8];
                    h.extend_from_slice(body);
                    ext.splice(0..0, h);
                    next = *kind;
                }
                f.extend_from_slice(&[0x60, 0, 0, 0]);
                f.extend_from_slice(&((ext.len() + udp.len()) as u16).to_be_bytes());
                f.extend_from_slice(&[next, 64]);
                f.extend_from_slice(&[0x20, 0x01, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
                f.extend_from_slice(&[0x20, 0x01, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
                f.extend_from_slice(&ext);
            } else {
                let ihl = 20 + self.ipv4_options.len();
                assert!(ihl.is_multiple_of(4) && ihl <= 60);
                f.extend_from_slice(&0x0800u16.to_be_bytes());
                f.push(0x40 | (ihl / 4) as u8);
                f.push(0);
                f.extend_from_slice(&((ihl + udp.len()) as u16).to_be_bytes());
                f.extend_from_slice(&[0, 0]);
                f.extend_from_slice(&self.ipv4_flags_frag.to_be_bytes());
                f.extend_from_slice(&[64, 17, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2]);
                f.extend_from_slice(&self.ipv4_options);
            }
            f.extend_from_slice(&udp);
            if self.checksums {
                let l3 = 14 + 4 * self.vlans.len();
                let u = f.len() - udp.len();
                let (src, dst) = if self.ipv6 {
                    (l3 + 8..l3 + 24, l3 + 24..l3 + 40)
                } else {
                    let c = Sum::new().bytes(&f[l3..u]).checksum();
                    f[l3 + 10..l3 + 12].copy_from_slice(&c.to_be_bytes());
                    (l3 + 12..l3 + 16, l3 + 16..l3 + 20)
                };
                let pseudo = udp_pseudo_header(&f[src], &f[dst], udp.len() as u16);
                let c = pseudo.bytes(&f[u..]).udp_checksum();
                f[u + 6..u + 8].copy_from_slice(&c.to_be_bytes());
            }
            if f.len() < self.pad_to {
                f.resize(self.pad_to, 0);
            }
            f
        }
    }

    fn ipv4(payload: &[u8]) -> Vec<u8> {
        Builder::default().build(514, payload)
    }

    fn checked(ipv6: bool) -> Builder {
        Builder {
            checksums: true,
            ipv6,
            ..Default::default()
        }
    }

    #[test]
    fn correct_checksums_verify_on_both_families() {
        for ipv6 in [false, true] {
            let frame = checked(ipv6).build(514, b"<13>checked");
            assert_eq!(
                decode(&frame, Checksums::Verify).unwrap().payload,
                b"<13>checked",
                "ipv6 {ipv6}"
            );
        }
        // Padding, options and extension headers are not summed as data.
        let b = Builder {
            pad_to: 60,
            ipv4_options: vec![1, 1, 1, 0],
            ..checked(false)
        };
        assert!(decode(&b.build(514, b"<1>x"), Checksums::Verify).is_ok());
        let b = Builder {
            ipv6_ext: vec![(0, vec![1, 4, 0, 0, 0, 0])],
            vlans: vec![(0x8100, 7)],
            ..checked(true)
        };
        assert!(decode(&b.build(514, b"<1>x"), Checksums::Verify).is_ok());
    }

    #[test]
    fn a_wrong_udp_checksum_is_refused_unless_accepted() {
        for ipv6 in [false, true] {
            let mut frame = checked(ipv6).build(514, b"<13>checked");
            *frame.last_mut().unwrap() ^= 0x01;
            assert_eq!(
                decode(&frame, Checksums::Verify),
                Err(FrameError::BadUdpChecksum),
                "ipv6 {ipv6}"
            );
            assert_eq!(
                decode(&frame, Checksums::Accept).unwrap().payload,
                b"<13>checkee",
                "ipv6 {ipv6}"
            );
            assert_eq!(decode_udp(&frame), decode(&frame, Checksums::Accept));
        }
    }

    #[test]
    fn a_wrong_ipv4_header_checksum_is_refused() {
        let mut frame = checked(false).build(514, b"<13>checked");
        frame[14 + 8] = 63; // the TTL, after the checksum was written
        assert_eq!(
            decode(&frame, Checksums::Verify),
            Err(FrameError::BadIpChecksum)
        );
        assert!(decode(&frame, Checksums::Accept).is_ok());
    }

    #[test]
    fn a_zero_udp_checksum_means_none_over_ipv4_and_is_refused_over_ipv6() {
        // The IPv4 header checksum is still checked, so fill that in and leave UDP at zero.
        let mut v4 = ipv4(b"<13>no checksum");
        let c = Sum::new().bytes(&v4[14..34]).checksum();
        v4[24..26].copy_from_slice(&c.to_be_bytes());
        assert!(decode(&v4, Checksums::Verify).is_ok());
        let v6 = Builder {
            ipv6: true,
            ..Default::default()
        }
        .build(514, b"<13>no checksum");
        assert_eq!(
            decode(&v6, Checksums::Verify),
            Err(FrameError::BadUdpChecksum)
        );
        assert!(decode(&v6, Checksums::Accept).is_ok());
    }

    #[test]
    fn decodes_a_syslog_datagram() {
        let frame = ipv4(b"<13>1 - - - - - - hi");
        let d = decode_udp(&frame).unwrap();
        assert_eq!(d.src, "198.18.0.1:40000".parse().unwrap());
        assert_eq!(d.dst, "198.18.0.2:514".parse().unwrap());
        assert_eq!(d.vlan, None);
        assert_eq!(d.payload, b"<13>1 - - - - - - hi");
    }

    #[test]
    fn ip_lengths_that_disagree_with_the_frame_are_dropped_as_the_kernel_does() {
        let set = |mut f: Vec<u8>, at: usize, v: u16| {
            f[at..at + 2].copy_from_slice(&v.to_be_bytes());
            f
        };
        let v4 = Builder {
            pad_to: 80,
            ..Default::default()
        }
        .build(514, b"<13>x");
        assert!(decode_udp(&v4).is_ok());
        // Total length beyond the frame; below the header's own 20 bytes.
        let long = set(v4.clone(), 16, 81 - 14);
        assert_eq!(decode_udp(&long), Err(FrameError::BadIpLength));
        assert_eq!(
            decode_udp(&set(v4.clone(), 16, 19)),
            Err(FrameError::BadIpLength)
        );
        // A UDP length reaching into the padding, past what the IP header covers.
        assert_eq!(decode_udp(&set(v4, 38, 20)), Err(FrameError::BadUdpLength));
        let v6 = Builder {
            ipv6: true,
            ..Default::default()
        }
        .build(514, b"<13>x");
        assert!(decode_udp(&v6).is_ok());
        assert_eq!(
            decode_udp(&set(v6.clone(), 18, 200)),
            Err(FrameError::BadIpLength)
        );
        assert_eq!(
            decode_udp(&set(v6, 18, 0)),
            Err(FrameError::BadIpLength),
            "no jumbograms"
        );
    }

    #[test]
    fn ethernet_padding_is_not_part_of_the_payload() {
        // A 5-byte payload makes a 47-byte frame that the sender pads to the 60-byte minimum.
        let frame = Builder {
            pad_to: 60,
            ..Default::default()
        }
        .build(514, b"<13>x");
        assert_eq!(frame.len(), 60);
        assert_eq!(decode_udp(&frame).unwrap().payload, b"<13>x");
    }

    #[test]
    fn ip_options_move_the_udp_header() {
        let b = Builder {
            ipv4_options: vec![1, 1, 1, 0],
            ..Default::default()
        };
        assert_eq!(
            decode_udp(&b.build(514, b"payload")).unwrap().payload,
            b"payload"
        );
    }

    #[test]
    fn one_and_two_vlan_tags() {
        let b = Builder {
            vlans: vec![(0x8100, 0x2000 | 10)],
            ..Default::default()
        };
        let frame = b.build(514, b"tagged");
        let d = decode_udp(&frame).unwrap();
        assert_eq!((d.vlan, d.payload), (Some(10), &b"tagged"[..]));

        let b = Builder {
            vlans: vec![(0x88a8, 100), (0x8100, 20)],
            ..Default::default()
        };
        let frame = b.build(514, b"qinq");
        let d = decode_udp(&frame).unwrap();
        assert_eq!((d.vlan, d.payload), (Some(20), &b"qinq"[..]));

        let b = Builder {
            vlans: vec![(0x88a8, 1), (0x8100, 2), (0x8100, 3)],
            ..Default::default()
        };
        assert_eq!(decode_udp(&b.build(514, b"x")), Err(FrameError::NotIp));
    }

    #[test]
    fn ipv6_with_extension_headers() {
        let b = Builder {
            ipv6: true,
            ..Default::default()
        };
        let frame = b.build(514, b"v6");
        let d = decode_udp(&frame).unwrap();
        assert_eq!(d.src, "[2001:2::1]:40000".parse().unwrap());
        assert_eq!(d.payload, b"v6");

        // Hop-by-hop (PadN to 8 bytes), then destination options of 16 bytes.
        let b = Builder {
            ipv6: true,
            ipv6_ext: vec![
                (0, vec![1, 4, 0, 0, 0, 0]),
                (60, vec![1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            ],
            ..Default::default()
        };
        assert_eq!(decode_udp(&b.build(514, b"ext")).unwrap().payload, b"ext");

        let b = Builder {
            ipv6: true,
            ipv6_ext: vec![(44, vec![0, 0, 0, 0, 0, 1])],
            ..Default::default()
        };
        assert_eq!(
            decode_udp(&b.build(514, b"frag")),
            Err(FrameError::Fragment)
        );
    }

    #[test]
    fn fragments_name_their_sender_for_the_source_filter() {
        let sender = |frame: &[u8]| match walk(frame) {
            Ok(Walk::Fragment(f)) => Some(f.src_addr()),
            _ => None,
        };
        // A first fragment (MF) and a later one (offset 16): both name 198.18.0.1.
        for (flags, first) in [(0x2000, true), (0x0010, false)] {
            let b = Builder {
                ipv4_flags_frag: flags,
                ..Default::default()
            };
            let frame = b.build(514, b"x");
            assert_eq!(sender(&frame), Some(SourceAddr::V4([198, 18, 0, 1])));
            assert!(matches!(walk(&frame[..]), Ok(Walk::Fragment(f)) if f.first == first));
        }
        let b = Builder {
            ipv6: true,
            ipv6_ext: vec![(44, vec![0, 0, 0, 0, 0, 1])],
            ..Default::default()
        };
        let mut frame = b.build(514, b"x");
        let mut v6 = [0u8; 16];
        v6[..4].copy_from_slice(&[0x20, 0x01, 0, 2]);
        v6[15] = 1;
        assert_eq!(sender(&frame), Some(SourceAddr::V6(v6)));
        let mut dst = v6;
        dst[15] = 2;
        assert_eq!(
            walk(&frame[..]),
            Ok(Walk::Fragment(xdp_common::walk::IpFragment {
                v6: true,
                first: true,
                tagged: false,
                l3: 14,
                src: v6,
                dst,
            }))
        );
        // A fragment of TCP is not a UDP fragment; a fragment header cut short is malformed.
        frame[14 + 40] = 6;
        assert_eq!(walk(&frame[..]), Ok(Walk::NotUdp));
        assert_eq!(walk(&frame[..14 + 40]), Err(Malformed));
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let frames = [
            ipv4(b"<13>1 - - - - - - hi"),
            Builder {
                vlans: vec![(0x8100, 5)],
                ipv6: true,
                ..Default::default()
            }
            .build(514, b"x"),
            Builder {
                ipv6: true,
                ipv6_ext: vec![(0, vec![1, 4, 0, 0, 0, 0])],
                ..Default::default()
            }
            .build(514, b"y"),
        ];
        for frame in frames {
            for len in 0..frame.len() {
                // Length fields still describe the whole frame, so every cut is an error.
                let got = decode_udp(&frame[..len]);
                assert!(got.is_err(), "length {len} decoded: {got:?}");
            }
        }
    }

    #[test]
    fn other_protocols_and_fragments_are_named() {
        let mut frame = ipv4(b"x");
        frame[12] = 0x08;
        frame[13] = 0x06; // ARP
        assert_eq!(decode_udp(&frame), Err(FrameError::NotIp));
        let mut frame = ipv4(b"x");
        frame[23] = 6;
        assert_eq!(decode_udp(&frame), Err(FrameError::NotUdp));
        let b = Builder {
            ipv4_flags_frag: 0x2000,
            ..Default::default()
        }; // MF
        assert_eq!(decode_udp(&b.build(514, b"x")), Err(FrameError::Fragment));
        let b = Builder {
            ipv4_flags_frag: 0x0010,
            ..Default::default()
        }; // offset 16
        assert_eq!(decode_udp(&b.build(514, b"x")), Err(FrameError::Fragment));
        let mut frame = ipv4(b"x");
        frame[38] = 0;
        frame[39] = 4; // UDP length 4 < 8
        assert_eq!(decode_udp(&frame), Err(FrameError::BadUdpLength));
        let mut frame = ipv4(b"x");
        frame[14] = 0x45 + 0x10; // version 5
        assert_eq!(decode_udp(&frame), Err(FrameError::Malformed));
    }
}
