"""HTTP/2 on the wire, for the conformance and attack clients (h2_conformance.py,
h2_attacks.py): frames built byte by byte with struct (RFC 9113 section 4), header blocks
encoded by hand or with the `hpack` package (RFC 7541), and a reader that reports what
the server did. The clients send invalid frames on purpose, so nothing here validates what
is sent; what the server sends is checked (RFC 9113 section 8.2 on every response).

Also `normal_get`: a well-behaved request with h2_client.py (the `h2` package's
H2Connection on this module's socket and frames: a normal client, to show the server still
serves while it is attacked).

Works with Debian 12's python3-h2 4.1 / python3-hpack 4.0 and with newer ones from PyPI.
"""
import json
import os
import signal
import socket
import ssl
import struct
import sys
import time

import hpack

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

# Frame types (RFC 9113 section 6).
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = range(10)
FRAME_NAMES = ["DATA", "HEADERS", "PRIORITY", "RST_STREAM", "SETTINGS", "PUSH_PROMISE", "PING", "GOAWAY",
               "WINDOW_UPDATE", "CONTINUATION"]

# Flags.
END_STREAM = 0x1
ACK = 0x1
END_HEADERS = 0x4
PADDED = 0x8
PRIORITY_FLAG = 0x20

# Settings (section 6.5.2).
HEADER_TABLE_SIZE, ENABLE_PUSH, MAX_CONCURRENT_STREAMS, INITIAL_WINDOW_SIZE, MAX_FRAME_SIZE, MAX_HEADER_LIST_SIZE = \
    range(1, 7)

# Error codes (section 7).
ERRORS = ["NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR", "SETTINGS_TIMEOUT", "STREAM_CLOSED",
          "FRAME_SIZE_ERROR", "REFUSED_STREAM", "CANCEL", "COMPRESSION_ERROR", "CONNECT_ERROR", "ENHANCE_YOUR_CALM",
          "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED"]
(NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, FLOW_CONTROL_ERROR, SETTINGS_TIMEOUT, STREAM_CLOSED, FRAME_SIZE_ERROR,
 REFUSED_STREAM, CANCEL, COMPRESSION_ERROR, CONNECT_ERROR, ENHANCE_YOUR_CALM) = range(12)


def error_name(code):
    return ERRORS[code] if 0 <= code < len(ERRORS) else "0x%x" % code


# --- building frames ----------------------------------------------------------------------

def frame(kind, flags, stream, payload=b"", length=None):
    """One frame; `length` overrides the header's length field (to lie about it)."""
    n = len(payload) if length is None else length
    return struct.pack(">I", n)[1:] + struct.pack(">BBI", kind, flags, stream & 0xFFFFFFFF) + payload


def settings(*pairs, ack=False, stream=0):
    return frame(SETTINGS, ACK if ack else 0, stream, b"".join(struct.pack(">HI", k, v) for k, v in pairs))


def ping(data=b"12345678", ack=False, stream=0):
    return frame(PING, ACK if ack else 0, stream, data)


def window_update(stream, increment):
    return frame(WINDOW_UPDATE, 0, stream, struct.pack(">I", increment))


def rst_stream(stream, code=CANCEL):
    return frame(RST_STREAM, 0, stream, struct.pack(">I", code))


def priority(stream, depends_on=0, weight=16, exclusive=False):
    return frame(PRIORITY, 0, stream, struct.pack(">IB", depends_on | (0x80000000 if exclusive else 0), weight - 1))


def goaway(last_stream=0, code=NO_ERROR, stream=0):
    return frame(GOAWAY, 0, stream, struct.pack(">II", last_stream, code))


def data(stream, payload=b"", end_stream=False, pad=None):
    flags = END_STREAM if end_stream else 0
    if pad is not None:
        flags |= PADDED
        payload = bytes([pad]) + payload + b"\0" * min(pad, 255)
    return frame(DATA, flags, stream, payload)


def headers(stream, block, end_stream=True, end_headers=True):
    flags = (END_STREAM if end_stream else 0) | (END_HEADERS if end_headers else 0)
    return frame(HEADERS, flags, stream, block)


def continuation(stream, block, end_headers=True):
    return frame(CONTINUATION, END_HEADERS if end_headers else 0, stream, block)


# --- header blocks (RFC 7541) ----------------------------------------------------------------

def integer(value, prefix_bits, first_byte_flags=0):
    """An HPACK integer (section 5.1) with an N-bit prefix."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first_byte_flags | value])
    out = [first_byte_flags | limit]
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def string(raw):
    raw = raw.encode("latin-1") if isinstance(raw, str) else raw
    return integer(len(raw), 7) + raw


def literal(name, value):
    """A literal field line without indexing, new name, no Huffman (section 6.2.2): the
    field goes to the server exactly as given (uppercase, NUL, whatever) and leaves both
    dynamic tables alone."""
    return b"\x00" + string(name) + string(value)


def literal_indexed(name, value):
    """A literal field line with incremental indexing, new name (section 6.2.1): added
    to the decoder's dynamic table."""
    return b"\x40" + string(name) + string(value)


