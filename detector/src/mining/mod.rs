//! Online template mining in the spirit of Drain (He et al., ICWS 2017): every message gets a
//! template id, so that "a never-seen kind of message" and "a rate per kind" become questions the
//! detector can ask.
//!
//! A message is split on whitespace and masked ([`mask`]: digits and the like become `<*>`,
//! generically, nothing per data set). Then:
//! - **Fast paths.** A message that, digits aside, is one seen before goes straight to the
//!   template that one went to: a hash of its bytes with every digit read as `0`
//!   ([`mask::quick_key`], a few operations per eight bytes) and one lookup. Most messages end
//!   there. Otherwise its masked tokens are computed, and a message whose masked tokens were
//!   seen before goes to their template: one more lookup.
//! - **Drain.** Otherwise a fixed-depth tree descends by token count, then by the first
//!   `depth - 2` tokens (masked ones, and any beyond `max_children` at a node, go to `<*>`). In
//!   the leaf the most similar group (equal tokens / tokens, a variable position matching
//!   anything) is the candidate if its similarity reaches the threshold; otherwise a new group,
//!   a family of its own, starts. Two masked variables in the same position count as equal:
//!   they have the same shape.
//! - **Families: constants with few values, and variables.** Where the message differs from
//!   the candidate, each differing position is judged (Brain's insight, Yu et al. 2023, applied
//!   online): a position where either token held a masked variable is a variable (two shapes
//!   of one, `rhost=<*>` and `rhost=<*>.example.net`); a position whose words take at most
//!   `max_constant_values` values among the groups of the candidate's family is part of the
//!   template, so the message starts another group of that family (`user=root` and
//!   `user=guest` are two kinds); one value more, and the position is a variable in the whole
//!   family. The family's groups that then have one template merge into the oldest of them:
//!   its id is kept, the others become aliases of it ([`Miner::canonical`]), and no message
//!   of theirs is new again. A message whose only differences are variables joins.
//!
//! A template's id never changes while it is kept, however far its template widens, and is
//! never reused; a merged id goes on naming the group it merged into. So a variable whose first
//! values are words costs at most `max_constant_values - 1` "new" kinds before it is known for
//! one. Memory is fixed at construction and nothing is allocated afterwards: the cache,
//! the tree's levels and the templates are [`Table`]s whose full buckets evict by CLOCK (counted),
//! and each template is a fixed record of at most [`MAX_TOKENS`] tokens (a longer message's
//! tail counts as one token) with [`TEXT_MAX`] bytes of text to show. A flood of never-seen
//! kinds is bounded too: a leaf compares a message with at most `max_leaf_groups` groups.

pub mod mask;
pub mod score;

pub use mask::{MAX_TOKENS, TEXT_MAX};
use mask::{Tokens, WILD, token_text, wild_hash};

use crate::table::{self, Table};

/// Token counts above this share one root of the tree.
pub const MAX_ROOT_TOKENS: usize = MAX_TOKENS;

/// Parameters.
#[derive(Clone, Copy, Debug)]
pub struct MinerOptions {
    /// Tree depth, counting the root and the leaf (Drain's default: 4).
    pub depth: usize,
    /// Similarity needed to join a group. Drain's default is 0.5; with this masking (which keeps
    /// the constant part of tokens such as `uid=<*>`) 0.75 is better on every LogHub sample we
    /// test, the same value for all of them (see `tests/mining.rs`).
    pub similarity: f64,
    /// Children per internal node before the rest share `<*>` (Drain's default: 100).
    pub max_children: usize,
    /// Most templates kept.
    pub max_templates: usize,
    /// Most bytes the kept templates take (their fixed records, see
    /// [`Miner::TEMPLATE_BYTES`]).
    pub max_template_bytes: usize,
    /// Most nodes in the tree (internal nodes and leaves).
    pub max_nodes: usize,
    /// Most groups in one leaf: a message is compared with each, so this bounds the work per
    /// message whatever arrives (a flood of never-seen kinds lands in few leaves). When a leaf
    /// is full, its least recently seen group is evicted.
    pub max_leaf_groups: usize,
    /// Most distinct values a position may take among the groups of one family and still be
    /// part of the template: `user=root`, `user=guest` and `user=test` are three kinds of
    /// message, but with a fourth value the position is a variable and the family's groups that
    /// then differ only in variables merge into its oldest.
    pub max_constant_values: usize,
}

