//! The structural scan: finding the next byte of a small set (space, brackets, quotes, `=`,
//! backslash, newline, ...) in a message, 16 or 32 bytes at a time; and the literal screen's
//! fingerprint test ([`screen64`]), 16 or 32 positions at a time.
//!
//! One algorithm, written once over a small vector trait (`Lanes`), with thin SSE2 and AVX2
//! instantiations; the implementation is picked once per process at first use (AVX2 when the
//! CPU has it, else SSE2, which every x86_64 has). The screen needs a byte shuffle: AVX2, else
//! SSSE3, else scalar. The scalar versions are the oracles that the property tests compare the
//! vector ones against. Setting `DETECTOR_SIMD=off` in the environment forces the scalar
//! versions, which the test command uses to run every parser test without SIMD as well;
//! `DETECTOR_SIMD=sse` leaves AVX2 out (to measure or test the narrower versions).

use std::sync::OnceLock;

/// Up to eight bytes to look for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByteSet {
    bytes: [u8; 8],
    len: usize,
}

impl ByteSet {
    /// A set of 1 to 8 bytes. Panics (at compile time in a const) otherwise.
    pub const fn new(bytes: &[u8]) -> Self {
        assert!(!bytes.is_empty() && bytes.len() <= 8, "1 to 8 bytes");
        let mut out = [bytes[0]; 8];
        let mut i = 0;
        while i < bytes.len() {
            out[i] = bytes[i];
            i += 1;
        }
        Self {
            bytes: out,
            len: bytes.len(),
        }
    }

    /// Whether `b` is in the set.
    #[inline(always)]
    pub fn contains(&self, b: u8) -> bool {
        // Unused slots repeat the first byte, so all eight can be compared.
        self.bytes.contains(&b)
    }
}

/// Which implementation the scan uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Implementation {
    /// Byte at a time: the oracle.
    Scalar,
    /// 16 bytes at a time.
    Sse2,
    /// 32 bytes at a time.
    Avx2,
}

type FindFn = fn(&[u8], &ByteSet) -> Option<usize>;
type MaskFn = fn(&[u8; 64], u8) -> u64;
type MarksFn = fn(&[u8], usize, &[u8; 4], &mut [[u64; 4]; MARK_BLOCKS]);
type ScreenFn = fn(&[u8; SCREEN_READ], &Fingerprints) -> u64;
type ClassesFn = fn(&[u8; 64], &ClassTable) -> [u64; 4];

/// The chosen implementation's functions.
struct Chosen {
    implementation: Implementation,
    find: FindFn,
    mask64: MaskFn,
    marks: MarksFn,
    screen64: ScreenFn,
    classes64: ClassesFn,
}

fn select() -> Chosen {
    let scalar = Chosen {
        implementation: Implementation::Scalar,
        find: find_scalar,
        mask64: mask64_scalar,
        marks: marks_scalar,
        screen64: screen64_scalar,
        classes64: classes64_scalar,
    };
    if std::env::var_os("DETECTOR_SIMD").is_some_and(|v| v == "off") {
        return scalar;
    }
    #[cfg(target_arch = "x86_64")]
    {
        let no_avx2 = std::env::var_os("DETECTOR_SIMD").is_some_and(|v| v == "sse");
        if std::arch::is_x86_feature_detected!("avx2") && !no_avx2 {
            return Chosen {
                implementation: Implementation::Avx2,
                find: x86::find_avx2,
                mask64: x86::mask64_avx2,
                marks: x86::marks_avx2,
                screen64: x86::screen64_avx2,
                classes64: x86::classes64_avx2,
            };
        }
        return Chosen {
            implementation: Implementation::Sse2,
            find: x86::find_sse2,
            mask64: x86::mask64_sse2,
            marks: x86::marks_sse2,
            // The screen needs a byte shuffle, which SSE2 lacks.
            screen64: if std::arch::is_x86_feature_detected!("ssse3") {
                x86::screen64_ssse3
            } else {
                screen64_scalar
            },
            classes64: if std::arch::is_x86_feature_detected!("ssse3") {
                x86::classes64_ssse3
            } else {
                classes64_scalar
            },
        };
    }
    #[cfg_attr(
        target_arch = "x86_64",
        expect(
            unreachable_code,
            reason = "x86_64 has SSE2 always, so it returns above"
        )
    )]
    scalar
}

static CHOSEN: OnceLock<Chosen> = OnceLock::new();

/// The implementation in use.
pub fn implementation() -> Implementation {
    CHOSEN.get_or_init(select).implementation
}

/// A bit per position of the first 64 bytes of `hay`: set where the byte is `byte`. Bytes past
/// the end of a shorter `hay` never match. One vector pass finds every delimiter of a header.
#[inline]
pub fn mask64(hay: &[u8], byte: u8) -> u64 {
    let f = CHOSEN.get_or_init(select).mask64;
    match hay.first_chunk::<64>() {
        Some(block) => f(block, byte),
        None => {
            let mut block = [!byte; 64];
            block[..hay.len()].copy_from_slice(hay);
            f(&block, byte)
        }
    }
}

/// The oracle of [`mask64`].
pub fn mask64_scalar(block: &[u8; 64], byte: u8) -> u64 {
    block
        .iter()
        .enumerate()
        .fold(0, |m, (i, &b)| m | (u64::from(b == byte) << i))
}

/// Byte classes by nibbles, as simdjson classifies characters: a byte's class is
/// `lo[byte & 15] & hi[byte >> 4]`, eight class bits, and [`classes64`] gives, for each of four
/// selections of class bits, the mask of the positions whose class has any of them. A set of
/// bytes fits when it is a union of a few "rectangles" (low nibbles x high nibbles), one class
/// bit each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClassTable {
    /// Class bits by low nibble.
    pub lo: [u8; 16],
    /// Class bits by high nibble.
    pub hi: [u8; 16],
    /// The class bits of each of the four masks.
    pub select: [u8; 4],
}

