//! A message as the miner sees it: split at ASCII white space, each token masked (digits and
//! the like become `<*>`), and each masked token reduced to a 64-bit hash. One pass over the
//! bytes, into a buffer reused from message to message: reading a message allocates nothing.
//!
//! Masking is generic, nothing per data set: a token that is a number, an address, hex or a
//! range becomes `<*>`; in other tokens each run of digits (with the dots and colons inside it,
//! and a minus sign before it) does, so `uid=0` becomes `uid=<*>` and `sshd[24200]:` becomes
//! `sshd[<*>]:`. Month and weekday names are date parts, so they are masked too. A run of
//! masked tokens of one shape (`blk_<*> blk_<*> blk_<*>`) counts as one: a list.

use crate::simd;

/// Tokens a template keeps; a longer message's tokens from here on count as one (their hashes
/// folded into the last position).
pub const MAX_TOKENS: usize = 64;

/// Bytes of masked text kept for showing a template (tokens beyond it show as `…`).
pub const TEXT_MAX: usize = 448;

/// Bytes of a message the miner reads; what follows is not mined.
pub const SCAN_MAX: usize = 8 << 10;

/// The wildcard a masked variable becomes.
pub const WILD: &[u8] = b"<*>";

const DATE_WORDS: [&[u8]; 19] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
    b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat", b"Sun",
];

/// The hash of a masked token, over its bytes: eight at a time, each word folded in with a
/// 64x64->128-bit multiply (as foldhash does). A streaming form, so that a token masked on the
/// way hashes exactly as the same masked bytes given whole.
#[derive(Clone, Copy, Debug)]
struct StreamHash {
    h: u64,
    word: u64,
    fill: u32,
    len: u64,
}

const K0: u64 = 0x243f_6a88_85a3_08d3;
const K1: u64 = 0x1319_8a2e_0370_7344;

#[inline(always)]
fn fold(a: u64, b: u64) -> u64 {
    let m = u128::from(a) * u128::from(b);
    (m as u64) ^ ((m >> 64) as u64)
}

impl StreamHash {
    #[inline(always)]
    fn new() -> Self {
        Self {
            h: K0,
            word: 0,
            fill: 0,
            len: 0,
        }
    }

    #[inline(always)]
    fn byte(&mut self, b: u8) {
        self.word |= u64::from(b) << (8 * self.fill);
        self.fill += 1;
        self.len += 1;
        if self.fill == 8 {
            self.h = fold(self.h ^ self.word, K1);
            self.word = 0;
            self.fill = 0;
        }
    }

    #[inline(always)]
    fn bytes(&mut self, mut s: &[u8]) {
        while self.fill != 0 && !s.is_empty() {
            self.byte(s[0]);
            s = &s[1..];
        }
        let mut chunks = s.chunks_exact(8);
        for c in &mut chunks {
            let w = u64::from_le_bytes(c.try_into().expect("eight bytes"));
            self.h = fold(self.h ^ w, K1);
        }
        self.len += (s.len() - chunks.remainder().len()) as u64;
        for &b in chunks.remainder() {
            self.byte(b);
        }
    }

    #[inline(always)]
    fn finish(self) -> u64 {
        fold(self.h ^ self.word ^ (self.len << 56), K0 ^ self.len)
    }
}

