//! Routes: which rules' literals an event is screened for. A rule whose log source cannot take
//! an event should cost it nothing, so a set keeps one prefilter per group of rules that the
//! same kind of event may reach: by the event's payload format, whether it carries a Cisco tag,
//! and which of the apps the log sources name it comes from (or none of them). An event is
//! screened once, with its route's prefilter only; its rules' log sources are still checked in
//! full afterwards, since a route only leaves out rules that cannot take the event (it does not
//! look at a category's event field).
//!
//! Why: with ten times the shipped rules (`bench detect`, 1,591 literals), one prefilter over
//! every literal ran 3.1 million events/s with the screen (2.0 million with the automaton);
//! the routes, each with only the literals its events may need, 10-11 million.

use std::collections::HashMap;

use super::super::literals::LiteralSet;
use super::logsource::Gate;
use crate::parse::{Event, Payload};

/// The rules one kind of event may reach, and their prefilter.
#[derive(Debug)]
pub(super) struct Route {
    pub(super) prefilter: LiteralSet,
    /// Literal index (of this route's prefilter) -> the rules it makes candidates.
    pub(super) pattern_rules: Vec<Vec<u32>>,
    /// Rules of the route evaluated on every event it takes (they need no literal).
    pub(super) always: Vec<u32>,
}

/// Every route of a set, and how an event finds its own.
#[derive(Debug)]
pub(super) struct Routes {
    pub(super) routes: Vec<Route>,
    /// The apps the log sources name, lowercased; an event from another is of class `len`.
    apps: Vec<Vec<u8>>,
    /// Open addressing, linear probing, at most an eighth full, indexed by the hash's high
    /// bits: (hash of a lowercased app, its index + 1; 0: free). Most events come from an app
    /// no log source names, and such a look-up ends at the first free slot.
    app_slots: Vec<(u64, u16)>,
    /// (payload, Cisco tag or not, app class) -> route.
    table: Vec<u16>,
}

/// Hash of `app`, ASCII case aside: eight bytes a step, each byte's `0x20` bit set (so a
/// letter reads the same in either case; a few other bytes pair up too, which the comparison
/// after the look-up tells apart). Apps are short: one or two steps. The table it indexes is
/// fixed and at most an eighth full, so a chosen collision costs a probe, nothing more.
#[inline]
fn app_hash(app: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mix = |h: u64, word: u64| {
        let m = u128::from(h ^ (word | 0x2020_2020_2020_2020)) * u128::from(K);
        (m as u64) ^ ((m >> 64) as u64)
    };
    let mut words = app.chunks_exact(8);
    let mut h = app.len() as u64;
    for w in &mut words {
        h = mix(h, u64::from_le_bytes(w.try_into().expect("eight bytes")));
    }
    let tail = words.remainder();
    if tail.is_empty() {
        return h;
    }
    let word = tail
        .iter()
        .rev()
        .fold(0u64, |w, &b| (w << 8) | u64::from(b));
    mix(h, word)
}

/// The first slot to look in for hash `h` in a table of `slots` (a power of two, at least 2):
/// the hash's high bits, the best mixed of a multiply hash.
#[inline]
fn home_slot(h: u64, slots: usize) -> usize {
    (h >> (64 - slots.trailing_zeros())) as usize
}

/// Whether `gate` may take an event of `payload`, with a Cisco tag or not, from `app` (lowercased;
/// `None`: none of the apps the log sources name). What [`Gate::takes`] decides, without the
/// category's event field.
fn may_take(gate: &Gate, payload: Payload, cisco: bool, app: Option<&[u8]>) -> bool {
    (!gate.tagged || cisco)
        && gate
            .category
            .as_ref()
            .is_none_or(|cs| cs.iter().any(|c| c.payload == payload))
        && gate.service.as_ref().is_none_or(|s| {
            s.payload == Some(payload)
                || (cisco && !s.tags.is_empty())
                || app.is_some_and(|a| s.apps.iter().any(|w| w.as_bytes().eq_ignore_ascii_case(a)))
        })
}

