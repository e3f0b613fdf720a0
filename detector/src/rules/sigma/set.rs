//! A set of rules evaluated together, through one literal prefilter and one RegexSet per field.

use super::super::literals::SCREEN_MIN_LEN;
use super::logsource::Gate;
use super::matcher::*;
use super::route::Routes;
use super::rule::SigmaRule;
use crate::parse::Event;

/// Gathers every `re` value of `rules` into one RegexSet per field (the same pattern once), and
/// tells each value its place. A group whose set does not build (each pattern compiled on its
/// own, but together they may pass the size limit) is kept without a set: its values run on
/// their own.
pub(super) fn regex_groups(rules: &mut [SigmaRule]) -> Vec<RegexGroup> {
    let mut groups: Vec<(Field, Vec<String>)> = Vec::new();
    for rule in rules.iter_mut() {
        for (_, search) in &mut rule.searches {
            for (field, re) in search.regexes_mut() {
                let g = groups
                    .iter()
                    .position(|(f, _)| *f == field)
                    .unwrap_or_else(|| {
                        groups.push((field, Vec::new()));
                        groups.len() - 1
                    });
                let patterns = &mut groups[g].1;
                let pattern = re.regex.as_str();
                let p = patterns
                    .iter()
                    .position(|p| p == pattern)
                    .unwrap_or_else(|| {
                        patterns.push(pattern.to_string());
                        patterns.len() - 1
                    });
                re.slot = Some((g as u32, p as u32));
            }
        }
    }
    // As `regex::bytes::RegexSet` builds its sets: every pattern reported, and bytes that are
    // not UTF-8 allowed.
    groups
        .into_iter()
        .map(|(field, patterns)| RegexGroup {
            field,
            set: regex_automata::meta::Builder::new()
                .configure(
                    regex_automata::meta::Config::new()
                        .match_kind(regex_automata::MatchKind::All)
                        .utf8_empty(false),
                )
                .syntax(regex_automata::util::syntax::Config::new().utf8(false))
                .build_many(&patterns)
                .ok(),
        })
        .collect()
}

/// A set of Sigma rules evaluated together: the literals the rules need go into a
/// [`LiteralSet`](crate::rules::literals::LiteralSet) per route (the rules one kind of event
/// may reach: its payload format, Cisco tag and app), one pass over the message with its
/// route's finds the candidate rules, and only those (and the rules that need no literal) are
/// evaluated in full. A rule needs a literal when every way its
/// condition can match looks for a string in the message: a keyword, or a field's value (each
/// value a rule reads is a run of the message's bytes). Each distinct log source is checked at
/// most once per event, when a candidate of it asks. The `re` values go through one RegexSet
/// per field, run at most once per event and only when a candidate asks.
#[derive(Debug)]
pub struct SigmaSet {
    pub(super) rules: Vec<SigmaRule>,
    /// Every `re` value of the rules, one RegexSet per field: run once per event that a
    /// candidate rule asks about it, over each value of the field.
    pub(super) regexes: Vec<RegexGroup>,
    /// Tells this set's scratch state from another's.
    pub(super) id: u64,
    /// The prefilters, one per kind of event the rules' log sources may take.
    pub(super) routes: Routes,
    /// Rules that need no literal (evaluated on every event their log source may take).
    pub(super) always: Vec<u32>,
    /// Rules that read a field an audit record may give a value not in its text (a hex string
    /// decoded, a system call's name): candidates for every audit record, whatever the
    /// prefilter finds.
    pub(super) audit: Vec<u32>,
    /// The prefilter's literals, in its order.
    pub(super) literals: Vec<Vec<u8>>,
    /// The distinct log sources of the rules that are not open to every message.
    pub(super) gates: Vec<Gate>,
    /// Rule index -> its gate in `gates`, or [`OPEN`].
    pub(super) rule_gate: Vec<u32>,
}

/// The gate of a rule whose log source takes every message.
const OPEN: u32 = u32::MAX;

