//! Sigma correlation rules loaded beside their detection rules (several YAML documents in one
//! file), fed by the matches of those rules.

use detector::{
    parse::{ParseOptions, parse},
    rules::{
        correlation::{CorrelationAlert, CorrelationEngine},
        load::{Loaded, load_dir},
        sigma::{LogsourceMap, SigmaScratch, SigmaSet},
    },
};

const RULES: &str = r#"
title: Failed password
name: failed_password
logsource: {product: linux, service: sshd}
detection:
    keywords: ['Failed password']
    condition: keywords
---
title: Login failure with a user field
name: login_failed
logsource: {product: linux}
detection:
    sel: {action: login, result: failed}
    condition: sel
---
title: Recon
name: recon
logsource: {product: linux}
detection:
    keywords: ['nmap scan']
    condition: keywords
---
title: Exploit
name: exploit
logsource: {product: linux}
detection:
    keywords: ['exploit attempt']
    condition: keywords
---
title: Brute force per host
correlation:
    type: event_count
    rules: [failed_password]
    group-by: [host]
    timespan: 1m
    condition: {gte: 5}
level: high
---
title: Password spraying
correlation:
    type: value_count
    rules: login_failed
    group-by: [host]
    timespan: 10m
    condition: {field: user, gte: 3}
---
title: Recon then exploit (any order)
correlation:
    type: temporal
    rules: [recon, exploit]
    group-by: [host]
    timespan: 5m
---
title: Recon then exploit (in order)
correlation:
    type: temporal_ordered
    rules: [recon, exploit]
    group-by: [host]
    timespan: 5m
"#;

fn load(text: &str) -> Loaded {
    static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("corr-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("rules.yml"), text).unwrap();
    let loaded = load_dir(&dir, &LogsourceMap::default());
    std::fs::remove_dir_all(&dir).unwrap();
    loaded
}

/// Feeds lines (at one second apart unless they carry a time) and returns the titles of the
/// correlations that fired, in order.
fn run(lines: &[&str]) -> Vec<String> {
    assert_eq!(load(RULES).correlations.len(), 4);
    let timed: Vec<(u64, String)> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| (i as u64, l.to_string()))
        .collect();
    run_timed(RULES, &timed)
        .into_iter()
        .map(|(title, _)| title)
        .collect()
}

#[test]
fn event_count_per_group_within_the_timespan() {
    let fail = |host: &str| {
        format!("<38>1 - {host} sshd 1 - - Failed password for root from 198.51.100.7")
    };
    let mut lines: Vec<String> = (0..4).map(|_| fail("web1")).collect();
    lines.push(fail("web2"));
    lines.push(fail("web1"));
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    assert_eq!(
        run(&refs),
        ["Brute force per host"],
        "the 5th for web1, not web2's"
    );
}

#[test]
fn value_count_of_distinct_users() {
    let line = |user: &str| format!("<14>1 - h1 auth - - - action=login result=failed user={user}");
    let lines = [line("alice"), line("alice"), line("bob"), line("carol")];
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    assert_eq!(run(&refs), ["Password spraying"]);
}

#[test]
fn temporal_in_any_order_and_in_order() {
    let recon = "<14>1 - h1 ids - - - nmap scan from 198.51.100.9";
    let exploit = "<14>1 - h1 ids - - - exploit attempt on /cgi-bin";
    assert_eq!(run(&[exploit, recon]), ["Recon then exploit (any order)"]);
    assert_eq!(
        run(&[recon, exploit]),
        [
            "Recon then exploit (any order)",
            "Recon then exploit (in order)"
        ]
    );
}

