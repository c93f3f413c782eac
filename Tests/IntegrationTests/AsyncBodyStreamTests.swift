import Foundation
import Testing

/// Request bodies streamed to async handlers (issue 12, item 2: `Responder.async(bodies:
/// .streamed)`): `raptor-testapp` with RAPTOR_TESTAPP_APPLICATION=async and
/// RAPTOR_TESTAPP_BODIES=streamed starts a request's Task at the end of its head, and the
/// handler reads the body as the client sends it (Sources/raptor-testapp/AsyncApplication.swift:
/// /upload-hash hashes it, /refuse-upload answers without reading it, /receive stores it
/// whole); /sleep shows a Task cancelled when its client goes away. One process
/// (`--workers 0`; one test also a cluster), over TCP and TLS. Exclusive: the tests move tens
/// of MiB and measure memory and stalls.
@Suite(.exclusive) final class AsyncBodyStreamTests: ServerSuite {
    static let streamed = ["RAPTOR_TESTAPP_APPLICATION": "async", "RAPTOR_TESTAPP_BODIES": "streamed"]

    func startStreamingApp(_ mode: ServerMode, _ flags: [String] = []) throws -> ServerProcess {
        try startTestApp(mode, flags, environment: Self.streamed)
    }

    /// The handler has its first chunk while the client still holds the rest: the client
    /// sends the head and 1000 bytes, waits for the handler's report of that chunk (on the
    /// server's standard error), then sends the rest. Seen failing (no report in 10 s) with
    /// the worker's stream_bodies left off (the Task started only once the body was whole).
    /// Also in a cluster's forked worker.
    @Test(arguments: ServerMode.all)
    func theHandlerReadsTheFirstChunkBeforeTheRestIsSent(_ mode: ServerMode) throws {
        let server = try startStreamingApp(mode)
        let body = Self.body(100_000)
        let client = try connect(server)
        try beginUpload(of: body, to: server, on: client)
        try client.send(Array(body[1000...]))
        let response = try client.readResponse()
        #expect(response.bodyText == Self.answer(body), "\(response.rawHead)")
        expectStillOpen(client)
    }

    /// 64 MiB through a handler that hashes it, with Content-Length and chunked: every byte
    /// arrives in order, and the worker's peak resident memory grows by far less than the
    /// body (the stream holds 64 KiB at most; the growth measured here was about 250 KiB).
    /// Seen failing (VmHWM grew by 33 to 36 MiB) with the stream's room taken as unbounded
    /// (the loop read whatever the socket had).
    @Test(arguments: ServerMode.modes(.inline), [false, true])
    func aLargeUploadStreamsInBoundedMemory(_ mode: ServerMode, chunked: Bool) throws {
        let server = try startStreamingApp(mode, ["--max-body-size", "128m"])
        let body = Self.body(64 << 20)
        let client = try connect(server, timeout: 60)
        try client.send(Self.head("/upload-hash", length: 1000) + body[..<1000])
        #expect(try client.readResponse().bodyText == Self.answer(Array(body[..<1000])))
        let before = server.peakResidentKiB
        if chunked {
            try client.send(Self.head("/upload-hash", length: nil))
            try Self.sendChunked(body, to: client)
        } else {
            try client.send(Self.head("/upload-hash", length: body.count))
            try client.send(body)
        }
        let response = try client.readResponse(timeout: 60)
        #expect(response.bodyText == Self.answer(body), "\(response.rawHead)")
        let growth = server.peakResidentKiB - before
        #expect(growth < 8 << 10, "the worker's peak resident set grew by \(growth) KiB for a 64 MiB upload")
        expectStillOpen(client)
    }

    /// A handler that does not read stops the client: while it waits at a gate, the client
    /// can push no more than the sockets' buffers and the stream's bound; once the gate
    /// opens, the rest goes through and the hash is right. Seen failing (all 32 MiB sent
    /// while the handler waited) with the stream's room taken as unbounded.
    @Test(arguments: ServerMode.modes(.inline))
    func aHandlerThatDoesNotReadStopsTheClient(_ mode: ServerMode) throws {
        let server = try startStreamingApp(mode, ["--max-body-size", "64m", "--body-timeout", "30s"])
        let body = Self.body(32 << 20)
        let client = try connect(server, timeout: 30)
        try client.send(Self.head("/upload-hash?gate=stalled", length: body.count))
        let sender = BackgroundSender(client: client, bytes: body)
        var sent = sender.sent
        var quietSince = ContinuousClock.now
        let stalled = waitUntil(timeout: 20) {
            let now = sender.sent
            if now != sent {
                sent = now
                quietSince = .now
            }
            return sender.finished || ContinuousClock.now - quietSince > .milliseconds(500)
        }
        #expect(stalled && !sender.finished, "the client sent all \(sender.sent) bytes while the handler read none")
        let bound = Self.socketBuffersBound() + (1 << 20)
        #expect(sender.sent < bound, "\(sender.sent) bytes taken while the handler read none (bound \(bound))")
        #expect(try exchange(server, Requests.get("/gate-open?name=stalled")).bodyText == "open\n")
        #expect(sender.wait(timeout: 30), "the rest of the body went through once the handler read")
        #expect(sender.error == nil, "\(String(describing: sender.error))")
        let response = try client.readResponse(timeout: 30)
        #expect(response.bodyText == Self.answer(body), "\(response.rawHead)")
    }

