import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// --worker-boot-timeout: a worker whose boot never ends is killed once the timeout has
/// passed since its fork, and its slot gets a new worker.
@Suite(.exclusive) final class ClusterBootTimeoutTests: ClusterSuite {
    @Test func workerThatNeverBootsIsKilledAndReplaced() throws {
        // Boots hang while this file exists.
        let hangFile = directory.appendingPathComponent("hang-boot").path
        #expect(FileManager.default.createFile(atPath: hangFile, contents: nil))
        let server = try startCluster(
            ["-w", "1", "--worker-boot-timeout", "2s"], environment: ["RAPTOR_TESTAPP_HANG_BOOT_IF": hangFile])
        let started = waitForEvents(server, "worker started")
        let hung = try #require((started.first?["pid"] as? String).flatMap { pid_t($0) }, "\(started)")
        #expect(waitUntil(timeout: 10) { server.standardError.contains("hook worker-boot hanging on purpose") })
        let forkedAt = try #require(ProcFS.startTime(of: hung))

        let killed = waitForEvents(server, "worker killed", timeout: 15)
        let killedAfter = ProcFS.bootClockNow() - forkedAt
        #expect((killed.first?["pid"] as? String) == "\(hung)", "\(killed)")
        #expect((killed.first?["reason"] as? String)?.contains("--worker-boot-timeout") ?? false, "\(killed)")
        // Not before the 2 s timeout (fork times in 10 ms steps); late only on a busy machine.
        #expect(killedAfter >= 1.95 && killedAfter < 10, "killed \(killedAfter) s after its fork")
        #expect(waitUntil(timeout: 10) { isGone(hung) }, "the hung worker still runs")

        // The next boot succeeds: the slot serves again.
        #expect(unlink(hangFile) == 0)
        let replacement = waitForRunningWorkers(1, excluding: [hung], timeout: 20)
        #expect(replacement[0] != nil && replacement[0] != hung)
        #expect(get(server.port) == 200)
    }
}
