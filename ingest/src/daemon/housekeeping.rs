//! What `ingest run`'s housekeeping thread does with the workers' output and the outside world:
//! prints messages (with `--print`) and alerts as JSON lines, counts alerts by rule, hands alerts
//! to the sinks, answers metrics scrapes, and reloads configuration and rules on SIGHUP or
//! `ingest reload`.
//!
//! A reload reads the configuration again and compiles the rules on a thread of its own, so the
//! housekeeping loop keeps draining the workers meanwhile. Only when everything loaded does each
//! worker get a new detector, which it puts in place between two batches: no message is
//! skipped, and an invalid configuration or rule leaves the running one untouched. Alerts carry
//! the generation of the rule set that raised them, so one raised just before a swap is still
//! named by the rules it came from. State tables (threshold windows, templates, baselines)
//! start empty with the new rules.

use std::{
    io::Write,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
        mpsc,
    },
    thread::JoinHandle,
    time::Duration,
};

use detector::engine::{Blueprint, EngineOptions, LearningOptions};

use crate::{
    config::Config,
    daemon::running::{OutputSink, Running},
    datapath::pipeline::{MessageCopy, Parsing, WorkerAlert},
    metrics::{self, AlertCounts, Refusal, Reply, Request},
    output::{
        AlertFormat,
        ecs::alert_ecs,
        sinks::{Outgoing, Sinks},
    },
    rules::{AlertFacts, Rules, alert_json, load_rules, rule_meta, severity},
};

/// Reads the configuration again, as at start (the file, with the command line over it), or
/// says why it cannot.
pub type Reconfigure = Arc<dyn Fn() -> Result<Config, Refusal> + Send + Sync>;

