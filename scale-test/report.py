#!/usr/bin/env python3
"""The scale test's verdict: requests, failures and p99 latency per deploy step (from the
load generator's records and the steps' times), every host's access log naming the
client's real address, and every host's metrics scraped during the run.

Usage: report.py WORK_DIR CLIENT_ADDRESS
Prints a Markdown table and the checks; exits 1 when a check fails.
"""
import glob
import json
import os
import sys


def percentile(values, fraction):
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main():
    work, client = sys.argv[1], sys.argv[2]
    records = [json.loads(line) for line in open(os.path.join(work, "load.jsonl"))]
    steps = []
    for line in open(os.path.join(work, "steps.tsv")):
        name, start, end = line.rstrip("\n").split("\t")
        steps.append((name, float(start), float(end)))
    failed_checks = []

    print("| step | requests | failed | p50 (ms) | p99 (ms) | max (ms) |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, start, end in steps + [("whole run", float("-inf"), float("inf"))]:
        window = [r for r in records if start <= r["t"] < end]
        failures = [r for r in window if r["o"] != "200"]
        latencies = [r["s"] * 1000 for r in window]
        fmt = lambda v: "-" if v is None else f"{v:.1f}"
        print(f"| {name} | {len(window)} | {len(failures)} | {fmt(percentile(latencies, 0.5))} "
              f"| {fmt(percentile(latencies, 0.99))} | {fmt(max(latencies) if latencies else None)} |")

    failures = [r for r in records if r["o"] != "200"]
    outcomes = {}
    for r in failures:
        outcomes[r["o"]] = outcomes.get(r["o"], 0) + 1
    print()
    print(f"requests: {len(records)}, failed: {len(failures)} {outcomes if outcomes else ''}")
    if not records:
        failed_checks.append("the load generator recorded no request")
    if failures:
        failed_checks.append(f"{len(failures)} failed requests: {outcomes}")

    # Every host's access log: every line names the client, none the balancer.
    for log in sorted(glob.glob(os.path.join(work, "h[0-9]", "access.log"))):
        host = os.path.basename(os.path.dirname(log))
        addresses = {}
        lines = 0
        for line in open(log):
            if not line.startswith("{"):
                continue
            lines += 1
            address = json.loads(line).get("remote_addr")
            addresses[address] = addresses.get(address, 0) + 1
        print(f"{host} access log: {lines} lines, remote_addr {addresses}")
        if lines == 0 or set(addresses) != {client}:
            failed_checks.append(f"{host}'s access log does not show only {client}: {addresses}")

    # Every host's metrics were scraped during the run, and show what happened to it.
    for host_dir in sorted(glob.glob(os.path.join(work, "h[0-9]"))):
        host = os.path.basename(host_dir)
        scrapes = sorted(glob.glob(os.path.join(host_dir, "metrics", "*.txt")))
        good = 0
        restarts = {}
        for scrape in scrapes:
            text = open(scrape).read()
            if "raptor_cluster_requests_total" not in text:
                continue
            good += 1
            for line in text.splitlines():
                if line.startswith("raptor_cluster_worker_restarts_total{"):
                    reason = line.split('reason="')[1].split('"')[0]
                    restarts[reason] = max(restarts.get(reason, 0), float(line.rsplit(" ", 1)[1]))
        seen = {k: int(v) for k, v in restarts.items() if v}
        print(f"{host} metrics: {good} of {len(scrapes)} scrapes answered; restarts seen {seen}")
        if good < 5:
            failed_checks.append(f"{host}: only {good} metrics scrapes answered")
        for reason in ("hot_restart", "phased_restart"):
            if not restarts.get(reason):
                failed_checks.append(f"{host}: the metrics never counted a {reason}")

    # What HAProxy saw go wrong (it logs only anomalies): for each, its termination state
    # (section 8.5 of its configuration manual) and the server.
    lines = [line.rstrip() for line in open(os.path.join(work, "haproxy.log"))]
    anomalies = [line for line in lines if " hosts/" in line and "Server hosts/" not in line]
    transitions = [line.split("Server ")[1].split(",")[0] for line in lines if line.startswith("Server hosts/")]
    print(f"HAProxy: hosts went {', '.join(transitions) or 'nowhere'}")
    print(f"HAProxy logged {len(anomalies)} anomalous requests")
    for line in anomalies[:20]:
        print("  " + line)

    print()
    if failed_checks:
        for check in failed_checks:
            print(f"FAILED: {check}")
        return 1
    print("scale test passed: zero failed requests, real client addresses, metrics scraped")
    return 0


sys.exit(main())