    /// A client that stops sending mid-body while the handler waits for it gets 408 and the
    /// connection closes (--body-timeout stays armed while the request is dispatched). Seen
    /// failing (no answer in 10 s) with the body deadline not armed after dispatch.
    @Test(arguments: ServerMode.modes(.inline))
    func aStalledBodyTimesOutWhileTheHandlerWaits(_ mode: ServerMode) throws {
        let server = try startStreamingApp(mode, ["--body-timeout", "1s"])
        let client = try connect(server)
        try client.send(Self.head("/upload-hash", length: 1000) + Self.body(10))
        let response = try client.readResponse(timeout: 10)
        #expect(response.status == 408 && response.saysClose, "\(response.rawHead)")
        expectClosed(client, "after the 408")
        #expect(try exchange(server, Requests.get("/")).status == 200)
    }

    /// --max-body-size: a Content-Length past it is 413 before the handler runs; a chunked
    /// body that passes it mid-stream fails the handler's sequence with 413, which is the
    /// response, and the connection closes.
    @Test(arguments: ServerMode.modes(.inline))
    func bodiesPastTheLimitAre413(_ mode: ServerMode) throws {
        let server = try startStreamingApp(mode, ["--max-body-size", "4k"])
        let declared = try connect(server)
        try declared.send(Self.head("/upload-hash?report=1", length: 5000))
        let early = try declared.readResponse()
        #expect(early.status == 413 && early.saysClose, "\(early.rawHead)")
        expectClosed(declared, "after the 413")
        #expect(!server.standardError.contains("upload first chunk"), "the handler ran: \(server.logTail)")

        let chunked = try connect(server)
        try chunked.send(Self.head("/upload-hash?report=1", length: nil))
        try Self.sendChunked(Self.body(3000), to: chunked, chunkSize: 1000, end: false)
        let firstChunk = waitUntil(timeout: 10) { server.standardError.contains("upload first chunk") }
        #expect(firstChunk, "\(server.logTail)")
        try Self.sendChunked(Self.body(3000), to: chunked, chunkSize: 1000, end: false)
        let late = try chunked.readResponse()
        #expect(late.status == 413 && late.saysClose, "\(late.rawHead)")
        let failed = waitUntil(timeout: 5) { server.standardError.contains("failed: the request body is larger") }
        #expect(failed, "\(server.logTail)")
        expectClosed(chunked, "after the 413")
        expectNoFailureReported(server)
    }

    /// Expect: 100-continue: the 100 is sent when the handler first waits for the body, so a
    /// handler that answers without reading refuses the upload before the client sends it
    /// (no 100; the response closes the connection). Seen failing (a 100 before the 403)
    /// with the 100 sent at dispatch.
    @Test(arguments: ServerMode.modes(.inline))
    func continueIsSentWhenTheHandlerWaitsForTheBody(_ mode: ServerMode) throws {
        let server = try startStreamingApp(mode)
        let body = Self.body(20_000)
        let reader = try connect(server)
        try reader.send(Self.head("/upload-hash", length: body.count, "Expect: 100-continue\r\n"))
        let interim = try reader.readHead()
        #expect(interim.status == 100, "\(interim.rawHead)")
        try reader.send(body)
        #expect(try reader.readResponse().bodyText == Self.answer(body))
        expectStillOpen(reader)

        let refuser = try connect(server)
        try refuser.send(Self.head("/refuse-upload", length: body.count, "Expect: 100-continue\r\n"))
        let refused = try refuser.readResponse()
        #expect(refused.status == 403 && refused.saysClose, "\(refused.rawHead)")
        expectClosed(refuser, "after refusing the upload")
    }

    /// A handler that answers before reading the body: the connection closes after the
    /// response when the body was not all read (the loop drains what still comes, so the
    /// answer is not reset away), and stays open when the whole body had arrived first.
    @Test(arguments: ServerMode.modes(.inline))
    func anEarlyResponseClosesOnlyWhenTheBodyWasNotRead(_ mode: ServerMode) throws {
        let server = try startStreamingApp(mode)
        let partial = try connect(server)
        try partial.send(Self.head("/refuse-upload", length: 1 << 20) + Self.body(1000))
        let refused = try partial.readResponse()
        #expect(refused.status == 403 && refused.saysClose, "\(refused.rawHead)")
        expectClosed(partial, "after an answer that left the body unread")

        let whole = try connect(server)
        try whole.send(Self.head("/refuse-upload", length: 100) + Self.body(100))
        let answered = try whole.readResponse()
        #expect(answered.status == 403 && !answered.saysClose, "\(answered.rawHead)")
        try whole.send(Requests.get("/"))
        #expect(try whole.readResponse().bodyText == "Hello, World!")
    }

