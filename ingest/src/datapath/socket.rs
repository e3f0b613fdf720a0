//! The kernel socket path: UDP datagrams the XDP program passed on (fragments, queues without a
//! socket), every datagram under `--backend socket`, and TCP syslog (RFC 6587). It feeds the
//! same [`Pipeline`] as AF_XDP, and judges every datagram and connection by the same
//! [`SourceFilter`] as the XDP program.

use std::{
    io::{self, Read},
    net::{Ipv6Addr, SocketAddr, TcpListener, TcpStream},
    os::fd::AsRawFd,
    sync::Arc,
    time::{Duration, Instant},
};

use detector::parse::framing::{Frame, StreamDecoder};

use arrayvec::ArrayVec;
use detector::engine::MAX_BATCH;

use crate::{
    datapath::filter::SourceFilter,
    datapath::pipeline::{Message, Path, Pipeline, monotonic_ns},
    sys::{self, udp::UdpReceiver},
};

/// Limits of the TCP listener.
#[derive(Clone, Debug)]
pub struct TcpOptions {
    /// Longest message accepted on a connection; longer ones are skipped and counted.
    pub max_message: usize,
    /// A connection silent for this long is closed.
    pub idle_timeout: Duration,
    /// Most connections open at once; more are refused and counted.
    pub max_connections: usize,
}

impl Default for TcpOptions {
    fn default() -> Self {
        Self {
            max_message: 64 * 1024,
            idle_timeout: Duration::from_secs(300),
            max_connections: 1024,
        }
    }
}

/// What the TCP listener counted. The `dropped_*` fields are named drops.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct TcpCounters {
    /// Connections accepted.
    pub connections_accepted: u64,
    /// Connections refused because `max_connections` were open.
    pub connections_refused: u64,
    /// Connections from a sender the source filter denies, closed at once without reading.
    pub connections_denied: u64,
    /// Connections closed by the peer or after an error.
    pub connections_closed: u64,
    /// Connections closed by the idle timeout.
    pub connections_idle_closed: u64,
    /// Messages longer than `max_message`, skipped.
    pub dropped_too_long: u64,
    /// Connections whose octet count could not be read: the rest of the stream was discarded.
    pub dropped_bad_framing: u64,
    /// Connections that ended in the middle of a message: that message was lost.
    pub dropped_partial_at_close: u64,
}

impl TcpCounters {
    /// Adds `other` into `self`.
    pub fn add(&mut self, o: &Self) {
        self.connections_accepted += o.connections_accepted;
        self.connections_refused += o.connections_refused;
        self.connections_denied += o.connections_denied;
        self.connections_closed += o.connections_closed;
        self.connections_idle_closed += o.connections_idle_closed;
        self.dropped_too_long += o.dropped_too_long;
        self.dropped_bad_framing += o.dropped_bad_framing;
        self.dropped_partial_at_close += o.dropped_partial_at_close;
    }
}

#[derive(Debug)]
struct Conn {
    stream: TcpStream,
    peer: SocketAddr,
    port: u16,
    decoder: StreamDecoder,
    last_active: Instant,
}

/// Non-blocking TCP syslog listeners (one per port) and their connections.
#[derive(Debug)]
pub struct TcpServer {
    listeners: Vec<(TcpListener, u16)>,
    conns: Vec<Conn>,
    opts: TcpOptions,
    filter: Arc<SourceFilter>,
    buf: Box<[u8]>,
    counters: TcpCounters,
}

/// Turns IPv4-mapped IPv6 peers back into IPv4.
fn unmap(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V6(a) => match a.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(v4.into(), a.port()),
            None => addr,
        },
        v4 => v4,
    }
}

impl TcpServer {
    /// Listens on `[::]:port` (IPv4 and IPv6) for every port; connections from senders `filter`
    /// denies are closed at once.
    pub fn bind(ports: &[u16], opts: TcpOptions, filter: Arc<SourceFilter>) -> io::Result<Self> {
        let mut listeners = Vec::new();
        for &port in ports {
            let l = TcpListener::bind((Ipv6Addr::UNSPECIFIED, port))
                .or_else(|_| TcpListener::bind(("0.0.0.0", port)))?;
            l.set_nonblocking(true)?;
            let port = l.local_addr()?.port();
            listeners.push((l, port));
        }
        Ok(Self {
            listeners,
            conns: Vec::with_capacity(opts.max_connections),
            buf: vec![0; 64 * 1024].into_boxed_slice(),
            opts,
            filter,
            counters: TcpCounters::default(),
        })
    }

    /// The ports listened on (as bound: the kernel's choice for port 0).
    pub fn ports(&self) -> Vec<u16> {
        self.listeners.iter().map(|(_, p)| *p).collect()
    }

