//! Builds the XDP program (`xdp-ebpf`, nightly, `bpfel-unknown-none`) with aya-build and leaves
//! the object in `OUT_DIR/xdp-ebpf`, where `src/xdp.rs` embeds it.
//!
//! aya-build re-runs this script whenever anything under `xdp-ebpf/` changes, `xdp-ebpf/common`
//! included. It also records the source revision (`git describe`) for `ingest_build_info`.

use std::{env, path::Path, process::Command};

/// `INGEST_REVISION`: the commit the binary was built from (`-dirty` when the tree had changes),
/// or `unknown` outside a git checkout.
fn revision() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let revision = Command::new("git")
        .arg("-C")
        .arg(&repo)
        .args(["describe", "--always", "--dirty", "--abbrev=12"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=INGEST_REVISION={revision}");
    for file in [".git/HEAD", ".git/index"] {
        let path = repo.join(file);
        if path.exists() {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
}

fn main() -> anyhow::Result<()> {
    revision();
    let on_path = |tool: &str| {
        env::var_os("PATH")
            .is_some_and(|path| env::split_paths(&path).any(|dir| dir.join(tool).is_file()))
    };
    if env::var_os("AYA_BUILD_SKIP").is_none() && !on_path("bpf-linker") {
        anyhow::bail!(
            "bpf-linker is not on PATH: it links the XDP program. Run deploy/bootstrap.sh, which \
             builds it against the nightly toolchain's LLVM."
        );
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../xdp-ebpf");
    let root = root
        .to_str()
        .ok_or_else(|| anyhow::anyhow!("non-UTF-8 path {}", root.display()))?;
    aya_build::build_ebpf(
        [aya_build::Package {
            name: "xdp-ebpf",
            root_dir: root,
            ..Default::default()
        }],
        aya_build::Toolchain::default(),
    )
}
