//! `bench`: runs the appliance the way its users do, inside network namespaces it makes itself.

use std::{path::PathBuf, process::Stdio, time::Duration};

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};
use testbed::netns::{self, Spawned, VethPair};

mod datapath;
mod detect;
mod e2e;
mod parse;
mod replay;
mod report;
mod templates;
mod traffic;

#[derive(Debug, Parser)]
#[command(about = "Demo, traffic and end-to-end tests of the appliance")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Make two namespaces joined by veth, attach the XDP program on the receiving side, send
    /// real syslog messages with `logger`, and print what arrived through AF_XDP.
    Demo {
        /// The `ingest` binary (default: next to this one).
        #[arg(long)]
        ingest: Option<PathBuf>,
        /// How many syslog messages to send.
        #[arg(long, default_value_t = 5)]
        count: u32,
    },
    /// Compare the XDP backend and the socket backend on the same replayed traffic: received
    /// rate, loss, highest lossless rate and CPU time per message (see the module docs).
    Datapath {
        /// The `ingest` binary (default: next to this one).
        #[arg(long)]
        ingest: Option<PathBuf>,
        /// Offered rates in frames per second, comma separated; `max` sends unpaced.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "50000,100000,200000,400000,max"
        )]
        rates: Vec<String>,
        /// Seconds per run (three runs per rate).
        #[arg(long, default_value_t = 3.0)]
        duration: f64,
        /// CPU for the sender (and the kernel's receive work on veth).
        #[arg(long, default_value_t = 0)]
        sender_cpu: usize,
        /// CPU for ingest.
        #[arg(long, default_value_t = 1)]
        receiver_cpu: usize,
        /// Rounds per rate (baseline, xdp, socket interleaved); the median is reported.
        #[arg(long, default_value_t = 3)]
        repeat: usize,
        /// `ingest --poll-coalesce-us` for both backends.
        #[arg(long, default_value_t = 200)]
        poll_coalesce_us: u64,
        /// Print the result as JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Compare this parser with syslog_loose and syslog_rfc5424 on the same corpora: ns per
    /// message and MB/s.
    Parse {
        /// Seconds per parser and corpus.
        #[arg(long, default_value_t = 2.0)]
        seconds: f64,
        /// Keep only results whose parser or corpus name contains this.
        #[arg(long, default_value = "")]
        only: String,
        /// Also measure each kind of message of the mixed corpus on its own.
        #[arg(long)]
        kinds: bool,
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Detection throughput on one core: Sigma rules, threshold rules, parse + both, and the
    /// template miner.
    Detect {
        /// Seconds per measurement.
        #[arg(long, default_value_t = 2.0)]
        seconds: f64,
        /// Keep only measurements whose name contains this.
        #[arg(long, default_value = "")]
        only: String,
        /// Run each measurement exactly this many passes over its corpus, once, instead of
        /// for a time: the same work every run, for instruction counts (`valgrind --tool=
        /// cachegrind`) and profiles to compare.
        #[arg(long)]
        passes: Option<u64>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// The template miner on the LogHub samples: grouping accuracy per sample and lines per
    /// second on one core, in one run.
    Templates {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Write labelled syslog traffic as a pcap: many hosts, mixed formats, LogHub bodies, and
    /// injected anomalies (brute force, a Sigma match, new templates, a rate spike, a silent
    /// host) described in a JSON file beside it. Seeded and reproducible.
    Gen {
        /// The pcap to write.
        #[arg(long)]
        out: PathBuf,
        /// The labels (default: the pcap's path with `.labels.json`).
        #[arg(long)]
        labels: Option<PathBuf>,
        /// Seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Regular messages (anomalies come on top).
        #[arg(long, default_value_t = 100_000)]
        messages: usize,
        /// Messages per second of capture time.
        #[arg(long, default_value_t = 10_000.0)]
        rate: f64,
        /// Sending hosts.
        #[arg(long, default_value_t = 2000)]
        hosts: usize,
    },
    /// Replay a pcap onto an interface (AF_PACKET, PACKET_QDISC_BYPASS, sendmmsg): every UDP
    /// datagram is rebuilt for the given receiver (MAC, address, port; sender, VLAN tag and
    /// payload kept), sent at a set rate, for a count or a duration, once or looping. Prints
    /// what it sent as JSON.
    Replay {
        /// The capture (`bench gen` writes one).
        #[arg(long)]
        pcap: PathBuf,
        /// The interface to send on.
        #[arg(long)]
        iface: String,
        /// Send from inside this network namespace.
        #[arg(long)]
        netns: Option<String>,
        /// The receiving interface's MAC address.
        #[arg(long)]
        dst_mac: String,
        /// Receiver for IPv4 senders.
        #[arg(long, default_value = "198.18.0.2")]
        dst_ip: std::net::Ipv4Addr,
        /// Receiver for IPv6 senders.
        #[arg(long, default_value = "2001:2::2")]
        dst_ip6: std::net::Ipv6Addr,
        /// Destination port.
        #[arg(long, default_value_t = 514)]
        dst_port: u16,
        /// Frames per second, evenly; default: the capture's own timing at --speed.
        #[arg(long)]
        pps: Option<f64>,
        /// How much faster than captured (when --pps is not given), keeping the capture's gaps
        /// and bursts; 0: as fast as possible.
        #[arg(long, default_value_t = 1.0)]
        speed: f64,
        /// Frames to send; default: the capture once (with --loop: until --duration).
        #[arg(long)]
        count: Option<u64>,
        /// Longest run, seconds.
        #[arg(long, default_value_t = 60.0)]
        duration: f64,
        /// Start over at the end of the capture.
        #[arg(long = "loop")]
        repeat: bool,
        /// Remove VLAN tags (for a receiver without VLAN devices).
        #[arg(long)]
        strip_vlan: bool,
        /// The socket to send with.
        #[arg(long, value_enum, default_value_t = replay::SenderKind::default())]
        sender: replay::SenderKind,
    },
    /// End to end: generate labelled traffic, replay it at each rate into ingest (XDP and socket
    /// backends), rsyslog and syslog-ng, and report loss, CPU per message, the accounting check,
    /// detection precision and recall per anomaly kind, and latency per stage (with report
    /// files: table, .hgrm, JSON, SVG).
    E2e {
        /// The `ingest` binary (default: next to this one).
        #[arg(long)]
        ingest: Option<PathBuf>,
        /// The short version (under a minute): one rate, XDP backend only, no peers.
        #[arg(long)]
        quick: bool,
        /// Offered rates in frames per second, comma separated; `max` sends unpaced.
        #[arg(long, value_delimiter = ',')]
        rates: Vec<String>,
        /// Peers to compare with (rsyslog, syslog-ng); `none` for none.
        #[arg(long, value_delimiter = ',', default_value = "rsyslog,syslog-ng")]
        peers: Vec<String>,
        /// Rule folders for ingest.
        #[arg(long, default_value = "detector/rules")]
        rules: Vec<PathBuf>,
        /// Where the capture, alerts and reports go.
        #[arg(long, default_value = "target/e2e")]
        out: PathBuf,
        /// Fewest regular messages in a capture.
        #[arg(long, default_value_t = 60_000)]
        messages: usize,
        /// Seconds of sending per run: each rate gets a capture of rate x seconds messages.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// Messages per second of capture time.
        #[arg(long, default_value_t = 2000.0)]
        capture_rate: f64,
        /// Sending hosts.
        #[arg(long, default_value_t = 2000)]
        hosts: usize,
        /// Seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// CPU for the sender.
        #[arg(long, default_value_t = 0)]
        sender_cpu: usize,
        /// CPU for the receiver.
        #[arg(long, default_value_t = 1)]
        receiver_cpu: usize,
        /// Keep VLAN tags (the kernel path drops tagged frames on this test kernel).
        #[arg(long)]
        keep_vlan: bool,
        /// Do not compare with tcpreplay sending the first rate's capture.
        #[arg(long)]
        no_tcpreplay: bool,
        /// An extra argument for every `ingest run` (repeatable), e.g. `--ingest-arg=--frame-count=16384`.
        #[arg(long, allow_hyphen_values = true)]
        ingest_arg: Vec<String>,
        /// Print JSON instead of the summary.
        #[arg(long)]
        json: bool,
    },
    /// Latency reports from an `ingest run --stats-json` file: a table, one .hgrm per stage,
    /// JSON and an SVG percentile plot.
    Report {
        /// The stats file.
        #[arg(long)]
        stats: PathBuf,
        /// Where to write the files.
        #[arg(long, default_value = ".")]
        out: PathBuf,
        /// File name prefix.
        #[arg(long, default_value = "latency")]
        name: String,
    },
    /// Measure what one sleep and wakeup of a thread costs this machine in CPU time (the fixed
    /// cost that poll mode pays per batch).
    Wakeups {
        /// Sleep per cycle, microseconds.
        #[arg(long, default_value_t = 50)]
        sleep_us: u64,
        /// Seconds to measure.
        #[arg(long, default_value_t = 3.0)]
        duration: f64,
    },
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

fn main() -> anyhow::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    match Cli::parse().command {
        Command::Demo { ingest, count } => demo(ingest, count),
        Command::Wakeups { sleep_us, duration } => wakeups(sleep_us, duration),
        Command::Replay {
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
        } => {
            let bytes =
                std::fs::read(&pcap).with_context(|| format!("reading {}", pcap.display()))?;
            let frames = traffic::read_pcap(&bytes)
                .with_context(|| format!("reading {}", pcap.display()))?;
            let to = traffic::Rewrite {
                src_mac: iface_mac(&iface, netns.as_deref())?,
                dst_mac: testbed::craft::parse_mac(&dst_mac)
                    .with_context(|| format!("--dst-mac {dst_mac:?} is not a MAC address"))?,
                dst_v4: dst_ip,
                dst_v6: dst_ip6,
                dst_port,
                strip_vlan,
            };
            let (frames, skipped) = traffic::rewrite(&frames, &to);
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
                let mut replayer = replay::Replayer::with_sender(&iface, frames.clone(), sender)?;
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
        Command::Gen {
            out,
            labels,
            seed,
            messages,
            rate,
            hosts,
        } => {
            anyhow::ensure!(rate > 0.0, "--rate must be positive");
            let capture = traffic::generate(traffic::GenOptions {
                seed,
                messages,
                rate,
                hosts,
            });
            let mut file = std::io::BufWriter::new(
                std::fs::File::create(&out)
                    .with_context(|| format!("creating {}", out.display()))?,
            );
            traffic::write_pcap(&mut file, &capture.frames)?;
            std::io::Write::flush(&mut file)?;
            let labels = labels.unwrap_or_else(|| out.with_extension("labels.json"));
            let file = traffic::LabelFile {
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
        Command::E2e {
            ingest,
            quick,
            rates,
            peers,
            rules,
            out,
            messages,
            seconds,
            capture_rate,
            hosts,
            seed,
            sender_cpu,
            receiver_cpu,
            keep_vlan,
            no_tcpreplay,
            ingest_arg,
            json,
        } => {
            anyhow::ensure!(capture_rate > 0.0, "--capture-rate must be positive");
            let rates = if rates.is_empty() {
                if quick {
                    vec![Some(20_000.0)]
                } else {
                    [25_000.0, 50_000.0, 100_000.0, 200_000.0, 300_000.0]
                        .into_iter()
                        .map(Some)
                        .chain([None])
                        .collect()
                }
            } else {
                parse_rates(&rates)?
            };
            let peers = if quick {
                Vec::new()
            } else {
                peers
                    .iter()
                    .filter(|p| p.as_str() != "none")
                    .map(|p| e2e::Peer::from_name(p).with_context(|| format!("unknown peer {p:?}")))
                    .collect::<anyhow::Result<_>>()?
            };
            let opts = e2e::E2eOptions {
                ingest: ingest_path(ingest)?,
                rules,
                // Absolute: the peers are given paths inside it, and rsyslog leaves the working
                // directory.
                out: std::path::absolute(&out)
                    .with_context(|| format!("the output folder {}", out.display()))?,
                capture: traffic::GenOptions {
                    seed,
                    messages,
                    rate: capture_rate,
                    hosts,
                },
                rates,
                socket: !quick,
                peers,
                sender_cpu,
                receiver_cpu,
                keep_vlan,
                cpu: !quick,
                seconds: if quick { 1.0 } else { seconds },
                tcpreplay: !quick && !no_tcpreplay,
                ingest_args: ingest_arg,
                progress: !json,
            };
            let report = e2e::run(&opts)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                e2e::print_summary(&report);
            }
            Ok(())
        }
        Command::Report { stats, out, name } => {
            let text =
                std::fs::read(&stats).with_context(|| format!("reading {}", stats.display()))?;
            let value: serde_json::Value = serde_json::from_slice(&text)
                .with_context(|| format!("{} is not JSON", stats.display()))?;
            let stages = report::stages_of(&value)?;
            print!("{}", report::table(&stages));
            let files = report::write(
                &out,
                &name,
                &format!("ingest: {}", stats.display()),
                &stages,
            )?;
            for f in files {
                println!("{}", f.display());
            }
            Ok(())
        }
        Command::Detect {
            seconds,
            only,
            passes,
            json,
        } => {
            let how = match passes {
                Some(n) => detect::Measure::Passes(n),
                None => detect::Measure::Seconds(seconds),
            };
            let results = detect::run(how, &only)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&results)?);
            } else {
                detect::print_table(&results);
            }
            Ok(())
        }
        Command::Templates { json } => {
            let results = templates::run()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&results)?);
            } else {
                templates::print_table(&results);
            }
            Ok(())
        }
        Command::Parse {
            seconds,
            only,
            kinds,
            json,
        } => {
            let results = parse::run(seconds, &only, kinds);
            if json {
                println!("{}", serde_json::to_string_pretty(&results)?);
            } else {
                parse::print_table(&results);
            }
            Ok(())
        }
        Command::Datapath {
            ingest,
            rates,
            duration,
            sender_cpu,
            receiver_cpu,
            poll_coalesce_us,
            repeat,
            json,
        } => {
            let rates = parse_rates(&rates)?;
            let opts = datapath::DatapathOptions {
                ingest: ingest_path(ingest)?,
                rates,
                duration: Duration::try_from_secs_f64(duration).context("--duration")?,
                sender_cpu,
                receiver_cpu,
                poll_coalesce_us,
                repeat: repeat.max(1),
            };
            let report = datapath::run(&opts)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                datapath::print_table(&report);
            }
            Ok(())
        }
    }
}

