internal import CRaptor
import Dispatch
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A worker on a thread of this process, for RaptorTesting: the engine's own loop, parser
/// and response code serving a `Responder`, with no master, no fork and no signal touched
/// (`rv_worker_run_in_process`). It serves the listeners it is given (there may be none)
/// and connected sockets handed to it (`serve(connection:)`), until `stop()`: its thread
/// keeps it alive until then, so its owner must stop it.
package final class InProcessWorker: Sendable {
    private enum Phase: Equatable {
        case starting
        /// The engine's handle (`rv_worker *`) as a bit pattern.
        case serving(UInt)
        case stopping
        case ended
    }

    private struct State {
        var phase = Phase.starting
        /// Until joined.
        var thread: pthread_t?
        var failure: (any Error)?
        var endWaiters: [CheckedContinuation<Void, Never>] = []
    }

    /// The name of every thread of an in-process worker (`/proc/self/task/*/comm`).
    package static var threadName: String { RV_IN_PROCESS_THREAD_NAME }

    private let worker: Worker
    private let listeners: [Int32]
    /// An async responder's Tasks run on this executor's own thread, not on the test
    /// process's cooperative threads (ThreadTaskExecutor says why); nil for a sync one.
    private let taskExecutor: ThreadTaskExecutor?
    private let state = Mutex(State())
    /// Signalled once the loop serves, or failed to start.
    private let ready = DispatchSemaphore(value: 0)

    /// Starts the worker's thread and returns once it serves (or throws why it cannot).
    /// The configuration's binds and process-level settings (workers, pidfile, user) do not
    /// apply: `listeners` are what it accepts from.
    package init(
        configuration: Configuration, responder: Responder, hooks: Hooks = Hooks(), logger: Logger,
        listeners: [Int32] = []
    ) throws {
        try configuration.validate()
        worker = Worker(
            index: 0, configuration: configuration, hooks: hooks, logger: logger,
            application: .responder(responder))
        self.listeners = listeners
        if case .async = responder.kind {
            taskExecutor = try ThreadTaskExecutor()
        } else {
            taskExecutor = nil
        }
        var thread = pthread_t()
        let context = Unmanaged.passRetained(self).toOpaque()
        let failed = pthread_create(&thread, nil, inProcessWorkerMain, context)
        guard failed == 0 else {
            Unmanaged<InProcessWorker>.fromOpaque(context).release()
            throw RaptorError.system("starting an in-process worker's thread", failed)
        }
        state.withLock { $0.thread = thread }
        ready.wait()
        if let failure = state.withLock({ $0.failure }) {
            join()
            throw failure
        }
    }

    /// Serves `descriptor`, a connected stream socket (one end of a socket pair), as if
    /// accepted. The worker owns it from now on, also when this throws.
    package func serve(connection descriptor: Int32) throws {
        try state.withLock { state in
            // Under the lock: a stop cannot begin meanwhile, so the handle stays valid.
            guard case .serving(let handle) = state.phase else {
                close(descriptor)
                throw RaptorError.system("handing a connection to an in-process worker that stopped", ESHUTDOWN)
            }
            if rv_worker_adopt(OpaquePointer(bitPattern: handle), descriptor) != 0 {
                throw RaptorError.system("handing a connection to an in-process worker", errno)
            }
        }
    }

    /// Stops gracefully (requests in flight finish; idle connections close after the
    /// configuration's `shutdownIdleGrace`) and waits for the worker's threads to end.
    /// Throws what the worker failed with (a service, a forced stop). Idempotent.
    package func stop() throws {
        requestStop()
        join()
        if let failure = state.withLock({ $0.failure }) { throw failure }
    }

    /// The same, waiting without holding a thread.
    package func stop() async throws {
        requestStop()
        await withCheckedContinuation { continuation in
            let ended = state.withLock { state in
                if state.phase == .ended { return true }
                state.endWaiters.append(continuation)
                return false
            }
            if ended { continuation.resume() }
        }
        join()  // the thread has returned from its work: this waits for its exit only
        if let failure = state.withLock({ $0.failure }) { throw failure }
    }

    private func requestStop() {
        state.withLock { state in
            guard case .serving(let handle) = state.phase else { return }
            state.phase = .stopping
            rv_worker_stop(OpaquePointer(bitPattern: handle))
        }
    }

    private func join() {
        guard
            let thread = state.withLock({ state in
                defer { state.thread = nil }; return state.thread
            })
        else {
            return
        }
        pthread_join(thread, nil)
    }

    /// The worker's thread: the engine runs here until stopped.
    fileprivate func run() {
        let stats = UnsafeMutablePointer<rv_stats>.allocate(capacity: 1)
        stats.initialize(to: rv_stats())
        var abandoned = false
        do {
            try worker.serve(
                listeners: listeners.map { ServedListener(fd: $0) }, stats: stats, taskExecutor: taskExecutor
            ) { config in
                let result = rv_worker_run_in_process(
                    &config, inProcessWorkerServing, Unmanaged.passUnretained(self).toOpaque())
                if result == 1 {
                    // Handlers still run past the shutdown timeout and use the application
                    // and the stats: both are left to them.
                    abandoned = true
                    _ = Unmanaged<Application>.fromOpaque(config.handler_context).retain()
                    return 0
                }
                return result
            }
        } catch {
            state.withLock { $0.failure = error }
        }
        if abandoned {
            state.withLock {
                $0.failure = RaptorError.system(
                    "stopping an in-process worker: handlers outlived the shutdown timeout", ETIMEDOUT)
            }
        } else {
            stats.deallocate()
            taskExecutor?.shutdown()  // every Task ended with the drain
        }
        let waiters = state.withLock { state in
            let wasStarting = state.phase == .starting
            state.phase = .ended
            defer { state.endWaiters = [] }
            return (wasStarting, state.endWaiters)
        }
        if waiters.0 { ready.signal() }
        waiters.1.forEach { $0.resume() }
    }

    fileprivate func serving(_ handle: OpaquePointer) {
        state.withLock { $0.phase = .serving(UInt(bitPattern: Int(bitPattern: handle))) }
        ready.signal()
    }
}

private func inProcessWorkerMain(_ context: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
    let worker = Unmanaged<InProcessWorker>.fromOpaque(context!).takeRetainedValue()
    worker.run()
    return nil
}

/// The engine's `rv_worker_serving_fn`, on the worker's thread.
private func inProcessWorkerServing(_ handle: OpaquePointer?, _ context: UnsafeMutableRawPointer?) {
    guard let handle, let context else { return }
    Unmanaged<InProcessWorker>.fromOpaque(context).takeUnretainedValue().serving(handle)
}
