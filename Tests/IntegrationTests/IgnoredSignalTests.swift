import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The master's own signals (USR1, USR2, HUP, TTIN, TTOU) are ignored by a worker that
/// gets one (`kill -HUP` on the wrong pid, a process-group signal) and by `--single`, where
/// only INT and TERM apply. Their default actions would end the process (USR1, USR2, HUP)
/// or stop it (TTIN, TTOU).
@Suite(.exclusive) final class IgnoredSignalTests: ClusterSuite {
    static let signals: [Int32] = [SIGUSR1, SIGUSR2, SIGHUP, SIGTTIN, SIGTTOU]

    /// Whether `pid` runs and is not stopped (state T in /proc/PID/stat).
    func runsUnstopped(_ pid: pid_t) -> Bool {
        guard !isGone(pid), let stat = ProcFS.readText("/proc/\(pid)/stat"), let close = stat.lastIndex(of: ")")
        else { return false }
        let state = stat[stat.index(after: close)...].split(separator: " ").first
        return state != "T" && state != "t"
    }

    /// One GET on a new connection is answered. Answering needs the process to run, and a
    /// process runs its pending signals first: so after it, a signal sent before it has
    /// been delivered.
    func expectServes(_ port: UInt16, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(get(port, "/", timeout: 5) == 200, "\(what)", sourceLocation: sourceLocation)
    }

    @Test(arguments: signals)
    func workerIgnores(_ signal: Int32) throws {
        let server = try startCluster(["-w", "1"])
        let worker = try #require(waitForRunningWorkers(1)[0])
        expectServes(server.port, "before the signal")
        #expect(kill(worker, signal) == 0)
        expectServes(server.port, "after signal \(signal) to the worker")
        #expect(runsUnstopped(worker), "signal \(signal) stopped or ended the worker")
        #expect(waitForRunningWorkers(1)[0] == worker, "the worker was replaced")
        #expect(events(server, "worker exited unexpectedly").isEmpty, "\(server.logTail)")
    }

    @Test(arguments: signals)
    func singleProcessIgnores(_ signal: Int32) throws {
        let server = try startCluster(["--single"])
        expectServes(server.port, "before the signal")
        server.process.signal(signal)
        expectServes(server.port, "after signal \(signal)")
        #expect(runsUnstopped(server.pid), "signal \(signal) stopped or ended the server")
        #expect(server.stop(timeout: 10) == .exited(0), "\(server.logTail)")
    }
}
