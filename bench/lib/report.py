#!/usr/bin/env python3
"""Summarise the runs: a markdown table on stdout and the full data as JSON.

    report.py META_JSON RUNS_JSONL OUT_JSON
Per (workers, scenario, server): medians over runs with [min-max], summed errors, CPU time per
request, req/s and CPU/request as ratios to nginx's in the same scenario and worker count (CPU/request
also to h2o's, the other native peer), peak RSS (max VmHWM sum); for the idle scenario, the RSS per
idle connection (and its ratio).
"""
import json
import statistics
import sys

BASELINE = "nginx"
PEER = "h2o"  # CPU/request is also given as a ratio to h2o's


def stats(values):
    vals = [v for v in values if v is not None]
    if not vals:
        return None
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals), "n": len(vals)}


def ratio(value, base):
    return value["median"] / base["median"] if (value and base and base["median"]) else None


def summarise(runs, order):
    groups = {}
    for r in runs:
        groups.setdefault((r.get("workers", 1), r["scenario"], r["server"]), []).append(r)
    rows = []
    for (workers, scenario, server), rs in sorted(
            groups.items(), key=lambda kv: (kv[0][0], order["scenario"].get(kv[0][1], 99),
                                            order["server"].get(kv[0][2], 99))):
        row = {
            "workers": workers, "scenario": scenario, "server": server, "runs": len(rs),
            "load": rs[0].get("load", "wrk"),
            "rps": stats(r["rps"] for r in rs),
            "p50_us": stats(r["p50_us"] for r in rs),
            "p99_us": stats(r["p99_us"] for r in rs),
            "errors_total": sum(r["errors_total"] for r in rs),
            "errors": {k: sum(r["errors"].get(k, 0) for r in rs)
                       for k in sorted({k for r in rs for k in r["errors"]})},
            "failed_runs": sum(1 for r in rs if r["wrk_rc"] != 0 or not r["requests"]),
            "unavailable": sorted({r["unavailable"] for r in rs if r.get("unavailable")}),
            "cpu_us_per_req": stats(r["server_cpu_us_per_req"] for r in rs),
            "server_cpu_util": stats(r["server_cpu_util"] for r in rs),
            "client_cpu_util": stats(r["client_cpu_util"] for r in rs),
            "peak_rss_kib": max(r["peak_rss_kib"] for r in rs),
        }
        idle = [r["idle"] for r in rs if r.get("idle")]
        if idle:
            row["idle"] = {
                "conns": max(i["conns"] for i in idle),
                "held": stats(i["held"] for i in idle),
                "rss_before_kib": stats(i["rss_before_kib"] for i in idle),
                "rss_after_kib": stats(i["rss_after_kib"] for i in idle),
                "kib_per_conn": stats(i["kib_per_conn"] for i in idle),
            }
        rows.append(row)
    base = {(row["workers"], row["scenario"]): row for row in rows if row["server"] == BASELINE}
    peer = {(row["workers"], row["scenario"]): row for row in rows if row["server"] == PEER}
    for row in rows:
        b = base.get((row["workers"], row["scenario"]))
        p = peer.get((row["workers"], row["scenario"]))
        row["cpu_ratio_vs_nginx"] = ratio(row["cpu_us_per_req"], b and b["cpu_us_per_req"])
        row["cpu_ratio_vs_h2o"] = ratio(row["cpu_us_per_req"], p and p["cpu_us_per_req"])
        row["rps_ratio_vs_nginx"] = ratio(row["rps"], b and b["rps"])
        if "idle" in row:
            row["idle"]["kib_per_conn_ratio_vs_nginx"] = ratio(
                row["idle"]["kib_per_conn"], b and b.get("idle", {}).get("kib_per_conn"))
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


def fmt_ratio(x):
    return f"{x:.2f}x" if x else "-"


def fmt_errors(r):
    kinds = ", ".join(f"{k} {v:,}" for k, v in r.get("errors", {}).items() if v)
    return (f"{r['errors_total']:,}" + (f" ({kinds})" if kinds else "")
            + (f" ({r['failed_runs']} failed runs)" if r["failed_runs"] else "")
            + "".join(f" (not run: {why})" for why in r.get("unavailable", [])))


def mib(kib):
    return f"{kib / 1024:.1f} MiB" if kib else "-"  # 0: never ran


def util(s):
    return f"{s['median']:.0%}" if s else "-"


def server_lines(meta, workers):
    """How each server was run at this worker count: its command per scenario (grouped)."""
    out = []
    starts = [s for s in meta.get("starts", []) if s["workers"] == workers]
    for server in meta["servers"]:
        cmds = {}
        for s in starts:
            if s["server"] == server:
                key = (s["cmd"], s["note"])
                cmds.setdefault(key, [])
                if s["scenario"] not in cmds[key]:
                    cmds[key].append(s["scenario"])
        for (cmd, note), scenarios in cmds.items():
            where = "" if len(cmds) == 1 else f" ({', '.join(scenarios)})"
            extra = f"; {note}" if note else ""
            out.append(f"- {server}{where}: `{cmd}`{extra}")
    return out


