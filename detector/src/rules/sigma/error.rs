//! Why a rule is rejected.

use std::fmt;

/// What is wrong with one construct of a rule, in words; [`RuleError`] adds the file and the
/// construct.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

/// Why a rule was rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleError {
    /// The rule file.
    pub file: String,
    /// The construct that is wrong or unsupported (a field, a modifier, the condition).
    pub construct: String,
    /// What is wrong with it.
    pub message: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.file, self.construct, self.message)
    }
}

impl std::error::Error for RuleError {}

impl RuleError {
    /// Makes the errors of one rule file: `err(construct, message)`.
    pub(crate) fn in_file(file: &str) -> impl Fn(&str, String) -> RuleError + '_ {
        move |construct, message| RuleError {
            file: file.to_string(),
            construct: construct.to_string(),
            message,
        }
    }
}

/// A document's `title`, which every rule, filter and correlation must have.
pub(crate) fn title(
    doc: &serde_yaml_ng::Value,
    err: &impl Fn(&str, String) -> RuleError,
) -> Result<String, RuleError> {
    doc["title"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| err("title", "missing".into()))
}
