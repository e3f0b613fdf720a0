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

use std::{
    io::{self, Write},
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
};

use detector::parse::{ParseOptions, parse};
use serde::Serialize;
use testbed::craft::UdpFrame;
use xdp_common::walk::{IpFragment, SourceAddr, Walk, walk};

/// The LogHub samples, with the kind of host that logs each.
const CORPORA: [(&str, &str); 4] = [
    (
        "OpenSSH",
        include_str!("../../detector/tests/data/loghub/OpenSSH_2k.log"),
    ),
    (
        "Linux",
        include_str!("../../detector/tests/data/loghub/Linux_2k.log"),
    ),
    (
        "HDFS",
        include_str!("../../detector/tests/data/loghub/HDFS_2k.log"),
    ),
    (
        "Apache",
        include_str!("../../detector/tests/data/loghub/Apache_2k.log"),
    ),
];

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

/// SplitMix64: small, fast, and the same sequence everywhere for a seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Rfc3164,
    Rfc5424,
    Rfc5424Sd,
    Cef,
    Json,
}

#[derive(Clone, Debug)]
struct Host {
    name: String,
    addr: IpAddr,
    vlan: Option<u16>,
    corpus: usize,
    format: Format,
}

const DST_V4: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const DST_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 2);
const SRC_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 1];
const DST_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 2];

fn host(i: usize, rng: &mut Rng) -> Host {
    let addr = if i % 10 == 9 {
        IpAddr::V6(Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, i as u16 + 16))
    } else {
        // 198.18.1.0 onwards: clear of the receiver's addresses.
        IpAddr::V4(Ipv4Addr::new(
            198,
            18 + (i >> 16) as u8,
            1 + (i >> 8) as u8,
            i as u8,
        ))
    };
    let format = match rng.below(10) {
        0..=4 => Format::Rfc3164,
        5 | 6 => Format::Rfc5424,
        7 => Format::Rfc5424Sd,
        8 => Format::Cef,
        _ => Format::Json,
    };
    Host {
        name: format!("host{i:04}"),
        addr,
        vlan: (i % 10 == 4).then_some(100 + (i % 7) as u16),
        corpus: rng.below(CORPORA.len()),
        format,
    }
}

/// `body` from `app` on `h` at capture time `t_s`, in the host's format.
fn render(h: &Host, app: &str, pid: &str, body: &str, t_s: f64) -> String {
    // Capture time from 2026-11-22T10:00:00Z.
    let secs = 36_000 + t_s as u64;
    let (hh, mm, ss) = (secs / 3600 % 24, secs / 60 % 60, secs % 60);
    let micros = ((t_s.fract()) * 1e6) as u64;
    match h.format {
        Format::Rfc3164 => format!(
            "<38>Nov 22 {hh:02}:{mm:02}:{ss:02} {} {app}[{pid}]: {body}",
            h.name
        ),
        Format::Rfc5424 | Format::Rfc5424Sd => {
            let sd = if h.format == Format::Rfc5424Sd {
                format!("[origin ip=\"{}\" software=\"{app}\"]", h.addr)
            } else {
                "-".into()
            };
            format!(
                "<38>1 2026-11-22T{hh:02}:{mm:02}:{ss:02}.{micros:06}Z {} {app} {pid} - {sd} {body}",
                h.name
            )
        }
        Format::Cef => format!(
            "<38>Nov 22 {hh:02}:{mm:02}:{ss:02} {} CEF:0|Example|{app}|1.0|100|event|3|src={} msg={}",
            h.name,
            h.addr,
            body.replace('\\', "\\\\").replace('=', "\\=")
        ),
        Format::Json => {
            let json = serde_json::json!({"host": h.name, "app": app, "pid": pid, "message": body});
            format!(
                "<38>1 2026-11-22T{hh:02}:{mm:02}:{ss:02}.{micros:06}Z {} {app} {pid} - - {json}",
                h.name
            )
        }
    }
}

/// A corpus line's app, pid and body (LogHub lines are BSD syslog without PRI).
fn split_line(line: &str) -> (String, String, String) {
    let e = parse(line.as_bytes(), &ParseOptions::default());
    let text = |b: Option<&[u8]>, or: &str| {
        b.map_or(or.to_string(), |b| String::from_utf8_lossy(b).into_owned())
    };
    // An app name is one word in every format (LogHub has a few with spaces, such as "-- root").
    let app = text(e.app, "app")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join("_");
    (
        app,
        text(e.procid, "1"),
        String::from_utf8_lossy(e.body).into_owned(),
    )
}

/// The link MTU the capture is made for.
pub const MTU: usize = 1500;

