#!/usr/bin/env bash
# The rolling deploy across hosts (issue 14): three raptor-ev hosts, each in its own network
# namespace with its own address on a bridge, behind HAProxy (health checks on /readyz,
# PROXY protocol v2 to the hosts), a client on its own address sending keep-alive GETs
# through the balancer for the whole run, and a deploy that puts a new build on each host
# in turn: a hot restart (HUP) on every host, then a phased restart (USR2) on every host,
# then a full stop (TERM, with --drain-delay) and start on every host. The metrics of
# every host are scraped during the run.
#
# Passes with zero failed requests at the client, every host's access log naming the
# client's own address, and every host's metrics scraped; the figures (requests,
# failures, p99 per step) are printed as a Markdown table.
#
# Usage: scale-test/run.sh [--bin DIR] [--retries conn-failure|none] [--work DIR]
#   --bin      where raptor-ev is (default: swift build --show-bin-path)
#   --retries  HAProxy's retry-on: conn-failure (its default: a request is retried only
#              when the connection failed before it was sent) or none (no retry at all)
#   --work     where logs, records and scrapes go (default: a temporary directory, kept)
# Exit status: 0 passed, 1 failed, 77 the machine cannot run it (not root, no network
# namespaces, no haproxy): the message says which.
set -euo pipefail
cd "$(dirname "$0")/.."

bin= retries=conn-failure work=
while [ $# -gt 0 ]; do
    case "$1" in
        --bin) bin=$2; shift 2 ;;
        --retries) retries=$2; shift 2 ;;
        --work) work=$2; shift 2 ;;
        *) echo "scale-test: unknown argument: $1" >&2; exit 2 ;;
    esac
done

unsupported() { echo "scale-test skipped: $*" >&2; exit 77; }
[ "$(id -u)" = 0 ] || unsupported "network namespaces need root"
command -v ip >/dev/null || unsupported "ip (iproute2) is not installed"
command -v haproxy >/dev/null || unsupported "haproxy is not installed (make scale-test-deps)"
command -v curl >/dev/null && command -v python3 >/dev/null || unsupported "curl and python3 are needed"
# Names unique to this run: other runs (and other engineers' tests) may be going on.
id=$(printf %04x $((RANDOM % 65536)))
ns=rs$id
ip netns add "$ns-probe" 2>/dev/null || unsupported "this machine does not allow network namespaces (ip netns add failed)"
ip netns del "$ns-probe"

[ -n "$bin" ] || bin=$(swift build --show-bin-path)
[ -x "$bin/raptor-ev" ] || { echo "scale-test: no raptor-ev in $bin (swift build first)" >&2; exit 1; }
[ -n "$work" ] || work=$(mktemp -d /tmp/raptor-scale-test.XXXXXX)
mkdir -p "$work"
echo "scale-test: namespaces $ns-*, work directory $work, HAProxy retry-on $retries"

subnet=10.77.0
balancer=$subnet.2
client=$subnet.100
hosts=(h1 h2 h3)
declare -A address=([h1]=$subnet.11 [h2]=$subnet.12 [h3]=$subnet.13)
pids=()

