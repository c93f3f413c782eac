#!/usr/bin/env bash
# Exact per-request cost of the keep-alive path (or, with --close, of a new connection per
# request), for before/after figures of a hot-path change on a noisy machine: callgrind
# instructions (every thread) and system calls (strace -c -f) per request of one
# raptor-testapp process (--workers 0), or of `raptor-ev serve` with --file.
#
# Each figure is the difference between a run that serves N requests and a run that
# serves 0, divided by N, so start-up and shutdown cancel out. Keep-alive: N requests on
# one connection against that connection opened and closed. --close: N connections, one
# request each (Connection: close, the client waits for the server's close before the
# next), against none.
#
# Prints the totals, then instructions by shared object (pool mode varies by a few hundred
# instructions from run to run in libev and libc, with how often the loop happens to
# sleep; the engine's share in the binary does not) and system calls by name.
#
# Usage: bash bench/keepalive-cost.sh [--threads N] [--async] [--requests N] [--tls] [--close]
#                                     [--file] [--bin DIR]
#   --threads  0 (inline, default) or the pool size
#   --close    a new connection per request (Connection: close)
#   --file     `raptor-ev serve` on a directory with a 13-byte file, which is requested
#   --async    the test app's async handler (each request a Task; --threads plays no part)
#   --tls      an ssl:// bind with a throwaway certificate; the client speaks TLS
#   --bin      where raptor-testapp and raptor-ev are (default: swift build -c release
#              --show-bin-path)
set -euo pipefail
cd "$(dirname "$0")/.."

threads=0 requests=2000 tls=0 bin= product=raptor-testapp client_flags=() serve=()
while [ $# -gt 0 ]; do
    case "$1" in
        --threads) threads=$2; shift 2 ;;
        --requests) requests=$2; shift 2 ;;
        --tls) tls=1; shift ;;
        --close) client_flags+=(--close); shift ;;
        --file) product=raptor-ev; shift ;;
        --async) export RAPTOR_TESTAPP_APPLICATION=async; shift ;;
        --bin) bin=$2; shift 2 ;;
        *) echo "keepalive-cost.sh: unknown argument: $1" >&2; exit 2 ;;
    esac
done
for tool in valgrind strace python3; do
    command -v "$tool" >/dev/null || { echo "keepalive-cost.sh: $tool is not installed" >&2; exit 1; }
done
if [ -z "$bin" ]; then
    swift build -c release --product "$product" >&2
    bin=$(swift build -c release --show-bin-path)
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# valgrind 3.19 cannot read the DWARF 5 debug information Swift writes: a stripped copy.
cp "$bin/$product" "$work/server"
strip --strip-debug "$work/server"
if [ "$product" = raptor-ev ]; then
    mkdir "$work/files"
    printf 'Hello, World!' >"$work/files/13b.txt"
    serve=(serve "$work/files")
    client_flags+=(--path /13b.txt)
fi
bind=tcp://127.0.0.1:0
if [ "$tls" = 1 ]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=localhost \
        -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
    bind="ssl://127.0.0.1:0?cert=$work/cert.pem&key=$work/key.pem"
    client_flags+=(--tls)
fi

start_server() {  # TOOL-PREFIX...: starts the server (under the tool), sets pid and port
    local log="$work/server.log"
    port=
    "$@" "$work/server" "${serve[@]}" --bind "$bind" --workers 0 --threads "$threads" \
        --max-keepalive-requests 1000000 --log-format json >"$log" 2>&1 &
    pid=$!
    for _ in $(seq 600); do
        port=$(sed -n 's/.*"message":"listening".*"url":"[a-z]*:\/\/127\.0\.0\.1:\([0-9]*\)".*/\1/p' "$log" | head -1)
        [ -n "$port" ] && grep -q '"message":"worker booted"' "$log" && break
        sleep 0.1
    done
    [ -n "$port" ] || { echo "keepalive-cost.sh: the server did not start:" >&2; cat "$log" >&2; kill "$pid"; exit 1; }
}

instructions() {  # N: total instructions of a run that serves N requests
    start_server valgrind --tool=callgrind --callgrind-out-file="$work/cg-$1.out"
    python3 bench/lib/keepalive_client.py "$port" "$1" "${client_flags[@]}" || exit 1
    kill -TERM "$pid"
    wait "$pid" || true
    awk '/^summary:/ {print $2}' "$work/cg-$1.out"
}

syscalls() {  # N: system calls (every thread) while N requests are served
    start_server
    strace -f -c -o "$work/strace.out" -p "$pid" 2>/dev/null &
    local tracer=$!
    for _ in $(seq 100); do  # until strace is attached (it then attaches every thread)
        [ "$(awk '/^TracerPid:/ {print $2}' "/proc/$pid/status")" != 0 ] && break
        sleep 0.05
    done
    python3 bench/lib/keepalive_client.py "$port" "$1" "${client_flags[@]}" || exit 1
    kill -INT "$tracer"
    wait "$tracer" || true
    kill -TERM "$pid"
    wait "$pid" || true
    awk '$NF == "total" {print $4}' "$work/strace.out"
}

ir0=$(instructions 0) irn=$(instructions "$requests")
sc0=$(syscalls 0) scn=$(syscalls "$requests")
awk -v a="$ir0" -v b="$irn" -v c="$sc0" -v d="$scn" -v n="$requests" -v t="$threads" -v s="$tls" \
    -v m="($product${client_flags[*]:+ ${client_flags[*]}})" 'BEGIN {
    printf "threads=%s tls=%s requests=%s %s: %.0f instructions/request, %.2f syscalls/request\n",
        t, s, n, m, (b - a) / n, (d - c) / n }'
[ -n "${RAPTOR_TESTAPP_APPLICATION:-}" ] && echo "application: $RAPTOR_TESTAPP_APPLICATION"
echo "instructions/request by object:"
python3 bench/lib/callgrind_objects.py "$work/cg-0.out" "$work/cg-$requests.out" "$requests"
echo "syscalls/request:"
awk -v n="$requests" '$NF != "total" && $4 ~ /^[0-9]+$/ {printf "  %9.2f  %s\n", $4 / n, $NF}' "$work/strace.out" | sort -rn
