//! The one way per-key state grows here: a fixed-capacity LRU table (grown as keys come, not
//! allocated up front) whose evictions are counted, so no key's state disappears silently; and
//! how one memory budget is shared among a detector's tables, each sized by what one of its
//! keys costs.

use std::{
    hash::{BuildHasher, Hasher},
    sync::OnceLock,
};

use lru::LruCache;

/// A hasher for the keys of per-key state (64-bit hashes of group-by values such as an
/// attacker's address): foldhash, a fraction of SipHash's cost on short keys, with a seed drawn
/// once per process so that a sender cannot pick values whose keys collide.
pub fn key_hasher() -> impl Hasher {
    static SEED: OnceLock<u64> = OnceLock::new();
    let seed = *SEED.get_or_init(|| std::collections::hash_map::RandomState::new().hash_one(0u64));
    foldhash::quality::FixedState::with_seed(seed).build_hasher()
}

/// What one key of a `LruCache<u64, V>` costs, from above, when `V` with what it owns on the
/// heap takes `value_bytes`: the key, the entry's list links, and twice that for the
/// allocator's rounding and the hash table's slot and slack.
pub const fn entry_bytes(value_bytes: usize) -> usize {
    (8 + value_bytes + 16) * 2
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

/// The entry of `key`, made with `init` if absent. When the table is full, the least recently
/// used entry makes room and `evicted` counts it.
pub(crate) fn entry<'a, V>(
    table: &'a mut LruCache<u64, V>,
    key: u64,
    evicted: &mut u64,
    init: impl FnOnce() -> V,
) -> &'a mut V {
    if !table.contains(&key) && table.len() == table.cap().get() {
        table.pop_lru();
        *evicted += 1;
    }
    table.get_or_insert_mut(key, init)
}
