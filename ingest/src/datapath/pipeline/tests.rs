use std::net::SocketAddr;

use detector::{
    engine::{Blueprint, EngineOptions, RuleRef, Rules},
    parse::{ParseError, PriError},
    rules::sigma::{LogsourceMap, SigmaRule},
};

use super::*;

fn message(payload: &[u8], arrival_ns: Option<u64>) -> Message<'_> {
    Message {
        path: Path::Xdp,
        src: "198.18.0.1:4000".parse().unwrap(),
        dst_port: 514,
        vlan: None,
        payload,
        arrival_ns,
    }
}

/// An engine with one Sigma rule per keyword (rule `i` matches messages holding keyword `i`).
fn engine(keywords: &[&str]) -> Box<Engine> {
    let sigma = keywords
        .iter()
        .map(|k| {
            let yaml = format!(
                "title: {k}\nlogsource: {{product: linux}}\n\
                 detection: {{keywords: ['{k}'], condition: keywords}}\n"
            );
            SigmaRule::from_yaml("k.yml", &yaml, &LogsourceMap::default()).unwrap()
        })
        .collect();
    let rules = Rules {
        sigma,
        ..Rules::default()
    };
    let opts = EngineOptions {
        budget_bytes: 1 << 20,
        ..EngineOptions::default()
    };
    Box::new(Blueprint::new(&rules, opts).engine())
}

fn alerts_of(inbox: &mut Inbox) -> Vec<WorkerAlert> {
    std::iter::from_fn(|| inbox.alerts.pop().ok()).collect()
}

#[test]
fn counts_parses_and_measures_every_message() {
    let (out, _inbox) = outbox(4, 4);
    let mut p = Pipeline::new(0, false, engine(&[]), out);
    let t = monotonic_ns();
    let batch = [
        message(b"<14>1 - host app - - - ok", Some(t)),
        message(b"no header: a raw line is fine", None),
        message(b"<999>too big", None),
        message(b"<14>1 - host app - - - {\"json\":", None),
    ];
    p.handle_batch(&batch, monotonic_ns());
    let report = p.finish();
    let c = report.counters;
    assert_eq!((c.received_xdp, c.parsed), (4, 2));
    assert_eq!(
        c.bytes_xdp,
        batch.iter().map(|m| m.payload.len() as u64).sum::<u64>()
    );
    let count = |e: ParseError| c.parse_errors[e.index()];
    assert_eq!(count(ParseError::Pri(PriError::OutOfRange)), 1);
    assert_eq!(count(ParseError::BadPayload), 1);
    assert_eq!(c.latency_unmeasured, 3);
    let l = &report.latency;
    assert_eq!(l.count_of(Stage::Detected), 1);
    assert_eq!(l.count_of(Stage::Pickup), 1);
    assert_eq!(l.count_of(Stage::Parse), 4, "timed on every path");
    assert_eq!(l.count_of(Stage::Detect), 4);
    assert_eq!(l.count_of(Stage::Alert), 0, "no rule, no alert");
}

#[test]
fn a_received_batch_times_its_receive_apart_from_its_parse() {
    let (out, _inbox) = outbox(4, 4);
    let mut p = Pipeline::new(0, false, engine(&[]), out);
    let batch = [
        message(b"<14>1 - host app - - - ok", None),
        message(b"<14>1 - host app - - - fine", None),
    ];
    // Received 5 ms after its pickup (a clock read still to come): parsing is timed from
    // there, so it measures nothing here.
    let pickup = monotonic_ns();
    p.handle_received(&batch, pickup, pickup + 5_000_000);
    p.handle_batch(&batch[..1], monotonic_ns());
    let l = p.finish().latency;
    assert_eq!(
        l.count_of(Stage::Receive),
        2,
        "handle_batch times no receive"
    );
    assert_eq!(l.sum_of(Stage::Receive), 5_000_000);
    assert_eq!(l.count_of(Stage::Parse), 3);
    assert!(
        l.sum_of(Stage::Parse) < 5_000_000,
        "{}",
        l.sum_of(Stage::Parse)
    );
}

#[test]
fn alerts_carry_their_message_rule_set_and_latency() {
    let (out, mut inbox) = outbox(64, 4);
    let mut p = Pipeline::new(3, false, engine(&["ok"]), out);
    let arrival = monotonic_ns();
    std::thread::sleep(std::time::Duration::from_millis(2));
    let batch: Vec<Message<'_>> = (0..3)
        .map(|_| message(b"<14>1 - host app - - - ok", Some(arrival)))
        .chain([message(b"<14>1 - host app - - - quiet", Some(arrival))])
        .collect();
    p.handle_batch(&batch, monotonic_ns());
    p.between_batches();
    p.handle(&message(b"<14>1 - host app - - - ok", Some(monotonic_ns())));
    let alerts = alerts_of(&mut inbox);
    assert_eq!(alerts.len(), 4);
    for a in &alerts {
        assert_eq!((a.alert.rule, a.generation), (RuleRef::Sigma(0), 0));
        assert_eq!(a.sample.bytes(), b"<14>1 - host app - - - ok");
        assert_eq!(a.sample.worker, 3);
    }
    let report = p.finish();
    assert_eq!(report.counters.alerts_raised, 4);
    let l = &report.latency;
    for stage in [Stage::Pickup, Stage::Parse, Stage::Detect, Stage::Detected] {
        assert_eq!(l.count_of(stage), 5, "{}", stage.name());
    }
    assert_eq!(l.count_of(Stage::Alert), 4);
    // The first batch waited 2 ms before its pickup: hook to detected is never less.
    assert!(l.sum_of(Stage::Pickup) >= 4 * 2_000_000);
    assert!(l.sum_of(Stage::Detected) >= l.sum_of(Stage::Pickup));
}

