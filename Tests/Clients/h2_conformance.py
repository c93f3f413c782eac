#!/usr/bin/env python3
"""HTTP/2 conformance cases from RFC 9113's and RFC 7541's MUSTs, sent as raw frames to a
server (HTTP2ConformanceTests.swift runs them against raptor-testapp).

    h2_conformance.py --port PORT [--tls --ca CA] --group GROUP [--list]

Each case opens its own connection and prints one JSON line: {"case", "ok", "detail"}.
Exit status 0 whatever the verdicts (the suite reads them); 2 when the client itself
cannot run. What the server must do comes from the RFC, not from an implementation:

- a connection error of type X: a GOAWAY with X, then the connection closed (RFC 9113
  5.4.1: "MUST close the TCP connection"). A close with no GOAWAY is accepted (GOAWAY is
  a SHOULD); a GOAWAY with another code is not.
- a stream error of type X: RST_STREAM with X on that stream, or a connection error of
  type X (5.4.1: an endpoint MAY treat a stream error as a connection error).
- a malformed request (8.1.1): a stream error of type PROTOCOL_ERROR; the server MAY send
  a response first, and a 400 that closes the stream is accepted. The handler must never
  run: the routes used answer 200, any other response is a failure.
"""
import argparse
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import h2_wire as w  # noqa: E402

CASES = []  # (group, name, function)


def case(group):
    def register(function):
        CASES.append((group, function.__name__.replace("_", "-"), function))
        return function
    return register


class Context:
    """What a case gets: the arguments, and connections closed (and checked for what the
    server sent) when the case ends."""

    def __init__(self, args):
        self.args = args
        self.opened = []

    def connect(self, *client_settings, start=True):
        conn = w.Connection(self.args.port, tls=self.args.tls, ca=self.args.ca, timeout=self.args.timeout)
        self.opened.append(conn)
        return conn.start(*client_settings) if start else conn


# --- verdicts ------------------------------------------------------------------------------------

def connection_error(conn, code, timeout=None):
    # Any stream's RST_STREAM counts as the reaction: a stream error where a connection
    # error is due is a failure that says so.
    r = conn.reaction(None, timeout)
    if r.kind == "rst":
        return False, "want a connection error %s; got %r on stream %d" % (w.error_name(code), r, r.frames[-1].stream)
    if r.kind == "goaway":
        if r.code != code:
            return False, "want a connection error %s; got %r" % (w.error_name(code), r)
        if not r.closed:
            return False, "GOAWAY %s but the connection stayed open (RFC 9113 5.4.1: MUST close)" % \
                w.error_name(code)
        return True, repr(r)
    if r.kind == "closed":
        return True, "closed with no GOAWAY (accepted; GOAWAY is a SHOULD)"
    return False, "want a connection error %s; got %r" % (w.error_name(code), r)


def stream_error(conn, stream, code, malformed=False, timeout=None, response_first=False):
    """`malformed`: a 400 response may come first (8.1.1); `response_first`: any
    response may (the case races the response on purpose)."""
    r = conn.reaction(stream, timeout)
    if r.kind == "rst" and r.code == code:
        if r.status is not None and not response_first and not (malformed and r.status == 400):
            return False, "a %s response head before the %r" % (r.status, r)
        return True, repr(r)
    if r.kind == "goaway" and r.code == code:
        return (True, repr(r)) if r.closed else (False, "%r: MUST close the TCP connection" % r)
    if r.kind == "closed":
        return True, "closed with no GOAWAY (accepted)"
    if malformed and r.kind == "response" and r.status == 400:
        return True, "a 400 response closing the stream (accepted: 8.1.1 MAY respond first)"
    return False, "want a stream error %s; got %r" % (w.error_name(code), r)


def answered(conn, stream, status=200, timeout=None, body_contains=None):
    r = conn.reaction(stream, timeout)
    if r.kind != "response" or r.status != status:
        return False, "want a %d response; got %r" % (status, r), r
    if body_contains is not None and body_contains.encode() not in r.body:
        return False, "the %d response lacks %r: %r" % (status, body_contains, r.body[:200]), r
    return True, repr(r), r


def still_serves(conn, stream):
    """After a stream-level event, the connection goes on: a GET on `stream` gets its 200."""
    conn.get(stream, "/request?after=%d" % stream)
    ok, detail, _ = answered(conn, stream, body_contains="after=%d" % stream)
    return ok, detail


def both(*results):
    for ok, detail in results:
        if not ok:
            return False, detail
    return True, "; ".join(detail for _, detail in results)


# --- one frame, a connection error (sections as given) ----------------------------------------

def request_block(conn):
    return w.block(w.request_fields(scheme=conn.scheme))


# (group, case name, the frame sent after the preface exchange, the error, RFC reference)
ONE_FRAME_CONNECTION_ERRORS = [
    ("preface", "settings-ack-with-payload",
     lambda conn: w.frame(w.SETTINGS, w.ACK, 0, b"\0\x03\0\0\0\x10"), w.FRAME_SIZE_ERROR,
     "6.5: a SETTINGS with ACK and a payload"),
    ("preface", "settings-length-not-multiple-of-6",
     lambda conn: w.frame(w.SETTINGS, 0, 0, b"\0\x03\0\0\0"), w.FRAME_SIZE_ERROR,
     "6.5: a SETTINGS length that is not a multiple of 6"),
    ("preface", "settings-on-a-stream",
     lambda conn: w.settings((w.MAX_CONCURRENT_STREAMS, 10), stream=1), w.PROTOCOL_ERROR,
     "6.5: SETTINGS on a stream other than 0"),
    ("preface", "settings-enable-push-2",
     lambda conn: w.settings((w.ENABLE_PUSH, 2)), w.PROTOCOL_ERROR,
     "6.5.2: SETTINGS_ENABLE_PUSH other than 0 or 1"),
    ("preface", "settings-initial-window-over-max",
     lambda conn: w.settings((w.INITIAL_WINDOW_SIZE, 2**31)), w.FLOW_CONTROL_ERROR,
     "6.5.2: SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1"),
    ("preface", "settings-max-frame-size-too-small",
     lambda conn: w.settings((w.MAX_FRAME_SIZE, 16383)), w.PROTOCOL_ERROR,
     "6.5.2: SETTINGS_MAX_FRAME_SIZE below 16384"),
    ("preface", "settings-max-frame-size-too-large",
     lambda conn: w.settings((w.MAX_FRAME_SIZE, 2**24)), w.PROTOCOL_ERROR,
     "6.5.2: SETTINGS_MAX_FRAME_SIZE above 2^24-1"),
    ("preface", "ping-wrong-length",
     lambda conn: w.frame(w.PING, 0, 0, b"1234567"), w.FRAME_SIZE_ERROR,
     "6.7: a PING whose length is not 8"),
    ("preface", "ping-on-a-stream",
     lambda conn: w.ping(stream=1), w.PROTOCOL_ERROR,
     "6.7: a PING on a stream other than 0"),
    ("preface", "goaway-on-a-stream",
     lambda conn: w.goaway(stream=1), w.PROTOCOL_ERROR,
     "6.8: a GOAWAY on a stream other than 0"),
    ("streams", "even-stream-id-from-client",
     lambda conn: w.headers(2, request_block(conn)), w.PROTOCOL_ERROR,
     "5.1.1: a client's stream id MUST be odd"),
    ("streams", "data-on-idle-stream",
     lambda conn: w.data(1, b"hello", end_stream=True), w.PROTOCOL_ERROR,
     "5.1: DATA on an idle stream (only HEADERS and PRIORITY are allowed)"),
    ("streams", "rst-stream-on-idle-stream",
     lambda conn: w.rst_stream(1), w.PROTOCOL_ERROR,
     "6.4: RST_STREAM on an idle stream"),
    ("streams", "window-update-on-idle-stream",
     lambda conn: w.window_update(1, 100), w.PROTOCOL_ERROR,
     "5.1: WINDOW_UPDATE on an idle stream"),
    ("streams", "continuation-on-a-new-stream-without-headers",
     lambda conn: w.continuation(1, request_block(conn)), w.PROTOCOL_ERROR,
     "6.10: CONTINUATION with no HEADERS before it"),
    ("streams", "data-on-stream-0",
     lambda conn: w.data(0, b"x"), w.PROTOCOL_ERROR,
     "6.1: DATA on stream 0"),
    ("streams", "headers-on-stream-0",
     lambda conn: w.headers(0, request_block(conn)), w.PROTOCOL_ERROR,
     "6.2: HEADERS on stream 0"),
    ("streams", "priority-on-stream-0",
     lambda conn: w.priority(0, depends_on=1), w.PROTOCOL_ERROR,
     "6.3: PRIORITY on stream 0"),
    ("streams", "rst-stream-on-stream-0",
     lambda conn: w.rst_stream(0), w.PROTOCOL_ERROR,
     "6.4: RST_STREAM on stream 0"),
    ("frames", "window-update-wrong-length",
     lambda conn: w.frame(w.WINDOW_UPDATE, 0, 0, b"\0\0\x01"), w.FRAME_SIZE_ERROR,
     "6.9: WINDOW_UPDATE of a length other than 4"),
    ("flow", "window-update-zero-on-connection",
     lambda conn: w.window_update(0, 0), w.PROTOCOL_ERROR,
     "6.9: a WINDOW_UPDATE of 0 on the connection"),
    ("flow", "connection-window-over-max",
     lambda conn: w.window_update(0, 2**31 - 1), w.FLOW_CONTROL_ERROR,
     "6.9.1: a WINDOW_UPDATE taking the connection window over 2^31-1"),
]


