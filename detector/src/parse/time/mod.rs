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

/// The offset from UTC of a sender's clock, for timestamps that carry none (BSD ones): the
/// offset in effect now, and the one before its last change (a change of daylight saving
/// time), so that a message stamped just before the change and read just after it still
/// reads right. Plain data: whoever knows the sender's time zone fills it in and keeps it
/// current (the daemon, once a second).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LocalOffset {
    /// Seconds east of UTC now.
    pub now_s: i32,
    /// When (seconds since the epoch, UTC) the offset last changed; `i64::MIN` if never.
    pub since_s: i64,
    /// Seconds east of UTC before `since_s`.
    pub before_s: i32,
}

impl LocalOffset {
    /// UTC: no offset, ever.
    pub const UTC: Self = Self::fixed(0);

    /// An offset that never changes, seconds east of UTC.
    pub const fn fixed(offset_s: i32) -> Self {
        Self {
            now_s: offset_s,
            since_s: i64::MIN,
            before_s: offset_s,
        }
    }

    /// A local time, read as if it were UTC (nanoseconds since the epoch), as the UTC time it
    /// is: the current offset applies unless that puts the time before the last change, when
    /// the earlier offset does. In the hour a clock is set back, which repeats, the later
    /// reading wins.
    #[inline]
    pub fn to_utc_ns(&self, local_ns: i64) -> i64 {
        let now = local_ns.saturating_sub(i64::from(self.now_s) * 1_000_000_000);
        if now.div_euclid(1_000_000_000) >= self.since_s {
            return now;
        }
        local_ns.saturating_sub(i64::from(self.before_s) * 1_000_000_000)
    }
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
mod tests;
