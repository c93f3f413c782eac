#!/usr/bin/env bash
# raptor-ev benchmark harness: raptor-ev (inline and pool) vs nginx, h2o, Puma and Hummingbird,
# WORKERS worker processes each (1: server pinned to one CPU and wrk to another; more: nothing
# pinned), runs interleaved between servers.
# See bench/README.md. Usage: bash bench/run.sh [--workers 1|2|1,2] [--servers a,b] [--scenarios x,y]
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$BENCH_DIR/.." && pwd)
source "$BENCH_DIR/lib/common.sh"
source "$BENCH_DIR/lib/servers.sh"
source "$BENCH_DIR/lib/scenarios.sh"
source "$BENCH_DIR/lib/lifecycle.sh"

RUNS=${RUNS:-3}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
SERVER_CPU=${SERVER_CPU:-0}
WRK_CPU=${WRK_CPU:-1}
IDLE_TIMEOUT=${IDLE_TIMEOUT:-20}
RESULTS_DIR=${RESULTS_DIR:-$BENCH_DIR/results}
export PYTHONDONTWRITEBYTECODE=1  # keep bench/lib free of __pycache__
COMMAND_LINE="bash bench/run.sh $*"

usage() {
    cat <<USAGE
Usage: bash bench/run.sh [--workers LIST] [--servers LIST] [--scenarios LIST]
  --workers LIST     worker processes per server: 1, 2, or 1,2 for both in one run (default: 1);
                     with 1 the servers are pinned to CPU \$SERVER_CPU and wrk to \$WRK_CPU,
                     otherwise nothing is pinned
  --servers LIST     comma-separated subset of: $(join , "${SERVERS_ALL[@]}") (default: all)
  --scenarios LIST   comma-separated subset of: $(join , "${SCENARIOS_ALL[@]}") (default: $(join , "${SCENARIOS_DEFAULT[@]}"))
Environment: RUNS=$RUNS DURATION=$DURATION (s) WARMUP=$WARMUP (s, 0 = none) SERVER_CPU=$SERVER_CPU WRK_CPU=$WRK_CPU
             READY_TIMEOUT=$READY_TIMEOUT STOP_TIMEOUT=$STOP_TIMEOUT IDLE_TIMEOUT=$IDLE_TIMEOUT (s)
             IDLE_CONNS=$IDLE_CONNS RESULTS_DIR=$RESULTS_DIR
USAGE
}

SERVERS=("${SERVERS_ALL[@]}")
SCENARIOS=("${SCENARIOS_DEFAULT[@]}")
WORKERS_LIST=(1)
while (($#)); do
    case $1 in
        --workers|-w)  IFS=, read -ra WORKERS_LIST <<<"${2:?--workers needs a count}"; shift 2 ;;
        --workers=*)   IFS=, read -ra WORKERS_LIST <<<"${1#*=}"; shift ;;
        --servers)     IFS=, read -ra SERVERS <<<"${2:?--servers needs a list}"; shift 2 ;;
        --servers=*)   IFS=, read -ra SERVERS <<<"${1#*=}"; shift ;;
        --scenarios)   IFS=, read -ra SCENARIOS <<<"${2:?--scenarios needs a list}"; shift 2 ;;
        --scenarios=*) IFS=, read -ra SCENARIOS <<<"${1#*=}"; shift ;;
        -h|--help)     usage; exit 0 ;;
        *)             usage >&2; die "unknown argument: $1" ;;
    esac
done
for s in "${SERVERS[@]}"; do in_list "$s" "${SERVERS_ALL[@]}" || die "unknown server: $s"; done
for s in "${SCENARIOS[@]}"; do in_list "$s" "${SCENARIOS_ALL[@]}" || die "unknown scenario: $s"; done
for w in "${WORKERS_LIST[@]}"; do [[ $w =~ ^[1-9][0-9]?$ ]] || die "--workers takes counts like 1, 2 or 1,2 (got $w)"; done
[[ $RUNS =~ ^[1-9][0-9]*$ && $DURATION =~ ^[1-9][0-9]*$ && $WARMUP =~ ^[0-9]+$ ]] ||
    die "RUNS and DURATION must be positive integers, WARMUP a non-negative integer"

