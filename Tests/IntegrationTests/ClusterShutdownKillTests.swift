import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A worker that cannot stop by itself within --shutdown-timeout (its handler blocks the
/// event loop, so the worker's own shutdown timer never fires) is killed by the master
/// (SIGKILL one second past the timeout), and the master exits 0.
@Suite(.exclusive) final class ClusterShutdownKillTests: ClusterSuite {
    @Test func workerBlockedPastTheShutdownTimeoutIsKilled() throws {
        // Inline dispatch: the handler runs on the worker's loop thread.
        let server = try startCluster(["-w", "1", "--threads", "0", "--shutdown-timeout", "1s"])
        let worker = try #require(waitForRunningWorkers(1)[0])
        let slow = try RawClient(port: server.port, timeout: 60)
        defer { slow.close() }
        try slow.send(Requests.get("/slow?ms=30000"))
        // The handler sleeps on the loop thread (usleep): the worker's wait channel says so.
        let sleeping = waitUntil(timeout: 10) {
            (ProcFS.readText("/proc/\(worker)/wchan") ?? "").contains("nanosleep")
        }
        #expect(sleeping, "the worker never entered the 30 s handler")
        let (status, seconds) = measureSeconds { () -> ExitStatus? in
            server.terminate()
            // The handler would end after 30 s: the master must not wait for it.
            return server.waitForExit(timeout: 15)
        }
        #expect(status == .exited(0), "after \(seconds) s: \(server.logTail)")
        // TERM, then --shutdown-timeout (1 s), then SIGKILL one second later.
        #expect(seconds > 1.5 && seconds < 12, "the master exited \(seconds) s after TERM")
        #expect(isGone(worker), "the worker outlived its master")
        let killed = events(server, "worker killed")
        #expect(
            killed.contains { ($0["reason"] as? String)?.contains("--shutdown-timeout") ?? false },
            "\(killed)")
        let exited = events(server, "worker exited").first
        #expect((exited?["signal"] as? String) == "KILL", "\(String(describing: exited))")
    }
}
