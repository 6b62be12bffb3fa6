#!/usr/bin/env bash
# HTTP load run for the `trae` binary: start-to-ready, idle and loaded RSS, and wrk
# throughput/p99 for GET /api/health/live and GET /api/pets/{id} (SQLite).
#
# Usage: trae-server/benches/load.sh [path/to/trae]
#   default binary: ${CARGO_TARGET_DIR:-target}/release/trae
#
# Knobs (environment):
#   DURATION=10s      wrk duration of each run
#   CONNECTIONS=64    wrk connections
#   THREADS=2         wrk threads
#   SEED=1000         pets created before the runs
#   START_RUNS=5      extra cold starts (fresh data dir each) for the start-to-ready spread
#   INFO_RUN=1        also run /api/pets/{id} with TRAE_LOG=info (access log to a file)
#
# Needs: curl, wrk, python3 (free port). Talks only to 127.0.0.1. These are benchmarks,
# not tests: the script reports figures against the targets and exits 0 unless something
# breaks (server does not start, seeding fails, wrk sees errors).
set -euo pipefail

BIN=${1:-${CARGO_TARGET_DIR:-target}/release/trae}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
SEED=${SEED:-1000}
START_RUNS=${START_RUNS:-5}
INFO_RUN=${INFO_RUN:-1}
HOST=127.0.0.1

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

WORK=$(mktemp -d "${TMPDIR:-/tmp}/trae-load.XXXXXX")
SERVER_PID=""

