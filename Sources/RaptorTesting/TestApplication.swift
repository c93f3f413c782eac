public import Logging
public import Raptor

#if canImport(Glibc)
    import Glibc
#endif

/// An application served in this process by raptor-ev's own engine, without a port: each
/// client's connection is one end of a socket pair whose other end the engine serves on its
/// loop (a thread this object owns), through the same C parser and response encoder as
/// `raptor-ev`, with the configuration's limits, timeouts and threads (`threads = 0` runs
/// the handler on the loop thread, as `--threads 0`).
///
/// ```swift
/// let app = try TestApplication(responder: .sync { request in Response(body: "hi") })
/// let response = try app.send(.get("/"))
/// #expect(response.status == .ok)
/// try app.stop()
/// ```
///
/// No signal handler is installed and nothing is forked; several run at once in one
/// process. Stop it with `stop()` (dropping it stops it too).
public final class TestApplication: Sendable {
    private let worker: InProcessWorker
    /// How long a client's reads wait.
    public let timeout: Duration

    /// Starts serving `responder`; returns once the engine serves. The configuration's
    /// binds and process settings (workers, user, pidfile) do not apply.
    public init(
        configuration: Configuration = Configuration(), hooks: Hooks = Hooks(),
        logger: Logger = Logger(label: "raptor-testing"), timeout: Duration = .seconds(10), responder: Responder
    ) throws {
        worker = try InProcessWorker(configuration: configuration, responder: responder, hooks: hooks, logger: logger)
        self.timeout = timeout
    }

    /// The same with a synchronous handler.
    public convenience init(
        configuration: Configuration = Configuration(), hooks: Hooks = Hooks(),
        logger: Logger = Logger(label: "raptor-testing"), timeout: Duration = .seconds(10),
        handler: @escaping Handler
    ) throws {
        try self.init(
            configuration: configuration, hooks: hooks, logger: logger, timeout: timeout, responder: .sync(handler))
    }

    deinit { try? worker.stop() }

    /// A new connection to the application.
    public func connect() throws -> TestClient {
        var ends: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &ends) == 0 else {
            throw RaptorTestingError.system(call: "socketpair", errno: errno)
        }
        let client = TestClient(descriptor: ends[0], timeout: timeout)
        try worker.serve(connection: ends[1])
        return client
    }

    /// Sends one request on a new connection and returns its response.
    public func send(_ request: TestRequest) throws -> TestResponse {
        try connect().send(request)
    }

    /// The same, waiting off the cooperative threads (see `TestClient`).
    public func send(_ request: TestRequest) async throws -> TestResponse {
        try await connect().send(request)
    }

    /// Stops gracefully, as a server does (requests in flight finish; a connection a client
    /// still holds open idle closes after `shutdownIdleGrace`, so close clients first for a
    /// quick stop) and waits until the engine's threads ended and its descriptors are
    /// closed. Throws what the worker failed with. Idempotent.
    public func stop() throws { try worker.stop() }

    /// The same, waiting without holding a thread.
    public func stop() async throws { try await worker.stop() }
}
