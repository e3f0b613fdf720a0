//! Sigma rules (<https://sigmahq.io/docs/basics/rules.html>) compiled to matchers over parsed
//! syslog events.
//!
//! Supported: `keywords` lists; selections as maps and lists of maps; field modifiers
//! `contains`, `startswith`, `endswith`, `all`, `re` (with its flags `i`, `m`, `s`), `cidr`,
//! `base64`, `base64offset`, `windash`, `exists`, `cased`, and their combinations; wildcards
//! `*` and `?` with escapes; conditions with `and`, `or`, `not`, parentheses, `1 of`, `all of`,
//! `them` and name patterns such as `selection_*`. A rule using anything else (an unknown modifier, an aggregation like
//! `| count()`, an unmapped log source) is rejected at load with an error naming the file and the
//! construct; it is never half-applied.
//!
//! Fields: `message` (also `msg`, `Message`) is the body, `host`/`hostname`, `app`/`appname`/
//! `program`, `procid`/`pid`, `msgid`, `facility`, `severity`; any other name is looked up among
//! the body's payload fields (JSON, CEF, LEEF, key=value, audit) and structured-data parameters.
//! Keywords match anywhere in the message body.

use std::{fmt, net::IpAddr};

use serde_yaml::Value;

use super::{
    literals::LiteralSet,
    pattern::{StrKind, StrPattern},
};
use crate::parse::Event;

/// Why a rule was rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleError {
    /// The rule file.
    pub file: String,
    /// The construct that is wrong or unsupported (a field, a modifier, the condition).
    pub construct: String,
    /// What is wrong with it.
    pub message: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.file, self.construct, self.message)
    }
}

impl std::error::Error for RuleError {}

/// Sigma rule level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// informational
    Informational,
    /// low
    Low,
    /// medium
    Medium,
    /// high
    High,
    /// critical
    Critical,
}

impl Level {
    /// The level with this Sigma name.
    pub fn from_name(name: &str) -> Option<Level> {
        [
            Level::Informational,
            Level::Low,
            Level::Medium,
            Level::High,
            Level::Critical,
        ]
        .into_iter()
        .find(|l| l.name() == name)
    }

    /// The Sigma name.
    pub fn name(self) -> &'static str {
        match self {
            Level::Informational => "informational",
            Level::Low => "low",
            Level::Medium => "medium",
            Level::High => "high",
            Level::Critical => "critical",
        }
    }
}

/// How Sigma log sources map onto syslog: `product: linux` is every message; a `service` is a
/// set of app names (tags). Configurable; [`LogsourceMap::default`] covers the SigmaHQ Linux
/// rules.
#[derive(Clone, Debug)]
pub struct LogsourceMap {
    /// Products whose rules apply to every message.
    pub products: Vec<String>,
    /// Service -> the app names (case-insensitive) its messages come from.
    pub services: Vec<(String, Vec<String>)>,
}

impl LogsourceMap {
    /// The app names of `service`.
    pub fn service_apps(&self, service: &str) -> Option<Vec<String>> {
        self.services
            .iter()
            .find(|(s, _)| s == service)
            .map(|(_, apps)| apps.clone())
    }
}

/// A rule's `tags`: a list of strings (others are an error); none when absent.
pub(crate) fn parse_tags(tags: &Value) -> Result<Vec<String>, String> {
    match tags {
        Value::Null => Ok(Vec::new()),
        Value::Sequence(list) => list
            .iter()
            .map(|t| {
                t.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("{t:?} is not a string"))
            })
            .collect(),
        other => Err(format!("{other:?} is not a list")),
    }
}

/// A rule's `level` (medium when absent).
pub(crate) fn parse_level(level: Option<&str>) -> Result<Level, String> {
    let name = level.unwrap_or("medium");
    Level::from_name(name).ok_or_else(|| format!("unknown level {name:?}"))
}

