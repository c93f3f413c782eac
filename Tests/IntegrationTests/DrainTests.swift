import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A draining worker (USR2, HUP, TTOU, TERM; --single on TERM) loses no request of a
/// keep-alive client: it goes on reading its connections, answers what arrives with
/// `Connection: close` and closes after that answer, closes a connection idle for
/// `--shutdown-idle-grace` cleanly, and answers every request it had already read.
///
/// The load tests put wrk (32 connections, GET and POST) and `Tests/Clients/drain_client.py`
/// (busy, pipelined, paced and idle keep-alive connections; every response checked, every
/// close classified) on the server through the stop.
@Suite(.exclusive) final class DrainTests: ClusterSuite {

    /// The server's default --shutdown-idle-grace, which these tests rely on.
    static let grace = 0.3

    /// What stops the workers, and how the test knows it is over.
    enum Stop: String, CaseIterable, CustomTestStringConvertible {
        case phasedRestart = "USR2"
        case hotRestart = "HUP"
        case removeWorker = "TTOU"
        case shutdown = "TERM"
        /// TERM to a single process (`--workers 0`).
        case singleProcessShutdown = "TERM to --single"

        var signalName: String { self == .singleProcessShutdown ? "TERM" : rawValue }
        var workers: Int { self == .singleProcessShutdown ? 0 : 2 }
        /// After a full stop nothing takes new connections: neither client reconnects.
        var endsTheServer: Bool { self == .shutdown || self == .singleProcessShutdown }
        var testDescription: String { rawValue }
    }

    var clientsDirectory: URL { Binaries.repositoryRoot.appendingPathComponent("Tests/Clients") }

    /// `raptor-testapp` in `dispatch`'s threads (a cluster over TCP: wrk and the drain
    /// client speak plain HTTP).
    func startServer(_ dispatch: ServerMode.Dispatch, workers: Int, _ flags: [String] = []) throws -> ServerProcess {
        let server = try startCluster(["-w", "\(workers)", "--threads", "\(dispatch.threads)"] + flags)
        if workers > 0 { waitForRunningWorkers(workers) }
        return server
    }

    // MARK: Load through a stop

