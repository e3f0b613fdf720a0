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
//!   of one, `rhost=<*>` and `rhost=<*>.example.net`), unless their keys differ (the part up
//!   to `=`: `(uid=<*>)` and `LOGIN(uid=<*>)` are two words) or one is a key without a value
//!   (`rhost=` is another kind of message, even where `rhost=` already is a variable); a
//!   position whose words take at most
//!   `max_constant_values` values among the groups of the candidate's family is part of the
//!   template, so the message starts another group of that family (`user=root` and
//!   `user=guest` are two kinds); one value more, and the position is a variable in the whole
//!   family. The family's groups that then have one template merge into the oldest of them:
//!   its id is kept, the others become aliases of it ([`Miner::canonical`]), and no message
//!   of theirs is new again. A message whose only differences are variables joins.
//! - **Contexts.** A word that proved a variable is remembered by the two tokens before it;
//!   after them, a word is a variable in every family (`for user <*>`). The first time a
//!   context is learned, every template with a word there widens, and those that are then one
//!   merge. Contexts are a fixed table (CLOCK eviction).
//!
//! A template's id never changes while it is kept, however far its template widens, and is
//! never reused; a merged id goes on naming the group it merged into. So a variable whose first
//! values are words costs at most `max_constant_values - 1` "new" kinds before it is known for
//! one. Memory is fixed at construction and nothing is allocated afterwards: the cache,
//! the tree's levels and the templates are [`Table`](crate::table::Table)s whose full buckets evict by CLOCK (counted),
//! and each template is a fixed record of at most [`MAX_TOKENS`] tokens (a longer message's
//! tail counts as one token) with [`TEXT_MAX`] bytes of text to show. A flood of never-seen
//! kinds is bounded too: a leaf compares a message with at most `max_leaf_groups` groups.

pub mod mask;
pub mod score;

mod drain;
mod miner;
mod options;
mod record;
mod template;

pub use mask::{MAX_TOKENS, TEXT_MAX};
pub use miner::Miner;
pub use options::{Found, MAX_ROOT_TOKENS, Mined, MinerOptions};
pub use template::Template;

#[cfg(test)]
mod tests;
