//! `ingest check-host`: a preflight of what the appliance needs from a host, read from /sys and
//! /proc (under a root directory, so tests can use fixture trees). Each check says pass, warn or
//! fail, what it saw, and the fix.

use std::{
    fs,
    path::{Path, PathBuf},
};

use crate::sys::cpu::parse_cpu_list;

/// Outcome of one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// As the appliance wants it.
    Pass,
    /// Works, but not at its best.
    Warn,
    /// The appliance cannot run (well) like this.
    Fail,
}

/// One check's result.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Check {
    /// Short name.
    pub name: &'static str,
    /// Outcome.
    pub status: Status,
    /// What was seen.
    pub detail: String,
    /// What to do, when not passing.
    pub fix: Option<String>,
}

/// Drivers with native XDP, and whether they support AF_XDP zero-copy.
const XDP_DRIVERS: &[(&str, bool)] = &[
    ("i40e", true),
    ("ice", true),
    ("ixgbe", true),
    ("igc", true),
    ("mlx5_core", true),
    ("stmmac", true),
    ("idpf", true),
    ("gve", true),
    ("igb", false),
    ("mlx4_en", false),
    ("bnxt_en", false),
    ("ena", false),
    ("virtio_net", false),
    ("veth", false),
    ("tun", false),
    ("nfp", false),
    ("qede", false),
    ("sfc", false),
];

/// UMEM bytes per queue with the default options (8192 frames of 4 KiB).
const UMEM_BYTES_PER_QUEUE: u64 = 8192 * 4096;

/// What to check.
#[derive(Clone, Debug)]
pub struct HostCheck {
    /// Root of the /sys and /proc trees ("/" on the host itself).
    pub root: PathBuf,
    /// The capture interface, if any.
    pub iface: Option<String>,
}

fn read(root: &Path, rel: &str) -> Option<String> {
    fs::read_to_string(root.join(rel.trim_start_matches('/')))
        .ok()
        .map(|s| s.trim().to_string())
}

fn check(
    name: &'static str,
    status: Status,
    detail: impl Into<String>,
    fix: Option<&str>,
) -> Check {
    Check {
        name,
        status,
        detail: detail.into(),
        fix: (status != Status::Pass).then(|| fix.unwrap_or_default().to_string()),
    }
}

impl HostCheck {
    /// Runs every check.
    pub fn run(&self) -> Vec<Check> {
        let r = self.root.as_path();
        let mut out = vec![self.kernel(), self.bpf()];
        if r == Path::new("/") {
            out.push(match crate::sys::kernel_support() {
                Ok(()) => check("af_xdp", Status::Pass, "AF_XDP sockets available", None),
                Err(why) => check(
                    "af_xdp",
                    Status::Fail,
                    crate::error_chain(&why),
                    Some("a kernel built with CONFIG_XDP_SOCKETS; or run with --backend socket"),
                ),
            });
        }
        let isolated = read(r, "sys/devices/system/cpu/isolated")
            .and_then(|s| parse_cpu_list(&s).ok())
            .unwrap_or_default();
        let online = read(r, "sys/devices/system/cpu/online")
            .and_then(|s| parse_cpu_list(&s).ok())
            .unwrap_or_default();
        out.push(if isolated.is_empty() {
            check(
                "isolated_cpus",
                Status::Warn,
                "no isolated CPUs: workers share their CPUs with everything else",
                Some("grub/gen-cmdline.sh --grub > /etc/default/grub.d/ingest.cfg; update-grub; reboot"),
            )
        } else {
            check(
                "isolated_cpus",
                Status::Pass,
                format!("isolated CPUs {isolated:?}"),
                None,
            )
        });
        let workers = if isolated.is_empty() {
            online.len().saturating_sub(1).max(1)
        } else {
            isolated.len()
        };
        let mut queues = 1;
        let mut node = 0;
        if let Some(iface) = &self.iface {
            let dir = format!("sys/class/net/{iface}");
            if !r.join(&dir).exists() {
                out.push(check(
                    "interface",
                    Status::Fail,
                    format!("no interface {iface}"),
                    Some("name an existing interface with --iface (ip link)"),
                ));
                out.extend([self.memlock(), self.irqbalance(&isolated)]);
                return out;
            }
            out.push(self.driver(iface));
            queues = fs::read_dir(r.join(&dir).join("queues"))
                .map(|d| {
                    d.filter_map(Result::ok)
                        .filter(|e| e.file_name().to_string_lossy().starts_with("rx-"))
                        .count()
                })
                .unwrap_or(1)
                .max(1);
            out.push(if queues >= workers {
                check(
                    "queues",
                    Status::Pass,
                    format!("{queues} receive queues for {workers} worker CPUs"),
                    None,
                )
            } else {
                check(
                    "queues",
                    Status::Warn,
                    format!("{queues} receive queues for {workers} worker CPUs: some CPUs idle"),
                    Some(&format!("deploy/tune-nic.sh {iface} --queues {workers}")),
                )
            });
            node = read(r, &format!("{dir}/device/numa_node"))
                .and_then(|s| s.parse::<i64>().ok())
                .filter(|n| *n >= 0)
                .unwrap_or(0);
            out.push(self.busy_poll(iface));
            out.push(self.irqs(iface, &isolated));
        }
        out.push(self.hugepages(node, queues.min(workers) as u64));
        out.push(self.transparent_hugepages());
        out.push(self.memlock());
        out.push(self.irqbalance(&isolated));
        out
    }

