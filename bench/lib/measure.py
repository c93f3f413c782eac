#!/usr/bin/env python3
"""One measurement: sample the server's process tree, run the load (wrk, or idle_conns.py),
sample again. Appends one JSON line to --out and echoes a one-line summary on stderr.

    measure.py --server NAME --scenario NAME --workers N --run N --pid SERVER_PID --out FILE
               --log OUTPUT_FILE --timeout SECONDS [--load wrk|idle] -- COMMAND ARGS...

--load wrk (default): COMMAND is wrk --latency; its text output is parsed (wrk_parse.py).
--load idle: COMMAND is idle_conns.py, which prints one JSON object: requests are the
connections that got their response, and the record gains "idle" (RSS before/after, KiB/conn).
--load s_time: COMMAND is openssl s_time; requests are the connections it made (one GET each).
--load h2load: COMMAND is h2load (-D: timed); requests are its succeeded ones, errors its failed,
errored, timed-out and non-2xx ones.

    measure.py --server NAME --scenario NAME --workers N --run N --out FILE --unavailable WHY

records a run that could not happen (the server did not serve the scenario: a build without
HTTP/2, say) as a failed one, so the report shows the row and why.
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
    ap.add_argument("--load", choices=("wrk", "idle", "s_time", "h2load"), default="wrk")
    ap.add_argument("--pid", type=int)
    ap.add_argument("--timeout", type=float)
    ap.add_argument("--unavailable", help="record a failed run for this reason, run nothing")
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd[:1] == ["--"] else a.cmd
    if a.unavailable:
        record_unavailable(a)
        return
    if a.pid is None or a.timeout is None:
        ap.error("--pid and --timeout are required")

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
    parsers = {"wrk": wrk_parse.parse, "idle": parse_idle, "s_time": parse_s_time, "h2load": parse_h2load}
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


def record_unavailable(a):
    rec = {
        "server": a.server, "scenario": a.scenario, "workers": a.workers, "run": a.run, "load": a.load,
        "wrk_rc": -1, "wrk_cmd": [], "requests": 0, "duration_s": None, "rps": None, "p50_us": None,
        "p99_us": None, "errors": {"unavailable": 1}, "errors_total": 1, "server_cpu_s": None,
        "server_cpu_us_per_req": None, "server_cpu_util": None, "client_cpu_util": None, "server_pids": [],
        "server_cpus_allowed": {}, "peak_rss_kib": 0, "server_alive_after": False, "unavailable": a.unavailable,
    }
    with open(a.out, "a") as f:
        f.write(json.dumps(rec) + "\n")
    print(f"[bench]   {a.scenario} w{a.workers} {a.server:14s} run {a.run}: not run: {a.unavailable}",
          file=sys.stderr)


def parse_h2load(output):
    """h2load's summary ("finished in 5.00s, 123.45 req/s", "requests: N total, N started,
    N done, N succeeded, N failed, N errored, N timeout", "status codes: N 2xx, ...") in
    wrk_parse's shape. h2load prints no percentiles: the latencies stay empty."""
    import re
    res = {"requests": None, "duration_s": None, "rps": None, "latency_us": {}, "errors": {}, "errors_total": 0}
    m = re.search(r"^finished in ([\d.]+)s, ([\d.]+) req/s", output, re.M)
    if m:
        res["duration_s"], res["rps"] = float(m.group(1)), float(m.group(2))
    m = re.search(r"^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, "
                  r"(\d+) errored, (\d+) timeout", output, re.M)
    if m:
        res["requests"] = int(m.group(4))
        res["errors"] = {"failed": int(m.group(5)), "errored": int(m.group(6)), "timeout": int(m.group(7))}
    m = re.search(r"^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", output, re.M)
    if m:
        res["errors"]["non2xx3xx"] = int(m.group(3)) + int(m.group(4))
    res["errors_total"] = sum(res["errors"].values())
    return res


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