#[test]
fn a_new_engine_takes_over_between_batches_and_alerts_say_which() {
    let (out, mut inbox) = outbox(8, 1);
    let (swap, mut handle) = engine_swap();
    let mut p = Pipeline::new(0, false, engine(&["one", "x"]), out).with_swap(swap);
    p.handle(&message(b"one x", None));
    handle
        .incoming
        .push(NewEngine {
            generation: 1,
            engine: engine(&["x"]),
        })
        .unwrap();
    p.handle(&message(b"two x", None)); // no swap yet: still the old rules
    p.between_batches();
    p.handle(&message(b"three x", None));
    let seen: Vec<(u32, RuleRef)> = alerts_of(&mut inbox)
        .into_iter()
        .map(|a| (a.generation, a.alert.rule))
        .collect();
    assert_eq!(
        seen,
        [
            (0, RuleRef::Sigma(0)),
            (0, RuleRef::Sigma(1)),
            (0, RuleRef::Sigma(1)),
            (1, RuleRef::Sigma(0))
        ]
    );
    assert_eq!(p.generation(), 1);
    assert!(handle.retired.pop().is_ok(), "the old engine came back");
}

#[test]
fn the_loudest_sender_leads_the_sampled_top_sources() {
    let (out, _inbox) = outbox(1, 1);
    let mut p = Pipeline::new(0, false, engine(&[]), out);
    let loud: SocketAddr = "198.18.0.9:4000".parse().unwrap();
    // 6,000 messages from one device among 2,000 from 2,000 others, in batches of 64.
    let msgs: Vec<Message<'_>> = (0..8000u32)
        .map(|i| {
            let mut m = message(b"<14>hello", None);
            m.src = if i % 4 == 0 {
                SocketAddr::from(([198, 19, (i >> 8) as u8, i as u8], 514))
            } else {
                loud
            };
            m
        })
        .collect();
    for batch in msgs.chunks(64) {
        p.handle_batch(batch, monotonic_ns());
    }
    let sampled = p.top_sources().events();
    assert!((700..1300).contains(&sampled), "about 1 in 8: {sampled}");
    let top = p.top_sources().top(1);
    assert_eq!(detector::engine::source_of_key(top[0].key), loud.ip());
    let distinct = p.distinct_sources().estimate();
    // 1024 registers: about 3 % standard error; this allows four of it.
    assert!((1750..2250).contains(&distinct), "2001 senders: {distinct}");
}

#[test]
fn chunked_gelf_becomes_one_message() {
    let (out, mut inbox) = outbox(8, 8);
    let mut p = Pipeline::new(0, true, engine(&[]), out);
    let json = br#"{"version":"1.1","host":"gelf.example","short_message":"hello","level":5}"#;
    let parts: Vec<&[u8]> = json.chunks(30).collect();
    let datagrams: Vec<Vec<u8>> = parts
        .iter()
        .enumerate()
        .map(|(i, part)| {
            let mut d = vec![
                0x1e,
                0x0f,
                7,
                7,
                7,
                7,
                7,
                7,
                7,
                7,
                i as u8,
                parts.len() as u8,
            ];
            d.extend_from_slice(part);
            d
        })
        .collect();
    let batch: Vec<Message<'_>> = datagrams
        .iter()
        .map(|d| Message {
            path: Path::Udp,
            ..message(d, None)
        })
        .collect();
    p.handle_batch(&batch, monotonic_ns());
    let c = *p.counters();
    assert_eq!(
        c.received_udp,
        parts.len() as u64,
        "every datagram is received"
    );
    assert_eq!(
        (c.gelf_chunks_held, c.gelf_messages),
        (parts.len() as u64 - 1, 1)
    );
    assert_eq!(c.parsed, 1);
    let sample = inbox
        .samples
        .pop()
        .expect("the reassembled message is printed");
    assert_eq!(sample.bytes(), json);
    assert!(inbox.samples.pop().is_err(), "once");
}

#[test]
fn full_output_rings_drop_and_count_each_kind_without_waiting() {
    let (out, mut inbox) = outbox(1, 2);
    let mut p = Pipeline::new(3, true, engine(&["z"]), out);
    let long = vec![b'z'; SAMPLE_LEN + 10];
    let batch: Vec<Message<'_>> = (0..4).map(|_| message(&long, None)).collect();
    p.handle_batch(&batch, monotonic_ns());
    let c = p.counters();
    assert_eq!(
        (c.samples_dropped_ring_full, c.alerts_dropped_ring_full),
        (2, 3)
    );
    assert_eq!(c.alerts_raised, 4);
    let sample = inbox.samples.pop().expect("a sample was queued");
    assert_eq!(sample.worker, 3);
    assert!(sample.truncated());
    assert_eq!(sample.bytes().len(), SAMPLE_LEN);
    assert_eq!(sample.len, SAMPLE_LEN + 10);
    assert_eq!(alerts_of(&mut inbox).len(), 1);
}
