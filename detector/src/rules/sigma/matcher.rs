//! What a compiled rule is made of, and how it matches an event: fields, matchers, field
//! matches, keywords, searches and the condition's expression.

use std::net::IpAddr;

use super::super::{literals::LiteralSet, pattern::StrPattern};
use crate::parse::{Event, audit};

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Field {
    Message,
    Host,
    App,
    ProcId,
    MsgId,
    Facility,
    Severity,
    Other(String),
}

impl Field {
    pub(crate) fn from_name(name: &str) -> Self {
        match name.to_ascii_lowercase().as_str() {
            "message" | "msg" => Field::Message,
            "host" | "hostname" => Field::Host,
            "app" | "appname" | "program" => Field::App,
            "procid" | "pid" => Field::ProcId,
            "msgid" => Field::MsgId,
            "facility" => Field::Facility,
            "severity" => Field::Severity,
            _ => Field::Other(name.to_string()),
        }
    }

    /// Whether every value of this field is a run of the message's own bytes (`Event::input`):
    /// all but the facility and severity, which are names for the PRI's numbers. The prefilter
    /// of [`SigmaSet`](super::SigmaSet) relies on it: a value that holds a literal puts that
    /// literal in the message. Audit records are the exception it handles apart: see
    /// [`Field::audit_derived`].
    pub(crate) fn verbatim(&self) -> bool {
        !matches!(self, Field::Facility | Field::Severity)
    }

    /// Whether an audit record may give this field a value that is not in the message: a hex
    /// string decoded, a system call's name.
    pub(crate) fn audit_derived(&self) -> bool {
        match self {
            Field::Other(name) => {
                audit::may_be_hex(name.as_bytes()) || name.eq_ignore_ascii_case("syscall")
            }
            _ => false,
        }
    }

    /// Calls `f` with every value of this field in `e`, until it returns true.
    pub(crate) fn any_value(&self, e: &Event<'_>, mut f: impl FnMut(&[u8]) -> bool) -> bool {
        match self {
            Field::Message => f(e.body),
            Field::Host => e.host.is_some_and(f),
            Field::App => e.app.is_some_and(f),
            Field::ProcId => e.procid.is_some_and(f),
            Field::MsgId => e.msgid.is_some_and(f),
            Field::Facility => e.pri.is_some_and(|p| f(p.facility.name().as_bytes())),
            Field::Severity => e.pri.is_some_and(|p| f(p.severity.name().as_bytes())),
            Field::Other(name) => {
                // An audit record's value is also read as what it encodes: a hex string
                // decoded, a system call by name (`crate::parse::audit`).
                e.fields().any(|x| {
                    x.key.eq_ignore_ascii_case(name.as_bytes())
                        && (f(x.value) || audit::derived_values(e, x.key, x.value, &mut f))
                }) || e.sd_params().any(|(_, k, v)| k == name.as_bytes() && f(v))
            }
        }
    }
}

#[derive(Clone, Debug)]
pub(super) enum Matcher {
    Str(StrPattern),
    Re(Re),
    Cidr(IpAddr, u8),
    /// `lt`, `lte`, `gt`, `gte`: the field's value read as a number, compared with this one.
    Num(Compare, f64),
    /// `null`: the field is absent or empty.
    Null,
    /// `neq`: a value the matcher does not match.
    Not(Box<Matcher>),
    /// `fieldref`: the value of another field, compared as the kind says (`fieldref` alone:
    /// equal; with `contains`, `startswith`, `endswith`), ASCII case aside unless `cased`.
    FieldRef(Field, FieldRefKind, bool),
}

/// How a `fieldref` value is compared with the field it names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum FieldRefKind {
    Exact,
    Contains,
    StartsWith,
    EndsWith,
}

impl From<super::super::pattern::StrKind> for FieldRefKind {
    fn from(k: super::super::pattern::StrKind) -> Self {
        use super::super::pattern::StrKind;
        match k {
            StrKind::Contains => Self::Contains,
            StrKind::StartsWith => Self::StartsWith,
            StrKind::EndsWith => Self::EndsWith,
            StrKind::Exact | StrKind::Glob => Self::Exact,
        }
    }
}

impl FieldRefKind {
    /// Whether `value` holds `other` as the kind says.
    fn holds(self, value: &[u8], other: &[u8], cased: bool) -> bool {
        let eq = |a: &[u8], b: &[u8]| {
            if cased {
                a == b
            } else {
                a.eq_ignore_ascii_case(b)
            }
        };
        match self {
            Self::Exact => eq(value, other),
            Self::StartsWith => value.len() >= other.len() && eq(&value[..other.len()], other),
            Self::EndsWith => {
                value.len() >= other.len() && eq(&value[value.len() - other.len()..], other)
            }
            Self::Contains => other.is_empty() || value.windows(other.len()).any(|w| eq(w, other)),
        }
    }
}

