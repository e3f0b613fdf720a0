//! Every unsafe system call of the daemon lives under this module, each block with its
//! `// SAFETY:` reason. The rest of `ingest` is safe code built on these wrappers.

pub mod cpu;
pub mod packet;
pub mod signal;
pub mod udp;
pub mod xsk;

/// Serializes the outcome of a setting as `"ok"` or its error message, for reports.
pub fn serialize_outcome<S: serde::Serializer>(
    outcome: &Result<(), String>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match outcome {
        Ok(()) => s.serialize_str("ok"),
        Err(e) => s.serialize_str(e),
    }
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
pub fn kernel_support() -> Result<(), String> {
    // The sysctl exists exactly when the kernel is built with CONFIG_BPF_SYSCALL.
    if !std::path::Path::new("/proc/sys/kernel/unprivileged_bpf_disabled").exists() {
        return Err("the kernel has no bpf() system call (CONFIG_BPF_SYSCALL)".into());
    }
    // SAFETY: socket() has no memory arguments; the result is checked before use.
    let fd = unsafe { libc::socket(libc::AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        let err = std::io::Error::last_os_error();
        return match err.raw_os_error() {
            Some(libc::EAFNOSUPPORT) => {
                Err("the kernel has no AF_XDP sockets (CONFIG_XDP_SOCKETS)".into())
            }
            _ => Err(format!("cannot create an AF_XDP socket: {err}")),
        };
    }
    // SAFETY: `fd` is a descriptor this function just created and owns; wrapping it closes it.
    drop(unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) });
    Ok(())
}
