import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// HUP runs the new build with the same arguments and --check-config first: a build that
/// cannot start is refused with one log line, and the running image goes on serving. Past
/// the check, an exec that fails leaves this image serving, and a new image whose workers
/// cannot boot leaves the old workers serving until its own have booted.
@Suite(.exclusive) final class ClusterHotRestartCheckTests: ClusterSuite {
    /// A cluster of `app` (a copy of the test app), with its workers running.
    private func startInstalled(_ flags: [String] = []) throws -> (
        server: ServerProcess, app: String, workers: [Int: pid_t]
    ) {
        let app = directory.appendingPathComponent("app").path
        try FileManager.default.copyItem(atPath: Binaries.testApp, toPath: app)
        let server = try startCluster(["-w", "2"] + flags, binary: app)
        return (server, app, waitForRunningWorkers(2, phase: 0))
    }

    /// Installs `script` as the new build (renamed over the running one, as installs do).
    private func install(_ script: String, at app: String) throws {
        let next = app + ".new"
        try ("#!/bin/sh\n" + script + "\n").write(toFile: next, atomically: false, encoding: .utf8)
        #expect(chmod(next, 0o755) == 0)
        #expect(rename(next, app) == 0)
    }

    private func assertRefused(
        _ server: ServerProcess, workers: [Int: pid_t], because expected: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        server.process.signal(SIGHUP)
        let refusal = waitForEvents(
            server, "hot restart refused: the new build failed its check; this image goes on",
            sourceLocation: sourceLocation)
        let check = refusal.first?["check"] as? String ?? ""
        #expect(check.contains(expected), "\(check)", sourceLocation: sourceLocation)
        #expect(server.isRunning, sourceLocation: sourceLocation)
        #expect(events(server, "hot restart: re-executing").isEmpty, sourceLocation: sourceLocation)
        #expect(get(server.port) == 200, sourceLocation: sourceLocation)
        #expect(waitForRunningWorkers(2, phase: 0) == workers, "the same workers serve", sourceLocation: sourceLocation)
    }

    @Test func aBuildThatExitsWithAnErrorIsRefused() throws {
        let (server, app, workers) = try startInstalled()
        try install("echo 'Error: this build is broken' >&2\nexit 1", at: app)
        assertRefused(server, workers: workers, because: "exit status 1: Error: this build is broken")
    }

    /// The check runs the real command line: a build that rejects it says why (here a flag
    /// the new build finds invalid, as an upgrade that changed a default range could).
    @Test func aBuildThatRejectsTheCommandLineIsRefused() throws {
        let (server, app, workers) = try startInstalled()
        try install("exec '\(Binaries.testApp)' \"$@\" --threads -5", at: app)
        assertRefused(
            server, workers: workers, because: "exit status 64: Error: --threads: must be between 0 and 1024")
    }

    @Test func aBuildThatCrashesIsRefused() throws {
        let (server, app, workers) = try startInstalled()
        try install("kill -SEGV $$", at: app)
        assertRefused(server, workers: workers, because: "killed by SIGSEGV")
    }

    /// After a refusal, a good build goes through (the check passed, then the hand-over).
    @Test func aGoodBuildAfterARefusalIsExecuted() throws {
        let (server, app, workers) = try startInstalled()
        try install("exit 3", at: app)
        assertRefused(server, workers: workers, because: "exit status 3")
        let mark = directory.appendingPathComponent("checked").path
        try install(
            "case \"$*\" in *--check-config*) touch '\(mark)';; esac\nexec '\(Binaries.testApp)' \"$@\"", at: app)
        server.process.signal(SIGHUP)
        waitForEvents(server, "hot restart: new master image running")
        #expect(FileManager.default.fileExists(atPath: mark), "the new build was checked first")
        waitForRunningWorkers(2, phase: 1, excluding: Array(workers.values))
        #expect(get(server.port) == 200)
    }

