import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The listener modes: reuseport steering away from a worker that does not accept, and the
/// shared socket.
@Suite(.exclusive) final class ClusterListenerTests: ClusterSuite {
    /// A stopped worker's reuseport socket gets no new connections once the master noticed
    /// (its heartbeat is 1.5 s old), and gets them again once it runs again.
    @Test func reuseportSteersNewConnectionsAwayFromAStoppedWorker() throws {
        let server = try startCluster(["-w", "2", "--worker-timeout", "60s"])
        let pids = waitForRunningWorkers(2)
        let stopped = try #require(pids[0])
        kill(stopped, SIGSTOP)
        var continued = false
        defer { if !continued { kill(stopped, SIGCONT) } }
        let stoppedAt = ContinuousClock.now

        // Without steering, half of all new connections would wait in the stopped worker's
        // queue; 20 answered in a row (each within 0.5 s) means the kernel no longer picks it.
        var inARow = 0
        var steeredAfter: Double?
        waitUntil(timeout: 10, interval: 0) {
            let started = ContinuousClock.now
            if get(server.port, "/", timeout: 0.5) == 200 {
                if inARow == 0 { steeredAfter = stoppedAt.duration(to: started).secondsValue }
                inARow += 1
            } else {
                inARow = 0
            }
            return inARow >= 20
        }
        #expect(inARow >= 20, "new connections still reach the stopped worker")
        #expect((steeredAfter ?? 99) < 4, "steered within a few seconds of the stop")

        kill(stopped, SIGCONT)
        continued = true
        func requests(_ pid: pid_t) -> Int {
            workers(readStats()).first { $0["pid"] as? Int == Int(pid) }?["requests"] as? Int ?? 0
        }
        let before = requests(stopped)
        let servedAgain = waitUntil(timeout: 10, interval: 0.05) {
            _ = get(server.port)
            return requests(stopped) > before + 5
        }
        #expect(servedAgain, "the worker gets connections again once it runs")
        #expect(events(server, "worker killed").isEmpty)
    }

    /// Backpressure: while at least max(ceil(threads x 1.2), 8) requests wait for an app
    /// thread, the worker leaves new connections in the kernel's queue (where another worker
    /// could take them), and takes them again once its queue drained.
    @Test func backpressurePausesAcceptingUntilTheQueueDrains() throws {
        let server = try startCluster(["--workers", "1", "--threads", "2"])
        waitForRunningWorkers(1)
        // 2 threads busy for 0.5 s each: 18 of these wait, 8 is the pause threshold.
        let busy = try (0..<20).map { _ in try RawClient(port: server.port, timeout: 30) }
        #expect(
            waitUntil(timeout: 5) { ProcFS.acceptQueue(port: server.port) == 0 },
            "the first connections were not all accepted")
        for client in busy { try client.send(Requests.get("/slow?ms=500")) }
        let port = server.port
        let allRead = waitUntil(timeout: 5) {
            let queues = ProcFS.receiveQueues(localPort: port)
            return busy.allSatisfy { $0.unacknowledgedBytes == 0 && queues[$0.localPort] == 0 }
        }
        #expect(allRead, "the server did not read every request")

        let late = try (0..<3).map { _ in try RawClient(port: server.port, timeout: 30) }
        for client in late { try client.send(Requests.get("/request?n=late")) }
        let lateWait = waitUntil(timeout: 2) { ProcFS.acceptQueue(port: server.port) == late.count }
        let queued = ProcFS.acceptQueue(port: server.port)
        #expect(
            lateWait,
            "connections made while the queue is long must wait in the kernel, not be accepted; accept queue: \(String(describing: queued))"
        )

        for client in busy {
            let body = try client.readResponse().bodyText
            #expect(body == "slow done\n")
        }
        for client in late {
            let body = try client.readResponse().bodyText
            #expect(body.contains("query=n=late"))
        }
        #expect(ProcFS.acceptQueue(port: server.port) == 0)
        waitForStats("an accept pause counted") { stats in
            self.workers(stats).contains { ($0["accept_pauses"] as? Int ?? 0) >= 1 }
        }
    }

    /// One socket for every worker: served, counted, and TTIN still adds a worker.
    @Test func sharedListenerServesAndScales() throws {
        let server = try startCluster(["-w", "2", "--listener", "shared", "--metrics-bind", "tcp://127.0.0.1:0"])
        waitForRunningWorkers(2)
        waitForStats("listener mode shared") { $0["listener_mode"] as? String == "shared" }
        let load = LoadClient(port: server.port)
        #expect(waitUntil(timeout: 10) { load.snapshot.ok >= 300 }, "load: \(load.snapshot)")
        server.process.signal(SIGTTIN)
        waitForRunningWorkers(3)
        server.process.signal(SIGUSR2)
        waitForEvents(server, "phased restart finished")
        waitForRunningWorkers(3, phase: 1)
        let summary = load.stop()
        assertNoFailedRequest(summary, stoppedWorkers: 3)
        // Every response the clients got was counted, and nothing more than they sent (a
        // retried or unanswered attempt may have been read; no other request was made).
        // The cluster series keep what the replaced workers counted; the stats file's
        // totals are the sum over the workers running now (docs/stats-schema.md).
        let sent = summary.ok + summary.retried + summary.unanswered + summary.failures.count
        waitForMetrics(metricsPort(server), "every request counted: \(summary)") { metrics in
            let total = Int(metrics.sum("raptor_cluster_requests_total"))
            return total >= summary.ok && total <= sent
        }
        #expect(workers(readStats()).count == 3)
    }
}