def block(fields):
    """A header block of literals, in order, exactly as given."""
    return b"".join(literal(n, v) for n, v in fields)


def request_fields(method="GET", path="/request", scheme="http", authority="127.0.0.1", extra=()):
    return [(":method", method), (":scheme", scheme), (":authority", authority), (":path", path)] + list(extra)


# --- a connection ----------------------------------------------------------------------------

class Closed(Exception):
    pass


class Frame:
    __slots__ = ("kind", "flags", "stream", "payload")

    def __init__(self, kind, flags, stream, payload):
        self.kind, self.flags, self.stream, self.payload = kind, flags, stream, payload

    def __repr__(self):
        name = FRAME_NAMES[self.kind] if self.kind < len(FRAME_NAMES) else "type%d" % self.kind
        extra = ""
        if self.kind in (RST_STREAM, GOAWAY) and len(self.payload) >= 4:
            code = struct.unpack(">I", self.payload[-4:] if self.kind == RST_STREAM else self.payload[4:8])[0]
            extra = " " + error_name(code)
        return "%s(stream=%d flags=0x%x len=%d%s)" % (name, self.stream, self.flags, len(self.payload), extra)


class Reaction:
    """What the server did about a stream: `kind` is one of response (a complete
    response: status, body), rst (RST_STREAM on the stream: code; status when a response
    head came first), goaway (code, last_stream, closed: whether the TCP connection then
    closed), closed (the connection closed with no GOAWAY), nothing (within the time)."""

    def __init__(self, kind, code=None, status=None, body=b"", last_stream=None, closed=None, frames=None):
        self.kind, self.code, self.status, self.body = kind, code, status, body
        self.last_stream, self.closed, self.frames = last_stream, closed, frames or []

    def __repr__(self):
        if self.kind == "response":
            return "a %s response (%d bytes)" % (self.status, len(self.body))
        if self.kind == "rst":
            head = " after a %s response head" % self.status if self.status else ""
            return "RST_STREAM %s%s" % (error_name(self.code), head)
        if self.kind == "goaway":
            return "GOAWAY %s (last stream %d), then %s" % (
                error_name(self.code), self.last_stream, "the connection closed" if self.closed else "still open")
        if self.kind == "closed":
            return "the connection closed without a GOAWAY"
        return "nothing"


def open_socket(port, tls=False, ca=None, timeout=5.0, receive_buffer=None, host="127.0.0.1", before=b""):
    """A connected socket on its way to HTTP/2: `before` (a PROXY header) sent in the clear,
    then over TLS the handshake with ALPN h2 (verified against `ca`, for "localhost")."""
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if receive_buffer:
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    raw.settimeout(timeout)
    raw.connect((host, port))
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    raw.sendall(before)
    if not tls:
        return raw
    context = ssl.create_default_context(cafile=ca)
    context.set_alpn_protocols(["h2"])
    raw = context.wrap_socket(raw, server_hostname="localhost")
    if raw.selected_alpn_protocol() != "h2":
        raise RuntimeError("ALPN chose %r, not h2" % raw.selected_alpn_protocol())
    return raw


def take_frame(buffer):
    """The first whole frame of `buffer` and the bytes after it, or (None, buffer)."""
    if len(buffer) < 9:
        return None, buffer
    length = struct.unpack(">I", b"\0" + buffer[:3])[0]
    if len(buffer) < 9 + length:
        return None, buffer
    kind, flags, stream = struct.unpack(">BBI", buffer[3:9])
    return Frame(kind, flags, stream & 0x7FFFFFFF, buffer[9:9 + length]), buffer[9 + length:]


def goaway_fields(f):
    """A GOAWAY's (last stream id, error code)."""
    last, code = struct.unpack(">II", f.payload[:8]) if len(f.payload) >= 8 else (0, -1)
    return last & 0x7FFFFFFF, code


