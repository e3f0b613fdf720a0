#!/usr/bin/env bash
# Reserves huge pages for the AF_XDP UMEMs on the NIC's NUMA node:
#   deploy/hugepages.sh [--iface IF] [--queues N] [--pages-1g N] [--dry-run] [--reset]
#
# 2 MiB pages: 16 per queue (a default UMEM is 8192 frames of 4 KiB = 32 MiB), on the NUMA node
# of IF (node 0 without one). 1 GiB pages with --pages-1g, where the CPU has them. Mounts
# hugetlbfs on /dev/hugepages if nothing is mounted there. The kernel settings the appliance
# wants at boot are in deploy/99-ingest.conf (for /etc/sysctl.d/).
# Each change is recorded first; --reset undoes them. --dry-run prints the changes only.
set -euo pipefail
SCRIPT=hugepages
# shellcheck source=deploy/lib/tune.sh
. "$(dirname "$0")/lib/tune.sh"

iface=""
queues=""
pages_1g=0
do_reset=0
while [ $# -gt 0 ]; do
    case "$1" in
        --iface) iface=$2; shift 2 ;;
        --queues) queues=$2; shift 2 ;;
        --pages-1g) pages_1g=$2; shift 2 ;;
        --dry-run) DRY_RUN=1; shift ;;
        --reset) do_reset=1; shift ;;
        -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument $1" ;;
    esac
done
if [ "$do_reset" = 1 ]; then
    reset host
    exit 0
fi

node=0
if [ -n "$iface" ]; then
    [ -d "$ROOT/sys/class/net/$iface" ] || die "no interface $iface"
    n=$(cat "$ROOT/sys/class/net/$iface/device/numa_node" 2>/dev/null || echo -1)
    [ "$n" -ge 0 ] 2>/dev/null && node=$n
    if [ -z "$queues" ]; then
        queues=$(find "$ROOT/sys/class/net/$iface/queues" -maxdepth 1 -name 'rx-*' 2>/dev/null | grep -c . || true)
    fi
fi
[ -n "$queues" ] && [ "$queues" -ge 1 ] || queues=1

dir="/sys/devices/system/node/node$node/hugepages"
want=$((queues * 16))
have=$(cat "$ROOT$dir/hugepages-2048kB/nr_hugepages" 2>/dev/null || echo 0)
if [ "$have" -ge "$want" ]; then
    say "already: $have 2 MiB pages on node $node (want $want for $queues queues)"
else
    sysfs_set host "$dir/hugepages-2048kB/nr_hugepages" "$want" "2 MiB pages on node $node for $queues queues"
    if [ "$DRY_RUN" = 0 ] && [ -r "$ROOT$dir/hugepages-2048kB/nr_hugepages" ]; then
        got=$(cat "$ROOT$dir/hugepages-2048kB/nr_hugepages")
        [ "$got" -ge "$want" ] || say "note: the kernel reserved $got of $want (memory too fragmented: reserve at boot with grub/gen-cmdline.sh)"
    fi
fi
if [ "$pages_1g" -gt 0 ]; then
    if [ -d "$ROOT$dir/hugepages-1048576kB" ]; then
        sysfs_set host "$dir/hugepages-1048576kB/nr_hugepages" "$pages_1g" "1 GiB pages on node $node"
    else
        say "skipped: 1 GiB pages (the CPU or kernel has none)"
    fi
fi

if grep -q ' /dev/hugepages hugetlbfs ' "$ROOT/proc/mounts" 2>/dev/null; then
    say "already: hugetlbfs on /dev/hugepages"
elif [ -n "$ROOT" ] || [ "$DRY_RUN" = 1 ]; then
    say "would run: mount -t hugetlbfs nodev /dev/hugepages"
else
    mkdir -p /dev/hugepages
    change host "hugetlbfs on /dev/hugepages" "umount /dev/hugepages" mount -t hugetlbfs nodev /dev/hugepages
fi
