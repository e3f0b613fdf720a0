#!/usr/bin/env bash
# Tunes a NIC for the ingest appliance:
#   deploy/tune-nic.sh IFACE [--queues N] [--ports LIST] [--steer-queue Q] [--dry-run] [--reset]
#
#   1. combined channels (queues): N, default one per worker CPU (the isolated CPUs, else all
#      but CPU 0);
#   2. RX and TX rings to the driver's maximum;
#   3. interrupt coalescing: adaptive off, rx-usecs 50;
#   4. LRO and GRO off (XDP needs whole, unmerged frames);
#   5. with --steer-queue Q, ntuple rules sending UDP to each log port to queue Q;
#   6. rx-flow-hash udp4/udp6 on source and destination address only (sd), so every packet of a
#      source, fragments included, lands on the same queue and worker;
#   7. napi_defer_hard_irqs=2 and gro_flush_timeout=200000 for busy polling.
# Every step says what it did or why it was skipped (a driver without the feature). Each change
# is recorded first; --reset undoes them, newest first. --dry-run prints the commands only.
set -euo pipefail
SCRIPT="tune-nic"
# shellcheck source=deploy/lib/tune.sh
. "$(dirname "$0")/lib/tune.sh"

iface=""
queues=""
ports=514
steer=""
do_reset=0
while [ $# -gt 0 ]; do
    case "$1" in
        --queues) queues=$2; shift 2 ;;
        --ports) ports=$2; shift 2 ;;
        --steer-queue) steer=$2; shift 2 ;;
        --dry-run) DRY_RUN=1; shift ;;
        --reset) do_reset=1; shift ;;
        -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) die "unknown option $1" ;;
        *) iface=$1; shift ;;
    esac
done
[ -n "$iface" ] || die "usage: tune-nic.sh IFACE [--queues N] [--ports LIST] [--steer-queue Q] [--dry-run] [--reset]"
[ -d "$ROOT/sys/class/net/$iface" ] || die "no interface $iface"

if [ "$do_reset" = 1 ]; then
    reset "$iface"
    exit 0
fi

# 1. Queues.
if [ -z "$queues" ]; then
    iso=$(isolated_cpus)
    if [ -n "$iso" ]; then
        queues=$(expand_cpus "$iso" | grep -c . || true)
    else
        queues=$(( $(expand_cpus "$(cat "$ROOT/sys/devices/system/cpu/online")" | grep -c .) - 1 ))
    fi
    [ "$queues" -ge 1 ] || queues=1
fi
if channels=$("$ETHTOOL" -l "$iface" 2>&1); then
    current=$(awk '/^Current/ {c=1} c && /^Combined:/ {print $2; exit}' <<<"$channels")
    max=$(awk '/^Pre-set/ {p=1} p && /^Combined:/ {print $2; exit}' <<<"$channels")
    if [ "$max" = "n/a" ] || [ -z "$max" ]; then
        say "skipped: combined channels (the driver has no combined channels)"
    else
        [ "$queues" -le "$max" ] || { say "note: $queues queues asked, the NIC has at most $max"; queues=$max; }
        if [ "$current" = "$queues" ]; then
            say "already: $queues combined channels"
        else
            change "$iface" "combined channels $current -> $queues" \
                "$ETHTOOL -L $iface combined $current" "$ETHTOOL" -L "$iface" combined "$queues"
        fi
    fi
else
    say "skipped: combined channels ($(tail -n1 <<<"$channels"))"
fi

# 2. RX and TX rings.
if rings=$("$ETHTOOL" -g "$iface" 2>&1); then
    ring() { awk -v sec="$1" -v key="$2:" '$0 ~ "^" sec {s=1} s && $1 == key {print $2; exit}' <<<"$rings"; }
    rx=$(ring Current RX); rx_max=$(ring Pre-set RX)
    tx=$(ring Current TX); tx_max=$(ring Pre-set TX)
    if [ "$rx" = "$rx_max" ] && [ "$tx" = "$tx_max" ]; then
        say "already: RX and TX rings at their maximum ($rx_max, $tx_max)"
    else
        change "$iface" "rings RX $rx -> $rx_max, TX $tx -> $tx_max" \
            "$ETHTOOL -G $iface rx $rx tx $tx" "$ETHTOOL" -G "$iface" rx "$rx_max" tx "$tx_max"
    fi
else
    say "skipped: ring sizes ($(tail -n1 <<<"$rings"))"
