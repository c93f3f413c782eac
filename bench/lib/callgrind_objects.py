#!/usr/bin/env python3
"""Instructions per request by shared object, from two callgrind outputs: a run that
served N requests and one that served 0. Shows where a per-request cost went (the
engine in the binary, libev, libc, OpenSSL, the Swift runtime).

Usage: callgrind_objects.py ZERO.out N.out N
"""
import collections
import os
import re
import subprocess
import sys

LINE = re.compile(r"^\s*([\d,]+)\s+\([\s\d.]+%\)\s+.*\[(.+)\]\s*$")


def by_object(path: str) -> dict:
    text = subprocess.run(
        ["callgrind_annotate", "--threshold=100", path], capture_output=True, text=True, check=True
    ).stdout
    totals = collections.Counter()
    for line in text.splitlines():
        match = LINE.match(line)
        if match:
            totals[os.path.basename(match.group(2))] += int(match.group(1).replace(",", ""))
    return totals


def main() -> int:
    zero, loaded, count = by_object(sys.argv[1]), by_object(sys.argv[2]), int(sys.argv[3])
    rows = sorted(((loaded[name] - zero[name]) / count, name) for name in set(zero) | set(loaded))
    for cost, name in reversed(rows):
        if abs(cost) >= 1:
            print(f"  {cost:9.0f}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