def make_one_frame_case(name, make_frame, code, reference):
    def run(ctx):
        conn = ctx.connect()
        conn.send(make_frame(conn))
        ok, detail = connection_error(conn, code)
        return ok, "%s: %s" % (reference, detail)
    run.__name__ = name.replace("-", "_")
    return run


for _group, _name, _frame, _code, _reference in ONE_FRAME_CONNECTION_ERRORS:
    case(_group)(make_one_frame_case(_name, _frame, _code, _reference))


# --- frames a server MUST accept or ignore: the request after them is answered ----------------

# (group, case name, the frames sent (a request on stream 1 among them), RFC reference)
ACCEPTED = [
    ("preface", "unknown-frame-type-ignored",
     lambda conn: (w.frame(0x42, 0xFF, 0, b"whatever") + w.frame(0x43, 0, 1, b"x" * 100)
                   + w.headers(1, request_block(conn))),
     "4.1 and 5.5: frames of an unknown type MUST be ignored"),
    ("preface", "unknown-flags-ignored",
     lambda conn: w.frame(w.HEADERS, w.END_STREAM | w.END_HEADERS | 0x40 | 0x80 | 0x2, 1, request_block(conn)),
     "4.1: flags with no meaning for a frame type MUST be ignored"),
    ("preface", "reserved-bit-ignored",
     lambda conn: w.frame(w.HEADERS, w.END_STREAM | w.END_HEADERS, 0x80000001, request_block(conn)),
     "4.1: the reserved bit of the stream identifier MUST be ignored on receipt"),
    ("streams", "priority-on-idle-stream-allowed",
     lambda conn: w.priority(1, depends_on=0) + w.headers(1, request_block(conn)),
     "5.1: PRIORITY is allowed on an idle stream, which can then be opened"),
    ("fields", "te-trailers-accepted",
     lambda conn: w.headers(1, w.block(w.request_fields(scheme=conn.scheme, extra=[("te", "trailers")]))),
     "8.2.2: TE: trailers is the one TE allowed"),
]


def make_accepted_case(name, make_frames, reference):
    def run(ctx):
        conn = ctx.connect()
        conn.send(make_frames(conn))
        ok, detail, _ = answered(conn, 1)
        return ok, "%s: %s" % (reference, detail)
    run.__name__ = name.replace("-", "_")
    return run


for _group, _name, _frames, _reference in ACCEPTED:
    case(_group)(make_accepted_case(_name, _frames, _reference))


# --- 3.4 the connection preface, 6.5 SETTINGS, 6.7 PING, 5.5 extensions ------------------------

@case("preface")
def server_settings_first_and_ack(ctx):
    """3.4: the server's preface is a SETTINGS frame, its first frame; 6.5.3: our SETTINGS
    is ACKed (Connection.start checks both)."""
    conn = ctx.connect()
    return conn.settings_acked, "first frame %r; settings %r" % (conn.server_settings_first, conn.server_settings)


@case("preface")
def server_settings_values_valid(ctx):
    """6.5.2: the values the server announces are in range."""
    conn = ctx.connect()
    s = conn.server_settings
    problems = []
    if s.get(w.ENABLE_PUSH, 0) not in (0, 1):
        problems.append("ENABLE_PUSH %d" % s[w.ENABLE_PUSH])
    if s.get(w.INITIAL_WINDOW_SIZE, 0) > 2**31 - 1:
        problems.append("INITIAL_WINDOW_SIZE %d" % s[w.INITIAL_WINDOW_SIZE])
    if not 16384 <= s.get(w.MAX_FRAME_SIZE, 16384) <= 2**24 - 1:
        problems.append("MAX_FRAME_SIZE %d" % s[w.MAX_FRAME_SIZE])
    return not problems, "; ".join(problems) or "settings %r" % s


@case("preface")
def first_frame_not_settings(ctx):
    """3.4: the preface MUST be followed by SETTINGS; otherwise a connection error
    PROTOCOL_ERROR."""
    conn = ctx.connect(start=False)
    conn.send(w.PREFACE, w.ping())
    return connection_error(conn, w.PROTOCOL_ERROR)


@case("preface")
def settings_unknown_identifier_ignored(ctx):
    """6.5.2: an unknown setting MUST be ignored: ACKed, and the connection serves."""
    conn = ctx.connect()
    conn.settings_acked = False
    conn.send(w.settings((0x4242, 7), (0xFFFF, 1)))
    conn.get(1)
    ok, detail, _ = answered(conn, 1)
    return ok and conn.settings_acked, detail + ("" if conn.settings_acked else "; the SETTINGS was not ACKed")


@case("preface")
def ping_answered(ctx):
    """6.7: a PING MUST be answered with a PING ACK carrying the same 8 bytes."""
    return first_ping_ack_carries(ctx, [w.ping(b"raptor!!")], b"raptor!!")


@case("preface")
def ping_ack_not_answered(ctx):
    """6.7: a PING with ACK MUST NOT be answered; the connection goes on (the first ACK
    that comes is the one for the PING sent after it)."""
    return first_ping_ack_carries(ctx, [w.ping(b"unasked!", ack=True), w.ping(b"asked!!!")], b"asked!!!")


