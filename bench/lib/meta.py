#!/usr/bin/env python3
"""Describe the run and the machine as JSON (for the report header and the results file).

    meta.py KEY=VALUE...    values that parse as JSON are stored as such, others as strings
"""
import datetime
import json
import os
import platform
import subprocess
import sys


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def git_rev(repo):
    try:
        return subprocess.run(["git", "-C", repo, "describe", "--always", "--dirty"],
                              capture_output=True, text=True, timeout=10).stdout.strip() or "?"
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def main():
    meta = {}
    for arg in sys.argv[1:]:
        key, _, val = arg.partition("=")
        try:
            meta[key] = json.loads(val)
        except json.JSONDecodeError:
            meta[key] = val
    meta.setdefault("date", datetime.datetime.now().astimezone().isoformat(timespec="seconds"))
    meta["nproc"] = os.cpu_count() if "nproc" not in meta else meta["nproc"]
    meta["cpu_model"] = cpu_model()
    meta["kernel"] = platform.release()
    meta["clk_tck"] = os.sysconf("SC_CLK_TCK")
    meta["git"] = git_rev(meta.get("repo", "."))
    print(json.dumps(meta, indent=1))


if __name__ == "__main__":
    main()
