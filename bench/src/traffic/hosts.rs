//! The senders of a capture: their addresses and formats, how they render a line, and the
//! frames that carry it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use detector::parse::{ParseOptions, parse};
use testbed::craft::UdpFrame;

/// The LogHub samples, with the kind of host that logs each.
pub(super) const CORPORA: [(&str, &str); 4] = [
    (
        "OpenSSH",
        include_str!("../../../detector/tests/data/loghub/OpenSSH_2k.log"),
    ),
    (
        "Linux",
        include_str!("../../../detector/tests/data/loghub/Linux_2k.log"),
    ),
    (
        "HDFS",
        include_str!("../../../detector/tests/data/loghub/HDFS_2k.log"),
    ),
    (
        "Apache",
        include_str!("../../../detector/tests/data/loghub/Apache_2k.log"),
    ),
];

/// SplitMix64: small, fast, and the same sequence everywhere for a seed.
pub(super) struct Rng(pub(super) u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub(super) fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    pub(super) fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Format {
    Rfc3164,
    Rfc5424,
    Rfc5424Sd,
    Cef,
    Json,
}

#[derive(Clone, Debug)]
pub(super) struct Host {
    pub(super) name: String,
    pub(super) addr: IpAddr,
    vlan: Option<u16>,
    pub(super) corpus: usize,
    pub(super) format: Format,
}

const DST_V4: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const DST_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 2);
const SRC_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 1];
const DST_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 2];

pub(super) fn host(i: usize, rng: &mut Rng) -> Host {
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
pub(super) fn render(h: &Host, app: &str, pid: &str, body: &str, t_s: f64) -> String {
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
pub(super) fn split_line(line: &str) -> (String, String, String) {
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
pub(super) fn frame(h: &Host, payload: &str) -> Vec<Vec<u8>> {
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

pub(super) fn push(out: &mut Vec<(u64, Vec<u8>)>, t: u64, frames: Vec<Vec<u8>>) {
    out.extend(frames.into_iter().map(|f| (t, f)));
}

/// A message of the capture as sent: when, from which host, by which app, saying what.
pub(super) struct Sent {
    pub(super) t: f64,
    pub(super) host: usize,
    pub(super) app: String,
    pub(super) body: String,
}
