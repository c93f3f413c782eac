import CRaptor
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// The one entry point for a Swift tool: a configuration and a handler, then `run()`.
///
/// ```swift
/// var configuration = Configuration()
/// configuration.binds = ["tcp://127.0.0.1:8080"]
/// try Server(configuration: configuration) { request in
///     Response(headers: [.contentType: "text/plain"], body: "Hello, World!")
/// }.run()
/// ```
public struct Server {
    public let configuration: Configuration
    public let hooks: Hooks
    public let logger: Logger
    let handler: Handler

    public init(
        configuration: Configuration, hooks: Hooks = Hooks(), logger: Logger = Logger(label: "raptor"),
        handler: @escaping Handler
    ) {
        self.configuration = configuration
        self.hooks = hooks
        self.logger = logger
        self.handler = handler
    }

    /// Validates the configuration, binds every listener (failing before serving
    /// anything), serves until SIGTERM or SIGINT, and removes what it created.
    public func run() throws {
        try configuration.validate()
        var listeners: [Listener] = []
        defer { listeners.forEach { $0.close() } }
        for bind in configuration.binds {
            listeners += try Listener.bind(BindAddress(parsing: bind), backlog: configuration.backlog)
        }
        for listener in listeners {
            logger.info("listening", metadata: ["url": "\(listener.boundURL)"])
        }
        let stats = UnsafeMutablePointer<rv_stats>.allocate(capacity: 1)
        stats.initialize(to: rv_stats())
        defer { stats.deallocate() }
        rv_stats_set(stats, RV_STAT_PID, UInt64(getpid()))
        rv_stats_set(stats, RV_STAT_STARTED_AT, UInt64(time(nil)))
        let worker = Worker(index: 0, configuration: configuration, hooks: hooks, logger: logger, handler: handler)
        logger.info(
            "worker booted",
            metadata: ["pid": "\(getpid())", "threads": "\(configuration.threads)"])
        try worker.run(listeners: listeners.map(\.fileDescriptor), stats: stats)
        logger.info("stopped")
    }
}
