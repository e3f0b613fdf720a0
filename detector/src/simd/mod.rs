//! What the CPU can do for a batch of bytes beyond one at a time: the structural scans of the
//! parsers (the next byte of a small set, the masks of a few bytes or byte classes over 64
//! bytes), the literal screen's fingerprint test, the miner's digit-blind sum, and cache hints.
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
mod digits;
mod dispatch;
mod find;
mod hint;
mod marks;
mod screen;
#[cfg(target_arch = "x86_64")]
mod x86;

pub use classes::{ClassTable, classes64_scalar};
pub use digits::digit_sum_scalar;
pub use dispatch::{
    Implementation, classes64, digit_sum, find, find_byte, implementation, marks, mask64, screen,
};
pub use find::{ByteSet, find_scalar, mask64_scalar};
pub use hint::{PREFETCH_AHEAD, PREFETCH_LINES, prefetch, prefetch_bytes};
pub use marks::{Marks, masks64x4_scalar};
pub use screen::{Fingerprints, SCREEN_BLOCKS, WINDOW_MAX, fold, screen_scalar};

#[cfg(test)]
mod tests;
