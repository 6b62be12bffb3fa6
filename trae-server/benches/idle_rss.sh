#!/usr/bin/env bash
# Idle memory: each binary's RSS after start, on a fresh data directory with nobody signed
# in, default settings (SQLite), read at intervals. The binaries start together and idle side
# by side, so they are measured in one run on the same machine state.
#
# Usage: trae-server/benches/idle_rss.sh [path/to/trae ...]
#   default binary: ${CARGO_TARGET_DIR:-target}/release/trae
# Knobs: AT="1 10 20 30 60" (seconds after ready at which RSS is read).
#
# Per reading: VmRSS, and of it RssAnon (private memory: heap, stacks) and RssFile (pages of
# the binary and its libraries that start-up touched; shared, clean, dropped first under
# memory pressure). Target: VmRSS < 30 MB at the last reading.
# Needs: curl, python3. Talks only to 127.0.0.1.
set -euo pipefail

SCRIPT=idle_rss
AT=${AT:-1 10 20 30 60}
BINS=("$@")
(( ${#BINS[@]} )) || BINS=("${CARGO_TARGET_DIR:-target}/release/trae")
for b in "${BINS[@]}"; do
    [[ -x $b ]] || { echo "$SCRIPT: no executable trae binary at $b" >&2; exit 2; }
done
# shellcheck source=server_harness.sh
source "$(dirname "$0")/server_harness.sh"

kb() { awk -v f="$1" '$1 == f":" {print $2}' "/proc/$2/status"; }
mb() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }

declare -a SERVERS=() READY=()
for i in "${!BINS[@]}"; do
    BIN=${BINS[$i]}
    start_server "$WORK/data$i" warn "$WORK/log$i"
    SERVERS+=("$PID")
    READY+=("$(now_ns)")
done

echo "trae idle RSS ($(date -u +%FT%TZ), $(nproc) cores); MB: VmRSS (RssAnon + RssFile)"
printf '%-6s' "at"
for b in "${BINS[@]}"; do printf ' %-34s' "$b ($(( $(stat -c %s "$b") / 1048576 )) MiB)"; done
echo
last=0
for t in $AT; do
    sleep $(( t - last ))
    last=$t
    printf '%-6s' "${t}s"
    for pid in "${SERVERS[@]}"; do
        printf ' %-34s' "$(mb "$(kb VmRSS "$pid")") ($(mb "$(kb RssAnon "$pid")") + $(mb "$(kb RssFile "$pid")"))"
    done
    echo
done
