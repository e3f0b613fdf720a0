//! The syslog destination: RFC 5424 to a SIEM over UDP, or over TCP with RFC 6587 octet
//! counting.

use std::{
    io::{self, BufWriter, Read, Write},
    net::{SocketAddr, TcpStream, ToSocketAddrs, UdpSocket},
};

use super::{
    config::Protocol,
    destination::{CONNECT_TIMEOUT, Destination, closed},
    outgoing::Outgoing,
};

/// A SIEM or collector that takes RFC 5424 syslog.
pub(super) struct SyslogDestination {
    pub(super) address: String,
    pub(super) protocol: Protocol,
    pub(super) facility: u8,
    pub(super) hostname: String,
    pub(super) udp: Option<UdpSocket>,
    pub(super) tcp: Option<BufWriter<TcpStream>>,
    pub(super) line: Vec<u8>,
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
            Protocol::Tcp => {
                let s = TcpStream::connect_timeout(&target, CONNECT_TIMEOUT)?;
                s.set_write_timeout(Some(CONNECT_TIMEOUT))?;
                s.set_nodelay(true)?;
                self.tcp = Some(BufWriter::new(s));
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
            Protocol::Tcp => {
                let w = self.tcp.as_mut().ok_or_else(closed)?;
                if peer_closed(w.get_ref())? {
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

/// Whether the peer of `s` has closed its side (a read would return end of file), without
/// blocking. Data the receiver sends back is read and ignored.
fn peer_closed(s: &TcpStream) -> io::Result<bool> {
    s.set_nonblocking(true)?;
    let mut buf = [0u8; 512];
    let result = loop {
        match (&*s).read(&mut buf) {
            Ok(0) => break Ok(true),
            Ok(_) => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break Ok(false),
            Err(e) => break Err(e),
        }
    };
    s.set_nonblocking(false)?;
    result
}
