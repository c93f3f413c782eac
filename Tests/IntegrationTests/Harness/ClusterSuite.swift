import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The base of the cluster suites (`@Suite(.exclusive) final class FooTests: ClusterSuite`):
/// starts `raptor-testapp` masters (stopped at the end of each test, with their whole
/// process group, also when it failed), reads their JSON log lines and stats file, and runs
/// a concurrent load client. Built on the integration harness (ServerProcess, ChildProcess,
/// RawClient, waitUntil). The cluster is the pool dispatch over TCP: these tests are about
/// the master and its workers, not about a mode.
class ClusterSuite {
    private var servers: [ServerProcess] = []
    private var children: [ChildProcess] = []
    let directory: URL

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "raptor-cluster-\(UUID().uuidString.prefix(10))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    deinit {
        for server in servers where server.isRunning { server.stop(timeout: 10) }
        for server in servers { server.process.killGroup() }
        for child in children { child.killGroup() }
        try? FileManager.default.removeItem(at: directory)
    }

    var statsPath: String { directory.appendingPathComponent("stats.json").path }
    var pidPath: String { directory.appendingPathComponent("raptor.pid").path }

    /// `raptor-testapp` as a cluster: 127.0.0.1 on an ephemeral port, JSON logs, a stats
    /// file, and `flags` (which win over these defaults); `environment` is added to the
    /// test's.
    func startCluster(
        _ flags: [String], binary: String = Binaries.testApp, environment: [String: String] = [:]
    ) throws -> ServerProcess {
        var arguments = flags
        func add(_ flag: String, _ value: String) {
            if !flags.contains(flag) { arguments += [flag, value] }
        }
        if !flags.contains("-b") { add("--bind", "tcp://127.0.0.1:0") }
        if !flags.contains("-w") { add("--workers", "2") }
        add("--threads", "4")
        add("--log-format", "json")
        add("--stats-file", statsPath)
        add("--shutdown-timeout", "5s")
        let server = try ServerProcess(
            binary: binary, arguments: arguments, outputDirectory: directory, readyTimeout: 20,
            environment: environment)
        servers.append(server)
        return server
    }

    /// A process the test starts (a wrapper, a client), killed in tearDown if still running.
    func spawn(_ executable: String, _ arguments: [String], name: String) throws -> ChildProcess {
        let child = try ChildProcess(
            executable: executable, arguments: arguments, outputDirectory: directory, name: name)
        children.append(child)
        return child
    }

    func adopt(_ server: ServerProcess) { servers.append(server) }

    /// Installs a new build at `path` as installs do (written beside it, renamed over it):
    /// a shell script whose `body` ends by exec'ing the real binary (same pid).
    func installBuild(at path: String, script body: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let next = path + ".new"
        try "#!/bin/sh\n\(body)\n".write(toFile: next, atomically: false, encoding: .utf8)
        #expect(chmod(next, 0o755) == 0, sourceLocation: sourceLocation)
        #expect(rename(next, path) == 0, sourceLocation: sourceLocation)
    }

    // MARK: Logs

    /// The server's JSON log lines, parsed.
    func logEvents(_ server: ServerProcess) -> [[String: Any]] {
        server.standardError.split(separator: "\n").compactMap { line in
            guard let data = line.data(using: .utf8) else { return nil }
            return (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
        }
    }

    func events(_ server: ServerProcess, _ message: String) -> [[String: Any]] {
        logEvents(server).filter { $0["message"] as? String == message }
    }

    /// Waits until the log holds `count` events with `message` (and matching `where`).
    @discardableResult
    func waitForEvents(
        _ server: ServerProcess, _ message: String, count: Int = 1, timeout: Double = 20,
        where matches: ([String: Any]) -> Bool = { _ in true }, sourceLocation: SourceLocation = #_sourceLocation
    ) -> [[String: Any]] {
        var found: [[String: Any]] = []
        let held = waitUntil(timeout: timeout, interval: 0.05) {
            found = events(server, message).filter(matches)
            return found.count >= count
        }
        if !held {
            Issue.record(
                "no \(count)× \"\(message)\" within \(timeout) s (found \(found.count)); log:\n\(server.standardError.suffix(4000))",
                sourceLocation: sourceLocation)
        }
        return found
    }

    // MARK: Stats

    /// The stats file, parsed; nil while it does not exist or is being replaced.
    func readStats() -> [String: Any]? {
        guard let data = FileManager.default.contents(atPath: statsPath) else { return nil }
        return (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
    }

    func workers(_ stats: [String: Any]?) -> [[String: Any]] {
        stats?["workers"] as? [[String: Any]] ?? []
    }

    /// Waits until the stats file satisfies `condition`; returns the document.
    @discardableResult
    func waitForStats(
        timeout: Double = 20, _ what: String, sourceLocation: SourceLocation = #_sourceLocation,
        _ condition: ([String: Any]) -> Bool
    ) -> [String: Any]? {
        var last: [String: Any]?
        let held = waitUntil(timeout: timeout, interval: 0.1) {
            last = readStats()
            return last.map(condition) ?? false
        }
        if !held {
            Issue.record(
                "stats never showed \(what) within \(timeout) s; last: \(String(describing: last))",
                sourceLocation: sourceLocation)
        }
        return last
    }

    /// Waits until `count` workers run (booted), all at `phase` if given and none of them
    /// one of `excluding`; returns their pids by slot.
    @discardableResult
    func waitForRunningWorkers(
        _ count: Int, phase: Int? = nil, excluding: [pid_t?] = [], timeout: Double = 20,
        sourceLocation: SourceLocation = #_sourceLocation
    ) -> [Int: pid_t] {
        let excluded = Set(excluding.compactMap { $0.map(Int.init) })
        let stats = waitForStats(timeout: timeout, "\(count) running workers", sourceLocation: sourceLocation) {
            stats in
            let running = workers(stats).filter { $0["state"] as? String == "running" }
            return running.count == count && workers(stats).count == count
                && (phase == nil || running.allSatisfy { ($0["phase"] as? Int) == phase })
                && running.allSatisfy { !excluded.contains($0["pid"] as? Int ?? 0) }
        }
        var pids: [Int: pid_t] = [:]
        for worker in workers(stats) {
            if let slot = worker["slot"] as? Int, let pid = worker["pid"] as? Int { pids[slot] = pid_t(pid) }
        }
        return pids
    }

    // MARK: Requests

    /// No request failed, and no new connection was closed unanswered: a stopping worker
    /// gives a connection it accepted but has not read yet the time to send its request.
    /// (`stoppedWorkers` names how many workers the test stopped, for the message.)
    func assertNoFailedRequest(
        _ summary: LoadClient.Summary, stoppedWorkers: Int, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(summary.failures.isEmpty, "\(summary)", sourceLocation: sourceLocation)
        #expect(
            summary.unanswered == 0, "\(stoppedWorkers) workers stopped: \(summary)", sourceLocation: sourceLocation)
        #expect(summary.ok > 100, "\(summary)", sourceLocation: sourceLocation)
    }

    /// One GET on a new connection; the status, or nil when it failed.
    func get(_ port: UInt16, _ target: String = "/", timeout: Double = 10) -> Int? {
        guard let client = try? RawClient(port: port, timeout: timeout) else { return nil }
        defer { client.close() }
        guard (try? client.send(Requests.get(target))) != nil else { return nil }
        return (try? client.readResponse())?.status
    }

    /// Whether `pid` is gone (reaped by its parent, or a zombie nobody will reap soon).
    func isGone(_ pid: pid_t) -> Bool {
        guard kill(pid, 0) == 0 else { return true }
        let stat = ProcFS.readText("/proc/\(pid)/stat") ?? ""
        guard let close = stat.lastIndex(of: ")") else { return true }
        return stat[stat.index(after: close)...].split(separator: " ").first == "Z"
    }

    func exitStatus(of child: ChildProcess, timeout: Double) -> ExitStatus? { child.wait(timeout: timeout) }
}

