use super::*;
use proptest::prelude::*;

proptest! {
    /// RFC 3339 timestamps read as `humantime` (another implementation) reads them, days
    /// past the month's end included, and an offset moves them by itself.
    #[test]
    fn rfc3339_reads_as_another_implementation(
        y in 1970u32..=2200,
        mo in 1u32..=12,
        d in 1u32..=31,
        h in 0u32..=23,
        mi in 0u32..=59,
        sec in 0u32..=59,
        frac in proptest::option::of("[0-9]{1,9}"),
        offset in (0u32..=23, 0u32..=59, any::<bool>()),
    ) {
        let frac = frac.map(|f| format!(".{f}")).unwrap_or_default();
        let stamp = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{sec:02}{frac}");
        let want = humantime::parse_rfc3339(&format!("{stamp}Z"))
            .ok()
            .map(|t| t.duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as i64);
        prop_assert_eq!(parse_rfc3339(format!("{stamp}Z").as_bytes()), want);
        let (oh, om, east) = offset;
        let sign = if east { '+' } else { '-' };
        let shifted = parse_rfc3339(format!("{stamp}{sign}{oh:02}:{om:02}").as_bytes());
        let by = i64::from(oh * 3600 + om * 60) * 1_000_000_000;
        prop_assert_eq!(shifted, want.map(|w| if east { w - by } else { w + by }));
        // The same time as a BSD timestamp (day space-padded), its year given.
        const MONTHS: [&str; 12] =
            ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
        let bsd = format!("{} {d:>2} {h:02}:{mi:02}:{sec:02}{frac} host", MONTHS[mo as usize - 1]);
        let read = parse_bsd_prefix(bsd.as_bytes(), Some(y as i32), None);
        prop_assert_eq!(read, want.map(|w| (bsd.len() - 5, Some(w))), "{}", bsd);
    }
}

/// A byte of a timestamp as tests draw it: mostly what belongs there, often a digit or a
/// separator, sometimes anything.
fn stamp_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        4 => proptest::sample::select(b"0123456789".to_vec()),
        2 => proptest::sample::select(b"-:.,TtZz+ /".to_vec()),
        1 => any::<u8>(),
    ]
}

/// [`date_time`] a byte at a time: the reading it replaced.
fn date_time_by_bytes(head: &[u8; 19]) -> Option<[u32; 6]> {
    let seps = [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')];
    if seps.iter().any(|&(i, b)| head[i] != b) || !matches!(head[10], b'T' | b't' | b' ') {
        return None;
    }
    let n = |from: usize, len: usize| digits(&head[from..], len);
    Some([
        n(0, 4)?,
        n(5, 2)?,
        n(8, 2)?,
        n(11, 2)?,
        n(14, 2)?,
        n(17, 2)?,
    ])
}

proptest! {
    /// The word-at-a-time pattern check says what a check of each byte says.
    #[test]
    fn fixed_patterns_agree_with_a_byte_at_a_time_check(
        bytes in proptest::array::uniform8(stamp_byte()),
        pattern in proptest::sample::select(vec![*b"0000-00-", *b"00T00:00", *b"00:00:00"]),
    ) {
        let fits = |(&b, &p): (&u8, &u8)| if p == b'0' { b.is_ascii_digit() } else { b == p };
        let want = bytes.iter().zip(&pattern).all(fits).then(|| {
            u64::from_le_bytes(bytes.map(|b| if b.is_ascii_digit() { b - b'0' } else { 0 }))
        });
        prop_assert_eq!(fixed(u64::from_le_bytes(bytes), pattern), want);
    }

    /// Date and time read three words at a time, as byte at a time, from stamps with any
    /// byte anywhere.
    #[test]
    fn date_time_agrees_with_a_byte_at_a_time_reading(
        valid in (1970u32..=9999, 1u32..=12, 1u32..=31, 0u32..=23, 0u32..=59, 0u32..=59),
        changes in proptest::collection::vec((0usize..19, stamp_byte()), 0..3),
    ) {
        let (y, mo, d, h, mi, s) = valid;
        let text = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}");
        let mut head: [u8; 19] = text.as_bytes().try_into().unwrap();
        for (i, b) in changes {
            head[i] = b;
        }
        prop_assert_eq!(date_time(&head), date_time_by_bytes(&head), "{:?}", head);
    }

    /// BSD timestamps in their common form, read at fixed places, as the reading of any
    /// form reads them: the day padded either way or not at all, a year before or after
    /// the time, a fraction, any byte anywhere.
    #[test]
    fn bsd_timestamps_at_fixed_places_agree_with_the_reading_of_any_form(
        text in "(Jan|Feb|Dec) ( [1-9]|0[1-9]|[12][0-9]|3[01]|[1-9]) ([0-9]{4} )?[0-2][0-9]:[0-5][0-9]:[0-6][0-9](\\.[0-9]{1,10})?( [0-9]{4})?( host)?",
        changes in proptest::collection::vec((0usize..30, stamp_byte()), 0..3),
        year in proptest::option::of(1990i32..2100),
        reading_month in proptest::option::of(1u8..=12),
    ) {
        let mut s = text.into_bytes();
        for (i, b) in changes {
            if let Some(x) = s.get_mut(i) {
                *x = b;
            }
        }
        let any_form = month(&s).and_then(|mo| {
            let y = year.map(|y| i64::from(nearest_year(y, reading_month, mo)));
            bsd_any_form(&s, mo, y)
        });
        prop_assert_eq!(parse_bsd_prefix(&s, year, reading_month), any_form, "{:?}", s);
    }

    /// Fractions read a word at a time, as byte at a time: any number of digits, then any
    /// byte, at any distance from the input's end.
    #[test]
    fn fractions_agree_with_a_byte_at_a_time_reading(
        point in proptest::sample::select(b".,x".to_vec()),
        digits in "[0-9]{0,12}",
        tail in proptest::collection::vec(stamp_byte(), 0..10),
    ) {
        let mut s = vec![point];
        s.extend_from_slice(digits.as_bytes());
        s.extend_from_slice(&tail);
        for end in 0..=s.len() {
            let s = &s[..end];
            let want = match s.split_first() {
                Some((b'.' | b',', after)) => match fraction_digits_by_bytes(after) {
                    (_, 0) => (0, 0),
                    (ns, n) => (ns, 1 + n),
                },
                _ => (0, 0),
            };
            prop_assert_eq!(fraction(s), want, "{:?}", s);
        }
    }
}

