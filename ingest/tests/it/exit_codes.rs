//! How `ingest` ends when it cannot work: a configuration that cannot work exits 78
//! (`EX_CONFIG`, which the systemd unit does not restart) with the problem on stderr; other
//! failures exit 1. No root needed: each fails before anything is attached.

use std::process::Command;

use crate::common::TempDir;

fn ingest() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ingest"))
}

#[test]
fn a_configuration_that_cannot_work_exits_78_with_the_problem_on_stderr() {
    let dir = TempDir::new("exit-codes");
    let bad = dir.0.join("bad.toml");
    std::fs::write(&bad, "iface = \"veth0\"\nports = [0]\n").unwrap();
    let out = ingest()
        .args(["run", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("ports"), "{stderr}");
    assert!(out.stdout.is_empty(), "nothing on stdout: {out:?}");

    // A rule that cannot be loaded is configuration too.
    let rules = dir.0.join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(rules.join("bad.yml"), "title: t\ndetection: {}\n").unwrap();
    let out = ingest()
        .args(["run", "--iface", "veth0", "--metrics-addr", "", "--rules"])
        .arg(&rules)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("bad.yml"),
        "{out:?}"
    );

    // The same from the environment.
    let out = ingest()
        .args(["run", "--metrics-addr", ""])
        .env("INGEST_CONFIG", &bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78), "{out:?}");
}

#[test]
fn check_config_exits_1_and_lists_every_problem() {
    let dir = TempDir::new("check-config");
    let bad = dir.0.join("bad.toml");
    std::fs::write(&bad, "ports = [0]\nframe_count = 1000\n").unwrap();
    let out = ingest().args(["check-config"]).arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().count(), 2, "{stdout}");
}
