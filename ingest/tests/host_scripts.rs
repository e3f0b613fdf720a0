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
    ];
    let out = Command::new("shellcheck")
        .args(scripts.iter().map(|s| repo().join(s)))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
