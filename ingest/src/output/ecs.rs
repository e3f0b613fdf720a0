//! Alerts in the Elastic Common Schema (ECS 8.x), the shape SIEMs ingest: one JSON object per
//! alert, nested as ECS writes its fields, with nothing outside ECS's own field names.
//!
//! - `@timestamp` (when it was raised), `ecs.version`, `message` (the rule's title);
//! - `event.kind: alert`, `event.category: [intrusion_detection]`, `event.type: [info]`, a
//!   unique `event.id` (the one the sinks deliver it under), `event.severity` (the rule's
//!   level on the 21/47/73/99 scale of Elastic's detection rules; informational 1),
//!   `event.start`/`event.end` (first and last event counted), `event.original` (the message),
//!   `event.module: ingest`, `event.dataset: ingest.alert`;
//! - `rule.id`, `rule.uuid` (when the id is a UUID), `rule.name`, `rule.description`,
//!   `rule.reference` (the first reference), `rule.author`, `rule.license`, `rule.ruleset`
//!   (`sigma`, `native` or `learning`), `rule.category` (the kind: `sigma`, `threshold`, ...);
//! - `threat.framework: MITRE ATT&CK`, `threat.tactic.{id,name,reference}`,
//!   `threat.technique.{id,reference}` and `threat.technique.subtechnique.{id,reference}` from
//!   the rule's `attack.*` tags;
//! - `source.ip`, `source.port` (the sender), `host.hostname` (the device, from the header),
//!   `log.syslog.*` (priority, facility, severity, hostname, appname, procid, msgid, version,
//!   structured data), `observer.{hostname,product,vendor,type,version}` (this appliance);
//! - `labels` (ECS's custom keywords): the level, and what the rule counted (`key`, `count`,
//!   `folded`), the template, and the message's parsed payload fields (names with dots or
//!   spaces get `_`; an audit record's hex strings decoded), the first [`MAX_FIELD_LABELS`] of
//!   them.

use std::{net::SocketAddr, time::SystemTime};

use detector::{parse::Event, rules::sigma::Level};
use serde_json::{Map, Value, json};

use crate::rules::{AlertFacts, RuleMeta};

/// The ECS version the lines follow.
pub const ECS_VERSION: &str = "8.11.0";

/// Most payload fields copied into `labels`.
pub const MAX_FIELD_LABELS: usize = 32;

/// What an ECS line says about the appliance that wrote it.
#[derive(Clone, Debug)]
pub struct Observer {
    /// This host's name.
    pub hostname: String,
}

impl Observer {
    /// This host, by its name.
    pub fn this_host() -> Self {
        Self {
            hostname: crate::sys::hostname().unwrap_or_default(),
        }
    }
}

/// `event.severity` of a level: the risk scores of Elastic's detection rules.
pub fn severity_score(level: Level) -> u8 {
    match level {
        Level::Informational => 1,
        Level::Low => 21,
        Level::Medium => 47,
        Level::High => 73,
        Level::Critical => 99,
    }
}

