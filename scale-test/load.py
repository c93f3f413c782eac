#!/usr/bin/env python3
"""The scale test's client: C keep-alive connections to the balancer, each sending GET
after GET until SIGTERM, never retrying anything. Every request is one line of the
output (JSON): when it started (wall clock), how long it took, and its outcome: "200",
another status, or an error ("connect: ...", "closed", "reset", "timeout", "short").

Usage: load.py HOST PORT PATH CONNECTIONS OUTPUT
"""
import asyncio
import json
import signal
import sys
import time

TIMEOUT = 10.0


async def one_connection(host, port, path, records, stopping):
    request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    reader = writer = None
    while not stopping.is_set():
        started = time.time()
        outcome = None
        try:
            if writer is None:
                try:
                    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), TIMEOUT)
                except (OSError, asyncio.TimeoutError) as error:
                    outcome = f"connect: {type(error).__name__}"
                    raise
            writer.write(request)
            await writer.drain()
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
            lines = head.split(b"\r\n")
            status = lines[0].split(b" ")[1].decode()
            length = 0
            close = False
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"connection" and b"close" in value.lower():
                    close = True
            await asyncio.wait_for(reader.readexactly(length), TIMEOUT)
            outcome = status
            if close:
                writer.close()
                reader = writer = None
        except asyncio.IncompleteReadError as error:
            outcome = outcome or ("closed" if not error.partial else "short")
        except asyncio.TimeoutError:
            outcome = outcome or "timeout"
        except ConnectionResetError:
            outcome = outcome or "reset"
        except OSError as error:
            outcome = outcome or f"error: {type(error).__name__}"
        finally:
            if outcome is None:
                outcome = "interrupted"
            if outcome != "200" and writer is not None:
                writer.close()
                reader = writer = None
            if outcome != "interrupted":
                records.append((started, time.time() - started, outcome))
        if outcome.startswith("connect"):
            await asyncio.sleep(0.05)


async def main():
    host, port, path, connections, output = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stopping.set)
    loop.add_signal_handler(signal.SIGINT, stopping.set)
    records = []
    tasks = [asyncio.create_task(one_connection(host, port, path, records, stopping)) for _ in range(connections)]
    await stopping.wait()
    await asyncio.wait(tasks, timeout=TIMEOUT + 1)
    with open(output, "w") as out:
        for started, seconds, outcome in records:
            out.write(json.dumps({"t": round(started, 6), "s": round(seconds, 6), "o": outcome}) + "\n")


asyncio.run(main())