    fn kernel(&self) -> Check {
        let release = read(&self.root, "proc/sys/kernel/osrelease").unwrap_or_default();
        let mut parts = release.split(|c: char| !c.is_ascii_digit());
        let major: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        let minor: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        let fix = Some("a kernel of 5.11 or later (Debian 12: linux-image-amd64 from bookworm)");
        match (major, minor) {
            (0, _) => check("kernel", Status::Fail, "unknown kernel version", fix),
            v if v >= (5, 11) => check("kernel", Status::Pass, format!("Linux {release}"), None),
            v if v >= (5, 4) => check(
                "kernel",
                Status::Warn,
                format!("Linux {release}: no SO_PREFER_BUSY_POLL before 5.11"),
                fix,
            ),
            _ => check(
                "kernel",
                Status::Fail,
                format!("Linux {release}: AF_XDP needs_wakeup needs 5.4"),
                fix,
            ),
        }
    }

    fn bpf(&self) -> Check {
        if self
            .root
            .join("proc/sys/kernel/unprivileged_bpf_disabled")
            .exists()
        {
            check("bpf", Status::Pass, "bpf() system call present", None)
        } else {
            check(
                "bpf",
                Status::Fail,
                "no bpf() system call (CONFIG_BPF_SYSCALL)",
                Some("a kernel built with BPF; or run with --backend socket"),
            )
        }
    }

