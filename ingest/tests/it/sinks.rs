//! Alert sinks on a running appliance: RFC 5424 syslog over TCP to a receiver in the other
//! namespace that stops mid-run (alerts are spooled, then replayed in order when it is back,
//! none lost), and a JSON-lines file that logrotate moves away (reopened on SIGHUP).
//!
//! Runs as root (CI does). Skips, saying why, only on a kernel without BPF or AF_XDP.

use std::{
    io::{BufRead, BufReader, Read},
    net::{TcpListener, UdpSocket},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
        mpsc,
    },
    thread::JoinHandle,
    time::Duration,
};

use crate::common::{Ingest, Outcome, TempDir, drops_total, scrape_until, test_network};
use testbed::netns::{self, VethPair};

const RULES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../detector/rules/sigma-linux");
const SIEM_PORT: u16 = 6514;

fn shellshock(i: usize) -> String {
    format!("<13>Nov 22 10:00:00 web1 httpd[3]: GET /cgi-bin/{i} UA: () {{ :; }}; /bin/id")
}

/// A syslog receiver (RFC 6587 octet counting) in the sender's namespace; every message it
/// reads goes to `messages`. Stops, closing its socket and connection, when dropped.
struct Siem {
    stop: Arc<AtomicBool>,
    join: Option<JoinHandle<()>>,
}

impl Siem {
    fn start(pair: &VethPair, messages: mpsc::Sender<String>) -> Self {
        let listener =
            VethPair::run_in(&pair.ns_a, || TcpListener::bind((netns::ADDR_A, SIEM_PORT)))
                .unwrap()
                .expect("binding the receiver");
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let join = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                let Ok((stream, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                stream.set_nonblocking(false).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_millis(20)))
                    .unwrap();
                let mut reader = BufReader::new(stream);
                while !flag.load(Ordering::Relaxed) {
                    let mut len = Vec::new();
                    match reader.read_until(b' ', &mut len) {
                        Ok(0) => break,
                        Ok(_) => {}
                        Err(_) => continue, // timeout: look at the flag
                    }
                    let n: usize = String::from_utf8_lossy(&len).trim().parse().unwrap();
                    let mut msg = vec![0; n];
                    reader.read_exact(&mut msg).unwrap();
                    let _ = messages.send(String::from_utf8(msg).unwrap());
                }
            }
        });
        Siem {
            stop,
            join: Some(join),
        }
    }
}

impl Drop for Siem {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(j) = self.join.take() {
            let _ = j.join();
        }
    }
}

fn send(pair: &VethPair, range: std::ops::Range<usize>) {
    VethPair::run_in(&pair.ns_a, || {
        let sock = UdpSocket::bind((netns::ADDR_A, 0))?;
        for i in range {
            sock.send_to(shellshock(i).as_bytes(), (netns::ADDR_B, 514))?;
        }
        std::io::Result::Ok(())
    })
    .unwrap()
    .unwrap();
}

fn receive(rx: &mpsc::Receiver<String>, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            rx.recv_timeout(Duration::from_secs(10))
                .unwrap_or_else(|_| panic!("message {i} of {n} never reached the receiver"))
        })
        .collect()
}

#[test]
fn alerts_survive_a_receiver_outage_and_the_file_follows_logrotate() {
    let Some(pair) = test_network() else {
        return;
    };
    let dir = TempDir::new("sinks");
    let file = dir.0.join("alerts.jsonl");
    let config = dir.0.join("ingest.toml");
    std::fs::write(
        &config,
        format!(
            "[[sink]]\nkind = \"syslog\"\nname = \"siem\"\naddress = \"{}:{SIEM_PORT}\"\n\
             protocol = \"tcp\"\nspool_dir = \"{}\"\n\n\
             [[sink]]\nkind = \"file\"\nname = \"file\"\npath = \"{}\"\n",
            netns::ADDR_A,
            dir.0.join("spool").display(),
            file.display()
        ),
    )
    .unwrap();
    let (tx, rx) = mpsc::channel();
    let siem = Siem::start(&pair, tx.clone());
    let addr = "127.0.0.1:9514";
    let ingest = Ingest::start(
        &pair,
        "sinks",
        &["--config", config.to_str().unwrap(), "--rules", RULES],
    );
    assert_eq!(ingest.ready["xdp_mode"], "native", "{}", ingest.ready);

    // Up: delivered as they come, as RFC 5424 lines carrying the alert's JSON.
    send(&pair, 0..3);
    let first = receive(&rx, 3);
    for (i, line) in first.iter().enumerate() {
        assert!(
            line.starts_with("<107>1 "),
            "facility 13, severity 3 (high): {line}"
        );
        assert!(line.contains(" ingest - alert - {"), "{line}");
        assert!(line.contains(&format!("/cgi-bin/{i} ")), "in order: {line}");
    }

    // Down: the receiver stops; alerts go to the spool.
    drop(siem);
    send(&pair, 3..7);
    let down = scrape_until(&pair, addr, "4 spooled", Duration::from_secs(10), |s| {
        s.sum("ingest_sink_records_spooled_total", &[("sink", "siem")]) == 4.0
    });
    assert_eq!(
        down.sum("ingest_sink_spool_records", &[("sink", "siem")]),
        4.0
    );
    assert!(rx.try_recv().is_err(), "nothing arrives while it is down");

    // Back: the spool is replayed in order, then new alerts follow.
    let _siem = Siem::start(&pair, tx);
    let replayed = receive(&rx, 4);
    for (line, i) in replayed.iter().zip(3..) {
        assert!(line.contains(&format!("/cgi-bin/{i} ")), "in order: {line}");
    }

    // logrotate moves the file away and sends SIGHUP; the next alert goes to a new file.
    let rotated = dir.0.join("alerts.jsonl.1");
    std::fs::rename(&file, &rotated).unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(ingest.pid() as i32),
        nix::sys::signal::Signal::SIGHUP,
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    send(&pair, 7..8);
    let last = receive(&rx, 1);
    assert!(last[0].contains("/cgi-bin/7 "), "{last:?}");

    let Outcome {
        report,
        lines,
        messages,
    } = ingest.stop_after(8 + 8);
    assert_eq!(messages.len(), 8, "{lines:#?}");
    assert_eq!(drops_total(&report), 0, "{report:#}");
    let sinks = report["sinks"].as_array().expect("sink reports");
    let siem = sinks.iter().find(|s| s["name"] == "siem").unwrap();
    assert_eq!(siem["delivered"], 8, "{siem}");
    assert_eq!(siem["spooled"], 4, "{siem}");
    assert_eq!(siem["replayed"], 4, "{siem}");
    assert_eq!(siem["dropped_queue_full"], 0, "{siem}");
    assert_eq!(siem["dropped_undeliverable"], 0, "{siem}");
    assert_eq!(siem["spool_pending"], 0, "{siem}");
    let file_sink = sinks.iter().find(|s| s["name"] == "file").unwrap();
    assert_eq!(file_sink["delivered"], 8, "{file_sink}");
    let old = std::fs::read_to_string(&rotated).unwrap();
    let new = std::fs::read_to_string(&file).unwrap();
    assert_eq!(
        (old.lines().count(), new.lines().count()),
        (7, 1),
        "{lines:#?}"
    );
    // Sinks write ECS lines unless told otherwise.
    let alert: serde_json::Value = serde_json::from_str(new.trim()).unwrap();
    assert_eq!(alert["rule"]["name"], "Shellshock Expression");
    assert_eq!(alert["event"]["kind"], "alert");
    assert_eq!(report["alerts_raised_total"], 8);
}