    /// A client gone mid-body: the handler's sequence throws, its Task finishes, the request
    /// is an info line (not an error), and the worker serves on with its gauges back at rest.
    @Test(arguments: ServerMode.modes(.inline))
    func aClientGoneMidBodyEndsTheHandler(_ mode: ServerMode) throws {
        let server = try startStreamingApp(mode)
        let client = try connect(server)
        try beginUpload(of: Self.body(1 << 20), to: server, on: client)
        client.close()
        let ended = waitUntil(timeout: 10) {
            server.standardError.contains("failed: the client closed the connection")
                && server.standardError.contains("client went away during the request")
        }
        #expect(ended, "\(server.logTail)")
        expectNoFailureReported(server)
        #expect(try exchange(server, Requests.get("/")).status == 200)
    }

    /// A request pipelined behind a streamed body is answered after it, on the same
    /// connection.
    @Test(arguments: ServerMode.modes(.inline))
    func aRequestPipelinedAfterAStreamedBodyIsAnswered(_ mode: ServerMode) throws {
        let server = try startStreamingApp(mode)
        let body = Self.body(50_000)
        let client = try connect(server)
        try client.send(Self.head("/upload-hash", length: body.count) + body + Array(Requests.get("/").utf8))
        let responses = try client.readResponses(2)
        #expect(responses[0].bodyText == Self.answer(body))
        #expect(responses[1].bodyText == "Hello, World!")
        expectStillOpen(client)
    }

    /// Parsers are pooled: a connection holds one only while a request is read or answered,
    /// so a parked connection's parser reads the next connection's request. Two connections
    /// stay open and take turns uploading; every body reaches its own handler whole. Seen
    /// failing (the worker died at the second upload: its bytes went to the first
    /// connection) with the parser's body diverted to its connection only when it was made.
    @Test(arguments: ServerMode.modes(.inline))
    func uploadsOnConnectionsTakingTurnsReachTheirOwnHandlers(_ mode: ServerMode) throws {
        let server = try startStreamingApp(mode)
        let clients = [try connect(server), try connect(server)]
        for turn in 0..<4 {
            let body = Self.body(20_000 + turn)
            let client = clients[turn % 2]
            try client.send(Self.head("/upload-hash", length: body.count) + body)
            let response = try client.readResponse()
            #expect(response.bodyText == Self.answer(body), "turn \(turn): \(response.rawHead)")
        }
        clients.forEach { expectStillOpen($0) }
    }

    /// `receive()` stores the whole streamed body as the default mode does: in memory, or
    /// past --body-memory-limit in a temporary file; the whole-body calls read it then.
    @Test(arguments: ServerMode.modes(.inline))
    func receiveStoresTheWholeBody(_ mode: ServerMode) throws {
        let server = try startStreamingApp(mode, ["--body-memory-limit", "64k"])
        let client = try connect(server)
        for (length, memory) in [(1000, true), (3 << 20, false)] {
            let body = Self.body(length)
            try client.send(Self.head("/receive", length: nil))
            try Self.sendChunked(body, to: client)
            let sum = body.reduce(UInt64(0)) { $0 &+ UInt64($1) }
            #expect(try client.readResponse(timeout: 30).bodyText == "length=\(length) memory=\(memory) sum=\(sum)\n")
        }
    }

    /// A graceful stop while a body streams: the upload finishes, its response closes the
    /// connection, and the server exits cleanly.
    @Test(arguments: ServerMode.modes(.inline))
    func aGracefulStopLetsAStreamingUploadFinish(_ mode: ServerMode) throws {
        let server = try startStreamingApp(mode)
        let body = Self.body(200_000)
        let client = try connect(server)
        try beginUpload(of: body, to: server, on: client)
        server.terminate()
        try client.send(Array(body[1000...]))
        let response = try client.readResponse()
        #expect(response.bodyText == Self.answer(body) && response.saysClose, "\(response.rawHead)")
        #expect(server.waitForExit(timeout: 10) == .exited(0), "\(server.logTail)")
    }

