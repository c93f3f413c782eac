#!/usr/bin/env python3
"""The race left by a graceful stop: a request sent just as an idle keep-alive connection
is closed (issue 16). How wide is the window, and how often does a client fall into it?

Each round starts raptor-testapp as one process (--workers 0) with --shutdown-idle-grace
GRACE, parks --connections kept-alive connections (one GET each), sends TERM at t0, and
sends each connection's next request at t0 + GRACE + an offset drawn uniformly from
[--before, --after] milliseconds: right across the moment the worker closes idle
connections. A careful client (the default; what Go's transport and urllib3 do) first
looks whether the server already closed the connection (end of stream pending) and if so
does not send on it; --naive sends regardless. Each request ends up:
  answered    a response (with Connection: close): it arrived before the close
  saw-close   not sent: the client saw the close first (it would reconnect)
  lost        sent, and the connection closed with no byte of a response
The window is the span of offsets a request is lost in: about lost / requests x the swept
span. A client that sends on an idle connection at a random moment, once every T seconds
on average, falls into it with a probability of about window / T per idle close.

    python3 bench/drain_race.py [--binary .build/release/raptor-testapp] [--rounds 20]
                                [--connections 100] [--grace 0.2] [--before 3] [--after 5]
                                [--threads 0] [--naive]
"""
import argparse
import json
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import time

from drain import ROOT, events, wait_for

REQUEST = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"


def read_response(sock, timeout):
    """'answered' or 'lost' (nothing received before the end of the stream or a reset)."""
    sock.settimeout(timeout)
    received = b""
    try:
        while b"\r\n\r\n" not in received:
            data = sock.recv(65536)
            if not data:
                break
            received += data
    except (ConnectionResetError, socket.timeout):
        pass
    if b"\r\n\r\n" in received:
        return "answered"
    return "lost" if not received else "truncated"


def run_round(args, directory, seed):
    log_path = os.path.join(directory, f"server-{seed}.log")
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [args.binary, "--bind", "tcp://127.0.0.1:0", "--workers", "0", "--threads", str(args.threads),
             "--log-format", "json", "--shutdown-timeout", "10s", "--shutdown-idle-grace", f"{int(args.grace * 1000)}ms"],
            stderr=log, stdout=subprocess.DEVNULL)
    wait_for(lambda: events(log_path, "worker booted") and events(log_path, "listening"), 30, "the server to boot")
    port = int(re.search(r":(\d+)$", events(log_path, "listening")[0]["url"]).group(1))
    connections = []
    for _ in range(args.connections):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(REQUEST)
        if read_response(sock, 10) != "answered":
            raise SystemExit("drain_race.py: no answer before the stop")
        connections.append(sock)
    rng = random.Random(seed)
    plan = sorted((rng.uniform(-args.before, args.after) / 1000, sock) for sock in connections)
    t0 = time.perf_counter()
    os.kill(server.pid, 15)
    due = t0 + args.grace
    outcomes = []
    for offset, sock in plan:
        while time.perf_counter() < due + offset:
            pass
        if not args.naive:
            sock.setblocking(False)  # a socket with a timeout would wait in poll() first
            try:
                closed = sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
            except BlockingIOError:
                closed = False
            except ConnectionResetError:
                closed = True
            if closed:
                outcomes.append((offset, "saw-close"))
                continue
        sent_at = time.perf_counter() - due
        sock.setblocking(True)
        try:
            sock.sendall(REQUEST)
        except (BrokenPipeError, ConnectionResetError):
            outcomes.append((sent_at, "lost"))
            continue
        outcomes.append((sent_at, None))
    results = []
    sent = iter(sock for _, sock in plan)
    for offset, outcome in outcomes:
        sock = next(sent)
        results.append((offset, outcome or read_response(sock, 10)))
    for sock in connections:
        sock.close()
    server.wait(timeout=30)
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=os.path.join(ROOT, ".build", "release", "raptor-testapp"))
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--grace", type=float, default=0.2, help="seconds")
    parser.add_argument("--before", type=float, default=3, help="milliseconds before t0 + grace")
    parser.add_argument("--after", type=float, default=5, help="milliseconds after t0 + grace")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--naive", action="store_true", help="send without looking for a close first")
    args = parser.parse_args()
    counts = {}
    lost_offsets = []
    answered_offsets = []
    with tempfile.TemporaryDirectory(prefix="raptor-race-") as directory:
        for seed in range(args.rounds):
            for offset, outcome in run_round(args, directory, seed):
                counts[outcome] = counts.get(outcome, 0) + 1
                if outcome == "lost":
                    lost_offsets.append(offset * 1000)
                elif outcome == "answered":
                    answered_offsets.append(offset * 1000)
    total = sum(counts.values())
    span = args.before + args.after
    window_us = counts.get("lost", 0) / total * span * 1000
    print(json.dumps({
        "client": "naive" if args.naive else "careful", "threads": args.threads, "requests": total, **counts,
        "swept_ms": [-args.before, args.after],
        "last_answered_ms": round(max(answered_offsets), 3) if answered_offsets else None,
        "lost_ms": [round(min(lost_offsets), 3), round(max(lost_offsets), 3)] if lost_offsets else None,
        "window_us": round(window_us, 1),
    }))


if __name__ == "__main__":
    sys.exit(main())
