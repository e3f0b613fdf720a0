//! The miner's state and its fast paths: the quick key and the masked-sequence cache, and the
//! public calls.

use super::{
    mask::{self, Tokens, wild_hash},
    options::{Found, MAX_ROOT_TOKENS, Mined, MinerOptions},
    record::Record,
    template::Template,
};
use crate::table::{self, Table};

/// One level of the tree below the root: node key (a hash of the path) to slot, and per slot
/// the number of distinct children it has.
#[derive(Clone, Debug)]
pub(super) struct Level {
    pub(super) table: Table,
    pub(super) children: Box<[u32]>,
}

/// The miner. See the module docs.
#[derive(Clone, Debug)]
pub struct Miner {
    pub(super) opts: MinerOptions,
    pub(super) tokens: Tokens,
    pub(super) wild: u64,
    /// Fastest path: [`mask::quick_key`] of a message -> (template slot, its id).
    pub(super) quick: Table,
    pub(super) quicked: Box<[(u32, u64)]>,
    /// Fast path: masked sequence hash -> (template slot, its id).
    pub(super) cache: Table,
    pub(super) cached: Box<[(u32, u64)]>,
    /// Distinct first tokens per token count.
    pub(super) root_children: [u32; MAX_ROOT_TOKENS + 1],
    /// Internal levels of the tree (depth - 3 of them).
    pub(super) levels: Vec<Level>,
    /// Leaves: key to slot, each slot with up to `max_leaf_groups` template slots.
    pub(super) leaves: Table,
    pub(super) leaf_len: Box<[u8]>,
    pub(super) leaf_groups: Box<[u32]>,
    pub(super) leaf_stride: usize,
    /// Template id -> slot in `records`.
    pub(super) ids: Table,
    pub(super) records: Box<[Record]>,
    /// Id of a template merged into an older one -> that one's id.
    pub(super) aliases: Table,
    pub(super) alias_of: Box<[u64]>,
    pub(super) next_id: u64,
    pub(super) clock: u64,
    /// Templates evicted from a full leaf (the id table counts its own).
    pub(super) leaf_evicted: u64,
    /// Contexts (the two tokens before a position) after which a word proved a variable in
    /// some family: there, a word is a variable in every family.
    pub(super) contexts: Table,
}

/// Mixes a token into a tree path.
#[inline(always)]
pub(super) fn path(parent: u64, token: u64) -> u64 {
    let m = u128::from(parent ^ token) * u128::from(0x9e37_79b9_7f4a_7c15u64);
    (m as u64) ^ ((m >> 64) as u64) ^ parent.rotate_left(17)
}

/// The 32 bits of a token's hash a template keeps.
#[inline(always)]
pub(super) fn short(h: u64) -> u32 {
    (h >> 32) as u32
}

/// The token a path takes in place of a real one: past the end of a short message.
pub(super) const END_OF_MESSAGE: u64 = 0x454e_445f_4f46_5f4d;

impl Miner {
    /// What one template costs, bytes: its fixed record, its id's table slot and a slot for the
    /// id of a template merged into it.
    pub const TEMPLATE_BYTES: usize =
        std::mem::size_of::<Record>() + 2 * table::SLOT_BYTES + std::mem::size_of::<u64>();

    /// A miner with `opts`, all of its memory allocated now.
    pub fn new(opts: MinerOptions) -> Self {
        let templates = opts
            .max_templates
            .min(opts.max_template_bytes / Self::TEMPLATE_BYTES)
            .max(1);
        let ids = Table::new(templates);
        let leaf_stride = opts.max_leaf_groups.clamp(1, 255);
        let levels_below = opts.depth.saturating_sub(2);
        let internal = levels_below.saturating_sub(1);
        // The nodes: shared evenly by the internal levels and the leaves.
        let per_level = (opts.max_nodes / (internal + 1)).max(1);
        let leaves = Table::new(per_level);
        let cache = Table::new(4 * ids.capacity());
        let quick = Table::new(8 * ids.capacity());
        Self {
            quicked: table::committed(quick.capacity(), (0, 0)),
            quick,
            tokens: Tokens::default(),
            wild: wild_hash(),
            cached: table::committed(cache.capacity(), (0, 0)),
            cache,
            root_children: [0; MAX_ROOT_TOKENS + 1],
            levels: (0..internal)
                .map(|_| {
                    let table = Table::new(per_level);
                    Level {
                        children: table::committed(table.capacity(), 0),
                        table,
                    }
                })
                .collect(),
            leaf_len: table::committed(leaves.capacity(), 0),
            leaf_groups: table::committed(leaves.capacity() * leaf_stride, 0),
            leaf_stride,
            leaves,
            records: table::committed(ids.capacity(), Record::default()),
            aliases: Table::new(ids.capacity()),
            contexts: Table::new(ids.capacity().min(4096)),
            alias_of: table::committed(ids.capacity(), 0),
            ids,
            next_id: 1,
            clock: 0,
            leaf_evicted: 0,
            opts,
        }
    }

    /// Templates evicted because a table or a leaf was full.
    pub fn evicted(&self) -> u64 {
        self.ids.evicted() + self.leaf_evicted
    }

