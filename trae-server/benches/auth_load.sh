#!/usr/bin/env bash
# HTTP load run for identity (issue 3): what authentication costs a request, and whether a
# login storm stalls everything else.
#
# Usage: trae-server/benches/auth_load.sh [path/to/trae]
#   default binary: ${CARGO_TARGET_DIR:-target}/release/trae
#
# Knobs (environment):
#   DURATION=10        seconds of each wrk run
#   CONNECTIONS=64     wrk connections of the throughput runs
#   THREADS=2          wrk threads of the throughput runs
#   ROUNDS=3           rounds (below)
#   SEED=1000          pets created before the runs (as load.sh does)
#   LOGIN_CONNECTIONS=8  connections of the login storm (each posts logins back to back)
#   PROBE_CONNECTIONS=8  connections of the paced health/live latency probe
#   PROBE_DELAY_MS=5     pause of each probe connection between requests (so the probe is a
#                        light, steady load: about PROBE_CONNECTIONS * 1000 / PROBE_DELAY_MS
#                        req/s at most, 1,600 by default)
#   PASSWORD_CONCURRENCY  passed to the server as TRAE_PASSWORD_CONCURRENCY when set
#   RATE_LIMIT=1000000000  per-minute rate limits of the server (TRAE_RATE_LIMIT_PER_MINUTE and
#                      _LOGIN_PER_MINUTE): wrk is one client, so the defaults (600 and 30)
#                      would refuse nearly everything; the limiter still runs on every request
#   CONTROLS=1         also run the probe beside plain CPU hogs (one busy loop per core, at
#                      nice 0 and at nice 19): what any CPU-bound work on every core, or the
#                      same work at the lowest priority, does to the probe without trae's
#                      hashing involved
#
# What runs: one server (TRAE_LOG=warn, fresh data dir, admin bootstrapped with
# TRAE_ADMIN_USERNAME/TRAE_ADMIN_PASSWORD), a registered user `loadbench` (role `user`) who
# seeds the pets, then ROUNDS x:
#   1. GET /api/health/live           (throughput, no credentials: the baseline)
#   2. GET /api/auth/me               (throughput, Bearer access token)
#   3. GET /api/pets/{id}             (throughput, Bearer access token, needs pets:read)
#   4. probe: GET /api/health/live    (paced, latency) on an idle server
#   5. storm: POST /api/auth/login    (correct password, LOGIN_CONNECTIONS back to back), alone
#   6. storm + probe                  (the storm in the background, the probe measured)
#   7. storm + GET /api/health/live   (throughput, to see what the storm leaves for others)
#   8. (CONTROLS=1) probe beside nproc busy loops at nice 0, then at nice 19
# The access token is renewed with a login at the start of each round. The load generator
# shares the machine's cores with the server; other work on the machine slows some runs,
# which is why every kind of run is repeated in each round and the summary gives medians.
#
# Needs: curl, wrk, python3. Talks only to 127.0.0.1. A benchmark, not a test: it reports
# figures against the targets and exits 0 unless something breaks (the server does not
# start, a request fails, wrk sees errors or non-2xx answers).
set -euo pipefail

BIN=${1:-${CARGO_TARGET_DIR:-target}/release/trae}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-3}
SEED=${SEED:-1000}
LOGIN_CONNECTIONS=${LOGIN_CONNECTIONS:-8}
PROBE_CONNECTIONS=${PROBE_CONNECTIONS:-8}
PROBE_DELAY_MS=${PROBE_DELAY_MS:-5}
CONTROLS=${CONTROLS:-1}

ADMIN_USER=root
ADMIN_PASSWORD='correct horse battery'

# Targets from issue 3.
TARGET_ME_SHARE=50      # GET /api/auth/me req/s >= 50 % of GET /api/health/live's
TARGET_P99_FACTOR=2     # health/live p99 during a login storm <= 2 x its idle p99

for tool in curl wrk python3; do
    command -v "$tool" >/dev/null || { echo "auth_load.sh: $tool is required" >&2; exit 2; }
done
[[ -x $BIN ]] || { echo "auth_load.sh: no executable trae binary at $BIN" >&2; exit 2; }
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
[[ $DURATION =~ ^[0-9]+$ ]] || { echo "auth_load.sh: DURATION is whole seconds, e.g. 10" >&2; exit 2; }

SCRIPT=auth_load.sh
# shellcheck source=server_harness.sh
source "$(dirname "$0")/server_harness.sh"

