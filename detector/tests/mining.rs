//! Template mining on the four LogHub samples, scored the way Zhu et al. ("Tools and Benchmarks
//! for Automated Log Parsing", ICSE-SEIP 2019) score log parsers: a line counts as correct when
//! the set of lines in its predicted group equals the set of lines sharing its true EventId.
//! Generic masking only, the same options for every data set. `MINING_DEBUG=<data set>` prints
//! the groups that merge or split true events.

use std::collections::HashMap;

use common::csv_fields;
use detector::mining::{Miner, MinerOptions};

mod common;

/// Grouping accuracy of the miner on `name`'s Content column.
fn accuracy(name: &str) -> f64 {
    let csv = std::fs::read_to_string(format!(
        "{}/tests/data/loghub/{name}_2k.log_structured.csv",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let mut lines = csv.lines();
    let header = csv_fields(lines.next().unwrap());
    let col = |n: &str| header.iter().position(|h| h == n).unwrap();
    let (content, event) = (col("Content"), col("EventId"));
    let mut miner = Miner::new(MinerOptions::default());
    let mut predicted = Vec::new();
    let mut truth = Vec::new();
    for line in lines {
        let f = csv_fields(line);
        predicted.push(miner.add(&f[content]).id);
        truth.push(f[event].clone());
    }
    // Line indexes of every predicted group and every true event.
    let mut by_pred: HashMap<u64, Vec<usize>> = HashMap::new();
    let mut by_truth: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, (p, t)) in predicted.iter().zip(&truth).enumerate() {
        by_pred.entry(*p).or_default().push(i);
        by_truth.entry(t).or_default().push(i);
    }
    if std::env::var("MINING_DEBUG").ok().as_deref() == Some(name) {
        let mut bad: HashMap<u64, HashMap<&str, usize>> = HashMap::new();
        for (p, t) in predicted.iter().zip(&truth) {
            *bad.entry(*p).or_default().entry(t).or_default() += 1;
        }
        for (p, ts) in &bad {
            if ts.len() > 1 {
                eprintln!(
                    "MERGED {}: {:?}",
                    miner.template(*p).map(|t| t.text()).unwrap_or_default(),
                    ts
                );
            }
        }
        let mut split: HashMap<&str, std::collections::HashSet<u64>> = HashMap::new();
        for (p, t) in predicted.iter().zip(&truth) {
            split.entry(t).or_default().insert(*p);
        }
        for (t, ps) in &split {
            if ps.len() > 1 {
                let texts: Vec<String> = ps
                    .iter()
                    .take(4)
                    .map(|p| miner.template(*p).map(|t| t.text()).unwrap_or_default())
                    .collect();
                eprintln!("SPLIT {t} into {}: {:?}", ps.len(), texts);
            }
        }
    }
    let correct = (0..predicted.len())
        .filter(|&i| by_pred[&predicted[i]] == by_truth[truth[i].as_str()])
        .count();
    correct as f64 / predicted.len() as f64
}

#[test]
fn grouping_accuracy_on_loghub_against_published_drain() {
    // Published Drain accuracy (Zhu et al. 2019, table of grouping accuracy).
    let published = [
        ("HDFS", 0.998),
        ("Apache", 1.0),
        ("Linux", 0.690),
        ("OpenSSH", 0.788),
    ];
    let mut report = Vec::new();
    for (name, drain) in published {
        let ours = accuracy(name);
        report.push(format!("{name}: {ours:.4} (Drain {drain:.3})"));
    }
    eprintln!("{}", report.join("; "));
    for (name, drain) in published {
        assert!(
            accuracy(name) >= drain,
            "{name} below Drain: {}",
            report.join("; ")
        );
    }
}
