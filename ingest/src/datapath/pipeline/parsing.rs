//! How messages are parsed: the default options and per-port overrides, and the wall clock's
//! year for BSD timestamps that have none.

use detector::parse::ParseOptions;

/// The wall clock's year and month (UTC).
pub fn wall_calendar() -> (i32, u8) {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    detector::parse::time::year_month_from_days((secs / 86_400) as i64)
}

/// How often a pipeline reads the wall clock's year and month again: [`Parsing::refresh_calendar`].
const CALENDAR_EVERY_NS: u64 = 1_000_000_000;

/// How messages are parsed: the default, and overrides for some destination ports (a port that
/// only receives RFC 3164 with CEF bodies, say).
#[derive(Clone, Debug, Default)]
pub struct Parsing {
    /// For every port without an override.
    pub default: ParseOptions,
    /// Per-port overrides (few: looked up linearly).
    pub per_port: Vec<(u16, ParseOptions)>,
    /// Whether BSD timestamps without a year take the wall clock's, kept current.
    wall_clock: bool,
    /// When (monotonic ns) the wall clock is read next.
    calendar_due_ns: u64,
}

impl Parsing {
    /// The default options, and per-port overrides.
    pub fn new(default: ParseOptions, per_port: Vec<(u16, ParseOptions)>) -> Self {
        Self {
            default,
            per_port,
            ..Self::default()
        }
    }

    /// BSD timestamps without a year get the wall clock's year (or the one before or after,
    /// whichever is nearest, by its month: see `detector::parse::time::nearest_year`), read
    /// now and again by [`Parsing::refresh_calendar`].
    pub fn with_wall_clock_year(mut self) -> Self {
        self.wall_clock = true;
        self.set_calendar(wall_calendar());
        self
    }

    fn set_calendar(&mut self, (year, month): (i32, u8)) {
        let per_port = self.per_port.iter_mut().map(|(_, o)| o);
        for o in std::iter::once(&mut self.default).chain(per_port) {
            o.year = Some(year);
            o.month = Some(month);
        }
    }

    /// When following the wall clock and a second has passed since its last reading (by
    /// `now_ns`, monotonic), reads its year and month again: a daemon that runs across New
    /// Year dates the new year's BSD timestamps in the new year. One comparison otherwise.
    #[inline]
    pub fn refresh_calendar(&mut self, now_ns: u64) {
        if self.wall_clock && now_ns >= self.calendar_due_ns {
            self.set_calendar(wall_calendar());
            self.calendar_due_ns = now_ns + CALENDAR_EVERY_NS;
        }
    }

    /// The options for messages to `port`.
    pub fn for_port(&self, port: u16) -> &ParseOptions {
        self.per_port
            .iter()
            .find(|(p, _)| *p == port)
            .map_or(&self.default, |(_, o)| o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_can_have_their_own_parse_options() {
        let cef_only = ParseOptions {
            payload: Some(detector::parse::Payload::Plain),
            ..ParseOptions::default()
        };
        let parsing = Parsing::new(ParseOptions::default(), vec![(5514, cef_only)]);
        assert_eq!(parsing.for_port(5514).payload, cef_only.payload);
        assert_eq!(parsing.for_port(514).payload, None);
    }

    #[test]
    fn the_year_of_bsd_timestamps_follows_the_wall_clock() {
        let (year, month) = wall_calendar();
        assert!((2025..2100).contains(&year) && (1..=12).contains(&month));
        let fixed = Parsing::new(
            ParseOptions::default(),
            vec![(5514, ParseOptions::default())],
        );
        let mut p = fixed.clone().with_wall_clock_year();
        for port in [514, 5514] {
            assert_eq!(
                (p.for_port(port).year, p.for_port(port).month),
                (Some(year), Some(month))
            );
        }
        // As if the year turned: read again once a second of monotonic time has passed.
        p.default.year = Some(1999);
        p.refresh_calendar(5);
        assert_eq!(
            p.default.year,
            Some(year),
            "the first refresh reads the clock"
        );
        p.default.year = Some(1999);
        p.refresh_calendar(5 + CALENDAR_EVERY_NS - 1);
        assert_eq!(p.default.year, Some(1999), "not within the second");
        p.refresh_calendar(5 + CALENDAR_EVERY_NS);
        assert_eq!(p.default.year, Some(year));
        let mut fixed = fixed;
        fixed.refresh_calendar(u64::MAX);
        assert_eq!(
            fixed.default.year, None,
            "options without the wall clock stay as given"
        );
    }
}
