//! GELF 1.1 over UDP: datagrams may be zlib- or gzip-compressed, and a message too large for
//! one datagram is sent in chunks (`0x1e 0x0f`, an 8-byte message id, sequence number, count)
//! that arrive in any order. [`GelfAssembler`] reassembles them in a bounded table with a
//! timeout, decompresses with a size limit, and hands out the JSON, which [`super::parse`] then
//! reads like any other message. Time is injected (`now_ns`), as everywhere in this crate.

use std::{collections::HashMap, io::Read};

/// Chunked GELF magic bytes.
const CHUNK_MAGIC: [u8; 2] = [0x1e, 0x0f];
/// Chunk header: magic, id, sequence number, count.
const CHUNK_HEADER: usize = 12;
/// Most chunks of one message (GELF 1.1).
const MAX_CHUNKS: u8 = 128;

/// What became of one datagram.
#[derive(Debug, PartialEq, Eq)]
pub enum GelfOutcome {
    /// Not chunked and not compressed: parse the datagram itself.
    Plain,
    /// A whole message is in the output buffer (decompressed and/or reassembled).
    Complete,
    /// A chunk was stored; the message is not complete yet.
    Pending,
    /// The datagram was dropped, for this reason.
    Dropped(GelfDrop),
}

/// Why a GELF datagram or message was dropped. Each has a counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GelfDrop {
    /// A chunk header with a count of 0, above 128, or a sequence number beyond the count.
    BadChunk,
    /// The same chunk of a message arrived twice.
    DuplicateChunk,
    /// The table of messages being reassembled was full.
    TableFull,
    /// Compressed data that does not inflate, or inflates beyond the size limit.
    BadCompression,
    /// The reassembled message would exceed the size limit.
    TooLarge,
}

impl GelfDrop {
    /// Every reason.
    pub const ALL: [GelfDrop; 5] = [
        GelfDrop::BadChunk,
        GelfDrop::DuplicateChunk,
        GelfDrop::TableFull,
        GelfDrop::BadCompression,
        GelfDrop::TooLarge,
    ];

    /// Stable counter name.
    pub fn name(self) -> &'static str {
        match self {
            GelfDrop::BadChunk => "gelf_bad_chunk",
            GelfDrop::DuplicateChunk => "gelf_duplicate_chunk",
            GelfDrop::TableFull => "gelf_table_full",
            GelfDrop::BadCompression => "gelf_bad_compression",
            GelfDrop::TooLarge => "gelf_too_large",
        }
    }
}

#[derive(Debug)]
struct Partial {
    first_seen_ns: u64,
    count: u8,
    received: u8,
    bytes: usize,
    chunks: Vec<Option<Vec<u8>>>,
}

/// Reassembles chunked and decompresses compressed GELF datagrams.
#[derive(Debug)]
pub struct GelfAssembler {
    table: HashMap<[u8; 8], Partial>,
    max_messages: usize,
    max_len: usize,
    timeout_ns: u64,
    expired: u64,
    scratch: Vec<u8>,
}

/// Whether `datagram` needs the assembler (chunked or compressed GELF).
pub fn is_gelf_transport(datagram: &[u8]) -> bool {
    datagram.starts_with(&CHUNK_MAGIC) || is_compressed(datagram)
}

fn is_compressed(d: &[u8]) -> bool {
    // gzip, or a zlib header (CMF 0x78 with a valid FCHECK).
    d.starts_with(&[0x1f, 0x8b])
        || (d.len() >= 2 && d[0] == 0x78 && (u16::from(d[0]) << 8 | u16::from(d[1])) % 31 == 0)
}

impl GelfAssembler {
    /// At most `max_messages` messages in reassembly at once, each at most `max_len` bytes
    /// (after decompression); incomplete messages are given up after `timeout_ns`.
    pub fn new(max_messages: usize, max_len: usize, timeout_ns: u64) -> Self {
        Self {
            table: HashMap::with_capacity(max_messages.min(1024)),
            max_messages,
            max_len,
            timeout_ns,
            expired: 0,
            scratch: Vec::new(),
        }
    }