/// The class masks [`Tokens::read`] takes of a message: ASCII white space (the token
/// separators), digits, bytes that can be in a number (hex digits and `.:xX-/,`), and `<` (a
/// token that holds `<*>` as written).
const CLASSES: simd::ClassTable = {
    // Class bits, each a set of low nibbles by a set of high nibbles.
    const WS_CTRL: u8 = 1; // \t \n \v \f \r: 0x09-0x0d
    const WS_SPACE: u8 = 2; // 0x20
    const DIG: u8 = 4; // 0x30-0x39
    const NUM_DIGIT_COLON: u8 = 8; // 0x30-0x3a
    const NUM_HEX: u8 = 16; // A-F, a-f: 0x41-0x46, 0x61-0x66
    const NUM_X: u8 = 32; // X, x: 0x58, 0x78
    const NUM_PUNCT: u8 = 64; // , - . /: 0x2c-0x2f
    const LT: u8 = 128; // 0x3c
    let mut lo = [0u8; 16];
    let mut hi = [0u8; 16];
    let mut n = 0;
    while n < 16 {
        if n >= 9 && n <= 13 {
            lo[n] |= WS_CTRL;
        }
        if n == 0 {
            lo[n] |= WS_SPACE;
        }
        if n <= 9 {
            lo[n] |= DIG;
        }
        if n <= 10 {
            lo[n] |= NUM_DIGIT_COLON;
        }
        if n >= 1 && n <= 6 {
            lo[n] |= NUM_HEX;
        }
        if n == 8 {
            lo[n] |= NUM_X;
        }
        if n >= 12 {
            lo[n] |= NUM_PUNCT;
        }
        if n == 12 {
            lo[n] |= LT;
        }
        n += 1;
    }
    hi[0] = WS_CTRL;
    hi[2] = WS_SPACE | NUM_PUNCT;
    hi[3] = DIG | NUM_DIGIT_COLON | LT;
    hi[4] = NUM_HEX;
    hi[5] = NUM_X;
    hi[6] = NUM_HEX;
    hi[7] = NUM_X;
    simd::ClassTable {
        lo,
        hi,
        select: [
            WS_CTRL | WS_SPACE,
            DIG,
            NUM_DIGIT_COLON | NUM_HEX | NUM_X | NUM_PUNCT,
            LT,
        ],
    }
};

/// Indexes of [`CLASSES`]'s masks.
const WHITE: usize = 0;
const DIGIT: usize = 1;
const NUMERIC: usize = 2;
const LESS: usize = 3;

/// The first position in `from..end` that is (`token`) or is not white space, by the masks.
#[inline(always)]
fn next(masks: &[[u64; 4]], from: usize, end: usize, token: bool) -> Option<usize> {
    let mut at = from;
    while at < end {
        let (b, bit) = (at / 64, at % 64);
        let white = masks[b][WHITE];
        let m = if token { !white } else { white } >> bit;
        if m != 0 {
            let p = at + m.trailing_zeros() as usize;
            return (p < end).then_some(p);
        }
        at = (b + 1) * 64;
    }
    None
}

/// Whether mask `k` has a bit in `start..stop`.
#[inline(always)]
fn any_in(masks: &[[u64; 4]], k: usize, start: usize, stop: usize) -> bool {
    if let Some((b, range)) = one_block(start, stop) {
        return masks[b][k] & range != 0;
    }
    ranges(start, stop).any(|(b, range)| masks[b][k] & range != 0)
}

/// Whether mask `k` has every bit of `start..stop`.
#[inline(always)]
fn all_in(masks: &[[u64; 4]], k: usize, start: usize, stop: usize) -> bool {
    if let Some((b, range)) = one_block(start, stop) {
        return masks[b][k] & range == range;
    }
    ranges(start, stop).all(|(b, range)| masks[b][k] & range == range)
}

/// The block and bits of `start..stop` (not empty) when it lies in one block.
#[inline(always)]
fn one_block(start: usize, stop: usize) -> Option<(usize, u64)> {
    let b = start / 64;
    let n = stop - start;
    (b == (stop - 1) / 64 && n < 64).then(|| (b, ((1u64 << n) - 1) << (start % 64)))
}

/// The blocks and bits that `start..stop` covers.
#[inline(always)]
fn ranges(start: usize, stop: usize) -> impl Iterator<Item = (usize, u64)> {
    let mut at = start;
    std::iter::from_fn(move || {
        if at >= stop {
            return None;
        }
        let (b, bit) = (at / 64, at % 64);
        let n = (stop - at).min(64 - bit);
        at += n;
        let range = if n == 64 {
            u64::MAX
        } else {
            ((1u64 << n) - 1) << bit
        };
        Some((b, range))
    })
}