/// Sleeps `sleep_us` in a loop and reports the CPU busy time per cycle, from the idle time of
/// every CPU (so the wakeup's cost on any CPU counts).
fn wakeups(sleep_us: u64, duration: f64) -> anyhow::Result<()> {
    let cpus = ingest::sys::cpu::online_cpus()?;
    let duration = Duration::try_from_secs_f64(duration).context("--duration")?;
    let idle_before = datapath::cpu_idle_ns(&cpus)?;
    let start = std::time::Instant::now();
    let mut cycles = 0u64;
    while start.elapsed() < duration {
        std::thread::sleep(Duration::from_micros(sleep_us));
        cycles += 1;
    }
    let wall = start.elapsed().as_nanos() as u64 * cpus.len() as u64;
    let busy = wall.saturating_sub(datapath::cpu_idle_ns(&cpus)?.saturating_sub(idle_before));
    println!(
        "{cycles} sleeps of {sleep_us} µs on {} CPUs: {} ms busy, {} ns of CPU per sleep and wakeup",
        cpus.len(),
        busy / 1_000_000,
        busy / cycles.max(1)
    );
    Ok(())
}

/// Rates in frames per second; `max` is unpaced.
fn parse_rates(rates: &[String]) -> anyhow::Result<Vec<Option<f64>>> {
    rates
        .iter()
        .map(|r| match r.as_str() {
            "max" => Ok(None),
            n => n
                .parse::<f64>()
                .ok()
                .filter(|v| *v > 0.0)
                .map(Some)
                .with_context(|| format!("bad rate {n:?}")),
        })
        .collect()
}

