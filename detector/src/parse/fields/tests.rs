//! The payload readers against each other and against examples.

use super::{cef::*, index::*, json::*, lex::Spans, *};
use proptest::prelude::*;

/// Every field [`cef_scan`] or [`json_scan`] finds, as slices, with where the body's rest
/// starts after it; and the verdict.
fn scanned(kind: Payload, body: &[u8]) -> (Vec<(Field<'_>, usize)>, bool) {
    let mut out = Vec::new();
    let found = |f: Spans| {
        let key = match f.header {
            Some(i) => CEF_HEADER[i].as_bytes(),
            None => &body[f.key.0..f.key.0 + f.key.1],
        };
        let value = &body[f.value.0..f.value.0 + f.value.1];
        out.push((
            Field {
                key,
                value,
                escaped: f.escaped,
            },
            f.end,
        ));
    };
    let valid = match kind {
        Payload::Cef => cef_scan(body, found),
        _ => json_scan(body, found),
    };
    (out, valid)
}

/// The same, walked.
fn walked(kind: Payload, body: &[u8]) -> (Vec<(Field<'_>, usize)>, bool) {
    let mut it = Fields::new(kind, body);
    let mut out = Vec::new();
    while let Some(f) = it.next() {
        out.push((f, body.len() - it.rest.len()));
    }
    (out, it.state != State::Failed)
}

/// Bodies: one of `leads`, then up to 80 pieces: `tokens`, what `extra` makes, short words
/// and runs of 55-70 bytes (so fields cross the 64-byte blocks' edges).
fn bodies(
    leads: &'static [&'static str],
    tokens: &'static [&'static str],
    extra: BoxedStrategy<String>,
) -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        proptest::sample::select(tokens).prop_map(String::from),
        extra,
        "[a-z0-9]{1,5}",
        "x{55,70}",
    ];
    (
        proptest::sample::select(leads),
        proptest::collection::vec(piece, 0..80),
    )
        .prop_map(|(lead, parts)| format!("{lead}{}", parts.concat()))
}

proptest! {
    /// CEF read from its bit masks reads as walked, field by field, up to the same failure:
    /// bodies of its delimiters, escapes, white space and keys.
    #[test]
    fn cef_read_from_bit_masks_reads_as_walked(body in bodies(
        &["", "CEF:", " CEF:0|", "CEF:0|v|p|1|s|n|5|"],
        &["|", "=", " ", "\\", "\t", "k=", " a="],
        Just(String::new()).boxed(),
    )) {
        prop_assert_eq!(scanned(Payload::Cef, body.as_bytes()), walked(Payload::Cef, body.as_bytes()));
    }

    /// JSON read in one loop reads as walked, member by member, up to the same failure:
    /// objects of strings (with escaped quotes anywhere in their first 70 bytes),
    /// literals, nested values and broken pieces.
    #[test]
    fn json_read_in_one_loop_reads_as_walked(body in bodies(
        &["", "{", " { \"k\":", "{\"a\":\"b\","],
        &["\"", "\\", ",", ":", " ", "{", "}", "[", "]", "\"k\":", "\"v\\\"w\","],
        ("x{0,70}", "x{0,70}").prop_map(|(a, b)| format!("\"k\":\"{a}\\\"{b}\",")).boxed(),
    )) {
        prop_assert_eq!(scanned(Payload::Json, body.as_bytes()), walked(Payload::Json, body.as_bytes()));
    }

    /// Both on arbitrary bytes after a start of their format.
    #[test]
    fn arbitrary_bytes_read_in_one_loop_read_as_walked(
        lead in prop_oneof![Just(&b""[..]), Just(&b"CEF:0|"[..]), Just(&b"CEF:0|v|p|1|s|n|5|"[..]), Just(&b"{\""[..])],
        bytes in proptest::collection::vec(any::<u8>(), 0..400),
    ) {
        let body = [lead, &bytes[..]].concat();
        for kind in [Payload::Cef, Payload::Json] {
            prop_assert_eq!(scanned(kind, &body), walked(kind, &body));
        }
    }
}

