//! One memory budget holds for all of an engine's per-key state, allocated when the engine is
//! made: a counting allocator measures the heap the new engine holds, which must stay within
//! the budget and never grow. Then two million distinct sources (each its own host, address
//! and, one in four, its own kind of message) go through its threshold, correlation and silence
//! rules, the template miner and the rate baselines; every table must have filled and counted
//! its evictions.

use detector::{
    engine::{
        Alerts, Blueprint, Clock, EngineOptions, Input, LearningOptions, RuleRef, Rules, StateTable,
    },
    parse::{ParseOptions, parse},
    rules::{
        correlation::CorrelationRule,
        sigma::{LogsourceMap, SigmaRule},
        silence, threshold,
    },
};

use crate::alloc::live;

const THRESHOLD: &str = r#"
[[threshold]]
id = "ssh-brute-force"
title = "SSH brute force"
level = "high"
service = "sshd"
contains = ["Failed password"]
group_by = { regex = 'from ([0-9.]+)' }
count = 8
window = "120s"
suppress = "60s"

[[silence]]
id = "quiet-host"
title = "A host stopped sending"
group_by = "host"
factor = 5
min_events = 4
min_quiet = "1s"
"#;

const CORRELATION: &str = "title: Failed password\nname: failed\nlogsource: {product: linux}\n\
    detection: {keywords: ['Failed password'], condition: keywords}\n";
const CORRELATED: &str = "title: Many failures per host\ncorrelation:\n  type: event_count\n  \
    rules: [failed]\n  group-by: [host]\n  timespan: 10m\n  condition: {gte: 5}\n";

#[test]
fn every_kind_of_state_stays_within_one_budget_allocated_at_start() {
    let logsources = LogsourceMap::default();
    let sigma = vec![
        SigmaRule::from_value(
            "c.yml",
            &serde_yaml_ng::from_str(CORRELATION).unwrap(),
            &logsources,
        )
        .unwrap(),
    ];
    let rules = Rules {
        thresholds: threshold::from_toml("t.toml", THRESHOLD, &logsources).unwrap(),
        silences: silence::from_toml("t.toml", THRESHOLD).unwrap(),
        correlations: vec![
            CorrelationRule::from_value(
                "c.yml",
                &serde_yaml_ng::from_str(CORRELATED).unwrap(),
                &sigma,
            )
            .unwrap(),
        ],
        sigma,
    };
    let budget = 64 << 20;
    let blueprint = Blueprint::new(
        &rules,
        EngineOptions {
            learning: Some(LearningOptions {
                warmup_messages: u64::MAX,
                ..LearningOptions::default()
            }),
            clock: Clock::Arrival,
            budget_bytes: budget,
        },
    );
    // The test's own line buffer, at its full size before counting starts.
    let mut line = String::with_capacity(512);
    let before = live();
    let mut engine = blueprint.engine();
    let mut alerts = Alerts::new(64);
    let held = (live() - before) as usize;
    let stats = engine.stats();
    assert!(
        held <= budget,
        "{held} bytes held for a {budget}-byte budget"
    );
    assert!(
        stats.state_bytes as usize <= budget && stats.state_bytes as usize > budget / 2,
        "the tables take the budget they were given: {stats:?}"
    );

    let opts = ParseOptions::default();
    let sources = 2_000_000u64;
    let mut kinds = 0u64;
    for i in 0..sources {
        let ip = format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255);
        line.clear();
        if i % 4 == 0 {
            // A kind of message never seen: three words of its own.
            let mut x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
            let mut word = || {
                (0..7)
                    .map(|_| {
                        x = x.rotate_left(5) ^ 0x2545_f491;
                        char::from(b'a' + (x % 26) as u8)
                    })
                    .collect::<String>()
            };
            kinds += 1;
            let words = [word(), word(), word()].join(" ");
            line.push_str(&format!(
                "<38>Nov 22 10:00:00 h{i} sshd[1]: {words} from {ip}"
            ));
        } else {
            line.push_str(&format!(
                "<38>Nov 22 10:00:00 h{i} sshd[1]: Failed password for root from {ip} port 22 ssh2"
            ));
        }
        let input = Input {
            event: parse(line.as_bytes(), &opts),
            source: Some(u128::from(i)),
            arrival_ns: i * 1000,
        };
        engine.run(std::slice::from_ref(&input), &mut alerts);
        // One event per source, host and kind: only the Sigma rule matches.
        assert!(
            alerts
                .as_slice()
                .iter()
                .all(|a| a.rule == RuleRef::Sigma(0)),
            "{:?}",
            alerts.as_slice()
        );
        alerts.clear();
    }
    assert_eq!(
        (live() - before) as usize,
        held,
        "running allocated nothing it kept"
    );
    let s = engine.stats();
    // Printed only now: the test harness keeps what is printed on the heap of this thread.
    eprintln!("engine: {held} bytes held of {budget}; after {sources} sources: {s:?}");
    let kept = |t: StateTable| s.keys[t as usize];
    let evicted = |t: StateTable| s.evicted[t as usize];
    // Every table filled, kept a useful number of keys, and counted what it let go. The
    // never-seen kinds pile into the few leaves the tree's limits leave them, and those leaves'
    // limit evicts them: the miner keeps what is used, and counts what it lets go.
    // The audit join is fixed in size, outside the budget, and this traffic has no audit
    // records.
    for t in StateTable::ALL
        .into_iter()
        .filter(|&t| t != StateTable::AuditEvents)
    {
        let useful = if t == StateTable::Templates {
            100
        } else {
            5_000
        };
        assert!(kept(t) > useful && evicted(t) > 0, "{}: {s:?}", t.name());
    }
    assert_eq!(
        kept(StateTable::Threshold) + evicted(StateTable::Threshold),
        sources * 3 / 4,
        "every source with a failed password is kept or counted out"
    );
    assert_eq!(
        kept(StateTable::Templates) + evicted(StateTable::Templates),
        kinds + 1,
        "every kind is kept or counted out (and the failed password's one)"
    );
}
