import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// HTTP/2 for an application of async handlers (`RAPTOR_TESTAPP_APPLICATION=async`): each
/// stream's handler is a Task that answers into the stream's sink, as a pool thread does; a
/// streamed body waits for the client's window through the loop, holding no thread. One
/// process, over tcp (h2c with prior knowledge) and tls (ALPN). Exclusive: the tests time
/// concurrency and stall writers.
@Suite(.exclusive) final class HTTP2AsyncTests: ServerSuite {
    func startAsyncApp(_ mode: ServerMode, _ flags: [String] = []) throws -> ServerProcess {
        try startTestApp(mode, flags, environment: AsyncHandlerTests.async)
    }

    /// curl over HTTP/2: ALPN over TLS, prior knowledge in the clear.
    func curlH2(_ server: ServerProcess, _ path: String, _ options: [String] = []) throws -> ExternalClient.Result {
        try curl(
            server, path, (server.transport == .tls ? ["--http2"] : ["--http2-prior-knowledge"]) + ["-sS"] + options)
    }

    /// A Python script on `Tests/Clients/h2_client.py` against `server` (argv: the URL, the CA
    /// file, then `extra`); its last line is JSON.
    func runH2(_ server: ServerProcess, _ body: String, _ extra: [String] = [], timeout: Double = 20) throws
        -> [String: Any]
    {
        let script = """
            \(HTTP2Tests.h2Client)
            \(body)
            """
        let run = try python(server, script, arguments: [server.transport.caFile ?? ""] + extra, timeout: timeout)
        #expect(run.succeeded, "\(run)\n\(server.logTail)")
        let line = run.standardOutput.split(separator: "\n").last.map(String.init) ?? ""
        return (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]) ?? [:]
    }

    /// curl's way in: ALPN over TLS, prior knowledge in the clear; the same server still
    /// serves HTTP/1.1. A typed error thrown after an await is the stream's response (409),
    /// any other a 500, and the connection goes on; a request body is the Task's whole. Seen failing (curl fell back to 1.1 over
    /// TLS, the preface refused over tcp) with the worker's HTTP/2 setting off for async
    /// applications, as before.
    @Test(arguments: ServerMode.modes(.inline))
    func servesHTTP2AndAnswersThrownErrorsOnTheStream(_ mode: ServerMode) throws {
        let server = try startAsyncApp(mode)
        let hello = try curlH2(server, "/sleep?ms=5", ["-w", "|%{http_version}"])
        #expect(hello.standardOutput == "slept\n|2", "\(hello)")
        let http1 = try curl(server, "/", ["-sS", "--http1.1", "-w", "|%{http_version}"])
        #expect(http1.standardOutput == "Hello, World!|1.1", "\(http1)")
        let got = try runH2(
            server,
            """
            client = Client(sys.argv[1], sys.argv[2])
            ids = [client.send("GET", p) for p in ["/refuse-after-await?code=409", "/throw-after-await", "/request"]]
            ids.append(client.send("POST", "/body-chunks", body=b"x" * 100000))
            got = client.collect(ids)
            print(json.dumps({str(i): got[i] for i in ids}))
            """)
        let refused = got["1"] as? [String: Any]
        #expect(refused?["status"] as? Int == 409 && refused?["reset"] == nil, "\(got)")
        #expect((got["3"] as? [String: Any])?["status"] as? Int == 500, "\(got)")
        let after = got["5"] as? [String: Any]
        #expect(after?["status"] as? Int == 200, "\(got)")
        #expect((after?["body"] as? String)?.contains("version=HTTP/2.0") == true, "\(got)")
        // The body arrived whole before the Task started, read as chunks.
        let chunks = got["7"] as? [String: Any]
        #expect(chunks?["body"] as? String == "chunks=2 length=100000 sum=12000000\n", "\(got)")
    }

    /// An application of streamed bodies (`.async(bodies: .streamed)`, HTTP/1.1's upload
    /// streaming) over HTTP/2: each stream's Task starts once its body arrived whole, and
    /// hands it out through the same calls: `chunks()` as it would have arrived, `receive()`
    /// at once.
    @Test(arguments: ServerMode.modes(.inline))
    func streamedBodyApplicationsGetWholeBodiesOverHTTP2(_ mode: ServerMode) throws {
        let server = try startTestApp(mode, [], environment: AsyncBodyStreamTests.streamed)
        let got = try runH2(
            server,
            """
            client = Client(sys.argv[1], sys.argv[2])
            ids = [client.send("POST", "/body-chunks", body=b"x" * 200000),
                   client.send("POST", "/receive", body=b"y" * 3000),
                   client.send("POST", "/refuse-upload", body=b"z" * 1000)]
            got = client.collect(ids)
            print(json.dumps({str(i): got[i] for i in ids}))
            """)
        #expect((got["1"] as? [String: Any])?["body"] as? String == "chunks=4 length=200000 sum=24000000\n", "\(got)")
        #expect((got["3"] as? [String: Any])?["body"] as? String == "length=3000 memory=true sum=363000\n", "\(got)")
        #expect((got["5"] as? [String: Any])?["status"] as? Int == 403, "\(got)")
    }

    /// 48 streams on one connection, each awaiting a 300 ms timer, finish together (one at a
    /// time they would take 14 s): awaiting holds no thread. With `--max-inflight 4
    /// --max-pending 4` the streams' Tasks count: 4 run, 4 wait for a slot, the rest get 503
    /// with Retry-After, and the waiting ones take a second round. Seen failing with the
    /// stream's Task awaited on the loop thread (14 s), and with the streams started past
    /// the limit (all 200 in one round).
    @Test(arguments: ServerMode.modes(.inline))
    func concurrentStreamsAwaitTogetherWithinTheInFlightLimit(_ mode: ServerMode) throws {
        // `count` streams of /sleep?ms=300 at once on one connection: how long, what came.
        func sleepers(_ server: ServerProcess, _ count: Int) throws -> (Double, [Int], [String]) {
            let got = try runH2(
                server,
                """
                import time
                client = Client(sys.argv[1], sys.argv[2])
                started = time.monotonic()
                ids = [client.send("GET", "/sleep?ms=300") for _ in range(int(sys.argv[3]))]
                got = client.collect(ids)
                print(json.dumps({"elapsed": time.monotonic() - started,
                                  "statuses": [got[i].get("status") for i in ids],
                                  "bodies": [got[i].get("body") for i in ids]}))
                """, [String(count)])
            return (got["elapsed"] as? Double ?? 99, got["statuses"] as? [Int] ?? [], got["bodies"] as? [String] ?? [])
        }
        let (elapsed, together, bodies) = try sleepers(startAsyncApp(mode), 48)
        #expect(together == Array(repeating: 200, count: 48), "\(together)")
        #expect(bodies == Array(repeating: "slept\n", count: 48), "\(bodies)")
        #expect(elapsed < 1.5, "48 streams of 300 ms took \(elapsed) s")

        let limited = try startAsyncApp(mode, ["--max-inflight", "4", "--max-pending", "4"])
        let (twoRounds, statuses, _) = try sleepers(limited, 12)
        #expect(statuses == Array(repeating: 200, count: 8) + Array(repeating: 503, count: 4), "\(statuses)")
        #expect(twoRounds >= 0.55, "8 streams through 4 slots took \(twoRounds) s: the limit did not hold")
        let after = try curlH2(limited, "/")
        #expect(after.standardOutput == "Hello, World!", "a slot frees for the next: \(after)")
    }

    /// An `.asyncStream` body to a client whose window is 1 KiB arrives whole (the Task waits
    /// for each WINDOW_UPDATE through the loop). Streams to a client whose window stays
    /// closed hold no thread: with more of them than the cooperative pool has threads,
    /// another connection's request that awaits a timer is answered at once; then the window
    /// opens and each stream arrives whole. Seen failing with the Task's writes blocking on
    /// the stream's buffer (the blocking write of a pool thread): the other request timed
    /// out; and with the loop not resuming the Task as the buffer drains (the 1 KiB window's
    /// stream was reset by the write timeout).
    @Test(arguments: ServerMode.modes(.inline))
    func streamedBodiesWaitForTheWindowWithoutAThread(_ mode: ServerMode) throws {
        let server = try startAsyncApp(mode, ["--write-timeout", "5s"])
        let small = try runH2(
            server,
            """
            client = Client(sys.argv[1], sys.argv[2], window=1024)
            s = client.send("GET", "/async-stream?chunks=8&size=40000")
            got = client.collect([s])
            print(json.dumps({"length": len(got[s]["body"]), "status": got[s].get("status"), "reset": got[s].get("reset")}))
            """)
        #expect(small["length"] as? Int == 320_000 && small["status"] as? Int == 200, "\(small)")

        let stalled = try runH2(
            server,
            """
            import h2.settings, subprocess
            client = Client(sys.argv[1], sys.argv[2], window=0)
            ids = [client.send("GET", "/async-stream?chunks=4&size=65536") for _ in range(6)]
            while not all(i in client.results for i in ids):
                client.pump()   # every head came: six Tasks write, or wait for room
            other = subprocess.run(["curl", "-sS", "--max-time", "3", "-k", sys.argv[3], sys.argv[4]],
                                   capture_output=True, text=True)
            client.conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1 << 20})
            client.conn.increment_flow_control_window(8 << 20)
            client.sock.sendall(client.conn.data_to_send())
            got = client.collect(ids)
            print(json.dumps({"other": other.stdout, "lengths": [len(got[i]["body"]) for i in ids]}))
            """,
            [mode.transport == .tls ? "--http2" : "--http2-prior-knowledge", server.url("/sleep?ms=10")])
        #expect(stalled["other"] as? String == "slept\n", "\(stalled)")
        #expect(stalled["lengths"] as? [Int] == Array(repeating: 4 * 65536, count: 6), "\(stalled)")
    }

    /// A client that resets a stream while its Task awaits a timer, or waits for room in the
    /// stream's buffer: the Task is cancelled (the timer throws CancellationError), or its
    /// write fails (no use after free: the stream lives until the Task hands it back), and
    /// the connection goes on. A client that leaves altogether while Tasks run does the same
    /// to each. Seen failing with the reset not waking the Task waiting for room (no "ended"
    /// until the write timeout).
    @Test(arguments: ServerMode.modes(.inline))
    func resetStreamsAndLeavingClientsEndTheirTasks(_ mode: ServerMode) throws {
        let server = try startAsyncApp(mode, ["--write-timeout", "30s"])
        let got = try runH2(
            server,
            """
            import h2.errors, h2.settings
            \(Self.firstChunk)
            client = Client(sys.argv[1], sys.argv[2], window=0)
            sleeping = client.send("GET", "/async-stream?chunks=3&size=8&pause-ms=400&id=sleeping")
            waiting = client.send("GET", "/async-stream?chunks=2&size=100000&id=waiting")
            first_chunk(client, sleeping)
            while waiting not in client.results:
                client.pump()
            for i in (sleeping, waiting):
                client.conn.reset_stream(i, error_code=h2.errors.ErrorCodes.CANCEL)
            client.conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 65535})
            client.sock.sendall(client.conn.data_to_send())
            after = client.send("GET", "/request")
            got = client.collect([after])
            print(json.dumps({"after": got[after].get("status")}))
            """)
        #expect(got["after"] as? Int == 200, "the connection goes on: \(got)")
        for (id, error) in [("sleeping", Self.cancelled), ("waiting", Self.clientGone)] {
            let ended = waitUntil(timeout: 5) {
                server.standardError.contains("id=\(id) ended: \(error)")
            }
            #expect(ended, "the \(id) Task saw its stream gone: \(server.logTail)")
        }

        let left = try runH2(
            server,
            """
            \(Self.firstChunk)
            client = Client(sys.argv[1], sys.argv[2], window=0)
            ids = [client.send("GET", "/async-stream?chunks=3&size=8&pause-ms=400&id=left-sleeping"),
                   client.send("GET", "/async-stream?chunks=2&size=100000&id=left-waiting")]
            first_chunk(client, ids[0])
            while ids[1] not in client.results:
                client.pump()
            client.close()
            print(json.dumps({"left": True}))
            """)
        #expect(left["left"] as? Bool == true)
        for (id, error) in [("left-sleeping", Self.cancelled), ("left-waiting", Self.clientGone)] {
            let ended = waitUntil(timeout: 5) {
                server.standardError.contains("id=\(id) ended: \(error)")
            }
            #expect(ended, "the \(id) Task saw its client gone: \(server.logTail)")
        }
        let still = try curlH2(server, "/")
        #expect(still.standardOutput == "Hello, World!", "\(still)\n\(server.logTail)")
    }

    /// A stream's Task outlives its connection (the client left while the handler awaits
    /// work that ignores cancellation) and the worker is stopped meanwhile: it exits once the
    /// Task handed the stream back, not at its last connection. Seen failing with the worker
    /// drained at its last connection: it exited before the Task ended (under ASan, the
    /// Task's hand-back was a use after free of the worker).
    @Test func aStoppingWorkerWaitsForTheTasksOfClosedConnections() throws {
        let server = try startAsyncApp(ServerMode(.inline, .tcp), ["--shutdown-timeout", "10s"])
        let client = try connect(server)
        try client.send(Self.priorKnowledgeGet("/linger?ms=1500"))
        let began = waitUntil(timeout: 10) { server.standardError.contains("linger began /linger?ms=1500") }
        #expect(began, "\(server.logTail)")
        client.close()
        server.terminate()
        #expect(server.waitForExit(timeout: 15) == .exited(0), "\(server.logTail)")
        #expect(
            server.standardError.contains("linger ended /linger?ms=1500"),
            "the worker exited before the Task ended: \(server.logTail)")
    }

    /// An h2c connection's first flight with one GET (prior knowledge): the preface, empty
    /// SETTINGS, and HEADERS on stream 1 with END_STREAM, its fields as HPACK literals.
    static func priorKnowledgeGet(_ path: String) -> [UInt8] {
        func literal(nameIndex: UInt8, _ value: String) -> [UInt8] {
            [nameIndex, UInt8(value.utf8.count)] + Array(value.utf8)  // without indexing, no Huffman
        }
        let block: [UInt8] = [0x82, 0x86] + literal(nameIndex: 4, path) + literal(nameIndex: 1, "localhost")
        let headers: [UInt8] = [0, 0, UInt8(block.count), 0x1, 0x5, 0, 0, 0, 1] + block
        return Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8) + [0, 0, 0, 0x4, 0, 0, 0, 0, 0] + headers
    }

    /// Opens a stream's window for its first 8-byte chunk and waits for it: the stream's Task
    /// is then in its pause (without it, a reset under ASan once reached the Task before its
    /// first write, which then failed instead of the pause being cancelled).
    static let firstChunk = """
        def first_chunk(client, sid):
            client.conn.increment_flow_control_window(8, stream_id=sid)
            client.sock.sendall(client.conn.data_to_send())
            while len(client.results.get(sid, {}).get("body", "")) < 8:
                client.pump()
        """

    /// What the test application reports when its `.asyncStream` ends early.
    static let cancelled = "CancellationError()"
    static let clientGone = "the client closed the connection"

    /// A graceful stop with streams' Tasks in flight: the GOAWAY notice, then the final one
    /// naming the last stream; those streams finish whole, then the connection closes and the
    /// worker exits cleanly. Seen failing with the stop closing h2 connections at once (no
    /// final GOAWAY, the bodies cut short).
    @Test(arguments: ServerMode.modes(.inline))
    func gracefulStopLetsStreamsTasksFinish(_ mode: ServerMode) throws {
        let server = try startAsyncApp(mode, ["--shutdown-timeout", "10s"])
        let summary = try runH2(
            server,
            """
            import os, signal
            client = Client(sys.argv[1], sys.argv[2])
            ids = [client.send("GET", "/async-stream?chunks=2&size=8&pause-ms=600") for _ in range(3)]
            while not any(len(client.results.get(i, {}).get("body", "")) for i in ids):
                client.pump()   # a Task runs: the first chunk of a stream arrived
            os.kill(int(sys.argv[3]), signal.SIGTERM)
            got = client.collect(ids, until_closed=True)
            last = got["goaways"][-1]["last"]
            print(json.dumps({"goaways": got.get("goaways"), "closed": got.get("closed", False),
                              "bodies": [got.get(i, {}).get("body") for i in ids if i <= last]}))
            """, [String(server.pid)])
        let goaways = summary["goaways"] as? [[String: Int]] ?? []
        #expect(goaways.count == 2 && goaways.allSatisfy { $0["code"] == 0 }, "\(summary)")
        #expect(goaways.first?["last"] == Int(Int32.max), "\(summary)")
        let bodies = summary["bodies"] as? [String] ?? []
        #expect(!bodies.isEmpty && bodies.allSatisfy { $0 == String(repeating: "x", count: 16) }, "\(summary)")
        #expect(summary["closed"] as? Bool == true, "the connection closes after its streams: \(summary)")
        #expect(server.waitForExit(timeout: 10) == .exited(0), "\(server.logTail)")
        server.stop()  // the script stopped it: not a crash
    }

    /// h2load for two seconds (4 connections of 16 streams, a Task each): every request a 200.
    @Test(arguments: ServerMode.modes(.inline))
    func underH2loadEveryStreamSucceeds(_ mode: ServerMode) throws {
        let server = try startAsyncApp(mode)
        let load = try ExternalClient.run(
            "h2load", ["-D", "2", "-c", "4", "-m", "16", server.url("/sleep?ms=1")], timeout: 20,
            outputDirectory: workDirectory)
        #expect(load.succeeded, "\(load)")
        let requests = load.standardOutput.split(separator: "\n").first { $0.hasPrefix("requests:") } ?? ""
        let codes = load.standardOutput.split(separator: "\n").first { $0.hasPrefix("status codes:") } ?? ""
        // "requests: N total, S started, N done, N succeeded, 0 failed, 0 errored, 0 timeout"
        // (S counts the streams the end of the duration cut short: h2load did not wait for them)
        let numbers = requests.split(separator: " ").compactMap { Int($0) }
        #expect(
            numbers.count == 7 && numbers[0] > 500 && numbers[0] == numbers[2] && numbers[0] == numbers[3], "\(load)")
        #expect(numbers.count == 7 && numbers[4...6].allSatisfy { $0 == 0 }, "\(load)")
        #expect(codes == "status codes: \(numbers.first ?? -1) 2xx, 0 3xx, 0 4xx, 0 5xx", "\(load)")
    }
}