def markdown(meta, rows):
    out = ["# raptor-ev bench", ""]
    out.append(f"- command: `{meta['command']}`")
    out.append(f"- date: {meta['date']}  (git {meta['git']}); took {meta.get('elapsed_s', 0) / 60:.1f} min")
    out.append(f"- machine: nproc {meta['nproc']}, {meta['cpu_model']}, kernel {meta['kernel']}")
    out.append(f"- runs: {meta['runs']} x {meta['duration_s']} s per server and scenario, interleaved "
               f"between servers, after a {meta['warmup_s']} s warm-up; medians shown with [min-max]")
    for name, version in meta["versions"].items():
        out.append(f"- {name}: {version}")
    for name, args in meta["scenarios"].items():
        out.append(f"- scenario {name}: `{args}`")
    for workers in meta.get("workers", [1]):
        wrows = [r for r in rows if r["workers"] == workers]
        out.append("")
        out.append(f"## {workers} worker{'s' if workers > 1 else ''} per server")
        out.append("")
        out.append(f"- pinning: {meta.get('pinning', {}).get(str(workers), '?')}")
        out.extend(server_lines(meta, workers))
        table = [r for r in wrows if r["load"] in ("wrk", "s_time", "h2load")]
        if table:
            out.append("")
            out.append("| server | scenario | req/s median [min-max] | req/s vs nginx | p50 | p99 | errors "
                       "| CPU us/req median [min-max] | CPU/req vs nginx | CPU/req vs h2o | server CPU | wrk CPU "
                       "| peak RSS |")
            out.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
            for r in table:
                out.append(f"| {r['server']} | {r['scenario']} | {fmt_range(r['rps'])} "
                           f"| {fmt_ratio(r['rps_ratio_vs_nginx'])} | {fmt_time(r['p50_us'])} "
                           f"| {fmt_time(r['p99_us'])} | {fmt_errors(r)} "
                           f"| {fmt_range(r['cpu_us_per_req'], digits=2)} | {fmt_ratio(r['cpu_ratio_vs_nginx'])} "
                           f"| {fmt_ratio(r['cpu_ratio_vs_h2o'])} "
                           f"| {util(r['server_cpu_util'])} | {util(r['client_cpu_util'])} "
                           f"| {mib(r['peak_rss_kib'])} |")
        idle = [r for r in wrows if "idle" in r]
        if idle:
            out.append("")
            out.append("| server | scenario | idle conns held | RSS before | RSS with them | KiB/conn median [min-max] "
                       "| KiB/conn vs nginx | CPU us/conn | CPU/conn vs nginx | conns/s (client-bound) "
                       "| p50 | p99 | errors | peak RSS |")
            out.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
            for r in idle:
                i = r["idle"]
                held = f"{i['held']['median']:,.0f} / {i['conns']:,}" if i["held"] else "-"
                out.append(f"| {r['server']} | {r['scenario']} | {held} "
                           f"| {fmt_range(i['rss_before_kib'], 1 / 1024, 1).split(' ')[0]} MiB "
                           f"| {fmt_range(i['rss_after_kib'], 1 / 1024, 1).split(' ')[0]} MiB "
                           f"| {fmt_range(i['kib_per_conn'], digits=2)} "
                           f"| {fmt_ratio(i['kib_per_conn_ratio_vs_nginx'])} "
                           f"| {fmt_range(r['cpu_us_per_req'], digits=1).split(' ')[0]} "
                           f"| {fmt_ratio(r['cpu_ratio_vs_nginx'])} | {fmt_range(r['rps']).split(' ')[0]} "
                           f"| {fmt_time(r['p50_us'])} | {fmt_time(r['p99_us'])} | {fmt_errors(r)} "
                           f"| {r['peak_rss_kib'] / 1024:.1f} MiB |")
    out.append("")
    out.append("CPU us/req = server utime+stime (all its processes) during the run / requests wrk "
               "reports. server/wrk CPU = share of one core used; wrk near 100% means the client is "
               "the bottleneck and req/s no longer ranks the servers: compare CPU us/req. Ratios are "
               "to nginx (or h2o) in the same run, scenario and worker count (below 1.00x: cheaper "
               "for CPU and memory; above 1.00x: faster than nginx for req/s). Idle connections: "
               "KiB/conn = (RSS with the connections - RSS before) / connections held; CPU us/conn "
               "covers accept, the one request, holding and the close; conns/s and latencies there "
               "are bounded by the Python client.")
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
