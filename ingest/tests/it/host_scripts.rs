//! The host scripts on fixture trees of /sys and /proc (through `ROOT`), for several
//! topologies, against golden outputs; and on this machine.

use std::{path::Path, process::Command};

/// A host to imitate: CPUs as (cpu, package, core, node), the NIC's NUMA node, the kernel
/// command line.
struct Topology {
    name: &'static str,
    cpus: Vec<(usize, usize, usize, usize)>,
    nic_node: i32,
    cmdline: &'static str,
}

fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn list(cpus: impl Iterator<Item = usize>) -> String {
    cpus.map(|c| c.to_string()).collect::<Vec<_>>().join(",")
}

impl Topology {
    /// `sockets` x `cores` x `threads`, numbered the way Linux does: first thread of every core,
    /// then the second; one NUMA node per socket.
    fn regular(
        name: &'static str,
        sockets: usize,
        cores: usize,
        threads: usize,
        nic_node: i32,
    ) -> Self {
        let per_thread = sockets * cores;
        let mut cpus = Vec::new();
        for t in 0..threads {
            for s in 0..sockets {
                for c in 0..cores {
                    cpus.push((t * per_thread + s * cores + c, s, c, s));
                }
            }
        }
        cpus.sort_unstable();
        Self {
            name,
            cpus,
            nic_node,
            cmdline: "BOOT_IMAGE=/vmlinuz root=/dev/sda1 ro quiet",
        }
    }

    /// Writes the tree under `root`.
    fn build(&self, root: &Path) {
        let n = self.cpus.len();
        write(
            root,
            "sys/devices/system/cpu/online",
            &format!("0-{}\n", n - 1),
        );
        write(root, "sys/devices/system/cpu/isolated", "\n");
        for &(cpu, pkg, core, _) in &self.cpus {
            let t = format!("sys/devices/system/cpu/cpu{cpu}/topology");
            write(
                root,
                &format!("{t}/physical_package_id"),
                &format!("{pkg}\n"),
            );
            write(root, &format!("{t}/core_id"), &format!("{core}\n"));
        }
        let nodes = self.cpus.iter().map(|c| c.3).max().unwrap() + 1;
        for node in 0..nodes {
            let cpus = list(self.cpus.iter().filter(|c| c.3 == node).map(|c| c.0));
            write(
                root,
                &format!("sys/devices/system/node/node{node}/cpulist"),
                &format!("{cpus}\n"),
            );
        }
        write(
            root,
            "sys/class/net/eth0/device/numa_node",
            &format!("{}\n", self.nic_node),
        );
        write(root, "proc/cmdline", &format!("{}\n", self.cmdline));
    }
}

fn topologies() -> Vec<Topology> {
    vec![
        Topology::regular("2core", 1, 2, 1, -1),
        Topology::regular("4core-smt", 1, 4, 2, 0),
        Topology::regular("2x16-smt-nic-node1", 2, 16, 2, 1),
    ]
}

fn repo() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn gen_cmdline(root: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("bash")
        .arg(repo().join("grub/gen-cmdline.sh"))
        .args(args)
        .env("ROOT", root)
        .output()
        .expect("running gen-cmdline.sh");
    let text = String::from_utf8(out.stdout).unwrap() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("ingest-host-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn gen_cmdline_golden_outputs() {
    let golden = repo().join("ingest/tests/fixtures/gen-cmdline");
    for topo in topologies() {
        let root = tempdir(topo.name);
        topo.build(&root);
        let (ok, line) = gen_cmdline(&root, &["--iface", "eth0"]);
        assert!(ok, "{}: {line}", topo.name);
        let want_path = golden.join(format!("{}.txt", topo.name));
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::create_dir_all(&golden).unwrap();
            std::fs::write(&want_path, &line).unwrap();
        }
        let want = std::fs::read_to_string(&want_path).unwrap_or_default();
        assert_eq!(
            line, want,
            "{} (UPDATE_GOLDEN=1 rewrites the golden files)",
            topo.name
        );
        std::fs::remove_dir_all(&root).unwrap();
    }
}