impl Routes {
    /// The routes of rules whose log sources are `gates` (by rule: an index into `gates`, or
    /// `u32::MAX` for a rule open to every message) and whose literals are `literals` (by
    /// rule: `None` for a rule evaluated on every event).
    pub(super) fn new(
        gates: &[Gate],
        rule_gate: &[u32],
        literals: &[Option<Vec<Vec<u8>>>],
    ) -> Self {
        debug_assert!(
            Payload::ALL
                .iter()
                .enumerate()
                .all(|(i, p)| *p as usize == i),
            "a payload's index is its place in Payload::ALL"
        );
        let mut apps: Vec<Vec<u8>> = Vec::new();
        for g in gates {
            for a in g.service.iter().flat_map(|s| &s.apps) {
                let a = a.to_ascii_lowercase().into_bytes();
                if !apps.contains(&a) {
                    apps.push(a);
                }
            }
        }
        let classes = apps.len() + 1;
        let mut members: Vec<Vec<u32>> = Vec::new();
        let mut table = Vec::with_capacity(Payload::ALL.len() * 2 * classes);
        for payload in Payload::ALL {
            for cisco in [false, true] {
                for class in 0..classes {
                    let app = apps.get(class).map(Vec::as_slice);
                    let rules: Vec<u32> = (0..rule_gate.len() as u32)
                        .filter(|&r| {
                            let g = rule_gate[r as usize];
                            g == u32::MAX || may_take(&gates[g as usize], payload, cisco, app)
                        })
                        .collect();
                    let route = members.iter().position(|m| *m == rules).unwrap_or_else(|| {
                        members.push(rules);
                        members.len() - 1
                    });
                    table.push(route as u16);
                }
            }
        }
        let routes = members
            .iter()
            .map(|rules| {
                let mut lits: Vec<Vec<u8>> = Vec::new();
                let mut by_text: HashMap<Vec<u8>, usize> = HashMap::new();
                let mut pattern_rules: Vec<Vec<u32>> = Vec::new();
                let mut always = Vec::new();
                for &r in rules {
                    let Some(rule_lits) = &literals[r as usize] else {
                        always.push(r);
                        continue;
                    };
                    for l in rule_lits {
                        let p = *by_text.entry(l.to_ascii_lowercase()).or_insert_with(|| {
                            lits.push(l.clone());
                            pattern_rules.push(Vec::new());
                            lits.len() - 1
                        });
                        if !pattern_rules[p].contains(&r) {
                            pattern_rules[p].push(r);
                        }
                    }
                }
                Route {
                    prefilter: LiteralSet::new(&lits),
                    pattern_rules,
                    always,
                }
            })
            .collect();
        let mut app_slots = vec![(0u64, 0u16); (8 * apps.len()).next_power_of_two().max(2)];
        let mask = app_slots.len() - 1;
        for (i, a) in apps.iter().enumerate() {
            let h = app_hash(a);
            let mut at = home_slot(h, app_slots.len());
            while app_slots[at].1 != 0 {
                at = (at + 1) & mask;
            }
            app_slots[at] = (h, i as u16 + 1);
        }
        Self {
            routes,
            apps,
            app_slots,
            table,
        }
    }

    /// The route of `e`.
    #[inline]
    pub(super) fn of(&self, e: &Event<'_>) -> &Route {
        let classes = self.apps.len() + 1;
        let class = e
            .app
            .filter(|_| !self.apps.is_empty())
            .and_then(|a| self.app_class(a))
            .unwrap_or(self.apps.len());
        let payload = e.payload as usize;
        let key = (payload * 2 + usize::from(e.cisco.is_some())) * classes + class;
        &self.routes[usize::from(self.table[key])]
    }

    /// The index of `app` among the apps the log sources name.
    fn app_class(&self, app: &[u8]) -> Option<usize> {
        let h = app_hash(app);
        let mask = self.app_slots.len() - 1;
        let mut at = home_slot(h, self.app_slots.len());
        loop {
            let (key, index) = self.app_slots[at];
            if index == 0 {
                return None;
            }
            let i = usize::from(index - 1);
            if key == h && self.apps[i].eq_ignore_ascii_case(app) {
                return Some(i);
            }
            at = (at + 1) & mask;
        }
    }

    /// Routes, distinct.
    pub(super) fn len(&self) -> usize {
        self.routes.len()
    }
}
