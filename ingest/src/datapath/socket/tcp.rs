//! Syslog over TCP: plaintext (RFC 6587, octet-counted or newline-framed) and TLS (RFC 5425,
//! with an optional client-certificate check). Non-blocking listeners and connections, read by
//! the socket worker between its UDP batches.

use std::{
    io::{self, Read},
    net::{Ipv6Addr, SocketAddr, TcpListener, TcpStream},
    os::fd::AsRawFd,
    sync::Arc,
    time::{Duration, Instant},
};

use detector::parse::framing::{Frame, StreamDecoder};
use rustls::ServerConnection;

use crate::{
    datapath::filter::SourceFilter,
    datapath::pipeline::{Message, Path, Pipeline},
    tls::{Acceptor, Refusal},
};

/// Limits of the TCP listeners.
#[derive(Clone, Debug)]
pub struct TcpOptions {
    /// Longest message accepted on a connection; longer ones are skipped and counted.
    pub max_message: usize,
    /// A connection silent for this long is closed.
    pub idle_timeout: Duration,
    /// Most connections open at once; more are refused and counted.
    pub max_connections: usize,
    /// A TLS handshake not finished in this long is refused and counted.
    pub handshake_timeout: Duration,
}

impl Default for TcpOptions {
    fn default() -> Self {
        Self {
            max_message: 64 * 1024,
            idle_timeout: Duration::from_secs(300),
            max_connections: 1024,
            handshake_timeout: Duration::from_secs(10),
        }
    }
}

/// What a worker's TCP side listens on.
#[derive(Clone, Debug)]
pub struct TcpListen {
    /// Plaintext syslog ports (RFC 6587).
    pub plain: Vec<u16>,
    /// TLS syslog ports (RFC 5425) and the configuration they accept with.
    pub tls: Option<(Vec<u16>, Acceptor)>,
    /// Limits of both.
    pub options: TcpOptions,
}

/// What the TCP listeners counted. The `dropped_*` fields are named drops; the `tls_refused_*`
/// fields count connections refused in the TLS handshake, before any message.
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
    /// TLS handshakes completed.
    pub tls_handshakes: u64,
    /// Messages received over TLS (also in the TCP path's received messages).
    pub tls_messages: u64,
    /// TLS connections refused: no client certificate, or one the CA does not vouch for.
    pub tls_refused_certificate: u64,
    /// TLS connections refused: a good certificate whose subject is not allowed.
    pub tls_refused_not_allowed: u64,
    /// TLS connections refused: the handshake failed otherwise (plaintext, protocol, cipher).
    pub tls_refused_handshake: u64,
    /// TLS connections refused: the handshake did not finish in time.
    pub tls_refused_timeout: u64,
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
        self.tls_handshakes += o.tls_handshakes;
        self.tls_messages += o.tls_messages;
        self.tls_refused_certificate += o.tls_refused_certificate;
        self.tls_refused_not_allowed += o.tls_refused_not_allowed;
        self.tls_refused_handshake += o.tls_refused_handshake;
        self.tls_refused_timeout += o.tls_refused_timeout;
    }

    /// The TLS connections refused for `why`.
    pub fn tls_refused(&self, why: Refusal) -> u64 {
        match why {
            Refusal::Certificate => self.tls_refused_certificate,
            Refusal::NotAllowed => self.tls_refused_not_allowed,
            Refusal::Handshake => self.tls_refused_handshake,
            Refusal::Timeout => self.tls_refused_timeout,
        }
    }

    fn count_refusal(&mut self, why: Refusal) {
        *match why {
            Refusal::Certificate => &mut self.tls_refused_certificate,
            Refusal::NotAllowed => &mut self.tls_refused_not_allowed,
            Refusal::Handshake => &mut self.tls_refused_handshake,
            Refusal::Timeout => &mut self.tls_refused_timeout,
        } += 1;
    }
}

/// A TLS connection's session and whether its handshake has completed.
#[derive(Debug)]
struct Session {
    tls: ServerConnection,
    established: bool,
}

#[derive(Debug)]
struct Conn {
    stream: TcpStream,
    peer: SocketAddr,
    port: u16,
    decoder: StreamDecoder,
    opened: Instant,
    last_active: Instant,
    /// None: plaintext.
    session: Option<Box<Session>>,
}

/// How a look at a connection ended.
enum Outcome {
    /// Open still.
    Keep,
    /// Closed by the peer, an error, or (`idle`) the idle timeout.
    Close { idle: bool },
    /// Refused in the TLS handshake.
    Refuse(Refusal),
}