fn ingest_path(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    Ok(match given {
        Some(path) => path,
        None => std::env::current_exe()?.with_file_name("ingest"),
    })
}

fn demo(ingest: Option<PathBuf>, count: u32) -> anyhow::Result<()> {
    netns::available().map_err(|why| anyhow::anyhow!("the demo needs namespaces: {why}"))?;
    let ingest = ingest_path(ingest)?;
    let pair = VethPair::create().context("creating the veth pair")?;
    println!(
        "namespaces {} ({} {}) <-> {} ({} {})",
        pair.ns_a,
        netns::IFACE_A,
        netns::ADDR_A,
        pair.ns_b,
        netns::IFACE_B,
        netns::ADDR_B
    );
    let stats = std::env::temp_dir().join(format!("ingest-demo-{}.json", std::process::id()));
    let mut cmd = VethPair::command(&pair.ns_b, ingest.to_str().context("ingest path")?);
    cmd.args(["run", "--iface", netns::IFACE_B, "--print", "--stats-json"])
        .arg(&stats);
    let mut daemon =
        Spawned::spawn(cmd).with_context(|| format!("starting {}", ingest.display()))?;
    let ready = daemon.wait_for_first_line("\"ready\"", Duration::from_secs(30))?;
    println!("ingest ready: {ready}");

    for i in 1..=count {
        let status = VethPair::command(&pair.ns_a, "logger")
            .args(["--udp", "--rfc5424", "-n"])
            .arg(netns::ADDR_B.to_string())
            .args(["-P", "514", "-t", "demo", "-p", "auth.warning"])
            .arg(format!(
                "Failed password for root from 198.18.0.1 port {} ssh2 (demo {i}/{count})",
                40000 + i
            ))
            .status()
            .context("running logger")?;
        if !status.success() {
            bail!("logger failed: {status}");
        }
    }
    let ping = VethPair::command(&pair.ns_a, "ping")
        .args(["-c", "1", "-W", "2", "-q"])
        .arg(netns::ADDR_B.to_string())
        .stdout(Stdio::null())
        .status()?;
    println!(
        "ping {} through the kernel path: {}",
        netns::ADDR_B,
        if ping.success() {
            "answered"
        } else {
            "NOT answered"
        }
    );

    let (status, received) = daemon.terminate_after_lines(
        count as usize,
        Duration::from_secs(5),
        Duration::from_secs(10),
    )?;
    if !status.success() {
        bail!("ingest exited with {status}");
    }
    println!("received through AF_XDP:");
    for line in &received {
        println!("  {line}");
    }
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&stats)?)?;
    let _ = std::fs::remove_file(&stats);
    println!("counters: {}", serde_json::to_string_pretty(&report)?);
    let got = report["messages_received_xdp_total"].as_u64().unwrap_or(0);
    if got != u64::from(count) {
        bail!("sent {count} syslog messages, {got} arrived through AF_XDP");
    }
    println!("demo ok: {count} sent, {got} received through AF_XDP; namespaces removed");
    Ok(())
}
