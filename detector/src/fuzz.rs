//! The checks behind the fuzz targets (`detector/fuzz/`), shared with the test that replays the
//! fuzz corpora on stable Rust (`tests/fuzz_corpus.rs`), so both run exactly the same code.
//! Each function must never panic on any input; the assertions inside are the invariants.

use crate::{
    parse::{
        FieldIndex, Fields, FormatHint, ParseOptions, Payload,
        framing::{Frame, StreamDecoder},
        gelf::{GelfAssembler, GelfOutcome},
        parse, parse_indexed,
    },
    rules::literals::LiteralSet,
    simd,
};

/// Parses `data` with options taken from its first byte, reads every field, and checks that
/// every slice of the event lies inside the input, that an event made with a field index
/// reads as the one without, and that checking the payload gives the walk's verdict.
pub fn parse_input(data: &[u8]) {
    let (first, rest) = data.split_first().unwrap_or((&0, &[]));
    let format = match first & 3 {
        0 => FormatHint::Auto,
        1 => FormatHint::Rfc5424,
        2 => FormatHint::Rfc3164,
        _ => FormatHint::Raw,
    };
    let payload = match (first >> 2) & 7 {
        0 => None,
        n => Some(Payload::ALL[usize::from(n - 1)]),
    };
    let opts = ParseOptions {
        format,
        payload,
        max_len: if first & 0x80 != 0 { 64 } else { 64 * 1024 },
        year: (first & 0x40 != 0).then_some(2024),
        month: (first & 0x40 != 0).then_some(first % 12 + 1),
        // A zone whose offset changed in 2023, so both sides of a change are reached.
        local_offset: if first & 0x20 != 0 {
            crate::parse::time::LocalOffset {
                now_s: -5 * 3600,
                since_s: 1_700_000_000,
                before_s: -4 * 3600,
            }
        } else {
            crate::parse::time::LocalOffset::UTC
        },
    };
    let e = parse(rest, &opts);
    let inside = |s: &[u8]| {
        s.is_empty() || rest.as_ptr_range().contains(&s.as_ptr()) && s.len() <= rest.len()
    };
    for s in [
        e.host,
        e.app,
        e.procid,
        e.msgid,
        e.timestamp,
        e.structured_data,
        e.sequence,
    ]
    .into_iter()
    .flatten()
    .chain([e.body, e.input])
    {
        assert!(inside(s), "a slice outside the input");
    }
    for f in e.fields() {
        // Keys may also be static names (CEF and LEEF header fields, `audit`).
        assert!(inside(f.value));
    }
    for (id, k, v) in e.sd_params() {
        assert!(inside(id) && inside(k) && inside(v));
    }
    // CEF and JSON are checked in a loop of their own: the walk is the oracle.
    let fields = Fields::new(e.payload, e.body);
    assert_eq!(
        fields.valid(),
        fields.walk_valid(),
        "the check and the walk differ"
    );
    let mut index = FieldIndex::default();
    let indexed = parse_indexed(rest, &opts, &mut index);
    assert_eq!(indexed.error, e.error, "the index changed the error");
    let (mut a, mut b) = (e.fields(), indexed.fields());
    loop {
        match (a.next(), b.next()) {
            (None, None) => break,
            (x, y) => assert_eq!(x, y, "the index read another field"),
        }
    }
}

/// Decodes `data` as a TCP stream split at the positions its first bytes name, and checks that
/// the split does not change the messages.
pub fn framing_input(data: &[u8]) {
    let (cuts, stream) = data.split_at(data.len().min(4));
    let decode = |chunks: &[&[u8]]| {
        let mut d = StreamDecoder::new(256);
        let mut out = Vec::new();
        for c in chunks {
            d.push(c, |f| {
                out.push(match f {
                    Frame::Message(m) => Ok(m.to_vec()),
                    Frame::TooLong { len } => Err(len),
                    Frame::BadLength => Err(usize::MAX),
                })
            });
        }
        (out, d.pending())
    };
    let whole = decode(&[stream]);
    let mut at = 0;
    let mut chunks = Vec::new();
    for &c in cuts {
        let end = (at + usize::from(c)).min(stream.len());
        chunks.push(&stream[at..end]);
        at = end;
    }
    chunks.push(&stream[at..]);
    let split = decode(&chunks);
    // Messages are the same however the stream is cut. A too-long line's reported length can
    // differ (it is what was seen before giving up), so compare the kinds only for those.
    assert_eq!(
        whole.0.len(),
        split.0.len(),
        "frame count depends on chunking"
    );
    for (a, b) in whole.0.iter().zip(&split.0) {
        match (a, b) {
            (Ok(a), Ok(b)) => assert_eq!(a, b),
            (Err(_), Err(_)) => {}
            _ => panic!("frame kind depends on chunking"),
        }
    }
}

