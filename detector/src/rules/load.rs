//! Loading folders of Sigma YAML: processing pipelines, detection rules, filters, and the
//! correlation rules that refer to them (which need the detection rules first, so all are
//! read here).

use std::path::Path;

use serde_yaml_ng::Value;

use super::{
    correlation::CorrelationRule,
    sigma::{LogsourceMap, RuleError, SigmaFilter, SigmaRule},
};

/// What [`load_dir`] found.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Detection rules.
    pub rules: Vec<SigmaRule>,
    /// Correlation rules, referring to `rules` by index.
    pub correlations: Vec<CorrelationRule>,
    /// Sigma filters, not yet applied: they may be about rules of other folders (see
    /// [`super::sigma::apply_filters`]).
    pub filters: Vec<SigmaFilter>,
    /// Every file or document that failed, with why.
    pub errors: Vec<RuleError>,
    /// The log source map the rules were compiled with: the one given, extended by the
    /// folders' processing pipelines.
    pub logsources: LogsourceMap,
}

/// Every rule of a folder: see [`load_dirs`].
pub fn load_dir(dir: &Path, logsources: &LogsourceMap) -> Loaded {
    load_dirs(&[dir], logsources)
}

/// Every rule of the folders (`*.yml`, `*.yaml`, recursively; several YAML documents per file
/// are allowed): processing pipelines first (documents with `transformations:`, in the order of
/// their `priority`), which extend `logsources` for every rule of every folder; then detection
/// rules, filters, and the correlation rules that refer to the rules.
pub fn load_dirs(dirs: &[&Path], logsources: &LogsourceMap) -> Loaded {
    let mut loaded = Loaded {
        logsources: logsources.clone(),
        ..Loaded::default()
    };
    let mut files = Vec::new();
    for dir in dirs {
        let mut stack = vec![dir.to_path_buf()];
        let mut found = Vec::new();
        while let Some(d) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&d) else {
                loaded.errors.push(RuleError {
                    file: d.display().to_string(),
                    construct: "folder".into(),
                    message: "cannot be read".into(),
                });
                continue;
            };
            for e in entries.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "yml" || x == "yaml") {
                    found.push(p);
                }
            }
        }
        found.sort();
        files.extend(found);
    }
    let mut docs = Vec::new();
    for p in files {
        let file = p.display().to_string();
        let text = match std::fs::read_to_string(&p) {
            Ok(t) => t,
            Err(e) => {
                loaded.errors.push(RuleError {
                    file,
                    construct: "file".into(),
                    message: e.to_string(),
                });
                continue;
            }
        };
        for doc in serde_yaml_ng::Deserializer::from_str(&text) {
            match <Value as serde::Deserialize>::deserialize(doc) {
                Ok(v) => docs.push((file.clone(), v)),
                Err(e) => {
                    loaded.errors.push(RuleError {
                        file: file.clone(),
                        construct: "yaml".into(),
                        message: e.to_string(),
                    });
                    break;
                }
            }
        }
    }
    let (mut pipelines, docs): (Vec<_>, Vec<_>) = docs
        .into_iter()
        .partition(|(_, d)| LogsourceMap::is_pipeline(d));
    pipelines.sort_by_key(|(_, d)| LogsourceMap::priority(d));
    for (file, doc) in &pipelines {
        if let Err(e) = loaded.logsources.add_pipeline(file, doc) {
            loaded.errors.push(e);
        }
    }
    let mut pending = Vec::new();
    for (file, doc) in docs {
        if doc.get("correlation").is_some() {
            pending.push((file, doc));
        } else if SigmaFilter::is_filter(&doc) {
            match SigmaFilter::from_value(&file, &doc, &loaded.logsources) {
                Ok(f) => loaded.filters.push(f),
                Err(e) => loaded.errors.push(e),
            }
        } else {
            match SigmaRule::from_value(&file, &doc, &loaded.logsources) {
                Ok(r) => loaded.rules.push(r),
                Err(e) => loaded.errors.push(e),
            }
        }
    }
    for (file, doc) in pending {
        match CorrelationRule::from_value(&file, &doc, &loaded.rules) {
            Ok(c) => loaded.correlations.push(c),
            Err(e) => loaded.errors.push(e),
        }
    }
    loaded
}
