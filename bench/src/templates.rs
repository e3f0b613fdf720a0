//! `bench templates`: the template miner on the shared LogHub samples, grouping accuracy and
//! speed in one run, so that a change shows both. Per sample: grouping accuracy of the groups at
//! the end and of the ids as lines arrived ([`detector::mining::score`]), the templates kept,
//! and lines per second on one core when every line is new to the miner (a fresh miner each
//! round, made outside the timing) and when every line is of a known kind (the worker's case).
//! Best of five rounds. One configuration for every sample: the defaults.

use std::{hint::black_box, path::Path, time::Instant};

use anyhow::Context;
use detector::mining::{Miner, MinerOptions, score::Labelled};
use serde::Serialize;

/// The samples, in `detector/tests/data/loghub/`.
pub const SAMPLES: [&str; 4] = ["HDFS", "Apache", "Linux", "OpenSSH"];

const ROUNDS: usize = 5;

/// One sample's figures.
#[derive(Debug, Clone, Serialize)]
pub struct TemplatesResult {
    /// The sample.
    pub sample: &'static str,
    /// Lines in it.
    pub lines: usize,
    /// Grouping accuracy of the groups at the end.
    pub accuracy: f64,
    /// Grouping accuracy of the ids as lines arrived.
    pub accuracy_at_arrival: f64,
    /// Templates kept at the end.
    pub templates: usize,
    /// Lines per second, every line new to a fresh miner.
    pub first_sight_per_s: f64,
    /// Lines per second, every line of a known kind.
    pub known_per_s: f64,
}

/// Measures every sample.
pub fn run() -> anyhow::Result<Vec<TemplatesResult>> {
    let opts = MinerOptions::default();
    SAMPLES
        .iter()
        .map(|&sample| {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!(
                "../detector/tests/data/loghub/{sample}_2k.log_structured.csv"
            ));
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            let labelled = Labelled::from_structured_csv(&text)
                .with_context(|| format!("reading {}", path.display()))?;
            let scored = labelled.mine(opts);
            let lines = &labelled.contents;
            let mut first_sight = 0.0f64;
            let mut known = 0.0f64;
            for _ in 0..ROUNDS {
                let mut miner = Miner::new(opts);
                first_sight = first_sight.max(rate(lines.len(), || {
                    for l in lines {
                        black_box(miner.add(l));
                    }
                }));
                known = known.max(rate(lines.len(), || {
                    for l in lines {
                        black_box(miner.add(l));
                    }
                }));
            }
            Ok(TemplatesResult {
                sample,
                lines: lines.len(),
                accuracy: scored.accuracy.at_end,
                accuracy_at_arrival: scored.accuracy.at_arrival,
                templates: scored.miner.len(),
                first_sight_per_s: first_sight,
                known_per_s: known,
            })
        })
        .collect()
}

/// Lines per second of one timed pass over `n` lines.
fn rate(n: usize, pass: impl FnOnce()) -> f64 {
    let start = Instant::now();
    pass();
    n as f64 / start.elapsed().as_secs_f64()
}

/// Prints the results as a table, with the average accuracy.
pub fn print_table(results: &[TemplatesResult]) {
    println!(
        "{:<8} {:>6} {:>9} {:>11} {:>9} {:>14} {:>14}",
        "sample", "lines", "accuracy", "at arrival", "templates", "new lines/s", "known lines/s"
    );
    for r in results {
        println!(
            "{:<8} {:>6} {:>9.4} {:>11.4} {:>9} {:>14.0} {:>14.0}",
            r.sample,
            r.lines,
            r.accuracy,
            r.accuracy_at_arrival,
            r.templates,
            r.first_sight_per_s,
            r.known_per_s
        );
    }
    let mean = results.iter().map(|r| r.accuracy).sum::<f64>() / results.len().max(1) as f64;
    println!("average accuracy {mean:.4}");
}

/// The arguments of `bench templates`.
#[derive(Debug, clap::Args)]
pub struct TemplatesArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `bench templates`.
pub fn command(args: TemplatesArgs) -> anyhow::Result<()> {
    let TemplatesArgs { json } = args;
    let results = run()?;
    if json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    } else {
        print_table(&results);
    }
    Ok(())
}
