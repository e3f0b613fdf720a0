//! A digit-blind sum of a byte string: the accumulators of the miner's quick key, 32 bytes a
//! step. Every ASCII digit is read as `0`, so two strings that differ only in their digits sum
//! alike, and (but for a 2^-64-like chance) no others do.
//!
//! The bytes are taken in 32-byte stripes, each as four 64-bit lanes (little-endian). Lane `l`
//! of stripe `n` adds, as XXH3's accumulators do, the product of the two 32-bit halves of
//! `d ^ key` and `d` with its halves swapped, where `d` is the lane (digits zeroed) and `key`
//! is `BASE[l] + n * STEP[l]`: a key per position, so stripes that trade places do not sum
//! alike. The stripes are 0, 32, 64, ..., and when the length is not a multiple of 32, the last
//! 32 bytes once more (overlapping the stripe before); a string shorter than 32 bytes is one
//! stripe, padded with zero bytes. The caller mixes in the length, which tells the paddings and
//! overlaps apart.
//!
//! Per stripe, a vector takes about a dozen instructions (AVX2): five to zero the digits, five
//! to accumulate, one for the key. The scalar version is the oracle the vector ones are tested
//! against, and the fallback.

/// Starting value of each lane's accumulator.
pub(super) const SEED: [u64; 4] = [
    0x243f_6a88_85a3_08d3,
    0x1319_8a2e_0370_7344,
    0xa409_3822_299f_31d0,
    0x082e_fa98_ec4e_6c89,
];
/// Each lane's key at stripe 0.
pub(super) const BASE: [u64; 4] = [
    0x4528_21e6_38d0_1377,
    0xbe54_66cf_34e9_0c6c,
    0xc0ac_29b7_c97c_50dd,
    0x3f84_d5b5_b547_0917,
];
/// What each lane's key adds per stripe (odd, so no two of 2^64 positions share a key).
pub(super) const STEP: [u64; 4] = [
    0x9216_d5d9_8979_fb1b,
    0xd131_0ba6_98df_b5ad,
    0x2ffd_72db_d01a_dfb7,
    0xb8e1_afed_6a26_7e97,
];

/// The byte with an ASCII digit read as `0`.
#[inline(always)]
fn zeroed(b: u8) -> u8 {
    if b.is_ascii_digit() { b'0' } else { b }
}

/// One stripe's lanes added into `acc`, with the keys of stripe `n`.
#[inline(always)]
fn accumulate(acc: &mut [u64; 4], stripe: &[u8; 32], n: u64) {
    for (l, a) in acc.iter_mut().enumerate() {
        let mut lane = [0u8; 8];
        for (o, &b) in lane.iter_mut().zip(&stripe[8 * l..8 * l + 8]) {
            *o = zeroed(b);
        }
        let d = u64::from_le_bytes(lane);
        let x = d ^ BASE[l].wrapping_add(n.wrapping_mul(STEP[l]));
        *a = a
            .wrapping_add((x & 0xffff_ffff) * (x >> 32))
            .wrapping_add(d.rotate_left(32));
    }
}

/// The stripes of `bytes` as [`digit_sum`](super::digit_sum) takes them, in order.
pub(super) fn stripes(bytes: &[u8]) -> impl Iterator<Item = [u8; 32]> + '_ {
    let short = (bytes.len() < 32).then(|| {
        let mut s = [0u8; 32];
        s[..bytes.len()].copy_from_slice(bytes);
        s
    });
    let whole = bytes
        .chunks_exact(32)
        .map(|c| c.try_into().expect("32 bytes"));
    let last = (bytes.len() > 32 && !bytes.len().is_multiple_of(32))
        .then(|| *bytes.last_chunk::<32>().expect("more than 32 bytes"));
    short.into_iter().chain(whole).chain(last)
}

/// The oracle: one byte at a time.
pub fn digit_sum_scalar(bytes: &[u8]) -> [u64; 4] {
    let mut acc = SEED;
    for (n, s) in stripes(bytes).enumerate() {
        accumulate(&mut acc, &s, n as u64);
    }
    acc
}
