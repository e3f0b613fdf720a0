//! Detection rules. Sigma rules so far ([`sigma`]); native rules, thresholds and correlations
//! follow.

mod pattern;
pub mod sigma;
