import Dispatch
import Foundation
import HTTPTypes
import Raptor
import RaptorTesting
import Synchronization
import Testing

/// An async responder through the engine in process: each request a Task, as in a server.
@Suite struct AsyncResponderTests {
    struct Gone: HTTPResponseError {
        var status: HTTPResponse.Status { .gone }
    }

    static let responder = Responder.async { request in
        switch request.path {
        case "/echo":
            let body = try request.body.readAll()
            try await Task.sleep(for: .milliseconds(10))
            return Response(headers: [.contentType: "text/plain"], body: .bytes(body))
        case "/stream":
            return Response(
                body: .asyncStream { writer in
                    for part in 1...3 {
                        try await Task.sleep(for: .milliseconds(5))
                        try await writer.write("part \(part)\n")
                    }
                })
        case "/gone":
            try await Task.sleep(for: .milliseconds(5))
            throw Gone()
        default:
            return Response(status: .notFound)
        }
    }

    /// Every cooperative thread of the test process blocked (as synchronous tests blocked
    /// on sockets leave them in a full `swift test` run): the handler's Tasks still run, on
    /// the in-process worker's own executor. Seen failing (no answer in 10 s, the test's
    /// client timing out) with the Tasks on the cooperative pool.
    @Test func awaitingHandlersRunWhileEveryCooperativeThreadIsBlocked() throws {
        let app = try TestApplication(responder: Self.responder)
        defer { try? app.stop() }
        let release = DispatchSemaphore(value: 0)
        let blockers = ProcessInfo.processInfo.activeProcessorCount
        for _ in 0..<blockers { Task.detached { release.wait() } }
        defer { for _ in 0..<blockers { release.signal() } }
        let answered = DispatchSemaphore(value: 0)
        let body = Mutex<String?>(nil)
        DispatchQueue.global().async {
            let response = try? app.send(.post("/echo", body: "awaited"))
            body.withLock { $0 = response?.bodyText }
            answered.signal()
        }
        #expect(answered.wait(timeout: .now() + 10) == .success, "no answer in 10 s")
        #expect(body.withLock { $0 } == "awaited")
    }

    @Test func awaitingHandlersAnswerOverASocketPair() async throws {
        let app = try TestApplication(responder: Self.responder)
        let client = try app.connect()
        let echoed = try await client.send(.post("/echo", body: "awaited"))
        #expect(echoed.bodyText == "awaited")
        let streamed = try await client.send(.get("/stream"))
        #expect(streamed.framing == .chunked)
        #expect(streamed.chunks.count == 3)
        #expect(streamed.bodyText == "part 1\npart 2\npart 3\n")
        let gone = try await client.send(.get("/gone"))
        #expect(gone.status == .gone)
        #expect(try await !client.waitForClose(timeout: .milliseconds(50)))
        client.close()
        try await app.stop()
    }

    @Test func awaitingHandlersAnswerCurlOnPortZero() async throws {
        try await TestServer.withServer(responder: Self.responder) { address in
            let body = try await TestServerTests.curl([
                "-sS", "--max-time", "10", "-d", "posted", "\(address.url)/echo",
            ])
            #expect(body == "posted")
        }
    }
}
