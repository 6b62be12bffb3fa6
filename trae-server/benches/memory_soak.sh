#!/usr/bin/env bash
# Memory under sustained traffic: does `trae serve`'s RSS stay flat after warm-up, and while
# it idles afterwards? With the default settings (request history on, sampled; nobody
# scraping /metrics), on SQLite.
#
# Usage: trae-server/benches/memory_soak.sh [path/to/trae [path/to/baseline-trae]]
#   default binary: ${CARGO_TARGET_DIR:-target}/release/trae
#   a second binary (e.g. one built from an earlier commit) runs the same schedule right
#   after the first, so both are measured in one run on the same machine state.
#
# Knobs (environment):
#   WINDOWS=8        load windows; each is WINDOW of GET /api/health/live then WINDOW of
#                    GET /api/pets/{id} (authenticated), RSS read after each
#   WINDOW=15s       wrk duration of each half window
#   WARMUP=2         windows counted as warm-up (RSS growth is measured after them)
#   IDLE=60          seconds of idling after the load, RSS read every 10 s
#   CONNECTIONS=64   wrk connections; THREADS=2 wrk threads; SEED=200 pets
#
# Verdict: "flat" when RSS grows by less than FLAT_MB (default 4) from the end of the
# warm-up to the end of the load, and by less than FLAT_MB again while idling.
# Needs: curl, wrk, python3. Talks only to 127.0.0.1.
set -euo pipefail

SCRIPT=memory_soak
BIN=${1:-${CARGO_TARGET_DIR:-target}/release/trae}
BASELINE=${2:-}
WINDOWS=${WINDOWS:-8}
WINDOW=${WINDOW:-15s}
WARMUP=${WARMUP:-2}
IDLE=${IDLE:-60}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
SEED=${SEED:-200}
FLAT_MB=${FLAT_MB:-4}

for tool in curl wrk python3; do
    command -v "$tool" >/dev/null || { echo "$SCRIPT: $tool is required" >&2; exit 2; }
done
for b in "$BIN" ${BASELINE:+"$BASELINE"}; do
    [[ -x $b ]] || { echo "$SCRIPT: no executable trae binary at $b" >&2; exit 2; }
done
(( WINDOWS > WARMUP )) || { echo "$SCRIPT: WINDOWS must exceed WARMUP" >&2; exit 2; }
# shellcheck source=server_harness.sh
source "$(dirname "$0")/server_harness.sh"

mb() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }

# wrk_requests URL [wrk args...] -> requests served; fails on any error
wrk_requests() {
    local out=$WORK/wrk.txt
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WINDOW" "$@" >"$out"
    if grep -qE 'Socket errors|Non-2xx or 3xx' "$out"; then
        echo "$SCRIPT: wrk $1 saw errors:" >&2
        cat "$out" >&2
        exit 1
    fi
    awk '/requests in/ {print $1}' "$out"
}

# soak LABEL BINARY -> prints a table, appends "LABEL idle warm loaded idle_end requests" to
# $WORK/summary
soak() {
    local label=$1 requests=0 n warm=0 rss idle_rss end_rss s
    BIN=$2
    echo "== $label: $BIN"
    start_server "$WORK/data-$label" warn "$WORK/serve-$label.log"
    sleep 1
    idle_rss=$(rss_kb "$PID")
    seed_pets "$SEED"
    printf '  ready in %s ms; idle RSS %s MB; seeded %s pets\n' "$READY_MS" "$(mb "$idle_rss")" "$SEED"
    printf '  %-8s %12s %10s\n' window requests "RSS MB"
    for n in $(seq 1 "$WINDOWS"); do
        requests=$(( requests + $(wrk_requests "$BASE/api/health/live") ))
        requests=$(( requests + $(wrk_requests "$BASE/api/pets/$PET_ID" -H "authorization: Bearer $TOKEN") ))
        rss=$(rss_kb "$PID")
        (( n == WARMUP )) && warm=$rss
        printf '  %-8s %12s %10s%s\n' "$n" "$requests" "$(mb "$rss")" "$( (( n == WARMUP )) && echo '  (end of warm-up)')"
    done
    for s in $(seq 10 10 "$IDLE"); do
        sleep 10
        end_rss=$(rss_kb "$PID")
        printf '  %-8s %12s %10s\n' "idle ${s}s" "" "$(mb "$end_rss")"
    done
    stop_pid "$PID"
    echo "$label $idle_rss $warm $rss ${end_rss:-$rss} $requests" >>"$WORK/summary"
}

echo "trae memory soak: $WINDOWS windows of 2 x $WINDOW (wrk -t$THREADS -c$CONNECTIONS), warm-up $WARMUP, idle ${IDLE}s"
echo "  $(uname -r), $(nproc) cpus, loadavg before: $(cut -d' ' -f1-3 /proc/loadavg)"
soak measured "$BIN"
[[ -n $BASELINE ]] && soak baseline "$BASELINE"

echo
printf '%-10s %9s %9s %10s %9s %12s %16s %s\n' binary "idle MB" "warm MB" "loaded MB" "idle-end" requests "MB / M req" verdict
while read -r label idle warm loaded idle_end requests; do
    awk -v l="$label" -v i="$idle" -v w="$warm" -v lo="$loaded" -v e="$idle_end" -v r="$requests" \
        -v flat="$FLAT_MB" -v warmup="$WARMUP" -v windows="$WINDOWS" 'BEGIN {
        grow = (lo - w) / 1024; later = (e - lo) / 1024
        # requests after warm-up, assuming equal windows
        after = r * (windows - warmup) / windows
        verdict = (grow < flat && later < flat) ? "flat" : "GROWS"
        printf "%-10s %9.1f %9.1f %10.1f %9.1f %12d %16.2f %s (+%.1f MB under load, %+.1f MB idle)\n",
            l, i / 1024, w / 1024, lo / 1024, e / 1024, r, grow / (after / 1e6), verdict, grow, later }'
done <"$WORK/summary"
echo "loadavg after: $(cut -d' ' -f1-3 /proc/loadavg)"
