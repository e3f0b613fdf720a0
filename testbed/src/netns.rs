//! Test networks: two network namespaces joined by a veth pair, with addresses from the
//! benchmarking ranges, 198.18.0.0/15 (RFC 2544) and 2001:2::/48 (RFC 5180). Used by the
//! integration tests and by `bench`.
//!
//! Everything is removed when the [`VethPair`] is dropped, also when a test panics. Namespace
//! names carry the process id and a sequence number, so concurrent tests never collide and a
//! leftover from a killed run is recognisable (`ip netns list | grep ^ingt`).

use std::{
    fs::File,
    io::{self, BufRead, BufReader},
    net::{Ipv4Addr, Ipv6Addr},
    process::{Child, Command, ExitStatus, Output, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU32, Ordering},
        mpsc,
    },
    time::{Duration, Instant},
};

use nix::{
    sched::{CloneFlags, setns},
    sys::signal::{Signal, kill},
    unistd::Pid,
};

/// The sending side's address.
pub const ADDR_A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
/// The receiving side's address.
pub const ADDR_B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

/// The sending side's IPv6 address.
pub const ADDR6_A: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 1);
/// The receiving side's IPv6 address.
pub const ADDR6_B: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 2);

/// Interface name of each end, inside its own namespace.
pub const IFACE_A: &str = "veth-a";
/// Interface name of the receiving end, inside its namespace.
pub const IFACE_B: &str = "veth-b";

static SEQ: AtomicU32 = AtomicU32::new(0);

/// Two namespaces, `a` (sender, [`ADDR_A`] and [`ADDR6_A`] on [`IFACE_A`]) and `b` (receiver,
/// [`ADDR_B`] and [`ADDR6_B`] on [`IFACE_B`]), joined by a veth pair. The IPv4 subnet is a /24,
/// so tests can add more sender addresses from 198.18.0.0/24.
#[derive(Debug)]
pub struct VethPair {
    /// Name of the sender's namespace.
    pub ns_a: String,
    /// Name of the receiver's namespace.
    pub ns_b: String,
}

impl VethPair {
    /// Creates the namespaces and the link, and brings everything up.
    pub fn create() -> io::Result<Self> {
        Self::create_with_queues(1)
    }

    /// As [`VethPair::create`], with `queues` receive and transmit queues on each end. veth
    /// hands a frame to the peer's receive queue of the same index as the transmit queue the
    /// sender picked, so different flows spread over the queues.
    pub fn create_with_queues(queues: u32) -> io::Result<Self> {
        let q = queues.max(1).to_string();
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let base = format!("ingt{}-{seq}", std::process::id());
        let pair = VethPair {
            ns_a: format!("{base}-a"),
            ns_b: format!("{base}-b"),
        };
        // From here on, Drop removes whatever part was made.
        ip(&["netns", "add", &pair.ns_a])?;
        ip(&["netns", "add", &pair.ns_b])?;
        ip(&[
            "-n",
            &pair.ns_a,
            "link",
            "add",
            IFACE_A,
            "numtxqueues",
            &q,
            "numrxqueues",
            &q,
            "type",
            "veth",
            "peer",
            "name",
            IFACE_B,
            "numtxqueues",
            &q,
            "numrxqueues",
            &q,
            "netns",
            &pair.ns_b,
        ])?;
        for (ns, iface, addr, addr6) in [
            (&pair.ns_a, IFACE_A, ADDR_A, ADDR6_A),
            (&pair.ns_b, IFACE_B, ADDR_B, ADDR6_B),
        ] {
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
            bring_up(ns, iface, addr, addr6)?;
            // A veth leaves the checksums of what its stack sends to be filled in by an offload
            // that never runs (CHECKSUM_PARTIAL), and AF_XDP would see them half made. Summed in
            // software they are whole, as they are on a wire.
            run(Self::command(ns, "ethtool").args(["-K", iface, "tx", "off"]))?;
        }
        Ok(pair)
    }