def first_ping_ack_carries(ctx, frames, payload):
    conn = ctx.connect()
    conn.send(*frames)
    deadline = w.time.monotonic() + ctx.args.timeout
    try:
        while True:
            f = conn.read_frame(deadline)
            if f.kind == w.PING and f.flags & w.ACK:
                return f.payload == payload, "the first PING ACK carries %r" % f.payload
            conn.handle(f)
    except (w.Closed, w.socket.timeout) as error:
        return False, "no PING ACK: %r" % error


# --- 5.1 stream states and identifiers, 6.x frames on the wrong stream ---------------------------

@case("streams")
def stream_id_going_down(ctx):
    """5.1.1: a new stream's identifier MUST be greater than any the client opened:
    HEADERS on 3 after 5 is a connection error PROTOCOL_ERROR."""
    conn = ctx.connect()
    conn.get(5)
    ok, detail, _ = answered(conn, 5)
    if not ok:
        return False, "stream 5: " + detail
    conn.get(3)
    return connection_error(conn, w.PROTOCOL_ERROR)


@case("streams")
def continuation_after_a_complete_request(ctx):
    """6.10: CONTINUATION after a header block that had END_HEADERS: PROTOCOL_ERROR."""
    conn = ctx.connect()
    conn.send(w.headers(1, w.block(w.request_fields(scheme=conn.scheme)), end_stream=False),
              w.continuation(1, w.block([("x-late", "1")])))
    return connection_error(conn, w.PROTOCOL_ERROR)


@case("streams")
def frame_between_headers_and_continuation(ctx):
    """6.2/6.10: a header block is contiguous: any other frame before its CONTINUATION
    (here a PING) is a connection error PROTOCOL_ERROR."""
    conn = ctx.connect()
    fields = w.block(w.request_fields(scheme=conn.scheme))
    conn.send(w.headers(1, fields[:5], end_headers=False), w.ping(), w.continuation(1, fields[5:]))
    return connection_error(conn, w.PROTOCOL_ERROR)


@case("streams")
def continuation_on_another_stream(ctx):
    """6.10: a CONTINUATION on another stream than its HEADERS: PROTOCOL_ERROR."""
    conn = ctx.connect()
    fields = w.block(w.request_fields(scheme=conn.scheme))
    conn.send(w.headers(1, fields[:5], end_headers=False), w.continuation(3, fields[5:]))
    return connection_error(conn, w.PROTOCOL_ERROR)


@case("streams")
def headers_split_over_continuations(ctx):
    """6.10: a header block split over HEADERS and several CONTINUATIONs is one request."""
    conn = ctx.connect()
    fields = w.block(w.request_fields(path="/request?split=yes", scheme=conn.scheme))
    third = len(fields) // 3
    conn.send(w.headers(1, fields[:third], end_headers=False),
              w.continuation(1, fields[third:2 * third], end_headers=False),
              w.continuation(1, fields[2 * third:]))
    ok, detail, _ = answered(conn, 1, body_contains="split=yes")
    return ok, detail


@case("streams")
def stream_depends_on_itself(ctx):
    """5.3.1: a stream cannot depend on itself: a PRIORITY so is a stream error
    PROTOCOL_ERROR."""
    conn = ctx.connect()
    conn.send(w.priority(1, depends_on=1))
    return stream_error(conn, 1, w.PROTOCOL_ERROR)


@case("streams")
def data_on_closed_stream(ctx):
    """5.1 (closed) and 6.1: DATA on a stream both sides ended: STREAM_CLOSED (a stream
    or connection error)."""
    conn = ctx.connect()
    conn.get(1)
    ok, detail, _ = answered(conn, 1)
    if not ok:
        return False, "stream 1: " + detail
    conn.send(w.data(1, b"late", end_stream=True))
    return stream_error(conn, 1, w.STREAM_CLOSED)


@case("streams")
def headers_on_closed_stream(ctx):
    """HEADERS on a stream after END_STREAM both ways: 5.1 (closed) allows a connection
    error STREAM_CLOSED, and as a new stream its identifier is not greater than the last
    one (5.1.1: MUST be a connection error PROTOCOL_ERROR); either code, never ignored."""
    conn = ctx.connect()
    conn.get(1)
    ok, detail, _ = answered(conn, 1)
    if not ok:
        return False, "stream 1: " + detail
    conn.get(1)
    r = conn.reaction(None)
    if r.kind in ("rst", "goaway") and r.code in (w.STREAM_CLOSED, w.PROTOCOL_ERROR) and r.closed is not False:
        return True, repr(r)
    if r.kind == "closed":
        return True, "closed with no GOAWAY (accepted)"
    return False, "want STREAM_CLOSED or PROTOCOL_ERROR; got %r" % r


@case("streams")
def data_after_end_stream(ctx):
    """5.1 (half-closed remote) and 6.1: DATA after the client's END_STREAM, in the same
    write (so the server reads it before it can have answered): a stream error
    STREAM_CLOSED (the response may come first)."""
    conn = ctx.connect()
    conn.send(w.headers(1, w.block(w.request_fields(path="/slow?ms=200", scheme=conn.scheme))),
              w.data(1, b"late"))
    return stream_error(conn, 1, w.STREAM_CLOSED, response_first=True)


def open_to_the_limit(conn, encoder):
    """`limit` streams that stay open (POSTs whose body has not come), the request
    blocks from `encoder`; returns the limit and the first stream id past it."""
    limit = conn.max_concurrent_streams
    if limit is None or limit > 1000:
        raise RuntimeError("the server announced no usable SETTINGS_MAX_CONCURRENT_STREAMS (%r)" % limit)
    fields = [(":method", "POST"), (":scheme", conn.scheme), (":authority", "127.0.0.1"), (":path", "/echo")]
    return limit, b"".join(w.headers(1 + 2 * i, encoder.encode(fields), end_stream=False) for i in range(limit))


def refused(conn, stream, limit):
    """5.1.2 and 8.7: the stream past the limit is a stream error REFUSED_STREAM (of the two
    codes 5.1.2 allows, the one that tells the client nothing was processed and it may send
    it again); no response head before it, and the connection stays open."""
    r = conn.reaction(stream)
    early = [f.stream for f in r.frames if f.kind == w.RST_STREAM and f.stream != stream]
    if early:
        return False, "streams within the announced limit %d were reset: %r" % (limit, early[:5])
    if r.kind != "rst" or r.code != w.REFUSED_STREAM or r.status is not None:
        return False, "stream %d (one over %d): want RST_STREAM REFUSED_STREAM alone; got %r" % (stream, limit, r)
    return True, "limit %d: stream %d %r" % (limit, stream, r)


def served_after_refusal(conn, limit, next_stream):
    """The streams that were open are served, and once one has ended a new stream (with a
    greater id than the refused one, 5.1.1) is accepted again."""
    conn.send(w.data(1, b"still here", end_stream=True))
    ok, detail, _ = answered(conn, 1, body_contains="still here")
    if not ok:
        return False, "stream 1 after the refusal: " + detail
    return still_serves(conn, next_stream)


@case("streams")
def too_many_concurrent_streams(ctx):
    """5.1.2: "An endpoint that receives a HEADERS frame that causes its advertised
    concurrent stream limit to be exceeded MUST treat this as a stream error"; the streams
    open stay served, the connection goes on. The refused stream's DATA, in flight in the
    same write, is ignored (6.4: frames on a stream after RST_STREAM was sent)."""
    conn = ctx.connect()
    encoder = w.hpack.Encoder()
    limit, opened = open_to_the_limit(conn, encoder)
    over = 1 + 2 * limit
    extra = encoder.encode([(":method", "POST"), (":scheme", conn.scheme), (":authority", "127.0.0.1"),
                            (":path", "/echo")])
    conn.send(opened, w.headers(over, extra, end_stream=False), w.data(over, b"refused", end_stream=True))
    return both(refused(conn, over, limit), served_after_refusal(conn, limit, over + 2))


