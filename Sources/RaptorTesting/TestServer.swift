public import Logging
public import Raptor
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A real server in this process: raptor-ev's engine on a thread this object owns, listening
/// on a TCP address (by default 127.0.0.1 on a port the kernel picks), for clients that need
/// a port (curl, URLSession, another service). No master and no fork: it serves as one
/// worker, with the configuration's limits, timeouts and threads; no signal handler is
/// installed.
///
/// ```swift
/// try await TestServer.withServer(responder: .sync { _ in Response(body: "hi") }) { address in
///     // curl \(address.url)
/// }
/// ```
public final class TestServer: Sendable {
    /// Where a `TestServer` listens.
    public struct Address: Sendable, Equatable, CustomStringConvertible {
        /// The numeric host it is bound to ("127.0.0.1", "::1").
        public var host: String
        public var port: Int
        /// "http://127.0.0.1:43817" (IPv6 hosts in brackets).
        public var url: String { "http://\(host.contains(":") ? "[\(host)]" : host):\(port)" }
        public var description: String { url }
    }

    /// The first address it listens on (a host name such as `localhost` may give more:
    /// `addresses`).
    public var address: Address { addresses[0] }
    public let addresses: [Address]
    /// How long a `connect()` client's reads wait.
    public let timeout: Duration
    private let listeners: [Listener]
    private let worker: InProcessWorker
    private let listenersClosed = Mutex(false)

    /// Binds `bind` (a `tcp://` address; port 0 picks a free port) and serves `responder`;
    /// returns once it accepts connections.
    public init(
        bind: String = "tcp://127.0.0.1:0", configuration: Configuration = Configuration(), hooks: Hooks = Hooks(),
        logger: Logger = Logger(label: "raptor-testing"), timeout: Duration = .seconds(10), responder: Responder
    ) throws {
        let address = try BindAddress(parsing: bind)
        guard address.tcpEndpoint != nil, !address.isSecure else { throw RaptorTestingError.unsupportedBind(bind) }
        let listeners = try Listener.bind(address, backlog: configuration.backlog)
        do {
            worker = try InProcessWorker(
                configuration: configuration, responder: responder, hooks: hooks, logger: logger,
                listeners: listeners.map(\.fileDescriptor))
        } catch {
            listeners.forEach { $0.close() }
            throw error
        }
        self.listeners = listeners
        self.timeout = timeout
        addresses = try listeners.map { try Self.address(of: $0) }
    }

    /// The same with a synchronous handler.
    public convenience init(
        bind: String = "tcp://127.0.0.1:0", configuration: Configuration = Configuration(), hooks: Hooks = Hooks(),
        logger: Logger = Logger(label: "raptor-testing"), timeout: Duration = .seconds(10), handler: @escaping Handler
    ) throws {
        try self.init(
            bind: bind, configuration: configuration, hooks: hooks, logger: logger, timeout: timeout,
            responder: .sync(handler))
    }

    deinit { try? stop() }

    /// Starts a server, runs `body` with its address, and stops it (also when `body` throws).
    public static func withServer<Result>(
        bind: String = "tcp://127.0.0.1:0", configuration: Configuration = Configuration(), hooks: Hooks = Hooks(),
        logger: Logger = Logger(label: "raptor-testing"), responder: Responder,
        _ body: (Address) throws -> Result
    ) throws -> Result {
        let server = try TestServer(
            bind: bind, configuration: configuration, hooks: hooks, logger: logger, responder: responder)
        let result: Result
        do {
            result = try body(server.address)
        } catch {
            try? server.stop()
            throw error
        }
        try server.stop()
        return result
    }

    /// The same for async code: the stop waits without holding a thread.
    public static func withServer<Result>(
        bind: String = "tcp://127.0.0.1:0", configuration: Configuration = Configuration(), hooks: Hooks = Hooks(),
        logger: Logger = Logger(label: "raptor-testing"), responder: Responder,
        _ body: (Address) async throws -> Result
    ) async throws -> Result {
        let server = try TestServer(
            bind: bind, configuration: configuration, hooks: hooks, logger: logger, responder: responder)
        let result: Result
        do {
            result = try await body(server.address)
        } catch {
            try? await server.stop()
            throw error
        }
        try await server.stop()
        return result
    }

    /// A new TCP connection to `address`.
    public func connect() throws -> TestClient {
        var hints = addrinfo()
        hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var results: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(address.host, String(address.port), &hints, &results) == 0, let info = results?.pointee else {
            throw RaptorTestingError.system(call: "getaddrinfo", errno: errno)
        }
        defer { freeaddrinfo(results) }
        let descriptor = socket(info.ai_family, info.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), info.ai_protocol)
        guard descriptor >= 0 else { throw RaptorTestingError.system(call: "socket", errno: errno) }
        guard Glibc.connect(descriptor, info.ai_addr, info.ai_addrlen) == 0 else {
            let code = errno
            Glibc.close(descriptor)
            throw RaptorTestingError.system(call: "connect", errno: code)
        }
        return TestClient(descriptor: descriptor, timeout: timeout)
    }

    /// Stops gracefully, as a server does (requests in flight finish; a connection a client
    /// still holds open idle closes after `shutdownIdleGrace`), waits until the engine's
    /// threads ended, and closes the listening sockets: the port is free again when this
    /// returns. Idempotent.
    public func stop() throws {
        defer { closeListeners() }
        try worker.stop()
    }

    /// The same, waiting without holding a thread.
    public func stop() async throws {
        defer { closeListeners() }
        try await worker.stop()
    }

    private func closeListeners() {
        let first = listenersClosed.withLock { closed in
            defer { closed = true }
            return !closed
        }
        if first { listeners.forEach { $0.close() } }
    }

    /// Where `listener` really listens (the port the kernel picked for port 0).
    private static func address(of listener: Listener) throws -> Address {
        guard let (host, port) = try BindAddress(parsing: listener.boundURL).tcpEndpoint else {
            throw RaptorTestingError.unsupportedBind(listener.boundURL)
        }
        return Address(host: host, port: Int(port))
    }
}