#[test]
fn escaped_bits_follow_backslashes_from_left_to_right() {
    let bs = |s: &str| {
        s.bytes()
            .enumerate()
            .filter(|&(_, b)| b == b'\\')
            .fold(0u64, |m, (i, _)| m | 1 << i)
    };
    let mut carry = false;
    // `\\a`: the second backslash is escaped, `a` is not; `\\\a`: `a` is.
    assert_eq!(escaped_bits(bs("\\\\a"), &mut carry), 0b010);
    assert_eq!(escaped_bits(bs("\\\\\\a"), &mut carry), 0b1010);
    assert!(!carry);
    // A backslash at bit 63 escapes the next block's first byte, and only that.
    assert_eq!(escaped_bits(1 << 63, &mut carry), 0);
    assert!(carry);
    assert_eq!(escaped_bits(0b11, &mut carry), 0b101);
    assert!(!carry);
}

fn pairs(kind: Payload, body: &str) -> Vec<(String, String)> {
    let f = Fields::new(kind, body.as_bytes());
    assert!(f.valid(), "{body}");
    f.map(|f| {
        (
            String::from_utf8_lossy(f.key).into_owned(),
            String::from_utf8_lossy(f.value).into_owned(),
        )
    })
    .collect()
}

/// The fields of a whole syslog message as a worker reads them: parsed with a field index.
fn indexed(message: &str) -> Vec<(String, String)> {
    let mut index = FieldIndex::default();
    crate::parse::parse_indexed(
        message.as_bytes(),
        &crate::parse::ParseOptions::default(),
        &mut index,
    )
    .fields()
    .map(|f| {
        (
            String::from_utf8_lossy(f.key).into_owned(),
            String::from_utf8_lossy(f.value).into_owned(),
        )
    })
    .collect()
}

