#!/usr/bin/env bash
# Install everything a fresh Debian 12 machine lacks to build and test the appliance:
#   - apt packages: the C toolchain and libraries xsk-rs needs to build libbpf/libxdp, and the
#     network tools the tests use (ip, ping, logger), shellcheck and systemd-analyze for the
#     script and unit tests, nats-server for the JetStream sink test, rsyslog and tcpreplay for
#     `bench e2e`;
#   - syslog-ng, the other peer of `bench e2e`, unpacked into /opt/syslog-ng (its package
#     conflicts with rsyslog's), with the libraries it needs from apt;
#   - the rust-src component of the nightly toolchain (the eBPF crate uses -Z build-std=core);
#   - bpf-linker 0.13, linked against the nightly rustc's own libLLVM (same LLVM major).
#
# Idempotent: each step checks first and does nothing when its result is already in place, so a
# second run on a ready machine takes seconds. Every step verifies what it installed and the
# script fails with a message naming what is missing.
#
# Environment:
#   INGEST_TOOLS_DIR  where the LLVM prefix for bpf-linker lives (default /opt/ingest-tools).
#                     bpf-linker records an rpath into it, so it must stay in place.
#   BOOTSTRAP_QUIET=1 print only what changed.
set -euo pipefail

TOOLS_DIR=${INGEST_TOOLS_DIR:-/opt/ingest-tools}
BPF_LINKER_VERSION=0.13.0
APT_PACKAGES=(libelf-dev zlib1g-dev libpcap-dev clang llvm pkg-config m4 iproute2 iputils-ping bsdutils shellcheck systemd ethtool nats-server
    rsyslog tcpreplay
    # promtool (checks a scrape), headless chromium (renders the web view in its test)
    prometheus chromium
    # syslog-ng-core's libraries (the package itself is unpacked below)
    libivykis0 libjson-c5 libnet1 libpcre3 libwrap0 libglib2.0-0 libcap2)

say() { [ "${BOOTSTRAP_QUIET:-0}" = 1 ] || echo "bootstrap: $*"; }
act() { echo "bootstrap: $*"; }
die() { echo "bootstrap: error: $*" >&2; exit 1; }

export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

# --- apt packages -------------------------------------------------------------------------------
missing=()
for p in "${APT_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
        missing+=("$p")
    fi
done
if [ ${#missing[@]} -gt 0 ]; then
    [ "$(id -u)" = 0 ] || die "apt packages missing (${missing[*]}) and not root to install them"
    act "installing apt packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # Packages with services (rsyslog, nats-server) must not start them: the tests and bench
    # start their own. A policy-rc.d that refuses is the Debian way to say so.
    policy=/usr/sbin/policy-rc.d
    made_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && made_policy=1
    fi
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || install_failed=1
    [ "$made_policy" = 1 ] && rm -f "$policy"
    [ "${install_failed:-0}" = 0 ] || die "apt-get install failed"
    for p in "${missing[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' \
            || die "apt package $p did not install"
    done
else
    say "apt packages present"
fi

# --- syslog-ng, unpacked ------------------------------------------------------------------------
SYSLOG_NG_ROOT=/opt/syslog-ng
if [ -x "$SYSLOG_NG_ROOT/usr/sbin/syslog-ng" ]; then
    say "syslog-ng unpacked in $SYSLOG_NG_ROOT"
else
    [ "$(id -u)" = 0 ] || die "syslog-ng missing and not root to unpack it"
    act "unpacking syslog-ng-core into $SYSLOG_NG_ROOT (it conflicts with rsyslog as a package)"
    work=$(mktemp -d)
    (cd "$work" && apt-get download -qq syslog-ng-core >/dev/null) || { rm -rf "$work"; die "apt-get download syslog-ng-core failed"; }
    mkdir -p "$SYSLOG_NG_ROOT"
    dpkg -x "$work"/syslog-ng-core_*.deb "$SYSLOG_NG_ROOT"
    rm -rf "$work"
    LD_LIBRARY_PATH="$SYSLOG_NG_ROOT/usr/lib/syslog-ng" "$SYSLOG_NG_ROOT/usr/sbin/syslog-ng" --version >/dev/null \
        || die "the unpacked syslog-ng does not run"
fi
# rsyslog's package starts its service where systemd runs; bench e2e starts its own.

# --- rust toolchains ----------------------------------------------------------------------------
command -v rustup >/dev/null || die "rustup not found: this machine kind ships Rust through rustup"
if ! rustup toolchain list | grep -q '^nightly-'; then
    act "installing the nightly toolchain (none present)"
    rustup toolchain install nightly --profile minimal
fi
if ! rustup component list --toolchain nightly --installed 2>/dev/null | grep -q '^rust-src'; then
    act "adding rust-src to nightly"
    rustup component add rust-src --toolchain nightly
fi
rustup component list --toolchain nightly --installed | grep -q '^rust-src' \
    || die "rust-src component of nightly is not installed"
say "nightly with rust-src present"

# --- bpf-linker against the nightly's LLVM ------------------------------------------------------
nightly_vv=$(rustc +nightly -vV) || die "rustc +nightly does not run"
llvm_version=$(sed -n 's/^LLVM version: //p' <<<"$nightly_vv")
llvm_major=${llvm_version%%.*}
[ -n "$llvm_major" ] || die "could not read the LLVM version from 'rustc +nightly -vV'"
sysroot=$(rustc +nightly --print sysroot)
# The real shared library is libLLVM.so.<maj>.<min>-rust-<ver>-nightly; the file named
# libLLVM-<maj>-rust-*.so next to it is a linker script and must not be linked.
llvm_lib=$(find "$sysroot/lib" -maxdepth 1 -name "libLLVM.so.${llvm_major}.*-rust-*" -type f | head -n1)
[ -n "$llvm_lib" ] || die "no libLLVM.so.${llvm_major}.*-rust-* in $sysroot/lib"
llvm_lib_name=$(basename "$llvm_lib")
prefix="$TOOLS_DIR/llvm-${llvm_lib_name#libLLVM.so.}"

linker_ok() {
    local out
    out=$(bpf-linker --version 2>/dev/null) || return 1
    grep -q "$BPF_LINKER_VERSION" <<<"$out" || return 1
    # The binary must load the very libLLVM of this nightly (it records an rpath to $prefix/lib).
    ldd "$(command -v bpf-linker)" | grep -q "$prefix/lib/$llvm_lib_name"
}

if linker_ok; then
    say "bpf-linker $BPF_LINKER_VERSION (LLVM $llvm_version) present"
else
    act "building bpf-linker $BPF_LINKER_VERSION against $llvm_lib_name (a few minutes)"
    mkdir -p "$prefix/lib"
    cp -f "$llvm_lib" "$prefix/lib/$llvm_lib_name"
    ln -sf "$llvm_lib_name" "$prefix/lib/libLLVM.so"
    LLVM_PREFIX="$prefix" cargo +stable install --locked --force bpf-linker \
        --version "$BPF_LINKER_VERSION" --no-default-features --features "llvm-${llvm_major}"
    linker_ok || die "bpf-linker installed but '$(command -v bpf-linker) --version' fails or does not load $prefix/lib/$llvm_lib_name"
    act "bpf-linker ready: $(bpf-linker --version)"
fi
say "ready"
