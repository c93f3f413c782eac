#if canImport(Glibc)
    import Glibc
#endif

/// The master forks its workers, and a child forked while its parent had other threads
/// (a Swift Task's executor, Dispatch, SwiftNIO's event loops) hangs at its first use of
/// them: the fork copies only the calling thread, and locks the others held stay held.
/// So the master refuses to start unless it is single-threaded, with the likely cause.
enum ForkGuard {
    /// Throws `RaptorError.cannotRun` when this process has more than one thread.
    static func requireSingleThread() throws {
        guard let threads = threadCount(), threads > 1 else { return }
        throw RaptorError.cannotRun(
            "this process has \(threads) threads before forking its workers, and a forked worker would hang:"
                + " start Tasks, Dispatch queues and event loop groups in the per-worker factory (perWorker:),"
                + " not before run(); a top-level `await` in main.swift starts threads too")
    }

    /// The entries of /proc/self/task; nil when it cannot be read (no /proc).
    static func threadCount() -> Int? {
        guard let directory = opendir("/proc/self/task") else { return nil }
        defer { closedir(directory) }
        var count = 0
        while let entry = readdir(directory) {
            if entry.pointee.d_name.0 != UInt8(ascii: ".") { count += 1 }
        }
        return count
    }
}
