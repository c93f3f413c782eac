#!/usr/bin/env python3
"""Summarise the runs: a markdown table on stdout and the full data as JSON.

    report.py META_JSON RUNS_JSONL OUT_JSON
Per (scenario, server): medians over runs with [min-max], summed errors, CPU time per
request and its ratio to nginx's in the same scenario, peak RSS (max VmHWM sum).
"""
import json
import statistics
import sys

BASELINE = "nginx"


def stats(values):
    vals = [v for v in values if v is not None]
    if not vals:
        return None
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals), "n": len(vals)}


def summarise(runs, order):
    groups = {}
    for r in runs:
        groups.setdefault((r["scenario"], r["server"]), []).append(r)
    rows = []
    for (scenario, server), rs in sorted(groups.items(),
                                         key=lambda kv: (order["scenario"].get(kv[0][0], 99),
                                                         order["server"].get(kv[0][1], 99))):
        rows.append({
            "scenario": scenario, "server": server, "runs": len(rs),
            "rps": stats(r["rps"] for r in rs),
            "p50_us": stats(r["p50_us"] for r in rs),
            "p99_us": stats(r["p99_us"] for r in rs),
            "errors_total": sum(r["errors_total"] for r in rs),
            "failed_runs": sum(1 for r in rs if r["wrk_rc"] != 0 or not r["requests"]),
            "cpu_us_per_req": stats(r["server_cpu_us_per_req"] for r in rs),
            "server_cpu_util": stats(r["server_cpu_util"] for r in rs),
            "client_cpu_util": stats(r["client_cpu_util"] for r in rs),
            "peak_rss_kib": max(r["peak_rss_kib"] for r in rs),
        })
    base = {row["scenario"]: row["cpu_us_per_req"]["median"]
            for row in rows if row["server"] == BASELINE and row["cpu_us_per_req"]}
    for row in rows:
        b, c = base.get(row["scenario"]), row["cpu_us_per_req"]
        row["cpu_ratio_vs_nginx"] = c["median"] / b if (b and c) else None
    return rows


def fmt_range(s, scale=1.0, digits=0):
    if not s:
        return "-"
    f = lambda v: f"{v * scale:,.{digits}f}"  # noqa: E731
    return f"{f(s['median'])} [{f(s['min'])}-{f(s['max'])}]"


def fmt_time(s):
    if not s:
        return "-"
    us = s["median"]
    return f"{us / 1e3:.2f} ms" if us >= 1000 else f"{us:.0f} us"


def markdown(meta, rows):
    out = ["# raptor-ev bench", ""]
    out.append(f"- command: `{meta['command']}`")
    out.append(f"- date: {meta['date']}  (git {meta['git']})")
    out.append(f"- machine: nproc {meta['nproc']}, {meta['cpu_model']}, kernel {meta['kernel']}")
    out.append(f"- pinning: server (all its processes and threads) on CPU {meta['server_cpu']} "
               f"(taskset -c {meta['server_cpu']}), wrk on CPU {meta['wrk_cpu']} (taskset -c {meta['wrk_cpu']})")
    out.append(f"- runs: {meta['runs']} x {meta['duration_s']} s per server and scenario, interleaved "
               f"between servers, after a {meta['warmup_s']} s warm-up; medians shown with [min-max]")
    for name, version in meta["versions"].items():
        out.append(f"- {name}: {version}")
    for name, args in meta["scenarios"].items():
        out.append(f"- scenario {name}: `{args}`")
    out.append("")
    out.append("| server | scenario | req/s median [min-max] | p50 | p99 | errors "
               "| CPU us/req median [min-max] | CPU/req vs nginx | server CPU | wrk CPU | peak RSS |")
    out.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        ratio = f"{r['cpu_ratio_vs_nginx']:.2f}x" if r["cpu_ratio_vs_nginx"] else "-"
        errors = str(r["errors_total"]) + (f" ({r['failed_runs']} failed runs)" if r["failed_runs"] else "")
        util = lambda s: f"{s['median']:.0%}" if s else "-"  # noqa: E731
        out.append(f"| {r['server']} | {r['scenario']} | {fmt_range(r['rps'])} | {fmt_time(r['p50_us'])} "
                   f"| {fmt_time(r['p99_us'])} | {errors} | {fmt_range(r['cpu_us_per_req'], digits=2)} "
                   f"| {ratio} | {util(r['server_cpu_util'])} | {util(r['client_cpu_util'])} "
                   f"| {r['peak_rss_kib'] / 1024:.1f} MiB |")
    out.append("")
    out.append("CPU us/req = server utime+stime (all its processes) during the wrk run / requests "
               "wrk reports. server/wrk CPU = share of one core used; wrk near 100% means the client "
               "is the bottleneck and req/s no longer ranks the servers: compare CPU us/req.")
    return "\n".join(out)


def main():
    meta_path, runs_path, out_path = sys.argv[1:4]
    with open(meta_path) as f:
        meta = json.load(f)
    with open(runs_path) as f:
        runs = [json.loads(line) for line in f if line.strip()]
    order = {"server": {s: i for i, s in enumerate(meta["servers"])},
             "scenario": {s: i for i, s in enumerate(meta["scenarios"])}}
    rows = summarise(runs, order)
    with open(out_path, "w") as f:
        json.dump({"meta": meta, "summary": rows, "runs": runs}, f, indent=1)
        f.write("\n")
    print(markdown(meta, rows))


if __name__ == "__main__":
    main()
