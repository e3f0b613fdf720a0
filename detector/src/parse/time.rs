//! Timestamps as syslog senders write them, to nanoseconds since the Unix epoch (UTC).

/// Days from 1970-01-01 to `y-m-d` (proleptic Gregorian; `m` 1-12, `d` 1-31, years of an
/// `i32`). The years 1970 to 2225 are read from a table of their first days, with the days
/// before each month from another: two loads instead of a chain of multiplications. Other
/// years are computed.
#[inline(always)]
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    if let Some(&year) = usize::try_from(y.wrapping_sub(1970))
        .ok()
        .and_then(|i| YEAR_DAYS.get(i))
        && let Some(&month) = MONTH_DAYS[usize::from(year & 1 == 1)].get(m.wrapping_sub(1) as usize)
    {
        return i64::from(year >> 1) + i64::from(month) + i64::from(d) - 1;
    }
    days_from_civil_any(y, m, d)
}

/// For each year from 1970: the days from 1970-01-01 to its first day, shifted left by one,
/// the low bit set for a leap year.
static YEAR_DAYS: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut days = 0u32;
    let mut i = 0;
    while i < 256 {
        let leap = is_leap(1970 + i as i64);
        t[i] = days << 1 | leap as u32;
        days += if leap { 366 } else { 365 };
        i += 1;
    }
    t
};

/// The days of a year before each month: of a common year, then of a leap year.
static MONTH_DAYS: [[u16; 12]; 2] = [
    [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334],
    [0, 31, 60, 91, 121, 152, 182, 213, 244, 274, 305, 335],
];

/// [`days_from_civil`] for any year, by arithmetic, after Howard Hinnant's `days_from_civil`:
/// years start in March, so a leap day ends the year. The year is moved by whole 400-year
/// cycles (146 097 days each) to be positive, so every division is of an unsigned number by a
/// constant (a multiplication).
#[inline]
fn days_from_civil_any(y: i64, m: u32, d: u32) -> i64 {
    // Cycles enough to make any `i32` year positive.
    const CYCLES: i64 = 6_000_000;
    let (y, m) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let y = (y + 400 * CYCLES) as u64;
    // The day of the year counted from 1: nothing here subtracts, so no value of `d` wraps.
    let day_of_year = (153 * u64::from(m) + 2) / 5 + u64::from(d);
    let days = y * 365 + y / 4 - y / 100 + y / 400 + day_of_year;
    days as i64 - 1 - 146_097 * CYCLES - 719_468
}

/// The year and month (1-12) of a day counted from 1970-01-01 (the inverse of
/// [`days_from_civil`], by the same algorithm run backwards).
pub fn year_month_from_days(days: i64) -> (i32, u8) {
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y as i32, m as u8)
}

/// Whether `y` is a leap year of the proleptic Gregorian calendar.
const fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

fn digits(s: &[u8], n: usize) -> Option<u32> {
    if s.len() < n {
        return None;
    }
    let mut v = 0u32;
    for &b in &s[..n] {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(b - b'0');
    }
    Some(v)
}

/// A calendar date and time of day, as written.
#[derive(Clone, Copy)]
struct Civil {
    y: i64,
    mo: u32,
    d: u32,
    h: u32,
    mi: u32,
    s: u32,
    frac_ns: u32,
}

/// Checks the fields and converts to nanoseconds since the epoch, `offset_s` east of UTC.
#[inline(always)]
fn to_ns(c: Civil, offset_s: i64) -> Option<i64> {
    if !(1..=12).contains(&c.mo)
        || c.d == 0
        || (c.d > 28 && c.d > days_in_month(c.y, c.mo))
        || c.h > 23
        || c.mi > 59
        || c.s > 60
    {
        return None;
    }
    let secs = days_from_civil(c.y, c.mo, c.d) * 86_400
        + i64::from(c.h) * 3600
        + i64::from(c.mi) * 60
        + i64::from(c.s)
        - offset_s;
    secs.checked_mul(1_000_000_000)?
        .checked_add(i64::from(c.frac_ns))
}

