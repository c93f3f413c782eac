import Foundation
import Testing

/// The fork guard (issue 12): a master that has threads before it forks would fork
/// workers that hang at their first use of them, so it refuses to start.
/// RAPTOR_TESTAPP_BEFORE_RUN=task makes the test app start a Task before it runs.
@Suite(.concurrent) final class ForkGuardTests: ClusterSuite {
    @Test func masterWithThreadsRefusesToStartWithOneLine() throws {
        let child = try spawn(
            "/usr/bin/env",
            [
                "RAPTOR_TESTAPP_BEFORE_RUN=task", Binaries.testApp, "--workers", "2", "--bind", "tcp://127.0.0.1:0",
                "--log-format", "json",
            ], name: "guarded")
        let status = child.wait(timeout: 20)
        #expect(status == .exited(1), "\(child.standardError)")
        let lines = child.standardError.split(separator: "\n")
        #expect(lines.count == 1, "one line: \(child.standardError)")
        let line = String(lines.first ?? "")
        #expect(line.hasPrefix("Error: this process has "), "\(line)")
        for cause in ["threads before forking its workers", "per-worker factory", "top-level `await`"] {
            #expect(line.contains(cause), "\(cause): \(line)")
        }
        #expect(!line.contains("listening"), "it refused before it listened")
    }

    /// One process forks nothing: the same program serves.
    @Test func singleProcessIsNotGuarded() throws {
        let server = try startCluster(
            ["RAPTOR_TESTAPP_BEFORE_RUN=task", Binaries.testApp, "--workers", "0"], binary: "/usr/bin/env")
        #expect(get(server.port, "/") == 200)
    }
}
