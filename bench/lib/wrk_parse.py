#!/usr/bin/env python3
"""Parse the text output of `wrk --latency` into a dict (usable as a module or a CLI:
`wrk_parse.py FILE` prints JSON)."""
import json
import re
import sys

_TIME_US = {"us": 1.0, "ms": 1e3, "s": 1e6, "m": 60e6, "h": 3600e6}


def _us(value, unit):
    return float(value) * _TIME_US[unit]


def parse(text):
    res = {"requests": None, "duration_s": None, "rps": None, "latency_us": {},
           "errors": {"connect": 0, "read": 0, "write": 0, "timeout": 0, "non2xx3xx": 0}}
    m = re.search(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h)", text, re.M)
    if m:
        res["requests"] = int(m.group(1))
        res["duration_s"] = _us(m.group(2), m.group(3)) / 1e6
    m = re.search(r"^Requests/sec:\s*([\d.]+)", text, re.M)
    if m:
        res["rps"] = float(m.group(1))
    dist = text.split("Latency Distribution", 1)
    if len(dist) == 2:
        for pct, val, unit in re.findall(r"^\s*(\d+)%\s+([\d.]+)(us|ms|s|m|h)\s*$", dist[1], re.M):
            # wrk prints 0.00us for a percentile it could not compute (it happens with
            # pipelining, whose latencies are per batch): no data, not zero.
            res["latency_us"][f"p{pct}"] = _us(val, unit) or None
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        for key, val in zip(("connect", "read", "write", "timeout"), m.groups()):
            res["errors"][key] = int(val)
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if m:
        res["errors"]["non2xx3xx"] = int(m.group(1))
    res["errors_total"] = sum(res["errors"].values())
    return res


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        print(json.dumps(parse(f.read()), indent=1))
