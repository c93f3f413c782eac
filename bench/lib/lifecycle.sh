# shellcheck shell=bash
# Starting and stopping servers: pinned (or not), logged, bounded waits, always cleaned up.
# Uses: SERVER_PIN (command prefix, e.g. taskset -c 0; empty: not pinned), WORK_DIR, BENCH_DIR,
# the scenario's KIND and URL_PATH, STATIC_DIR/STATIC_FILE, POST_BYTES, and the
# server_<name> functions of servers.sh.

declare -A SERVER_PID=() SERVER_PORT=() SERVER_PATH=() SERVER_ETAG=()
# name -> why it does not serve this scenario (H2 only: a server without HTTP/2 is a failed
# row of the report, not the end of the bench); reset at each start.
declare -A SERVER_UNAVAILABLE=()
READY_TIMEOUT=${READY_TIMEOUT:-10}
STOP_TIMEOUT=${STOP_TIMEOUT:-5}

fn_name() { echo "${1//-/_}"; }

# start_server NAME: start it on a free port (under SERVER_PIN) and wait until it answers
# correctly for the scenario's KIND (at most READY_TIMEOUT s). Fails with the log tail
# otherwise. Appends {workers, scenario, server, cmd, path, note} to $WORK_DIR/starts.jsonl.
start_server() {
    local name=$1 port dir pid check=()
    port=$(free_port)
    dir="$WORK_DIR/w$WORKERS-$SCENARIO-$name"
    mkdir -p "$dir"
    SERVER_CMD=() SERVER_URL_PATH=$URL_PATH SERVER_NOTE=""
    "server_$(fn_name "$name")" "$port" "$dir"
    log "starting $name on 127.0.0.1:$port (${SERVER_PIN[*]:-not pinned}): ${SERVER_CMD[*]}"
    [[ -n $SERVER_NOTE ]] && log "  $name: $SERVER_NOTE"
    # taskset execs the server, so $! is the server's own pid; children inherit the affinity.
    "${SERVER_PIN[@]}" "${SERVER_CMD[@]}" >"$dir/stdout.log" 2>"$dir/stderr.log" </dev/null &
    pid=$!
    SERVER_PID[$name]=$pid SERVER_PORT[$name]=$port SERVER_PATH[$name]=$SERVER_URL_PATH
    python3 - "$WORK_DIR/starts.jsonl" "$WORKERS" "$SCENARIO" "$name" "$SERVER_URL_PATH" \
        "$SERVER_NOTE" "${SERVER_PIN[*]}" "$port" "$dir" "$WORK_DIR" "$REPO_ROOT" "${SERVER_CMD[@]}" <<'PY'
import json, sys
out, workers, scenario, name, path, note, pin, port, sdir, work, repo = sys.argv[1:12]
cmd = " ".join(sys.argv[12:]).replace(sdir, "$DIR").replace(work, "$WORK").replace(port, "PORT")
cmd = cmd.replace(repo + "/", "")  # paths in the repository: relative to its root
with open(out, "a") as f:
    f.write(json.dumps({"workers": int(workers), "scenario": scenario, "server": name, "cmd": cmd,
                        "path": path, "note": note, "pin": pin}) + "\n")
PY
    case $KIND in
        static | range | conditional)
            check=(--kind "$KIND" --path "$SERVER_URL_PATH" --file "$STATIC_DIR$URL_PATH") ;;
        post) check=(--kind post --path "$SERVER_URL_PATH" --body-size "$POST_BYTES") ;;
    esac
    ((TLS)) && check+=(--tls)
    ((H2)) && check+=(--h2)
    unset "SERVER_UNAVAILABLE[$name]"
    # The conditional check prints the server's ETag for the file: the load sends it back.
    # Exit status 3: up over HTTP/1.1 but not HTTP/2 (--h2): a failed row, not the end.
    local rc=0
    SERVER_ETAG[$name]=$(python3 "$BENCH_DIR/lib/wait_ready.py" "$port" "$pid" "$READY_TIMEOUT" "${check[@]}" \
        2>"$dir/ready.err") || rc=$?
    if ((rc == 3)); then
        SERVER_UNAVAILABLE[$name]=$(tail -n 1 "$dir/ready.err")
        warn "$name does not serve this scenario: ${SERVER_UNAVAILABLE[$name]}"
        stop_server "$name"
    elif ((rc != 0)); then
        cat "$dir/ready.err" >&2
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
