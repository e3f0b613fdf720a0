//! Rate baselines: per key (host, app, template) counts per interval, an exponentially weighted
//! mean and variance of those counts, and an anomaly when an interval's count runs above
//! `mean + z * stddev` after a warm-up. A floor keeps rare keys from alerting on noise.
//!
//! Time is injected (`now_ns`). Intervals close lazily, when the key's next event arrives, so
//! idle keys cost nothing; the intervals it skipped count as zeros. State is bounded: one fixed
//! [`Table`] of keys, allocated at construction, evictions counted.

use crate::table::{self, Table};

/// Parameters.
#[derive(Clone, Copy, Debug)]
pub struct BaselineOptions {
    /// Length of one counting interval.
    pub interval_ns: u64,
    /// Weight of the newest interval in the moving mean and variance.
    pub alpha: f64,
    /// Intervals a key must have before it can alert.
    pub warmup_intervals: u32,
    /// How many standard deviations above the mean is an anomaly.
    pub z: f64,
    /// An interval must have at least this many events to alert.
    pub floor: u32,
    /// And at least this many times the key's mean: a busy key's ordinary noise can pass four
    /// standard deviations now and then, while an operator asks "how many times the usual?".
    pub ratio: f64,
    /// Most keys kept.
    pub max_keys: usize,
}

impl Default for BaselineOptions {
    fn default() -> Self {
        Self {
            interval_ns: 60_000_000_000,
            alpha: 0.1,
            warmup_intervals: 10,
            z: 4.0,
            floor: 20,
            ratio: 3.0,
            max_keys: 100_000,
        }
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct KeyStats {
    interval: u64,
    count: u32,
    mean: f64,
    var: f64,
    intervals: u32,
    alerted: bool,
}

/// A rate far above a key's baseline.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateAnomaly {
    /// The key (hash of host, app and template).
    pub key: u64,
    /// Events in the current interval so far.
    pub count: u32,
    /// The moving mean per interval.
    pub mean: f64,
    /// The moving standard deviation.
    pub stddev: f64,
}

/// A key's slot, found by [`Baselines::locate`] for [`Baselines::observe_at`].
#[derive(Clone, Copy, Debug)]
pub struct Located {
    key: u64,
    entry: crate::table::Entry,
}

/// Baselines of every key, in a table allocated at construction.
#[derive(Clone, Debug)]
pub struct Baselines {
    opts: BaselineOptions,
    table: Table,
    stats: Box<[KeyStats]>,
}

impl Baselines {
    /// What one key costs besides the table's own slot.
    pub const KEY_BYTES: usize = std::mem::size_of::<KeyStats>();

    /// Options whose keys stay within `budget_bytes`.
    pub fn options_within(opts: BaselineOptions, budget_bytes: usize) -> BaselineOptions {
        BaselineOptions {
            max_keys: Table::slots_within(budget_bytes, Self::KEY_BYTES),
            ..opts
        }
    }

    /// Rate baselines with `opts`, for at most `opts.max_keys` keys (fewer: whole buckets of a
    /// power of two). Everything is allocated here.
    pub fn new(opts: BaselineOptions) -> Self {
        let table = Table::new(opts.max_keys);
        Self {
            stats: table::committed(table.capacity(), KeyStats::default()),
            table,
            opts,
        }
    }

    /// Keys evicted from the full table.
    pub fn evicted(&self) -> u64 {
        self.table.evicted()
    }

    /// Bytes the baselines' state takes (allocated at construction).
    pub fn state_bytes(&self) -> usize {
        self.table.capacity() * table::SLOT_BYTES + std::mem::size_of_val(&*self.stats)
    }

    /// Brings `key`'s state into cache, for a batch that prefetches before it observes.
    #[inline]
    pub fn prefetch(&self, key: u64) {
        self.table.prefetch(key);
    }

    /// Keys kept.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether no key is kept.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Counts one event of `key` at `now_ns`; returns an anomaly the first time the current
    /// interval crosses the key's threshold.
    pub fn observe(&mut self, key: u64, now_ns: u64) -> Option<RateAnomaly> {
        let at = self.locate(key);
        self.observe_at(at, now_ns)
    }

    /// Finds `key`'s slot (taking one for a new key) and asks the CPU for its state: a batch
    /// locates every key (after [`Baselines::prefetch`]) before it observes any
    /// ([`Baselines::observe_at`]), so the cache misses of its keys overlap. A new key of the
    /// batch may evict an older key of the same batch from a full bucket; the older key's
    /// event then counts for nobody, as after any eviction.
    #[inline]
    pub fn locate(&mut self, key: u64) -> Located {
        let entry = self.table.entry(key);
        crate::simd::prefetch(&self.stats[entry.slot]);
        Located { key, entry }
    }

