//! Captures as pcap files.

use std::io::{self, Write};

/// Writes `frames` as a pcap (nanosecond timestamps, Ethernet).
pub fn write_pcap(out: &mut impl Write, frames: &[(u64, Vec<u8>)]) -> io::Result<()> {
    // Nanosecond-resolution magic, version 2.4, snaplen 65535, LINKTYPE_ETHERNET.
    out.write_all(&0xa1b2_3c4du32.to_le_bytes())?;
    out.write_all(&2u16.to_le_bytes())?;
    out.write_all(&4u16.to_le_bytes())?;
    out.write_all(&0i32.to_le_bytes())?;
    out.write_all(&0u32.to_le_bytes())?;
    out.write_all(&65_535u32.to_le_bytes())?;
    out.write_all(&1u32.to_le_bytes())?;
    // Capture time starts at 2026-11-22T10:00:00Z.
    const BASE_S: u64 = 1_795_341_600;
    for (t, f) in frames {
        let len = f.len() as u32;
        out.write_all(&((BASE_S + t / 1_000_000_000) as u32).to_le_bytes())?;
        out.write_all(&((t % 1_000_000_000) as u32).to_le_bytes())?;
        out.write_all(&len.to_le_bytes())?;
        out.write_all(&len.to_le_bytes())?;
        out.write_all(f)?;
    }
    Ok(())
}

/// Reads a pcap (either timestamp resolution, little-endian): frames with their time in
/// nanoseconds since the epoch.
pub fn read_pcap(bytes: &[u8]) -> io::Result<Vec<(u64, Vec<u8>)>> {
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_string());
    let u32_at = |b: &[u8], i: usize| -> io::Result<u32> {
        b.get(i..i + 4)
            .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
            .ok_or_else(|| bad("truncated pcap"))
    };
    let nanos = match u32_at(bytes, 0)? {
        0xa1b2_3c4d => true,
        0xa1b2_c3d4 => false,
        _ => return Err(bad("not a little-endian pcap")),
    };
    if u32_at(bytes, 20)? != 1 {
        return Err(bad("not an Ethernet capture"));
    }
    let mut frames = Vec::new();
    let mut i = 24;
    while i < bytes.len() {
        let (s, sub, len) = (
            u32_at(bytes, i)?,
            u32_at(bytes, i + 4)?,
            u32_at(bytes, i + 8)?,
        );
        let start = i + 16;
        let end = start + len as usize;
        let f = bytes
            .get(start..end)
            .ok_or_else(|| bad("truncated record"))?;
        let sub_ns = if nanos {
            u64::from(sub)
        } else {
            u64::from(sub) * 1000
        };
        frames.push((u64::from(s) * 1_000_000_000 + sub_ns, f.to_vec()));
        i = end;
    }
    Ok(frames)
}
