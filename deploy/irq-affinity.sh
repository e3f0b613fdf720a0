#!/usr/bin/env bash
# Pins a NIC's IRQs for the ingest appliance:
#   deploy/irq-affinity.sh IFACE [--mode busy-poll|poll] [--dry-run] [--reset]
#
# busy-poll (default): the workers drive their queues themselves, so every IRQ of the NIC goes
#   to the housekeeping CPUs (those not isolated) and never interrupts a worker.
# poll: queue i's IRQ goes to the CPU of worker i (the i-th isolated CPU), so the wakeup lands
#   where the worker sleeps.
# irqbalance would move them again: its banned-CPU list gets the isolated CPUs
# (IRQBALANCE_BANNED_CPULIST in /etc/default/irqbalance; restart irqbalance after).
# Each change is recorded first; --reset undoes them. --dry-run prints the changes only.
set -euo pipefail
SCRIPT="irq-affinity"
# shellcheck source=deploy/lib/tune.sh
. "$(dirname "$0")/lib/tune.sh"

iface=""
mode=busy-poll
do_reset=0
while [ $# -gt 0 ]; do
    case "$1" in
        --mode) mode=$2; shift 2 ;;
        --dry-run) DRY_RUN=1; shift ;;
        --reset) do_reset=1; shift ;;
        -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) die "unknown option $1" ;;
        *) iface=$1; shift ;;
    esac
done
[ -n "$iface" ] || die "usage: irq-affinity.sh IFACE [--mode busy-poll|poll] [--dry-run] [--reset]"
case "$mode" in busy-poll|poll) ;; *) die "--mode is busy-poll or poll" ;; esac
[ -d "$ROOT/sys/class/net/$iface" ] || die "no interface $iface"
if [ "$do_reset" = 1 ]; then
    reset "$iface"
    exit 0
fi

# The NIC's IRQs, in queue order: MSI vectors of its PCI device, named in /proc/interrupts.
irqs=$(awk -v ifc="$iface" 'NR > 1 && $NF ~ ifc { sub(":", "", $1); print $1 }' "$ROOT/proc/interrupts")
if [ -d "$ROOT/sys/class/net/$iface/device/msi_irqs" ]; then
    irqs=$( (echo "$irqs"; ls "$ROOT/sys/class/net/$iface/device/msi_irqs") | grep . | sort -n -u)
fi
if [ -z "$irqs" ]; then
    say "no IRQs found for $iface (a virtual device, or a driver that names them otherwise): nothing to do"
    exit 0
fi

iso=$(isolated_cpus)
house=$(housekeeping_cpus)
mapfile -t workers < <(expand_cpus "$iso")
i=0
for irq in $irqs; do
    if [ "$mode" = busy-poll ] || [ ${#workers[@]} -eq 0 ]; then
        target=$house
    else
        target=${workers[$((i % ${#workers[@]}))]}
    fi
    sysfs_set "$iface" "/proc/irq/$irq/smp_affinity_list" "$target" "IRQ $irq -> CPUs $target"
    i=$((i + 1))
done

# irqbalance: keep it off the worker CPUs.
if [ -n "$iso" ]; then
    conf="$ROOT/etc/default/irqbalance"
    line="IRQBALANCE_BANNED_CPULIST=$iso"
    if [ -f "$conf" ] && grep -qx "$line" "$conf"; then
        say "already: irqbalance bans CPUs $iso"
    elif [ "$DRY_RUN" = 1 ]; then
        say "would set $line in /etc/default/irqbalance"
    else
        mkdir -p "$(dirname "$conf")" "$STATE_DIR"
        if [ -f "$conf" ]; then
            cp "$conf" "$STATE_DIR/irqbalance.saved"
            echo "cp '$STATE_DIR/irqbalance.saved' '$conf'" >>"$(state_file "$iface")"
        else
            echo "rm -f '$conf'" >>"$(state_file "$iface")"
        fi
        { grep -v '^IRQBALANCE_BANNED_CPULIST=' "$conf" 2>/dev/null || true; echo "$line"; } >"$conf.new"
        mv "$conf.new" "$conf"
        say "done: irqbalance bans CPUs $iso (restart it: systemctl restart irqbalance)"
    fi
fi
