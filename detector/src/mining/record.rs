//! A kept template as the miner stores it: fixed in size, so the template table is allocated
//! once.

use super::mask::{MAX_TOKENS, TEXT_MAX};

/// One kept template, fixed in size.
#[derive(Clone, Copy, Debug)]
pub(super) struct Record {
    pub(super) id: u64,
    pub(super) count: u64,
    pub(super) last_seen: u64,
    /// The key of its leaf in the tree.
    pub(super) leaf: u64,
    /// The id of the group it split from, or its own: the groups of a family differ only in
    /// positions with few values.
    pub(super) family: u64,
    pub(super) n: u8,
    /// Bit `i`: position `i` has become a variable.
    pub(super) wild: u64,
    /// Bit `i`: the first message's token `i` held a masked variable.
    pub(super) masked: u64,
    /// Bit `i`: the first message's token `i` was a key with no value (`rhost=`).
    pub(super) open: u64,
    pub(super) hashes: [u32; MAX_TOKENS],
    /// The first message's masked tokens, for showing the template.
    pub(super) text: [u8; TEXT_MAX],
    pub(super) ends: [u16; MAX_TOKENS],
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
            open: 0,
            hashes: [0; MAX_TOKENS],
            text: [0; TEXT_MAX],
            ends: [0; MAX_TOKENS],
        }
    }
}
