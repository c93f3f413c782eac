import Logging
import ServiceLifecycle

/// A pool of connections to a backend for async handlers, one pool per worker process: the
/// shape of PostgresNIO's `PostgresClient` (made in the factory, run as a service, shut down
/// after the drain). A request that finds every connection busy awaits one, holding no
/// thread. The backend is simulated (each query awaits a few milliseconds), so the example
/// runs anywhere.
actor AsyncConnectionPool: Service {
    struct Connection: Sendable {
        let id: Int
        func query(_ text: String) async throws -> String {
            try await Task.sleep(for: .milliseconds(5))  // the round trip to the backend
            return "\(text) (connection \(id))"
        }
    }

    private var idle: [Connection]
    private var waiting: [CheckedContinuation<Connection, Never>] = []
    private let logger: Logger

    /// Connects `size` connections (asynchronously, as a real client would).
    static func connect(size: Int, logger: Logger) async throws -> AsyncConnectionPool {
        var connections: [Connection] = []
        for id in 1...size {
            try await Task.sleep(for: .milliseconds(1))  // the handshake with the backend
            connections.append(Connection(id: id))
        }
        logger.info("pool connected", metadata: ["connections": "\(size)"])
        return AsyncConnectionPool(connections: connections, logger: logger)
    }

    private init(connections: [Connection], logger: Logger) {
        idle = connections
        self.logger = logger
    }

    /// Lends a connection to `body`, awaiting one while all are busy, then takes it back.
    nonisolated func withConnection<Result: Sendable>(
        _ body: @Sendable (Connection) async throws -> Result
    ) async throws -> Result {
        let connection = await acquire()
        do {
            let result = try await body(connection)
            await release(connection)
            return result
        } catch {
            await release(connection)
            throw error
        }
    }

    private func acquire() async -> Connection {
        if let connection = idle.popLast() { return connection }
        return await withCheckedContinuation { waiting.append($0) }
    }

    private func release(_ connection: Connection) {
        if waiting.isEmpty {
            idle.append(connection)
        } else {
            waiting.removeFirst().resume(returning: connection)
        }
    }

    /// The pool's life beside the worker: it ends when the worker, having drained its
    /// requests, shuts its services down.
    func run() async throws {
        try await gracefulShutdown()
        logger.info("pool closed", metadata: ["connections": "\(idle.count)"])
        idle.removeAll()
    }
}