/// One message, tokenized and masked. Filled by [`Tokens::read`], reused.
#[derive(Clone, Debug)]
pub struct Tokens {
    /// Hash of each masked token (at most [`MAX_TOKENS`]).
    pub hashes: [u64; MAX_TOKENS],
    /// Bit `i`: token `i` holds a wildcard (a masked variable).
    pub wild: u64,
    /// Bit `i`: token `i` is a key with no value (`rhost=`), which is not a shape of the
    /// variable `rhost=<*>` but a message of another kind.
    pub open: u64,
    /// Tokens (after folding lists), at most [`MAX_TOKENS`].
    pub n: usize,
    /// Where each token is in the message (start, end).
    spans: [(u16, u16); MAX_TOKENS],
    /// Hash of the whole masked sequence: equal for two messages exactly when their masked
    /// tokens are (but for a 2^-64 chance).
    pub sequence: u64,
    /// The class masks of the message being read, per 64-byte block.
    masks: Box<[[u64; 4]]>,
}

impl Default for Tokens {
    fn default() -> Self {
        Self {
            hashes: [0; MAX_TOKENS],
            wild: 0,
            open: 0,
            n: 0,
            spans: [(0, 0); MAX_TOKENS],
            sequence: 0,
            masks: vec![[0; 4]; SCAN_MAX.div_ceil(64)].into_boxed_slice(),
        }
    }
}

/// A key of `message` for the miner's first cache: the hash of its first [`SCAN_MAX`] bytes
/// with every digit read as `0`. Two messages with the same key have the same digits in the
/// same places and the same bytes elsewhere, so masking makes the same tokens of them: the key
/// is finer than the masked tokens (`port 22` and `port 4455` differ), never coarser. The
/// bytes go through [`simd::digit_sum`] (a dozen vector instructions per 32 bytes), whose four
/// accumulators fold into one word with the length.
#[inline]
pub fn quick_key(message: &[u8]) -> u64 {
    let m = &message[..message.len().min(SCAN_MAX)];
    let [a, b, c, d] = simd::digit_sum(m);
    let len = m.len() as u64;
    let h = fold(a ^ K0, b ^ K1) ^ fold(c ^ K1.rotate_left(32), d ^ K0.rotate_left(32));
    fold(h ^ (len << 56), K0 ^ len)
}

/// The hash of the masked token `<*>`.
pub fn wild_hash() -> u64 {
    hash_bytes(WILD)
}

/// The hash of a masked token's bytes: [`StreamHash`] over them, in one go.
#[inline(always)]
fn hash_bytes(t: &[u8]) -> u64 {
    hash_in(t, 0, t.len())
}

/// [`hash_bytes`] of `m[start..stop]`, reading the last partial word as one load when `m` has
/// eight bytes from there (and masking what lies past `stop`).
#[inline(always)]
fn hash_in(m: &[u8], start: usize, stop: usize) -> u64 {
    let mut h = K0;
    let mut at = start;
    while at + 8 <= stop {
        let w = u64::from_le_bytes(m[at..at + 8].try_into().expect("eight bytes"));
        h = fold(h ^ w, K1);
        at += 8;
    }
    let rest = stop - at;
    let word = if rest == 0 {
        0
    } else if let Some(w) = m.get(at..at + 8) {
        u64::from_le_bytes(w.try_into().expect("eight bytes")) & (u64::MAX >> (64 - 8 * rest))
    } else {
        let mut word = 0u64;
        for (i, &b) in m[at..stop].iter().enumerate() {
            word |= u64::from(b) << (8 * i);
        }
        word
    };
    let len = (stop - start) as u64;
    fold(h ^ word ^ (len << 56), K0 ^ len)
}