#[test]
fn the_grub_fragment_is_the_4_core_smt_output() {
    let topo = Topology::regular("4core-smt", 1, 4, 2, 0);
    let root = tempdir("grub");
    topo.build(&root);
    let (ok, cfg) = gen_cmdline(&root, &["--iface", "eth0", "--grub"]);
    assert!(ok, "{cfg}");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(repo().join("grub/ingest.cfg"), &cfg).unwrap();
    }
    let committed = std::fs::read_to_string(repo().join("grub/ingest.cfg")).unwrap_or_default();
    assert_eq!(
        cfg, committed,
        "grub/ingest.cfg is `ROOT=<4 cores, SMT> gen-cmdline.sh --grub`"
    );
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn check_compares_with_the_running_command_line() {
    let mut topo = Topology::regular("check", 1, 4, 2, 0);
    let root = tempdir("check");
    topo.build(&root);
    let (ok, line) = gen_cmdline(&root, &[]);
    assert!(ok);
    // A kernel booted with exactly these parameters passes.
    write(
        &root,
        "proc/cmdline",
        &format!("BOOT_IMAGE=/vmlinuz ro {line}"),
    );
    let (ok, out) = gen_cmdline(&root, &["--check"]);
    assert!(ok, "{out}");
    assert!(out.starts_with("ok:"), "{out}");
    // One without them fails and names what is missing or different.
    topo.cmdline = "ro quiet nohz_full=1";
    topo.build(&root);
    let (ok, out) = gen_cmdline(&root, &["--check"]);
    assert!(!ok);
    assert!(
        out.contains("missing: isolcpus=managed_irq,domain,1-3,5-7"),
        "{out}"
    );
    assert!(
        out.contains("differs: nohz_full: running 'nohz_full=1', wanted 'nohz_full=1-3,5-7'"),
        "{out}"
    );
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn worker_counts_and_one_core_hosts() {
    let topo = Topology::regular("workers", 2, 16, 2, 1);
    let root = tempdir("workers");
    topo.build(&root);
    // Two worker cores: both on the NIC's node (socket 1: CPUs 16-31 and siblings 48-63).
    let (ok, line) = gen_cmdline(&root, &["--iface", "eth0", "--workers", "2"]);
    assert!(ok, "{line}");
    assert!(
        line.starts_with("isolcpus=managed_irq,domain,16-17,48-49 "),
        "{line}"
    );
    let (ok, out) = gen_cmdline(&root, &["--workers", "99"]);
    assert!(
        !ok && out.contains("99 worker cores asked, 31 available"),
        "{out}"
    );
    std::fs::remove_dir_all(&root).unwrap();

    let one = Topology::regular("one", 1, 1, 2, 0);
    let root = tempdir("one");
    one.build(&root);
    let (ok, out) = gen_cmdline(&root, &[]);
    assert!(!ok && out.contains("one-core host"), "{out}");
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn scripts_pass_shellcheck() {
    let Ok(status) = Command::new("shellcheck").arg("--version").output() else {
        panic!("shellcheck is missing: deploy/bootstrap.sh installs it");
    };
    assert!(status.status.success());
    let scripts = [
        "grub/gen-cmdline.sh",
        "deploy/bootstrap.sh",
        "deploy/test.sh",
        "deploy/demo.sh",
        "deploy/fuzz.sh",
        "deploy/tune-nic.sh",
        "deploy/irq-affinity.sh",
        "deploy/hugepages.sh",
        "deploy/lib/tune.sh",
        "ingest/tests/fixtures/fake-ethtool",
    ];
    let out = Command::new("shellcheck")
        .arg("-x")
        .current_dir(repo())
        .args(scripts.iter().map(|s| repo().join(s)))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// The files `ingest check-host` reads, on top of the topology: a tuned host or an untuned one.
fn host_files(root: &Path, topo: &Topology, tuned: bool, kernel: &str) {
    topo.build(root);
    write(root, "proc/sys/kernel/osrelease", &format!("{kernel}\n"));
    write(root, "proc/sys/kernel/unprivileged_bpf_disabled", "2\n");
    write(
        root,
        "sys/kernel/mm/transparent_hugepage/enabled",
        if tuned {
            "always [madvise] never\n"
        } else {
            "always madvise [never]\n"
        },
    );
    let n = topo.cpus.len();
    let isolated = match (tuned, n) {
        (false, _) => String::new(),
        (true, n) if n >= 4 => format!("1-{}", n / 2 - 1),
        (true, _) => "1".to_string(),
    };
    write(
        root,
        "sys/devices/system/cpu/isolated",
        &format!("{isolated}\n"),
    );
    let driver_dir =
        root.join("sys/bus/pci/drivers")
            .join(if tuned { "ice" } else { "virtio_net" });
    std::fs::create_dir_all(&driver_dir).unwrap();
    let link = root.join("sys/class/net/eth0/device/driver");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&driver_dir, &link).unwrap();
    let queues = if tuned { n } else { 1 };
    for q in 0..queues {
        std::fs::create_dir_all(root.join(format!("sys/class/net/eth0/queues/rx-{q}"))).unwrap();
    }
    let node = topo.nic_node.max(0);
    write(
        root,
        &format!("sys/devices/system/node/node{node}/hugepages/hugepages-2048kB/free_hugepages"),
        if tuned { "4096\n" } else { "0\n" },
    );
    write(
        root,
        "proc/self/limits",
        &format!(
            "Limit                     Soft Limit           Hard Limit           Units\nMax locked memory         {0} {0} bytes\n",
            if tuned { "unlimited" } else { "65536" }
        ),
    );
    write(
        root,
        "sys/class/net/eth0/napi_defer_hard_irqs",
        if tuned { "2\n" } else { "0\n" },
    );
    write(
        root,
        "sys/class/net/eth0/gro_flush_timeout",
        if tuned { "200000\n" } else { "0\n" },
    );
    write(
        root,
        "proc/interrupts",
        "           CPU0       CPU1\n  24:        10          0  IR-PCI-MSI 1-edge      eth0-TxRx-0\n  25:         0          5  IR-PCI-MSI 2-edge      eth0-TxRx-1\n",
    );
    let irq_cpus = if tuned { "0\n" } else { "1\n" };
    write(root, "proc/irq/24/smp_affinity_list", irq_cpus);
    write(root, "proc/irq/25/smp_affinity_list", irq_cpus);
    if !tuned {
        write(root, "proc/4242/comm", "irqbalance\n");
    }
}

fn check_host(root: &Path, iface: &str) -> (i32, serde_json::Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_ingest"))
        .args(["check-host", "--json", "--iface", iface, "--root"])
        .arg(root)
        .output()
        .unwrap();
    let json = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    (out.status.code().unwrap_or(-1), json)
}

fn statuses(report: &serde_json::Value) -> Vec<(String, String)> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn check_host_on_a_tuned_and_an_untuned_fixture() {
    let topo = Topology::regular("tuned", 2, 16, 2, 1);
    let root = tempdir("check-host-tuned");
    host_files(&root, &topo, true, "6.1.0-18-amd64");
    let (code, report) = check_host(&root, "eth0");
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["worst"], "pass", "{report:#}");
    let names: Vec<_> = statuses(&report).into_iter().map(|(n, _)| n).collect();
    for want in [
        "kernel",
        "bpf",
        "isolated_cpus",
        "driver",
        "queues",
        "busy_poll",
        "irqs",
        "hugepages",
        "transparent_hugepages",
        "memlock",
        "irqbalance",
    ] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} not checked: {names:?}"
        );
    }
    std::fs::remove_dir_all(&root).unwrap();

    let topo = Topology::regular("untuned", 1, 4, 2, 0);
    let root = tempdir("check-host-untuned");
    host_files(&root, &topo, false, "5.10.0-28-amd64");
    let (code, report) = check_host(&root, "eth0");
    assert_eq!(code, 0, "warnings only: {report:#}");
    let warned: Vec<_> = statuses(&report)
        .into_iter()
        .filter(|(_, s)| s == "warn")
        .map(|(n, _)| n)
        .collect();
    assert_eq!(
        warned,
        [
            "kernel",
            "isolated_cpus",
            "driver",
            "queues",
            "busy_poll",
            "hugepages",
            "transparent_hugepages",
            "memlock"
        ],
        "{report:#}"
    );
    for c in report["checks"].as_array().unwrap() {
        if c["status"] != "pass" {
            assert!(
                c["fix"].as_str().is_some_and(|f| !f.is_empty()),
                "every warning has a fix: {c}"
            );
        }
    }
    // An old kernel and a missing interface fail, and the exit status says so.
    host_files(&root, &topo, false, "4.19.0-20-amd64");
    let (code, report) = check_host(&root, "eth9");
    assert_eq!(code, 1, "{report:#}");
    let failed: Vec<_> = statuses(&report)
        .into_iter()
        .filter(|(_, s)| s == "fail")
        .map(|(n, _)| n)
        .collect();
    assert_eq!(failed, ["kernel", "interface"]);
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn check_host_on_this_machine_and_a_veth() {
    let out = Command::new(env!("CARGO_BIN_EXE_ingest"))
        .args(["check-host", "--json"])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        out.status.success(),
        report["worst"] != "fail",
        "{report:#}"
    );
    let kernel = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "kernel")
        .unwrap();
    assert_eq!(kernel["status"], "pass", "kernel 6.x: {kernel}");

    if testbed::netns::available().is_err() {
        eprintln!("SKIPPED the veth part: needs root and iproute2");
        return;
    }
    let pair = testbed::netns::VethPair::create().unwrap();
    let out = testbed::netns::VethPair::command(&pair.ns_b, env!("CARGO_BIN_EXE_ingest"))
        .args(["check-host", "--json", "--iface", testbed::netns::IFACE_B])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let driver = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "driver")
        .unwrap();
    assert_eq!(driver["status"], "warn", "{driver}");
    assert!(
        driver["detail"]
            .as_str()
            .unwrap()
            .contains("veth, native XDP, AF_XDP copy mode only"),
        "{driver}"
    );
}

