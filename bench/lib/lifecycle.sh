# shellcheck shell=bash
# Starting and stopping servers: pinned, logged, bounded waits, always cleaned up.
# Uses: SERVER_CPU, WORK_DIR, BENCH_DIR, and the server_<name> functions of servers.sh.

declare -A SERVER_PID=() SERVER_PORT=()
READY_TIMEOUT=${READY_TIMEOUT:-10}
STOP_TIMEOUT=${STOP_TIMEOUT:-5}

fn_name() { echo "${1//-/_}"; }

# start_server NAME: start it on a free port under taskset -c $SERVER_CPU and wait until it
# answers GET / correctly (at most READY_TIMEOUT s). Fails with the log tail otherwise.
start_server() {
    local name=$1 port dir pid
    port=$(free_port)
    dir="$WORK_DIR/$name"
    mkdir -p "$dir"
    SERVER_CMD=()
    "server_$(fn_name "$name")" "$port" "$dir"
    log "starting $name on 127.0.0.1:$port (CPU $SERVER_CPU): ${SERVER_CMD[*]}"
    # taskset execs the server, so $! is the server's own pid; children inherit the affinity.
    taskset -c "$SERVER_CPU" "${SERVER_CMD[@]}" >"$dir/stdout.log" 2>"$dir/stderr.log" </dev/null &
    pid=$!
    SERVER_PID[$name]=$pid SERVER_PORT[$name]=$port
    if ! python3 "$BENCH_DIR/lib/wait_ready.py" "$port" "$pid" "$READY_TIMEOUT"; then
        warn "$name failed to start; last lines of its output:"
        tail -n 20 "$dir/stdout.log" "$dir/stderr.log" "$dir/logs/error.log" 2>/dev/null >&2
        die "$name is not serving on port $port"
    fi
}

# stop_server NAME: SIGTERM the server, wait up to STOP_TIMEOUT s for its whole tree to exit,
# then SIGKILL what remains (by pid, only processes we started and their descendants).
stop_server() {
    local name=$1 pid=${SERVER_PID[$1]:-} pids p deadline alive
    [[ -n $pid ]] || return 0
    unset "SERVER_PID[$name]"
    mapfile -t pids < <(python3 "$BENCH_DIR/lib/proctree.py" pids "$pid" 2>/dev/null)
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + STOP_TIMEOUT))
    while :; do
        alive=()
        for p in "${pids[@]}"; do
            [[ -e /proc/$p && $(cut -d' ' -f3 "/proc/$p/stat" 2>/dev/null) != Z ]] && alive+=("$p")
        done
        ((${#alive[@]})) || break
        if ((SECONDS >= deadline)); then
            warn "$name did not exit within ${STOP_TIMEOUT}s after SIGTERM; SIGKILL ${alive[*]}"
            kill -KILL "${alive[@]}" 2>/dev/null || true
            break
        fi
        sleep 0.1
    done
    wait "$pid" 2>/dev/null || true
    return 0
}

stop_all_servers() {
    local name
    for name in "${!SERVER_PID[@]}"; do stop_server "$name"; done
}
