use super::{
    rfc3164::tag_name,
    sd::{SD_NAME_END, VALUE_END, first_marked, quoted_end},
    *,
};
use proptest::prelude::*;

/// Up to `max` bytes drawn from `alphabet`, often starting with a long run of `a` (no
/// delimiter), so that scans reach their limits and the tails after their steps.
fn bytes_with_a_plain_run(alphabet: &[u8], max: usize) -> impl Strategy<Value = Vec<u8>> {
    let bytes = proptest::collection::vec(proptest::sample::select(alphabet.to_vec()), 0..max);
    (bytes, 0..max).prop_map(|(mut s, plain)| {
        let plain = plain.min(s.len());
        s[..plain].fill(b'a');
        s
    })
}

proptest! {
    /// Four bytes a step find the first marked byte as one byte a step does, wherever it is
    /// (in a step of four or in the tail after the last) and when there is none.
    #[test]
    fn the_first_marked_byte_is_found_as_one_byte_a_step_finds_it(
        s in bytes_with_a_plain_run(b"ab1 ]=\"\\-", 40),
    ) {
        for table in [&SD_NAME_END, &VALUE_END] {
            let by_bytes = s.iter().position(|&b| table[usize::from(b)]).unwrap_or(s.len());
            prop_assert_eq!(first_marked(&s, table), by_bytes);
        }
    }

    /// A BSD tag's name is found with one table as with the four comparisons it replaced,
    /// at every length up to its limit and past it.
    #[test]
    fn a_bsd_tag_name_is_found_as_by_comparing_each_byte(
        s in bytes_with_a_plain_run(b"ab1( ):[]\t-", 80),
    ) {
        let by_bytes = s
            .iter()
            .take(65)
            .position(|&b| matches!(b, b':' | b'[' | b']' | b'\t'))
            .map(|end| (end, s[..end].iter().filter(|&&b| b == b' ').count()));
        prop_assert_eq!(tag_name(&s), by_bytes);
    }

    /// Structured-data parameters are read back as they were written: each element's
    /// SD-ID, each name, each value with its escapes as written, long values too.
    #[test]
    fn structured_data_params_read_back_as_written(
        elements in proptest::collection::vec(
            (
                "[a-zA-Z@.0-9]{1,32}",
                proptest::collection::vec(
                    ("[a-zA-Z0-9_.-]{1,32}", r#"([a-z0-9 =\[]|\\"|\\\\|\\\]){0,50}"#),
                    0..4,
                ),
            ),
            1..4,
        ),
    ) {
        let mut sd = String::new();
        let mut written = Vec::new();
        for (id, params) in &elements {
            sd.push('[');
            sd.push_str(id);
            for (name, value) in params {
                sd.push_str(&format!(" {name}=\"{value}\""));
                written.push((id.clone(), name.clone(), value.clone()));
            }
            sd.push(']');
        }
        let msg = format!("<13>1 - host app - - {sd} body");
        let ev = parse(msg.as_bytes(), &ParseOptions::default());
        prop_assert_eq!(ev.error, None);
        let read: Vec<_> = ev
            .sd_params()
            .map(|(id, k, v)| {
                let text = |b: &[u8]| String::from_utf8(b.to_vec()).expect("ASCII");
                (text(id), text(k), text(v))
            })
            .collect();
        prop_assert_eq!(read, written);
    }

    /// Structured data set by hand (the field is public) is read without a panic,
    /// whatever it holds, and a parameter is only ever a name, `="`, and a closed value.
    #[test]
    fn structured_data_params_of_any_bytes_never_panic(
        sd in proptest::collection::vec(
            proptest::sample::select(b"[] =\"\\ab".to_vec()),
            0..60,
        ),
    ) {
        let mut ev = parse(b"<13>1 - - - - - -", &ParseOptions::default());
        ev.structured_data = Some(&sd);
        // Where a slice of `sd` ends in it.
        let end = |part: &[u8]| part.as_ptr() as usize - sd.as_ptr() as usize + part.len();
        for (_, name, value) in ev.sd_params() {
            prop_assert!(!name.iter().any(|b| b" ]=\"".contains(b)), "{:?}", name);
            prop_assert!(sd[end(name)..].starts_with(b"=\""), "{:?}", sd);
            prop_assert_eq!(end(name) + 2, end(value) - value.len(), "{:?}", sd);
            prop_assert_eq!(sd.get(end(value)), Some(&b'"'), "{:?}", sd);
        }
    }

    /// The header's fields are cut where its spaces are, however long (past the 64 bytes
    /// one mask covers, too), and an empty one is a truncated header.
    #[test]
    fn the_5424_header_is_cut_at_its_spaces(
        fields in proptest::collection::vec("-|[a-z0-9.]{0,40}", 4),
        body in "[ a-z]{0,80}",
    ) {
        let msg = format!("<13>1 - {} - {body}", fields.join(" "));
        let ev = parse(msg.as_bytes(), &ParseOptions::default());
        let read = [ev.host, ev.app, ev.procid, ev.msgid];
        match fields.iter().position(String::is_empty) {
            Some(empty) => {
                prop_assert_eq!(ev.error, Some(ParseError::TruncatedHeader));
                // What came before the empty field was read.
                for (f, r) in fields.iter().zip(read).take(empty) {
                    prop_assert_eq!(r, (f != "-").then_some(f.as_bytes()));
                }
            }
            None => {
                prop_assert_eq!(ev.error, None);
                for (f, r) in fields.iter().zip(read) {
                    prop_assert_eq!(r, (f != "-").then_some(f.as_bytes()));
                }
                prop_assert_eq!(ev.body, body.as_bytes());
            }
        }
    }

    /// An RFC 5424 timestamp is read where it stands in the message, bytes after it in
    /// reach; it reads as its field cut out on its own does.
    #[test]
    fn a_5424_timestamp_reads_as_its_field_alone(
        valid in (1970u32..=9999, 1u32..=12, 1u32..=28, 0u32..=23, 0u32..=59, 0u32..=59),
        t in "[Tt ]",
        rest in "([.,][0-9]{0,12})?([Zz]|[+-][01][0-9](:?[0-5][0-9])?)?",
        changes in proptest::collection::vec((0usize..40, proptest::sample::select(b"0123456789.:+-Zz,T".to_vec())), 0..3),
        after in proptest::sample::select(vec![" host app - - - msg", " h", ""]),
    ) {
        let (y, mo, d, h, mi, sec) = valid;
        let mut ts = format!("{y:04}-{mo:02}-{d:02}{t}{h:02}:{mi:02}:{sec:02}{rest}").into_bytes();
        for (i, b) in changes {
            if let Some(x) = ts.get_mut(i) {
                *x = b;
            }
        }
        let mut msg = b"<13>1 ".to_vec();
        msg.extend_from_slice(&ts);
        msg.extend_from_slice(after.as_bytes());
        // A space ends the field: the timestamp is what comes before it.
        let ts = ts.split(|&b| b == b' ').next().unwrap_or_default().to_vec();
        let ev = parse(&msg, &ParseOptions::default());
        let alone = time::parse_rfc3339(&ts);
        if ts.is_empty() {
            prop_assert_eq!(ev.error, Some(ParseError::TruncatedHeader));
        } else {
            // Read before the fields after it: its verdict comes first.
            prop_assert_eq!(ev.error == Some(ParseError::BadTimestamp), alone.is_none());
            prop_assert_eq!(ev.timestamp_ns, alone);
        }
    }
}

#[test]
fn a_bsd_message_of_december_read_in_january_is_dated_the_year_before() {
    let msg = b"<13>Dec 31 23:59:59 host app: last words of the year";
    let read = |year, month| {
        let opts = ParseOptions {
            year: Some(year),
            month,
            ..ParseOptions::default()
        };
        parse(msg, &opts).timestamp_ns
    };
    assert_eq!(read(2027, Some(1)), read(2026, None));
    assert_eq!(read(2026, Some(12)), read(2026, None));
    assert_ne!(read(2027, None), read(2026, None));
}

#[test]
fn a_bsd_tag_name_ends_within_its_first_65_bytes() {
    for len in 60..70 {
        let mut s = vec![b'a'; len];
        s.extend_from_slice(b": msg");
        let want = (len < 65).then_some((len, 0));
        assert_eq!(tag_name(&s), want, "a name of {len} bytes");
    }
}

#[test]
fn quoted_values_end_at_their_first_unescaped_quote_at_any_length() {
    for len in 0..100usize {
        for escape_at in [None, Some(0), Some(len / 2), Some(len.saturating_sub(2))] {
            let mut v = vec![b'a'; len];
            if let Some(i) = escape_at.filter(|&i| i + 1 < len) {
                v[i] = b'\\';
                v[i + 1] = b'"';
            }
            let mut s = v.clone();
            s.extend_from_slice(b"\" rest\"");
            assert_eq!(
                quoted_end(&s),
                Some(len),
                "len {len}, escape at {escape_at:?}"
            );
            assert_eq!(quoted_end(&v[..]), None, "unclosed, len {len}");
        }
    }
    assert_eq!(
        quoted_end(b"ab\\"),
        None,
        "a trailing backslash escapes nothing"
    );
}

#[test]
fn parsing_into_a_slot_leaves_nothing_of_what_it_held() {
    let opts = ParseOptions::default();
    let first =
        b"<165>1 2026-11-22T11:00:01.003Z fw1 app 42 ID47 [a@1 k=\"v\"] {\"user\":\"root\"}";
    let second = b"just words";
    let (mut i1, mut i2, mut i3) = (
        FieldIndex::default(),
        FieldIndex::default(),
        FieldIndex::default(),
    );
    let mut slot = Event::default();
    parse_indexed_into(&mut slot, first, &opts, &mut i1);
    let want = parse_indexed(first, &opts, &mut i2);
    assert_eq!(format!("{slot:?}"), format!("{want:?}"));
    assert!(
        slot.fields().next().is_some(),
        "the JSON body's fields are kept"
    );
    parse_indexed_into(&mut slot, second, &opts, &mut i3);
    assert_eq!(format!("{slot:?}"), format!("{:?}", parse(second, &opts)));
    assert_eq!(
        (slot.host, slot.pri, slot.index.is_none()),
        (None, None, true)
    );
}