/// A numeric modifier's comparison: the field's value on the left.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Compare {
    Lt,
    Lte,
    Gt,
    Gte,
}

impl Compare {
    /// The comparison a modifier names.
    pub(super) fn from_modifier(m: &str) -> Option<Self> {
        Some(match m {
            "lt" => Self::Lt,
            "lte" => Self::Lte,
            "gt" => Self::Gt,
            "gte" => Self::Gte,
            _ => return None,
        })
    }

    fn holds(self, value: f64, bound: f64) -> bool {
        match self {
            Self::Lt => value < bound,
            Self::Lte => value <= bound,
            Self::Gt => value > bound,
            Self::Gte => value >= bound,
        }
    }
}

/// A field's value as a number (decimal, with a sign, a fraction or an exponent; white space
/// around it ignored), or `None` when it is not one.
fn number(v: &[u8]) -> Option<f64> {
    let n: f64 = std::str::from_utf8(v).ok()?.trim().parse().ok()?;
    n.is_finite().then_some(n)
}

/// A `re` value: its regex, and once a [`SigmaSet`](super::SigmaSet) holds the rule, its place
/// in the set's RegexSet for its field.
#[derive(Clone, Debug)]
pub(super) struct Re {
    pub(super) regex: regex::bytes::Regex,
    /// (group, pattern) in [`SigmaSet`](super::SigmaSet)'s regex groups.
    pub(super) slot: Option<(u32, u32)>,
}

impl Re {
    /// Literals of which every match holds one (ASCII case aside): the regex's prefixes, else
    /// its suffixes, whichever set is finite and has the longer shortest literal; `None` when
    /// neither is of use to a prefilter.
    fn required_literals(&self) -> Option<Vec<Vec<u8>>> {
        use regex_syntax::hir::literal::{ExtractKind, Extractor};
        let hir = regex_syntax::ParserBuilder::new()
            .utf8(false)
            .build()
            .parse(self.regex.as_str())
            .ok()?;
        let set = |kind| -> Option<Vec<Vec<u8>>> {
            let seq = Extractor::new().kind(kind).extract(&hir);
            let mut lits: Vec<Vec<u8>> = seq
                .literals()?
                .iter()
                .map(|l| l.as_bytes().to_ascii_lowercase())
                .collect();
            lits.sort();
            lits.dedup();
            (!lits.is_empty() && lits.iter().all(|l| !l.is_empty())).then_some(lits)
        };
        // On a tie the later set wins: the prefixes.
        rarest(
            [set(ExtractKind::Suffix), set(ExtractKind::Prefix)]
                .into_iter()
                .flatten(),
        )
    }
}

/// Of several literal sets each of which a match needs, the best filter: the set whose
/// shortest literal is longest (a one-byte literal such as `:` is in nearly every message;
/// lengths from four on count alike), then the set with fewer literals.
fn rarest(sets: impl Iterator<Item = Vec<Vec<u8>>>) -> Option<Vec<Vec<u8>>> {
    sets.max_by_key(|lits| {
        let shortest = lits.iter().map(Vec::len).min().unwrap_or(0).min(4);
        (shortest, std::cmp::Reverse(lits.len()))
    })
}

/// How `re` values are evaluated: each regex on its own ([`Alone`]), or through the
/// RegexSet of its field, run once per event ([`RegexMemo`](super::set::RegexMemo)).
pub(super) trait ReEval {
    /// Whether some value of `field` in `e` matches `re`.
    fn any_value(&mut self, field: &Field, re: &Re, e: &Event<'_>) -> bool;
}

/// Every regex on its own.
pub(super) struct Alone;

impl ReEval for Alone {
    fn any_value(&mut self, field: &Field, re: &Re, e: &Event<'_>) -> bool {
        field.any_value(e, |v| re.regex.is_match(v))
    }
}

impl Matcher {
    /// Literals of which a value it matches contains one (ASCII case aside), or `None`.
    fn required_literals(&self) -> Option<Vec<Vec<u8>>> {
        match self {
            Matcher::Str(p) => Some(vec![p.required_literal()?.to_vec()]),
            Matcher::Re(re) => re.required_literals(),
            Matcher::Cidr(..)
            | Matcher::Num(..)
            | Matcher::Null
            | Matcher::Not(_)
            | Matcher::FieldRef(..) => None,
        }
    }