/// Reads `.ddd...` (up to 9 digits kept; more are accepted and ignored). Returns the
/// nanoseconds and the bytes used.
#[inline]
fn fraction(s: &[u8]) -> (u32, usize) {
    if s.first() != Some(&b'.') && s.first() != Some(&b',') {
        return (0, 0);
    }
    // Up to seven digits (nearly every fraction written), with eight bytes to read after the
    // point, are read as one word: digit values found at once, the bytes from the first
    // non-digit on cleared, the eight decimal places summed in three multiplications.
    if let Some(&after) = s[1..].first_chunk::<8>() {
        let x = u64::from_le_bytes(after) ^ 0x3030_3030_3030_3030;
        let n = misfits(x, 0x7676_7676_7676_7676).trailing_zeros() / 8;
        if n < 8 {
            if n == 0 {
                return (0, 0);
            }
            let places = x & (u64::MAX >> (64 - 8 * n));
            return (eight_digits(places) * 10, 1 + n as usize);
        }
    }
    match fraction_digits_by_bytes(&s[1..]) {
        (_, 0) => (0, 0),
        (ns, n) => (ns, 1 + n),
    }
}

/// The digits after a fraction's point, a byte at a time: the nanoseconds and how many digits
/// there are. For fractions of eight digits or more, and at the input's end.
fn fraction_digits_by_bytes(digits: &[u8]) -> (u32, usize) {
    // One pass: the first nine digits make the nanoseconds, the rest are skipped.
    const SCALE: [u32; 10] = [
        1_000_000_000,
        100_000_000,
        10_000_000,
        1_000_000,
        100_000,
        10_000,
        1_000,
        100,
        10,
        1,
    ];
    let (mut ns, mut n) = (0u32, 0usize);
    for &b in digits {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        if n < 9 {
            ns = ns * 10 + u32::from(d);
        }
        n += 1;
    }
    (ns * SCALE[n.min(9)], n)
}

/// The number written by eight digit values, one per byte, the first byte the most
/// significant digit.
#[inline(always)]
fn eight_digits(x: u64) -> u32 {
    // Pairs (0-99) in bytes 0, 2, 4, 6; then fours (0-9999) in 16-bit lanes 0 and 2; then all.
    let two = pairs(x) & 0x00FF_00FF_00FF_00FF;
    let four = (two.wrapping_mul(100).wrapping_add(two >> 16)) & 0x0000_FFFF_0000_FFFF;
    (four.wrapping_mul(10_000).wrapping_add(four >> 32)) as u32
}

/// The year of a BSD timestamp of month `mo` (1-12) that names none, read in `year`: with the
/// reading's month (1-12) known, the year before or after when that puts the timestamp nearer
/// (more than six months away otherwise). December's messages read on the 1st of January
/// belong to the old year; January's from a device whose clock runs ahead, read on the 31st of
/// December, to the new one.
pub fn nearest_year(year: i32, month: Option<u8>, mo: u32) -> i32 {
    let Some(now) = month else {
        return year;
    };
    match i64::from(mo) - i64::from(now) {
        d if d > 6 => year - 1,
        d if d < -6 => year + 1,
        _ => year,
    }
}

/// Eight bytes checked against a pattern at once (SWAR): where `pattern` has `0` a decimal
/// digit must be, anywhere else that very byte (so a pattern cannot ask for a literal `0`).
/// Returns the word with each digit's value (0-9) in its byte and zeros in the others, or
/// `None` when a byte does not fit.
#[inline(always)]
fn fixed(word: u64, pattern: [u8; 8]) -> Option<u64> {
    // Digits become 0-9 and matching literal bytes 0; a digit's place may hold up to 9, a
    // literal's only 0.
    let x = word ^ u64::from_le_bytes(pattern);
    let digit_places = u64::from_le_bytes(pattern.map(|b| if b == b'0' { 0xFF } else { 0 }));
    let add = 0x7F7F_7F7F_7F7F_7F7F - (digit_places & 0x0909_0909_0909_0909);
    (misfits(x, add) == 0).then_some(x)
}

/// The high bit of each byte of `x` that is above its limit, `add` holding `0x7F - limit` in
/// each byte (limits below 0x80): a byte at most its limit stays below 0x80 with `add` added,
/// one above it reaches 0x80, and a byte of 0x80 or more is marked by its own high bit. Only
/// such a byte can carry into the byte above it, so the lowest mark is always exact.
#[inline(always)]
fn misfits(x: u64, add: u64) -> u64 {
    (x | x.wrapping_add(add)) & 0x8080_8080_8080_8080
}

/// Two-digit numbers from a word of digit values: byte `i` of the result is
/// `10 * byte i + byte i+1` (no byte carries: at most 99).
#[inline(always)]
fn pairs(x: u64) -> u64 {
    x.wrapping_mul(10).wrapping_add(x >> 8)
}

