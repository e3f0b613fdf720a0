//! Sigma rules (<https://sigmahq.io/docs/basics/rules.html>) compiled to matchers over parsed
//! syslog events.
//!
//! Supported: `keywords` lists; selections as maps and lists of maps; field modifiers
//! `contains`, `startswith`, `endswith`, `all`, `re` (with its flags `i`, `m`, `s`), `cidr`,
//! `base64`, `base64offset`, `windash`, `exists`, `cased`, the numeric `lt`, `lte`, `gt`,
//! `gte`, and their combinations; a key of modifiers only (`'|all'`, `'|re'`) as a keyword
//! search; wildcards `*` and `?` with escapes; conditions with `and`, `or`, `not`, parentheses,
//! `1 of`, `all of`, `them` and name patterns such as `selection_*`. A rule using anything else
//! (an unknown modifier, an aggregation like `| count()`, an unmapped log source) is rejected
//! at load with an error naming the file and the construct; it is never half-applied.
//!
//! Fields: `message` (also `msg`, `Message`) is the body, `host`/`hostname`, `app`/`appname`/
//! `program`, `procid`/`pid`, `msgid`, `facility`, `severity`; any other name is looked up among
//! the body's payload fields (JSON, CEF, LEEF, key=value, audit, event XML) and structured-data
//! parameters. Keywords match anywhere in the message body.

mod compile;
mod condition;
mod logsource;
mod matcher;
mod set;

use std::fmt;

use serde_yaml::Value;

use crate::parse::Event;
use compile::compile_search;
use condition::parse_condition;
use logsource::Gate;
pub use logsource::{CategorySource, LogsourceMap, ServiceSource};
pub(crate) use matcher::Field;
use matcher::{Alone, Expr, ReEval, Search};
pub use set::{SigmaScratch, SigmaSet};

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

/// A compiled Sigma rule.
#[derive(Clone, Debug)]
pub struct SigmaRule {
    /// `title`.
    pub title: String,
    /// `id`.
    pub id: Option<String>,
    /// `name` (how correlation rules refer to it, besides the id).
    pub name: Option<String>,
    /// `level`.
    pub level: Level,
    /// `tags` (ATT&CK techniques and tactics as `attack.t1190`, ...).
    pub tags: Vec<String>,
    /// The file it came from.
    pub file: String,
    /// The messages its log source takes.
    logsource: Gate,
    searches: Vec<(String, Search)>,
    condition: Expr,
}

impl SigmaRule {
    /// Whether `e` matches the rule (its log source and its condition).
    pub fn matches(&self, e: &Event<'_>) -> bool {
        self.matches_with(e, &mut Alone)
    }

    fn matches_with(&self, e: &Event<'_>, res: &mut impl ReEval) -> bool {
        self.logsource.takes(e) && self.condition.eval(&self.searches, e, res)
    }

    /// Compiles a rule from its YAML text; `file` names it in errors.
    pub fn from_yaml(file: &str, text: &str, logsources: &LogsourceMap) -> Result<Self, RuleError> {
        let doc: Value = serde_yaml::from_str(text).map_err(|e| RuleError {
            file: file.to_string(),
            construct: "yaml".into(),
            message: e.to_string(),
        })?;
        Self::from_value(file, &doc, logsources)
    }

    /// Compiles a rule from one parsed YAML document.
    pub fn from_value(
        file: &str,
        doc: &Value,
        logsources: &LogsourceMap,
    ) -> Result<Self, RuleError> {
        let err = |construct: &str, message: String| RuleError {
            file: file.to_string(),
            construct: construct.to_string(),
            message,
        };
        let title = doc["title"]
            .as_str()
            .ok_or_else(|| err("title", "missing".into()))?
            .to_string();
        if doc.get("correlation").is_some() {
            return Err(err(
                "correlation",
                "a correlation rule: load it with load::load_dir, beside the rules it refers to"
                    .into(),
            ));
        }
        let level = parse_level(doc["level"].as_str()).map_err(|m| err("level", m.0))?;
        let ls = &doc["logsource"];
        let product = ls["product"].as_str();
        let tagged = product.is_some_and(|p| logsources.tagged_products.iter().any(|t| t == p));
        if let Some(product) = product
            && !tagged
            && !logsources.products.iter().any(|p| p == product)
        {
            return Err(err(
                "logsource.product",
                format!("{product:?} is not mapped onto syslog"),
            ));
        }
        let category = match ls["category"].as_str() {
            None => None,
            Some(category) => Some(logsources.category(category).ok_or_else(|| {
                err(
                    "logsource.category",
                    format!("{category:?} is not mapped onto syslog"),
                )
            })?),
        };
        let source = match ls["service"].as_str() {
            None => None,
            Some(service) => Some(
                match (tagged, product) {
                    (true, Some(product)) => logsources.tagged_service(product, service),
                    _ => logsources.service(service),
                }
                .ok_or_else(|| {
                    err(
                        "logsource.service",
                        format!("{service:?} is not in the log source table"),
                    )
                })?,
            ),
        };
        let detection = doc["detection"]
            .as_mapping()
            .ok_or_else(|| err("detection", "missing or not a map".into()))?;
        let mut searches = Vec::new();
        let mut condition_text = None;
        for (k, v) in detection {
            let name = k
                .as_str()
                .ok_or_else(|| err("detection", "a non-string key".into()))?;
            if name == "condition" {
                condition_text = Some(match v {
                    Value::String(s) => s.clone(),
                    Value::Sequence(list) => list
                        .iter()
                        .map(|c| c.as_str().map(|s| format!("({s})")))
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(|| err("condition", "a list of non-strings".into()))?
                        .join(" or "),
                    _ => return Err(err("condition", "not a string or a list".into())),
                });
                continue;
            }
            if name == "timeframe" {
                return Err(err(
                    "timeframe",
                    "timeframes belong to correlation rules".into(),
                ));
            }
            let search = compile_search(v).map_err(|(c, m)| err(&format!("{name}{c}"), m))?;
            searches.push((name.to_string(), search));
        }
        let condition_text = condition_text.ok_or_else(|| err("condition", "missing".into()))?;
        let condition = parse_condition(&condition_text, &searches)
            .map_err(|m| err("condition", format!("{m} in {condition_text:?}")))?;
        Ok(Self {
            title,
            id: doc["id"].as_str().map(str::to_string),
            name: doc["name"].as_str().map(str::to_string),
            level,
            tags: parse_tags(&doc["tags"]).map_err(|m| err("tags", m.0))?,
            file: file.to_string(),
            logsource: Gate {
                tagged,
                category,
                service: source,
            },
            searches,
            condition,
        })
    }
}