impl Default for MinerOptions {
    fn default() -> Self {
        Self {
            depth: 4,
            similarity: 0.75,
            max_children: 100,
            max_templates: 100_000,
            max_template_bytes: 64 << 20,
            max_nodes: 100_000,
            max_leaf_groups: 64,
            max_constant_values: 3,
        }
    }
}

impl MinerOptions {
    /// What one tree node costs, from above: its table slot and its share of a leaf's group list.
    pub const NODE_BYTES: usize = table::SLOT_BYTES + 8 + 4 * 64;

    /// These options within `budget_bytes`: three quarters for templates, one eighth for the
    /// tree, one eighth for the fast-path cache.
    pub fn within(self, budget_bytes: usize) -> Self {
        Self {
            max_template_bytes: budget_bytes / 4 * 3,
            max_nodes: crate::bounded::keys_within(budget_bytes / 8, Self::NODE_BYTES),
            ..self
        }
    }
}

/// Where [`Miner::lookup`] found a message's template.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Found {
    slot: u32,
    id: u64,
}

/// What [`Miner::add`] says about a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mined {
    /// The template id.
    pub id: u64,
    /// Whether the message started a new template.
    pub new: bool,
}

/// One kept template, fixed in size.
#[derive(Clone, Copy, Debug)]
struct Record {
    id: u64,
    count: u64,
    last_seen: u64,
    /// The key of its leaf in the tree.
    leaf: u64,
    /// The id of the group it split from, or its own: the groups of a family differ only in
    /// positions with few values.
    family: u64,
    n: u8,
    /// Bit `i`: position `i` has become a variable.
    wild: u64,
    /// Bit `i`: the first message's token `i` held a masked variable.
    masked: u64,
    hashes: [u32; MAX_TOKENS],
    /// The first message's masked tokens, for showing the template.
    text: [u8; TEXT_MAX],
    ends: [u16; MAX_TOKENS],
}

impl Default for Record {
    fn default() -> Self {
        Self {
            id: 0,
            count: 0,
            last_seen: 0,
            leaf: 0,
            family: 0,
            n: 0,
            wild: 0,
            masked: 0,
            hashes: [0; MAX_TOKENS],
            text: [0; TEXT_MAX],
            ends: [0; MAX_TOKENS],
        }
    }
}

/// A kept template, borrowed from the miner.
#[derive(Clone, Copy, Debug)]
pub struct Template<'m> {
    /// Its id.
    pub id: u64,
    /// Messages that joined it.
    pub count: u64,
    record: &'m Record,
}

impl Template<'_> {
    /// Tokens.
    pub fn len(&self) -> usize {
        usize::from(self.record.n)
    }

    /// Whether it has no token (an empty message's).
    pub fn is_empty(&self) -> bool {
        self.record.n == 0
    }

    /// The template as text: its first message's masked tokens, `<*>` where messages differ
    /// (bytes that are not UTF-8 replaced; tokens past [`TEXT_MAX`] bytes shown as `…`).
    pub fn text(&self) -> String {
        let mut out = [0u8; 2 * TEXT_MAX];
        let n = self.write_text(&mut out);
        String::from_utf8_lossy(&out[..n]).into_owned()
    }

    /// [`Template::text`] as bytes into `out`, cut where `out` ends; returns the length. No
    /// allocation: for an alert's fixed key.
    pub fn write_text(&self, out: &mut [u8]) -> usize {
        let r = self.record;
        let mut len = 0;
        let mut put = |bytes: &[u8]| {
            let n = bytes.len().min(out.len() - len);
            out[len..len + n].copy_from_slice(&bytes[..n]);
            len += n;
        };
        for i in 0..usize::from(r.n) {
            if i > 0 {
                put(b" ");
            }
            let t = token_text(&r.text, &r.ends, i);
            if r.wild & (1 << i) != 0 {
                put(WILD);
            } else if t.is_empty() {
                put("…".as_bytes());
            } else {
                put(t);
            }
        }
        len
    }
}

/// One level of the tree below the root: node key (a hash of the path) to slot, and per slot
/// the number of distinct children it has.
#[derive(Clone, Debug)]
struct Level {
    table: Table,
    children: Box<[u32]>,
}

