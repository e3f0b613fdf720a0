//! Every unsafe system call of the daemon lives under this module, each block with its
//! `// SAFETY:` reason. The rest of `ingest` is safe code built on these wrappers.

pub mod signal;
pub mod xsk;

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
