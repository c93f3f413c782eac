import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The open-files limit: raised from soft to hard at start (and shown in the boot line);
/// at the limit a new connection gets a prompt 503 and a close (a descriptor is kept in
/// reserve for it), counted in `fd_limit_503`, with a warning at most every 5 s; once
/// descriptors free up, connections are served again.
///
/// The server runs under prlimit(1); the pool suite runs a one-worker cluster, so the
/// connections held all count against one worker's limit.
@Suite(.exclusive) final class OpenFilesLimitTests: ServerSuite {
    static let warning = "out of file descriptors: new connections answered 503"

    func startLimited(_ mode: ServerMode, soft: Int, hard: Int, _ flags: [String] = []) throws -> ServerProcess {
        try startServer(
            mode, binary: "/usr/bin/prlimit", leading: ["--nofile=\(soft):\(hard)", Binaries.testApp],
            flags: (mode.dispatch == .inline ? [] : ["--workers", "1"]) + flags)
    }

    /// The server's JSON log lines with `message`.
    func logLines(_ server: ServerProcess, _ message: String) -> [[String: Any]] {
        server.standardError.split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
        }.filter { $0["message"] as? String == message }
    }

    /// The soft and hard "Max open files" of a process, from /proc.
    func openFilesLimits(_ pid: pid_t) -> [String] {
        let limits = ProcFS.readText("/proc/\(pid)/limits") ?? ""
        let line = limits.split(separator: "\n").first { $0.hasPrefix("Max open files") } ?? ""
        return Array(line.dropFirst("Max open files".count).split(separator: " ").prefix(2).map(String.init))
    }

    @Test(arguments: ServerMode.all)
    func softLimitIsRaisedToTheHardLimit(_ mode: ServerMode) throws {
        let server = try startLimited(mode, soft: 64, hard: 300)
        let bootLine = mode.dispatch == .inline ? "worker booted" : "master started"
        #expect(waitUntil(timeout: 10) { !logLines(server, bootLine).isEmpty }, "\(server.logTail)")
        #expect((logLines(server, bootLine).first?["open_files_limit"] as? String) == "300", "\(server.logTail)")
        // Every process of the server (the workers inherit the master's limit).
        try expectEqual(exchange(server, Requests.get("/")).status, 200)
        let tree = server.processTree
        #expect(tree.count >= (mode.dispatch == .inline ? 1 : 2), "processes: \(tree)")
        for pid in tree { #expect(openFilesLimits(pid) == ["300", "300"], "process \(pid)") }
    }

    // Over TCP: the refusal is an HTTP 503 (over TLS an alert: the next test).
    @Test(arguments: ServerMode.Dispatch.allCases.map { ServerMode($0, .tcp) })
    func connectionsPastTheLimitGet503ThenServiceResumes(_ mode: ServerMode) throws {
        let statsPath = workDirectory.appendingPathComponent("stats.json").path
        let server = try startLimited(mode, soft: 64, hard: 64, ["--stats-file", statsPath])
        // Fill the worker's descriptors with kept-alive connections until one is refused.
        var held: [RawClient] = []
        var refusal: (response: HTTPResponseMessage, seconds: Double)?
        for _ in 0..<200 {
            let client = try connect(server, timeout: 5)
            let response: HTTPResponseMessage
            let seconds: Double
            do {
                (response, seconds) = try measureSeconds {
                    try client.send(Requests.get("/"))
                    return try client.readResponse()
                }
            } catch {
                Issue.record("connection \(held.count + 1) under a limit of 64 open files got no answer: \(error)")
                return
            }
            if response.status == 503 {
                refusal = (response, seconds)
                expectClosed(client, "after the 503 at the open-files limit")
                break
            }
            #expect(response.status == 200, "\(response.statusLine)")
            held.append(client)
        }
        guard let refusal else {
            Issue.record("no 503 after \(held.count) connections under a limit of 64 open files")
            return
        }
        #expect(held.count > 30, "the worker refused connections long before its limit")
        #expect(refusal.seconds < 2, "the 503 must come at once, not when a descriptor frees up")
        #expect(refusal.response.header("Retry-After") == "1", "\(refusal.response.rawHead)")
        #expect(refusal.response.saysClose, "\(refusal.response.rawHead)")
        #expect(refusal.response.header("Date") != nil, "\(refusal.response.rawHead)")
        #expect(refusal.response.bodyText == "Service Unavailable\n")

        // A warning with the count, soon; then more refusals within 5 s of it wait for the
        // next warning, 5 s after the first.
        #expect(waitUntil(timeout: 5) { logLines(server, Self.warning).count == 1 }, "\(server.logTail)")
        for _ in 0..<5 {
            let client = try connect(server, timeout: 5)
            try client.send(Requests.get("/"))
            try expectEqual(client.readResponse().status, 503)
            expectClosed(client, "after the 503 at the open-files limit")
        }
        #expect(waitUntil(timeout: 10) { logLines(server, Self.warning).count >= 2 }, "\(server.logTail)")
        let warnings = logLines(server, Self.warning)
        #expect(warnings.count == 2, "\(server.logTail)")
        #expect((warnings.map { $0["refused"] as? String }) == ["1", "5"], "\(server.logTail)")
        #expect((warnings.map { $0["refused_total"] as? String }) == ["1", "6"], "\(server.logTail)")
        #expect((warnings.first?["open_files_limit"] as? String) == "64")
        let times = warnings.compactMap { ($0["ts"] as? String).flatMap(Self.logTime) }
        #expect(times.count == 2)
        if times.count == 2 {
            #expect((times[1] - times[0]) >= 4.99, "warnings closer than 5 s: \(warnings)")
        }

        // Descriptors free up: served again (a probe that comes before the server has seen
        // the closes is refused too, and counted), and the refusals are in the stats.
        for client in held { client.close() }
        var refused = 6
        #expect(
            waitUntil(timeout: 5) {
                let status = try? exchange(server, Requests.get("/")).status
                if status == 503 { refused += 1 }
                return status == 200
            }, "not served again once the held connections closed")
        var stats: [String: Any]?
        #expect(
            waitUntil(timeout: 5) {
                stats = (try? Data(contentsOf: URL(fileURLWithPath: statsPath))).flatMap {
                    try? JSONSerialization.jsonObject(with: $0) as? [String: Any]
                }
                return (stats?["totals"] as? [String: Any])?["fd_limit_503"] as? Int == refused
            }, "fd_limit_503 in the stats file, \(refused) expected: \(String(describing: stats))")
        let workers = stats?["workers"] as? [[String: Any]] ?? []
        #expect((workers.first?["fd_limit_503"] as? Int) == refused)
        let table = try ExternalClient.run(
            Binaries.raptorEV, ["stats", "--stats-file", statsPath], timeout: 20, outputDirectory: workDirectory)
        #expect(table.succeeded, "\(table.description)")
        let rows = table.standardOutput.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        // The fd503 column, counted from the right (the total row has the same columns on the
        // right, except an empty checkin cell).
        let header = rows.count > 1 ? rows[1] : []
        let fromRight = header.firstIndex(of: "fd503").map { header.count - $0 } ?? 0
        #expect(header.last == "checkin", "\(table.standardOutput)")
        #expect(fromRight > 1, "no fd503 column: \(table.standardOutput)")
        let total = rows.last ?? []
        #expect(total.first == "total", "\(table.standardOutput)")
        #expect(
            (fromRight > 1 && total.count >= fromRight ? total[total.count - fromRight + 1] : nil) == String(refused),
            "\(table.standardOutput)")
    }

    /// Unix seconds of a log line's `ts` (`2026-11-23T11:30:00.123Z`).
    static func logTime(_ text: String) -> Double? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.date(from: text)?.timeIntervalSince1970
    }

    /// On an ssl:// listener the connection waiting at the limit has sent a ClientHello,
    /// not a request: it gets a fatal internal_error alert (in the clear, as alerts before
    /// the handshake are) and the close, which a TLS client reports as the server's alert
    /// rather than as garbage on the connection; counted the same way.
    @Test(arguments: ServerMode.Dispatch.allCases.map { ServerMode($0, .tls) })
    func tlsConnectionsPastTheLimitGetAnAlert(_ mode: ServerMode) throws {
        let server = try startLimited(mode, soft: 64, hard: 64)
        var held: [RawClient] = []
        var refused = false
        for _ in 0..<200 {
            guard let client = try? connect(server, timeout: 5) else {
                refused = true
                break
            }
            guard (try? client.send(Requests.get("/"))) != nil, let response = try? client.readResponse() else {
                refused = true
                break
            }
            #expect(response.status == 200, "\(response.statusLine)")
            held.append(client)
        }
        #expect(refused, "no refusal after \(held.count) connections under a limit of 64 open files")
        #expect(held.count > 30, "the worker refused connections long before its limit")
        let refusal = try SClient.run(port: server.port, [], request: Requests.get("/"), directory: workDirectory)
        #expect(refusal.output.contains("alert internal error"), "\(refusal.result)")
        #expect(!refusal.handshakeSucceeded, "\(refusal.result)")
        #expect(waitUntil(timeout: 5) { !logLines(server, Self.warning).isEmpty }, "\(server.logTail)")

        for client in held { client.close() }
        #expect(
            waitUntil(timeout: 5) { (try? exchange(server, Requests.get("/")).status) == 200 },
            "not served again once the held connections closed")
    }
}