/// The miner. See the module docs.
#[derive(Clone, Debug)]
pub struct Miner {
    opts: MinerOptions,
    tokens: Tokens,
    wild: u64,
    /// Fastest path: [`mask::quick_key`] of a message -> (template slot, its id).
    quick: Table,
    quicked: Box<[(u32, u64)]>,
    /// Fast path: masked sequence hash -> (template slot, its id).
    cache: Table,
    cached: Box<[(u32, u64)]>,
    /// Distinct first tokens per token count.
    root_children: [u32; MAX_ROOT_TOKENS + 1],
    /// Internal levels of the tree (depth - 3 of them).
    levels: Vec<Level>,
    /// Leaves: key to slot, each slot with up to `max_leaf_groups` template slots.
    leaves: Table,
    leaf_len: Box<[u8]>,
    leaf_groups: Box<[u32]>,
    leaf_stride: usize,
    /// Template id -> slot in `records`.
    ids: Table,
    records: Box<[Record]>,
    /// Id of a template merged into an older one -> that one's id.
    aliases: Table,
    alias_of: Box<[u64]>,
    next_id: u64,
    clock: u64,
    /// Templates evicted from a full leaf (the id table counts its own).
    leaf_evicted: u64,
}

/// Mixes a token into a tree path.
#[inline(always)]
fn path(parent: u64, token: u64) -> u64 {
    let m = u128::from(parent ^ token) * u128::from(0x9e37_79b9_7f4a_7c15u64);
    (m as u64) ^ ((m >> 64) as u64) ^ parent.rotate_left(17)
}

/// The 32 bits of a token's hash a template keeps.
#[inline(always)]
fn short(h: u64) -> u32 {
    (h >> 32) as u32
}

