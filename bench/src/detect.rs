//! `bench detect`: the detection engine's throughput on one core, in one run: the SigmaHQ Linux
//! rules and the native threshold rules over parsed messages of the mixed corpus, and the
//! template miner alone over the LogHub lines. Best of five interleaved rounds.

use std::{hint::black_box, path::Path, time::Instant};

use arrayvec::ArrayVec;
use detector::{
    engine::{
        Alerts, Blueprint, Clock, DEFAULT_BUDGET_BYTES, EngineOptions, Input, LearningOptions,
    },
    mining::{Miner, MinerOptions},
    parse::{Event, FieldIndex, ParseOptions, parse, parse_indexed},
    rules::{
        load::load_dir,
        sigma::{LogsourceMap, SigmaScratch, SigmaSet},
        threshold::{ThresholdEngine, from_toml},
    },
    sketch::{DistinctCount, HeavyHitters, mix64},
};
use ingest::datapath::pipeline::{Message, Path as Via};
use serde::{Deserialize, Serialize};

use crate::parse::mixed_corpus;

/// One measurement.
#[derive(Debug, Clone, Serialize)]
pub struct DetectResult {
    /// What ran.
    pub what: &'static str,
    /// Events (or lines) per second on one core.
    pub events_per_s: f64,
    /// Alerts (or templates) produced in one pass over the corpus.
    pub output: u64,
}

const ROUNDS: usize = 5;

/// How long each measurement runs.
#[derive(Clone, Copy, Debug)]
pub enum Measure {
    /// For about this many seconds, in [`ROUNDS`] rounds; the best round counts.
    Seconds(f64),
    /// Exactly this many passes, once: the same work every run.
    Passes(u64),
}

fn best_rate(how: Measure, n_per_pass: usize, pass: &mut dyn FnMut() -> u64) -> (f64, u64) {
    let seconds = match how {
        Measure::Seconds(s) => s,
        Measure::Passes(n) => {
            let start = Instant::now();
            let mut output = 0;
            for _ in 0..n {
                output = black_box(pass());
            }
            let rate = n as f64 * n_per_pass as f64 / start.elapsed().as_secs_f64();
            return (rate, output);
        }
    };
    let mut best = 0.0f64;
    let mut output = 0;
    for _ in 0..ROUNDS {
        let start = Instant::now();
        let mut passes = 0u64;
        while start.elapsed().as_secs_f64() < seconds / ROUNDS as f64 {
            output = black_box(pass());
            passes += 1;
        }
        best = best.max(passes as f64 * n_per_pass as f64 / start.elapsed().as_secs_f64());
    }
    (best, output)
}

