import Foundation
import XCTest

#if canImport(Glibc)
    import Glibc
#endif

/// `--worker-max-requests` and `--worker-max-rss`: a worker past a limit is replaced the
/// way a phased restart replaces it (the new one boots first), the reason is logged and
/// counted, and no request fails.
final class ClusterRecyclingTests: ClusterTestCase {
    func testWorkersPastMaxRequestsAreReplacedWithoutAFailedRequest() throws {
        let server = try startCluster(
            ["-w", "2", "--worker-max-requests", "200", "--metrics-bind", "tcp://127.0.0.1:0"])
        let port = metricsPort(server)
        let first = waitForRunningWorkers(2)
        let load = LoadClient(port: server.port)
        waitForEvents(server, "recycle (max_requests): worker replaced", count: 2, timeout: 60)
        let summary = load.stop()
        assertNoFailedRequest(summary, stoppedWorkers: 2)

        let decisions = events(server, "recycling worker")
        XCTAssertGreaterThanOrEqual(decisions.count, 2)
        XCTAssertTrue(decisions.allSatisfy { $0["reason"] as? String == "max_requests" }, "\(decisions)")
        // The old workers drained (they exit with the recycle as their reason), and nothing
        // else was replaced meanwhile.
        for pid in first.values {
            XCTAssertTrue(waitUntil(timeout: 10) { isGone(pid) }, "worker \(pid) still runs")
        }
        let exits = events(server, "worker exited").filter { $0["reason"] as? String == "recycle (max_requests)" }
        XCTAssertGreaterThanOrEqual(exits.count, 2)
        XCTAssertTrue(events(server, "worker exited unexpectedly").isEmpty)
        let metrics = waitForMetrics(port, "the recycles counted") {
            ($0.value("raptor_cluster_worker_restarts_total", ["reason": "max_requests"]) ?? 0) >= 2
        }
        XCTAssertEqual(metrics.value("raptor_cluster_worker_restarts_total", ["reason": "crash"]), 0)
    }

    func testAWorkerPastMaxRSSIsReplaced() throws {
        let server = try startCluster(["-w", "2", "--worker-max-rss", "96m"])
        let before = waitForRunningWorkers(2)
        // One worker grows by 128 MiB (a leak): it alone is recycled.
        let client = try RawClient(port: server.port)
        try client.send(Requests.get("/retain?mb=128"))
        let answer = try client.readResponse().bodyText
        client.close()
        guard let pidText = answer.split(separator: "=").last?.trimmingCharacters(in: .whitespacesAndNewlines),
            let grown = pid_t(pidText)
        else { return XCTFail("no pid in \(answer)") }
        XCTAssertTrue(before.values.contains(grown))

        let decision = waitForEvents(server, "recycling worker").first
        XCTAssertEqual(decision?["reason"] as? String, "max_rss")
        XCTAssertEqual(decision?["pid"] as? String, "\(grown)")
        XCTAssertTrue(
            (decision?["why"] as? String ?? "").contains("over --worker-max-rss 96MiB"),
            "\(String(describing: decision))")
        waitForEvents(server, "recycle (max_rss): worker replaced")
        let after = waitForRunningWorkers(2, excluding: [grown])
        XCTAssertEqual(Set(after.values).intersection(before.values).count, 1, "only the grown worker is replaced")
        XCTAssertEqual((readStats()?["restarts"] as? [String: Int])?["max_rss"], 1)
        XCTAssertEqual(get(server.port), 200)
    }

    /// A limit below what a worker needs at boot would replace workers forever: each is
    /// kept, with one warning.
    func testAWorkerTooBigAtBootIsNotRecycledInALoop() throws {
        let server = try startCluster(["-w", "2", "--worker-max-rss", "1m"])
        let pids = waitForRunningWorkers(2)
        waitForEvents(server, "worker not recycled: a new one would be as big", count: 2)
        usleep(2_500_000)  // several more checks (one a second): still no recycle, no more warnings
        XCTAssertEqual(events(server, "worker not recycled: a new one would be as big").count, 2)
        XCTAssertTrue(events(server, "recycling worker").isEmpty)
        XCTAssertEqual(waitForRunningWorkers(2), pids)
    }

    /// A recycle whose new worker cannot boot leaves the old one serving and is tried again
    /// later; it is not a phased restart, so none is aborted, and a later USR2 works.
    func testAFailedRecycleKeepsTheOldWorker() throws {
        let failing = directory.appendingPathComponent("fail-boot").path
        let server = try startCluster(
            ["-w", "1", "--worker-max-requests", "5"], environment: ["RAPTOR_TESTAPP_FAIL_BOOT_IF": failing])
        let pid = waitForRunningWorkers(1)[0]
        XCTAssertTrue(FileManager.default.createFile(atPath: failing, contents: nil))
        for _ in 0..<6 { XCTAssertEqual(get(server.port), 200) }
        let failure = waitForEvents(
            server, "worker recycle failed: the new worker exited before it booted; the old one goes on"
        ).first
        XCTAssertEqual(failure?["reason"] as? String, "max_requests")
        XCTAssertEqual(failure?["next_try_in"] as? String, "10s")
        XCTAssertTrue(events(server, "phased restart aborted: the new worker exited before it booted").isEmpty)
        XCTAssertEqual(get(server.port), 200)
        XCTAssertEqual(waitForRunningWorkers(1)[0], pid, "the old worker goes on")

        try FileManager.default.removeItem(atPath: failing)
        server.process.signal(SIGUSR2)
        waitForEvents(server, "phased restart finished")
        XCTAssertNotEqual(waitForRunningWorkers(1, phase: 1)[0], pid)
    }
}
