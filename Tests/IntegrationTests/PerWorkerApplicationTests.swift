import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The per-worker application (issue 12): `raptor-testapp` with
/// RAPTOR_TESTAPP_APPLICATION=per-worker builds its application in each worker, and its
/// factory and service report their lives on standard error (`factory ran index=0
/// pid=123`, `service shutting down ...`), which these tests count and order. Kills,
/// restarts, backoff delays and a drain: the machine alone.
@Suite(.exclusive) final class PerWorkerApplicationTests: ClusterSuite {
    static let perWorker = ["RAPTOR_TESTAPP_APPLICATION=per-worker"]

    /// The test app under `env`, so its environment can be set.
    func startPerWorker(_ flags: [String], environment: [String] = perWorker) throws -> ServerProcess {
        try startCluster(environment + [Binaries.testApp] + flags, binary: "/usr/bin/env")
    }

    /// The pids in the reported lines that start with `what`, with how often each reported it.
    func reporters(_ server: ServerProcess, _ what: String) -> [pid_t: Int] {
        var counts: [pid_t: Int] = [:]
        for line in server.standardError.split(separator: "\n") where line.hasPrefix(what + " ") {
            guard let range = line.range(of: "pid="), let pid = pid_t(line[range.upperBound...].prefix { $0.isNumber })
            else { continue }
            counts[pid, default: 0] += 1
        }
        return counts
    }

    /// The position of the first standard error line that starts with `prefix`, for
    /// before/after checks.
    func lineIndex(_ server: ServerProcess, of prefix: String) -> Int? {
        server.standardError.split(separator: "\n").firstIndex { $0.hasPrefix(prefix) }
    }

    func waitForReport(_ server: ServerProcess, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let seen = waitUntil(timeout: 20) { lineIndex(server, of: what) != nil }
        #expect(seen, "no \"\(what)\" within 20 s:\n\(server.logTail)", sourceLocation: sourceLocation)
    }

    /// Each worker builds its own application once, with its slot, and so does every
    /// replacement (after a crash, in a phased restart); the master builds none.
    @Test func factoryRunsOncePerWorkerAndOncePerReplacement() throws {
        let server = try startPerWorker(["--workers", "2"])
        let first = waitForRunningWorkers(2, phase: 0)
        for (slot, pid) in first {
            #expect(server.standardError.contains("factory ran index=\(slot) pid=\(pid)\n"), "\(server.logTail)")
        }
        // The handler sees its worker's own state, the service the factory started running.
        for _ in 0..<4 {
            let client = try RawClient(port: server.port)
            defer { client.close() }
            try client.send(Requests.get("/worker"))
            let body = try client.readResponse().bodyText
            #expect(first.contains { "index=\($0.key) pid=\($0.value) service=running\n" == body }, "\(body) \(first)")
        }

        // A worker that died is replaced, and its replacement builds its own.
        kill(first[0]!, SIGKILL)
        let respawned = waitForRunningWorkers(2, excluding: [first[0]])
        #expect(get(server.port, "/worker") == 200)
        // A phased restart replaces every worker: each new one builds its own.
        server.process.signal(SIGUSR2)
        let restarted = waitForRunningWorkers(2, phase: 1, excluding: Array(respawned.values))

        let everyWorker = Set(first.values).union(respawned.values).union(restarted.values)
        #expect(everyWorker.count == 5, "\(first) \(respawned) \(restarted)")
        let factories = reporters(server, "factory ran")
        #expect(Set(factories.keys) == everyWorker, "\(server.logTail)")
        #expect(factories.values.allSatisfy { $0 == 1 }, "a worker ran its factory more than once: \(factories)")
        #expect(factories[server.pid] == nil, "the master built an application")
        #expect(server.stop(timeout: 15) == .exited(0), "\(server.logTail)")
    }