/// The `re` values that look at one field, as one RegexSet (none when it did not build).
#[derive(Debug)]
pub(super) struct RegexGroup {
    pub(super) field: Field,
    pub(super) set: Option<regex_automata::meta::Regex>,
}

/// Per-worker scratch of [`SigmaSet::for_each_match`], so matching does not allocate.
#[derive(Debug, Default)]
pub struct SigmaScratch {
    pub(super) seen: Vec<u64>,
    pub(super) generation: u64,
    pub(super) candidates: Vec<u32>,
    /// The set the regex state below was made for.
    pub(super) set_id: u64,
    /// Per regex group of that set (none for a group without a RegexSet).
    pub(super) regexes: Vec<Option<GroupMemo>>,
    /// Per gate of that set: the event (`generation`) it was last checked for, shifted left
    /// once, with whether it took that event in the low bit.
    pub(super) gates: Vec<u64>,
}

/// One regex group's result for the current event.
#[derive(Debug)]
pub(super) struct GroupMemo {
    /// The event (`SigmaScratch::generation`) `matched` is for.
    pub(super) generation: u64,
    pub(super) matched: regex_automata::PatternSet,
    pub(super) cache: regex_automata::meta::Cache,
}

/// `re` values through their field's RegexSet: each group runs at most once per event.
pub(super) struct RegexMemo<'a> {
    pub(super) groups: &'a [RegexGroup],
    pub(super) memos: &'a mut [Option<GroupMemo>],
    pub(super) generation: u64,
}

impl ReEval for RegexMemo<'_> {
    fn any_value(&mut self, field: &Field, re: &Re, e: &Event<'_>) -> bool {
        let Some((group, pattern)) = re.slot else {
            return Alone.any_value(field, re, e);
        };
        let g = &self.groups[group as usize];
        let (Some(set), Some(memo)) = (&g.set, &mut self.memos[group as usize]) else {
            return Alone.any_value(field, re, e);
        };
        if memo.generation != self.generation {
            memo.generation = self.generation;
            memo.matched.clear();
            g.field.any_value(e, |v| {
                let input = regex_automata::Input::new(v);
                set.which_overlapping_matches_with(&mut memo.cache, &input, &mut memo.matched);
                memo.matched.is_full()
            });
        }
        memo.matched
            .contains(regex_automata::PatternID::must(pattern as usize))
    }
}