@case("streams")
def too_many_concurrent_streams_before_settings_ack(ctx):
    """5.1.2 and 6.5.3: the limit binds from the SETTINGS that states it; a client that has
    not acknowledged it yet (here: it sends the streams before its ACK) gets the same stream
    error REFUSED_STREAM, and after the ACK the connection goes on."""
    conn = ctx.connect(start=False)
    conn.send(w.PREFACE, w.settings((w.ENABLE_PUSH, 0)))
    first = conn.read_frame()
    if first.kind != w.SETTINGS or first.flags & w.ACK:
        return False, "the server's first frame is %r, not SETTINGS" % first
    conn.apply_settings(first)  # not acknowledged yet
    encoder = w.hpack.Encoder()
    limit, opened = open_to_the_limit(conn, encoder)
    over = 1 + 2 * limit
    extra = encoder.encode([(":method", "GET"), (":scheme", conn.scheme), (":authority", "127.0.0.1"),
                            (":path", "/request")])
    conn.send(opened, w.headers(over, extra))
    verdict = refused(conn, over, limit)
    conn.send(w.settings(ack=True))
    return both(verdict, served_after_refusal(conn, limit, over + 2))


@case("streams")
def refused_stream_fields_still_decoded(ctx):
    """RFC 9113 4.3 and RFC 7541 2.2: field blocks are decoded in the order they arrive,
    whatever becomes of their streams, so the dynamic table stays the same on both sides: a
    field indexed by the block of the refused stream is referenced by the next request
    (hpack.Encoder's choice) and read right."""
    conn = ctx.connect()
    encoder = w.hpack.Encoder()
    limit, opened = open_to_the_limit(conn, encoder)
    over = 1 + 2 * limit
    marker = ("x-refused-marker", "indexed-by-the-refused-stream")
    request = [(":method", "GET"), (":scheme", conn.scheme), (":authority", "127.0.0.1"),
               (":path", "/header-values?name=x-refused-marker"), marker]
    conn.send(opened, w.headers(over, encoder.encode(request)))
    verdict = refused(conn, over, limit)
    conn.send(w.data(1, b"", end_stream=True))
    ok, detail, _ = answered(conn, 1)
    if not ok:
        return False, "stream 1: " + detail
    block = encoder.encode(request)
    if len(block) > 8:
        return False, "the encoder did not index the marker (block of %d bytes): the case proves nothing" % len(block)
    conn.send(w.headers(over + 2, block))
    ok, detail, _ = answered(conn, over + 2, body_contains=marker[1])
    return both(verdict, (ok, "the indexed field read back: " + detail))


@case("streams")
def client_reset_then_connection_goes_on(ctx):
    """5.4.2/6.4: the client resets a stream; the connection keeps serving others."""
    conn = ctx.connect()
    conn.request(1, w.request_fields("POST", "/echo", conn.scheme), end_stream=False)
    conn.send(w.rst_stream(1, w.CANCEL))
    return still_serves(conn, 3)


# --- 4.2 frame sizes, 6.x fixed lengths, padding -----------------------------------------------

@case("frames")
def data_over_max_frame_size(ctx):
    """4.2: a frame over SETTINGS_MAX_FRAME_SIZE: FRAME_SIZE_ERROR (a stream error for
    DATA, or a connection error)."""
    conn = ctx.connect()
    conn.request(1, w.request_fields("POST", "/echo", conn.scheme), end_stream=False)
    conn.send(w.data(1, b"x" * (conn.max_frame_size + 1), end_stream=True))
    return stream_error(conn, 1, w.FRAME_SIZE_ERROR)


@case("frames")
def headers_over_max_frame_size(ctx):
    """4.2: a HEADERS frame over SETTINGS_MAX_FRAME_SIZE alters the connection state: a
    connection error FRAME_SIZE_ERROR."""
    conn = ctx.connect()
    fields = w.request_fields(scheme=conn.scheme, extra=[("x-big", "y" * (conn.max_frame_size + 100))])
    conn.send(w.headers(1, w.block(fields)))
    return connection_error(conn, w.FRAME_SIZE_ERROR)


@case("frames")
def rst_stream_wrong_length(ctx):
    """6.4: RST_STREAM of a length other than 4: connection error FRAME_SIZE_ERROR."""
    conn = ctx.connect()
    conn.request(1, w.request_fields("POST", "/echo", conn.scheme), end_stream=False)
    conn.send(w.frame(w.RST_STREAM, 0, 1, b"\0\0\0"))
    return connection_error(conn, w.FRAME_SIZE_ERROR)


@case("frames")
def priority_wrong_length(ctx):
    """6.3: PRIORITY of a length other than 5: a stream error FRAME_SIZE_ERROR."""
    conn = ctx.connect()
    conn.send(w.frame(w.PRIORITY, 0, 1, b"\0\0\0\0"))
    return stream_error(conn, 1, w.FRAME_SIZE_ERROR)


@case("frames")
def data_padding_too_long(ctx):
    """6.1: a pad length not smaller than the payload: connection error PROTOCOL_ERROR."""
    conn = ctx.connect()
    conn.request(1, w.request_fields("POST", "/echo", conn.scheme), end_stream=False)
    conn.send(w.frame(w.DATA, w.PADDED | w.END_STREAM, 1, b"\x05abcd"))
    return connection_error(conn, w.PROTOCOL_ERROR)


@case("frames")
def headers_padding_too_long(ctx):
    """6.2: a HEADERS pad length not smaller than the payload: PROTOCOL_ERROR."""
    conn = ctx.connect()
    payload = w.block(w.request_fields(scheme=conn.scheme))
    conn.send(w.frame(w.HEADERS, w.PADDED | w.END_HEADERS | w.END_STREAM, 1, bytes([len(payload) + 1]) + payload))
    return connection_error(conn, w.PROTOCOL_ERROR)


@case("frames")
def padded_data_counts(ctx):
    """6.1: padding is dropped from the body (and counts for flow control): the echo is
    the data only."""
    conn = ctx.connect()
    conn.request(1, w.request_fields("POST", "/echo", conn.scheme), end_stream=False)
    conn.send(w.data(1, b"padded body", end_stream=True, pad=20))
    ok, detail, r = answered(conn, 1)
    return ok and r.body == b"padded body", "%s; body %r" % (detail, r.body[:60])


@case("frames")
def max_frame_size_data_accepted(ctx):
    """4.2: a DATA frame of exactly SETTINGS_MAX_FRAME_SIZE is valid."""
    conn = ctx.connect()
    size = conn.max_frame_size
    conn.request(1, w.request_fields("POST", "/body-info", conn.scheme), end_stream=False)
    conn.send(w.data(1, b"a" * size, end_stream=True))
    ok, detail, _ = answered(conn, 1, body_contains="length=%d " % size)
    return ok, detail


# --- 8.2 and 8.3: field validity, pseudo-header fields, malformed requests ----------------------

def malformed(ctx, fields, body=None, stream=1):
    conn = ctx.connect()
    conn.request(stream, fields, body=body)
    return stream_error(conn, stream, w.PROTOCOL_ERROR, malformed=True)


