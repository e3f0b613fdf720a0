//! This process's own resource use, as Prometheus's `process_*` metrics report it (the names
//! and meanings of client_golang's process collector), read from /proc.

use std::{fs, io};

/// What /proc says of this process now.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct ProcessStats {
    /// User and system CPU time, seconds.
    pub cpu_seconds: f64,
    /// Resident memory, bytes.
    pub resident_bytes: u64,
    /// Virtual memory, bytes.
    pub virtual_bytes: u64,
    /// Open file descriptors.
    pub open_fds: u64,
    /// The limit on open file descriptors (RLIMIT_NOFILE, soft).
    pub max_fds: u64,
    /// Threads.
    pub threads: u64,
    /// When the process started, seconds since the Unix epoch.
    pub start_time_seconds: f64,
}

impl ProcessStats {
    /// Reads them for this process.
    pub fn read() -> io::Result<Self> {
        let stat = fs::read_to_string("/proc/self/stat")?;
        let boot = fs::read_to_string("/proc/stat")?
            .lines()
            .find_map(|l| l.strip_prefix("btime ")?.trim().parse::<u64>().ok())
            .ok_or_else(|| io::Error::other("no btime in /proc/stat"))?;
        let ticks = sysconf(libc::_SC_CLK_TCK)?;
        let page = sysconf(libc::_SC_PAGESIZE)?;
        let mut s = Self::from_stat(&stat, ticks, page, boot)?;
        s.open_fds = fs::read_dir("/proc/self/fd")?.count() as u64;
        s.max_fds = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
            .map_err(io::Error::from)?
            .0;
        Ok(s)
    }

    /// The fields of a /proc/<pid>/stat line (`ticks` a second, `page` bytes a page, the
    /// system booted at `boot` seconds since the epoch). The command name, in parentheses,
    /// may hold spaces and parentheses itself: fields are counted after its last `)`.
    fn from_stat(stat: &str, ticks: u64, page: u64, boot: u64) -> io::Result<Self> {
        let rest = stat
            .rsplit_once(')')
            .map(|(_, r)| r)
            .ok_or_else(|| io::Error::other("no command name in /proc/self/stat"))?;
        // Field 3 (state) is the first after the name: field n is at index n - 3.
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let field = |n: usize| -> io::Result<u64> {
            fields
                .get(n - 3)
                .and_then(|f| f.parse().ok())
                .ok_or_else(|| io::Error::other(format!("field {n} of /proc/self/stat")))
        };
        let ticks = ticks.max(1) as f64;
        Ok(Self {
            cpu_seconds: (field(14)? + field(15)?) as f64 / ticks,
            threads: field(20)?,
            start_time_seconds: boot as f64 + field(22)? as f64 / ticks,
            virtual_bytes: field(23)?,
            resident_bytes: field(24)? * page,
            ..Self::default()
        })
    }
}

fn sysconf(name: libc::c_int) -> io::Result<u64> {
    // SAFETY: sysconf takes a constant name and returns a value or -1; no memory is involved.
    let v = unsafe { libc::sysconf(name) };
    u64::try_from(v).map_err(|_| io::Error::last_os_error())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stat_line_reads_even_with_a_strange_command_name() {
        // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
        // utime stime cutime cstime priority nice num_threads itrealvalue starttime vsize rss
        let line = "42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 7 0 \
                    1000 123456789 300 18446744073709551615";
        let s = ProcessStats::from_stat(line, 100, 4096, 1_700_000_000).unwrap();
        assert_eq!(s.cpu_seconds, 3.0);
        assert_eq!(s.threads, 7);
        assert_eq!(s.start_time_seconds, 1_700_000_010.0);
        assert_eq!(s.virtual_bytes, 123_456_789);
        assert_eq!(s.resident_bytes, 300 * 4096);
        assert!(ProcessStats::from_stat("garbage", 100, 4096, 0).is_err());
        let me = ProcessStats::read().unwrap();
        assert!(
            me.open_fds > 0 && me.max_fds >= me.open_fds && me.threads >= 1,
            "{me:?}"
        );
    }
}
