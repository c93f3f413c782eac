import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The master keeps its workers alive: respawn, crash-loop backoff, hung workers killed,
/// TTIN/TTOU, USR1.
@Suite(.exclusive) final class ClusterSupervisionTests: ClusterSuite {
    /// kill -9 of a worker: the other keeps serving meanwhile, and the slot gets a new one.
    @Test func killedWorkerIsRespawnedWhileTheOtherServes() throws {
        let server = try startCluster(["-w", "2"])
        let pids = waitForRunningWorkers(2)
        let victim = try #require(pids[0])
        let survivor = try #require(pids[1])
        let load = LoadClient(port: server.port)
        #expect(waitUntil(timeout: 10) { load.snapshot.ok >= 100 }, "load: \(load.snapshot)")

        func served(by pid: pid_t) -> Int {
            workers(readStats()).first { $0["pid"] as? Int == Int(pid) }?["requests"] as? Int ?? 0
        }
        let survivorBefore = served(by: survivor)
        kill(victim, SIGKILL)
        let exits = waitForEvents(server, "worker exited unexpectedly")
        #expect((exits.first?["signal"] as? String) == "KILL")
        #expect((exits.first?["worker"] as? String) == "0")
        let after = waitForRunningWorkers(2, excluding: [victim])
        #expect(after[0] != victim)
        #expect(after[1] == survivor, "the other worker is left alone")
        #expect(waitUntil(timeout: 10) { served(by: survivor) > survivorBefore + 50 }, "the survivor served")
        let summary = load.stop()
        // Requests the killed worker held die with it (at most one per client thread); every
        // other one succeeds.
        #expect(summary.failures.count <= 6, "\(summary)")
        #expect(summary.ok > 200)
        let started = events(server, "worker started").filter { $0["worker"] as? String == "0" }
        #expect((started.last?["reason"] as? String) == "respawn")
    }

    /// A handler that kills its worker on every request: the respawns slow down (0 s, then
    /// 0.5 s, 1 s, 2 s...), measured from the death to the next fork, and each delay is
    /// logged with its reason.
    @Test func crashLoopBacksOff() throws {
        let server = try startCluster(["-w", "1"])
        var pid = waitForRunningWorkers(1)[0]
        var gaps: [Double] = []
        for _ in 0..<4 {
            // The worker exits with status 3 mid-request: the connection ends with it.
            _ = get(server.port, "/exit", timeout: 5)
            let died = ProcFS.bootClockNow()
            let gone = pid
            #expect(waitUntil(timeout: 10) { isGone(gone!) })
            let next = waitForRunningWorkers(1, excluding: [gone], timeout: 15)[0]
            #expect(next != gone)
            // The respawn's fork time, from /proc (10 ms steps): the master forked it no
            // earlier than the delay after it reaped the dead one.
            gaps.append(next.flatMap(ProcFS.startTime).map { $0 - died } ?? -1)
            pid = next
        }
        // The first death respawns at once; then 0.5 s, 1 s, 2 s. The lower bounds allow
        // for the 10 ms steps of the fork time; the upper ones for a busy machine.
        let expected = [0.0, 0.5, 1, 2]
        for (gap, delay) in zip(gaps, expected) {
            #expect(gap >= delay - 0.05 && gap < delay + 3, "respawns after each death: \(gaps), expected \(expected)")
        }
        let delays = events(server, "worker crash loop: respawn delayed").compactMap { $0["delay"] as? String }
        #expect(delays == ["0.5s", "1s", "2s"], "\(server.logTail)")
        let reasons = events(server, "worker crash loop: respawn delayed").compactMap { $0["reason"] as? String }
        #expect(reasons.last?.contains("died 4 times in a row") ?? false, "\(reasons)")
        let exits = events(server, "worker exited unexpectedly")
        #expect(exits.count == 4)
        #expect(exits.allSatisfy { $0["status"] as? Int == 3 }, "\(exits)")
        #expect(events(server, "worker started").count == 5, "no extra forks")
        #expect(get(server.port, "/") == 200)
    }

    /// SIGSTOP: the stopped worker's heartbeat stops; past --worker-timeout the master
    /// kills it (SIGKILL) and starts another.
    @Test func stoppedWorkerIsKilledAfterTheWorkerTimeout() throws {
        let server = try startCluster(["-w", "2", "--worker-timeout", "2s"])
        let pids = waitForRunningWorkers(2)
        let stopped = try #require(pids[1])
        kill(stopped, SIGSTOP)
        let (killed, seconds) = measureSeconds {
            waitForEvents(server, "worker killed", timeout: 15)
        }
        #expect((killed.first?["pid"] as? String) == "\(stopped)")
        #expect((killed.first?["reason"] as? String)?.contains("no heartbeat") ?? false, "\(killed)")
        #expect(seconds > 1.5)
        let exits = waitForEvents(server, "worker exited unexpectedly")
        #expect((exits.first?["signal"] as? String) == "KILL")
        let after = waitForRunningWorkers(2, excluding: [stopped])
        #expect(after[1] != stopped)
        #expect(after[0] == pids[0])
        #expect(get(server.port) == 200)
    }

