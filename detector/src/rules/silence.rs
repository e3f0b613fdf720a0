//! Silence rules (TOML): a host or app that used to send goes quiet for much longer than its
//! usual interval between messages.
//!
//! ```toml
//! [[silence]]
//! id = "host-silent"
//! title = "A host stopped sending logs"
//! level = "medium"
//! group_by = "host"        # or "app", or "host+app"
//! factor = 10              # quiet for 10 times its usual interval
//! min_events = 20          # a key needs this many messages before its silence means anything
//! min_quiet = "60s"        # and at least this long
//! ```
//!
//! Per key: the time of its last message and an exponentially weighted mean of the intervals.
//! [`SilenceEngine::check`] (called periodically with the clock) alerts once per silence; the
//! key alerts again only after it has sent and gone quiet again. State lives in a fixed
//! [`Table`] per rule, allocated at construction; evictions are counted.

use std::hash::Hasher;

use serde::Deserialize;

use super::{
    duration_ns,
    sigma::{Level, RuleError, parse_level},
};
use crate::{
    parse::Event,
    table::{self, Table},
};

#[derive(Debug, Deserialize)]
struct File {
    #[serde(default)]
    silence: Vec<RawRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: String,
    title: String,
    #[serde(default)]
    level: Option<String>,
    group_by: String,
    factor: f64,
    #[serde(default)]
    min_events: Option<u64>,
    #[serde(default)]
    min_quiet: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum GroupBy {
    Host,
    App,
    HostApp,
}

/// One compiled silence rule.
#[derive(Clone, Debug)]
pub struct SilenceRule {
    /// `id`.
    pub id: String,
    /// `title`.
    pub title: String,
    /// `level`.
    pub level: Level,
    group_by: GroupBy,
    factor: f64,
    min_events: u64,
    min_quiet_ns: u64,
}

/// Loads the `[[silence]]` rules of a TOML file (other tables are left to their own loaders).
pub fn from_toml(file: &str, text: &str) -> Result<Vec<SilenceRule>, RuleError> {
    let err = |construct: String, message: String| RuleError {
        file: file.to_string(),
        construct,
        message,
    };
    let value: toml::Table = toml::from_str(text).map_err(|e| err("toml".into(), e.to_string()))?;
    let Some(section) = value.get("silence") else {
        return Ok(Vec::new());
    };
    let parsed: File = toml::Value::Table(toml::Table::from_iter([(
        "silence".to_string(),
        section.clone(),
    )]))
    .try_into()
    .map_err(|e: toml::de::Error| err("silence".into(), e.to_string()))?;
    parsed
        .silence
        .into_iter()
        .map(|r| {
            let at = |f: &str| format!("silence {:?}.{f}", r.id);
            let level = parse_level(r.level.as_deref()).map_err(|m| err(at("level"), m.0))?;
            let group_by = match r.group_by.as_str() {
                "host" => GroupBy::Host,
                "app" => GroupBy::App,
                "host+app" => GroupBy::HostApp,
                other => {
                    return Err(err(
                        at("group_by"),
                        format!("{other:?} is not host, app or host+app"),
                    ));
                }
            };
            if r.factor < 1.0 {
                return Err(err(at("factor"), "must be at least 1".into()));
            }
            let min_quiet_ns = match &r.min_quiet {
                None => 60_000_000_000,
                Some(s) => duration_ns(s)
                    .ok_or_else(|| err(at("min_quiet"), format!("{s:?} is not like 60s")))?,
            };
            Ok(SilenceRule {
                id: r.id,
                title: r.title,
                level,
                group_by,
                factor: r.factor,
                min_events: r.min_events.unwrap_or(20),
                min_quiet_ns,
            })
        })
        .collect()
}

#[derive(Clone, Copy, Debug, Default)]
struct KeyState {
    last_ns: u64,
    mean_interval_ns: f64,
    events: u64,
    alerted: bool,
    /// Bytes of the key's name held in the rule's name space.
    name_len: u8,
}

/// A key that went quiet. The key borrows the engine.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SilenceAlert<'k> {
    /// Index of the rule.
    pub rule: usize,
    /// The host, app or `host app` (cut at [`SilenceEngine::KEY_MAX`] bytes).
    pub key: &'k [u8],
    /// How long it has been quiet.
    pub quiet_ns: u64,
    /// Its usual interval.
    pub usual_ns: u64,
}

