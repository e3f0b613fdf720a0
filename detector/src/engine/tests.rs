use super::*;
use crate::{
    parse::{ParseOptions, parse},
    rules::{sigma::LogsourceMap, silence, threshold},
};

const SIGMA: &str = "title: Failed password\nid: 5a1c\nlogsource: {product: linux}\n\
                     detection:\n  keywords: ['Failed password']\n  condition: keywords\n";

const NATIVE: &str = r#"
[[threshold]]
id = "brute"
title = "brute force"
contains = ["Failed password"]
group_by = { regex = 'from ([0-9.]+)' }
count = 3
window = "60s"

[[silence]]
id = "quiet"
title = "quiet"
group_by = "host"
factor = 5
min_events = 5
min_quiet = "10s"
"#;

fn rules() -> Rules {
    let logsources = LogsourceMap::default();
    Rules {
        sigma: vec![
            crate::rules::sigma::SigmaRule::from_yaml("f.yml", SIGMA, &logsources).unwrap(),
        ],
        correlations: Vec::new(),
        thresholds: threshold::from_toml("n.toml", NATIVE, &logsources).unwrap(),
        silences: silence::from_toml("n.toml", NATIVE).unwrap(),
    }
}

fn engine(learning: Option<LearningOptions>, clock: Clock) -> Engine {
    Blueprint::new(
        &rules(),
        EngineOptions {
            learning,
            clock,
            budget_bytes: 4 << 20,
        },
    )
    .engine()
}

fn inputs<'a>(lines: &'a [String], arrival_ns: u64) -> Vec<Input<'a>> {
    lines
        .iter()
        .enumerate()
        .map(|(i, l)| Input {
            event: parse(l.as_bytes(), &ParseOptions::default()),
            source: Some(source_key(std::net::IpAddr::from([198, 18, 0, i as u8]))),
            arrival_ns,
        })
        .collect()
}

#[test]
fn alerts_name_their_message_in_the_batch_and_its_template() {
    let mut e = engine(Some(LearningOptions::default()), Clock::Arrival);
    let lines: Vec<String> = [
        "<38>1 - h sshd 1 - - Accepted password for alice from 198.51.100.1 port 22",
        "<38>1 - h sshd 1 - - Failed password for root from 198.51.100.7 port 22",
        "<38>1 - h sshd 1 - - Failed password for root from 198.51.100.7 port 23",
        "<38>1 - h sshd 1 - - Failed password for root from 198.51.100.7 port 24",
    ]
    .map(String::from)
    .to_vec();
    let mut out = Alerts::new(16);
    e.run(&inputs(&lines, 7), &mut out);
    let got: Vec<(RuleRef, Option<u16>)> =
        out.as_slice().iter().map(|a| (a.rule, a.input)).collect();
    assert_eq!(
        got,
        [
            (RuleRef::Sigma(0), Some(1)),
            (RuleRef::Sigma(0), Some(2)),
            (RuleRef::Sigma(0), Some(3)),
            (RuleRef::Threshold(0), Some(3)),
        ],
        "matches first, then the threshold the third one crossed"
    );
    let threshold = &out.as_slice()[3];
    assert_eq!(
        (threshold.key(), threshold.count, threshold.last_ns),
        (&b"198.51.100.7"[..], 3, 7)
    );
    let template = out.as_slice()[1].template.expect("mined");
    assert!(
        out.as_slice()[1..]
            .iter()
            .all(|a| a.template == Some(template))
    );
    assert_eq!(
        e.template_text(template).unwrap(),
        "Failed password for root from <*> port <*>"
    );
    assert_eq!(e.distinct_sources().estimate(), 4);
    let stats = e.stats();
    assert_eq!(stats.keys[StateTable::Threshold as usize], 1);
    assert_eq!(stats.keys[StateTable::Templates as usize], 2);
    assert!(
        stats.state_bytes > 0 && stats.state_bytes <= 4 << 20,
        "{stats:?}"
    );
}

#[test]
fn new_templates_alert_only_after_the_warm_up_across_batches() {
    let mut e = engine(
        Some(LearningOptions {
            warmup_messages: 5,
            ..LearningOptions::default()
        }),
        Clock::Arrival,
    );
    // Seven kinds of message, one each: the sixth and seventh come after five messages.
    let lines: Vec<String> = (0..7)
        .map(|i| {
            format!(
                "<14>1 - h app - - - {} happened",
                ["a", "b", "c", "d", "e", "f", "g"][i]
            )
        })
        .collect();
    let mut out = Alerts::new(16);
    e.run(&inputs(&lines[..4], 1), &mut out);
    e.run(&inputs(&lines[4..], 2), &mut out);
    let new: Vec<(Option<u16>, &[u8])> = out
        .as_slice()
        .iter()
        .filter(|a| matches!(a.rule, RuleRef::NewTemplate(_)))
        .map(|a| (a.input, a.key()))
        .collect();
    assert_eq!(
        new,
        [(Some(1), &b"f happened"[..]), (Some(2), &b"g happened"[..])]
    );
}