/// Why a reload did not load.
#[derive(Debug, thiserror::Error)]
enum ReloadError {
    /// The configuration.
    #[error("the configuration")]
    Config(#[source] Refusal),
    /// The rules.
    #[error("the rules")]
    Rules(#[source] crate::rules::RulesError),
    /// The TLS listener's settings or files.
    #[error("the TLS listener: {0}")]
    TlsSettings(String),
    /// The TLS listener's certificates or key.
    #[error("the TLS listener")]
    Tls(#[source] crate::tls::TlsError),
}

/// The learning options a configuration asks for.
pub fn learning(config: &Config) -> Option<LearningOptions> {
    let defaults = LearningOptions::default();
    config.learn.then_some(LearningOptions {
        warmup_messages: config.learn_warmup,
        baselines: detector::baseline::BaselineOptions {
            interval_ns: config.learn_interval.saturating_mul(1_000_000_000),
            ..defaults.baselines
        },
    })
}

/// How long sinks may take to deliver what they hold when they are replaced.
const SINK_CLOSE: Duration = Duration::from_secs(2);

/// The engines a configuration asks for, for `rules` (compiled now: the slow part; do it off
/// the workers' threads).
pub fn blueprint(rules: &Rules, config: &Config) -> Blueprint {
    Blueprint::new(
        rules,
        EngineOptions {
            learning: learning(config),
            clock: config.clock,
            budget_bytes: config.detector_budget_bytes(),
        },
    )
}

/// A reload that loaded: the configuration, its rules, and the blueprint of their engines.
struct Loaded {
    config: Config,
    rules: Arc<Rules>,
    blueprint: Blueprint,
    /// The TLS listener's configuration, its files read again.
    tls: Option<crate::tls::ServerTls>,
}

/// The housekeeping side of `ingest run`.
pub struct Housekeeper<W: Write> {
    out: W,
    /// Print each message (`--print`); messages may also come out for event sinks only.
    print: bool,
    error: Option<std::io::Error>,
    parsing: Parsing,
    /// Rule sets by generation, oldest first; the last is the one workers are moving to.
    rule_sets: Vec<(u32, Arc<Rules>)>,
    /// Sets older than this can no longer have alerts on their way.
    retire_below: u32,
    alerts: AlertCounts,
    requests: Option<mpsc::Receiver<Request>>,
    sinks: Sinks,
    hup: &'static AtomicBool,
    reconfigure: Reconfigure,
    /// The configuration in effect (fields that need a restart keep their start values).
    running: Config,
    job: Option<JoinHandle<Result<Loaded, ReloadError>>>,
    /// Who waits for the reload in progress.
    waiting: Vec<Reply>,
    /// A reload was asked for while one was running.
    again: bool,
    /// This run, for alert ids: its start time and process id.
    run_id: String,
    /// Alerts raised so far: each one's id is the run's and this count.
    alerts_out: u64,
    /// This appliance, as ECS alert lines name it.
    observer: crate::output::ecs::Observer,
    /// Parsed events handed to the sinks so far.
    events_out: u64,
    /// systemd's side: readiness, watchdog, reload and stop states.
    service: crate::service::Service,
    /// Reloads so far, for the metrics.
    reloads: crate::report::ReloadState,
    /// The latest alerts, for the web view.
    recent_alerts: metrics::RecentAlerts,
}

impl<W: Write> std::fmt::Debug for Housekeeper<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Housekeeper")
            .field("generation", &self.generation())
            .finish_non_exhaustive()
    }
}

impl<W: Write> Housekeeper<W> {
    /// Starts with the rule set of `running` (generation 0), writing lines to `out`.
    #[expect(
        clippy::too_many_arguments,
        reason = "each is a separate input of the loop, named at the one call site"
    )]
    pub fn new(
        out: W,
        print: bool,
        parsing: Parsing,
        rules: Arc<Rules>,
        requests: Option<mpsc::Receiver<Request>>,
        sinks: Sinks,
        hup: &'static AtomicBool,
        reconfigure: Reconfigure,
        running: Config,
    ) -> Self {
        Self {
            out,
            print,
            error: None,
            parsing,
            rule_sets: vec![(0, rules)],
            retire_below: 0,
            alerts: AlertCounts::default(),
            requests,
            sinks,
            hup,
            reconfigure,
            running,
            job: None,
            waiting: Vec::new(),
            again: false,
            run_id: format!(
                "{:x}-{}",
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos()),
                std::process::id()
            ),
            alerts_out: 0,
            observer: crate::output::ecs::Observer::this_host(),
            events_out: 0,
            service: crate::service::Service::new(None, None),
            reloads: crate::report::ReloadState::default(),
            recent_alerts: metrics::RecentAlerts::default(),
        }
    }

    /// Reloads so far.
    pub fn reloads(&self) -> crate::report::ReloadState {
        self.reloads.clone()
    }

    /// Tells `service` (systemd) about reloads, stops and the watchdog from now on.
    pub fn with_service(mut self, service: crate::service::Service) -> Self {
        self.service = service;
        self
    }

    /// The first error writing to `out`, if any (printing stopped there).
    pub fn error(&self) -> Option<&std::io::Error> {
        self.error.as_ref()
    }

    /// Delivers what the sinks hold and stops them; their final counters.
    pub fn close_sinks(&mut self, timeout: Duration) -> Vec<crate::output::sinks::SinkReport> {
        std::mem::take(&mut self.sinks).close(timeout)
    }

    fn generation(&self) -> u32 {
        self.rule_sets.last().map_or(0, |(g, _)| *g)
    }

    fn rules_of(&self, generation: u32) -> Arc<Rules> {
        self.rule_sets
            .iter()
            .find(|(g, _)| *g == generation)
            .or(self.rule_sets.last())
            .map(|(_, r)| r.clone())
            .expect("there is always a rule set")
    }

    fn write_line(&mut self, line: impl std::fmt::Display) {
        if self.error.is_none()
            && let Err(e) = writeln!(self.out, "{line}")
        {
            self.error = Some(e);
        }
    }

    /// Every counter now, with what this loop keeps (sinks, reloads) and the process's own use.
    fn live_report(&self, live: &mut Running<'_>) -> Result<crate::report::Report, Refusal> {
        live.report()
            .map(|mut report| {
                report.sinks = self.sinks.reports();
                report.reloads = self.reloads.clone();
                report.process = crate::sys::process::ProcessStats::read().ok();
                report
            })
            .map_err(|e| {
                Refusal(format!(
                    "reading the counters failed: {}",
                    crate::error_chain(&e)
                ))
            })
    }

    /// Starts loading the configuration and rules on a thread of its own.
    fn start_reload(&mut self) {
        if self.job.is_some() {
            self.again = true;
            return;
        }
        self.service.reloading();
        let reconfigure = self.reconfigure.clone();
        let job = std::thread::Builder::new()
            .name("reload".into())
            .spawn(move || {
                let config = reconfigure().map_err(ReloadError::Config)?;
                let rules = Arc::new(load_rules(&config.rules).map_err(ReloadError::Rules)?);
                let tls = config
                    .tls_settings()
                    .map_err(ReloadError::TlsSettings)?
                    .map(|s| s.load())
                    .transpose()
                    .map_err(ReloadError::Tls)?;
                let blueprint = blueprint(&rules, &config);
                Ok(Loaded {
                    config,
                    rules,
                    blueprint,
                    tls,
                })
            });
        match job {
            Ok(j) => self.job = Some(j),
            Err(e) => self.answer(Err(Refusal(format!("starting the reload: {e}")))),
        }
    }

    fn answer(&mut self, result: Result<String, Refusal>) {
        match &result {
            Ok(summary) => tracing::info!(outcome = "applied", "{summary}"),
            Err(e) => tracing::error!(outcome = "refused", "{e}"),
        }
        let message = match &result {
            Ok(summary) => summary,
            Err(e) => &e.0,
        };
        self.reloads.record(result.is_ok(), message);
        self.service.reloaded(message);
        for reply in self.waiting.drain(..) {
            let _ = reply.send(result.clone());
        }
    }

    /// Puts a loaded reload into effect.
    fn apply(&mut self, live: &mut Running<'_>, loaded: Loaded) -> Result<String, Refusal> {
        let generation = self.generation() + 1;
        let blueprint = &loaded.blueprint;
        live.replace_engines(generation, |_| Box::new(blueprint.engine()))
            .map_err(|e| Refusal(format!("reload not applied: {e}")))?;
        self.rule_sets.push((generation, loaded.rules.clone()));
        let tls_replaced = match loaded.tls {
            Some(tls) => live.replace_tls(tls),
            None => false,
        };
        let new = loaded.config;
        if new.sink != self.running.sink {
            let reports = self.close_sinks(SINK_CLOSE);
            for r in reports {
                tracing::info!(sink = %r.name, delivered = r.delivered, spool_pending = r.spool_pending, "alert sink replaced");
            }
            self.sinks = Sinks::start(&new.sink).unwrap_or_else(|e| {
                tracing::error!(
                    "starting the new alert sinks failed ({e}); alerts go to stdout only"
                );
                Sinks::default()
            });
        }
        let restart = needs_restart(&self.running, &new);
        self.running.rules = new.rules;
        self.running.learn = new.learn;
        self.running.learn_warmup = new.learn_warmup;
        self.running.learn_interval = new.learn_interval;
        self.running.clock = new.clock;
        self.running.detector_budget_mb = new.detector_budget_mb;
        self.running.sink = new.sink;
        if tls_replaced {
            self.running.tls_cert = new.tls_cert;
            self.running.tls_key = new.tls_key;
            self.running.tls_client_ca = new.tls_client_ca;
            self.running.tls_allowed_clients = new.tls_allowed_clients;
        }
        let rules = &loaded.rules;
        let mut summary = format!(
            "reloaded: rule set {generation}: {} Sigma, {} correlation, {} threshold and {} silence rules; {} alert sinks",
            rules.sigma.len(),
            rules.correlations.len(),
            rules.thresholds.len(),
            rules.silences.len(),
            self.running.sink.len(),
        );
        if tls_replaced {
            summary.push_str("; TLS certificates read again");
        }
        if !restart.is_empty() {
            summary.push_str(&format!(
                "; not applied until a restart: {}",
                restart.join(", ")
            ));
        }
        Ok(summary)
    }
}