    /// Counters so far.
    pub fn counters(&self) -> TcpCounters {
        self.counters
    }

    fn accept(&mut self) {
        for (listener, port) in &self.listeners {
            loop {
                match listener.accept() {
                    Ok((stream, peer)) => {
                        let peer = unmap(peer);
                        if self.filter.denies(peer.ip()) {
                            // Dropping the stream closes it: nothing is read from a denied
                            // sender, and it sees the connection end.
                            self.counters.connections_denied += 1;
                            continue;
                        }
                        if self.conns.len() >= self.opts.max_connections {
                            self.counters.connections_refused += 1;
                            continue;
                        }
                        if stream.set_nonblocking(true).is_err() {
                            self.counters.connections_closed += 1;
                            continue;
                        }
                        self.counters.connections_accepted += 1;
                        self.conns.push(Conn {
                            stream,
                            peer,
                            port: *port,
                            decoder: StreamDecoder::new(self.opts.max_message),
                            last_active: Instant::now(),
                        });
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    // A connection reset before accept, or out of descriptors: try next time.
                    Err(_) => break,
                }
            }
        }
    }

    /// Accepts new connections, reads what every connection has (one read each), hands
    /// complete messages to `pipeline`, and closes idle ones. Returns the messages handled.
    pub fn poll_batch(&mut self, pipeline: &mut Pipeline) -> usize {
        self.accept();
        let now = Instant::now();
        let mut handled = 0;
        let mut i = 0;
        while i < self.conns.len() {
            let conn = &mut self.conns[i];
            let outcome = match conn.stream.read(&mut self.buf) {
                Ok(0) => Some(false),
                Ok(n) => {
                    conn.last_active = now;
                    let (src, port) = (conn.peer, conn.port);
                    let counters = &mut self.counters;
                    conn.decoder.push(&self.buf[..n], |frame| match frame {
                        Frame::Message(payload) => {
                            handled += 1;
                            pipeline.handle(&Message {
                                path: Path::Tcp,
                                src,
                                dst_port: port,
                                vlan: None,
                                payload,
                                arrival_ns: None,
                            });
                        }
                        Frame::TooLong { .. } => counters.dropped_too_long += 1,
                        Frame::BadLength => counters.dropped_bad_framing += 1,
                    });
                    conn.decoder.failed().then_some(false)
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    (now.duration_since(conn.last_active) >= self.opts.idle_timeout).then_some(true)
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => None,
                Err(_) => Some(false),
            };
            match outcome {
                Some(idle) => self.close(i, idle),
                None => i += 1,
            }
        }
        handled
    }

    fn close(&mut self, i: usize, idle: bool) {
        let conn = self.conns.swap_remove(i);
        if conn.decoder.pending() > 0 {
            self.counters.dropped_partial_at_close += 1;
        }
        if idle {
            self.counters.connections_idle_closed += 1;
        } else {
            self.counters.connections_closed += 1;
        }
    }

    /// Closes every connection (at shutdown), counting unfinished messages.
    pub fn close_all(&mut self) {
        while !self.conns.is_empty() {
            self.close(self.conns.len() - 1, false);
        }
    }

    fn poll_fds(&self, fds: &mut Vec<libc::pollfd>) {
        let fd = |raw| libc::pollfd {
            fd: raw,
            events: libc::POLLIN,
            revents: 0,
        };
        fds.extend(self.listeners.iter().map(|(l, _)| fd(l.as_raw_fd())));
        fds.extend(self.conns.iter().map(|c| fd(c.stream.as_raw_fd())));
    }
}

/// What the UDP side of the socket path counted.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct UdpCounters {
    /// Datagrams taken from the sockets (received, or dropped as denied).
    pub datagrams: u64,
    /// `recvmmsg` calls that returned at least one.
    pub batches: u64,
    /// Datagrams from senders the source filter denies: dropped unread, a named drop.
    pub dropped_denied: u64,
    /// Datagrams the kernel cut to the receive buffer (`MSG_TRUNC`: longer than any IPv6
    /// datagram without a jumbo payload can be): dropped, a named drop.
    pub dropped_truncated: u64,
    /// Datagrams whose sender address is neither IPv4 nor IPv6: dropped, a named drop.
    pub dropped_no_source: u64,
    /// Datagrams the kernel dropped at these sockets (full receive buffer, bad checksum),
    /// as last read: a named drop.
    pub dropped_socket: u64,
}

impl UdpCounters {
    /// Adds `other` into `self`.
    pub fn add(&mut self, o: &Self) {
        self.datagrams += o.datagrams;
        self.batches += o.batches;
        self.dropped_denied += o.dropped_denied;
        self.dropped_truncated += o.dropped_truncated;
        self.dropped_no_source += o.dropped_no_source;
        self.dropped_socket += o.dropped_socket;
    }
}

/// One socket worker's sources: a UDP socket per log port, and the TCP listeners if this worker
/// serves TCP.
#[derive(Debug)]
pub struct SocketSource {
    udp: Vec<UdpReceiver>,
    tcp: Option<TcpServer>,
    filter: Arc<SourceFilter>,
    pollfds: Vec<libc::pollfd>,
    udp_counters: UdpCounters,
}

impl SocketSource {
    /// Binds a UDP socket (SO_REUSEPORT, `rcvbuf` bytes) for each port, and the TCP listeners
    /// when `tcp` is given. Whatever a sender `filter` denies is dropped and counted.
    pub fn bind(
        ports: &[u16],
        rcvbuf: usize,
        batch: usize,
        tcp: Option<TcpOptions>,
        filter: Arc<SourceFilter>,
    ) -> io::Result<Self> {
        let udp = ports
            .iter()
            .map(|&p| UdpReceiver::bind(p, rcvbuf, batch))
            .collect::<io::Result<Vec<_>>>()?;
        let tcp = tcp
            .map(|o| TcpServer::bind(ports, o, filter.clone()))
            .transpose()?;
        Ok(Self {
            udp,
            tcp,
            filter,
            pollfds: Vec::with_capacity(64),
            udp_counters: UdpCounters::default(),
        })
    }

