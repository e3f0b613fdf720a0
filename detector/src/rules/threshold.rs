//! Native threshold rules (TOML): "N matching events in a window from one key, then quiet for a
//! while", as Wazuh's "8 failed logins in 120 s from one source, then 60 s of silence".
//!
//! ```toml
//! [[threshold]]
//! id = "ssh-brute-force"
//! title = "SSH brute force from one address"
//! level = "high"
//! service = "sshd"                                  # app names, via the log source table
//! contains = ["Failed password", "Invalid user"]    # any of them (case-insensitive, wildcards)
//! group_by = { regex = 'from ([0-9a-fA-F:.]+)' }    # or "host", "app", or a field name
//! count = 8
//! window = "120s"
//! suppress = "60s"
//! tags = ["attack.credential-access", "attack.t1110"]
//! ```
//!
//! A `group_by` regex keys on its first capture group. One of the common shape `literal (run of a
//! byte class) literal`, as above, is searched without the regex engine (see `key_regex`),
//! several times faster; any other regex works the same, through the engine.
//!
//! Time is injected: [`ThresholdEngine::on_event`] takes `now_ns`, and each rule uses either the
//! event's own timestamp or that arrival time (`time = "event"` or `"arrival"`, the default).
//! Per-key state lives in one fixed [`Table`] per rule, allocated at construction from the
//! memory budget; evictions are counted, and counting an event never allocates.

use std::hash::Hasher;

use serde::Deserialize;

use super::{
    duration_ns,
    key_regex::{KeyRegex, KeySearch},
    pattern::{StrKind, StrPattern},
    sigma::{Level, LogsourceMap, RuleError, parse_level},
};
use crate::{
    parse::Event,
    table::{self, Table},
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    threshold: Vec<RawRule>,
    /// Read by `rules::silence`; listed so that an unknown table is still an error.
    #[serde(default)]
    #[expect(
        dead_code,
        reason = "only there for deny_unknown_fields; rules::silence reads it"
    )]
    silence: Option<toml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawGroupBy {
    Name(String),
    Regex { regex: String },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: String,
    title: String,
    #[serde(default = "default_level")]
    level: String,
    service: Option<String>,
    contains: Vec<String>,
    group_by: RawGroupBy,
    count: u32,
    window: String,
    #[serde(default)]
    suppress: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    time: Option<String>,
}

fn default_level() -> String {
    "medium".into()
}

/// What groups events.
#[derive(Clone, Debug)]
enum GroupBy {
    Host,
    App,
    Field(String),
    /// The first capture group of a regex over the body (boxed: the other kinds are small).
    Regex(Box<KeyRegex>),
}

/// One compiled threshold rule.
#[derive(Clone, Debug)]
pub struct ThresholdRule {
    /// `id`.
    pub id: String,
    /// `title`.
    pub title: String,
    /// `level`.
    pub level: Level,
    /// ATT&CK and other tags.
    pub tags: Vec<String>,
    apps: Vec<String>,
    contains: Vec<StrPattern>,
    group_by: GroupBy,
    count: u32,
    window_ns: u64,
    suppress_ns: u64,
    event_time: bool,
}

