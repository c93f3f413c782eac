import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// TTIN adds workers up to max(2 × --workers, 32) and no further: 17 workers may grow to
/// 34 (more than the floor of 32, so the test tells the two bounds apart).
@Suite(.exclusive) final class ClusterWorkerCapTests: ClusterSuite {
    @Test func ttinStopsAtTwiceTheConfiguredWorkers() throws {
        let server = try startCluster(["-w", "17", "--threads", "1"])
        waitForRunningWorkers(17, timeout: 30)
        // One signal at a time: the kernel merges a signal sent again while one is pending.
        for added in 1...17 {
            server.process.signal(SIGTTIN)
            waitForEvents(server, "worker added (TTIN)", count: added)
        }
        server.process.signal(SIGTTIN)
        let refused = waitForEvents(server, "TTIN ignored: at the most workers")
        #expect((refused.first?["workers"] as? String) == "34", "\(refused)")
        #expect(events(server, "worker added (TTIN)").count == 17)
        waitForRunningWorkers(34, timeout: 30)
        #expect((readStats()?["workers_configured"] as? Int) == 34)
        #expect(get(server.port) == 200)
    }
}
