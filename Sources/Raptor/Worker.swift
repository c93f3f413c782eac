internal import CRaptor
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// One worker: the engine's event loop and app threads, serving already-bound listeners.
/// The listeners, the stats slot and the hooks come from outside, so a master process
/// can run many of these (one per forked process) around the same code.
struct Worker {
    let index: Int
    let configuration: Configuration
    let hooks: Hooks
    let logger: Logger
    let application: ApplicationSource

    /// Builds the application (a per-worker factory runs now), serves until SIGTERM or
    /// SIGINT (graceful: requests in flight finish), shuts the application's services down,
    /// runs the shutdown hook and returns. Throws when the factory or a service failed.
    func run(listeners: [Int32], stats: UnsafeMutablePointer<rv_stats>) throws {
        try run(listeners: listeners.map { ServedListener(fd: $0) }, stats: stats)
    }

    /// The same, each listener with the options of its bind (the PROXY protocol) and, on an
    /// ssl:// bind, its TLS context; `ticketKeys` are rotated by this worker when due.
    func run(
        listeners: [ServedListener], ticketKeys: TLSTicketKeys? = nil, stats: UnsafeMutablePointer<rv_stats>
    ) throws {
        // A stop during the boot (the hook, the factory) is remembered, not fatal; a forked
        // worker installed this at once, a single process does it here.
        rv_install_stop_signal_handlers()
        try serve(listeners: listeners, ticketKeys: ticketKeys, stats: stats) { rv_worker_run(&$0) }
    }

    /// The worker's life around `engine`, which runs the loop with the configuration made
    /// here (`rv_worker_run`, or `rv_worker_run_in_process` for RaptorTesting) and returns
    /// its result: boot hook, application, serving, services stopped, shutdown hook.
    /// `taskExecutor`: where an async handler's Tasks run (nil: Swift's cooperative pool).
    func serve(
        listeners: [ServedListener], ticketKeys: TLSTicketKeys? = nil, stats: UnsafeMutablePointer<rv_stats>,
        taskExecutor: (any TaskExecutor)? = nil, engine: (inout rv_worker_config) -> Int32
    ) throws {
        hooks.workerBoot(index)
        defer { hooks.workerShutdown(index) }
        let built = try WorkerApplication.start(
            application, context: WorkerContext(index: index, configuration: configuration, logger: logger))
        let application = Application(
            responder: built.responder, hooks: hooks, logger: logger,
            accessLogFormat: configuration.accessLogFormat,
            forwarding: ForwardedClient(configuration), taskExecutor: taskExecutor)
        let context = Unmanaged.passRetained(application)
        defer { context.release() }
        // Started by the engine at the first refusal at the open-files limit, if ever.
        let warning = OutOfDescriptorsWarning(cell: stats, logger: logger)
        defer { warning.stop() }
        let descriptors = listeners.map(\.fd)
        let proxy = listeners.map { UInt8(Self.proxyMode($0.options.proxyProtocol).rawValue) }
        let tls = listeners.map(\.tls)
        let trusted = try TrustedProxies(configuration.trustedProxies).blocks
        let result = descriptors.withUnsafeBufferPointer { fds in
            proxy.withUnsafeBufferPointer { modes in
                tls.withUnsafeBufferPointer { contexts in
                    trusted.withUnsafeBufferPointer { blocks in
                        var config = rv_worker_config()
                        config.listen_fds = fds.baseAddress
                        config.listen_count = Int32(fds.count)
                        config.listen_proxy = modes.contains { $0 != 0 } ? modes.baseAddress : nil
                        config.listen_tls = contexts.contains { $0 != nil } ? contexts.baseAddress : nil
                        config.ticket_keys = ticketKeys?.pointer
                        if logger.logLevel <= .debug { config.log_debug = raptorLogDebug }
                        config.trusted_proxies = blocks.baseAddress
                        config.trusted_proxy_count = UInt32(blocks.count)
                        config.limits = rv_limits(
                            max_target: UInt32(configuration.effectiveMaxTargetSize),
                            max_head: UInt32(configuration.maxHeaderSize),
                            max_fields: UInt32(configuration.maxHeaderCount),
                            max_body: configuration.maxBodySize,
                            body_memory_max: configuration.bodyMemoryLimit)
                        config.first_data_timeout = configuration.firstDataTimeout.seconds
                        config.keepalive_timeout = configuration.keepaliveTimeout.seconds
                        config.request_timeout = configuration.requestTimeout.seconds
                        config.body_timeout = configuration.bodyTimeout.seconds
                        config.write_timeout = configuration.writeTimeout.seconds
                        config.shutdown_timeout = configuration.shutdownTimeout.seconds
                        config.shutdown_idle_grace = configuration.shutdownIdleGrace.seconds
                        config.max_keepalive_requests = UInt32(configuration.maxKeepaliveRequests)
                        config.threads = UInt32(configuration.threads)
                        if application.asyncHandler != nil {
                            // Each request a Task; no app thread starts (a nonzero count
                            // keeps the engine's dispatch off the inline path).
                            config.threads = 1
                            config.start_task = raptorStartTask
                            config.start_stream_task = raptorStartStreamTask
                            config.release_task = raptorReleaseTask
                            config.max_inflight = UInt32(configuration.maxInflight)
                            config.stream_bodies = application.streamsBodies ? 1 : 0
                        }
                        config.accept_pause_backlog = UInt32(configuration.acceptPauseBacklog)
                        config.max_pending = UInt32(configuration.maxPending ?? 0)
                        config.stats = stats
                        config.handler = raptorHandleRequest
                        config.stream_handler = raptorHandleStream
                        config.http2 = configuration.http2 ? 1 : 0
                        config.h2_max_concurrent_streams = UInt32(configuration.h2MaxConcurrentStreams)
                        config.h2_initial_window_size = UInt32(configuration.h2InitialWindowSize)
                        config.h2_max_frame_size = UInt32(configuration.h2MaxFrameSize)
                        config.h2_connection_window = UInt32(configuration.h2ConnectionWindow)
                        config.handler_context = context.toOpaque()
                        config.file_short = raptorFileShort
                        config.fd_limit_reached = raptorFdLimitReached
                        config.fd_limit_context = Unmanaged.passUnretained(warning).toOpaque()
                        return engine(&config)
                    }
                }
            }
        }
        let startError = result != 0 ? RaptorError.system("starting worker \(index)", errno) : nil
        // After the drain: no request is left to need them.
        try built.stopServices()
        if let startError { throw startError }
    }

    static func proxyMode(_ mode: BindOptions.ProxyProtocol?) -> rv_proxy_mode {
        switch mode {
        case nil: RV_PROXY_OFF
        case .v1: RV_PROXY_V1
        case .v2: RV_PROXY_V2
        case .optional: RV_PROXY_OPTIONAL
        }
    }
}

/// A listening socket as a worker serves it.
struct ServedListener {
    var fd: Int32
    /// The options of its bind (the PROXY protocol); none for a socket systemd passed.
    var options = BindOptions()
    /// An ssl:// bind's TLS context (`rv_tls_context`); nil for a plain one.
    var tls: OpaquePointer? = nil
}
