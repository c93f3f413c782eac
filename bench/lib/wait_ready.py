#!/usr/bin/env python3
"""Wait (bounded) until a server answers correctly for a scenario.

    wait_ready.py PORT PID TIMEOUT_SECONDS [--kind hello|static|post] [--path PATH]
                  [--file FILE] [--body-size N] [--tls]

  hello  (default)  GET / -> 200 "Hello, World!" text/plain
  static            GET PATH -> 200 with exactly the bytes of FILE
  range             GET PATH with Range: bytes=1000-66535 -> 206 with exactly those bytes of FILE
                    and Content-Range: bytes 1000-66535/SIZE
  conditional       GET PATH -> 200 with the bytes of FILE and an ETag; the same GET with
                    If-None-Match: that ETag -> 304; prints the ETag on stdout
  post              two POSTs of an N-byte body to PATH on ONE keep-alive connection -> 200
                    twice: the server read (or discarded) the whole first body, else the
                    second request would not parse
--tls: over https (the certificate is not checked: the benchmark's is a throwaway one).
Exits 0 when ready; 1 with a message when the pid died, the answer is wrong, or time ran out.
"""
import argparse
import http.client
import os
import ssl
import sys
import time

EXPECTED_BODY = b"Hello, World!"


class WrongAnswer(Exception):
    pass


def check_hello(conn, a):
    conn.request("GET", "/")
    resp = conn.getresponse()
    body = resp.read()
    ctype = resp.getheader("Content-Type", "")
    if not (resp.status == 200 and body == EXPECTED_BODY and ctype.startswith("text/plain")):
        raise WrongAnswer(f"unexpected answer to GET /: {resp.status} Content-Type={ctype!r} "
                          f"body={body[:80]!r} (want 200 text/plain {EXPECTED_BODY!r})")


def check_static(conn, a):
    with open(a.file, "rb") as f:
        want = f.read()
    conn.request("GET", a.path)
    resp = conn.getresponse()
    body = resp.read()
    if resp.status != 200 or body != want:
        raise WrongAnswer(f"unexpected answer to GET {a.path}: {resp.status}, {len(body)} bytes "
                          f"(want 200 and the {len(want)} bytes of {a.file})")


def check_range(conn, a):
    with open(a.file, "rb") as f:
        data = f.read()
    first, last = 1000, 66535
    conn.request("GET", a.path, headers={"Range": f"bytes={first}-{last}"})
    resp = conn.getresponse()
    body = resp.read()
    content_range = resp.getheader("Content-Range", "")
    if resp.status != 206 or body != data[first:last + 1] or content_range != f"bytes {first}-{last}/{len(data)}":
        raise WrongAnswer(f"unexpected answer to a Range GET of {a.path}: {resp.status}, {len(body)} bytes, "
                          f"Content-Range {content_range!r} (want 206 and bytes {first}-{last}/{len(data)})")


def check_conditional(conn, a):
    check_static(conn, a)
    conn.request("GET", a.path)
    resp = conn.getresponse()
    resp.read()
    etag = resp.getheader("ETag")
    if not etag:
        raise WrongAnswer(f"GET {a.path}: no ETag")
    conn.request("GET", a.path, headers={"If-None-Match": etag})
    resp = conn.getresponse()
    body = resp.read()
    if resp.status != 304 or body:
        raise WrongAnswer(f"GET {a.path} with If-None-Match: {etag}: {resp.status}, {len(body)} bytes (want 304)")
    print(etag)


def check_post(conn, a):
    payload = b"x" * a.body_size
    for i in (1, 2):
        conn.request("POST", a.path, body=payload, headers={"Content-Type": "application/octet-stream"})
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200 or not body:
            raise WrongAnswer(f"unexpected answer to POST {a.path} #{i} ({a.body_size} bytes, one "
                              f"connection): {resp.status} body={body[:80]!r} (want 200)")
        if resp.will_close:
            raise WrongAnswer(f"POST {a.path} #{i}: the server closes the connection after a body")


CHECKS = {"hello": check_hello, "static": check_static, "range": check_range, "conditional": check_conditional,
          "post": check_post}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("pid", type=int)
    ap.add_argument("timeout", type=float)
    ap.add_argument("--kind", choices=sorted(CHECKS), default="hello")
    ap.add_argument("--path", default="/")
    ap.add_argument("--file")
    ap.add_argument("--body-size", type=int, default=65536)
    ap.add_argument("--tls", action="store_true")
    a = ap.parse_args()
    unverified = ssl._create_unverified_context() if a.tls else None
    deadline = time.monotonic() + a.timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if not os.path.exists(f"/proc/{a.pid}") or open(f"/proc/{a.pid}/stat").read().split(") ")[1][0] == "Z":
            sys.exit(f"server process {a.pid} exited before answering on port {a.port}")
        try:
            conn = (http.client.HTTPSConnection("127.0.0.1", a.port, timeout=2, context=unverified)
                    if a.tls else http.client.HTTPConnection("127.0.0.1", a.port, timeout=2))
            try:
                CHECKS[a.kind](conn, a)
                return
            finally:
                conn.close()
        except WrongAnswer as e:
            sys.exit(f"port {a.port}: {e}")
        except (OSError, http.client.HTTPException) as e:
            last = repr(e)
        time.sleep(0.05)
    sys.exit(f"server on port {a.port} did not answer ({a.kind} check) within {a.timeout:g} s (last: {last})")


if __name__ == "__main__":
    main()
