//! Processing pipelines: how Sigma log sources and field names map onto syslog, as data, in a
//! subset of pySigma's processing-pipeline YAML. The shipped one is
//! `detector/rules/pipelines/syslog.yml` ([`LogsourceMap::default`]); a YAML document with
//! `transformations:` in a rule folder extends it (a later mapping of the same log source
//! replaces an earlier one).
//!
//! Read: `name`, `priority` (pipelines apply in its order), `vars` (the values of the
//! placeholders the `expand` modifier fills: `admins: [root, toor]`), and `transformations`,
//! each with
//! one `rule_conditions` entry of `type: logsource` (`product`, `service`, `category`) and a
//! `type` of:
//! - `add_condition`: the messages the log source takes. `conditions` is one map (every key
//!   holds) or a list of maps (any one does); a key's list of values means any of them. Keys:
//!   `app` (the syslog app name or tag, case aside), `payload` (a payload format's name),
//!   `cisco_tag` (`FAC` or `FAC-MNEMONIC` of a Cisco-style tag, `'*'` for any), and a payload
//!   field's name with its value (`EventID: '1'`, with a `payload`, for a category). The
//!   shapes read: a product with no condition (every message) or `cisco_tag: '*'` (tagged
//!   messages only); a service by `app` and `payload` alternatives; a tagged product's service
//!   by `cisco_tag`; a category by `payload` and one field's value (or alternatives of
//!   those).
//! - `field_name_mapping`: `mapping` from a rule's field name to the one the events carry,
//!   for the rules of the log source.
//!
//! Anything else is refused with the file and the transformation named.

use serde_yaml_ng::Value;

use super::{
    error::RuleError,
    logsource::{CategorySource, LogsourceMap},
};
use crate::parse::Payload;

/// A log source as a transformation's `rule_conditions` names it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogsourceCondition {
    /// `product`.
    pub product: Option<String>,
    /// `service`.
    pub service: Option<String>,
    /// `category`.
    pub category: Option<String>,
}

impl LogsourceCondition {
    /// Whether a rule's `logsource` (as `(key, value)` pairs) meets it: every key it names
    /// has the same value there.
    pub fn holds_for(&self, logsource: &[(&str, String)]) -> bool {
        let has = |k: &str, want: &Option<String>| {
            want.as_ref()
                .is_none_or(|w| logsource.iter().any(|(rk, rv)| *rk == k && rv == w))
        };
        has("product", &self.product)
            && has("service", &self.service)
            && has("category", &self.category)
    }
}

/// One `field_name_mapping` entry: for rules of `logsource`, field `from` is read as `to`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldName {
    /// The rules it is for.
    pub logsource: LogsourceCondition,
    /// The rule's field name.
    pub from: String,
    /// The event's.
    pub to: String,
}

impl LogsourceMap {
    /// A map that maps nothing (every log source refused).
    pub fn empty() -> Self {
        Self {
            products: Vec::new(),
            services: Vec::new(),
            payloads: Vec::new(),
            tagged_products: Vec::new(),
            tagged_services: Vec::new(),
            categories: Vec::new(),
            field_names: Vec::new(),
            vars: Vec::new(),
        }
    }

    /// Reads a processing pipeline (`file` names it in errors) into the map.
    pub fn with_pipeline(mut self, file: &str, text: &str) -> Result<Self, RuleError> {
        let doc: Value = serde_yaml_ng::from_str(text).map_err(|e| RuleError {
            file: file.to_string(),
            construct: "yaml".into(),
            message: e.to_string(),
        })?;
        self.add_pipeline(file, &doc)?;
        Ok(self)
    }

    /// Whether a YAML document is a processing pipeline.
    pub fn is_pipeline(doc: &Value) -> bool {
        doc.get("transformations").is_some_and(Value::is_sequence)
    }

    /// A pipeline's `priority` (0 when absent): pipelines apply in its order.
    pub fn priority(doc: &Value) -> i64 {
        doc["priority"].as_i64().unwrap_or(0)
    }

