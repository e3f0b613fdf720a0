//! A parsed event as JSON, the way operators read it: `ingest parse` prints one per input line,
//! and `ingest run --print` one per received message. Bytes that are not UTF-8 are shown with
//! the replacement character; escaped values are shown unescaped, and an audit record's
//! hex-encoded strings and system call numbers are shown decoded beside them (`decoded`).

use detector::parse::{Event, audit, unescape_into};
use serde_json::{Map, Value, json};

fn text(b: &[u8]) -> Value {
    Value::String(String::from_utf8_lossy(b).into_owned())
}

fn opt(b: Option<&[u8]>) -> Value {
    b.map_or(Value::Null, text)
}

fn unescaped(raw: &[u8], escaped: bool) -> Value {
    if !escaped {
        return text(raw);
    }
    let mut out = Vec::with_capacity(raw.len());
    unescape_into(raw, &mut out);
    text(&out)
}

/// Every field of `e`.
pub fn event_json(e: &Event<'_>) -> Value {
    let mut o = Map::new();
    o.insert("format".into(), e.format.name().into());
    o.insert(
        "facility".into(),
        e.pri.map_or(Value::Null, |p| p.facility.name().into()),
    );
    o.insert(
        "severity".into(),
        e.pri.map_or(Value::Null, |p| p.severity.name().into()),
    );
    o.insert("version".into(), e.version.into());
    o.insert("timestamp".into(), opt(e.timestamp));
    o.insert("timestamp_ns".into(), e.timestamp_ns.into());
    o.insert("host".into(), opt(e.host));
    o.insert("app".into(), opt(e.app));
    o.insert("procid".into(), opt(e.procid));
    o.insert("msgid".into(), opt(e.msgid));
    let sd: Vec<Value> = e
        .sd_params()
        .map(|(id, name, value)| json!({"id": text(id), "name": text(name), "value": unescaped(value, value.contains(&b'\\'))}))
        .collect();
    o.insert("structured_data".into(), sd.into());
    o.insert("sequence".into(), opt(e.sequence));
    o.insert(
        "cisco".into(),
        e.cisco.map_or(Value::Null, |c| {
            json!({"facility": text(c.facility), "severity": c.severity, "mnemonic": text(c.mnemonic)})
        }),
    );
    o.insert("payload".into(), e.payload.name().into());
    let fields: Vec<Value> = e
        .fields()
        .map(|f| {
            let mut field = json!({"key": text(f.key), "value": unescaped(f.value, f.escaped)});
            // What an audit record's value means besides its text: a hex string decoded, a
            // system call's name.
            audit::derived_values(e, f.key, f.value, |d| {
                field["decoded"] = text(d);
                true
            });
            field
        })
        .collect();
    o.insert("fields".into(), fields.into());
    o.insert("message".into(), text(e.body));
    o.insert(
        "error".into(),
        e.error.map_or(Value::Null, |e| e.name().into()),
    );
    Value::Object(o)
}

#[cfg(test)]
mod tests {
    use detector::parse::{ParseOptions, parse};

    use super::*;

    #[test]
    fn audit_values_are_shown_decoded_beside_their_text() {
        let e = parse(
            b"type=SYSCALL msg=audit(1700000000.1:7): arch=c000003e syscall=59 \
              comm=\"cat\" proctitle=636174002F6574632F736861646F77",
            &ParseOptions::default(),
        );
        let json = event_json(&e);
        let field = |k: &str| {
            json["fields"]
                .as_array()
                .unwrap()
                .iter()
                .find(|f| f["key"] == k)
                .unwrap()
                .clone()
        };
        assert_eq!(field("syscall")["decoded"], "execve");
        assert_eq!(field("proctitle")["decoded"], "cat /etc/shadow");
        assert_eq!(
            field("proctitle")["value"],
            "636174002F6574632F736861646F77"
        );
        assert!(field("comm").get("decoded").is_none());
    }
}