/// Clients in threads, each doing GET after GET until stopped: half keep connections
/// alive, half open a new connection per request. Counts what went wrong.
///
/// A request sent on a kept-alive connection that the server closed at that moment
/// (nothing received) is retried once on a new connection, as every HTTP client does for
/// an idempotent request (RFC 9112 section 9.3.1): that race is inherent to keep-alive
/// and is counted as `retried`, not as a failure. Every other problem is a failure:
/// refused connections, timeouts, a response cut short, a non-2xx status. A new
/// connection closed with nothing received is counted apart, as `unanswered`.
final class LoadClient: @unchecked Sendable {
    struct Summary: CustomStringConvertible {
        var ok = 0
        var retried = 0
        /// New connections closed by the server before it read their request: see
        /// docs/cluster.md, "Known gap" (the engine's graceful stop closes a connection it
        /// accepted but has not read yet).
        var unanswered = 0
        var failures: [String] = []
        var description: String {
            "\(ok) ok, \(retried) retried on a reused connection, \(unanswered) new connections closed unanswered,"
                + " \(failures.count) failed" + (failures.isEmpty ? "" : ": \(failures.prefix(5))")
        }
    }

    private let port: UInt16
    private let target: String
    private let tls: TLSClientOptions?
    private let lock = NSLock()
    private var summary = Summary()
    private var stopping = false
    private var threads: [Thread] = []
    private let finished = DispatchGroup()

