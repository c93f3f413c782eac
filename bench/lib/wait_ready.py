#!/usr/bin/env python3
"""Wait (bounded) until a server answers GET / with 200 "Hello, World!" text/plain.

    wait_ready.py PORT PID TIMEOUT_SECONDS
Exits 0 when ready; 1 with a message when the pid died, the answer is wrong, or time ran out.
"""
import http.client
import os
import sys
import time

EXPECTED_BODY = b"Hello, World!"


def main():
    port, pid, timeout = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split(") ")[1][0] == "Z":
            sys.exit(f"server process {pid} exited before answering on port {port}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/")
            resp = conn.getresponse()
            body = resp.read()
            ctype = resp.getheader("Content-Type", "")
            conn.close()
            if resp.status == 200 and body == EXPECTED_BODY and ctype.startswith("text/plain"):
                return
            sys.exit(f"port {port}: unexpected answer to GET /: {resp.status} "
                     f"Content-Type={ctype!r} body={body[:80]!r} (want 200 text/plain {EXPECTED_BODY!r})")
        except (OSError, http.client.HTTPException) as e:
            last = repr(e)
        time.sleep(0.05)
    sys.exit(f"server on port {port} did not answer GET / within {timeout:g} s (last: {last})")


if __name__ == "__main__":
    main()