#[derive(Debug)]
struct Listener {
    socket: TcpListener,
    port: u16,
    tls: bool,
}

/// Non-blocking TCP syslog listeners (one per port) and their connections.
#[derive(Debug)]
pub struct TcpServer {
    listeners: Vec<Listener>,
    acceptor: Option<Acceptor>,
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
    /// Listens on `[::]:port` (IPv4 and IPv6) for every port of `listen`; connections from
    /// senders `filter` denies are closed at once.
    pub fn bind(listen: TcpListen, filter: Arc<SourceFilter>) -> io::Result<Self> {
        let (tls_ports, acceptor) = listen.tls.unzip();
        let ports = listen
            .plain
            .iter()
            .map(|&p| (p, false))
            .chain(tls_ports.iter().flatten().map(|&p| (p, true)));
        let mut listeners = Vec::new();
        for (port, tls) in ports {
            let socket = TcpListener::bind((Ipv6Addr::UNSPECIFIED, port))
                .or_else(|_| TcpListener::bind(("0.0.0.0", port)))?;
            socket.set_nonblocking(true)?;
            let port = socket.local_addr()?.port();
            listeners.push(Listener { socket, port, tls });
        }
        Ok(Self {
            listeners,
            acceptor,
            conns: Vec::with_capacity(listen.options.max_connections),
            buf: vec![0; 64 * 1024].into_boxed_slice(),
            opts: listen.options,
            filter,
            counters: TcpCounters::default(),
        })
    }

    /// The ports listened on (as bound: the kernel's choice for port 0), plaintext and TLS.
    pub fn ports(&self) -> (Vec<u16>, Vec<u16>) {
        let of = |tls| {
            self.listeners
                .iter()
                .filter(|l| l.tls == tls)
                .map(|l| l.port)
                .collect()
        };
        (of(false), of(true))
    }

    /// Counters so far.
    pub fn counters(&self) -> TcpCounters {
        self.counters
    }

