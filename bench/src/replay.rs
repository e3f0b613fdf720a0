//! A fast frame replayer: prebuilt Ethernet frames sent through an AF_PACKET socket with
//! PACKET_QDISC_BYPASS in `sendmmsg` batches (or an AF_XDP socket's TX ring), at a set rate (or
//! as fast as the machine allows) for a bounded time and count.

use anyhow::Context as _;
use std::path::PathBuf;
use std::{
    io,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    time::{Duration, Instant},
};
use testbed::netns::VethPair;

use testbed::{craft::UdpFrame, packet::PacketSender};

/// Frames per `sendmmsg`.
const BATCH: usize = 64;

/// What one replay did.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct ReplayStats {
    /// Frames the kernel accepted.
    pub sent: u64,
    /// Time from the first to the last send.
    pub elapsed_s: f64,
    /// Batches the kernel took only in part (a full device queue).
    pub partial_batches: u64,
}

impl ReplayStats {
    /// Frames per second achieved.
    pub fn pps(&self) -> f64 {
        if self.elapsed_s > 0.0 {
            self.sent as f64 / self.elapsed_s
        } else {
            0.0
        }
    }
}

/// How frames leave.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SenderKind {
    /// AF_PACKET with PACKET_QDISC_BYPASS, `sendmmsg` batches: the default. Each batch is sent
    /// when the call returns, so a paced replay arrives as paced.
    #[default]
    AfPacket,
    /// An AF_XDP socket's TX ring (copied into its UMEM; copy mode on veth). Faster unpaced: on
    /// veth here 391,000-454,000 frames/s against AF_PACKET's 350,000-395,000 (three
    /// interleaved runs each, every frame arrived). But in copy mode the kernel sends a bounded
    /// number of frames per wakeup and the rest wait in the ring, so paced traffic arrives in
    /// bursts: in `bench e2e`'s latency run at 100,000/s, XDP hook to detected had p99 639 µs
    /// with this sender against 161 µs at 150,000/s with AF_PACKET.
    AfXdp,
}

/// The socket frames leave by.
#[derive(Debug)]
enum Sender {
    Packet(PacketSender),
    Xsk(Box<testbed::xsk_sender::XskSender>),
}

impl Sender {
    fn send_batch(&mut self, frames: &[&[u8]]) -> io::Result<usize> {
        match self {
            Sender::Packet(tx) => tx.send_batch(frames),
            Sender::Xsk(tx) => tx.send_batch(frames),
        }
    }

    /// Waits until everything queued has left (AF_XDP hands frames over asynchronously;
    /// `sendmmsg` returns once they are sent).
    fn flush(&mut self) -> io::Result<()> {
        if let Sender::Xsk(tx) = self
            && !tx.flush(Duration::from_secs(5))?
        {
            return Err(io::Error::other("AF_XDP frames not sent within 5 s"));
        }
        Ok(())
    }
}

/// A set of frames and the socket to send them on.
#[derive(Debug)]
pub struct Replayer {
    tx: Sender,
    frames: Vec<Vec<u8>>,
}

impl Replayer {
    /// Opens `iface` (in the calling thread's namespace) for `frames`, which must not be empty,
    /// with the default sender.
    pub fn new(iface: &str, frames: Vec<Vec<u8>>) -> io::Result<Self> {
        Self::with_sender(iface, frames, SenderKind::default())
    }

    /// Opens `iface` for `frames` with the `kind` of socket.
    pub fn with_sender(iface: &str, frames: Vec<Vec<u8>>, kind: SenderKind) -> io::Result<Self> {
        if frames.is_empty() {
            return Err(io::Error::other("nothing to replay"));
        }
        let tx = match kind {
            SenderKind::AfPacket => {
                let tx = PacketSender::open(iface, true)?;
                if !tx.qdisc_bypass() {
                    log::warn!("PACKET_QDISC_BYPASS not available: frames go through the qdisc");
                }
                Sender::Packet(tx)
            }
            SenderKind::AfXdp => Sender::Xsk(Box::new(
                testbed::xsk_sender::XskSender::open(iface, 0).map_err(io::Error::other)?,
            )),
        };
        Ok(Self { tx, frames })
    }