    /// A client that goes away while its (async, not streaming) handler awaits cancels the
    /// handler's Task: the awaited sleep throws CancellationError at once (not after its 30
    /// s), which is no failure, and the worker serves on. Seen failing (no cancellation in
    /// 5 s) with the engine never calling release_task to cancel.
    @Test(arguments: ServerMode.modes(.inline))
    func aClientGoneMidHandlerCancelsItsTask(_ mode: ServerMode) throws {
        let server = try startTestApp(mode, [], environment: ["RAPTOR_TESTAPP_APPLICATION": "async"])
        let client = try connect(server)
        try client.send(Requests.get("/sleep?ms=30000&report=1"))
        let began = waitUntil(timeout: 10) { server.standardError.contains("sleep began /sleep?ms=30000&report=1") }
        #expect(began, "\(server.logTail)")
        client.close()
        let cancelled = waitUntil(timeout: 5) {
            server.standardError.contains("sleep /sleep?ms=30000&report=1 ended: CancellationError()")
        }
        #expect(cancelled, "\(server.logTail)")
        expectNoFailureReported(server)
        #expect(try exchange(server, Requests.get("/sleep?ms=10")).bodyText == "slept\n")
    }

    // MARK: Helpers

    /// Sends /upload-hash?report=1 the head for `body` and its first 1000 bytes, then waits
    /// for the handler to report that it has them.
    func beginUpload(
        of body: [UInt8], to server: ServerProcess, on client: RawClient,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        try client.send(Self.head("/upload-hash?report=1", length: body.count) + body[..<1000])
        let firstChunk = waitUntil(timeout: 10) {
            server.standardError.contains("upload first chunk /upload-hash?report=1 1000")
        }
        #expect(firstChunk, "\(server.logTail)", sourceLocation: sourceLocation)
    }

    static func head(_ target: String, length: Int?, _ fields: String = "") -> [UInt8] {
        let framing = length.map { "Content-Length: \($0)\r\n" } ?? "Transfer-Encoding: chunked\r\n"
        return Array("POST \(target) HTTP/1.1\r\nHost: localhost\r\n\(framing)\(fields)\r\n".utf8)
    }

    /// `count` bytes that are not all alike.
    static func body(_ count: Int) -> [UInt8] {
        var state: UInt32 = 0x1234_5678
        return [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            for index in 0..<count {
                state = state &* 1_664_525 &+ 1_013_904_223
                buffer[index] = UInt8(truncatingIfNeeded: state >> 24)
            }
            initialized = count
        }
    }

    /// What /upload-hash answers for `body` (FNV-1a, 64 bits).
    static func answer(_ body: [UInt8]) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        body.withUnsafeBufferPointer { bytes in
            for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        }
        return "length=\(body.count) hash=\(hash)\n"
    }

    static func sendChunked(_ body: [UInt8], to client: RawClient, chunkSize: Int = 256 << 10, end: Bool = true) throws
    {
        var start = 0
        while start < body.count {
            let chunk = body[start..<min(body.count, start + chunkSize)]
            try client.send(Array(String(chunk.count, radix: 16).utf8) + [13, 10] + chunk + [13, 10])
            start += chunk.count
        }
        if end { try client.send("0\r\n\r\n") }
    }

    /// The most loopback TCP buffers at both ends may hold: the client's send buffer and the
    /// server's receive buffer at their autotuning maxima.
    static func socketBuffersBound() -> Int {
        func maximum(_ path: String) -> Int {
            let fields = (try? String(contentsOfFile: path, encoding: .utf8))?.split(separator: "\t") ?? []
            return fields.last.flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) } ?? (8 << 20)
        }
        return maximum("/proc/sys/net/ipv4/tcp_wmem") + maximum("/proc/sys/net/ipv4/tcp_rmem")
    }
}

/// Sends bytes on its own thread, 64 KiB at a time, counting what the connection took.
final class BackgroundSender: @unchecked Sendable {
    private let lock = NSLock()
    private var sentBytes = 0
    private var done = false
    private var failure: (any Error)?
    private let finishedSignal = DispatchSemaphore(value: 0)
    /// Used by the sender's thread only until it finished (`wait`).
    private let client: RawClient
    private let bytes: [UInt8]

    init(client: RawClient, bytes: [UInt8]) {
        self.client = client
        self.bytes = bytes
        Thread { [self] in run() }.start()
    }

    private func run() {
        var start = 0
        do {
            while start < bytes.count {
                let end = min(bytes.count, start + (64 << 10))
                try bytes[start..<end].withUnsafeBytes { try client.send($0) }
                start = end
                lock.withLock { sentBytes = start }
            }
        } catch {
            lock.withLock { failure = error }
        }
        lock.withLock { done = true }
        finishedSignal.signal()
    }

    var sent: Int { lock.withLock { sentBytes } }
    var finished: Bool { lock.withLock { done } }
    var error: (any Error)? { lock.withLock { failure } }

    /// Waits for the last byte to be sent (or the send to fail).
    func wait(timeout: Double) -> Bool { finishedSignal.wait(timeout: .now() + timeout) == .success }
}