impl Tokens {
    /// Reads `message`: its tokens split at ASCII white space (bytes need not be UTF-8), masked
    /// and hashed. Only the first [`SCAN_MAX`] bytes are read.
    ///
    /// The bytes are classified 64 at a time ([`simd::classes64`]: white space, digits, bytes
    /// of numbers, `<`), so a token's bounds and whether it holds a digit are bit operations;
    /// a token without digits is hashed eight bytes at a time, and only tokens with digits are
    /// masked a byte at a time. Nothing is written out: [`Tokens::render`] does that for the
    /// rare message that starts a template.
    pub fn read(&mut self, message: &[u8]) {
        let message = &message[..message.len().min(SCAN_MAX)];
        let end = message.len();
        let blocks = end.div_ceil(64);
        for b in 0..blocks {
            let start = b * 64;
            self.masks[b] = match message[start..].first_chunk::<64>() {
                Some(block) => simd::classes64(block, &CLASSES),
                None if end >= 64 => {
                    // The last 64 bytes, overlapping the block before: no copy, whose stores
                    // the vector loads would wait for.
                    let last = message.last_chunk::<64>().expect("64 bytes or more");
                    let shift = start - (end - 64);
                    simd::classes64(last, &CLASSES).map(|m| m >> shift)
                }
                None => {
                    let mut block = [b' '; 64];
                    block[..end - start].copy_from_slice(&message[start..]);
                    simd::classes64(&block, &CLASSES)
                }
            };
            // Past the end is white space: the last token ends there.
            if start + 64 > end {
                let tail = !0u64 << (end - start);
                self.masks[b][WHITE] |= tail;
            }
        }
        let masks = &self.masks[..blocks];
        self.n = 0;
        self.wild = 0;
        self.open = 0;
        let wild_hash = wild_hash();
        let mut prev: Option<u64> = None;
        let mut folded: Option<StreamHash> = None;
        let mut seq = StreamHash::new();
        let mut at = 0;
        while let Some(start) = next(masks, at, end, true) {
            let stop = next(masks, start, end, false).unwrap_or(end);
            at = stop;
            let t = &message[start..stop];
            let (hash, wild) = if !any_in(masks, DIGIT, start, stop) {
                if t.len() == 3 && DATE_WORDS.contains(&t) {
                    (wild_hash, true)
                } else {
                    // A token that holds `<*>` as written reads as a variable too.
                    let wild = any_in(masks, LESS, start, stop) && t.windows(3).any(|w| w == WILD);
                    (hash_in(message, start, stop), wild)
                }
            } else if all_in(masks, NUMERIC, start, stop) {
                (wild_hash, true)
            } else {
                let mut h = StreamHash::new();
                mask_runs(t, |bytes| h.bytes(bytes));
                (h.finish(), true)
            };
            // A run of variables of one shape is one list, whatever its length.
            if wild && prev == Some(hash) {
                continue;
            }
            prev = wild.then_some(hash);
            if self.n < MAX_TOKENS {
                self.hashes[self.n] = hash;
                self.wild |= u64::from(wild) << self.n;
                self.open |= u64::from(!wild && t.len() > 1 && t.ends_with(b"=")) << self.n;
                self.spans[self.n] = (start as u16, stop as u16);
                self.n += 1;
                if self.n < MAX_TOKENS {
                    seq.bytes(&hash.to_le_bytes());
                }
            } else {
                // Past the last position: the rest folds into it.
                let f = folded.get_or_insert_with(|| {
                    let mut f = StreamHash::new();
                    f.bytes(&self.hashes[MAX_TOKENS - 1].to_le_bytes());
                    f
                });
                f.bytes(&hash.to_le_bytes());
                self.hashes[MAX_TOKENS - 1] = f.finish();
                self.wild |= u64::from(wild) << (MAX_TOKENS - 1);
            }
        }
        if self.n == MAX_TOKENS {
            seq.bytes(&self.hashes[MAX_TOKENS - 1].to_le_bytes());
        }
        self.sequence = seq.finish();
    }

    /// Writes the masked tokens of `message` (the one just read) into `text`, one space
    /// between, cut at [`TEXT_MAX`], and where each token ends into `ends` (0 for a token past
    /// the cut).
    pub fn render(&self, message: &[u8], text: &mut [u8; TEXT_MAX], ends: &mut [u16; MAX_TOKENS]) {
        let mut len = 0usize;
        let mut full = false;
        for (i, (end, &(start, stop))) in ends.iter_mut().zip(&self.spans[..self.n]).enumerate() {
            *end = 0;
            if full {
                continue;
            }
            let t = &message[usize::from(start)..usize::from(stop)];
            let before = len;
            let sep = usize::from(i > 0);
            let mut fits = len + sep <= TEXT_MAX;
            if fits && sep == 1 {
                text[len] = b' ';
                len += 1;
            }
            let mut put = |bytes: &[u8]| {
                if fits && len + bytes.len() <= TEXT_MAX {
                    text[len..len + bytes.len()].copy_from_slice(bytes);
                    len += bytes.len();
                } else {
                    fits = false;
                }
            };
            let digit = t.iter().any(u8::is_ascii_digit);
            if !digit {
                put(if t.len() == 3 && DATE_WORDS.contains(&t) {
                    WILD
                } else {
                    t
                });
            } else if t.iter().all(|&b| is_numeric(b)) {
                put(WILD);
            } else {
                mask_runs(t, &mut put);
            }
            if fits {
                *end = len as u16;
            } else {
                len = before;
                full = true;
            }
        }
    }

