//! The kernel socket path's UDP receive: one dual-stack socket per worker on a log port,
//! SO_REUSEPORT so several workers share the port, a large receive buffer, and `recvmmsg` to take
//! a batch of datagrams per system call; and the kernel's count of the datagrams it dropped at
//! each socket.

use std::{
    io,
    mem::{size_of, size_of_val, zeroed},
    net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6},
    os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd},
};

/// Largest UDP payload a receive buffer holds: IPv6's (its 65535-byte payload length less the
/// 8-byte UDP header), which is 20 bytes more than IPv4's 65507. A datagram longer still (an IPv6
/// jumbogram) is cut by the kernel: it is reported as truncated, never handed on cut.
pub const MAX_DATAGRAM: usize = 65_527;

/// One datagram as [`UdpReceiver::recv_batch`] took it.
#[derive(Clone, Copy, Debug)]
pub struct Datagram<'a> {
    /// Its sender, when the address is IPv4 or IPv6 (nothing else can reach this socket).
    pub src: Option<SocketAddr>,
    /// Its payload: whole, unless `truncated`.
    pub payload: &'a [u8],
    /// Whether the kernel cut it to the buffer (`MSG_TRUNC`).
    pub truncated: bool,
}

/// A bound UDP socket with preallocated buffers for batches of `batch` datagrams.
pub struct UdpReceiver {
    fd: OwnedFd,
    port: u16,
    rcvbuf: usize,
    batch: usize,
    /// The kernel's 32-bit drop count as last read, and the 64-bit total it has added up to.
    drops_read: u32,
    drops_total: u64,
    buffers: Box<[u8]>,
    iovecs: Box<[libc::iovec]>,
    addrs: Box<[libc::sockaddr_storage]>,
    headers: Box<[libc::mmsghdr]>,
}

impl std::fmt::Debug for UdpReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UdpReceiver")
            .field("fd", &self.fd.as_raw_fd())
            .field("port", &self.port)
            .field("rcvbuf", &self.rcvbuf)
            .field("batch", &self.batch)
            .finish_non_exhaustive()
    }
}

// SAFETY: the raw pointers inside `iovecs` and `headers` only ever point into this struct's own
// boxed buffers (they are rewritten before each use), so moving the struct to another thread
// moves everything they point to with it.
unsafe impl Send for UdpReceiver {}

/// The all-zero value of a plain C struct used here (iovec, sockaddr_storage, mmsghdr): null
/// pointers and zero lengths, filled in before each use.
fn zeroed_value<T: ZeroValid>() -> T {
    // SAFETY: `ZeroValid` is only implemented for C structs of integers and raw pointers, for
    // which all-zero bytes are a valid value.
    unsafe { zeroed() }
}

/// C structs whose all-zero bytes are a valid value.
trait ZeroValid {}
impl ZeroValid for libc::iovec {}
impl ZeroValid for libc::sockaddr_storage {}
impl ZeroValid for libc::mmsghdr {}

fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

fn set_int(fd: RawFd, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> io::Result<()> {
    // SAFETY: `value` is a live c_int and its size is passed, the layout of integer options.
    check(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&raw const value).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    })
    .map(drop)
}

