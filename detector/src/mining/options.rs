//! How a miner is sized and what it says about a message.

use super::mask::MAX_TOKENS;

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
    /// `Miner::TEMPLATE_BYTES`).
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
    pub const NODE_BYTES: usize = crate::table::SLOT_BYTES + 8 + 4 * 64;

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

/// Where `Miner::lookup` found a message's template.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Found {
    pub(super) slot: u32,
    pub(super) id: u64,
}

/// What `Miner::add` says about a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mined {
    /// The template id.
    pub id: u64,
    /// Whether the message started a new template.
    pub new: bool,
}
