//! The time the engine runs on: the caller's arrival clock, or the messages' own timestamps.

/// The time that rate baselines, silence rules and correlation windows run on (threshold rules
/// say theirs per rule).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Clock {
    /// When the message arrived (the caller's clock, CLOCK_MONOTONIC in the daemon): what live
    /// traffic needs.
    #[default]
    Arrival,
    /// The message's own timestamp where it has one, else the latest seen (a watermark); a
    /// silence is measured against that watermark. For replayed captures, whose time the
    /// replay compresses. A device whose clock runs far ahead moves the watermark for all.
    Event,
}

impl Clock {
    /// Every clock, by its name.
    pub const ALL: [(&'static str, Clock); 2] =
        [("arrival", Clock::Arrival), ("event", Clock::Event)];
}

impl std::fmt::Display for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = Self::ALL
            .iter()
            .find(|(_, c)| c == self)
            .map_or("arrival", |(n, _)| n);
        f.write_str(name)
    }
}

/// A name that is not a [`Clock`]'s.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not arrival or event")]
pub struct UnknownClock(pub String);

impl std::str::FromStr for Clock {
    type Err = UnknownClock;

    fn from_str(s: &str) -> Result<Self, UnknownClock> {
        Self::ALL
            .iter()
            .find(|(name, _)| *name == s)
            .map(|(_, c)| *c)
            .ok_or_else(|| UnknownClock(s.to_string()))
    }
}

/// The engine's notion of now under a [`Clock`].
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct TimeKeeper {
    pub(crate) clock: Clock,
    /// Event clock: the latest message time seen.
    watermark: u64,
}

impl TimeKeeper {
    pub(crate) fn new(clock: Clock) -> Self {
        Self {
            clock,
            watermark: 0,
        }
    }

    /// The time of a message that says `event_ns` and arrived at `arrival_ns`.
    #[inline]
    pub(crate) fn at(&mut self, event_ns: Option<u64>, arrival_ns: u64) -> u64 {
        match self.clock {
            Clock::Arrival => arrival_ns,
            Clock::Event => {
                if let Some(t) = event_ns {
                    self.watermark = self.watermark.max(t);
                }
                event_ns.unwrap_or(self.watermark)
            }
        }
    }

    /// Now, with no message: the arrival clock or the watermark.
    pub(crate) fn now(&self, arrival_ns: u64) -> u64 {
        match self.clock {
            Clock::Arrival => arrival_ns,
            Clock::Event => self.watermark,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_event_clock_follows_the_latest_timestamp() {
        let mut t = TimeKeeper::new(Clock::Event);
        assert_eq!(t.at(Some(100), 5), 100);
        assert_eq!(t.at(None, 6), 100, "no timestamp: the watermark");
        assert_eq!(t.at(Some(50), 7), 50, "its own, though older");
        assert_eq!(t.now(8), 100);
        let mut a = TimeKeeper::new(Clock::Arrival);
        assert_eq!((a.at(Some(100), 5), a.now(8)), (5, 8));
        assert_eq!("event".parse::<Clock>(), Ok(Clock::Event));
        assert!("wall".parse::<Clock>().is_err());
    }
}
