import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A new connection per request in pool and tasks mode. A new connection whose only
/// request (`Connection: close`) came with its first read is closed by the thread (or Task)
/// that answered it, without waking the loop, once the whole answer is in the socket
/// (conn.c, conn_close_by_owner); the loop recycles the rest later. What that must not
/// change: every answer arrives whole before a clean close (no reset), bytes the client sent
/// after its request still make the connection linger, and the worker is left with no
/// descriptor, connection or uncounted request behind.
@Suite(.concurrent) final class ClosePerRequestTests: ClusterSuite {
    /// The pool (app threads) and tasks mode (the async handler: its Tasks hand back the
    /// same way); inline never hands back.
    enum Runner: String, CaseIterable, Sendable {
        case threads, tasks

        var environment: [String: String] { self == .tasks ? ["RAPTOR_TESTAPP_APPLICATION": "async"] : [:] }
    }

    static let connections = 200

    func start(_ runner: Runner) throws -> (server: ServerProcess, worker: pid_t) {
        let server = try startCluster(["-w", "1", "--threads", "5"], environment: runner.environment)
        let worker = try #require(waitForRunningWorkers(1)[0])
        return (server, worker)
    }

    func openDescriptors(_ pid: pid_t) -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? -1
    }

    func totals(_ stats: [String: Any]) -> [String: Any] { stats["totals"] as? [String: Any] ?? [:] }

    /// A new connection whose first bytes are already there when the worker accepts it (they
    /// are sent while it is stopped): its request comes with the read conn_accepted makes at
    /// once, the case its thread closes. (Otherwise a quick worker may accept before the
    /// bytes arrive, and poll the socket for them.)
    func connectWithBytesWaiting(_ port: UInt16, worker: pid_t, _ bytes: [UInt8]) throws -> RawClient {
        kill(worker, SIGSTOP)
        defer { kill(worker, SIGCONT) }
        let stopped = waitUntil(timeout: 5, interval: 0.001) {
            let stat = ProcFS.readText("/proc/\(worker)/stat") ?? ""
            return stat.split(separator: ")").last?.split(separator: " ").first == "T"
        }
        try #require(stopped, "the worker did not stop")
        let client = try RawClient(port: port)
        try client.send(bytes)
        return client
    }

    /// One request on a new connection that says it closes: the response, and whether the
    /// server closed cleanly (no reset) right after it.
    func closingExchange(_ port: UInt16, _ target: String = "/") throws -> (HTTPResponseMessage, closed: Bool) {
        let client = try RawClient(port: port)
        defer { client.close() }
        try client.send(Requests.get(target, "Connection: close\r\n"))
        let response = try client.readResponse(timeout: 20)
        let (closed, more) = client.waitForClose(timeout: 5)
        return (response, closed && more.isEmpty && !client.wasReset)
    }

    /// Many closing connections one after the other: each answer whole, each close clean,
    /// and afterwards the worker holds as many descriptors as before, no open connection,
    /// and counted every request (the loop recycled what the threads closed).
    @Test(arguments: Runner.allCases)
    func closingConnectionsLeaveNothingBehind(_ runner: Runner) throws {
        let (server, worker) = try start(runner)
        let warmUp = 5
        let total = warmUp + Self.connections
        var baseline = 0
        for index in 0..<total {
            if index == warmUp {  // what the first requests make once (arenas, caches) is made
                try #require(waitForStats("\(warmUp) requests") { totals($0)["requests"] as? Int == warmUp } != nil)
                baseline = openDescriptors(worker)
            }
            let (response, closed) = try closingExchange(server.port)
            guard response.status == 200, response.bodyText == "Hello, World!", closed else {
                Issue.record(
                    "connection \(index): \(response.status) \(response.bodyText.debugDescription), closed cleanly: \(closed)"
                )
                return
            }
        }

        let stats = waitForStats("\(total) requests, no open connection") {
            totals($0)["requests"] as? Int == total && totals($0)["active_connections"] as? Int == 0
        }
        #expect(stats != nil)
        let settled = waitUntil(timeout: 5) { openDescriptors(worker) <= baseline }
        #expect(settled, "the worker holds \(openDescriptors(worker)) descriptors, \(baseline) before")
    }

    /// An answer larger than the socket takes at once: the thread leaves the rest to the
    /// loop, which sends all of it before it closes.
    @Test(arguments: Runner.allCases)
    func aLargeAnswerToAClosingRequestArrivesWhole(_ runner: Runner) throws {
        let (server, worker) = try start(runner)
        let size = 16 << 20
        let request = Requests.get("/bytes?n=\(size)", "Connection: close\r\n")
        let client = try connectWithBytesWaiting(server.port, worker: worker, Array(request.utf8))
        defer { client.close() }
        let response = try client.readResponse(timeout: 20)
        #expect(response.status == 200)
        #expect(response.body.count == size)
        expectClosed(client, allowingReset: false, "after the answer")
    }

    /// Bytes after the closing request in the connection's first read (a client that
    /// breaks its promise to send nothing more): the server must not close with them unread
    /// (a reset would destroy the answer), but stop writing, drain and then close.
    @Test(arguments: Runner.allCases)
    func bytesAfterAClosingRequestStillLinger(_ runner: Runner) throws {
        let (server, worker) = try start(runner)
        // More than the worker's first read takes (8 KiB), less than the socket buffers hold
        // while it is stopped.
        let request = Array(Requests.get("/", "Connection: close\r\n").utf8)
        let client = try connectWithBytesWaiting(
            server.port, worker: worker, request + [UInt8](repeating: 0x58, count: 64 << 10))
        defer { client.close() }
        // A reset (a close with bytes unread) destroys the answer in this socket's receive
        // buffer, or shows after it.
        let response = try client.readResponse()
        #expect(response.status == 200)
        #expect(response.bodyText == "Hello, World!")
        expectClosed(client, allowingReset: false, "after the answer, with bytes sent after the request")
    }
}
