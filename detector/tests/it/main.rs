//! The detector crate's integration tests, one binary: the parsers on real and crafted
//! messages, the rules on their own messages and near misses, the miner's accuracy, the
//! memory budget, and what must not allocate (one counting allocator, `alloc`, for all).

mod common;

mod alloc;
mod budget;
mod correlation;
mod fuzz_corpus;
mod mining;
mod no_alloc;
mod sigma;
mod syslog;
mod threshold;