/// The settings that differ between `running` and `new` and that only a restart applies.
pub fn needs_restart(running: &Config, new: &Config) -> Vec<String> {
    let mut live = vec![
        "rules",
        "learn",
        "learn_warmup",
        "learn_interval",
        "clock",
        "detector_budget_mb",
        "sink",
    ];
    // A running TLS listener takes new certificates and client rules; one that is not
    // running needs a restart to start.
    if !running.tls_ports.is_empty() && running.tls_ports == new.tls_ports {
        live.extend([
            "tls_cert",
            "tls_key",
            "tls_client_ca",
            "tls_allowed_clients",
        ]);
    }
    let table = |c: &Config| match toml::Table::try_from(c) {
        Ok(t) => t,
        Err(_) => toml::Table::new(),
    };
    let (a, b) = (table(running), table(new));
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut restart: Vec<String> = keys
        .into_iter()
        .filter(|k| !live.contains(&k.as_str()) && a.get(*k) != b.get(*k))
        .cloned()
        .collect();
    // Whether workers copy every message out is decided at start.
    let events = |c: &Config| c.sink.iter().any(|s| s.events);
    if events(running) != events(new) {
        restart.push("sink.events".into());
    }
    restart
}

impl<W: Write> OutputSink for Housekeeper<W> {
    fn on_sample(&mut self, sample: MessageCopy) {
        self.parsing
            .refresh_calendar(crate::datapath::pipeline::monotonic_ns());
        let opts = self.parsing.for_message(sample.dst_port, sample.src.ip());
        let event = detector::parse::parse(sample.bytes(), &opts);
        if self.print {
            self.write_line(message_json(&sample, &event));
        }
        if self.sinks.want_events() {
            self.events_out += 1;
            let mut json = crate::output::json::event_json(&event);
            json["src"] = sample.src.ip().to_string().into();
            json["dst_port"] = sample.dst_port.into();
            json["message"] = String::from_utf8_lossy(event.body).into();
            let host = event
                .host
                .map(|h| String::from_utf8_lossy(h).into_owned())
                .unwrap_or_else(|| sample.src.ip().to_string());
            self.sinks.send(&Arc::new(Outgoing {
                id: format!("{}-e{}", self.run_id, self.events_out),
                json: json.to_string(),
                ecs: None,
                level: String::new(),
                severity: event.pri.map_or(6, |p| p.severity.code()),
                time: std::time::SystemTime::now(),
                event_host: Some(subject_token(&host)),
            }));
        }
    }

