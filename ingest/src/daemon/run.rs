//! The housekeeping loop of a started daemon, and its stop without a gap.

use std::{
    os::fd::AsRawFd,
    sync::atomic::{AtomicBool, Ordering},
    thread::JoinHandle,
    time::{Duration, Instant},
};

use super::running::{OutputSink, Running};
use super::{
    Daemon, DaemonError, Limits, Report,
    running::drain,
    spawn::{Reopened, WorkerEnd},
};

impl Daemon {
    /// The housekeeping loop: hands every worker output to `sink` until `stop` is set or a
    /// limit is reached, then stops the workers, drains what they left, and reports.
    pub fn run(
        mut self,
        stop: &AtomicBool,
        limits: Limits,
        sink: &mut impl OutputSink,
    ) -> Result<Report, DaemonError> {
        let deadline = limits.duration.map(|d| Instant::now() + d);
        loop {
            let mut moved = 0;
            for w in &mut self.workers {
                moved += drain(&mut w.inbox, sink);
            }
            if moved > 0 {
                sink.flush();
            }
            let mut received = 0;
            for w in &mut self.workers {
                w.stats.collect_latency(|h| self.latency.add(h));
                received += w.stats.read().pipeline.received();
                // Replaced engines are dropped here, off the workers' threads.
                while let Ok(old) = w.swap.retired.pop() {
                    drop(old);
                }
            }
            self.register_reopened();
            sink.on_round(&mut Running { daemon: &mut self });
            let finished = self
                .workers
                .iter()
                .any(|w| w.join.as_ref().is_some_and(JoinHandle::is_finished));
            if stop.load(Ordering::Relaxed)
                || finished
                || deadline.is_some_and(|d| Instant::now() >= d)
                || limits.max_messages.is_some_and(|m| received >= m)
            {
                break;
            }
            if moved == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        sink.on_stop();
        let ends = self.shutdown();
        for w in &mut self.workers {
            drain(&mut w.inbox, sink);
            w.stats.collect_latency(|h| self.latency.add(h));
        }
        sink.flush();
        let mut stats = Vec::new();
        let mut errors = Vec::new();
        for (info, end) in self.infos.iter().zip(&ends) {
            self.latency.add(&end.latency);
            stats.push((end.stats, end.slow));
            if let Some(e) = &end.error {
                errors.push(format!("worker {}: {e}", info.worker));
            }
        }
        self.report_from(&stats, errors)
    }

    /// Puts the AF_XDP sockets that workers opened anew in the XSKMAP, each in place of its
    /// queue's old one, and closes the daemon's descriptors of them.
    fn register_reopened(&mut self) {
        while let Ok(Reopened { queue, fd }) = self.reopened.try_recv() {
            let Some(steering) = &mut self.steering else {
                continue;
            };
            match steering.register_socket(queue, fd.as_raw_fd()) {
                Ok(()) => tracing::info!(queue, "queue {queue}'s new AF_XDP socket is steered to"),
                Err(e) => tracing::error!(
                    queue,
                    "putting queue {queue}'s new AF_XDP socket in the XSKMAP failed ({}): its \
                     packets go on to the kernel's socket path",
                    crate::error_chain(&e)
                ),
            }
        }
    }

    /// Stops without a gap, and joins every worker (their ends in worker order): steering off
    /// first, so every packet from then on goes to the kernel, whose socket path is still
    /// receiving; then the AF_XDP workers read and count what is left in their RX rings and
    /// end; then the socket workers do the same with their socket buffers.
    pub(super) fn shutdown(&mut self) -> Vec<WorkerEnd> {
        if let Some(s) = &mut self.steering
            && let Err(e) = s.detach()
        {
            tracing::warn!(
                "detaching the XDP program failed ({}); stopping the workers anyway",
                crate::error_chain(&e)
            );
        }
        let mut ends: Vec<Option<WorkerEnd>> = self.workers.iter().map(|_| None).collect();
        for (stop, xdp) in [(&self.stop_xdp, true), (&self.stop_socket, false)] {
            stop.store(true, Ordering::Relaxed);
            for (i, w) in self.workers.iter_mut().enumerate() {
                if w.xdp != xdp {
                    continue;
                }
                if let Some(join) = w.join.take() {
                    ends[i] = Some(join.join().unwrap_or_else(|_| WorkerEnd {
                        error: Some("worker thread panicked".into()),
                        ..WorkerEnd::empty()
                    }));
                }
            }
        }
        ends.into_iter().flatten().collect()
    }
}