    fn driver(&self, iface: &str) -> Check {
        let link = self
            .root
            .join(format!("sys/class/net/{iface}/device/driver"));
        let driver = fs::read_link(&link)
            .ok()
            .and_then(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()))
            .or_else(|| {
                // Virtual devices (veth) have no `device/driver`: ask the kernel, on this host.
                (self.root == Path::new("/"))
                    .then(|| crate::sys::ethtool_driver(iface).ok())
                    .flatten()
            });
        let Some(driver) = driver else {
            return check(
                "driver",
                Status::Warn,
                format!("{iface}: driver unknown; XDP falls back to generic mode if unsupported"),
                Some("check `ethtool -i` and the driver's XDP support"),
            );
        };
        match XDP_DRIVERS.iter().find(|(d, _)| *d == driver) {
            Some((_, true)) => check(
                "driver",
                Status::Pass,
                format!("{iface}: {driver}, native XDP and AF_XDP zero-copy"),
                None,
            ),
            Some((_, false)) => check(
                "driver",
                Status::Warn,
                format!("{iface}: {driver}, native XDP, AF_XDP copy mode only"),
                Some("a NIC with zero-copy AF_XDP (ice, i40e, ixgbe, igc, mlx5) for line rate"),
            ),
            None => check(
                "driver",
                Status::Warn,
                format!("{iface}: {driver}, not known to have native XDP: generic mode likely"),
                Some("a NIC whose driver has native XDP"),
            ),
        }
    }

    fn busy_poll(&self, iface: &str) -> Check {
        let get = |f: &str| {
            read(&self.root, &format!("sys/class/net/{iface}/{f}"))
                .and_then(|v| v.parse::<u64>().ok())
        };
        match (get("napi_defer_hard_irqs"), get("gro_flush_timeout")) {
            (Some(d), Some(t)) if d > 0 && t > 0 => check(
                "busy_poll",
                Status::Pass,
                format!("napi_defer_hard_irqs={d} gro_flush_timeout={t}"),
                None,
            ),
            (d, t) => check(
                "busy_poll",
                Status::Warn,
                format!(
                    "napi_defer_hard_irqs={} gro_flush_timeout={}: busy-poll mode still takes IRQs",
                    d.map_or("?".into(), |v| v.to_string()),
                    t.map_or("?".into(), |v| v.to_string())
                ),
                Some(&format!("deploy/tune-nic.sh {iface}")),
            ),
        }
    }

    fn irqs(&self, iface: &str, isolated: &[usize]) -> Check {
        let table = read(&self.root, "proc/interrupts").unwrap_or_default();
        let mut on_workers = Vec::new();
        let mut seen = 0;
        for line in table.lines() {
            let Some((irq, rest)) = line.trim_start().split_once(':') else {
                continue;
            };
            let Ok(irq) = irq.parse::<u32>() else {
                continue;
            };
            if !rest
                .split_whitespace()
                .last()
                .is_some_and(|n| n.contains(iface))
            {
                continue;
            }
            seen += 1;
            let cpus = read(&self.root, &format!("proc/irq/{irq}/smp_affinity_list"))
                .and_then(|s| parse_cpu_list(&s).ok())
                .unwrap_or_default();
            if cpus.iter().any(|c| isolated.contains(c)) {
                on_workers.push(irq);
            }
        }
        if on_workers.is_empty() {
            check(
                "irqs",
                Status::Pass,
                format!("{seen} IRQs of {iface}, none on a worker CPU"),
                None,
            )
        } else {
            check(
                "irqs",
                Status::Warn,
                format!("IRQs {on_workers:?} of {iface} can land on worker CPUs"),
                Some(&format!("deploy/irq-affinity.sh {iface}")),
            )
        }
    }

    fn hugepages(&self, node: i64, queues: u64) -> Check {
        let dir = format!("sys/devices/system/node/node{node}/hugepages/hugepages-2048kB");
        let free = read(&self.root, &format!("{dir}/free_hugepages"))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        let need = queues * UMEM_BYTES_PER_QUEUE / (2 << 20);
        if free >= need {
            check(
                "hugepages",
                Status::Pass,
                format!(
                    "{free} free 2 MiB pages on node {node}; {need} needed for {queues} queues"
                ),
                None,
            )
        } else {
            check(
                "hugepages",
                Status::Warn,
                format!(
                    "{free} free 2 MiB pages on node {node}; {need} needed for {queues} queues: UMEMs fall back to 4 KiB pages"
                ),
                Some(&format!(
                    "deploy/hugepages.sh{} (or at boot: grub/gen-cmdline.sh)",
                    self.iface
                        .as_ref()
                        .map_or(String::new(), |i| format!(" --iface {i}"))
                )),
            )
        }
    }

    /// The engine's tables are mapped on their own and advised for transparent huge pages
    /// (`sys::memory`): that takes THP set to `madvise` or `always`.
    fn transparent_hugepages(&self) -> Check {
        const NAME: &str = "transparent_hugepages";
        const FIX: &str = "echo madvise > /sys/kernel/mm/transparent_hugepage/enabled (at boot: transparent_hugepage=madvise)";
        let Some(mode) = read(&self.root, "sys/kernel/mm/transparent_hugepage/enabled") else {
            return check(
                NAME,
                Status::Warn,
                "no transparent huge pages in this kernel: the detection tables use 4 KiB pages",
                Some("a kernel built with CONFIG_TRANSPARENT_HUGEPAGE"),
            );
        };
        let chosen = mode
            .split_whitespace()
            .find_map(|m| m.strip_prefix('[')?.strip_suffix(']'))
            .unwrap_or("unknown");
        if matches!(chosen, "always" | "madvise") {
            check(
                NAME,
                Status::Pass,
                format!("transparent huge pages: {chosen}; the detection tables ask for them"),
                None,
            )
        } else {
            check(
                NAME,
                Status::Warn,
                format!(
                    "transparent huge pages: {chosen}: the detection tables use 4 KiB pages, and miss the TLB more"
                ),
                Some(FIX),
            )
        }
    }

    fn memlock(&self) -> Check {
        let limits = read(&self.root, "proc/self/limits").unwrap_or_default();
        let soft = limits
            .lines()
            .find(|l| l.starts_with("Max locked memory"))
            .and_then(|l| l.split_whitespace().nth(3).map(str::to_string));
        match soft.as_deref() {
            Some("unlimited") => check("memlock", Status::Pass, "RLIMIT_MEMLOCK unlimited", None),
            Some(v) => match v.parse::<u64>() {
                Ok(bytes) if bytes >= 4 * UMEM_BYTES_PER_QUEUE => check(
                    "memlock",
                    Status::Pass,
                    format!("RLIMIT_MEMLOCK {} MiB", bytes >> 20),
                    None,
                ),
                _ => check(
                    "memlock",
                    Status::Warn,
                    format!("RLIMIT_MEMLOCK {v} bytes: enough only with CAP_IPC_LOCK"),
                    Some("LimitMEMLOCK=infinity in the unit, or run with CAP_IPC_LOCK"),
                ),
            },
            None => check(
                "memlock",
                Status::Warn,
                "RLIMIT_MEMLOCK unknown",
                Some("check /proc/self/limits"),
            ),
        }
    }

    fn irqbalance(&self, isolated: &[usize]) -> Check {
        let running = fs::read_dir(self.root.join("proc"))
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| {
                        e.file_name()
                            .to_string_lossy()
                            .bytes()
                            .all(|b| b.is_ascii_digit())
                    })
                    .any(|e| {
                        fs::read_to_string(e.path().join("comm"))
                            .is_ok_and(|c| c.trim() == "irqbalance")
                    })
            })
            .unwrap_or(false);
        match (running, isolated.is_empty()) {
            (false, _) => check("irqbalance", Status::Pass, "irqbalance not running", None),
            (true, true) => check(
                "irqbalance",
                Status::Pass,
                "irqbalance running (no isolated CPUs to protect)",
                None,
            ),
            (true, false) => check(
                "irqbalance",
                Status::Warn,
                "irqbalance running: it may move IRQs onto worker CPUs",
                Some(
                    "IRQBALANCE_BANNED_CPULIST=<worker CPUs> in /etc/default/irqbalance, or stop it",
                ),
            ),
        }
    }
}

/// The worst status of `checks`.
pub fn worst(checks: &[Check]) -> Status {
    checks
        .iter()
        .map(|c| c.status)
        .max()
        .unwrap_or(Status::Pass)
}

/// The table people read.
pub fn table(checks: &[Check]) -> String {
    let mut s = String::new();
    for c in checks {
        let status = match c.status {
            Status::Pass => "pass",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
        };
        s.push_str(&format!("{status:<5} {:<14} {}\n", c.name, c.detail));
        if let Some(fix) = &c.fix {
            s.push_str(&format!("{:<20} fix: {fix}\n", ""));
        }
    }
    s
}
