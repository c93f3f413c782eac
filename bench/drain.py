#!/usr/bin/env python3
"""Keep-alive clients through USR2, HUP, TTOU and TERM (issue 16): what each loses.

For each --threads mode and each signal, starts raptor-testapp (2 workers; `single` is
--workers 0 and TERM), puts wrk -c32 (GET and POST in turn, Tests/Clients/drain.lua)
and the raw-socket client (Tests/Clients/drain_client.py: busy, pipelined, paced and
idle keep-alive connections, every response checked) on it, sends the signal once both
run, waits until the restart finished (or the server exited), and prints one line of
counts. Both clients replace a connection the server closed, as real ones do.

    python3 bench/drain.py [--binary .build/release/raptor-testapp] [--threads 0,5]
                           [--signals USR2,HUP,TTOU,TERM,single] [--rounds 1] [--grace 0.3]
                           [--flags "--shutdown-idle-grace 300ms"]

wrk: requests answered, and its errors (read = a request whose connection closed before
any response). client: see drain_client.py (lost_reused = requests lost on a reused
keep-alive connection, the loss issue 16 is about).
"""
import argparse
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLIENT = os.path.join(ROOT, "Tests", "Clients", "drain_client.py")
LUA = os.path.join(ROOT, "Tests", "Clients", "drain.lua")


def events(log_path, message):
    found = []
    with open(log_path, errors="replace") as log:
        for line in log:
            if line.startswith("{") and f'"message":"{message}"' in line:
                found.append(json.loads(line))
    return found


def wait_for(condition, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return
        time.sleep(0.05)
    raise SystemExit(f"drain.py: timed out waiting for {what}")


def run_one(args, threads, signal_name, directory, round_number):
    single = signal_name == "single"
    name = f"{threads}-{signal_name}-{round_number}"
    log_path = os.path.join(directory, f"server-{name}.log")
    command = [args.binary, "--bind", "tcp://127.0.0.1:0", "--workers", "0" if single else "2",
               "--threads", str(threads), "--log-format", "json", "--shutdown-timeout", "10s"]
    command += shlex.split(args.flags)
    with open(log_path, "w") as log:
        server = subprocess.Popen(command, stderr=log, stdout=subprocess.DEVNULL)
    ready = "worker booted" if single else "all workers booted"
    wait_for(lambda: events(log_path, ready) and events(log_path, "listening"), 30, "the server to boot")
    port = int(re.search(r":(\d+)$", events(log_path, "listening")[0]["url"]).group(1))

    until = os.path.join(directory, f"until-{name}")
    # wrk runs until the stop is over: SIGINT ends it with its summary.
    wrk = subprocess.Popen(["wrk", "-t1", "-c32", "-d300s", "-s", LUA, f"http://127.0.0.1:{port}/"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    client = subprocess.Popen([sys.executable, CLIENT, "--port", str(port), "--pid", str(server.pid),
                               "--signal", "TERM" if single else signal_name, "--grace", str(args.grace),
                               "--warmup", "1.5", "--until-file", until, "--deadline", "90"],
                              stdout=subprocess.PIPE, text=True)
    if signal_name == "USR2":
        wait_for(lambda: events(log_path, "phased restart finished"), 60, "the phased restart")
    elif signal_name == "HUP":
        wait_for(lambda: len(events(log_path, "old worker exited (hot restart)")) >= 2, 60, "the hot restart")
    elif signal_name == "TTOU":
        wait_for(lambda: any(e.get("reason") == "worker removed (TTOU)" for e in events(log_path, "worker exited")),
                 60, "the removed worker to exit")
    else:
        server.wait(timeout=60)
    time.sleep(1)
    open(until, "w").close()
    wrk.send_signal(signal.SIGINT)
    client_out, _ = client.communicate(timeout=120)
    wrk_out, _ = wrk.communicate(timeout=120)
    if server.poll() is None:
        server.terminate()
        server.wait(timeout=30)
    wrk_counts = {}
    for line in wrk_out.splitlines():
        if line.startswith("{"):
            wrk_counts = json.loads(line)
    return wrk_counts, json.loads(client_out)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=os.path.join(ROOT, ".build", "release", "raptor-testapp"))
    parser.add_argument("--threads", default="0,5")
    parser.add_argument("--signals", default="USR2,HUP,TTOU,TERM,single")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--grace", type=float, default=0.3, help="the idle grace the client allows")
    parser.add_argument("--flags", default="", help="more flags for the server")
    parser.add_argument("--json", action="store_true", help="one JSON object per run instead of a table")
    args = parser.parse_args()
    keys = ["requests", "answered", "lost_reused", "lost_new", "truncated", "bad", "closed_after_close",
            "closed_idle", "closed_idle_early", "resets", "unprocessed_after_close", "refused"]
    if not args.json:
        print("threads signal | wrk: requests read write connect non2xx | client: " + " ".join(keys))
    with tempfile.TemporaryDirectory(prefix="raptor-drain-") as directory:
        for threads in [int(t) for t in args.threads.split(",")]:
            for signal_name in args.signals.split(","):
                for round_number in range(args.rounds):
                    wrk_counts, client = run_one(args, threads, signal_name, directory, round_number)
                    if args.json:
                        print(json.dumps({"threads": threads, "signal": signal_name, "wrk": wrk_counts,
                                          "client": client}), flush=True)
                        continue
                    w = [wrk_counts.get(k, "?") for k in ("requests", "read", "write", "connect", "status")]
                    c = [client.get(k, 0) for k in keys]
                    print(f"{threads} {signal_name} | wrk: {' '.join(map(str, w))} | client: {' '.join(map(str, c))}",
                          flush=True)
                    for example in client.get("problem_examples", [])[:3]:
                        print(f"    {example}", flush=True)


if __name__ == "__main__":
    main()
