import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `--worker-max-requests` and `--worker-max-rss`: a worker past a limit is replaced the
/// way a phased restart replaces it (the new one boots first), the reason is logged and
/// counted, and no request fails.
@Suite(.exclusive) final class ClusterRecyclingTests: ClusterSuite {
    @Test func workersPastMaxRequestsAreReplacedWithoutAFailedRequest() throws {
        let server = try startCluster(
            ["-w", "2", "--worker-max-requests", "200", "--metrics-bind", "tcp://127.0.0.1:0"])
        let port = metricsPort(server)
        let first = waitForRunningWorkers(2)
        let load = LoadClient(port: server.port)
        waitForEvents(server, "recycle (max_requests): worker replaced", count: 2, timeout: 60)
        let summary = load.stop()
        assertNoFailedRequest(summary, stoppedWorkers: 2)

        let decisions = events(server, "recycling worker")
        #expect(decisions.count >= 2)
        #expect(decisions.allSatisfy { $0["reason"] as? String == "max_requests" }, "\(decisions)")
        // The old workers drained (they exit with the recycle as their reason), and nothing
        // else was replaced meanwhile.
        for pid in first.values {
            #expect(waitUntil(timeout: 10) { isGone(pid) }, "worker \(pid) still runs")
        }
        let exits = events(server, "worker exited").filter { $0["reason"] as? String == "recycle (max_requests)" }
        #expect(exits.count >= 2)
        #expect(events(server, "worker exited unexpectedly").isEmpty)
        let metrics = waitForMetrics(port, "the recycles counted") {
            ($0.value("raptor_cluster_worker_restarts_total", ["reason": "max_requests"]) ?? 0) >= 2
        }
        #expect(metrics.value("raptor_cluster_worker_restarts_total", ["reason": "crash"]) == 0)
    }

    @Test func aWorkerPastMaxRSSIsReplaced() throws {
        let server = try startCluster(["-w", "2", "--worker-max-rss", "96m"])
        let before = waitForRunningWorkers(2)
        // One worker grows by 128 MiB (a leak): it alone is recycled.
        let client = try RawClient(port: server.port)
        try client.send(Requests.get("/retain?mb=128"))
        let answer = try client.readResponse().bodyText
        client.close()
        guard let pidText = answer.split(separator: "=").last?.trimmingCharacters(in: .whitespacesAndNewlines),
            let grown = pid_t(pidText)
        else {
            Issue.record("no pid in \(answer)")
            return
        }
        #expect(before.values.contains(grown))

        let decision = waitForEvents(server, "recycling worker").first
        #expect((decision?["reason"] as? String) == "max_rss")
        #expect((decision?["pid"] as? String) == "\(grown)")
        let why = decision?["why"] as? String ?? ""
        #expect(why.contains("over --worker-max-rss 96MiB"), "\(String(describing: decision))")
        waitForEvents(server, "recycle (max_rss): worker replaced")
        let after = waitForRunningWorkers(2, excluding: [grown])
        #expect(Set(after.values).intersection(before.values).count == 1, "only the grown worker is replaced")
        #expect((readStats()?["restarts"] as? [String: Int])?["max_rss"] == 1)
        #expect(get(server.port) == 200)
    }

    /// A limit below what a worker needs at boot would replace workers forever: each is
    /// kept, with one warning.
    @Test func aWorkerTooBigAtBootIsNotRecycledInALoop() throws {
        let server = try startCluster(["-w", "2", "--worker-max-rss", "1m"])
        let pids = waitForRunningWorkers(2)
        waitForEvents(server, "worker not recycled: a new one would be as big", count: 2)
        usleep(2_500_000)  // several more checks (one a second): still no recycle, no more warnings
        #expect(events(server, "worker not recycled: a new one would be as big").count == 2)
        #expect(events(server, "recycling worker").isEmpty)
        #expect(waitForRunningWorkers(2) == pids)
    }

    /// A recycle whose new worker cannot boot leaves the old one serving and is tried again
    /// later; it is not a phased restart, so none is aborted, and a later USR2 works.
    @Test func aFailedRecycleKeepsTheOldWorker() throws {
        let failing = directory.appendingPathComponent("fail-boot").path
        let server = try startCluster(
            ["-w", "1", "--worker-max-requests", "5"], environment: ["RAPTOR_TESTAPP_FAIL_BOOT_IF": failing])
        let pid = waitForRunningWorkers(1)[0]
        #expect(FileManager.default.createFile(atPath: failing, contents: nil))
        for _ in 0..<6 { #expect(get(server.port) == 200) }
        let failure = waitForEvents(
            server, "worker recycle failed: the new worker exited before it booted; the old one goes on"
        ).first
        #expect((failure?["reason"] as? String) == "max_requests")
        #expect((failure?["next_try_in"] as? String) == "10s")
        #expect(events(server, "phased restart aborted: the new worker exited before it booted").isEmpty)
        #expect(get(server.port) == 200)
        #expect(waitForRunningWorkers(1)[0] == pid, "the old worker goes on")

        try FileManager.default.removeItem(atPath: failing)
        server.process.signal(SIGUSR2)
        waitForEvents(server, "phased restart finished")
        #expect(waitForRunningWorkers(1, phase: 1)[0] != pid)
    }
}
