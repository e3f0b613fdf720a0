//! The rule folders as the appliance loads them: Sigma rules (`*.yml`, with correlations,
//! filters and processing pipelines, which apply to the rules of every folder) and
//! native rules (`*.toml`: thresholds and silences); and how an alert names its rule, as a
//! JSON line and a syslog severity.

use std::path::PathBuf;

pub use detector::engine::Rules;
use detector::{
    engine::{Alert, RuleRef},
    rules::{
        load,
        sigma::{self, Level},
        silence, threshold,
    },
};

use crate::datapath::pipeline::WorkerAlert;

/// The rules of the folders that could not be loaded, every one of them.
#[derive(Debug, thiserror::Error)]
#[error("{} rule(s) rejected:\n  {}", .0.len(), .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n  "))]
pub struct RulesError(pub Vec<sigma::RuleError>);

/// Loads every rule folder; any rule that fails stops with all the errors listed. The
/// folders' processing pipelines extend the shipped log source map for the rules of every
/// folder, and their filters apply to the rules of every folder.
pub fn load_rules(dirs: &[PathBuf]) -> Result<Rules, RulesError> {
    let paths: Vec<&std::path::Path> = dirs.iter().map(PathBuf::as_path).collect();
    let loaded = load::load_dirs(&paths, &sigma::LogsourceMap::default());
    let logsources = loaded.logsources;
    let mut errors = loaded.errors;
    let mut rules = Rules {
        sigma: loaded.rules,
        correlations: loaded.correlations,
        ..Rules::default()
    };
    errors.extend(sigma::apply_filters(&mut rules.sigma, &loaded.filters));
    for dir in dirs {
        let mut stack = vec![dir.clone()];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|x| x == "toml") {
                    let file = path.display().to_string();
                    match std::fs::read_to_string(&path) {
                        Ok(text) => {
                            match threshold::from_toml(&file, &text, &logsources) {
                                Ok(t) => rules.thresholds.extend(t),
                                Err(e) => errors.push(e),
                            }
                            match silence::from_toml(&file, &text) {
                                Ok(s) => rules.silences.extend(s),
                                Err(e) => errors.push(e),
                            }
                        }
                        Err(e) => errors.push(sigma::RuleError {
                            file,
                            construct: "file".into(),
                            message: e.to_string(),
                        }),
                    }
                }
            }
        }
    }
    if !errors.is_empty() {
        return Err(RulesError(errors));
    }
    Ok(rules)
}

/// What an alert says about the rule that raised it.
#[derive(Debug)]
pub struct RuleMeta<'a> {
    /// Title.
    pub title: &'a str,
    /// Id, when it has one.
    pub id: Option<String>,
    /// Level.
    pub level: Level,
    /// ATT&CK and other tags.
    pub tags: &'a [String],
    /// `sigma`, `threshold`, `correlation`, `silence`, `new_template` or `rate_spike`.
    pub kind: &'static str,
    /// Its description, author, license and references, for a Sigma or correlation rule.
    pub about: Option<&'a sigma::About>,
}

/// What `rules` says about `rule`; a rule it does not have (which a correct caller never
/// asks for) reads as unknown rather than panicking.
pub fn rule_meta(rules: &Rules, rule: RuleRef) -> RuleMeta<'_> {
    let meta = |title, id, level, tags, kind| RuleMeta {
        title,
        id,
        level,
        tags,
        kind,
        about: None,
    };
    let unknown = || meta("unknown rule", None, Level::Informational, &[], "unknown");
    match rule {
        RuleRef::Sigma(i) => match rules.sigma.get(i as usize) {
            Some(r) => RuleMeta {
                about: Some(&r.about),
                ..meta(&r.title, r.id.clone(), r.level, &r.tags, "sigma")
            },
            None => unknown(),
        },
        RuleRef::Threshold(i) => match rules.thresholds.get(i as usize) {
            Some(r) => meta(&r.title, Some(r.id.clone()), r.level, &r.tags, "threshold"),
            None => unknown(),
        },
        RuleRef::Correlation(i) => match rules.correlations.get(i as usize) {
            Some(r) => RuleMeta {
                about: Some(&r.about),
                ..meta(&r.title, r.id.clone(), r.level, &r.tags, "correlation")
            },
            None => unknown(),
        },
        RuleRef::Silence(i) => match rules.silences.get(i as usize) {
            Some(r) => meta(&r.title, Some(r.id.clone()), r.level, &[], "silence"),
            None => unknown(),
        },
        RuleRef::NewTemplate(id) => meta(
            "A message of a kind never seen before",
            Some(format!("template-{id}")),
            Level::Low,
            &[],
            "new_template",
        ),
        RuleRef::RateSpike(id) => meta(
            "A kind of message far above its usual rate",
            Some(format!("template-{id}")),
            Level::Medium,
            &[],
            "rate_spike",
        ),
    }
}

