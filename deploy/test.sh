#!/usr/bin/env bash
# The whole test suite: lint gates, unit tests, and the integration tests in network namespaces.
# This is the README's test command and what CI runs (.ci/run). Needs root for the XDP tests.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

BOOTSTRAP_QUIET=1 bash deploy/bootstrap.sh

echo "== cargo fmt --check"
cargo fmt --all --check
echo "== clippy (host crates)"
cargo clippy --locked --all-targets -- -D warnings
echo "== clippy (XDP program, bpfel-unknown-none)"
(cd xdp-ebpf && cargo +nightly clippy --locked --release --target bpfel-unknown-none \
    -Z build-std=core -- -D warnings)
echo "== cargo doc (broken links and other doc warnings fail)"
RUSTDOCFLAGS="-D warnings" cargo doc --locked --workspace --no-deps
echo "== tests"
cargo test --locked
echo "== parser tests again, SIMD off (the scalar scan is the oracle)"
# The memory-budget test parses two million messages for its state tables, not for the scan.
DETECTOR_SIMD=off cargo test --locked -p detector -- --skip every_kind_of_state_stays_within_one_budget