# --- the server ------------------------------------------------------------------------------
start_server "$WORK/data" warn "$WORK/serve.log" \
    TRAE_ADMIN_USERNAME="$ADMIN_USER" TRAE_ADMIN_PASSWORD="$ADMIN_PASSWORD" \
    ${PASSWORD_CONCURRENCY:+TRAE_PASSWORD_CONCURRENCY=$PASSWORD_CONCURRENCY}

# The admin the server bootstrapped must be able to sign in.
login "$ADMIN_USER" "$ADMIN_PASSWORD" >/dev/null \
    || { echo "auth_load.sh: the bootstrapped admin cannot sign in" >&2; exit 1; }

seed_pets "$SEED"
for path in /api/auth/me "/api/pets/$PET_ID"; do
    code=$(curl -s -o /dev/null -w '%{http_code}' -H "authorization: Bearer $TOKEN" "$BASE$path")
    [[ $code == 200 ]] || { echo "auth_load.sh: GET $path answered $code" >&2; exit 1; }
    code=$(curl -s -o /dev/null -w '%{http_code}' "$BASE$path")
    [[ $code == 401 ]] || { echo "auth_load.sh: GET $path without a token answered $code, not 401" >&2; exit 1; }
done

# wrk scripts: the login storm and the paced probe.
python3 - "$WORK/login.lua" "$BENCH_USER" "$BENCH_PASSWORD" <<'EOF'
import json, sys
path, user, password = sys.argv[1:]
body = json.dumps({"username": user, "password": password})
with open(path, "w") as f:
    f.write('wrk.method = "POST"\n')
    f.write('wrk.headers["Content-Type"] = "application/json"\n')
    f.write("wrk.body = %s\n" % json.dumps(body))
EOF
printf 'function delay()\n    return %d\nend\n' "$PROBE_DELAY_MS" >"$WORK/probe.lua"

# wrk latency "1.23ms" / "456.00us" / "1.02s" -> milliseconds with 3 decimals
to_ms() {
    awk -v v="$1" 'BEGIN {
        n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
        if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
        printf "%.3f", n }'
}

check_wrk() { # check_wrk LABEL OUT
    if grep -qE 'Socket errors|Non-2xx or 3xx' "$2"; then
        echo "auth_load.sh: wrk $1 saw errors:" >&2
        cat "$2" >&2
        exit 1
    fi
}