/// The ECS line of an alert. `event_id` is unique (the sinks deliver it under the same id);
/// `event` is the alerting message as parsed, when there is one.
pub fn alert_ecs(
    meta: &RuleMeta<'_>,
    facts: &AlertFacts<'_>,
    event: Option<&Event<'_>>,
    event_id: &str,
    observer: &Observer,
    now: SystemTime,
) -> Value {
    let mut labels = Map::new();
    labels.insert("level".into(), meta.level.name().into());
    let mut ev = json!({
        "kind": "alert",
        "category": ["intrusion_detection"],
        "type": ["info"],
        "id": event_id,
        "severity": severity_score(meta.level),
        "module": "ingest",
        "dataset": "ingest.alert",
    });
    if !facts.message.is_empty() {
        ev["original"] = String::from_utf8_lossy(facts.message).into();
    }
    for (key, t) in [("start", facts.first_ns), ("end", facts.last_ns)] {
        let t = crate::rules::seen(t);
        if !t.is_null() {
            ev[key] = t;
        }
    }
    if let Some((key, count, folded)) = facts.counted {
        labels.insert("key".into(), String::from_utf8_lossy(key).into());
        labels.insert("count".into(), count.to_string().into());
        labels.insert("folded".into(), folded.to_string().into());
    }
    if let Some(t) = facts.template {
        labels.insert("template".into(), t.to_string().into());
    }
    let mut line = Map::new();
    line.insert(
        "@timestamp".into(),
        humantime::format_rfc3339_micros(now).to_string().into(),
    );
    line.insert("ecs".into(), json!({"version": ECS_VERSION}));
    line.insert("message".into(), meta.title.into());
    line.insert("event".into(), ev);
    line.insert("rule".into(), rule(meta));
    if let Some(threat) = threat(meta.tags) {
        line.insert("threat".into(), threat);
    }
    if let Some(src) = facts.src {
        line.insert("source".into(), source(src));
    }
    if let Some(e) = event {
        if let Some(h) = e.host {
            line.insert(
                "host".into(),
                json!({"hostname": String::from_utf8_lossy(h)}),
            );
        }
        line.insert("log".into(), json!({"syslog": syslog(e)}));
        for f in e.fields().take(MAX_FIELD_LABELS) {
            let name = label_name(&String::from_utf8_lossy(f.key));
            if name.is_empty() || labels.contains_key(&name) {
                continue;
            }
            let mut value = Vec::new();
            if f.escaped {
                detector::parse::unescape_into(f.value, &mut value);
            } else {
                value.extend_from_slice(f.value);
            }
            // An audit record's hex string or system call number, as it reads decoded.
            detector::parse::audit::derived_values(e, f.key, f.value, |d| {
                value.clear();
                value.extend_from_slice(d);
                true
            });
            labels.insert(name, String::from_utf8_lossy(&value).into());
        }
    }
    line.insert(
        "observer".into(),
        json!({
            "hostname": observer.hostname,
            "product": "ingest",
            "vendor": "ingest",
            "type": "ids",
            "version": env!("CARGO_PKG_VERSION"),
        }),
    );
    line.insert("labels".into(), labels.into());
    line.into()
}

/// A label's name: ECS labels hold no dots; spaces and dots become `_`.
fn label_name(key: &str) -> String {
    key.chars()
        .map(|c| {
            if c == '.' || c.is_whitespace() {
                '_'
            } else {
                c
            }
        })
        .collect()
}

fn source(src: SocketAddr) -> Value {
    json!({"ip": src.ip().to_canonical().to_string(), "port": src.port()})
}

fn rule(meta: &RuleMeta<'_>) -> Value {
    let mut r = Map::new();
    if let Some(id) = &meta.id {
        r.insert("id".into(), id.as_str().into());
        if is_uuid(id) {
            r.insert("uuid".into(), id.as_str().into());
        }
    }
    r.insert("name".into(), meta.title.into());
    r.insert("category".into(), meta.kind.into());
    r.insert(
        "ruleset".into(),
        match meta.kind {
            "sigma" | "correlation" => "sigma",
            "new_template" | "rate_spike" => "learning",
            _ => "native",
        }
        .into(),
    );
    if let Some(about) = meta.about {
        if let Some(d) = &about.description {
            r.insert("description".into(), d.as_str().into());
        }
        if let Some(a) = &about.author {
            r.insert("author".into(), json!([a]));
        }
        if let Some(l) = &about.license {
            r.insert("license".into(), l.as_str().into());
        }
        if let Some(reference) = about.references.first() {
            r.insert("reference".into(), reference.as_str().into());
        }
    }
    r.into()
}