    /// Adds the mappings and `vars` of a processing pipeline document.
    pub fn add_pipeline(&mut self, file: &str, doc: &Value) -> Result<(), RuleError> {
        if let Some(vars) = doc.get("vars") {
            let err = |message: String| RuleError {
                file: file.to_string(),
                construct: "vars".into(),
                message,
            };
            let map = vars
                .as_mapping()
                .ok_or_else(|| err("not a map of names to values".into()))?;
            for (name, values) in map {
                let name = name
                    .as_str()
                    .ok_or_else(|| err("a name that is not a string".into()))?;
                let values: Vec<String> = match values {
                    Value::Sequence(l) => l.iter().filter_map(scalar).collect(),
                    v => scalar(v).into_iter().collect(),
                };
                if values.is_empty() {
                    return Err(err(format!("{name}: no values")));
                }
                replace(&mut self.vars, (name.to_string(), values), |(n, _)| {
                    n == name
                });
            }
        }
        let list = doc["transformations"]
            .as_sequence()
            .ok_or_else(|| RuleError {
                file: file.to_string(),
                construct: "transformations".into(),
                message: "missing or not a list".into(),
            })?;
        for (i, t) in list.iter().enumerate() {
            let name = t["id"].as_str().map_or_else(
                || format!("transformations[{i}]"),
                |id| format!("transformations.{id}"),
            );
            let err = |message: String| RuleError {
                file: file.to_string(),
                construct: name.clone(),
                message,
            };
            let logsource = rule_condition(t).map_err(err)?;
            match t["type"].as_str() {
                Some("add_condition") => self
                    .add_condition(&logsource, &t["conditions"])
                    .map_err(err)?,
                Some("field_name_mapping") => {
                    let mapping = t["mapping"]
                        .as_mapping()
                        .ok_or_else(|| err("`mapping` is missing or not a map".into()))?;
                    for (from, to) in mapping {
                        let (Some(from), Some(to)) = (from.as_str(), to.as_str()) else {
                            return Err(err(
                                "a mapping is from one field name to one field name".into()
                            ));
                        };
                        self.field_names.push(FieldName {
                            logsource: logsource.clone(),
                            from: from.to_string(),
                            to: to.to_string(),
                        });
                    }
                }
                other => {
                    return Err(err(format!(
                        "type {:?}: only add_condition and field_name_mapping are read",
                        other.unwrap_or("(none)")
                    )));
                }
            }
        }
        Ok(())
    }

