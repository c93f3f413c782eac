import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A master killed with SIGKILL (no chance to stop its workers) leaves no worker serving
/// unsupervised: each worker asked the kernel for a signal at its parent's death and stops.
@Suite(.exclusive) final class ClusterMasterDeathTests: ClusterSuite {
    @Test func workersStopWhenTheMasterIsKilled() throws {
        let server = try startCluster(["-w", "2"])
        let workers = Array(waitForRunningWorkers(2).values)
        #expect(workers.count == 2)
        #expect(get(server.port) == 200)
        server.process.signal(SIGKILL)
        #expect(server.waitForExit(timeout: 10) != nil, "the master survived SIGKILL")
        // The stop is graceful (TERM): idle workers end within the idle grace, far within
        // the 5 s --shutdown-timeout; the bound leaves room for a busy machine.
        let stopped = waitUntil(timeout: 15) { workers.allSatisfy(isGone) }
        #expect(stopped, "workers still running after their master died: \(workers.filter { !isGone($0) })")
        #expect(get(server.port, timeout: 2) == nil, "something still answers on the port")
    }
}
