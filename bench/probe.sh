#!/usr/bin/env bash
# A quick before/after probe for a hot-path change, without peers: one raptor-testapp
# configuration under wrk, and what the server spent per request: CPU time (utime+stime of
# every thread of every process) and context switches (voluntary + involuntary), both
# read from /proc around the wrk run. Compare with bench/run.sh for anything you publish.
#
# Usage: bash bench/probe.sh [--threads N] [--workers N] [--connections N] [--pinned]
#                            [--duration S] [--target PATH] [--cpu-affinity none|auto] [--close]
#                            [--bin DIR]
#   --pinned        server on CPU 0, wrk on CPU 1 (as bench/run.sh does with 1 worker)
#   --cpu-affinity  the server's own flag: auto pins each worker (and its app threads)
#   --close         a new connection per request (wrk -H 'Connection: close')
#   --bin           where raptor-testapp is (default: swift build -c release, .build/release)
set -euo pipefail
cd "$(dirname "$0")/.."

threads=5 workers=1 connections=64 pinned=0 duration=5 target=/ affinity=none close=() bin=
while [ $# -gt 0 ]; do
    case "$1" in
        --threads) threads=$2; shift 2 ;;
        --workers) workers=$2; shift 2 ;;
        --connections) connections=$2; shift 2 ;;
        --duration) duration=$2; shift 2 ;;
        --target) target=$2; shift 2 ;;
        --pinned) pinned=1; shift ;;
        --cpu-affinity) affinity=$2; shift 2 ;;
        --close) close=(-H 'Connection: close'); shift ;;
        --bin) bin=$2; shift 2 ;;
        *) echo "probe.sh: unknown argument: $1" >&2; exit 2 ;;
    esac
done
command -v wrk >/dev/null || { echo "probe.sh: wrk is not installed (apt-get install wrk)" >&2; exit 1; }

if [ -z "$bin" ]; then
    swift build -c release --product raptor-testapp >&2
    bin=.build/release
fi
server_cpu=() wrk_cpu=()
if [ "$pinned" = 1 ]; then server_cpu=(taskset -c 0) wrk_cpu=(taskset -c 1); fi

log=$(mktemp)
"${server_cpu[@]}" "$bin/raptor-testapp" --bind tcp://127.0.0.1:0 --threads "$threads" \
    --workers "$workers" --cpu-affinity "$affinity" --log-format json >"$log" 2>&1 &
master=$!
trap 'kill "$master" 2>/dev/null; wait "$master" 2>/dev/null; rm -f "$log"' EXIT

# Ready: the cluster logs "all workers booted"; a single process (--workers 0) "worker booted".
ready='"message":"all workers booted"'
[ "$workers" = 0 ] && ready='"message":"worker booted"'
port=
for _ in $(seq 100); do
    port=$(sed -n 's/.*"url":"tcp:\/\/127\.0\.0\.1:\([0-9]*\)".*/\1/p' "$log" | head -1)
    [ -n "$port" ] && grep -q "$ready" "$log" && break
    sleep 0.1
done
[ -n "$port" ] || { echo "probe.sh: the server did not start:" >&2; cat "$log" >&2; exit 1; }

# Sums a field over every thread of the master and its workers.
server_total() {
    local pids total=0 task
    pids="$master $(pgrep -P "$master" | tr '\n' ' ')"
    for pid in $pids; do
        for task in /proc/"$pid"/task/*; do
            case "$1" in
                cpu) total=$((total + $(awk '{print $14 + $15}' "$task/stat"))) ;;
                switches) total=$((total + $(awk '/ctxt_switches/ {s += $2} END {print s}' "$task/status"))) ;;
            esac
        done
    done
    echo "$total"
}

cpu_before=$(server_total cpu) switches_before=$(server_total switches)
report=$("${wrk_cpu[@]}" wrk -t1 -c"$connections" -d"$duration"s "${close[@]}" "http://127.0.0.1:$port$target")
cpu_after=$(server_total cpu) switches_after=$(server_total switches)
requests=$(awk '/requests in/ {print $1}' <<<"$report")
ticks=$(getconf CLK_TCK)
awk -v r="$requests" -v c=$((cpu_after - cpu_before)) -v s=$((switches_after - switches_before)) \
    -v hz="$ticks" -v t="$threads" -v w="$workers" -v n="$connections" -v p="$pinned" -v a="$affinity" \
    -v k="$([ ${#close[@]} -gt 0 ] && echo close || echo keep-alive)" 'BEGIN {
    printf "threads=%s workers=%s connections=%s (%s) pinned=%s cpu-affinity=%s: %d requests, %.2f us CPU/request, %.2f context switches/request\n",
        t, w, n, k, p, a, r, c * 1e6 / hz / r, s / r }'