    /// The key of token `i` of `message` (the one just read), masked as the token is: see
    /// [`masked_key`]. Allocates nothing.
    pub fn key<'o>(&self, message: &[u8], i: usize, out: &'o mut [u8; KEY_MAX]) -> &'o [u8] {
        let (start, stop) = self.spans[i.min(self.n.saturating_sub(1))];
        let raw = message.get(start as usize..stop as usize).unwrap_or(&[]);
        let Some(eq) = raw.iter().position(|&b| b == b'=') else {
            return &out[..0];
        };
        let mut n = 0;
        mask_runs(&raw[..=eq], |bytes| {
            let take = bytes.len().min(KEY_MAX - n);
            out[n..n + take].copy_from_slice(&bytes[..take]);
            n += take;
        });
        &out[..n]
    }

    /// The masked token `i` of `message` (the one just read), rendered.
    pub fn token_text(&self, message: &[u8], i: usize) -> Vec<u8> {
        let mut text = [0u8; TEXT_MAX];
        let mut ends = [0u16; MAX_TOKENS];
        self.render(message, &mut text, &mut ends);
        token_text(&text, &ends, i).to_vec()
    }
}

/// Whether `b` can be part of a number: a hex digit, or `.:xX-/,`.
fn is_numeric(b: u8) -> bool {
    b.is_ascii_hexdigit() || matches!(b, b'.' | b':' | b'x' | b'X' | b'-' | b'/' | b',')
}

/// Masks the runs of digits of `t` (with the dots and colons inside them, and a minus sign
/// before one), handing `out` the masked bytes: `<*>` for each run, the rest as it is.
#[inline]
fn mask_runs(t: &[u8], mut out: impl FnMut(&[u8])) {
    let mut in_run = false;
    let mut from = 0;
    for (i, &b) in t.iter().enumerate() {
        let next_digit = t.get(i + 1).is_some_and(u8::is_ascii_digit);
        let inner = next_digit && ((matches!(b, b'.' | b':') && in_run) || (b == b'-' && !in_run));
        if b.is_ascii_digit() || inner {
            if !in_run {
                out(&t[from..i]);
                out(WILD);
                in_run = true;
            }
        } else if in_run {
            in_run = false;
            from = i;
        }
    }
    if !in_run {
        out(&t[from..]);
    }
}

/// The key of a masked token: its bytes up to and including the first `=` (`rhost=`,
/// `LOGIN(uid=`), empty when it has none. Written into `out` (up to its length).
pub fn masked_key<'o>(masked: &[u8], out: &'o mut [u8; KEY_MAX]) -> &'o [u8] {
    let n = masked.iter().position(|&b| b == b'=').map_or(0, |i| i + 1);
    let n = n.min(KEY_MAX);
    out[..n].copy_from_slice(&masked[..n]);
    &out[..n]
}

/// The longest key [`masked_key`] and [`Tokens::key`] compare.
pub const KEY_MAX: usize = 64;

/// Token `i` of a text with its ends (as [`Tokens`] keeps them).
pub fn token_text<'t>(text: &'t [u8], ends: &[u16], i: usize) -> &'t [u8] {
    let end = ends[i] as usize;
    if end == 0 {
        return &[];
    }
    let start = if i == 0 { 0 } else { ends[i - 1] as usize + 1 };
    text.get(start..end).unwrap_or(&[])
}

#[cfg(test)]
mod tests;
