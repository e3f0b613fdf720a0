//! The offline tools: `ingest parse`, `ingest detect` and `ingest templates` over lines of a
//! file or stdin.

use std::{
    io::{BufWriter, Write},
    path::PathBuf,
};
use std::{process::ExitCode, time::SystemTime};

use anyhow::Context as _;

use crate::cli::LearnArgs;
use detector::{
    engine::{
        Alerts, Blueprint, Clock, DEFAULT_BUDGET_BYTES, EngineOptions, Input, LearningOptions,
        MAX_BATCH,
    },
    parse::{FieldIndex, FormatHint, ParseOptions, Payload},
};
use ingest::{
    config::Config,
    daemon::housekeeping::{self},
    datapath::pipeline::{
        ALERTS_PER_BATCH, Parsing,
        zones::{TimeZones, Zone},
    },
    output::{
        AlertFormat,
        ecs::{Observer, alert_ecs},
    },
    rules::{AlertFacts, Rules, alert_json, load_rules, rule_meta},
};

#[derive(Debug, clap::Args)]
pub(crate) struct TemplatesArgs {
    /// Read messages from this file (default: stdin).
    #[arg(long)]
    input: Option<PathBuf>,
}

pub(crate) fn templates(args: TemplatesArgs) -> anyhow::Result<ExitCode> {
    // The engine of a worker that only learns, on the messages' own time.
    let blueprint = Blueprint::new(
        &Rules::default(),
        EngineOptions {
            learning: Some(LearningOptions {
                warmup_messages: u64::MAX,
                ..LearningOptions::default()
            }),
            clock: Clock::Event,
            budget_bytes: DEFAULT_BUDGET_BYTES,
        },
    );
    let mut engine = blueprint.engine();
    let mut alerts = Alerts::new(ALERTS_PER_BATCH);
    let opts = ParseOptions::default();
    let mut out = BufWriter::new(std::io::stdout().lock());
    for_each_batch(args.input.as_deref(), |lines| {
        // What the message says: syslog headers (time, host, pid), and a JSON or CEF body's
        // framing, are not part of a template.
        let batch: Vec<Input<'_>> = lines
            .iter()
            .map(|l| Input {
                event: detector::parse::parse(l, &opts),
                source: None,
                arrival_ns: 0,
            })
            .collect();
        engine.run(&batch, &mut alerts);
        alerts.clear();
        for mined in engine.templates() {
            let id = mined.map_or(0, |m| m.id);
            let text = engine.template_text(id).unwrap_or_default();
            writeln!(out, "{id}\t{text}")?;
        }
        Ok(())
    })?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Reads `input` (a file, else stdin) line by line and hands `f` batches of at most
/// [`MAX_BATCH`] lines, in order.
fn for_each_batch(
    input: Option<&std::path::Path>,
    mut f: impl FnMut(&[Vec<u8>]) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    use std::io::BufRead;
    let input: Box<dyn BufRead> = match input {
        Some(path) => Box::new(std::io::BufReader::new(
            std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?,
        )),
        None => Box::new(std::io::stdin().lock()),
    };
    let mut lines = Vec::with_capacity(MAX_BATCH);
    for line in input.split(b'\n') {
        lines.push(line.context("reading input")?);
        if lines.len() == MAX_BATCH {
            f(&lines)?;
            lines.clear();
        }
    }
    if !lines.is_empty() {
        f(&lines)?;
    }
    Ok(())
}

#[derive(Debug, clap::Args)]
pub(crate) struct DetectArgs {
    /// Folders of rules (Sigma `*.yml`, native `*.toml`), repeatable.
    #[arg(long, required = true)]
    rules: Vec<PathBuf>,
    /// Read messages from this file (default: stdin).
    #[arg(long)]
    input: Option<PathBuf>,
    /// Header format: auto detects per message; `raw` (or `line`) takes each line as the message.
    #[arg(long, value_enum, default_value_t = FormatArg::Auto)]
    format: FormatArg,
    /// The time zone of the senders' clocks, for RFC 3164 timestamps, as `timezone` of
    /// `ingest run` (at its offset of today).
    #[arg(long, default_value = "UTC")]
    timezone: String,
    /// The shape of the alert lines: `native` or `ecs` (the Elastic Common Schema, as the
    /// sinks of `ingest run` write them by default).
    #[arg(long, value_enum, default_value_t = AlertFormat::Native)]
    alert_format: AlertFormat,
    /// Learning, as `ingest run` has it (offline, on the messages' own time).
    #[command(flatten)]
    learning: LearnArgs,
}

pub(crate) fn detect_lines(args: DetectArgs) -> anyhow::Result<ExitCode> {
    let rules = load_rules(&args.rules)?;
    let mut parsing = Parsing::new(
        ParseOptions {
            format: args.format.hint(),
            ..ParseOptions::default()
        },
        Vec::new(),
    )
    .with_time_zones(TimeZones::new(
        Zone::named(&args.timezone).context("--timezone")?,
        Vec::new(),
    ))
    .with_wall_clock_year();
    // The engine of one worker of `ingest run`, on the messages' own time: offline, arrival
    // is meaningless.
    let mut config = Config::default();
    args.learning.apply(&mut config, |_| true);
    let blueprint = Blueprint::new(
        &rules,
        EngineOptions {
            learning: housekeeping::learning(&config),
            clock: Clock::Event,
            budget_bytes: DEFAULT_BUDGET_BYTES,
        },
    );
    let mut engine = blueprint.engine();
    let mut alerts = Alerts::new(ALERTS_PER_BATCH);
    let mut index: Vec<FieldIndex> = (0..MAX_BATCH).map(|_| FieldIndex::default()).collect();
    let mut out = BufWriter::new(std::io::stdout().lock());
    let mut writer = AlertLines::new(args.alert_format);
    for_each_batch(args.input.as_deref(), |lines| {
        parsing.refresh_calendar(ingest::datapath::pipeline::monotonic_ns());
        let opts = *parsing.for_port(514);
        let batch: Vec<Input<'_>> = lines
            .iter()
            .zip(index.iter_mut())
            .map(|(l, index)| Input {
                event: detector::parse::parse_indexed(l, &opts, index),
                source: None,
                arrival_ns: 0,
            })
            .collect();
        engine.run(&batch, &mut alerts);
        // Silence rules look at the time between lines (the event clock ignores the argument).
        engine.tick(0, &mut alerts);
        for a in alerts.as_slice() {
            let message = a
                .input
                .map_or(&[][..], |i| lines[usize::from(i)].as_slice());
            let event = a.input.map(|i| &batch[usize::from(i)].event);
            writeln!(out, "{}", writer.line(&rules, a, message, event))?;
        }
        alerts.clear();
        Ok(())
    })?;
    // The input is over: correlation windows still open are judged.
    engine.finish(&mut alerts);
    for a in alerts.as_slice() {
        writeln!(out, "{}", writer.line(&rules, a, &[], None))?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// How `ingest detect` writes an alert: native, or ECS with an id unique to this run.
struct AlertLines {
    format: AlertFormat,
    observer: Observer,
    run_id: String,
    raised: u64,
}

impl AlertLines {
    fn new(format: AlertFormat) -> Self {
        Self {
            format,
            observer: Observer::this_host(),
            run_id: format!(
                "{:x}-{}",
                SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos()),
                std::process::id()
            ),
            raised: 0,
        }
    }

    /// The line of alert `a` on `message` (parsed as `event`); offline there is no sender.
    fn line(
        &mut self,
        rules: &Rules,
        a: &detector::engine::Alert,
        message: &[u8],
        event: Option<&detector::parse::Event<'_>>,
    ) -> serde_json::Value {
        let facts = AlertFacts::of_alert(a, message, None);
        match self.format {
            AlertFormat::Native => alert_json(rules, a.rule, &facts),
            AlertFormat::Ecs => {
                self.raised += 1;
                let meta = rule_meta(rules, a.rule);
                let id = format!("{}-{}", self.run_id, self.raised);
                alert_ecs(&meta, &facts, event, &id, &self.observer, SystemTime::now())
            }
        }
    }
}

#[derive(Debug, clap::Args)]
pub(crate) struct ParseArgs {
    /// Read messages from this file (default: stdin).
    #[arg(long)]
    input: Option<PathBuf>,
    /// Header format: auto detects per message.
    #[arg(long, value_enum, default_value_t = FormatArg::Auto)]
    format: FormatArg,
    /// Payload format of the body: auto, plain, json, cef, leef, kv, audit, event-xml,
    /// access-log, dns-log, proxy-log.
    #[arg(long, default_value = "auto")]
    payload: String,
    /// Year for BSD timestamps without one (default: none, so they get no timestamp_ns).
    #[arg(long)]
    year: Option<i32>,
    /// The time zone of the senders' clocks, for RFC 3164 timestamps, as `timezone` of
    /// `ingest run` (at its offset of today).
    #[arg(long, default_value = "UTC")]
    timezone: String,
    /// Longest message read, bytes.
    #[arg(long, default_value_t = 64 * 1024)]
    max_len: usize,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum FormatArg {
    Auto,
    Rfc5424,
    Rfc3164,
    #[value(alias = "line")]
    Raw,
}

impl FormatArg {
    fn hint(self) -> FormatHint {
        match self {
            FormatArg::Auto => FormatHint::Auto,
            FormatArg::Rfc5424 => FormatHint::Rfc5424,
            FormatArg::Rfc3164 => FormatHint::Rfc3164,
            FormatArg::Raw => FormatHint::Raw,
        }
    }
}

pub(crate) fn parse_lines(args: ParseArgs) -> anyhow::Result<ExitCode> {
    use std::io::BufRead;
    let payload = match args.payload.as_str() {
        "auto" => None,
        name => Some(Payload::from_name(name).with_context(|| {
            format!(
                "--payload {name}: expected auto or one of {}",
                Payload::ALL.map(Payload::name).join(", ")
            )
        })?),
    };
    let opts = ParseOptions {
        format: args.format.hint(),
        payload,
        max_len: args.max_len,
        year: args.year,
        month: None,
        local_offset: Zone::named(&args.timezone).context("--timezone")?.offset(),
    };
    let input: Box<dyn BufRead> = match &args.input {
        Some(path) => Box::new(std::io::BufReader::new(
            std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?,
        )),
        None => Box::new(std::io::stdin().lock()),
    };
    let mut out = BufWriter::new(std::io::stdout().lock());
    for line in input.split(b'\n') {
        let line = line.context("reading input")?;
        let event = detector::parse::parse(&line, &opts);
        writeln!(out, "{}", ingest::output::json::event_json(&event))?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
