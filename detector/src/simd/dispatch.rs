//! The implementation chosen once per process, and the calls that go through it.

use std::sync::OnceLock;

#[cfg(target_arch = "x86_64")]
use super::x86;
use super::{
    classes::{ClassTable, classes64_scalar},
    digits::digit_sum_scalar,
    find::{ByteSet, find_scalar, mask64_scalar},
    marks::{Marks, MarksFn, marks_scalar},
    screen::{Fingerprints, SCREEN_BLOCKS, screen_scalar},
};

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
type ScreenFn = fn(&[u8], usize, &Fingerprints, &mut [u64; SCREEN_BLOCKS]);
type ClassesFn = fn(&[u8; 64], &ClassTable) -> [u64; 4];
type DigitSumFn = fn(&[u8]) -> [u64; 4];

/// The chosen implementation's functions.
pub(super) struct Chosen {
    implementation: Implementation,
    find: FindFn,
    mask64: MaskFn,
    pub(super) marks: MarksFn,
    screen: ScreenFn,
    classes64: ClassesFn,
    digit_sum: DigitSumFn,
}

fn select() -> Chosen {
    let scalar = Chosen {
        implementation: Implementation::Scalar,
        find: find_scalar,
        mask64: mask64_scalar,
        marks: marks_scalar,
        screen: screen_scalar,
        classes64: classes64_scalar,
        digit_sum: digit_sum_scalar,
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
                screen: x86::screen_avx2,
                classes64: x86::classes64_avx2,
                digit_sum: x86::digit_sum_avx2,
            };
        }
        return Chosen {
            implementation: Implementation::Sse2,
            find: x86::find_sse2,
            mask64: x86::mask64_sse2,
            marks: x86::marks_sse2,
            // The screen needs a byte shuffle, which SSE2 lacks.
            screen: if std::arch::is_x86_feature_detected!("ssse3") {
                x86::screen_ssse3
            } else {
                screen_scalar
            },
            classes64: if std::arch::is_x86_feature_detected!("ssse3") {
                x86::classes64_ssse3
            } else {
                classes64_scalar
            },
            digit_sum: x86::digit_sum_sse2,
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

/// The chosen implementation's functions, chosen at the first call.
#[inline(always)]
pub(super) fn chosen() -> &'static Chosen {
    CHOSEN.get_or_init(select)
}

/// The implementation in use.
pub fn implementation() -> Implementation {
    chosen().implementation
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
    (chosen().find)(&hay[SHORT..], set).map(|i| i + SHORT)
}

/// Position of the first `byte` in `hay` (a one-byte set).
#[inline]
pub fn find_byte(hay: &[u8], byte: u8) -> Option<usize> {
    find(hay, &ByteSet::new(&[byte]))
}

/// A bit per position of the first 64 bytes of `hay`: set where the byte is `byte`. Bytes past
/// the end of a shorter `hay` never match. One vector pass finds every delimiter of a header.
#[inline]
pub fn mask64(hay: &[u8], byte: u8) -> u64 {
    let f = chosen().mask64;
    match hay.first_chunk::<64>() {
        Some(block) => f(block, byte),
        None => {
            let mut block = [!byte; 64];
            block[..hay.len()].copy_from_slice(hay);
            f(&block, byte)
        }
    }
}

/// Four class masks of a 64-byte block (see [`ClassTable`]), 32 or 16 bytes a step.
#[inline]
pub fn classes64(block: &[u8; 64], table: &ClassTable) -> [u64; 4] {
    (chosen().classes64)(block, table)
}

/// The digit-blind sum of `bytes` (see [`digit_sum_scalar`]): four accumulators to fold into a
/// hash, equal for two strings of one length that differ only in their ASCII digits.
#[inline]
pub fn digit_sum(bytes: &[u8]) -> [u64; 4] {
    (chosen().digit_sum)(bytes)
}

/// The literal screen over the first `positions` positions of `hay` (at most
/// [`SCREEN_BLOCKS`] times 64; more are not screened): bit `p % 64` of `out[p / 64]` is set
/// where the window starting at `p` passes some bucket of `fp`. A window reaching past the end
/// of `hay` reads zeros there. Every bit of `out` at or past `positions` is clear.
#[inline]
pub fn screen(hay: &[u8], positions: usize, fp: &Fingerprints, out: &mut [u64; SCREEN_BLOCKS]) {
    (chosen().screen)(hay, positions, fp, out)
}

/// Where the bytes of up to four kinds are in `hay` (kind `k` is `bytes[k]`), by the chosen
/// implementation; nothing is computed before the first search.
#[inline]
pub fn marks(hay: &[u8], bytes: [u8; 4]) -> Marks<'_> {
    Marks::with_fill(hay, bytes, chosen().marks)
}