    /// Moves the receiving end out of its namespace for `away`, then back, with its addresses
    /// set again and up: what an interface that is unregistered and comes back does to the
    /// AF_XDP sockets bound to it (the kernel unbinds them), while the XDP program stays.
    pub fn move_b_away_and_back(&self, away: std::time::Duration) -> io::Result<()> {
        /// Removes the holding namespace, also when a step fails; were the veth end still in
        /// it, that destroys the pair, which the test then reports.
        struct Holding(String);
        impl Drop for Holding {
            fn drop(&mut self) {
                if let Err(err) = ip(&["netns", "del", &self.0]) {
                    log::warn!("removing namespace {}: {err}", self.0);
                }
            }
        }
        let holding = Holding(format!("{}-away", self.ns_b));
        ip(&["netns", "add", &holding.0])?;
        ip(&[
            "-n", &self.ns_b, "link", "set", IFACE_B, "netns", &holding.0,
        ])?;
        std::thread::sleep(away);
        ip(&[
            "-n", &holding.0, "link", "set", IFACE_B, "netns", &self.ns_b,
        ])?;
        // Moving a device between namespaces takes its addresses.
        bring_up(&self.ns_b, IFACE_B, ADDR_B, ADDR6_B)?;
        Ok(())
    }

    /// Adds an address (`ADDR/LEN`) to a namespace's veth end; an IPv6 one without duplicate
    /// address detection, so it is usable at once.
    pub fn add_address(&self, ns: &str, cidr: &str) -> io::Result<()> {
        let iface = if ns == self.ns_a { IFACE_A } else { IFACE_B };
        let mut args = vec!["-n", ns, "addr", "add", cidr, "dev", iface];
        if cidr.contains(':') {
            args.push("nodad");
        }
        ip(&args).map(drop)
    }

    /// The MAC address of a namespace's veth end.
    pub fn mac(&self, ns: &str) -> io::Result<[u8; 6]> {
        let iface = if ns == self.ns_a { IFACE_A } else { IFACE_B };
        let out = ip(&["-n", ns, "-o", "link", "show", "dev", iface])?;
        let text = String::from_utf8_lossy(&out.stdout);
        text.split_whitespace()
            .skip_while(|w| *w != "link/ether")
            .nth(1)
            .and_then(crate::craft::parse_mac)
            .ok_or_else(|| io::Error::other(format!("no MAC address in {text:?}")))
    }

