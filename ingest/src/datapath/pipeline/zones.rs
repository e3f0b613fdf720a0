//! The time zones of the senders' clocks, for BSD (RFC 3164) timestamps, which name none: one
//! for all senders, and others per destination port and per source prefix (the longest prefix
//! holding the sender wins over its port, which wins over the default). Zones are the system's
//! tz database's (through `jiff`), or fixed offsets; each one's offset is read again once a
//! second, with the offset before its last change, so that daylight saving time is followed
//! (see [`LocalOffset`]).

use std::net::IpAddr;

use detector::parse::time::LocalOffset;
use jiff::{Timestamp, tz::TimeZone};

use crate::datapath::prefixes::{Prefix, PrefixError, PrefixMap};

/// Why a time zone or a `timezone_for` entry cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ZoneError {
    /// Not a zone of the tz database, nor `UTC`, `local` or a fixed offset.
    #[error(
        "{name:?} is not a time zone: a tz database name (Europe/Berlin), UTC, local, or an \
         offset (+05:30): {reason}"
    )]
    Unknown {
        /// The zone as written.
        name: String,
        /// What the tz database said.
        reason: String,
    },
    /// Not `PORT=ZONE` or `PREFIX=ZONE`.
    #[error("{0:?} is not PORT=ZONE or PREFIX=ZONE")]
    Shape(String),
    /// The port is 0.
    #[error("{0:?}: port 0 is not a port")]
    Port(String),
    /// The prefix does not read.
    #[error("{spec:?}: {error}")]
    Prefix {
        /// The entry.
        spec: String,
        /// Why.
        error: PrefixError,
    },
}

/// A time zone and its offset as of its last reading.
#[derive(Clone, Debug)]
pub struct Zone {
    name: String,
    tz: TimeZone,
    offset: LocalOffset,
}

impl Zone {
    /// The zone named `name`: a tz database name (`Europe/Berlin`), `UTC`, `local` (the
    /// host's own zone), or a fixed offset (`+05:30`, `-08`). Its offset is read now.
    pub fn named(name: &str) -> Result<Self, ZoneError> {
        let unknown = |reason: String| ZoneError::Unknown {
            name: name.to_string(),
            reason,
        };
        let tz = match name {
            "UTC" | "utc" | "Z" => TimeZone::UTC,
            "local" => TimeZone::try_system().map_err(|e| unknown(e.to_string()))?,
            _ if name.starts_with(['+', '-']) => {
                TimeZone::fixed(fixed_offset(name).ok_or_else(|| unknown("not ±HH[:MM]".into()))?)
            }
            _ => TimeZone::get(name).map_err(|e| unknown(e.to_string()))?,
        };
        let mut zone = Self {
            name: name.to_string(),
            tz,
            offset: LocalOffset::UTC,
        };
        zone.refresh(Timestamp::now());
        Ok(zone)
    }

    /// The name it was given.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The offset as of the last reading.
    pub fn offset(&self) -> LocalOffset {
        self.offset
    }

    /// Reads the offset in effect at `now`, and the one before the change that brought it.
    pub fn refresh(&mut self, now: Timestamp) {
        let now_s = self.tz.to_offset(now).seconds();
        self.offset = match self.tz.preceding(now).next() {
            Some(change) => {
                let since = change.timestamp();
                let before = Timestamp::from_second(since.as_second() - 1)
                    .map_or(now_s, |t| self.tz.to_offset(t).seconds());
                LocalOffset {
                    now_s,
                    since_s: since.as_second(),
                    before_s: before,
                }
            }
            None => LocalOffset::fixed(now_s),
        };
    }
}

/// `+HH`, `+HH:MM` or `+HHMM` (or `-`), up to ±25:59.
fn fixed_offset(s: &str) -> Option<jiff::tz::Offset> {
    let (sign, digits) = s.split_at(1);
    let digits = digits.replace(':', "");
    if !digits.bytes().all(|b| b.is_ascii_digit()) || !matches!(digits.len(), 2 | 4) {
        return None;
    }
    let h: i32 = digits[..2].parse().ok()?;
    let m: i32 = match digits.len() {
        4 => digits[2..].parse().ok()?,
        _ => 0,
    };
    if h > 25 || m > 59 {
        return None;
    }
    let secs = (h * 3600 + m * 60) * if sign == "-" { -1 } else { 1 };
    jiff::tz::Offset::from_seconds(secs).ok()
}

