//! Bounded summaries of a stream, for metrics and `top`-style views: the heaviest keys
//! (Space-Saving, Metwally et al. 2005) and the number of distinct keys (HyperLogLog, Flajolet
//! et al. 2007). Both use fixed memory, whatever the stream.

use std::{
    collections::{HashMap, hash_map::DefaultHasher},
    hash::Hasher,
};

/// Space-Saving with `k` counters: every key whose true count exceeds `n / k` (n events) is
/// among the counters, and each count overestimates the true one by at most its `error`.
#[derive(Debug)]
pub struct HeavyHitters {
    k: usize,
    counters: HashMap<Vec<u8>, (u64, u64)>,
    events: u64,
}

/// One reported heavy hitter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hitter {
    /// The key.
    pub key: Vec<u8>,
    /// Its estimated count (an upper bound).
    pub count: u64,
    /// How much of `count` may come from keys it replaced.
    pub error: u64,
}

impl HeavyHitters {
    /// A summary with `k` counters.
    pub fn new(k: usize) -> Self {
        Self {
            k: k.max(1),
            counters: HashMap::with_capacity(k.max(1)),
            events: 0,
        }
    }

    /// Counts one event of `key`.
    pub fn add(&mut self, key: &[u8]) {
        self.events += 1;
        if let Some(c) = self.counters.get_mut(key) {
            c.0 += 1;
            return;
        }
        if self.counters.len() < self.k {
            self.counters.insert(key.to_vec(), (1, 0));
            return;
        }
        // Replace the smallest counter: the newcomer inherits its count as error.
        let (victim, (min, _)) = self
            .counters
            .iter()
            .min_by_key(|(_, (c, _))| *c)
            .map(|(k, v)| (k.clone(), *v))
            .expect("k counters");
        self.counters.remove(&victim);
        self.counters.insert(key.to_vec(), (min + 1, min));
    }

    /// Events counted.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// The `n` heaviest keys, heaviest first.
    pub fn top(&self, n: usize) -> Vec<Hitter> {
        let mut all: Vec<Hitter> = self
            .counters
            .iter()
            .map(|(k, (c, e))| Hitter {
                key: k.clone(),
                count: *c,
                error: *e,
            })
            .collect();
        all.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
        all.truncate(n);
        all
    }
}

/// HyperLogLog with 2^`precision` registers (one byte each): a standard error of about
/// 1.04 / sqrt(2^precision), 0.8 % at precision 14 (16 KiB).
#[derive(Clone, Debug)]
pub struct DistinctCount {
    precision: u32,
    registers: Vec<u8>,
}

impl DistinctCount {
    /// A counter with `precision` bits of register index (4 to 18).
    pub fn new(precision: u32) -> Self {
        let p = precision.clamp(4, 18);
        Self {
            precision: p,
            registers: vec![0; 1 << p],
        }
    }

    /// Notes one key.
    pub fn add(&mut self, key: &[u8]) {
        let mut h = DefaultHasher::new();
        h.write(key);
        let x = h.finish();
        let idx = (x >> (64 - self.precision)) as usize;
        let rest = x << self.precision | (1 << (self.precision - 1));
        let rank = rest.leading_zeros() as u8 + 1;
        if rank > self.registers[idx] {
            self.registers[idx] = rank;
        }
    }

    /// The estimated number of distinct keys.
    pub fn estimate(&self) -> u64 {
        let m = self.registers.len() as f64;
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

    /// Adds `other`'s keys (same precision): how per-worker counters merge.
    pub fn merge(&mut self, other: &Self) {
        for (a, b) in self.registers.iter_mut().zip(&other.registers) {
            *a = (*a).max(*b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heavy_hitters_are_found_with_bounded_counters() {
        // 100 counters: every key above n / 100 events is guaranteed to be kept.
        let mut hh = HeavyHitters::new(100);
        // Three heavy sources among 10,000 light ones.
        for i in 0..10_000u32 {
            hh.add(&i.to_be_bytes());
            if i % 10 == 0 {
                hh.add(b"198.51.100.7");
            }
            if i % 20 == 0 {
                hh.add(b"203.0.113.9");
            }
            if i % 50 == 0 {
                hh.add(b"192.0.2.1");
            }
        }
        let top = hh.top(3);
        let keys: Vec<&[u8]> = top.iter().map(|h| h.key.as_slice()).collect();
        assert_eq!(keys, [&b"198.51.100.7"[..], b"203.0.113.9", b"192.0.2.1"]);
        for (h, truth) in top.iter().zip([1000, 500, 200]) {
            assert!(h.count >= truth && h.count - h.error <= truth, "{h:?}");
        }
        assert_eq!(hh.counters.len(), 100);
    }

    #[test]
    fn distinct_counts_within_their_error_and_merge() {
        let mut a = DistinctCount::new(14);
        let mut b = DistinctCount::new(14);
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
        let mut small = DistinctCount::new(14);
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