    /// [`Baselines::observe`] of a key [`Baselines::locate`]d before.
    pub fn observe_at(&mut self, at: Located, now_ns: u64) -> Option<RateAnomaly> {
        let Located { key, entry } = at;
        let o = self.opts;
        let interval = now_ns / o.interval_ns.max(1);
        let s = &mut self.stats[entry.slot];
        if entry.fresh {
            *s = KeyStats {
                interval,
                ..KeyStats::default()
            };
        }
        if interval > s.interval {
            // Close the finished interval, then the empty ones skipped since (bounded: after
            // enough zeros the mean is ~0 anyway).
            let skipped = (interval - s.interval - 1).min(1000);
            for count in std::iter::once(s.count).chain(std::iter::repeat_n(0, skipped as usize)) {
                let x = f64::from(count);
                if s.intervals == 0 {
                    s.mean = x;
                } else {
                    let d = x - s.mean;
                    s.mean += o.alpha * d;
                    s.var = (1.0 - o.alpha) * (s.var + o.alpha * d * d);
                }
                s.intervals += 1;
            }
            s.interval = interval;
            s.count = 0;
            s.alerted = false;
        }
        s.count += 1;
        if s.alerted || s.intervals < o.warmup_intervals || s.count < o.floor {
            return None;
        }
        // Counts of independent events vary at least as a Poisson count does (variance = mean):
        // a moving variance from a few quiet intervals can be far below that, and would make
        // ordinary noise look like a spike.
        let stddev = s.var.sqrt().max(s.mean.sqrt()).max(1.0);
        if f64::from(s.count) <= s.mean + o.z * stddev || f64::from(s.count) < o.ratio * s.mean {
            return None;
        }
        s.alerted = true;
        Some(RateAnomaly {
            key,
            count: s.count,
            mean: s.mean,
            stddev,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: u64 = 60_000_000_000;

    fn opts() -> BaselineOptions {
        BaselineOptions {
            warmup_intervals: 5,
            floor: 10,
            ..BaselineOptions::default()
        }
    }

    #[test]
    fn a_steady_rate_never_alerts_and_a_spike_does_once() {
        let mut b = Baselines::new(opts());
        // 10 events a minute for 20 minutes.
        for m in 0..20 {
            for i in 0..10 {
                assert_eq!(
                    b.observe(7, m * MIN + i * 1_000_000_000),
                    None,
                    "minute {m}"
                );
            }
        }
        // Then 100 in minute 20: one alert when it crosses, not one per event.
        let alerts: Vec<_> = (0..100)
            .filter_map(|i| b.observe(7, 20 * MIN + i * 100_000_000))
            .collect();
        assert_eq!(alerts.len(), 1);
        assert!(
            alerts[0].count > 10 && (alerts[0].mean - 10.0).abs() < 1.0,
            "{alerts:?}"
        );
    }

    /// A Poisson count with mean `lambda` (Knuth), from a SplitMix64 state.
    fn poisson(state: &mut u64, lambda: f64) -> u64 {
        let limit = (-lambda).exp();
        let (mut k, mut p) = (0, 1.0);
        loop {
            *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = *state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            p *= ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64;
            if p <= limit {
                return k;
            }
            k += 1;
        }
    }

    #[test]
    fn random_arrivals_at_a_steady_rate_are_not_spikes() {
        // 500 keys with random (Poisson) counts around 5 to 100 per minute, for an hour: 25,000
        // intervals after the warm-up. With the moving variance alone, 93 of them were called
        // spikes; with the Poisson floor, 3 (z = 4 is a tail probability, not a guarantee);
        // also asking for three times the mean, none.
        let mut b = Baselines::new(opts());
        let mut state = 1;
        let mut alerts = 0;
        for m in 0..60 {
            for key in 0..500u64 {
                let lambda = 5.0 + (key % 20) as f64 * 5.0;
                for i in 0..poisson(&mut state, lambda) {
                    alerts += usize::from(b.observe(key, m * MIN + i * 1000).is_some());
                }
            }
        }
        assert_eq!(alerts, 0, "false spikes in 25,000 intervals");
        // A key at 50 a minute going to 150 is a spike.
        let spike = (0..150)
            .filter_map(|i| b.observe(45, 60 * MIN + i * 1000))
            .count();
        assert_eq!(spike, 1);
    }

    #[test]
    fn warm_up_and_floor_keep_new_and_rare_keys_quiet() {
        let mut b = Baselines::new(opts());
        // A burst in the first minutes of a key: still warming up.
        assert!((0..500).all(|i| b.observe(1, i * 1_000_000).is_none()));
        // A rare key: 1 a minute, then 5: above its baseline, below the floor.
        for m in 0..20 {
            assert!(b.observe(2, m * MIN).is_none());
        }
        assert!((0..5).all(|i| b.observe(2, 20 * MIN + i).is_none()));
    }

    #[test]
    fn keys_are_bounded() {
        let mut b = Baselines::new(BaselineOptions {
            max_keys: 1024,
            ..opts()
        });
        // From 1: a table stores the hash 0 as 1.
        for k in 1..=100_000u64 {
            b.observe(k, 0);
        }
        // Nearly every way of every bucket holds a key; each key is held or counted out.
        let held = b.table.capacity();
        assert!(
            b.len() <= held && b.len() > held * 9 / 10,
            "{} of {held}",
            b.len()
        );
        assert_eq!(b.len() as u64 + b.evicted(), 100_000);
    }
}
