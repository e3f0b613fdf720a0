//! A sink's thread: takes alerts from its queue, delivers them, spools what fails and retries.

use std::{
    io,
    sync::{
        Arc,
        atomic::Ordering,
        mpsc::{self, RecvTimeoutError},
    },
    time::{Duration, Instant},
};

use super::{
    destination::Destination,
    outgoing::{Outgoing, SinkCounters},
    spool::Spool,
};

/// How long a failed sink waits before trying again, at first and at most.
pub(super) const RETRY_MIN: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(5);

pub(super) struct SinkThread {
    pub(super) name: String,
    pub(super) destination: Box<dyn Destination>,
    pub(super) spool: Option<Spool>,
    pub(super) counters: Arc<SinkCounters>,
    pub(super) up: bool,
    pub(super) retry_at: Instant,
    pub(super) retry: Duration,
}

pub(super) enum ToSink {
    Alert(Arc<Outgoing>),
    Reopen,
}

impl SinkThread {
    pub(super) fn run(mut self, rx: mpsc::Receiver<ToSink>) {
        self.try_open();
        loop {
            let wait = if self.up && self.spool.as_ref().is_none_or(Spool::is_empty) {
                Duration::from_secs(1)
            } else {
                self.retry_at
                    .saturating_duration_since(Instant::now())
                    .max(Duration::from_millis(1))
            };
            match rx.recv_timeout(wait) {
                Ok(ToSink::Alert(a)) => {
                    self.handle(&a);
                    // Whatever else is queued, then one flush.
                    while let Ok(cmd) = rx.try_recv() {
                        match cmd {
                            ToSink::Alert(a) => self.handle(&a),
                            ToSink::Reopen => self.reopen(),
                        }
                    }
                    self.flush();
                }
                Ok(ToSink::Reopen) => self.reopen(),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    self.flush();
                    self.close_destination();
                    return;
                }
            }
            if !self.up && Instant::now() >= self.retry_at {
                self.try_open();
            }
            if self.up {
                self.replay();
            }
        }
    }

    fn try_open(&mut self) {
        match self.destination.open() {
            Ok(()) => {
                self.up = true;
                self.retry = RETRY_MIN;
            }
            Err(e) => self.failed(&e),
        }
    }

    fn failed(&mut self, e: &io::Error) {
        if self.up || self.retry == RETRY_MIN {
            tracing::warn!(sink = %self.name, error = %e, "delivery failed; retrying");
        }
        self.counters.failures.fetch_add(1, Ordering::Relaxed);
        self.close_destination();
        self.up = false;
        self.retry_at = Instant::now() + self.retry;
        self.retry = (self.retry * 2).min(RETRY_MAX);
    }

    fn reopen(&mut self) {
        self.flush();
        self.close_destination();
        self.try_open();
    }

    /// Closes the destination; what it was handed but never confirmed is tried again later,
    /// after what waits in the spool already.
    fn close_destination(&mut self) {
        for alert in self.destination.unconfirmed() {
            self.spool_or_drop(&alert);
        }
        self.destination.close();
    }

    fn handle(&mut self, alert: &Outgoing) {
        // Order is kept: while anything waits in the spool, new alerts queue behind it.
        let spooling = self.spool.as_ref().is_some_and(|s| !s.is_empty());
        if self.up && !spooling {
            match self.destination.write(alert) {
                Ok(confirmed) => {
                    self.counters
                        .delivered
                        .fetch_add(confirmed, Ordering::Relaxed);
                    return;
                }
                Err(e) => self.failed(&e),
            }
        }
        self.spool_or_drop(alert);
    }

    fn spool_or_drop(&mut self, alert: &Outgoing) {
        let spooled = match &mut self.spool {
            Some(s) => s.push(alert).unwrap_or_else(|e| {
                tracing::warn!(sink = %self.name, error = %e, "spooling failed");
                false
            }),
            None => false,
        };
        let c = &self.counters;
        if spooled {
            c.spooled.fetch_add(1, Ordering::Relaxed);
        } else {
            c.dropped_undeliverable.fetch_add(1, Ordering::Relaxed);
        }
        self.publish_pending();
    }

    fn flush(&mut self) {
        if !self.up {
            return;
        }
        match self.destination.flush() {
            Ok(confirmed) => {
                self.counters
                    .delivered
                    .fetch_add(confirmed, Ordering::Relaxed);
            }
            Err(e) => self.failed(&e),
        }
    }

    fn replay(&mut self) {
        let Some(spool) = &mut self.spool else {
            return;
        };
        if spool.is_empty() {
            return;
        }
        let destination = &mut self.destination;
        let mut confirmed = 0;
        let replayed = spool.replay(|a| {
            confirmed += destination.write(a)?;
            Ok(())
        });
        if let Ok(n) = replayed {
            self.counters.replayed.fetch_add(n, Ordering::Relaxed);
            if n > 0 {
                tracing::info!(sink = %self.name, records = n, "spooled records sent again");
            }
        }
        self.counters
            .delivered
            .fetch_add(confirmed, Ordering::Relaxed);
        match replayed {
            Ok(_) => self.flush(),
            Err(e) => self.failed(&e),
        }
        self.publish_pending();
    }

    fn publish_pending(&self) {
        let pending = self.spool.as_ref().map_or(0, |s| s.pending);
        self.counters
            .spool_pending
            .store(pending, Ordering::Relaxed);
    }
}