    /// A command to run inside namespace `ns`.
    pub fn command(ns: &str, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns, program]);
        cmd
    }

    /// Runs `f` on a thread that has entered namespace `ns`, and returns its result. Sockets made
    /// inside `f` stay in that namespace.
    pub fn run_in<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> io::Result<T> {
        let handle = File::open(format!("/run/netns/{ns}"))?;
        std::thread::scope(|s| {
            s.spawn(move || {
                setns(&handle, CloneFlags::CLONE_NEWNET).map_err(io::Error::from)?;
                Ok(f())
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }
}

impl Drop for VethPair {
    fn drop(&mut self) {
        // Deleting a namespace destroys the veth end in it, and with it the peer.
        for ns in [&self.ns_a, &self.ns_b] {
            if let Err(err) = ip(&["netns", "del", ns]) {
                log::warn!("removing namespace {ns}: {err}");
            }
        }
    }
}

/// A process started by a test or by `bench` (typically `ingest run` inside a namespace), whose
/// stdout is read line by line on a thread. Dropping it kills the process if it still runs, so a
/// failing test never leaves it behind.
#[derive(Debug)]
pub struct Spawned {
    child: Child,
    lines: mpsc::Receiver<String>,
    paused: Arc<AtomicBool>,
}

impl Spawned {
    /// The process id (of the program itself: `ip netns exec` execs it in place).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Starts `cmd` with stdout piped (stderr is inherited, so its log shows in test output).
    pub fn spawn(mut cmd: Command) -> io::Result<Self> {
        let mut child = cmd.stdout(Stdio::piped()).spawn()?;
        let stdout = child.stdout.take().expect("stdout was piped");
        let (tx, lines) = mpsc::channel();
        let paused = Arc::new(AtomicBool::new(false));
        let gate = paused.clone();
        std::thread::spawn(move || {
            let mut reader = BufReader::with_capacity(4096, stdout);
            let mut line = String::new();
            loop {
                while gate.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(5));
                }
                line.clear();
                match reader.read_line(&mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let l = line.trim_end_matches(['\n', '\r']).to_string();
                        if tx.send(l).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        Ok(Self {
            child,
            lines,
            paused,
        })
    }

    /// Stops reading stdout (with `true`) until called again with `false`: once the pipe is
    /// full, the process blocks writing to it, as behind a stalled log collector.
    pub fn pause_reading(&self, paused: bool) {
        self.paused.store(paused, Ordering::Relaxed);
    }

    /// The process's stderr, when the command piped it (once).
    pub fn take_stderr(&mut self) -> Option<std::process::ChildStderr> {
        self.child.stderr.take()
    }

    /// The exit status, if the process has ended.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        self.child.try_wait()
    }

    /// The next stdout line, if one comes within `timeout`.
    pub fn next_line(&self, timeout: Duration) -> Option<String> {
        self.lines.recv_timeout(timeout).ok()
    }

    /// Waits for the first stdout line and checks that it contains `marker` (as `ingest run`'s
    /// `{"event":"ready"}` line does). Fails early, with the exit status, if the process dies.
    pub fn wait_for_first_line(&mut self, marker: &str, timeout: Duration) -> io::Result<String> {
        match self.lines.recv_timeout(timeout) {
            Ok(line) if line.contains(marker) => Ok(line),
            Ok(line) => Err(io::Error::other(format!(
                "expected a line with {marker:?} first, got {line:?}"
            ))),
            Err(mpsc::RecvTimeoutError::Timeout) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no line with {marker:?} within {timeout:?}"),
            )),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = self.child.wait()?;
                Err(io::Error::other(format!(
                    "the process exited ({status}) before printing {marker:?}; its log is above"
                )))
            }
        }
    }

    /// Reads stdout lines until `count` have come or `wait` has passed, lets 200 ms more pass so
    /// that a surplus shows too, then stops the process with [`Spawned::terminate`]; returns its
    /// exit status and every line read.
    pub fn terminate_after_lines(
        self,
        count: usize,
        wait: Duration,
        timeout: Duration,
    ) -> io::Result<(ExitStatus, Vec<String>)> {
        let mut lines = Vec::new();
        let deadline = Instant::now() + wait;
        while lines.len() < count && Instant::now() < deadline {
            if let Some(line) = self.next_line(Duration::from_millis(100)) {
                lines.push(line);
            }
        }
        std::thread::sleep(Duration::from_millis(200));
        let (status, rest) = self.terminate(timeout)?;
        lines.extend(rest);
        Ok((status, lines))
    }

    /// Sends SIGTERM and waits up to `timeout` for the exit; returns the exit status and the
    /// stdout lines not yet read. Kills the process if it does not exit in time.
    pub fn terminate(mut self, timeout: Duration) -> io::Result<(ExitStatus, Vec<String>)> {
        self.pause_reading(false);
        let pid = Pid::from_raw(i32::try_from(self.child.id()).map_err(io::Error::other)?);
        kill(pid, Signal::SIGTERM)?;
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                // The reader thread ends at EOF; collect everything it read.
                let rest = self.lines.iter().collect();
                return Ok((status, rest));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("no exit within {timeout:?} of SIGTERM"),
        ))
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Why this process cannot make namespaces and attach XDP programs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Unavailable {
    /// Not root.
    #[error("not running as root")]
    NotRoot,
    /// No iproute2.
    #[error("the `ip` command (iproute2) is missing")]
    NoIp,
    /// A kernel without network namespaces.
    #[error("the kernel has no network namespaces")]
    NoNamespaces,
}

/// Whether this process may create namespaces and attach XDP programs: running as root,
/// with `ip` present and network namespaces supported by the kernel.
pub fn available() -> Result<(), Unavailable> {
    if !nix::unistd::geteuid().is_root() {
        return Err(Unavailable::NotRoot);
    }
    match Command::new("ip").arg("-V").output() {
        Ok(out) if out.status.success() => {}
        _ => return Err(Unavailable::NoIp),
    }
    if !std::path::Path::new("/proc/self/ns/net").exists() {
        return Err(Unavailable::NoNamespaces);
    }
    Ok(())
}

/// Runs `cmd`; its status not success is an error carrying the command line and its stderr.
fn run(cmd: &mut Command) -> io::Result<Output> {
    let out = cmd.output()?;
    if !out.status.success() {
        let line: Vec<String> = std::iter::once(cmd.get_program())
            .chain(cmd.get_args())
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        return Err(io::Error::other(format!(
            "{}: {}",
            line.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(out)
}

/// Gives `iface` in `ns` the addresses `addr`/24 and `addr6`/64 and brings it up; the IPv6
/// one without duplicate address detection, so it is usable at once.
fn bring_up(ns: &str, iface: &str, addr: Ipv4Addr, addr6: Ipv6Addr) -> io::Result<()> {
    ip(&["-n", ns, "addr", "add", &format!("{addr}/24"), "dev", iface])?;
    ip(&[
        "-n",
        ns,
        "addr",
        "add",
        &format!("{addr6}/64"),
        "dev",
        iface,
        "nodad",
    ])?;
    ip(&["-n", ns, "link", "set", iface, "up"])?;
    Ok(())
}

fn ip(args: &[&str]) -> io::Result<Output> {
    run(Command::new("ip").args(args))
}
