#!/usr/bin/env python3
"""Keep-alive clients through a graceful stop, every response checked.

Opens --connections keep-alive connections to 127.0.0.1:PORT and keeps them busy; once
every connection has had a response on its current socket and --warmup seconds passed,
sends --signal to --pid (the master, or the single process), and goes on until
--until-file exists, every connection is refused or ended (the server is gone), or
--deadline passes. A connection the server closed is replaced by a new one, except after
the signal with --no-reconnect (for a full stop, where nothing would take a new
connection). Prints one JSON object.

Connections, by index (i % 4):
  0 busy       the next request the moment a response is read, GET and POST (/echo) in turn
  1 pipelined  three requests (GET, POST, GET) in one write, then waits for all three
  2 paced      a pause of 1 ms to --grace/4 between requests
  3 idle       one request, then idle until the server closes the connection

Every response is checked: status 200, the body of its own request (the GET's query, the
POST's body echoed), framing. When the server closes a connection (end of stream or
reset) the close is put in exactly one class:
  closed_after_close       the last response said Connection: close
  closed_idle              no request outstanding, idle at least --grace since the last
                           response (less 20 ms for scheduling)
  closed_idle_early        no request outstanding, idle for less than that (a violation)
  lost_reused / lost_new   requests sent with no byte of their response received, on a
                           connection that had answered before / on a new connection
  truncated                a response cut short
Requests pipelined behind a response that said Connection: close are counted apart
(unprocessed_after_close): the server announced it would not read them, and a client
sends them again (RFC 9112 section 9.3.2).
"""
import argparse
import json
import os
import random
import selectors
import signal
import socket
import sys
import time

KINDS = ("busy", "pipelined", "paced", "idle")


class Expected:
    """One request sent, and what its response must carry."""

    def __init__(self, method, marker):
        self.method = method
        self.marker = marker  # the GET's query, or the POST's exact body


