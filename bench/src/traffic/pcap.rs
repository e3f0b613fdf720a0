//! Captures as files, through pcap-file: read pcap (either byte order, micro- or nanosecond
//! stamps) and pcapng, with Ethernet, Linux cooked (SLL, SLL2, as `tcpdump -i any` writes),
//! raw IP and BSD loopback framing, every frame turned into an Ethernet frame for the replayer;
//! write pcap with nanosecond stamps and Ethernet framing.

use std::io::{self, Write};

use pcap_file::{
    DataLink, Endianness, TsResolution,
    pcap::{PcapHeader, PcapPacket, PcapReader, PcapWriter},
    pcapng::{
        Block, PcapNgReader,
        blocks::interface_description::{InterfaceDescriptionBlock, InterfaceDescriptionOption},
    },
};

/// Capture time starts at 2026-11-22T10:00:00Z.
const BASE_S: u64 = 1_795_341_600;

/// Writes `frames` (nanoseconds since the capture's start, Ethernet frame) as a pcap with
/// nanosecond timestamps.
pub fn write_pcap(out: &mut impl Write, frames: &[(u64, Vec<u8>)]) -> io::Result<()> {
    let header = PcapHeader {
        datalink: DataLink::ETHERNET,
        ts_resolution: TsResolution::NanoSecond,
        endianness: Endianness::Little,
        ..PcapHeader::default()
    };
    let mut w = PcapWriter::with_header(out, header).map_err(io::Error::other)?;
    for (t, f) in frames {
        let time = std::time::Duration::from_nanos(BASE_S * 1_000_000_000 + t);
        w.write_packet(&PcapPacket::new(time, f.len() as u32, f))
            .map_err(io::Error::other)?;
    }
    Ok(())
}

fn invalid(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

/// Reads a pcap or pcapng capture: every frame, as Ethernet, with its time in nanoseconds since
/// the epoch. A link type that cannot be turned into Ethernet is an error naming it.
pub fn read_pcap(bytes: &[u8]) -> io::Result<Vec<(u64, Vec<u8>)>> {
    // A pcapng file starts with a section header block, type 0x0A0D0D0A in either byte order.
    if bytes.starts_with(&[0x0a, 0x0d, 0x0d, 0x0a]) {
        return read_pcapng(bytes);
    }
    let mut r = PcapReader::new(bytes).map_err(|e| invalid(format!("not a pcap file: {e}")))?;
    let link = r.header().datalink;
    let mut frames = Vec::new();
    while let Some(p) = r.next_packet() {
        let p = p.map_err(|e| invalid(format!("pcap record {}: {e}", frames.len() + 1)))?;
        frames.push((p.timestamp.as_nanos() as u64, ethernet(link, &p.data)?));
    }
    Ok(frames)
}

/// A pcapng capture: enhanced and simple packet blocks, each framed as its interface says,
/// timed at its interface's resolution (`if_tsresol`, microseconds when absent).
fn read_pcapng(bytes: &[u8]) -> io::Result<Vec<(u64, Vec<u8>)>> {
    let mut r = PcapNgReader::new(bytes).map_err(|e| invalid(format!("not a pcapng file: {e}")))?;
    let mut interfaces: Vec<(DataLink, u128)> = Vec::new();
    let mut frames = Vec::new();
    while let Some(block) = r.next_block() {
        let block = block.map_err(|e| invalid(format!("pcapng block: {e}")))?;
        match block {
            Block::SectionHeader(_) => interfaces.clear(),
            Block::InterfaceDescription(idb) => {
                interfaces.push((idb.linktype, units_per_second(&idb)))
            }
            Block::EnhancedPacket(p) => {
                let (link, per_s) = *interfaces.get(p.interface_id as usize).ok_or_else(|| {
                    invalid(format!(
                        "packet of undescribed interface {}",
                        p.interface_id
                    ))
                })?;
                // pcap-file reads the raw stamp as nanoseconds: scale it to the interface's units.
                let raw = p.timestamp.as_nanos();
                let ns = raw * 1_000_000_000 / per_s.max(1);
                frames.push((ns as u64, ethernet(link, &p.data)?));
            }
            Block::SimplePacket(p) => {
                let (link, _) = *interfaces
                    .first()
                    .ok_or_else(|| invalid("simple packet without an interface"))?;
                frames.push((0, ethernet(link, &p.data)?));
            }
            _ => {}
        }
    }
    Ok(frames)
}

/// How many timestamp units make a second on `idb` (`if_tsresol`: a power of ten, or of two
/// with the high bit set; 10^6 when absent).
fn units_per_second(idb: &InterfaceDescriptionBlock<'_>) -> u128 {
    idb.options
        .iter()
        .find_map(|o| match o {
            InterfaceDescriptionOption::IfTsResol(r) => Some(*r),
            _ => None,
        })
        .map_or(1_000_000, |r| {
            let exp = u32::from(r & 0x7f).min(30);
            if r & 0x80 == 0 {
                10u128.pow(exp)
            } else {
                1u128 << exp
            }
        })
}

const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86dd;

/// An Ethernet frame carrying `payload` as `ethertype` (addresses zero: the replayer writes its
/// own).
fn framed(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + payload.len());
    f.extend_from_slice(&[0; 12]);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// An IP packet's ethertype, from its version nibble.
fn ip_ethertype(packet: &[u8]) -> io::Result<u16> {
    match packet.first().map(|b| b >> 4) {
        Some(4) => Ok(ETH_P_IP),
        Some(6) => Ok(ETH_P_IPV6),
        _ => Err(invalid("a raw IP record that is neither IPv4 nor IPv6")),
    }
}

/// `data`, captured with link type `link`, as an Ethernet frame.
fn ethernet(link: DataLink, data: &[u8]) -> io::Result<Vec<u8>> {
    let short = |what: &str| invalid(format!("a {what} record shorter than its header"));
    match link {
        DataLink::ETHERNET => Ok(data.to_vec()),
        // Linux cooked v1: packet type, ARPHRD, address length, 8 address bytes, protocol.
        DataLink::LINUX_SLL => {
            let h = data.get(..16).ok_or_else(|| short("Linux cooked (SLL)"))?;
            Ok(framed(u16::from_be_bytes([h[14], h[15]]), &data[16..]))
        }
        // Linux cooked v2: protocol, reserved, interface index, ARPHRD, packet type, address
        // length, 8 address bytes.
        DataLink::LINUX_SLL2 => {
            let h = data.get(..20).ok_or_else(|| short("Linux cooked (SLL2)"))?;
            Ok(framed(u16::from_be_bytes([h[0], h[1]]), &data[20..]))
        }
        DataLink::RAW | DataLink::IPV4 | DataLink::IPV6 => Ok(framed(ip_ethertype(data)?, data)),
        // BSD loopback: a 4-byte address family in the capturing host's byte order.
        DataLink::NULL | DataLink::LOOP => {
            let packet = data.get(4..).ok_or_else(|| short("loopback"))?;
            Ok(framed(ip_ethertype(packet)?, packet))
        }
        other => Err(invalid(format!(
            "link type {other:?} is not one this reads (Ethernet, Linux cooked SLL and SLL2, raw \
             IP, BSD loopback)"
        ))),
    }
}
