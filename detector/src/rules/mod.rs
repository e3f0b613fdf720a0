//! Detection rules: Sigma rules ([`sigma`]) with their correlations ([`correlation`]), and
//! native rules in TOML: thresholds ([`threshold`]) and silences ([`silence`]).

pub mod correlation;
mod pattern;
pub mod sigma;
pub mod silence;
pub mod threshold;