/// Which senders a `timezone_for` entry is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZoneTarget {
    /// Messages to a destination port.
    Port(u16),
    /// Messages from a source prefix.
    Source(Prefix),
}

/// One `timezone_for` entry: `PORT=ZONE` or `PREFIX=ZONE`.
#[derive(Clone, Debug)]
pub struct ZoneFor {
    /// Whose clocks.
    pub target: ZoneTarget,
    /// Which zone.
    pub zone: Zone,
}

impl ZoneFor {
    /// Reads `5514=Europe/Berlin`, `10.1.0.0/16=America/New_York` or `2001:db8::/32=UTC`.
    pub fn parse(spec: &str) -> Result<Self, ZoneError> {
        let (target, zone) = spec
            .split_once('=')
            .ok_or_else(|| ZoneError::Shape(spec.to_string()))?;
        let target = match target.parse::<u16>() {
            Ok(0) => return Err(ZoneError::Port(spec.to_string())),
            Ok(port) => ZoneTarget::Port(port),
            Err(_) => {
                ZoneTarget::Source(Prefix::parse(target).map_err(|error| ZoneError::Prefix {
                    spec: spec.to_string(),
                    error,
                })?)
            }
        };
        Ok(Self {
            target,
            zone: Zone::named(zone)?,
        })
    }
}

/// The zones of the senders' clocks: a default, per port, per source prefix.
#[derive(Clone, Debug)]
pub struct TimeZones {
    /// The default first.
    zones: Vec<Zone>,
    /// Port and index into `zones`; few, looked up linearly.
    ports: Vec<(u16, usize)>,
    /// Index into `zones`.
    sources: PrefixMap<usize>,
}

impl Default for TimeZones {
    /// Every clock on UTC.
    fn default() -> Self {
        Self::new(
            Zone {
                name: "UTC".into(),
                tz: TimeZone::UTC,
                offset: LocalOffset::UTC,
            },
            Vec::new(),
        )
    }
}

impl TimeZones {
    /// `default` for every sender that no entry of `zone_for` names. A later entry for the
    /// same port or prefix replaces an earlier one.
    pub fn new(default: Zone, zone_for: Vec<ZoneFor>) -> Self {
        let mut zones = TimeZones {
            zones: vec![default],
            ports: Vec::new(),
            sources: PrefixMap::default(),
        };
        for ZoneFor { target, zone } in zone_for {
            let i = zones.zones.len();
            zones.zones.push(zone);
            match target {
                ZoneTarget::Port(port) => match zones.ports.iter_mut().find(|(p, _)| *p == port) {
                    Some(entry) => entry.1 = i,
                    None => zones.ports.push((port, i)),
                },
                ZoneTarget::Source(prefix) => {
                    zones.sources.insert(prefix, i);
                }
            }
        }
        zones
    }

    /// Reads every zone's offset again, as of `now`.
    pub fn refresh(&mut self, now: Timestamp) {
        for z in &mut self.zones {
            z.refresh(now);
        }
    }

    /// The default zone.
    pub fn default_zone(&self) -> &Zone {
        &self.zones[0]
    }

