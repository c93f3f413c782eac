import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The master's restarts and stops, each under load from concurrent clients.
@Suite(.exclusive) final class ClusterRestartTests: ClusterSuite {
    /// USR2: every worker replaced one at a time, the phase goes up, and the clients see no
    /// failed request.
    @Test func phasedRestartUnderLoadLosesNoRequest() throws {
        // Each worker's boot takes at least this long, so one at a time shows in fork times.
        let bootDelay = 0.4
        let server = try startCluster(
            ["-w", "2"], environment: ["RAPTOR_TESTAPP_BOOT_DELAY_MS": "\(Int(bootDelay * 1000))"])
        let before = waitForRunningWorkers(2, phase: 0)
        let load = LoadClient(port: server.port)
        #expect(waitUntil(timeout: 10) { load.snapshot.ok >= 200 }, "load: \(load.snapshot)")

        server.process.signal(SIGUSR2)
        waitForEvents(server, "phased restart finished")
        let after = waitForRunningWorkers(2, phase: 1, excluding: Array(before.values))
        let served = load.snapshot.ok
        #expect(waitUntil(timeout: 10) { load.snapshot.ok >= served + 200 }, "load: \(load.snapshot)")
        let summary = load.stop()

        assertNoFailedRequest(summary, stoppedWorkers: 2)
        #expect(Set(after.values).isDisjoint(with: before.values), "before \(before), after \(after)")
        #expect(waitUntil(timeout: 10) { before.values.allSatisfy(isGone) }, "old workers still run")
        // One at a time: slot 0's replacement booted (at least bootDelay after its fork)
        // before slot 1's was forked. Fork times from /proc, in 10 ms steps.
        let replaced = events(server, "phased restart: worker replaced").compactMap { $0["worker"] as? String }
        #expect(replaced == ["0", "1"])
        let forked = (after[0].flatMap(ProcFS.startTime), after[1].flatMap(ProcFS.startTime))
        if let first = forked.0, let second = forked.1 {
            #expect(
                second - first >= bootDelay - 0.02, "slot 1's replacement forked \(second - first) s after slot 0's")
        } else {
            Issue.record("the replacements' fork times are unknown: \(after)")
        }
        #expect((readStats()?["phase"] as? Int) == 1)
    }

    /// HUP: the master re-executes itself (same pid), new workers take over the same
    /// sockets, the old ones drain, and no request fails.
    @Test func hotRestartUnderLoadLosesNoRequest() throws {
        let server = try startCluster(["-w", "2", "--pidfile", pidPath])
        let before = waitForRunningWorkers(2, phase: 0)
        let load = LoadClient(port: server.port)
        #expect(waitUntil(timeout: 10) { load.snapshot.ok >= 200 }, "load: \(load.snapshot)")

        server.process.signal(SIGHUP)
        waitForEvents(server, "hot restart: new master image running")
        waitForEvents(server, "old worker exited (hot restart)", count: 2)
        let after = waitForRunningWorkers(2, phase: 1, excluding: Array(before.values))
        let served = load.snapshot.ok
        #expect(waitUntil(timeout: 10) { load.snapshot.ok >= served + 200 }, "load: \(load.snapshot)")
        let summary = load.stop()

        assertNoFailedRequest(summary, stoppedWorkers: 2)
        #expect(server.isRunning, "the master exited: \(server.logTail)")
        #expect((readStats()?["master_pid"] as? Int) == Int(server.pid), "the pid survives exec")
        let pidfile = try String(contentsOfFile: pidPath, encoding: .utf8)
        #expect(pidfile == "\(server.pid)\n")
        #expect(Set(after.values).isDisjoint(with: before.values))
        #expect(before.values.allSatisfy(isGone))
        #expect(events(server, "listening").count == 2, "the new image listens on the inherited socket")
        #expect(server.stop(timeout: 15) == .exited(0))
    }

    /// INT and TERM: a slow request in flight is finished, then every worker exits, the
    /// master exits 0 and removes the pidfile, the stats file and its Unix socket file.
    @Test func intAndTermFinishTheRequestInFlightThenExitZero() throws {
        for signal in [SIGTERM, SIGINT] {
            let socketPath = directory.appendingPathComponent("s\(signal).sock").path
            let server = try startCluster([
                "-w", "2", "--pidfile", pidPath, "-b", "tcp://127.0.0.1:0", "-b", "unix://\(socketPath)",
            ])
            let pids = waitForRunningWorkers(2)
            #expect(FileManager.default.fileExists(atPath: socketPath))

            let slow = try RawClient(port: server.port, timeout: 15)
            defer { slow.close() }
            try slow.send(Requests.get("/slow?ms=1500"))
            // The request is in a worker's hands once the stats show a busy thread.
            waitForStats("a busy thread") { stats in
                (stats["totals"] as? [String: Any])?["busy_threads"] as? Int == 1
            }
            let (status, seconds) = measureSeconds { () -> ExitStatus? in
                server.process.signal(signal)
                return server.waitForExit(timeout: 20)
            }
            let response = try slow.readResponse()
            #expect(response.status == 200)
            #expect(response.bodyText == "slow done\n")
            #expect(response.saysClose, "\(response.rawHead)")
            #expect(status == .exited(0), "signal \(signal): \(server.logTail)")
            #expect(seconds < 10)
            #expect(pids.values.allSatisfy(isGone))
            for path in [pidPath, statsPath, socketPath] {
                #expect(!FileManager.default.fileExists(atPath: path), "\(path) left behind")
            }
            #expect(events(server, "worker exited").count == 2)
            #expect(events(server, "stopped").count == 1)
        }
    }

    /// A worker that does not finish within --shutdown-timeout is killed by the master,
    /// which still exits 0.
    @Test func shutdownTimeoutEndsWithSigkill() throws {
        let server = try startCluster(["-w", "1", "--shutdown-timeout", "1s"])
        waitForRunningWorkers(1)
        let slow = try RawClient(port: server.port, timeout: 15)
        defer { slow.close() }
        try slow.send(Requests.get("/slow?ms=8000"))
        waitForStats("a busy thread") { ($0["totals"] as? [String: Any])?["busy_threads"] as? Int == 1 }
        server.process.signal(SIGTERM)
        let (status, seconds) = measureSeconds { server.waitForExit(timeout: 15) }
        #expect(status == .exited(0), "\(server.logTail)")
        #expect(seconds < 6, "the shutdown timeout is 1 s")
    }
}