/// `YYYY-MM-DDTHH:MM:SS` (`T`, `t` or a space between date and time): year, month, day, hour,
/// minute, second, as written (not range-checked). Read as three overlapping words, bytes 0-7,
/// 8-15 and 11-18, each checked against its pattern at once.
#[inline(always)]
fn date_time(head: &[u8; 19]) -> Option<[u32; 6]> {
    if !matches!(head[10], b'T' | b't' | b' ') {
        return None;
    }
    let word = |at: usize| u64::from_le_bytes(*head[at..].first_chunk().expect("within 19"));
    let date = fixed(word(0), *b"0000-00-")?;
    // The second word is read with a `T` in byte 10, whichever of the three is written.
    let day_t = fixed(
        (word(8) & !(0xFF << 16)) | u64::from(b'T') << 16,
        *b"00T00:00",
    )?;
    let [h, mi, sec] = hh_mm_ss(head[11..].first_chunk().expect("8 of 19"))?;
    let (date, day_t) = (pairs(date), pairs(day_t));
    Some([
        byte(date, 0) * 100 + byte(date, 2),
        byte(date, 5),
        byte(day_t, 0),
        h,
        mi,
        sec,
    ])
}

/// RFC 3339 / ISO 8601 as RFC 5424 section 6.2.3 allows it: `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`.
/// A lowercase `t`/`z` or a space instead of `T` is accepted (ISO 8601 as devices send it);
/// without a zone, UTC is assumed. The whole input must be the timestamp.
pub fn parse_rfc3339(s: &[u8]) -> Option<i64> {
    let (ns, used) = parse_rfc3339_prefix(s)?;
    (used == s.len()).then_some(ns)
}

/// As [`parse_rfc3339`], on a prefix of `s`; returns the time and the bytes it took.
pub fn parse_rfc3339_prefix(s: &[u8]) -> Option<(i64, usize)> {
    let [y, mo, day, h, mi, sec] = date_time(s.first_chunk()?)?;
    let mut at = 19;
    let (frac, n) = fraction(&s[at..]);
    at += n;
    let offset = match s.get(at) {
        Some(b'Z' | b'z') => {
            at += 1;
            0
        }
        Some(&sign @ (b'+' | b'-')) => {
            let oh = digits(&s[at + 1..], 2)?;
            let rest = &s[at + 3..];
            let (om, n) = match rest.first() {
                Some(b':') => (digits(&rest[1..], 2)?, 3),
                _ => (
                    digits(rest, 2).unwrap_or(0),
                    if digits(rest, 2).is_some() { 2 } else { 0 },
                ),
            };
            if oh > 23 || om > 59 {
                return None;
            }
            at += 3 + n;
            let o = i64::from(oh * 3600 + om * 60);
            if sign == b'-' { -o } else { o }
        }
        _ => 0,
    };
    let c = Civil {
        y: i64::from(y),
        mo,
        d: day,
        h,
        mi,
        s: sec,
        frac_ns: frac,
    };
    Some((to_ns(c, offset)?, at))
}

/// The month number (1-12) of an English three-letter abbreviation.
pub fn month(s: &[u8]) -> Option<u32> {
    let &[a, b, c, ..] = s else {
        return None;
    };
    // Lower-cased with one OR (only an upper-case letter becomes the lower-case one), then a
    // decision on the first letter, the second, the third.
    Some(match [a | 0x20, b | 0x20, c | 0x20] {
        [b'j', b'a', b'n'] => 1,
        [b'f', b'e', b'b'] => 2,
        [b'm', b'a', b'r'] => 3,
        [b'a', b'p', b'r'] => 4,
        [b'm', b'a', b'y'] => 5,
        [b'j', b'u', b'n'] => 6,
        [b'j', b'u', b'l'] => 7,
        [b'a', b'u', b'g'] => 8,
        [b's', b'e', b'p'] => 9,
        [b'o', b'c', b't'] => 10,
        [b'n', b'o', b'v'] => 11,
        [b'd', b'e', b'c'] => 12,
        _ => return None,
    })
}

