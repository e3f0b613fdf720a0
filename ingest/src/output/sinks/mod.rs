//! Alert sinks: where alerts go besides stdout. A JSON-lines file (reopened on SIGHUP, for
//! logrotate), RFC 5424 syslog forwarding to a SIEM over UDP or TCP, and NATS JetStream.
//!
//! Each sink runs on a thread of its own behind a bounded queue. The housekeeping thread never
//! waits for a sink: when a queue is full the alert is dropped and counted for that sink, so a
//! slow or dead sink cannot slow the workers (they never see sinks at all). When a sink cannot
//! deliver (the SIEM is down, the disk is full), the alert goes to the sink's spool file, up to
//! a byte limit, and is replayed in order once delivery works again; the spool survives a
//! restart. Every alert ends in exactly one of: delivered, spooled (then replayed), or a named
//! drop.
//!
//! Syslog over TCP has no acknowledgements: before each write the sink checks whether the peer
//! has closed, which catches a receiver that stopped, but an alert written into the socket
//! buffer just before the peer's host died cannot be known lost. JetStream acknowledges every
//! alert: one not acknowledged in time goes back to the spool and is published again, with its
//! id in `Nats-Msg-Id` so the server keeps one copy (within its duplicate window).

use std::{
    io,
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
        mpsc::{self, SyncSender, TrySendError},
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

mod config;
mod destination;
mod file;
mod nats;
mod outgoing;
mod spool;
mod syslog;
mod thread;

pub use config::{Protocol, SinkConfig, SinkKind};
use destination::Destination;
use file::FileDestination;
use nats::NatsDestination;
pub use outgoing::{Outgoing, SinkCounters, SinkReport};
use spool::Spool;
use syslog::SyslogDestination;
use thread::{RETRY_MIN, SinkThread, ToSink};

/// A running sink, as the housekeeping thread sees it.
#[derive(Debug)]
struct SinkHandle {
    name: String,
    /// Takes parsed events, not alerts.
    events: bool,
    /// The shape of its alert lines.
    format: crate::output::AlertFormat,
    tx: Option<SyncSender<ToSink>>,
    counters: Arc<SinkCounters>,
    join: Option<JoinHandle<()>>,
}

/// Every configured sink.
#[derive(Debug, Default)]
pub struct Sinks {
    sinks: Vec<SinkHandle>,
}

impl Sinks {
    /// Starts a thread for each sink. Fails only when a spool cannot be opened.
    pub fn start(configs: &[SinkConfig]) -> io::Result<Self> {
        let hostname = crate::sys::hostname().unwrap_or_else(|| "-".into());
        let mut sinks = Vec::new();
        let mut plans = Vec::new();
        for (i, c) in configs.iter().enumerate() {
            let kind = match c.kind {
                SinkKind::File => "file",
                SinkKind::Syslog => "syslog",
                SinkKind::Nats => "nats",
            };
            let name = c.name.clone().unwrap_or_else(|| format!("{kind}-{i}"));
            if c.events {
                plans.push((format!("{name}-events"), c, true));
            }
            plans.push((name, c, false));
        }
        for (name, c, events) in plans {
            let destination: Box<dyn Destination> = match c.kind {
                SinkKind::File => Box::new(FileDestination {
                    path: c.path.clone().unwrap_or_default(),
                    file: None,
                }),
                SinkKind::Syslog => Box::new(SyslogDestination {
                    address: c.address.clone().unwrap_or_default(),
                    protocol: c.protocol,
                    facility: c.facility,
                    hostname: hostname.clone(),
                    tls: c.tls().map(|t| (t, c.tls_server_name.clone())),
                    udp: None,
                    tcp: None,
                    line: Vec::new(),
                }),
                SinkKind::Nats => Box::new(NatsDestination::new(c)?),
            };
            let spool = c
                .spool_dir
                .as_ref()
                .map(|dir| Spool::open(spool_path(dir, &name), c.spool_max_bytes))
                .transpose()
                .map_err(|e| io::Error::new(e.kind(), format!("sink {name}: spool: {e}")))?;
            let counters = Arc::new(SinkCounters::default());
            if let Some(s) = &spool {
                counters.spool_pending.store(s.pending, Ordering::Relaxed);
            }
            let (tx, rx) = mpsc::sync_channel(c.queue.max(1));
            let thread = SinkThread {
                name: name.clone(),
                destination,
                spool,
                counters: counters.clone(),
                up: false,
                retry_at: Instant::now(),
                retry: RETRY_MIN,
            };
            let join = std::thread::Builder::new()
                .name(format!("sink-{name}"))
                .spawn(move || thread.run(rx))?;
            sinks.push(SinkHandle {
                name,
                events,
                format: c.format,
                tx: Some(tx),
                counters,
                join: Some(join),
            });
        }
        Ok(Self { sinks })
    }

    /// Hands `alert` to every sink without waiting, in the sink's shape (its ECS line when it
    /// has one and the sink asks for ECS); a full queue drops it for that sink.
    pub fn send(&self, alert: &Arc<Outgoing>) {
        // The ECS line as an alert of its own, made once for every sink that takes it.
        let mut as_ecs: Option<Arc<Outgoing>> = None;
        for s in &self.sinks {
            if s.events != alert.event_host.is_some() {
                continue;
            }
            let Some(tx) = &s.tx else { continue };
            let alert = match (&alert.ecs, s.format) {
                (Some(ecs), crate::output::AlertFormat::Ecs) => as_ecs
                    .get_or_insert_with(|| {
                        Arc::new(Outgoing {
                            json: ecs.clone(),
                            ecs: None,
                            ..(**alert).clone()
                        })
                    })
                    .clone(),
                _ => alert.clone(),
            };
            match tx.try_send(ToSink::Alert(alert)) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                    s.counters
                        .dropped_queue_full
                        .fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    /// Reopens file sinks and reconnects the others (SIGHUP, after logrotate moved the file).
    pub fn reopen(&self) {
        for s in &self.sinks {
            if let Some(tx) = &s.tx
                && tx.try_send(ToSink::Reopen).is_err()
            {
                tracing::warn!(sink = %s.name, "queue full, not reopened");
            }
        }
    }

    /// Whether there are any.
    pub fn is_empty(&self) -> bool {
        self.sinks.is_empty()
    }

    /// Whether any alert sink takes ECS lines.
    pub fn want_ecs(&self) -> bool {
        self.sinks
            .iter()
            .any(|s| !s.events && s.format == crate::output::AlertFormat::Ecs)
    }

    /// Whether any sink takes parsed events.
    pub fn want_events(&self) -> bool {
        self.sinks.iter().any(|s| s.events)
    }

    /// Every sink's counters now.
    pub fn reports(&self) -> Vec<SinkReport> {
        self.sinks
            .iter()
            .map(|s| {
                let c = &s.counters;
                let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
                SinkReport {
                    name: s.name.clone(),
                    delivered: get(&c.delivered),
                    spooled: get(&c.spooled),
                    replayed: get(&c.replayed),
                    dropped_queue_full: get(&c.dropped_queue_full),
                    dropped_undeliverable: get(&c.dropped_undeliverable),
                    failures: get(&c.failures),
                    spool_pending: get(&c.spool_pending),
                }
            })
            .collect()
    }

    /// Delivers what is queued (waiting up to `timeout` in all), stops every sink thread, and
    /// returns the final counters. Whatever a sink could not deliver stays in its spool.
    pub fn close(mut self, timeout: Duration) -> Vec<SinkReport> {
        for s in &mut self.sinks {
            s.tx = None;
        }
        let deadline = Instant::now() + timeout;
        for s in &mut self.sinks {
            while s.join.as_ref().is_some_and(|j| !j.is_finished()) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            match s.join.take() {
                Some(j) if j.is_finished() => {
                    let _ = j.join();
                }
                Some(_) => tracing::warn!(sink = %s.name, "still busy at exit"),
                None => {}
            }
        }
        self.reports()
    }
}

/// The spool file a sink named `name` uses in `dir`.
pub fn spool_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.spool"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(n: u32) -> Outgoing {
        Outgoing {
            id: format!("test-{n}"),
            json: format!("{{\"n\":{n}}}"),
            ecs: None,
            level: "high".into(),
            event_host: None,
            severity: 3,
            time: std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        }
    }

    /// A folder for one test; removed when dropped, also when an assertion fails.
    struct Temp(PathBuf);

    impl Drop for Temp {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn temp(name: &str) -> Temp {
        let dir = std::env::temp_dir().join(format!("ingest-sinks-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Temp(dir)
    }

    #[test]
    fn the_spool_replays_in_order_keeps_the_rest_and_respects_its_limit() {
        let tmp = temp("spool");
        let path = spool_path(&tmp.0, "s");
        let mut spool = Spool::open(path.clone(), 500).unwrap();
        let mut kept = 0;
        for n in 0..10 {
            if spool.push(&alert(n)).unwrap() {
                kept += 1;
            }
        }
        assert!((3..10).contains(&kept), "the byte limit stops it: {kept}");
        assert_eq!(spool.pending, kept);
        // Delivery fails after two: those two leave, the rest stays, in order.
        let mut seen = Vec::new();
        let n = spool
            .replay(|a| {
                if seen.len() == 2 {
                    return Err(io::Error::other("down"));
                }
                seen.push(a.json.clone());
                Ok(())
            })
            .unwrap();
        assert_eq!(
            (n, seen.as_slice()),
            (2, &["{\"n\":0}".to_string(), "{\"n\":1}".into()][..])
        );
        assert_eq!(spool.pending, kept - 2);
        // A restart finds what is left.
        let mut again = Spool::open(path, 500).unwrap();
        assert_eq!(again.pending, kept - 2);
        let mut rest = Vec::new();
        again
            .replay(|a| {
                rest.push(a.json.clone());
                assert_eq!(a.time, alert(0).time);
                Ok(())
            })
            .unwrap();
        assert_eq!(rest.first().map(String::as_str), Some("{\"n\":2}"));
        assert!(again.is_empty());
    }

    #[test]
    fn a_file_sink_appends_lines_and_reopens_after_rotation() {
        let tmp = temp("file");
        let dir = &tmp.0;
        let path = dir.join("alerts.jsonl");
        let config: SinkConfig = toml::from_str(&format!(
            "kind = \"file\"\npath = \"{}\"\nqueue = 16\n",
            path.display()
        ))
        .unwrap();
        let sinks = Sinks::start(&[config]).unwrap();
        sinks.send(&Arc::new(alert(1)));
        // logrotate: move the file away, then SIGHUP.
        let wait_for = |p: &Path, lines: usize| {
            for _ in 0..200 {
                if std::fs::read_to_string(p).is_ok_and(|t| t.lines().count() == lines) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            panic!("{} never had {lines} lines", p.display());
        };
        wait_for(&path, 1);
        std::fs::rename(&path, dir.join("alerts.jsonl.1")).unwrap();
        sinks.reopen();
        sinks.send(&Arc::new(alert(2)));
        let reports = sinks.close(Duration::from_secs(5));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"n\":2}\n");
        assert_eq!(
            std::fs::read_to_string(dir.join("alerts.jsonl.1")).unwrap(),
            "{\"n\":1}\n"
        );
        assert_eq!(reports[0].name, "file-0");
        assert_eq!(reports[0].delivered, 2);
    }

    #[test]
    fn an_unwritable_file_sink_spools_then_drops_and_counts_all() {
        let tmp = temp("unwritable");
        let dir = &tmp.0;
        // A folder cannot be opened for appending.
        let config: SinkConfig = toml::from_str(&format!(
            "kind = \"file\"\nname = \"audit\"\npath = \"{}\"\nqueue = 64\n\
             spool_dir = \"{}\"\nspool_max_bytes = 600\n",
            dir.display(),
            dir.join("spool").display()
        ))
        .unwrap();
        let sinks = Sinks::start(&[config]).unwrap();
        for n in 0..20 {
            sinks.send(&Arc::new(alert(n)));
        }
        let r = sinks.close(Duration::from_secs(5)).remove(0);
        assert_eq!(r.delivered, 0);
        assert!(r.spooled > 0 && r.dropped_undeliverable > 0, "{r:?}");
        assert_eq!(r.spooled + r.dropped_undeliverable, 20, "{r:?}");
        assert_eq!(r.spool_pending, r.spooled);
        assert!(r.failures >= 1);
    }

    /// A TLS syslog receiver on loopback, built with the listener's own configuration: takes
    /// one connection and returns what it read until the sender closed.
    fn tls_receiver(
        server: &testbed::tls::Issued,
    ) -> (u16, std::thread::JoinHandle<io::Result<Vec<u8>>>) {
        let settings = crate::tls::ServerSettings {
            cert: server.cert.clone(),
            key: server.key.clone(),
            ..Default::default()
        };
        let acceptor = crate::tls::Acceptor::new(settings.load().unwrap());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let join = std::thread::spawn(move || {
            let (tcp, _) = listener.accept()?;
            tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
            let session = acceptor.session().map_err(io::Error::other)?;
            let mut tls = rustls::StreamOwned::new(session, tcp);
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                match io::Read::read(&mut tls, &mut buf) {
                    Ok(0) => return Ok(got),
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                    // The sink closes without close_notify: what came before counts.
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(got),
                    Err(e) => return Err(e),
                }
            }
        });
        (port, join)
    }

    #[test]
    fn a_tls_syslog_sink_delivers_to_a_receiver_it_trusts_and_no_other() {
        let tmp = temp("tls");
        let site = testbed::tls::Pki::new(&tmp.0, "site");
        let rogue = testbed::tls::Pki::new(&tmp.0, "rogue");
        let server = site.issue("siem", "siem", &["127.0.0.1"]);
        let sink = |port: u16, ca: &Path| -> SinkConfig {
            toml::from_str(&format!(
                "kind = \"syslog\"\nprotocol = \"tls\"\naddress = \"127.0.0.1:{port}\"\n\
                 tls_ca = \"{}\"\n",
                ca.display()
            ))
            .unwrap()
        };

        let (port, receiver) = tls_receiver(&server);
        let config = sink(port, &site.ca());
        assert!(config.problems().is_empty(), "{:?}", config.problems());
        let sinks = Sinks::start(&[config]).unwrap();
        for n in 0..3 {
            sinks.send(&Arc::new(alert(n)));
        }
        let r = sinks.close(Duration::from_secs(5)).remove(0);
        assert_eq!(r.delivered, 3, "{r:?}");
        let got = String::from_utf8(receiver.join().unwrap().unwrap()).unwrap();
        // Octet-counted RFC 5424, one frame per alert, in order.
        let mut rest = got.as_str();
        for n in 0..3 {
            let (len, tail) = rest.split_once(' ').expect("an octet count");
            let (frame, tail) = tail.split_at(len.parse().unwrap());
            assert!(frame.starts_with("<107>1 "), "{frame}");
            assert!(frame.ends_with(&format!("{{\"n\":{n}}}")), "{frame}");
            rest = tail;
        }
        assert!(rest.is_empty(), "{got}");

        // A receiver whose certificate the sink's CA did not sign gets nothing.
        let (port, receiver) = tls_receiver(&server);
        let sinks = Sinks::start(&[sink(port, &rogue.ca())]).unwrap();
        sinks.send(&Arc::new(alert(9)));
        let r = sinks.close(Duration::from_secs(5)).remove(0);
        assert_eq!((r.delivered, r.dropped_undeliverable), (0, 1), "{r:?}");
        assert!(r.failures >= 1, "{r:?}");
        assert!(
            receiver.join().unwrap().is_err(),
            "the handshake failed on both ends"
        );
    }

    #[test]
    fn syslog_lines_are_rfc5424_with_the_level_as_severity() {
        let mut d = SyslogDestination {
            address: "198.18.0.1:514".into(),
            protocol: Protocol::Udp,
            facility: 13,
            hostname: "sensor1".into(),
            tls: None,
            udp: None,
            tcp: None,
            line: Vec::new(),
        };
        d.format(&alert(7));
        assert_eq!(
            String::from_utf8(d.line.clone()).unwrap(),
            "<107>1 2023-11-14T22:13:20.000000Z sensor1 ingest - alert - {\"n\":7}"
        );
        let parsed = detector::parse::parse(&d.line, &detector::parse::ParseOptions::default());
        assert_eq!(parsed.error, None);
        assert_eq!(parsed.app, Some(&b"ingest"[..]));
    }

    #[test]
    fn bad_sink_configs_are_named() {
        let c: SinkConfig = toml::from_str("kind = \"syslog\"\nfacility = 30\nqueue = 0").unwrap();
        let keys: Vec<&str> = c.problems().iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, ["address", "facility", "queue"]);
        let c: SinkConfig = toml::from_str("kind = \"file\"\npath = \"x\"\nevents = true").unwrap();
        let keys: Vec<&str> = c.problems().iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, ["events"]);
        let c: SinkConfig =
            toml::from_str("kind = \"nats\"\naddress = \"nats://h:4222\"\nstream = \"a.b\"")
                .unwrap();
        let keys: Vec<&str> = c.problems().iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, ["stream"]);
        assert!(toml::from_str::<SinkConfig>("kind = \"kafka\"").is_err());
        assert!(toml::from_str::<SinkConfig>("kind = \"file\"\npaht = \"x\"").is_err());
    }

    #[test]
    fn each_sink_gets_the_alert_in_its_own_shape() {
        let tmp = temp("format");
        let sink = |name: &str, format: &str| -> SinkConfig {
            toml::from_str(&format!(
                "kind = \"file\"\nname = \"{name}\"\npath = \"{}\"\n{format}",
                tmp.0.join(name).display()
            ))
            .unwrap()
        };
        let sinks = Sinks::start(&[
            sink("default", ""),
            sink("ecs", "format = \"ecs\""),
            sink("native", "format = \"native\""),
        ])
        .unwrap();
        assert!(sinks.want_ecs());
        sinks.send(&Arc::new(Outgoing {
            ecs: Some("{\"ecs\":7}".into()),
            ..alert(7)
        }));
        // A parsed event has no ECS line: every sink takes it as it is.
        sinks.send(&Arc::new(alert(8)));
        sinks.close(Duration::from_secs(5));
        let read = |name: &str| std::fs::read_to_string(tmp.0.join(name)).unwrap();
        assert_eq!(read("default"), "{\"ecs\":7}\n{\"n\":8}\n");
        assert_eq!(read("ecs"), read("default"));
        assert_eq!(read("native"), "{\"n\":7}\n{\"n\":8}\n");
    }
}