    /// Messages given up because their chunks did not all arrive in time.
    pub fn expired(&self) -> u64 {
        self.expired
    }

    /// Messages in reassembly now.
    pub fn pending(&self) -> usize {
        self.table.len()
    }

    /// Takes one datagram. On [`GelfOutcome::Complete`], `out` holds the message.
    pub fn push(&mut self, datagram: &[u8], now_ns: u64, out: &mut Vec<u8>) -> GelfOutcome {
        self.expire(now_ns);
        if datagram.starts_with(&CHUNK_MAGIC) {
            return self.chunk(datagram, now_ns, out);
        }
        if is_compressed(datagram) {
            return match inflate(datagram, self.max_len, out) {
                Ok(()) => GelfOutcome::Complete,
                Err(drop) => GelfOutcome::Dropped(drop),
            };
        }
        GelfOutcome::Plain
    }

    /// Gives up messages older than the timeout.
    pub fn expire(&mut self, now_ns: u64) {
        let timeout = self.timeout_ns;
        let before = self.table.len();
        self.table
            .retain(|_, p| now_ns.saturating_sub(p.first_seen_ns) < timeout);
        self.expired += (before - self.table.len()) as u64;
    }

    fn chunk(&mut self, d: &[u8], now_ns: u64, out: &mut Vec<u8>) -> GelfOutcome {
        if d.len() < CHUNK_HEADER {
            return GelfOutcome::Dropped(GelfDrop::BadChunk);
        }
        let id: [u8; 8] = d[2..10].try_into().expect("8 bytes");
        let (seq, count) = (d[10], d[11]);
        if count == 0 || count > MAX_CHUNKS || seq >= count {
            return GelfOutcome::Dropped(GelfDrop::BadChunk);
        }
        let data = &d[CHUNK_HEADER..];
        if !self.table.contains_key(&id) && self.table.len() >= self.max_messages {
            return GelfOutcome::Dropped(GelfDrop::TableFull);
        }
        let p = self.table.entry(id).or_insert_with(|| Partial {
            first_seen_ns: now_ns,
            count,
            received: 0,
            bytes: 0,
            chunks: vec![None; usize::from(count)],
        });
        if p.count != count {
            return GelfOutcome::Dropped(GelfDrop::BadChunk);
        }
        let slot = &mut p.chunks[usize::from(seq)];
        if slot.is_some() {
            return GelfOutcome::Dropped(GelfDrop::DuplicateChunk);
        }
        if p.bytes + data.len() > self.max_len {
            self.table.remove(&id);
            return GelfOutcome::Dropped(GelfDrop::TooLarge);
        }
        *slot = Some(data.to_vec());
        p.received += 1;
        p.bytes += data.len();
        if p.received < p.count {
            return GelfOutcome::Pending;
        }
        let p = self.table.remove(&id).expect("present");
        self.scratch.clear();
        for c in p.chunks.into_iter().flatten() {
            self.scratch.extend_from_slice(&c);
        }
        if is_compressed(&self.scratch) {
            match inflate(&self.scratch, self.max_len, out) {
                Ok(()) => GelfOutcome::Complete,
                Err(drop) => GelfOutcome::Dropped(drop),
            }
        } else {
            out.clear();
            out.extend_from_slice(&self.scratch);
            GelfOutcome::Complete
        }
    }
}

