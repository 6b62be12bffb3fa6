# Shared by the load scripts beside it (source it; it is not run on its own): starting and
# stopping `trae serve`, reading its RSS, CPU time and context switches, and seeding a user
# with pets. Before sourcing, set SCRIPT (the script's name, for messages) and BIN (the trae
# binary); WORK is a temp dir removed at exit with every server started here.
# Needs curl and python3; talks only to 127.0.0.1.

HOST=127.0.0.1
WORK=$(mktemp -d "${TMPDIR:-/tmp}/trae-$SCRIPT.XXXXXX")
declare -a PIDS=()

stop_pid() {
    local pid=$1
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 150); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
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

# Context switches (voluntary + involuntary) of all the server's live threads.
ctx_switches() { cat /proc/"$1"/task/*/status 2>/dev/null | awk '/ctxt_switches/ {s += $2} END {print s + 0}'; }

# start_server DATA_DIR LOG_LEVEL LOG_FILE [VAR=VALUE ...] -> sets PID, BASE, READY_MS.
# Rate limits are lifted (RATE_LIMIT per minute, default 10^9): a load generator is one
# client, so the defaults (600 and 30) would refuse nearly everything; the limiter still runs
# on every request.
start_server() {
    local data=$1 level=$2 log=$3 t0 code deadline port
    shift 3
    port=$(free_port)
    BASE="http://$HOST:$port"
    mkdir -p "$data"
    t0=$(now_ns)
    env TRAE_DATA_DIR="$data" TRAE_BIND="$HOST:$port" TRAE_LOG="$level" \
        TRAE_RATE_LIMIT_PER_MINUTE="${RATE_LIMIT:-1000000000}" \
        TRAE_RATE_LIMIT_LOGIN_PER_MINUTE="${RATE_LIMIT:-1000000000}" \
        "$@" "$BIN" serve 2>"$log" >/dev/null &
    PID=$!
    PIDS+=("$PID")
    deadline=$(( t0 + 30 * 1000000000 ))
    while :; do
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$BASE/api/health/ready" || true)
        [[ $code == 200 ]] && break
        if ! kill -0 "$PID" 2>/dev/null; then
            echo "$SCRIPT: trae exited before it was ready; its log:" >&2
            cat "$log" >&2
            exit 1
        fi
        if (( $(now_ns) > deadline )); then
            echo "$SCRIPT: trae not ready after 30 s" >&2
            exit 1
        fi
    done
    READY_MS=$(( ($(now_ns) - t0) / 1000000 ))
}

json_field() { python3 -c "import json, sys; print(json.load(sys.stdin)[\"$1\"])"; }

# login USER PASSWORD -> access token (15 minutes: longer than the runs)
login() {
    local body
    body=$(python3 -c 'import json, sys; print(json.dumps({"username": sys.argv[1], "password": sys.argv[2]}))' "$1" "$2")
    curl -sf -H 'content-type: application/json' -d "$body" "$BASE/api/auth/login" \
        | json_field access_token
}

# seed_pets COUNT: registers BENCH_USER (role `user`: pets:read and pets:write; registration
# is open by default), signs in, creates COUNT pets through the API (one curl process reusing
# its connection), picks one from the middle -> sets TOKEN, PET_ID, SEED_MS.
BENCH_USER=loadbench
BENCH_PASSWORD='correct horse battery'
seed_pets() {
    local count=$1 code created t0 cfg=$WORK/seed.curl
    code=$(curl -s -o "$WORK/register.json" -w '%{http_code}' -H 'content-type: application/json' \
        -d "{\"username\":\"$BENCH_USER\",\"email\":\"$BENCH_USER@example.com\",\"password\":\"$BENCH_PASSWORD\"}" \
        "$BASE/api/auth/register")
    [[ $code == 201 ]] || { echo "$SCRIPT: register answered $code: $(cat "$WORK/register.json")" >&2; exit 1; }
    TOKEN=$(login "$BENCH_USER" "$BENCH_PASSWORD")
    for i in $(seq 1 "$count"); do
        printf 'url = "%s/api/pets"\nheader = "content-type: application/json"\nheader = "authorization: Bearer %s"\ndata = "{\\"name\\":\\"pet %d\\",\\"species\\":\\"dog\\",\\"age\\":3,\\"tags\\":[\\"t1\\"]}"\noutput = "/dev/null"\nwrite-out = "%%{http_code}\\n"\nnext\n' \
            "$BASE" "$TOKEN" "$i"
    done | sed '$d' >"$cfg"
    t0=$(now_ns)
    created=$(curl -s -K "$cfg" | grep -c '^201$' || true)
    SEED_MS=$(( ($(now_ns) - t0) / 1000000 ))
    (( created == count )) || { echo "$SCRIPT: only $created of $count pets were created" >&2; exit 1; }
    PET_ID=$(curl -sf -H "authorization: Bearer $TOKEN" "$BASE/api/pets?limit=1&offset=$((count / 2))" \
        | python3 -c 'import json, sys; print(json.load(sys.stdin)["items"][0]["id"])')
    code=$(curl -s -o /dev/null -w '%{http_code}' -H "authorization: Bearer $TOKEN" "$BASE/api/pets/$PET_ID")
    [[ $code == 200 ]] || { echo "$SCRIPT: GET /api/pets/$PET_ID answered $code" >&2; exit 1; }
}
