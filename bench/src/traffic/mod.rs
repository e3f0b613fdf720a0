//! `bench gen`: labelled syslog traffic written as a pcap, seeded and reproducible.
//!
//! Many hosts (a heavy-tailed share of the traffic each: Zipf, exponent 1.1) send the lines of
//! the LogHub samples (OpenSSH, Linux, HDFS, Apache; compiled into the binary) as RFC 3164,
//! RFC 5424 (half of them with structured data), CEF or JSON, one format per host. A tenth of the
//! hosts send over IPv6 and a tenth of them VLAN-tagged. Into that, labelled anomalies:
//!
//! - `brute_force`: bursts of "Failed password" from chosen attacker addresses, logged by an
//!   SSH server (the native `ssh-brute-force` rule should fire, keyed by the attacker);
//! - `sigma`: messages that match a SigmaHQ rule (Shellshock);
//! - `new_template`: after most of the capture, kinds of message never seen before;
//! - `rate_spike`: one host's app at fifty times its rate for a while;
//! - `silence`: a steady host that stops sending halfway.
//!
//! One message in 500 is long (over 3000 bytes): its datagram goes as IP fragments, as a
//! sender's kernel would send it on a 1500-byte link, and the appliance must reassemble it on
//! its socket path. The labels (what, which rule should fire, the sender and key, when, how
//! many messages) are written as JSON beside the pcap.

use anyhow::Context as _;
use std::net::IpAddr;
use std::path::PathBuf;

use serde::Serialize;

mod hosts;
mod pcap;
mod rewrite;

use hosts::*;
pub use pcap::{read_pcap, write_pcap};
pub use rewrite::{Rewrite, first_of_datagram, rewrite, tagged_fragments};

/// What to generate.
#[derive(Clone, Copy, Debug)]
pub struct GenOptions {
    /// Seed of everything random.
    pub seed: u64,
    /// Regular messages (anomalies come on top).
    pub messages: usize,
    /// Messages per second of capture time.
    pub rate: f64,
    /// Sending hosts.
    pub hosts: usize,
}

/// One injected anomaly.
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq)]
pub struct Label {
    /// `brute_force`, `sigma`, `new_template`, `rate_spike` or `silence`.
    pub kind: String,
    /// The rule that should fire (its id).
    pub rule: String,
    /// The sending host's address.
    pub sender: IpAddr,
    /// What the alert should be about: the attacker's address, the host, the template.
    pub key: String,
    /// Capture time of the first message (or, for a silence, of the last one sent), seconds.
    pub start_s: f64,
    /// Capture time of the last message (for a silence: the end of the capture).
    pub end_s: f64,
    /// Messages it injected (0 for a silence).
    pub messages: u64,
    /// Injected by the generator; false for what the LogHub background holds of its own (found
    /// by an independent count, see [`background_brute_force`]): an alert on it is right, but
    /// recall is scored on the injected ones.
    pub injected: bool,
}

/// The labels file beside a capture.
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq)]
pub struct LabelFile {
    /// The generator's seed.
    pub seed: u64,
    /// Capture time, seconds.
    pub duration_s: f64,
    /// Datagrams before every line of every corpus has been sent at least once: a detector
    /// that learns templates should warm up on this many (`ingest run --learn-warmup`).
    pub warmup_messages: u64,
    /// The anomalies.
    pub labels: Vec<Label>,
}

/// A generated capture.
#[derive(Debug)]
pub struct Capture {
    /// Frames with their capture time, nanoseconds from the start, in time order.
    pub frames: Vec<(u64, Vec<u8>)>,
    /// The anomalies in it.
    pub labels: Vec<Label>,
    /// Capture time, seconds.
    pub duration_s: f64,
    /// See [`LabelFile::warmup_messages`].
    pub warmup_messages: u64,
    /// UDP datagrams in it (a fragmented one counts once).
    pub datagrams: u64,
    /// Fragments with a VLAN tag: a receiver's kernel without a VLAN device for the tag drops
    /// them (as not for this host), so their datagrams cannot be reassembled there.
    pub tagged_fragments: u64,
    /// The datagrams those fragments carry.
    pub tagged_fragmented_datagrams: u64,
}