    /// The ports with a zone of their own.
    pub fn ports(&self) -> impl Iterator<Item = u16> + '_ {
        self.ports.iter().map(|&(p, _)| p)
    }

    /// The offset of clocks that send to `port`, with no source prefix of their own.
    pub fn for_port(&self, port: u16) -> LocalOffset {
        let i = self
            .ports
            .iter()
            .find(|(p, _)| *p == port)
            .map_or(0, |&(_, i)| i);
        self.zones[i].offset
    }

    /// Whether some source prefix has a zone (else [`TimeZones::for_source`] is always `None`).
    #[inline]
    pub fn by_source(&self) -> bool {
        !self.sources.is_empty()
    }

    /// The offset of the clock of `ip`, when a source prefix holds it.
    #[inline]
    pub fn for_source(&self, ip: IpAddr) -> Option<LocalOffset> {
        if self.sources.is_empty() {
            return None;
        }
        self.sources.longest(ip).map(|&i| self.zones[i].offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(rfc3339: &str) -> Timestamp {
        rfc3339.parse().unwrap()
    }

    #[test]
    fn zones_are_named_by_the_tz_database_utc_local_or_an_offset() {
        assert_eq!(Zone::named("UTC").unwrap().offset(), LocalOffset::UTC);
        assert_eq!(
            Zone::named("+05:30").unwrap().offset(),
            LocalOffset::fixed(5 * 3600 + 30 * 60)
        );
        assert_eq!(
            Zone::named("-08").unwrap().offset(),
            LocalOffset::fixed(-8 * 3600)
        );
        assert!(Zone::named("local").is_ok());
        for bad in ["Europe/Atlantis", "+5", "+26:00", "-08:61", ""] {
            let e = Zone::named(bad).unwrap_err();
            assert!(matches!(e, ZoneError::Unknown { .. }), "{bad}: {e}");
        }
    }

    #[test]
    fn a_named_zone_follows_daylight_saving_time() {
        let mut berlin = Zone::named("Europe/Berlin").unwrap();
        berlin.refresh(at("2026-07-01T12:00:00Z"));
        let summer = berlin.offset();
        assert_eq!(summer.now_s, 7200);
        assert_eq!(summer.before_s, 3600);
        assert_eq!(summer.since_s, at("2026-03-29T01:00:00Z").as_second());
        berlin.refresh(at("2026-10-25T01:30:00Z"));
        let winter = berlin.offset();
        assert_eq!(
            (winter.now_s, winter.before_s, winter.since_s),
            (3600, 7200, at("2026-10-25T01:00:00Z").as_second())
        );
        // Clocks went from 02:00 to 03:00 at 01:00 UTC on 2026-03-29. Stamped 01:59:30 local
        // (+01:00) just before, read just after: still +01:00.
        berlin.refresh(at("2026-03-29T01:00:05Z"));
        let local = at("2026-03-29T01:59:30Z").as_nanosecond() as i64;
        assert_eq!(
            berlin.offset().to_utc_ns(local),
            at("2026-03-29T00:59:30Z").as_nanosecond() as i64
        );
        let local = at("2026-03-29T03:00:30Z").as_nanosecond() as i64;
        assert_eq!(
            berlin.offset().to_utc_ns(local),
            at("2026-03-29T01:00:30Z").as_nanosecond() as i64
        );
    }

    #[test]
    fn entries_name_a_port_or_a_prefix() {
        let e = ZoneFor::parse("5514=America/New_York").unwrap();
        assert_eq!(e.target, ZoneTarget::Port(5514));
        let e = ZoneFor::parse("198.18.0.0/16=Asia/Tokyo").unwrap();
        assert_eq!(
            e.target,
            ZoneTarget::Source(Prefix::parse("198.18.0.0/16").unwrap())
        );
        assert_eq!(e.zone.offset().now_s, 9 * 3600);
        assert!(matches!(
            ZoneFor::parse("2001:db8::/32=UTC").unwrap().target,
            ZoneTarget::Source(_)
        ));
        assert!(matches!(
            ZoneFor::parse("Asia/Tokyo"),
            Err(ZoneError::Shape(_))
        ));
        assert!(matches!(ZoneFor::parse("0=UTC"), Err(ZoneError::Port(_))));
        assert!(matches!(
            ZoneFor::parse("198.18.0.0/40=UTC"),
            Err(ZoneError::Prefix { .. })
        ));
        assert!(matches!(
            ZoneFor::parse("514=Mars/Olympus"),
            Err(ZoneError::Unknown { .. })
        ));
    }

    #[test]
    fn a_prefix_beats_a_port_which_beats_the_default() {
        let zones = TimeZones::new(
            Zone::named("+01:00").unwrap(),
            [
                "5514=+02:00",
                "198.18.0.0/16=+03:00",
                "198.18.5.0/24=+04:00",
                "5514=+05:00",
            ]
            .into_iter()
            .map(|s| ZoneFor::parse(s).unwrap())
            .collect(),
        );
        let h = |n: i32| LocalOffset::fixed(n * 3600);
        assert_eq!(zones.for_port(514), h(1));
        assert_eq!(
            zones.for_port(5514),
            h(5),
            "the later entry for a port wins"
        );
        assert_eq!(zones.ports().collect::<Vec<_>>(), [5514]);
        assert!(zones.by_source());
        assert_eq!(zones.for_source("198.18.9.9".parse().unwrap()), Some(h(3)));
        assert_eq!(zones.for_source("198.18.5.9".parse().unwrap()), Some(h(4)));
        assert_eq!(zones.for_source("203.0.113.9".parse().unwrap()), None);
        let utc = TimeZones::default();
        assert!(!utc.by_source());
        assert_eq!(utc.for_port(514), LocalOffset::UTC);
        assert_eq!(utc.default_zone().name(), "UTC");
    }
}