class Connection:
    def __init__(self, client, slot):
        self.client = client
        self.slot = slot
        self.kind = KINDS[slot % len(KINDS)]
        self.sock = None
        self.state = "closed"
        self.reused = False
        self.outstanding = []
        self.inbox = bytearray()
        self.outbox = b""
        self.responses = 0
        self.last_response_at = 0.0
        self.wake_at = None
        self.await_eof_until = 0.0
        self.sequence = 0
        self.ended = False

    # ---- connecting ----

    def open(self):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        sock.connect_ex(("127.0.0.1", self.client.port))
        self.sock = sock
        self.state = "connecting"
        self.reused = False
        self.responses = 0  # on this socket
        self.inbox = bytearray()
        self.outstanding = []
        self.wake_at = None
        self.client.selector.register(sock, selectors.EVENT_WRITE, self)

    def connected(self):
        error = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if error:
            self.drop()
            self.client.count("refused")
            if self.client.signalled_at is None:
                self.client.problem(f"slot {self.slot}: connect failed before the stop: {os.strerror(error)}")
            # The server may be gone (TERM): try again a little later, until the end.
            self.wake_at = time.monotonic() + 0.05
            self.state = "reconnect"
            return
        self.state = "ready"
        self.send_next()

    def drop(self):
        if self.sock is not None:
            self.client.selector.unregister(self.sock)
            self.sock.close()
            self.sock = None
        self.state = "closed"

    # ---- requests ----

    def request(self, method):
        self.sequence += 1
        c = self.client
        if method == "GET":
            query = f"c={self.slot}&n={self.sequence}"
            c.count("requests_get")
            return f"GET /request?{query} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode(), Expected("GET", query)
        size = c.random.choice((0, 1, 13, 700, 1500, 4000))
        body = (f"c={self.slot} n={self.sequence} ".encode() + b"x" * size)[: max(size, 1)]
        c.count("requests_post")
        head = f"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n\r\n"
        return head.encode() + body, Expected("POST", bytes(body))

    def send_next(self):
        if self.client.finishing:
            return
        if self.kind == "pipelined":
            parts = [self.request(m) for m in ("GET", "POST", "GET")]
        else:
            parts = [self.request("POST" if self.sequence % 2 else "GET")]
        self.outbox = b"".join(p[0] for p in parts)
        self.outstanding = [p[1] for p in parts]
        self.client.count("requests", len(parts))
        self.state = "sending"
        self.flush()

    def flush(self):
        try:
            sent = self.sock.send(self.outbox)
        except BlockingIOError:
            sent = 0
        except (ConnectionResetError, BrokenPipeError):
            self.closed_by_server(reset=True)
            return
        self.outbox = self.outbox[sent:]
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if self.outbox else 0)
        self.client.selector.modify(self.sock, events, self)
        if not self.outbox:
            self.state = "waiting"

    # ---- responses ----

    def readable(self):
        try:
            data = self.sock.recv(65536)
        except BlockingIOError:
            return
        except ConnectionResetError:
            self.closed_by_server(reset=True)
            return
        if not data:
            self.closed_by_server(reset=False)
            return
        self.inbox += data
        while self.outstanding:
            parsed = parse_response(self.inbox)
            if parsed is None:
                break
            status, fields, body, used = parsed
            del self.inbox[:used]
            self.answered(self.outstanding.pop(0), status, fields, body)
            if self.state == "await_eof":
                return
        if self.inbox and not self.outstanding:
            self.client.problem(f"slot {self.slot}: bytes after the last response: {bytes(self.inbox[:80])!r}")
            self.client.count("bad")
            self.inbox.clear()
        if not self.outstanding and self.state == "waiting":
            self.schedule_next()

    def answered(self, expected, status, fields, body):
        c = self.client
        c.count("answered")
        self.responses += 1
        self.last_response_at = time.monotonic()
        good = status == 200 and (
            body == expected.marker if expected.method == "POST" else f"query={expected.marker} ".encode() in body
        )
        if not good:
            c.count("bad")
            c.problem(f"slot {self.slot}: {expected.method} {expected.marker[:40]!r} got {status} {body[:120]!r}")
        if "close" in fields.get("connection", "").lower():
            c.count("close_marked")
            if self.outstanding:
                c.count("unprocessed_after_close", len(self.outstanding))
                self.outstanding = []
            self.state = "await_eof"
            self.await_eof_until = time.monotonic() + 5
        else:
            self.reused = True

    def schedule_next(self):
        if self.kind == "idle":
            self.state = "idle"
        elif self.kind == "paced":
            self.state = "paused"
            self.wake_at = time.monotonic() + self.client.random.uniform(0.001, max(self.client.grace / 4, 0.002))
        else:
            self.send_next()

    def closed_by_server(self, reset):
        c = self.client
        now = time.monotonic()
        if reset:
            c.count("resets")
        if c.signalled_at is None and self.state != "await_eof":
            c.problem(f"slot {self.slot}: the server closed the connection before the stop (state {self.state})")
        if self.state == "await_eof":
            c.count("closed_after_close")
        elif self.outstanding and self.inbox:
            c.count("truncated")
            c.problem(f"slot {self.slot}: a response cut short: {bytes(self.inbox[:80])!r}")
        elif self.outstanding:
            lost = len(self.outstanding)
            c.count("lost_reused" if self.reused else "lost_new", lost)
            c.problem(
                f"slot {self.slot} ({self.kind}): {lost} request(s) lost on a {'reused' if self.reused else 'new'}"
                f" connection, {'reset' if reset else 'end of stream'}"
            )
        elif self.state == "connecting":
            c.count("refused")
        else:
            idle = now - self.last_response_at
            if idle >= c.grace - 0.02:
                c.count("closed_idle")
                c.idle_times.append(idle)
            else:
                c.count("closed_idle_early")
                c.problem(f"slot {self.slot} ({self.kind}): closed after only {idle * 1000:.1f} ms idle")
        self.drop()
        if c.no_reconnect and c.signalled_at is not None:
            self.state = "ended"
        elif not c.finishing:
            self.open()

    def wake(self, now):
        if self.wake_at is None or now < self.wake_at:
            return
        self.wake_at = None
        if self.state == "reconnect":
            self.open()
        elif self.state == "paused":
            self.send_next()


