import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// What a cluster leaves on disk and how it fails to start: the pidfile, the stats file and
/// `raptor-ev stats`, bind errors before any fork.
@Suite(.exclusive) final class ClusterFilesTests: ClusterSuite {
    /// Runs a command to its end (bounded); its status, stdout and stderr.
    func run(_ executable: String, _ arguments: [String], timeout: Double = 20) throws -> (
        ExitStatus?, String, String
    ) {
        let child = try spawn(executable, arguments, name: "run-\(UUID().uuidString.prefix(6))")
        let status = child.wait(timeout: timeout)
        if status == nil { child.killGroup() }
        return (status, child.standardOutput, child.standardError)
    }

    @Test func pidfileIsExclusiveAndAStaleOneIsReplaced() throws {
        // A pidfile naming a live process (this test): refused, one line, nothing forked.
        try "\(getpid())\n".write(toFile: pidPath, atomically: true, encoding: .utf8)
        let (status, _, errors) = try run(
            Binaries.testApp, ["-w", "2", "-b", "tcp://127.0.0.1:0", "--pidfile", pidPath, "--log-format", "json"])
        #expect(status == .exited(1))
        let lines = errors.split(separator: "\n")
        #expect(lines.count == 1, "\(errors)")
        #expect(errors.contains("pidfile \(pidPath) names process \(getpid()), which is running"), "\(errors)")
        let pidfileLeftAlone = try String(contentsOfFile: pidPath, encoding: .utf8)
        #expect(pidfileLeftAlone == "\(getpid())\n", "left alone")

        // A stale one (its process is gone): replaced by the master's pid, removed at exit.
        let dead = try spawn("true", [], name: "dead")
        #expect(dead.wait(timeout: 10) == .exited(0))
        try "\(dead.pid)\n".write(toFile: pidPath, atomically: true, encoding: .utf8)
        let server = try startCluster(["-w", "1", "--pidfile", pidPath])
        let pidfileReplaced = try String(contentsOfFile: pidPath, encoding: .utf8)
        #expect(pidfileReplaced == "\(server.pid)\n")
        // A second server on the same pidfile is refused while the first runs.
        let (second, _, secondErrors) = try run(
            Binaries.testApp, ["-w", "1", "-b", "tcp://127.0.0.1:0", "--pidfile", pidPath, "--log-format", "json"])
        #expect(second == .exited(1))
        #expect(secondErrors.contains("names process \(server.pid), which is running"), "\(secondErrors)")
        #expect(server.stop(timeout: 15) == .exited(0))
        #expect(!FileManager.default.fileExists(atPath: pidPath))
    }

