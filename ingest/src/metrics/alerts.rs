//! Alerts counted by rule, for the exposition.

use std::collections::BTreeMap;

/// Alerts that reached the housekeeping thread, by rule. Kept by whoever prints them (it knows
/// the rules' names and levels).
#[derive(Clone, Debug, Default)]
pub struct AlertCounts {
    counts: BTreeMap<AlertKey, u64>,
}

/// What an alert count is labelled with.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct AlertKey {
    /// The rule's id (its title when it has none).
    pub rule: String,
    /// The rule's title.
    pub title: String,
    /// `sigma`, `threshold`, `correlation`, `silence`, `new_template` or `rate_spike`.
    pub kind: &'static str,
    /// The rule's level.
    pub level: &'static str,
}

impl AlertCounts {
    /// Counts one alert. Allocates only the first time a rule fires.
    pub fn add(&mut self, rule: &str, title: &str, kind: &'static str, level: &'static str) {
        // Rules raised by the learner carry a template id: one series per kind, not per
        // template, keeps the label set small.
        let rule = match kind {
            "new_template" | "rate_spike" => kind,
            _ => rule,
        };
        if let Some(n) = self
            .counts
            .iter_mut()
            .find(|(k, _)| k.rule == rule && k.kind == kind && k.level == level)
            .map(|(_, n)| n)
        {
            *n += 1;
            return;
        }
        self.counts.insert(
            AlertKey {
                rule: rule.to_string(),
                title: title.to_string(),
                kind,
                level,
            },
            1,
        );
    }

    /// Every rule that fired, with its count.
    pub fn iter(&self) -> impl Iterator<Item = (&AlertKey, u64)> {
        self.counts.iter().map(|(k, n)| (k, *n))
    }
}
