//! Byte classes by nibbles, 64 bytes at a time.

/// Byte classes by nibbles, as simdjson classifies characters: a byte's class is
/// `lo[byte & 15] & hi[byte >> 4]`, eight class bits, and [`classes64`](super::classes64) gives, for each of four
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

/// The oracle of [`classes64`](super::classes64), a byte at a time.
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
