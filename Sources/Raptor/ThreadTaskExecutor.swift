import Dispatch
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A task executor with one thread of its own, for an in-process worker's async handlers
/// (RaptorTesting): a test process's cooperative threads may all be blocked by synchronous
/// tests waiting on sockets, and a handler's Task queued behind them would never run. A
/// served worker's Tasks use the cooperative pool (a worker process has nothing else on it).
final class ThreadTaskExecutor: TaskExecutor {
    /// Jobs in arrival order; nil asks the thread to end.
    private let jobs = Mutex<[UnownedJob?]>([])
    private let available = DispatchSemaphore(value: 0)
    private let thread = Mutex<pthread_t?>(nil)

    init() throws {
        var created = pthread_t()
        let context = Unmanaged.passRetained(self).toOpaque()
        let failed = pthread_create(&created, nil, threadTaskExecutorMain, context)
        guard failed == 0 else {
            Unmanaged<ThreadTaskExecutor>.fromOpaque(context).release()
            throw RaptorError.system("starting the thread of an in-process worker's tasks", failed)
        }
        thread.withLock { $0 = created }
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        jobs.withLock { $0.append(job) }
        available.signal()
    }

    /// Ends the thread once the jobs queued before this ran, and waits for it.
    func shutdown() {
        jobs.withLock { $0.append(nil) }
        available.signal()
        if let running = thread.withLock({ state in
            defer { state = nil }; return state
        }) {
            pthread_join(running, nil)
        }
    }

    fileprivate func run() {
        while true {
            available.wait()
            guard let job = jobs.withLock({ $0.removeFirst() }) else { return }
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}

private func threadTaskExecutorMain(_ context: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
    guard let context else { return nil }
    let executor = Unmanaged<ThreadTaskExecutor>.fromOpaque(context).takeRetainedValue()
    executor.run()
    return nil
}