impl ClassTable {
    /// The class of `b`.
    #[inline(always)]
    pub fn class(&self, b: u8) -> u8 {
        self.lo[usize::from(b & 15)] & self.hi[usize::from(b >> 4)]
    }
}

/// Four class masks of a 64-byte block (see [`ClassTable`]), 32 or 16 bytes a step.
#[inline]
pub fn classes64(block: &[u8; 64], table: &ClassTable) -> [u64; 4] {
    (CHOSEN.get_or_init(select).classes64)(block, table)
}

/// The oracle of [`classes64`], a byte at a time.
pub fn classes64_scalar(block: &[u8; 64], table: &ClassTable) -> [u64; 4] {
    let mut out = [0u64; 4];
    for (i, &b) in block.iter().enumerate() {
        let c = table.class(b);
        for (m, sel) in out.iter_mut().zip(table.select) {
            *m |= u64::from(c & sel != 0) << i;
        }
    }
    out
}

/// Four masks of a 64-byte block, a byte at a time: bit `p` of mask `k` is set where `block[p]`
/// is `bytes[k]`. The oracle of the vector versions, which compute them in one pass.
pub fn masks64x4_scalar(block: &[u8; 64], bytes: &[u8; 4]) -> [u64; 4] {
    bytes.map(|b| mask64_scalar(block, b))
}

/// Blocks of 64 bytes whose masks [`Marks`] computes at once.
const MARK_BLOCKS: usize = 4;

/// The masks of [`masks64x4_scalar`] for the `MARK_BLOCKS` blocks of `hay` from `from` (`from <
/// hay.len()`), with `masks` for one block; bit 0 of block `b` is at `from + 64 * b`, and no bit
/// is set past the end of `hay`. A block that would run past the end is read as the last 64
/// bytes, its masks shifted, so only a slice shorter than 64 bytes is ever copied.
#[inline(always)]
fn fill_marks(
    hay: &[u8],
    from: usize,
    bytes: &[u8; 4],
    out: &mut [[u64; 4]; MARK_BLOCKS],
    masks: impl Fn(&[u8; 64], &[u8; 4]) -> [u64; 4],
) {
    let len = hay.len();
    for (b, out) in out.iter_mut().enumerate() {
        let start = from + 64 * b;
        if start >= len {
            break;
        }
        *out = if let Some(block) = hay[start..].first_chunk::<64>() {
            masks(block, bytes)
        } else if let Some(block) = hay.last_chunk::<64>() {
            let shift = start - (len - 64);
            masks(block, bytes).map(|m| m >> shift)
        } else {
            let mut block = [0u8; 64];
            block[..len - start].copy_from_slice(&hay[start..]);
            // Bits past the end would be the padding's: clear them.
            masks(&block, bytes).map(|m| m & ((1u64 << (len - start)) - 1))
        };
    }
}

/// [`fill_marks`] by the scalar oracle.
fn marks_scalar(hay: &[u8], from: usize, bytes: &[u8; 4], out: &mut [[u64; 4]; MARK_BLOCKS]) {
    fill_marks(hay, from, bytes, out, masks64x4_scalar);
}

/// Where the bytes of up to four kinds are in a slice (a JSON string's quote and backslash, a
/// CEF header's pipe ...), for a parser that walks it forward: each 64 bytes are compared with
/// all four kinds in one vector pass, and every search inside them is then a bit operation.
/// A search that starts outside the bytes at hand computes the masks of the 256 from there.
#[derive(Clone, Debug)]
pub struct Marks<'a> {
    hay: &'a [u8],
    bytes: [u8; 4],
    /// The masks cover `hay[base..end]`, bit 0 of block `b` at `base + 64 * b`.
    base: usize,
    end: usize,
    masks: [[u64; 4]; MARK_BLOCKS],
}

impl<'a> Marks<'a> {
    /// Marks of `bytes` (kind `k` is `bytes[k]`) in `hay`; nothing is computed before the first
    /// search.
    pub fn new(hay: &'a [u8], bytes: [u8; 4]) -> Self {
        Self {
            hay,
            bytes,
            base: 0,
            end: 0,
            masks: [[0; 4]; MARK_BLOCKS],
        }
    }

    /// The slice searched.
    pub fn hay(&self) -> &'a [u8] {
        self.hay
    }

    /// Computes the masks of the blocks from `from` (`from < hay.len()`) in one call.
    #[cold]
    fn load(&mut self, from: usize) {
        (CHOSEN.get_or_init(select).marks)(self.hay, from, &self.bytes, &mut self.masks);
        self.base = from;
        self.end = (from + 64 * MARK_BLOCKS).min(self.hay.len());
    }

    /// The masks of the 64 bytes from `at` (`at < hay.len()`): bit `i` of element `k` is set
    /// when `hay[at + i]` is `bytes[k]`; no bit past the end of `hay`. For a reader that takes a
    /// whole block's bits at a time.
    #[inline]
    pub fn window(&mut self, at: usize) -> [u64; 4] {
        if at < self.base || at >= self.end {
            self.load(at);
        }
        let off = at - self.base;
        let (block, shift) = (off / 64, off % 64);
        let low = self.masks[block];
        if shift == 0 {
            return low;
        }
        let next = self.base + 64 * (block + 1);
        if next >= self.end {
            if next < self.hay.len() {
                // The bytes after the loaded ones are needed: load from `at`.
                self.load(at);
                return self.masks[0];
            }
            return low.map(|m| m >> shift);
        }
        let high = self.masks[block + 1];
        std::array::from_fn(|k| low[k] >> shift | high[k] << (64 - shift))
    }

    /// The first position at or after `from` whose byte is of one of the kinds in `kinds` (bit
    /// `k` for `bytes[k]`).
    #[inline]
    pub fn find(&mut self, mut from: usize, kinds: u8) -> Option<usize> {
        loop {
            if from >= self.hay.len() {
                return None;
            }
            if from < self.base || from >= self.end {
                self.load(from);
            }
            let at = from - self.base;
            let block = at / 64;
            let mut m = 0;
            for (k, mask) in self.masks[block].iter().enumerate() {
                if kinds & (1 << k) != 0 {
                    m |= mask;
                }
            }
            let m = m >> (at % 64);
            if m != 0 {
                return Some(from + m.trailing_zeros() as usize);
            }
            from = self.base + 64 * (block + 1);
        }
    }
}