#[test]
fn the_systemd_unit_verifies() {
    let unit_text = std::fs::read_to_string(repo().join("deploy/ingest.service")).unwrap();
    // The unit names the installed path; verify it against the binary just built.
    let unit = unit_text.replace("/usr/local/bin/ingest", env!("CARGO_BIN_EXE_ingest"));
    for cap in ["CAP_BPF", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK"] {
        assert!(unit.contains(cap), "{cap}");
    }
    assert!(unit.contains("LimitMEMLOCK=infinity") && unit.contains("ProtectSystem=strict"));
    let dir = tempdir("unit");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ingest.service");
    std::fs::write(&path, unit).unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .expect("systemd-analyze (Debian's systemd package)");
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.trim().is_empty(),
        "systemd-analyze verify: {text}"
    );
    // Readiness, watchdog, a synchronous reload, and no restart loop on a bad configuration.
    for line in [
        "Type=notify",
        "WatchdogSec=",
        "RestartPreventExitStatus=78",
        "ingest reload --pid $MAINPID",
    ] {
        assert!(unit_text.contains(line), "{line}");
    }
    // Hardened: systemd's own exposure score at or below 2.5 (0 is best, 10 worst).
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let score: f64 = text
        .lines()
        .find_map(|l| l.split("Overall exposure level for ").nth(1))
        .and_then(|l| l.split(": ").nth(1))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no score in: {text}"));
    assert!(score <= 2.5, "exposure {score}: {text}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Runs a deploy script on a fixture root with the fake ethtool.
fn tune(script: &str, root: &Path, profile: &str, args: &[&str]) -> (bool, String) {
    let fixtures = repo().join("ingest/tests/fixtures");
    let out = Command::new("bash")
        .arg(repo().join("deploy").join(script))
        .args(args)
        .env("ROOT", root)
        .env("STATE_DIR", root.join("state"))
        .env("ETHTOOL", fixtures.join("fake-ethtool"))
        .env("FAKE_ETHTOOL_DIR", fixtures.join("ethtool").join(profile))
        .env("FAKE_ETHTOOL_LOG", root.join("ethtool.log"))
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

fn tuning_fixture(name: &str, topo: &Topology) -> std::path::PathBuf {
    let root = tempdir(name);
    host_files(&root, topo, true, "6.1.0-18-amd64");
    let node = topo.nic_node.max(0);
    write(
        &root,
        &format!("sys/devices/system/node/node{node}/hugepages/hugepages-2048kB/nr_hugepages"),
        "0\n",
    );
    write(&root, "proc/mounts", "sysfs /sys sysfs rw 0 0\n");
    // As a NIC comes: no busy-poll settings yet.
    write(&root, "sys/class/net/eth0/napi_defer_hard_irqs", "0\n");
    write(&root, "sys/class/net/eth0/gro_flush_timeout", "0\n");
    root
}

#[test]
fn tuning_scripts_dry_run_golden_outputs() {
    let golden = repo().join("ingest/tests/fixtures/tune");
    let cases = [
        (Topology::regular("2x16-smt-nic-node1", 2, 16, 2, 1), "ice"),
        (Topology::regular("2core", 1, 2, 1, -1), "limited"),
    ];
    for (topo, profile) in cases {
        let root = tuning_fixture(topo.name, &topo);
        for (script, args) in [
            (
                "tune-nic.sh",
                vec!["eth0", "--dry-run", "--steer-queue", "0"],
            ),
            ("irq-affinity.sh", vec!["eth0", "--dry-run"]),
            (
                "irq-affinity.sh",
                vec!["eth0", "--dry-run", "--mode", "poll"],
            ),
            (
                "hugepages.sh",
                vec!["--iface", "eth0", "--dry-run", "--pages-1g", "2"],
            ),
        ] {
            let (ok, out) = tune(script, &root, profile, &args);
            assert!(ok, "{script} {args:?}: {out}");
            let mode = if args.contains(&"poll") { "-poll" } else { "" };
            let want_path = golden.join(format!(
                "{}-{}{mode}.txt",
                topo.name,
                script.trim_end_matches(".sh")
            ));
            if std::env::var_os("UPDATE_GOLDEN").is_some() {
                std::fs::create_dir_all(&golden).unwrap();
                std::fs::write(&want_path, &out).unwrap();
            }
            let want = std::fs::read_to_string(&want_path).unwrap_or_default();
            assert_eq!(
                out, want,
                "{} {script} {args:?} (UPDATE_GOLDEN=1 rewrites)",
                topo.name
            );
            assert!(
                !root.join("ethtool.log").exists(),
                "a dry run changes nothing"
            );
        }
        std::fs::remove_dir_all(&root).unwrap();
    }
}

#[test]
fn tuning_scripts_change_and_reset_a_fixture() {
    let topo = Topology::regular("tune-real", 1, 4, 2, 0);
    let root = tuning_fixture("tune-real", &topo);
    let read = |rel: &str| {
        std::fs::read_to_string(root.join(rel))
            .unwrap()
            .trim()
            .to_string()
    };

    let (ok, out) = tune("tune-nic.sh", &root, "ice", &["eth0", "--steer-queue", "0"]);
    assert!(ok, "{out}");
    assert_eq!(read("sys/class/net/eth0/napi_defer_hard_irqs"), "2");
    assert_eq!(read("sys/class/net/eth0/gro_flush_timeout"), "200000");
    let log = read("ethtool.log");
    for want in [
        "ethtool -L eth0 combined 3",
        "ethtool -G eth0 rx 8160 tx 8160",
        "ethtool -K eth0 gro off",
        "ethtool -N eth0 flow-type udp4 dst-port 514 action 0",
        "ethtool -N eth0 rx-flow-hash udp6 sd",
    ] {
        assert!(log.contains(want), "{want} not in {log}");
    }
    let (ok, out) = tune("irq-affinity.sh", &root, "ice", &["eth0"]);
    assert!(ok, "{out}");
    assert_eq!(
        read("proc/irq/24/smp_affinity_list"),
        "0,4-7",
        "housekeeping CPUs"
    );
    assert!(read("etc/default/irqbalance").contains("IRQBALANCE_BANNED_CPULIST=1-3"));
    let (ok, out) = tune("hugepages.sh", &root, "ice", &["--iface", "eth0"]);
    assert!(ok, "{out}");
    assert_eq!(
        read("sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages"),
        "128",
        "16 pages for each of 8 queues"
    );

    // --reset puts every value back.
    std::fs::remove_file(root.join("ethtool.log")).unwrap();
    for (script, args) in [
        ("tune-nic.sh", vec!["eth0", "--reset"]),
        ("irq-affinity.sh", vec!["eth0", "--reset"]),
        ("hugepages.sh", vec!["--reset"]),
    ] {
        let (ok, out) = tune(script, &root, "ice", &args);
        assert!(ok, "{script}: {out}");
    }
    assert_eq!(read("sys/class/net/eth0/napi_defer_hard_irqs"), "0");
    assert_eq!(read("proc/irq/24/smp_affinity_list"), "0");
    assert!(!root.join("etc/default/irqbalance").exists());
    assert_eq!(
        read("sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages"),
        "0"
    );
    let log = read("ethtool.log");
    for want in [
        "ethtool -L eth0 combined 16",
        "ethtool -G eth0 rx 2048 tx 2048",
        "ethtool -K eth0 gro on",
        "ethtool -N eth0 delete 1023",
    ] {
        assert!(log.contains(want), "{want} not undone: {log}");
    }
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn tuning_scripts_on_a_veth_say_what_it_lacks() {
    if testbed::netns::available().is_err() {
        eprintln!("SKIPPED: needs root and iproute2");
        return;
    }
    let pair = testbed::netns::VethPair::create().unwrap();
    let state = tempdir("veth-state");
    let run = |script: &str, args: &[&str]| {
        let out = testbed::netns::VethPair::command(&pair.ns_b, "bash")
            .arg(repo().join("deploy").join(script))
            .args(args)
            .env("STATE_DIR", &state)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let out = run("tune-nic.sh", &[testbed::netns::IFACE_B]);
    assert!(out.contains("skipped: ring sizes"), "{out}");
    assert!(out.contains("done: napi_defer_hard_irqs (0 -> 2)"), "{out}");
    let out = run("irq-affinity.sh", &[testbed::netns::IFACE_B]);
    assert!(out.contains("no IRQs found"), "{out}");
    let out = run("tune-nic.sh", &[testbed::netns::IFACE_B, "--reset"]);
    assert!(out.contains("restored"), "{out}");
    // Huge pages are host-wide: only a dry run here, which must read this host's real tree.
    let out = run(
        "hugepages.sh",
        &["--iface", testbed::netns::IFACE_B, "--dry-run"],
    );
    assert!(
        out.contains("2 MiB pages on node 0") || out.contains("node0/hugepages"),
        "{out}"
    );
    let _ = std::fs::remove_dir_all(&state);
}

#[test]
fn check_config_accepts_the_example_and_points_at_problems() {
    let run = |file: &Path| {
        let out = Command::new(env!("CARGO_BIN_EXE_ingest"))
            .arg("check-config")
            .arg(file)
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8(out.stdout).unwrap())
    };
    // The example as installed: the shipped rules where the unit's steps put them (here, the
    // repository's own).
    let bad = tempdir("bad-config");
    std::fs::create_dir_all(&bad).unwrap();
    let example = std::fs::read_to_string(repo().join("deploy/ingest.toml")).unwrap();
    assert!(example.contains("\"/etc/ingest/rules\""));
    let installed = bad.join("installed.toml");
    let rules = repo().join("detector/rules");
    std::fs::write(
        &installed,
        example.replace("/etc/ingest/rules", rules.to_str().unwrap()),
    )
    .unwrap();
    let (code, out) = run(&installed);
    assert_eq!(code, Some(0), "{out}");
    let file = bad.join("ingest.toml");
    std::fs::write(
        &file,
        "iface = \"eth0\"\nqueues = []\ndeny_source = [\"198.18.0.0/99\"]\n",
    )
    .unwrap();
    let (code, out) = run(&file);
    assert_eq!(code, Some(1));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].ends_with(":2:1: queues: at least one queue is needed"),
        "{out}"
    );
    assert!(lines[1].contains(":3:1: deny_source: bad prefix"), "{out}");
    std::fs::remove_dir_all(&bad).unwrap();
}