    /// TTIN adds a worker, TTOU removes one; the stats file shows the count, and clients
    /// see no failure meanwhile.
    @Test func ttinAndTtouChangeTheWorkerCount() throws {
        let server = try startCluster(["-w", "1"])
        waitForRunningWorkers(1)
        let load = LoadClient(port: server.port)
        #expect(waitUntil(timeout: 10) { load.snapshot.ok >= 100 }, "load: \(load.snapshot)")
        server.process.signal(SIGTTIN)
        waitForEvents(server, "worker added (TTIN)")
        server.process.signal(SIGTTIN)
        waitForEvents(server, "worker added (TTIN)", count: 2)
        let three = waitForRunningWorkers(3)
        #expect((readStats()?["workers_configured"] as? Int) == 3)
        // Every new worker gets connections (its own SO_REUSEPORT socket).
        waitForStats("requests on all three workers") { stats in
            workers(stats).count == 3 && workers(stats).allSatisfy { ($0["requests"] as? Int ?? 0) > 0 }
        }
        server.process.signal(SIGTTOU)
        waitForEvents(server, "worker removed (TTOU)")
        let two = waitForRunningWorkers(2)
        #expect((readStats()?["workers_configured"] as? Int) == 2)
        #expect(waitUntil(timeout: 10) { three[2].map(isGone) ?? false }, "slot 2's worker stopped")
        #expect(two[0] == three[0])
        let served = load.snapshot.ok
        #expect(waitUntil(timeout: 10) { load.snapshot.ok >= served + 100 }, "load: \(load.snapshot)")
        let summary = load.stop()
        assertNoFailedRequest(summary, stoppedWorkers: 1)
        // Never fewer than one. (One signal at a time: the kernel merges a signal sent again
        // while the first is still pending.)
        server.process.signal(SIGTTOU)
        waitForEvents(server, "worker removed (TTOU)", count: 2)
        waitForRunningWorkers(1)
        server.process.signal(SIGTTOU)
        waitForEvents(server, "TTOU ignored: one worker is the fewest")
        #expect(get(server.port) == 200)
    }

    /// beforeFork runs once in the master before the first fork; workerBoot(index) and
    /// workerShutdown(index) in each worker, also for a respawned one.
    @Test func hooksRunInTheirProcesses() throws {
        let server = try startCluster(["-w", "2"])
        let pids = waitForRunningWorkers(2)
        kill(pids[1]!, SIGKILL)
        waitForRunningWorkers(2, excluding: [pids[1]])
        #expect(server.stop(timeout: 15) == .exited(0))
        let lines = server.standardError.split(separator: "\n").filter { $0.hasPrefix("hook ") }.map(String.init)
        #expect((lines.filter { $0.hasPrefix("hook before-fork") }) == ["hook before-fork pid=\(server.pid)"])
        #expect(lines.first == "hook before-fork pid=\(server.pid)", "before any worker boots: \(lines)")
        #expect((lines.filter { $0 == "hook worker-boot index=0" }.count) == 1, "\(lines)")
        #expect((lines.filter { $0 == "hook worker-boot index=1" }.count) == 2, "respawned: \(lines)")
        #expect((lines.filter { $0 == "hook worker-shutdown index=0" }.count) == 1, "\(lines)")
        #expect((lines.filter { $0 == "hook worker-shutdown index=1" }.count) == 1, "the killed one ran none: \(lines)")
    }

    /// USR1: one log line per worker with its counters.
    @Test func usr1LogsEveryWorkersStats() throws {
        let server = try startCluster(["-w", "2"])
        let pids = waitForRunningWorkers(2)
        for _ in 0..<10 { #expect(get(server.port) == 200) }
        // A worker counts a request just after its response leaves.
        waitForStats("10 requests") { ($0["totals"] as? [String: Any])?["requests"] as? Int == 10 }
        server.process.signal(SIGUSR1)
        let lines = waitForEvents(server, "worker stats", count: 2)
        #expect(Set(lines.compactMap { $0["pid"] as? Int }) == Set(pids.values.map(Int.init)))
        #expect((lines.compactMap { $0["requests"] as? Int }.reduce(0, +)) == 10)
        for line in lines {
            for key in ["worker", "state", "phase", "requests", "active_connections", "busy_threads", "last_checkin"] {
                #expect(line[key] != nil, "\(key) in \(line)")
            }
        }
        #expect(server.isRunning)
    }
}
