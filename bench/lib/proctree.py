#!/usr/bin/env python3
"""A server's process tree from /proc: its pids, CPU time and peak RSS.

    proctree.py pids PID      the pid and all its descendants, one per line
    proctree.py sample PID    JSON: {"pids", "ticks" (utime+stime), "hwm_kib" (sum of VmHWM),
                              "rss_kib" (sum of VmRSS), "cpus" (Cpus_allowed_list of each pid)}
"""
import json
import os
import sys


def _stat_fields(pid):
    with open(f"/proc/{pid}/stat") as f:
        data = f.read()
    # comm (field 2) may contain spaces and parens: split after its closing paren.
    rest = data[data.rindex(")") + 2:].split()
    return rest  # rest[0] is field 3 (state)


def tree(root):
    """root and its descendants (by ppid), root first."""
    children = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            ppid = int(_stat_fields(name)[1])  # field 4
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid in out or not os.path.exists(f"/proc/{pid}"):
            continue
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def _status(pid):
    res = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, val = line.partition(":")
            res[key] = val.strip()
    return res


def sample(root):
    pids, ticks, hwm, rss, cpus = [], 0, 0, 0, {}
    for pid in tree(root):
        try:
            fields = _stat_fields(pid)
            st = _status(pid)
        except OSError:  # exited meanwhile
            continue
        pids.append(pid)
        ticks += int(fields[11]) + int(fields[12])  # fields 14 (utime) and 15 (stime)
        hwm += int(st.get("VmHWM", "0 kB").split()[0])
        rss += int(st.get("VmRSS", "0 kB").split()[0])
        cpus[str(pid)] = st.get("Cpus_allowed_list", "?")
    return {"pids": pids, "ticks": ticks, "hwm_kib": hwm, "rss_kib": rss, "cpus": cpus}


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("pids", "sample"):
        sys.exit(__doc__)
    root = int(sys.argv[2])
    if sys.argv[1] == "pids":
        print("\n".join(map(str, tree(root))))
    else:
        print(json.dumps(sample(root)))


if __name__ == "__main__":
    main()
