#!/usr/bin/env bash
# HTTP load run for the `trae` binary: start-to-ready, idle and loaded RSS, and wrk
# throughput/p99 for GET /api/health/live and GET /api/pets/{id} (SQLite).
#
# The pets routes need credentials: the script registers a user (role `user`: pets:read and
# pets:write), signs in, and sends its access token (`Authorization: Bearer`) when seeding
# and in every pets/{id} run, so those figures include authentication. Identity's own
# figures (auth/me, login storms) come from auth_load.sh beside this script.
#
# Usage: trae-server/benches/load.sh [path/to/trae]
#   default binary: ${CARGO_TARGET_DIR:-target}/release/trae
#
# Knobs (environment):
#   DURATION=10s      wrk duration of each run
#   CONNECTIONS=64    wrk connections
#   THREADS=2         wrk threads
#   SEED=1000         pets created before the runs
#   ROUNDS=3          rounds of [pets/{id} warn, health/live, pets/{id} info]
#   START_RUNS=5      extra cold starts (fresh data dir each) for the start-to-ready spread
#   IDLE_SECS=20      seconds after ready at which idle RSS is read: start-up hashes two
#                     passwords (19 MiB of argon2 memory each), which jemalloc hands back
#                     within about ten seconds, so an earlier reading is start-up, not idle
#   INFO_RUN=1        also run /api/pets/{id} on a second server with TRAE_LOG=info
#                     (access log to a file), interleaved with the warn runs
#   RATE_LIMIT=1000000000  per-minute rate limits of the servers (TRAE_RATE_LIMIT_PER_MINUTE
#                     and _LOGIN_PER_MINUTE): wrk is one client, so the defaults (600 and 30)
#                     would refuse nearly everything; the limiter still runs on every request
#
# What runs: server A (TRAE_LOG=warn, fresh data dir) -> ready time, idle RSS, seed,
# health/live, then ROUNDS x (pets/{id} on A, health/live on A, pets/{id} on server B with
# TRAE_LOG=info on the same data dir, started and stopped around its run; A idles
# meanwhile), loaded RSS of A, then START_RUNS more cold starts. The load generator shares
# the machine's cores with the server, and other work on the machine slows some runs: the
# summary gives the best and the median of each kind of run, the health/live runs spread
# out over the whole run as a noise gauge, and the server's CPU time and context switches
# per request, which depend much less on that noise than req/s do.
#
# Needs: curl, wrk, python3 (free port, JSON). Talks only to 127.0.0.1. These are
# benchmarks, not tests: the script reports figures against the targets and exits 0 unless
# something breaks (server does not start, seeding fails, wrk sees errors).
set -euo pipefail

BIN=${1:-${CARGO_TARGET_DIR:-target}/release/trae}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
SEED=${SEED:-1000}
ROUNDS=${ROUNDS:-3}
START_RUNS=${START_RUNS:-5}
INFO_RUN=${INFO_RUN:-1}

# Targets from the issue.
TARGET_LIVE_RPS=40000
TARGET_PET_RPS=15000
TARGET_READY_MS=200
TARGET_IDLE_RSS_MB=30

for tool in curl wrk python3; do
    command -v "$tool" >/dev/null || { echo "load.sh: $tool is required" >&2; exit 2; }
done
[[ -x $BIN ]] || { echo "load.sh: no executable trae binary at $BIN" >&2; exit 2; }
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")

SCRIPT=load.sh
# shellcheck source=server_harness.sh
source "$(dirname "$0")/server_harness.sh"

# wrk latency "1.23ms" / "456.00us" / "1.02s" -> milliseconds with 2 decimals
to_ms() {
    awk -v v="$1" 'BEGIN {
        n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
        if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
        printf "%.2f", n }'
}

