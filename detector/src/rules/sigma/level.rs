//! A rule's level and tags, as the rule files write them.

use serde_yaml_ng::Value;

use super::error::Invalid;

/// Sigma rule level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// informational
    Informational,
    /// low
    Low,
    /// medium
    Medium,
    /// high
    High,
    /// critical
    Critical,
}

impl Level {
    /// The level with this Sigma name.
    pub fn from_name(name: &str) -> Option<Level> {
        [
            Level::Informational,
            Level::Low,
            Level::Medium,
            Level::High,
            Level::Critical,
        ]
        .into_iter()
        .find(|l| l.name() == name)
    }

    /// The Sigma name.
    pub fn name(self) -> &'static str {
        match self {
            Level::Informational => "informational",
            Level::Low => "low",
            Level::Medium => "medium",
            Level::High => "high",
            Level::Critical => "critical",
        }
    }
}

/// A rule's `tags`: a list of strings (others are an error); none when absent.
pub(crate) fn parse_tags(tags: &Value) -> Result<Vec<String>, Invalid> {
    match tags {
        Value::Null => Ok(Vec::new()),
        Value::Sequence(list) => list
            .iter()
            .map(|t| {
                t.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| Invalid(format!("{t:?} is not a string")))
            })
            .collect(),
        other => Err(Invalid(format!("{other:?} is not a list"))),
    }
}

/// A rule's `level` (medium when absent).
pub(crate) fn parse_level(level: Option<&str>) -> Result<Level, Invalid> {
    let name = level.unwrap_or("medium");
    Level::from_name(name).ok_or_else(|| Invalid(format!("unknown level {name:?}")))
}
