#!/usr/bin/env python3
"""Sends exactly N keep-alive requests on one connection, one after the other, and reads
each response (Content-Length framing). With --tls the connection speaks TLS (no
certificate check: the probes use a throwaway certificate).

Usage: keepalive_client.py PORT N [--tls] [--path /]
"""
import socket
import ssl
import sys


def main() -> int:
    port, count = int(sys.argv[1]), int(sys.argv[2])
    path = sys.argv[sys.argv.index("--path") + 1] if "--path" in sys.argv else "/"
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if "--tls" in sys.argv:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        sock = context.wrap_socket(sock, server_hostname="localhost")
    request = f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode()
    pending = b""
    for _ in range(count):
        sock.sendall(request)
        while b"\r\n\r\n" not in pending:
            chunk = sock.recv(65536)
            if not chunk:
                print("keepalive_client: connection closed early", file=sys.stderr)
                return 1
            pending += chunk
        head, _, pending = pending.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(pending) < length:
            chunk = sock.recv(65536)
            if not chunk:
                print("keepalive_client: body cut short", file=sys.stderr)
                return 1
            pending += chunk
        pending = pending[length:]
    sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
