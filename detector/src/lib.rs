//! Pure computation on the bytes of log messages: no I/O, no threads, no clock but an injected
//! one. Parsers live in [`parse`]; the rule engine, template mining and baselines follow.
//!
//! Knowing nothing of packets is what lets this crate be tested, fuzzed and benchmarked without
//! root, and used offline.

#[doc(hidden)]
pub mod fuzz;
pub mod mining;
pub mod parse;
pub mod rules;
