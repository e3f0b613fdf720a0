//! `bench chaos`: the appliance under faults and abuse, one scenario at a time, each in a fresh
//! pair of namespaces with its own `ingest run`: a flood of malformed frames, a denied source
//! sending fragments (on both backends), the alert ring overflowing behind a stalled stdout,
//! the alert sink down and back, NATS killed and restarted, a reload and a SIGTERM under load,
//! and TLS clients with the wrong certificate. For each it prints what was sent, what was
//! received, every named drop, and whether each of its sums closes exactly: nothing lost
//! without a name.

use std::{collections::BTreeMap, path::PathBuf};

use anyhow::Context as _;

mod frames;
mod rig;
mod scenarios;

use rig::Rig;

/// `bench chaos` arguments.
#[derive(Debug, clap::Args)]
pub struct ChaosArgs {
    /// Small counts (a few seconds per scenario), as CI runs it.
    #[arg(long)]
    short: bool,
    /// Only these scenarios (names as the table prints them), comma separated.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Print the results as JSON instead of the table.
    #[arg(long)]
    json: bool,
    /// The `ingest` binary (default: next to this one).
    #[arg(long)]
    ingest: Option<PathBuf>,
}

/// One sum a scenario must close: `left` (what went in) against `right` (what came out, every
/// way named).
#[derive(Clone, Debug, serde::Serialize)]
pub struct Check {
    /// What is summed, as `sent = received + drops`.
    pub what: String,
    /// What went in.
    pub left: u64,
    /// What came out.
    pub right: u64,
}

impl Check {
    fn new(what: impl Into<String>, left: u64, right: u64) -> Self {
        Self {
            what: what.into(),
            left,
            right,
        }
    }

    /// Whether the sum closes exactly.
    pub fn closes(&self) -> bool {
        self.left == self.right
    }
}

/// What one scenario did.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Outcome {
    /// Its name.
    pub name: &'static str,
    /// Log datagrams (or messages, or connections) sent.
    pub sent: u64,
    /// Messages received.
    pub received: u64,
    /// Every named drop that is not zero.
    pub drops: BTreeMap<String, u64>,
    /// The sums it must close.
    pub checks: Vec<Check>,
    /// Anything else worth reading (refusals, alerts, what the sink did).
    pub notes: Vec<String>,
}

impl Outcome {
    /// Whether every sum closes.
    pub fn closes(&self) -> bool {
        !self.checks.is_empty() && self.checks.iter().all(Check::closes)
    }
}

/// How large a scenario's load is.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Scale {
    /// Messages of an ordinary load.
    pub(crate) messages: u64,
    /// Messages a second.
    pub(crate) rate: f64,
}

/// A scenario: its name and its run.
type Scenario = (&'static str, fn(&Rig, Scale) -> anyhow::Result<Outcome>);

/// Every scenario, in the order they run.
const SCENARIOS: [Scenario; 10] = [
    ("malformed-flood", scenarios::malformed_flood),
    ("denied-fragments-xdp", scenarios::denied_fragments_xdp),
    (
        "denied-fragments-socket",
        scenarios::denied_fragments_socket,
    ),
    ("alert-ring-full", scenarios::alert_ring_full),
    ("sink-down-and-back", scenarios::sink_down_and_back),
    ("nats-restart", scenarios::nats_restart),
    ("reload-under-load", scenarios::reload_under_load),
    ("sigterm-under-load", scenarios::sigterm_under_load),
    ("tls-wrong-certificate", scenarios::tls_wrong_certificate),
    ("tcp-abuse", scenarios::tcp_abuse),
];

/// Runs the scenarios `args` asks for and prints their results; an error if any sum did not
/// close.
pub fn command(args: ChaosArgs) -> anyhow::Result<()> {
    testbed::netns::available()
        .map_err(|why| anyhow::anyhow!("bench chaos needs namespaces: {why}"))?;
    ingest::sys::kernel_support().map_err(|why| anyhow::anyhow!("bench chaos: {why}"))?;
    let ingest = crate::datapath::ingest_path(args.ingest)?;
    let scale = if args.short {
        Scale {
            messages: 2_000,
            rate: 20_000.0,
        }
    } else {
        Scale {
            messages: 50_000,
            rate: 50_000.0,
        }
    };
    for name in &args.only {
        anyhow::ensure!(
            SCENARIOS.iter().any(|(n, _)| n == name),
            "no scenario {name:?}; there are {}",
            SCENARIOS.map(|(n, _)| n).join(", ")
        );
    }
    let mut outcomes = Vec::new();
    for (name, run) in SCENARIOS {
        if !args.only.is_empty() && !args.only.iter().any(|o| o == name) {
            continue;
        }
        if !args.json {
            eprintln!("== {name}");
        }
        let rig = Rig::new(name, &ingest)?;
        let outcome = run(&rig, scale).with_context(|| format!("scenario {name}"))?;
        outcomes.push(outcome);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&outcomes)?);
    } else {
        print_table(&outcomes);
    }
    let open: Vec<&str> = outcomes
        .iter()
        .filter(|o| !o.closes())
        .map(|o| o.name)
        .collect();
    anyhow::ensure!(
        open.is_empty(),
        "sums that did not close: {}",
        open.join(", ")
    );
    Ok(())
}

fn print_table(outcomes: &[Outcome]) {
    println!(
        "| scenario | sent | received | named drops | sums closed |\n| --- | ---: | ---: | --- | --- |"
    );
    for o in outcomes {
        let drops = if o.drops.is_empty() {
            "none".to_string()
        } else {
            o.drops
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let sums = o
            .checks
            .iter()
            .map(|c| {
                let mark = if c.closes() { "yes" } else { "NO" };
                format!("{} ({} = {}): {mark}", c.what, c.left, c.right)
            })
            .collect::<Vec<_>>()
            .join("; ");
        println!(
            "| {} | {} | {} | {drops} | {sums} |",
            o.name, o.sent, o.received
        );
    }
    for o in outcomes.iter().filter(|o| !o.notes.is_empty()) {
        println!("\n{}: {}", o.name, o.notes.join("; "));
    }
}
