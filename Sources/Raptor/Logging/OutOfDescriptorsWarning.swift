internal import CRaptor
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// The warning for connections refused at the open-files limit. The engine answers them 503
/// on its loop thread and counts them (`fd_limit_503`), but does not log: swift-log is Swift,
/// and a log write may block on a slow standard error, which the loop must never do. So a
/// helper thread of the worker reads the counter once a second and logs a warning when it
/// moved, at most once per `spacing` seconds, with how many since the last warning, the
/// total, and the limit. The engine starts it (`raptorFdLimitReached`) at the first refusal,
/// not before: a second thread from the start would cost an inline worker ~90 instructions
/// per request (glibc's syscall wrappers take the cancellation path once a process has two
/// threads; callgrind).
final class OutOfDescriptorsWarning: @unchecked Sendable {
    static let spacing = 5.0

    private let cell: UnsafeMutablePointer<rv_stats>
    private let logger: Logger
    private var thread: PeriodicThread?
    /// Touched by the helper thread only.
    private var reported: UInt64 = 0
    private var lastWarning: Double?

    init(cell: UnsafeMutablePointer<rv_stats>, logger: Logger) {
        self.cell = cell
        self.logger = logger
    }

    /// Starts the thread (once); `stop` must come from the same thread.
    func start() {
        guard thread == nil else { return }
        thread = PeriodicThread(interval: 1) { [self] in check(now: Monotonic.now()) }
        thread?.start()
    }

    func stop() {
        thread?.stop()
        thread = nil
    }

    private func check(now: Double) {
        let total = rv_stats_get(cell, RV_STAT_FD_LIMIT_503)
        guard total > reported else { return }
        if let lastWarning, now - lastWarning < Self.spacing { return }
        logger.warning(
            "out of file descriptors: new connections answered 503",
            metadata: [
                "refused": "\(total - reported)", "refused_total": "\(total)",
                "open_files_limit": "\(OpenFilesLimit.currentText)",
            ])
        reported = total
        lastWarning = now
    }
}

/// The engine's call at the first refusal at the open-files limit (loop thread): starts the
/// warning's thread and returns.
func raptorFdLimitReached(_ context: UnsafeMutableRawPointer?) {
    guard let context else { return }
    Unmanaged<OutOfDescriptorsWarning>.fromOpaque(context).takeUnretainedValue().start()
}
