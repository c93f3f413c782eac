#if canImport(Glibc)
    import Glibc
#endif

/// A helper thread that calls `tick` every `interval` seconds (on the monotonic clock) until
/// `stop()`, which wakes it and waits for it to end, or (`tickWhile`) until a tick says it
/// is done. Started through `SignalQueue.startThread`, so INT and TERM never land on it.
final class PeriodicThread: @unchecked Sendable {
    private let interval: Double
    /// False: the thread's work is done, it ends.
    private let tick: @Sendable () -> Bool
    private let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let wake = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    /// Guarded by `lock`.
    private var stopping = false
    private var thread: pthread_t?

    convenience init(interval: Double, tick: @escaping @Sendable () -> Void) {
        self.init(interval: interval) {
            tick()
            return true
        }
    }

    /// A thread that ends by itself after the first tick that returns false.
    init(interval: Double, tickWhile tick: @escaping @Sendable () -> Bool) {
        self.interval = interval
        self.tick = tick
        pthread_mutex_init(lock, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(wake, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(wake)
        pthread_mutex_destroy(lock)
        lock.deallocate()
        wake.deallocate()
    }

    func start() {
        thread = SignalQueue.startThread(periodicThreadMain, context: Unmanaged.passRetained(self).toOpaque())
    }

    /// Stops the thread and waits for it (a tick in progress finishes first).
    func stop() {
        pthread_mutex_lock(lock)
        stopping = true
        pthread_cond_signal(wake)
        pthread_mutex_unlock(lock)
        join()
    }

    /// Waits for the thread to end (`tickWhile`: after its last tick).
    func join() {
        if let thread { pthread_join(thread, nil) }
        thread = nil
    }

    fileprivate func run() {
        pthread_mutex_lock(lock)
        while !stopping {
            var deadline = timespec()
            clock_gettime(CLOCK_MONOTONIC, &deadline)
            let nanoseconds = deadline.tv_nsec + Int(interval * 1e9)
            deadline.tv_sec += nanoseconds / 1_000_000_000
            deadline.tv_nsec = nanoseconds % 1_000_000_000
            pthread_cond_timedwait(wake, lock, &deadline)
            if stopping { break }
            pthread_mutex_unlock(lock)
            let more = tick()
            pthread_mutex_lock(lock)
            if !more { break }
        }
        pthread_mutex_unlock(lock)
    }
}

private func periodicThreadMain(_ context: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
    guard let context else { return nil }
    Unmanaged<PeriodicThread>.fromOpaque(context).takeRetainedValue().run()
    return nil
}
