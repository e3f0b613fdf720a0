//! The syslog destination: RFC 5424 to a SIEM over UDP, over TCP with RFC 6587 octet
//! counting, or over TLS (RFC 5425).

use std::{
    io::{self, BufWriter, Read, Write},
    net::{SocketAddr, TcpStream, ToSocketAddrs, UdpSocket},
};

use rustls::{ClientConnection, StreamOwned};
use rustls_pki_types::ServerName;

use super::{
    config::Protocol,
    destination::{CONNECT_TIMEOUT, Destination, closed},
    outgoing::Outgoing,
};
use crate::tls::ClientSettings;

/// A SIEM or collector that takes RFC 5424 syslog.
pub(super) struct SyslogDestination {
    pub(super) address: String,
    pub(super) protocol: Protocol,
    pub(super) facility: u8,
    pub(super) hostname: String,
    /// With `Protocol::Tls`: the client settings (the files are read at each connection, so
    /// renewed certificates are taken up) and the name the receiver's certificate must carry.
    pub(super) tls: Option<(ClientSettings, Option<String>)>,
    pub(super) udp: Option<UdpSocket>,
    pub(super) tcp: Option<BufWriter<Stream>>,
    pub(super) line: Vec<u8>,
}

/// A connection to the receiver: plain TCP or TLS over it.
pub(super) enum Stream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

impl Stream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => &s.sock,
        }
    }

    /// Whether the receiver has closed its side, without blocking. What it sends back is read
    /// and ignored (TLS: its records are processed; an alert is an error).
    fn peer_closed(&mut self) -> io::Result<bool> {
        self.tcp().set_nonblocking(true)?;
        let result = match self {
            Stream::Plain(s) => plain_peer_closed(s),
            Stream::Tls(s) => tls_peer_closed(s),
        };
        self.tcp().set_nonblocking(false)?;
        result
    }
}

impl SyslogDestination {
    fn target(&self) -> io::Result<SocketAddr> {
        self.address
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| io::Error::other(format!("{}: no address", self.address)))
    }

    /// The RFC 5424 message: `<PRI>1 TIMESTAMP HOST ingest - alert - JSON`.
    pub(super) fn format(&mut self, alert: &Outgoing) {
        let pri = u32::from(self.facility) * 8 + u32::from(alert.severity.min(7));
        let ts = humantime::format_rfc3339_micros(alert.time);
        self.line.clear();
        let _ = write!(
            self.line,
            "<{pri}>1 {ts} {} ingest - alert - {}",
            self.hostname, alert.json
        );
    }
}

impl Destination for SyslogDestination {
    fn open(&mut self) -> io::Result<()> {
        let target = self.target()?;
        match self.protocol {
            Protocol::Udp => {
                let any: SocketAddr = if target.is_ipv4() {
                    "0.0.0.0:0".parse().expect("constant")
                } else {
                    "[::]:0".parse().expect("constant")
                };
                let s = UdpSocket::bind(any)?;
                s.connect(target)?;
                self.udp = Some(s);
            }
            Protocol::Tcp | Protocol::Tls => {
                let s = TcpStream::connect_timeout(&target, CONNECT_TIMEOUT)?;
                s.set_write_timeout(Some(CONNECT_TIMEOUT))?;
                s.set_read_timeout(Some(CONNECT_TIMEOUT))?;
                s.set_nodelay(true)?;
                let stream = match &self.tls {
                    None => Stream::Plain(s),
                    Some((settings, name)) => {
                        Stream::Tls(Box::new(self.handshake(s, settings, name.as_deref())?))
                    }
                };
                self.tcp = Some(BufWriter::new(stream));
            }
        }
        Ok(())
    }

    fn write(&mut self, alert: &Outgoing) -> io::Result<u64> {
        self.format(alert);
        match self.protocol {
            Protocol::Udp => {
                let s = self.udp.as_ref().ok_or_else(closed)?;
                s.send(&self.line).map(|_| 1)
            }
            Protocol::Tcp | Protocol::Tls => {
                let w = self.tcp.as_mut().ok_or_else(closed)?;
                if w.get_mut().peer_closed()? {
                    return Err(io::Error::new(
                        io::ErrorKind::ConnectionReset,
                        "the receiver closed the connection",
                    ));
                }
                write!(w, "{} ", self.line.len())?;
                w.write_all(&self.line)?;
                Ok(1)
            }
        }
    }

    fn flush(&mut self) -> io::Result<u64> {
        self.tcp.as_mut().map_or(Ok(()), Write::flush).map(|()| 0)
    }

    fn close(&mut self) {
        self.udp = None;
        self.tcp = None;
    }
}

impl SyslogDestination {
    /// The TLS handshake on `tcp`, with the settings read now; the receiver's certificate is
    /// checked for `name`, else the host of the address.
    fn handshake(
        &self,
        tcp: TcpStream,
        settings: &ClientSettings,
        name: Option<&str>,
    ) -> io::Result<StreamOwned<ClientConnection, TcpStream>> {
        let config = settings
            .load()
            .map_err(|e| io::Error::other(crate::error_chain(&e)))?;
        let host = name.unwrap_or_else(|| {
            let a = self.address.as_str();
            let host = a.rsplit_once(':').map_or(a, |(h, _)| h);
            host.trim_start_matches('[').trim_end_matches(']')
        });
        let server = ServerName::try_from(host.to_string())
            .map_err(|e| io::Error::other(format!("{host:?}: {e}")))?;
        let conn = ClientConnection::new(config, server).map_err(io::Error::other)?;
        let mut tls = StreamOwned::new(conn, tcp);
        while tls.conn.is_handshaking() {
            tls.conn
                .complete_io(&mut tls.sock)
                .map_err(|e| io::Error::new(e.kind(), format!("TLS handshake: {e}")))?;
        }
        Ok(tls)
    }
}

/// Whether the peer of `s` has closed its side (a read would return end of file), on a
/// non-blocking socket. Data the receiver sends back is read and ignored.
fn plain_peer_closed(mut s: &TcpStream) -> io::Result<bool> {
    let mut buf = [0u8; 512];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Ok(true),
            Ok(_) => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) => return Err(e),
        }
    }
}

/// As [`plain_peer_closed`], through TLS: records are processed (session tickets, alerts), a
/// close_notify or the end of the stream means closed.
fn tls_peer_closed(s: &mut StreamOwned<ClientConnection, TcpStream>) -> io::Result<bool> {
    loop {
        match s.conn.read_tls(&mut s.sock) {
            Ok(0) => return Ok(true),
            Ok(_) => {
                let state = s
                    .conn
                    .process_new_packets()
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                if state.peer_has_closed() {
                    return Ok(true);
                }
                // Plaintext from a syslog receiver means nothing: read and dropped.
                let mut buf = [0u8; 512];
                while matches!(s.conn.reader().read(&mut buf), Ok(n) if n > 0) {}
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) => return Err(e),
        }
    }
}