    /// The receive buffer the kernel granted the UDP sockets.
    pub fn udp_rcvbuf(&self) -> usize {
        self.udp.first().map_or(0, UdpReceiver::rcvbuf)
    }

    /// Whether this source serves TCP.
    pub fn serves_tcp(&self) -> bool {
        self.tcp.is_some()
    }

    /// Takes one batch from every UDP socket and the TCP connections. Returns the messages.
    pub fn poll_batch(&mut self, pipeline: &mut Pipeline) -> io::Result<usize> {
        let mut total = 0;
        let (filter, counters) = (&self.filter, &mut self.udp_counters);
        for sock in &mut self.udp {
            let port = sock.port();
            let n = sock.recv_batch(|datagrams| {
                let pickup_ns = monotonic_ns();
                let mut batch: ArrayVec<Message<'_>, MAX_BATCH> = ArrayVec::new();
                for d in datagrams {
                    let Some(src) = d.src else {
                        counters.dropped_no_source += 1;
                        continue;
                    };
                    if filter.denies(src.ip()) {
                        counters.dropped_denied += 1;
                        continue;
                    }
                    if d.truncated {
                        counters.dropped_truncated += 1;
                        continue;
                    }
                    let payload = d.payload;
                    batch.push(Message {
                        path: Path::Udp,
                        src,
                        dst_port: port,
                        vlan: None,
                        payload,
                        arrival_ns: None,
                    });
                    if batch.is_full() {
                        pipeline.handle_batch(&batch, pickup_ns);
                        batch.clear();
                    }
                }
                pipeline.handle_batch(&batch, pickup_ns);
            })?;
            if n > 0 {
                counters.datagrams += n as u64;
                counters.batches += 1;
            }
            total += n;
        }
        if let Some(tcp) = &mut self.tcp {
            total += tcp.poll_batch(pipeline);
        }
        Ok(total)
    }

    /// Sleeps in `poll()` until a socket has something or `timeout_ms` passes.
    pub fn wait(&mut self, timeout_ms: i32) -> io::Result<()> {
        self.pollfds.clear();
        self.pollfds.extend(self.udp.iter().map(|s| libc::pollfd {
            fd: s.fd(),
            events: libc::POLLIN,
            revents: 0,
        }));
        if let Some(tcp) = &self.tcp {
            tcp.poll_fds(&mut self.pollfds);
        }
        sys::poll(&mut self.pollfds, timeout_ms).map(drop)
    }

    /// The counters so far.
    pub fn counters(&self) -> (UdpCounters, Option<TcpCounters>) {
        (
            self.udp_counters,
            self.tcp.as_ref().map(TcpServer::counters),
        )
    }

    /// Reads the kernel's drop counts of the UDP sockets into the counters (a system call per
    /// socket: for the slow interval). A socket that cannot say keeps its last count.
    pub fn refresh_kernel_drops(&mut self) {
        for s in &mut self.udp {
            if let Err(e) = s.read_kernel_drops() {
                log::debug!("drop count of UDP port {}: {e}", s.port());
            }
        }
        self.udp_counters.dropped_socket = self.udp.iter().map(UdpReceiver::kernel_drops).sum();
    }

    /// Closes every TCP connection (counting messages cut off mid-stream).
    pub fn close_tcp(&mut self) {
        if let Some(tcp) = &mut self.tcp {
            tcp.close_all();
        }
    }
}
