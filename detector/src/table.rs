//! The one shape per-key state takes here: a fixed-capacity table, allocated once, that maps a
//! key's 64-bit hash to a slot, set-associative with CLOCK eviction in each set.
//!
//! A key's hash picks one bucket of [`WAYS`] slots, whose keys fill one 64-byte cache line with
//! the bucket's CLOCK state, and the key is only ever looked for there: one probe, one cache
//! line, whatever the load, lookups and updates alike. A new key takes a free way of its bucket;
//! in a full bucket the bucket's CLOCK hand passes over ways used since it last passed (clearing
//! their mark) and the first unmarked one makes room, its eviction counted. Nothing grows, nothing is rehashed, and nothing is allocated after
//! [`Table::new`]; the caller keeps its values in its own arrays, indexed by slot, and
//! initialises a slot's values when [`Entry::fresh`] says the key is new to it.
//!
//! Why not a general hash map with LRU order: a doubly linked LRU list costs two pointers and a
//! relink per access and allocates per key; a table that is rehashed as it grows stalls a
//! worker for milliseconds at a time. CLOCK within small sets approximates LRU (a key used since
//! the hand last passed survives), and a batch can prefetch every bucket it will touch
//! ([`Table::prefetch`]) before it touches any.
//!
//! Keys are 64-bit hashes (see [`crate::bounded::key_hasher`]), mixed once more by a multiply
//! to pick the bucket, so that small or patterned keys spread as well. The hash 0 marks an empty
//! way, so a key whose hash is 0 is stored as 1 (two keys meet there one time in 2^63).

/// Slots per bucket: seven 8-byte keys and the bucket's CLOCK state, one cache line.
pub const WAYS: usize = 7;

/// One bucket: its keys, and per way whether it was used since the hand last passed (bit `w`
/// of `marks`) and the way the hand points at. Aligned to a cache line, so a lookup, its mark
/// and an eviction touch exactly one.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C, align(64))]
struct Bucket {
    keys: [u64; WAYS],
    marks: u8,
    hand: u8,
}

const _: () = assert!(std::mem::size_of::<Bucket>() == 64);

/// A key's slot, from [`Table::entry`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The slot, an index into the caller's value arrays (below [`Table::capacity`]).
    pub slot: usize,
    /// Whether the key was not in the table: the slot's values are another key's (evicted) or
    /// unset, and the caller must initialise them.
    pub fresh: bool,
    /// Whether another key was evicted to make room: the slot's values are still that key's,
    /// for the caller to clean up after before it initialises them.
    pub evicted: bool,
}

/// A fixed-capacity, set-associative map from key hashes to slots. See the module docs.
#[derive(Clone, Debug)]
pub struct Table {
    buckets: Box<[Bucket]>,
    /// Bits of the hash that pick a bucket: `buckets.len() == 1 << bits`.
    bits: u32,
    len: usize,
    evicted: u64,
}

/// What one slot costs the table itself, bytes: its share of a bucket (64 / 7, rounded up).
pub const SLOT_BYTES: usize = 64usize.div_ceil(WAYS);

impl Table {
    /// A table of at least one bucket and at most `slots` slots (rounded down to a power of two
    /// of buckets), all empty. The only allocation the table ever makes.
    pub fn new(slots: usize) -> Self {
        let buckets = (slots / WAYS).max(1);
        // Round down to a power of two, so the budget it was sized from holds.
        let buckets = 1usize << (usize::BITS - 1 - buckets.leading_zeros());
        Self {
            buckets: committed(buckets, Bucket::default()),
            bits: buckets.trailing_zeros(),
            len: 0,
            evicted: 0,
        }
    }

    /// How many slots of `value_bytes` each (the caller's arrays, besides the table's own
    /// [`SLOT_BYTES`]) fit in `budget_bytes`: at least one bucket's worth.
    pub const fn slots_within(budget_bytes: usize, value_bytes: usize) -> usize {
        let n = budget_bytes / (SLOT_BYTES + value_bytes);
        if n < WAYS { WAYS } else { n }
    }

    /// Slots in all: the size of the caller's value arrays.
    pub fn capacity(&self) -> usize {
        self.buckets.len() * WAYS
    }

