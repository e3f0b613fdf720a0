//! What the CPU can do for a batch of bytes beyond one at a time: the structural scans of the
//! parsers (the next byte of a small set, the masks of a few bytes or byte classes over 64
//! bytes), the literal screen's fingerprint test, and cache hints.
//!
//! One algorithm, written once over a small vector trait (`Lanes`, in `x86`), with thin SSE2 and
//! AVX2 instantiations; the implementation is picked once per process at first use (AVX2 when
//! the CPU has it, else SSE2, which every x86_64 has). The screen and the byte classes need a
//! byte shuffle: AVX2, else SSSE3, else scalar. The scalar versions are the oracles that the
//! property tests compare the vector ones against. Setting `DETECTOR_SIMD=off` in the
//! environment forces the scalar versions, which the test command uses to run every parser test
//! without SIMD as well; `DETECTOR_SIMD=sse` leaves AVX2 out (to measure or test the narrower
//! versions). Every `unsafe` block of the crate's vector code is in `x86`.

mod classes;
mod find;
mod marks;
mod screen;
#[cfg(target_arch = "x86_64")]
mod x86;

use std::sync::OnceLock;

pub use classes::{ClassTable, classes64, classes64_scalar};
pub use find::{ByteSet, find, find_byte, find_scalar, mask64, mask64_scalar};
use marks::{MARK_BLOCKS, fill_marks, marks_scalar};
pub use marks::{Marks, masks64x4_scalar};
pub use screen::{Fingerprints, SCREEN_READ, WINDOW_MAX, fold, screen64, screen64_scalar};

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

/// The chosen implementation's functions, chosen at the first call.
#[inline(always)]
fn chosen() -> &'static Chosen {
    CHOSEN.get_or_init(select)
}

/// The implementation in use.
pub fn implementation() -> Implementation {
    chosen().implementation
}

/// Asks the CPU to bring the cache line holding `p` into its nearest cache. A hint only: it
/// never faults and changes nothing the program can observe.
#[inline(always)]
pub fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCHT0 never faults, whatever the address, and reads nothing into the
    // program; the pointer is not dereferenced.
    unsafe {
        std::arch::x86_64::_mm_prefetch(p.cast::<i8>(), std::arch::x86_64::_MM_HINT_T0);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Cache lines at the start of a message [`prefetch_bytes`] asks for at most: the headers and
/// the start of the body, which the parser reads first; the hardware prefetcher follows a
/// longer read.
pub const PREFETCH_LINES: usize = 4;

/// Brings the first [`PREFETCH_LINES`] cache lines of `bytes`, and its last byte's (the parser
/// trims a trailing newline first), into cache: a batch asks for every message before it
/// parses any, so their cache misses overlap instead of coming one after the other.
#[inline(always)]
pub fn prefetch_bytes(bytes: &[u8]) {
    let Some(last) = bytes.last() else {
        return;
    };
    for at in (0..bytes.len().min(PREFETCH_LINES * 64)).step_by(64) {
        prefetch(bytes[at..].as_ptr());
    }
    if bytes.len() > PREFETCH_LINES * 64 {
        prefetch(last);
    }
}

#[cfg(test)]
mod tests;