    fn on_alert(&mut self, alert: WorkerAlert) {
        let rules = self.rules_of(alert.generation);
        let meta = rule_meta(&rules, alert.alert.rule);
        let id = meta.id.as_deref().unwrap_or(meta.title);
        self.alerts
            .add(id, meta.title, meta.kind, meta.level.name());
        let level = meta.level;
        let facts = AlertFacts::of(&alert);
        let line = alert_json(&rules, alert.alert.rule, &facts);
        self.recent_alerts.push(&line);
        self.alerts_out += 1;
        let alert_id = format!("{}-{}", self.run_id, self.alerts_out);
        let stdout_ecs = self.running.alert_format == AlertFormat::Ecs;
        let now = std::time::SystemTime::now();
        // The ECS line, for the sinks and stdout that take it: the message parsed again here,
        // off the workers, for its header and fields.
        let ecs = (stdout_ecs || self.sinks.want_ecs()).then(|| {
            let opts = self
                .parsing
                .for_message(alert.sample.dst_port, alert.sample.src.ip());
            let event =
                (!facts.message.is_empty()).then(|| detector::parse::parse(facts.message, &opts));
            alert_ecs(
                &meta,
                &facts,
                event.as_ref(),
                &alert_id,
                &self.observer,
                now,
            )
        });
        if !self.sinks.is_empty() {
            self.sinks.send(&Arc::new(Outgoing {
                id: alert_id,
                json: line.to_string(),
                ecs: ecs.as_ref().map(ToString::to_string),
                level: level.name().to_string(),
                severity: severity(level),
                time: now,
                event_host: None,
            }));
        }
        match ecs {
            Some(ecs) if stdout_ecs => self.write_line(ecs),
            _ => self.write_line(line),
        }
    }

    fn flush(&mut self) {
        if self.error.is_none()
            && let Err(e) = self.out.flush()
        {
            self.error = Some(e);
        }
    }

    fn on_stop(&mut self) {
        self.service.stopping();
    }