impl Default for LogsourceMap {
    fn default() -> Self {
        let s = |name: &str, apps: &[&str]| {
            (
                name.to_string(),
                apps.iter().map(|a| a.to_string()).collect(),
            )
        };
        Self {
            products: vec!["linux".into()],
            services: vec![
                s("sshd", &["sshd"]),
                s("cron", &["cron", "crond", "crontab"]),
                s("syslog", &["syslogd", "rsyslogd", "syslog-ng", "syslog"]),
                s("clamav", &["clamd", "freshclam", "clamav", "clamscan"]),
                s("guacamole", &["guacd", "guacamole"]),
                s("sudo", &["sudo"]),
                s("auth", &["sshd", "sudo", "su", "login", "passwd"]),
                s("auditd", &["auditd", "audit"]),
                s("vsftpd", &["vsftpd"]),
            ],
        }
    }
}

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
                e.fields()
                    .any(|x| x.key.eq_ignore_ascii_case(name.as_bytes()) && f(x.value))
                    || e.sd_params().any(|(_, k, v)| k == name.as_bytes() && f(v))
            }
        }
    }
}

#[derive(Clone, Debug)]
enum Matcher {
    Str(StrPattern),
    Re(Re),
    Cidr(IpAddr, u8),
    /// `null`: the field is absent or empty.
    Null,
}

/// A `re` value: its regex, and once a [`SigmaSet`] holds the rule, its place in the set's
/// RegexSet for its field.
#[derive(Clone, Debug)]
struct Re {
    regex: regex::bytes::Regex,
    /// (group, pattern) in [`SigmaSet`]'s regex groups.
    slot: Option<(u32, u32)>,
}