fn kv(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn event_xml_gives_its_event_id_and_data_fields() {
    let xml = concat!(
        "<Event><System><Provider Name=\"Linux-Sysmon\"/><EventID Qualifiers=\"0\">1",
        "</EventID><Computer>web1</Computer></System><EventData>",
        "<Data Name=\"Image\">/usr/bin/cat</Data><Data Name=\"ParentUser\"/>",
        "<Data Name=\"CommandLine\">cat &quot;a b&quot;</Data><Data Name=\"Cut\">to the end"
    );
    assert_eq!(
        pairs(Payload::EventXml, xml),
        kv(&[
            ("EventID", "1"),
            ("Image", "/usr/bin/cat"),
            ("ParentUser", ""),
            // As written: entities are not decoded.
            ("CommandLine", "cat &quot;a b&quot;"),
            ("Cut", "to the end"),
        ])
    );
    assert!(valid(Payload::EventXml, xml.as_bytes()));
}

#[test]
fn detection() {
    assert_eq!(detect_payload(b" {\"a\":1}"), Payload::Json);
    assert_eq!(detect_payload(b"CEF:0|a|b|c|d|e|5|x=1"), Payload::Cef);
    assert_eq!(detect_payload(b"LEEF:1.0|a|b|c|d|"), Payload::Leef);
    assert_eq!(
        detect_payload(b"type=SYSCALL msg=audit(1.2:3): a=b"),
        Payload::Audit
    );
    // The other forms of an audit record: audispd's node, the kernel's own lines.
    for audit in [
        &b"node=web1 type=EXECVE msg=audit(1.2:3): argc=1 a0=\"ls\""[..],
        b"audit: type=1400 audit(1.2:3): apparmor=\"DENIED\"",
        b"[ 1234.567890] audit: type=1327 audit(1.2:3): proctitle=6C73",
    ] {
        assert_eq!(detect_payload(audit), Payload::Audit, "{audit:?}");
    }
    assert_eq!(
        detect_payload(b" <Event><System><EventID>1</EventID></System></Event>"),
        Payload::EventXml
    );
    assert_eq!(detect_payload(b"<Events>x</Events>"), Payload::Plain);
    // Near misses: key=value text, and a stamp without `msg=` outside the kernel's form.
    assert_eq!(detect_payload(b"type=info note=x"), Payload::Kv);
    assert_eq!(detect_payload(b"type=1400 audit(1.2:3): x=y"), Payload::Kv);
    // Only the kernel's stamp (seconds) may come before the record.
    assert_eq!(
        detect_payload(b"[Sun Dec 04 2005] audit: type=1400 audit(1.2:3): x=y"),
        Payload::Plain
    );
    assert_eq!(
        detect_payload(b"[12.5] type=SYSCALL msg=audit(1.2:3): a=b"),
        Payload::Audit
    );
    assert_eq!(
        detect_payload(b"audit: backlog limit exceeded"),
        Payload::Plain
    );
    assert_eq!(detect_payload(b"level=info msg=\"x y\""), Payload::Kv);
    assert_eq!(
        detect_payload(b"authentication failure; uid=0"),
        Payload::Plain
    );
}

#[test]
fn json_members_including_nested_and_escaped() {
    let body = r#"{"version":"1.1", "host":"h\"1", "level":3, "_tags":["a","b]"], "o":{"k":"}"}, "n":null}"#;
    assert_eq!(
        pairs(Payload::Json, body),
        kv(&[
            ("version", "1.1"),
            ("host", r#"h\"1"#),
            ("level", "3"),
            ("_tags", r#"["a","b]"]"#),
            ("o", r#"{"k":"}"}"#),
            ("n", "null"),
        ])
    );
    assert_eq!(pairs(Payload::Json, "{ }"), vec![]);
    for bad in [
        r#"{"a":1"#,
        r#"{"a" 1}"#,
        r#"{"a":"x}"#,
        "[1]",
        r#"{"a":1,}"#,
        // No colon, with what follows still a value.
        r#"{"a" "b"}"#,
        r#"{"a"x1}"#,
    ] {
        let fields = Fields::new(Payload::Json, bad.as_bytes());
        assert!(!fields.valid() && !fields.walk_valid(), "{bad}");
    }
}

#[test]
fn an_index_shows_the_slots_in_use_only() {
    let mut index = FieldIndex::default();
    assert!(index.fill(Payload::Kv, b"a=1 b=\"two\""));
    let shown = format!("{index:?}");
    assert_eq!(shown.matches("Slot {").count(), 2, "{shown}");
}

#[test]
fn cef_header_and_extension() {
    let body = r"CEF:0|Security|threatmanager|1.0|100|worm successfully stopped|10|src=10.0.0.1 dst=2.1.2.2 spt=1232 msg=Detected a threat. No action needed cs1=a\=b";
    assert_eq!(
        pairs(Payload::Cef, body),
        kv(&[
            ("cef_version", "0"),
            ("device_vendor", "Security"),
            ("device_product", "threatmanager"),
            ("device_version", "1.0"),
            ("signature_id", "100"),
            ("name", "worm successfully stopped"),
            ("severity", "10"),
            ("src", "10.0.0.1"),
            ("dst", "2.1.2.2"),
            ("spt", "1232"),
            ("msg", "Detected a threat. No action needed"),
            ("cs1", r"a\=b"),
        ])
    );
    assert!(!Fields::new(Payload::Cef, b"CEF:0|a|b").valid());
    // Keys: not empty, of key bytes only (white space after one is trimmed).
    for bad in ["=1", "a b=1", "k!=1", "x=1 =2", "b\\=1"] {
        let body = format!("CEF:0|v|p|1|s|n|5|{bad}");
        let fields = Fields::new(Payload::Cef, body.as_bytes());
        assert!(!fields.valid() && !fields.walk_valid(), "{body}");
    }
    let fields = Fields::new(Payload::Cef, b"CEF:0|v|p|1|s|n|5|k\t=1");
    assert!(fields.valid() && fields.walk_valid());
}

/// The readers find quotes, pipes, `=` and backslashes 64 bytes at a time: escapes and
/// delimiters on either side of every block edge read the same.
#[test]
fn escapes_and_delimiters_at_every_offset_of_a_long_body() {
    for pad in 0..150 {
        let p = "x".repeat(pad);
        let json = format!(r#"{{"a{p}":"{p}\"q\\","n":[1,"{p}]"],"m":"{p}"}}"#);
        let fields: Vec<Field<'_>> = Fields::new(Payload::Json, json.as_bytes()).collect();
        let want_a = format!(r#"{p}\"q\\"#);
        assert_eq!(fields.len(), 3, "pad {pad}: {json}");
        assert_eq!(fields[0].value, want_a.as_bytes(), "pad {pad}");
        assert!(fields[0].escaped, "pad {pad}");
        assert_eq!(fields[1].value, format!(r#"[1,"{p}]"]"#).as_bytes());
        assert_eq!((fields[2].value, fields[2].escaped), (p.as_bytes(), false));

        let cef = format!(r"CEF:0|V{p}\|x|P|1|S|N|5|k={p}\=v {p}b=2 msg={p} t");
        let fields: Vec<Field<'_>> = Fields::new(Payload::Cef, cef.as_bytes()).collect();
        assert_eq!(fields.len(), 10, "pad {pad}: {cef}");
        assert_eq!(fields[1].value, format!(r"V{p}\|x").as_bytes(), "pad {pad}");
        assert!(fields[1].escaped && !fields[2].escaped, "pad {pad}");
        assert_eq!(fields[7].value, format!(r"{p}\=v").as_bytes(), "pad {pad}");
        let b_key = format!("{p}b");
        assert_eq!(
            (fields[8].key, fields[8].value),
            (b_key.as_bytes(), &b"2"[..])
        );
        assert_eq!(fields[9].value, format!("{p} t").as_bytes(), "pad {pad}");
    }
}

#[test]
fn leef_1_and_2() {
    let body = "LEEF:1.0|Microsoft|MSExchange|4.0 SP1|15345|src=192.0.2.0\tdst=172.50.123.1\tsev=5";
    assert_eq!(
        pairs(Payload::Leef, body),
        kv(&[
            ("leef_version", "1.0"),
            ("vendor", "Microsoft"),
            ("product", "MSExchange"),
            ("product_version", "4.0 SP1"),
            ("event_id", "15345"),
            ("src", "192.0.2.0"),
            ("dst", "172.50.123.1"),
            ("sev", "5"),
        ])
    );
    let body = "LEEF:2.0|Lancope|StealthWatch|1.0|41|^|src=10.0.1.8^dst=10.0.0.5^sev=5";
    let got = pairs(Payload::Leef, body);
    assert_eq!(
        &got[5..],
        &kv(&[("src", "10.0.1.8"), ("dst", "10.0.0.5"), ("sev", "5")])[..]
    );
    let body = "LEEF:2.0|V|P|1|E|x7C|a=1|b=2";
    assert_eq!(
        &pairs(Payload::Leef, body)[5..],
        &kv(&[("a", "1"), ("b", "2")])[..]
    );
}

#[test]
fn key_value_and_audit() {
    assert_eq!(
        pairs(
            Payload::Kv,
            r#"level=info msg="a \"b\" c" bare n=5 q='x y'"#
        ),
        kv(&[
            ("level", "info"),
            ("msg", r#"a \"b\" c"#),
            ("n", "5"),
            ("q", "x y")
        ])
    );
    assert_eq!(
        pairs(Payload::Kv, r"a='it\'s' b=1"),
        kv(&[("a", r"it\'s"), ("b", "1")])
    );
    let escaped: Vec<bool> = Fields::new(Payload::Kv, br"a='it\'s' b='x'")
        .map(|f| f.escaped)
        .collect();
    assert_eq!(escaped, [true, false]);
    let audit = "type=USER_LOGIN msg=audit(1364481363.243:24287): pid=2222 uid=0 msg='op=login acct=\"root\" res=failed'";
    assert_eq!(
        pairs(Payload::Audit, audit),
        kv(&[
            ("type", "USER_LOGIN"),
            ("audit", "1364481363.243:24287"),
            ("pid", "2222"),
            ("uid", "0"),
            ("msg", "op=login acct=\"root\" res=failed"),
            // The message's own pairs, one by one.
            ("op", "login"),
            ("acct", "root"),
            ("res", "failed"),
        ])
    );
    // A quoted value last in the message, then a pair after it: out of the quotes again.
    let audit = "type=USER_CMD msg=audit(1.2:3): msg='cwd=\"/root\" cmd=\"ls\"' extra=1";
    assert_eq!(
        pairs(Payload::Audit, audit),
        kv(&[
            ("type", "USER_CMD"),
            ("audit", "1.2:3"),
            ("msg", "cwd=\"/root\" cmd=\"ls\""),
            ("cwd", "/root"),
            ("cmd", "ls"),
            ("extra", "1"),
        ])
    );
    // A quoted message without pairs stays one field.
    assert_eq!(
        pairs(Payload::Audit, "type=X msg=audit(1.2:3): msg='just text'"),
        kv(&[("type", "X"), ("audit", "1.2:3"), ("msg", "just text")])
    );
}

#[test]
fn access_log_lines_read_as_w3c_fields() {
    let combined = r#"203.0.113.5 - alice [07/Dec/2026:10:00:00 +0000] "GET /a.php?id=1%27 HTTP/1.1" 200 1234 "https://example.net/" "Mozilla/5.0 \"x\"""#;
    assert_eq!(detect_payload(combined.as_bytes()), Payload::AccessLog);
    assert_eq!(
        pairs(Payload::AccessLog, combined),
        kv(&[
            ("c-ip", "203.0.113.5"),
            ("ident", "-"),
            ("cs-username", "alice"),
            ("time", "07/Dec/2026:10:00:00 +0000"),
            ("cs-method", "GET"),
            ("cs-uri-stem", "/a.php"),
            ("cs-uri-query", "id=1%27"),
            ("cs-version", "HTTP/1.1"),
            ("sc-status", "200"),
            ("sc-bytes", "1234"),
            ("cs-referer", "https://example.net/"),
            ("cs-user-agent", r#"Mozilla/5.0 \"x\""#),
        ])
    );
    let escaped = Fields::new(Payload::AccessLog, combined.as_bytes())
        .last()
        .unwrap();
    assert!(escaped.escaped, "the user agent holds escaped quotes");
    // Common format (no referrer or agent), IPv6, no query, a request line of "-".
    let common = r#"2001:db8::5 - - [07/Dec/2026:10:00:00 +0000] "POST /login HTTP/2.0" 302 0"#;
    assert_eq!(detect_payload(common.as_bytes()), Payload::AccessLog);
    let p = pairs(Payload::AccessLog, common);
    assert_eq!(
        (p[5].1.as_str(), p[6].1.as_str(), p[8].1.as_str()),
        ("/login", "", "302")
    );
    assert_eq!(p[11].1, "");
    let dash = r#"198.51.100.7 - - [07/Dec/2026:10:00:00 +0000] "-" 400 0 "-" "-""#;
    let p = pairs(Payload::AccessLog, dash);
    assert_eq!((p[4].1.as_str(), p[8].1.as_str()), ("-", "400"));
    // Not access logs: an error log, a sentence, key=value.
    for not in [
        &b"[Sun Dec 04 04:47:44 2005] [notice] workerEnv.init() ok"[..],
        b"10 users logged in [today] \"ok\"",
        b"a=1 b=2",
        b"203.0.113.5 connected",
    ] {
        assert_ne!(detect_payload(not), Payload::AccessLog, "{not:?}");
    }
    // Broken lines fail rather than read wrong.
    assert!(!Fields::new(Payload::AccessLog, b"203.0.113.5 - - 07/Dec").valid());
    // The index reads what the walk reads.
    let mut index = FieldIndex::default();
    assert!(index.fill(Payload::AccessLog, combined.as_bytes()));
    assert_eq!(
        indexed(&format!("<190>Dec  7 10:00:00 web1 apache2: {combined}")),
        pairs(Payload::AccessLog, combined)
    );
}

#[test]
fn dns_query_logs_read_as_dns_fields_walked_and_indexed() {
    for (line, want) in [
        (
            "query[AAAA] api.example.net from 192.0.2.5",
            kv(&[
                ("record_type", "AAAA"),
                ("query", "api.example.net"),
                ("src_ip", "192.0.2.5"),
            ]),
        ),
        (
            "reply api.example.net is 198.51.100.7",
            kv(&[("query", "api.example.net"), ("answer", "198.51.100.7")]),
        ),
        (
            "client @0x7f3a2c0 192.0.2.5#53211 (a.example): query: a.example IN TXT + (10.0.0.1)",
            kv(&[
                ("src_ip", "192.0.2.5"),
                ("query", "a.example"),
                ("record_type", "TXT"),
            ]),
        ),
    ] {
        assert_eq!(detect_payload(line.as_bytes()), Payload::DnsLog, "{line}");
        assert_eq!(pairs(Payload::DnsLog, line), want, "{line}");
        let full = format!("<30>Dec  7 10:00:00 gw dnsmasq[1]: {line}");
        assert_eq!(indexed(&full), want, "indexed: {line}");
    }
    for not in [
        &b"client connected from 192.0.2.5"[..],
        b"query done",
        b"reply later",
    ] {
        assert_ne!(detect_payload(not), Payload::DnsLog, "{not:?}");
    }
}

#[test]
fn squid_lines_read_as_proxy_fields_walked_and_indexed() {
    let line = "1765101600.123    150 192.0.2.5 TCP_MISS/200 5120 GET \
                http://dl.example.net/x/a.exe?id=7 - HIER_DIRECT/198.51.100.7 text/html";
    assert_eq!(detect_payload(line.as_bytes()), Payload::ProxyLog);
    let want = kv(&[
        ("time", "1765101600.123"),
        ("elapsed", "150"),
        ("c-ip", "192.0.2.5"),
        ("sc-status", "200"),
        ("sc-bytes", "5120"),
        ("cs-method", "GET"),
        ("c-uri", "http://dl.example.net/x/a.exe?id=7"),
        ("cs-host", "dl.example.net"),
        ("c-uri-stem", "/x/a.exe"),
        ("c-uri-query", "id=7"),
        ("cs-username", "-"),
    ]);
    assert_eq!(pairs(Payload::ProxyLog, line), want);
    let full = format!("<22>Dec  7 10:00:00 proxy1 squid[1]: {line}");
    assert_eq!(indexed(&full), want);
    // CONNECT names host and port; short lines fail; other lines are not squid's.
    let connect = pairs(
        Payload::ProxyLog,
        "1765101600.456 8 192.0.2.6 TCP_TUNNEL/200 3942 CONNECT api.example.org:443 alice",
    );
    assert_eq!(connect[7].1, "api.example.org");
    assert!(!Fields::new(Payload::ProxyLog, b"1765101600.456 8").valid());
    for not in [
        &b"1765101600.456 8 192.0.2.6 started"[..],
        b"12.5 percent done",
        b"3.14 15 x tcp_miss/200",
        b"1765101600.123",
        b"1765101600. 150 192.0.2.5 TCP_MISS/200",
        b"1765101600.123\t150 192.0.2.5 TCP_MISS/200",
        b"081109 203615 148 INFO dfs.DataNode: x",
        b"2015-10-18 18:01:47,978 INFO main",
    ] {
        assert_ne!(detect_payload(not), Payload::ProxyLog, "{not:?}");
    }
}
