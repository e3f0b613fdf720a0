//! What the housekeeping loop sees of the running daemon: where the workers' output goes
//! ([`OutputSink`]), and a handle for reading every counter and swapping engines between rounds
//! ([`Running`]).

use super::{Daemon, DaemonError, Report};
use crate::datapath::{
    live::{SlowStats, WorkerStats},
    pipeline::{Inbox, MessageCopy, NewEngine, WorkerAlert},
};
use detector::engine::Engine;

/// Where the housekeeping loop puts what workers send out.
pub trait OutputSink {
    /// One alert from a worker's alert ring.
    fn on_alert(&mut self, alert: WorkerAlert);
    /// One copy of a message from a worker's sample ring (when printing).
    fn on_sample(&mut self, sample: MessageCopy);
    /// The end of a round of draining: the place to flush.
    fn flush(&mut self) {}
    /// Every round of the housekeeping loop (about every millisecond when idle): the place to
    /// answer requests for the live counters.
    fn on_round(&mut self, _running: &mut Running<'_>) {}
    /// The loop is ending (a stop was asked for, or a limit reached): the steering goes off and
    /// the workers drain next.
    fn on_stop(&mut self) {}
}

/// Hands everything in `inbox` to `sink`; returns how many items there were.
pub(super) fn drain(inbox: &mut Inbox, sink: &mut impl OutputSink) -> usize {
    let mut moved = 0;
    while let Ok(alert) = inbox.alerts.pop() {
        sink.on_alert(alert);
        moved += 1;
    }
    while let Ok(sample) = inbox.samples.pop() {
        sink.on_sample(sample);
        moved += 1;
    }
    moved
}

/// The running appliance's counters, as the housekeeping loop can read them between rounds.
#[derive(Debug)]
pub struct Running<'a> {
    pub(super) daemon: &'a mut Daemon,
}

impl Running<'_> {
    /// Every counter now, as in the final report.
    pub fn report(&mut self) -> Result<Report, DaemonError> {
        let stats: Vec<(WorkerStats, SlowStats)> = self
            .daemon
            .workers
            .iter_mut()
            .map(|w| (*w.stats.read(), *w.stats.read_slow()))
            .collect();
        self.daemon.report_from(&stats, Vec::new())
    }

    /// Puts a new TLS listener configuration in place for the connections accepted from now
    /// on. False when no TLS listener runs.
    pub fn replace_tls(&mut self, tls: crate::tls::ServerTls) -> bool {
        match &self.daemon.opts.tls {
            Some(acceptor) => {
                acceptor.replace(tls);
                true
            }
            None => false,
        }
    }

    /// Hands every worker a new engine, `make(worker)`, for rule set `generation`. Each worker
    /// puts it in place between two batches, so no message is skipped or seen by neither; until
    /// then it keeps detecting with the old one. Refused (nothing handed over) while an earlier
    /// replacement has not been taken up by every worker.
    pub fn replace_engines(
        &mut self,
        generation: u32,
        make: impl Fn(usize) -> Box<Engine>,
    ) -> Result<(), SwapError> {
        if self
            .daemon
            .workers
            .iter()
            .any(|w| w.swap.incoming.slots() == 0)
        {
            return Err(SwapError::Busy);
        }
        for (i, w) in self.daemon.workers.iter_mut().enumerate() {
            let new = NewEngine {
                generation,
                engine: make(i),
            };
            if w.swap.incoming.push(new).is_err() {
                return Err(SwapError::Taken(i));
            }
        }
        Ok(())
    }

    /// The rule set generation each worker detects with now.
    pub fn generations(&mut self) -> Vec<u32> {
        self.daemon
            .workers
            .iter_mut()
            .map(|w| w.stats.read().generation)
            .collect()
    }
}

/// Why new engines were not handed over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SwapError {
    /// Some worker has not taken up the previous ones yet.
    #[error("the previous reload has not been taken up by every worker yet")]
    Busy,
    /// A worker's swap slot was taken after all (by another caller).
    #[error("worker {0}: its swap slot is taken")]
    Taken(usize),
}