cleanup() {
    set +e
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    # Two TERMs: the second ends the drain delay.
    for signal in TERM TERM; do
        for host in "${hosts[@]}"; do
            [ -f "$work/$host/raptor.pid" ] && kill -"$signal" "$(cat "$work/$host/raptor.pid")" 2>/dev/null
        done
        sleep 0.2
    done
    for _ in $(seq 50); do
        running=0
        for host in "${hosts[@]}"; do [ -f "$work/$host/raptor.pid" ] && running=1; done
        [ $running = 0 ] && break
        sleep 0.1
    done
    for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null; done
    for name in sw lb cl "${hosts[@]}"; do
        # Whatever still runs in a namespace of ours (a host's workers) goes with it.
        for pid in $(ip netns pids "$ns-$name" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
        ip netns del "$ns-$name" 2>/dev/null
    done
}
trap cleanup EXIT

in_ns() { local name=$1; shift; ip netns exec "$ns-$name" "$@"; }
# In the background, and $! is the command itself (ip netns exec execs it): not a subshell
# running the function, which a kill would not pass on.
spawn_in() { local name=$1; shift; ip netns exec "$ns-$name" "$@" & }

# ---- the network: a switch namespace with a bridge, one veth to each namespace ----
ip netns add "$ns-sw"
in_ns sw ip link add br0 type bridge
in_ns sw ip link set br0 up
in_ns sw ip link set lo up
attach() {  # NAME ADDRESS
    local name=$1 addr=$2
    ip netns add "$ns-$name"
    ip link add "v$id$name" type veth peer name eth0 netns "$ns-$name"
    ip link set "v$id$name" netns "$ns-sw"
    in_ns sw ip link set "v$id$name" master br0 up
    in_ns "$name" ip addr add "$addr/24" dev eth0
    in_ns "$name" ip link set eth0 up
    in_ns "$name" ip link set lo up
}
attach lb "$balancer"
attach cl "$client"
for host in "${hosts[@]}"; do attach "$host" "${address[$host]}"; done

# ---- the hosts: each its own copy of the build, its own logs ----
install_build() {  # HOST: a new build, renamed over the one in use (as an install does)
    cp "$bin/raptor-ev" "$work/$1/bin/raptor-ev.new"
    mv "$work/$1/bin/raptor-ev.new" "$work/$1/bin/raptor-ev"
}

start_host() {  # HOST
    local host=$1 dir=$work/$1
    spawn_in "$host" "$dir/bin/raptor-ev" serve "$dir/public" \
        --bind "tcp://${address[$host]}:9292?proxy_protocol=v2" --trusted-proxies "$balancer" \
        --metrics-bind "tcp://${address[$host]}:9300" --drain-delay 2s \
        --workers 2 --threads 2 --access-log --log-format json \
        --pidfile "$dir/raptor.pid" --stats-file "$dir/stats.json" \
        >>"$dir/access.log" 2>>"$dir/server.log"
}

for host in "${hosts[@]}"; do
    mkdir -p "$work/$host/bin" "$work/$host/public" "$work/$host/metrics"
    printf 'Hello from %s\n' "$host" >"$work/$host/public/index.html"
    install_build "$host"
    start_host "$host"
done

ready() { in_ns lb curl -sf -o /dev/null --max-time 1 "http://${address[$1]}:9300/readyz"; }
wait_for() {  # SECONDS DESCRIPTION COMMAND...
    local limit=$1 what=$2; shift 2
    local deadline=$((SECONDS + limit))
    until "$@"; do
        [ $SECONDS -lt $deadline ] || { echo "scale-test: timed out waiting for $what" >&2; exit 1; }
        sleep 0.1
    done
}
for host in "${hosts[@]}"; do wait_for 30 "$host to be ready" ready "$host"; done

# ---- the balancer ----
cat >"$work/haproxy.cfg" <<EOF
global
    maxconn 4096
    log stdout format raw local0 info
defaults
    mode http
    log global
    option httplog
    # Only the requests that went wrong (and retries), with their termination state.
    option dontlog-normal
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    retries 3
    retry-on $retries
    option redispatch
frontend clients
    bind $balancer:8080
    default_backend hosts
backend hosts
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    default-server check port 9300 inter 250ms fall 2 rise 2 send-proxy-v2
$(for host in "${hosts[@]}"; do echo "    server $host ${address[$host]}:9292"; done)
listen stats
    bind $balancer:8404
    stats enable
    stats uri /stats
EOF
spawn_in lb haproxy -f "$work/haproxy.cfg" -db >"$work/haproxy.log" 2>&1
pids+=($!)

up() {  # HOST: HAProxy sends it traffic
    in_ns lb curl -sf --max-time 1 "http://$balancer:8404/stats;csv" | grep -q "^hosts,$1,.*,UP,"
}
all_up() { for host in "${hosts[@]}"; do up "$host" || return 1; done; }
wait_for 30 "HAProxy to see every host up" all_up

# ---- the load and the scrapes, for the whole run ----
spawn_in cl python3 scale-test/load.py "$balancer" 8080 /index.html 16 "$work/load.jsonl"
load=$!
pids+=($load)
scrape() {
    local n=0
    while true; do
        for host in "${hosts[@]}"; do
            in_ns lb curl -s --max-time 1 "http://${address[$host]}:9300/metrics" \
                -o "$work/$host/metrics/$(printf %05d $n).txt" || true
        done
        n=$((n + 1))
        sleep 0.5
    done
}
scrape &
pids+=($!)

now() { date +%s.%N; }
step() {  # NAME COMMAND...: runs the step, records when it began and ended
    local name=$1 began; shift
    began=$(now)
    "$@"
    printf '%s\t%s\t%s\n' "$name" "$began" "$(now)" >>"$work/steps.tsv"
    echo "scale-test: $name done"
}
: >"$work/steps.tsv"

master() { cat "$work/$1/raptor.pid"; }
phase() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["phase"])' "$work/$1/stats.json"; }
settled() {  # HOST PHASE: every worker of the phase runs, none other, no restart going on
    python3 - "$work/$1/stats.json" "$2" <<'PY'
import json, sys
stats = json.load(open(sys.argv[1]))
workers = stats["workers"]
ok = (stats["phase"] == int(sys.argv[2]) and not stats["phased_restart"] and len(workers) == 2
      and all(w["state"] == "running" and w["phase"] == int(sys.argv[2]) for w in workers))
sys.exit(0 if ok else 1)
PY
}
old_workers_gone() {  # PID...
    for pid in "$@"; do kill -0 "$pid" 2>/dev/null && return 1; done
    return 0
}
workers_of() { python3 -c 'import json,sys; print(" ".join(str(w["pid"]) for w in json.load(open(sys.argv[1]))["workers"]))' "$work/$1/stats.json"; }