    fn add_condition(&mut self, ls: &LogsourceCondition, conditions: &Value) -> Result<(), String> {
        let alternatives: Vec<&serde_yaml_ng::Mapping> = match conditions {
            Value::Null => Vec::new(),
            Value::Mapping(m) if m.is_empty() => Vec::new(),
            Value::Mapping(m) => vec![m],
            Value::Sequence(list) => list
                .iter()
                .map(|c| c.as_mapping().ok_or("a condition that is not a map"))
                .collect::<Result<_, _>>()?,
            _ => return Err("`conditions` is not a map or a list of maps".into()),
        };
        let strings = |v: &Value| -> Result<Vec<String>, String> {
            match v {
                Value::Sequence(l) => l
                    .iter()
                    .map(|x| scalar(x).ok_or_else(|| format!("{x:?} is not a value")))
                    .collect(),
                x => Ok(vec![
                    scalar(x).ok_or_else(|| format!("{x:?} is not a value"))?,
                ]),
            }
        };
        let keys = |m: &serde_yaml_ng::Mapping| -> Vec<String> {
            m.keys()
                .filter_map(|k| k.as_str().map(str::to_string))
                .collect()
        };
        match (&ls.product, &ls.service, &ls.category) {
            // A product: every message, or tagged messages only.
            (Some(p), None, None) => match alternatives.as_slice() {
                [] => replace(&mut self.products, p.clone(), |x| x == p),
                [m] if keys(m) == ["cisco_tag"] && strings(&m["cisco_tag"])? == ["*"] => {
                    replace(&mut self.tagged_products, p.clone(), |x| x == p)
                }
                _ => {
                    return Err(
                        "a product's condition is none (every message) or `cisco_tag: '*'`".into(),
                    );
                }
            },
            // A tagged product's service, by its tags.
            (Some(p), Some(s), None) if self.tagged_products.contains(p) => {
                let [m] = alternatives.as_slice() else {
                    return Err("a tagged product's service is one `cisco_tag` list".into());
                };
                if keys(m) != ["cisco_tag"] {
                    return Err("a tagged product's service is one `cisco_tag` list".into());
                }
                let tags = strings(&m["cisco_tag"])?;
                replace(
                    &mut self.tagged_services,
                    (p.clone(), s.clone(), tags),
                    |(xp, xs, _)| xp == p && xs == s,
                );
            }
            // A service: app names and payload formats, any of them.
            (None | Some(_), Some(s), None) => {
                let mut apps = Vec::new();
                let mut payload = None;
                for m in &alternatives {
                    for k in keys(m) {
                        match k.as_str() {
                            "app" => apps.extend(strings(&m["app"])?),
                            "payload" => {
                                payload = Some(payload_named(&strings(&m["payload"])?)?);
                            }
                            other => {
                                return Err(format!(
                                    "a service's conditions are `app` and `payload`, not {other:?}"
                                ));
                            }
                        }
                    }
                }
                if alternatives.iter().any(|m| m.len() > 1) {
                    return Err("a service's conditions are alternatives of one key each".into());
                }
                if apps.is_empty() && payload.is_none() {
                    return Err("a service needs `app` or `payload`".into());
                }
                if !apps.is_empty() {
                    replace(&mut self.services, (s.clone(), apps), |(x, _)| x == s);
                }
                if let Some(payload) = payload {
                    replace(&mut self.payloads, (s.clone(), payload), |(x, _)| x == s);
                }
            }
            // A category: a payload format's events with one field's value, or any of
            // several such.
            (None, None, Some(c)) => {
                if alternatives.is_empty() {
                    return Err("a category is a map of `payload` and one field".into());
                }
                let mut sources = Vec::new();
                for m in &alternatives {
                    let payload = payload_named(&strings(&m["payload"])?)?;
                    let fields: Vec<String> =
                        keys(m).into_iter().filter(|k| k != "payload").collect();
                    let [field] = fields.as_slice() else {
                        return Err("a category is a map of `payload` and one field".into());
                    };
                    let [value] = strings(&m[field.as_str()])?
                        .try_into()
                        .map_err(|_| format!("{field}: one value"))?;
                    sources.push(CategorySource {
                        payload,
                        field: field.clone(),
                        value,
                    });
                }
                replace(&mut self.categories, (c.clone(), sources), |(x, _)| x == c);
            }
            _ => {
                return Err(
                    "the log source shapes read: a product, a service, a product and \
                            its service, or a category"
                        .into(),
                );
            }
        }
        Ok(())
    }

    /// The field name a rule of `logsource` (its `(key, value)` pairs) reads `name` as.
    pub fn field_name<'a>(&'a self, logsource: &[(&str, String)], name: &'a str) -> &'a str {
        self.field_names
            .iter()
            .rev()
            .find(|f| f.from == name && f.logsource.holds_for(logsource))
            .map_or(name, |f| f.to.as_str())
    }
}

/// The log source of a transformation's one `rule_conditions` entry of `type: logsource`.
fn rule_condition(t: &Value) -> Result<LogsourceCondition, String> {
    let conditions = t["rule_conditions"]
        .as_sequence()
        .ok_or("`rule_conditions` is missing or not a list")?;
    let [c] = conditions.as_slice() else {
        return Err("one entry in `rule_conditions` is read".into());
    };
    if c["type"].as_str() != Some("logsource") {
        return Err("rule_conditions of `type: logsource` are read".into());
    }
    let get = |k: &str| c[k].as_str().map(str::to_string);
    let ls = LogsourceCondition {
        product: get("product"),
        service: get("service"),
        category: get("category"),
    };
    if ls == LogsourceCondition::default() {
        return Err("the log source names no product, service or category".into());
    }
    Ok(ls)
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn payload_named(names: &[String]) -> Result<Payload, String> {
    let [name] = names else {
        return Err("`payload`: one format".into());
    };
    Payload::from_name(name).ok_or_else(|| {
        format!(
            "payload {name:?} is not one of {}",
            Payload::ALL.map(Payload::name).join(", ")
        )
    })
}

/// Puts `item` in place of the entry `same` finds, else at the end.
fn replace<T>(list: &mut Vec<T>, item: T, same: impl Fn(&T) -> bool) {
    match list.iter().position(same) {
        Some(i) => list[i] = item,
        None => list.push(item),
    }
}