    /// The id that template `id` goes by now: its own, or, when it merged into an older one
    /// (its varying position proved a variable), that one's. Ids of merged templates are
    /// remembered as long as templates are; an id forgotten reads as itself.
    pub fn canonical(&self, mut id: u64) -> u64 {
        // Every merge goes to a smaller id, so the chain is short; the bound is for safety.
        for _ in 0..64 {
            match self.aliases.peek(id) {
                Some(s) if self.alias_of[s] < id => id = self.alias_of[s],
                _ => break,
            }
        }
        id
    }

    /// The template with `id` (or the one it merged into), if still kept.
    pub fn template(&self, id: u64) -> Option<Template<'_>> {
        let id = self.canonical(id);
        let slot = self.ids.peek(id)?;
        let record = &self.records[slot];
        (record.id == id).then_some(Template {
            id,
            count: record.count,
            record,
        })
    }

    /// Bytes the miner's state takes (allocated at construction).
    pub fn state_bytes(&self) -> usize {
        let levels: usize = self
            .levels
            .iter()
            .map(|l| l.table.capacity() * (table::SLOT_BYTES + 4))
            .sum();
        let cached = table::SLOT_BYTES + std::mem::size_of::<(u32, u64)>();
        self.ids.capacity() * (std::mem::size_of::<Record>() + table::SLOT_BYTES)
            + self.aliases.capacity() * (table::SLOT_BYTES + std::mem::size_of::<u64>())
            + self.contexts.capacity() * table::SLOT_BYTES
            + (self.cache.capacity() + self.quick.capacity()) * cached
            + levels
            + self.leaves.capacity() * (table::SLOT_BYTES + 1 + 4 * self.leaf_stride)
    }

    /// Nodes in the tree.
    pub fn nodes(&self) -> usize {
        self.levels.iter().map(|l| l.table.len()).sum::<usize>() + self.leaves.len()
    }

    /// Templates kept now.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether no template is kept.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Files `message` under a template and returns its id. Tokens are split at ASCII white
    /// space; the bytes need not be UTF-8.
    pub fn add(&mut self, message: impl AsRef<[u8]>) -> Mined {
        let message = message.as_ref();
        let quick = mask::quick_key(message);
        if let Some(found) = self.lookup(quick)
            && let Some(mined) = self.count(found)
        {
            return mined;
        }
        self.add_keyed(message, quick)
    }

    /// The key of the fastest path of `message` (see [`mask::quick_key`]), for a caller that
    /// mines a batch: keys first, then [`Miner::prefetch`], [`Miner::lookup`] and
    /// [`Miner::count`] for each, and [`Miner::add_keyed`] for the messages those did not
    /// place.
    #[inline]
    pub fn quick_key(message: &[u8]) -> u64 {
        mask::quick_key(message)
    }

    /// Brings the cache bucket of `key` into the CPU's cache.
    #[inline]
    pub fn prefetch(&self, key: u64) {
        self.quick.prefetch(key);
    }

    /// Where the template of a message with `key` is, if one like it was seen; brings the
    /// template into the CPU's cache. [`Miner::count`] counts the message there.
    #[inline]
    pub fn lookup(&mut self, key: u64) -> Option<Found> {
        let c = self.quick.get(key)?;
        let (slot, id) = self.quicked[c];
        crate::simd::prefetch(&self.records[slot as usize]);
        Some(Found { slot, id })
    }

    /// Counts a message for the template [`Miner::lookup`] found, if it is still kept;
    /// otherwise the message is for [`Miner::add_keyed`].
    #[inline]
    pub fn count(&mut self, found: Found) -> Option<Mined> {
        self.clock += 1;
        let mined = self.seen((found.slot, found.id));
        if mined.is_none() {
            self.clock -= 1;
        }
        mined
    }

    /// [`Miner::add`] of a message whose [`Miner::quick_key`] is `quick` and that the fastest
    /// path did not place.
    pub fn add_keyed(&mut self, message: &[u8], quick: u64) -> Mined {
        self.clock += 1;
        self.tokens.read(message);
        // Fast path: these masked tokens went to a template that is still kept.
        let found = self
            .cache
            .get(self.tokens.sequence)
            .and_then(|c| self.seen(self.cached[c]).map(|m| (self.cached[c].0, m)));
        let (slot, mined) = match found {
            Some((slot, mined)) => (slot as usize, mined),
            None => {
                let (slot, mined) = self.add_slow(message);
                let c = self.cache.entry(self.tokens.sequence);
                self.cached[c.slot] = (slot as u32, mined.id);
                (slot, mined)
            }
        };
        let q = self.quick.entry(quick);
        self.quicked[q.slot] = (slot as u32, mined.id);
        mined
    }

    /// Counts a message for the template a cache names, if it is still the one kept there.
    #[inline]
    fn seen(&mut self, (slot, id): (u32, u64)) -> Option<Mined> {
        let r = &mut self.records[slot as usize];
        if r.id != id {
            return None;
        }
        r.count += 1;
        r.last_seen = self.clock;
        self.ids.touch(slot as usize);
        Some(Mined { id, new: false })
    }
}