hot_restart() {  # HOST
    local host=$1 next old
    next=$(($(phase "$host") + 1))
    old=$(workers_of "$host")
    install_build "$host"
    kill -HUP "$(master "$host")"
    wait_for 60 "$host's hot restart" settled "$host" "$next"
    # shellcheck disable=SC2086
    wait_for 60 "$host's old workers to exit" old_workers_gone $old
    [ "$(readlink "/proc/$(master "$host")/exe")" = "$work/$host/bin/raptor-ev" ] \
        || { echo "scale-test: $host does not run the new build" >&2; exit 1; }
    wait_for 30 "$host to be up" up "$host"
}

phased_restart() {  # HOST
    local host=$1 next old
    next=$(($(phase "$host") + 1))
    old=$(workers_of "$host")
    kill -USR2 "$(master "$host")"
    wait_for 60 "$host's phased restart" settled "$host" "$next"
    # shellcheck disable=SC2086
    wait_for 60 "$host's old workers to exit" old_workers_gone $old
    wait_for 30 "$host to be up" up "$host"
}

stop_and_start() {  # HOST
    local host=$1 pid
    pid=$(master "$host")
    install_build "$host"
    kill -TERM "$pid"
    wait_for 60 "$host to stop" bash -c "! kill -0 $pid 2>/dev/null"
    start_host "$host"
    wait_for 30 "$host to be ready" ready "$host"
    wait_for 30 "$host to be up" up "$host"
}

sleep 2
step warm-up sleep 1
for host in "${hosts[@]}"; do step "hot restart $host" hot_restart "$host"; done
for host in "${hosts[@]}"; do step "phased restart $host" phased_restart "$host"; done
for host in "${hosts[@]}"; do step "stop and start $host" stop_and_start "$host"; done
step cool-down sleep 1

kill -TERM "$load"
wait "$load" || true
python3 scale-test/report.py "$work" "$client"