    /// A factory that throws: its worker exits 1 with the error logged once, as an error,
    /// and the master's crash-loop backoff spaces the respawns (at once, 0.5 s, 1 s).
    @Test func throwingFactoryIsLoggedOnceAndTheMasterBacksOff() throws {
        let server = try startPerWorker(
            ["--workers", "1"], environment: Self.perWorker + ["RAPTOR_TESTAPP_FACTORY=throw"])
        let delays = waitForEvents(server, "worker crash loop: respawn delayed", count: 2)
        #expect(delays.prefix(2).map { $0["delay"] as? String } == ["0.5s", "1s"], "\(server.logTail)")
        #expect(server.stop(timeout: 15) == .exited(0), "\(server.logTail)")

        let failures = events(server, "worker 0 failed")
        let factories = reporters(server, "factory ran")
        #expect(factories.count >= 3)
        // One error line per worker whose factory threw, from that worker, saying why.
        #expect(failures.count == factories.count, "\(server.logTail)")
        #expect(Set(failures.compactMap { ($0["pid"] as? String).flatMap { pid_t($0) } }) == Set(factories.keys))
        for failure in failures {
            #expect(failure["error"] as? String == "the application's factory threw: the test factory fails on purpose")
        }
        let exits = events(server, "worker exited unexpectedly")
        #expect(exits.count == factories.count && exits.allSatisfy { $0["status"] as? Int == 1 }, "\(exits)")
        let errors = logEvents(server).filter { $0["level"] as? String == "error" }
        #expect(errors.count == failures.count, "nothing else is logged as an error: \(errors)")
        // Nothing served: no worker ever booted.
        #expect(events(server, "worker booted").isEmpty, "\(server.logTail)")
    }

    /// One process (no master) whose factory throws prints one line and exits 1.
    @Test func throwingFactoryStopsASingleProcessWithOneLine() throws {
        let child = try spawn(
            "/usr/bin/env",
            Self.perWorker + [
                "RAPTOR_TESTAPP_FACTORY=throw", Binaries.testApp, "--single", "--bind", "tcp://127.0.0.1:0",
                "--log-format", "json",
            ], name: "single")
        let status = child.wait(timeout: 20)
        #expect(status == .exited(1), "\(child.standardError)")
        let errorLines = child.standardError.split(separator: "\n").filter { $0.contains("factory fails on purpose") }
        #expect(
            errorLines == ["Error: the application's factory threw: the test factory fails on purpose"],
            "\(child.standardError)")
    }

    /// Services stop after the drain: a request in flight at TERM is answered in full,
    /// then the service shuts down, then the worker's shutdown hook runs; the worker exits
    /// 0. In a cluster and in one process.
    @Test(arguments: [["--workers", "1"], ["--workers", "0"]])
    func servicesShutDownAfterTheWorkerDrained(_ flags: [String]) throws {
        let server = try startPerWorker(flags + ["--threads", "2"])
        waitForReport(server, "service started")
        let client = try RawClient(port: server.port, timeout: 15)
        defer { client.close() }
        try client.send(Requests.get("/slow-reported?ms=1500"))
        waitForReport(server, "slow request began")
        #expect(lineIndex(server, of: "service shutting down") == nil, "before the stop")
        server.process.signal(SIGTERM)

        let response = try client.readResponse()
        #expect(response.status == 200)
        #expect(response.bodyText == "slow done\n")
        let status = server.process.wait(timeout: 20)
        #expect(status == .exited(0), "\(server.logTail)")

        let steps = ["slow request began", "slow request ends", "service shutting down", "service stopped"]
        let positions = (steps + ["hook worker-shutdown"]).map { lineIndex(server, of: $0) }
        #expect(!positions.contains(nil), "a step of the stop is missing:\n\(server.standardError)")
        let found = positions.compactMap { $0 }
        #expect(found == found.sorted(), "the order of the stop:\n\(server.standardError)")
        #expect(reporters(server, "service shutting down").values.reduce(0, +) == 1, "\(server.logTail)")
    }

    /// A service that fails while the worker serves stops that worker (its error logged,
    /// exit 1) and the master replaces it, with a new application.
    @Test func serviceThatFailsStopsItsWorkerWhichIsReplaced() throws {
        let server = try startPerWorker(["--workers", "1"])
        let before = waitForRunningWorkers(1)
        let client = try RawClient(port: server.port)
        defer { client.close() }
        try client.send(Requests.get("/service-fail"))
        let body = try client.readResponse().bodyText
        #expect(body == "service told to fail\n")

        let failed = waitForEvents(server, "worker 0 failed")
        #expect(
            failed.first?["error"] as? String
                == "a service of the application stopped while the worker served: the test service fails on purpose")
        waitForEvents(server, "worker exited unexpectedly") { $0["status"] as? Int == 1 }
        let after = waitForRunningWorkers(1, excluding: [before[0]])
        #expect(get(server.port, "/worker") == 200)
        #expect(reporters(server, "factory ran") == [before[0]!: 1, after[0]!: 1], "\(server.logTail)")
    }
}