/// The token a path takes in place of a real one: past the end of a short message.
const END_OF_MESSAGE: u64 = 0x454e_445f_4f46_5f4d;

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

    /// The leaf of the message in `tokens`: descends by its token count, then its first
    /// `depth - 2` tokens, making nodes as it goes.
    fn leaf(&mut self) -> usize {
        let t = &self.tokens;
        let n = t.n.min(MAX_ROOT_TOKENS);
        let mut key = path(0, n as u64);
        let depth = self.opts.depth.saturating_sub(2);
        let token = |i: usize| {
            if i < t.n {
                (t.hashes[i], t.wild & (1 << i) != 0)
            } else {
                (END_OF_MESSAGE, false)
            }
        };
        for level in 0..depth {
            let (hash, wild) = token(level);
            let is_leaf = level + 1 == depth;
            let own = path(key, hash);
            let table = if is_leaf {
                &self.leaves
            } else {
                &self.levels[level].table
            };
            let known = table.peek(own).is_some();
            let children = if level == 0 {
                self.root_children[n]
            } else {
                let parent = &self.levels[level - 1];
                parent.table.peek(key).map_or(0, |s| parent.children[s])
            };
            let room = (children as usize) + 1 < self.opts.max_children && !wild;
            let next = if known || room {
                own
            } else {
                path(key, self.wild)
            };
            if !known && next == own {
                // A new child of this node.
                if level == 0 {
                    self.root_children[n] += 1;
                } else {
                    let parent = &mut self.levels[level - 1];
                    if let Some(s) = parent.table.peek(key) {
                        parent.children[s] += 1;
                    }
                }
            }
            key = next;
            if is_leaf {
                let e = self.leaves.entry(key);
                if e.fresh {
                    // A leaf evicted to make room takes its groups with it from the tree (their
                    // templates stay, and the fast path still finds them).
                    self.leaf_len[e.slot] = 0;
                }
                return e.slot;
            }
            let e = self.levels[level].table.entry(key);
            if e.fresh {
                self.levels[level].children[e.slot] = 0;
            }
        }
        // Depth 2: every message of a length shares one leaf.
        let e = self.leaves.entry(key);
        if e.fresh {
            self.leaf_len[e.slot] = 0;
        }
        e.slot
    }

    /// The slow path: Drain's tree and leaf comparison, then the family's value counts. Returns
    /// the template's slot.
    fn add_slow(&mut self, message: &[u8]) -> (usize, Mined) {
        let leaf = self.leaf();
        let leaf_key = self.leaves.key_at(leaf).unwrap_or(0);
        // Each round that does not settle the message makes at least one more position a
        // variable, so the rounds are few; the bound is for safety.
        for _ in 0..MAX_TOKENS {
            let Some((slot, sim)) = self.most_similar(leaf, leaf_key) else {
                break;
            };
            if sim < self.opts.similarity {
                break;
            }
            let r = &self.records[slot];
            let differ = self.differing(r);
            if differ == 0 {
                let r = &mut self.records[slot];
                r.count += 1;
                r.last_seen = self.clock;
                let id = r.id;
                self.ids.touch(slot);
                return (slot, Mined { id, new: false });
            }
            let variable = self.variables(leaf, r.family, differ, r.masked);
            if variable == 0 {
                // Positions with few values: another kind of message of the same family.
                let (family, wild) = (r.family, r.wild);
                let slot = self.new_template(message, leaf, leaf_key, Some((family, wild)));
                return (slot, self.fresh(slot));
            }
            self.generalise(leaf, r.family, variable);
        }
        let slot = self.new_template(message, leaf, leaf_key, None);
        (slot, self.fresh(slot))
    }

    /// What [`Miner::add`] says of a message that started the template in `slot`.
    fn fresh(&self, slot: usize) -> Mined {
        Mined {
            id: self.records[slot].id,
            new: true,
        }
    }

    /// The most similar group of the message's length in `leaf` and its similarity (ties: more
    /// variable positions). Groups whose template was evicted are dropped from the leaf when
    /// met.
    fn most_similar(&mut self, leaf: usize, leaf_key: u64) -> Option<(usize, f64)> {
        let n = self.tokens.n;
        let stride = self.leaf_stride;
        let mut best: Option<(usize, f64, u32)> = None;
        let mut i = 0;
        while i < usize::from(self.leaf_len[leaf]) {
            let slot = self.leaf_groups[leaf * stride + i] as usize;
            let r = &self.records[slot];
            if self.ids.key_at(slot) != Some(r.id.max(1)) || r.leaf != leaf_key {
                self.leave(leaf, i);
                continue;
            }
            i += 1;
            if usize::from(r.n) != n {
                continue;
            }
            let (sim, wild) = self.similarity(r);
            if best.is_none_or(|(_, s, w)| sim > s || (sim == s && wild > w)) {
                best = Some((slot, sim, wild));
            }
        }
        best.map(|(slot, sim, _)| (slot, sim))
    }

    /// Takes the `i`th group out of `leaf`'s list.
    fn leave(&mut self, leaf: usize, i: usize) {
        let stride = self.leaf_stride;
        let len = usize::from(self.leaf_len[leaf]);
        self.leaf_groups.copy_within(
            leaf * stride + i + 1..leaf * stride + len,
            leaf * stride + i,
        );
        self.leaf_len[leaf] -= 1;
    }

    /// Takes the template in `slot` out of `leaf`'s list, if it is there.
    fn leave_slot(&mut self, leaf: usize, slot: usize) {
        let stride = self.leaf_stride;
        let len = usize::from(self.leaf_len[leaf]);
        if let Some(i) = self.leaf_groups[leaf * stride..leaf * stride + len]
            .iter()
            .position(|&s| s as usize == slot)
        {
            self.leave(leaf, i);
        }
    }

    /// Positions where the message in `tokens` differs from `r`'s template (not counting the
    /// positions that are variables there).
    fn differing(&self, r: &Record) -> u64 {
        let t = &self.tokens;
        (0..t.n)
            .filter(|&p| r.wild & (1 << p) == 0 && r.hashes[p] != short(t.hashes[p]))
            .fold(0, |m, p| m | 1 << p)
    }

    /// Which of the positions in `differ` are variables: those where a token held a masked
    /// variable (two shapes of one variable, `rhost=<*>` and `rhost=<*>.example.net`), and those
    /// that take more than `max_constant_values` values, the message's included, among the
    /// groups of `family` in `leaf`.
    fn variables(&self, leaf: usize, family: u64, differ: u64, masked: u64) -> u64 {
        let t = &self.tokens;
        let shapes = differ & (masked | t.wild);
        let stride = self.leaf_stride;
        let groups =
            &self.leaf_groups[leaf * stride..leaf * stride + usize::from(self.leaf_len[leaf])];
        let most = self.opts.max_constant_values.min(MAX_TOKENS);
        let mut variable = shapes;
        for p in (0..t.n).filter(|&p| (differ & !shapes) & (1 << p) != 0) {
            let mut values = [0u32; MAX_TOKENS + 1];
            values[0] = short(t.hashes[p]);
            let mut distinct = 1;
            for &g in groups {
                let r = &self.records[g as usize];
                if r.family != family || usize::from(r.n) != t.n || r.wild & (1 << p) != 0 {
                    continue;
                }
                if !values[..distinct].contains(&r.hashes[p]) {
                    values[distinct] = r.hashes[p];
                    distinct += 1;
                    if distinct > most {
                        variable |= 1 << p;
                        break;
                    }
                }
            }
        }
        variable
    }

    /// Makes `positions` variables in every group of `family` in `leaf` (of the message's
    /// length), and merges the groups that then have one template into the oldest of them.
    fn generalise(&mut self, leaf: usize, family: u64, positions: u64) {
        let n = self.tokens.n;
        let stride = self.leaf_stride;
        let members = |m: &Self| {
            let len = usize::from(m.leaf_len[leaf]);
            let mut out = [0u32; 256];
            let mut k = 0;
            for &g in &m.leaf_groups[leaf * stride..leaf * stride + len] {
                let r = &m.records[g as usize];
                if r.family == family && usize::from(r.n) == n && r.id != 0 {
                    out[k] = g;
                    k += 1;
                }
            }
            (out, k)
        };
        let (list, k) = members(self);
        for &g in &list[..k] {
            self.records[g as usize].wild |= positions;
        }
        // Merge each group into the oldest one before it that it now equals.
        for j in 1..k {
            let b = list[j] as usize;
            let Some(&a) = list[..j].iter().find(|&&a| {
                let (a, b) = (&self.records[a as usize], &self.records[b]);
                a.id != 0 && Self::same_template(a, b)
            }) else {
                continue;
            };
            self.merge(leaf, a as usize, b);
        }
    }

    /// Whether two groups' templates are one: equal wherever neither has a variable.
    fn same_template(a: &Record, b: &Record) -> bool {
        a.n == b.n
            && (0..usize::from(a.n))
                .all(|p| (a.wild | b.wild) & (1 << p) != 0 || a.hashes[p] == b.hashes[p])
    }

    /// Merges the group in slot `from` into the one in slot `into`; the older id is kept and
    /// the other becomes its alias.
    fn merge(&mut self, leaf: usize, mut into: usize, mut from: usize) {
        if self.records[from].id < self.records[into].id {
            std::mem::swap(&mut into, &mut from);
        }
        let gone = self.records[from];
        let keep = &mut self.records[into];
        keep.wild |= gone.wild;
        keep.count += gone.count;
        keep.last_seen = keep.last_seen.max(gone.last_seen);
        let kept = keep.id;
        let a = self.aliases.entry(gone.id);
        self.alias_of[a.slot] = kept;
        self.ids.remove(gone.id);
        self.records[from].id = 0;
        self.leave_slot(leaf, from);
    }

    /// Similarity of the message in `tokens` to `r` (same length): equal tokens over tokens,
    /// and the number of variable positions of `r` where they differ.
    fn similarity(&self, r: &Record) -> (f64, u32) {
        let t = &self.tokens;
        let wild_hash = short(self.wild);
        let mut equal = 0u32;
        let mut wild = 0u32;
        for p in 0..t.n {
            let h = short(t.hashes[p]);
            // A position that became a variable reads as `<*>`: it matches a masked variable.
            let variable = r.wild & (1 << p) != 0 || r.hashes[p] == wild_hash;
            let template = if variable { wild_hash } else { r.hashes[p] };
            if template == h {
                equal += 1;
            } else if variable {
                wild += 1;
            }
        }
        (f64::from(equal) / t.n.max(1) as f64, wild)
    }

    /// Starts a template for `message` (the one in `tokens`) in `leaf`: a family of its own, or
    /// a member of `family` (its id, and the positions that are variables in it). Returns its
    /// slot.
    fn new_template(
        &mut self,
        message: &[u8],
        leaf: usize,
        leaf_key: u64,
        family: Option<(u64, u64)>,
    ) -> usize {
        let stride = self.leaf_stride;
        if usize::from(self.leaf_len[leaf]) >= stride {
            // Make room in the leaf: its least recently seen group goes.
            let groups = &self.leaf_groups[leaf * stride..(leaf + 1) * stride];
            let (i, &oldest) = groups
                .iter()
                .enumerate()
                .min_by_key(|(_, s)| self.records[**s as usize].last_seen)
                .expect("a full leaf");
            let gone = self.records[oldest as usize].id;
            self.ids.remove(gone);
            self.records[oldest as usize].id = 0;
            self.leaf_evicted += 1;
            self.leave(leaf, i);
        }
        let id = self.next_id;
        self.next_id += 1;
        let e = self.ids.entry(id);
        if e.evicted {
            // The template that had this slot leaves its leaf.
            if let Some(l) = self.leaves.peek(self.records[e.slot].leaf) {
                self.leave_slot(l, e.slot);
            }
        }
        let t = &self.tokens;
        let r = &mut self.records[e.slot];
        r.id = id;
        r.count = 1;
        r.last_seen = self.clock;
        r.leaf = leaf_key;
        (r.family, r.wild) = family.unwrap_or((id, 0));
        r.masked = t.wild;
        r.n = t.n as u8;
        for p in 0..t.n {
            r.hashes[p] = short(t.hashes[p]);
        }
        t.render(message, &mut r.text, &mut r.ends);
        let len = usize::from(self.leaf_len[leaf]);
        self.leaf_groups[leaf * stride + len] = e.slot as u32;
        self.leaf_len[leaf] += 1;
        e.slot
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_bounded_under_a_flood_of_new_kinds() {
        let opts = MinerOptions {
            max_templates: 1000,
            max_template_bytes: 64 << 20,
            max_nodes: 500,
            ..MinerOptions::default()
        };
        let mut m = Miner::new(opts);
        let bytes = m.state_bytes();
        // Every message a new kind: words that never repeat, in lengths from 1 to 300 tokens.
        let word = |i: u64| {
            let mut x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
            (0..6)
                .map(|_| {
                    x = x.rotate_left(7) ^ 0x5851_f42d;
                    char::from(b'a' + (x % 26) as u8)
                })
                .collect::<String>()
        };
        let mut new = 0;
        for i in 0..50_000u64 {
            let len = 1 + (i % 300) as usize;
            let message: Vec<String> = (0..len as u64).map(|k| word(i * 1000 + k)).collect();
            if m.add(message.join(" ")).new {
                new += 1;
            }
        }
        assert!(new > 10_000, "most are new kinds: {new}");
        assert!(m.len() <= 1000);
        assert!(m.nodes() <= 2 * 500, "{} nodes", m.nodes());
        assert_eq!(m.state_bytes(), bytes, "nothing grew");
        assert_eq!(
            m.evicted() + m.len() as u64,
            new,
            "every template kept or counted out"
        );
    }

    #[test]
    fn a_word_with_few_values_keeps_kinds_apart_until_it_proves_a_variable() {
        let mut m = Miner::new(MinerOptions::default());
        let users = ["admin", "oracle", "test"];
        let kinds: Vec<Mined> = users
            .iter()
            .map(|u| m.add(format!("Invalid user {u} from 198.51.100.7")))
            .collect();
        // Three values: three kinds, each new, each a template of its own.
        assert!(kinds.iter().all(|k| k.new));
        assert_eq!(m.len(), 3);
        assert_eq!(
            m.template(kinds[1].id).unwrap().text(),
            "Invalid user oracle from <*>"
        );
        // Seen again, each goes to its own.
        let again = m.add("Invalid user test from 203.0.113.9");
        assert_eq!((again.id, again.new), (kinds[2].id, false));
        // A fourth value: the position is a variable, and the three merge into the oldest.
        let fourth = m.add("Invalid user guest from 203.0.113.9");
        assert_eq!((fourth.id, fourth.new), (kinds[0].id, false));
        assert_eq!(m.len(), 1);
        for k in &kinds {
            assert_eq!(m.canonical(k.id), kinds[0].id);
        }
        let t = m.template(kinds[2].id).unwrap();
        assert_eq!((t.id, t.count), (kinds[0].id, 5));
        assert_eq!(t.text(), "Invalid user <*> from <*>");
        // The merged kinds' messages, even by the fast paths, go to the one left.
        for u in users {
            let again = m.add(format!("Invalid user {u} from 192.0.2.1"));
            assert_eq!((again.id, again.new), (kinds[0].id, false));
        }
        let c = m.add("Connection closed by 198.51.100.7 [preauth]");
        assert!(c.new);
        assert_ne!(c.id, kinds[0].id);
        assert_eq!(m.template(kinds[0].id).unwrap().count, 8);
        // An id that never merged is its own.
        assert_eq!(m.canonical(c.id), c.id);
    }

    #[test]
    fn two_shapes_of_a_masked_variable_are_one_template_at_once() {
        let mut m = Miner::new(MinerOptions::default());
        let a = m.add("Accepted password for alice from host7.example.net");
        let b = m.add("Accepted password for alice from 203.0.113.9");
        assert!(a.new && !b.new);
        assert_eq!(a.id, b.id);
        assert_eq!(
            m.template(a.id).unwrap().text(),
            "Accepted password for alice from <*>"
        );
    }

    #[test]
    fn a_list_of_variables_is_one_token_whatever_its_length() {
        let mut m = Miner::new(MinerOptions::default());
        let one = m.add("BLOCK* ask 10.250.11.85:50010 to delete blk_-1608999687919862906");
        let three = m.add("BLOCK* ask 10.250.14.38:50010 to delete blk_1 blk_-2 blk_3");
        assert_eq!(one.id, three.id);
        assert_eq!(
            m.template(one.id).unwrap().text(),
            "BLOCK* ask <*> to delete blk_<*>"
        );
        // Repeated words stay: only variables of one shape fold.
        let words = m.add("very very slow");
        let word = m.add("very slow");
        assert_ne!(words.id, word.id);
    }

    #[test]
    fn bytes_that_are_not_utf8_are_mined_as_they_are() {
        let mut m = Miner::new(MinerOptions::default());
        let a = m.add(b"login failed for \xff\xfeuser on tty1");
        let b = m.add(b"login failed for \xff\xfeuser on tty1");
        assert!(a.new && !b.new);
        assert_eq!(a.id, b.id);
        assert_eq!(
            m.template(a.id).unwrap().text(),
            "login failed for \u{fffd}\u{fffd}user on tty<*>"
        );
        // Tabs and other ASCII white space split tokens as spaces do.
        let tabbed = m.add("login\tfailed for \u{ff}user\x0bon tty2");
        let spaced = m.add("login failed for \u{ff}user on tty3");
        assert_eq!(tabbed.id, spaced.id);
    }

    #[test]
    fn the_template_table_is_bounded_and_ids_are_never_reused() {
        let mut m = Miner::new(MinerOptions {
            max_templates: 3,
            ..MinerOptions::default()
        });
        // One bucket of eight templates is the least there is.
        let ids: Vec<u64> = (0..20).map(|i| m.add("word ".repeat(i + 1)).id).collect();
        assert_eq!(m.len(), table::WAYS);
        assert_eq!(m.evicted(), 20 - table::WAYS as u64);
        let mut unique = ids.clone();
        unique.dedup();
        assert_eq!(unique, ids);
        // An evicted template's messages start a new one, with a new id.
        let again = m.add("word");
        assert!(again.new && again.id > ids[19]);
    }

    #[test]
    fn a_full_leaf_evicts_its_least_recently_seen_group() {
        let mut m = Miner::new(MinerOptions {
            max_leaf_groups: 2,
            ..MinerOptions::default()
        });
        // Same length and first two tokens: one leaf; too different to join.
        let a = m.add("svc start alpha beta gamma delta");
        let b = m.add("svc start one two three four");
        assert_eq!(m.add("svc start alpha beta gamma delta").id, a.id);
        let c = m.add("svc start red green blue white");
        assert!(c.new);
        assert!(m.template(b.id).is_none(), "b was seen least recently");
        assert!(m.template(a.id).is_some());
        assert_eq!(m.evicted(), 1);
    }
}