/// Longest fingerprint window of a [`Fingerprints`] set, in bytes.
pub const WINDOW_MAX: usize = 4;

/// Bytes [`screen64`] reads for its 64 positions: a window may start at the last one.
pub const SCREEN_READ: usize = 64 + WINDOW_MAX - 1;

/// Fingerprints of up to 16 buckets of byte windows (Teddy's nibble tables, as in Hyperscan and
/// the aho-corasick crate): window byte `j` at position `p` passes bucket `k` when bit `k` is set
/// both in the low-nibble table at `b & 15` and in the high-nibble table at `b >> 4`, for
/// `b = fold(hay[p + j])`. A position is a candidate when one bucket passes every byte of the
/// window. A bucket holding several windows passes some that none of them is (the price of the
/// nibble split), never fewer.
///
/// Bytes are [`fold`]ed first, one OR a vector: a letter's two cases become one byte, so a
/// bucket lets one case of its letters through instead of both (the high nibbles of `a` and `A`
/// differ), at the price of also taking a few punctuation pairs for one another.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fingerprints {
    /// Per window byte, four tables of a byte per nibble value, as the vector shuffles take
    /// them: low nibble and high nibble for buckets 0 to 7, then the same for buckets 8 to 15.
    tables: [[[u8; 16]; 4]; WINDOW_MAX],
    /// The same per byte value (what the scalar version reads): the buckets it passes.
    bytes: [[u16; 256]; WINDOW_MAX],
    window: usize,
}

impl Fingerprints {
    /// Empty tables for windows of `window` bytes (1 to [`WINDOW_MAX`]).
    pub fn new(window: usize) -> Self {
        assert!(
            (1..=WINDOW_MAX).contains(&window),
            "a window of 1 to 4 bytes"
        );
        Self {
            tables: [[[0; 16]; 4]; WINDOW_MAX],
            bytes: [[0; 256]; WINDOW_MAX],
            window,
        }
    }

    /// The window length.
    pub fn window(&self) -> usize {
        self.window
    }

    /// Lets byte `b` (and what folds to the same byte) pass at window position `j` for
    /// `bucket` (0 to 15).
    pub fn allow(&mut self, bucket: usize, j: usize, b: u8) {
        let b = fold(b);
        let (half, bit) = (2 * (bucket / 8), 1 << (bucket % 8));
        self.tables[j][half][usize::from(b & 15)] |= bit;
        self.tables[j][half + 1][usize::from(b >> 4)] |= bit;
        let t = &self.tables[j];
        for (v, buckets) in self.bytes[j].iter_mut().enumerate() {
            let (lo, hi) = (v & 15, v >> 4);
            *buckets = u16::from(t[0][lo] & t[1][hi]) | u16::from(t[2][lo] & t[3][hi]) << 8;
        }
    }
}

/// A byte as the screen compares it: bit 5 set, which makes an ASCII letter lowercase (and maps
/// `@[\\]^_` onto `` `{|}~ `` and DEL, control bytes onto the punctuation and digits 32 above
/// them). Two bytes equal ASCII case aside fold to the same byte.
#[inline(always)]
pub const fn fold(b: u8) -> u8 {
    b | 0x20
}

/// A bit per position `p` of the first 64 of `block`: set where the window starting at `p` passes
/// some bucket of `fp`. Windows read up to [`WINDOW_MAX`] - 1 bytes past the 64th position.
#[inline]
pub fn screen64(block: &[u8; SCREEN_READ], fp: &Fingerprints) -> u64 {
    (CHOSEN.get_or_init(select).screen64)(block, fp)
}

/// The oracle of [`screen64`]: one position at a time, a table lookup per window byte.
pub fn screen64_scalar(block: &[u8; SCREEN_READ], fp: &Fingerprints) -> u64 {
    let mut mask = 0u64;
    for p in 0..64 {
        let mut m = u16::MAX;
        for (j, buckets) in fp.bytes[..fp.window].iter().enumerate() {
            m &= buckets[usize::from(fold(block[p + j]))];
        }
        mask |= u64::from(m != 0) << p;
    }
    mask
}

/// Position of the first byte of `hay` that is in `set`.
#[inline]
pub fn find(hay: &[u8], set: &ByteSet) -> Option<usize> {
    // Syslog fields are short: most hits come within a few bytes, where a vector setup costs
    // more than it saves. Look at the first bytes one at a time, then go wide.
    const SHORT: usize = 12;
    if let Some(i) = find_scalar(&hay[..hay.len().min(SHORT)], set) {
        return Some(i);
    }
    if hay.len() <= SHORT {
        return None;
    }
    (CHOSEN.get_or_init(select).find)(&hay[SHORT..], set).map(|i| i + SHORT)
}

/// Position of the first `byte` in `hay` (a one-byte set).
#[inline]
pub fn find_byte(hay: &[u8], byte: u8) -> Option<usize> {
    find(hay, &ByteSet::new(&[byte]))
}