def req(extra=(), **kwargs):
    return w.request_fields(extra=extra, **kwargs)


MALFORMED_FIELDS = [
    # (case name, fields, RFC reference)
    ("uppercase-field-name", req([("X-Upper", "1")]), "8.2.1: field names MUST be lowercase"),
    ("connection-field", req([("connection", "keep-alive")]), "8.2.2: connection-specific field"),
    ("keep-alive-field", req([("keep-alive", "timeout=5")]), "8.2.2: connection-specific field"),
    ("proxy-connection-field", req([("proxy-connection", "keep-alive")]), "8.2.2: connection-specific field"),
    ("transfer-encoding-field", req([("transfer-encoding", "chunked")]), "8.2.2: connection-specific field"),
    ("upgrade-field", req([("upgrade", "h2c")]), "8.2.2: connection-specific field"),
    ("te-not-trailers", req([("te", "gzip")]), "8.2.2: TE MUST NOT contain anything but trailers"),
    ("field-value-with-nul", req([("x-nul", "a\0b")]), "8.2.1: NUL in a value"),
    ("field-value-with-crlf", req([("x-crlf", "a\r\nx-injected: 1")]), "8.2.1: CR or LF in a value"),
    ("field-value-leading-space", req([("x-space", " value")]), "8.2.1: leading whitespace"),
    ("field-value-trailing-tab", req([("x-tab", "value\t")]), "8.2.1: trailing whitespace"),
    ("field-name-with-space", req([("x bad", "1")]), "8.2.1: a name with SP"),
    ("field-name-with-colon-inside", req([("x:bad", "1")]), "8.2.1: a name with ':' past the first"),
    ("field-name-empty", req([("", "1")]), "8.2.1 / RFC 9110 5.1: an empty name is no token"),
    ("missing-method", [(":scheme", "http"), (":authority", "127.0.0.1"), (":path", "/request")],
     "8.3.1: :method MUST be present"),
    ("missing-scheme", [(":method", "GET"), (":authority", "127.0.0.1"), (":path", "/request")],
     "8.3.1: :scheme MUST be present"),
    ("missing-path", [(":method", "GET"), (":scheme", "http"), (":authority", "127.0.0.1")],
     "8.3.1: :path MUST be present"),
    ("empty-path", req(path=""), "8.3.1: :path MUST NOT be empty for http(s)"),
    ("duplicated-method", req([(":method", "GET")]), "8.3.1: exactly one :method"),
    ("duplicated-path", [(":method", "GET"), (":scheme", "http"), (":path", "/request"), (":path", "/x"),
                         (":authority", "127.0.0.1")], "8.3.1: exactly one :path"),
    ("unknown-pseudo-header", req([(":foo", "bar")]), "8.3: pseudo-header fields not defined MUST NOT appear"),
    ("response-pseudo-header-in-request", req([(":status", "200")]), "8.3: :status in a request"),
    ("pseudo-header-after-regular", [(":method", "GET"), (":scheme", "http"), ("x-regular", "1"),
                                     (":path", "/request"), (":authority", "127.0.0.1")],
     "8.3: pseudo-header fields MUST come before regular ones"),
]


def make_malformed_case(name, fields, reference):
    def run(ctx):
        # The scheme of this transport, unless the case is about :scheme itself.
        scheme = "https" if ctx.args.tls else "http"
        fixed = [(n, scheme if n == ":scheme" else v) for n, v in fields]
        ok, detail = malformed(ctx, fixed)
        return ok, "%s: %s" % (reference, detail)
    run.__name__ = name.replace("-", "_")
    return run


for _name, _fields, _reference in MALFORMED_FIELDS:
    case("fields")(make_malformed_case(_name, _fields, _reference))


@case("fields")
def content_length_larger_than_data(ctx):
    """8.1.1: content-length not equal to the DATA's length: malformed (PROTOCOL_ERROR)."""
    return malformed(ctx, req([("content-length", "10")], method="POST", path="/echo"), body=b"12345")


@case("fields")
def content_length_smaller_than_data(ctx):
    """8.1.1: content-length smaller than the DATA: malformed (PROTOCOL_ERROR)."""
    return malformed(ctx, req([("content-length", "3")], method="POST", path="/echo"), body=b"12345")


@case("fields")
def pseudo_header_in_trailers(ctx):
    """8.1: pseudo-header fields MUST NOT appear in a trailer section: malformed."""
    conn = ctx.connect()
    conn.request(1, w.request_fields("POST", "/trailers", conn.scheme), body=b"body", end_stream=False)
    conn.send(w.headers(1, w.block([(":method", "GET")])))
    return stream_error(conn, 1, w.PROTOCOL_ERROR, malformed=True)


@case("fields")
def trailers_without_end_stream(ctx):
    """8.1: a second HEADERS (trailers) without END_STREAM: malformed."""
    conn = ctx.connect()
    conn.request(1, w.request_fields("POST", "/trailers", conn.scheme), body=b"body", end_stream=False)
    conn.send(w.headers(1, w.block([("x-trailer", "1")]), end_stream=False))
    return stream_error(conn, 1, w.PROTOCOL_ERROR, malformed=True)


@case("fields")
def connect_with_path(ctx):
    """8.5: a CONNECT request MUST omit :scheme and :path: with them it is malformed
    (and a server that does not support CONNECT may refuse it otherwise, never a 2xx)."""
    conn = ctx.connect()
    conn.request(1, [(":method", "CONNECT"), (":scheme", conn.scheme), (":authority", "127.0.0.1:1"),
                     (":path", "/request")])
    r = conn.reaction(1)
    if r.kind == "response" and 200 <= r.status < 300:
        return False, "CONNECT with :path answered %r" % r
    if r.kind == "nothing":
        return False, "no reaction"
    return True, repr(r)


@case("fields")
def response_fields_valid(ctx):
    """8.2: what the server sends uses lowercase names, no connection-specific fields,
    :status first (checked on every response of every case; here a response with many
    fields)."""
    conn = ctx.connect()
    conn.get(1, "/headers", extra=[("x-one", "1"), ("cookie", "a=1"), ("cookie", "b=2")])
    ok, detail, _ = answered(conn, 1)
    return ok, detail


@case("fields")
def cookie_crumbs_joined(ctx):
    """8.2.3: cookie fields split into crumbs MUST be joined with "; " before they are
    handed on as one field."""
    conn = ctx.connect()
    conn.get(1, "/header-values?name=cookie", extra=[("cookie", "a=1"), ("cookie", "b=2")])
    ok, detail, r = answered(conn, 1)
    if not ok:
        return False, detail
    return r.body.strip() in (b"a=1; b=2",), "cookie as the handler sees it: %r" % r.body


# --- 5.2 and 6.9: flow control ----------------------------------------------------------------

@case("flow")
def window_update_zero_on_stream(ctx):
    """6.9: a WINDOW_UPDATE of 0 on a stream: stream error PROTOCOL_ERROR."""
    conn = ctx.connect()
    conn.request(1, w.request_fields("POST", "/echo", conn.scheme), end_stream=False)
    conn.send(w.window_update(1, 0))
    return stream_error(conn, 1, w.PROTOCOL_ERROR)


@case("flow")
def stream_window_over_max(ctx):
    """6.9.1: a WINDOW_UPDATE taking a stream's window over 2^31-1: stream error
    FLOW_CONTROL_ERROR."""
    conn = ctx.connect()
    conn.request(1, w.request_fields("POST", "/echo", conn.scheme), end_stream=False)
    conn.send(w.window_update(1, 2**31 - 1))
    return stream_error(conn, 1, w.FLOW_CONTROL_ERROR)