    pub(super) fn matches(&self, v: &[u8]) -> bool {
        match self {
            Matcher::Str(p) => p.matches(v),
            Matcher::Re(r) => r.regex.is_match(v),
            Matcher::Cidr(net, len) => std::str::from_utf8(v)
                .ok()
                .and_then(|s| s.trim().parse::<IpAddr>().ok())
                .is_some_and(|ip| in_cidr(ip, *net, *len)),
            Matcher::Num(cmp, bound) => number(v).is_some_and(|n| cmp.holds(n, *bound)),
            Matcher::Null => v.is_empty(),
            Matcher::Not(m) => !m.matches(v),
            // Needs the event: see FieldMatch::matches.
            Matcher::FieldRef(..) => false,
        }
    }
}

pub(super) fn in_cidr(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = if len == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(len))
            };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(len))
            };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// One `field|modifiers: values` item: every value is a set of alternatives (from base64offset
/// or windash); the values are OR-ed, or AND-ed with `all`.
#[derive(Clone, Debug)]
pub(super) struct FieldMatch {
    pub(super) field: Field,
    pub(super) values: Vec<Vec<Matcher>>,
    pub(super) all: bool,
    /// `exists`: only whether the field is there.
    pub(super) exists: Option<bool>,
}

impl FieldMatch {
    /// Literals of which the message must contain one for this item to match, or `None` when
    /// it can match without any (see [`Expr::required_literals`]).
    fn required_literals(&self) -> Option<Vec<Vec<u8>>> {
        if self.exists.is_some() || !self.field.verbatim() {
            return None;
        }
        // A value matches when one of its alternatives does: each alternative needs a literal.
        let value = |alts: &Vec<Matcher>| -> Option<Vec<Vec<u8>>> {
            let mut out = Vec::new();
            for m in alts {
                out.extend(m.required_literals()?);
            }
            Some(out)
        };
        if self.all {
            rarest(self.values.iter().filter_map(value))
        } else {
            let mut out = Vec::new();
            for v in &self.values {
                out.extend(value(v)?);
            }
            Some(out)
        }
    }

    pub(super) fn matches(&self, e: &Event<'_>, res: &mut impl ReEval) -> bool {
        if let Some(want) = self.exists {
            return self.field.any_value(e, |_| true) == want;
        }
        let mut value_matches = |alts: &Vec<Matcher>| {
            if alts.iter().any(|m| matches!(m, Matcher::Null)) && !self.field.any_value(e, |_| true)
            {
                return true;
            }
            alts.iter().any(|m| match m {
                Matcher::Re(re) => res.any_value(&self.field, re, e),
                Matcher::FieldRef(other, kind, cased) => self
                    .field
                    .any_value(e, |v| other.any_value(e, |w| kind.holds(v, w, *cased))),
                m => self.field.any_value(e, |v| m.matches(v)),
            })
        };
        if self.all {
            self.values.iter().all(&mut value_matches)
        } else {
            self.values.iter().any(value_matches)
        }
    }
}

/// Keyword alternatives, matched anywhere in the body: the plain case-insensitive literals in
/// one [`LiteralSet`] (one pass over the body for all of them), the rest one by one.
#[derive(Clone, Debug)]
pub(super) struct Keywords {
    pub(super) literals: LiteralSet,
    pub(super) literal_patterns: Vec<Vec<u8>>,
    pub(super) others: Vec<Matcher>,
}

impl Keywords {
    pub(super) fn new(all: Vec<Matcher>) -> Self {
        let mut literals = Vec::new();
        let mut others = Vec::new();
        for m in all {
            match &m {
                Matcher::Str(p) => match p.contains_literal() {
                    Some((lit, false)) if !lit.is_empty() => literals.push(lit.to_vec()),
                    _ => others.push(m),
                },
                _ => others.push(m),
            }
        }
        Self {
            literals: LiteralSet::new(&literals),
            literal_patterns: literals,
            others,
        }
    }

    pub(super) fn matches(&self, e: &Event<'_>, res: &mut impl ReEval) -> bool {
        self.literals.is_match(e.body)
            || self.others.iter().any(|k| match k {
                Matcher::Re(re) => res.any_value(&Field::Message, re, e),
                k => k.matches(e.body),
            })
    }
}

#[derive(Clone, Debug)]
pub(super) enum Search {
    /// Keyword alternatives, matched anywhere in the body.
    Keywords(Keywords),
    /// OR of maps, each an AND of field matches.
    Maps(Vec<Vec<FieldMatch>>),
}

impl Search {
    pub(super) fn matches(&self, e: &Event<'_>, res: &mut impl ReEval) -> bool {
        match self {
            Search::Keywords(ks) => ks.matches(e, res),
            Search::Maps(maps) => maps.iter().any(|m| m.iter().all(|f| f.matches(e, res))),
        }
    }

