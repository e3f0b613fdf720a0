//! Detection rules: Sigma rules ([`sigma`]) and native threshold rules ([`threshold`]);
//! correlations, template mining and baselines follow.

pub mod correlation;
mod pattern;
pub mod sigma;
pub mod threshold;
