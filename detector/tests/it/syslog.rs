//! The syslog parsers against the RFC examples, real device variants, and every line of the
//! LogHub OpenSSH and Linux samples (compared with LogHub's ground truth).

use crate::common::csv_fields;
use detector::parse::{
    Event, FieldIndex, Format, FormatHint, ParseError, ParseOptions, Payload, PriError, parse,
    parse_indexed, unescape_into,
};
use proptest::prelude::*;

fn p(s: &str) -> Event<'_> {
    parse(s.as_bytes(), &ParseOptions::default())
}

fn text(b: Option<&[u8]>) -> Option<&str> {
    b.map(|b| std::str::from_utf8(b).unwrap())
}

#[test]
fn rfc5424_example_1_no_structured_data() {
    let e = p(
        "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - \
               \u{feff}'su root' failed for lonvick on /dev/pts/8",
    );
    assert_eq!(e.format, Format::Rfc5424);
    assert_eq!(e.error, None);
    let pri = e.pri.unwrap();
    assert_eq!((pri.facility.name(), pri.severity.name()), ("auth", "crit"));
    assert_eq!(e.version, Some(1));
    assert_eq!(e.timestamp_ns, Some(1_065_910_455_003_000_000));
    assert_eq!(text(e.host), Some("mymachine.example.com"));
    assert_eq!(text(e.app), Some("su"));
    assert_eq!(e.procid, None);
    assert_eq!(text(e.msgid), Some("ID47"));
    assert_eq!(e.structured_data, None);
    assert_eq!(
        e.body, b"'su root' failed for lonvick on /dev/pts/8",
        "BOM removed"
    );
}

#[test]
fn rfc5424_example_2_and_3() {
    let e = p(
        "<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's \
               time to make the do-nuts.",
    );
    assert_eq!(e.error, None);
    assert_eq!(e.timestamp_ns, Some(1_061_727_255_000_003_000));
    assert_eq!(text(e.procid), Some("8710"));
    assert_eq!(e.body, b"%% It's time to make the do-nuts.");

    let e = p(
        r#"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"] An application event log entry..."#,
    );
    assert_eq!(e.error, None);
    let params: Vec<_> = e
        .sd_params()
        .map(|(id, k, v)| {
            (
                text(Some(id)).unwrap(),
                text(Some(k)).unwrap(),
                text(Some(v)).unwrap(),
            )
        })
        .collect();
    assert_eq!(
        params,
        vec![
            ("exampleSDID@32473", "iut", "3"),
            ("exampleSDID@32473", "eventSource", "Application"),
            ("exampleSDID@32473", "eventID", "1011"),
        ]
    );
    assert_eq!(e.body, b"An application event log entry...");
}

#[test]
fn rfc5424_example_4_several_elements_no_msg() {
    let e = p(
        r#"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high"]"#,
    );
    assert_eq!(e.error, None);
    assert_eq!(e.sd_params().count(), 4);
    assert_eq!(
        e.sd_params().last().map(|(id, _, v)| (id, v)),
        Some((&b"examplePriority@32473"[..], &b"high"[..]))
    );
    assert_eq!(e.body, b"");
}