#[test]
fn unsupported_correlations_are_rejected_naming_the_construct() {
    let base = RULES.split("---\ntitle: Brute force").next().unwrap();
    let bad = format!(
        "{base}---\ntitle: x\ncorrelation:\n    type: event_count\n    rules: [failed_password]\n    timespan: 1m\n    condition: {{between: 5}}\n"
    );
    let loaded = load(&bad);
    assert_eq!(loaded.errors.len(), 1);
    assert!(
        loaded.errors[0]
            .to_string()
            .contains("correlation.condition.between"),
        "{}",
        loaded.errors[0]
    );
    let bad = format!(
        "{base}---\ntitle: x\ncorrelation:\n    type: temporal\n    rules: [nosuch]\n    timespan: 1m\n"
    );
    let loaded = load(&bad);
    assert!(
        loaded.errors[0]
            .to_string()
            .contains("no loaded rule named \"nosuch\""),
        "{}",
        loaded.errors[0]
    );
}

const TRANSFERS: &str = r#"
title: Upload
name: upload
logsource: {product: linux}
detection:
    sel: {action: upload}
    condition: sel
---
title: Much data out per user
correlation:
    type: value_sum
    rules: [upload]
    group-by: [user]
    timespan: 1h
    condition: {field: bytes, gte: 1000}
---
title: Large uploads on average
correlation:
    type: value_avg
    rules: [upload]
    group-by: [user]
    timespan: 1h
    condition: {field: bytes, gt: 400}
"#;

/// `text`'s detection rules and their correlations, fed a line at a time; what fires comes
/// back as (title, group, count).
struct Correlating {
    titles: Vec<String>,
    set: SigmaSet,
    engine: CorrelationEngine,
    scratch: SigmaScratch,
}

type Fired = (String, String, u64);

/// A correlation alert as the tests expect it: the rule's title, the group, the count.
fn want(title: &str, group: &str, n: u64) -> Fired {
    (title.to_string(), group.to_string(), n)
}

impl Correlating {
    fn new(text: &str) -> Self {
        let loaded = load(text);
        assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
        Self {
            titles: loaded
                .correlations
                .iter()
                .map(|c| c.title.clone())
                .collect(),
            set: SigmaSet::new(loaded.rules.clone()),
            engine: CorrelationEngine::new(loaded.correlations, loaded.rules.len(), 1000),
            scratch: SigmaScratch::default(),
        }
    }

    fn fired(titles: &[String], a: &CorrelationAlert<'_>) -> Fired {
        (
            titles[a.rule].clone(),
            String::from_utf8_lossy(a.group).into_owned(),
            a.count,
        )
    }

    /// Feeds `line` at `at_ns` (its time when it has none of its own).
    fn feed(&mut self, line: &str, at_ns: u64) -> Vec<Fired> {
        let e = parse(line.as_bytes(), &ParseOptions::default());
        let mut hits = Vec::new();
        self.set
            .for_each_match(&e, &mut self.scratch, |r| hits.push(r));
        let mut out = Vec::new();
        for r in hits {
            self.engine
                .on_match(r, &e, at_ns, |a| out.push(Self::fired(&self.titles, &a)));
        }
        out
    }

    /// The windows ended by `at_ns`, judged.
    fn tick(&mut self, at_ns: u64) -> Vec<Fired> {
        let mut out = Vec::new();
        self.engine
            .tick(at_ns, |a| out.push(Self::fired(&self.titles, &a)));
        out
    }
}

/// Feeds `(seconds, line)` pairs through `text`'s rules; returns the correlations that fired
/// as (title, count) in order.
fn run_timed(text: &str, lines: &[(u64, String)]) -> Vec<(String, u64)> {
    let mut c = Correlating::new(text);
    lines
        .iter()
        .flat_map(|(secs, line)| c.feed(line, secs * 1_000_000_000))
        .map(|(title, _, count)| (title, count))
        .collect()
}

