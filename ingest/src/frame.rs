//! Decoding the Ethernet frames that arrive through AF_XDP down to their UDP payload.
//!
//! The XDP program has already checked the headers it steers on; this decoder checks them again
//! because user space must never trust packet memory, and it cuts the payload at the UDP length
//! so that Ethernet padding of short frames never becomes part of a message.

use std::net::{Ipv4Addr, SocketAddrV4};

use xdp_common::wire;

/// A UDP datagram inside a received frame; the payload borrows the frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpDatagram<'a> {
    /// Sender address and port.
    pub src: SocketAddrV4,
    /// Destination address and port.
    pub dst: SocketAddrV4,
    /// The UDP payload: the log message.
    pub payload: &'a [u8],
}

/// Why a frame is not a UDP datagram this decoder can hand on. Each kind is counted by the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Shorter than the headers it announces.
    #[error("truncated frame")]
    Truncated,
    /// Not IPv4 (the XDP program only steers IPv4 for now).
    #[error("not IPv4")]
    NotIpv4,
    /// Not UDP.
    #[error("not UDP")]
    NotUdp,
    /// An IP fragment: the XDP program passes those to the kernel, so one here is a bug.
    #[error("IP fragment")]
    Fragment,
    /// The UDP length field is below 8 or beyond the frame.
    #[error("bad UDP length")]
    BadUdpLength,
}

impl FrameError {
    /// Stable counter name for this kind of frame drop.
    pub const fn counter_name(self) -> &'static str {
        match self {
            FrameError::Truncated => "frame_dropped_truncated",
            FrameError::NotIpv4 => "frame_dropped_not_ipv4",
            FrameError::NotUdp => "frame_dropped_not_udp",
            FrameError::Fragment => "frame_dropped_fragment",
            FrameError::BadUdpLength => "frame_dropped_bad_udp_length",
        }
    }
}

fn be16(frame: &[u8], at: usize) -> Result<u16, FrameError> {
    frame
        .get(at..at + 2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]))
        .ok_or(FrameError::Truncated)
}

fn ipv4(frame: &[u8], at: usize) -> Result<Ipv4Addr, FrameError> {
    frame
        .get(at..at + 4)
        .map(|b| Ipv4Addr::new(b[0], b[1], b[2], b[3]))
        .ok_or(FrameError::Truncated)
}

/// Decodes Ethernet II, IPv4 (any header length) and UDP, and returns the datagram.
pub fn decode_udp(frame: &[u8]) -> Result<UdpDatagram<'_>, FrameError> {
    if be16(frame, 12)? != wire::ETH_P_IP {
        return Err(FrameError::NotIpv4);
    }
    let ip = wire::ETH_HLEN;
    let version_ihl = *frame.get(ip).ok_or(FrameError::Truncated)?;
    let ihl = usize::from(version_ihl & 0x0f) * 4;
    if version_ihl >> 4 != 4 || ihl < wire::IPV4_MIN_HLEN || frame.len() < ip + ihl {
        return Err(FrameError::Truncated);
    }
    if frame[ip + 9] != wire::IPPROTO_UDP {
        return Err(FrameError::NotUdp);
    }
    if be16(frame, ip + 6)? & (wire::IP_MF | wire::IP_OFFSET_MASK) != 0 {
        return Err(FrameError::Fragment);
    }
    let src_ip = ipv4(frame, ip + 12)?;
    let dst_ip = ipv4(frame, ip + 16)?;
    let udp = ip + ihl;
    let src_port = be16(frame, udp)?;
    let dst_port = be16(frame, udp + 2)?;
    let udp_len = usize::from(be16(frame, udp + 4)?);
    if udp_len < wire::UDP_HLEN || frame.len() < udp + udp_len {
        return Err(FrameError::BadUdpLength);
    }
    Ok(UdpDatagram {
        src: SocketAddrV4::new(src_ip, src_port),
        dst: SocketAddrV4::new(dst_ip, dst_port),
        payload: &frame[udp + wire::UDP_HLEN..udp + udp_len],
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds an Ethernet + IPv4 + UDP frame (checksums zero), padded to `min_len`.
    pub(crate) fn udp_frame(
        options: &[u8],
        dst_port: u16,
        payload: &[u8],
        min_len: usize,
    ) -> Vec<u8> {
        let ihl = 20 + options.len();
        assert!(ihl.is_multiple_of(4) && ihl <= 60);
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&0x0800u16.to_be_bytes());
        f.push(0x40 | (ihl / 4) as u8);
        f.push(0);
        f.extend_from_slice(&((ihl + 8 + payload.len()) as u16).to_be_bytes());
        f.extend_from_slice(&[0, 0, 0x40, 0, 64, 17, 0, 0]); // id, DF, ttl, udp, csum
        f.extend_from_slice(&[198, 18, 0, 1, 198, 18, 0, 2]);
        f.extend_from_slice(options);
        f.extend_from_slice(&40000u16.to_be_bytes());
        f.extend_from_slice(&dst_port.to_be_bytes());
        f.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        f.extend_from_slice(&[0, 0]);
        f.extend_from_slice(payload);
        if f.len() < min_len {
            f.resize(min_len, 0);
        }
        f
    }

    #[test]
    fn decodes_a_syslog_datagram() {
        let frame = udp_frame(&[], 514, b"<13>1 - - - - - - hi", 0);
        let d = decode_udp(&frame).unwrap();
        assert_eq!(d.src, "198.18.0.1:40000".parse().unwrap());
        assert_eq!(d.dst, "198.18.0.2:514".parse().unwrap());
        assert_eq!(d.payload, b"<13>1 - - - - - - hi");
    }

    #[test]
    fn ethernet_padding_is_not_part_of_the_payload() {
        // A 5-byte payload makes a 47-byte frame that the sender pads to the 60-byte minimum.
        let frame = udp_frame(&[], 514, b"<13>x", 60);
        assert_eq!(frame.len(), 60);
        assert_eq!(decode_udp(&frame).unwrap().payload, b"<13>x");
    }

    #[test]
    fn ip_options_move_the_udp_header() {
        let frame = udp_frame(&[1, 1, 1, 0], 514, b"payload", 0); // NOP NOP NOP EOL
        assert_eq!(decode_udp(&frame).unwrap().payload, b"payload");
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let frame = udp_frame(&[], 514, b"<13>1 - - - - - - hi", 0);
        for len in 0..frame.len() {
            // Fix up nothing: shortened frames keep their original length fields.
            let got = decode_udp(&frame[..len]);
            assert!(got.is_err(), "length {len} decoded: {got:?}");
        }
    }

    #[test]
    fn other_protocols_and_fragments_are_named() {
        let mut frame = udp_frame(&[], 514, b"x", 0);
        frame[12] = 0x86;
        frame[13] = 0xdd;
        assert_eq!(decode_udp(&frame), Err(FrameError::NotIpv4));
        let mut frame = udp_frame(&[], 514, b"x", 0);
        frame[23] = 6;
        assert_eq!(decode_udp(&frame), Err(FrameError::NotUdp));
        let mut frame = udp_frame(&[], 514, b"x", 0);
        frame[20] = 0x20; // MF
        assert_eq!(decode_udp(&frame), Err(FrameError::Fragment));
        let mut frame = udp_frame(&[], 514, b"x", 0);
        frame[38] = 0;
        frame[39] = 4; // UDP length 4 < 8
        assert_eq!(decode_udp(&frame), Err(FrameError::BadUdpLength));
    }
}
