//! Finding the first byte of a small set, and the mask of one byte over 64.

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

/// The oracle of [`mask64`](super::mask64).
pub fn mask64_scalar(block: &[u8; 64], byte: u8) -> u64 {
    block
        .iter()
        .enumerate()
        .fold(0, |m, (i, &b)| m | (u64::from(b == byte) << i))
}