@case("flow")
def initial_window_change_overflows(ctx):
    """6.9.2: a SETTINGS_INITIAL_WINDOW_SIZE change that takes an open stream's window
    over 2^31-1: connection error FLOW_CONTROL_ERROR."""
    conn = ctx.connect()
    conn.request(1, w.request_fields("POST", "/echo", conn.scheme), end_stream=False)
    conn.send(w.window_update(1, 2**31 - 1 - 65535), w.settings((w.INITIAL_WINDOW_SIZE, 65536)))
    return connection_error(conn, w.FLOW_CONTROL_ERROR)


def read_data_within_windows(conn, stream, total, connection_window, stream_window, top_up, sender_deadline):
    """Reads `stream`'s response, checking the server never sends more DATA than the
    windows allow (5.2.1), topping both windows up by `top_up` each time they get low.
    Returns (ok, detail, body)."""
    body, status = b"", None
    updates = 0
    while True:
        try:
            f = conn.read_frame(sender_deadline)
        except (w.Closed, w.socket.timeout) as error:
            return False, "after %d of %d bytes and %d WINDOW_UPDATEs: %r" % (len(body), total, updates, error), body
        fields = conn.handle(f)
        if f.kind == w.GOAWAY or (f.kind == w.RST_STREAM and f.stream == stream):
            return False, "after %d bytes: %r" % (len(body), f), body
        if fields is not None and f.stream == stream:
            status = dict(fields).get(b":status")
        if f.kind == w.DATA and f.stream == stream:
            connection_window -= len(f.payload)
            stream_window -= len(f.payload)
            if connection_window < 0 or stream_window < 0:
                return False, "DATA beyond the window: connection %d stream %d (RFC 9113 5.2.1)" % (
                    connection_window, stream_window), body
            body += w.strip_padding(f)
            if f.flags & w.END_STREAM:
                return status == b"200" and len(body) == total, "status %r, %d bytes, %d WINDOW_UPDATEs" % (
                    status, len(body), updates), body
            if stream_window < top_up or connection_window < top_up:
                conn.send(w.window_update(0, top_up), w.window_update(stream, top_up))
                connection_window += top_up
                stream_window += top_up
                updates += 1


@case("flow")
def tiny_window_large_response(ctx):
    """5.2 and 6.9: with SETTINGS_INITIAL_WINDOW_SIZE 1000 a 200 KB response comes only as
    fast as our WINDOW_UPDATEs open the windows, never beyond them, and completes."""
    conn = ctx.connect((w.INITIAL_WINDOW_SIZE, 1000))
    total = 200_000
    conn.get(1, "/bytes?n=%d" % total)
    ok, detail, _ = read_data_within_windows(conn, 1, total, 65535, 1000, 1000,
                                             w.time.monotonic() + 4 * ctx.args.timeout)
    return ok, detail


@case("flow")
def zero_window_holds_data_until_update(ctx):
    """6.9.2: with an initial window of 0 the server sends the response head but no
    DATA; a WINDOW_UPDATE releases it. (The wait for no DATA is bounded: 0.5 s.)"""
    conn = ctx.connect((w.INITIAL_WINDOW_SIZE, 0))
    conn.get(1, "/bytes?n=5000")
    deadline = w.time.monotonic() + 0.5
    status = None
    try:
        while True:
            f = conn.read_frame(deadline)
            fields = conn.handle(f)
            if fields is not None and f.stream == 1:
                status = int(dict(fields).get(b":status", b"0"))
            if f.kind == w.DATA and len(f.payload) > 0:
                return False, "DATA of %d bytes sent into a window of 0" % len(f.payload)
            if f.kind in (w.GOAWAY, w.RST_STREAM):
                return False, "%r while the window was 0" % f
    except w.socket.timeout:
        pass
    except w.Closed:
        return False, "closed while the window was 0"
    conn.send(w.window_update(1, 5000))
    r = conn.reaction(1, status=status)
    ok = r.kind == "response" and r.status == 200 and len(r.body) == 5000
    return ok, "%r after the update" % r


@case("flow")
def settings_initial_window_applies_to_open_streams(ctx):
    """6.9.2: a new SETTINGS_INITIAL_WINDOW_SIZE changes the windows of open streams too:
    a stream stalled at window 0 is released by SETTINGS raising it."""
    conn = ctx.connect((w.INITIAL_WINDOW_SIZE, 0))
    conn.get(1, "/bytes?n=3000")
    conn.send(w.settings((w.INITIAL_WINDOW_SIZE, 65535)))
    ok, detail, r = answered(conn, 1)
    return ok and len(r.body) == 3000, detail


# --- RFC 7541: HPACK ----------------------------------------------------------------------------

def hpack_error(ctx, block_bytes):
    conn = ctx.connect()
    conn.send(w.headers(1, block_bytes))
    return connection_error(conn, w.COMPRESSION_ERROR)


def pseudo_block(scheme, path="/request"):
    return w.block([(":method", "GET"), (":scheme", scheme), (":authority", "127.0.0.1"), (":path", path)])


@case("hpack")
def index_zero(ctx):
    """RFC 7541 6.1: index 0 in an indexed field line is a decoding error: connection
    error COMPRESSION_ERROR (RFC 9113 4.3)."""
    return hpack_error(ctx, b"\x80" + pseudo_block("https" if ctx.args.tls else "http"))


@case("hpack")
def index_out_of_range(ctx):
    """RFC 7541 2.3.3: an index past the static and dynamic tables: COMPRESSION_ERROR."""
    return hpack_error(ctx, pseudo_block("https" if ctx.args.tls else "http") + w.integer(70, 7, 0x80))


@case("hpack")
def literal_name_index_out_of_range(ctx):
    """RFC 7541 2.3.3: a literal whose name index is past both tables: COMPRESSION_ERROR."""
    return hpack_error(ctx, pseudo_block("https" if ctx.args.tls else "http") + w.integer(90, 4) + w.string("v"))


@case("hpack")
def table_size_update_over_setting(ctx):
    """RFC 7541 6.3 and 4.2: a dynamic table size update above SETTINGS_HEADER_TABLE_SIZE
    (4096, unchanged): COMPRESSION_ERROR."""
    return hpack_error(ctx, w.integer(8192, 5, 0x20) + pseudo_block("https" if ctx.args.tls else "http"))


@case("hpack")
def table_size_update_after_a_field(ctx):
    """RFC 7541 4.2: a dynamic table size update MUST come at the start of a header
    block: one after a field line is a COMPRESSION_ERROR."""
    return hpack_error(ctx, pseudo_block("https" if ctx.args.tls else "http") + w.integer(100, 5, 0x20))


@case("hpack")
def huffman_with_eos(ctx):
    """RFC 7541 5.2: a Huffman string containing EOS is a decoding error."""
    # EOS is 30 ones: 4 bytes of 0xff hold it (and more).
    bad = bytes([0x80 | 4]) + b"\xff\xff\xff\xff"
    return hpack_error(ctx, pseudo_block("https" if ctx.args.tls else "http") + b"\x00\x05x-eos" + bad)


@case("hpack")
def huffman_padding_too_long(ctx):
    """RFC 7541 5.2: Huffman padding longer than 7 bits is a decoding error."""
    # 'a' is 00011 (5 bits); then 11 bits of 1s as padding: longer than 7.
    bad = bytes([0x80 | 2]) + bytes([0b00011111, 0xFF])
    return hpack_error(ctx, pseudo_block("https" if ctx.args.tls else "http") + b"\x00\x05x-pad" + bad)


