//! Every unsafe system call of the daemon lives under this module, each block with its
//! `// SAFETY:` reason. The rest of `ingest` is safe code built on these wrappers.

pub mod cpu;
#[cfg(test)]
pub mod fake;
pub mod link;
pub mod memory;
pub mod process;
pub mod signal;
pub mod snmp;
pub mod udp;
pub mod xsk;

/// This host's name, when it has one that is text.
pub fn hostname() -> Option<String> {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
}

/// What a setting that the daemon tries but can live without said: taken, or refused with the
/// kernel's words (kept as text: it goes into reports and logs, not back into code).
pub type Outcome = Option<String>;

/// Serializes an [`Outcome`] as `"ok"` or the refusal, for reports.
pub fn serialize_outcome<S: serde::Serializer>(outcome: &Outcome, s: S) -> Result<S::Ok, S::Error> {
    match outcome {
        None => s.serialize_str("ok"),
        Some(e) => s.serialize_str(e),
    }
}

/// Why a privileged step of the system layer failed.
#[derive(Debug, thiserror::Error)]
pub enum SysError {
    /// No such user, or the user database could not be read.
    #[error("user {user:?}: {why}")]
    User {
        /// The user asked for.
        user: String,
        /// What went wrong.
        why: String,
    },
    /// A system call refused.
    #[error("{call}")]
    Call {
        /// Which call, on what.
        call: String,
        /// The error.
        #[source]
        source: nix::Error,
    },
    /// The ids were set, but the process still has root's.
    #[error("the user and group ids did not change")]
    StillRoot,
    /// The kernel lacks what the XDP path needs.
    #[error("{0}")]
    Unsupported(&'static str),
    /// An AF_XDP socket cannot be made.
    #[error("cannot create an AF_XDP socket")]
    Socket(#[source] std::io::Error),
}

fn lookup_user(user: &str) -> Result<nix::unistd::User, SysError> {
    let err = |why: String| SysError::User {
        user: user.to_string(),
        why,
    };
    nix::unistd::User::from_name(user)
        .map_err(|e| err(e.to_string()))?
        .ok_or_else(|| err("no such user".into()))
}

fn call(call: impl Into<String>) -> impl FnOnce(nix::Error) -> SysError {
    let call = call.into();
    move |source| SysError::Call { call, source }
}

/// `poll()` on `fds` for up to `timeout_ms` (negative: no limit). Returns how many descriptors
/// have events; an interrupted wait returns 0.
pub fn poll(fds: &mut [libc::pollfd], timeout_ms: i32) -> std::io::Result<usize> {
    // SAFETY: `fds` is a valid, writable slice of pollfd and its true length is passed.
    let rc = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
    if rc >= 0 {
        return Ok(rc as usize);
    }
    let err = std::io::Error::last_os_error();
    if err.kind() == std::io::ErrorKind::Interrupted {
        Ok(0)
    } else {
        Err(err)
    }
}

/// The driver of a network interface, as `ethtool -i` reports it (`ETHTOOL_GDRVINFO`). Works
/// for virtual devices (veth) too, which have no `device/driver` link in sysfs.
pub fn ethtool_driver(iface: &str) -> std::io::Result<String> {
    const ETHTOOL_GDRVINFO: u32 = 0x0000_0003;
    /// `struct ethtool_drvinfo` from linux/ethtool.h.
    #[repr(C)]
    struct DrvInfo {
        cmd: u32,
        driver: [u8; 32],
        version: [u8; 32],
        fw_version: [u8; 32],
        bus_info: [u8; 32],
        erom_version: [u8; 32],
        reserved2: [u8; 12],
        n_priv_flags: u32,
        n_stats: u32,
        testinfo_len: u32,
        eedump_len: u32,
        regdump_len: u32,
    }
    let name = iface.as_bytes();
    if name.is_empty() || name.len() >= libc::IFNAMSIZ {
        return Err(std::io::Error::other("bad interface name"));
    }
    // SAFETY: all-zero is a valid DrvInfo (integers and byte arrays).
    let mut info: DrvInfo = unsafe { std::mem::zeroed() };
    info.cmd = ETHTOOL_GDRVINFO;
    // SAFETY: all-zero is a valid ifreq.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, &src) in req.ifr_name.iter_mut().zip(name) {
        *dst = src as libc::c_char;
    }
    req.ifr_ifru.ifru_data = (&raw mut info).cast();
    // SAFETY: socket() has no memory arguments; the result is checked before use.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` was just created and is owned here; wrapping it closes it on every path.
    let fd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    // SAFETY: `req` names the interface (NUL-terminated within IFNAMSIZ) and points at `info`,
    // a live ethtool_drvinfo the kernel fills; both outlive the call.
    let rc = unsafe {
        libc::ioctl(
            std::os::fd::AsRawFd::as_raw_fd(&fd),
            libc::SIOCETHTOOL,
            &raw mut req,
        )
    };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let end = info.driver.iter().position(|&b| b == 0).unwrap_or(32);
    Ok(String::from_utf8_lossy(&info.driver[..end]).into_owned())
}

/// Drops every privilege for good: supplementary groups, then the group, then the user (all
/// threads, real, effective and saved ids). Leaving root this way clears every capability, so
/// nothing the daemon held while attaching and binding survives. Returns the uid and gid.
pub fn drop_privileges(user: &str) -> Result<(u32, u32), SysError> {
    use nix::unistd::{Gid, Uid, setgroups, setresgid, setresuid};
    let u = lookup_user(user)?;
    setgroups(&[u.gid]).map_err(call("setgroups"))?;
    setresgid(u.gid, u.gid, u.gid).map_err(call("setresgid"))?;
    setresuid(u.uid, u.uid, u.uid).map_err(call("setresuid"))?;
    if Uid::effective().is_root() || Gid::effective() != u.gid {
        return Err(SysError::StillRoot);
    }
    Ok((u.uid.as_raw(), u.gid.as_raw()))
}

/// Makes `user` the owner of each path in `paths` and of the files directly inside it (before
/// privileges are dropped: folders the daemon made as root that it must still write to).
pub fn give_to(user: &str, paths: &[std::path::PathBuf]) -> Result<(), SysError> {
    use nix::unistd::chown;
    let u = lookup_user(user)?;
    for path in paths {
        let inside = std::fs::read_dir(path)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path());
        for p in std::iter::once(path.clone()).chain(inside) {
            chown(&p, Some(u.uid), Some(u.gid))
                .map_err(call(format!("chown {} to {user}", p.display())))?;
        }
    }
    Ok(())
}