    @Test(arguments: ServerMode.Dispatch.allCases, Stop.allCases)
    func keepAliveClientsLoseNoRequest(_ dispatch: ServerMode.Dispatch, through stop: Stop) throws {
        #expect(ExternalClient.isAvailable("wrk"), "wrk is not installed (make test-deps)")
        #expect(ExternalClient.isAvailable("python3"), "python3 is not installed (make test-deps)")
        let server = try startServer(dispatch, workers: stop.workers, ["--shutdown-timeout", "10s"])
        let untilPath = directory.appendingPathComponent("until").path
        // wrk replaces a connection closed after `Connection: close`; after a full stop the
        // new one is refused (newClientsAreRefusedDuringAFullStop), which wrk counts as an
        // error, so wrk covers the restarts and the raw client alone the full stops.
        let wrk =
            stop.endsTheServer
            ? nil
            : try spawn(
                "wrk",
                [
                    "-t1", "-c32", "-d300s", "--timeout", "10s", "-s",
                    clientsDirectory.appendingPathComponent("drain.lua").path, "http://127.0.0.1:\(server.port)/",
                ], name: "wrk")
        var clientArguments = [
            clientsDirectory.appendingPathComponent("drain_client.py").path, "--port", "\(server.port)", "--pid",
            "\(server.pid)", "--signal", stop.signalName, "--connections", "32", "--grace", "\(Self.grace)",
            "--warmup", "1", "--until-file", untilPath, "--deadline", "60",
        ]
        if stop.endsTheServer { clientArguments.append("--no-reconnect") }
        let client = try spawn("python3", clientArguments, name: "drain-client")

        // The client sends the signal once its connections all had an answer; then the
        // stopped workers drain and exit.
        switch stop {
        case .phasedRestart:
            waitForEvents(server, "phased restart finished", timeout: 60)
            waitForEvents(server, "worker exited", count: 2, timeout: 30)
        case .hotRestart:
            waitForEvents(server, "old worker exited (hot restart)", count: 2, timeout: 60)
        case .removeWorker:
            waitForEvents(server, "worker exited", timeout: 60) { $0["reason"] as? String == "worker removed (TTOU)" }
        case .shutdown, .singleProcessShutdown:
            #expect(server.waitForExit(timeout: 60) == .exited(0), "\(server.logTail)")
        }
        #expect(FileManager.default.createFile(atPath: untilPath, contents: nil))
        wrk?.signal(SIGINT)  // wrk ends with its summary
        #expect(client.wait(timeout: 30) != nil, "the drain client did not finish")
        let counts = try clientCounts(client)
        let shown = "\(stop.rawValue), threads \(dispatch.threads): \(counts)"
        print("drain client, \(shown)")

        for name in ["lost_reused", "lost_new", "truncated", "bad", "closed_idle_early", "resets", "problems"] {
            #expect((counts[name] as? Int ?? 0) == 0, "\(name): \(shown)")
        }
        #expect((counts["answered"] as? Int ?? 0) > 200, "\(shown)")
        // Connections of the stopped workers were there to drain: answered with
        // Connection: close, or closed idle after the grace.
        let closedAfterClose = counts["closed_after_close"] as? Int ?? 0
        let closedIdle = counts["closed_idle"] as? Int ?? 0
        // TTOU retires one worker's socket first (ReuseportSteering) and may stop a worker that
        // holds none of the client's connections by then: only losses are checked for it.
        if stop != .removeWorker {
            #expect(closedIdle > 0, "\(shown)")
            #expect(closedAfterClose > 0, "\(shown)")
        }
        if let wrk {
            #expect(wrk.wait(timeout: 30) != nil, "wrk did not finish")
            let summary = wrk.standardOutput
            let line = summary.split(separator: "\n").last { $0.hasPrefix("{") }
            let errors = try #require(
                line.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Int] },
                "wrk printed no counts: \(summary)")
            for name in ["connect", "read", "write", "status", "timeout"] {
                #expect(
                    errors[name] == 0, "wrk \(name) errors, \(stop.rawValue), threads \(dispatch.threads): \(summary)")
            }
            #expect((errors["requests"] ?? 0) > 1000, "\(summary)")
        }
    }

    private func clientCounts(_ client: ChildProcess) throws -> [String: Any] {
        let output = client.standardOutput
        let line = output.split(separator: "\n").last { $0.hasPrefix("{") }
        return try #require(
            line.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] },
            "the drain client printed no counts: \(output) \(client.standardError)")
    }

    // MARK: One connection at a time

    /// The workers of a dispatch's server: one process inline, a master and one worker with
    /// the pool.
    func focusedWorkers(_ dispatch: ServerMode.Dispatch) -> Int { dispatch == .inline ? 0 : 1 }

    /// Connections waiting for a request when the stop begins: kept alive, accepted with no
    /// byte sent yet, and kept alive with only an empty line sent since (which may precede
    /// a request: RFC 9112 section 2.2), before or after the stop began. None is closed
    /// before the grace has passed, none much after, and each ends with a FIN, not a reset,
    /// even for a request that races the close.
    @Test(arguments: ServerMode.Dispatch.allCases)
    func idleConnectionsCloseCleanlyOnlyAfterTheGrace(_ dispatch: ServerMode.Dispatch) throws {
        // Longer than the default, so that the late requests below surely reach the worker
        // while it drains (it drains a closed connection for the grace, too).
        let grace = 1.0
        let server = try startServer(
            dispatch, workers: focusedWorkers(dispatch), ["--shutdown-idle-grace", "1s", "--shutdown-timeout", "10s"])
        let kept = try keptAliveProbe(server)
        defer { kept.close() }
        let emptyLineBefore = try keptAliveProbe(server)
        defer { emptyLineBefore.close() }
        try emptyLineBefore.send("\r\n")
        let emptyLineAfter = try keptAliveProbe(server)
        defer { emptyLineAfter.close() }
        let fresh = try RawClient(port: server.port, timeout: 10)
        defer { fresh.close() }
        #expect(
            waitUntil(timeout: 5) {
                ProcFS.acceptQueue(port: server.port) == 0 && emptyLineBefore.unacknowledgedBytes == 0
            }, "never accepted")

        let signalled = ContinuousClock.now
        server.terminate()
        try emptyLineAfter.send("\r\n")
        let clients = [
            ("kept-alive", kept), ("new", fresh), ("empty line before the stop", emptyLineBefore),
            ("empty line after the stop", emptyLineAfter),
        ]
        for (name, client) in clients {
            let (closed, data) = client.waitForClose(timeout: 10)
            let idle = signalled.duration(to: ContinuousClock.now).secondsValue
            #expect(closed, "the \(name) connection was never closed")
            #expect(data.count == 0, "the \(name) connection: \(String(decoding: data, as: UTF8.self))")
            #expect(idle >= grace, "the \(name) connection closed before the grace")
            #expect(idle < (grace + 2), "the \(name) connection closed long after the grace")
        }
        // A request sent right after the close, by a client that had not seen the FIN yet,
        // is drained by the worker: no reset comes back (one would within a round trip).
        for (_, client) in clients { try client.send(Requests.get("/request?n=late")) }
        var errors: [Int32] = []
        let reset = waitUntil(timeout: 0.2) {
            errors = clients.map { $0.1.pendingError }
            return errors.contains { $0 != 0 }
        }
        #expect(!reset, "a late request was answered with a reset (errno \(errors), in the order above)")
        #expect(server.waitForExit(timeout: 15) == .exited(0), "\(server.logTail)")
    }

    /// A kept-alive connection whose client sends its next request a moment after the stop
    /// began: the request is answered (with Connection: close), then the connection closes.
    @Test(arguments: ServerMode.Dispatch.allCases)
    func requestSentDuringTheGraceIsAnsweredThenClosed(_ dispatch: ServerMode.Dispatch) throws {
        let server = try startServer(dispatch, workers: focusedWorkers(dispatch))
        let client = try RawClient(port: server.port, timeout: 10)
        defer { client.close() }
        try client.send(Requests.get("/"))
        #expect(try !client.readResponse().saysClose)
        server.terminate()
        usleep(50_000)  // the client's think time, well within the grace (300 ms)
        try client.send(Requests.post("/echo", body: "during the grace"))
        let response = try client.readResponse()
        #expect(response.status == 200)
        #expect(response.bodyText == "during the grace")
        #expect(response.saysClose, "a draining worker's answer closes: \(response.rawHead)")
        expectClosed(client)
        #expect(server.waitForExit(timeout: 15) == .exited(0), "\(server.logTail)")
    }

    /// Connections still in the listener's queue when the stop begins (the process is busy:
    /// here stopped with SIGSTOP while they connect) are served, not reset with the
    /// listener: each request is answered, and each connection ends with a FIN, the one that
    /// sent nothing after the grace. A client that reconnected just before a TERM lost its
    /// pipelined requests that way under load (DrainTests' drain client, in CI).
    @Test(arguments: ServerMode.Dispatch.allCases)
    func connectionsWaitingToBeAcceptedWhenTheStopBeginsAreServed(_ dispatch: ServerMode.Dispatch) throws {
        let server = try startServer(dispatch, workers: 0)
        // Answered: the loop runs (and TERM is its to handle) before the process stops.
        let probe = try keptAliveProbe(server)
        defer { probe.close() }
        server.process.signal(SIGSTOP)
        defer { server.process.signal(SIGCONT) }
        let clients = try (0..<4).map { n in
            let client = try RawClient(port: server.port, timeout: 10)
            // Half of them ask to close: one such answered and closed first must not end
            // the worker with the others still queued.
            try client.send(Requests.get("/request?n=\(n)", n % 2 == 0 ? "Connection: close\r\n" : ""))
            return client
        }
        let silent = try RawClient(port: server.port, timeout: 10)
        defer { (clients + [silent]).forEach { $0.close() } }
        #expect(
            waitUntil(timeout: 5) { ProcFS.acceptQueue(port: server.port) == clients.count + 1 },
            "the connections are not all waiting in the queue")
        server.terminate()  // pending until the process runs again, with the queue full
        let resumed = ContinuousClock.now
        server.process.signal(SIGCONT)
        for (n, client) in clients.enumerated() {
            let response = try client.readResponse()
            #expect(response.status == 200)
            #expect(response.bodyText.contains("query=n=\(n)"), "\(response.bodyText)")
            expectClosed(client, allowingReset: false)
        }
        expectClosed(silent, allowingReset: false)
        let idle = resumed.duration(to: ContinuousClock.now).secondsValue
        #expect(idle >= Self.grace, "the connection that sent nothing was closed before the grace")
        #expect(server.waitForExit(timeout: 15) == .exited(0), "\(server.logTail)")
    }

    /// Once a full stop began (TERM to the master, or to `--single`), a new client is
    /// refused while the worker still drains what it has, as nginx does: it can retry
    /// elsewhere, where a connection accepted into a queue nobody reads would be reset at
    /// the exit with its request unanswered. The master closes its copies of the sockets and
    /// each worker lets go of its own once it has taken what was queued (engine.c).
    @Test(arguments: [Stop.shutdown, .singleProcessShutdown])
    func newClientsAreRefusedDuringAFullStop(_ stop: Stop) throws {
        let grace = 3.0
        let server = try startServer(
            .inline, workers: stop.workers, ["--shutdown-idle-grace", "3s", "--shutdown-timeout", "10s"])
        let probe = try keptAliveProbe(server)  // drains for the grace
        defer { probe.close() }
        let signalled = ContinuousClock.now
        server.terminate()
        let refused = waitUntil(timeout: grace - 1) { Self.connectionRefused(port: server.port) }
        let refusedAfter = signalled.duration(to: ContinuousClock.now).secondsValue
        #expect(refused, "new connections were still accepted \(grace - 1) s into the stop")
        #expect(server.isRunning && refusedAfter < grace, "refused only once the server was gone")
        let (closed, data) = probe.waitForClose(timeout: 10)
        #expect(closed && data.isEmpty, "the kept-alive connection was not closed cleanly after the grace")
        probe.close()  // the worker lingers on it until the client closes too
        #expect(server.waitForExit(timeout: 15) == .exited(0), "\(server.logTail)")
    }

    /// Whether a TCP connection to 127.0.0.1:`port` is refused (a connection made is closed).
    static func connectionRefused(port: UInt16) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        return result != 0 && errno == ECONNREFUSED
    }

    /// Responses in progress when the stop began, that promised keep-alive (their clients
    /// are slow to take them). Once one is complete, a request its client sends at once is
    /// answered, with Connection: close; a connection whose client sends nothing more is
    /// closed once idle for the grace, not kept until its keep-alive timeout (which would
    /// hold the stop back).
    @Test(arguments: ServerMode.Dispatch.allCases)
    func connectionsAnsweredAcrossTheStopDrainAfterTheirResponse(_ dispatch: ServerMode.Dispatch) throws {
        // The grace counts from the worker's last write, which can be well before a slow
        // client read the end: a long grace keeps the next request below within it.
        let grace = 2.0
        let server = try startServer(
            dispatch, workers: focusedWorkers(dispatch), ["--shutdown-timeout", "30s", "--shutdown-idle-grace", "2s"])
        let probe = try keptAliveProbe(server)
        defer { probe.close() }
        let size = 8 << 20
        let clients = try (0..<2).map { _ in
            try RawClient(port: server.port, timeout: 20, receiveBufferSize: 4096)
        }
        defer { clients.forEach { $0.close() } }
        for client in clients {
            try client.send(Requests.get("/bytes?n=\(size)"))
            #expect(client.isReadable(within: 10), "the response never started")
        }
        let signalled = ContinuousClock.now
        server.terminate()
        #expect(probe.waitForClose(timeout: 10).closed, "the stop never began")
        for client in clients {
            let response = try client.readResponse()
            #expect(response.body.count == size)
            #expect(!response.saysClose, "the response began before the stop: \(response.rawHead)")
        }
        let (busy, quiet) = (clients[0], clients[1])
        let answered = ContinuousClock.now
        try busy.send(Requests.post("/echo", body: "next"))
        let next = try busy.readResponse()
        #expect(next.bodyText == "next")
        #expect(next.saysClose, "read after the stop began: \(next.rawHead)")
        expectClosed(busy)

        let (closed, data) = quiet.waitForClose(timeout: 15)
        let idle = answered.duration(to: ContinuousClock.now).secondsValue
        #expect(closed)
        #expect(data.count == 0, "\(String(decoding: data.prefix(300), as: UTF8.self))")
        #expect(idle < (grace + 5), "closed long after the grace")
        #expect(server.waitForExit(timeout: 20) == .exited(0), "\(server.logTail)")
        let stopped = signalled.duration(to: ContinuousClock.now).secondsValue
        #expect(stopped < 15, "the stop waited for the connection (--shutdown-timeout is 30 s)")
    }

    /// A connection that had one exchange and waits, kept alive: it closes once the stop
    /// began and the grace passed, which tells a test the stop has begun.
    func keptAliveProbe(_ server: ServerProcess) throws -> RawClient {
        let probe = try RawClient(port: server.port, timeout: 10)
        try probe.send(Requests.get("/"))
        #expect(try !probe.readResponse().saysClose)
        return probe
    }

    /// Requests the worker had read when the stop began (pipelined behind a response the
    /// client is slow to take) are all answered, only the last with Connection: close. A
    /// request read after the stop began is answered with Connection: close, and nothing
    /// pipelined behind it is.
    @Test(arguments: ServerMode.Dispatch.allCases)
    func requestsReadBeforeTheStopAreAllAnswered(_ dispatch: ServerMode.Dispatch) throws {
        let server = try startServer(dispatch, workers: focusedWorkers(dispatch))
        let probe = try keptAliveProbe(server)
        defer { probe.close() }
        // A request whose head is still incomplete when the stop begins.
        let late = try RawClient(port: server.port, timeout: 10)
        defer { late.close() }
        try late.send("GET /request?n=late HTTP/1.1\r\nHost: localhost\r\n")

        let size = 16 << 20
        let client = try RawClient(port: server.port, timeout: 20, receiveBufferSize: 4096)
        defer { client.close() }
        try client.send(
            Requests.get("/bytes?n=\(size)") + Requests.post("/echo", body: "second") + Requests.get("/request?n=third")
        )
        // All three requests are in the worker's buffer: none waits in its socket, and the
        // first one's answer fills the client's window.
        let serverPort = server.port
        let (clientPort, latePort) = (client.localPort, late.localPort)
        #expect(
            waitUntil(timeout: 10) {
                let queues = ProcFS.receiveQueues(localPort: serverPort)
                return client.unacknowledgedBytes == 0 && late.unacknowledgedBytes == 0
                    && queues[clientPort] == 0 && queues[latePort] == 0
            }, "the server never read the requests")

        server.terminate()
        let (closed, _) = probe.waitForClose(timeout: 10)
        #expect(closed, "the stop never began")
        let first = try client.readResponse(timeout: 20)
        #expect(first.status == 200)
        #expect(first.body.count == size)
        #expect(!first.saysClose, "more requests were already read: \(first.rawHead)")
        let second = try client.readResponse()
        #expect(second.bodyText == "second")
        #expect(!second.saysClose, "one more request was already read: \(second.rawHead)")
        let third = try client.readResponse()
        #expect(third.bodyText.contains("query=n=third"), "\(third.bodyText)")
        #expect(third.saysClose, "the last request read before the stop: \(third.rawHead)")
        expectClosed(client)

        try late.send("\r\n" + Requests.get("/request?n=behind-late"))
        let lateResponse = try late.readResponse()
        #expect(lateResponse.bodyText.contains("query=n=late"), "\(lateResponse.bodyText)")
        #expect(lateResponse.saysClose, "read after the stop began: \(lateResponse.rawHead)")
        expectClosed(late)
        #expect(server.waitForExit(timeout: 15) == .exited(0), "\(server.logTail)")
    }
}