/// A BSD timestamp: `Mmm dd hh:mm:ss` (day space- or zero-padded), optionally with a fraction
/// and optionally with a year before or after the time (`Mmm dd yyyy hh:mm:ss`,
/// `Mmm dd hh:mm:ss yyyy`). Returns the text's length and, when a year is known (written, or
/// `year` given), the time in UTC. A given `year` is the year of the reading, in `reading_month`
/// when known: see [`nearest_year`]. A written year is taken as written.
pub fn parse_bsd_prefix(
    s: &[u8],
    year: Option<i32>,
    reading_month: Option<u8>,
) -> Option<(usize, Option<i64>)> {
    let mo = month(s)?;
    let y = year.map(|y| i64::from(nearest_year(y, reading_month, mo)));
    // The common form, `Mmm dd hh:mm:ss` with the day space- or zero-padded, at fixed places.
    if let Some(head) = s.first_chunk::<15>()
        && let Some((d, h, mi, sec)) = bsd_day_time(head)
    {
        return bsd_after_time(s, 15, y, [mo, d, h, mi, sec]);
    }
    bsd_any_form(s, mo, y)
}

/// [`parse_bsd_prefix`] after the month `mo`, whatever the form: a day of one digit unpadded,
/// a year before the time. `y` is the year known so far.
fn bsd_any_form(s: &[u8], mo: u32, mut y: Option<i64>) -> Option<(usize, Option<i64>)> {
    if s.get(3) != Some(&b' ') {
        return None;
    }
    let mut at = 4;
    if s.get(at) == Some(&b' ') {
        at += 1;
    }
    let dn = s[at..].iter().take_while(|b| b.is_ascii_digit()).count();
    if dn == 0 || dn > 2 {
        return None;
    }
    let d = digits(&s[at..], dn)?;
    at += dn;
    if s.get(at) != Some(&b' ') {
        return None;
    }
    at += 1;
    // `Mmm dd yyyy hh:mm:ss`
    if let Some(yy) = digits(&s[at..], 4)
        && s.get(at + 4) == Some(&b' ')
    {
        y = Some(i64::from(yy));
        at += 5;
    }
    let [h, mi, sec] = hh_mm_ss(s.get(at..)?.first_chunk()?)?;
    bsd_after_time(s, at + 8, y, [mo, d, h, mi, sec])
}

/// `hh:mm:ss`, checked as one word: hour, minute, second, as written.
#[inline(always)]
fn hh_mm_ss(t: &[u8; 8]) -> Option<[u32; 3]> {
    let t = pairs(fixed(u64::from_le_bytes(*t), *b"00:00:00")?);
    Some([byte(t, 0), byte(t, 3), byte(t, 6)])
}

/// Byte `i` of a word.
#[inline(always)]
fn byte(w: u64, i: u32) -> u32 {
    u32::from((w >> (8 * i)) as u8)
}

/// `Mmm dd hh:mm:ss` at fixed places, the month already read: the day (space- or zero-padded)
/// and the time, as written.
#[inline(always)]
fn bsd_day_time(head: &[u8; 15]) -> Option<(u32, u32, u32, u32)> {
    if head[3] != b' ' || head[6] != b' ' {
        return None;
    }
    let d = match head[4] {
        b' ' => digits(&head[5..6], 1)?,
        _ => digits(&head[4..6], 2)?,
    };
    let [h, mi, sec] = hh_mm_ss(head[7..].first_chunk().expect("8 of 15"))?;
    Some((d, h, mi, sec))
}

/// The rest of a BSD timestamp from `at`, just after its time of day: a fraction, a year after
/// it. `civil` is month, day, hour, minute, second; `y` the year known so far.
#[inline(always)]
fn bsd_after_time(
    s: &[u8],
    mut at: usize,
    mut y: Option<i64>,
    civil: [u32; 5],
) -> Option<(usize, Option<i64>)> {
    let [mo, d, h, mi, sec] = civil;
    let (frac, n) = fraction(&s[at..]);
    at += n;
    // `Mmm dd hh:mm:ss yyyy`
    if s.get(at) == Some(&b' ')
        && let Some(yy) = digits(&s[at + 1..], 4)
        && s.get(at + 5).is_none_or(|b| *b == b' ' || *b == b':')
    {
        y = Some(i64::from(yy));
        at += 5;
    }
    let c = Civil {
        y: y.unwrap_or(2000),
        mo,
        d,
        h,
        mi,
        s: sec,
        frac_ns: frac,
    };
    // Checked even without a year (2000 is a leap year, so Feb 29 passes).
    let ns = to_ns(c, 0)?;
    let ns = y.is_some().then_some(ns);
    Some((at, ns))
}

#[cfg(test)]
mod tests {
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
}
