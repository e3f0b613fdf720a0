//! Where the bytes of up to four kinds are in a slice, 64 bytes a vector pass.

use super::find::mask64_scalar;

/// Four masks of a 64-byte block, a byte at a time: bit `p` of mask `k` is set where `block[p]`
/// is `bytes[k]`. The oracle of the vector versions, which compute them in one pass.
pub fn masks64x4_scalar(block: &[u8; 64], bytes: &[u8; 4]) -> [u64; 4] {
    bytes.map(|b| mask64_scalar(block, b))
}

/// Blocks of 64 bytes whose masks [`Marks`] computes at once.
pub(super) const MARK_BLOCKS: usize = 4;

/// What computes the masks of `MARK_BLOCKS` blocks (see [`fill_marks`]).
pub(super) type MarksFn = fn(&[u8], usize, &[u8; 4], &mut [[u64; 4]; MARK_BLOCKS]);

/// The masks of [`masks64x4_scalar`] for the `MARK_BLOCKS` blocks of `hay` from `from` (`from <
/// hay.len()`), with `masks` for one block; bit 0 of block `b` is at `from + 64 * b`, and no bit
/// is set past the end of `hay`. A block that would run past the end is read as the last 64
/// bytes, its masks shifted, so only a slice shorter than 64 bytes is ever copied.
#[inline(always)]
pub(super) fn fill_marks(
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
pub(super) fn marks_scalar(
    hay: &[u8],
    from: usize,
    bytes: &[u8; 4],
    out: &mut [[u64; 4]; MARK_BLOCKS],
) {
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
    /// What computes the masks: the chosen implementation's.
    fill: MarksFn,
}

impl<'a> Marks<'a> {
    /// Marks of `bytes` (kind `k` is `bytes[k]`) in `hay`, computed by `fill`; nothing is
    /// computed before the first search. See [`super::marks`].
    pub(super) fn with_fill(hay: &'a [u8], bytes: [u8; 4], fill: MarksFn) -> Self {
        Self {
            hay,
            bytes,
            fill,
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
        (self.fill)(self.hay, from, &self.bytes, &mut self.masks);
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
