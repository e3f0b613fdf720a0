# shellcheck shell=bash
# Shared by the host tuning scripts (tune-nic.sh, irq-affinity.sh, hugepages.sh). Sourced, not run.
#
# Every change goes through `change`: with --dry-run it only prints the command; otherwise it
# first records how to undo it (the inverse command) in a state file, then runs it, and says
# what it did or why it was skipped. `--reset` runs the recorded inverses, newest first.
#
# Environment:
#   ROOT       prepended to every /sys and /proc path (tests use fixture trees); default none.
#   STATE_DIR  where the undo records live (default /var/lib/ingest/tune).
#   ETHTOOL    the ethtool binary (tests use a fake); default ethtool.

ROOT=${ROOT:-}
STATE_DIR=${STATE_DIR:-/var/lib/ingest/tune}
ETHTOOL=${ETHTOOL:-ethtool}
DRY_RUN=${DRY_RUN:-0}
SCRIPT=${SCRIPT:-tune}

say() { echo "$SCRIPT: $*"; }
die() { echo "$SCRIPT: error: $*" >&2; exit 2; }

# The undo file of this script for this subject (an interface, or "host").
state_file() { echo "$STATE_DIR/$SCRIPT-$1.undo"; }

# change SUBJECT "what" "undo command" command...: records the undo, runs the command.
# A command that fails is reported as skipped with its error (a driver without the feature),
# not as a failure of the script.
change() {
    local subject=$1 what=$2 undo=$3
    shift 3
    local shown=("$@")
    [ "${shown[0]}" != "$ETHTOOL" ] || shown[0]=ethtool
    if [ "$DRY_RUN" = 1 ]; then
        say "would run: ${shown[*]}"
        return 0
    fi
    local out
    if out=$("$@" 2>&1); then
        if [ -n "$undo" ]; then
            mkdir -p "$STATE_DIR"
            printf '%s\n' "$undo" >>"$(state_file "$subject")"
        fi
        say "done: $what"
    else
        say "skipped: $what ($(tr '\n' ' ' <<<"$out" | sed 's/ *$//'))"
    fi
}

# sysfs_set SUBJECT PATH VALUE "what": writes VALUE to ROOT/PATH, recording the old value.
sysfs_set() {
    local subject=$1 path=$2 value=$3 what=$4
    local file="$ROOT$path"
    if [ ! -e "$file" ]; then
        say "skipped: $what ($path does not exist)"
        return 0
    fi
    local old
    old=$(cat "$file")
    if [ "$old" = "$value" ]; then
        say "already: $what ($value)"
        return 0
    fi
    if [ "$DRY_RUN" = 1 ]; then
        say "would write $value to $path (now $old)"
        return 0
    fi
    change "$subject" "$what ($old -> $value)" "echo '$old' > '$file'" \
        sh -c "echo '$value' > '$file'"
}

# reset SUBJECT: runs the recorded undo commands, newest first, then forgets them.
reset() {
    local file
    file=$(state_file "$1")
    if [ ! -s "$file" ]; then
        say "nothing to reset for $1"
        return 0
    fi
    local line
    tac "$file" | while IFS= read -r line; do
        if [ "$DRY_RUN" = 1 ]; then
            say "would run: $line"
        elif sh -c "$line" 2>/dev/null; then
            say "restored: $line"
        else
            say "could not restore: $line"
        fi
    done
    [ "$DRY_RUN" = 1 ] || rm -f "$file"
}

# Expands a kernel CPU list ("0-3,8") to one number per line.
expand_cpus() {
    local part
    tr ',' '\n' <<<"$1" | while read -r part; do
        [ -n "$part" ] || continue
        if [[ $part == *-* ]]; then seq "${part%-*}" "${part#*-}"; else echo "$part"; fi
    done
}

# Compresses numbers (one per line) to a kernel CPU list.
compress_cpus() {
    sort -n -u | awk '
        NR == 1 { start = $1; prev = $1; next }
        $1 == prev + 1 { prev = $1; next }
        { out = out (out ? "," : "") (start == prev ? start : start "-" prev); start = $1; prev = $1 }
        END { if (NR) print out (out ? "," : "") (start == prev ? start : start "-" prev) }'
}

# The isolated CPUs, and the housekeeping ones (online minus isolated; all when none isolated).
isolated_cpus() { tr -d ' \n' <"$ROOT/sys/devices/system/cpu/isolated" 2>/dev/null || true; }
housekeeping_cpus() {
    local iso online
    iso=$(isolated_cpus)
    online=$(cat "$ROOT/sys/devices/system/cpu/online")
    if [ -z "$iso" ]; then
        echo "$online"
        return
    fi
    comm -23 <(expand_cpus "$online" | sort) <(expand_cpus "$iso" | sort) | compress_cpus
}