@case("hpack")
def integer_overflow(ctx):
    """RFC 7541 5.1: an integer past the implementation's limits is a decoding error."""
    huge = b"\xff" + b"\xff" * 10 + b"\x7f"
    return hpack_error(ctx, pseudo_block("https" if ctx.args.tls else "http") + huge)


@case("hpack")
def dynamic_table_across_requests(ctx):
    """RFC 7541 2.3.2 and 4: entries indexed in one request are referenced in the next
    ones (hpack.Encoder's own choices), each request still read right."""
    conn = ctx.connect()
    encoder = w.hpack.Encoder()
    details = []
    for i, stream in enumerate((1, 3, 5)):
        fields = [(":method", "GET"), (":scheme", conn.scheme), (":authority", "127.0.0.1"),
                  (":path", "/header-values?name=x-repeated"), ("x-repeated", "value-%d" % (i % 2)),
                  ("user-agent", "raptor-conformance")]
        conn.send(w.headers(stream, encoder.encode(fields)))
        ok, detail, r = answered(conn, stream, body_contains="value-%d" % (i % 2))
        if not ok:
            return False, "request %d: %s" % (i + 1, detail)
        details.append(detail)
    return True, "; ".join(details)


@case("hpack")
def table_size_update_to_zero_accepted(ctx):
    """RFC 7541 6.3: a size update down to 0 at the start of a block is valid (evicts
    everything); requests go on."""
    conn = ctx.connect()
    conn.send(w.headers(1, w.integer(0, 5, 0x20) + pseudo_block(conn.scheme)))
    ok, detail, _ = answered(conn, 1)
    return ok, detail


# --- 8: HTTP semantics over streams ------------------------------------------------------------

@case("semantics")
def concurrent_streams_each_own_response(ctx):
    """5.1 and 8.1: requests on concurrent streams, sent in one write, each answered on
    its own stream with its own response."""
    conn = ctx.connect()
    count = 20
    conn.send(b"".join(w.headers(1 + 2 * i, w.block(w.request_fields(path="/request?n=%d" % i,
                                                                     scheme=conn.scheme)))
                       for i in range(count)))
    bodies, statuses, ended = {}, {}, set()
    deadline = w.time.monotonic() + 3 * ctx.args.timeout
    try:
        while len(ended) < count:
            f = conn.read_frame(deadline)
            fields = conn.handle(f)
            if fields is not None:
                statuses[f.stream] = dict(fields).get(b":status")
            if f.kind == w.DATA:
                bodies[f.stream] = bodies.get(f.stream, b"") + w.strip_padding(f)
            if f.kind in (w.HEADERS, w.DATA) and f.flags & w.END_STREAM:
                ended.add(f.stream)
            if f.kind in (w.GOAWAY, w.RST_STREAM):
                return False, "%r" % f
    except (w.Closed, w.socket.timeout) as error:
        return False, "%d of %d streams answered: %r" % (len(ended), count, error)
    wrong = []
    for i in range(count):
        stream = 1 + 2 * i
        body = bodies.get(stream, b"")
        if statuses.get(stream) != b"200" or b"query=n=%d " % i not in body:
            wrong.append("stream %d: %r %r" % (stream, statuses.get(stream), body[:80]))
    return not wrong, "; ".join(wrong) or "%d streams, each its own response" % count


@case("semantics")
def body_with_content_length(ctx):
    """8.1: a request body in several DATA frames, with content-length."""
    conn = ctx.connect()
    parts = [b"a" * 1000, b"b" * 5000, b"c" * 10]
    conn.send(w.headers(1, w.block(w.request_fields("POST", "/body-info", conn.scheme,
                                                    extra=[("content-length", "6010")])), end_stream=False),
              w.data(1, parts[0]), w.data(1, parts[1]), w.data(1, parts[2], end_stream=True))
    want = "length=6010 memory=true sum=%d" % sum(sum(p) for p in parts)
    ok, detail, _ = answered(conn, 1, body_contains=want)
    return ok, detail


@case("semantics")
def body_without_content_length(ctx):
    """8.1: a request body with no content-length (the end is END_STREAM)."""
    conn = ctx.connect()
    parts = [b"x" * 3000, b"y" * 3000, b""]
    conn.send(w.headers(1, w.block(w.request_fields("POST", "/body-info", conn.scheme)), end_stream=False),
              w.data(1, parts[0]), w.data(1, parts[1]), w.data(1, parts[2], end_stream=True))
    want = "length=6000 memory=true sum=%d" % sum(sum(p) for p in parts)
    ok, detail, _ = answered(conn, 1, body_contains=want)
    return ok, detail


@case("semantics")
def request_trailers(ctx):
    """8.1: a trailer section after the body (HEADERS with END_STREAM) reaches the
    handler."""
    conn = ctx.connect()
    conn.request(1, w.request_fields("POST", "/trailers", conn.scheme), body=b"with trailers", end_stream=False)
    conn.send(w.headers(1, w.block([("x-checksum", "abc123")])))
    ok, detail, r = answered(conn, 1, body_contains="x-checksum: abc123")
    return ok and b"body=with trailers" in r.body, detail


@case("semantics")
def head_has_no_body(ctx):
    """RFC 9110 9.3.2: a HEAD response carries no content: HEADERS with END_STREAM, no
    DATA."""
    conn = ctx.connect()
    conn.request(1, w.request_fields("HEAD", "/bytes?n=1000", conn.scheme))
    r = conn.reaction(1)
    data_frames = [f for f in r.frames if f.kind == w.DATA and f.stream == 1 and f.payload]
    if r.kind != "response" or r.status != 200 or data_frames:
        return False, "%r with %d DATA frames" % (r, len(data_frames))
    return True, repr(r)


@case("semantics")
def no_content_statuses_have_no_body(ctx):
    """RFC 9110 15.3.5 and 15.4.5: 204 and 304 responses carry no content (the handler's
    body is dropped)."""
    conn = ctx.connect()
    results = []
    for stream, code in ((1, 204), (3, 304)):
        conn.get(stream, "/status?code=%d" % code)
        r = conn.reaction(stream)
        data_bytes = sum(len(f.payload) for f in r.frames if f.kind == w.DATA and f.stream == stream)
        if r.kind != "response" or r.status != code or data_bytes:
            return False, "%d: %r with %d bytes of DATA" % (code, r, data_bytes)
        results.append(repr(r))
    return True, "; ".join(results)


@case("semantics")
def body_too_large_413_then_serves(ctx):
    """413 on the stream (the server runs with --max-body-size 64KiB; content-length
    says more), and the connection goes on serving."""
    conn = ctx.connect()
    conn.request(1, w.request_fields("POST", "/echo", conn.scheme, extra=[("content-length", "1000000")]),
                 end_stream=False)
    r = conn.reaction(1)
    if r.status != 413 or r.kind not in ("response", "rst"):
        return False, "want a 413 on stream 1; got %r" % r
    return both((True, repr(r)), still_serves(conn, 3))