    fn accept(&mut self) {
        for l in &self.listeners {
            loop {
                match l.socket.accept() {
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
                        let session = match (l.tls, &self.acceptor) {
                            (false, _) => None,
                            (true, Some(acceptor)) => match acceptor.session() {
                                Ok(tls) => Some(Box::new(Session {
                                    tls,
                                    established: false,
                                })),
                                Err(e) => {
                                    tracing::warn!(%peer, error = %e, "no TLS session");
                                    self.counters.count_refusal(Refusal::Handshake);
                                    continue;
                                }
                            },
                            (true, None) => unreachable!("TLS listeners come with an acceptor"),
                        };
                        if stream.set_nonblocking(true).is_err() {
                            self.counters.connections_closed += 1;
                            continue;
                        }
                        self.counters.connections_accepted += 1;
                        let now = Instant::now();
                        self.conns.push(Conn {
                            stream,
                            peer,
                            port: l.port,
                            decoder: StreamDecoder::new(self.opts.max_message),
                            opened: now,
                            last_active: now,
                            session,
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
            let mut sink = Sink {
                pipeline: &mut *pipeline,
                counters: &mut self.counters,
                handled: &mut handled,
            };
            let outcome = match &mut conn.session {
                None => read_plain(conn, &mut self.buf, &mut sink, now, &self.opts),
                Some(_) => read_tls(conn, &mut self.buf, &mut sink, now, &self.opts),
            };
            match outcome {
                Outcome::Keep => i += 1,
                Outcome::Close { idle } => self.close(i, idle),
                Outcome::Refuse(why) => {
                    self.counters.count_refusal(why);
                    let conn = self.conns.swap_remove(i);
                    tracing::debug!(peer = %conn.peer, reason = why.name(), "TLS connection refused");
                }
            }
        }
        handled
    }

    fn close(&mut self, i: usize, idle: bool) {
        let mut conn = self.conns.swap_remove(i);
        if conn.decoder.pending() > 0 {
            self.counters.dropped_partial_at_close += 1;
        }
        if let Some(s) = &mut conn.session {
            // Say goodbye as TLS does, if the socket takes it; nothing waits for it.
            s.tls.send_close_notify();
            let _ = s.tls.write_tls(&mut conn.stream);
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

    /// The descriptors to wait on: the listeners, every connection for reading, and those with
    /// TLS records to send for writing.
    pub(super) fn poll_fds(&self, fds: &mut Vec<libc::pollfd>) {
        let fd = |raw, events| libc::pollfd {
            fd: raw,
            events,
            revents: 0,
        };
        fds.extend(
            self.listeners
                .iter()
                .map(|l| fd(l.socket.as_raw_fd(), libc::POLLIN)),
        );
        fds.extend(self.conns.iter().map(|c| {
            let out = c.session.as_ref().is_some_and(|s| s.tls.wants_write());
            let events = libc::POLLIN | if out { libc::POLLOUT } else { 0 };
            fd(c.stream.as_raw_fd(), events)
        }));
    }
}

/// Where a connection's messages go.
struct Sink<'a> {
    pipeline: &'a mut Pipeline,
    counters: &'a mut TcpCounters,
    handled: &'a mut usize,
}

impl Sink<'_> {
    /// Decodes `bytes` of the stream of `conn` and hands on every whole message.
    fn push(&mut self, decoder: &mut StreamDecoder, src: SocketAddr, port: u16, bytes: &[u8]) {
        decoder.push(bytes, |frame| match frame {
            Frame::Message(payload) => {
                *self.handled += 1;
                self.pipeline.handle(&Message {
                    path: Path::Tcp,
                    src,
                    dst_port: port,
                    vlan: None,
                    payload,
                    arrival_ns: None,
                });
            }
            Frame::TooLong { .. } => self.counters.dropped_too_long += 1,
            Frame::BadLength => self.counters.dropped_bad_framing += 1,
        });
    }
}

/// One read of a plaintext connection.
fn read_plain(
    conn: &mut Conn,
    buf: &mut [u8],
    sink: &mut Sink<'_>,
    now: Instant,
    opts: &TcpOptions,
) -> Outcome {
    match conn.stream.read(buf) {
        Ok(0) => Outcome::Close { idle: false },
        Ok(n) => {
            conn.last_active = now;
            sink.push(&mut conn.decoder, conn.peer, conn.port, &buf[..n]);
            if conn.decoder.failed() {
                Outcome::Close { idle: false }
            } else {
                Outcome::Keep
            }
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
            if now.duration_since(conn.last_active) >= opts.idle_timeout {
                Outcome::Close { idle: true }
            } else {
                Outcome::Keep
            }
        }
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Outcome::Keep,
        Err(_) => Outcome::Close { idle: false },
    }
}

/// One read of a TLS connection: the records waiting (one socket read), the handshake's
/// progress or the plaintext they hold, and the records to send back.
fn read_tls(
    conn: &mut Conn,
    buf: &mut [u8],
    sink: &mut Sink<'_>,
    now: Instant,
    opts: &TcpOptions,
) -> Outcome {
    let Conn {
        stream,
        peer,
        port,
        decoder,
        opened,
        last_active,
        session,
    } = conn;
    let s = session.as_mut().expect("a TLS connection has a session");
    let mut eof = false;
    let mut got = false;
    match s.tls.read_tls(stream) {
        Ok(0) => eof = true,
        Ok(_) => got = true,
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
            ) => {}
        Err(_) => eof = true,
    }
    if got {
        *last_active = now;
        let state = match s.tls.process_new_packets() {
            Ok(state) => state,
            Err(e) => {
                // The alert that says why, if the socket takes it.
                let _ = s.tls.write_tls(stream);
                return if s.established {
                    Outcome::Close { idle: false }
                } else {
                    Outcome::Refuse(Refusal::of(&e))
                };
            }
        };
        if !s.established && !s.tls.is_handshaking() {
            s.established = true;
            sink.counters.tls_handshakes += 1;
        }
        if state.plaintext_bytes_to_read() > 0 {
            let before = *sink.handled;
            let mut reader = s.tls.reader();
            loop {
                match reader.read(buf) {
                    Ok(0) => break,
                    Ok(n) => sink.push(decoder, *peer, *port, &buf[..n]),
                    // WouldBlock: all read; an unexpected end is seen as the peer's close below.
                    Err(_) => break,
                }
            }
            sink.counters.tls_messages += (*sink.handled - before) as u64;
            if decoder.failed() {
                return Outcome::Close { idle: false };
            }
        }
        if state.peer_has_closed() {
            eof = true;
        }
    }
    while s.tls.wants_write() {
        match s.tls.write_tls(stream) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(_) => {
                eof = true;
                break;
            }
        }
    }
    if eof {
        return if s.established {
            Outcome::Close { idle: false }
        } else {
            Outcome::Refuse(Refusal::Handshake)
        };
    }
    if !s.established && now.duration_since(*opened) >= opts.handshake_timeout {
        return Outcome::Refuse(Refusal::Timeout);
    }
    if now.duration_since(*last_active) >= opts.idle_timeout {
        return Outcome::Close { idle: true };
    }
    Outcome::Keep
}