fi

# 3. Coalescing.
if coal=$("$ETHTOOL" -c "$iface" 2>&1); then
    adaptive=$(awk '/^Adaptive RX:/ {print $3}' <<<"$coal")
    usecs=$(awk '/^rx-usecs:/ {print $2; exit}' <<<"$coal")
    change "$iface" "coalescing: adaptive-rx off, rx-usecs 50 (was ${adaptive:-?}, ${usecs:-?})" \
        "$ETHTOOL -C $iface adaptive-rx ${adaptive:-on} rx-usecs ${usecs:-0}" \
        "$ETHTOOL" -C "$iface" adaptive-rx off rx-usecs 50
else
    say "skipped: interrupt coalescing ($(tail -n1 <<<"$coal"))"
fi

# 4. LRO and GRO.
features=$("$ETHTOOL" -k "$iface" 2>/dev/null || true)
for f in large-receive-offload:lro generic-receive-offload:gro; do
    name=${f%%:*}
    short=${f#*:}
    state=$(awk -v n="$name:" '$1 == n {print $2 ($3 ? " " $3 : ""); exit}' <<<"$features")
    case "$state" in
        "off"*) say "already: $short off" ;;
        *"[fixed]") say "skipped: $short off (fixed on by the driver)" ;;
        "on"*) change "$iface" "$short off" "$ETHTOOL -K $iface $short on" "$ETHTOOL" -K "$iface" "$short" off ;;
        *) say "skipped: $short off (the driver does not report it)" ;;
    esac
done

# 5. ntuple steering of the log ports.
if [ -n "$steer" ]; then
    state=$(awk '$1 == "ntuple-filters:" {print $2 ($3 ? " " $3 : ""); exit}' <<<"$features")
    case "$state" in
        *"[fixed]") say "skipped: ntuple rules (ntuple filters fixed off by the driver)"; steer="" ;;
        "on"*) ;;
        "off"*) change "$iface" "ntuple filters on" "$ETHTOOL -K $iface ntuple off" "$ETHTOOL" -K "$iface" ntuple on ;;
        *) say "skipped: ntuple rules (the driver has no ntuple filters)"; steer="" ;;
    esac
    for port in ${ports//,/ }; do
        [ -n "$steer" ] || break
        for flow in udp4 udp6; do
            if [ "$DRY_RUN" = 1 ]; then
                say "would run: ethtool -N $iface flow-type $flow dst-port $port action $steer"
            elif out=$("$ETHTOOL" -N "$iface" flow-type "$flow" dst-port "$port" action "$steer" 2>&1); then
                rule=$(grep -o '[0-9]\+' <<<"$out" | tail -n1)
                mkdir -p "$STATE_DIR"
                echo "$ETHTOOL -N $iface delete $rule" >>"$(state_file "$iface")"
                say "done: $flow port $port -> queue $steer (rule $rule)"
            else
                say "skipped: $flow port $port -> queue $steer ($(tail -n1 <<<"$out"))"
            fi
        done
    done
else
    say "skipped: ntuple rules (no --steer-queue: RSS spreads log traffic over all queues)"
fi

# 6. Flow hash on addresses only.
for flow in udp4 udp6; do
    if current=$("$ETHTOOL" -n "$iface" rx-flow-hash "$flow" 2>&1); then
        fields=""
        grep -q "IP SA" <<<"$current" && fields+=s
        grep -q "IP DA" <<<"$current" && fields+=d
        grep -q "L4 bytes 0 & 1" <<<"$current" && fields+=f
        grep -q "L4 bytes 2 & 3" <<<"$current" && fields+=n
        if [ "$fields" = sd ]; then
            say "already: rx-flow-hash $flow sd"
        else
            change "$iface" "rx-flow-hash $flow sd (was ${fields:-?})" \
                "$ETHTOOL -N $iface rx-flow-hash $flow ${fields:-sdfn}" \
                "$ETHTOOL" -N "$iface" rx-flow-hash "$flow" sd
        fi
    else
        say "skipped: rx-flow-hash $flow sd ($(tail -n1 <<<"$current"))"
    fi
done

# 7. Busy-poll friendly NAPI settings.
sysfs_set "$iface" "/sys/class/net/$iface/napi_defer_hard_irqs" 2 "napi_defer_hard_irqs"
sysfs_set "$iface" "/sys/class/net/$iface/gro_flush_timeout" 200000 "gro_flush_timeout"
