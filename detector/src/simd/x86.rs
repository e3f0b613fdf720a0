//! SSE2 and AVX2 instantiations of the one vector algorithm of each kind (the screen's
//! shuffles need SSSE3 of the 16-byte instantiation).
use std::arch::x86_64::*;

use super::{
    classes::ClassTable,
    digits::{BASE, SEED, STEP},
    find::{ByteSet, find_scalar},
    marks::{MARK_BLOCKS, fill_marks},
    screen::{Fingerprints, SCREEN_BLOCKS, WINDOW_MAX, passes_at},
};

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
    /// # Safety
    /// The CPU supports the instruction set and `p` is valid for `WIDTH` writes.
    unsafe fn store(self, p: *mut u8);
    /// Bytewise `self - other`, wrapping.
    ///
    /// # Safety
    /// The CPU supports the instruction set.
    unsafe fn sub_bytes(self, other: Self) -> Self;
    /// Bytewise unsigned minimum.
    ///
    /// # Safety
    /// The CPU supports the instruction set.
    unsafe fn min_bytes(self, other: Self) -> Self;
    /// `!self & other`.
    ///
    /// # Safety
    /// The CPU supports the instruction set.
    unsafe fn and_not(self, other: Self) -> Self;
    /// # Safety
    /// The CPU supports the instruction set.
    unsafe fn xor(self, other: Self) -> Self;
    /// Each 64-bit lane with its two 32-bit halves swapped.
    ///
    /// # Safety
    /// The CPU supports the instruction set.
    unsafe fn swap_halves(self) -> Self;
    /// Per 64-bit lane, the product of the low 32 bits of `self` and of `other`.
    ///
    /// # Safety
    /// The CPU supports the instruction set.
    unsafe fn mul_low32(self, other: Self) -> Self;
    /// Per 64-bit lane, `self + other`, wrapping.
    ///
    /// # Safety
    /// The CPU supports the instruction set.
    unsafe fn add64(self, other: Self) -> Self;
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
    #[inline(always)]
    unsafe fn store(self, p: *mut u8) {
        // SAFETY: the caller guarantees 16 writable bytes; storeu has no alignment demand.
        unsafe { _mm_storeu_si128(p.cast(), self) }
    }
    #[inline(always)]
    unsafe fn sub_bytes(self, o: Self) -> Self {
        // SAFETY: SSE2 is part of x86_64.
        unsafe { _mm_sub_epi8(self, o) }
    }
    #[inline(always)]
    unsafe fn min_bytes(self, o: Self) -> Self {
        // SAFETY: as above.
        unsafe { _mm_min_epu8(self, o) }
    }
    #[inline(always)]
    unsafe fn and_not(self, o: Self) -> Self {
        // SAFETY: as above.
        unsafe { _mm_andnot_si128(self, o) }
    }
    #[inline(always)]
    unsafe fn xor(self, o: Self) -> Self {
        // SAFETY: as above.
        unsafe { _mm_xor_si128(self, o) }
    }
    #[inline(always)]
    unsafe fn swap_halves(self) -> Self {
        // SAFETY: as above.
        unsafe { _mm_shuffle_epi32::<0b10_11_00_01>(self) }
    }
    #[inline(always)]
    unsafe fn mul_low32(self, o: Self) -> Self {
        // SAFETY: as above.
        unsafe { _mm_mul_epu32(self, o) }
    }
    #[inline(always)]
    unsafe fn add64(self, o: Self) -> Self {
        // SAFETY: as above.
        unsafe { _mm_add_epi64(self, o) }
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
    #[inline(always)]
    unsafe fn store(self, p: *mut u8) {
        // SAFETY: the caller guarantees AVX2 and 32 writable bytes.
        unsafe { _mm256_storeu_si256(p.cast(), self) }
    }
    #[inline(always)]
    unsafe fn sub_bytes(self, o: Self) -> Self {
        // SAFETY: the caller guarantees AVX2.
        unsafe { _mm256_sub_epi8(self, o) }
    }
    #[inline(always)]
    unsafe fn min_bytes(self, o: Self) -> Self {
        // SAFETY: as above.
        unsafe { _mm256_min_epu8(self, o) }
    }
    #[inline(always)]
    unsafe fn and_not(self, o: Self) -> Self {
        // SAFETY: as above.
        unsafe { _mm256_andnot_si256(self, o) }
    }
    #[inline(always)]
    unsafe fn xor(self, o: Self) -> Self {
        // SAFETY: as above.
        unsafe { _mm256_xor_si256(self, o) }
    }
    #[inline(always)]
    unsafe fn swap_halves(self) -> Self {
        // SAFETY: as above.
        unsafe { _mm256_shuffle_epi32::<0b10_11_00_01>(self) }
    }
    #[inline(always)]
    unsafe fn mul_low32(self, o: Self) -> Self {
        // SAFETY: as above.
        unsafe { _mm256_mul_epu32(self, o) }
    }
    #[inline(always)]
    unsafe fn add64(self, o: Self) -> Self {
        // SAFETY: as above.
        unsafe { _mm256_add_epi64(self, o) }
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
    out: &mut [[u64; 4]; MARK_BLOCKS],
) {
    // SAFETY: SSE2 is part of every x86_64 CPU.
    fill_marks(hay, from, bytes, out, |b, k| unsafe {
        masks64::<__m128i, 4>(b, k)
    });
}

#[target_feature(enable = "avx2")]
fn marks_avx2_inner(hay: &[u8], from: usize, bytes: &[u8; 4], out: &mut [[u64; 4]; MARK_BLOCKS]) {
    // SAFETY: compiled for, and called on, CPUs with AVX2 only.
    fill_marks(hay, from, bytes, out, |b, k| unsafe {
        masks64::<__m256i, 4>(b, k)
    });
}

pub(super) fn marks_avx2(
    hay: &[u8],
    from: usize,
    bytes: &[u8; 4],
    out: &mut [[u64; 4]; MARK_BLOCKS],
) {
    // SAFETY: only selected after `is_x86_feature_detected!("avx2")`; the tests check the
    // same before calling it.
    unsafe { marks_avx2_inner(hay, from, bytes, out) }
}

/// The screen on `V::WIDTH` positions at `at` of `hay`: per window byte, two shuffles look up
/// the low and high nibble of every byte for eight buckets at once; the two bucket halves run
/// side by side.
///
/// # Safety
/// The CPU supports `V`'s instruction set (and SSSE3 for 16 bytes), and
/// `at + V::WIDTH + WINDOW_MAX - 1 <= hay.len()`.
#[inline(always)]
unsafe fn screen_block<V: Lanes>(
    hay: &[u8],
    at: usize,
    tables: &[[V; 4]; WINDOW_MAX],
    window: usize,
) -> u32 {
    // SAFETY: the caller guarantees the instruction sets and the bytes read.
    unsafe {
        let nibble = V::splat(0x0f);
        let mut low = V::splat(0xff);
        let mut high = low;
        for (j, t) in tables.iter().enumerate().take(window) {
            // Unfolded: the high-nibble tables fold (see `Fingerprints::tables`).
            let v = V::load(hay.as_ptr().add(at + j));
            let (lo, hi) = (v.and(nibble), v.high_nibbles());
            low = low.and(lo.lookup(t[0]).and(hi.lookup(t[1])));
            high = high.and(lo.lookup(t[2]).and(hi.lookup(t[3])));
        }
        let none = low.or(high).eq_mask(V::splat(0));
        !none.movemask() & (u32::MAX >> (32 - V::WIDTH))
    }
}

/// The screen over the first `positions` positions of `hay`, `V::WIDTH` at a time, with the
/// tables loaded once. Where a step would read past the end, it reads the last bytes of `hay`
/// instead (positions already screened are shifted out), and the few positions whose window
/// reaches past the end are tested one at a time; a text shorter than one step is screened in
/// a zero-padded copy.
///
/// # Safety
/// The CPU supports `V`'s instruction set (and SSSE3 for 16 bytes).
#[inline(always)]
unsafe fn screen<V: Lanes>(
    hay: &[u8],
    positions: usize,
    fp: &Fingerprints,
    out: &mut [u64; SCREEN_BLOCKS],
) {
    // SAFETY: the caller guarantees the instruction sets.
    let tables: [[V; 4]; WINDOW_MAX] =
        std::array::from_fn(|j| std::array::from_fn(|t| unsafe { V::table(&fp.tables[j][t]) }));
    let positions = positions.min(SCREEN_BLOCKS * 64);
    let read = V::WIDTH + WINDOW_MAX - 1;
    *out = [0; SCREEN_BLOCKS];
    let mut padded = [0u8; 2 * 32 + WINDOW_MAX - 1];
    let src = if hay.len() < read {
        // Fewer positions than bytes, so two steps at most, both inside the copy.
        padded[..hay.len()].copy_from_slice(hay);
        &padded[..2 * V::WIDTH + WINDOW_MAX - 1]
    } else {
        hay
    };
    // Whole blocks of 64 positions whose steps all read inside `src`.
    let blocks = positions
        .div_ceil(64)
        .min(src.len().saturating_sub(WINDOW_MAX - 1) / 64);
    for (k, o) in out[..blocks].iter_mut().enumerate() {
        for i in 0..64 / V::WIDTH {
            // SAFETY: instruction sets as above; the block's last step ends at
            // `64 * k + 64 + WINDOW_MAX - 1 <= src.len()`.
            let m = unsafe { screen_block(src, 64 * k + i * V::WIDTH, &tables, fp.window) };
            *o |= u64::from(m) << (i * V::WIDTH);
        }
    }
    // The rest, a step at a time.
    let mut at = 64 * blocks;
    while at < positions {
        let m = if at + read <= src.len() {
            // SAFETY: instruction sets as above; the step reads inside `src`.
            unsafe { screen_block(src, at, &tables, fp.window) }
        } else {
            // The last step: `src` holds at least `read` bytes here.
            let last = src.len() - read;
            let shift = at - last;
            let mut m = if shift < V::WIDTH {
                // SAFETY: instruction sets as above; `last + read` is the end of `src`.
                unsafe { screen_block(src, last, &tables, fp.window) >> shift }
            } else {
                0
            };
            for p in (last + V::WIDTH).max(at)..positions.min(at + V::WIDTH) {
                m |= u32::from(passes_at(src, p, fp)) << (p - at);
            }
            m
        };
        out[at / 64] |= u64::from(m) << (at % 64);
        at += V::WIDTH;
    }
    if !positions.is_multiple_of(64) {
        out[positions / 64] &= (1u64 << (positions % 64)) - 1;
    }
}

#[target_feature(enable = "avx2")]
fn screen_avx2_inner(
    hay: &[u8],
    positions: usize,
    fp: &Fingerprints,
    out: &mut [u64; SCREEN_BLOCKS],
) {
    // SAFETY: AVX2 is enabled for this function.
    unsafe { screen::<__m256i>(hay, positions, fp, out) }
}

pub(super) fn screen_avx2(
    hay: &[u8],
    positions: usize,
    fp: &Fingerprints,
    out: &mut [u64; SCREEN_BLOCKS],
) {
    // SAFETY: only selected after `is_x86_feature_detected!("avx2")`; the tests check the
    // same before calling it.
    unsafe { screen_avx2_inner(hay, positions, fp, out) }
}

#[target_feature(enable = "ssse3")]
fn screen_ssse3_inner(
    hay: &[u8],
    positions: usize,
    fp: &Fingerprints,
    out: &mut [u64; SCREEN_BLOCKS],
) {
    // SAFETY: SSSE3 (and so SSE2) is enabled for this function.
    unsafe { screen::<__m128i>(hay, positions, fp, out) }
}

pub(super) fn screen_ssse3(
    hay: &[u8],
    positions: usize,
    fp: &Fingerprints,
    out: &mut [u64; SCREEN_BLOCKS],
) {
    // SAFETY: only selected after `is_x86_feature_detected!("ssse3")`; the tests check the
    // same before calling it.
    unsafe { screen_ssse3_inner(hay, positions, fp, out) }
}

/// The class masks of a 64-byte block: two shuffles give every byte's class, then one
/// test per selection.
///
/// # Safety
/// The CPU supports `V`'s instruction set (and SSSE3 for 16 bytes).
#[inline(always)]
unsafe fn classes64<V: Lanes>(block: &[u8; 64], t: &ClassTable) -> [u64; 4] {
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
fn classes64_avx2_inner(block: &[u8; 64], t: &ClassTable) -> [u64; 4] {
    // SAFETY: AVX2 is enabled for this function.
    unsafe { classes64::<__m256i>(block, t) }
}

pub(super) fn classes64_avx2(block: &[u8; 64], t: &ClassTable) -> [u64; 4] {
    // SAFETY: only selected after `is_x86_feature_detected!("avx2")`; the tests check the
    // same before calling it.
    unsafe { classes64_avx2_inner(block, t) }
}

#[target_feature(enable = "ssse3")]
fn classes64_ssse3_inner(block: &[u8; 64], t: &ClassTable) -> [u64; 4] {
    // SAFETY: SSSE3 (and so SSE2) is enabled for this function.
    unsafe { classes64::<__m128i>(block, t) }
}

pub(super) fn classes64_ssse3(block: &[u8; 64], t: &ClassTable) -> [u64; 4] {
    // SAFETY: only selected after `is_x86_feature_detected!("ssse3")`; the tests check the
    // same before calling it.
    unsafe { classes64_ssse3_inner(block, t) }
}

pub(super) fn find_sse2(hay: &[u8], set: &ByteSet) -> Option<usize> {
    if hay.len() < 16 {
        return find_scalar(hay, set);
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

/// [`digit_sum_scalar`](super::digit_sum_scalar), `V::WIDTH` bytes a step: per stripe, the
/// digits zeroed (`b - '0'` at most 9 unsigned marks a digit, whose low nibble is cleared),
/// then XXH3's accumulate on the 64-bit lanes.
///
/// # Safety
/// The CPU supports `V`'s instruction set.
#[inline(always)]
unsafe fn digit_sum<V: Lanes>(bytes: &[u8]) -> [u64; 4] {
    /// One stripe at `p` (32 readable bytes) into `acc`, then the keys on to the next.
    ///
    /// # Safety
    /// As the caller's, and `p` is valid for 32 reads.
    #[inline(always)]
    unsafe fn stripe<V: Lanes>(p: *const u8, acc: &mut [V; 2], key: &mut [V; 2], step: &[V; 2]) {
        // SAFETY: the caller guarantees the instruction set and 32 readable bytes at `p`.
        unsafe {
            let (zero, nine, low) = (V::splat(b'0'), V::splat(9), V::splat(0x0f));
            for i in 0..32 / V::WIDTH {
                let v = V::load(p.add(i * V::WIDTH));
                let t = v.sub_bytes(zero);
                let digit = t.min_bytes(nine).eq_mask(t);
                let z = digit.and(low).and_not(v);
                let x = z.xor(key[i]);
                acc[i] = acc[i]
                    .add64(x.mul_low32(x.swap_halves()))
                    .add64(z.swap_halves());
                key[i] = key[i].add64(step[i]);
            }
        }
    }
    // SAFETY: the caller guarantees the instruction set; every load below reads inside the
    // 32-byte stripe copy or inside `bytes` (stripes at `at + 32 <= len`, and at `len - 32`).
    unsafe {
        let (mut acc, mut key, step) = (lanes::<V>(&SEED), lanes::<V>(&BASE), lanes::<V>(&STEP));
        let len = bytes.len();
        if len < 32 {
            let mut s = [0u8; 32];
            s[..len].copy_from_slice(bytes);
            stripe(s.as_ptr(), &mut acc, &mut key, &step);
        } else {
            let mut at = 0;
            while at + 32 <= len {
                stripe(bytes.as_ptr().add(at), &mut acc, &mut key, &step);
                at += 32;
            }
            if at < len {
                stripe(bytes.as_ptr().add(len - 32), &mut acc, &mut key, &step);
            }
        }
        let mut out = [0u64; 4];
        let p = out.as_mut_ptr().cast::<u8>();
        for (i, a) in acc.iter().enumerate().take(32 / V::WIDTH) {
            a.store(p.add(i * V::WIDTH));
        }
        out
    }
}

/// Four 64-bit lanes as `32 / V::WIDTH` vectors (the second unused when one holds them all).
///
/// # Safety
/// The CPU supports `V`'s instruction set.
#[inline(always)]
unsafe fn lanes<V: Lanes>(a: &[u64; 4]) -> [V; 2] {
    let p = a.as_ptr().cast::<u8>();
    // SAFETY: both loads read inside the 32 bytes of `a`; the caller guarantees the
    // instruction set.
    unsafe { [V::load(p), V::load(p.add(V::WIDTH % 32))] }
}

pub(super) fn digit_sum_sse2(bytes: &[u8]) -> [u64; 4] {
    // SAFETY: SSE2 is part of every x86_64 CPU.
    unsafe { digit_sum::<__m128i>(bytes) }
}

#[target_feature(enable = "avx2")]
fn digit_sum_avx2_inner(bytes: &[u8]) -> [u64; 4] {
    // SAFETY: AVX2 is enabled for this function.
    unsafe { digit_sum::<__m256i>(bytes) }
}

pub(super) fn digit_sum_avx2(bytes: &[u8]) -> [u64; 4] {
    // SAFETY: only selected after `is_x86_feature_detected!("avx2")`; the tests check the
    // same before calling it.
    unsafe { digit_sum_avx2_inner(bytes) }
}