/// Generates a capture.
pub fn generate(opts: GenOptions) -> Capture {
    let mut rng = Rng(opts.seed);
    let hosts: Vec<Host> = (0..opts.hosts.max(8)).map(|i| host(i, &mut rng)).collect();
    let lines: Vec<Vec<(String, String, String)>> = CORPORA
        .iter()
        .map(|(_, text)| text.lines().map(split_line).collect())
        .collect();
    // Zipf weights, as a cumulative table to draw from.
    let mut cumulative = Vec::with_capacity(hosts.len());
    let mut total = 0.0;
    for i in 0..hosts.len() {
        total += 1.0 / ((i + 1) as f64).powf(1.1);
        cumulative.push(total);
    }
    let duration_s = opts.messages as f64 / opts.rate;
    // The anomalies' actors: an SSH server and a web server that log through syslog (a CEF
    // sender names no app), two attackers, and a spiking and a silent host that send steadily.
    let syslog_host = |corpus: usize| {
        hosts
            .iter()
            .position(|h| h.corpus == corpus && !matches!(h.format, Format::Cef))
            .unwrap_or(0)
    };
    let ssh_server = syslog_host(0);
    let web_server = syslog_host(3);
    let silent = hosts.len() / 4;
    let spiking = hosts.len() / 3;
    let attackers = ["203.0.113.66", "198.51.100.23"];
    // Until every line of every corpus has been sent once, each host sends its corpus's lines
    // in a shuffled order instead of at random (the same mix of templates): a detector that
    // learns templates has then seen every one, and after that only the injected kinds are new.
    let mut repertoire: Vec<Vec<usize>> = lines
        .iter()
        .map(|c| {
            let mut order: Vec<usize> = (0..c.len()).collect();
            for i in (1..order.len()).rev() {
                order.swap(i, rng.below(i + 1));
            }
            order
        })
        .collect();
    let mut covered_at = None;
    // Long messages (a stack trace, a dump: fragmented on the wire) come in a few kinds, each
    // first sent during the warm-up.
    let long = |corpus: usize, lines: &[Vec<(String, String, String)>]| {
        let body = &lines[corpus][0].2;
        let mut long = body.clone();
        while long.len() < 3000 {
            long.push_str(" | ");
            long.push_str(body);
        }
        long
    };
    let mut out: Vec<(u64, Vec<u8>)> = Vec::with_capacity(opts.messages + 1000);
    let mut sent: Vec<Sent> = Vec::with_capacity(opts.messages + 1000);
    let mut labels = Vec::new();
    let ns = |t: f64| (t * 1e9) as u64;
    let mut send =
        |out: &mut Vec<(u64, Vec<u8>)>, h: usize, app: &str, pid: &str, body: &str, t| {
            push(
                out,
                ns(t),
                frame(&hosts[h], &render(&hosts[h], app, pid, body, t)),
            );
            sent.push(Sent {
                t,
                host: h,
                app: app.to_string(),
                body: body.to_string(),
            });
        };
    let mut silent_last = 0.0f64;

    for i in 0..opts.messages {
        let t = i as f64 / opts.rate;
        let r = rng.unit() * total;
        let mut h = cumulative.partition_point(|c| *c < r).min(hosts.len() - 1);
        if h == silent && t >= duration_s / 2.0 {
            h = (h + 1) % hosts.len(); // it went quiet: someone else sends this one
        }
        if h == silent {
            silent_last = t;
        }
        let c = hosts[h].corpus;
        let line = match repertoire[c].pop() {
            Some(line) => line,
            None => rng.below(lines[c].len()),
        };
        if covered_at.is_none() && repertoire.iter().all(Vec::is_empty) {
            covered_at = Some(t);
        }
        let (app, pid, body) = &lines[c][line];
        let body = if (covered_at.is_none() && line == 0) || rng.below(500) == 0 {
            long(c, &lines)
        } else {
            body.clone()
        };
        send(&mut out, h, app, pid, &body, t);
    }
    let covered_at = covered_at.unwrap_or(duration_s);
    // The silent host and the spiking host are steady before: two messages a second, and one.
    let (steady_app, steady_pid, steady_body) = lines[hosts[spiking].corpus][1].clone();
    let mut t = 0.25;
    while t < duration_s {
        if t < duration_s / 2.0 {
            let hc = hosts[silent].corpus;
            let (app, pid, body) = &lines[hc][rng.below(lines[hc].len())];
            send(&mut out, silent, app, pid, body, t);
            silent_last = silent_last.max(t);
        }
        if t.fract() < 0.5 {
            send(
                &mut out,
                spiking,
                &steady_app,
                &steady_pid,
                &steady_body,
                t + 0.1,
            );
        }
        t += 0.5;
    }
    labels.push(Label {
        kind: "silence".into(),
        rule: "quiet-host".into(),
        sender: hosts[silent].addr,
        key: hosts[silent].name.clone(),
        start_s: silent_last,
        end_s: duration_s,
        messages: 0,
        injected: true,
    });

    // Brute force: 20 failures in 5 s from each attacker, at a fifth and at half of the capture.
    for (k, attacker) in attackers.iter().enumerate() {
        let start = duration_s * (0.2 + 0.3 * k as f64);
        for j in 0..20 {
            let t = start + j as f64 * 0.25;
            let body = format!(
                "Failed password for root from {attacker} port {} ssh2",
                40_000 + j
            );
            send(&mut out, ssh_server, "sshd", "4711", &body, t);
        }
        labels.push(Label {
            kind: "brute_force".into(),
            rule: "ssh-brute-force".into(),
            sender: hosts[ssh_server].addr,
            key: (*attacker).into(),
            start_s: start,
            end_s: start + 19.0 * 0.25,
            messages: 20,
            injected: true,
        });
    }

    // Sigma: five Shellshock attempts against a web server.
    let start = duration_s * 0.4;
    for j in 0..5 {
        let t = start + j as f64;
        let body = format!("GET /cgi-bin/status{j} UA: () {{ :; }}; /bin/cat /etc/passwd");
        send(&mut out, web_server, "httpd", "80", &body, t);
    }
    labels.push(Label {
        kind: "sigma".into(),
        rule: "c67e0c98-4d39-46ee-8f6b-437ebf6b950e".into(),
        sender: hosts[web_server].addr,
        key: "Shellshock Expression".into(),
        start_s: start,
        end_s: start + 4.0,
        messages: 5,
        injected: true,
    });
    // Never seen before either: a template miner should say so.
    labels.push(Label {
        kind: "new_template".into(),
        rule: "new_template".into(),
        sender: hosts[web_server].addr,
        key: "/bin/cat /etc/passwd".into(),
        start_s: start,
        end_s: start,
        messages: 1,
        injected: true,
    });

    // New templates: three kinds of message never seen, late in the capture.
    for j in 0..3 {
        let t = duration_s * 0.8 + j as f64;
        let body = match j {
            0 => "kernel: watchdog: BUG: soft lockup - CPU stuck for 23s".to_string(),
            1 => "backup agent: snapshot volume vanished during copy".to_string(),
            _ => "license server: seat table corrupted, rebuilding".to_string(),
        };
        send(&mut out, 0, "daemon", "9", &body, t);
        labels.push(Label {
            kind: "new_template".into(),
            rule: "new_template".into(),
            sender: hosts[0].addr,
            key: body,
            start_s: t,
            end_s: t,
            messages: 1,
            injected: true,
        });
    }

    // Rate spike: the spiking host's steady message at fifty a second for five seconds, at 60 %.
    let start = duration_s * 0.6;
    let n = 250u64;
    for j in 0..n {
        let t = start + j as f64 / 50.0;
        send(&mut out, spiking, &steady_app, &steady_pid, &steady_body, t);
    }
    labels.push(Label {
        kind: "rate_spike".into(),
        rule: "rate_spike".into(),
        sender: hosts[spiking].addr,
        key: hosts[spiking].name.clone(),
        start_s: start,
        end_s: start + 5.0,
        messages: n,
        injected: true,
    });

    // What the background holds of its own.
    sent.sort_by(|a, b| a.t.total_cmp(&b.t));
    let injected: Vec<String> = attackers.iter().map(|a| a.to_string()).collect();
    for (key, first, last, messages) in background_brute_force(&sent, &hosts) {
        if !injected.contains(&key) {
            labels.push(Label {
                kind: "brute_force".into(),
                rule: "ssh-brute-force".into(),
                sender: hosts[sent.iter().find(|m| m.t >= first).map_or(0, |m| m.host)].addr,
                key,
                start_s: first,
                end_s: last,
                messages,
                injected: false,
            });
        }
    }

    out.sort_by_key(|(t, _)| *t);
    let datagrams = out.iter().filter(|(_, f)| first_of_datagram(f)).count() as u64;
    let warmup_messages = out
        .iter()
        .filter(|(t, f)| *t <= ns(covered_at) && first_of_datagram(f))
        .count() as u64;
    let just_frames: Vec<&[u8]> = out.iter().map(|(_, f)| f.as_slice()).collect();
    let (tagged_fragments, tagged_fragmented_datagrams) = tagged_fragments(&just_frames);
    Capture {
        frames: out,
        labels,
        duration_s,
        warmup_messages,
        datagrams,
        tagged_fragments,
        tagged_fragmented_datagrams,
    }
}

