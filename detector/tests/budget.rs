//! One memory budget holds for all of a detector's per-key state: ten million distinct sources
//! (each its own host, address and, one in four, its own kind of message) go through threshold,
//! correlation and silence rules, the template miner and the rate baselines, each sized from its
//! share of the budget exactly as a worker's detector is. A counting allocator measures the heap
//! they hold at the end, which must stay within the budget; every table must have filled and
//! counted its evictions. (About a minute: ten million parses and five tables of millions of
//! random lookups.)

use std::{
    alloc::{GlobalAlloc, Layout, System},
    collections::hash_map::DefaultHasher,
    hash::Hasher,
    sync::atomic::{AtomicUsize, Ordering},
};

use detector::{
    baseline::{BaselineOptions, Baselines},
    bounded::split_budget,
    mining::{Miner, MinerOptions},
    parse::{ParseOptions, parse},
    rules::{
        correlation::{CorrelationEngine, CorrelationRule},
        sigma::{LogsourceMap, SigmaRule},
        silence::{self, SilenceEngine},
        threshold::{self, ThresholdEngine},
    },
};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; the counting is one atomic
// add or subtract of the sizes the caller states.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

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
fn ten_million_sources_keep_all_state_within_one_budget() {
    let logsources = LogsourceMap::default();
    let thresholds = threshold::from_toml("t.toml", THRESHOLD, &logsources).unwrap();
    let silences = silence::from_toml("t.toml", THRESHOLD).unwrap();
    let sigma = vec![
        SigmaRule::from_value(
            "c.yml",
            &serde_yaml::from_str(CORRELATION).unwrap(),
            &logsources,
        )
        .unwrap(),
    ];
    let correlations = vec![
        CorrelationRule::from_value("c.yml", &serde_yaml::from_str(CORRELATED).unwrap(), &sigma)
            .unwrap(),
    ];

    let budget = 64 << 20;
    let before = LIVE.load(Ordering::Relaxed);
    // The split a worker's detector makes when every kind of state is in use.
    let [t, c, s, m, b] = split_budget(budget, [true; 5]);
    let mut thresholds = ThresholdEngine::with_budget(thresholds, t);
    let mut correlations = CorrelationEngine::with_budget(correlations, 1, c);
    let mut silences = SilenceEngine::with_budget(silences, s);
    let mut miner = Miner::new(MinerOptions::default().within(m));
    let mut baselines = Baselines::new(Baselines::options_within(BaselineOptions::default(), b));

    let opts = ParseOptions::default();
    let sources = 10_000_000u64;
    let mut line = String::new();
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
            let words = [word(), word(), word()].join(" ");
            line.push_str(&format!(
                "<38>Nov 22 10:00:00 h{i} sshd[1]: {words} from {ip}"
            ));
        } else {
            line.push_str(&format!(
                "<38>Nov 22 10:00:00 h{i} sshd[1]: Failed password for root from {ip} port 22 ssh2"
            ));
        }
        let e = parse(line.as_bytes(), &opts);
        let now = i * 1000;
        thresholds.on_event(&e, now, |_| panic!("one event per source never alerts"));
        correlations.on_match(0, &e, now, |_| {
            panic!("one event per host never correlates")
        });
        silences.on_event(&e, now);
        let body = std::str::from_utf8(e.body).unwrap();
        if miner.add(body).new {
            kinds += 1;
        }
        let mut h = DefaultHasher::new();
        h.write(e.host.unwrap());
        baselines.observe(h.finish(), now);
    }
    let held = LIVE.load(Ordering::Relaxed) - before;
    eprintln!(
        "held {held} of {budget} bytes: thresholds {}, correlations {}, silences {}, templates {} ({} evicted), baselines {}",
        thresholds.keys(),
        correlations.keys(),
        silences.keys(),
        miner.len(),
        miner.evicted(),
        baselines.len()
    );
    assert!(
        held <= budget,
        "{held} bytes held for a {budget}-byte budget (thresholds {} keys, correlations {}, \
         silences {}, templates {} in {} bytes and {} nodes, baselines {})",
        thresholds.keys(),
        correlations.keys(),
        silences.keys(),
        miner.len(),
        miner.template_bytes(),
        miner.nodes(),
        baselines.len()
    );
    // Every table filled, kept a useful number of keys, and counted what it let go.
    let useful = 10_000;
    assert!(thresholds.keys() > useful && thresholds.counters().evicted > 0);
    assert!(correlations.keys() > useful && correlations.evicted() > 0);
    assert!(silences.keys() > useful && silences.evicted() > 0);
    // The never-seen kinds pile into the few leaves the tree's limits leave them, and those
    // leaves' limit evicts them: the miner keeps what is used, and counts what it lets go.
    assert!(miner.evicted() > 1_000_000, "{} evicted", miner.evicted());
    assert_eq!(miner.len() as u64 + miner.evicted(), kinds);
    assert!(baselines.len() > useful && baselines.evicted() > 0);
    assert_eq!(
        thresholds.keys() as u64 + thresholds.counters().evicted,
        sources * 3 / 4,
        "every source with a failed password is kept or counted out"
    );
}
