//! The one way per-key state grows here: a fixed-capacity LRU table whose evictions are
//! counted, so no key's state disappears silently.

use lru::LruCache;

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
