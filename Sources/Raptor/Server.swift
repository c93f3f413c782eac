internal import CRaptor
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// The one entry point for a Swift tool: a configuration and a handler (or a per-worker
/// factory), then `run()`.
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
    let application: ApplicationSource

    /// One handler, made in this process and shared by every worker.
    public init(
        configuration: Configuration, hooks: Hooks = Hooks(), logger: Logger = Logger(label: "raptor"),
        handler: @escaping Handler
    ) {
        self.init(configuration: configuration, hooks: hooks, logger: logger, application: .handler(handler))
    }

    /// One responder (an async handler, say: `.async { request in ... }`), made in this
    /// process and shared by every worker.
    public init(
        configuration: Configuration, hooks: Hooks = Hooks(), logger: Logger = Logger(label: "raptor"),
        responder: Responder
    ) {
        self.init(configuration: configuration, hooks: hooks, logger: logger, application: .responder(responder))
    }

    /// An application built in each worker by `factory`, after fork (see
    /// `ApplicationFactory`): the place for connection pools, clients and other state a
    /// worker must own, and for the services they run.
    public init(
        configuration: Configuration, hooks: Hooks = Hooks(), logger: Logger = Logger(label: "raptor"),
        perWorker factory: @escaping ApplicationFactory
    ) {
        self.init(configuration: configuration, hooks: hooks, logger: logger, application: .perWorker(factory))
    }

    init(configuration: Configuration, hooks: Hooks, logger: Logger, application: ApplicationSource) {
        self.configuration = configuration
        self.hooks = hooks
        self.logger = logger
        self.application = application
    }

    /// Validates the configuration, binds every listener (failing before serving
    /// anything), serves until SIGTERM or SIGINT, and removes what it created.
    ///
    /// With `configuration.workers` > 0 (the default: one per CPU) this process becomes the
    /// master of a cluster: it forks the workers and supervises them (see the README's
    /// Cluster and Signals sections). With 0 it serves in this one process.
    public func run() throws {
        try configuration.validate()
        if let error = OpenFilesLimit.raise() {
            logger.warning(
                "cannot raise the open-files limit to its hard limit",
                metadata: ["open_files_limit": "\(OpenFilesLimit.currentText)", "error": "\(error)"])
        }
        if configuration.workers > 0 {
            try ForkGuard.requireSingleThread()
            try Master.run(server: self)
        } else {
            try runSingleProcess()
        }
    }

    /// One process, no master: the listeners are this process's, and only INT and TERM
    /// mean something.
    private func runSingleProcess() throws {
        SignalQueue.ignoreMasterSignals()
        let setup = ListenerSetup.takeFromEnvironment()
        let pidfile = try configuration.pidfile.map { try Pidfile.claim(path: $0) }
        defer { pidfile?.remove() }
        let ticketKeys = configuration.servesTLS ? try TLSTicketKeys(rotation: configuration.tlsTicketRotation) : nil
        let tls = try TLSContexts(configuration: configuration, ticketKeys: ticketKeys)
        // One slot: after a hot restart into one process, slot 0's sockets (and the shared
        // ones) serve.
        let listeners = try setup.open(
            binds: configuration.binds, mode: .shared, slots: 1, backlog: configuration.backlog
        ).listeners
        defer { listeners.closeAll() }
        // The previous image's workers: this process takes over at once, and reaps them.
        let previousImage = setup.inheritance.map {
            PreviousImageReaper(
                inheritance: $0,
                limit: configuration.shutdownTimeout.seconds + Master.Interval.killAfterShutdownTimeout,
                logger: logger)
        }
        previousImage?.start()
        defer { previousImage?.wait() }
        setup.logListening(listeners, logger: logger)
        if !tls.isEmpty { logger.info("tls", metadata: ["file_bodies": "\(TLSFilePath.description)"]) }
        let stats = UnsafeMutablePointer<rv_stats>.allocate(capacity: 1)
        stats.initialize(to: rv_stats())
        defer { stats.deallocate() }
        rv_stats_set(stats, RV_STAT_PID, UInt64(getpid()))
        rv_stats_set(stats, RV_STAT_STARTED_AT, UInt64(time(nil)))
        let statsFile = configuration.statsFile.map { SingleProcessStats(path: $0, cell: stats) }
        statsFile?.start()
        defer { statsFile?.stop() }
        let worker = Worker(
            index: 0, configuration: configuration, hooks: hooks, logger: logger, application: application)
        logger.info(
            "worker booted",
            metadata: [
                "pid": "\(getpid())", "threads": "\(configuration.threads)",
                "open_files_limit": "\(OpenFilesLimit.currentText)",
            ])
        SystemdNotify().send("READY=1\nMAINPID=\(getpid())")
        try worker.run(listeners: tls.served(listeners.sockets(forSlot: 0)), ticketKeys: ticketKeys, stats: stats)
        SystemdNotify().send("STOPPING=1")
        logger.info("stopped")
    }
}