/// Loads the `[[threshold]]` rules of a TOML file; `file` names it in errors.
pub fn from_toml(
    file: &str,
    text: &str,
    logsources: &LogsourceMap,
) -> Result<Vec<ThresholdRule>, RuleError> {
    let err = |construct: String, message: String| RuleError {
        file: file.to_string(),
        construct,
        message,
    };
    let parsed: File = toml::from_str(text).map_err(|e| err("toml".into(), e.to_string()))?;
    let mut rules = Vec::new();
    for r in parsed.threshold {
        let at = |field: &str| format!("threshold {:?}.{field}", r.id);
        let level = parse_level(Some(&r.level)).map_err(|m| err(at("level"), m.0))?;
        let apps = match &r.service {
            None => Vec::new(),
            Some(service) => logsources.service_apps(service).ok_or_else(|| {
                err(
                    at("service"),
                    format!("{service:?} is not in the log source table"),
                )
            })?,
        };
        if r.contains.is_empty() {
            return Err(err(at("contains"), "needs at least one pattern".into()));
        }
        let group_by = match r.group_by {
            RawGroupBy::Name(n) => match n.as_str() {
                "host" => GroupBy::Host,
                "app" => GroupBy::App,
                other => GroupBy::Field(other.to_string()),
            },
            RawGroupBy::Regex { regex } => {
                let re = KeyRegex::new(&regex).map_err(|m| err(at("group_by.regex"), m))?;
                GroupBy::Regex(Box::new(re))
            }
        };
        if r.count == 0 {
            return Err(err(at("count"), "must be at least 1".into()));
        }
        let window_ns = duration_ns(&r.window).ok_or_else(|| {
            err(
                at("window"),
                format!("{:?} is not like 120s, 2m, 1h", r.window),
            )
        })?;
        let suppress_ns = match &r.suppress {
            None => 0,
            Some(s) => duration_ns(s)
                .ok_or_else(|| err(at("suppress"), format!("{s:?} is not like 60s, 5m")))?,
        };
        let event_time = match r.time.as_deref() {
            None | Some("arrival") => false,
            Some("event") => true,
            Some(other) => {
                return Err(err(
                    at("time"),
                    format!("{other:?} is not event or arrival"),
                ));
            }
        };
        rules.push(ThresholdRule {
            id: r.id,
            title: r.title,
            level,
            tags: r.tags,
            apps,
            contains: r
                .contains
                .iter()
                .map(|c| StrPattern::new(c, StrKind::Contains, false))
                .collect(),
            group_by,
            count: r.count,
            window_ns,
            suppress_ns,
            event_time,
        });
    }
    Ok(rules)
}

impl ThresholdRule {
    fn selects(&self, e: &Event<'_>) -> bool {
        (self.apps.is_empty()
            || e.app.is_some_and(|a| {
                self.apps
                    .iter()
                    .any(|w| a.eq_ignore_ascii_case(w.as_bytes()))
            }))
            && self.contains.iter().any(|p| p.matches(e.body))
    }

    /// The group key of `e`, borrowed from it; `search` is the rule's own regex cache and
    /// capture space when it groups by a regex.
    fn key<'e>(&self, e: &Event<'e>, search: &mut Option<KeySearch>) -> Option<&'e [u8]> {
        match &self.group_by {
            GroupBy::Host => e.host,
            GroupBy::App => e.app,
            GroupBy::Field(name) => e
                .fields()
                .find(|f| f.key.eq_ignore_ascii_case(name.as_bytes()))
                .map(|f| f.value),
            GroupBy::Regex(re) => re.capture(e.body, search),
        }
    }
}

/// What one key of a rule holds besides its window: where the window's ring continues, how many
/// events it has counted, the end of a suppression after an alert, and the crossings folded
/// into the next alert meanwhile.
#[derive(Clone, Copy, Debug, Default)]
struct KeyState {
    next: u32,
    seen: u64,
    quiet_until: u64,
    folded: u64,
}

/// A threshold crossed. The key borrows the event that crossed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThresholdAlert<'e> {
    /// Index of the rule.
    pub rule: usize,
    /// The group key.
    pub key: &'e [u8],
    /// Events in the window when it fired.
    pub count: u32,
    /// Time of the first event of the window, ns.
    pub first_ns: u64,
    /// Time of the event that crossed the threshold, ns.
    pub last_ns: u64,
    /// Earlier crossings folded into this alert during the previous suppression.
    pub folded: u64,
}

/// Counters of the engine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ThresholdCounters {
    /// Keys evicted from a full table (their windows restart if they come back).
    pub evicted: u64,
    /// Crossings folded into a suppression instead of a new alert.
    pub suppressed: u64,
}

/// One rule's keys: the table, each slot's state, and each slot's window (the times of its
/// last `count` events, a ring of `count` per slot).
#[derive(Clone, Debug)]
struct RuleState {
    table: Table,
    keys: Box<[KeyState]>,
    times: Box<[u64]>,
}

/// The rules and their per-key state, all allocated at construction.
#[derive(Clone, Debug)]
pub struct ThresholdEngine {
    rules: Vec<ThresholdRule>,
    state: Vec<RuleState>,
    /// Per rule that groups by a regex the regex engine searches, its search space.
    searches: Vec<Option<KeySearch>>,
    suppressed: u64,
}

fn hash_key(key: &[u8]) -> u64 {
    let mut h = crate::bounded::key_hasher();
    h.write(key);
    h.finish()
}

