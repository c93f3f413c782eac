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
--h2: the hello check over HTTP/2 with curl (h2 by ALPN with --tls, h2c with prior knowledge
without); a server that answers HTTP/1.1 but not HTTP/2 fails at once with exit status 3.
Exits 0 when ready; 1 with a message when the pid died, the answer is wrong, or time ran out.
"""
import argparse
import http.client
import os
import ssl
import subprocess
import sys
import time

EXPECTED_BODY = b"Hello, World!"
NO_HTTP2 = 3  # the exit status of a server up over HTTP/1.1 but not HTTP/2


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


def check_h2_hello(port, tls):
    """GET / over HTTP/2 with curl: None when it is the hello world over HTTP/2, else why not."""
    url = f"{'https' if tls else 'http'}://127.0.0.1:{port}/"
    mode = ["--http2", "-k"] if tls else ["--http2-prior-knowledge"]
    try:
        out = subprocess.run(["curl", "-sS", "--max-time", "2", *mode, "-w", "\n%{http_version} %{http_code}", url],
                             capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired) as e:
        return repr(e)
    body, _, tail = out.stdout.rpartition("\n")
    if out.returncode == 0 and tail == "2 200" and body == EXPECTED_BODY.decode():
        return None
    return f"curl exit {out.returncode}, version/status {tail!r}, body {body[:60]!r}, {out.stderr.strip()[:200]}"


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
    ap.add_argument("--h2", action="store_true")
    a = ap.parse_args()
    unverified = ssl._create_unverified_context() if a.tls else None
    deadline = time.monotonic() + a.timeout
    last = "no answer"
    h2_failures = 0
    while time.monotonic() < deadline:
        if not os.path.exists(f"/proc/{a.pid}") or open(f"/proc/{a.pid}/stat").read().split(") ")[1][0] == "Z":
            sys.exit(f"server process {a.pid} exited before answering on port {a.port}")
        if a.h2:
            # HTTP/2 first (a server may speak nothing else, as nginx's h2c listener); a
            # server that answers the HTTP/1.1 check instead, three times, has no HTTP/2.
            why = check_h2_hello(a.port, a.tls)
            if why is None:
                return
            last = why
        try:
            conn = (http.client.HTTPSConnection("127.0.0.1", a.port, timeout=2, context=unverified)
                    if a.tls else http.client.HTTPConnection("127.0.0.1", a.port, timeout=2))
            try:
                CHECKS[a.kind](conn, a)
            finally:
                conn.close()
            if not a.h2:
                return
            h2_failures += 1
            if h2_failures == 3:
                print(f"port {a.port}: serves HTTP/1.1 but not HTTP/2 ({last})", file=sys.stderr)
                sys.exit(NO_HTTP2)
        except WrongAnswer as e:
            if not a.h2:
                sys.exit(f"port {a.port}: {e}")
        except (OSError, http.client.HTTPException) as e:
            if not a.h2:
                last = repr(e)
        time.sleep(0.05)
    sys.exit(f"server on port {a.port} did not answer ({a.kind} check) within {a.timeout:g} s (last: {last})")


if __name__ == "__main__":
    main()
