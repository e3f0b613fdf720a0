//! Finding the first byte of a small set, and the mask of one byte over 64.

use super::chosen;

/// Up to eight bytes to look for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByteSet {
    pub(super) bytes: [u8; 8],
    pub(super) len: usize,
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

/// The oracle of [`mask64`].
pub fn mask64_scalar(block: &[u8; 64], byte: u8) -> u64 {
    block
        .iter()
        .enumerate()
        .fold(0, |m, (i, &b)| m | (u64::from(b == byte) << i))
}