#[test]
fn a_batch_longer_than_a_stage_runs_in_chunks_and_keeps_its_indexes() {
    let mut e = engine(None, Clock::Arrival);
    let lines: Vec<String> = (0..150)
        .map(|i| format!("<38>1 - h sshd 1 - - Failed password for root from 198.51.{i}.7"))
        .collect();
    let mut out = Alerts::new(1000);
    e.run(&inputs(&lines, 1), &mut out);
    let matched: Vec<u16> = out
        .as_slice()
        .iter()
        .filter(|a| a.rule == RuleRef::Sigma(0))
        .filter_map(|a| a.input)
        .collect();
    assert_eq!(matched, (0..150).collect::<Vec<u16>>());
}

#[test]
fn a_full_alert_buffer_drops_and_counts() {
    let mut e = engine(None, Clock::Arrival);
    let lines: Vec<String> = (0..10)
        .map(|i| format!("<38>1 - h sshd 1 - - Failed password from 198.51.{i}.7"))
        .collect();
    let mut out = Alerts::new(4);
    e.run(&inputs(&lines, 1), &mut out);
    assert_eq!((out.len(), out.overflowed()), (4, 6));
}

#[test]
fn on_the_event_clock_a_replayed_silence_is_seen_however_fast_it_arrives() {
    let run = |clock: Clock| {
        let mut e = engine(None, clock);
        let mut out = Alerts::new(64);
        // One minute of a capture at once: host a every second for 20 s, then only host b,
        // every second, until 60 s.
        let lines: Vec<String> = (0..60u32)
            .map(|s| {
                let host = if s < 20 { "a" } else { "b" };
                format!("<14>1 2026-11-22T10:00:{s:02}Z {host} app - - - tick")
            })
            .collect();
        for line in &lines {
            e.run(&inputs(std::slice::from_ref(line), 1_000), &mut out);
            e.tick(1_000, &mut out);
        }
        e.tick(3_000_000_000, &mut out);
        out.as_slice()
            .iter()
            .filter(|a| matches!(a.rule, RuleRef::Silence(_)))
            .map(|a| (a.key().to_vec(), a.input))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        run(Clock::Event),
        [(b"a".to_vec(), None)],
        "a was quiet 40 s of event time"
    );
    assert!(
        run(Clock::Arrival).is_empty(),
        "on arrival time it was a blink"
    );
}

/// An audit `execve` whose PROCTITLE never comes is joined at the tick a second after its
/// last record, and the rules run on it then; its alert names no message of a batch.
#[test]
fn an_audit_event_without_its_last_record_is_joined_at_the_tick() {
    let logsources = LogsourceMap::default();
    let rule = "title: curl\nlogsource: {category: process_creation, product: linux}\n\
                detection:\n  sel: {Image|endswith: '/curl'}\n  condition: sel\n";
    let rules = Rules {
        sigma: vec![crate::rules::sigma::SigmaRule::from_yaml("c.yml", rule, &logsources).unwrap()],
        ..Rules::default()
    };
    let mut e = Blueprint::new(&rules, EngineOptions::default()).engine();
    let record = |kind: &str, rest: &str| {
        format!(
            "<85>Nov 22 10:00:00 web1 audisp-syslog: type={kind} \
             msg=audit(1700000000.123:9): {rest}"
        )
    };
    let lines = vec![
        record(
            "SYSCALL",
            "arch=c000003e syscall=59 success=yes exit=0 ppid=1 pid=2 uid=0 auid=0 \
             comm=\"curl\" exe=\"/usr/bin/curl\"",
        ),
        record("EXECVE", "argc=1 a0=\"curl\""),
    ];
    let s = 1_000_000_000;
    let mut out = Alerts::new(16);
    e.run(&inputs(&lines, s), &mut out);
    assert!(
        out.as_slice().is_empty(),
        "waiting for the rest of the event"
    );
    assert_eq!(e.stats().keys[StateTable::AuditEvents as usize], 1);
    e.tick(s + s / 2, &mut out);
    assert!(out.as_slice().is_empty(), "not settled yet");
    e.tick(3 * s, &mut out);
    let got: Vec<(RuleRef, Option<u16>, u64)> = out
        .as_slice()
        .iter()
        .map(|a| (a.rule, a.input, a.last_ns))
        .collect();
    assert_eq!(got, [(RuleRef::Sigma(0), None, s)]);
    assert_eq!(e.stats().keys[StateTable::AuditEvents as usize], 0);
}
