//! What the daemon reports when it stops: per-queue and per-worker detail, latency percentiles,
//! and every counter merged into one [`Report`].

use std::collections::BTreeMap;

use detector::engine::EngineStats;
use hdrhistogram::Histogram;

use crate::datapath::Backend;
use crate::sys::xsk::{BindMode, BusyPollStatus};
use crate::{
    datapath::live::XdpSourceReport,
    datapath::pipeline::{Stage, StageLatency},
    datapath::socket::{TcpCounters, UdpCounters},
    datapath::worker::Mode,
    datapath::xdp::{AttachMode, XdpCounters},
};

/// One AF_XDP queue in the report.
#[derive(Clone, Debug, serde::Serialize)]
pub struct QueueReport {
    /// How its worker started.
    #[serde(flatten)]
    pub info: WorkerInfo,
    /// Its counters.
    #[serde(flatten)]
    pub counters: XdpSourceReport,
    /// Messages it received.
    pub messages: u64,
}

/// How many of the loudest senders a report lists.
pub const TOP_SOURCES_REPORTED: usize = 10;

/// One of the loudest senders.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TopSource {
    /// Its address.
    pub source: std::net::IpAddr,
    /// Messages from it, estimated: a sample of one in [`TOP_SOURCES_SAMPLE`](detector::engine::TOP_SOURCES_SAMPLE), scaled up.
    pub messages: u64,
    /// How much of `messages` may belong to senders it displaced in the sketch.
    pub error: u64,
}

/// Latency percentiles, nanoseconds.
#[derive(Clone, Debug, serde::Serialize)]
pub struct LatencyReport {
    /// From the XDP hook to the message parsed and through the detector, since start.
    pub xdp_to_detected: Percentiles,
    /// The same over the last 30 to 60 seconds.
    pub recent_xdp_to_detected: Percentiles,
    /// AF_XDP messages without an arrival time.
    pub unmeasured: u64,
    /// One message in this many went into the histograms (counts and sums are exact).
    pub sample_every: u64,
    /// Every [`Stage`] since start (parse and detect also for socket-path messages).
    pub stages: BTreeMap<&'static str, Percentiles>,
    /// Every stage's histogram in HdrHistogram's interchange encoding (V2, deflated, base64, as
    /// in its log files), for `bench report`.
    pub histograms: BTreeMap<&'static str, String>,
}

/// `h` in HdrHistogram's compressed V2 encoding, base64: what its log files hold per interval.
pub fn encode_histogram(h: &Histogram<u64>) -> String {
    use base64::Engine as _;
    let mut bytes = Vec::new();
    // Writing into a Vec cannot fail for a histogram this size.
    use hdrhistogram::serialization::Serializer as _;
    let _ = hdrhistogram::serialization::V2DeflateSerializer::new().serialize(h, &mut bytes);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Why a text is not an encoded histogram.
#[derive(Debug, thiserror::Error)]
pub enum HistogramError {
    /// Not base64.
    #[error("not base64")]
    Base64(#[from] base64::DecodeError),
    /// Not HdrHistogram's V2 encoding.
    #[error("not an encoded histogram ({0:?})")]
    Encoding(hdrhistogram::serialization::DeserializeError),
}

/// The inverse of [`encode_histogram`].
pub fn decode_histogram(text: &str) -> Result<Histogram<u64>, HistogramError> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD.decode(text.trim())?;
    hdrhistogram::serialization::Deserializer::new()
        .deserialize(&mut std::io::Cursor::new(bytes))
        .map_err(HistogramError::Encoding)
}

/// Percentiles of one stage.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Percentiles {
    /// Messages (exact).
    pub count: u64,
    /// Messages the percentiles were read from (one in `sample_every` of the report).
    pub sampled: u64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// 99.99th percentile.
    pub p9999: u64,
    /// Largest sampled.
    pub max: u64,
    /// Sum of all messages' times (exact).
    pub sum: u64,
    /// Messages per bucket of [`LATENCY_BUCKETS_NS`] (not cumulative), scaled from the sample
    /// to the exact count: what a Prometheus histogram shows. The rest are above the last
    /// bound.
    #[serde(skip)]
    pub buckets: Vec<u64>,
}

/// The upper bounds of the latency histograms' buckets, ns: 1 µs to 1 s, about three a decade.
pub const LATENCY_BUCKETS_NS: [u64; 19] = [
    1_000,
    2_000,
    5_000,
    10_000,
    20_000,
    50_000,
    100_000,
    200_000,
    500_000,
    1_000_000,
    2_000_000,
    5_000_000,
    10_000_000,
    20_000_000,
    50_000_000,
    100_000_000,
    200_000_000,
    500_000_000,
    1_000_000_000,
];

