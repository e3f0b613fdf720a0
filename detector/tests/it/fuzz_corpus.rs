//! Replays every seed of the fuzz targets (`fuzz/seeds/<target>/`, committed), every crash that
//! was ever found (`fuzz/artifacts/<target>/`, kept as regression tests), and what local fuzz
//! runs grew (`fuzz/corpus/<target>/`, not committed, when present) through the same checks the
//! fuzz targets run, on stable Rust, as part of the test command.

use std::path::Path;

fn replay(target: &str, check: fn(&[u8])) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut n = 0;
    for dir in ["seeds", "artifacts", "corpus"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            let outcome = std::panic::catch_unwind(|| check(&data));
            assert!(outcome.is_ok(), "{} fails its fuzz check", path.display());
            n += 1;
        }
    }
    n
}

#[test]
fn parse_corpus() {
    assert!(replay("parse", detector::fuzz::parse_input) >= 20);
}

#[test]
fn framing_corpus() {
    assert!(replay("framing", detector::fuzz::framing_input) >= 3);
}

#[test]
fn scan_corpus() {
    assert!(replay("scan", detector::fuzz::scan_input) >= 2);
}

#[test]
fn gelf_corpus() {
    assert!(replay("gelf", detector::fuzz::gelf_input) >= 2);
}

#[test]
fn literals_corpus() {
    assert!(replay("literals", detector::fuzz::literals_input) >= 4);
}
