import Foundation
import XCTest

#if canImport(Glibc)
    import Glibc
#endif

/// What a cluster leaves on disk and how it fails to start: the pidfile, the stats file and
/// `raptor-ev stats`, bind errors before any fork.
final class ClusterFilesTests: ClusterTestCase {
    /// Runs a command to its end (bounded); its status, stdout and stderr.
    func run(_ executable: String, _ arguments: [String], timeout: Double = 20) throws -> (
        ExitStatus?, String, String
    ) {
        let child = try spawn(executable, arguments, name: "run-\(UUID().uuidString.prefix(6))")
        let status = child.wait(timeout: timeout)
        if status == nil { child.killGroup() }
        return (status, child.standardOutput, child.standardError)
    }

    func testPidfileIsExclusiveAndAStaleOneIsReplaced() throws {
        // A pidfile naming a live process (this test): refused, one line, nothing forked.
        try "\(getpid())\n".write(toFile: pidPath, atomically: true, encoding: .utf8)
        let (status, _, errors) = try run(
            Binaries.testApp, ["-w", "2", "-b", "tcp://127.0.0.1:0", "--pidfile", pidPath, "--log-format", "json"])
        XCTAssertEqual(status, .exited(1))
        let lines = errors.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, errors)
        XCTAssertTrue(errors.contains("pidfile \(pidPath) names process \(getpid()), which is running"), errors)
        XCTAssertEqual(try String(contentsOfFile: pidPath, encoding: .utf8), "\(getpid())\n", "left alone")

