//! Sigma filters (<https://github.com/SigmaHQ/sigma-specification>, "Sigma Filters"): documents
//! that tune rules without editing them, as SOC teams keep their exceptions. A filter names the
//! rules it applies to (by `id` or `name`; none, or `any`, means every rule), may narrow them
//! by log source, and carries searches and a condition that is AND-ed into each rule's own:
//!
//! ```yaml
//! title: Not the backup hosts
//! logsource: {product: linux}
//! filter:
//!   rules: [e8d34729-86a4-4140-adfd-0e29c2106307]
//!   backup: {host|startswith: 'bkp-'}
//!   condition: not backup
//! ```

use serde_yaml_ng::Value;

use super::{
    LogsourceMap,
    error::{RuleError, title},
    matcher::{Expr, Search},
    rule::{SigmaRule, compile_detection},
};

/// Which rules a filter applies to.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Targets {
    /// Every rule (its log source permitting).
    Any,
    /// Rules of these ids or names.
    Named(Vec<String>),
}

/// A compiled Sigma filter.
#[derive(Clone, Debug)]
pub struct SigmaFilter {
    /// `title`.
    pub title: String,
    /// The file it came from.
    pub file: String,
    targets: Targets,
    /// `logsource` as written: a rule must have each of these.
    logsource: Vec<(&'static str, String)>,
    searches: Vec<(String, Search)>,
    condition: Expr,
}

impl SigmaFilter {
    /// Whether a YAML document is a filter (has a `filter` map).
    pub fn is_filter(doc: &Value) -> bool {
        doc.get("filter").is_some_and(Value::is_mapping)
    }

    /// Compiles a filter from one parsed YAML document (`expand` placeholders filled from the
    /// pipelines' `vars` of `logsources`); `file` names it in errors.
    pub fn from_value(
        file: &str,
        doc: &Value,
        logsources: &LogsourceMap,
    ) -> Result<Self, RuleError> {
        let err = RuleError::in_file(file);
        let title = title(doc, &err)?;
        let filter = doc["filter"]
            .as_mapping()
            .ok_or_else(|| err("filter", "missing or not a map".into()))?;
        let targets = match &doc["filter"]["rules"] {
            Value::Null => Targets::Any,
            Value::String(s) if s == "any" => Targets::Any,
            Value::String(s) => Targets::Named(vec![s.clone()]),
            Value::Sequence(list) if list.is_empty() => Targets::Any,
            Value::Sequence(list) => Targets::Named(
                list.iter()
                    .map(|r| r.as_str().map(str::to_string))
                    .collect::<Option<_>>()
                    .ok_or_else(|| {
                        err(
                            "filter.rules",
                            "a rule id or name that is not a string".into(),
                        )
                    })?,
            ),
            _ => {
                return Err(err(
                    "filter.rules",
                    "not a list of rule ids or names".into(),
                ));
            }
        };
        let logsource = ["product", "category", "service"]
            .into_iter()
            .filter_map(|k| Some((k, doc["logsource"][k].as_str()?.to_string())))
            .collect();
        let (searches, condition) = compile_detection(file, filter, &["rules"], &logsources.vars)
            .map_err(|e| RuleError {
            construct: format!("filter.{}", e.construct),
            ..e
        })?;
        Ok(Self {
            title,
            file: file.to_string(),
            targets,
            logsource,
            searches,
            condition,
        })
    }

    /// Whether it applies to `rule`: named by it (or naming none), and the rule's log source
    /// has every field of the filter's, with the same value (ASCII case aside).
    fn applies_to(&self, rule: &SigmaRule) -> bool {
        let named = match &self.targets {
            Targets::Any => true,
            Targets::Named(names) => names.iter().any(|n| names_rule(n, rule)),
        };
        named
            && self.logsource.iter().all(|(k, v)| {
                rule.logsource_fields
                    .iter()
                    .any(|(rk, rv)| rk == k && rv.eq_ignore_ascii_case(v))
            })
    }
}

/// Whether `name` is the rule's id or name.
fn names_rule(name: &str, rule: &SigmaRule) -> bool {
    rule.id.as_deref() == Some(name) || rule.name.as_deref() == Some(name)
}

/// AND-s each filter's condition into the rules it applies to. A filter that names a rule no
/// loaded rule is, or that applies to no rule at all, is an error: an exception that silently
/// does nothing is worse than none.
pub fn apply_filters(rules: &mut [SigmaRule], filters: &[SigmaFilter]) -> Vec<RuleError> {
    let mut errors = Vec::new();
    for f in filters {
        let mut missing = false;
        if let Targets::Named(names) = &f.targets {
            for n in names {
                if !rules.iter().any(|r| names_rule(n, r)) {
                    missing = true;
                    errors.push(RuleError {
                        file: f.file.clone(),
                        construct: "filter.rules".into(),
                        message: format!("no loaded rule has the id or name {n:?}"),
                    });
                }
            }
        }
        let mut applied = 0;
        for rule in rules.iter_mut().filter(|r| f.applies_to(r)) {
            let base = rule.searches.len();
            rule.searches.extend(
                f.searches
                    .iter()
                    .map(|(name, s)| (format!("{}/{name}", f.title), s.clone())),
            );
            let own = std::mem::replace(&mut rule.condition, Expr::And(Vec::new()));
            rule.condition = Expr::And(vec![own, f.condition.shifted(base)]);
            rule.filters.push(f.title.clone());
            applied += 1;
        }
        if applied == 0 && !missing {
            errors.push(RuleError {
                file: f.file.clone(),
                construct: "logsource".into(),
                message: "the filter applies to no loaded rule of its log source".into(),
            });
        }
    }
    errors
}