/// `value_sum` and `value_avg`: a numeric field summed (or averaged) per group over the
/// timespan; values outside it, and events whose field is not a number, do not count.
#[test]
fn value_sum_and_value_avg_of_a_numeric_field() {
    let up = |user: &str, bytes: &str| {
        format!("<14>1 - h1 ftp - - - action=upload user={user} bytes={bytes}")
    };
    // alice: 300 + 300 (avg 300) + 500 (sum 1100 >= 1000; avg 366) ; bob: 900 alone (avg > 400).
    let lines = vec![
        (0, up("alice", "300")),
        (60, up("alice", "300")),
        (120, up("bob", "900")),
        (180, up("alice", "lots")),
        (240, up("alice", "500")),
    ];
    assert_eq!(
        run_timed(TRANSFERS, &lines),
        [
            ("Large uploads on average".to_string(), 900),
            ("Much data out per user".to_string(), 1100),
        ]
    );
    // Two hours apart: the first value has left the window.
    let apart = vec![(0, up("carol", "600")), (2 * 3600, up("carol", "600"))];
    assert_eq!(
        run_timed(TRANSFERS, &apart),
        [
            ("Large uploads on average".to_string(), 600),
            ("Large uploads on average".to_string(), 600),
        ]
    );
    // Conditions that cannot be read: refused, naming the reason.
    let base = TRANSFERS.split("---\ntitle: Much").next().unwrap();
    for (kind, condition, why) in [
        ("value_sum", "{field: bytes, gte: lots}", "not a number"),
        ("value_sum", "{gte: 10}", "value_sum needs a field"),
        ("value_avg", "{field: bytes}", "needs a comparison"),
        ("value_count", "{field: user, gte: 1.5}", "not a count"),
        (
            "value_count",
            "{field: user, lt: 5000}",
            "at most 1023 distinct values",
        ),
        ("event_count", "{gte: 0}", "a count of at least 1"),
        (
            "value_percentile",
            "{field: bytes, gt: 10}",
            "needs a percentile",
        ),
        (
            "value_percentile",
            "{field: bytes, percentile: 101, gt: 10}",
            "from 0 to 100",
        ),
        (
            "value_median",
            "{field: bytes, percentile: 90, gt: 10}",
            "the 50th percentile",
        ),
        (
            "event_count",
            "{field: bytes, gt: 10}",
            "correlation.condition.field",
        ),
    ] {
        let bad = format!(
            "{base}---\ntitle: x\ncorrelation:\n    type: {kind}\n    rules: [upload]\n    \
             timespan: 1h\n    condition: {condition}\n"
        );
        let loaded = load(&bad);
        assert_eq!(loaded.errors.len(), 1, "{condition}");
        assert!(
            loaded.errors[0].to_string().contains(why),
            "{}",
            loaded.errors[0]
        );
    }
}

const WINDOWS: &str = r#"
title: Login
name: login
logsource: {product: linux}
detection:
    sel: {action: login}
    condition: sel
---
title: Few logins per host
correlation:
    type: event_count
    rules: [login]
    group-by: [host]
    timespan: 1m
    condition: {lt: 3}
---
title: Exactly two logins per host
correlation:
    type: event_count
    rules: [login]
    group-by: [host]
    timespan: 1m
    condition: {eq: 2}
---
title: Between two and four logins per host
correlation:
    type: event_count
    rules: [login]
    group-by: [host]
    timespan: 1m
    condition: {gt: 1, lte: 4}
"#;