    fn on_round(&mut self, live: &mut Running<'_>) {
        self.service.tick(|| match live.report() {
            Ok(r) => format!(
                "{} messages received, {} alerts, {} named drops",
                r.messages_received_total,
                r.alerts_raised_total,
                r.drops_total()
            ),
            Err(e) => format!("counters unreadable: {e}"),
        });
        if self.hup.swap(false, Ordering::Relaxed) {
            // Reopened whatever the reload finds: logrotate's SIGHUP must always be obeyed.
            tracing::info!("SIGHUP: reopening the sinks, reloading the configuration and rules");
            self.sinks.reopen();
            self.start_reload();
        }
        if self.job.as_ref().is_some_and(JoinHandle::is_finished) {
            let job = self.job.take().expect("checked");
            let result = match job.join() {
                Ok(Ok(loaded)) => self.apply(live, loaded),
                Ok(Err(e)) => Err(Refusal(format!(
                    "reload rejected, the running configuration and rules stay: {}",
                    crate::error_chain(&e)
                ))),
                Err(_) => Err(Refusal("reload failed: the loading thread panicked".into())),
            };
            self.answer(result);
            if std::mem::take(&mut self.again) {
                self.start_reload();
            }
        }
        if self.rule_sets.len() > 1 {
            // An alert of a set older than every worker's was queued before the worker published
            // its newer generation, so the previous round's drain already printed it.
            let oldest = live.generations().into_iter().min().unwrap_or(0);
            let retire_below = self.retire_below;
            self.rule_sets.retain(|(g, _)| *g >= retire_below);
            self.retire_below = oldest;
        }
        let Some(requests) = &self.requests else {
            return;
        };
        let mut reload = false;
        while let Ok(request) = requests.try_recv() {
            match request {
                Request::Metrics(reply) => {
                    let text = self
                        .live_report(live)
                        .map(|report| metrics::render(&report, &self.alerts));
                    let _ = reply.send(text);
                }
                Request::State(reply) => {
                    let text = self
                        .live_report(live)
                        .map(|report| metrics::state_json(&report, &self.recent_alerts));
                    let _ = reply.send(text);
                }
                Request::Reload(reply) => {
                    self.waiting.push(reply);
                    reload = true;
                }
            }
        }
        if reload {
            self.start_reload();
        }
    }
}

/// `text` as one NATS subject token: letters, digits, `-` and `_` kept, anything else (the
/// `.` that separates tokens, wildcards, spaces) as `_`; empty as `-`.
pub fn subject_token(text: &str) -> String {
    let token: String = text
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if token.is_empty() { "-".into() } else { token }
}

/// The JSON line of a printed message.
fn message_json(s: &MessageCopy, event: &detector::parse::Event<'_>) -> serde_json::Value {
    serde_json::json!({
        "event": "message",
        "worker": s.worker,
        "path": s.path,
        "src": s.src.to_string(),
        "vlan": s.vlan,
        "dst_port": s.dst_port,
        "message": String::from_utf8_lossy(s.bytes()),
        "len": s.len,
        "truncated": s.truncated(),
        "parsed": crate::output::json::event_json(event),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_become_single_subject_tokens() {
        assert_eq!(subject_token("web1"), "web1");
        assert_eq!(subject_token("198.18.0.1"), "198_18_0_1");
        assert_eq!(subject_token("a*b >c"), "a_b__c");
        assert_eq!(subject_token(""), "-");
    }

    #[test]
    fn only_settings_a_reload_cannot_apply_are_reported() {
        let a = Config {
            iface: Some("eth0".into()),
            ..Config::default()
        };
        let mut b = a.clone();
        b.rules = vec!["/etc/ingest/rules".into()];
        b.learn = true;
        assert!(needs_restart(&a, &b).is_empty());
        b.queues = vec![0, 1];
        b.iface = Some("eth1".into());
        assert_eq!(needs_restart(&a, &b), ["iface", "queues"]);
        b.sink = vec![
            toml::from_str("kind = \"nats\"\naddress = \"nats://h:4222\"\nevents = true").unwrap(),
        ];
        assert_eq!(needs_restart(&a, &b), ["iface", "queues", "sink.events"]);
    }
}
