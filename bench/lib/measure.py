#!/usr/bin/env python3
"""One measurement: sample the server's process tree, run the load (wrk, or idle_conns.py),
sample again. Appends one JSON line to --out and echoes a one-line summary on stderr.

    measure.py --server NAME --scenario NAME --workers N --run N --pid SERVER_PID --out FILE
               --log OUTPUT_FILE --timeout SECONDS [--load wrk|idle] -- COMMAND ARGS...

--load wrk (default): COMMAND is wrk --latency; its text output is parsed (wrk_parse.py).
--load idle: COMMAND is idle_conns.py, which prints one JSON object: requests are the
connections that got their response, and the record gains "idle" (RSS before/after, KiB/conn).
--load s_time: COMMAND is openssl s_time; requests are the connections it made (one GET each).
"""
import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import proctree  # noqa: E402
import wrk_parse  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")


def main():
    ap = argparse.ArgumentParser()
    for opt in ("--server", "--scenario", "--out", "--log"):
        ap.add_argument(opt, required=True)
    ap.add_argument("--run", type=int, required=True)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--load", choices=("wrk", "idle", "s_time"), default="wrk")
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--timeout", type=float, required=True)
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd[:1] == ["--"] else a.cmd

    before = proctree.sample(a.pid)
    if not before["pids"]:
        sys.exit(f"server {a.server} (pid {a.pid}) is not running")
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, timeout=a.timeout)
        output, rc = proc.stdout, proc.returncode
    except subprocess.TimeoutExpired as e:  # run() kills the child
        output, rc = (e.stdout or b"").decode(errors="replace") + "\n[timeout]\n", -1
    wall = time.monotonic() - t0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    after = proctree.sample(a.pid)

    with open(a.log, "w") as f:
        f.write(" ".join(cmd) + "\n" + output)
    parsers = {"wrk": wrk_parse.parse, "idle": parse_idle, "s_time": parse_s_time}
    w = parsers[a.load](output)
    server_cpu_s = (after["ticks"] - before["ticks"]) / CLK_TCK
    client_cpu_s = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
    reqs = w["requests"] or 0
    rec = {
        "server": a.server, "scenario": a.scenario, "workers": a.workers, "run": a.run, "load": a.load,
        "wrk_rc": rc, "wrk_cmd": cmd,
        "requests": reqs, "duration_s": w["duration_s"], "rps": w["rps"],
        "p50_us": w["latency_us"].get("p50"), "p99_us": w["latency_us"].get("p99"),
        "errors": w["errors"], "errors_total": w["errors_total"],
        "server_cpu_s": server_cpu_s,
        "server_cpu_us_per_req": server_cpu_s * 1e6 / reqs if reqs else None,
        "server_cpu_util": server_cpu_s / wall if wall else None,
        "client_cpu_util": client_cpu_s / wall if wall else None,
        "server_pids": after["pids"], "server_cpus_allowed": after["cpus"],
        "peak_rss_kib": after["hwm_kib"],
        "server_alive_after": bool(after["pids"]),
    }
    if "idle" in w:
        rec["idle"] = w["idle"]
    with open(a.out, "a") as f:
        f.write(json.dumps(rec) + "\n")

    if rc != 0 or not reqs:
        print(f"[bench]   {a.server} run {a.run}: {a.load} failed (rc {rc}), see {a.log}", file=sys.stderr)
        sys.exit(1)
    extra = ""
    if "idle" in w:
        i = w["idle"]
        extra = (f"  held {i['held']}  RSS {i['rss_before_kib'] / 1024:.1f} -> {i['rss_after_kib'] / 1024:.1f} MiB"
                 f"  {i['kib_per_conn'] or 0:.2f} KiB/conn")
    print(f"[bench]   {a.scenario} w{a.workers} {a.server:14s} run {a.run}: {w['rps'] or 0:10.0f} req/s  "
          f"p99 {(w['latency_us'].get('p99') or 0) / 1e3:6.2f} ms  "
          f"{rec['server_cpu_us_per_req']:6.2f} us CPU/req  "
          f"server {server_cpu_s / wall:4.0%} wrk {client_cpu_s / wall:4.0%} of a core  "
          f"errors {w['errors_total']}{extra}", file=sys.stderr)


def parse_s_time(output):
    """openssl s_time's "N connections in T real seconds" line, in wrk_parse's shape."""
    for line in reversed(output.splitlines()):
        words = line.split()
        if len(words) >= 5 and words[1] == "connections" and words[4] == "real":
            count, seconds = int(words[0]), float(words[3])
            return {"requests": count, "duration_s": seconds, "rps": count / seconds if seconds else None,
                    "latency_us": {}, "errors": {}, "errors_total": 0}
    return {"requests": None, "duration_s": None, "rps": None, "latency_us": {}, "errors": {},
            "errors_total": 0}


def parse_idle(output):
    """idle_conns.py's JSON (its last line) in wrk_parse's shape, plus "idle"."""
    try:
        d = json.loads(output.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"requests": None, "duration_s": None, "rps": None, "latency_us": {},
                "errors": {}, "errors_total": 0}
    return {"requests": d["ok"], "duration_s": d["setup_s"], "rps": d["conns_per_s"],
            "latency_us": {"p50": d["p50_us"], "p99": d["p99_us"]},
            "errors": d["errors"], "errors_total": d["errors_total"],
            "idle": {k: d[k] for k in ("conns", "ok", "held", "rss_before_kib", "rss_after_kib",
                                       "kib_per_conn", "setup_s")}}


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # Ctrl-C: die of SIGINT so that the calling shell stops too
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