#[test]
fn civil_days_from_the_tables_agree_with_arithmetic() {
    for y in 1900..2300 {
        for m in 0..=13 {
            for d in 0..=32 {
                assert_eq!(
                    days_from_civil(y, m, d),
                    days_from_civil_any(y, m, d),
                    "{y}-{m}-{d}"
                );
            }
        }
    }
}

#[test]
fn civil_days() {
    assert_eq!(days_from_civil(1970, 1, 1), 0);
    assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    assert_eq!(days_from_civil(1969, 12, 31), -1);
    // Day 0 is the day before the 1st, and does not wrap.
    assert_eq!(days_from_civil(1970, 3, 0), days_from_civil(1970, 2, 28));
    // Years far from ours, negative ones too: the inverse gives them back, and 400 years
    // are always 146 097 days.
    for y in [
        i32::MIN,
        -1_000_001,
        -401,
        -1,
        0,
        1,
        1600,
        9999,
        1_000_000,
        i32::MAX - 400,
    ] {
        for m in 1..=12 {
            let days = days_from_civil(i64::from(y), m, 1);
            assert_eq!(year_month_from_days(days), (y, m as u8), "{y}-{m}");
            let later = days_from_civil(i64::from(y) + 400, m, 1);
            assert_eq!(later - days, 146_097, "{y}-{m}");
        }
    }
}

#[test]
fn rfc5424_section_6_5_timestamps() {
    // 1985-04-12T23:20:50.52Z
    assert_eq!(
        parse_rfc3339(b"1985-04-12T23:20:50.52Z"),
        Some(482_196_050_520_000_000)
    );
    // 1985-04-12T19:20:50.52-04:00 is the same instant.
    assert_eq!(
        parse_rfc3339(b"1985-04-12T19:20:50.52-04:00"),
        Some(482_196_050_520_000_000)
    );
    assert_eq!(
        parse_rfc3339(b"2003-10-11T22:14:15.003Z"),
        Some(1_065_910_455_003_000_000)
    );
    assert_eq!(
        parse_rfc3339(b"2003-08-24T05:14:15.000003-07:00"),
        Some(1_061_727_255_000_003_000)
    );
    // RFC 5424 forbids these; ISO 8601 senders use the first, nobody should the rest.
    assert!(parse_rfc3339(b"2003-10-11 22:14:15Z").is_some());
    assert_eq!(parse_rfc3339(b"2003-13-11T22:14:15Z"), None);
    assert_eq!(parse_rfc3339(b"2003-02-29T22:14:15Z"), None);
    assert_eq!(parse_rfc3339(b"2003-10-11T22:14:15.Z"), None);
    assert_eq!(parse_rfc3339(b"2003-10-11T22:14"), None);
}

#[test]
fn year_and_month_of_every_day_of_four_centuries() {
    let mut days = days_from_civil(1900, 1, 1);
    for y in 1900..2300 {
        for m in 1..=12u32 {
            assert_eq!(days, days_from_civil(y, m, 1));
            for _ in 0..days_in_month(y, m) {
                assert_eq!(
                    year_month_from_days(days),
                    (y as i32, m as u8),
                    "day {days}"
                );
                days += 1;
            }
        }
    }
}

