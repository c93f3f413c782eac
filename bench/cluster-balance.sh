#!/usr/bin/env bash
# The cluster's numbers (docs/cluster.md): how evenly two workers share the load in each
# listener mode, whether a stalled worker strands connections, and raptor-ev -w 2 against
# nginx with 2 workers. Needs wrk, nginx and python3 (installed from Debian when missing).
#
#   bash bench/cluster-balance.sh            # DURATION=3 seconds per wrk run
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-3}
SUDO=$([ "$(id -u)" = 0 ] || echo "sudo -n")
for tool in wrk nginx python3; do
    command -v "$tool" >/dev/null || { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq wrk nginx-light python3; }
done
swift build -c release --product raptor-testapp >&2
BIN=$(swift build -c release --show-bin-path)
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
PORT=18190

start() { # mode workers threads
    rm -f "$WORK/stats.json"
    "$BIN/raptor-testapp" -w "$2" -t "$3" --listener "$1" -b "tcp://127.0.0.1:$PORT" --log-format json \
        --stats-file "$WORK/stats.json" 2>"$WORK/server.log" &
    SERVER=$!
    python3 - "$WORK/stats.json" "$2" <<'EOF'
import json, sys, time
deadline = time.time() + 20
while time.time() < deadline:
    try:
        workers = json.load(open(sys.argv[1]))["workers"]
        if len(workers) == int(sys.argv[2]) and all(w["booted"] for w in workers): sys.exit(0)
    except Exception: pass
    time.sleep(0.1)
sys.exit("workers did not boot")
EOF
}
stop() { kill -TERM "$SERVER"; wait "$SERVER" || true; }
share() { # label: requests per worker from the stats file (rewritten every second)
    sleep 1.2
    python3 - "$WORK/stats.json" "$1" <<'EOF'
import json, sys
counts = [w["requests"] for w in json.load(open(sys.argv[1]))["workers"]]
print("| %s | %s | %.1f %% |" % (sys.argv[2], " / ".join(map(str, counts)), 100.0 * max(counts) / max(1, sum(counts))))
EOF
}

echo "## Balance: requests per worker (-w 2 -t 0), busiest worker's share"
echo
echo "| mode, client | per worker | busiest |"
echo "|---|---|---|"
for mode in reuseport shared; do
    for connection in keep-alive close; do
        start "$mode" 2 0
        header=(); [ "$connection" = close ] && header=(-H "Connection: close")
        wrk -t2 -c50 -d"${DURATION}s" "${header[@]}" "http://127.0.0.1:$PORT/" >/dev/null
        share "$mode, wrk -c50 $connection"
        stop
        start "$mode" 2 0
        python3 - "$PORT" "$connection" <<'EOF'
import http.client, sys, threading
port, close = int(sys.argv[1]), sys.argv[2] == "close"
def run():
    c = None
    for _ in range(40):
        c = c or http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.request("GET", "/", headers={"Connection": "close"} if close else {})
        c.getresponse().read()
        if close: c.close(); c = None
threads = [threading.Thread(target=run) for _ in range(50)]
[t.start() for t in threads]; [t.join() for t in threads]
EOF
        share "$mode, 2000 requests over 50 Python connections, $connection"
        stop
    done
done

echo
echo "## Stranding: worker 0 stopped (SIGSTOP) for 2 s while 40 new connections arrive (-w 2 -t 2)"
echo
echo "| mode | result |"
echo "|---|---|"
for mode in reuseport shared; do
    start "$mode" 2 2
    python3 - "$PORT" "$WORK/stats.json" "$mode" <<'EOF'
import http.client, json, os, signal, sys, threading, time
port, stats, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]
victim = json.load(open(stats))["workers"][0]["pid"]
latencies = []
def one():
    start = time.time()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    c.request("GET", "/", headers={"Connection": "close"}); c.getresponse().read(); c.close()
    latencies.append(time.time() - start)
os.kill(victim, signal.SIGSTOP)
threads = [threading.Thread(target=one) for _ in range(40)]
[t.start() for t in threads]
time.sleep(2); os.kill(victim, signal.SIGCONT)
[t.join() for t in threads]
waited = [x for x in latencies if x > 1]
print("| %s | %d of 40 waited for the stopped worker (longest %.2f s) |" % (mode, len(waited), max(latencies)))
EOF
    stop
done

echo
echo "## raptor-ev -w 2 against nginx with 2 workers (wrk -t2 -c64 -d${DURATION}s, keep-alive, GET / 13 bytes)"
echo
echo "| server | requests/s |"
echo "|---|---|"
for threads in 0 5; do
    start reuseport 2 "$threads"
    rate=$(wrk -t2 -c64 -d"${DURATION}s" "http://127.0.0.1:$PORT/" | awk '/Requests\/sec/ {print $2}')
    echo "| raptor-ev -w 2 -t $threads | $rate |"
    stop
done
mkdir -p "$WORK/nginx/logs"
cat >"$WORK/nginx/nginx.conf" <<EOF
worker_processes 2;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log warn;
events { worker_connections 16384; }
http {
    access_log off;
    keepalive_requests 1000;
    client_body_temp_path $WORK/nginx/tmp;
    proxy_temp_path $WORK/nginx/tmp;
    fastcgi_temp_path $WORK/nginx/tmp;
    uwsgi_temp_path $WORK/nginx/tmp;
    scgi_temp_path $WORK/nginx/tmp;
    server {
        listen 127.0.0.1:$PORT backlog=1024;
        default_type text/plain;
        location = / { return 200 "Hello, World!"; }
    }
}
EOF
nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -g "daemon off;" 2>/dev/null &
NGINX=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/" >/dev/null 2>&1 && break; sleep 0.1; done
rate=$(wrk -t2 -c64 -d"${DURATION}s" "http://127.0.0.1:$PORT/" | awk '/Requests\/sec/ {print $2}')
echo "| nginx, 2 workers | $rate |"
kill -QUIT "$NGINX"; wait "$NGINX" || true