/// Messages per bucket of [`LATENCY_BUCKETS_NS`] in `h`, scaled so that all of `h` counts as
/// `count` messages.
fn buckets(h: &Histogram<u64>, count: u64) -> Vec<u64> {
    let sampled = h.len();
    if sampled == 0 {
        return vec![0; LATENCY_BUCKETS_NS.len()];
    }
    let scale = count as f64 / sampled as f64;
    let mut below = 0;
    LATENCY_BUCKETS_NS
        .iter()
        .map(|&bound| {
            // Cumulative, then the difference: rounding cannot make a bucket negative.
            let cumulative = (h.count_between(0, bound) as f64 * scale).round() as u64;
            let cumulative = cumulative.min(count).max(below);
            let n = cumulative - below;
            below = cumulative;
            n
        })
        .collect()
}

impl Percentiles {
    /// Reads the percentiles of `h`, whose every value counts (count and sum from it).
    pub fn of(h: &Histogram<u64>) -> Self {
        Self {
            buckets: buckets(h, h.len()),
            count: h.len(),
            sampled: h.len(),
            p50: h.value_at_quantile(0.5),
            p90: h.value_at_quantile(0.9),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            p9999: h.value_at_quantile(0.9999),
            max: h.max(),
            sum: (h.mean() * h.len() as f64).round() as u64,
        }
    }

    /// The percentiles of `stage` in `l`: read from its sampled histogram, with the exact
    /// count and sum.
    pub fn of_stage(l: &StageLatency, stage: Stage) -> Self {
        let h = l.histogram(stage);
        let count = l.count_of(stage);
        Self {
            count,
            sum: l.sum_of(stage),
            buckets: buckets(h, count),
            ..Self::of(h)
        }
    }

    /// The mean of every message (exact), ns.
    pub fn mean(&self) -> f64 {
        self.sum as f64 / self.count.max(1) as f64
    }
}

/// Bytes of log messages received, by path.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct PathBytes {
    /// Through AF_XDP.
    pub xdp: u64,
    /// Through the kernel's UDP sockets.
    pub udp: u64,
    /// Through TCP (TLS included).
    pub tcp: u64,
}

/// Reloads of the configuration and rules, as Prometheus reports its own
/// (`config_last_reload_successful`, `config_last_reload_success_timestamp_seconds`).
#[derive(Clone, Debug, serde::Serialize)]
pub struct ReloadState {
    /// What the last reload said: its summary, or why it was refused.
    pub last_message: String,
    /// Reloads put into effect.
    pub applied: u64,
    /// Reloads refused (the running configuration stayed).
    pub refused: u64,
    /// Whether the last attempt (or the start) succeeded.
    pub last_successful: bool,
    /// When the configuration in effect was loaded, seconds since the Unix epoch.
    pub last_success_unix: f64,
}

impl Default for ReloadState {
    fn default() -> Self {
        Self {
            last_message: String::new(),
            applied: 0,
            refused: 0,
            last_successful: true,
            last_success_unix: unix_now(),
        }
    }
}

impl ReloadState {
    /// Counts one reload's outcome, with what it said.
    pub fn record(&mut self, applied: bool, message: &str) {
        self.last_message = message.to_string();
        if applied {
            self.applied += 1;
            self.last_success_unix = unix_now();
        } else {
            self.refused += 1;
        }
        self.last_successful = applied;
    }
}

