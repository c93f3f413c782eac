"""A well-behaved HTTP/2 client on Python's `h2` package (H2Connection, its validation on),
for the Swift suites' short scripts (HTTP2Tests, HTTP2StopTests, HTTP2TimeoutTests) and
h2_wire.normal_get. The socket, TLS and frame splitting are h2_wire's.

    client = Client(url, cafile)          # or Client(port, tls=..., ca=...)
    one = client.send("GET", "/request")  # the stream id
    got = client.collect([one])           # got[one]: {"status", "body", "reset"?}

`results` (what `collect` returns) also holds "goaways" (every GOAWAY read: its "last"
stream id and "code"), "goaway" (h2's ConnectionTerminated, if it saw one) and "closed"
(the server closed the connection). Bodies are str (latin-1), so results print as JSON.

Python's h2 takes a GOAWAY as the end of everything and refuses the frames after it, which
RFC 9113 allows; a server finishing its streams after a GOAWAY sends them, so GOAWAYs are
read here and kept from h2.
"""
import os
import sys
import urllib.parse

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import h2.config  # noqa: E402
import h2.connection  # noqa: E402
import h2.events  # noqa: E402
import h2.settings  # noqa: E402

import h2_wire as w  # noqa: E402


class Client:
    def __init__(self, url_or_port, cafile=None, window=None, before=b"", tls=False, ca=None, timeout=10.0):
        """`url_or_port`: a URL (its scheme says TLS, `cafile` verifies) or a port on
        127.0.0.1 (`tls`, `ca`); `window`: our SETTINGS_INITIAL_WINDOW_SIZE; `before`: bytes
        sent first, in the clear (a PROXY header)."""
        if isinstance(url_or_port, str):
            parts = urllib.parse.urlsplit(url_or_port)
            host, port, tls, ca = parts.hostname, parts.port, parts.scheme == "https", cafile
        else:
            host, port = "127.0.0.1", url_or_port
        self.sock = w.open_socket(port, tls, ca, timeout, host=host, before=before)
        self.timeout = timeout
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        self.conn.initiate_connection()
        if window is not None:
            self.conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: window})
        self.sock.sendall(self.conn.data_to_send())
        self.authority = "%s:%d" % (host, port)
        self.scheme = "https" if tls else "http"
        self.results, self.ended = {}, set()  # what arrives while sending counts too
        self.inbox = b""

    def send(self, method, path, headers=(), body=None, end=True):
        """One request (its body as the window allows); returns its stream id."""
        conn = self.conn
        sid = conn.get_next_available_stream_id()
        fields = [(":method", method), (":path", path), (":scheme", self.scheme), (":authority", self.authority)]
        conn.send_headers(sid, fields + list(headers), end_stream=end and body is None)
        if body is not None:
            for at in range(0, len(body), 16384):
                while conn.local_flow_control_window(sid) < min(16384, len(body) - at):
                    self.pump()
                conn.send_data(sid, body[at:at + 16384], end_stream=end and at + 16384 >= len(body))
        self.sock.sendall(conn.data_to_send())
        return sid

    def send_trailers(self, sid, fields):
        self.conn.send_headers(sid, fields, end_stream=True)
        self.sock.sendall(self.conn.data_to_send())

    def pump(self, timeout=None):
        """One read, its events into `results`; False once the server closed."""
        results = self.results
        self.sock.settimeout(timeout or self.timeout)
        data = self.sock.recv(65536)
        if not data:
            results["closed"] = True
            return False
        self.inbox += data
        frames = b""
        while True:
            f, self.inbox = w.take_frame(self.inbox)
            if f is None:
                break
            if f.kind == w.GOAWAY:
                last, code = w.goaway_fields(f)
                results.setdefault("goaways", []).append({"last": last, "code": code})
            else:
                frames += w.frame(f.kind, f.flags, f.stream, f.payload)
        for event in self.conn.receive_data(frames):
            if isinstance(event, h2.events.ResponseReceived):
                results.setdefault(event.stream_id, {"body": ""})["status"] = int(dict(event.headers)[":status"])
            elif isinstance(event, h2.events.DataReceived):
                results.setdefault(event.stream_id, {"body": ""})["body"] += event.data.decode("latin-1")
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                self.ended.add(event.stream_id)
            elif isinstance(event, h2.events.StreamReset):
                results.setdefault(event.stream_id, {"body": ""})["reset"] = event.error_code
                self.ended.add(event.stream_id)
            elif isinstance(event, h2.events.ConnectionTerminated):
                results["goaway"] = {"last": event.last_stream_id, "code": event.error_code}
        self.sock.sendall(self.conn.data_to_send())
        return True

    def collect(self, ids, until_closed=False, timeout=None):
        """Reads until every stream of `ids` ended (or, `until_closed`, the connection);
        each read bounded by `timeout` (else the client's)."""
        while not set(ids) <= self.ended or until_closed:
            if not self.pump(timeout):
                break
        return self.results

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

