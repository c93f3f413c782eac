import Logging
import ServiceLifecycle
import Synchronization

/// Builds a worker's application: called once in every worker process, after fork and
/// before it accepts a connection, and again in every worker that replaces one (a respawn,
/// a phased restart). It may be async (Tasks may start here: only workers run them) and
/// may throw: the worker then exits with the error logged once, and the master respawns it
/// with its usual backoff.
public typealias ApplicationFactory = @Sendable (WorkerContext) async throws -> Responder

/// What a per-worker factory gets: which worker it builds for, its logger, and the
/// worker's `ServiceGroup` (swift-service-lifecycle) for what the application must run
/// beside its handler: a connection pool, a cache refresher, a client.
///
/// ```swift
/// RaptorCommandLine.main(perWorker: { worker in
///     let pool = ConnectionPool(size: 4, logger: worker.logger)
///     worker.addService(pool)
///     return .sync { request in try pool.withConnection { ... } }
/// })
/// ```
public final class WorkerContext: Sendable {
    /// The worker's slot, `0 ..< workers`: a worker that replaces another has its slot;
    /// 0 in a single process.
    public let index: Int
    public let configuration: Configuration
    /// The server's logger with this worker's `worker` and `pid` metadata.
    public let logger: Logger
    /// Nil once the factory has returned: the group is made then.
    private let services = Mutex<[any Service]?>([])

    init(index: Int, configuration: Configuration, logger: Logger) {
        self.index = index
        self.configuration = configuration
        self.logger = logger
    }

    /// Runs `service` in this worker's `ServiceGroup`: started when the factory returns,
    /// before the worker accepts a connection; shut down gracefully (`run()` sees
    /// `gracefulShutdown()`) once the worker has stopped and drained its requests, so a
    /// handler never finds its pool gone. The group installs no signal handling: TERM and
    /// INT stay the server's. A service that ends or throws while the worker serves stops
    /// the worker (gracefully), which exits with the error so the master replaces it.
    ///
    /// Call it while the factory runs; later is a programming error (the worker traps).
    public func addService(_ service: some Service) {
        services.withLock { services in
            precondition(
                services != nil,
                "WorkerContext.addService: the factory has returned; add services while it runs")
            services?.append(service)
        }
    }

    /// The services added, once; later additions trap.
    func takeServices() -> [any Service] {
        services.withLock { services in
            defer { services = nil }
            return services ?? []
        }
    }
}