/// The syslog severity of an alert of `level`.
pub fn severity(level: Level) -> u8 {
    match level {
        Level::Critical => 2,
        Level::High => 3,
        Level::Medium => 4,
        Level::Low => 5,
        Level::Informational => 6,
    }
}

/// What an alert says about the event(s) behind it.
#[derive(Clone, Copy, Debug, Default)]
pub struct AlertFacts<'a> {
    /// The sender (none for a silence).
    pub src: Option<std::net::SocketAddr>,
    /// The message (the one that completed a threshold or correlation).
    pub message: &'a [u8],
    /// What a counting rule counted: its key, the count, and crossings folded in.
    pub counted: Option<(&'a [u8], u32, u64)>,
    /// First and last event counted (see [`detector::engine::Alert::first_ns`]); 0: unknown.
    pub first_ns: u64,
    /// See `first_ns`.
    pub last_ns: u64,
    /// The message's template, when mined.
    pub template: Option<u64>,
}

impl<'a> AlertFacts<'a> {
    /// What a worker's alert says.
    pub fn of(w: &'a WorkerAlert) -> Self {
        // A silence is about no message: no sender to show.
        let src = w.alert.input.is_some().then_some(w.sample.src);
        Self::of_alert(&w.alert, w.sample.bytes(), src)
    }

    /// What an engine's alert says, on `message` from `src`.
    pub fn of_alert(a: &'a Alert, message: &'a [u8], src: Option<std::net::SocketAddr>) -> Self {
        Self {
            src,
            message,
            counted: (!matches!(a.rule, RuleRef::Sigma(_))).then(|| (a.key(), a.count, a.folded)),
            first_ns: a.first_ns,
            last_ns: a.last_ns,
            template: a.template,
        }
    }
}

/// An RFC 3339 time for a nanosecond time of either clock; none for 0.
pub(crate) fn seen(t_ns: u64) -> serde_json::Value {
    if t_ns == 0 {
        return serde_json::Value::Null;
    }
    let wall = crate::datapath::pipeline::wall_clock_ns(t_ns);
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_nanos(wall);
    humantime::format_rfc3339_micros(t).to_string().into()
}

/// The JSON line of an alert.
pub fn alert_json(rules: &Rules, rule: RuleRef, facts: &AlertFacts<'_>) -> serde_json::Value {
    let RuleMeta {
        title,
        id,
        level,
        tags,
        kind,
        ..
    } = rule_meta(rules, rule);
    let mut v = serde_json::json!({
        "event": "alert",
        "kind": kind,
        "rule": title,
        "id": id,
        "level": level.name(),
        "tags": tags,
        "src": facts.src.map(|s| s.to_string()),
        "first_seen": seen(facts.first_ns),
        "last_seen": seen(facts.last_ns),
        "template": facts.template,
        "message": String::from_utf8_lossy(facts.message),
    });
    if let Some((key, count, folded)) = facts.counted {
        v["key"] = String::from_utf8_lossy(key).into();
        v["count"] = count.into();
        v["folded"] = folded.into();
    }
    v
}
