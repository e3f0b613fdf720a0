//! How per-key state is keyed and sized: the hasher for its keys, and how one memory budget is
//! shared among a detector's tables. The tables themselves are [`crate::table::Table`]s.

use std::{
    hash::{BuildHasher, Hasher},
    sync::OnceLock,
};

/// A hasher for the keys of per-key state (64-bit hashes of group-by values such as an
/// attacker's address): foldhash, a fraction of SipHash's cost on short keys, with a seed drawn
/// once per process so that a sender cannot pick values whose keys collide.
pub fn key_hasher() -> impl Hasher {
    static SEED: OnceLock<u64> = OnceLock::new();
    let seed = *SEED.get_or_init(|| std::collections::hash_map::RandomState::new().hash_one(0u64));
    foldhash::quality::FixedState::with_seed(seed).build_hasher()
}

/// How many keys of `key_bytes` each fit in `bytes` (at least one).
pub const fn keys_within(bytes: usize, key_bytes: usize) -> usize {
    let n = bytes / if key_bytes == 0 { 1 } else { key_bytes };
    if n == 0 { 1 } else { n }
}

/// Shares `budget` bytes evenly among the tables in use (`used[i]` for table `i`); unused
/// tables get nothing.
pub fn split_budget<const N: usize>(budget: usize, used: [bool; N]) -> [usize; N] {
    let n = used.iter().filter(|u| **u).count().max(1);
    used.map(|u| if u { budget / n } else { 0 })
}
