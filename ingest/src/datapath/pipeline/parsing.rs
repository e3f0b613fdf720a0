//! How messages are parsed: the default options and per-port overrides, the wall clock's
//! year for BSD timestamps that have none, and the senders' time zones for BSD timestamps
//! ([`super::zones`]).

use std::net::IpAddr;

use detector::parse::ParseOptions;

use super::zones::TimeZones;

/// The wall clock's year and month (UTC).
pub fn wall_calendar() -> (i32, u8) {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    detector::parse::time::year_month_from_days((secs / 86_400) as i64)
}

/// How often a pipeline reads the wall clock's year and month, and the time zones' offsets,
/// again: [`Parsing::refresh_calendar`].
const CALENDAR_EVERY_NS: u64 = 1_000_000_000;

/// How messages are parsed: the default, and overrides for some destination ports (a port that
/// only receives RFC 3164 with CEF bodies, say).
#[derive(Clone, Debug, Default)]
pub struct Parsing {
    /// For every port without an override.
    pub default: ParseOptions,
    /// Per-port overrides (few: looked up linearly).
    pub per_port: Vec<(u16, ParseOptions)>,
    /// The senders' time zones, whose offsets the options carry.
    zones: TimeZones,
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

    /// BSD timestamps are read in the senders' `zones`: ports with a zone of their own get
    /// options of their own.
    pub fn with_time_zones(mut self, zones: TimeZones) -> Self {
        for port in zones.ports() {
            if !self.per_port.iter().any(|(p, _)| *p == port) {
                self.per_port.push((port, self.default));
            }
        }
        self.zones = zones;
        self.set_offsets();
        self
    }

    /// Puts the zones' offsets into the options.
    fn set_offsets(&mut self) {
        self.default.local_offset = self.zones.for_port(0);
        for (port, o) in &mut self.per_port {
            o.local_offset = self.zones.for_port(*port);
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
    /// `now_ns`, monotonic), reads its year and month, and the time zones' offsets, again: a
    /// daemon that runs across New Year dates the new year's BSD timestamps in the new year,
    /// and one that runs across a change of daylight saving time follows it. One comparison
    /// otherwise.
    #[inline]
    pub fn refresh_calendar(&mut self, now_ns: u64) {
        if self.wall_clock && now_ns >= self.calendar_due_ns {
            self.set_calendar(wall_calendar());
            self.zones.refresh(jiff::Timestamp::now());
            self.set_offsets();
            self.calendar_due_ns = now_ns.saturating_add(CALENDAR_EVERY_NS);
        }
    }

    /// The options for messages to `port`, whatever their source.
    pub fn for_port(&self, port: u16) -> &ParseOptions {
        self.per_port
            .iter()
            .find(|(p, _)| *p == port)
            .map_or(&self.default, |(_, o)| o)
    }

    /// The options for a message from `src` to `port`: the port's, in the time zone of the
    /// source's prefix when it has one.
    #[inline]
    pub fn for_message(&self, port: u16, src: IpAddr) -> ParseOptions {
        let mut o = *self.for_port(port);
        if let Some(offset) = self.zones.for_source(src) {
            o.local_offset = offset;
        }
        o
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
    fn the_senders_time_zone_goes_with_their_messages_options() {
        use detector::parse::time::LocalOffset;

        use crate::datapath::pipeline::zones::{TimeZones, Zone, ZoneFor};
        let zones = TimeZones::new(
            Zone::named("+01:00").unwrap(),
            ["5514=+02:00", "198.18.5.0/24=-03:00"]
                .map(|s| ZoneFor::parse(s).unwrap())
                .into(),
        );
        let cef_only = ParseOptions {
            payload: Some(detector::parse::Payload::Plain),
            ..ParseOptions::default()
        };
        let p = Parsing::new(ParseOptions::default(), vec![(6514, cef_only)])
            .with_time_zones(zones)
            .with_wall_clock_year();
        let h = |n: i32| LocalOffset::fixed(n * 3600);
        let far: IpAddr = "203.0.113.1".parse().unwrap();
        let near: IpAddr = "198.18.5.7".parse().unwrap();
        assert_eq!(p.for_message(514, far).local_offset, h(1));
        assert_eq!(p.for_message(5514, far).local_offset, h(2));
        let o = p.for_message(6514, far);
        assert_eq!((o.local_offset, o.payload), (h(1), cef_only.payload));
        for port in [514, 5514, 6514] {
            assert_eq!(p.for_message(port, near).local_offset, h(-3));
        }
        let mut p = p;
        p.default.local_offset = h(9);
        p.refresh_calendar(u64::MAX);
        assert_eq!(p.default.local_offset, h(1), "refreshed with the calendar");
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