/// The frames (one, or IP fragments) of `payload` from `h`.
fn frame(h: &Host, payload: &str) -> Vec<Vec<u8>> {
    let dst = match h.addr {
        IpAddr::V4(_) => SocketAddr::new(IpAddr::V4(DST_V4), 514),
        IpAddr::V6(_) => SocketAddr::new(IpAddr::V6(DST_V6), 514),
    };
    let vlans: Vec<u16> = h.vlan.into_iter().collect();
    UdpFrame {
        src_mac: SRC_MAC,
        dst_mac: DST_MAC,
        vlans: &vlans,
        src: SocketAddr::new(h.addr, 514),
        dst,
        payload: payload.as_bytes(),
    }
    .packets(MTU)
}

fn push(out: &mut Vec<(u64, Vec<u8>)>, t: u64, frames: Vec<Vec<u8>>) {
    out.extend(frames.into_iter().map(|f| (t, f)));
}

/// A message of the capture as sent: when, from which host, by which app, saying what.
struct Sent {
    t: f64,
    host: usize,
    app: String,
    body: String,
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

/// Writes `frames` as a pcap (nanosecond timestamps, Ethernet).
pub fn write_pcap(out: &mut impl Write, frames: &[(u64, Vec<u8>)]) -> io::Result<()> {
    // Nanosecond-resolution magic, version 2.4, snaplen 65535, LINKTYPE_ETHERNET.
    out.write_all(&0xa1b2_3c4du32.to_le_bytes())?;
    out.write_all(&2u16.to_le_bytes())?;
    out.write_all(&4u16.to_le_bytes())?;
    out.write_all(&0i32.to_le_bytes())?;
    out.write_all(&0u32.to_le_bytes())?;
    out.write_all(&65_535u32.to_le_bytes())?;
    out.write_all(&1u32.to_le_bytes())?;
    // Capture time starts at 2026-11-22T10:00:00Z.
    const BASE_S: u64 = 1_795_341_600;
    for (t, f) in frames {
        let len = f.len() as u32;
        out.write_all(&((BASE_S + t / 1_000_000_000) as u32).to_le_bytes())?;
        out.write_all(&((t % 1_000_000_000) as u32).to_le_bytes())?;
        out.write_all(&len.to_le_bytes())?;
        out.write_all(&len.to_le_bytes())?;
        out.write_all(f)?;
    }
    Ok(())
}

/// Reads a pcap (either timestamp resolution, little-endian): frames with their time in
/// nanoseconds since the epoch.
pub fn read_pcap(bytes: &[u8]) -> io::Result<Vec<(u64, Vec<u8>)>> {
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_string());
    let u32_at = |b: &[u8], i: usize| -> io::Result<u32> {
        b.get(i..i + 4)
            .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
            .ok_or_else(|| bad("truncated pcap"))
    };
    let nanos = match u32_at(bytes, 0)? {
        0xa1b2_3c4d => true,
        0xa1b2_c3d4 => false,
        _ => return Err(bad("not a little-endian pcap")),
    };
    if u32_at(bytes, 20)? != 1 {
        return Err(bad("not an Ethernet capture"));
    }
    let mut frames = Vec::new();
    let mut i = 24;
    while i < bytes.len() {
        let (s, sub, len) = (
            u32_at(bytes, i)?,
            u32_at(bytes, i + 4)?,
            u32_at(bytes, i + 8)?,
        );
        let start = i + 16;
        let end = start + len as usize;
        let f = bytes
            .get(start..end)
            .ok_or_else(|| bad("truncated record"))?;
        let sub_ns = if nanos {
            u64::from(sub)
        } else {
            u64::from(sub) * 1000
        };
        frames.push((u64::from(s) * 1_000_000_000 + sub_ns, f.to_vec()));
        i = end;
    }
    Ok(frames)
}

/// Where replayed frames go: every datagram is rebuilt for this receiver (checksums included),
/// keeping its sender, VLAN tag and payload.
#[derive(Clone, Copy, Debug)]
pub struct Rewrite {
    /// Source MAC of the frames (the sending interface's).
    pub src_mac: [u8; 6],
    /// Destination MAC (the receiving interface's).
    pub dst_mac: [u8; 6],
    /// Receiver for IPv4 senders.
    pub dst_v4: Ipv4Addr,
    /// Receiver for IPv6 senders.
    pub dst_v6: Ipv6Addr,
    /// Destination port.
    pub dst_port: u16,
    /// Remove VLAN tags (for a receiver whose kernel has no VLAN device for them).
    pub strip_vlan: bool,
}

