import Raptor
import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The test application built in each worker (`RAPTOR_TESTAPP_APPLICATION=per-worker`): its
/// factory and its service report their lives on standard error, so the tests can count
/// factories per worker and order a service's shutdown against the drain.
enum PerWorkerApplication {
    struct FactoryFailure: Error, CustomStringConvertible {
        var description: String { "the test factory fails on purpose" }
    }

    /// `RAPTOR_TESTAPP_FACTORY=throw` makes the factory fail; `RAPTOR_TESTAPP_RESPONDER=async`
    /// makes it return an async handler (AsyncApplication's routes and /worker).
    @Sendable static func make(_ worker: WorkerContext) async throws -> Responder {
        TestApplication.report("factory ran index=\(worker.index) pid=\(getpid())")
        if TestApplication.environment("RAPTOR_TESTAPP_FACTORY") == "throw" { throw FactoryFailure() }
        // A factory may await (a pool connecting, say): this one runs as a Task.
        try await Task.sleep(for: .milliseconds(1))
        let service = WorkerService(index: worker.index)
        worker.addService(service)
        if TestApplication.environment("RAPTOR_TESTAPP_RESPONDER") == "async" {
            return .async { request in
                guard request.path == "/worker" else { return try await AsyncApplication.respond(to: request) }
                await Task.yield()
                return TestApplication.text("index=\(worker.index) pid=\(getpid()) service=\(service.state) async\n")
            }
        }
        return .sync { request in
            switch request.path {
            case "/worker":
                return TestApplication.text("index=\(worker.index) pid=\(getpid()) service=\(service.state)\n")
            case "/slow-reported":
                // A request in flight across a stop, with its start and end on record.
                TestApplication.report("slow request began pid=\(getpid())")
                usleep(UInt32(Int(request.queryItems.first { $0.name == "ms" }?.value ?? "") ?? 1000) * 1000)
                TestApplication.report("slow request ends pid=\(getpid())")
                return TestApplication.text("slow done\n")
            case "/service-fail":
                service.fail()
                return TestApplication.text("service told to fail\n")
            default:
                return try TestApplication.respond(to: request)
            }
        }
    }
}

/// A worker's service: runs until the worker's graceful shutdown (or until told to fail),
/// reporting each step.
final class WorkerService: Service {
    struct Failure: Error, CustomStringConvertible {
        var description: String { "the test service fails on purpose" }
    }

    let index: Int
    private let current = Mutex("created")
    private let failures: AsyncStream<Void>
    private let failuresInput: AsyncStream<Void>.Continuation

    init(index: Int) {
        self.index = index
        (failures, failuresInput) = AsyncStream.makeStream(of: Void.self)
    }

    var state: String { current.withLock { $0 } }

    func fail() { failuresInput.yield() }

    func run() async throws {
        current.withLock { $0 = "running" }
        TestApplication.report("service started index=\(index) pid=\(getpid())")
        try await withGracefulShutdownHandler {
            for await _ in failures { throw Failure() }
        } onGracefulShutdown: { [index, failuresInput] in
            TestApplication.report("service shutting down index=\(index) pid=\(getpid())")
            failuresInput.finish()
        }
        current.withLock { $0 = "stopped" }
        TestApplication.report("service stopped index=\(index) pid=\(getpid())")
    }
}
