import CRaptor
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// A forked worker as the master sees it.
final class WorkerProcess {
    enum Role: Equatable {
        /// The worker serving its slot.
        case current
        /// Started by a phased restart; becomes current once it has booted.
        case replacement
        /// Told to stop (TERM sent at `since`); SIGKILL past the shutdown timeout.
        case stopping(since: Double, reason: String)
    }

    let pid: pid_t
    let slot: Int
    /// Its cell in the stats region.
    let cell: Int
    let phase: Int
    /// Monotonic seconds at fork.
    let spawnedAt: Double
    var role: Role
    /// Monotonic seconds when the master saw RV_STAT_BOOTED.
    var bootedAt: Double?
    /// Why the master killed it (timeout), for the exit log line.
    var killReason: String?
    /// The last heartbeat value read from its cell, and when (monotonic) it changed.
    var heartbeat: UInt64 = 0
    var heartbeatSeenAt: Double = 0

    init(pid: pid_t, slot: Int, cell: Int, phase: Int, spawnedAt: Double, role: Role) {
        self.pid = pid
        self.slot = slot
        self.cell = cell
        self.phase = phase
        self.spawnedAt = spawnedAt
        self.role = role
    }

    var isStopping: Bool {
        if case .stopping = role { return true }
        return false
    }

    var stateName: String {
        switch role {
        case .stopping: "stopping"
        case .current, .replacement: bootedAt == nil ? "booting" : "running"
        }
    }

    /// Forks a worker for `slot`. In the child this never returns: it serves `descriptors`
    /// until a graceful stop, then exits. In the master it returns the child's pid.
    static func fork(
        server: Server, slot: Int, descriptors: [Int32], closeInChild: [Int32], stats: UnsafeMutablePointer<rv_stats>
    ) throws -> pid_t {
        fflush(nil)  // or the child would write the master's buffered output again
        let masterPid = getpid()
        let pid = Glibc.fork()
        if pid < 0 { throw RaptorError.system("forking worker \(slot)", errno) }
        if pid > 0 { return pid }
        runChild(
            server: server, slot: slot, masterPid: masterPid, descriptors: descriptors, closeInChild: closeInChild,
            stats: stats)
    }

    /// The worker's life after fork; exits the process.
    private static func runChild(
        server: Server, slot: Int, masterPid: pid_t, descriptors: [Int32], closeInChild: [Int32],
        stats: UnsafeMutablePointer<rv_stats>
    ) -> Never {
        SignalQueue.restoreForWorker()
        // Other slots' sockets: holding them would keep a retired slot's socket (and the
        // connections the kernel still queues on it) alive after the master closed it.
        for fd in closeInChild { _ = close(fd) }
        rv_stats_set(stats, RV_STAT_PID, UInt64(getpid()))
        // A master killed with SIGKILL must not leave its workers serving unsupervised.
        rv_stop_when_parent_dies(masterPid)
        var logger = server.logger
        logger[metadataKey: "worker"] = "\(slot)"
        logger[metadataKey: "pid"] = "\(getpid())"
        let worker = Worker(
            index: slot, configuration: server.configuration, hooks: server.hooks, logger: logger,
            handler: server.handler)
        var status: Int32 = 0
        do {
            try worker.run(listeners: descriptors, stats: stats)
        } catch {
            logger.error("worker failed", metadata: ["error": "\(error)"])
            status = 1
        }
        fflush(nil)
        _exit(status)
    }
}
