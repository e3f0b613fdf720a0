//! One compiled Sigma rule: its log source and its condition over its searches.

use serde_yaml_ng::Value;

use super::{
    compile::compile_search,
    condition::parse_condition,
    error::{RuleError, title},
    level::{Level, parse_level, parse_tags},
    logsource::{Gate, LogsourceMap},
    matcher::{Alone, Expr, ReEval, Search},
};
use crate::parse::Event;

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
    /// `description`, `author`, `license` and the `references` (URLs), as written: for
    /// alerts, not for matching.
    pub about: About,
    /// The messages its log source takes.
    pub(super) logsource: Gate,
    /// Its `logsource` as written: (`product`, `category` or `service`, value).
    pub(super) logsource_fields: Vec<(&'static str, String)>,
    pub(super) searches: Vec<(String, Search)>,
    pub(super) condition: Expr,
    /// The titles of the filters applied to it ([`super::apply_filters`]).
    pub filters: Vec<String>,
}

impl SigmaRule {
    /// Whether `e` matches the rule (its log source and its condition).
    pub fn matches(&self, e: &Event<'_>) -> bool {
        self.matches_with(e, &mut Alone)
    }

    pub(super) fn matches_with(&self, e: &Event<'_>, res: &mut impl ReEval) -> bool {
        self.logsource.takes(e) && self.condition.eval(&self.searches, e, res)
    }

    /// Compiles a rule from its YAML text; `file` names it in errors.
    pub fn from_yaml(file: &str, text: &str, logsources: &LogsourceMap) -> Result<Self, RuleError> {
        let doc: Value = serde_yaml_ng::from_str(text).map_err(|e| RuleError {
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
        let err = RuleError::in_file(file);
        let title = title(doc, &err)?;
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
        let (mut searches, condition) = compile_detection(file, detection, &[], &logsources.vars)?;
        let logsource_fields: Vec<(&'static str, String)> = ["product", "category", "service"]
            .into_iter()
            .filter_map(|k| Some((k, ls[k].as_str()?.to_string())))
            .collect();
        // A pipeline's field_name_mapping for this log source.
        let rename = |name: &str| {
            let to = logsources.field_name(&logsource_fields, name);
            (to != name).then(|| to.to_string())
        };
        for (_, s) in &mut searches {
            s.rename_fields(&rename);
        }
        Ok(Self {
            title,
            id: doc["id"].as_str().map(str::to_string),
            name: doc["name"].as_str().map(str::to_string),
            level,
            tags: parse_tags(&doc["tags"]).map_err(|m| err("tags", m.0))?,
            file: file.to_string(),
            about: About::of(doc),
            logsource: Gate {
                tagged,
                category,
                service: source,
            },
            logsource_fields,
            searches,
            condition,
            filters: Vec::new(),
        })
    }
}

/// What a rule says about itself, for the analyst who reads its alert.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct About {
    /// `description`.
    pub description: Option<String>,
    /// `author`.
    pub author: Option<String>,
    /// `license`.
    pub license: Option<String>,
    /// `references`: URLs, as written.
    pub references: Vec<String>,
}

impl About {
    /// What `doc` says; values that are not strings are left out.
    pub fn of(doc: &Value) -> Self {
        let text = |k: &str| doc[k].as_str().map(|s| s.trim().to_string());
        Self {
            description: text("description"),
            author: text("author"),
            license: text("license"),
            references: doc["references"]
                .as_sequence()
                .map(|l| {
                    l.iter()
                        .filter_map(|r| r.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }
}

/// A detection's searches and its condition (`condition` may be a list, OR-ed), the keys of
/// `skip` left out, `expand` placeholders filled from `vars`; `file` names the rule in errors.
pub(super) fn compile_detection(
    file: &str,
    detection: &serde_yaml_ng::Mapping,
    skip: &[&str],
    vars: &super::compile::Vars,
) -> Result<(Vec<(String, Search)>, Expr), RuleError> {
    let err = RuleError::in_file(file);
    let mut searches = Vec::new();
    let mut condition_text = None;
    for (k, v) in detection {
        let name = k
            .as_str()
            .ok_or_else(|| err("detection", "a non-string key".into()))?;
        if skip.contains(&name) {
            continue;
        }
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
        let search = compile_search(v, vars).map_err(|(c, m)| err(&format!("{name}{c}"), m))?;
        searches.push((name.to_string(), search));
    }
    let condition_text = condition_text.ok_or_else(|| err("condition", "missing".into()))?;
    let condition = parse_condition(&condition_text, &searches)
        .map_err(|m| err("condition", format!("{m} in {condition_text:?}")))?;
    Ok((searches, condition))
}
