//! What a run of `bench e2e` measured, per target and in all.

use super::score::KindScore;
use std::{collections::BTreeMap, path::PathBuf};

use serde::Serialize;
use serde_json::Value;

use crate::replay::ReplayStats;

/// One run: a target at an offered rate.
#[derive(Clone, Debug, Serialize)]
pub struct RunResult {
    /// `baseline`, `xdp`, `xdp-busy-poll`, `socket`, `rsyslog`, `syslog-ng`.
    pub target: &'static str,
    /// Offered frames per second (`None`: as fast as possible).
    pub offered_pps: Option<f64>,
    /// What the replayer did.
    pub replay: ReplayStats,
    /// Messages received (for a peer: lines in its file).
    pub received: u64,
    /// (datagrams sent - received) / datagrams sent.
    pub loss_ratio: f64,
    /// Named drops by reason (ingest only; non-zero ones).
    pub drops: BTreeMap<String, u64>,
    /// received + named drops account for every datagram sent (ingest only).
    pub accounting_ok: Option<bool>,
    /// Busy nanoseconds of both CPUs during the run.
    pub busy_ns: u64,
    /// CPU time of the receiving process.
    pub process_cpu_ns: u64,
    /// (busy - baseline busy per frame x frames sent) / received.
    pub cpu_ns_per_msg: Option<f64>,
    /// Where `cpu_ns_per_msg` went (ingest only).
    pub cpu_split: Option<CpuSplit>,
    /// Alerts raised (ingest with rules).
    pub alerts: u64,
    /// Detection scores (ingest with rules).
    pub detection: Option<BTreeMap<String, KindScore>>,
    /// ingest's latency percentiles per stage.
    pub latency_ns: Option<Value>,
}

/// Where a message's CPU went, nanoseconds per message received: the whole machine's
/// (net of the sender, as `cpu_ns_per_msg`) split by ingest's own account of its stages.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct CpuSplit {
    /// Outside ingest's threads: the driver, XDP, the copy into UMEM or the socket, softirqs
    /// (the machine's CPU per message minus the process's).
    pub kernel: f64,
    /// Taking batches off the rings: frame decoding and checksum checks on the AF_XDP path,
    /// sorting the datagrams on the socket path (the pipeline's exact `receive`-stage sum;
    /// the socket path's receive calls themselves are bookkeeping).
    pub pickup: f64,
    /// Counting and parsing (the pipeline's exact parse-stage sum).
    pub parse: f64,
    /// The detection engine (the exact detect-stage sum).
    pub detect: f64,
    /// The rest of ingest's threads: the rings themselves (system calls, wakeups, recycling
    /// frames), publishing counters, housekeeping, sinks.
    pub bookkeeping: f64,
}

impl CpuSplit {
    /// The split of a run whose machine CPU per message was `total`, from the process's CPU
    /// and ingest's stats.
    pub(super) fn of(total: f64, process_cpu_ns: u64, received: u64, stats: &Value) -> Self {
        let n = received.max(1) as f64;
        let stage = |s: &str| stats["stages"][s]["sum"].as_u64().unwrap_or(0) as f64 / n;
        let process = process_cpu_ns as f64 / n;
        let (pickup, parse, detect) = (stage("receive"), stage("parse"), stage("detect"));
        Self {
            kernel: (total - process).max(0.0),
            pickup,
            parse,
            detect,
            bookkeeping: (process - pickup - parse - detect).max(0.0),
        }
    }
}

/// `bench replay` and `tcpreplay` sending the same capture into the XDP backend.
#[derive(Clone, Debug, Serialize)]
pub struct TcpreplayCheck {
    /// The rate both were asked for.
    pub offered_pps: Option<f64>,
    /// Frames each sent.
    pub sent: [u64; 2],
    /// The rate each achieved.
    pub achieved_pps: [f64; 2],
    /// Messages the appliance received from each.
    pub received: [u64; 2],
    /// Alerts per kind from each.
    pub alerts: [BTreeMap<String, u64>; 2],
    /// The same messages received and the same alerts raised.
    pub same: bool,
}

impl TcpreplayCheck {
    pub(super) fn of(ours: &RunResult, theirs: &RunResult) -> Self {
        let alerts = |r: &RunResult| -> BTreeMap<String, u64> {
            r.detection
                .iter()
                .flatten()
                .map(|(k, s)| (k.clone(), s.alerts))
                .collect()
        };
        let alerts = [alerts(ours), alerts(theirs)];
        Self {
            offered_pps: ours.offered_pps,
            sent: [ours.replay.sent, theirs.replay.sent],
            achieved_pps: [ours.replay.pps(), theirs.replay.pps()],
            received: [ours.received, theirs.received],
            same: ours.received == theirs.received && alerts[0] == alerts[1],
            alerts,
        }
    }
}

/// A backend's or peer's summary.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// Messages received at the highest offered rate.
    pub received: u64,
    /// Loss at the highest offered rate.
    pub loss_ratio: f64,
    /// Highest achieved rate without loss.
    pub lossless_pps: Option<f64>,
    /// CPU per message at the comparison rate (the highest every target took without loss).
    pub cpu_ns_per_msg: Option<f64>,
}

/// Everything, as printed with `--json`.
#[derive(Clone, Debug, Serialize)]
pub struct E2eReport {
    /// Datagrams in the captures of all rates (each sent once to every target).
    pub sent: u64,
    /// Every ingest run accounted for every datagram.
    pub accounting_ok: bool,
    /// `xdp`, `socket`.
    pub backends: BTreeMap<String, Summary>,
    /// `rsyslog`, `syslog-ng` (those that ran).
    pub peers: BTreeMap<String, Summary>,
    /// Peers that could not run, and why.
    pub peers_skipped: BTreeMap<String, String>,
    /// The rate the CPU per message is compared at.
    pub compare_at_pps: Option<f64>,
    /// Scores of the XDP backend's lossless runs together (each rate has its own capture).
    pub detection: BTreeMap<String, KindScore>,
    /// The latency run's percentiles per stage (XDP, busy-poll).
    pub latency_ns: BTreeMap<String, ingest::daemon::Percentiles>,
    /// The rate the latency run was offered.
    pub latency_offered_pps: Option<f64>,
    /// The first rate's capture sent by `tcpreplay` instead, compared.
    pub tcpreplay: Option<TcpreplayCheck>,
    /// Every run.
    pub runs: Vec<RunResult>,
    /// The files written.
    pub report_files: Vec<PathBuf>,
}

/// The scores of several runs as one: counts added, precision and recall of the sums.
pub(super) fn combine<'a>(
    runs: impl Iterator<Item = &'a RunResult>,
) -> BTreeMap<String, KindScore> {
    let mut all: BTreeMap<String, KindScore> = BTreeMap::new();
    for (kind, s) in runs.filter_map(|r| r.detection.as_ref()).flatten() {
        let a = all.entry(kind.clone()).or_default();
        a.true_positives += s.true_positives;
        a.alerts += s.alerts;
        a.injected += s.injected;
        a.found += s.found;
        a.background += s.background;
        a.background_found += s.background_found;
        for fp in &s.false_positives {
            if a.false_positives.len() < 5 {
                a.false_positives.push(fp.clone());
            }
        }
    }
    all.values_mut().for_each(KindScore::finish);
    all
}