/// The native `ssh-brute-force` rule's definition, counted independently of the detector: per
/// address named in "Failed password ... from ADDR port" by an app `sshd` (a CEF sender names
/// none), 8 or more within 120 s. Returns (address, first, last, messages) in time order of the
/// first.
fn background_brute_force(sent: &[Sent], hosts: &[Host]) -> Vec<(String, f64, f64, u64)> {
    let mut by_addr: std::collections::BTreeMap<String, Vec<f64>> = Default::default();
    for m in sent {
        if m.app != "sshd" || matches!(hosts[m.host].format, Format::Cef) {
            continue;
        }
        let Some(rest) = m.body.split_once("Failed password").map(|(_, r)| r) else {
            continue;
        };
        let addr = rest
            .split_once(" from ")
            .and_then(|(_, r)| r.split_once(" port"))
            .map(|(a, _)| a);
        if let Some(a) = addr.filter(|a| {
            a.chars()
                .all(|c| c.is_ascii_hexdigit() || c == '.' || c == ':')
        }) {
            by_addr.entry(a.to_string()).or_default().push(m.t);
        }
    }
    let mut found: Vec<(String, f64, f64, u64)> = by_addr
        .into_iter()
        .filter(|(_, times)| times.windows(8).any(|w| w[7] - w[0] <= 120.0))
        .map(|(a, times)| (a, times[0], times[times.len() - 1], times.len() as u64))
        .collect();
    found.sort_by(|a, b| a.1.total_cmp(&b.1));
    found
}