impl ThresholdEngine {
    /// `rules`, each keeping at most `max_keys` keys (fewer: whole buckets of a power of two;
    /// see [`Table::new`]). Everything is allocated here.
    pub fn new(rules: Vec<ThresholdRule>, max_keys: usize) -> Self {
        let state = rules
            .iter()
            .map(|r| {
                let table = Table::new(max_keys);
                let n = table.capacity();
                RuleState {
                    keys: table::committed(n, KeyState::default()),
                    times: table::committed(n * r.count as usize, 0),
                    table,
                }
            })
            .collect();
        let searches = rules
            .iter()
            .map(|r| match &r.group_by {
                GroupBy::Regex(re) => re.search(),
                _ => None,
            })
            .collect();
        Self {
            rules,
            state,
            searches,
            suppressed: 0,
        }
    }

    /// The rules, by index.
    pub fn rules(&self) -> &[ThresholdRule] {
        &self.rules
    }

    /// Counters so far.
    pub fn counters(&self) -> ThresholdCounters {
        ThresholdCounters {
            evicted: self.state.iter().map(|s| s.table.evicted()).sum(),
            suppressed: self.suppressed,
        }
    }

    /// Keys held now, all rules.
    pub fn keys(&self) -> usize {
        self.state.iter().map(|s| s.table.len()).sum()
    }

    /// Bytes the engine's state takes (allocated at construction).
    pub fn state_bytes(&self) -> usize {
        self.state
            .iter()
            .map(|s| {
                s.table.capacity() * table::SLOT_BYTES
                    + std::mem::size_of_val(&*s.keys)
                    + std::mem::size_of_val(&*s.times)
            })
            .sum()
    }

    /// An engine whose per-key state stays within `budget_bytes` in all (split evenly over the
    /// rules; a key of a rule costs its state and its window of `count` times).
    pub fn with_budget(rules: Vec<ThresholdRule>, budget_bytes: usize) -> Self {
        let per_rule = budget_bytes / rules.len().max(1);
        let keys = rules
            .iter()
            .map(|r| Table::slots_within(per_rule, Self::key_bytes(r)))
            .min()
            .unwrap_or(1);
        Self::new(rules, keys)
    }

    /// Bytes one key of `rule` costs besides the table's own: its state and its window.
    fn key_bytes(rule: &ThresholdRule) -> usize {
        std::mem::size_of::<KeyState>() + rule.count as usize * 8
    }

    /// Counts `e` for every rule that selects it, calling `alert` when one crosses its
    /// threshold outside a suppression. `now_ns` is the arrival time.
    pub fn on_event<'e>(
        &mut self,
        e: &Event<'e>,
        now_ns: u64,
        mut alert: impl FnMut(ThresholdAlert<'e>),
    ) {
        for i in 0..self.rules.len() {
            let rule = &self.rules[i];
            if !rule.selects(e) {
                continue;
            }
            let Some(key) = rule.key(e, &mut self.searches[i]) else {
                continue;
            };
            let t = if rule.event_time {
                e.timestamp_ns
                    .and_then(|t| u64::try_from(t).ok())
                    .unwrap_or(now_ns)
            } else {
                now_ns
            };
            self.count_key(i, key, t, &mut alert);
        }
    }