/// Tells sets apart (for their scratch state).
pub(super) static NEXT_SET_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl SigmaSet {
    /// Compiles the prefilter of `rules`.
    pub fn new(mut rules: Vec<SigmaRule>) -> Self {
        let mut literals: Vec<Vec<u8>> = Vec::new();
        let mut always = Vec::new();
        let rule_literals: Vec<Option<Vec<Vec<u8>>>> = rules
            .iter()
            .enumerate()
            .map(|(i, r)| {
                // A literal too short for the screen would turn a whole prefilter into an
                // automaton: such a rule is evaluated on every event instead.
                match r.condition.required_literals(&r.searches) {
                    Some(lits)
                        if !lits.is_empty() && lits.iter().all(|l| l.len() >= SCREEN_MIN_LEN) =>
                    {
                        for lit in &lits {
                            if !literals.iter().any(|l| l.eq_ignore_ascii_case(lit)) {
                                literals.push(lit.clone());
                            }
                        }
                        Some(lits)
                    }
                    _ => {
                        always.push(i as u32);
                        None
                    }
                }
            })
            .collect();
        let audit = (0..rules.len() as u32)
            .filter(|&i| {
                let r = &rules[i as usize];
                !always.contains(&i)
                    && r.searches
                        .iter()
                        .any(|(_, s)| s.reads(Field::audit_derived))
            })
            .collect();
        let regexes = regex_groups(&mut rules);
        let mut gates: Vec<Gate> = Vec::new();
        let rule_gate: Vec<u32> = rules
            .iter()
            .map(|r| {
                if r.logsource.is_open() {
                    return OPEN;
                }
                let g = gates
                    .iter()
                    .position(|g| *g == r.logsource)
                    .unwrap_or_else(|| {
                        gates.push(r.logsource.clone());
                        gates.len() - 1
                    });
                g as u32
            })
            .collect();
        let routes = Routes::new(&gates, &rule_gate, &rule_literals);
        Self {
            gates,
            rule_gate,
            literals,
            rules,
            regexes,
            id: NEXT_SET_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            routes,
            always,
            audit,
        }
    }

    /// The rules, by index.
    pub fn rules(&self) -> &[SigmaRule] {
        &self.rules
    }

    /// The literals of the prefilter: an event is a candidate for a rule only when its body
    /// contains (ASCII case aside) one of that rule's literals.
    pub fn literals(&self) -> &[Vec<u8>] {
        &self.literals
    }

    /// Prefilters: one per group of rules that one kind of event may reach (by payload
    /// format, Cisco tag, app).
    pub fn routes(&self) -> usize {
        self.routes.len()
    }

    /// Whether every prefilter is searched with the screen (none with an automaton).
    pub fn screened(&self) -> bool {
        self.routes
            .routes
            .iter()
            .all(|r| r.prefilter.uses_screen() || r.pattern_rules.is_empty())
    }

    /// RegexSets the `re` values were gathered into (one per field they look at).
    pub fn regex_sets(&self) -> usize {
        self.regexes.iter().filter(|g| g.set.is_some()).count()
    }

    /// Rules that skip the prefilter (evaluated on every event).
    pub fn unfiltered(&self) -> usize {
        self.always.len()
    }

    /// Scratch space for matching with this set, with everything it needs allocated now: even
    /// the first match allocates nothing.
    pub fn scratch(&self) -> SigmaScratch {
        let mut s = SigmaScratch::default();
        self.prepare(&mut s);
        s
    }

    /// Sizes `scratch` for this set, once.
    pub(super) fn prepare(&self, scratch: &mut SigmaScratch) {
        if scratch.set_id == self.id && scratch.seen.len() >= self.rules.len() {
            return;
        }
        scratch.seen.resize(self.rules.len(), 0);
        scratch.gates = vec![0; self.gates.len()];
        scratch
            .candidates
            .reserve(2 * self.rules.len() + self.always.len());
        // One memo per regex group.
        scratch.set_id = self.id;
        scratch.regexes = self
            .regexes
            .iter()
            .map(|g| {
                g.set.as_ref().map(|set| GroupMemo {
                    generation: 0,
                    matched: regex_automata::PatternSet::new(set.pattern_len()),
                    cache: set.create_cache(),
                })
            })
            .collect();
    }

    /// Calls `f` with the index of every rule that matches `e`, in rule order.
    pub fn for_each_match(
        &self,
        e: &Event<'_>,
        scratch: &mut SigmaScratch,
        mut f: impl FnMut(usize),
    ) {
        self.prepare(scratch);
        scratch.generation += 1;
        scratch.candidates.clear();
        let route = self.routes.of(e);
        scratch.candidates.extend_from_slice(&route.always);
        if e.payload == crate::parse::Payload::Audit {
            scratch.candidates.extend_from_slice(&self.audit);
        }
        route.prefilter.find_each(e.input, |literal| {
            for &r in &route.pattern_rules[literal] {
                if scratch.seen[r as usize] != scratch.generation {
                    scratch.seen[r as usize] = scratch.generation;
                    scratch.candidates.push(r);
                }
            }
            false
        });
        scratch.candidates.sort_unstable();
        scratch.candidates.dedup();
        let generation = scratch.generation;
        let mut res = RegexMemo {
            groups: &self.regexes,
            memos: &mut scratch.regexes,
            generation,
        };
        for &r in &scratch.candidates {
            let rule = &self.rules[r as usize];
            let g = self.rule_gate[r as usize];
            if g != OPEN {
                let memo = &mut scratch.gates[g as usize];
                if *memo >> 1 != generation {
                    *memo = generation << 1 | u64::from(self.gates[g as usize].takes(e));
                }
                if *memo & 1 == 0 {
                    continue;
                }
            }
            if rule.condition.eval(&rule.searches, e, &mut res) {
                f(r as usize);
            }
        }
    }
}