class Connection:
    """One HTTP/2 connection to the server, as a client: the preface and SETTINGS
    exchange on `start`, then frames out (`send`) and events in (`reaction`, `response`,
    `read_frame`). Every read is bounded by a deadline."""

    def __init__(self, port, tls=False, ca=None, timeout=5.0, receive_buffer=None, host="127.0.0.1"):
        self.timeout = timeout
        self.sock = open_socket(port, tls, ca, timeout, receive_buffer=receive_buffer, host=host)
        self.scheme = "https" if tls else "http"
        self.buffer = b""
        self.eof = False
        self.decoder = hpack.Decoder()
        self.encoder = hpack.Encoder()
        self.server_settings = {}
        self.server_settings_first = None
        self.settings_acked = False
        self.violations = []  # section 8.2 problems in what the server sent
        self.pending = {}  # stream -> header block being assembled (CONTINUATION)

    # sending
    def send(self, *chunks):
        payload = b"".join(chunks)
        try:
            self.sock.sendall(payload)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLEOFError, ssl.SSLZeroReturnError):
            raise Closed("the server closed the connection while we sent")

    def start(self, *client_settings, expect_ack=True):
        """Preface and SETTINGS (`client_settings`, then ENABLE_PUSH 0: this client takes
        no push); reads the server's first frame (which MUST be SETTINGS, section 3.4) and
        ACKs it; with `expect_ack`, reads until our SETTINGS is ACKed."""
        self.send(PREFACE, settings(*client_settings, (ENABLE_PUSH, 0)))
        first = self.read_frame()
        self.server_settings_first = first
        if first.kind != SETTINGS or first.flags & ACK:
            raise RuntimeError("the server's first frame is %r, not SETTINGS (RFC 9113 3.4)" % first)
        self.apply_settings(first)
        self.send(settings(ack=True))
        if expect_ack:
            deadline = time.monotonic() + self.timeout
            while not self.settings_acked:
                self.handle(self.read_frame(deadline))
        return self

    def apply_settings(self, f):
        for i in range(0, len(f.payload) - len(f.payload) % 6, 6):
            key, value = struct.unpack(">HI", f.payload[i:i + 6])
            self.server_settings[key] = value

    @property
    def max_frame_size(self):
        return self.server_settings.get(MAX_FRAME_SIZE, 16384)

    @property
    def max_concurrent_streams(self):
        return self.server_settings.get(MAX_CONCURRENT_STREAMS)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    # reading
    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout()
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except (ConnectionResetError, ssl.SSLEOFError, ssl.SSLZeroReturnError, BrokenPipeError):
            chunk = b""
        except ssl.SSLError as error:
            if "APPLICATION_DATA_AFTER_CLOSE_NOTIFY" in str(error) or "UNEXPECTED_EOF" in str(error):
                chunk = b""
            else:
                raise
        if not chunk:
            self.eof = True
            raise Closed("the server closed the connection")
        self.buffer += chunk

    def read_frame(self, deadline=None):
        """The next frame; raises Closed at EOF, socket.timeout at the deadline."""
        deadline = deadline or time.monotonic() + self.timeout
        while True:
            f, self.buffer = take_frame(self.buffer)
            if f is not None:
                return f
            self._fill(deadline)

    def handle(self, f):
        """What a client does with connection-level frames: ACK SETTINGS and PING. Returns
        the decoded fields when `f` ends a header block, else None."""
        if f.kind == SETTINGS:
            if f.flags & ACK:
                self.settings_acked = True
            else:
                self.apply_settings(f)
                self.send(settings(ack=True))
        elif f.kind == PING and not f.flags & ACK:
            self.send(ping(f.payload, ack=True))
        elif f.kind in (HEADERS, CONTINUATION, PUSH_PROMISE):
            payload = f.payload
            if f.kind == HEADERS:
                payload = strip_padding_and_priority(f)
            elif f.kind == PUSH_PROMISE:
                self.violations.append("PUSH_PROMISE after our SETTINGS_ENABLE_PUSH 0 (RFC 9113 6.5.2): %r" % f)
                return None
            self.pending[f.stream] = self.pending.get(f.stream, b"") + payload
            if f.flags & END_HEADERS:
                fields = self.decoder.decode(self.pending.pop(f.stream), raw=True)
                self.check_response_fields(fields, f)
                return fields
        return None

    def check_response_fields(self, fields, f):
        """RFC 9113 8.2: names lowercase, no connection-specific fields; 8.3: pseudo-header
        fields first, only :status in a response."""
        regular_seen = False
        for name, value in fields:
            if name != name.lower():
                self.violations.append("uppercase field name %r in a response (RFC 9113 8.2)" % name)
            if name in (b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade"):
                self.violations.append("connection-specific field %r in a response (RFC 9113 8.2.2)" % name)
            if name.startswith(b":"):
                if regular_seen:
                    self.violations.append("pseudo-header %r after a regular field (RFC 9113 8.3)" % name)
                if name != b":status":
                    self.violations.append("pseudo-header %r in a response (RFC 9113 8.3.2)" % name)
            else:
                regular_seen = True

    def reaction(self, stream, timeout=None, after_response=0.3, status=None):
        """Reads until the server does something final about `stream` (see Reaction; None:
        the connection, where a RST_STREAM on any stream counts).
        After a complete response, waits `after_response` s for a RST_STREAM or GOAWAY
        that follows it. `status`: the response head already read, if any."""
        deadline = time.monotonic() + (timeout or self.timeout)
        body, frames = b"", []
        try:
            while True:
                f = self.read_frame(deadline)
                frames.append(f)
                if f.kind == GOAWAY:
                    last, code = goaway_fields(f)
                    return Reaction("goaway", code=code, last_stream=last,
                                    closed=self.wait_closed(min(deadline, time.monotonic() + 3)), status=status,
                                    frames=frames)
                fields = self.handle(f)
                if f.kind == RST_STREAM and stream is None:
                    code = struct.unpack(">I", f.payload[:4])[0] if len(f.payload) >= 4 else -1
                    return Reaction("rst", code=code, frames=frames)
                if f.stream != stream:
                    continue
                if f.kind == RST_STREAM:
                    code = struct.unpack(">I", f.payload[:4])[0] if len(f.payload) >= 4 else -1
                    return Reaction("rst", code=code, status=status, body=body, frames=frames)
                if fields is not None:
                    for name, value in fields:
                        if name == b":status":
                            status = int(value)
                if f.kind == DATA:
                    body += strip_padding(f)
                    if len(f.payload):
                        self.send(window_update(0, len(f.payload)), window_update(stream, len(f.payload)))
                if f.kind in (HEADERS, DATA) and f.flags & END_STREAM and status is not None:
                    following = self.follow_up(stream, after_response)
                    if following is not None:
                        following.status = status
                        following.body = body
                        following.frames = frames + following.frames
                        return following
                    return Reaction("response", status=status, body=body, frames=frames)
        except Closed:
            return Reaction("closed", status=status, body=body, frames=frames)
        except socket.timeout:
            return Reaction("nothing", status=status, body=body, frames=frames)

    def follow_up(self, stream, seconds):
        """A RST_STREAM on `stream` or a GOAWAY within `seconds` after its response."""
        if seconds <= 0:
            return None
        deadline = time.monotonic() + seconds
        try:
            while True:
                f = self.read_frame(deadline)
                if f.kind == GOAWAY:
                    last, code = goaway_fields(f)
                    return Reaction("goaway", code=code, last_stream=last,
                                    closed=self.wait_closed(time.monotonic() + 3), frames=[f])
                self.handle(f)
                if f.kind == RST_STREAM and f.stream == stream:
                    return Reaction("rst", code=struct.unpack(">I", f.payload[:4])[0], frames=[f])
        except (socket.timeout, Closed):
            return None

    def wait_closed(self, deadline):
        """Whether the server closes the connection before `deadline` (frames read and
        dropped meanwhile)."""
        try:
            while True:
                self.read_frame(deadline)
        except Closed:
            return True
        except socket.timeout:
            return False

    def request(self, stream, fields, body=None, end_stream=True):
        """HEADERS (and DATA) of one request, fields as literals."""
        if body is None:
            self.send(headers(stream, block(fields), end_stream=end_stream))
        else:
            self.send(headers(stream, block(fields), end_stream=False), data(stream, body, end_stream=end_stream))

    def get(self, stream, path="/request", extra=(), method="GET"):
        self.request(stream, request_fields(method, path, self.scheme, extra=extra))


def strip_padding(f):
    if f.flags & PADDED and f.payload:
        pad = f.payload[0]
        return f.payload[1:len(f.payload) - pad]
    return f.payload


def strip_padding_and_priority(f):
    payload = strip_padding(f)
    if f.flags & PRIORITY_FLAG:
        payload = payload[5:]
    return payload


# --- a normal client (the h2 package: h2_client.py) ---------------------------------------------

def normal_get(port, path="/", tls=False, ca=None, timeout=5.0):
    """One GET with h2's H2Connection, validation on: (status, body) or raises. What a
    well-behaved client sees."""
    import h2_client

    client = h2_client.Client(port, tls=tls, ca=ca, timeout=timeout)
    try:
        stream = client.send("GET", path)
        got = client.collect([stream], timeout=timeout)
        result = got.get(stream, {})
        if stream not in client.ended or "reset" in result or "status" not in result:
            raise Closed("the normal request was refused or cut: %r" % got)
        return result["status"], result["body"].encode("latin-1")
    finally:
        client.close()


# --- reporting -----------------------------------------------------------------------------------

def report(case, ok, detail, **extra):
    """One JSON line per case on stdout (the Swift suite reads them)."""
    line = {"case": case, "ok": bool(ok), "detail": detail}
    line.update(extra)
    print(json.dumps(line), flush=True)


def port_argument(parser):
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tls", action="store_true", help="TLS with ALPN h2 (else h2c, prior knowledge)")
    parser.add_argument("--ca", help="the CA to verify the server's certificate with (--tls)")


def fail_hard(message):
    print(message, file=sys.stderr)
    sys.exit(2)
