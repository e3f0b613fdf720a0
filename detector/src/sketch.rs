//! Bounded summaries of a stream, for metrics and `top`-style views: the heaviest keys
//! (Space-Saving, Metwally et al. 2005) and the number of distinct keys (HyperLogLog, Flajolet
//! et al. 2007). Both use fixed memory, whatever the stream.

use std::hash::Hasher;

/// Space-Saving with `N` counters (Metwally et al. 2005): every key whose true count exceeds
/// `events / N` is among the counters, and each count overestimates the true one by at most its
/// `error`. The counters are fixed arrays of small `Copy` keys (addresses, hashes): adding never
/// allocates, so a worker can count every message it sees. A linear scan per event: keep `N`
/// small (tens).
#[derive(Clone, Copy, Debug)]
pub struct HeavyHitters<K: Copy + Eq + Default, const N: usize> {
    keys: [K; N],
    counts: [u64; N],
    errors: [u64; N],
    len: usize,
    events: u64,
}

/// One reported heavy hitter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hitter<K> {
    /// The key.
    pub key: K,
    /// Its estimated count (an upper bound).
    pub count: u64,
    /// How much of `count` may come from keys it replaced.
    pub error: u64,
}

impl<K: Copy + Eq + Default, const N: usize> Default for HeavyHitters<K, N> {
    fn default() -> Self {
        Self {
            keys: [K::default(); N],
            counts: [0; N],
            errors: [0; N],
            len: 0,
            events: 0,
        }
    }
}

impl<K: Copy + Eq + Default, const N: usize> HeavyHitters<K, N> {
    /// Counts one event of `key`.
    #[inline]
    pub fn add(&mut self, key: K) {
        self.events += 1;
        if let Some(i) = self.keys[..self.len].iter().position(|k| *k == key) {
            self.counts[i] += 1;
            return;
        }
        if self.len < N {
            self.keys[self.len] = key;
            self.counts[self.len] = 1;
            self.len += 1;
            return;
        }
        // Replace the smallest counter: the newcomer inherits its count as error. Two plain
        // passes (the minimum, then where it is) vectorise; one arg-min pass does not.
        let Some(&min) = self.counts.iter().min() else {
            return; // N == 0 keeps nothing
        };
        let i = self.counts.iter().position(|&c| c == min).unwrap_or(0);
        self.keys[i] = key;
        self.errors[i] = min;
        self.counts[i] = min + 1;
    }

    /// Events counted.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Every kept key, in no order.
    pub fn iter(&self) -> impl Iterator<Item = Hitter<K>> + '_ {
        (0..self.len).map(|i| Hitter {
            key: self.keys[i],
            count: self.counts[i],
            error: self.errors[i],
        })
    }

    /// The `n` heaviest keys, heaviest first.
    pub fn top(&self, n: usize) -> Vec<Hitter<K>> {
        let mut all: Vec<Hitter<K>> = self.iter().collect();
        all.sort_by_key(|h| std::cmp::Reverse(h.count));
        all.truncate(n);
        all
    }
}

/// HyperLogLog with `M` registers of one byte (a power of two, at least 16): a standard error
/// of about 1.04 / sqrt(M), 3.3 % for 1024, 0.8 % for 16384. Fixed arrays: adding never
/// allocates, and a counter is `Copy`, so a worker can publish it as it publishes counters.
#[derive(Clone, Copy, Debug)]
pub struct DistinctCount<const M: usize> {
    registers: [u8; M],
}

impl<const M: usize> Default for DistinctCount<M> {
    fn default() -> Self {
        const {
            assert!(
                M.is_power_of_two() && M >= 16,
                "M: a power of two, at least 16"
            )
        };
        Self { registers: [0; M] }
    }
}

impl<const M: usize> DistinctCount<M> {
    const P: u32 = M.trailing_zeros();

    /// Notes one key.
    pub fn add(&mut self, key: &[u8]) {
        let mut h = crate::bounded::key_hasher();
        h.write(key);
        self.add_hash(h.finish());
    }

