//! The literal screen's fingerprint test: Teddy's nibble tables over 64 positions at a time.

/// Longest fingerprint window of a [`Fingerprints`] set, in bytes.
pub const WINDOW_MAX: usize = 4;

/// Most blocks of 64 positions one [`screen`](super::screen) call fills.
pub const SCREEN_BLOCKS: usize = 8;

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
    /// A high-nibble table holds at `n` what the folded byte's nibble `n | 2` passes, so the
    /// vector versions look up a byte's own high nibble and never fold it.
    pub(super) tables: [[[u8; 16]; 4]; WINDOW_MAX],
    /// The same per byte value (what the scalar version reads): the buckets it passes.
    pub(super) bytes: [[u16; 256]; WINDOW_MAX],
    pub(super) window: usize,
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
        // Both high nibbles that fold to this one (bit 5 of the byte is bit 1 of its nibble).
        self.tables[j][half + 1][usize::from(b >> 4)] |= bit;
        self.tables[j][half + 1][usize::from((b >> 4) & !2)] |= bit;
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

/// Whether the window of `fp` starting at position `p` of `hay` passes some bucket, reading
/// zeros past the end of `hay`: the scalar test of one position.
#[inline]
pub(super) fn passes_at(hay: &[u8], p: usize, fp: &Fingerprints) -> bool {
    let mut m = u16::MAX;
    for (j, buckets) in fp.bytes[..fp.window].iter().enumerate() {
        m &= buckets[usize::from(fold(hay.get(p + j).copied().unwrap_or(0)))];
    }
    m != 0
}

/// The oracle of [`screen`](super::screen): one position at a time, a table lookup per window
/// byte.
pub fn screen_scalar(
    hay: &[u8],
    positions: usize,
    fp: &Fingerprints,
    out: &mut [u64; SCREEN_BLOCKS],
) {
    *out = [0; SCREEN_BLOCKS];
    for p in 0..positions.min(SCREEN_BLOCKS * 64) {
        out[p / 64] |= u64::from(passes_at(hay, p, fp)) << (p % 64);
    }
}