stop_server() {
    if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 1 150); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    SERVER_PID=""
}
cleanup() {
    stop_server
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now_ns() { date +%s%N; }

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# Server CPU time (user+system) in clock ticks, from /proc/PID/stat.
cpu_ticks() {
    local stat
    stat=$(<"/proc/$1/stat")
    stat=${stat##*) }
    # shellcheck disable=SC2086
    set -- $stat
    echo $(( ${12} + ${13} ))
}
CLK_TCK=$(getconf CLK_TCK)

# start_server DATA_DIR LOG_LEVEL LOG_FILE -> sets SERVER_PID, PORT, BASE, READY_MS
start_server() {
    local data=$1 level=$2 log=$3 t0 code deadline
    PORT=$(free_port)
    BASE="http://$HOST:$PORT"
    mkdir -p "$data"
    t0=$(now_ns)
    TRAE_DATA_DIR=$data TRAE_BIND=$HOST:$PORT TRAE_LOG=$level \
        "$BIN" serve 2>"$log" >/dev/null &
    SERVER_PID=$!
    deadline=$(( t0 + 20 * 1000000000 ))
    while :; do
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$BASE/api/health/ready" || true)
        if [[ $code == 200 ]]; then
            break
        fi
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            echo "load.sh: trae exited before it was ready; its log:" >&2
            cat "$log" >&2
            exit 1
        fi
        if (( $(now_ns) > deadline )); then
            echo "load.sh: trae not ready after 20 s" >&2
            exit 1
        fi
    done
    READY_MS=$(( ($(now_ns) - t0) / 1000000 ))
}

# run_wrk NAME PATH -> appends to results; sets RPS, P99 (ms), CPU_PCT
declare -a ROWS=()
run_wrk() {
    local name=$1 path=$2 out c0 c1 t0 t1 lat errors non2xx
    out="$WORK/wrk-${name//[^A-Za-z0-9]/_}.txt"
    c0=$(cpu_ticks "$SERVER_PID"); t0=$(now_ns)
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$BASE$path" >"$out"
    c1=$(cpu_ticks "$SERVER_PID"); t1=$(now_ns)
    RPS=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$out")
    lat=$(awk '$1 == "99%" {print $2}' "$out")
    P99=$(to_ms "$lat")
    # Server CPU use over the run, in % of one core (200% = both cores).
    CPU_PCT=$(awk -v d=$((c1 - c0)) -v hz="$CLK_TCK" -v ns=$((t1 - t0)) \
        'BEGIN {printf "%.0f", 100 * d / hz / (ns / 1e9)}')
    errors=$(awk '/Socket errors/ {print}' "$out")
    non2xx=$(awk '/Non-2xx or 3xx responses/ {print $NF}' "$out")
    if [[ -n $errors || -n $non2xx ]]; then
        echo "load.sh: wrk $name saw errors: ${errors:-} non-2xx: ${non2xx:-0}" >&2
        cat "$out" >&2
        exit 1
    fi
    ROWS+=("$(printf '%-30s %10s %9s %8s' "$name" "$RPS" "$P99" "$CPU_PCT%")")
    printf '  %-30s %8s req/s  p99 %7s ms  server cpu %s%%\n' "$name" "$RPS" "$P99" "$CPU_PCT"
}

# wrk latency "1.23ms" / "456.00us" / "1.02s" -> milliseconds with 2 decimals
to_ms() {
    awk -v v="$1" 'BEGIN {
        n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
        if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
        printf "%.2f", n }'
}

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
echo "  wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency, seed $SEED pets"

# --- 1. cold start, idle RSS, seeding, the main runs (TRAE_LOG=warn) -------------------
DATA=$WORK/data
start_server "$DATA" warn "$WORK/serve-warn.log"
READY_FIRST=$READY_MS
sleep 1
IDLE_RSS_KB=$(rss_kb "$SERVER_PID")
echo "  ready in ${READY_FIRST} ms (fresh data dir); idle RSS $((IDLE_RSS_KB / 1024)) MB"

# Seed through the API, one curl process reusing its connection across all requests.
CFG=$WORK/seed.curl
for i in $(seq 1 "$SEED"); do
    printf 'url = "%s/api/pets"\nheader = "content-type: application/json"\ndata = "{\\"name\\":\\"pet %d\\",\\"species\\":\\"dog\\",\\"age\\":3,\\"tags\\":[\\"t1\\"]}"\noutput = "/dev/null"\nwrite-out = "%%{http_code}\\n"\nnext\n' \
        "$BASE" "$i"
done | sed '$d' >"$CFG"
t0=$(now_ns)
created=$(curl -s -K "$CFG" | grep -c '^201$' || true)
SEED_MS=$(( ($(now_ns) - t0) / 1000000 ))
if (( created != SEED )); then
    echo "load.sh: only $created of $SEED pets were created" >&2
    exit 1
fi
# Pick one pet from the middle of the table.
PET_ID=$(curl -sf "$BASE/api/pets?limit=1&offset=$((SEED / 2))" \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["items"][0]["id"])')
code=$(curl -s -o /dev/null -w '%{http_code}' "$BASE/api/pets/$PET_ID")
[[ $code == 200 ]] || { echo "load.sh: GET /api/pets/$PET_ID answered $code" >&2; exit 1; }
echo "  seeded $SEED pets in $SEED_MS ms; pet id $PET_ID"

echo "  runs (TRAE_LOG=warn):"
run_wrk "health/live (first)" /api/health/live
LIVE_FIRST=$RPS; LIVE_FIRST_P99=$P99
run_wrk "pets/{id} warn" "/api/pets/$PET_ID"
PET_RPS=$RPS; PET_P99=$P99
run_wrk "health/live (last)" /api/health/live
LIVE_LAST=$RPS; LIVE_P99=$P99
LOADED_RSS_KB=$(rss_kb "$SERVER_PID")
stop_server

# --- 2. the same database with TRAE_LOG=info (access log line per request) -------------
PET_INFO_RPS="-"; PET_INFO_P99="-"; READY_WARM="-"; LOG_LINES="-"
if [[ $INFO_RUN == 1 ]]; then
    start_server "$DATA" info "$WORK/serve-info.log"
    READY_WARM=$READY_MS
    echo "  runs (TRAE_LOG=info, stderr to a file; restart on the seeded data dir: ready in $READY_WARM ms):"
    run_wrk "pets/{id} info" "/api/pets/$PET_ID"
    PET_INFO_RPS=$RPS; PET_INFO_P99=$P99
    stop_server
    LOG_LINES=$(wc -l <"$WORK/serve-info.log")
fi

# --- 3. more cold starts for the spread ---------------------------------------------------
STARTS="$READY_FIRST"
for n in $(seq 1 "$START_RUNS"); do
    start_server "$WORK/start-$n" warn "$WORK/start-$n.log"
    STARTS="$STARTS $READY_MS"
    stop_server
done
READY_MEDIAN=$(echo "$STARTS" | median)
READY_MAX=$(echo "$STARTS" | tr ' ' '\n' | sort -n | tail -1)

# --- summary -----------------------------------------------------------------------------
# The better of the two health/live runs (the other one shows the noise).
if (( LIVE_FIRST > LIVE_LAST )); then
    LIVE_RPS=$LIVE_FIRST; LIVE_P99=$LIVE_FIRST_P99
else
    LIVE_RPS=$LIVE_LAST
fi
LIVE_SPREAD=$(awk -v a="$LIVE_FIRST" -v b="$LIVE_LAST" \
    'BEGIN {m = (a > b) ? a : b; printf "%.1f", 100 * ((a > b) ? a - b : b - a) / m}')
IDLE_MB=$(awk -v k="$IDLE_RSS_KB" 'BEGIN {printf "%.1f", k / 1024}')
LOADED_MB=$(awk -v k="$LOADED_RSS_KB" 'BEGIN {printf "%.1f", k / 1024}')

echo
echo "wrk runs                            req/s   p99 ms  srv cpu"
printf '%s\n' "${ROWS[@]}"
echo
printf '%-34s %-22s %-10s %s\n' "metric" "value" "target" "verdict"
printf '%-34s %-22s %-10s %s\n' "GET /api/health/live req/s" "$LIVE_RPS (p99 ${LIVE_P99} ms)" ">= $TARGET_LIVE_RPS" "$(met "$LIVE_RPS" ">=" $TARGET_LIVE_RPS)"
printf '%-34s %-22s %-10s %s\n' "GET /api/pets/{id} req/s (warn)" "$PET_RPS (p99 ${PET_P99} ms)" ">= $TARGET_PET_RPS" "$(met "$PET_RPS" ">=" $TARGET_PET_RPS)"
if [[ $INFO_RUN == 1 ]]; then
    printf '%-34s %-22s %-10s %s\n' "GET /api/pets/{id} req/s (info)" "$PET_INFO_RPS (p99 ${PET_INFO_P99} ms)" ">= $TARGET_PET_RPS" "$(met "$PET_INFO_RPS" ">=" $TARGET_PET_RPS)"
fi
printf '%-34s %-22s %-10s %s\n' "start to ready ms (median)" "$READY_MEDIAN (max $READY_MAX)" "< $TARGET_READY_MS" "$(met "$READY_MEDIAN" "<" $TARGET_READY_MS)"
printf '%-34s %-22s %-10s %s\n' "idle RSS MB" "$IDLE_MB" "< $TARGET_IDLE_RSS_MB" "$(met "$IDLE_MB" "<" $TARGET_IDLE_RSS_MB)"
printf '%-34s %-22s %-10s %s\n' "loaded RSS MB" "$LOADED_MB" "-" "-"
echo
echo "noise: health/live first $LIVE_FIRST vs last $LIVE_LAST req/s (${LIVE_SPREAD}% apart);" \
    "cold starts ms: $STARTS; warm restart ${READY_WARM} ms;" \
    "info access-log lines: $LOG_LINES; loadavg after: $(cut -d' ' -f1-3 /proc/loadavg)"