/// One rule's keys: the table, each slot's state, each slot's name (for the alert), and the
/// slots that have ever held a key, so that a check visits the keys there are rather than every
/// slot of a table sized for the worst case (a table only reuses a slot for another key, never
/// empties one).
#[derive(Clone, Debug)]
struct RuleState {
    table: Table,
    keys: Box<[KeyState]>,
    names: Box<[u8]>,
    used: Box<[u32]>,
    used_len: usize,
}

/// The rules and their state, all allocated at construction.
#[derive(Clone, Debug)]
pub struct SilenceEngine {
    rules: Vec<SilenceRule>,
    state: Vec<RuleState>,
}

impl SilenceEngine {
    /// Longest key kept (a host and app name), bytes.
    pub const KEY_MAX: usize = 128;

    /// What one key costs besides the table's own slot, bytes.
    pub const KEY_BYTES: usize =
        std::mem::size_of::<KeyState>() + Self::KEY_MAX + std::mem::size_of::<u32>();

    /// An engine whose keys stay within `budget_bytes` in all (shared by the rules).
    pub fn with_budget(rules: Vec<SilenceRule>, budget_bytes: usize) -> Self {
        let per_rule = budget_bytes / rules.len().max(1);
        Self::new(rules, Table::slots_within(per_rule, Self::KEY_BYTES))
    }

    /// An engine keeping at most `max_keys` keys per rule (fewer: whole buckets of a power of
    /// two). Everything is allocated here.
    pub fn new(rules: Vec<SilenceRule>, max_keys: usize) -> Self {
        let state = rules
            .iter()
            .map(|_| {
                let table = Table::new(max_keys);
                let n = table.capacity();
                RuleState {
                    keys: table::committed(n, KeyState::default()),
                    names: table::committed(n * Self::KEY_MAX, 0),
                    used: table::committed(n, 0),
                    used_len: 0,
                    table,
                }
            })
            .collect();
        Self { rules, state }
    }

    /// Keys evicted from full tables (they can no longer be found silent).
    pub fn evicted(&self) -> u64 {
        self.state.iter().map(|s| s.table.evicted()).sum()
    }