    /// The stats file follows docs/stats-schema.md, and `raptor-ev stats` prints it as a
    /// table (or raw with --json); a missing or stale file is a one-line error.
    @Test func statsFileSchemaAndTheStatsCommand() throws {
        let server = try startCluster(["-w", "2"])
        waitForRunningWorkers(2)
        for _ in 0..<20 { #expect(get(server.port) == 200) }
        #expect(get(server.port, "/status?code=404") == 404)
        let stats = try #require(
            waitForStats("21 requests") { ($0["totals"] as? [String: Any])?["requests"] as? Int == 21 })

        #expect((stats["version"] as? Int) == 1)
        #expect((stats["master_pid"] as? Int) == Int(server.pid))
        #expect((stats["workers_configured"] as? Int) == 2)
        #expect((stats["listener_mode"] as? String) == "reuseport")
        #expect((stats["phase"] as? Int) == 0)
        #expect((stats["phased_restart"] as? Bool) == false)
        #expect((stats["started_at"] as? Int) != nil)
        let updated = try #require(stats["updated_at"] as? Double)
        #expect(abs(Date().timeIntervalSince1970 - updated) < 5)
        let counters = [
            "pid", "index", "phase", "started_at", "last_checkin", "requests", "active_connections",
            "keepalive_connections", "backlog", "busy_threads", "thread_capacity", "bytes_read", "bytes_written",
            "responses_1xx", "responses_2xx", "responses_3xx", "responses_4xx", "responses_5xx", "parse_errors",
            "timeouts", "shed_503", "accept_pauses", "tls_handshake_errors", "h2_connections", "h2_streams",
        ]
        let list = workers(stats)
        #expect(list.count == 2)
        for (slot, worker) in list.enumerated() {
            #expect((worker["slot"] as? Int) == slot)
            #expect((worker["index"] as? Int) == slot)
            #expect((worker["state"] as? String) == "running")
            #expect((worker["booted"] as? Bool) == true)
            #expect((worker["thread_capacity"] as? Int) == 4)
            for key in counters { #expect((worker[key] as? Int) != nil, "\(key) in \(worker)") }
        }
        let totals = try #require(stats["totals"] as? [String: Any])
        #expect((totals["workers"] as? Int) == 2)
        #expect((totals["responses_2xx"] as? Int) == 20)
        #expect((totals["responses_4xx"] as? Int) == 1)
        #expect((totals["thread_capacity"] as? Int) == 8)

        let (status, table, errors) = try run(Binaries.raptorEV, ["stats", "--stats-file", statsPath])
        #expect(status == .exited(0), "\(errors)")
        let rows = table.split(separator: "\n").map(String.init)
        #expect(rows.count == 5, "\(table)")  // heading, column names, 2 workers, total
        #expect(rows[0].hasPrefix("master \(server.pid), phase 0, 2 workers (reuseport)"), "\(table)")
        #expect(rows[1].hasPrefix("worker  pid"), "\(table)")
        #expect(rows[2].hasPrefix("0 "), "\(table)")
        #expect(rows[3].hasPrefix("1 "), "\(table)")
        #expect(rows[4].hasPrefix("total"), "\(table)")
        #expect(rows[4].contains(" 21 "), "\(table)")

        let (jsonStatus, json, _) = try run(Binaries.raptorEV, ["stats", "--stats-file", statsPath, "--json"])
        #expect(jsonStatus == .exited(0))
        let document = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        #expect((document?["master_pid"] as? Int) == Int(server.pid))

        #expect(server.stop(timeout: 15) == .exited(0))
        let (missing, missingOut, missingErrors) = try run(Binaries.raptorEV, ["stats", "--stats-file", statsPath])
        #expect(missing == .exited(1))
        #expect(missingOut == "")
        #expect(missingErrors.split(separator: "\n").count == 1, "\(missingErrors)")
        #expect(missingErrors.contains("no stats file at \(statsPath)"), "\(missingErrors)")

        // Stale: its master is gone, or it was not rewritten for more than 5 s.
        let dead = try spawn("true", [], name: "dead")
        #expect(dead.wait(timeout: 10) == .exited(0))
        let now = Date().timeIntervalSince1970
        try "{\"master_pid\":\(dead.pid),\"updated_at\":\(now),\"workers\":[]}".write(
            toFile: statsPath, atomically: true, encoding: .utf8)
        let (gone, _, goneErrors) = try run(Binaries.raptorEV, ["stats", "--stats-file", statsPath])
        #expect(gone == .exited(1))
        #expect(goneErrors.contains("is stale: its master (pid \(dead.pid)) is not running"), "\(goneErrors)")
        try "{\"master_pid\":\(getpid()),\"updated_at\":\(now - 60),\"workers\":[]}".write(
            toFile: statsPath, atomically: true, encoding: .utf8)
        let (old, _, oldErrors) = try run(Binaries.raptorEV, ["stats", "--stats-file", statsPath])
        #expect(old == .exited(1))
        #expect(oldErrors.contains("is stale: last written 6"), "\(oldErrors)")
        #expect(oldErrors.split(separator: "\n").count == 1, "\(oldErrors)")
    }

    /// `--single` (no master): the one process writes the same stats file, and removes it.
    @Test func singleProcessWritesTheStatsFileToo() throws {
        let server = try startCluster(["--single", "--pidfile", pidPath])
        for _ in 0..<3 { #expect(get(server.port) == 200) }
        let stats = waitForStats("3 requests") { ($0["totals"] as? [String: Any])?["requests"] as? Int == 3 }
        #expect((stats?["master_pid"] as? Int) == Int(server.pid))
        #expect((workers(stats).first?["pid"] as? Int) == Int(server.pid))
        #expect((workers(stats).first?["state"] as? String) == "running")
        #expect(ProcFS.processTree(of: server.pid) == [server.pid], "no fork")
        let (status, table, _) = try run(Binaries.raptorEV, ["stats", "--stats-file", statsPath])
        #expect(status == .exited(0))
        #expect(table.contains("1 worker (shared)"), "\(table)")
        #expect(server.stop(timeout: 10) == .exited(0))
        #expect(!FileManager.default.fileExists(atPath: statsPath))
        #expect(!FileManager.default.fileExists(atPath: pidPath))
    }

    /// A port in use or a bad URL: one error line, a non-zero exit, and no worker forked.
    @Test func bindErrorsFailBeforeAnyFork() throws {
        // Taken by a plain socket, then by another raptor-ev cluster (SO_REUSEPORT must not
        // let the second one share the port).
        let holder = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(holder) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr = in_addr(s_addr: UInt32(0x7F00_0001).bigEndian)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(holder, $0, length) }
        }
        #expect(listen(holder, 8) == 0)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(holder, $0, &length) }
        }
        let taken = UInt16(bigEndian: address.sin_port)
        for mode in ["reuseport", "shared"] {
            let (status, _, errors) = try run(
                Binaries.testApp,
                ["-w", "2", "--listener", mode, "-b", "tcp://127.0.0.1:\(taken)", "--log-format", "json"])
            #expect(status == .exited(1), "\(errors)")
            #expect(errors.contains("cannot bind tcp://127.0.0.1:\(taken)"), "\(errors)")
            #expect(errors.contains("Address already in use"), "\(errors)")
            #expect(!errors.contains("worker started"), "\(errors)")
        }

        let first = try startCluster(["-w", "1"])
        let (status, _, errors) = try run(
            Binaries.testApp, ["-w", "2", "-b", "tcp://127.0.0.1:\(first.port)", "--log-format", "json"])
        #expect(status == .exited(1), "\(errors)")
        #expect(errors.contains("Address already in use"), "\(errors)")
        #expect(!errors.contains("worker started"), "\(errors)")

        let (badStatus, _, badErrors) = try run(
            Binaries.testApp, ["-w", "2", "-b", "http://127.0.0.1:80", "--log-format", "json"])
        #expect(badStatus == .exited(64), "\(badErrors)")
        #expect(badErrors.split(separator: "\n").count == 1, "\(badErrors)")
        #expect(badErrors.contains("--bind"), "\(badErrors)")
        #expect(!badErrors.contains("worker started"), "\(badErrors)")
    }
}
