internal import CRaptor
import Dispatch
import Logging
import ServiceLifecycle
import Synchronization

/// Where a worker's handler comes from.
enum ApplicationSource: Sendable {
    /// One handler for every worker, made before fork (the closure-only entry points).
    case handler(Handler)
    /// The same for a responder (an async handler, say).
    case responder(Responder)
    /// Made in each worker after fork by the application's factory.
    case perWorker(ApplicationFactory)
}

/// A worker's application once built: the responder it serves with and the services it
/// runs until after the drain.
struct WorkerApplication {
    let responder: Responder
    private let services: WorkerServices?

    /// Builds the application in this worker process: a factory runs to completion here
    /// (as a Task, this thread waiting), then its services start. The closure-only entry
    /// points start no Task at all.
    static func start(_ source: ApplicationSource, context: WorkerContext) throws -> WorkerApplication {
        switch source {
        case .handler(let handler):
            return WorkerApplication(responder: .sync(handler), services: nil)
        case .responder(let responder):
            return WorkerApplication(responder: responder, services: nil)
        case .perWorker(let factory):
            let responder: Responder
            do {
                responder = try waitForTask { try await factory(context) }
            } catch {
                throw ApplicationFactoryError(underlying: error)
            }
            let services = context.takeServices()
            guard !services.isEmpty else { return WorkerApplication(responder: responder, services: nil) }
            let running = WorkerServices(services: services, context: context)
            running.start()
            return WorkerApplication(responder: responder, services: running)
        }
    }

    /// Shuts the services down gracefully and waits for them; call it once the worker has
    /// drained its requests. Throws when a service failed (before or during the shutdown).
    func stopServices() throws {
        try services?.stop()
    }
}

/// The factory threw: the worker cannot serve.
struct ApplicationFactoryError: Error, CustomStringConvertible {
    let underlying: any Error
    var description: String { "the application's factory threw: \(underlying)" }
}

/// A service ended, or threw, while the worker was serving.
struct ServiceFailure: Error, CustomStringConvertible {
    let underlying: any Error
    var description: String { "a service of the application stopped while the worker served: \(underlying)" }
}

/// The worker's `ServiceGroup`, run by one Task from boot until after the drain. It traps
/// no signal (the engine owns TERM and INT); the worker's stop, not a signal, shuts it
/// down. A service that ends early stops the worker gracefully (its error is reported when
/// the worker exits), so the master replaces it rather than leave it serving without its
/// pool.
final class WorkerServices: Sendable {
    private let group: ServiceGroup
    private let ended = DispatchSemaphore(value: 0)
    private let failure = Mutex<(any Error)?>(nil)
    private let stopping = Atomic<Bool>(false)

    init(services: [any Service], context: WorkerContext) {
        var configuration = ServiceGroupConfiguration(services: services, logger: context.logger)
        // Then cancellation; the master's SIGKILL (a second past --shutdown-timeout after
        // TERM) bounds a service that ignores that too.
        configuration.maximumGracefulShutdownDuration = context.configuration.shutdownTimeout
        group = ServiceGroup(configuration: configuration)
    }

    func start() {
        Task {
            var thrown: (any Error)?
            do {
                try await group.run()
            } catch {
                thrown = error
            }
            // Ended while the worker serves: with the group's default behaviour only
            // because a service threw or returned. The worker stops, the master replaces it.
            let serving = !stopping.load(ordering: .acquiring)
            if let thrown { failure.withLock { $0 = serving ? ServiceFailure(underlying: thrown) : thrown } }
            if serving { rv_worker_request_stop() }
            ended.signal()
        }
    }

    func stop() throws {
        stopping.store(true, ordering: .releasing)
        Task { await group.triggerGracefulShutdown() }
        ended.wait()
        if let error = failure.withLock({ $0 }) { throw error }
    }
}

/// Runs `operation` as a Task and blocks the calling thread until it ends. For a worker's
/// main thread, which is not one of the cooperative pool's (blocking one of those could
/// starve the Task it waits for), and only after fork: the master never starts a Task.
func waitForTask<Value: Sendable>(_ operation: @escaping @Sendable () async throws -> Value) throws -> Value {
    let done = DispatchSemaphore(value: 0)
    let outcome = Mutex<Result<Value, any Error>?>(nil)
    Task {
        let result: Result<Value, any Error>
        do {
            result = .success(try await operation())
        } catch {
            result = .failure(error)
        }
        outcome.withLock { $0 = result }
        done.signal()
    }
    done.wait()
    return try outcome.withLock { $0! }.get()
}