# --- cleanup: every server we started is stopped, whatever happens -----------------------
WORK_DIR=$(mktemp -d "${TMPDIR:-/tmp}/raptor-bench.XXXXXX")
cleanup() {
    local rc=$?
    set +e  # best effort from here: a server may already be gone
    trap - EXIT INT TERM
    stop_all_servers
    if ((rc == 0)) && [[ -z ${KEEP_WORK_DIR:-} ]]; then rm -rf "$WORK_DIR"
    else log "server logs and wrk outputs kept in $WORK_DIR"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- prerequisites -----------------------------------------------------------------------
START_SECONDS=$SECONDS
ensure_debian_packages wrk=wrk
(($(nproc) >= 2)) || warn "only $(nproc) CPU: server and wrk cannot get a core each"
# Descriptors for 10k idle connections (client and servers inherit the limit); without
# CAP_SYS_RESOURCE the hard limit caps it.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if in_list idle-10k "${SCENARIOS[@]}" && (($(ulimit -n) < IDLE_CONNS + 100)); then
    die "ulimit -n is $(ulimit -n): idle-10k needs more than $((IDLE_CONNS + 100)) descriptors"
fi
# The static file every server serves in static-1mib (1 MiB of random bytes).
STATIC_DIR="$WORK_DIR/static"
mkdir -p "$STATIC_DIR"
head -c 1048576 /dev/urandom >"$STATIC_DIR/$STATIC_FILE"
printf 'Hello, World!' >"$STATIC_DIR/$SMALL_FILE"
if in_list file-range-64kib "${SCENARIOS[@]}"; then
    head -c "$RANGE_FILE_BYTES" /dev/urandom >"$STATIC_DIR/$RANGE_FILE"
fi
# nginx's workers run as nobody when started as root: let them read it (mktemp -d is 0700).
chmod a+rx "$WORK_DIR" "$STATIC_DIR" && chmod a+r "$STATIC_DIR"/*
# The TLS scenarios' certificate: ECDSA P-256 (what a modern site serves), made now.
TLS_CERT="$WORK_DIR/tls/cert.pem" TLS_KEY="$WORK_DIR/tls/key.pem"
TLS_CIPHERS=ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305
if printf '%s\n' "${SCENARIOS[@]}" | grep -q '^h2'; then
    ensure_debian_packages h2load=nghttp2-client curl=curl
fi
if printf '%s\n' "${SCENARIOS[@]}" | grep -q '^tls-\|^h2-'; then
    ensure_debian_packages openssl=openssl
    mkdir -p "$WORK_DIR/tls" && chmod a+rx "$WORK_DIR/tls"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
        -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout "$TLS_KEY" -out "$TLS_CERT" 2>/dev/null ||
        die "openssl could not make the TLS certificate"
    chmod a+r "$TLS_KEY" "$TLS_CERT"
fi
declare -A VERSIONS=([wrk]="$(wrk --version 2>&1 | head -n1 | sed 's/ Copyright.*//')")
LOAD_TOOLS=(wrk)
if printf '%s\n' "${SCENARIOS[@]}" | grep -q '^h2'; then
    LOAD_TOOLS+=(h2load) VERSIONS[h2load]=$(h2load --version 2>&1 | head -n1)
fi
for s in "${SERVERS[@]}"; do
    f="server_$(fn_name "$s")"
    if declare -F "${f}_prepare" >/dev/null; then "${f}_prepare"; fi
    if declare -F "${f}_version" >/dev/null; then VERSIONS[$s]=$("${f}_version"); fi
done

# --- measurements --------------------------------------------------------------------------
RUNS_FILE="$WORK_DIR/runs.jsonl"
: >"$RUNS_FILE" && : >"$WORK_DIR/starts.jsonl"
FAILED=0
declare -A SCENARIO_DESC=() PINNING=()

set_pinning() {  # WORKERS -> SERVER_PIN, LOAD_PIN (command prefixes; empty: not pinned)
    if (($1 == 1)); then
        SERVER_PIN=(taskset -c "$SERVER_CPU") LOAD_PIN=(taskset -c "$WRK_CPU")
        PINNING[$1]="server (all its processes and threads) on CPU $SERVER_CPU (taskset -c $SERVER_CPU), load generator on CPU $WRK_CPU (taskset -c $WRK_CPU)"
    else
        SERVER_PIN=() LOAD_PIN=()
        PINNING[$1]="nothing pinned: servers and load generator share all $(nproc) CPUs"
    fi
}

load_cmd() {  # SERVER DURATION -> LOAD_CMD array (the scenario's load generator, pinned or not)
    local port=${SERVER_PORT[$1]} path=${SERVER_PATH[$1]} scheme=http
    ((TLS)) && scheme=https
    if [[ $LOAD == idle ]]; then
        LOAD_CMD=("${LOAD_PIN[@]}" python3 "$BENCH_DIR/lib/idle_conns.py" --port "$port"
            --pid "${SERVER_PID[$1]}" --conns "$IDLE_CONNS" --path "$path" --timeout "$idle_timeout")
        if ((TLS)); then LOAD_CMD+=(--tls --settle 3); fi  # not `&&`: its false would end load_cmd with 1 (set -e)
    elif [[ $LOAD == s_time ]]; then
        LOAD_CMD=("${LOAD_PIN[@]}" openssl s_time -connect "127.0.0.1:$port" -www "$path" -reuse -time "$2")
    elif [[ $LOAD == h2load ]]; then
        LOAD_CMD=("${LOAD_PIN[@]}" h2load "${H2LOAD_ARGS[@]}" -D "$2" "$scheme://127.0.0.1:$port$path")
    else
        local extra=()  # revalidation: this server's own ETag (lifecycle.sh read it at start)
        [[ $KIND == conditional ]] && extra=(-H "If-None-Match: ${SERVER_ETAG[$1]}")
        LOAD_CMD=("${LOAD_PIN[@]}" wrk "${WRK_ARGS[@]}" "${extra[@]}" -d"$2"s --latency "$scheme://127.0.0.1:$port$path")
    fi
}

# The servers of this scenario: --servers, narrowed to SCENARIO_SERVERS when it sets them.
scenario_servers() {
    ACTIVE=()
    local s
    for s in "${SERVERS[@]}"; do
        if ((${#SCENARIO_SERVERS[@]} == 0)); then
            in_list "$s" "${OPT_IN_SERVERS[@]}" || ACTIVE+=("$s")
        elif in_list "$s" "${SCENARIO_SERVERS[@]}"; then
            ACTIVE+=("$s")
        fi
    done
}

start_all() { local s; for s in "${ACTIVE[@]}"; do start_server "$s"; done; }

for WORKERS in "${WORKERS_LIST[@]}"; do
    set_pinning "$WORKERS"
    log "=== $WORKERS worker(s) per server: ${PINNING[$WORKERS]}"
    for SCENARIO in "${SCENARIOS[@]}"; do
        WRK_ARGS=() H2LOAD_ARGS=() URL_PATH=/ KIND=hello LOAD=wrk RESTART_PER_RUN=0 SCENARIO_SERVERS=() TLS=0 H2=0
        "scenario_$(fn_name "$SCENARIO")"
        scenario_servers
        if ((${#ACTIVE[@]} == 0)); then
            log "scenario $SCENARIO: none of its servers (${SCENARIO_SERVERS[*]}) selected; skipped"
            continue
        fi
        if [[ $LOAD == s_time ]]; then
            SCENARIO_DESC[$SCENARIO]="openssl s_time -connect 127.0.0.1:PORT -www $URL_PATH -reuse -time $DURATION: one connection at a time, each resuming the first one's TLS session"
            timeout_s=$((DURATION + 30))
        elif [[ $LOAD == h2load ]]; then
            SCENARIO_DESC[$SCENARIO]="h2load ${H2LOAD_ARGS[*]} -D $DURATION $( ((TLS)) && echo 'https (h2 by ALPN)' || echo 'http (h2c, prior knowledge)')://127.0.0.1:PORT$URL_PATH"
            timeout_s=$((DURATION + 30))
        elif [[ $LOAD == idle ]]; then
            # The Python client sets up TLS connections about ten times slower than plain ones.
            idle_timeout=$IDLE_TIMEOUT
            ((TLS)) && idle_timeout=$((IDLE_TIMEOUT * 5))
            SCENARIO_DESC[$SCENARIO]="lib/idle_conns.py --conns $IDLE_CONNS$( ((TLS)) && echo ' --tls'): one keep-alive GET $URL_PATH per connection, all held idle $( ((TLS)) && echo 3 || echo 1) s; server RSS (sum of VmRSS) before and after; setup bounded to ${idle_timeout} s; a fresh server per run"
            timeout_s=$((idle_timeout + 30))
        else
            SCENARIO_DESC[$SCENARIO]="wrk ${WRK_ARGS[*]} -d${DURATION}s --latency $( ((TLS)) && echo https || echo http)://127.0.0.1:PORT$URL_PATH"
            timeout_s=$((DURATION + 30))
        fi
        log "scenario $SCENARIO (workers $WORKERS): ${SCENARIO_DESC[$SCENARIO]}"
        if ((!RESTART_PER_RUN)); then
            start_all
            if ((WARMUP > 0)) && [[ $LOAD == wrk || $LOAD == h2load ]]; then
                for s in "${ACTIVE[@]}"; do
                    [[ -n ${SERVER_UNAVAILABLE[$s]:-} ]] && continue
                    load_cmd "$s" "$WARMUP"
                    timeout -k 5 $((WARMUP + 30)) "${LOAD_CMD[@]}" >/dev/null 2>&1 || warn "warm-up of $s failed"
                done
            fi
        fi
        for ((run = 1; run <= RUNS; run++)); do
            ((RESTART_PER_RUN)) && start_all
            for s in "${ACTIVE[@]}"; do  # interleaved: A B C A B C ...
                if [[ -n ${SERVER_UNAVAILABLE[$s]:-} ]]; then
                    python3 "$BENCH_DIR/lib/measure.py" --server "$s" --scenario "$SCENARIO" --run "$run" \
                        --workers "$WORKERS" --load "$LOAD" --out "$RUNS_FILE" --log /dev/null \
                        --unavailable "${SERVER_UNAVAILABLE[$s]}"
                    FAILED=$((FAILED + 1))
                    continue
                fi
                load_cmd "$s" "$DURATION"
                python3 "$BENCH_DIR/lib/measure.py" --server "$s" --scenario "$SCENARIO" --run "$run" \
                    --workers "$WORKERS" --load "$LOAD" --pid "${SERVER_PID[$s]}" --out "$RUNS_FILE" \
                    --timeout "$timeout_s" --log "$WORK_DIR/load-w$WORKERS-$SCENARIO-$s-$run.txt" \
                    -- "${LOAD_CMD[@]}" || FAILED=$((FAILED + 1))
            done
            ((RESTART_PER_RUN)) && stop_all_servers
        done
        stop_all_servers
    done
done

# --- report ------------------------------------------------------------------------------
json_obj() {  # NAME of an associative array -> JSON object (keys in the given order)
    local -n arr=$1; shift
    local k; for k; do printf '%s\0%s\0' "$k" "${arr[$k]}"; done |
        python3 -c 'import json,sys; p=sys.stdin.read().split("\0")[:-1]; print(json.dumps(dict(zip(p[::2], p[1::2]))))'
}
mkdir -p "$RESULTS_DIR"
STAMP=$(date +%Y%m%d-%H%M%S)
python3 "$BENCH_DIR/lib/meta.py" \
    "command=$COMMAND_LINE" "repo=$REPO_ROOT" "nproc=$(nproc)" \
    "servers=$(printf '%s\n' "${SERVERS[@]}" | python3 -c 'import json,sys; print(json.dumps(sys.stdin.read().split()))')" \
    "scenarios=$(json_obj SCENARIO_DESC "${SCENARIOS[@]}")" \
    "versions=$(json_obj VERSIONS "${LOAD_TOOLS[@]}" "${SERVERS[@]}")" \
    "runs=$RUNS" "duration_s=$DURATION" "warmup_s=$WARMUP" \
    "server_cpu=$SERVER_CPU" "wrk_cpu=$WRK_CPU" \
    "workers=$(printf '%s\n' "${WORKERS_LIST[@]}" | python3 -c 'import json,sys; print(json.dumps([int(w) for w in sys.stdin.read().split()]))')" \
    "pinning=$(json_obj PINNING "${WORKERS_LIST[@]}")" \
    "starts=$(python3 -c 'import json,sys; print(json.dumps([json.loads(l) for l in open(sys.argv[1]) if l.strip()]))' "$WORK_DIR/starts.jsonl")" \
    "elapsed_s=$((SECONDS - START_SECONDS))" >"$WORK_DIR/meta.json"
python3 "$BENCH_DIR/lib/report.py" "$WORK_DIR/meta.json" "$RUNS_FILE" "$RESULTS_DIR/$STAMP.json" |
    tee "$RESULTS_DIR/$STAMP.md"
log "results: $RESULTS_DIR/$STAMP.json"
((FAILED == 0)) || die "$FAILED run(s) failed; see the wrk outputs"
