#!/usr/bin/env bash
# What the request history costs `GET /api/pets/{id}` (SQLite, authenticated): three servers
# of one binary, history off (`TRAE_REQUEST_HISTORY_PERCENT=0`), at the default (10 %) and
# recording every request (100), served by wrk in alternating windows so all three see the
# same machine. Reports per server the median req/s and the server's CPU time per request.
#
# Usage: trae-server/benches/history_cost.sh [path/to/trae]
#   default binary: ${CARGO_TARGET_DIR:-target}/release/trae
# Knobs: DURATION=8s, ROUNDS=3, CONNECTIONS=64, THREADS=2, SEED=1000.
# Needs: curl, wrk, python3. Talks only to 127.0.0.1.
set -euo pipefail

SCRIPT=history_cost
BIN=${1:-${CARGO_TARGET_DIR:-target}/release/trae}
DURATION=${DURATION:-8s}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
SEED=${SEED:-1000}
for tool in curl wrk python3; do
    command -v "$tool" >/dev/null || { echo "$SCRIPT: $tool is required" >&2; exit 2; }
done
[[ -x $BIN ]] || { echo "$SCRIPT: no executable trae binary at $BIN" >&2; exit 2; }
# shellcheck source=server_harness.sh
source "$(dirname "$0")/server_harness.sh"

PERCENTS=(0 10 100)
declare -a SERVER_PID=() SERVER_URL=() SERVER_TOKEN=()
for p in "${PERCENTS[@]}"; do
    start_server "$WORK/data$p" warn "$WORK/log$p" TRAE_REQUEST_HISTORY_PERCENT="$p"
    seed_pets "$SEED"
    SERVER_PID+=("$PID")
    SERVER_URL+=("$BASE/api/pets/$PET_ID")
    SERVER_TOKEN+=("$TOKEN")
done

echo "$SCRIPT: $(date -u +%FT%TZ), $(nproc) cores, wrk -t$THREADS -c$CONNECTIONS -d$DURATION, $ROUNDS rounds"
: >"$WORK/results"
for round in $(seq 1 "$ROUNDS"); do
    for i in "${!PERCENTS[@]}"; do
        pid=${SERVER_PID[$i]}
        c0=$(cpu_ticks "$pid")
        wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" \
            -H "authorization: Bearer ${SERVER_TOKEN[$i]}" "${SERVER_URL[$i]}" >"$WORK/wrk.txt"
        c1=$(cpu_ticks "$pid")
        if grep -qE 'Socket errors|Non-2xx or 3xx' "$WORK/wrk.txt"; then
            echo "$SCRIPT: wrk saw errors:" >&2
            cat "$WORK/wrk.txt" >&2
            exit 1
        fi
        requests=$(awk '/requests in/ {print $1}' "$WORK/wrk.txt")
        rps=$(awk '/Requests\/sec/ {print $2}' "$WORK/wrk.txt")
        cpu_us=$(awk -v c="$(( c1 - c0 ))" -v hz="$CLK_TCK" -v n="$requests" \
            'BEGIN {printf "%.0f", c / hz * 1e6 / n}')
        printf '  round %s  history %3s %%  %10s req/s  %5s us CPU/req\n' "$round" "${PERCENTS[$i]}" "$rps" "$cpu_us"
        echo "${PERCENTS[$i]} $rps $cpu_us" >>"$WORK/results"
    done
done
python3 - "$WORK/results" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
by = {}
for p, rps, cpu in rows:
    by.setdefault(int(p), []).append((float(rps), float(cpu)))
off = statistics.median(r for r, _ in by[0])
for p in sorted(by):
    rps = statistics.median(r for r, _ in by[p])
    cpu = statistics.median(c for _, c in by[p])
    print(f"history {p:3d} %: median {rps:8.0f} req/s ({rps / off:.2f} of off), {cpu:4.0f} us CPU per request")
PY
