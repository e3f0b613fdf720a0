//! What the namespace integration tests share: running `ingest run --print` in the receiving
//! namespace, and collecting its messages and counters after a clean SIGTERM.

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use ingest::metrics::{self, Scrape};
use serde_json::Value;
use testbed::netns::{self, Spawned, VethPair};

pub use testbed::TempDir;

/// `ingest run --print --stats-json` on the receiving end of `pair`, ready to receive.
pub struct Ingest {
    daemon: Spawned,
    stats: PathBuf,
    /// The `{"event":"ready"}` line.
    pub ready: Value,
}

/// What a run printed and counted.
pub struct Outcome {
    /// Every `{"event":"message"}` line, in order.
    pub messages: Vec<Value>,
    /// Every stdout line, for failure messages.
    pub lines: Vec<String>,
    /// The `--stats-json` report.
    pub report: Value,
}

impl Ingest {
    /// Starts ingest on `pair`'s receiving interface with `extra` arguments and waits for ready.
    #[allow(dead_code, reason = "not every test binary starts it printing")]
    pub fn start(pair: &VethPair, name: &str, extra: &[&str]) -> Self {
        Self::start_with(pair, name, extra, true)
    }

    /// As [`Ingest::start`]; with `print` false, only alerts are printed.
    pub fn start_with(pair: &VethPair, name: &str, extra: &[&str], print: bool) -> Self {
        let stats = std::env::temp_dir().join(format!("ingest-{name}-{}.json", std::process::id()));
        let mut cmd = VethPair::command(&pair.ns_b, env!("CARGO_BIN_EXE_ingest"));
        cmd.args(["run", "--iface", netns::IFACE_B, "--stats-json"])
            .arg(&stats)
            .args(extra);
        if print {
            cmd.arg("--print");
        }
        let mut daemon = Spawned::spawn(cmd).expect("starting ingest");
        let ready = daemon
            .wait_for_first_line("\"ready\"", Duration::from_secs(30))
            .expect("ingest ready");
        let ready = serde_json::from_str(&ready).expect("ready line is JSON");
        Self {
            daemon,
            stats,
            ready,
        }
    }

    /// The daemon's process id.
    #[allow(dead_code, reason = "not every test binary uses it")]
    pub fn pid(&self) -> u32 {
        self.daemon.pid()
    }

    /// Waits up to 10 s for `expected` message lines (and 200 ms more for any surplus), stops
    /// ingest with SIGTERM (it must exit 0), and returns what it printed and counted.
    pub fn stop_after(self, expected: usize) -> Outcome {
        let Self { daemon, stats, .. } = self;
        let (status, lines) = daemon
            .terminate_after_lines(expected, Duration::from_secs(10), Duration::from_secs(10))
            .expect("stopping ingest");
        assert!(status.success(), "ingest exited with {status}");
        let messages = lines
            .iter()
            .map(|l| serde_json::from_str::<Value>(l).expect("JSON line"))
            .filter(|v| v["event"] == "message")
            .collect();
        let report = serde_json::from_slice(&std::fs::read(&stats).expect("stats file"))
            .expect("stats file is JSON");
        let _ = std::fs::remove_file(&stats);
        Outcome {
            messages,
            lines,
            report,
        }
    }
}

/// A test's namespace pair, held with the lock that keeps tests pushing traffic one at a time
/// (on two CPUs, two of them side by side would measure each other). The pair goes first
/// (its namespaces removed), then the lock.
pub struct Network {
    pair: VethPair,
    _serial: std::sync::MutexGuard<'static, ()>,
}

impl std::ops::Deref for Network {
    type Target = VethPair;

    fn deref(&self) -> &VethPair {
        &self.pair
    }
}

/// The namespace pair for a test, or `None` (after printing why) on a kernel without BPF or
/// AF_XDP: the only reason to skip. Not being root fails the test instead.
pub fn test_network() -> Option<Network> {
    test_network_with_queues(1)
}

/// [`test_network`] with `queues` receive queues on each end.
pub fn test_network_with_queues(queues: u32) -> Option<Network> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    if let Err(why) = ingest::sys::kernel_support() {
        eprintln!("SKIPPED: {why}");
        return None;
    }
    netns::available().expect("this test needs root and iproute2");
    // A test that failed while holding the lock leaves it poisoned; the next one still runs.
    let serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    Some(Network {
        pair: VethPair::create_with_queues(queues).expect("creating namespaces and veth"),
        _serial: serial,
    })
}

/// Sum of the report's named drops.
pub fn drops_total(report: &Value) -> u64 {
    report["drops"]
        .as_object()
        .expect("drops object")
        .values()
        .map(|v| v.as_u64().expect("drop counts are integers"))
        .sum()
}

/// Scrapes the metrics endpoint at `addr` inside the receiving namespace every 100 ms until
/// `done` holds; fails after `timeout` naming `what` and showing the last scrape.
#[allow(dead_code, reason = "not every test binary uses it")]
pub fn scrape_until(
    pair: &VethPair,
    addr: &str,
    what: &str,
    timeout: Duration,
    done: impl Fn(&Scrape) -> bool,
) -> Scrape {
    let deadline = Instant::now() + timeout;
    loop {
        let s = VethPair::run_in(&pair.ns_b, || metrics::scrape(addr))
            .unwrap()
            .expect("scraping the endpoint");
        if done(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "{what}: never got there: {s:#?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