def parse_response(buffer):
    """(status, fields, body, bytes used) of the first whole response, or None."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    lines = bytes(buffer[:end]).decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    fields = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip()
    length = int(fields.get("content-length", "0"))
    if len(buffer) < end + 4 + length:
        return None
    return status, fields, bytes(buffer[end + 4 : end + 4 + length]), end + 4 + length


class Client:
    def __init__(self, args):
        self.port = args.port
        self.grace = args.grace
        self.random = random.Random(args.seed)
        self.selector = selectors.DefaultSelector()
        self.counts = {}
        self.problems = []
        self.idle_times = []
        self.signalled_at = None
        self.finishing = False
        self.no_reconnect = args.no_reconnect
        self.connections = [Connection(self, slot) for slot in range(args.connections)]

    def count(self, name, amount=1):
        self.counts[name] = self.counts.get(name, 0) + amount

    def problem(self, text):
        self.count("problems")
        if len(self.problems) < 20:
            self.problems.append(text)

    def run(self, args):
        started = time.monotonic()
        for connection in self.connections:
            connection.open()
        while True:
            now = time.monotonic()
            if now - started > args.deadline:
                self.problem("deadline passed")
                break
            if self.signalled_at is None:
                # Every connection answered on its current socket: one opened a moment
                # before the signal (after a Connection: close, say) could still be on its
                # way into the listener's queue when a full stop closes it, and be reset.
                warm = all(c.responses > 0 for c in self.connections)
                if warm and now - started >= args.warmup:
                    os.kill(args.pid, getattr(signal, "SIG" + args.signal))
                    self.signalled_at = now
            elif args.until_file and os.path.exists(args.until_file):
                break
            elif all(c.state in ("reconnect", "ended") for c in self.connections):
                break  # refused or ended everywhere: the server is gone
            wakes = [c.wake_at for c in self.connections if c.wake_at is not None]
            timeout = max(0.0, min([0.05] + [w - now for w in wakes]))
            for key, events in self.selector.select(timeout):
                connection = key.data
                if connection.sock is None:
                    continue
                if connection.state == "connecting":
                    connection.connected()
                elif events & selectors.EVENT_WRITE and connection.outbox:
                    connection.flush()
                elif events & selectors.EVENT_READ:
                    connection.readable()
            now = time.monotonic()
            for connection in self.connections:
                connection.wake(now)
                if connection.state == "await_eof" and now > connection.await_eof_until:
                    self.problem(f"slot {connection.slot}: no close within 5 s of a Connection: close response")
                    connection.drop()
                    connection.open()
        self.finishing = True
        in_flight = sum(len(c.outstanding) for c in self.connections if c.sock is not None)
        for connection in self.connections:
            connection.drop()
        result = dict(self.counts)
        result["in_flight_at_end"] = in_flight
        result["problem_examples"] = self.problems
        if self.idle_times:
            result["idle_close_ms"] = [round(min(self.idle_times) * 1000, 1), round(max(self.idle_times) * 1000, 1)]
        return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pid", type=int, required=True, help="the process to signal")
    parser.add_argument("--signal", required=True, help="USR2, HUP, TTOU, TERM...")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--grace", type=float, default=0.3, help="the server's idle grace, in seconds")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--until-file", help="stop once this file exists")
    parser.add_argument("--deadline", type=float, default=60)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-reconnect", action="store_true", help="after the signal, replace no closed connection")
    args = parser.parse_args()
    print(json.dumps(Client(args).run(args), sort_keys=True))


if __name__ == "__main__":
    sys.exit(main())
