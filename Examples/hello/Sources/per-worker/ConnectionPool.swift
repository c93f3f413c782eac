import HTTPTypes
import Logging
import Raptor
import ServiceLifecycle
import Synchronization

/// A pool of connections to a backend, one pool per worker process: the shape of a database
/// client's pool (PostgresNIO's `PostgresClient` is made, run and shut down the same way).
/// The backend here is simulated, so the example runs anywhere.
final class ConnectionPool: Service {
    struct Connection: Sendable {
        let id: Int
        func query(_ text: String) -> String { "\(text) (connection \(id))" }
    }

    /// Every connection is busy: the client may retry in a second.
    struct Exhausted: HTTPResponseError {
        var status: HTTPResponse.Status { .serviceUnavailable }
        var headers: ResponseFields { [.contentType: "text/plain", .retryAfter: "1"] }
        var body: Response.Body { "every connection is busy\n" }
    }

    private let idle: Mutex<[Connection]>
    private let logger: Logger

    /// Connects `size` connections (asynchronously, as a real client would).
    static func connect(size: Int, logger: Logger) async throws -> ConnectionPool {
        var connections: [Connection] = []
        for id in 1...size {
            try await Task.sleep(for: .milliseconds(1))  // the handshake with the backend
            connections.append(Connection(id: id))
        }
        logger.info("pool connected", metadata: ["connections": "\(size)"])
        return ConnectionPool(connections: connections, logger: logger)
    }

    private init(connections: [Connection], logger: Logger) {
        idle = Mutex(connections)
        self.logger = logger
    }

    /// Lends a connection to `body` (the handler's thread), then takes it back.
    func withConnection<Result>(_ body: (Connection) throws -> Result) throws -> Result {
        guard let connection = idle.withLock({ $0.popLast() }) else { throw Exhausted() }
        defer { idle.withLock { $0.append(connection) } }
        return try body(connection)
    }

    /// The pool's life beside the worker: here it would ping idle connections; it ends when
    /// the worker, having drained its requests, shuts its services down.
    func run() async throws {
        try await gracefulShutdown()
        let closed = idle.withLock { connections in
            defer { connections.removeAll() }
            return connections.count
        }
        logger.info("pool closed", metadata: ["connections": "\(closed)"])
    }
}