    /// The key held in `slot`, if any (as stored: a hash of 0 reads as 1).
    pub fn key_at(&self, slot: usize) -> Option<u64> {
        let k = self.buckets.get(slot / WAYS)?.keys[slot % WAYS];
        (k != 0).then_some(k)
    }

    /// Keys held now.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Keys that made room for another so far.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// The stored form of `key` (0 is the empty mark).
    #[inline(always)]
    fn stored(key: u64) -> u64 {
        key.max(1)
    }

    /// The bucket of `key`: the top bits of the key times 2^64 / phi (Fibonacci hashing).
    #[inline(always)]
    fn bucket(&self, key: u64) -> usize {
        if self.bits == 0 {
            0
        } else {
            (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - self.bits)) as usize
        }
    }

    /// Asks the CPU to bring `key`'s bucket into cache: for a batch that hashes all its keys
    /// first, then touches the table.
    #[inline(always)]
    pub fn prefetch(&self, key: u64) {
        let bucket = &self.buckets[self.bucket(Self::stored(key))];
        crate::simd::prefetch(bucket);
    }

    /// The slot of `key`, if held; marks it used.
    #[inline]
    pub fn get(&mut self, key: u64) -> Option<usize> {
        let key = Self::stored(key);
        let b = self.bucket(key);
        let bucket = &mut self.buckets[b];
        let way = bucket.keys.iter().position(|&k| k == key)?;
        bucket.marks |= 1 << way;
        Some(b * WAYS + way)
    }

    /// Marks the key in `slot` used, as [`Table::get`] would (for a caller that found the slot
    /// another way).
    #[inline]
    pub fn touch(&mut self, slot: usize) {
        if let Some(b) = self.buckets.get_mut(slot / WAYS) {
            b.marks |= 1 << (slot % WAYS);
        }
    }

    /// The slot of `key`, without marking it used (for reading off the hot path).
    pub fn peek(&self, key: u64) -> Option<usize> {
        let key = Self::stored(key);
        let b = self.bucket(key);
        let way = self.buckets[b].keys.iter().position(|&k| k == key)?;
        Some(b * WAYS + way)
    }

    /// The slot of `key`, taken for it if it is not held (a free way of its bucket, else the
    /// one the bucket's CLOCK hand picks, evicting its key, counted). Marks it used.
    #[inline]
    pub fn entry(&mut self, key: u64) -> Entry {
        let key = Self::stored(key);
        let b = self.bucket(key);
        let bucket = &mut self.buckets[b];
        if let Some(way) = bucket.keys.iter().position(|&k| k == key) {
            bucket.marks |= 1 << way;
            return Entry {
                slot: b * WAYS + way,
                fresh: false,
                evicted: false,
            };
        }
        let (way, evicted) = match bucket.keys.iter().position(|&k| k == 0) {
            Some(way) => {
                self.len += 1;
                (way, false)
            }
            None => {
                // CLOCK: a way used since the hand last passed gets another round.
                let mut hand = usize::from(bucket.hand);
                while bucket.marks & (1 << hand) != 0 {
                    bucket.marks &= !(1 << hand);
                    hand = (hand + 1) % WAYS;
                }
                bucket.hand = ((hand + 1) % WAYS) as u8;
                self.evicted += 1;
                (hand, true)
            }
        };
        bucket.keys[way] = key;
        bucket.marks |= 1 << way;
        Entry {
            slot: b * WAYS + way,
            fresh: true,
            evicted,
        }
    }

    /// Forgets `key`, if held; returns its slot.
    pub fn remove(&mut self, key: u64) -> Option<usize> {
        let key = Self::stored(key);
        let b = self.bucket(key);
        let bucket = &mut self.buckets[b];
        let way = bucket.keys.iter().position(|&k| k == key)?;
        bucket.keys[way] = 0;
        bucket.marks &= !(1 << way);
        self.len -= 1;
        Some(b * WAYS + way)
    }

    /// Every slot that holds a key, in slot order.
    pub fn occupied(&self) -> impl Iterator<Item = usize> + '_ {
        self.buckets.iter().enumerate().flat_map(|(b, bucket)| {
            bucket
                .keys
                .iter()
                .enumerate()
                .filter(|(_, k)| **k != 0)
                .map(move |(w, _)| b * WAYS + w)
        })
    }

    /// Forgets every key (evictions stay counted).
    pub fn clear(&mut self) {
        self.buckets.fill(Bucket::default());
        self.len = 0;
    }
}