    /// Notes one key by a well-mixed 64-bit hash of it (see [`mix64`]).
    #[inline]
    pub fn add_hash(&mut self, x: u64) {
        let idx = (x >> (64 - Self::P)) as usize;
        let rest = x << Self::P | (1 << (Self::P - 1));
        let rank = rest.leading_zeros() as u8 + 1;
        if rank > self.registers[idx] {
            self.registers[idx] = rank;
        }
    }

    /// The estimated number of distinct keys.
    pub fn estimate(&self) -> u64 {
        let m = M as f64;
        let alpha = 0.7213 / (1.0 + 1.079 / m);
        let sum: f64 = self
            .registers
            .iter()
            .map(|&r| 2f64.powi(-i32::from(r)))
            .sum();
        let raw = alpha * m * m / sum;
        let zeros = self.registers.iter().filter(|&&r| r == 0).count();
        // Small ranges: linear counting is more accurate.
        if raw <= 2.5 * m && zeros > 0 {
            return (m * (m / zeros as f64).ln()).round() as u64;
        }
        raw.round() as u64
    }

    /// Adds `other`'s keys: how per-worker counters merge.
    pub fn merge(&mut self, other: &Self) {
        for (a, b) in self.registers.iter_mut().zip(&other.registers) {
            *a = (*a).max(*b);
        }
    }
}

/// A fast 64-bit mix of a 128-bit key (an address), for [`DistinctCount::add_hash`]: the
/// finaliser of SplitMix64 over both halves.
#[inline]
pub fn mix64(key: u128) -> u64 {
    let mut x = (key as u64) ^ ((key >> 64) as u64).rotate_left(29);
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heavy_hitters_are_found_with_bounded_counters() {
        // 100 counters: every key above n / 100 events is guaranteed to be kept.
        let mut hh = HeavyHitters::<u32, 100>::default();
        // Three heavy sources among 10,000 light ones.
        let heavy = [0xc633_6407, 0xcb00_7109, 0xc000_0201];
        for i in 0..10_000u32 {
            hh.add(i);
            if i % 10 == 0 {
                hh.add(heavy[0]);
            }
            if i % 20 == 0 {
                hh.add(heavy[1]);
            }
            if i % 50 == 0 {
                hh.add(heavy[2]);
            }
        }
        let top = hh.top(3);
        let keys: Vec<u32> = top.iter().map(|h| h.key).collect();
        assert_eq!(keys, heavy);
        for (h, truth) in top.iter().zip([1000, 500, 200]) {
            assert!(h.count >= truth && h.count - h.error <= truth, "{h:?}");
        }
        assert_eq!(hh.iter().count(), 100);
        assert_eq!(hh.events(), 10_000 + 1000 + 500 + 200);
        assert_eq!(hh.iter().map(|h| h.count).sum::<u64>(), hh.events());
    }

    #[test]
    fn addresses_mixed_fast_count_as_well() {
        // IPv4-mapped addresses differ only in their low 32 bits: the mix must spread them.
        let mut d = DistinctCount::<1024>::default();
        for i in 0..200_000u32 {
            d.add_hash(mix64(0xffff_0000_0000u128 | u128::from(i)));
            d.add_hash(mix64(0xffff_0000_0000u128 | u128::from(i))); // repeats do not count
        }
        let est = d.estimate() as f64;
        assert!((est - 200_000.0).abs() / 200_000.0 < 0.1, "{est}");
    }

    #[test]
    fn distinct_counts_within_their_error_and_merge() {
        let mut a = DistinctCount::<16384>::default();
        let mut b = DistinctCount::<16384>::default();
        for i in 0..100_000u32 {
            a.add(&i.to_be_bytes());
            a.add(&i.to_be_bytes()); // repeats do not count
        }
        for i in 50_000..150_000u32 {
            b.add(&i.to_be_bytes());
        }
        let est = a.estimate() as f64;
        assert!((est - 100_000.0).abs() / 100_000.0 < 0.03, "{est}");
        a.merge(&b);
        let est = a.estimate() as f64;
        assert!((est - 150_000.0).abs() / 150_000.0 < 0.03, "{est}");
        let mut small = DistinctCount::<16384>::default();
        for i in 0..100u32 {
            small.add(&i.to_be_bytes());
        }
        assert!(
            (95..=105).contains(&small.estimate()),
            "{}",
            small.estimate()
        );
    }
}