# run_wrk KIND LABEL SERVER_PID URL [wrk args...] -> one line "KIND RPS P99 CPU_US CS" in
# $WORK/runs
RUN_NO=0
run_wrk() {
    local kind=$1 label=$2 pid=$3 url=$4 out c0 c1 s0 s1 t0 t1 rps p99 cpu_pct cpu_us cs
    RUN_NO=$((RUN_NO + 1))
    out="$WORK/wrk-$RUN_NO.txt"
    c0=$(cpu_ticks "$pid"); s0=$(ctx_switches "$pid"); t0=$(now_ns)
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "${@:5}" "$url" >"$out"
    c1=$(cpu_ticks "$pid"); s1=$(ctx_switches "$pid"); t1=$(now_ns)
    if grep -qE 'Socket errors|Non-2xx or 3xx' "$out"; then
        echo "load.sh: wrk $label saw errors:" >&2
        cat "$out" >&2
        exit 1
    fi
    rps=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$out")
    p99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$out")")
    # Server CPU over the run in % of one core (200% = both cores), per request in µs,
    # and server context switches per request.
    read -r cpu_pct cpu_us cs < <(awk -v d=$((c1 - c0)) -v hz="$CLK_TCK" -v ns=$((t1 - t0)) \
        -v rps="$rps" -v sw=$((s1 - s0)) 'BEGIN {
            secs = ns / 1e9; cpu = d / hz
            printf "%.0f %.1f %.2f\n", 100 * cpu / secs, 1e6 * cpu / (rps * secs), sw / (rps * secs) }')
    echo "$kind $rps $p99 $cpu_us $cs" >>"$WORK/runs"
    printf '  %-24s %7s req/s  p99 %6s ms  server cpu %4s%%  %6s us cpu/req  %5s ctx sw/req\n' \
        "$label" "$rps" "$p99" "$cpu_pct" "$cpu_us" "$cs"
}

# agg KIND FIELD best|median|min|count -> aggregate over the runs of KIND
# fields: 2 rps, 3 p99, 4 cpu_us, 5 cs. "best" is FIELD of the run with the highest req/s;
# median and min are over FIELD itself.
agg() {
    local kind=$1 field=$2 how=$3 key
    key=$field; [[ $how == best ]] && key=2
    awk -v k="$kind" '$1 == k' "$WORK/runs" | sort -k"$key,$key"g | awk -v f="$field" -v how="$how" '
        {v[NR] = $f}
        END {
            if (NR == 0) { print "-"; exit }
            if (how == "best") print v[NR]
            else if (how == "median") print v[int((NR + 1) / 2)]
            else if (how == "min") { m = v[1]; for (i = 2; i <= NR; i++) if (v[i] + 0 < m + 0) m = v[i]; print m }
            else if (how == "count") print NR
        }'
}
list() { awk -v k="$1" '$1 == k {printf "%s%s", sep, $2; sep = " "} END {print ""}' "$WORK/runs"; }

met() { # met VALUE OP TARGET
    if awk -v a="$1" -v b="$3" -v op="$2" 'BEGIN {exit !((op == ">=") ? a >= b : a < b)}'; then
        echo "met"
    else
        echo "NOT met"
    fi
}

