internal import CRaptor
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
    /// The same as a restart reason, when it is one (a timeout of a worker serving its
    /// slot, not of one already stopping).
    var killCause: RestartReason?
    /// The last heartbeat value read from its cell, and when (monotonic) it changed.
    var heartbeat: UInt64 = 0
    var heartbeatSeenAt: Double = 0
    /// Past this many requests it is recycled (--worker-max-requests, with its jitter).
    let requestLimit: UInt64?
    /// Its resident memory when it booted (--worker-max-rss).
    var rssAtBoot: UInt64?
    /// It was over --worker-max-rss at boot, and the log said so.
    var reportedTooBig = false

    init(pid: pid_t, slot: Int, cell: Int, phase: Int, spawnedAt: Double, role: Role, requestLimit: UInt64? = nil) {
        self.pid = pid
        self.slot = slot
        self.cell = cell
        self.phase = phase
        self.spawnedAt = spawnedAt
        self.role = role
        self.requestLimit = requestLimit
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

    /// Forks a worker for `slot`. In the child this never returns: it serves `listeners`
    /// until a graceful stop, then exits. In the master it returns the child's pid.
    static func fork(
        server: Server, slot: Int, listeners: [ServedListener], ticketKeys: TLSTicketKeys?, closeInChild: [Int32],
        stats: UnsafeMutablePointer<rv_stats>
    ) throws -> pid_t {
        try forkChild(what: "worker \(slot)", ticketKeys: ticketKeys, closeInChild: closeInChild, stats: stats) {
            Configuration.CPUAffinity.pinWorker(
                slot: slot, mode: server.configuration.cpuAffinity, logger: server.logger)
            var logger = server.logger
            logger[metadataKey: "worker"] = "\(slot)"
            logger[metadataKey: "pid"] = "\(getpid())"
            let worker = Worker(
                index: slot, configuration: server.configuration, hooks: server.hooks, logger: logger,
                application: server.application)
            return (worker, listeners)
        }
    }

    /// Forks a child of the master that runs the engine: `make` (in the child) returns
    /// the worker to run and its listening sockets. The child clears the master's signal
    /// set-up, closes `closeInChild`, records its pid in `stats`, stops when the master
    /// dies, runs the worker until its graceful stop (rotating `ticketKeys` when due), and
    /// exits (1 if it could not run).
    static func forkChild(
        what: String, ticketKeys: TLSTicketKeys? = nil, closeInChild: [Int32], stats: UnsafeMutablePointer<rv_stats>,
        make: () -> (Worker, [ServedListener])
    ) throws -> pid_t {
        fflush(nil)  // or the child would write the master's buffered output again
        let masterPid = getpid()
        let pid = Glibc.fork()
        if pid < 0 { throw RaptorError.system("forking \(what)", errno) }
        if pid > 0 { return pid }

        SignalQueue.restoreForWorker()
        // Other slots' sockets: holding them would keep a retired slot's socket (and the
        // connections the kernel still queues on it) alive after the master closed it.
        for fd in closeInChild { _ = close(fd) }
        rv_stats_set(stats, RV_STAT_PID, UInt64(getpid()))
        // A master killed with SIGKILL must not leave its workers serving unsupervised.
        rv_stop_when_parent_dies(masterPid)
        let (worker, listeners) = make()
        var status: Int32 = 0
        do {
            try worker.run(listeners: listeners, ticketKeys: ticketKeys, stats: stats)
        } catch {
            worker.logger.error("\(what) failed", metadata: ["error": "\(error)"])
            status = 1
        }
        fflush(nil)
        _exit(status)
    }
}