/// VLAN-tagged fragments in `frames`, and the datagrams they carry: a receiver's kernel without a
/// VLAN device for the tag drops them, one by one.
pub fn tagged_fragments<F: AsRef<[u8]>>(frames: &[F]) -> (u64, u64) {
    let mut counts = (0, 0);
    for f in frames.iter().map(AsRef::as_ref) {
        if let Some(frag) = fragment(f).filter(|frag| frag.tagged) {
            counts.0 += 1;
            counts.1 += u64::from(frag.first);
        }
    }
    counts
}

/// Whether `f` starts a datagram: a whole one, or the first fragment of one.
pub fn first_of_datagram(f: &[u8]) -> bool {
    match walk(f) {
        Ok(Walk::Udp(_)) => true,
        Ok(Walk::Fragment(frag)) => frag.first,
        _ => false,
    }
}

/// The fragment in `f`, if it is one, read by the header walk the XDP program runs.
fn fragment(f: &[u8]) -> Option<IpFragment> {
    match walk(f) {
        Ok(Walk::Fragment(frag)) => Some(frag),
        _ => None,
    }
}

fn ip(a: SourceAddr) -> IpAddr {
    match a {
        SourceAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(a)),
        SourceAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(a)),
    }
}

/// `frames` rebuilt for `to` (a datagram larger than [`MTU`] goes as fragments). An IP fragment
/// cannot be rebuilt alone (its UDP checksum is in the first one): fragments addressed to `to`
/// already get their MACs set, others are left out; so are frames that are not UDP at all.
/// Returns the frames and how many were left out.
pub fn rewrite(frames: &[(u64, Vec<u8>)], to: &Rewrite) -> (Vec<(u64, Vec<u8>)>, usize) {
    let mut skipped = 0;
    let mut out = Vec::with_capacity(frames.len());
    let ours = |a: IpAddr| a == IpAddr::V4(to.dst_v4) || a == IpAddr::V6(to.dst_v6);
    for (t, f) in frames {
        let d = match ingest::datapath::frame::decode_udp(f) {
            Ok(d) => d,
            Err(ingest::datapath::frame::FrameError::Fragment)
                if fragment(f).is_some_and(|frag| ours(ip(frag.dst_addr()))) =>
            {
                let frag = fragment(f).expect("a fragment");
                let l3 = usize::from(frag.l3);
                let mut f = if to.strip_vlan && frag.tagged {
                    // The IP packet after the MACs and its own ethertype, tags left out.
                    let mut bare = f[..12].to_vec();
                    bare.extend_from_slice(&f[l3 - 2..]);
                    bare
                } else {
                    f.clone()
                };
                f[..6].copy_from_slice(&to.dst_mac);
                f[6..12].copy_from_slice(&to.src_mac);
                out.push((*t, f));
                continue;
            }
            Err(_) => {
                skipped += 1;
                continue;
            }
        };
        let dst = match d.src {
            SocketAddr::V4(_) => SocketAddr::new(IpAddr::V4(to.dst_v4), to.dst_port),
            SocketAddr::V6(_) => SocketAddr::new(IpAddr::V6(to.dst_v6), to.dst_port),
        };
        let vlans: Vec<u16> = d.vlan.into_iter().filter(|_| !to.strip_vlan).collect();
        let frames = UdpFrame {
            src_mac: to.src_mac,
            dst_mac: to.dst_mac,
            vlans: &vlans,
            src: d.src,
            dst,
            payload: d.payload,
        }
        .packets(MTU);
        push(&mut out, *t, frames);
    }
    (out, skipped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ingest::datapath::frame::decode_udp;

    fn small(seed: u64) -> Capture {
        generate(GenOptions {
            seed,
            messages: 20_000,
            rate: 1000.0,
            hosts: 200,
        })
    }

    #[test]
    fn replayed_frames_go_to_the_new_receiver_unchanged_otherwise() {
        let cap = small(3);
        let to = Rewrite {
            src_mac: [2, 0, 0, 0, 0, 0xa],
            dst_mac: [2, 0, 0, 0, 0, 0xb],
            dst_v4: Ipv4Addr::new(198, 18, 0, 2),
            dst_v6: "2001:2::2".parse().unwrap(),
            dst_port: 5514,
            strip_vlan: false,
        };
        let (out, skipped) = rewrite(&cap.frames, &to);
        assert_eq!((out.len(), skipped), (cap.frames.len(), 0));
        let fragments = out.iter().filter(|(_, f)| decode_udp(f).is_err()).count();
        assert!(fragments > 0, "the long messages travel as fragments");
        for ((t0, before), (t1, after)) in cap.frames.iter().zip(&out) {
            assert_eq!(&after[..6], &to.dst_mac);
            let (Ok(a), Ok(b)) = (decode_udp(before), decode_udp(after)) else {
                assert_eq!(
                    &before[12..],
                    &after[12..],
                    "a fragment keeps all but its MACs"
                );
                continue;
            };
            assert_eq!(
                (t0, a.src, a.vlan, a.payload),
                (t1, b.src, b.vlan, b.payload)
            );
            assert_eq!(b.dst.port(), 5514);
            assert_eq!(&after[..6], &to.dst_mac);
            match b.dst.ip() {
                IpAddr::V4(ip) => assert_eq!(ip, to.dst_v4),
                IpAddr::V6(ip) => assert_eq!(ip, to.dst_v6),
            }
        }
        let (_, skipped) = rewrite(&[(0, vec![0u8; 20])], &to);
        assert_eq!(skipped, 1);
    }

    #[test]
    fn the_same_seed_gives_the_same_capture() {
        let (a, b, c) = (small(7), small(7), small(8));
        assert_eq!(a.frames, b.frames);
        assert_eq!(a.labels, b.labels);
        assert_ne!(a.frames, c.frames);
        let mut file = Vec::new();
        write_pcap(&mut file, &a.frames).unwrap();
        let back = read_pcap(&file).unwrap();
        assert_eq!(back.len(), a.frames.len());
        assert!(back.iter().zip(&a.frames).all(|(x, y)| x.1 == y.1));
        assert!(back.windows(2).all(|w| w[0].0 <= w[1].0), "in time order");
    }

    #[test]
    fn the_traffic_is_mixed_heavy_tailed_and_labelled() {
        let cap = small(1);
        let mut formats = std::collections::BTreeMap::new();
        let mut per_sender = std::collections::HashMap::new();
        let (mut v6, mut tagged, mut fragments) = (0u32, 0u32, 0u32);
        let opts = ParseOptions::default();
        for (_, f) in &cap.frames {
            let Ok(d) = decode_udp(f) else {
                fragments += 1;
                continue;
            };
            let e = parse(d.payload, &opts);
            assert_eq!(e.error, None, "{}", String::from_utf8_lossy(d.payload));
            *formats.entry(e.format.name()).or_insert(0u32) += 1;
            *per_sender.entry(d.src.ip()).or_insert(0u32) += 1;
            v6 += u32::from(d.src.is_ipv6());
            tagged += u32::from(d.vlan.is_some());
        }
        assert!(formats.len() >= 2, "{formats:?}");
        assert!(v6 > 0 && tagged > 0, "{v6} over IPv6, {tagged} tagged");
        assert!(
            fragments >= 2 * 20,
            "about 40 long messages, 3 fragments each: {fragments}"
        );
        let long = cap.datagrams - (cap.frames.len() as u64 - u64::from(fragments));
        // Padded ones take three fragments, a few long corpus lines two.
        assert!(
            long > 10 && long * 2 <= u64::from(fragments),
            "{long} long datagrams in {fragments} fragments"
        );
        let mut counts: Vec<u32> = per_sender.values().copied().collect();
        counts.sort_unstable_by(|a, b| b.cmp(a));
        let top: u32 = counts.iter().take(counts.len() / 10).sum();
        let all: u32 = counts.iter().sum();
        assert!(
            top * 2 > all,
            "the loudest tenth sends most: {top} of {all}"
        );

        let kinds: Vec<&str> = cap.labels.iter().map(|l| l.kind.as_str()).collect();
        for k in [
            "silence",
            "brute_force",
            "sigma",
            "new_template",
            "rate_spike",
        ] {
            assert!(kinds.contains(&k), "{k} in {kinds:?}");
        }
        // Each labelled burst is in the capture, as labelled.
        let has = |needle: &str| {
            cap.frames
                .iter()
                .filter(|(_, f)| {
                    decode_udp(f).is_ok_and(|d| String::from_utf8_lossy(d.payload).contains(needle))
                })
                .count() as u64
        };
        for l in cap.labels.iter().filter(|l| l.injected) {
            match l.kind.as_str() {
                "brute_force" => assert_eq!(has(&format!("from {} port", l.key)), l.messages),
                // The first of its kind (the Shellshock attempts are five of one kind).
                "new_template" => assert!(has(&l.key) >= 1, "{l:?}"),
                _ => {}
            }
        }
        assert_eq!(has("() { :; };"), 5);
        // The silent host sends nothing after its label says it stopped.
        let silence = cap.labels.iter().find(|l| l.kind == "silence").unwrap();
        let after = cap
            .frames
            .iter()
            .filter(|(t, f)| {
                *t as f64 / 1e9 > silence.start_s
                    && decode_udp(f).is_ok_and(|d| d.src.ip() == silence.sender)
            })
            .count();
        assert_eq!(after, 0);
        assert!(silence.start_s > 0.0 && silence.start_s < silence.end_s);
    }
}
