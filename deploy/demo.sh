#!/usr/bin/env bash
# The appliance's main job in its demo form: build, make two network namespaces joined by veth,
# attach the XDP program on one end, send real syslog messages with `logger` from the other, and
# print what arrived through AF_XDP with every counter. Needs root; removes what it made.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

if [ "$(id -u)" != 0 ]; then
    echo "demo: needs root (namespaces, XDP, AF_XDP)" >&2
    exit 1
fi
BOOTSTRAP_QUIET=1 bash deploy/bootstrap.sh
cargo build --locked --release -p ingest -p bench
exec ./target/release/bench demo "$@"