#[test]
fn structured_data_escapes() {
    let e = p(r#"<14>1 - - - - - [x@1 a="q\"uote" b="back\\slash" c="br\]acket" d=""] m"#);
    assert_eq!(e.error, None, "{e:?}");
    let values: Vec<_> = e.sd_params().map(|(_, _, v)| v).collect();
    assert_eq!(
        values,
        vec![&br#"q\"uote"#[..], br"back\\slash", br"br\]acket", b""]
    );
    let mut out = Vec::new();
    unescape_into(values[0], &mut out);
    assert_eq!(out, b"q\"uote");
    assert_eq!(e.body, b"m");
    assert_eq!(e.timestamp, None, "NILVALUE");
}

#[test]
fn rfc5424_errors_keep_what_was_read() {
    let e = p("<14>1 2003-10-11T22:14:15Z host");
    assert_eq!(e.error, Some(ParseError::TruncatedHeader));
    assert_eq!(text(e.host), Some("host"));
    let e = p("<14>1 yesterday host app - - - msg");
    assert_eq!(e.error, Some(ParseError::BadTimestamp));
    let e = p("<14>1 - host app - - [unclosed a=\"1\" msg");
    assert_eq!(e.error, Some(ParseError::BadStructuredData));
    assert_eq!(text(e.app), Some("app"));
    let e = parse(
        b"no pri at all",
        &ParseOptions {
            format: FormatHint::Rfc5424,
            ..Default::default()
        },
    );
    assert_eq!(e.error, Some(ParseError::Pri(PriError::Missing)));
}

#[test]
fn bsd_timestamps_are_read_in_the_senders_time_zone() {
    use detector::parse::time::LocalOffset;
    let opts = |local_offset| ParseOptions {
        year: Some(2003),
        local_offset,
        ..Default::default()
    };
    let utc = 1_065_910_455_000_000_000; // 2003-10-11T22:14:15Z
    let hour = 3_600_000_000_000;
    let bsd = b"<34>Oct 11 22:14:15 mymachine su: failed";
    assert_eq!(parse(bsd, &opts(LocalOffset::UTC)).timestamp_ns, Some(utc));
    assert_eq!(
        parse(bsd, &opts(LocalOffset::fixed(2 * 3600))).timestamp_ns,
        Some(utc - 2 * hour),
        "22:14 at +02:00 is 20:14 UTC"
    );
    assert_eq!(
        parse(
            b"<34>Oct 11 2003 22:14:15 h su: x",
            &opts(LocalOffset::fixed(-5 * 3600))
        )
        .timestamp_ns,
        Some(utc + 5 * hour),
        "a written year is local time too"
    );
    // A timestamp that names its offset keeps it, whatever the sender's zone.
    let e = parse(
        b"<34>2003-10-11T22:14:15Z h su: x",
        &opts(LocalOffset::fixed(2 * 3600)),
    );
    assert_eq!(e.timestamp_ns, Some(utc));
    let e = parse(
        b"<34>1 2003-10-11T22:14:15Z h su - - - x",
        &opts(LocalOffset::fixed(2 * 3600)),
    );
    assert_eq!(
        e.timestamp_ns,
        Some(utc),
        "RFC 5424 always names its offset"
    );
}

#[test]
fn rfc3164_section_5_4_examples() {
    let year = Some(2003);
    let opts = ParseOptions {
        year,
        ..Default::default()
    };
    let e = parse(
        b"<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8",
        &opts,
    );
    assert_eq!(e.format, Format::Rfc3164);
    assert_eq!(e.error, None);
    assert_eq!(e.timestamp_ns, Some(1_065_910_455_000_000_000));
    assert_eq!(text(e.host), Some("mymachine"));
    assert_eq!(text(e.app), Some("su"));
    assert_eq!(e.body, b"'su root' failed for lonvick on /dev/pts/8");

    // No timestamp or host: the rest is the message.
    let e = p("<13>Use the BFG!");
    assert_eq!(e.format, Format::Rfc3164);
    assert_eq!(e.body, b"Use the BFG!");
    assert_eq!(e.host, None);

    let e = parse(
        b"<165>Aug 24 05:34:00 CST 1987 mymachine myproc[10]: %% It's time to make the do-nuts.  %%  Ingredients: Mix=OK, Jelly=OK #",
        &opts,
    );
    assert_eq!(e.format, Format::Rfc3164);
    assert!(e.timestamp.is_some());
    assert!(!e.body.is_empty());

    let e = p(
        "<0>Oct 22 10:52:12 scapegoat 1990 Oct 22 10:52:01 TZ-6 scapegoat.dmz.example.org 10.1.2.3 sched[0]: That's All Folks!",
    );
    assert_eq!(text(e.host), Some("scapegoat"));
    assert!(e.body.ends_with(b"That's All Folks!"));
}

#[test]
fn bsd_variants_as_devices_send_them() {
    // tag[pid], no year: no timestamp_ns unless a year is given.
    let e =
        p("<38>Dec 10 06:55:46 LabSZ sshd[24200]: Invalid user webmaster from 173.234.31.186\n");
    assert_eq!(
        (text(e.host), text(e.app), text(e.procid)),
        (Some("LabSZ"), Some("sshd"), Some("24200"))
    );
    assert_eq!(e.timestamp_ns, None);
    assert_eq!(
        e.body, b"Invalid user webmaster from 173.234.31.186",
        "newline removed"
    );
    // No hostname.
    let e = p("<38>Dec 10 06:55:46 sshd[24200]: msg\0");
    assert_eq!((e.host, text(e.app)), (None, Some("sshd")));
    assert_eq!(e.body, b"msg", "NUL removed");
    // A first token holding `[` is a tag, never the host, even when no colon follows it.
    let e = p("<38>Dec 10 06:55:46 sshd[24200] restarted");
    assert_eq!(e.host, None);
    assert_eq!(e.body, b"sshd[24200] restarted");
    // ISO 8601 timestamp, `tag:` without pid.
    let e = p("<14>2024-05-01T10:00:00.5+02:00 fw01 kernel: dropped");
    assert_eq!(e.timestamp_ns, Some(1_714_550_400_500_000_000));
    assert_eq!(
        (text(e.host), text(e.app), e.procid),
        (Some("fw01"), Some("kernel"), None)
    );
    // ISO 8601 timestamp and no PRI (as files hold them): still a BSD header, not a raw line.
    let e = p("2024-05-01T10:00:00Z fw01 kernel: dropped");
    assert_eq!(e.format, Format::Rfc3164);
    assert_eq!(e.timestamp_ns, Some(1_714_557_600_000_000_000));
    assert_eq!((text(e.host), text(e.app)), (Some("fw01"), Some("kernel")));
    // Digits that are no timestamp, and no PRI: a raw line.
    assert_eq!(p("2024 was a good year").format, Format::Raw);
    // Year after the day.
    let e = p("<14>Dec 10 2024 06:55:46 host app: x");
    assert!(e.timestamp_ns.is_some());
    assert_eq!(text(e.host), Some("host"));
    // Cisco IOS with a sequence number, an unsynchronised clock and a mnemonic.
    let e = p("<189>123: *Mar  1 00:00:40.123: %SYS-5-CONFIG_I: Configured from console by vty0");
    assert_eq!(e.format, Format::Rfc3164);
    assert_eq!(text(e.sequence), Some("123"));
    assert_eq!(text(e.timestamp), Some("Mar  1 00:00:40.123"));
    let tag = e.cisco.unwrap();
    assert_eq!(
        (tag.facility, tag.severity, tag.mnemonic),
        (&b"SYS"[..], 5, &b"CONFIG_I"[..])
    );
    assert!(e.body.starts_with(b"%SYS-5-CONFIG_I: Configured"));
    // The tag after what the header did not take, and a facility with a dash.
    let tag_of = |line: &str| {
        p(line)
            .cisco
            .map(|t| (t.facility.to_vec(), t.severity, t.mnemonic.to_vec()))
    };
    let want = |f: &str, s: u8, m: &str| Some((f.as_bytes().to_vec(), s, m.as_bytes().to_vec()));
    assert_eq!(
        tag_of("<187>Nov 22 10:00:00 rtr1 45: Nov 22 10:00:00 UTC: %TCP-6-BADAUTH: Invalid MD5"),
        want("TCP", 6, "BADAUTH")
    );
    assert_eq!(
        tag_of("<187>2026 Nov 22 10:00:00 nx1 %AUTHPRIV-6-SYSTEM_MSG: session opened"),
        want("AUTHPRIV", 6, "SYSTEM_MSG")
    );
    assert_eq!(
        tag_of("<187>Nov 22 10:00:00 rtr1 %IP-TCP-3-BADAUTH: Invalid MD5 digest"),
        want("IP-TCP", 3, "BADAUTH")
    );
    assert_eq!(
        tag_of("<166>%ASA-6-302013: Built inbound TCP connection"),
        want("ASA", 6, "302013")
    );
    // Anywhere in the body's first 96 bytes (the second 64-byte block too), not past them.
    let pad = "x".repeat(70);
    assert_eq!(
        tag_of(&format!(
            "<14>Nov 22 10:00:00 h app: {pad} %SYS-5-CONFIG_I: y"
        )),
        want("SYS", 5, "CONFIG_I")
    );
    let pad = "x".repeat(100);
    assert_eq!(
        tag_of(&format!(
            "<14>Nov 22 10:00:00 h app: {pad} %SYS-5-CONFIG_I: y"
        )),
        None
    );
    // Not tags: a percentage, a severity out of range, lower case, no colon.
    for line in [
        "<14>Nov 22 10:00:00 h app: disk at 95% - cleaning",
        "<14>Nov 22 10:00:00 h app: %SYS-9-X: nine",
        "<14>Nov 22 10:00:00 h app: %sys-5-x: lower",
        "<14>Nov 22 10:00:00 h app: %SYS-5-CONFIG_I without a colon",
    ] {
        assert_eq!(tag_of(line), None, "{line}");
    }
}

#[test]
fn payloads_in_bodies() {
    let e = p(r#"<14>1 - h app - - - {"short_message":"x","level":3}"#);
    assert_eq!(e.payload, Payload::Json);
    assert_eq!(e.fields().count(), 2);
    let e = p("<14>Oct 11 22:14:15 h CEF:0|V|P|1|100|Name|5|src=1.2.3.4 act=blocked");
    assert_eq!(e.payload, Payload::Cef);
    assert_eq!(
        e.fields().find(|f| f.key == b"act").unwrap().value,
        b"blocked"
    );
    let e = p(r#"{"version":"1.1","host":"gelf","short_message":"hi"}"#);
    assert_eq!(
        (e.format, e.payload, e.error),
        (Format::Raw, Payload::Json, None)
    );
    let e = p(r#"<14>1 - h app - - - {"broken":"#);
    assert_eq!(e.error, Some(ParseError::BadPayload));
    let e = parse(
        b"<14>1 - h app - - - a=1 b=2",
        &ParseOptions {
            payload: Some(Payload::Plain),
            ..Default::default()
        },
    );
    assert_eq!(e.fields().count(), 0, "payload override");
}

#[test]
fn limits_and_empty() {
    let long = format!("<14>1 - h app - - - {}", "x".repeat(100));
    let e = parse(
        long.as_bytes(),
        &ParseOptions {
            max_len: 40,
            ..Default::default()
        },
    );
    assert_eq!(e.error, Some(ParseError::TooLong));
    assert_eq!(e.input.len(), 40);
    assert_eq!(p(" \r\n").error, Some(ParseError::Empty));
    assert_eq!(p("").error, Some(ParseError::Empty));
}

#[test]
fn invalid_utf8_is_kept_as_bytes() {
    let e = parse(b"<14>1 - h\xff app - - - caf\xe9", &ParseOptions::default());
    assert_eq!(e.error, None);
    assert_eq!(e.host, Some(&b"h\xff"[..]));
    assert_eq!(e.body, b"caf\xe9");
}

/// Every line of a LogHub file against its structured CSV: (host, app, pid, content) columns.
fn loghub(name: &str, cols: [usize; 4], app: Option<&str>) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/loghub/");
    let log = std::fs::read_to_string(format!("{dir}{name}_2k.log")).unwrap();
    let csv = std::fs::read_to_string(format!("{dir}{name}_2k.log_structured.csv")).unwrap();
    let mut n = 0;
    for (line, record) in log.lines().zip(csv.lines().skip(1)) {
        let f = csv_fields(record);
        let e = parse(line.as_bytes(), &ParseOptions::default());
        assert_eq!(e.format, Format::Rfc3164, "{line}");
        assert_eq!(e.error, None, "{line}");
        assert_eq!(text(e.host), Some(f[cols[0]].as_str()), "host: {line}");
        let want_app = app.unwrap_or(&f[cols[1]]);
        assert_eq!(text(e.app), Some(want_app), "app: {line}");
        let pid = &f[cols[2]];
        assert_eq!(
            text(e.procid),
            (!pid.is_empty()).then_some(pid.as_str()),
            "pid: {line}"
        );
        // LogHub trims the content; the parser keeps the message's own leading space
        // (`kernel:  BIOS-e820: ...`).
        assert_eq!(
            std::str::from_utf8(e.body).unwrap().trim(),
            f[cols[3]].trim(),
            "content: {line}"
        );
        n += 1;
    }
    assert_eq!(n, 2000);
}

#[test]
fn every_loghub_openssh_line() {
    // LineId,Date,Day,Time,Component,Pid,Content: the host is "Component"; the app is sshd.
    loghub("OpenSSH", [4, 4, 5, 6], Some("sshd"));
}

#[test]
fn every_loghub_linux_line() {
    // LineId,Month,Date,Time,Level,Component,PID,Content: the host is "Level".
    loghub("Linux", [4, 5, 6, 7], None);
}

proptest! {
    /// Nothing panics, and every slice lies inside the input.
    #[test]
    fn arbitrary_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..400)) {
        let e = parse(&input, &ParseOptions::default());
        let _ = e.fields().count();
        let _ = e.sd_params().count();
        let range = input.as_ptr_range();
        for s in [e.host, e.app, e.procid, e.msgid, e.timestamp, e.structured_data, Some(e.body)].into_iter().flatten() {
            prop_assert!(s.is_empty() || range.contains(&s.as_ptr()));
        }
    }

    /// Syslog-shaped garbage: plausible headers with random parts.
    #[test]
    fn syslog_shaped_input_never_panics(
        input in "<[0-9]{1,3}>[0-9 ]{0,2}[A-Za-z0-9:.TZ+ \\-\\[\\]\"=\\\\{}|%]{0,120}"
    ) {
        let e = parse(input.as_bytes(), &ParseOptions::default());
        let _ = e.fields().count();
        let _ = e.sd_params().count();
    }
}

/// Every field of `e`, owned, escapes flag included.
fn all_fields(e: &Event<'_>) -> Vec<(Vec<u8>, Vec<u8>, bool)> {
    e.fields()
        .map(|f| (f.key.to_vec(), f.value.to_vec(), f.escaped))
        .collect()
}

/// A body of `kind` (0 JSON, 1 CEF, 2 LEEF 1.0, 3 LEEF 2.0, 4 key=value, 5 audit) made of
/// `words`: one field per word, the words taken as they come (quotes, escapes and delimiters
/// in them break some bodies, as devices do).
fn structured_body(kind: usize, words: &[String]) -> String {
    let each = |f: &dyn Fn(usize, &String) -> String, sep: &str| {
        words
            .iter()
            .enumerate()
            .map(|(i, w)| f(i, w))
            .collect::<Vec<_>>()
            .join(sep)
    };
    match kind {
        0 => format!("{{{}}}", each(&|i, w| format!("\"k{i}\":\"{w}\""), ",")),
        1 => format!(
            "CEF:0|v|p|1|sig|name|5|{}",
            each(&|i, w| format!("k{i}={w}"), " ")
        ),
        2 => format!(
            "LEEF:1.0|v|p|1|ev|{}",
            each(&|i, w| format!("k{i}={w}"), "\t")
        ),
        3 => format!(
            "LEEF:2.0|v|p|1|ev|^|{}",
            each(&|i, w| format!("k{i}={w}"), "^")
        ),
        4 => each(&|i, w| format!("k{i}=\"{w}\""), " "),
        _ => format!(
            "type=SYSCALL msg=audit(1.2:3): {}",
            each(&|i, w| format!("k{i}={w}"), " ")
        ),
    }
}

proptest! {
    /// An event made with a field index reads the same fields, and the same error, as one
    /// whose fields are walked: past the index's slots too (up to 60 fields).
    #[test]
    fn indexed_events_read_as_walked_ones(
        kind in 0usize..6,
        words in proptest::collection::vec("[a-z0-9 =|^\"\\\\]{0,8}", 0..60),
        header in prop_oneof![Just("<14>1 - h app - - - "), Just("<14>Oct 11 22:14:15 h app: "), Just("")],
    ) {
        let msg = format!("{header}{}", structured_body(kind, &words));
        let opts = ParseOptions::default();
        let walked = parse(msg.as_bytes(), &opts);
        let mut index = FieldIndex::default();
        let indexed = parse_indexed(msg.as_bytes(), &opts, &mut index);
        prop_assert_eq!(walked.error, indexed.error, "{}", msg);
        prop_assert_eq!(walked.payload, indexed.payload);
        prop_assert_eq!(all_fields(&walked), all_fields(&indexed), "{}", msg);
    }

    /// The same on arbitrary bytes, with an index reused from the message before.
    #[test]
    fn indexed_events_of_arbitrary_bytes_read_as_walked_ones(
        inputs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..4)
    ) {
        let opts = ParseOptions::default();
        let mut index = FieldIndex::default();
        for input in &inputs {
            let walked = parse(input, &opts);
            let indexed = parse_indexed(input, &opts, &mut index);
            prop_assert_eq!(walked.error, indexed.error);
            prop_assert_eq!(all_fields(&walked), all_fields(&indexed));
        }
    }
}

#[test]
fn an_index_holds_32_fields_and_the_rest_are_walked() {
    let opts = ParseOptions::default();
    let mut index = FieldIndex::default();
    for n in [0, 1, 31, 32, 33, 40, 100] {
        for kind in 0..6 {
            let words: Vec<String> = (0..n).map(|i| format!("v{i}")).collect();
            let msg = format!("<14>1 - h app - - - {}", structured_body(kind, &words));
            let e = parse_indexed(msg.as_bytes(), &opts, &mut index);
            assert_eq!(e.error, None, "{msg}");
            let fields = all_fields(&e);
            // Fields the format adds: CEF's and LEEF's headers, the audit record's type and stamp.
            let header = [0, 7, 5, 5, 0, 2][kind];
            assert_eq!(fields.len(), header + n, "{msg}");
            let last = fields.last().map(|f| f.1.clone());
            if n > 0 {
                assert_eq!(last, Some(format!("v{}", n - 1).into_bytes()), "{msg}");
            }
            assert_eq!(fields, all_fields(&parse(msg.as_bytes(), &opts)), "{msg}");
        }
    }
}

// Regression tests, one per bug found, named after it.

#[test]
fn regression_a_broken_pri_is_an_error_not_a_raw_message() {
    // Found while wiring the parser into the workers: `<999>` read as a raw line, no error.
    assert_eq!(
        p("<999>too big").error,
        Some(ParseError::Pri(PriError::OutOfRange))
    );
}

#[test]
fn regression_sysklogd_tags_with_a_space() {
    // Found by the LogHub Linux sample: `syslogd 1.4.1:` and `-- root[2421]:`.
    let e = p("Jun 19 04:09:11 combo syslogd 1.4.1: restart.");
    assert_eq!(
        (text(e.app), e.body),
        (Some("syslogd 1.4.1"), &b"restart."[..])
    );
    let e = p("Jul  7 08:06:15 combo -- root[2421]: ROOT LOGIN ON tty2");
    assert_eq!(
        (text(e.app), text(e.procid)),
        (Some("-- root"), Some("2421"))
    );
    // Two plain words before a colon stay part of the message.
    let e = p("Jul  7 08:06:15 combo Invalid user: x");
    assert_eq!(e.app, None);
}

#[test]
fn regression_two_spaces_after_the_host() {
    // Found by the LogHub Linux sample: `combo  -- root[2421]:`.
    let e = p("Jul  7 08:06:15 combo  -- root[2421]: ROOT LOGIN ON tty2");
    assert_eq!(
        (text(e.host), text(e.app)),
        (Some("combo"), Some("-- root"))
    );
}

#[test]
fn regression_cef_after_a_bsd_header_is_not_a_tag() {
    // `CEF:0|...` was read as the tag `CEF` with the body `0|...`.
    let e = p("<14>Oct 11 22:14:15 h CEF:0|V|P|1|100|Name|5|src=1.2.3.4");
    assert_eq!((e.app, e.payload), (None, Payload::Cef));
}

#[test]
fn the_words_of_a_message_read_the_same_in_every_payload_format() {
    let words = "Failed password for root from 203.0.113.66 port 4711 ssh2";
    let opts = ParseOptions::default();
    let lines = [
        format!("<38>Nov 22 10:00:01 h sshd[42]: {words}"),
        format!(
            "<38>1 2026-11-22T10:00:01Z h sshd 42 - - {{\"host\":\"h\",\"message\":\"{words}\",\"pid\":42}}"
        ),
        format!(
            "<38>Nov 22 10:00:01 h CEF:0|Example|sshd|1.0|100|event|3|src=198.18.1.1 msg={words}"
        ),
        format!("<38>1 - h app - - - {{\"version\":\"1.1\",\"short_message\":\"{words}\"}}"),
        format!("<38>1 - h app - - - user=root msg=\"{words}\""),
    ];
    for line in &lines {
        let e = parse(line.as_bytes(), &opts);
        assert_eq!(
            std::str::from_utf8(e.text()).unwrap().trim_matches('"'),
            words,
            "{line}"
        );
    }
    // Escapes are the payload format's, not the sender's words.
    let cef = parse(
        b"<38>Nov 22 10:00:01 h CEF:0|Example|kernel|1.0|100|event|3|msg=CPU 0 irqstacks, hard\\=02345000",
        &opts,
    );
    let (_, escaped) = cef.text_escaped();
    assert!(escaped);
    let mut buf = Vec::new();
    assert_eq!(cef.plain_text(&mut buf), b"CPU 0 irqstacks, hard=02345000");
    // Unescaped text needs no copy.
    let plain = parse(b"<38>Nov 22 10:00:01 h sshd[1]: no escapes", &opts);
    assert_eq!(plain.plain_text(&mut buf), b"no escapes");
    // An audit record or a JSON body without a message field is its own text.
    let e = parse(b"<38>1 - h app - - - {\"a\":1}", &opts);
    assert_eq!(e.text(), b"{\"a\":1}");
}
