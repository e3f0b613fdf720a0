//! Pure computation on the bytes of log messages: no I/O, no threads, no clock but an injected
//! one. Parsers live in [`parse`], Sigma and threshold rules in [`rules`], template mining in
//! [`mining`], rate baselines in [`baseline`], heavy hitters and distinct counts in [`sketch`],
//! and [`engine`] composes them for a worker, a batch at a time, on fixed [`table`]s.
//!
//! Knowing nothing of packets is what lets this crate be tested, fuzzed and benchmarked without
//! root, and used offline.

#![warn(missing_docs)]

pub mod baseline;
pub mod bounded;
pub mod engine;
#[doc(hidden)]
pub mod fuzz;
pub mod mining;
pub mod parse;
pub mod rules;
pub mod simd;
pub mod sketch;
pub mod table;