/// `n` copies of `value`, every page written now rather than left to the kernel to map on first
/// touch: a table is made off the worker's thread, and the worker that uses it must not take its
/// page faults on the packet path.
pub fn committed<T: Clone>(n: usize, value: T) -> Box<[T]> {
    let mut v = Vec::with_capacity(n);
    v.resize(n, value);
    v.into_boxed_slice()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first `n` keys from 1 up that land in the same bucket as key 1 of `t`.
    fn same_bucket(t: &Table, n: usize) -> Vec<u64> {
        let b = t.bucket(1);
        (1u64..).filter(|&k| t.bucket(k) == b).take(n).collect()
    }

    #[test]
    fn a_key_keeps_its_slot_until_it_is_evicted() {
        let mut t = Table::new(64);
        assert_eq!((t.capacity(), t.len()), (8 * WAYS, 0));
        let a = t.entry(42);
        assert!(a.fresh && !a.evicted);
        assert_eq!(t.entry(42), Entry { fresh: false, ..a });
        assert_eq!(t.get(42), Some(a.slot));
        assert_eq!(t.peek(43), None);
        assert_eq!(t.len(), 1);
        assert_eq!(t.remove(42), Some(a.slot));
        assert_eq!((t.get(42), t.len()), (None, 0));
    }

    #[test]
    fn capacity_rounds_down_to_whole_buckets_of_a_power_of_two() {
        assert_eq!(Table::new(0).capacity(), WAYS);
        assert_eq!(
            Table::new(100).capacity(),
            8 * WAYS,
            "14 buckets round down to 8"
        );
        assert_eq!(Table::new(7 << 20).capacity(), 7 << 20);
        assert_eq!(Table::slots_within(0, 100), WAYS);
        assert_eq!(Table::slots_within(SLOT_BYTES * 1000, 0), 1000);
        assert_eq!(SLOT_BYTES, 10);
    }

    #[test]
    fn a_full_bucket_evicts_by_clock_and_counts_it() {
        let mut t = Table::new(4 * WAYS);
        let keys = same_bucket(&t, 200);
        let key = |i: u64| keys[i as usize];
        for i in 0..WAYS as u64 {
            assert!(t.entry(key(i)).fresh);
        }
        assert_eq!((t.len(), t.evicted()), (WAYS, 0));
        // Every way was used since the hand passed: it clears them all and takes way 0.
        let slot0 = t.get(key(0)).unwrap();
        assert_eq!(
            t.entry(key(100)),
            Entry {
                slot: slot0,
                fresh: true,
                evicted: true
            }
        );
        assert_eq!((t.len(), t.evicted()), (WAYS, 1));
        assert_eq!(t.get(key(0)), None, "evicted");
        // Key 2 is used again; the hand passes over it and takes key 1's way, then key 3's.
        assert!(t.get(key(2)).is_some());
        t.entry(key(101));
        assert_eq!(t.get(key(1)), None);
        assert!(t.get(key(2)).is_some(), "used since the hand passed: kept");
        t.entry(key(102));
        assert_eq!(t.get(key(3)), None);
        assert!(t.get(key(2)).is_some());
        // The other buckets were never touched.
        let b = t.bucket(1);
        assert_eq!(t.occupied().filter(|s| s / WAYS != b).count(), 0);
    }

    #[test]
    fn the_zero_hash_is_a_key_like_any_other() {
        let mut t = Table::new(WAYS);
        let e = t.entry(0);
        assert!(e.fresh);
        assert_eq!(t.get(0), Some(e.slot));
        assert_eq!(t.occupied().collect::<Vec<_>>(), [e.slot]);
    }

    #[test]
    fn many_keys_stay_within_capacity_and_every_one_is_held_or_counted_out() {
        let mut t = Table::new(1024);
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut fresh = 0u64;
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if t.entry(x).fresh {
                fresh += 1;
            }
            assert!(t.len() <= t.capacity());
        }
        assert_eq!(fresh, t.len() as u64 + t.evicted());
        assert!(
            t.len() > t.capacity() * 95 / 100,
            "random keys fill nearly every way: {} of {}",
            t.len(),
            t.capacity()
        );
        t.clear();
        assert_eq!((t.len(), t.occupied().count()), (0, 0));
    }
}
