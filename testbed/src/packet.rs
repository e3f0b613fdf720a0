//! Sending prebuilt Ethernet frames on an interface through an AF_PACKET socket: `sendmmsg`
//! batches, and PACKET_QDISC_BYPASS to skip the queueing layer. Used by tests to send what
//! sockets cannot (VLAN tags without 802.1Q support, malformed headers) and by `bench`'s
//! replayer.

use std::{
    ffi::CString,
    io,
    mem::size_of,
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
};

/// An AF_PACKET socket bound to one interface, for sending.
#[derive(Debug)]
pub struct PacketSender {
    fd: OwnedFd,
    ifindex: i32,
    qdisc_bypass: bool,
}

impl PacketSender {
    /// Opens a raw socket on `iface` (in the calling thread's network namespace), asking for
    /// PACKET_QDISC_BYPASS when `bypass_qdisc`.
    pub fn open(iface: &str, bypass_qdisc: bool) -> io::Result<Self> {
        let name = CString::new(iface).map_err(|_| io::Error::other("bad interface name"))?;
        // SAFETY: `name` is a valid NUL-terminated string for the duration of the call.
        let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
        if ifindex == 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: socket() has no memory arguments; the result is checked before use. Protocol 0:
        // send only, receive nothing.
        let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a descriptor just created and owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let mut qdisc_bypass = false;
        if bypass_qdisc {
            let one: libc::c_int = 1;
            // SAFETY: `one` is a live c_int and its size is passed.
            qdisc_bypass = unsafe {
                libc::setsockopt(
                    fd.as_raw_fd(),
                    libc::SOL_PACKET,
                    libc::PACKET_QDISC_BYPASS,
                    (&raw const one).cast(),
                    size_of::<libc::c_int>() as libc::socklen_t,
                )
            } == 0;
        }
        Ok(Self {
            fd,
            ifindex: ifindex as i32,
            qdisc_bypass,
        })
    }

    /// Whether PACKET_QDISC_BYPASS took.
    pub fn qdisc_bypass(&self) -> bool {
        self.qdisc_bypass
    }

    fn address(&self) -> libc::sockaddr_ll {
        libc::sockaddr_ll {
            sll_family: libc::AF_PACKET as u16,
            sll_protocol: 0,
            sll_ifindex: self.ifindex,
            sll_hatype: 0,
            sll_pkttype: 0,
            sll_halen: 0,
            sll_addr: [0; 8],
        }
    }

    /// Sends one frame as it is.
    pub fn send(&self, frame: &[u8]) -> io::Result<()> {
        let addr = self.address();
        // SAFETY: `frame` is valid for reads of its length and `addr` is a valid sockaddr_ll
        // whose size is passed.
        let rc = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                frame.as_ptr().cast(),
                frame.len(),
                0,
                (&raw const addr).cast(),
                size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    /// Sends up to 1024 frames with one `sendmmsg`. Returns how many the kernel took, which can
    /// be fewer (a full device queue); the caller sends the rest again.
    pub fn send_batch(&self, frames: &[&[u8]]) -> io::Result<usize> {
        let frames = &frames[..frames.len().min(1024)];
        if frames.is_empty() {
            return Ok(0);
        }
        let mut addr = self.address();
        let mut iovecs: Vec<libc::iovec> = frames
            .iter()
            .map(|f| libc::iovec {
                iov_base: f.as_ptr().cast_mut().cast(),
                iov_len: f.len(),
            })
            .collect();
        let mut headers: Vec<libc::mmsghdr> = iovecs
            .iter_mut()
            .map(|iov| {
                // SAFETY: an all-zero msghdr is valid (null pointers, zero lengths).
                let mut hdr: libc::msghdr = unsafe { std::mem::zeroed() };
                hdr.msg_name = (&raw mut addr).cast();
                hdr.msg_namelen = size_of::<libc::sockaddr_ll>() as libc::socklen_t;
                hdr.msg_iov = iov;
                hdr.msg_iovlen = 1;
                libc::mmsghdr {
                    msg_hdr: hdr,
                    msg_len: 0,
                }
            })
            .collect();
        // SAFETY: every header points at a live iovec over a frame the caller lends for the
        // call (the kernel only reads through iov_base despite the mut pointer type) and at
        // `addr`, all of which outlive the call; the count is the vector's length.
        let rc = unsafe {
            libc::sendmmsg(
                self.fd.as_raw_fd(),
                headers.as_mut_ptr(),
                headers.len() as libc::c_uint,
                0,
            )
        };
        if rc < 0 {
            let err = io::Error::last_os_error();
            return match err.raw_os_error() {
                Some(libc::ENOBUFS) | Some(libc::EAGAIN) => Ok(0),
                _ => Err(err),
            };
        }
        Ok(rc as usize)
    }
}
