#!/usr/bin/env python3
"""Sends exactly N requests one after the other and reads each response (Content-Length
framing): all on one keep-alive connection, or with --close each on a new connection that
says Connection: close (the response is read, then the server's close, then the next
connection opens). With --tls the connections speak TLS (no certificate check: the probes
use a throwaway certificate). With --resume (and --close) each new connection offers the
session the one before ended with: the newest ticket, as wrk and browsers do (they use a
TLS 1.3 ticket once; this client offers the old one again when no new ticket came).

Usage: keepalive_client.py PORT N [--tls] [--close] [--resume] [--path /]
"""
import socket
import ssl
import sys


def tls_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def connect(port: int, tls: ssl.SSLContext | None, session: ssl.SSLSession | None = None) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if tls:
        sock = tls.wrap_socket(sock, server_hostname="localhost", session=session)
    return sock


def read_response(sock: socket.socket, pending: bytes) -> bytes | None:
    """Reads one response; returns what followed it, or None (with a message) if cut short."""
    while b"\r\n\r\n" not in pending:
        chunk = sock.recv(65536)
        if not chunk:
            print("keepalive_client: connection closed early", file=sys.stderr)
            return None
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
            return None
        pending += chunk
    return pending[length:]


def main() -> int:
    port, count = int(sys.argv[1]), int(sys.argv[2])
    path = sys.argv[sys.argv.index("--path") + 1] if "--path" in sys.argv else "/"
    tls = tls_context() if "--tls" in sys.argv else None
    close, resume = "--close" in sys.argv, "--resume" in sys.argv
    if close:
        request = f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode()
        session, resumed = None, 0
        for _ in range(count):
            sock = connect(port, tls, session)
            sock.sendall(request)
            rest = read_response(sock, b"")
            if rest is None:
                return 1
            while not rest:  # the server's close: the next connection starts after it
                try:
                    if not sock.recv(65536):
                        break
                except ssl.SSLError:  # a TLS peer that closes without close_notify
                    break
            if resume:
                resumed += sock.session_reused
                session = sock.session  # the ticket this connection brought, if any
            sock.close()
        if resume:
            print(f"keepalive_client: {resumed} of {count} connections resumed", file=sys.stderr)
        return 0
    sock = connect(port, tls)
    request = f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode()
    pending = b""
    for _ in range(count):
        sock.sendall(request)
        pending = read_response(sock, pending)
        if pending is None:
            return 1
    sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
