//! CPUs: which exist, which the kernel isolated, pinning threads to them, and locking memory.

use std::{fs, io};

/// Why a CPU list does not read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CpuListError {
    /// A part is not a number.
    #[error("{part:?} in CPU list {list:?} is not a CPU number")]
    NotANumber {
        /// The part.
        part: String,
        /// The whole list.
        list: String,
    },
    /// A range whose end comes before its start.
    #[error("range {part:?} in CPU list {list:?} runs backwards")]
    Backwards {
        /// The range.
        part: String,
        /// The whole list.
        list: String,
    },
}

/// A CPU list as the kernel writes it (`/sys/devices/system/cpu/isolated`, `isolcpus=`):
/// comma-separated numbers and ranges, e.g. `1-3,6`. Empty means no CPU. Sorted, no duplicates.
pub fn parse_cpu_list(list: &str) -> Result<Vec<usize>, CpuListError> {
    let mut cpus = Vec::new();
    for part in list.trim().split(',').filter(|p| !p.is_empty()) {
        let number = |s: &str| {
            s.trim()
                .parse::<usize>()
                .map_err(|_| CpuListError::NotANumber {
                    part: s.to_string(),
                    list: list.to_string(),
                })
        };
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (number(a)?, number(b)?);
                if a > b {
                    return Err(CpuListError::Backwards {
                        part: part.to_string(),
                        list: list.to_string(),
                    });
                }
                cpus.extend(a..=b);
            }
            None => cpus.push(number(part)?),
        }
    }
    cpus.sort_unstable();
    cpus.dedup();
    Ok(cpus)
}

fn read_cpu_list(path: &str) -> io::Result<Vec<usize>> {
    let text = fs::read_to_string(path)?;
    parse_cpu_list(&text).map_err(io::Error::other)
}

/// CPUs the kernel runs (`/sys/devices/system/cpu/online`).
pub fn online_cpus() -> io::Result<Vec<usize>> {
    read_cpu_list("/sys/devices/system/cpu/online")
}

/// CPUs isolated from the scheduler (`isolcpus=`), empty when none.
pub fn isolated_cpus() -> io::Result<Vec<usize>> {
    read_cpu_list("/sys/devices/system/cpu/isolated")
}

/// Pins the calling thread to `cpus` (one CPU for a worker, the housekeeping set for the rest).
/// Fails when a CPU does not exist or lies outside the process's cpuset.
pub fn pin_current_thread(cpus: &[usize]) -> nix::Result<()> {
    use nix::{sched::CpuSet, unistd::Pid};
    let mut set = CpuSet::new();
    for &cpu in cpus {
        set.set(cpu)?;
    }
    nix::sched::sched_setaffinity(Pid::from_raw(0), &set)
}

/// Sets the calling thread's timer slack: how late the kernel may fire its timers to batch
/// wakeups (50 µs by default, which would double a 50 µs coalescing pause).
pub fn set_timer_slack(slack: std::time::Duration) -> nix::Result<()> {
    let ns = libc::c_ulong::try_from(slack.as_nanos().max(1)).unwrap_or(libc::c_ulong::MAX);
    nix::sys::prctl::set_timerslack(ns)
}

/// Locks all current and future pages of the process in memory, so a worker never waits on a
/// page fault. Needs CAP_IPC_LOCK or a large enough RLIMIT_MEMLOCK.
pub fn lock_memory() -> nix::Result<()> {
    use nix::sys::mman::{MlockAllFlags, mlockall};
    mlockall(MlockAllFlags::MCL_CURRENT | MlockAllFlags::MCL_FUTURE)
}

/// Grows the calling thread's stack by `mib` MiB now, so that once memory is locked the stack
/// never needs to grow: a locked stack that grows needs the locked-memory limit, which a daemon
/// without CAP_IPC_LOCK may not have left (the growth then fails as a SIGSEGV).
pub fn prefault_stack(mib: usize) {
    #[inline(never)]
    fn touch(levels: usize) {
        let mut page = [0u8; 1 << 20];
        std::hint::black_box(&mut page);
        if levels > 1 {
            touch(levels - 1);
        }
    }
    if mib > 0 {
        touch(mib);
    }
}

/// Keeps every page mapped now locked, and stops locking pages mapped later (clears the
/// MCL_FUTURE of [`lock_memory`]).
pub fn lock_current_memory() -> nix::Result<()> {
    use nix::sys::mman::{MlockAllFlags, mlockall};
    mlockall(MlockAllFlags::MCL_CURRENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_as_the_kernel_writes_them() {
        assert_eq!(parse_cpu_list("").unwrap(), Vec::<usize>::new());
        assert_eq!(parse_cpu_list("\n").unwrap(), Vec::<usize>::new());
        assert_eq!(parse_cpu_list("1").unwrap(), vec![1]);
        assert_eq!(parse_cpu_list("1-3,6\n").unwrap(), vec![1, 2, 3, 6]);
        assert_eq!(parse_cpu_list("6,1-2,2").unwrap(), vec![1, 2, 6]);
    }

    #[test]
    fn bad_cpu_lists_say_what_is_wrong() {
        assert!(
            parse_cpu_list("a")
                .unwrap_err()
                .to_string()
                .contains("\"a\"")
        );
        assert!(matches!(
            parse_cpu_list("3-1"),
            Err(CpuListError::Backwards { .. })
        ));
        assert!(parse_cpu_list("1-").is_err());
    }
}