        // A stale one (its process is gone): replaced by the master's pid, removed at exit.
        let dead = try spawn("true", [], name: "dead")
        XCTAssertEqual(dead.wait(timeout: 10), .exited(0))
        try "\(dead.pid)\n".write(toFile: pidPath, atomically: true, encoding: .utf8)
        let server = try startCluster(["-w", "1", "--pidfile", pidPath])
        XCTAssertEqual(try String(contentsOfFile: pidPath, encoding: .utf8), "\(server.pid)\n")
        // A second server on the same pidfile is refused while the first runs.
        let (second, _, secondErrors) = try run(
            Binaries.testApp, ["-w", "1", "-b", "tcp://127.0.0.1:0", "--pidfile", pidPath, "--log-format", "json"])
        XCTAssertEqual(second, .exited(1))
        XCTAssertTrue(secondErrors.contains("names process \(server.pid), which is running"), secondErrors)
        XCTAssertEqual(server.stop(timeout: 15), .exited(0))
        XCTAssertFalse(FileManager.default.fileExists(atPath: pidPath))
    }

    /// The stats file follows docs/stats-schema.md, and `raptor-ev stats` prints it as a
    /// table (or raw with --json); a missing or stale file is a one-line error.
    func testStatsFileSchemaAndTheStatsCommand() throws {
        let server = try startCluster(["-w", "2"])
        waitForRunningWorkers(2)
        for _ in 0..<20 { XCTAssertEqual(get(server.port), 200) }
        XCTAssertEqual(get(server.port, "/status?code=404"), 404)
        let stats = try XCTUnwrap(
            waitForStats("21 requests") { ($0["totals"] as? [String: Any])?["requests"] as? Int == 21 })

        XCTAssertEqual(stats["version"] as? Int, 1)
        XCTAssertEqual(stats["master_pid"] as? Int, Int(server.pid))
        XCTAssertEqual(stats["workers_configured"] as? Int, 2)
        XCTAssertEqual(stats["listener_mode"] as? String, "reuseport")
        XCTAssertEqual(stats["phase"] as? Int, 0)
        XCTAssertEqual(stats["phased_restart"] as? Bool, false)
        XCTAssertNotNil(stats["started_at"] as? Int)
        let updated = try XCTUnwrap(stats["updated_at"] as? Double)
        XCTAssertLessThan(abs(Date().timeIntervalSince1970 - updated), 5)
        let counters = [
            "pid", "index", "phase", "started_at", "last_checkin", "requests", "active_connections",
            "keepalive_connections", "backlog", "busy_threads", "thread_capacity", "bytes_read", "bytes_written",
            "responses_1xx", "responses_2xx", "responses_3xx", "responses_4xx", "responses_5xx", "parse_errors",
            "timeouts", "shed_503", "accept_pauses", "tls_handshake_errors",
        ]
        let list = workers(stats)
        XCTAssertEqual(list.count, 2)
        for (slot, worker) in list.enumerated() {
            XCTAssertEqual(worker["slot"] as? Int, slot)
            XCTAssertEqual(worker["index"] as? Int, slot)
            XCTAssertEqual(worker["state"] as? String, "running")
            XCTAssertEqual(worker["booted"] as? Bool, true)
            XCTAssertEqual(worker["thread_capacity"] as? Int, 4)
            for key in counters { XCTAssertNotNil(worker[key] as? Int, "\(key) in \(worker)") }
        }
        let totals = try XCTUnwrap(stats["totals"] as? [String: Any])
        XCTAssertEqual(totals["workers"] as? Int, 2)
        XCTAssertEqual(totals["responses_2xx"] as? Int, 20)
        XCTAssertEqual(totals["responses_4xx"] as? Int, 1)
        XCTAssertEqual(totals["thread_capacity"] as? Int, 8)

        let (status, table, errors) = try run(Binaries.raptorEV, ["stats", "--stats-file", statsPath])
        XCTAssertEqual(status, .exited(0), errors)
        let rows = table.split(separator: "\n").map(String.init)
        XCTAssertEqual(rows.count, 5, table)  // heading, column names, 2 workers, total
        XCTAssertTrue(rows[0].hasPrefix("master \(server.pid), phase 0, 2 workers (reuseport)"), table)
        XCTAssertTrue(rows[1].hasPrefix("worker  pid"), table)
        XCTAssertTrue(rows[2].hasPrefix("0 "), table)
        XCTAssertTrue(rows[3].hasPrefix("1 "), table)
        XCTAssertTrue(rows[4].hasPrefix("total"), table)
        XCTAssertTrue(rows[4].contains(" 21 "), table)

        let (jsonStatus, json, _) = try run(Binaries.raptorEV, ["stats", "--stats-file", statsPath, "--json"])
        XCTAssertEqual(jsonStatus, .exited(0))
        let document = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        XCTAssertEqual(document?["master_pid"] as? Int, Int(server.pid))

        XCTAssertEqual(server.stop(timeout: 15), .exited(0))
        let (missing, missingOut, missingErrors) = try run(Binaries.raptorEV, ["stats", "--stats-file", statsPath])
        XCTAssertEqual(missing, .exited(1))
        XCTAssertEqual(missingOut, "")
        XCTAssertEqual(missingErrors.split(separator: "\n").count, 1, missingErrors)
        XCTAssertTrue(missingErrors.contains("no stats file at \(statsPath)"), missingErrors)

        // Stale: its master is gone, or it was not rewritten for more than 5 s.
        let dead = try spawn("true", [], name: "dead")
        XCTAssertEqual(dead.wait(timeout: 10), .exited(0))
        let now = Date().timeIntervalSince1970
        try "{\"master_pid\":\(dead.pid),\"updated_at\":\(now),\"workers\":[]}".write(
            toFile: statsPath, atomically: true, encoding: .utf8)
        let (gone, _, goneErrors) = try run(Binaries.raptorEV, ["stats", "--stats-file", statsPath])
        XCTAssertEqual(gone, .exited(1))
        XCTAssertTrue(goneErrors.contains("is stale: its master (pid \(dead.pid)) is not running"), goneErrors)
        try "{\"master_pid\":\(getpid()),\"updated_at\":\(now - 60),\"workers\":[]}".write(
            toFile: statsPath, atomically: true, encoding: .utf8)
        let (old, _, oldErrors) = try run(Binaries.raptorEV, ["stats", "--stats-file", statsPath])
        XCTAssertEqual(old, .exited(1))
        XCTAssertTrue(oldErrors.contains("is stale: last written 6"), oldErrors)
        XCTAssertEqual(oldErrors.split(separator: "\n").count, 1, oldErrors)
    }

    /// `--single` (no master): the one process writes the same stats file, and removes it.
    func testSingleProcessWritesTheStatsFileToo() throws {
        let server = try startCluster(["--single", "--pidfile", pidPath])
        for _ in 0..<3 { XCTAssertEqual(get(server.port), 200) }
        let stats = waitForStats("3 requests") { ($0["totals"] as? [String: Any])?["requests"] as? Int == 3 }
        XCTAssertEqual(stats?["master_pid"] as? Int, Int(server.pid))
        XCTAssertEqual(workers(stats).first?["pid"] as? Int, Int(server.pid))
        XCTAssertEqual(workers(stats).first?["state"] as? String, "running")
        XCTAssertEqual(ProcFS.processTree(of: server.pid), [server.pid], "no fork")
        let (status, table, _) = try run(Binaries.raptorEV, ["stats", "--stats-file", statsPath])
        XCTAssertEqual(status, .exited(0))
        XCTAssertTrue(table.contains("1 worker (shared)"), table)
        XCTAssertEqual(server.stop(timeout: 10), .exited(0))
        XCTAssertFalse(FileManager.default.fileExists(atPath: statsPath))
        XCTAssertFalse(FileManager.default.fileExists(atPath: pidPath))
    }

    /// A port in use or a bad URL: one error line, a non-zero exit, and no worker forked.
    func testBindErrorsFailBeforeAnyFork() throws {
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
        XCTAssertEqual(listen(holder, 8), 0)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(holder, $0, &length) }
        }
        let taken = UInt16(bigEndian: address.sin_port)
        for mode in ["reuseport", "shared"] {
            let (status, _, errors) = try run(
                Binaries.testApp,
                ["-w", "2", "--listener", mode, "-b", "tcp://127.0.0.1:\(taken)", "--log-format", "json"])
            XCTAssertEqual(status, .exited(1), errors)
            XCTAssertTrue(errors.contains("cannot bind tcp://127.0.0.1:\(taken)"), errors)
            XCTAssertTrue(errors.contains("Address already in use"), errors)
            XCTAssertFalse(errors.contains("worker started"), errors)
        }

        let first = try startCluster(["-w", "1"])
        let (status, _, errors) = try run(
            Binaries.testApp, ["-w", "2", "-b", "tcp://127.0.0.1:\(first.port)", "--log-format", "json"])
        XCTAssertEqual(status, .exited(1), errors)
        XCTAssertTrue(errors.contains("Address already in use"), errors)
        XCTAssertFalse(errors.contains("worker started"), errors)

        let (badStatus, _, badErrors) = try run(
            Binaries.testApp, ["-w", "2", "-b", "http://127.0.0.1:80", "--log-format", "json"])
        XCTAssertEqual(badStatus, .exited(64), badErrors)
        XCTAssertEqual(badErrors.split(separator: "\n").count, 1, badErrors)
        XCTAssertTrue(badErrors.contains("--bind"), badErrors)
        XCTAssertFalse(badErrors.contains("worker started"), badErrors)
    }
}
