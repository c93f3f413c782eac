internal import CRaptor
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// The metrics server (`--metrics-bind`) as the master sees it: a child it forks and
/// supervises like a worker, which serves `/metrics`, `/healthz` and `/readyz` with the
/// engine (inline, one thread) and `MetricsEndpoint`, reading the shared memory.
///
/// Why a process of its own, rather than the master or the workers:
/// - the master stays one synchronous loop with no HTTP in it (and no Dispatch or Task:
///   a child forked after either hangs), so a slow or hostile scraper cannot delay
///   supervision;
/// - the workers' counters, duration histogram and thread pool stay the application's: a
///   scrape is not a request of the application, and a health check still answers when
///   every app thread is stuck (it then reports what the heartbeats say);
/// - it is up from the master's start to its end: `/readyz` answers 503 while the cluster
///   boots, drains and stops, instead of refusing connections.
///
/// It is stopped last, once every worker has exited. If it dies it is started again
/// (with the workers' crash-loop backoff); if its heartbeat stops for --worker-timeout it
/// is killed first.
final class MetricsServer {
    private let server: Server
    private let region: StatsRegion
    private let sockets: [ClusterSocket]
    private var logger: Logger { server.logger }

    private(set) var pid: pid_t?
    private var spawnedAt = 0.0
    private var booted = false
    private var heartbeat: UInt64 = 0
    private var heartbeatSeenAt = 0.0
    private var killed = false
    /// When it was told to stop (monotonic); nil while it serves.
    private var stoppedAt: Double?
    private var stopping: Bool { stoppedAt != nil }
    private var backoff = Backoff()
    private var startAt: Double? = 0

    init(server: Server, region: StatsRegion, sockets: [ClusterSocket]) {
        self.server = server
        self.region = region
        self.sockets = sockets
    }

    var isRunning: Bool { pid != nil }

    /// On each turn of the master's loop: start it when due, notice its boot, kill it when
    /// its heartbeat stopped.
    func supervise(_ now: Double, closeInChild: [Int32]) {
        guard !stopping else { return }
        if pid == nil, let due = startAt, due <= now {
            start(now, closeInChild: closeInChild)
            return
        }
        guard let pid, !killed else { return }
        let beat = rv_stats_get(region.metricsServer, RV_STAT_LAST_CHECKIN)
        if !booted, rv_stats_get(region.metricsServer, RV_STAT_BOOTED) != 0 {
            booted = true
            heartbeat = beat
            heartbeatSeenAt = now
            logger.info("metrics server booted", metadata: ["pid": "\(pid)"])
        } else if beat != heartbeat {
            heartbeat = beat
            heartbeatSeenAt = now
        }
        let timeout =
            booted ? server.configuration.workerTimeout.seconds : server.configuration.workerBootTimeout.seconds
        if now - (booted ? heartbeatSeenAt : spawnedAt) > timeout {
            killed = true
            Glibc.kill(pid, SIGKILL)
            logger.warning("metrics server killed", metadata: ["pid": "\(pid)", "reason": "no heartbeat"])
        }
    }

    private func start(_ now: Double, closeInChild: [Int32]) {
        memset(region.metricsServer, 0, MemoryLayout<rv_stats>.stride)
        let descriptors = sockets.map(\.fd)
        let endpoint = MetricsEndpoint(region: region, token: server.configuration.metricsToken)
        var configuration = server.configuration
        configuration.threads = 0
        configuration.accessLog = false
        configuration.maxPending = nil
        var logger = server.logger
        do {
            pid = try WorkerProcess.forkChild(
                what: "metrics server", closeInChild: closeInChild.filter { !descriptors.contains($0) },
                stats: region.metricsServer
            ) {
                logger[metadataKey: "pid"] = "\(getpid())"
                logger[metadataKey: "role"] = "metrics"
                let worker = Worker(
                    index: 0, configuration: configuration, hooks: Hooks(), logger: logger,
                    application: .handler(endpoint.respond(to:)))
                return (worker, descriptors.map { ServedListener(fd: $0) })
            }
        } catch {
            logger.error("cannot start the metrics server", metadata: ["error": "\(error)"])
            startAt = now + Master.Interval.forkRetry
            return
        }
        spawnedAt = now
        booted = false
        killed = false
        startAt = nil
        logger.info("metrics server started", metadata: ["pid": "\(pid!)"])
    }

    /// Whether `pid` was the metrics server; if so it is started again later (unless the
    /// master is stopping).
    func reaped(_ pid: pid_t, status: Int32, now: Double) -> Bool {
        guard pid == self.pid else { return false }
        self.pid = nil
        guard !stopping else {
            logger.info("metrics server exited", metadata: ["pid": "\(pid)"])
            return true
        }
        let delay = backoff.delay(afterLifetime: now - spawnedAt)
        startAt = now + delay
        logger.warning(
            "metrics server exited unexpectedly",
            metadata: ["pid": "\(pid)", "status": "\(status)", "restart_in": "\(Master.seconds(delay))s"])
        return true
    }

    /// TERM (once): a graceful stop; nothing starts it again.
    func stop(_ now: Double) {
        guard !stopping else { return }
        stoppedAt = now
        if let pid { Glibc.kill(pid, SIGTERM) }
    }

    /// SIGKILL for one still running `limit` seconds after TERM.
    func enforceStopDeadline(_ now: Double, limit: Double) {
        guard let stoppedAt, let pid, !killed, now - stoppedAt > limit else { return }
        killed = true
        Glibc.kill(pid, SIGKILL)
        logger.warning("metrics server killed", metadata: ["pid": "\(pid)", "reason": "past --shutdown-timeout"])
    }
}