/// Seconds since the Unix epoch, now.
fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Every counter of a run, as written by `ingest run --stats-json`.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Report {
    /// Backend.
    pub backend: Backend,
    /// Worker mode in effect.
    pub mode: Mode,
    /// Interface.
    pub iface: String,
    /// XDP attach mode in effect (XDP backend).
    pub xdp_mode: Option<AttachMode>,
    /// Messages received, all paths.
    pub messages_received_total: u64,
    /// Messages through AF_XDP.
    pub messages_received_xdp_total: u64,
    /// Messages through the kernel socket path (UDP and TCP).
    pub messages_received_socket_total: u64,
    /// Of which UDP.
    pub messages_received_udp_total: u64,
    /// Of which TCP (TLS included).
    pub messages_received_tcp_total: u64,
    /// Bytes of the messages received, by path.
    pub bytes_received: PathBytes,
    /// Alerts the rules raised (printed as `{"event":"alert"}` lines).
    pub alerts_raised_total: u64,
    /// Messages parsed without error; the rest are in `parse_errors` (and were still detected
    /// on with what could be read).
    pub messages_parsed_total: u64,
    /// Messages the parser could not read fully, by reason. Not drops.
    pub parse_errors: BTreeMap<&'static str, u64>,
    /// Every named drop of every stage, reason -> count.
    pub drops: BTreeMap<&'static str, u64>,
    /// What the kernel dropped of what the XDP program passed on to it, by its own counters:
    /// the interface's `rx_dropped` (a frame no protocol takes, such as one with more VLAN
    /// tags than XDP walks) and `rx_nohandler`, and IP reassembly failures (overlapping or
    /// incomplete fragments). Kept out of `drops`: the kernel counts every packet there, log
    /// traffic or not, and some drivers add what XDP dropped to `rx_dropped`.
    pub kernel_drops: BTreeMap<&'static str, u64>,
    /// Alerts the engines raised but could not keep: their per-batch alert buffer was full.
    /// Not part of packet accounting (the messages were processed), but every alert lost is
    /// here or in `alerts_dropped_ring_full`.
    pub alerts_dropped_buffer_full: u64,
    /// Alerts dropped because a worker's alert ring to the sinks was full.
    pub alerts_dropped_ring_full: u64,
    /// Printed copies of messages dropped because a worker's sample ring was full.
    pub samples_dropped_ring_full: u64,
    /// The XDP program's decision counters.
    pub xdp: Option<XdpCounters>,
    /// Per AF_XDP queue.
    pub queues: Vec<QueueReport>,
    /// Every worker as it started.
    pub workers: Vec<WorkerInfo>,
    /// The socket path's UDP counters.
    pub udp: UdpCounters,
    /// The interface's receive counters during the run (rtnetlink); none when they could not
    /// be read (the socket backend on a host without that interface).
    pub link: Option<crate::sys::link::LinkStats>,
    /// The TCP listener's counters.
    pub tcp: TcpCounters,
    /// GELF reassembly: messages completed, chunks held, and what was given up. The datagrams
    /// themselves are counted as received; these say what became of their messages.
    pub gelf: BTreeMap<&'static str, u64>,
    /// Latency percentiles.
    pub latency_ns: LatencyReport,
    /// The engines' state tables: sizes and evictions.
    pub detector: EngineStats,
    /// The loudest senders, estimated from a sample (heaviest first).
    pub top_sources: Vec<TopSource>,
    /// Different senders seen, estimated (HyperLogLog, about 3 %).
    pub distinct_sources: u64,
    /// The rule set every worker detects with (the oldest, while a reload is taken up).
    pub rules_generation: u32,
    /// The alert sinks (filled in by whoever runs them).
    pub sinks: Vec<crate::output::sinks::SinkReport>,
    /// Reloads so far (filled in by whoever runs them).
    pub reloads: ReloadState,
    /// The process's own resource use when the report was made (filled in for scrapes).
    pub process: Option<crate::sys::process::ProcessStats>,
    /// Workers that ended with an error.
    pub errors: Vec<String>,
}

impl Report {
    /// Sum of all named drops.
    pub fn drops_total(&self) -> u64 {
        self.drops.values().sum()
    }
}

/// What a worker says once it is ready (in the `ready` line and the report).
#[derive(Clone, Debug, serde::Serialize)]
pub struct WorkerInfo {
    /// Index.
    pub worker: usize,
    /// `xdp` or `socket`.
    pub kind: &'static str,
    /// Receive queue (AF_XDP workers).
    pub queue: Option<u32>,
    /// CPUs it is pinned to.
    pub cpus: Vec<usize>,
    /// Whether pinning worked (`"ok"`, else the error).
    #[serde(serialize_with = "crate::sys::serialize_outcome")]
    pub pinned: crate::sys::Outcome,
    /// How it waits.
    pub mode: Mode,
    /// AF_XDP bind mode.
    pub bind_mode: Option<BindMode>,
    /// Whether the UMEM is on huge pages.
    pub hugepages: Option<bool>,
    /// Busy-poll socket options, in busy-poll mode.
    pub busy_poll: Option<BusyPollStatus>,
    /// UDP receive buffer granted (socket workers).
    pub udp_rcvbuf: Option<usize>,
    /// Whether it serves TCP.
    pub tcp: bool,
}
