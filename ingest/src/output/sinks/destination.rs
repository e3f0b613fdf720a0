//! What every destination does: open, write, flush, give back what it could not confirm, close.

use std::{io, time::Duration};

use super::outgoing::Outgoing;

/// How long a destination waits for a connection.
pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Where a sink writes.
pub(super) trait Destination: Send {
    /// Makes the destination usable (connects, opens); called again after a failure.
    fn open(&mut self) -> io::Result<()>;
    /// Hands one alert over; returns how many alerts (this one or earlier ones) are now
    /// confirmed delivered.
    fn write(&mut self, alert: &Outgoing) -> io::Result<u64>;
    /// Pushes buffered writes out and waits for what is unconfirmed; returns how many were
    /// confirmed.
    fn flush(&mut self) -> io::Result<u64>;
    /// After a failure: the alerts handed over but never confirmed, to be tried again.
    fn unconfirmed(&mut self) -> Vec<Outgoing> {
        Vec::new()
    }
    /// Drops the connection or file so the next `open` starts afresh.
    fn close(&mut self);
}

pub(super) fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "not open")
}
