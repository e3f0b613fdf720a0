//! What an engine is made from: a rule set, compiled once and shared read-only, and the options
//! that size each engine's own state.

use std::sync::Arc;

use crate::{
    baseline::BaselineOptions,
    rules::{
        correlation::CorrelationRule, sigma::SigmaRule, sigma::SigmaSet, silence::SilenceRule,
        threshold::ThresholdRule,
    },
};

use super::clock::Clock;

/// Every rule of a rule set, as loaded: Sigma rules with their correlations, and the native
/// threshold and silence rules.
#[derive(Clone, Debug, Default)]
pub struct Rules {
    /// Sigma detection rules.
    pub sigma: Vec<SigmaRule>,
    /// Sigma correlation rules (their rule indices point into `sigma`).
    pub correlations: Vec<CorrelationRule>,
    /// Native threshold rules.
    pub thresholds: Vec<ThresholdRule>,
    /// Native silence rules.
    pub silences: Vec<SilenceRule>,
}

/// How an engine learns what is normal.
#[derive(Clone, Copy, Debug)]
pub struct LearningOptions {
    /// Messages an engine sees before a new template raises an alert.
    pub warmup_messages: u64,
    /// Rate baselines.
    pub baselines: BaselineOptions,
}

impl Default for LearningOptions {
    fn default() -> Self {
        Self {
            warmup_messages: 10_000,
            baselines: BaselineOptions::default(),
        }
    }
}

/// The per-key state budget of one engine unless configured: 256 MiB.
pub const DEFAULT_BUDGET_BYTES: usize = 256 << 20;

/// How an engine is sized and what it runs on.
#[derive(Clone, Copy, Debug)]
pub struct EngineOptions {
    /// Mine templates and keep rate baselines (alerting on new templates and rate spikes).
    pub learning: Option<LearningOptions>,
    /// The time baselines, silences and correlation windows run on.
    pub clock: Clock,
    /// Bytes for all of the engine's per-key state, allocated when it is made.
    pub budget_bytes: usize,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            learning: None,
            clock: Clock::Arrival,
            budget_bytes: DEFAULT_BUDGET_BYTES,
        }
    }
}

/// How an engine's budget is shared: evenly among the tables in use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BudgetShares {
    /// Threshold windows, bytes.
    pub threshold: usize,
    /// Correlation windows.
    pub correlation: usize,
    /// Silence last-seen times.
    pub silence: usize,
    /// Mined templates and their tree.
    pub templates: usize,
    /// Rate baselines.
    pub baselines: usize,
}

impl BudgetShares {
    /// `budget` bytes shared among the tables these rules (and learning) use.
    pub fn new(
        budget: usize,
        thresholds: bool,
        correlations: bool,
        silences: bool,
        learning: bool,
    ) -> Self {
        let [threshold, correlation, silence, templates, baselines] = crate::bounded::split_budget(
            budget,
            [thresholds, correlations, silences, learning, learning],
        );
        Self {
            threshold,
            correlation,
            silence,
            templates,
            baselines,
        }
    }
}

/// Everything needed to make engines for one rule set: the Sigma rules compiled once (shared by
/// every engine), the other rules, and the options. Making an engine allocates all of its
/// state: do it off the workers' threads.
#[derive(Clone, Debug)]
pub struct Blueprint {
    pub(crate) sigma: Arc<SigmaSet>,
    pub(crate) correlations: Vec<CorrelationRule>,
    pub(crate) thresholds: Vec<ThresholdRule>,
    pub(crate) silences: Vec<SilenceRule>,
    pub(crate) opts: EngineOptions,
}

impl Blueprint {
    /// Compiles `rules` (the slow part).
    pub fn new(rules: &Rules, opts: EngineOptions) -> Self {
        Self {
            sigma: Arc::new(SigmaSet::new(rules.sigma.clone())),
            correlations: rules.correlations.clone(),
            thresholds: rules.thresholds.clone(),
            silences: rules.silences.clone(),
            opts,
        }
    }

    /// The options engines are made with.
    pub fn options(&self) -> &EngineOptions {
        &self.opts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_is_shared_by_the_tables_in_use_only() {
        let s = BudgetShares::new(300, true, false, true, true);
        assert_eq!(
            (
                s.threshold,
                s.correlation,
                s.silence,
                s.templates,
                s.baselines
            ),
            (75, 0, 75, 75, 75)
        );
        let s = BudgetShares::new(300, false, false, false, false);
        assert_eq!(s.threshold + s.correlation + s.silence + s.templates, 0);
    }
}