    /// Sends the frames round-robin at `rate` frames per second (`None`: as fast as possible)
    /// until `duration` passes or `max_frames` are sent.
    pub fn run(
        &mut self,
        rate: Option<f64>,
        duration: Duration,
        max_frames: u64,
    ) -> io::Result<ReplayStats> {
        let refs: Vec<&[u8]> = self.frames.iter().map(Vec::as_slice).collect();
        // The frame list repeated so that any window of BATCH starting in the first copy exists.
        let ring: Vec<&[u8]> = refs
            .iter()
            .cycle()
            .take(refs.len() + BATCH)
            .copied()
            .collect();
        let mut stats = ReplayStats::default();
        let start = Instant::now();
        let end = start + duration;
        let mut next = 0usize;
        loop {
            let now = Instant::now();
            if now >= end || stats.sent >= max_frames {
                break;
            }
            let mut want = BATCH.min((max_frames - stats.sent) as usize);
            if let Some(rate) = rate {
                // Frames due by now; wait when ahead of the schedule.
                let due = (now.duration_since(start).as_secs_f64() * rate) as u64;
                if due <= stats.sent {
                    // Sleep rather than spin, so the sender's CPU time follows the frames it
                    // sends and a baseline at the same rate can be subtracted.
                    let ahead =
                        (stats.sent + 1) as f64 / rate - now.duration_since(start).as_secs_f64();
                    std::thread::sleep(Duration::from_secs_f64(ahead.max(0.000_01)));
                    continue;
                }
                want = want.min((due - stats.sent) as usize);
            }
            let n = self.tx.send_batch(&ring[next..next + want])?;
            if n < want {
                stats.partial_batches += 1;
            }
            stats.sent += n as u64;
            next = (next + n) % refs.len();
        }
        self.tx.flush()?;
        stats.elapsed_s = start.elapsed().as_secs_f64();
        Ok(stats)
    }
}

/// How many of the frames at `times_ns` (relative to the first, in order) are due `elapsed_s`
/// seconds into a replay at `speed` times the capture's pace.
pub fn frames_due(times_ns: &[u64], speed: f64, elapsed_s: f64) -> usize {
    let horizon = elapsed_s * speed * 1e9;
    times_ns.partition_point(|&t| t as f64 <= horizon)
}

impl Replayer {
    /// Sends the frames with the capture's own gaps between them (`times_ns`, one per frame, in
    /// order), `speed` times as fast, once or (with `repeat`) over and over, until `duration`
    /// passes or `max_frames` are sent. Bursts stay bursts and quiet stays quiet.
    pub fn run_timed(
        &mut self,
        times_ns: &[u64],
        speed: f64,
        duration: Duration,
        max_frames: u64,
        repeat: bool,
    ) -> io::Result<ReplayStats> {
        let first = times_ns.first().copied().unwrap_or(0);
        let rel: Vec<u64> = times_ns.iter().map(|t| t - first).collect();
        let refs: Vec<&[u8]> = self.frames.iter().map(Vec::as_slice).collect();
        // One pass lasts the capture's span plus one average gap, at the given speed.
        let span_s = rel.last().copied().unwrap_or(0) as f64 / 1e9 / speed;
        let cycle_s = span_s + span_s / refs.len().max(1) as f64;
        let mut stats = ReplayStats::default();
        let start = Instant::now();
        let end = start + duration;
        let mut pass = 0u64;
        let mut next = 0usize;
        loop {
            let now = Instant::now();
            if now >= end || stats.sent >= max_frames {
                break;
            }
            if next == refs.len() {
                if !repeat {
                    break;
                }
                pass += 1;
                next = 0;
            }
            let elapsed = now.duration_since(start).as_secs_f64() - pass as f64 * cycle_s;
            let due = frames_due(&rel, speed, elapsed);
            if due <= next {
                // Sleep until the next frame is due (at most 10 ms, to notice the end).
                let at = rel[next] as f64 / 1e9 / speed;
                let wait = (at - elapsed).clamp(0.000_01, 0.01);
                std::thread::sleep(Duration::from_secs_f64(wait));
                continue;
            }
            let want = (due - next)
                .min(BATCH)
                .min((max_frames - stats.sent) as usize);
            let n = self.tx.send_batch(&refs[next..next + want])?;
            if n < want {
                stats.partial_batches += 1;
            }
            stats.sent += n as u64;
            next += n;
        }
        self.tx.flush()?;
        stats.elapsed_s = start.elapsed().as_secs_f64();
        Ok(stats)
    }
}