#[test]
fn months_in_any_case_and_nothing_else() {
    let names = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    for a in 0x20..0x80u8 {
        for b in 0x20..0x80u8 {
            for c in 0x20..0x80u8 {
                let s = [a, b, c, b' '];
                let want = names
                    .iter()
                    .position(|n| n.as_bytes().eq_ignore_ascii_case(&s[..3]))
                    .map(|i| i as u32 + 1);
                assert_eq!(month(&s), want, "{s:?}");
            }
        }
    }
    assert_eq!(month(b"De"), None);
    assert_eq!(month(b"DEC"), Some(12));
}

#[test]
fn the_nearest_year_to_the_reading() {
    assert_eq!(nearest_year(2027, Some(1), 12), 2026);
    assert_eq!(nearest_year(2027, Some(1), 7), 2027);
    assert_eq!(nearest_year(2027, Some(1), 8), 2026);
    assert_eq!(nearest_year(2026, Some(12), 1), 2027);
    assert_eq!(nearest_year(2026, Some(12), 6), 2026);
    assert_eq!(nearest_year(2026, Some(6), 6), 2026);
    assert_eq!(nearest_year(2026, None, 12), 2026);
}

#[test]
fn bsd_timestamps() {
    let (n, ns) = parse_bsd_prefix(b"Oct 11 22:14:15 mymachine", Some(2003), None).unwrap();
    assert_eq!(n, 15);
    assert_eq!(ns, Some(1_065_910_455_000_000_000));
    assert_eq!(
        parse_bsd_prefix(b"Jun  4 15:16:01 x", None, None),
        Some((15, None))
    );
    assert_eq!(
        parse_bsd_prefix(b"Mar  1 00:00:00.123: %SYS", Some(2024), None)
            .unwrap()
            .0,
        19
    );
    assert_eq!(
        parse_bsd_prefix(b"Dec 10 2024 06:55:46 host", None, Some(1))
            .map(|(n, t)| (n, t.is_some())),
        Some((20, true))
    );
    // (stamp, year and month of the reading, the year it must read as, why)
    type Case = (&'static [u8], i32, u8, Option<i32>, &'static str);
    let cases: [Case; 4] = [
        (
            b"Dec 31 23:59:59 h",
            2027,
            1,
            Some(2026),
            "December read in January: last year",
        ),
        (
            b"Jan  1 00:00:01 h",
            2026,
            12,
            Some(2027),
            "January read in December: next year",
        ),
        (
            b"Jul  1 00:00:01 h",
            2026,
            1,
            Some(2026),
            "six months away: the same year",
        ),
        (
            b"Dec 10 2024 06:55:46 h",
            2026,
            1,
            None,
            "a written year is kept",
        ),
    ];
    for (stamp, year, month, want, why) in cases {
        assert_eq!(
            parse_bsd_prefix(stamp, Some(year), Some(month)),
            parse_bsd_prefix(stamp, want, None),
            "{why}"
        );
    }
    assert_eq!(parse_bsd_prefix(b"Foo 10 06:55:46", None, None), None);
    assert_eq!(parse_bsd_prefix(b"Dec 32 06:55:46", None, None), None);
    assert_eq!(parse_bsd_prefix(b"Dec 10 25:55:46", None, None), None);
}

#[test]
fn local_times_become_utc_across_a_change_of_offset() {
    const S: i64 = 1_000_000_000;
    // Berlin, 2026-10-25: at 01:00 UTC clocks go from +02:00 back to +01:00.
    let change = days_from_civil(2026, 10, 25) * 86_400 + 3600;
    let berlin = LocalOffset {
        now_s: 3600,
        since_s: change,
        before_s: 7200,
    };
    let local = |h: i64, m: i64| (days_from_civil(2026, 10, 25) * 86_400 + h * 3600 + m * 60) * S;
    // 02:30 local, read after the change: the repeated hour, the later reading.
    assert_eq!(berlin.to_utc_ns(local(2, 30)), local(1, 30));
    // 01:59 local was before the change, at +02:00.
    assert_eq!(berlin.to_utc_ns(local(1, 59)), local(-1, 59));
    // A day later, the new offset.
    assert_eq!(berlin.to_utc_ns(local(26, 0)), local(25, 0));
    assert_eq!(LocalOffset::UTC.to_utc_ns(local(5, 0)), local(5, 0));
    assert_eq!(
        LocalOffset::fixed(-5 * 3600).to_utc_ns(local(5, 0)),
        local(10, 0)
    );
    assert_eq!(
        LocalOffset::fixed(3600).to_utc_ns(i64::MIN),
        i64::MIN,
        "saturates"
    );
}