    /// Reads every field the search names that `to` maps (a pipeline's
    /// `field_name_mapping`) as the field it maps to.
    pub(super) fn rename_fields(&mut self, to: &impl Fn(&str) -> Option<String>) {
        let Search::Maps(maps) = self else {
            return;
        };
        let rename = |f: &mut Field| {
            if let Field::Other(name) = f
                && let Some(new) = to(name)
            {
                *f = Field::from_name(&new);
            }
        };
        for fm in maps.iter_mut().flatten() {
            rename(&mut fm.field);
            for m in fm.values.iter_mut().flatten() {
                if let Matcher::FieldRef(other, ..) = m {
                    rename(other);
                }
            }
        }
    }

    /// Whether some field match of the search reads a field for which `pred` holds.
    pub(super) fn reads(&self, pred: impl Fn(&Field) -> bool) -> bool {
        match self {
            Search::Keywords(_) => false,
            Search::Maps(maps) => maps.iter().flatten().any(|f| pred(&f.field)),
        }
    }

    /// Every `re` value of the search, with the field it looks at.
    pub(super) fn regexes_mut(&mut self) -> Vec<(Field, &mut Re)> {
        match self {
            Search::Keywords(ks) => ks
                .others
                .iter_mut()
                .filter_map(|m| match m {
                    Matcher::Re(re) => Some((Field::Message, re)),
                    _ => None,
                })
                .collect(),
            Search::Maps(maps) => maps
                .iter_mut()
                .flatten()
                .flat_map(|f| {
                    let field = &f.field;
                    f.values.iter_mut().flatten().filter_map(move |m| match m {
                        Matcher::Re(re) => Some((field.clone(), re)),
                        _ => None,
                    })
                })
                .collect(),
        }
    }
}

#[derive(Clone, Debug)]
pub(super) enum Expr {
    Search(usize),
    Not(Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
}

impl Expr {
    /// The same expression over searches moved `by` places on (appended to another list).
    pub(super) fn shifted(&self, by: usize) -> Expr {
        match self {
            Expr::Search(i) => Expr::Search(i + by),
            Expr::Not(x) => Expr::Not(Box::new(x.shifted(by))),
            Expr::And(xs) => Expr::And(xs.iter().map(|x| x.shifted(by)).collect()),
            Expr::Or(xs) => Expr::Or(xs.iter().map(|x| x.shifted(by)).collect()),
        }
    }

    pub(super) fn eval(
        &self,
        searches: &[(String, Search)],
        e: &Event<'_>,
        res: &mut impl ReEval,
    ) -> bool {
        match self {
            Expr::Search(i) => searches[*i].1.matches(e, res),
            Expr::Not(x) => !x.eval(searches, e, res),
            Expr::And(xs) => xs.iter().all(|x| x.eval(searches, e, res)),
            Expr::Or(xs) => xs.iter().any(|x| x.eval(searches, e, res)),
        }
    }
}

impl Expr {
    /// Literals of which the message (`Event::input`, header and body) must contain at least
    /// one, ASCII case aside, for the expression to be true; `None` when it can be true without
    /// any (a negation, a numeric or CIDR match, `exists`, a regex without a literal prefix or
    /// suffix). Sound because every value a rule reads is a run of the message's bytes
    /// ([`Field::verbatim`]), and keywords look at the body.
    pub(super) fn required_literals(&self, searches: &[(String, Search)]) -> Option<Vec<Vec<u8>>> {
        match self {
            Expr::Search(i) => match &searches[*i].1 {
                Search::Keywords(k) => k.required_literals(),
                // One map of several must match, and every item of it.
                Search::Maps(maps) => {
                    let mut out = Vec::new();
                    for map in maps {
                        out.extend(rarest(
                            map.iter().filter_map(FieldMatch::required_literals),
                        )?);
                    }
                    Some(out)
                }
            },
            Expr::Not(_) => None,
            // Every branch must be able to fire, so all their literals are candidates.
            Expr::Or(xs) => {
                let mut all = Vec::new();
                for x in xs {
                    all.extend(x.required_literals(searches)?);
                }
                Some(all)
            }
            // One branch that needs a literal is enough: the rarest set.
            Expr::And(xs) => rarest(xs.iter().filter_map(|x| x.required_literals(searches))),
        }
    }
}

impl Keywords {
    pub(super) fn required_literals(&self) -> Option<Vec<Vec<u8>>> {
        let mut out: Vec<Vec<u8>> = self.literal_patterns.clone();
        for m in &self.others {
            out.extend(m.required_literals()?);
        }
        Some(out)
    }
}