/// Raises the locked-memory limit as far as this process may: to unlimited with
/// CAP_SYS_RESOURCE, else the soft limit up to the hard one. Returns the soft limit now in effect
/// (bytes, `u64::MAX` for unlimited).
///
/// Kernels since 5.11 charge BPF maps to the memory cgroup instead, and CAP_IPC_LOCK exempts UMEM
/// registration from the limit, so a low limit matters only to an unprivileged daemon.
pub fn raise_memlock_limit() -> nix::Result<u64> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let unlimited = libc::RLIM_INFINITY;
    if setrlimit(Resource::RLIMIT_MEMLOCK, unlimited, unlimited).is_ok() {
        return Ok(u64::MAX);
    }
    let (_, hard) = getrlimit(Resource::RLIMIT_MEMLOCK)?;
    setrlimit(Resource::RLIMIT_MEMLOCK, hard, hard)?;
    Ok(if hard == unlimited { u64::MAX } else { hard })
}

/// Checks that the kernel has what the XDP path needs: the `bpf()` system call and AF_XDP
/// sockets. Returns the missing feature, for tests that must skip only on such kernels.
pub fn kernel_support() -> Result<(), SysError> {
    // The sysctl exists exactly when the kernel is built with CONFIG_BPF_SYSCALL.
    if !std::path::Path::new("/proc/sys/kernel/unprivileged_bpf_disabled").exists() {
        return Err(SysError::Unsupported(
            "the kernel has no bpf() system call (CONFIG_BPF_SYSCALL)",
        ));
    }
    // SAFETY: socket() has no memory arguments; the result is checked before use.
    let fd = unsafe { libc::socket(libc::AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        let err = std::io::Error::last_os_error();
        return match err.raw_os_error() {
            Some(libc::EAFNOSUPPORT) => Err(SysError::Unsupported(
                "the kernel has no AF_XDP sockets (CONFIG_XDP_SOCKETS)",
            )),
            _ => Err(SysError::Socket(err)),
        };
    }
    // SAFETY: `fd` is a descriptor this function just created and owns; wrapping it closes it.
    drop(unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) });
    Ok(())
}