/// Inflates gzip or zlib data into `out`, refusing more than `max_len` bytes.
fn inflate(data: &[u8], max_len: usize, out: &mut Vec<u8>) -> Result<(), GelfDrop> {
    out.clear();
    let limit = max_len as u64 + 1;
    let read = if data.starts_with(&[0x1f, 0x8b]) {
        flate2::read::GzDecoder::new(data)
            .take(limit)
            .read_to_end(out)
    } else {
        flate2::read::ZlibDecoder::new(data)
            .take(limit)
            .read_to_end(out)
    };
    match read {
        Ok(n) if n <= max_len => Ok(()),
        Ok(_) => Err(GelfDrop::TooLarge),
        Err(_) => Err(GelfDrop::BadCompression),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Compression, write::GzEncoder, write::ZlibEncoder};
    use std::io::Write;

    const MSG: &[u8] = br#"{"version":"1.1","host":"example.org","short_message":"A short message","level":5,"_some_info":"foo"}"#;

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut e = ZlibEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn chunks(id: u8, data: &[u8], size: usize) -> Vec<Vec<u8>> {
        let parts: Vec<&[u8]> = data.chunks(size).collect();
        parts
            .iter()
            .enumerate()
            .map(|(i, part)| {
                let mut c = vec![
                    0x1e,
                    0x0f,
                    id,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    i as u8,
                    parts.len() as u8,
                ];
                c.extend_from_slice(part);
                c
            })
            .collect()
    }

    #[test]
    fn plain_and_compressed_datagrams() {
        let mut a = GelfAssembler::new(16, 1 << 20, 5_000_000_000);
        let mut out = Vec::new();
        assert_eq!(a.push(MSG, 0, &mut out), GelfOutcome::Plain);
        for packed in [zlib(MSG), gzip(MSG)] {
            assert_eq!(a.push(&packed, 0, &mut out), GelfOutcome::Complete);
            assert_eq!(out, MSG);
        }
        assert_eq!(
            a.push(&[0x78, 0x9c, 1, 2, 3], 0, &mut out),
            GelfOutcome::Dropped(GelfDrop::BadCompression)
        );
    }

    #[test]
    fn chunks_in_any_order_compressed_or_not() {
        let mut a = GelfAssembler::new(16, 1 << 20, 5_000_000_000);
        let mut out = Vec::new();
        for (id, payload) in [(1u8, MSG.to_vec()), (2, gzip(MSG))] {
            let mut cs = chunks(id, &payload, 20);
            cs.reverse();
            let last = cs.pop().unwrap();
            for c in &cs {
                assert_eq!(a.push(c, 1, &mut out), GelfOutcome::Pending);
            }
            assert_eq!(a.push(&last, 2, &mut out), GelfOutcome::Complete);
            assert_eq!(out, MSG);
        }
        assert_eq!(a.pending(), 0);
    }

    #[test]
    fn bounded_table_timeout_and_bad_chunks() {
        let mut a = GelfAssembler::new(2, 1 << 20, 1_000);
        let mut out = Vec::new();
        for id in 1..=2 {
            assert_eq!(
                a.push(&chunks(id, MSG, 30)[0], 0, &mut out),
                GelfOutcome::Pending
            );
        }
        assert_eq!(
            a.push(&chunks(3, MSG, 30)[0], 10, &mut out),
            GelfOutcome::Dropped(GelfDrop::TableFull)
        );
        assert_eq!(
            a.push(&chunks(1, MSG, 30)[0], 20, &mut out),
            GelfOutcome::Dropped(GelfDrop::DuplicateChunk)
        );
        a.expire(2_000);
        assert_eq!((a.pending(), a.expired()), (0, 2));
        let mut bad = chunks(4, MSG, 30)[0].clone();
        bad[10] = 200;
        assert_eq!(
            a.push(&bad, 0, &mut out),
            GelfOutcome::Dropped(GelfDrop::BadChunk)
        );
        assert_eq!(
            a.push(&[0x1e, 0x0f, 1], 0, &mut out),
            GelfOutcome::Dropped(GelfDrop::BadChunk)
        );
    }

    #[test]
    fn size_limits_stop_bombs() {
        let mut a = GelfAssembler::new(4, 64, 1_000);
        let mut out = Vec::new();
        let bomb = zlib(&vec![b'a'; 1 << 20]);
        assert_eq!(
            a.push(&bomb, 0, &mut out),
            GelfOutcome::Dropped(GelfDrop::TooLarge)
        );
        let cs = chunks(9, MSG, 40);
        assert_eq!(a.push(&cs[0], 0, &mut out), GelfOutcome::Pending);
        assert_eq!(
            a.push(&cs[1], 0, &mut out),
            GelfOutcome::Dropped(GelfDrop::TooLarge)
        );
        assert_eq!(a.pending(), 0);
    }
}