# record KIND OUT [CPU_TICKS NS CTX] -> one line "KIND RPS P50 P99 CPU_US CS CPU_PCT" in
# $WORK/runs; CPU figures are "-" when the server served more than this run meanwhile.
record() {
    local kind=$1 out=$2 rps p50 p99 cpu_us=- cs=- cpu_pct=-
    rps=$(awk '/^Requests\/sec:/ {printf "%.1f", $2}' "$out")
    p50=$(to_ms "$(awk '$1 == "50%" {print $2}' "$out")")
    p99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$out")")
    if (( $# == 5 )); then
        read -r cpu_pct cpu_us cs < <(awk -v d="$3" -v hz="$CLK_TCK" -v ns="$4" -v rps="$rps" -v sw="$5" 'BEGIN {
            secs = ns / 1e9; cpu = d / hz
            printf "%.0f %.1f %.2f\n", 100 * cpu / secs, 1e6 * cpu / (rps * secs), sw / (rps * secs) }')
    fi
    echo "$kind $rps $p50 $p99 $cpu_us $cs $cpu_pct" >>"$WORK/runs"
    printf '  %-30s %9s req/s  p50 %8s ms  p99 %8s ms  server cpu %4s%%  %8s us cpu/req  %5s ctx sw/req\n' \
        "$kind" "$rps" "$p50" "$p99" "$cpu_pct" "$cpu_us" "$cs"
}

RUN_NO=0
# run KIND wrk-args... : one wrk run in the foreground, with the server's CPU over it.
run() {
    local kind=$1 out c0 c1 s0 s1 t0 t1
    shift
    RUN_NO=$((RUN_NO + 1))
    out="$WORK/wrk-$RUN_NO.txt"
    c0=$(cpu_ticks "$PID"); s0=$(ctx_switches "$PID"); t0=$(now_ns)
    wrk --latency "$@" >"$out"
    c1=$(cpu_ticks "$PID"); s1=$(ctx_switches "$PID"); t1=$(now_ns)
    check_wrk "$kind" "$out"
    record "$kind" "$out" $((c1 - c0)) $((t1 - t0)) $((s1 - s0))
}

# under_storm KIND wrk-args... : the login storm in the background, starting a second before
# and ending a second after one measured wrk run; records both.
under_storm() {
    local kind=$1 storm_out out storm_pid
    shift
    RUN_NO=$((RUN_NO + 1))
    storm_out="$WORK/wrk-$RUN_NO-storm.txt"
    out="$WORK/wrk-$RUN_NO.txt"
    wrk --latency --timeout 30s -t1 -c"$LOGIN_CONNECTIONS" -d"$((DURATION + 2))s" \
        -s "$WORK/login.lua" "$BASE/api/auth/login" >"$storm_out" &
    storm_pid=$!
    PIDS+=("$storm_pid")
    sleep 1
    wrk --latency "$@" >"$out"
    wait "$storm_pid"
    check_wrk "$kind" "$out"
    check_wrk "login storm" "$storm_out"
    record "$kind" "$out"
    record "login_during_$kind" "$storm_out"
}

# beside_hogs KIND NICE wrk-args... : one busy loop per core at NICE in the background,
# starting a second before and ending a second after one measured wrk run.
beside_hogs() {
    local kind=$1 nice=$2 out i
    local -a hogs=()
    shift 2
    RUN_NO=$((RUN_NO + 1))
    out="$WORK/wrk-$RUN_NO.txt"
    for i in $(seq 1 "$(nproc)"); do
        nice -n "$nice" timeout "$((DURATION + 2))" bash -c 'while :; do :; done' &
        hogs+=("$!")
        PIDS+=("$!")
    done
    sleep 1
    wrk --latency "$@" >"$out"
    for i in "${hogs[@]}"; do wait "$i" || true; done
    check_wrk "$kind" "$out"
    record "$kind" "$out"
}

# CPU time the host stole from this VM, and all CPU time, from /proc/stat (ticks): "steal total".
steal_ticks() { awk '$1 == "cpu" {t = 0; for (i = 2; i <= NF; i++) t += $i; print $9, t}' /proc/stat; }

# agg KIND FIELD median|min|max|count ; fields: 2 rps, 3 p50, 4 p99, 5 cpu_us, 6 cs, 7 cpu_pct
agg() {
    awk -v k="$1" '$1 == k' "$WORK/runs" | sort -k"$2,$2"g | awk -v f="$2" -v how="$3" '
        {v[NR] = $f}
        END {
            if (NR == 0) { print "-"; exit }
            if (how == "median") print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
            else if (how == "min") print v[1]
            else if (how == "max") print v[NR]
            else if (how == "count") print NR
        }'
}
list() { awk -v k="$1" -v f="$2" '$1 == k {printf "%s%s", sep, $f; sep = " "} END {print ""}' "$WORK/runs"; }

echo "trae identity load run: $BIN"
echo "  $(uname -r), $(nproc) cpus, loadavg before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "  throughput: wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s --latency; $ROUNDS rounds"
echo "  login storm: wrk -t1 -c$LOGIN_CONNECTIONS, POST /api/auth/login (correct password)"
echo "  probe: wrk -t1 -c$PROBE_CONNECTIONS, ${PROBE_DELAY_MS} ms pause per connection between requests"
echo "  ready in $READY_MS ms (fresh data dir, admin bootstrap included); seeded $SEED pets; pet $PET_ID"

WRK_LOAD=(-t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s")
WRK_PROBE=(-t1 -c"$PROBE_CONNECTIONS" -d"${DURATION}s" -s "$WORK/probe.lua")
read -r STEAL0 TOTAL0 < <(steal_ticks)
for r in $(seq 1 "$ROUNDS"); do
    echo "  round $r (loadavg $(cut -d' ' -f1-3 /proc/loadavg)):"
    TOKEN=$(login "$BENCH_USER" "$BENCH_PASSWORD")
    AUTH=(-H "Authorization: Bearer $TOKEN")
    run live "${WRK_LOAD[@]}" "$BASE/api/health/live"
    run me "${WRK_LOAD[@]}" "${AUTH[@]}" "$BASE/api/auth/me"
    run pet "${WRK_LOAD[@]}" "${AUTH[@]}" "$BASE/api/pets/$PET_ID"
    run probe_idle "${WRK_PROBE[@]}" "$BASE/api/health/live"
    run login --timeout 30s -t1 -c"$LOGIN_CONNECTIONS" -d"${DURATION}s" -s "$WORK/login.lua" "$BASE/api/auth/login"
    under_storm probe_storm "${WRK_PROBE[@]}" "$BASE/api/health/live"
    under_storm live_storm "${WRK_LOAD[@]}" "$BASE/api/health/live"
    if [[ $CONTROLS == 1 ]]; then
        beside_hogs probe_hog 0 "${WRK_PROBE[@]}" "$BASE/api/health/live"
        beside_hogs probe_hog_nice19 19 "${WRK_PROBE[@]}" "$BASE/api/health/live"
    fi
done
read -r STEAL1 TOTAL1 < <(steal_ticks)
stop_pid "$PID"

# --- summary --------------------------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b + 0 == 0) print "-"; else printf "%.2f", a / b}'; }
# Per-round ratios: run N of KIND A over run N of KIND B.
round_ratios() {
    paste <(awk -v k="$1" -v f="$3" '$1 == k {print $f}' "$WORK/runs") \
        <(awk -v k="$2" -v f="$3" '$1 == k {print $f}' "$WORK/runs") \
        | awk '{printf "%s%.2f", sep, $1 / $2; sep = " "} END {print ""}'
}
median() { tr ' ' '\n' | sed '/^$/d' | sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

echo
printf '%-28s %-26s %-22s %-10s %s\n' "run (medians of n)" "req/s median (min-max)" "p50 / p99 ms" "cpu us/req" "ctx sw/req"
for kind in live me pet probe_idle probe_storm probe_hog probe_hog_nice19 login login_during_probe_storm live_storm login_during_live_storm; do
    [[ $(agg "$kind" 2 count) == "-" ]] && continue
    printf '%-28s %-26s %-22s %-10s %s\n' "$kind (n=$(agg "$kind" 2 count))" \
        "$(agg "$kind" 2 median) ($(agg "$kind" 2 min)-$(agg "$kind" 2 max))" \
        "$(agg "$kind" 3 median) / $(agg "$kind" 4 median)" "$(agg "$kind" 5 median)" "$(agg "$kind" 6 median)"
done
echo "(the storm runs share the server: no CPU per request for them)"
echo

ME_RATIOS=$(round_ratios me live 2)
ME_SHARE=$(echo "$ME_RATIOS" | median)
P99_RATIOS=$(round_ratios probe_storm probe_idle 4)
P99_FACTOR=$(echo "$P99_RATIOS" | median)
verdict() { # verdict VALUE OP LIMIT
    if awk -v a="$1" -v b="$3" -v op="$2" 'BEGIN {exit !((op == ">=") ? a >= b : a <= b)}'; then echo met; else echo "NOT met"; fi
}
printf '%-58s %-26s %s\n' "target" "result (median of rounds)" "verdict"
printf '%-58s %-26s %s\n' "me req/s >= $TARGET_ME_SHARE% of health/live req/s (same round)" \
    "$(awk -v r="$ME_SHARE" 'BEGIN {printf "%.0f%%", 100 * r}') (rounds: $ME_RATIOS)" \
    "$(verdict "$ME_SHARE" ">=" "$(awk -v t=$TARGET_ME_SHARE 'BEGIN {print t / 100}')")"
printf '%-58s %-26s %s\n' "health/live p99 during a login storm <= ${TARGET_P99_FACTOR}x idle p99" \
    "${P99_FACTOR}x (rounds: $P99_RATIOS)" "$(verdict "$P99_FACTOR" "<=" "$TARGET_P99_FACTOR")"
printf '%-58s %-26s %s\n' "pets/{id} with a token (no target here; load.sh's 15,000)" \
    "$(agg pet 2 median) req/s" "-"
printf '%-58s %-26s %s\n' "logins/s, correct password (no target)" "$(agg login 2 median)" "-"
echo
echo "health/live throughput during the storm vs before it (same round): $(round_ratios live_storm live 2)"
if [[ $CONTROLS == 1 ]]; then
    echo "probe p99 / idle p99 (same round): login storm $P99_RATIOS;" \
        "busy loops nice 0 $(round_ratios probe_hog probe_idle 4); nice 19 $(round_ratios probe_hog_nice19 probe_idle 4)"
fi
echo "noise: health/live req/s per round: $(list live 2); probe idle p99 ms: $(list probe_idle 4);" \
    "ready in $READY_MS ms; loadavg after: $(cut -d' ' -f1-3 /proc/loadavg);" \
    "CPU stolen by the host over the rounds: $(awk -v s=$((STEAL1 - STEAL0)) -v t=$((TOTAL1 - TOTAL0)) 'BEGIN {printf "%.1f%%", 100 * s / t}')"
