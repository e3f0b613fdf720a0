//! The Internet checksum (RFC 1071), as IPv4 headers and UDP use it.
//!
//! One code for the two sides that need it: user space verifies what AF_XDP delivers (the kernel
//! stack, which would have checked, is bypassed), and the test rigs write it into the frames
//! they craft. The sum runs over 32-bit words in native byte order into a 64-bit accumulator,
//! which the one's-complement sum allows (RFC 1071, section 2: byte-order independence and
//! deferred carries); the result is turned to network order once, at the end.

/// A running one's-complement sum. Every piece added must start at an even offset of the data
/// being summed (the pseudo-header, then the segment), as all of the protocol's pieces do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sum(u64);

impl Sum {
    /// The empty sum.
    pub const fn new() -> Self {
        Self(0)
    }

    /// Adds `data`, as 16-bit words (an odd last byte padded with zero).
    #[inline]
    pub fn bytes(self, data: &[u8]) -> Self {
        // Four lanes of 32-bit words into 64-bit sums: no carry to track, and independent adds
        // the compiler can vectorize. 2^32 words fit each lane, far beyond any packet.
        let mut lanes = [0u64; 4];
        let mut blocks = data.chunks_exact(16);
        for b in &mut blocks {
            for (lane, w) in lanes.iter_mut().zip(b.chunks_exact(4)) {
                *lane += u64::from(u32::from_ne_bytes([w[0], w[1], w[2], w[3]]));
            }
        }
        let mut sum = self.0 + lanes.iter().sum::<u64>();
        let mut words = blocks.remainder().chunks_exact(4);
        for w in &mut words {
            sum += u64::from(u32::from_ne_bytes([w[0], w[1], w[2], w[3]]));
        }
        let rest = words.remainder();
        let mut pairs = rest.chunks_exact(2);
        for p in &mut pairs {
            sum += u64::from(u16::from_ne_bytes([p[0], p[1]]));
        }
        if let [last] = pairs.remainder() {
            sum += u64::from(u16::from_ne_bytes([*last, 0]));
        }
        Self(sum)
    }

    /// Adds one 16-bit word given as a number (the protocol and length of a pseudo-header).
    #[inline]
    pub fn word(self, word: u16) -> Self {
        Self(self.0 + u64::from(u16::from_ne_bytes(word.to_be_bytes())))
    }

    /// The sum folded to 16 bits, in network order as a number. Data that carries its own
    /// correct checksum sums to `0xffff`.
    #[inline]
    pub fn folded(self) -> u16 {
        let mut s = self.0;
        while s > 0xffff {
            s = (s & 0xffff) + (s >> 16);
        }
        u16::from_be_bytes((s as u16).to_ne_bytes())
    }

    /// The checksum to write into the header's (zeroed) checksum field: the complement of the
    /// folded sum.
    #[inline]
    pub fn checksum(self) -> u16 {
        !self.folded()
    }

    /// The checksum to write into a UDP header (whose checksum field was zero when summed): as
    /// [`Sum::checksum`], but a computed zero goes on the wire as `0xffff`, since zero there
    /// means "no checksum" (RFC 768).
    #[inline]
    pub fn udp_checksum(self) -> u16 {
        match self.checksum() {
            0 => 0xffff,
            c => c,
        }
    }

    /// Whether data that includes its checksum field verifies.
    #[inline]
    pub fn verifies(self) -> bool {
        self.folded() == 0xffff
    }
}

/// The sum of a UDP pseudo-header (RFC 768 for IPv4, RFC 8200 section 8.1 for IPv6): both
/// addresses (4 or 16 bytes each), the protocol and the UDP length.
#[inline]
pub fn udp_pseudo_header(src: &[u8], dst: &[u8], udp_len: u16) -> Sum {
    Sum::new()
        .bytes(src)
        .bytes(dst)
        .word(u16::from(crate::wire::IPPROTO_UDP))
        .word(udp_len)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The straightforward definition: big-endian 16-bit words, carries folded at the end.
    fn reference(data: &[u8]) -> u16 {
        let mut sum: u64 = 0;
        for c in data.chunks(2) {
            let hi = u64::from(c[0]) << 8;
            let lo = c.get(1).map_or(0, |&b| u64::from(b));
            sum += hi | lo;
        }
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        sum as u16
    }

    #[test]
    fn matches_the_definition_for_every_length_and_split() {
        let data: [u8; 67] = core::array::from_fn(|i| (i as u8).wrapping_mul(151).wrapping_add(7));
        for len in 0..data.len() {
            let whole = Sum::new().bytes(&data[..len]).folded();
            assert_eq!(whole, reference(&data[..len]), "length {len}");
            for split in (0..=len).step_by(2) {
                let parts = Sum::new().bytes(&data[..split]).bytes(&data[split..len]);
                assert_eq!(parts.folded(), whole, "length {len} split at {split}");
            }
        }
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to ddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(Sum::new().bytes(&data).folded(), 0xddf2);
        assert_eq!(Sum::new().bytes(&data).checksum(), !0xddf2);
    }

    #[test]
    fn a_header_with_its_checksum_verifies_and_a_flipped_bit_does_not() {
        // An IPv4 header from RFC 791's layout with its checksum zeroed, then written.
        let mut h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        let c = Sum::new().bytes(&h).checksum();
        assert_eq!(c, 0xb861, "the well-known example value");
        h[10..12].copy_from_slice(&c.to_be_bytes());
        assert!(Sum::new().bytes(&h).verifies());
        h[3] ^= 0x10;
        assert!(!Sum::new().bytes(&h).verifies());
    }

    #[test]
    fn word_is_a_big_endian_word() {
        assert_eq!(
            Sum::new().word(0x1234).folded(),
            Sum::new().bytes(&[0x12, 0x34]).folded()
        );
    }
}