median() { tr ' ' '\n' | sed '/^$/d' | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

echo "trae load run: $BIN"
echo "  $(uname -r), $(nproc) cpus, loadavg before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "  wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency; seed $SEED pets; $ROUNDS rounds"

# --- 1. server A: cold start, idle RSS, seeding (TRAE_LOG=warn) --------------------------
DATA=$WORK/data
start_server "$DATA" warn "$WORK/serve-warn.log"
A_PID=$PID; A_BASE=$BASE; READY_FIRST=$READY_MS
sleep "${IDLE_SECS:-20}"
IDLE_RSS_KB=$(rss_kb "$A_PID")
echo "  ready in ${READY_FIRST} ms (fresh data dir); idle RSS $((IDLE_RSS_KB / 1024)) MB after ${IDLE_SECS:-20} s"

seed_pets "$SEED"
AUTH=(-H "Authorization: Bearer $TOKEN")
echo "  seeded $SEED pets in $SEED_MS ms; pet id $PET_ID"

# --- 2. the runs ----------------------------------------------------------------------------
run_wrk live "health/live" "$A_PID" "$A_BASE/api/health/live"
READY_WARM=""; LOG_LINES=0
for r in $(seq 1 "$ROUNDS"); do
    echo "  round $r:"
    run_wrk pet "pets/{id} warn" "$A_PID" "$A_BASE/api/pets/$PET_ID" "${AUTH[@]}"
    run_wrk live "health/live" "$A_PID" "$A_BASE/api/health/live"
    if [[ $INFO_RUN == 1 ]]; then
        start_server "$DATA" info "$WORK/serve-info-$r.log"
        READY_WARM="$READY_WARM $READY_MS"
        run_wrk pet_info "pets/{id} info" "$PID" "$BASE/api/pets/$PET_ID" "${AUTH[@]}"
        stop_pid "$PID"
        LOG_LINES=$(( LOG_LINES + $(wc -l <"$WORK/serve-info-$r.log") ))
    fi
done
LOADED_RSS_KB=$(rss_kb "$A_PID")
stop_pid "$A_PID"

# --- 3. more cold starts for the spread ---------------------------------------------------
STARTS="$READY_FIRST"
for n in $(seq 1 "$START_RUNS"); do
    start_server "$WORK/start-$n" warn "$WORK/start-$n.log"
    STARTS="$STARTS $READY_MS"
    stop_pid "$PID"
done
READY_MEDIAN=$(echo "$STARTS" | median)
READY_MAX=$(echo "$STARTS" | tr ' ' '\n' | sort -n | tail -1)

# --- summary -----------------------------------------------------------------------------
IDLE_MB=$(awk -v k="$IDLE_RSS_KB" 'BEGIN {printf "%.1f", k / 1024}')
LOADED_MB=$(awk -v k="$LOADED_RSS_KB" 'BEGIN {printf "%.1f", k / 1024}')
LIVE_SPREAD=$(awk -v a="$(agg live 2 best)" -v b="$(agg live 2 min)" 'BEGIN {printf "%.0f", 100 * (a - b) / a}')

echo
printf '%-22s %-22s %-15s %-10s %-12s %s\n' "run" "req/s best (median)" "p99 ms of best" "cpu us/req" "ctx sw/req" "target (median run)"
row() { # row KIND LABEL TARGET
    local kind=$1
    [[ $(agg "$kind" 2 count) == "-" ]] && return 0
    printf '%-22s %-22s %-15s %-10s %-12s %s\n' "$2 (n=$(agg "$kind" 2 count))" \
        "$(agg "$kind" 2 best) ($(agg "$kind" 2 median))" "$(agg "$kind" 3 best)" \
        "$(agg "$kind" 4 median)" "$(agg "$kind" 5 median)" \
        ">= $3: $(verdict "$kind" "$3")"
}
# met when the median run meets the target; "best run only" when only the best one does.
verdict() {
    if [[ $(met "$(agg "$1" 2 median)" ">=" "$2") == met ]]; then
        echo "met"
    elif [[ $(met "$(agg "$1" 2 best)" ">=" "$2") == met ]]; then
        echo "best run only"
    else
        echo "NOT met"
    fi
}
row live "health/live" $TARGET_LIVE_RPS
row pet "pets/{id} warn" $TARGET_PET_RPS
row pet_info "pets/{id} info" $TARGET_PET_RPS
echo "(server cpu us/req and ctx sw/req: medians over the runs of each kind)"
echo
printf '%-34s %-22s %-10s %s\n' "start to ready ms (median of $(echo "$STARTS" | wc -w))" "$READY_MEDIAN (max $READY_MAX)" "< $TARGET_READY_MS" "$(met "$READY_MEDIAN" "<" $TARGET_READY_MS)"
printf '%-34s %-22s %-10s %s\n' "idle RSS MB" "$IDLE_MB" "< $TARGET_IDLE_RSS_MB" "$(met "$IDLE_MB" "<" $TARGET_IDLE_RSS_MB)"
printf '%-34s %-22s %-10s %s\n' "loaded RSS MB" "$LOADED_MB" "-" "-"
echo
echo "noise: health/live req/s over the run: $(list live) (worst ${LIVE_SPREAD}% below best);" \
    "pets/{id} warn: $(list pet); info: $(list pet_info)"
echo "       cold starts ms: $STARTS; restarts on the seeded dir ms:${READY_WARM:- -};" \
    "info access-log lines: $LOG_LINES; loadavg after: $(cut -d' ' -f1-3 /proc/loadavg)"
