import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Deploying a new build into a running cluster.
@Suite(.exclusive) final class ClusterDeployTests: ClusterSuite {
    /// HUP after a new build was renamed over the running binary (as installs replace a
    /// binary in use): the new build is the one executed, not the old, deleted file.
    @Test func hotRestartRunsTheBuildInstalledSince() throws {
        let installed = directory.appendingPathComponent("app").path
        try FileManager.default.copyItem(atPath: Binaries.testApp, toPath: installed)
        let server = try startCluster(["-w", "1"], binary: installed)
        let before = waitForRunningWorkers(1, phase: 0)

        // The new build: a script that leaves a mark, then becomes the test app (same pid,
        // same arguments).
        let mark = directory.appendingPathComponent("new-build-ran").path
        try installBuild(at: installed, script: "touch '\(mark)'\nexec '\(Binaries.testApp)' \"$@\"")

        server.process.signal(SIGHUP)
        waitForEvents(server, "hot restart: new master image running")
        #expect(
            FileManager.default.fileExists(atPath: mark),
            "the old binary ran again: \(events(server, "hot restart: re-executing"))")
        waitForRunningWorkers(1, phase: 1, excluding: Array(before.values))
        #expect(get(server.port) == 200)
    }
}