/// Syslog frames as devices send them: RFC 5424 and RFC 3164 messages of typical length, from
/// `sources` distinct addresses in 198.18.0.10 and up, each with its own source port.
pub fn syslog_frames(
    count: usize,
    sources: u8,
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    dst: SocketAddr,
) -> Vec<Vec<u8>> {
    const BODIES: [&str; 4] = [
        "Failed password for invalid user admin from 198.51.100.7 port 52144 ssh2",
        "Accepted publickey for deploy from 198.51.100.23 port 40022 ssh2: ED25519 SHA256:x",
        "pam_unix(sshd:session): session opened for user deploy(uid=1000) by (uid=0)",
        "Connection closed by authenticating user root 203.0.113.9 port 33022 [preauth]",
    ];
    (0..count)
        .map(|i| {
            let host = 10 + (i % usize::from(sources.max(1))) as u8;
            let src = SocketAddr::new(
                IpAddr::V4(Ipv4Addr::new(198, 18, 0, host)),
                10_000 + i as u16,
            );
            let body = BODIES[i % BODIES.len()];
            let payload = if i % 2 == 0 {
                format!(
                    "<38>1 2026-11-22T11:00:{:02}.{:06}Z host{host} sshd {} - - {body}",
                    i % 60,
                    i,
                    1000 + i
                )
            } else {
                format!(
                    "<38>Nov 22 11:00:{:02} host{host} sshd[{}]: {body}",
                    i % 60,
                    1000 + i
                )
            };
            UdpFrame {
                src_mac,
                dst_mac,
                vlans: &[],
                src,
                dst,
                payload: payload.as_bytes(),
            }
            .build()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_fall_due_at_their_capture_time_over_the_speed() {
        // A burst of three at 0, one at 1 s, one at 3 s.
        let t = [0, 0, 0, 1_000_000_000, 3_000_000_000];
        assert_eq!(frames_due(&t, 1.0, 0.0), 3, "the burst at once");
        assert_eq!(frames_due(&t, 1.0, 0.999), 3);
        assert_eq!(frames_due(&t, 1.0, 1.0), 4);
        assert_eq!(frames_due(&t, 1.0, 2.9), 4, "quiet stays quiet");
        assert_eq!(frames_due(&t, 2.0, 1.5), 5, "twice as fast: all by 1.5 s");
        assert_eq!(frames_due(&t, 10.0, 0.09), 3);
    }
}

/// The arguments of `bench replay`.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// The capture (`bench gen` writes one).
    #[arg(long)]
    pub(crate) pcap: PathBuf,
    /// The interface to send on.
    #[arg(long)]
    pub(crate) iface: String,
    /// Send from inside this network namespace.
    #[arg(long)]
    pub(crate) netns: Option<String>,
    /// The receiving interface's MAC address.
    #[arg(long)]
    pub(crate) dst_mac: String,
    /// Receiver for IPv4 senders.
    #[arg(long, default_value = "198.18.0.2")]
    pub(crate) dst_ip: std::net::Ipv4Addr,
    /// Receiver for IPv6 senders.
    #[arg(long, default_value = "2001:2::2")]
    pub(crate) dst_ip6: std::net::Ipv6Addr,
    /// Destination port.
    #[arg(long, default_value_t = 514)]
    pub(crate) dst_port: u16,
    /// Frames per second, evenly; default: the capture's own timing at --speed.
    #[arg(long)]
    pub(crate) pps: Option<f64>,
    /// How much faster than captured (when --pps is not given), keeping the capture's gaps
    /// and bursts; 0: as fast as possible.
    #[arg(long, default_value_t = 1.0)]
    pub(crate) speed: f64,
    /// Frames to send; default: the capture once (with --loop: until --duration).
    #[arg(long)]
    pub(crate) count: Option<u64>,
    /// Longest run, seconds.
    #[arg(long, default_value_t = 60.0)]
    pub(crate) duration: f64,
    /// Start over at the end of the capture.
    #[arg(long = "loop")]
    pub(crate) repeat: bool,
    /// Remove VLAN tags (for a receiver without VLAN devices).
    #[arg(long)]
    pub(crate) strip_vlan: bool,
    /// The socket to send with.
    #[arg(long, value_enum, default_value_t = SenderKind::default())]
    pub(crate) sender: SenderKind,
}

/// `bench replay`.
pub fn command(args: ReplayArgs) -> anyhow::Result<()> {
    let ReplayArgs {
        pcap,
        iface,
        netns,
        dst_mac,
        dst_ip,
        dst_ip6,
        dst_port,
        pps,
        speed,
        count,
        duration,
        repeat,
        strip_vlan,
        sender,
    } = args;
    let bytes = std::fs::read(&pcap).with_context(|| format!("reading {}", pcap.display()))?;
    let frames =
        crate::traffic::read_pcap(&bytes).with_context(|| format!("reading {}", pcap.display()))?;
    let to = crate::traffic::Rewrite {
        src_mac: iface_mac(&iface, netns.as_deref())?,
        dst_mac: testbed::craft::parse_mac(&dst_mac)
            .with_context(|| format!("--dst-mac {dst_mac:?} is not a MAC address"))?,
        dst_v4: dst_ip,
        dst_v6: dst_ip6,
        dst_port,
        strip_vlan,
    };
    let (frames, skipped) = crate::traffic::rewrite(&frames, &to);
    anyhow::ensure!(!frames.is_empty(), "no UDP datagram in {}", pcap.display());
    let max = count.unwrap_or(if repeat {
        u64::MAX
    } else {
        frames.len() as u64
    });
    let duration = Duration::try_from_secs_f64(duration)
        .context("--duration must be a non-negative number of seconds")?;
    let times: Vec<u64> = frames.iter().map(|(t, _)| *t).collect();
    let frames: Vec<Vec<u8>> = frames.into_iter().map(|(_, f)| f).collect();
    // --pps: an even rate; else the capture's own timing at --speed (0: as fast as
    // possible).
    let timed = pps.is_none() && speed > 0.0;
    let send = || {
        let mut replayer = Replayer::with_sender(&iface, frames.clone(), sender)?;
        if timed {
            replayer.run_timed(&times, speed, duration, max, repeat)
        } else {
            replayer.run(pps, duration, max)
        }
    };
    let stats = match &netns {
        Some(ns) => VethPair::run_in(ns, send)??,
        None => send()?,
    };
    println!(
        "{}",
        serde_json::json!({
            "sent": stats.sent,
            "elapsed_s": stats.elapsed_s,
            "pps": stats.pps(),
            "partial_batches": stats.partial_batches,
            "skipped_not_udp": skipped,
            "sender": sender,
            "offered_pps": pps,
            "speed": timed.then_some(speed),
        })
    );
    Ok(())
}

/// The MAC address of `iface` (in namespace `netns`), from `ip -o link show`.
fn iface_mac(iface: &str, netns: Option<&str>) -> anyhow::Result<[u8; 6]> {
    let mut cmd = std::process::Command::new("ip");
    if let Some(ns) = netns {
        cmd.args(["-n", ns]);
    }
    let out = cmd
        .args(["-o", "link", "show", "dev", iface])
        .output()
        .context("running ip")?;
    anyhow::ensure!(out.status.success(), "no interface {iface}");
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .skip_while(|w| *w != "link/ether")
        .nth(1)
        .and_then(testbed::craft::parse_mac)
        .with_context(|| format!("{iface} has no Ethernet address"))
}
