#!/usr/bin/env bash
# A bounded fuzz run of every detector fuzz target (detector/fuzz), by default 60 s each.
#   deploy/fuzz.sh [SECONDS] [TARGET...]
# Installs cargo-fuzz if missing. Each target starts from its committed seeds
# (detector/fuzz/seeds/<target>/, a small spread of inputs) and from what earlier runs grew in
# detector/fuzz/corpus/<target>/, which is not committed (git ignores it); new inputs land
# there. A crash leaves its input in detector/fuzz/artifacts/<target>/ (commit it: the test
# command replays every artifact as a regression test) and makes this script fail. Prints
# executions per target.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(parse framing scan gelf literals)

BOOTSTRAP_QUIET=1 bash deploy/bootstrap.sh
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz"
    cargo install --locked cargo-fuzz
fi

cd detector/fuzz
status=0
for t in "${targets[@]}"; do
    log=$(mktemp)
    echo "fuzz: $t for ${seconds}s"
    mkdir -p "corpus/$t"
    if cargo +nightly fuzz run "$t" "corpus/$t" "seeds/$t" -- -max_total_time="$seconds" \
        -print_final_stats=1 >"$log" 2>&1; then
        result=ok
    else
        result=CRASH
        status=1
    fi
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    echo "fuzz: $t: $result, $execs executions"
    [ "$result" = ok ] || tail -40 "$log"
    rm -f "$log"
done
exit $status
