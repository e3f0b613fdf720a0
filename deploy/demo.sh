#!/usr/bin/env bash
# The appliance end to end, in under a minute: build, generate labelled syslog traffic (LogHub
# bodies from 2,000 hosts in four formats, with injected SSH brute force, a Shellshock attempt,
# never-seen messages, a rate spike and a host that goes silent), make two network namespaces
# joined by veth, replay the capture into `ingest run` on the XDP path with every rule and
# learning on, and print throughput, loss, the accounting check, detection precision and recall
# per anomaly kind, and latency percentiles per stage, with the paths of the report files
# (table, .hgrm, JSON, SVG plot) in target/e2e. Needs root; removes the namespaces it made.
# `deploy/demo.sh --help` lists the options; without --quick it is the full comparison with
# the socket backend, rsyslog and syslog-ng (several minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

if [ "$(id -u)" != 0 ]; then
    echo "demo: needs root (namespaces, XDP, AF_XDP)" >&2
    exit 1
fi
BOOTSTRAP_QUIET=1 bash deploy/bootstrap.sh
cargo build --locked --release -p ingest -p bench
if [ $# -eq 0 ]; then
    set -- --quick
fi
exec ./target/release/bench e2e "$@"
