#!/usr/bin/env bash
# raptor-ev benchmark harness: raptor-ev (inline and pool) vs nginx, one worker each,
# server pinned to one CPU and wrk to another, runs interleaved between servers.
# See bench/README.md. Usage: bash bench/run.sh [--servers a,b] [--scenarios x,y]
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
RESULTS_DIR=${RESULTS_DIR:-$BENCH_DIR/results}
export PYTHONDONTWRITEBYTECODE=1  # keep bench/lib free of __pycache__
COMMAND_LINE="bash bench/run.sh $*"

usage() {
    cat <<USAGE
Usage: bash bench/run.sh [--servers LIST] [--scenarios LIST]
  --servers LIST     comma-separated subset of: $(join , "${SERVERS_ALL[@]}") (default: all)
  --scenarios LIST   comma-separated subset of: $(join , "${SCENARIOS_ALL[@]}") (default: $(join , "${SCENARIOS_DEFAULT[@]}"))
Environment: RUNS=$RUNS DURATION=$DURATION (s) WARMUP=$WARMUP (s, 0 = none) SERVER_CPU=$SERVER_CPU WRK_CPU=$WRK_CPU
             READY_TIMEOUT=$READY_TIMEOUT STOP_TIMEOUT=$STOP_TIMEOUT RESULTS_DIR=$RESULTS_DIR
USAGE
}

SERVERS=("${SERVERS_ALL[@]}")
SCENARIOS=("${SCENARIOS_DEFAULT[@]}")
while (($#)); do
    case $1 in
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
ensure_debian_packages wrk=wrk
(($(nproc) >= 2)) || warn "only $(nproc) CPU: server and wrk cannot get a core each"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
declare -A VERSIONS=([wrk]="$(wrk --version 2>&1 | head -n1 | sed 's/ Copyright.*//')")
for s in "${SERVERS[@]}"; do
    f="server_$(fn_name "$s")"
    if declare -F "${f}_prepare" >/dev/null; then "${f}_prepare"; fi
    if declare -F "${f}_version" >/dev/null; then VERSIONS[$s]=$("${f}_version"); fi
done

# --- measurements --------------------------------------------------------------------------
RUNS_FILE="$WORK_DIR/runs.jsonl"
: >"$RUNS_FILE"
FAILED=0
declare -A SCENARIO_DESC=()

wrk_cmd() {  # PORT DURATION -> WRK array (pinned)
    WRK=(taskset -c "$WRK_CPU" wrk "${WRK_ARGS[@]}" -d"$2"s --latency "http://127.0.0.1:$1$URL_PATH")
}

for scenario in "${SCENARIOS[@]}"; do
    WRK_ARGS=() URL_PATH=/
    "scenario_$(fn_name "$scenario")"
    SCENARIO_DESC[$scenario]="wrk ${WRK_ARGS[*]} -d${DURATION}s --latency http://127.0.0.1:PORT$URL_PATH"
    log "scenario $scenario: ${SCENARIO_DESC[$scenario]}"
    for s in "${SERVERS[@]}"; do start_server "$s"; done
    if ((WARMUP > 0)); then
        for s in "${SERVERS[@]}"; do
            wrk_cmd "${SERVER_PORT[$s]}" "$WARMUP"
            timeout -k 5 $((WARMUP + 30)) "${WRK[@]}" >/dev/null 2>&1 || warn "warm-up of $s failed"
        done
    fi
    for ((run = 1; run <= RUNS; run++)); do
        for s in "${SERVERS[@]}"; do  # interleaved: A B C A B C ...
            wrk_cmd "${SERVER_PORT[$s]}" "$DURATION"
            python3 "$BENCH_DIR/lib/measure.py" --server "$s" --scenario "$scenario" --run "$run" \
                --pid "${SERVER_PID[$s]}" --out "$RUNS_FILE" --timeout $((DURATION + 30)) \
                --log "$WORK_DIR/wrk-$scenario-$s-$run.txt" -- "${WRK[@]}" || FAILED=$((FAILED + 1))
        done
    done
    stop_all_servers
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
    "versions=$(json_obj VERSIONS wrk "${SERVERS[@]}")" \
    "runs=$RUNS" "duration_s=$DURATION" "warmup_s=$WARMUP" \
    "server_cpu=$SERVER_CPU" "wrk_cpu=$WRK_CPU" >"$WORK_DIR/meta.json"
python3 "$BENCH_DIR/lib/report.py" "$WORK_DIR/meta.json" "$RUNS_FILE" "$RESULTS_DIR/$STAMP.json" |
    tee "$RESULTS_DIR/$STAMP.md"
log "results: $RESULTS_DIR/$STAMP.json"
((FAILED == 0)) || die "$FAILED run(s) failed; see the wrk outputs"