    /// Keys watched now, all rules.
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
                    + s.names.len()
                    + std::mem::size_of_val(&*s.used)
            })
            .sum()
    }

    /// The rules.
    pub fn rules(&self) -> &[SilenceRule] {
        &self.rules
    }

    /// Notes a message at `now_ns`.
    pub fn on_event(&mut self, e: &Event<'_>, now_ns: u64) {
        for (rule, st) in self.rules.iter().zip(&mut self.state) {
            let (a, b) = match rule.group_by {
                GroupBy::Host => (e.host, None),
                GroupBy::App => (e.app, None),
                GroupBy::HostApp => (e.host, e.app),
            };
            let Some(a) = a else { continue };
            let mut h = crate::bounded::key_hasher();
            h.write(a);
            if let Some(b) = b {
                h.write(b);
            }
            let entry = st.table.entry(h.finish());
            if entry.fresh && !entry.evicted {
                st.used[st.used_len] = entry.slot as u32;
                st.used_len += 1;
            }
            let k = &mut st.keys[entry.slot];
            if entry.fresh {
                let name = &mut st.names[entry.slot * Self::KEY_MAX..][..Self::KEY_MAX];
                let mut len = 0;
                for part in [Some(a), b.map(|_| &b" "[..]), b].into_iter().flatten() {
                    let n = part.len().min(Self::KEY_MAX - len);
                    name[len..len + n].copy_from_slice(&part[..n]);
                    len += n;
                }
                *k = KeyState {
                    last_ns: now_ns,
                    name_len: len as u8,
                    ..KeyState::default()
                };
            }
            if k.events > 0 {
                let gap = now_ns.saturating_sub(k.last_ns) as f64;
                k.mean_interval_ns = if k.events == 1 {
                    gap
                } else {
                    0.9 * k.mean_interval_ns + 0.1 * gap
                };
            }
            k.events += 1;
            k.last_ns = now_ns;
            k.alerted = false;
        }
    }

    /// Alerts for every key quiet for `factor` times its usual interval (and at least
    /// `min_quiet`), once per silence. Visits the keys there are, not the table's capacity.
    pub fn check(&mut self, now_ns: u64, mut alert: impl FnMut(SilenceAlert<'_>)) {
        for (i, (rule, st)) in self.rules.iter().zip(&mut self.state).enumerate() {
            for &slot in &st.used[..st.used_len] {
                let slot = slot as usize;
                let k = &mut st.keys[slot];
                if k.alerted || k.events < rule.min_events {
                    continue;
                }
                let quiet = now_ns.saturating_sub(k.last_ns);
                let usual = k.mean_interval_ns.max(1.0);
                if quiet >= rule.min_quiet_ns && quiet as f64 >= rule.factor * usual {
                    k.alerted = true;
                    let name = &st.names[slot * Self::KEY_MAX..][..usize::from(k.name_len)];
                    alert(SilenceAlert {
                        rule: i,
                        key: name,
                        quiet_ns: quiet,
                        usual_ns: usual as u64,
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::{ParseOptions, parse};

    const S: u64 = 1_000_000_000;

    fn engine() -> SilenceEngine {
        let rules = from_toml(
            "s.toml",
            "[[silence]]\nid = \"quiet\"\ntitle = \"Quiet host\"\ngroup_by = \"host\"\nfactor = 10\nmin_events = 5\nmin_quiet = \"30s\"\n",
        )
        .unwrap();
        SilenceEngine::new(rules, 100)
    }

    fn send(e: &mut SilenceEngine, host: &str, t: u64) {
        let line = format!("<14>1 - {host} app - - - hello");
        e.on_event(&parse(line.as_bytes(), &ParseOptions::default()), t);
    }

    #[test]
    fn a_regular_sender_that_stops_alerts_once() {
        let mut e = engine();
        for i in 0..10 {
            send(&mut e, "web1", i * 5 * S); // every 5 s
        }
        let check = |e: &mut SilenceEngine, t: u64| {
            let mut alerts = Vec::new();
            e.check(t, |a| alerts.push((a.key.to_vec(), a.usual_ns)));
            alerts
        };
        let web1 = || vec![(b"web1".to_vec(), 5 * S)];
        assert!(
            check(&mut e, 45 * S + 20 * S).is_empty(),
            "20 s: < 10 x 5 s"
        );
        assert_eq!(check(&mut e, 45 * S + 60 * S), web1(), "quiet 60 s");
        assert!(
            check(&mut e, 45 * S + 120 * S).is_empty(),
            "once per silence"
        );
        // It sends again, then goes quiet again: a new alert.
        for i in 0..3 {
            send(&mut e, "web1", 200 * S + i * 5 * S);
        }
        let again = check(&mut e, 400 * S);
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].0, b"web1");
    }

    #[test]
    fn new_and_rare_senders_do_not_alert() {
        let mut e = engine();
        for i in 0..3 {
            send(&mut e, "new", i * S);
        }
        let mut alerts = 0;
        e.check(1000 * S, |_| alerts += 1);
        assert_eq!(alerts, 0, "fewer than min_events");
    }

    #[test]
    fn keys_are_bounded_and_evictions_counted() {
        let rules = engine().rules().to_vec();
        // One bucket is the least a table has.
        let mut e = SilenceEngine::new(rules, 2);
        for host in ["a", "b", "c", "d", "e", "f", "g", "h", "i"] {
            send(&mut e, host, 0);
        }
        let ways = crate::table::WAYS;
        assert_eq!((e.keys(), e.evicted()), (ways, 9 - ways as u64));
    }

    #[test]
    fn bad_rules_name_the_field() {
        let e = from_toml(
            "s.toml",
            "[[silence]]\nid = \"q\"\ntitle = \"t\"\ngroup_by = \"pid\"\nfactor = 10\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("silence \"q\".group_by"), "{e}");
        // A file with only threshold rules has no silence rules.
        assert!(
            from_toml("t.toml", "[[threshold]]\nid = \"x\"\n")
                .unwrap()
                .is_empty()
        );
    }
}
