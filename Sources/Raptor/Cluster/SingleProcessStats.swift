import CRaptor

#if canImport(Glibc)
    import Glibc
#endif

/// `--stats-file` in one-process mode (`--single`): there is no master loop, so a small
/// thread writes the one worker's cell every second, in the same schema, and removes the
/// file when the server stops.
final class SingleProcessStats: @unchecked Sendable {
    private let file: StatsFile
    private let cell: UnsafeMutablePointer<rv_stats>
    private let startedAt = UInt64(time(nil))
    private let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let wake = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var stopping = false
    private var thread = pthread_t()

    init(path: String, cell: UnsafeMutablePointer<rv_stats>) {
        file = StatsFile(path: path)
        self.cell = cell
        pthread_mutex_init(lock, nil)
        pthread_cond_init(wake, nil)
    }

    deinit {
        pthread_cond_destroy(wake)
        pthread_mutex_destroy(lock)
        lock.deallocate()
        wake.deallocate()
    }

    func start() {
        write()
        let context = Unmanaged.passRetained(self).toOpaque()
        thread = SignalQueue.startThread(singleProcessStatsThread, context: context)
    }

    /// Stops the thread, waits for it, and removes the file.
    func stop() {
        pthread_mutex_lock(lock)
        stopping = true
        pthread_cond_signal(wake)
        pthread_mutex_unlock(lock)
        pthread_join(thread, nil)
        file.remove()
    }

    fileprivate func run() {
        pthread_mutex_lock(lock)
        while !stopping {
            var deadline = timespec()
            clock_gettime(CLOCK_REALTIME, &deadline)
            deadline.tv_sec += 1
            pthread_cond_timedwait(wake, lock, &deadline)
            if !stopping { write() }
        }
        pthread_mutex_unlock(lock)
    }

    private func write() {
        let booted = rv_stats_get(cell, RV_STAT_BOOTED) != 0
        file.write(
            ClusterSnapshot(
                masterPid: getpid(), startedAt: startedAt, phase: 0, workersConfigured: 1, listenerMode: "shared",
                phasedRestart: false,
                workers: [WorkerSnapshot(slot: 0, state: booted ? "running" : "booting", cell: cell)]
            ))
    }
}

private func singleProcessStatsThread(_ context: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
    guard let context else { return nil }
    let stats = Unmanaged<SingleProcessStats>.fromOpaque(context).takeRetainedValue()
    stats.run()
    return nil
}
