#!/usr/bin/env python3
"""Idle keep-alive connections: the server's memory per connection held.

    idle_conns.py --port PORT --pid SERVER_PID [--conns 10000] [--path /] [--concurrency 256]
                  [--settle 1] [--timeout 60] [--tls]

1. samples the server's process tree (VmRSS summed over its processes): "before";
2. opens --conns connections to 127.0.0.1:PORT, at most --concurrency of them being set up at
   a time, sends one keep-alive `GET PATH` on each and reads its whole response (200 with a
   Content-Length body);
3. waits --settle seconds with every connection idle, samples the server again ("after"),
   and counts the connections the server has closed meanwhile (EOF): "dropped";
4. closes them all with RST (SO_LINGER 0: no TIME_WAIT left to exhaust the ephemeral ports).
Prints one JSON object: conns, ok, held, dropped, errors by kind, setup_s, conns_per_s,
latency percentiles (connect + request + response, in us: bounded by this client, not the
server), rss_before_kib, rss_after_kib, kib_per_conn = (after - before) / held.
Everything is bounded by --timeout. Needs more than --conns file descriptors (ulimit -n).
With --tls each connection speaks TLS (no certificate check); give --settle a few seconds,
as a server may give back an idle TLS connection's buffers only after a while.
"""
import argparse
import asyncio
import json
import os
import resource
import socket
import ssl
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import proctree  # noqa: E402


def percentile(sorted_vals, p):
    if not sorted_vals:
        return None
    k = min(len(sorted_vals) - 1, max(0, round(p / 100 * (len(sorted_vals) - 1))))
    return sorted_vals[k]


async def open_one(a, request, sem, conns, latencies, errors):
    async with sem:
        t0 = time.monotonic()
        try:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", a.port, ssl=a.tls_context, server_hostname="localhost" if a.tls_context else None)
        except (OSError, ssl.SSLError):
            errors["connect"] += 1
            return
        try:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split()[1])
            length = None
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
                elif name.strip().lower() == "connection" and "close" in value.lower():
                    raise ValueError("the server closes the connection")
            if status != 200 or length is None:
                raise ValueError(f"status {status}, Content-Length {length}")
            await reader.readexactly(length)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, IndexError):
            errors["response"] += 1
            writer.close()
            return
        latencies.append((time.monotonic() - t0) * 1e6)
        conns.append((reader, writer))


def reset_close(writer):
    sock = writer.get_extra_info("socket")
    try:
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    writer.close()


async def run(a):
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < a.conns + 64:
        sys.exit(f"idle_conns: ulimit -n is {soft}, need more than {a.conns + 64} descriptors")
    request = f"GET {a.path} HTTP/1.1\r\nHost: 127.0.0.1:{a.port}\r\n\r\n".encode()
    before = proctree.sample(a.pid)
    if not before["pids"]:
        sys.exit(f"idle_conns: server pid {a.pid} is not running")
    sem = asyncio.Semaphore(a.concurrency)
    conns, latencies = [], []
    errors = {"connect": 0, "response": 0, "dropped": 0, "timeout": 0}
    t0 = time.monotonic()
    tasks = [asyncio.ensure_future(open_one(a, request, sem, conns, latencies, errors))
             for _ in range(a.conns)]
    done, pending = await asyncio.wait(tasks, timeout=a.timeout)
    for t in pending:
        t.cancel()
    errors["timeout"] = len(pending)
    if pending:
        await asyncio.wait(pending, timeout=5)
    setup_s = time.monotonic() - t0

    await asyncio.sleep(a.settle)
    after = proctree.sample(a.pid)
    held = 0
    for reader, _ in conns:
        if reader.at_eof() or reader.exception() is not None:
            errors["dropped"] += 1
        else:
            held += 1
    for _, writer in conns:
        reset_close(writer)
    await asyncio.sleep(0)

    latencies.sort()
    rss_before, rss_after = before["rss_kib"], after["rss_kib"]
    return {
        "conns": a.conns, "ok": len(conns), "held": held,
        "errors": errors, "errors_total": sum(errors.values()),
        "setup_s": setup_s, "conns_per_s": len(conns) / setup_s if setup_s else None,
        "p50_us": percentile(latencies, 50), "p99_us": percentile(latencies, 99),
        "rss_before_kib": rss_before, "rss_after_kib": rss_after,
        "kib_per_conn": (rss_after - rss_before) / held if held else None,
        "server_pids_after": after["pids"],
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--conns", type=int, default=10000)
    ap.add_argument("--path", default="/")
    ap.add_argument("--concurrency", type=int, default=256)
    ap.add_argument("--settle", type=float, default=1.0)
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--tls", action="store_true")
    a = ap.parse_args()
    a.tls_context = None
    if a.tls:
        a.tls_context = ssl.create_default_context()
        a.tls_context.check_hostname = False
        a.tls_context.verify_mode = ssl.CERT_NONE
    print(json.dumps(asyncio.run(run(a))))


if __name__ == "__main__":
    main()