/// Sigma matches (and threshold alerts, with `thresholds`) over `events`.
fn match_events(
    events: &[Event<'_>],
    set: &SigmaSet,
    scratch: &mut SigmaScratch,
    mut thresholds: Option<&mut ThresholdEngine>,
) -> u64 {
    let mut n = 0;
    for e in events {
        set.for_each_match(e, scratch, |_| n += 1);
        if let Some(t) = thresholds.as_deref_mut() {
            t.on_event(e, 0, |_| n += 1);
        }
    }
    n
}

/// Runs the measurements whose name contains `only` (all when empty), each as `how` says.
pub fn run(how: Measure, only: &str) -> anyhow::Result<Vec<DetectResult>> {
    let rules_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../detector/rules");
    let logsources = LogsourceMap::default();
    let loaded = load_dir(&rules_dir.join("sigma-linux"), &logsources);
    let (sigma, errors) = (loaded.rules, loaded.errors);
    anyhow::ensure!(errors.is_empty(), "rules rejected: {errors:?}");
    let text = std::fs::read_to_string(rules_dir.join("native/ssh.toml"))?;
    let thresholds = from_toml("ssh.toml", &text, &logsources)?;
    let corpus = mixed_corpus();
    let opts = ParseOptions::default();
    let events: Vec<Event<'_>> = corpus.iter().map(|m| parse(m, &opts)).collect();

    let mut results = Vec::new();
    let mut measure = |what: &'static str, n_per_pass: usize, pass: &mut dyn FnMut() -> u64| {
        if what.contains(only) {
            let (events_per_s, output) = best_rate(how, n_per_pass, pass);
            results.push(DetectResult {
                what,
                events_per_s,
                output,
            });
        }
    };
    measure("sigma rules (16) one by one", events.len(), &mut || {
        events
            .iter()
            .map(|e| sigma.iter().filter(|r| r.matches(e)).count() as u64)
            .sum()
    });
    let set = SigmaSet::new(sigma.clone());
    let mut scratch = SigmaScratch::default();
    measure(
        "sigma rules (16), prefiltered set",
        events.len(),
        &mut || match_events(&events, &set, &mut scratch, None),
    );
    // Every shipped rule (Linux, auditd, Cisco, Sysmon for Linux), beside the 16 above in the
    // same run: what more rules cost per event.
    let shipped = load_dir(&rules_dir, &logsources);
    anyhow::ensure!(
        shipped.errors.is_empty(),
        "rules rejected: {:?}",
        shipped.errors
    );
    let all = SigmaSet::new(shipped.rules);
    let mut all_scratch = SigmaScratch::default();
    measure(
        "sigma rules (all shipped), prefiltered set",
        events.len(),
        &mut || match_events(&events, &all, &mut all_scratch, None),
    );
    // Ten times the shipped rules: each with nine variants whose every value is rotated, as
    // SigmaHQ's rules of the same families differ from these (other programs, paths, flags in
    // the same shapes). What a large rule set costs per event, beside the two rows above.
    let many = SigmaSet::new(rule_variants(&rules_dir, &logsources, 9)?);
    let mut many_scratch = SigmaScratch::default();
    measure(
        "sigma rules (ten times the shipped), prefiltered set",
        events.len(),
        &mut || match_events(&events, &many, &mut many_scratch, None),
    );
    log::info!(
        "ten times the shipped rules: {} loaded, {} literals in {} prefilters, all \
         screened: {}; the shipped: {} literals in {} prefilters",
        many.rules().len(),
        many.literals().len(),
        many.routes(),
        many.screened(),
        all.literals().len(),
        all.routes()
    );
    let mut engine = ThresholdEngine::new(thresholds.clone(), 100_000);
    let mut now = 0u64;
    measure("threshold rules, parsed events", events.len(), &mut || {
        let mut alerts = 0;
        for e in &events {
            now += 1_000;
            engine.on_event(e, now, |_| alerts += 1);
        }
        alerts
    });
    measure(
        "sigma + thresholds, parsed events",
        events.len(),
        &mut || match_events(&events, &set, &mut scratch, Some(&mut engine)),
    );
    // Parsed as a worker parses: the payload's fields kept in an index the rules read.
    let mut index = FieldIndex::default();
    measure("parse + sigma + thresholds", corpus.len(), &mut || {
        let mut n = 0;
        for m in &corpus {
            let e = parse_indexed(m, &opts, &mut index);
            set.for_each_match(&e, &mut scratch, |_| n += 1);
            engine.on_event(&e, 0, |_| n += 1);
        }
        n
    });
    // A worker's whole path per message, as `ingest run --learn` takes it off an AF_XDP ring
    // in batches of 64: counting, parsing, every shipped rule (Sigma with its correlations, the
    // native rules), template mining, rate baselines, top and distinct senders, stage
    // latencies, alerts into their ring. On the end-to-end benchmark's traffic: LogHub bodies
    // in RFC 3164, RFC 5424, CEF and JSON from 2,000 hosts (the datagrams that travel whole).
    let rules = ingest::rules::load_rules(std::slice::from_ref(&rules_dir))?;
    let blueprint = Blueprint::new(
        &rules,
        EngineOptions {
            learning: Some(LearningOptions::default()),
            clock: Clock::Arrival,
            budget_bytes: DEFAULT_BUDGET_BYTES,
        },
    );
    // What the AF_XDP path adds before parsing: the header walk, and the checksum checks the
    // kernel stack would have made (`--checksums verify`, the default) or not (`accept`).
    let frames = e2e_frames();
    for (what, checksums) in [
        (
            "frame decode, checksums accepted",
            ingest::datapath::frame::Checksums::Accept,
        ),
        (
            "frame decode, checksums verified",
            ingest::datapath::frame::Checksums::Verify,
        ),
    ] {
        measure(what, frames.len(), &mut || {
            frames
                .iter()
                .filter(|f| ingest::datapath::frame::decode(f, checksums).is_ok())
                .count() as u64
        });
    }
    let mix = e2e_mix();
    let (out, mut inbox) = ingest::datapath::pipeline::outbox(1 << 16, 1);
    let mut pipeline =
        ingest::datapath::pipeline::Pipeline::new(0, false, Box::new(blueprint.engine()), out);
    measure(
        "worker: parse + every rule + learning",
        mix.len(),
        &mut || {
            for batch in mix.chunks(64) {
                let pickup_ns = ingest::datapath::pipeline::monotonic_ns();
                let msgs: ArrayVec<Message<'_>, 64> = batch
                    .iter()
                    .map(|(src, payload)| Message {
                        path: Via::Xdp,
                        src: *src,
                        dst_port: 514,
                        vlan: None,
                        payload,
                        arrival_ns: Some(pickup_ns),
                    })
                    .collect();
                pipeline.handle_batch(&msgs, pickup_ns);
                pipeline.between_batches();
            }
            let mut alerts = 0;
            while inbox.alerts.pop().is_ok() {
                alerts += 1;
            }
            alerts
        },
    );
    // The engine alone on the same messages, parsed once beforehand: what detection costs.
    let parsed: Vec<Input<'_>> = mix
        .iter()
        .map(|(src, payload)| Input {
            event: parse(payload, &opts),
            source: Some(detector::engine::source_key(src.ip())),
            arrival_ns: 0,
        })
        .collect();
    let mut engine = blueprint.engine();
    let mut raised = Alerts::new(1 << 16);
    let mut clock = 0u64;
    measure("engine: every rule + learning", parsed.len(), &mut || {
        let mut alerts = 0;
        for batch in parsed.chunks(64) {
            clock += 64_000;
            let batch: ArrayVec<Input<'_>, 64> = batch
                .iter()
                .map(|i| Input {
                    arrival_ns: clock,
                    ..*i
                })
                .collect();
            engine.run(&batch, &mut raised);
            alerts += raised.len() as u64;
            raised.clear();
        }
        alerts
    });
    // Top sources, as each worker counts them: a heavy-tailed mix (a few loud devices), and the
    // worst case, every message from another of 100,000 devices (each one a replacement).
    let skewed: Vec<u128> = (0..100_000u32)
        .map(|i| u128::from(i.trailing_zeros().min(12) * 7 + i % 3))
        .collect();
    let distinct: Vec<u128> = (0..100_000u32).map(|i| u128::from(i) << 32).collect();
    for (what, keys) in [
        ("top sources (32), heavy-tailed", &skewed),
        ("top sources (32), all distinct", &distinct),
    ] {
        measure(what, keys.len(), &mut || {
            let mut top = HeavyHitters::<u128, 32>::default();
            for &k in keys {
                top.add(k);
            }
            top.top(1)[0].count
        });
    }
    measure(
        "distinct senders (HyperLogLog, 1024)",
        distinct.len(),
        &mut || {
            let mut count = DistinctCount::<1024>::default();
            for &k in &distinct {
                count.add_hash(mix64(k));
            }
            count.estimate()
        },
    );
    let lines: Vec<String> = ["OpenSSH", "Linux", "HDFS", "Apache"]
        .iter()
        .flat_map(|name| {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join(format!("../detector/tests/data/loghub/{name}_2k.log"));
            std::fs::read_to_string(path)
                .unwrap_or_default()
                .lines()
                .map(|l| {
                    let e = parse(l.as_bytes(), &opts);
                    String::from_utf8_lossy(e.body).into_owned()
                })
                .collect::<Vec<_>>()
        })
        .collect();
    // The miner as a worker keeps it: made once, so after the first pass every line is a
    // known kind (the fast paths).
    let mut miner = Miner::new(MinerOptions::default().within(16 << 20));
    measure("template miner, LogHub lines", lines.len(), &mut || {
        for l in &lines {
            miner.add(l);
        }
        miner.len() as u64
    });
    // Learning from scratch: every line seen for the first time by a new miner (made, and
    // its memory committed, outside the timing).
    let what = "template miner, LogHub lines, first sight";
    if what.contains(only) {
        let mut best = 0.0f64;
        let mut kinds = 0;
        for _ in 0..ROUNDS {
            let mut fresh = Miner::new(MinerOptions::default().within(16 << 20));
            let start = Instant::now();
            for l in &lines {
                black_box(fresh.add(l));
            }
            best = best.max(lines.len() as f64 / start.elapsed().as_secs_f64());
            kinds = fresh.len() as u64;
        }
        results.push(DetectResult {
            what,
            events_per_s: best,
            output: kinds,
        });
    }
    Ok(results)
}