#[cfg(test)]
mod tests;

/// The arguments of `bench gen`.
#[derive(Debug, clap::Args)]
pub struct GenArgs {
    /// The pcap to write.
    #[arg(long)]
    pub(crate) out: PathBuf,
    /// The labels (default: the pcap's path with `.labels.json`).
    #[arg(long)]
    pub(crate) labels: Option<PathBuf>,
    /// Seed.
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
    /// Regular messages (anomalies come on top).
    #[arg(long, default_value_t = 100_000)]
    pub(crate) messages: usize,
    /// Messages per second of capture time.
    #[arg(long, default_value_t = 10_000.0)]
    pub(crate) rate: f64,
    /// Sending hosts.
    #[arg(long, default_value_t = 2000)]
    pub(crate) hosts: usize,
}

/// `bench gen`.
pub fn command(args: GenArgs) -> anyhow::Result<()> {
    let GenArgs {
        out,
        labels,
        seed,
        messages,
        rate,
        hosts,
    } = args;
    anyhow::ensure!(rate > 0.0, "--rate must be positive");
    let capture = generate(GenOptions {
        seed,
        messages,
        rate,
        hosts,
    });
    let mut file = std::io::BufWriter::new(
        std::fs::File::create(&out).with_context(|| format!("creating {}", out.display()))?,
    );
    write_pcap(&mut file, &capture.frames)?;
    std::io::Write::flush(&mut file)?;
    let labels = labels.unwrap_or_else(|| out.with_extension("labels.json"));
    let file = LabelFile {
        seed,
        duration_s: capture.duration_s,
        warmup_messages: capture.warmup_messages,
        labels: capture.labels.clone(),
    };
    std::fs::write(&labels, serde_json::to_vec_pretty(&file)?)
        .with_context(|| format!("writing {}", labels.display()))?;
    println!(
        "{}",
        serde_json::json!({
            "pcap": out,
            "labels": labels,
            "frames": capture.frames.len(),
            "datagrams": capture.datagrams,
            "tagged_fragments": capture.tagged_fragments,
            "tagged_fragmented_datagrams": capture.tagged_fragmented_datagrams,
            "anomalies": capture.labels.iter().filter(|l| l.injected).count(),
            "background_anomalies": capture.labels.iter().filter(|l| !l.injected).count(),
            "warmup_messages": capture.warmup_messages,
        })
    );
    Ok(())
}