    /// A build that passes its check and by the hand-over is no program (here it puts one
    /// in its place during the check): exec fails, this image goes on with the same
    /// workers, and its sockets and environment are intact for the next HUP, which goes
    /// through.
    @Test func anExecThatFailsLeavesThisImageServing() throws {
        let (server, app, workers) = try startInstalled()
        try install(
            """
            case "$*" in *--check-config*)
                printf 'not a program\\n' > "$0.broken"; chmod 755 "$0.broken"; mv "$0.broken" "$0"; exit 0;;
            esac
            exec '\(Binaries.testApp)' "$@"
            """, at: app)
        server.process.signal(SIGHUP)
        let failed = waitForEvents(server, "hot restart failed; this image goes on")
        let error = failed.first?["error"] as? String ?? ""
        #expect(error.contains("Exec format error"), "\(failed)")
        #expect(server.isRunning)
        #expect(events(server, "hot restart: new master image running").isEmpty)
        #expect(get(server.port) == 200)
        #expect(waitForRunningWorkers(2, phase: 0) == workers, "the same workers serve")

        try install("exec '\(Binaries.testApp)' \"$@\"", at: app)
        server.process.signal(SIGHUP)
        waitForEvents(server, "hot restart: new master image running")
        waitForRunningWorkers(2, phase: 1, excluding: Array(workers.values))
        #expect(get(server.port) == 200)
    }

    /// A new image whose workers cannot boot (stuck, killed at --worker-boot-timeout,
    /// replaced, stuck again): the old workers keep serving and are not stopped; once the
    /// new build's workers can boot, they take over and the old ones stop.
    @Test func oldWorkersServeWhileTheNewImageCannotBootItsOwn() throws {
        let (server, app, workers) = try startInstalled(["--worker-boot-timeout", "2s"])
        let hang = directory.appendingPathComponent("hang-boot").path
        #expect(FileManager.default.createFile(atPath: hang, contents: nil))
        try install("RAPTOR_TESTAPP_HANG_BOOT_IF='\(hang)' exec '\(Binaries.testApp)' \"$@\"", at: app)
        server.process.signal(SIGHUP)
        waitForEvents(server, "hot restart: new master image running")
        // The new workers were killed at the boot timeout and replaced at least once.
        waitForEvents(server, "worker killed", count: 2)
        let hanging = server.standardError.components(separatedBy: "hook worker-boot hanging on purpose").count - 1
        #expect(hanging >= 2, "\(server.logTail)")
        var statuses: [Int?] = []
        for _ in 0..<20 where statuses.allSatisfy({ $0 == 200 }) { statuses.append(get(server.port, timeout: 5)) }
        #expect(statuses.allSatisfy { $0 == 200 }, "\(statuses)")
        #expect(workers.values.allSatisfy { !isGone($0) }, "the old workers still run")
        #expect(events(server, "hot restart: stopping the old workers").isEmpty)

        #expect((try? FileManager.default.removeItem(atPath: hang)) != nil)
        waitForEvents(server, "hot restart: stopping the old workers")
        waitForRunningWorkers(2, phase: 1, excluding: Array(workers.values))
        #expect(waitUntil(timeout: 10) { workers.values.allSatisfy(isGone) }, "the old workers stopped")
        #expect(get(server.port) == 200)
    }

    @Test func checkConfigValidatesWithoutServing() throws {
        let ok = try ExternalClient.run(
            Binaries.raptorEV, ["serve", directory.path, "--bind", "tcp://127.0.0.1:1", "--check-config"], timeout: 20,
            outputDirectory: directory)
        #expect(ok.status == .exited(0), "\(ok)")
        #expect(ok.standardOutput == "configuration ok\n")
        let missing = try ExternalClient.run(
            Binaries.raptorEV, ["serve", "/no/such/dir", "--check-config"], timeout: 20, outputDirectory: directory)
        #expect(missing.status == .exited(64), "\(missing)")
        #expect(missing.standardError == "Error: DIR: '/no/such/dir' does not exist\n")
        let invalid = try ExternalClient.run(
            Binaries.raptorEV, ["serve", "--threads", "-1", "--check-config"], timeout: 20, outputDirectory: directory)
        #expect(invalid.status == .exited(64), "\(invalid)")
        #expect(invalid.standardError == "Error: --threads: must be between 0 and 1024\n")
    }
}