/// The end-to-end benchmark's traffic (`bench e2e`'s generator, 2,000 hosts): the sender and
/// payload of every datagram that travels whole (fragments go to the kernel, not to a worker).
/// Twenty thousand datagrams, 3 MB: a worker's frames are in cache when it reads them (the
/// kernel or the NIC has just written them), and so is this mix.
fn e2e_mix() -> Vec<(std::net::SocketAddr, Vec<u8>)> {
    e2e_frames()
        .iter()
        .filter_map(|f| {
            ingest::datapath::frame::decode_udp(f)
                .ok()
                .map(|d| (d.src, d.payload.to_vec()))
        })
        .collect()
}

/// The frames of [`e2e_mix`], as they arrive on an AF_XDP ring.
fn e2e_frames() -> Vec<Vec<u8>> {
    let capture = crate::traffic::generate(crate::traffic::GenOptions {
        seed: 1,
        messages: 20_000,
        rate: 10_000.0,
        hosts: 2000,
    });
    capture
        .frames
        .into_iter()
        .map(|(_, f)| f)
        .filter(|f| ingest::datapath::frame::decode_udp(f).is_ok())
        .collect()
}

/// The readable table.
pub fn print_table(results: &[DetectResult]) {
    println!("{:<36} {:>14} {:>8}", "what", "per s, 1 core", "output");
    for r in results {
        println!("{:<36} {:>14.0} {:>8}", r.what, r.events_per_s, r.output);
    }
}