/// How `re` values are evaluated: each regex on its own ([`Alone`]), or through the
/// RegexSet of its field, run once per event ([`RegexMemo`]).
trait ReEval {
    /// Whether some value of `field` in `e` matches `re`.
    fn any_value(&mut self, field: &Field, re: &Re, e: &Event<'_>) -> bool;
}

/// Every regex on its own.
struct Alone;

impl ReEval for Alone {
    fn any_value(&mut self, field: &Field, re: &Re, e: &Event<'_>) -> bool {
        field.any_value(e, |v| re.regex.is_match(v))
    }
}

impl Matcher {
    fn matches(&self, v: &[u8]) -> bool {
        match self {
            Matcher::Str(p) => p.matches(v),
            Matcher::Re(r) => r.regex.is_match(v),
            Matcher::Cidr(net, len) => std::str::from_utf8(v)
                .ok()
                .and_then(|s| s.trim().parse::<IpAddr>().ok())
                .is_some_and(|ip| in_cidr(ip, *net, *len)),
            Matcher::Null => v.is_empty(),
        }
    }
}

fn in_cidr(ip: IpAddr, net: IpAddr, len: u8) -> bool {
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
struct FieldMatch {
    field: Field,
    values: Vec<Vec<Matcher>>,
    all: bool,
    /// `exists`: only whether the field is there.
    exists: Option<bool>,
}

impl FieldMatch {
    fn matches(&self, e: &Event<'_>, res: &mut impl ReEval) -> bool {
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
struct Keywords {
    literals: LiteralSet,
    literal_patterns: Vec<Vec<u8>>,
    others: Vec<Matcher>,
}

impl Keywords {
    fn new(all: Vec<Matcher>) -> Self {
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

    fn matches(&self, e: &Event<'_>, res: &mut impl ReEval) -> bool {
        self.literals.is_match(e.body)
            || self.others.iter().any(|k| match k {
                Matcher::Re(re) => res.any_value(&Field::Message, re, e),
                k => k.matches(e.body),
            })
    }
}

#[derive(Clone, Debug)]
enum Search {
    /// Keyword alternatives, matched anywhere in the body.
    Keywords(Keywords),
    /// OR of maps, each an AND of field matches.
    Maps(Vec<Vec<FieldMatch>>),
}

impl Search {
    fn matches(&self, e: &Event<'_>, res: &mut impl ReEval) -> bool {
        match self {
            Search::Keywords(ks) => ks.matches(e, res),
            Search::Maps(maps) => maps.iter().any(|m| m.iter().all(|f| f.matches(e, res))),
        }
    }

    /// Every `re` value of the search, with the field it looks at.
    fn regexes_mut(&mut self) -> Vec<(Field, &mut Re)> {
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
enum Expr {
    Search(usize),
    Not(Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
}

impl Expr {
    fn eval(&self, searches: &[(String, Search)], e: &Event<'_>, res: &mut impl ReEval) -> bool {
        match self {
            Expr::Search(i) => searches[*i].1.matches(e, res),
            Expr::Not(x) => !x.eval(searches, e, res),
            Expr::And(xs) => xs.iter().all(|x| x.eval(searches, e, res)),
            Expr::Or(xs) => xs.iter().any(|x| x.eval(searches, e, res)),
        }
    }
}

/// A compiled Sigma rule.
#[derive(Clone, Debug)]
pub struct SigmaRule {
    /// `title`.
    pub title: String,
    /// `id`.
    pub id: Option<String>,
    /// `name` (how correlation rules refer to it, besides the id).
    pub name: Option<String>,
    /// `level`.
    pub level: Level,
    /// `tags` (ATT&CK techniques and tactics as `attack.t1190`, ...).
    pub tags: Vec<String>,
    /// The file it came from.
    pub file: String,
    /// App names the rule is limited to (from `logsource.service`); empty: every message.
    apps: Vec<String>,
    searches: Vec<(String, Search)>,
    condition: Expr,
}

impl SigmaRule {
    /// Whether `e` matches the rule (its log source and its condition).
    pub fn matches(&self, e: &Event<'_>) -> bool {
        self.matches_with(e, &mut Alone)
    }

    fn matches_with(&self, e: &Event<'_>, res: &mut impl ReEval) -> bool {
        if !self.apps.is_empty()
            && !e.app.is_some_and(|a| {
                self.apps
                    .iter()
                    .any(|want| a.eq_ignore_ascii_case(want.as_bytes()))
            })
        {
            return false;
        }
        self.condition.eval(&self.searches, e, res)
    }

    /// Compiles a rule from its YAML text; `file` names it in errors.
    pub fn from_yaml(file: &str, text: &str, logsources: &LogsourceMap) -> Result<Self, RuleError> {
        let doc: Value = serde_yaml::from_str(text).map_err(|e| RuleError {
            file: file.to_string(),
            construct: "yaml".into(),
            message: e.to_string(),
        })?;
        Self::from_value(file, &doc, logsources)
    }

    /// Compiles a rule from one parsed YAML document.
    pub fn from_value(
        file: &str,
        doc: &Value,
        logsources: &LogsourceMap,
    ) -> Result<Self, RuleError> {
        let err = |construct: &str, message: String| RuleError {
            file: file.to_string(),
            construct: construct.to_string(),
            message,
        };
        let title = doc["title"]
            .as_str()
            .ok_or_else(|| err("title", "missing".into()))?
            .to_string();
        if doc.get("correlation").is_some() {
            return Err(err(
                "correlation",
                "a correlation rule: load it with load::load_dir, beside the rules it refers to"
                    .into(),
            ));
        }
        let level = parse_level(doc["level"].as_str()).map_err(|m| err("level", m))?;
        let ls = &doc["logsource"];
        if let Some(product) = ls["product"].as_str()
            && !logsources.products.iter().any(|p| p == product)
        {
            return Err(err(
                "logsource.product",
                format!("{product:?} is not mapped onto syslog"),
            ));
        }
        if let Some(category) = ls["category"].as_str() {
            return Err(err(
                "logsource.category",
                format!("{category:?} is not mapped onto syslog"),
            ));
        }
        let apps = match ls["service"].as_str() {
            None => Vec::new(),
            Some(service) => logsources.service_apps(service).ok_or_else(|| {
                err(
                    "logsource.service",
                    format!("{service:?} is not in the log source table"),
                )
            })?,
        };
        let detection = doc["detection"]
            .as_mapping()
            .ok_or_else(|| err("detection", "missing or not a map".into()))?;
        let mut searches = Vec::new();
        let mut condition_text = None;
        for (k, v) in detection {
            let name = k
                .as_str()
                .ok_or_else(|| err("detection", "a non-string key".into()))?;
            if name == "condition" {
                condition_text = Some(match v {
                    Value::String(s) => s.clone(),
                    Value::Sequence(list) => list
                        .iter()
                        .map(|c| c.as_str().map(|s| format!("({s})")))
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(|| err("condition", "a list of non-strings".into()))?
                        .join(" or "),
                    _ => return Err(err("condition", "not a string or a list".into())),
                });
                continue;
            }
            if name == "timeframe" {
                return Err(err(
                    "timeframe",
                    "timeframes belong to correlation rules".into(),
                ));
            }
            let search = compile_search(v).map_err(|(c, m)| err(&format!("{name}{c}"), m))?;
            searches.push((name.to_string(), search));
        }
        let condition_text = condition_text.ok_or_else(|| err("condition", "missing".into()))?;
        let condition = parse_condition(&condition_text, &searches)
            .map_err(|m| err("condition", format!("{m} in {condition_text:?}")))?;
        Ok(Self {
            title,
            id: doc["id"].as_str().map(str::to_string),
            name: doc["name"].as_str().map(str::to_string),
            level,
            tags: parse_tags(&doc["tags"]).map_err(|m| err("tags", m))?,
            file: file.to_string(),
            apps,
            searches,
            condition,
        })
    }
}

type CompileError = (String, String);

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn compile_search(v: &Value) -> Result<Search, CompileError> {
    match v {
        Value::Sequence(items) if items.iter().all(|i| !i.is_mapping()) => {
            let mut ks = Vec::new();
            for item in items {
                let text = scalar_text(item)
                    .ok_or_else(|| (String::new(), "a keyword that is not a string".into()))?;
                ks.push(Matcher::Str(StrPattern::new(
                    &text,
                    StrKind::Contains,
                    false,
                )));
            }
            Ok(Search::Keywords(Keywords::new(ks)))
        }
        Value::Sequence(items) => {
            let mut maps = Vec::new();
            for item in items {
                let map = item
                    .as_mapping()
                    .ok_or_else(|| (String::new(), "a list mixing maps and values".into()))?;
                maps.push(compile_map(map)?);
            }
            Ok(Search::Maps(maps))
        }
        Value::Mapping(map) => Ok(Search::Maps(vec![compile_map(map)?])),
        Value::String(_) | Value::Number(_) => {
            Ok(Search::Keywords(Keywords::new(vec![Matcher::Str(
                StrPattern::new(&scalar_text(v).expect("scalar"), StrKind::Contains, false),
            )])))
        }
        _ => Err((String::new(), "not a list or a map".into())),
    }
}

fn compile_map(map: &serde_yaml::Mapping) -> Result<Vec<FieldMatch>, CompileError> {
    let mut out = Vec::new();
    for (k, v) in map {
        let key = k
            .as_str()
            .ok_or_else(|| (String::new(), "a non-string field name".into()))?;
        let mut parts = key.split('|');
        let field = parts.next().unwrap_or_default();
        let ctx = |m: String| (format!(".{key}"), m);
        let mut kind = StrKind::Exact;
        let (mut all, mut re, mut cidr, mut cased, mut exists) =
            (false, false, false, false, false);
        let (mut b64, mut b64off, mut windash) = (false, false, false);
        let mut re_flags = String::new();
        for modifier in parts {
            match modifier {
                "contains" => kind = StrKind::Contains,
                "startswith" => kind = StrKind::StartsWith,
                "endswith" => kind = StrKind::EndsWith,
                "all" => all = true,
                "re" => re = true,
                "cidr" => cidr = true,
                "cased" => cased = true,
                "exists" => exists = true,
                "base64" => b64 = true,
                "base64offset" => b64off = true,
                "windash" => windash = true,
                // The regex flags of the Sigma specification: `re|i` (ignore case), `re|m`
                // (multi-line: `^` and `$` at lines), `re|s` (`.` takes newlines).
                "i" | "m" | "s" if re => re_flags.push_str(&format!("(?{modifier})")),
                other => return Err(ctx(format!("modifier {other:?} is not supported"))),
            }
        }
        let values: Vec<&Value> = match v {
            Value::Sequence(list) => list.iter().collect(),
            other => vec![other],
        };
        if exists {
            let want = values
                .first()
                .and_then(|v| v.as_bool())
                .ok_or_else(|| ctx("`exists` takes true or false".into()))?;
            out.push(FieldMatch {
                field: Field::from_name(field),
                values: Vec::new(),
                all: false,
                exists: Some(want),
            });
            continue;
        }
        let mut compiled = Vec::new();
        for value in values {
            if value.is_null() {
                compiled.push(vec![Matcher::Null]);
                continue;
            }
            let text =
                scalar_text(value).ok_or_else(|| ctx("a value that is not a scalar".into()))?;
            let alts = if re {
                // As written: Sigma regexes are case-sensitive unless they say `(?i)`.
                let regex = regex::bytes::Regex::new(&format!("{re_flags}{text}"))
                    .map_err(|e| ctx(format!("bad regular expression: {e}")))?;
                vec![Matcher::Re(Re { regex, slot: None })]
            } else if cidr {
                let (net, len) = text
                    .split_once('/')
                    .ok_or_else(|| ctx(format!("{text:?} is not a CIDR")))?;
                let net: IpAddr = net
                    .parse()
                    .map_err(|_| ctx(format!("{text:?} is not a CIDR")))?;
                let len: u8 = len
                    .parse()
                    .map_err(|_| ctx(format!("{text:?} is not a CIDR")))?;
                if len > if net.is_ipv4() { 32 } else { 128 } {
                    return Err(ctx(format!("{text:?}: prefix too long")));
                }
                vec![Matcher::Cidr(net, len)]
            } else {
                let mut variants = vec![text];
                if windash {
                    variants = variants.iter().flat_map(|t| windash_variants(t)).collect();
                }
                if b64 {
                    variants = variants.iter().map(|t| base64(t.as_bytes(), 0)).collect();
                    // Encoded text is matched as written.
                    cased = true;
                } else if b64off {
                    variants = variants
                        .iter()
                        .flat_map(|t| (0..3).map(move |o| base64(t.as_bytes(), o)))
                        .collect();
                    cased = true;
                    kind = StrKind::Contains;
                }
                variants
                    .iter()
                    .map(|t| Matcher::Str(StrPattern::new(t, kind.clone(), cased)))
                    .collect()
            };
            compiled.push(alts);
        }
        out.push(FieldMatch {
            field: Field::from_name(field),
            values: compiled,
            all,
            exists: None,
        });
    }
    Ok(out)
}

/// `windash`: a command-line flag written with `-` may also be written with `/`, `–`, `—` or
/// `―` on Windows; each leading dash of a word is varied.
fn windash_variants(t: &str) -> Vec<String> {
    ["-", "/", "\u{2013}", "\u{2014}", "\u{2015}"]
        .iter()
        .map(|d| {
            t.split(' ')
                .map(|w| match w.strip_prefix('-') {
                    Some(rest) => format!("{d}{rest}"),
                    None => w.to_string(),
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

/// Base64 of `data` as it appears when preceded by `offset` (0-2) other bytes, trimmed to the
/// characters that do not depend on its neighbours (Sigma's base64offset).
fn base64(data: &[u8], offset: usize) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut padded = vec![0u8; offset];
    padded.extend_from_slice(data);
    let mut out = String::new();
    for chunk in padded.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    if offset == 0 && data.len().is_multiple_of(3) {
        return out;
    }
    // Drop the characters mixed with the unknown bytes before and after.
    let start = [0, 2, 3][offset];
    let total = offset + data.len();
    let end_trim = [0, 3, 2][total % 3];
    let end = out.len().saturating_sub(end_trim).max(start);
    out[start..end].to_string()
}

/// Condition grammar: `or` < `and` < `not` < atoms (`name`, `name*`, `1 of X`, `all of X`,
/// `them`, parentheses).
fn parse_condition(text: &str, searches: &[(String, Search)]) -> Result<Expr, String> {
    if text.contains('|') {
        return Err(
            "aggregations (`| count()` ...) are not supported; use a correlation rule".into(),
        );
    }
    let spaced = text.replace('(', " ( ").replace(')', " ) ");
    let tokens: Vec<&str> = spaced.split_whitespace().collect();
    let mut p = CondParser {
        tokens,
        at: 0,
        searches,
    };
    let expr = p.or()?;
    if p.at != p.tokens.len() {
        return Err(format!("unexpected {:?}", p.tokens[p.at]));
    }
    Ok(expr)
}

struct CondParser<'a> {
    tokens: Vec<&'a str>,
    at: usize,
    searches: &'a [(String, Search)],
}

impl<'a> CondParser<'a> {
    fn peek(&self) -> Option<&'a str> {
        self.tokens.get(self.at).copied()
    }

    fn next(&mut self) -> Option<&'a str> {
        let t = self.tokens.get(self.at).copied();
        self.at += 1;
        t
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut xs = vec![self.and()?];
        while self.peek() == Some("or") {
            self.at += 1;
            xs.push(self.and()?);
        }
        Ok(if xs.len() == 1 {
            xs.pop().expect("one")
        } else {
            Expr::Or(xs)
        })
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut xs = vec![self.not()?];
        while self.peek() == Some("and") {
            self.at += 1;
            xs.push(self.not()?);
        }
        Ok(if xs.len() == 1 {
            xs.pop().expect("one")
        } else {
            Expr::And(xs)
        })
    }

    fn not(&mut self) -> Result<Expr, String> {
        if self.peek() == Some("not") {
            self.at += 1;
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        self.atom()
    }

    fn matching(&self, pattern: &str) -> Result<Vec<Expr>, String> {
        let glob = StrPattern::new(pattern, StrKind::Exact, true);
        let found: Vec<Expr> = self
            .searches
            .iter()
            .enumerate()
            .filter(|(_, (name, _))| {
                (pattern == "them" && !name.starts_with('_')) || glob.matches(name.as_bytes())
            })
            .map(|(i, _)| Expr::Search(i))
            .collect();
        if found.is_empty() {
            return Err(format!("no search matches {pattern:?}"));
        }
        Ok(found)
    }

    fn atom(&mut self) -> Result<Expr, String> {
        match self.next() {
            Some("(") => {
                let x = self.or()?;
                if self.next() != Some(")") {
                    return Err("a missing `)`".into());
                }
                Ok(x)
            }
            Some(q @ ("1" | "all")) => {
                let all = q == "all";
                if self.next() != Some("of") {
                    return Err(format!("`{q}` without `of`"));
                }
                let pattern = self.next().ok_or("`of` without a name")?.to_string();
                let xs = self.matching(&pattern)?;
                Ok(if all { Expr::And(xs) } else { Expr::Or(xs) })
            }
            Some(name) if !matches!(name, "and" | "or" | "not" | ")") => {
                if name.contains('*') {
                    return Ok(Expr::Or(self.matching(name)?));
                }
                self.searches
                    .iter()
                    .position(|(n, _)| n == name)
                    .map(Expr::Search)
                    .ok_or_else(|| format!("no search named {name:?}"))
            }
            Some(t) => Err(format!("unexpected {t:?}")),
            None => Err("it ends too early".into()),
        }
    }
}

impl Expr {
    /// Literals of which the body must contain at least one for the expression to be true, or
    /// `None` when it can be true without any (negations, field matches, regexes).
    fn required_literals(&self, searches: &[(String, Search)]) -> Option<Vec<Vec<u8>>> {
        match self {
            Expr::Search(i) => match &searches[*i].1 {
                Search::Keywords(k) => k.required_literals(),
                Search::Maps(_) => None,
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
            // One branch that needs a literal is enough. The best filter is the set that is
            // rarest in text: a one-byte literal such as `:` is in nearly every message, so the
            // set whose shortest literal is longest wins (lengths from four on count alike),
            // then the set with fewer literals.
            Expr::And(xs) => xs
                .iter()
                .filter_map(|x| x.required_literals(searches))
                .max_by_key(|lits| {
                    let shortest = lits.iter().map(Vec::len).min().unwrap_or(0).min(4);
                    (shortest, std::cmp::Reverse(lits.len()))
                }),
        }
    }
}

impl Keywords {
    fn required_literals(&self) -> Option<Vec<Vec<u8>>> {
        let mut out: Vec<Vec<u8>> = self.literal_patterns.clone();
        for m in &self.others {
            match m {
                Matcher::Str(p) => out.push(p.required_literal()?.to_vec()),
                _ => return None,
            }
        }
        Some(out)
    }
}

/// Gathers every `re` value of `rules` into one RegexSet per field (the same pattern once), and
/// tells each value its place. A group whose set does not build (each pattern compiled on its
/// own, but together they may pass the size limit) is kept without a set: its values run on
/// their own.
fn regex_groups(rules: &mut [SigmaRule]) -> Vec<RegexGroup> {
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

/// A set of Sigma rules evaluated together: every literal any rule needs goes into one
/// [`LiteralSet`], one pass over the body finds the candidate rules, and only those (and the
/// rules that need no literal) are evaluated in full. Their `re` values go through one RegexSet
/// per field, run at most once per event and only when a candidate asks.
#[derive(Debug)]
pub struct SigmaSet {
    rules: Vec<SigmaRule>,
    /// Every `re` value of the rules, one RegexSet per field: run once per event that a
    /// candidate rule asks about it, over each value of the field.
    regexes: Vec<RegexGroup>,
    /// Tells this set's scratch state from another's.
    id: u64,
    prefilter: LiteralSet,
    /// Literal index -> the rules it makes candidates.
    pattern_rules: Vec<Vec<u32>>,
    /// Rules evaluated on every event.
    always: Vec<u32>,
    /// The prefilter's literals, in its order.
    literals: Vec<Vec<u8>>,
}

/// The `re` values that look at one field, as one RegexSet (none when it did not build).
#[derive(Debug)]
struct RegexGroup {
    field: Field,
    set: Option<regex_automata::meta::Regex>,
}

/// Per-worker scratch of [`SigmaSet::for_each_match`], so matching does not allocate.
#[derive(Debug, Default)]
pub struct SigmaScratch {
    seen: Vec<u64>,
    generation: u64,
    candidates: Vec<u32>,
    /// The set the regex state below was made for.
    set_id: u64,
    /// Per regex group of that set (none for a group without a RegexSet).
    regexes: Vec<Option<GroupMemo>>,
}

/// One regex group's result for the current event.
#[derive(Debug)]
struct GroupMemo {
    /// The event (`SigmaScratch::generation`) `matched` is for.
    generation: u64,
    matched: regex_automata::PatternSet,
    cache: regex_automata::meta::Cache,
}

/// `re` values through their field's RegexSet: each group runs at most once per event.
struct RegexMemo<'a> {
    groups: &'a [RegexGroup],
    memos: &'a mut [Option<GroupMemo>],
    generation: u64,
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
static NEXT_SET_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl SigmaSet {
    /// Compiles the prefilter of `rules`.
    pub fn new(mut rules: Vec<SigmaRule>) -> Self {
        let mut literals: Vec<Vec<u8>> = Vec::new();
        let mut pattern_rules: Vec<Vec<u32>> = Vec::new();
        let mut always = Vec::new();
        for (i, r) in rules.iter().enumerate() {
            match r.condition.required_literals(&r.searches) {
                Some(lits) if !lits.is_empty() => {
                    for lit in lits {
                        match literals.iter().position(|l| l.eq_ignore_ascii_case(&lit)) {
                            Some(p) => pattern_rules[p].push(i as u32),
                            None => {
                                literals.push(lit);
                                pattern_rules.push(vec![i as u32]);
                            }
                        }
                    }
                }
                _ => always.push(i as u32),
            }
        }
        let prefilter = LiteralSet::new(&literals);
        let regexes = regex_groups(&mut rules);
        Self {
            literals,
            rules,
            regexes,
            id: NEXT_SET_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            prefilter,
            pattern_rules,
            always,
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

    /// The prefilter, compiled.
    pub fn prefilter(&self) -> &LiteralSet {
        &self.prefilter
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
    fn prepare(&self, scratch: &mut SigmaScratch) {
        if scratch.set_id == self.id && scratch.seen.len() >= self.rules.len() {
            return;
        }
        scratch.seen.resize(self.rules.len(), 0);
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
        scratch.candidates.extend_from_slice(&self.always);
        self.prefilter.find_each(e.body, |literal| {
            for &r in &self.pattern_rules[literal] {
                if scratch.seen[r as usize] != scratch.generation {
                    scratch.seen[r as usize] = scratch.generation;
                    scratch.candidates.push(r);
                }
            }
            false
        });
        scratch.candidates.sort_unstable();
        scratch.candidates.dedup();
        let mut res = RegexMemo {
            groups: &self.regexes,
            memos: &mut scratch.regexes,
            generation: scratch.generation,
        };
        for &r in &scratch.candidates {
            if self.rules[r as usize].matches_with(e, &mut res) {
                f(r as usize);
            }
        }
    }
}