@case("semantics")
def streamed_body_too_large_413_then_serves(ctx):
    """413 on the stream when a body with no content-length grows past --max-body-size
    (64KiB here); the connection goes on serving."""
    conn = ctx.connect()
    conn.request(1, w.request_fields("POST", "/echo", conn.scheme), end_stream=False)
    r = None
    try:
        for _ in range(6):
            conn.send(w.data(1, b"z" * 16000))
    except w.Closed as error:
        return False, "closed while sending: %r" % error
    conn.send(w.data(1, b"", end_stream=True))
    r = conn.reaction(1)
    if r.status != 413 or r.kind not in ("response", "rst"):
        return False, "want a 413 on stream 1; got %r" % r
    return both((True, repr(r)), still_serves(conn, 3))


@case("semantics")
def header_too_large_431_then_serves(ctx):
    """431 on the stream when the decoded field block is over --max-header-size (16KiB
    here), sent over CONTINUATIONs; the connection goes on serving (RFC 9113 10.5.1)."""
    conn = ctx.connect()
    fields = w.block(w.request_fields(scheme=conn.scheme,
                                      extra=[("x-big-%d" % i, "v" * 4000) for i in range(8)]))
    size = conn.max_frame_size
    chunks = [fields[i:i + size] for i in range(0, len(fields), size)]
    frames = [w.headers(1, chunks[0], end_headers=len(chunks) == 1)]
    frames += [w.continuation(1, c, end_headers=i == len(chunks) - 2) for i, c in enumerate(chunks[1:])]
    conn.send(*frames)
    r = conn.reaction(1)
    if r.status != 431 or r.kind not in ("response", "rst"):
        return False, "want a 431 on stream 1; got %r" % r
    return both((True, repr(r)), still_serves(conn, 3))


@case("semantics")
def authority_and_path_reach_handler(ctx):
    """8.3.1: :authority and :path make the request's target; the query is the path's."""
    conn = ctx.connect()
    conn.request(1, [(":method", "GET"), (":scheme", conn.scheme), (":authority", "example.test:8443"),
                     (":path", "/request?x=1")])
    ok, detail, r = answered(conn, 1)
    want = [b"method=GET", b"query=x=1", b"authority=example.test:8443"]
    missing = [m.decode() for m in want if m not in r.body] if ok else []
    return ok and not missing, detail + ("; body lacks %s: %r" % (missing, r.body[:200]) if missing else "")


# --- 6.8: GOAWAY on a graceful stop (needs --pid: the case sends SIGTERM) -------------------------

@case("goaway")
def graceful_stop_finishes_streams_in_flight(ctx):
    """6.8: on SIGTERM the server sends GOAWAY (NO_ERROR) whose last-stream-id covers the
    streams it goes on to answer; every stream up to it is answered in full, none above
    it is; then the connection closes. With --wait-received the signal goes once a PING
    sent after the requests is ACKed (the server has read them: with app threads they
    are in flight, and the last-stream-id must cover all three); without, right after
    the requests are written (an inline server, whose loop runs the handlers, ACKs only
    when they are done)."""
    if not ctx.args.pid:
        return False, "needs --pid"
    conn = ctx.connect()
    streams = (1, 3, 5)
    conn.send(*[w.headers(s, w.block(w.request_fields(path="/slow?ms=%d" % ctx.args.slow_ms, scheme=conn.scheme)))
                for s in streams])
    statuses, bodies, ended, resets, goaways = {}, {}, set(), {}, []
    closed = False

    def take(f):
        fields = conn.handle(f)
        if fields is not None:
            statuses[f.stream] = int(dict(fields).get(b":status", b"0"))
        if f.kind == w.DATA:
            bodies[f.stream] = bodies.get(f.stream, b"") + w.strip_padding(f)
        if f.kind in (w.HEADERS, w.DATA) and f.flags & w.END_STREAM:
            ended.add(f.stream)
        if f.kind == w.RST_STREAM:
            resets[f.stream] = w.struct.unpack(">I", f.payload[:4])[0]
        if f.kind == w.GOAWAY:
            goaways.append(w.goaway_fields(f))

    if ctx.args.wait_received:
        conn.send(w.ping(b"inflight"))
        deadline = w.time.monotonic() + 10
        try:
            while True:
                f = conn.read_frame(deadline)
                if f.kind == w.PING and f.flags & w.ACK and f.payload == b"inflight":
                    break
                take(f)
        except (w.Closed, w.socket.timeout) as error:
            return False, "no PING ACK before the stop: %r" % error
        if ended:
            return False, "streams %s ended before the stop: make --slow-ms longer" % sorted(ended)
    w.os.kill(ctx.args.pid, w.signal.SIGTERM)
    deadline = w.time.monotonic() + 20
    try:
        while True:
            take(conn.read_frame(deadline))
    except w.Closed:
        closed = True
    except w.socket.timeout:
        pass
    problems = []
    if not goaways:
        problems.append("no GOAWAY")
    elif any(code != w.NO_ERROR for _, code in goaways):
        problems.append("GOAWAY codes %s (want NO_ERROR)" % [w.error_name(c) for _, c in goaways])
    last = goaways[-1][0] if goaways else 0
    if any(later > earlier for (earlier, _), (later, _) in zip(goaways, goaways[1:])):
        problems.append("last-stream-id went up between GOAWAYs %s (6.8: MUST NOT increase)" % goaways)
    if ctx.args.wait_received and last < max(streams):
        problems.append("last-stream-id %d does not cover streams %s the server had read" % (last, streams))
    for s in streams:
        if s <= last and not (s in ended and statuses.get(s) == 200 and bodies.get(s, b"") == b"slow done\n"):
            problems.append("stream %d (covered by %d) not answered in full: status %r, ended %s, reset %r, body %r" % (
                s, last, statuses.get(s), s in ended, resets.get(s), bodies.get(s, b"")[:40]))
        if s > last and (s in statuses or s in bodies):
            problems.append("stream %d above last-stream-id %d was answered" % (s, last))
    if not closed:
        problems.append("the connection did not close within 20 s")
    return not problems, "; ".join(problems) or "GOAWAYs %s; streams %s answered; closed" % (
        [(l, w.error_name(c)) for l, c in goaways], sorted(ended))


# --- running -------------------------------------------------------------------------------------

def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    w.port_argument(parser)
    parser.add_argument("--group", action="append", help="run the cases of this group (repeatable; default all)")
    parser.add_argument("--case", action="append", help="run only this case (repeatable)")
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for each reaction")
    parser.add_argument("--list", action="store_true", help="print the cases and exit")
    parser.add_argument("--pid", type=int, help="the server's pid (the goaway group signals it)")
    parser.add_argument("--slow-ms", type=int, default=800, help="how long each request of the goaway group takes")
    parser.add_argument("--wait-received", action="store_true",
                        help="goaway group: signal once the server has read the requests (a PING ACKed)")
    args = parser.parse_args()
    # The goaway group stops the server: only when asked for by name.
    selected = [(g, n, f) for g, n, f in CASES
                if (g in args.group if args.group else g != "goaway") and (not args.case or n in args.case)]
    if args.list:
        for g, n, _ in selected:
            print("%s %s" % (g, n))
        return
    if not selected:
        w.fail_hard("no case selected")
    for group, name, function in selected:
        ctx = Context(args)
        try:
            ok, detail = function(ctx)
            problems = [v for conn in ctx.opened for v in conn.violations]
            if problems:
                ok, detail = False, "%s; and in what the server sent: %s" % (detail, "; ".join(problems))
        except Exception as error:  # a case that could not run is a failure, with why
            ok, detail = False, "the case raised %s: %s" % (type(error).__name__, error)
        finally:
            for conn in ctx.opened:
                conn.close()
        w.report(name, ok, detail, group=group)


if __name__ == "__main__":
    main()