fn get_int(fd: RawFd, level: libc::c_int, name: libc::c_int) -> io::Result<libc::c_int> {
    let mut value: libc::c_int = 0;
    let mut len = size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` and `len` are valid for writes and `len` holds the size of `value`.
    check(unsafe { libc::getsockopt(fd, level, name, (&raw mut value).cast(), &mut len) })?;
    Ok(value)
}

impl UdpReceiver {
    /// Binds `[::]:port` (both IPv4 and IPv6; plain IPv4 where IPv6 is disabled) with
    /// SO_REUSEPORT, asks for a receive buffer of `rcvbuf` bytes (SO_RCVBUFFORCE with
    /// CAP_NET_ADMIN, else SO_RCVBUF up to `net.core.rmem_max`), and makes it non-blocking.
    pub fn bind(port: u16, rcvbuf: usize, batch: usize) -> io::Result<Self> {
        let batch = batch.max(1);
        // SAFETY: socket() has no memory arguments; the result is checked before use.
        let raw = unsafe {
            libc::socket(
                libc::AF_INET6,
                libc::SOCK_DGRAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                0,
            )
        };
        let (raw, v6) = if raw >= 0 {
            (raw, true)
        } else {
            // SAFETY: as above.
            let raw = check(unsafe {
                libc::socket(
                    libc::AF_INET,
                    libc::SOCK_DGRAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                    0,
                )
            })?;
            (raw, false)
        };
        // SAFETY: `raw` is a descriptor just created and owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let sock = fd.as_raw_fd();
        set_int(sock, libc::SOL_SOCKET, libc::SO_REUSEPORT, 1)?;
        let want = libc::c_int::try_from(rcvbuf).unwrap_or(libc::c_int::MAX);
        if set_int(sock, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, want).is_err() {
            set_int(sock, libc::SOL_SOCKET, libc::SO_RCVBUF, want)?;
        }
        if v6 {
            set_int(sock, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 0)?;
            // SAFETY: an all-zero sockaddr_in6 is valid: the unspecified address, port 0.
            let mut addr: libc::sockaddr_in6 = unsafe { zeroed() };
            addr.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            addr.sin6_port = port.to_be();
            // SAFETY: `addr` is a valid sockaddr_in6 and its size is passed.
            check(unsafe {
                libc::bind(
                    sock,
                    (&raw const addr).cast(),
                    size_of::<libc::sockaddr_in6>() as libc::socklen_t,
                )
            })?;
        } else {
            // SAFETY: an all-zero sockaddr_in is valid: 0.0.0.0, port 0.
            let mut addr: libc::sockaddr_in = unsafe { zeroed() };
            addr.sin_family = libc::AF_INET as libc::sa_family_t;
            addr.sin_port = port.to_be();
            // SAFETY: `addr` is a valid sockaddr_in and its size is passed.
            check(unsafe {
                libc::bind(
                    sock,
                    (&raw const addr).cast(),
                    size_of::<libc::sockaddr_in>() as libc::socklen_t,
                )
            })?;
        }
        // The kernel reports twice what it accounts as payload room; report what it says.
        let rcvbuf = get_int(sock, libc::SOL_SOCKET, libc::SO_RCVBUF)? as usize;
        let port = local_port(sock)?;
        Ok(Self {
            fd,
            port,
            rcvbuf,
            batch,
            drops_read: 0,
            drops_total: 0,
            buffers: vec![0u8; batch * MAX_DATAGRAM].into_boxed_slice(),
            iovecs: vec![zeroed_value::<libc::iovec>(); batch].into_boxed_slice(),
            addrs: vec![zeroed_value::<libc::sockaddr_storage>(); batch].into_boxed_slice(),
            headers: vec![zeroed_value::<libc::mmsghdr>(); batch].into_boxed_slice(),
        })
    }

    /// The port this socket is bound to (as the kernel reports it).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The receive buffer size the kernel granted (SO_RCVBUF as read back).
    pub fn rcvbuf(&self) -> usize {
        self.rcvbuf
    }

    /// Datagrams the kernel dropped at this socket since it was bound, as of the last
    /// [`read_kernel_drops`](Self::read_kernel_drops).
    pub fn kernel_drops(&self) -> u64 {
        self.drops_total
    }

    /// Reads how many datagrams the kernel dropped at this socket: a full receive buffer, a bad
    /// checksum, a failed filter (`sk_drops`, through `SO_MEMINFO`). Unlike the namespace-wide
    /// `RcvbufErrors`, it counts no other program's socket. The kernel's counter is 32 bits
    /// wide; read it more often than it can wrap (four billion drops) and the total here stays
    /// exact. On an error the last total stays.
    pub fn read_kernel_drops(&mut self) -> io::Result<u64> {
        let mut info = [0u32; libc::SK_MEMINFO_DROPS as usize + 1];
        let mut len = size_of_val(&info) as libc::socklen_t;
        // SAFETY: `info` and `len` are valid for writes and `len` holds the size of `info`; the
        // kernel writes at most `len` bytes and says how many.
        check(unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_MEMINFO,
                info.as_mut_ptr().cast(),
                &mut len,
            )
        })?;
        if (len as usize) < size_of_val(&info) {
            return Err(io::Error::other("SO_MEMINFO returned no drop count"));
        }
        let now = info[libc::SK_MEMINFO_DROPS as usize];
        self.drops_total += u64::from(now.wrapping_sub(self.drops_read));
        self.drops_read = now;
        Ok(self.drops_total)
    }

    /// The descriptor, for `poll()`.
    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Takes up to one batch of waiting datagrams without blocking and lends them to `handle`.
    /// Returns how many there were (0: none waiting, and `handle` was not called).
    pub fn recv_batch(
        &mut self,
        handle: impl FnOnce(&mut dyn Iterator<Item = Datagram<'_>>),
    ) -> io::Result<usize> {
        let base = self.buffers.as_mut_ptr();
        for i in 0..self.batch {
            self.iovecs[i] = libc::iovec {
                // SAFETY: i * MAX_DATAGRAM + MAX_DATAGRAM <= batch * MAX_DATAGRAM, the buffer's
                // length, so the pointer stays inside the allocation.
                iov_base: unsafe { base.add(i * MAX_DATAGRAM) }.cast(),
                iov_len: MAX_DATAGRAM,
            };
            let hdr = &mut self.headers[i].msg_hdr;
            hdr.msg_name = (&raw mut self.addrs[i]).cast();
            hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            hdr.msg_iov = &raw mut self.iovecs[i];
            hdr.msg_iovlen = 1;
            hdr.msg_control = std::ptr::null_mut();
            hdr.msg_controllen = 0;
            hdr.msg_flags = 0;
            self.headers[i].msg_len = 0;
        }
        // SAFETY: `headers` holds `batch` initialised mmsghdr values whose name and iovec
        // pointers point into this struct's own buffers, each with its true length; the kernel
        // writes at most those lengths. Non-blocking, no timeout pointer.
        let n = unsafe {
            libc::recvmmsg(
                self.fd.as_raw_fd(),
                self.headers.as_mut_ptr(),
                self.batch as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            let err = io::Error::last_os_error();
            return match err.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(0),
                _ => Err(err),
            };
        }
        let n = n as usize;
        if n == 0 {
            return Ok(0);
        }
        let (headers, addrs, buffers) = (&self.headers, &self.addrs, &self.buffers);
        let mut datagrams = (0..n).map(|i| {
            let len = (headers[i].msg_len as usize).min(MAX_DATAGRAM);
            Datagram {
                src: sockaddr_to_std(&addrs[i]),
                payload: &buffers[i * MAX_DATAGRAM..i * MAX_DATAGRAM + len],
                truncated: headers[i].msg_hdr.msg_flags & libc::MSG_TRUNC != 0,
            }
        });
        handle(&mut datagrams);
        Ok(n)
    }
}

/// The port a socket is bound to (the one the kernel chose, when bound to port 0).
fn local_port(fd: RawFd) -> io::Result<u16> {
    // SAFETY: all-zero storage is a valid value for getsockname to overwrite.
    let mut addr: libc::sockaddr_storage = unsafe { zeroed() };
    let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: `addr` and `len` are valid for writes and `len` holds the size of `addr`.
    check(unsafe { libc::getsockname(fd, (&raw mut addr).cast(), &mut len) })?;
    sockaddr_to_std(&addr)
        .map(|a| a.port())
        .ok_or_else(|| io::Error::other("socket has no IP address"))
}

/// The sender of a datagram, with IPv4-mapped IPv6 addresses turned back into IPv4.
fn sockaddr_to_std(ss: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match libc::c_int::from(ss.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in, which it is large and
            // aligned enough for.
            let a = unsafe { &*(ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)),
                u16::from_be(a.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6, as above.
            let a = unsafe { &*(ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            let ip = Ipv6Addr::from(a.sin6_addr.s6_addr);
            let port = u16::from_be(a.sin6_port);
            Some(match ip.to_ipv4_mapped() {
                Some(v4) => SocketAddr::V4(SocketAddrV4::new(v4, port)),
                None => SocketAddr::V6(SocketAddrV6::new(ip, port, 0, a.sin6_scope_id)),
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_at_a_full_socket_are_counted_and_sum_with_the_received() {
        // The smallest receive buffer the kernel grants holds a few datagrams: the rest of a
        // burst is dropped at the socket, in its own counter.
        let mut rx = UdpReceiver::bind(0, 1, 64).expect("bind");
        let port = rx.port();
        let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let sent = 200u64;
        for _ in 0..sent {
            tx.send_to(&[b'x'; 1000], ("127.0.0.1", port)).unwrap();
        }
        let mut received = 0u64;
        let mut empty = 0;
        while empty < 20 {
            let n = rx.recv_batch(|_| ()).unwrap() as u64;
            received += n;
            if n == 0 {
                empty += 1;
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        }
        assert_eq!(rx.kernel_drops(), 0, "nothing read yet");
        let dropped = rx.read_kernel_drops().expect("SO_MEMINFO");
        assert!(
            dropped > 0,
            "a full buffer dropped nothing? received {received}"
        );
        assert_eq!(received + dropped, sent);
        // A second read adds nothing new.
        assert_eq!(rx.read_kernel_drops().unwrap(), dropped);
        assert_eq!(rx.kernel_drops(), dropped);
    }

    #[test]
    fn receives_a_batch_on_loopback() {
        let mut rx = UdpReceiver::bind(0, 1 << 20, 8).expect("bind");
        // Port 0 picks a free port; read it back to send there.
        let port = rx.port();
        assert_ne!(port, 0);
        let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        for i in 0..3 {
            tx.send_to(format!("<14>message {i}").as_bytes(), ("127.0.0.1", port))
                .unwrap();
        }
        let mut got = Vec::new();
        for _ in 0..100 {
            rx.recv_batch(|d| {
                got.extend(d.map(|d| {
                    assert!(!d.truncated);
                    (d.src.unwrap(), d.payload.to_vec())
                }))
            })
            .unwrap();
            if got.len() == 3 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(got.len(), 3);
        assert_eq!(got[2].1, b"<14>message 2");
        assert_eq!(
            got[0].0,
            tx.local_addr().unwrap(),
            "mapped address comes back as IPv4"
        );
        assert!(rx.rcvbuf() > 0);
    }

    #[test]
    fn an_ipv6_datagram_of_the_largest_size_arrives_whole() {
        let mut rx = UdpReceiver::bind(0, 4 << 20, 2).expect("bind");
        let port = rx.port();
        let tx = std::net::UdpSocket::bind("[::1]:0").expect("IPv6 loopback");
        // Larger than any IPv4 datagram can be: the old 65507-byte buffers cut it silently.
        let big: Vec<u8> = (0..MAX_DATAGRAM).map(|i| b'a' + (i % 26) as u8).collect();
        assert_eq!(tx.send_to(&big, ("::1", port)).unwrap(), MAX_DATAGRAM);
        let mut got = None;
        for _ in 0..100 {
            rx.recv_batch(|d| {
                for d in d {
                    got = Some((d.payload.len(), d.payload == big.as_slice(), d.truncated));
                }
            })
            .unwrap();
            if got.is_some() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(got, Some((MAX_DATAGRAM, true, false)));
    }
}
