internal import CRaptor
#if canImport(Glibc)
    import Glibc
#endif

/// The master's signals, taken synchronously: they are blocked, and the master's loop
/// collects them with sigtimedwait(2) in its normal code. No handler ever runs, so nothing
/// has to be async-signal-safe, and a signal that arrives while the master is busy waits
/// (pending) until the loop asks. (signalfd would do the same, but Swift's Glibc module
/// does not export it; with one thread and nothing else to poll, sigtimedwait is simpler.)
///
/// The blocked mask is inherited across fork and exec: a worker unblocks it first thing
/// (`restoreForWorker`), a hot-restarted master keeps it (it blocks the same set anyway).
enum SignalQueue {
    /// Every signal the master acts on.
    static let handled: [Int32] = [SIGINT, SIGTERM, SIGQUIT, SIGCHLD, SIGUSR1, SIGUSR2, SIGHUP, SIGTTIN, SIGTTOU]
    /// What a worker ignores: they are the master's (an operator may signal the whole
    /// process group).
    static let ignoredByWorkers: [Int32] = [SIGUSR1, SIGUSR2, SIGHUP, SIGTTIN, SIGTTOU]

    private static var handledSet: sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        for signal in handled { sigaddset(&set, signal) }
        return set
    }

    /// Blocks the handled signals (they stay pending for `wait`). SIGCHLD's disposition
    /// must not be SIG_IGN, or the kernel would reap children itself.
    static func block() {
        var set = handledSet
        sigprocmask(SIG_BLOCK, &set, nil)
        signal(SIGCHLD, SIG_DFL)
        signal(SIGPIPE, SIG_IGN)
    }

    /// The next pending signal, waiting at most `timeout` seconds; nil when none came.
    static func wait(timeout: Double) -> Int32? {
        var set = handledSet
        var info = siginfo_t()
        let seconds = max(0, timeout)
        var time = timespec(
            tv_sec: Int(seconds.rounded(.down)), tv_nsec: Int((seconds - seconds.rounded(.down)) * 1e9))
        while true {
            let received = sigtimedwait(&set, &info, &time)
            if received > 0 { return received }
            if errno == EINTR { continue }
            return nil
        }
    }

    /// In a forked worker, before it runs: the master's signals are ignored, the mask is
    /// cleared, and INT and TERM ask the engine for its graceful stop from now on (one that
    /// arrives while the worker boots is remembered until the loop runs).
    static func restoreForWorker() {
        for signal in ignoredByWorkers { Glibc.signal(signal, SIG_IGN) }
        for signal in [SIGQUIT, SIGCHLD] { Glibc.signal(signal, SIG_DFL) }
        // INT or TERM during the worker's boot (its hooks may take a while) is remembered
        // by the engine, which stops as soon as its loop runs.
        rv_install_stop_signal_handlers()
        var empty = sigset_t()
        sigemptyset(&empty)
        sigprocmask(SIG_SETMASK, &empty, nil)
    }

    /// One-process mode: only INT and TERM mean something; the master's other signals are
    /// ignored rather than left to kill the process (HUP's default).
    ///
    /// After a hot restart into one process, the master's blocked mask came across exec:
    /// QUIT, CHLD and the ignored ones are unblocked, so the application runs with the
    /// mask a process started afresh has. INT and TERM stay as they are: the engine reads
    /// them (one pending since before exec included) once its loop runs.
    static func ignoreMasterSignals() {
        for signal in ignoredByWorkers { Glibc.signal(signal, SIG_IGN) }
        var inherited = handledSet
        sigdelset(&inherited, SIGINT)
        sigdelset(&inherited, SIGTERM)
        sigprocmask(SIG_UNBLOCK, &inherited, nil)
    }

    /// Starts a helper thread with INT and TERM blocked in it, so they always reach the
    /// engine (a thread that left them unblocked would take them, with their default action:
    /// death). The caller joins it.
    static func startThread(
        _ body: @convention(c) (UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer?,
        context: UnsafeMutableRawPointer?
    ) -> pthread_t {
        var stopSignals = sigset_t()
        sigemptyset(&stopSignals)
        sigaddset(&stopSignals, SIGINT)
        sigaddset(&stopSignals, SIGTERM)
        var previous = sigset_t()
        pthread_sigmask(SIG_BLOCK, &stopSignals, &previous)
        defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        pthread_attr_setstacksize(&attributes, 256 << 10)
        var thread = pthread_t()
        pthread_create(&thread, &attributes, body, context)
        return thread
    }

    static func name(_ signal: Int32) -> String {
        switch signal {
        case SIGINT: "INT"
        case SIGTERM: "TERM"
        case SIGQUIT: "QUIT"
        case SIGCHLD: "CHLD"
        case SIGUSR1: "USR1"
        case SIGUSR2: "USR2"
        case SIGHUP: "HUP"
        case SIGTTIN: "TTIN"
        case SIGTTOU: "TTOU"
        case SIGKILL: "KILL"
        case SIGSEGV: "SEGV"
        case SIGABRT: "ABRT"
        case SIGBUS: "BUS"
        case SIGILL: "ILL"
        case SIGSTOP: "STOP"
        case SIGPIPE: "PIPE"
        default: String(signal)
        }
    }
}