/// The arguments of `bench detect`.
#[derive(Debug, clap::Args)]
pub struct DetectArgs {
    /// Seconds per measurement.
    #[arg(long, default_value_t = 2.0)]
    pub(crate) seconds: f64,
    /// Keep only measurements whose name contains this.
    #[arg(long, default_value = "")]
    pub(crate) only: String,
    /// Run each measurement exactly this many passes over its corpus, once, instead of
    /// for a time: the same work every run, for instruction counts (`valgrind --tool=
    /// cachegrind`) and profiles to compare.
    #[arg(long)]
    pub(crate) passes: Option<u64>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `bench detect`.
pub fn command(args: DetectArgs) -> anyhow::Result<()> {
    let DetectArgs {
        seconds,
        only,
        passes,
        json,
    } = args;
    let how = match passes {
        Some(n) => Measure::Passes(n),
        None => Measure::Seconds(seconds),
    };
    let results = run(how, &only)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    } else {
        print_table(&results);
    }
    Ok(())
}

/// Every shipped Sigma detection rule under `dir` and `copies` variants of each: the same rule
/// with each value of its detection rotated by one to `copies` characters (so its literals
/// keep their letters and lengths but not their text), its title marked. Variants that no
/// longer compile (a rotated regex) are left out.
fn rule_variants(
    dir: &Path,
    logsources: &LogsourceMap,
    copies: usize,
) -> anyhow::Result<Vec<detector::rules::sigma::SigmaRule>> {
    use detector::rules::sigma::SigmaRule;
    use serde_yaml_ng::Value;
    fn rotate(v: &mut Value, by: usize) {
        match v {
            Value::String(s) => {
                let chars: Vec<char> = s.chars().collect();
                if chars.len() > 1 {
                    let k = by % chars.len();
                    *s = chars[k..].iter().chain(&chars[..k]).collect();
                }
            }
            Value::Sequence(items) => items.iter_mut().for_each(|i| rotate(i, by)),
            Value::Mapping(m) => m.iter_mut().for_each(|(_, v)| rotate(v, by)),
            _ => {}
        }
    }
    let mut files = Vec::new();
    for sub in std::fs::read_dir(dir)? {
        let sub = sub?.path();
        if sub.is_dir()
            && sub
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("sigma"))
        {
            for f in std::fs::read_dir(&sub)? {
                let f = f?.path();
                if f.extension().is_some_and(|e| e == "yml") {
                    files.push(f);
                }
            }
        }
    }
    files.sort();
    let mut rules = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f)?;
        let name = f.display().to_string();
        for doc in serde_yaml_ng::Deserializer::from_str(&text) {
            let doc = Value::deserialize(doc)?;
            if doc.get("detection").is_none() || doc.get("correlation").is_some() {
                continue;
            }
            rules.push(SigmaRule::from_value(&name, &doc, logsources)?);
            for k in 1..=copies {
                let mut v = doc.clone();
                if let Some(Value::Mapping(detection)) = v.get_mut("detection") {
                    for (key, search) in detection.iter_mut() {
                        if key.as_str() != Some("condition") && key.as_str() != Some("timeframe") {
                            rotate(search, k);
                        }
                    }
                }
                v["title"] = Value::String(format!(
                    "{} (variant {k})",
                    doc["title"].as_str().unwrap_or("")
                ));
                if let Value::Mapping(m) = &mut v {
                    m.remove("id");
                    m.remove("name");
                }
                if let Ok(r) = SigmaRule::from_value(&name, &v, logsources) {
                    rules.push(r);
                }
            }
        }
    }
    Ok(rules)
}