/// The oracle: one byte at a time.
#[inline]
pub fn find_scalar(hay: &[u8], set: &ByteSet) -> Option<usize> {
    match set.len {
        1 => hay.iter().position(|&b| b == set.bytes[0]),
        2 => hay
            .iter()
            .position(|&b| b == set.bytes[0] || b == set.bytes[1]),
        n => hay.iter().position(|b| set.bytes[..n].contains(b)),
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    //! SSE2 and AVX2 instantiations of the one vector algorithm of each kind (the screen's
    //! shuffles need SSSE3 of the 16-byte instantiation).
    use std::arch::x86_64::*;

    use super::ByteSet;

    /// What the algorithm needs from a vector of bytes.
    trait Lanes: Copy {
        const WIDTH: usize;
        /// # Safety
        /// The CPU supports the instruction set and `p` is valid for `WIDTH` reads.
        unsafe fn load(p: *const u8) -> Self;
        /// # Safety
        /// The CPU supports the instruction set.
        unsafe fn splat(b: u8) -> Self;
        /// # Safety
        /// The CPU supports the instruction set.
        unsafe fn eq_mask(self, other: Self) -> Self;
        /// # Safety
        /// The CPU supports the instruction set.
        unsafe fn or(self, other: Self) -> Self;
        /// # Safety
        /// The CPU supports the instruction set.
        unsafe fn movemask(self) -> u32;
        /// # Safety
        /// The CPU supports the instruction set.
        unsafe fn and(self, other: Self) -> Self;
        /// Every byte's high nibble (as its value, 0-15).
        ///
        /// # Safety
        /// The CPU supports the instruction set.
        unsafe fn high_nibbles(self) -> Self;
        /// A 16-byte table in every 16-byte lane.
        ///
        /// # Safety
        /// The CPU supports the instruction set.
        unsafe fn table(t: &[u8; 16]) -> Self;
        /// `table`'s byte at each byte of `self` (each 0-15).
        ///
        /// # Safety
        /// The CPU supports the instruction set, and SSSE3 for the 16-byte one.
        unsafe fn lookup(self, table: Self) -> Self;
    }

    impl Lanes for __m128i {
        const WIDTH: usize = 16;
        #[inline(always)]
        unsafe fn load(p: *const u8) -> Self {
            // SAFETY: the caller guarantees 16 readable bytes; loadu has no alignment demand.
            unsafe { _mm_loadu_si128(p.cast()) }
        }
        #[inline(always)]
        unsafe fn splat(b: u8) -> Self {
            // SAFETY: SSE2 is part of x86_64.
            unsafe { _mm_set1_epi8(b as i8) }
        }
        #[inline(always)]
        unsafe fn eq_mask(self, o: Self) -> Self {
            // SAFETY: as above.
            unsafe { _mm_cmpeq_epi8(self, o) }
        }
        #[inline(always)]
        unsafe fn or(self, o: Self) -> Self {
            // SAFETY: as above.
            unsafe { _mm_or_si128(self, o) }
        }
        #[inline(always)]
        unsafe fn movemask(self) -> u32 {
            // SAFETY: as above.
            unsafe { _mm_movemask_epi8(self) as u32 }
        }
        #[inline(always)]
        unsafe fn and(self, o: Self) -> Self {
            // SAFETY: as above.
            unsafe { _mm_and_si128(self, o) }
        }
        #[inline(always)]
        unsafe fn high_nibbles(self) -> Self {
            // SAFETY: as above.
            unsafe { _mm_and_si128(_mm_srli_epi16(self, 4), _mm_set1_epi8(0x0f)) }
        }
        #[inline(always)]
        unsafe fn table(t: &[u8; 16]) -> Self {
            // SAFETY: 16 readable bytes; SSE2 is part of x86_64.
            unsafe { _mm_loadu_si128(t.as_ptr().cast()) }
        }
        #[inline(always)]
        unsafe fn lookup(self, table: Self) -> Self {
            // SAFETY: the caller guarantees SSSE3.
            unsafe { _mm_shuffle_epi8(table, self) }
        }
    }

    impl Lanes for __m256i {
        const WIDTH: usize = 32;
        #[inline(always)]
        unsafe fn load(p: *const u8) -> Self {
            // SAFETY: the caller guarantees AVX2 and 32 readable bytes.
            unsafe { _mm256_loadu_si256(p.cast()) }
        }
        #[inline(always)]
        unsafe fn splat(b: u8) -> Self {
            // SAFETY: the caller guarantees AVX2.
            unsafe { _mm256_set1_epi8(b as i8) }
        }
        #[inline(always)]
        unsafe fn eq_mask(self, o: Self) -> Self {
            // SAFETY: as above.
            unsafe { _mm256_cmpeq_epi8(self, o) }
        }
        #[inline(always)]
        unsafe fn or(self, o: Self) -> Self {
            // SAFETY: as above.
            unsafe { _mm256_or_si256(self, o) }
        }
        #[inline(always)]
        unsafe fn movemask(self) -> u32 {
            // SAFETY: as above.
            unsafe { _mm256_movemask_epi8(self) as u32 }
        }
        #[inline(always)]
        unsafe fn and(self, o: Self) -> Self {
            // SAFETY: as above.
            unsafe { _mm256_and_si256(self, o) }
        }
        #[inline(always)]
        unsafe fn high_nibbles(self) -> Self {
            // SAFETY: as above.
            unsafe { _mm256_and_si256(_mm256_srli_epi16(self, 4), _mm256_set1_epi8(0x0f)) }
        }
        #[inline(always)]
        unsafe fn table(t: &[u8; 16]) -> Self {
            // SAFETY: 16 readable bytes; the caller guarantees AVX2.
            unsafe { _mm256_broadcastsi128_si256(_mm_loadu_si128(t.as_ptr().cast())) }
        }
        #[inline(always)]
        unsafe fn lookup(self, table: Self) -> Self {
            // SAFETY: the caller guarantees AVX2 (its shuffle works within each 16-byte lane,
            // where `table` repeats).
            unsafe { _mm256_shuffle_epi8(table, self) }
        }
    }

    /// The algorithm: compare each block against every byte of the set, OR the results, and
    /// take the lowest set bit of the mask. The tail shorter than a block is read as the last
    /// full block (overlapping), so no byte past the end is ever read.
    ///
    /// # Safety
    /// The CPU supports `V`'s instruction set, and `hay.len() >= V::WIDTH`.
    #[inline(always)]
    unsafe fn find<V: Lanes>(hay: &[u8], set: &ByteSet) -> Option<usize> {
        debug_assert!(hay.len() >= V::WIDTH);
        // SAFETY: the caller guarantees the instruction set.
        let needles: [V; 8] = std::array::from_fn(|i| unsafe { V::splat(set.bytes[i]) });
        let n = set.len;
        let mut at = 0;
        while at + V::WIDTH <= hay.len() {
            // SAFETY: at + WIDTH <= hay.len(); the instruction set is guaranteed by the caller.
            let mask = unsafe { block(hay, at, &needles[..n]) };
            if mask != 0 {
                return Some(at + mask.trailing_zeros() as usize);
            }
            at += V::WIDTH;
        }
        if at < hay.len() {
            let last = hay.len() - V::WIDTH;
            // SAFETY: last + WIDTH == hay.len(); as above. Bits for bytes before `at` were
            // already searched and found empty.
            let mask = unsafe { block(hay, last, &needles[..n]) } >> (at - last);
            if mask != 0 {
                return Some(at + mask.trailing_zeros() as usize);
            }
        }
        None
    }

    /// The match mask of the block at `at`. A function rather than a closure, so that, inlined
    /// into the `target_feature` caller, the intrinsics inline too.
    ///
    /// # Safety
    /// The CPU supports `V`'s instruction set and `at + V::WIDTH <= hay.len()`.
    #[inline(always)]
    unsafe fn block<V: Lanes>(hay: &[u8], at: usize, needles: &[V]) -> u32 {
        // SAFETY: the caller guarantees WIDTH readable bytes at `at` and the instruction set.
        unsafe {
            let v = V::load(hay.as_ptr().add(at));
            let mut m = v.eq_mask(needles[0]);
            for needle in &needles[1..] {
                m = m.or(v.eq_mask(*needle));
            }
            m.movemask()
        }
    }

    /// The 64-byte masks of `K` bytes, `64 / WIDTH` blocks at a time, each block loaded once.
    ///
    /// # Safety
    /// The CPU supports `V`'s instruction set.
    #[inline(always)]
    unsafe fn masks64<V: Lanes, const K: usize>(block: &[u8; 64], bytes: &[u8; K]) -> [u64; K] {
        // SAFETY: the caller guarantees the instruction set.
        let needles: [V; K] = bytes.map(|b| unsafe { V::splat(b) });
        let mut masks = [0u64; K];
        for i in 0..64 / V::WIDTH {
            // SAFETY: i * WIDTH + WIDTH <= 64, inside the block; instruction set as above.
            let v = unsafe { V::load(block.as_ptr().add(i * V::WIDTH)) };
            for (mask, needle) in masks.iter_mut().zip(needles) {
                // SAFETY: instruction set as above.
                let m = unsafe { v.eq_mask(needle).movemask() };
                *mask |= u64::from(m) << (i * V::WIDTH);
            }
        }
        masks
    }

    pub(super) fn mask64_sse2(block: &[u8; 64], byte: u8) -> u64 {
        // SAFETY: SSE2 is part of every x86_64 CPU.
        unsafe { masks64::<__m128i, 1>(block, &[byte])[0] }
    }

    #[target_feature(enable = "avx2")]
    fn mask64_avx2_inner(block: &[u8; 64], byte: u8) -> u64 {
        // SAFETY: compiled for, and called on, CPUs with AVX2 only.
        unsafe { masks64::<__m256i, 1>(block, &[byte])[0] }
    }

    pub(super) fn mask64_avx2(block: &[u8; 64], byte: u8) -> u64 {
        // SAFETY: only selected after `is_x86_feature_detected!("avx2")`; the tests check the
        // same before calling it.
        unsafe { mask64_avx2_inner(block, byte) }
    }

    pub(super) fn marks_sse2(
        hay: &[u8],
        from: usize,
        bytes: &[u8; 4],
        out: &mut [[u64; 4]; super::MARK_BLOCKS],
    ) {
        // SAFETY: SSE2 is part of every x86_64 CPU.
        super::fill_marks(hay, from, bytes, out, |b, k| unsafe {
            masks64::<__m128i, 4>(b, k)
        });
    }

    #[target_feature(enable = "avx2")]
    fn marks_avx2_inner(
        hay: &[u8],
        from: usize,
        bytes: &[u8; 4],
        out: &mut [[u64; 4]; super::MARK_BLOCKS],
    ) {
        // SAFETY: compiled for, and called on, CPUs with AVX2 only.
        super::fill_marks(hay, from, bytes, out, |b, k| unsafe {
            masks64::<__m256i, 4>(b, k)
        });
    }

    pub(super) fn marks_avx2(
        hay: &[u8],
        from: usize,
        bytes: &[u8; 4],
        out: &mut [[u64; 4]; super::MARK_BLOCKS],
    ) {
        // SAFETY: only selected after `is_x86_feature_detected!("avx2")`; the tests check the
        // same before calling it.
        unsafe { marks_avx2_inner(hay, from, bytes, out) }
    }

    /// The screen on `V::WIDTH` positions at `at`: per window byte, two shuffles look up the low
    /// and high nibble of every byte for eight buckets at once; the two bucket halves run side by
    /// side.
    ///
    /// # Safety
    /// The CPU supports `V`'s instruction set (and SSSE3 for 16 bytes), and
    /// `at + V::WIDTH + window - 1 <= block.len()`.
    #[inline(always)]
    unsafe fn screen_block<V: Lanes>(
        block: &[u8; super::SCREEN_READ],
        at: usize,
        tables: &[[V; 4]; super::WINDOW_MAX],
        window: usize,
    ) -> u32 {
        // SAFETY: the caller guarantees the instruction sets and the bytes read.
        unsafe {
            let nibble = V::splat(0x0f);
            let case = V::splat(0x20);
            let mut low = V::splat(0xff);
            let mut high = low;
            for (j, t) in tables.iter().enumerate().take(window) {
                let v = V::load(block.as_ptr().add(at + j)).or(case);
                let (lo, hi) = (v.and(nibble), v.high_nibbles());
                low = low.and(lo.lookup(t[0]).and(hi.lookup(t[1])));
                high = high.and(lo.lookup(t[2]).and(hi.lookup(t[3])));
            }
            let none = low.or(high).eq_mask(V::splat(0));
            !none.movemask() & (u32::MAX >> (32 - V::WIDTH))
        }
    }

    /// The screen on 64 positions, `64 / V::WIDTH` blocks at a time.
    ///
    /// # Safety
    /// The CPU supports `V`'s instruction set (and SSSE3 for 16 bytes).
    #[inline(always)]
    unsafe fn screen64<V: Lanes>(
        block: &[u8; super::SCREEN_READ],
        fp: &super::Fingerprints,
    ) -> u64 {
        // SAFETY: the caller guarantees the instruction sets.
        let tables: [[V; 4]; super::WINDOW_MAX] =
            std::array::from_fn(|j| std::array::from_fn(|t| unsafe { V::table(&fp.tables[j][t]) }));
        let mut mask = 0u64;
        for i in 0..64 / V::WIDTH {
            // SAFETY: instruction sets as above; i * WIDTH + WIDTH + window - 1 <= SCREEN_READ.
            let m = unsafe { screen_block(block, i * V::WIDTH, &tables, fp.window) };
            mask |= u64::from(m) << (i * V::WIDTH);
        }
        mask
    }

    #[target_feature(enable = "avx2")]
    fn screen64_avx2_inner(block: &[u8; super::SCREEN_READ], fp: &super::Fingerprints) -> u64 {
        // SAFETY: AVX2 is enabled for this function.
        unsafe { screen64::<__m256i>(block, fp) }
    }

    pub(super) fn screen64_avx2(block: &[u8; super::SCREEN_READ], fp: &super::Fingerprints) -> u64 {
        // SAFETY: only selected after `is_x86_feature_detected!("avx2")`; the tests check the
        // same before calling it.
        unsafe { screen64_avx2_inner(block, fp) }
    }

    #[target_feature(enable = "ssse3")]
    fn screen64_ssse3_inner(block: &[u8; super::SCREEN_READ], fp: &super::Fingerprints) -> u64 {
        // SAFETY: SSSE3 (and so SSE2) is enabled for this function.
        unsafe { screen64::<__m128i>(block, fp) }
    }

    pub(super) fn screen64_ssse3(
        block: &[u8; super::SCREEN_READ],
        fp: &super::Fingerprints,
    ) -> u64 {
        // SAFETY: only selected after `is_x86_feature_detected!("ssse3")`; the tests check the
        // same before calling it.
        unsafe { screen64_ssse3_inner(block, fp) }
    }

    /// The class masks of a 64-byte block: two shuffles give every byte's class, then one
    /// test per selection.
    ///
    /// # Safety
    /// The CPU supports `V`'s instruction set (and SSSE3 for 16 bytes).
    #[inline(always)]
    unsafe fn classes64<V: Lanes>(block: &[u8; 64], t: &super::ClassTable) -> [u64; 4] {
        // SAFETY: the caller guarantees the instruction sets; the loads stay inside the block.
        // No closures: they would not inherit the caller's target features, and the intrinsics
        // in them would not inline.
        unsafe {
            let lo = V::table(&t.lo);
            let hi = V::table(&t.hi);
            let nibble = V::splat(0x0f);
            let zero = V::splat(0);
            let select = [
                V::splat(t.select[0]),
                V::splat(t.select[1]),
                V::splat(t.select[2]),
                V::splat(t.select[3]),
            ];
            let width_bits = u32::MAX >> (32 - V::WIDTH);
            let mut out = [0u64; 4];
            let mut i = 0;
            while i < 64 / V::WIDTH {
                let v = V::load(block.as_ptr().add(i * V::WIDTH));
                let class = v.and(nibble).lookup(lo).and(v.high_nibbles().lookup(hi));
                let mut k = 0;
                while k < 4 {
                    let none = class.and(select[k]).eq_mask(zero).movemask();
                    out[k] |= u64::from(!none & width_bits) << (i * V::WIDTH);
                    k += 1;
                }
                i += 1;
            }
            out
        }
    }

    #[target_feature(enable = "avx2")]
    fn classes64_avx2_inner(block: &[u8; 64], t: &super::ClassTable) -> [u64; 4] {
        // SAFETY: AVX2 is enabled for this function.
        unsafe { classes64::<__m256i>(block, t) }
    }

    pub(super) fn classes64_avx2(block: &[u8; 64], t: &super::ClassTable) -> [u64; 4] {
        // SAFETY: only selected after `is_x86_feature_detected!("avx2")`; the tests check the
        // same before calling it.
        unsafe { classes64_avx2_inner(block, t) }
    }

    #[target_feature(enable = "ssse3")]
    fn classes64_ssse3_inner(block: &[u8; 64], t: &super::ClassTable) -> [u64; 4] {
        // SAFETY: SSSE3 (and so SSE2) is enabled for this function.
        unsafe { classes64::<__m128i>(block, t) }
    }

    pub(super) fn classes64_ssse3(block: &[u8; 64], t: &super::ClassTable) -> [u64; 4] {
        // SAFETY: only selected after `is_x86_feature_detected!("ssse3")`; the tests check the
        // same before calling it.
        unsafe { classes64_ssse3_inner(block, t) }
    }

    pub(super) fn find_sse2(hay: &[u8], set: &ByteSet) -> Option<usize> {
        if hay.len() < 16 {
            return super::find_scalar(hay, set);
        }
        // SAFETY: SSE2 is part of every x86_64 CPU; the length was checked.
        unsafe { find::<__m128i>(hay, set) }
    }

    #[target_feature(enable = "avx2")]
    fn find_avx2_inner(hay: &[u8], set: &ByteSet) -> Option<usize> {
        // SAFETY: this function is only compiled for, and called on, CPUs with AVX2; the length
        // is at least 32.
        unsafe { find::<__m256i>(hay, set) }
    }

    pub(super) fn find_avx2(hay: &[u8], set: &ByteSet) -> Option<usize> {
        if hay.len() < 32 {
            return find_sse2(hay, set);
        }
        // SAFETY: `find_avx2` is only selected after `is_x86_feature_detected!("avx2")`, and
        // direct callers (the tests) check the same first.
        unsafe { find_avx2_inner(hay, set) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The scans the property tests compare, each implementation with its name.
    type Find = fn(&[u8], &ByteSet) -> Option<usize>;
    type Mask = fn(&[u8; 64], u8) -> u64;
    type Screen = fn(&[u8; SCREEN_READ], &Fingerprints) -> u64;

    fn implementations() -> Vec<(&'static str, Find)> {
        let mut v: Vec<(&'static str, Find)> = vec![("dispatched", find)];
        #[cfg(target_arch = "x86_64")]
        {
            v.push(("sse2", x86::find_sse2));
            if std::arch::is_x86_feature_detected!("avx2") {
                v.push(("avx2", x86::find_avx2));
            }
        }
        v
    }

    proptest! {
        #[test]
        fn class_masks_match_the_scalar_oracle(
            bytes in proptest::collection::vec(any::<u8>(), 64),
            lo in any::<[u8; 16]>(),
            hi in any::<[u8; 16]>(),
            select in any::<[u8; 4]>(),
        ) {
            let block: [u8; 64] = bytes.try_into().unwrap();
            let t = ClassTable { lo, hi, select };
            let want = classes64_scalar(&block, &t);
            prop_assert_eq!(classes64(&block, &t), want);
            #[cfg(target_arch = "x86_64")]
            {
                if std::arch::is_x86_feature_detected!("ssse3") {
                    prop_assert_eq!(x86::classes64_ssse3(&block, &t), want);
                }
                if std::arch::is_x86_feature_detected!("avx2") {
                    prop_assert_eq!(x86::classes64_avx2(&block, &t), want);
                }
            }
        }
    }

    #[test]
    fn finds_at_every_position_and_length() {
        let set = ByteSet::new(b" =\"");
        for len in 0..100 {
            for pos in 0..=len {
                let mut hay = vec![b'a'; len];
                if pos < len {
                    hay[pos] = b'=';
                }
                let want = (pos < len).then_some(pos);
                for (name, f) in implementations() {
                    assert_eq!(f(&hay, &set), want, "{name} len {len} pos {pos}");
                }
            }
        }
    }

    fn mask_implementations() -> Vec<(&'static str, Mask)> {
        let mut v: Vec<(&'static str, Mask)> = vec![("scalar", mask64_scalar)];
        #[cfg(target_arch = "x86_64")]
        {
            v.push(("sse2", x86::mask64_sse2));
            if std::arch::is_x86_feature_detected!("avx2") {
                v.push(("avx2", x86::mask64_avx2));
            }
        }
        v
    }

    /// Every vector version of [`fill_marks`] this CPU runs, and the dispatched one.
    fn marks_implementations() -> Vec<(&'static str, MarksFn)> {
        let mut v: Vec<(&'static str, MarksFn)> =
            vec![("dispatched", CHOSEN.get_or_init(select).marks)];
        #[cfg(target_arch = "x86_64")]
        {
            v.push(("sse2", x86::marks_sse2));
            if std::arch::is_x86_feature_detected!("avx2") {
                v.push(("avx2", x86::marks_avx2));
            }
        }
        v
    }

    /// Every position of every kind in `hay`, found with [`Marks::find`] from each start.
    fn all_marks(hay: &[u8], bytes: [u8; 4], kinds: u8) -> Vec<Option<usize>> {
        let mut marks = Marks::new(hay, bytes);
        (0..=hay.len() + 1)
            .map(|from| marks.find(from, kinds))
            .collect()
    }

    fn all_marks_scalar(hay: &[u8], bytes: [u8; 4], kinds: u8) -> Vec<Option<usize>> {
        let hit = |b: u8| (0..4).any(|k| kinds & (1 << k) != 0 && bytes[k] == b);
        (0..=hay.len() + 1)
            .map(|from| {
                let rest = hay.get(from..).unwrap_or(&[]);
                rest.iter().position(|&b| hit(b)).map(|i| from + i)
            })
            .collect()
    }

    #[test]
    fn marks_are_found_at_every_position_of_short_and_long_input() {
        // Past the blocks computed at once (256 bytes) too.
        let lens = (0..200usize).chain([255, 256, 257, 300, 319, 320, 321, 511, 512, 513, 600]);
        for len in lens {
            let edges = [
                0, 1, 31, 32, 63, 64, 65, 127, 128, 255, 256, 257, 320, 511, 512,
            ];
            for pos in edges.into_iter().chain([len.saturating_sub(1)]) {
                let mut hay = vec![b'a'; len];
                if pos < len {
                    hay[pos] = b'|';
                }
                if len > 3 {
                    hay[len - 3] = b'=';
                }
                let bytes = [b'|', b'\\', b'=', 0];
                for kinds in [0b1, 0b100, 0b101, 0b1000, 0b1111] {
                    assert_eq!(
                        all_marks(&hay, bytes, kinds),
                        all_marks_scalar(&hay, bytes, kinds),
                        "len {len} pos {pos} kinds {kinds:b}"
                    );
                }
            }
        }
    }

    #[test]
    fn masks_of_short_and_long_input() {
        assert_eq!(mask64(b"a b  c", b' '), 0b1_1010);
        assert_eq!(mask64(&[b' '; 100], b' '), u64::MAX);
        assert_eq!(mask64(b"", b' '), 0);
        assert_eq!(mask64(&[0xff; 3], 0xff), 0b111, "padding never matches");
    }

    fn screen_implementations() -> Vec<(&'static str, Screen)> {
        let mut v: Vec<(&'static str, Screen)> =
            vec![("scalar", screen64_scalar), ("dispatched", screen64)];
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("ssse3") {
                v.push(("ssse3", x86::screen64_ssse3));
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                v.push(("avx2", x86::screen64_avx2));
            }
        }
        v
    }

    #[test]
    fn the_screen_passes_its_windows_at_every_position() {
        let mut fp = Fingerprints::new(4);
        for (j, &b) in b"sshd".iter().enumerate() {
            fp.allow(3, j, b);
        }
        for (j, &b) in b"Root".iter().enumerate() {
            fp.allow(12, j, b);
        }
        for p in 0..64 {
            let mut block = [b'.'; SCREEN_READ];
            block[p..p + 4].copy_from_slice(b"sshd");
            for (name, f) in screen_implementations() {
                assert_eq!(f(&block, &fp), 1 << p, "{name} at {p}");
            }
            // Either case passes, whichever case was allowed.
            block[p..p + 4].copy_from_slice(b"SShD");
            for (name, f) in screen_implementations() {
                assert_eq!(f(&block, &fp), 1 << p, "{name}: case folded at {p}");
            }
            block[p..p + 4].copy_from_slice(b"rOOT");
            for (name, f) in screen_implementations() {
                assert_eq!(f(&block, &fp), 1 << p, "{name}: a high bucket at {p}");
            }
        }
        let block = [b'.'; SCREEN_READ];
        for (name, f) in screen_implementations() {
            assert_eq!(f(&block, &fp), 0, "{name}");
        }
    }

    proptest! {
        #[test]
        fn vector_screens_agree_with_the_scalar_oracle(
            block in proptest::collection::vec(any::<u8>(), SCREEN_READ),
            allowed in proptest::collection::vec((0..16usize, 0..WINDOW_MAX, any::<u8>()), 0..200),
            window in 1..=WINDOW_MAX,
        ) {
            let block: [u8; SCREEN_READ] = block.try_into().unwrap();
            let mut fp = Fingerprints::new(window);
            for (bucket, j, b) in allowed {
                fp.allow(bucket, j, b);
            }
            let want = screen64_scalar(&block, &fp);
            for (name, f) in screen_implementations() {
                prop_assert_eq!(f(&block, &fp), want, "{}", name);
            }
        }

        #[test]
        fn vector_masks_agree_with_the_scalar_oracle(
            block in proptest::collection::vec(any::<u8>(), 64),
            byte in any::<u8>(),
        ) {
            let block: [u8; 64] = block.try_into().unwrap();
            let want = mask64_scalar(&block, byte);
            for (name, f) in mask_implementations() {
                prop_assert_eq!(f(&block, byte), want, "{}", name);
            }
        }

        #[test]
        fn vector_masks_of_four_bytes_agree_with_the_scalar_oracle(
            hay in proptest::collection::vec(any::<u8>(), 1..700),
            from in any::<proptest::sample::Index>(),
            bytes in any::<[u8; 4]>(),
        ) {
            let from = from.index(hay.len());
            let mut want = [[0u64; 4]; MARK_BLOCKS];
            marks_scalar(&hay, from, &bytes, &mut want);
            for (name, f) in marks_implementations() {
                let mut got = [[0u64; 4]; MARK_BLOCKS];
                f(&hay, from, &bytes, &mut got);
                prop_assert_eq!(got, want, "{}", name);
            }
        }

        /// Windows asked for in any order, aligned to the loaded blocks or not, near the end or
        /// not, hold the bits of exactly the bytes of each kind.
        #[test]
        fn mark_windows_hold_the_bits_of_their_64_bytes(
            hay in proptest::collection::vec(prop_oneof![Just(b'"'), Just(b'|'), Just(b'='), any::<u8>()], 1..700),
            starts in proptest::collection::vec(any::<proptest::sample::Index>(), 1..12),
            step in prop_oneof![Just(None), (1usize..130).prop_map(Some)],
        ) {
            let bytes = [b'"', b'|', b'=', b'\\'];
            let mut marks = Marks::new(&hay, bytes);
            let mut at = starts[0].index(hay.len());
            for (n, start) in starts.iter().enumerate() {
                // Either jump anywhere, or walk forward by `step` (as a reader does).
                at = match step {
                    Some(s) if n > 0 && at + s < hay.len() => at + s,
                    _ => start.index(hay.len()),
                };
                let got = marks.window(at);
                for (k, &b) in bytes.iter().enumerate() {
                    let want = hay[at..].iter().take(64).enumerate()
                        .filter(|&(_, &h)| h == b)
                        .fold(0u64, |m, (i, _)| m | 1 << i);
                    prop_assert_eq!(got[k], want, "kind {} at {}", k, at);
                }
            }
        }

        #[test]
        fn marks_agree_with_a_byte_at_a_time_search(
            hay in proptest::collection::vec(prop_oneof![Just(b'"'), Just(b'\\'), Just(b'|'), any::<u8>()], 0..700),
            bytes in any::<[u8; 4]>(),
            kinds in 0u8..16,
        ) {
            prop_assert_eq!(all_marks(&hay, bytes, kinds), all_marks_scalar(&hay, bytes, kinds));
        }

        #[test]
        fn vector_versions_agree_with_the_scalar_oracle(
            hay in proptest::collection::vec(any::<u8>(), 0..300),
            set in proptest::collection::vec(any::<u8>(), 1..=8),
        ) {
            let set = ByteSet::new(&set);
            let want = find_scalar(&hay, &set);
            for (name, f) in implementations() {
                prop_assert_eq!(f(&hay, &set), want, "{}", name);
            }
        }

        #[test]
        fn structural_bytes_in_text(hay in "[a-z \\[\\]\"=\\\\\n]{0,200}") {
            let set = ByteSet::new(b" []\"=\\\n");
            let want = find_scalar(hay.as_bytes(), &set);
            for (name, f) in implementations() {
                prop_assert_eq!(f(hay.as_bytes(), &set), want, "{}", name);
            }
        }
    }
}
