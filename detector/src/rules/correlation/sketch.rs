//! A percentile sketch of fixed size for one window of one group, in the manner of DDSketch
//! (Masson, Rim and Lee, VLDB 2019): positive values fall in buckets whose bounds grow by
//! [`GAMMA`], so any value read back is within [`RELATIVE_ERROR`] of a value that was put in,
//! whatever their spread. The [`BUCKETS`] buckets follow the largest values; when values span
//! more than they cover, the lowest buckets are folded into the first, so the high percentiles
//! (the ones alerts read) stay exact to that error and the lowest lose precision. Values at or
//! below zero share one bucket and read as the smallest of them. The smallest and the largest
//! value are kept exactly, so the 0th and 100th percentiles are exact.
//!
//! Layout in `u64` words: the count, the smallest and the largest value (bits), the key of the
//! first bucket (`NO_KEY` until a positive value came), the count at or below zero, then the
//! bucket counts, two `u32` to a word.

/// Growth of the bucket bounds.
pub const GAMMA: f64 = 1.08;
/// The largest relative error of a value read back: `(GAMMA - 1) / (GAMMA + 1)`.
pub const RELATIVE_ERROR: f64 = (GAMMA - 1.0) / (GAMMA + 1.0);
/// Buckets for positive values.
pub const BUCKETS: usize = 128;
/// Words one sketch takes.
pub const WORDS: usize = HEADER + BUCKETS / 2;

const HEADER: usize = 5;
const NO_KEY: u64 = i64::MIN as u64;

/// Makes `w` ([`WORDS`] long) an empty sketch.
pub fn clear(w: &mut [u64]) {
    w[..WORDS].fill(0);
    w[1] = f64::INFINITY.to_bits();
    w[2] = f64::NEG_INFINITY.to_bits();
    w[3] = NO_KEY;
}

fn key(v: f64) -> i64 {
    (v.ln() / GAMMA.ln()).ceil() as i64
}

/// The value a bucket reads as: the middle of its bounds in the relative sense.
fn value_of(key: i64) -> f64 {
    2.0 * GAMMA.powf(key as f64) / (GAMMA + 1.0)
}

fn bucket(w: &[u64], i: usize) -> u32 {
    (w[HEADER + i / 2] >> (32 * (i % 2))) as u32
}

fn set_bucket(w: &mut [u64], i: usize, n: u32) {
    let word = &mut w[HEADER + i / 2];
    let shift = 32 * (i % 2);
    *word = (*word & !(u64::from(u32::MAX) << shift)) | (u64::from(n) << shift);
}

/// Puts `v` (finite) into the sketch `w`.
pub fn add(w: &mut [u64], v: f64) {
    w[0] += 1;
    w[1] = f64::from_bits(w[1]).min(v).to_bits();
    w[2] = f64::from_bits(w[2]).max(v).to_bits();
    if v <= 0.0 {
        w[4] += 1;
        return;
    }
    let k = key(v);
    if w[3] == NO_KEY {
        // The first positive value: room above it and below it alike.
        w[3] = (k - BUCKETS as i64 / 2) as u64;
    }
    let mut first = w[3] as i64;
    let last = first + BUCKETS as i64 - 1;
    if k > last {
        // Slide up: the lowest buckets fold into the new first one.
        let shift = (k - last) as usize;
        let folded: u32 = (0..shift.min(BUCKETS))
            .map(|i| bucket(w, i))
            .fold(0, u32::saturating_add);
        for i in 0..BUCKETS {
            let n = if i + shift < BUCKETS {
                bucket(w, i + shift)
            } else {
                0
            };
            set_bucket(w, i, n);
        }
        set_bucket(w, 0, bucket(w, 0).saturating_add(folded));
        first += shift as i64;
        w[3] = first as u64;
    }
    let i = (k - first).max(0) as usize;
    set_bucket(w, i, bucket(w, i).saturating_add(1));
}

/// The `p`th percentile (0 to 100) of the values put in, by nearest rank: the value at rank
/// `ceil(p / 100 * n)`, counting from 1. `None` when nothing was put in.
pub fn percentile(w: &[u64], p: f64) -> Option<f64> {
    let n = w[0];
    if n == 0 {
        return None;
    }
    let (min, max) = (f64::from_bits(w[1]), f64::from_bits(w[2]));
    let rank = ((p / 100.0 * n as f64).ceil() as u64).clamp(1, n);
    if rank == 1 {
        return Some(min);
    }
    if rank == n {
        return Some(max);
    }
    let mut seen = w[4];
    if rank <= seen {
        return Some(min);
    }
    let first = w[3] as i64;
    for i in 0..BUCKETS {
        seen += u64::from(bucket(w, i));
        if rank <= seen {
            return Some(value_of(first + i as i64).clamp(min, max));
        }
    }
    Some(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sketch(values: impl IntoIterator<Item = f64>) -> Vec<u64> {
        let mut w = vec![0; WORDS];
        clear(&mut w);
        for v in values {
            add(&mut w, v);
        }
        w
    }

    fn close(got: f64, want: f64) -> bool {
        (got - want).abs() <= want.abs() * RELATIVE_ERROR + 1e-9
    }

    #[test]
    fn percentiles_are_within_the_relative_error_by_nearest_rank() {
        // 1..=1000: the nearest-rank p50 is 500, p90 is 900, p99 is 990.
        let w = sketch((1..=1000).map(f64::from));
        assert_eq!(w[0], 1000, "the count");
        for (p, want) in [(50.0, 500.0), (90.0, 900.0), (99.0, 990.0), (10.0, 100.0)] {
            let got = percentile(&w, p).unwrap();
            assert!(close(got, want), "p{p}: {got} for {want}");
        }
        // The ends are exact.
        assert_eq!(percentile(&w, 0.0), Some(1.0));
        assert_eq!(percentile(&w, 100.0), Some(1000.0));
        assert_eq!(percentile(&sketch([]), 50.0), None);
    }

    #[test]
    fn a_wide_spread_keeps_the_high_percentiles_and_folds_the_low_ones() {
        // Eight orders of magnitude, more than 128 buckets of 8 % cover.
        let values: Vec<f64> = (0..=800)
            .map(|i| 10f64.powf(f64::from(i) / 100.0))
            .collect();
        let w = sketch(values.iter().copied());
        for p in [90.0, 95.0, 99.0] {
            let rank = (p / 100.0 * values.len() as f64).ceil() as usize;
            let want = values[rank - 1];
            let got = percentile(&w, p).unwrap();
            assert!(close(got, want), "p{p}: {got} for {want}");
        }
        // Low percentiles read within the folded range: never below the smallest value.
        assert!(percentile(&w, 5.0).unwrap() >= 1.0);
    }

    #[test]
    fn zero_and_negative_values_share_a_bucket_read_as_the_smallest() {
        let w = sketch([0.0, 0.0, 0.0, 5.0]);
        assert_eq!(percentile(&w, 50.0), Some(0.0));
        assert_eq!(percentile(&w, 75.0), Some(0.0));
        assert_eq!(percentile(&w, 100.0), Some(5.0));
        let w = sketch([-3.0, -1.0, 10.0, 20.0, 30.0]);
        assert_eq!(percentile(&w, 40.0), Some(-3.0));
        assert!(close(percentile(&w, 60.0).unwrap(), 10.0));
    }
}
