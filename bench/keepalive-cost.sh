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
# next), against none. --resume: those connections resume TLS sessions as wrk does (each
# offers the ticket the one before brought).
#
# --server nginx measures nginx the same way (one process: master_process off, the bench's
# nginx.conf, its `return 200 "Hello, World!"`), for an exact side-by-side of user-space cost
# that the wall clock of a shared machine cannot give.
#
# Prints the totals, then instructions by shared object (pool mode varies by a few hundred
# instructions from run to run in libev and libc, with how often the loop happens to
# sleep; the engine's share in the binary does not) and system calls by name.
#
# Usage: bash bench/keepalive-cost.sh [--threads N] [--async] [--requests N] [--tls] [--close]
#                                     [--resume] [--file] [--bin DIR] [--server raptor|nginx]
#   --threads  0 (inline, default) or the pool size
#   --close    a new connection per request (Connection: close)
#   --resume   with --tls --close: each connection resumes with the last one's ticket
#   --file     a 13-byte file is requested (raptor: `raptor-ev serve` on its directory)
#   --async    the test app's async handler (each request a Task; --threads plays no part)
#   --tls      an ssl:// bind with a throwaway certificate; the client speaks TLS
#   --bin      where raptor-testapp and raptor-ev are (default: swift build -c release
#              --show-bin-path)
#   --server   nginx: the peer instead (--threads, --async and --bin play no part)
set -euo pipefail
cd "$(dirname "$0")/.."

threads=0 requests=2000 tls=0 resume=0 bin= server=raptor product=raptor-testapp client_flags=() serve=()
while [ $# -gt 0 ]; do
    case "$1" in
        --threads) threads=$2; shift 2 ;;
        --requests) requests=$2; shift 2 ;;
        --tls) tls=1; shift ;;
        --close) client_flags+=(--close); shift ;;
        --resume) client_flags+=(--resume); resume=1; shift ;;
        --file) product=raptor-ev client_flags+=(--path /13b.txt); shift ;;
        --async) export RAPTOR_TESTAPP_APPLICATION=async; shift ;;
        --bin) bin=$2; shift 2 ;;
        --server) server=$2; shift 2 ;;
        *) echo "keepalive-cost.sh: unknown argument: $1" >&2; exit 2 ;;
    esac
done
if [ "$resume" = 1 ] && { [ "$tls" = 0 ] || [[ " ${client_flags[*]} " != *" --close "* ]]; }; then
    echo "keepalive-cost.sh: --resume needs --tls and --close" >&2
    exit 2
fi
case "$server" in
    raptor) tools=(valgrind strace python3) ;;
    nginx) tools=(valgrind strace python3 nginx) ;;
    *) echo "keepalive-cost.sh: --server must be raptor or nginx, not: $server" >&2; exit 2 ;;
esac
for tool in "${tools[@]}"; do
    command -v "$tool" >/dev/null || { echo "keepalive-cost.sh: $tool is not installed" >&2; exit 1; }
done
if [ "$server" = raptor ] && [ -z "$bin" ]; then
    swift build -c release --product "$product" >&2
    bin=$(swift build -c release --show-bin-path)
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bind=tcp://127.0.0.1:0
if [ "$tls" = 1 ]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=localhost \
        -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
    bind="ssl://127.0.0.1:0?cert=$work/cert.pem&key=$work/key.pem"
    client_flags+=(--tls)
fi
if [ "$server" = raptor ]; then
    # valgrind 3.19 cannot read the DWARF 5 debug information Swift writes: a stripped copy.
    cp "$bin/$product" "$work/server"
    strip --strip-debug "$work/server"
    if [ "$product" = raptor-ev ]; then
        mkdir "$work/files"
        printf 'Hello, World!' >"$work/files/13b.txt"
        serve=(serve "$work/files")
    fi
else
    nginx_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    nginx_ssl="" nginx_tls=""
    if [ "$tls" = 1 ]; then
        nginx_ssl=ssl
        nginx_tls="ssl_certificate $work/cert.pem; ssl_certificate_key $work/key.pem; ssl_protocols TLSv1.2 TLSv1.3;"
    fi
    mkdir -p "$work/logs" "$work/tmp" "$work/static"
    printf 'Hello, World!' >"$work/static/13b.txt"
    sed -e "s|@PORT@|$nginx_port|g" -e "s|@KEEPALIVE_REQUESTS@|1000000|g" -e "s|@DIR@|$work|g" -e "s|@WORKERS@|1|g" \
        -e "s|@STATIC_DIR@|$work/static|g" -e "s|@SSL@|$nginx_ssl|g" -e "s|@HTTP2@||g" -e "s|@TLS@|$nginx_tls|g" \
        bench/nginx.conf.template >"$work/nginx.conf"
fi

start_server() {  # TOOL-PREFIX...: starts the server (under the tool), sets pid and port
    if [ "$server" = nginx ]; then
        start_nginx "$@"
        return
    fi
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

start_nginx() {  # TOOL-PREFIX...: nginx as one process (no master), pid and port as above
    "$@" "$(command -v nginx)" -p "$work" -c "$work/nginx.conf" -e "$work/logs/error.log" \
        -g 'daemon off; master_process off;' >"$work/server.log" 2>&1 &
    pid=$! port=$nginx_port
    for _ in $(seq 600); do
        python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1)' \
            "$port" 2>/dev/null && return
        sleep 0.1
    done
    echo "keepalive-cost.sh: nginx did not start:" >&2
    cat "$work/server.log" "$work/logs/error.log" >&2
    kill "$pid"
    exit 1
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
label="threads=$threads"
[ "$server" = nginx ] && label="server=nginx"
[ "$server" = raptor ] && label="$label ($product)"
[ ${#client_flags[@]} -gt 0 ] && label="$label ${client_flags[*]}"
awk -v a="$ir0" -v b="$irn" -v c="$sc0" -v d="$scn" -v n="$requests" -v l="$label" -v s="$tls" 'BEGIN {
    printf "%s tls=%s requests=%s: %.0f instructions/request, %.2f syscalls/request\n",
        l, s, n, (b - a) / n, (d - c) / n }'
[ -n "${RAPTOR_TESTAPP_APPLICATION:-}" ] && echo "application: $RAPTOR_TESTAPP_APPLICATION"
echo "instructions/request by object:"
python3 bench/lib/callgrind_objects.py "$work/cg-0.out" "$work/cg-$requests.out" "$requests"
echo "syscalls/request:"
awk -v n="$requests" '$NF != "total" && $4 ~ /^[0-9]+$/ {printf "  %9.2f  %s\n", $4 / n, $NF}' "$work/strace.out" | sort -rn