/// `event_count` with `lt`, `eq` or a range: judged when the group's window (from its first
/// match, a timespan long) ends, at a tick or at a later match; the window then starts again.
#[test]
fn end_of_window_conditions_are_judged_when_the_window_ends() {
    let mut c = Correlating::new(WINDOWS);
    let s = 1_000_000_000u64;
    let login = |host: &str| format!("<14>1 - {host} app - - - action=login user=x");
    // h1: one login; h2: two; h3: five.
    for (host, n) in [("h1", 1), ("h2", 2), ("h3", 5)] {
        for i in 0..n {
            assert!(
                c.feed(&login(host), i * s).is_empty(),
                "nothing before the end"
            );
        }
    }
    let mut fired: Vec<Fired> = [30, 59, 61].iter().flat_map(|&t| c.tick(t * s)).collect();
    fired.sort();
    assert_eq!(
        fired,
        [
            want("Between two and four logins per host", "h2", 2),
            want("Exactly two logins per host", "h2", 2),
            want("Few logins per host", "h1", 1),
            want("Few logins per host", "h2", 2),
        ]
    );
    // Ended windows are let go: another tick says nothing more.
    assert!(c.tick(200 * s).is_empty());
    // A match after a window ended (before any tick) judges it first, then starts anew.
    assert!(c.feed(&login("h4"), 0).is_empty());
    let judged = c.feed(&login("h4"), 70 * s);
    let names: Vec<&str> = judged.iter().map(|(t, _, _)| t.as_str()).collect();
    assert_eq!(names, ["Few logins per host"]);
}

const MEASURES: &str = r#"
title: Upload
name: upload
logsource: {product: linux}
detection:
    sel: {action: upload}
    condition: sel
---
title: Few destinations per user
correlation:
    type: value_count
    rules: [upload]
    group-by: [user]
    timespan: 1h
    condition: {field: dst, lt: 3}
---
title: Little data out per user
correlation:
    type: value_sum
    rules: [upload]
    group-by: [user]
    timespan: 1h
    condition: {field: bytes, lte: 100}
---
title: Average upload between 200 and 400
correlation:
    type: value_avg
    rules: [upload]
    group-by: [user]
    timespan: 1h
    condition: {field: bytes, gte: 200, lt: 400}
---
title: Large uploads at the 90th percentile
correlation:
    type: value_percentile
    rules: [upload]
    group-by: [user]
    timespan: 1h
    condition: {field: bytes, percentile: 90, gt: 5000}
---
title: Median upload of exactly 10
correlation:
    type: value_median
    rules: [upload]
    group-by: [user]
    timespan: 1h
    condition: {field: bytes, eq: 10}
"#;

/// `value_count`, `value_sum` and `value_avg` with `lt`, `lte`, `eq` or a range, and the
/// percentiles: judged when the group's window ends, on what the window measured.
#[test]
fn value_measures_are_judged_when_the_window_ends() {
    let mut c = Correlating::new(MEASURES);
    let s = 1_000_000_000u64;
    let mut uploads = vec![
        // ann: two destinations, 30 bytes in all, average 15, median 10.
        ("ann", "a", "10"),
        ("ann", "b", "10"),
        ("ann", "a", "10"),
        ("ann", "a", "not a number"),
        // bob: four destinations, 1200 bytes, average 300.
        ("bob", "a", "300"),
        ("bob", "b", "300"),
        ("bob", "c", "300"),
        ("bob", "d", "300"),
    ];
    // cy: ten uploads, the largest two far over 5000: the 90th percentile is the ninth.
    uploads.extend(std::iter::repeat_n(("cy", "a", "100"), 8));
    uploads.extend(std::iter::repeat_n(("cy", "a", "9000"), 2));
    for (i, (user, dst, bytes)) in uploads.iter().enumerate() {
        let line =
            format!("<14>1 - h1 ftp - - - action=upload user={user} dst={dst} bytes={bytes}");
        assert!(
            c.feed(&line, i as u64 * s).is_empty(),
            "nothing before the windows end"
        );
    }
    assert!(c.tick(30 * 60 * s).is_empty(), "nothing within the hour");
    let mut fired = c.tick(2 * 3600 * s);
    fired.sort();
    assert_eq!(
        fired,
        [
            want("Average upload between 200 and 400", "bob", 300),
            want("Few destinations per user", "ann", 2),
            want("Few destinations per user", "cy", 1),
            want("Large uploads at the 90th percentile", "cy", 9000),
            want("Little data out per user", "ann", 30),
            want("Median upload of exactly 10", "ann", 10),
        ]
    );
}