    /// `tls`: the clients speak TLS (to an ssl:// address).
    init(port: UInt16, target: String = "/", threads count: Int = 6, tls: TLSClientOptions? = nil) {
        self.port = port
        self.target = target
        self.tls = tls
        for index in 0..<count {
            finished.enter()
            let thread = Thread { [self] in
                run(keepAlive: index % 2 == 0)
                finished.leave()
            }
            thread.stackSize = 1 << 20
            threads.append(thread)
        }
        threads.forEach { $0.start() }
    }

    var snapshot: Summary {
        lock.lock()
        defer { lock.unlock() }
        return summary
    }

    /// Stops the clients and waits for them (bounded: every request has a 10 s timeout).
    func stop() -> Summary {
        lock.lock()
        stopping = true
        lock.unlock()
        _ = finished.wait(timeout: .now() + 30)
        return snapshot
    }

    private var shouldStop: Bool {
        lock.lock()
        defer { lock.unlock() }
        return stopping
    }

    private func record(ok: Bool = false, retried: Bool = false, unanswered: Bool = false, failure: String? = nil) {
        lock.lock()
        defer { lock.unlock() }
        if ok { summary.ok += 1 }
        if retried { summary.retried += 1 }
        if unanswered { summary.unanswered += 1 }
        if let failure { summary.failures.append(failure) }
    }

    private func run(keepAlive: Bool) {
        var client: RawClient?
        var reused = false
        let request = keepAlive ? Requests.get(target) : Requests.get(target, "Connection: close\r\n")
        while !shouldStop {
            if client == nil {
                do {
                    client = try RawClient(port: port, timeout: 10, tls: tls)
                    reused = false
                } catch {
                    record(failure: "connect: \(error)")
                    usleep(10_000)
                    continue
                }
            }
            guard let connection = client else { continue }
            do {
                try connection.send(request)
                let response = try connection.readResponse()
                if (200..<300).contains(response.status) {
                    record(ok: true)
                } else {
                    record(failure: "status \(response.status)")
                }
                if !keepAlive || response.saysClose {
                    connection.close()
                    client = nil
                } else {
                    reused = true
                }
            } catch {
                connection.close()
                client = nil
                if reused, case RawClient.Failure.closedEarly(_, let received) = error, received.isEmpty {
                    record(retried: true)
                } else if reused, case RawClient.Failure.socket = error {
                    record(retried: true)
                } else if !reused, case RawClient.Failure.closedEarly(_, let received) = error, received.isEmpty {
                    record(unanswered: true)
                } else {
                    record(failure: "\(reused ? "reused" : "new") connection: \(error)")
                }
            }
        }
        client?.close()
    }
}