/// `8-4-4-4-12` hexadecimal digits.
fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups
            .iter()
            .all(|g| g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The enterprise tactics of MITRE ATT&CK: the tag's name, the tactic's id and name.
const TACTICS: [(&str, &str, &str); 14] = [
    ("reconnaissance", "TA0043", "Reconnaissance"),
    ("resource_development", "TA0042", "Resource Development"),
    ("initial_access", "TA0001", "Initial Access"),
    ("execution", "TA0002", "Execution"),
    ("persistence", "TA0003", "Persistence"),
    ("privilege_escalation", "TA0004", "Privilege Escalation"),
    ("defense_evasion", "TA0005", "Defense Evasion"),
    ("credential_access", "TA0006", "Credential Access"),
    ("discovery", "TA0007", "Discovery"),
    ("lateral_movement", "TA0008", "Lateral Movement"),
    ("collection", "TA0009", "Collection"),
    ("command_and_control", "TA0011", "Command and Control"),
    ("exfiltration", "TA0010", "Exfiltration"),
    ("impact", "TA0040", "Impact"),
];

/// `threat.*` of a rule's tags: `attack.t1059` (a technique), `attack.t1059.004` (a
/// sub-technique and its technique), `attack.execution` or `attack.ta0002` (a tactic). None
/// without an ATT&CK tag.
fn threat(tags: &[String]) -> Option<Value> {
    let (mut tactics, mut techniques, mut subs) = (Vec::new(), Vec::new(), Vec::new());
    for tag in tags {
        let Some(t) = tag
            .to_ascii_lowercase()
            .strip_prefix("attack.")
            .map(str::to_string)
        else {
            continue;
        };
        let id_digits = |s: &str| s.len() == 4 && s.bytes().all(|b| b.is_ascii_digit());
        if let Some(num) = t.strip_prefix('t') {
            let (technique, sub) = match num.split_once('.') {
                Some((tech, sub)) => (tech, Some(sub)),
                None => (num, None),
            };
            if let Some(tactic) = technique.strip_prefix('a')
                && id_digits(tactic)
            {
                if let Some(&(_, id, name)) = TACTICS.iter().find(|(_, id, _)| id[2..] == *tactic) {
                    push_unique(&mut tactics, (id.to_string(), name));
                }
                continue;
            }
            if !id_digits(technique) {
                continue;
            }
            push_unique(&mut techniques, format!("T{technique}"));
            if let Some(sub) = sub.filter(|s| s.len() == 3 && s.bytes().all(|b| b.is_ascii_digit()))
            {
                push_unique(
                    &mut subs,
                    (format!("T{technique}.{sub}"), technique.to_string()),
                );
            }
        } else {
            let key = t.replace('-', "_");
            if let Some(&(_, id, name)) = TACTICS.iter().find(|(k, _, _)| *k == key) {
                push_unique(&mut tactics, (id.to_string(), name));
            }
        }
    }
    if tactics.is_empty() && techniques.is_empty() {
        return None;
    }
    let mut threat = json!({"framework": "MITRE ATT&CK"});
    if !tactics.is_empty() {
        threat["tactic"] = json!({
            "id": tactics.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>(),
            "name": tactics.iter().map(|(_, n)| *n).collect::<Vec<_>>(),
            "reference": tactics
                .iter()
                .map(|(id, _)| format!("https://attack.mitre.org/tactics/{id}/"))
                .collect::<Vec<_>>(),
        });
    }
    if !techniques.is_empty() {
        let mut technique = json!({
            "id": techniques,
            "reference": techniques
                .iter()
                .map(|id| format!("https://attack.mitre.org/techniques/{id}/"))
                .collect::<Vec<_>>(),
        });
        if !subs.is_empty() {
            technique["subtechnique"] = json!({
                "id": subs.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>(),
                "reference": subs
                    .iter()
                    .map(|(id, tech)| {
                        let sub = &id[id.len() - 3..];
                        format!("https://attack.mitre.org/techniques/T{tech}/{sub}/")
                    })
                    .collect::<Vec<_>>(),
            });
        }
        threat["technique"] = technique;
    }
    Some(threat)
}

fn push_unique<T: PartialEq>(v: &mut Vec<T>, x: T) {
    if !v.contains(&x) {
        v.push(x);
    }
}

/// `log.syslog.*` of a parsed message.
fn syslog(e: &Event<'_>) -> Value {
    let text = |b: &[u8]| Value::from(String::from_utf8_lossy(b).into_owned());
    let mut s = Map::new();
    if let Some(p) = e.pri {
        s.insert(
            "priority".into(),
            (u16::from(p.facility.code()) * 8 + u16::from(p.severity.code())).into(),
        );
        s.insert(
            "facility".into(),
            json!({"code": p.facility.code(), "name": p.facility.name()}),
        );
        s.insert(
            "severity".into(),
            json!({"code": p.severity.code(), "name": p.severity.name()}),
        );
    }
    for (key, v) in [
        ("hostname", e.host),
        ("appname", e.app),
        ("procid", e.procid),
        ("msgid", e.msgid),
    ] {
        if let Some(v) = v {
            s.insert(key.into(), text(v));
        }
    }
    if let Some(v) = e.version {
        s.insert("version".into(), v.to_string().into());
    }
    let mut sd: Map<String, Value> = Map::new();
    for (id, name, value) in e.sd_params() {
        let id = String::from_utf8_lossy(id).into_owned();
        let element = sd.entry(id).or_insert_with(|| Value::Object(Map::new()));
        let mut v = Vec::new();
        detector::parse::unescape_into(value, &mut v);
        element[String::from_utf8_lossy(name).as_ref()] = text(&v);
    }
    if !sd.is_empty() {
        s.insert("structured_data".into(), sd.into());
    }
    s.into()
}
