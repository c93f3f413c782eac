internal import CRaptor

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
    private var thread: PeriodicThread?

    init(path: String, cell: UnsafeMutablePointer<rv_stats>) {
        file = StatsFile(path: path)
        self.cell = cell
    }

    func start() {
        write()
        thread = PeriodicThread(interval: 1) { [self] in write() }
        thread?.start()
    }

    /// Stops the thread, waits for it, and removes the file.
    func stop() {
        thread?.stop()
        thread = nil
        file.remove()
    }

    private func write() {
        let booted = rv_stats_get(cell, RV_STAT_BOOTED) != 0
        file.write(
            ClusterSnapshot(
                masterPid: getpid(), startedAt: startedAt, state: booted ? "serving" : "starting", ready: booted,
                phase: 0, workersConfigured: 1, listenerMode: "shared", phasedRestart: false, restarts: [],
                workers: [WorkerSnapshot(slot: 0, state: booted ? "running" : "booting", cell: cell)]
            ))
    }
}