    /// Counts one event of `key` for rule `i` at time `t`: the part of [`on_event`] after the
    /// rule has selected the event and found its key.
    ///
    /// [`on_event`]: ThresholdEngine::on_event
    pub fn count_key<'k>(
        &mut self,
        i: usize,
        key: &'k [u8],
        t: u64,
        mut alert: impl FnMut(ThresholdAlert<'k>),
    ) {
        let rule = &self.rules[i];
        let st = &mut self.state[i];
        let n = rule.count as usize;
        let entry = st.table.entry(hash_key(key));
        let k = &mut st.keys[entry.slot];
        if entry.fresh {
            *k = KeyState::default();
        }
        let times = &mut st.times[entry.slot * n..(entry.slot + 1) * n];
        times[k.next as usize] = t;
        k.next = ((k.next as usize + 1) % n) as u32;
        k.seen += 1;
        if k.seen < rule.count as u64 {
            return;
        }
        // The oldest of the last `count` events is where the ring continues.
        let first = times[k.next as usize];
        if t.saturating_sub(first) > rule.window_ns {
            return;
        }
        if t < k.quiet_until {
            // A repeat within the suppression: folded into the next alert, and counting
            // starts over.
            k.folded += 1;
            k.seen = 0;
            self.suppressed += 1;
            return;
        }
        k.quiet_until = t.saturating_add(rule.suppress_ns);
        alert(ThresholdAlert {
            rule: i,
            key,
            count: rule.count,
            first_ns: first,
            last_ns: t,
            folded: std::mem::take(&mut k.folded),
        });
        // Start a fresh window after an alert.
        k.seen = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::{ParseOptions, parse};

    const RULE: &str = r#"
[[threshold]]
id = "ssh-brute-force"
title = "SSH brute force"
level = "high"
service = "sshd"
contains = ["Failed password"]
group_by = { regex = 'from ([0-9.]+)' }
count = 3
window = "10s"
suppress = "5s"
"#;

    fn engine(max_keys: usize) -> ThresholdEngine {
        let rules = from_toml("t.toml", RULE, &LogsourceMap::default()).unwrap();
        ThresholdEngine::new(rules, max_keys)
    }

    /// An alert, with its key copied out of the event.
    #[derive(Debug)]
    struct Fired {
        key: Vec<u8>,
        count: u32,
        first_ns: u64,
        last_ns: u64,
        folded: u64,
    }

    fn feed(e: &mut ThresholdEngine, ip: &str, t_s: u64) -> Vec<Fired> {
        let line = format!(
            "<38>Dec 10 06:55:46 h sshd[1]: Failed password for root from {ip} port 22 ssh2"
        );
        let ev = parse(line.as_bytes(), &ParseOptions::default());
        let mut out = Vec::new();
        e.on_event(&ev, t_s * 1_000_000_000, |a| {
            out.push(Fired {
                key: a.key.to_vec(),
                count: a.count,
                first_ns: a.first_ns,
                last_ns: a.last_ns,
                folded: a.folded,
            })
        });
        out
    }

    #[test]
    fn fires_at_the_count_within_the_window_then_is_quiet() {
        let mut e = engine(100);
        assert!(feed(&mut e, "198.51.100.7", 0).is_empty());
        assert!(feed(&mut e, "198.51.100.7", 1).is_empty());
        let a = feed(&mut e, "198.51.100.7", 2);
        assert_eq!(a.len(), 1);
        assert_eq!((a[0].key.as_slice(), a[0].count), (&b"198.51.100.7"[..], 3));
        assert_eq!((a[0].first_ns, a[0].last_ns), (0, 2_000_000_000));
        // Three more inside the 5 s suppression: folded, not alerted.
        for t in 3..6 {
            assert!(feed(&mut e, "198.51.100.7", t).is_empty());
        }
        assert_eq!(e.counters().suppressed, 1);
        // After it, the next crossing alerts and carries the folded count.
        for t in 8..10 {
            assert!(feed(&mut e, "198.51.100.7", t).is_empty());
        }
        let a = feed(&mut e, "198.51.100.7", 10);
        assert_eq!((a.len(), a[0].folded), (1, 1));
    }

    #[test]
    fn slow_attempts_and_other_keys_do_not_add_up() {
        let mut e = engine(100);
        for t in [0, 6, 12, 18] {
            assert!(
                feed(&mut e, "198.51.100.7", t).is_empty(),
                "3 within 10 s never happens"
            );
        }
        for ip in ["198.51.100.1", "198.51.100.2", "198.51.100.3"] {
            assert!(feed(&mut e, ip, 20).is_empty());
        }
    }

    #[test]
    fn the_key_table_is_bounded_and_evictions_counted() {
        // Two keys asked for: one bucket of eight is the least a table has.
        let mut e = engine(2);
        for i in 0..10 {
            feed(&mut e, &format!("198.51.100.{i}"), 0);
        }
        assert_eq!(e.keys(), crate::table::WAYS);
        assert_eq!(e.counters().evicted, 10 - crate::table::WAYS as u64);
    }

    #[test]
    fn bad_rules_are_rejected_with_the_field() {
        let bad = |text: &str| {
            from_toml("n.toml", text, &LogsourceMap::default())
                .unwrap_err()
                .to_string()
        };
        let base = RULE.replace("count = 3", "count = 0");
        assert!(bad(&base).contains("threshold \"ssh-brute-force\".count"));
        let base = RULE.replace("window = \"10s\"", "window = \"ten\"");
        assert!(bad(&base).contains(".window"));
        let base = RULE.replace("from ([0-9.]+)", "from [0-9.]+");
        assert!(bad(&base).contains("capture group"));
        assert!(bad("[[threshold]]\nid = 1\n").contains("toml"));
        assert!(bad(&format!("{RULE}\nbogus = 1\n")).contains("toml"));
    }
}