/// Checks the vector scan against the scalar oracle, the set taken from the first bytes; and
/// the literal screen's vector fingerprint test against its scalar oracle, with fingerprints
/// and a block taken from the input.
pub fn scan_input(data: &[u8]) {
    screen_input(data);
    let n = data.first().map_or(1, |b| usize::from(b % 8) + 1);
    let (set, hay) = data
        .get(1..)
        .unwrap_or(&[])
        .split_at(n.min(data.len().saturating_sub(1)));
    if set.is_empty() {
        return;
    }
    let set = simd::ByteSet::new(set);
    assert_eq!(simd::find(hay, &set), simd::find_scalar(hay, &set));
    marks_input(&set, hay);
}

/// [`simd::Marks`] of the set's first four bytes against a byte at a time search, from every
/// start, walking forward as the payload readers do; and its windows against the bytes.
fn marks_input(set: &simd::ByteSet, hay: &[u8]) {
    let bytes: [u8; 4] =
        std::array::from_fn(|k| (0u8..=255).filter(|&b| set.contains(b)).nth(k).unwrap_or(0));
    let kinds = (hay.len() % 15 + 1) as u8;
    let hit = |b: u8| (0..4).any(|k| kinds & (1 << k) != 0 && bytes[k] == b);
    // The next hit from each position, computed backwards: linear in the input.
    let mut next = vec![None; hay.len() + 1];
    for i in (0..hay.len()).rev() {
        next[i] = if hit(hay[i]) { Some(i) } else { next[i + 1] };
    }
    let mut marks = simd::marks(hay, bytes);
    for (from, &want) in next.iter().enumerate() {
        assert_eq!(marks.find(from, kinds), want, "from {from}");
    }
    // Windows of 64 bytes, forward by a stride the input picks (1 to 64), as the CEF reader
    // takes them: each holds the bits of exactly its bytes.
    let stride = hay.len() % 64 + 1;
    let mut marks = simd::marks(hay, bytes);
    for at in (0..hay.len()).step_by(stride) {
        let got = marks.window(at);
        for (k, &b) in bytes.iter().enumerate() {
            let want = hay[at..]
                .iter()
                .take(64)
                .enumerate()
                .filter(|&(_, &h)| h == b)
                .fold(0u64, |m, (i, _)| m | 1 << i);
            assert_eq!(got[k], want, "window at {at}, kind {k}");
        }
    }
}

/// The screen: triples of (bucket, window position, byte) from the start of `data` (as many
/// as its first byte says), the text from the rest, every position of it screened.
fn screen_input(data: &[u8]) {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let window = usize::from(first % 4) + 1;
    let triples = usize::from(first >> 2).min(rest.len() / 3);
    let (allowed, hay) = rest.split_at(triples * 3);
    let mut fp = simd::Fingerprints::new(window);
    for t in allowed.chunks_exact(3) {
        fp.allow(usize::from(t[0] % 16), usize::from(t[1]) % window, t[2]);
    }
    let (mut got, mut want) = ([0; simd::SCREEN_BLOCKS], [0; simd::SCREEN_BLOCKS]);
    simd::screen(hay, hay.len(), &fp, &mut got);
    simd::screen_scalar(hay, hay.len(), &fp, &mut want);
    assert_eq!(got, want);
}

/// Searches the rest of `data` for literals cut from its start (as many as the first byte says,
/// separated by 0xff bytes) with a [`LiteralSet`], and checks that it reports every occurrence
/// the aho-corasick crate's overlapping search does, and nothing else.
pub fn literals_input(data: &[u8]) {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let mut parts = rest.split(|&b| b == 0xff);
    let literals: Vec<&[u8]> = parts.by_ref().take(usize::from(first % 64) + 1).collect();
    let hay: Vec<u8> = parts.flatten().copied().collect();
    let set = LiteralSet::new(&literals);
    let mut got = Vec::new();
    set.find_each(&hay, |i| {
        got.push(i);
        false
    });
    got.sort_unstable();
    let mut want: Vec<usize> = (0..literals.len())
        .filter(|&i| literals[i].is_empty())
        .collect();
    let nonempty: Vec<usize> = (0..literals.len())
        .filter(|&i| !literals[i].is_empty())
        .collect();
    if !nonempty.is_empty() {
        let ac = aho_corasick::AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(nonempty.iter().map(|&i| literals[i]))
            .expect("literal patterns build");
        want.extend(
            ac.find_overlapping_iter(&hay)
                .map(|m| nonempty[m.pattern().as_usize()]),
        );
    }
    want.sort_unstable();
    assert_eq!(got, want, "occurrences differ from the automaton's");
    assert_eq!(set.is_match(&hay), !want.is_empty());
}

/// Feeds `data`, cut into datagrams at 0xff bytes, to a small GELF assembler with a clock that
/// advances per datagram, and parses every completed message.
pub fn gelf_input(data: &[u8]) {
    let mut a = GelfAssembler::new(4, 4096, 50);
    let mut out = Vec::new();
    for (now, d) in data.split(|&b| b == 0xff).enumerate() {
        if let GelfOutcome::Complete = a.push(d, now as u64 * 10, &mut out) {
            assert!(out.len() <= 4096);
            parse_input(&out);
        }
        assert!(a.pending() <= 4);
    }
}
