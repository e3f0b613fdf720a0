//! The kernel socket path: UDP datagrams the XDP program passed on (fragments, queues without a
//! socket), every datagram under `--backend socket`, and syslog over TCP and TLS ([`TcpServer`]). It
//! feeds the same [`Pipeline`] as AF_XDP, and judges every datagram and connection by the same
//! [`SourceFilter`] as the XDP program.

mod tcp;

use std::{io, sync::Arc};

pub use tcp::{TcpCounters, TcpListen, TcpOptions, TcpServer};

use arrayvec::ArrayVec;
use detector::engine::MAX_BATCH;

use crate::{
    datapath::filter::SourceFilter,
    datapath::pipeline::{Message, Path, Pipeline, monotonic_ns},
    sys::{self, udp::UdpReceiver},
};

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
    /// Binds a UDP socket (SO_REUSEPORT, `rcvbuf` bytes) for each port, and the TCP and TLS
    /// listeners when `tcp` is given. Whatever a sender `filter` denies is dropped and counted.
    pub fn bind(
        ports: &[u16],
        rcvbuf: usize,
        batch: usize,
        tcp: Option<TcpListen>,
        filter: Arc<SourceFilter>,
    ) -> io::Result<Self> {
        let udp = ports
            .iter()
            .map(|&p| UdpReceiver::bind(p, rcvbuf, batch))
            .collect::<io::Result<Vec<_>>>()?;
        let tcp = tcp
            .map(|l| TcpServer::bind(l, filter.clone()))
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
                        pipeline.handle_received(&batch, pickup_ns, monotonic_ns());
                        batch.clear();
                    }
                }
                pipeline.handle_received(&batch, pickup_ns, monotonic_ns());
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
                tracing::debug!("drop count of UDP port {}: {e}", s.port());
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
