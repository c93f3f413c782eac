import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// HUP: the master re-executes its binary in place (same pid, so the pidfile and systemd's
/// MAINPID stay valid), handing over what the new image needs through the environment:
///
/// - `RAPTOR_INHERITED_FDS`: the listening sockets, with close-on-exec cleared, as
///   `fd:slot:flags:bind:url` entries separated by `,` (slot `-` for a shared socket;
///   flags `u` = this server created the Unix socket file, `a` = socket activation, `m` =
///   the metrics server's; bind and url percent-encoded). No socket is ever closed, so no
///   connection is refused.
/// - `RAPTOR_INHERITED_WORKERS`: the pids of the old workers. They keep serving while the
///   new image starts; it stops them gracefully once its own workers have booted. They
///   stay children of this pid across exec, so the new image reaps them.
/// - `RAPTOR_INHERITED_HELPERS`: the pids of the old metrics servers, stopped with the
///   old workers (the new image starts its own on the inherited socket at once).
/// - `RAPTOR_INHERITED_PHASE`: the phase, which the new image continues from.
///
/// The binary is the path this process was started from (read from /proc/self/exe when
/// the master starts, `executablePath()`), so a build installed over it since (a new file
/// renamed into place) is the one that runs; read at HUP, /proc/self/exe would name the
/// old, deleted file.
enum HotRestart {
    static let fdsVariable = "RAPTOR_INHERITED_FDS"
    static let workersVariable = "RAPTOR_INHERITED_WORKERS"
    static let helpersVariable = "RAPTOR_INHERITED_HELPERS"
    static let phaseVariable = "RAPTOR_INHERITED_PHASE"

    /// What a hot-restarted master was handed.
    struct Inheritance {
        var sockets: [ClusterSocket]
        var workers: [pid_t]
        var helpers: [pid_t]
        var phase: Int
    }

    /// The path of the running binary, while it is still the file this process runs
    /// (so: read it at start-up, before a new build can be installed over it).
    static func executablePath() -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard length > 0 else { return "/proc/self/exe" }
        let path = String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return path.hasSuffix(" (deleted)") ? "/proc/self/exe" : path
    }

    /// Reads (and removes from the environment) what the previous image handed over;
    /// nil when this process was not started by a hot restart.
    static func takeInheritance() -> Inheritance? {
        defer {
            unsetenv(fdsVariable)
            unsetenv(workersVariable)
            unsetenv(helpersVariable)
            unsetenv(phaseVariable)
        }
        guard let fdsText = getenv(fdsVariable).map({ String(cString: $0) }) else { return nil }
        var sockets: [ClusterSocket] = []
        for entry in fdsText.split(separator: ",") {
            let fields = entry.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard fields.count == 5, let fd = Int32(fields[0]), fcntl(fd, F_GETFD) >= 0 else { continue }
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            let url = percentDecoded(fields[4])
            var ownsPath: String?
            if fields[2].contains("u"), url.hasPrefix("unix://") { ownsPath = String(url.dropFirst("unix://".count)) }
            sockets.append(
                ClusterSocket(
                    fd: fd, url: url, bind: percentDecoded(fields[3]), slot: Int(fields[1]), ownsPath: ownsPath,
                    activated: fields[2].contains("a"), metrics: fields[2].contains("m")))
        }
        func pids(_ variable: String) -> [pid_t] {
            (getenv(variable).map { String(cString: $0) } ?? "").split(separator: ",").compactMap { pid_t($0) }
        }
        let phase = getenv(phaseVariable).flatMap { Int(String(cString: $0)) } ?? 0
        return Inheritance(
            sockets: sockets, workers: pids(workersVariable), helpers: pids(helpersVariable), phase: phase)
    }

    /// HUP: hands the cluster over to the binary now installed at `executable` (sd_notify
    /// `RELOADING=1` first). Returns only if exec failed: that is logged, `READY=1` sent,
    /// and this image goes on.
    ///
    /// `workers` are this image's, `previousWorkers` those of the image before it that are
    /// still stopping: the next image reaps them all; `helpers` are the metrics servers.
    static func handOver(
        executable: String, sockets: [ClusterSocket], workers: [pid_t], previousWorkers: [pid_t], helpers: [pid_t],
        phase: Int, logger: Logger, notify: SystemdNotify
    ) {
        notify.send("RELOADING=1\nMONOTONIC_USEC=\(SystemdNotify.monotonicMicroseconds)")
        logger.info(
            "hot restart: re-executing",
            metadata: ["path": "\(executable)", "workers": "\(workers.count)", "phase": "\(phase)"])
        let error = execute(
            executable: executable, sockets: sockets, workers: workers + previousWorkers, helpers: helpers, phase: phase
        )
        logger.error("hot restart failed; this image goes on", metadata: ["error": "\(error)"])
        notify.send("READY=1")
    }

    /// Re-executes the binary with the same arguments. Returns only if exec failed (the
    /// error says why); the environment and descriptors are then restored.
    static func execute(
        executable: String, sockets: [ClusterSocket], workers: [pid_t], helpers: [pid_t] = [], phase: Int
    ) -> RaptorError {
        let entries = sockets.map { socket in
            let flags =
                (socket.ownsPath != nil ? "u" : "") + (socket.activated ? "a" : "") + (socket.metrics ? "m" : "")
            return "\(socket.fd):\(socket.slot.map(String.init) ?? "-"):\(flags):"
                + "\(percentEncoded(socket.bind)):\(percentEncoded(socket.url))"
        }
        setenv(fdsVariable, entries.joined(separator: ","), 1)
        setenv(workersVariable, workers.map(String.init).joined(separator: ","), 1)
        setenv(helpersVariable, helpers.map(String.init).joined(separator: ","), 1)
        setenv(phaseVariable, String(phase), 1)
        for socket in sockets { _ = fcntl(socket.fd, F_SETFD, 0) }

        let arguments = CommandLine.arguments
        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        fflush(nil)
        var path = executable
        if access(path, X_OK) != 0 { path = "/proc/self/exe" }
        execv(path, argv)
        let code = errno

        argv.forEach { free($0) }
        for socket in sockets { _ = fcntl(socket.fd, F_SETFD, FD_CLOEXEC) }
        unsetenv(fdsVariable)
        unsetenv(workersVariable)
        unsetenv(helpersVariable)
        unsetenv(phaseVariable)
        return .system("re-executing \(path)", code)
    }

    /// `%`, `:`, `,` and bytes outside printable ASCII become `%XX`.
    static func percentEncoded(_ text: String) -> String {
        let hex = Array("0123456789ABCDEF")
        var output = ""
        for byte in text.utf8 {
            if byte <= 0x20 || byte >= 0x7F || byte == UInt8(ascii: "%") || byte == UInt8(ascii: ":")
                || byte == UInt8(ascii: ",")
            {
                output.append("%")
                output.append(hex[Int(byte >> 4)])
                output.append(hex[Int(byte & 0xF)])
            } else {
                output.unicodeScalars.append(Unicode.Scalar(byte))
            }
        }
        return output
    }

    static func percentDecoded(_ text: String) -> String {
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8)[...]
        while let byte = iterator.popFirst() {
            if byte == UInt8(ascii: "%"), iterator.count >= 2,
                let value = UInt8(String(decoding: iterator.prefix(2), as: UTF8.self), radix: 16)
            {
                bytes.append(value)
                iterator = iterator.dropFirst(2)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// After a hot restart, the previous image's workers: they go on serving on the very
/// sockets this image's workers use until those have all booted, then stop gracefully;
/// past the shutdown timeout they are killed. They stayed children of this pid across
/// exec, so this image reaps them.
final class PreviousImageWorkers {
    private(set) var pids: Set<pid_t>
    /// Its metrics servers: stopped and reaped with the workers, but no workers.
    private(set) var helpers: Set<pid_t>
    /// When they were told to stop (monotonic), after the hand-over or at shutdown.
    private var stoppedAt: Double?
    private var killed = false
    private let logger: Logger

    init(pids: [pid_t], helpers: [pid_t] = [], logger: Logger) {
        self.pids = Set(pids)
        self.helpers = Set(helpers)
        self.logger = logger
    }

    /// Every process of the previous image was reaped.
    var isEmpty: Bool { pids.isEmpty && helpers.isEmpty }
    /// Its workers still running.
    var count: Int { pids.count }
    /// Its workers were told to stop (or there are none).
    var isStopped: Bool { pids.isEmpty || stoppedAt != nil }

    /// Once this image's workers have all booted, the old ones are told to stop. Returns
    /// how many were told now.
    @discardableResult
    func stopWhenOursBooted(_ now: Double, oursBooted: @autoclosure () -> Bool) -> Int {
        guard !isEmpty, stoppedAt == nil, oursBooted() else { return 0 }
        logger.info("hot restart: stopping the old workers", metadata: ["count": "\(pids.count)"])
        stop(now)
        return pids.count
    }

    /// TERM to each (once): a graceful stop.
    func stop(_ now: Double) {
        guard stoppedAt == nil else { return }
        stoppedAt = now
        for pid in pids.union(helpers) { kill(pid, SIGTERM) }
    }

    /// SIGKILL for those still running `limit` seconds after TERM.
    func enforceDeadline(_ now: Double, limit: Double) {
        guard let since = stoppedAt, !killed, !isEmpty, now - since > limit else { return }
        killed = true
        for pid in pids.union(helpers) { kill(pid, SIGKILL) }
        logger.warning("old workers killed", metadata: ["count": "\(pids.count)", "reason": "past --shutdown-timeout"])
    }

    /// What the reaped `pid` was of the previous image: "old worker", "old metrics
    /// server", or nil when neither.
    func reaped(_ pid: pid_t) -> String? {
        if pids.remove(pid) != nil { return "old worker" }
        if helpers.remove(pid) != nil { return "old metrics server" }
        return nil
    }
}

/// `--single` after a hot restart (the build now installed runs one process): the previous
/// image's workers and metrics servers are still children of this pid, and there is no
/// master loop to reap them. They are told to stop at once (this process serves the same
/// sockets already), and a small thread reaps each as it exits, kills those still running
/// past `limit` as the master does, and ends when none is left. Without it they would
/// stay zombies for the life of the process. Only their pids are waited for: any other
/// child is the application's, and its exit status is not ours to take.
final class PreviousImageReaper: @unchecked Sendable {
    /// Touched only by the thread once it started.
    private let previous: PreviousImageWorkers
    private let limit: Double
    private let logger: Logger
    private var thread: PeriodicThread?

    init(inheritance: HotRestart.Inheritance, limit: Double, logger: Logger) {
        previous = PreviousImageWorkers(pids: inheritance.workers, helpers: inheritance.helpers, logger: logger)
        self.limit = limit
        self.logger = logger
    }

    /// TERM to each, then the thread (every 100 ms, the master's pace).
    func start() {
        guard !previous.isEmpty else { return }
        logger.info("hot restart: stopping the old workers", metadata: ["count": "\(previous.count)"])
        previous.stop(Monotonic.now())
        thread = PeriodicThread(interval: 0.1, tickWhile: { [self] in reapExited() })
        thread?.start()
    }

    /// Waits until every one was reaped (at most `limit` and a tick from `start`). The
    /// thread's tick holds this reaper: letting go of the thread ends that cycle
    /// (LeakSanitizer found it at exit).
    func wait() {
        thread?.join()
        thread = nil
    }

    /// True while some are left.
    private func reapExited() -> Bool {
        for pid in previous.pids.union(previous.helpers) {
            var status: Int32 = 0
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == 0 || (reaped < 0 && errno != ECHILD) { continue }
            // Reaped now, or (ECHILD) not a child of ours: either way, gone from the list.
            let what = previous.reaped(pid)
            if reaped == pid, let what {
                logger.info("\(what) exited (hot restart)", metadata: Master.exitMetadata(pid: pid, status: status))
            }
        }
        previous.enforceDeadline(Monotonic.now(), limit: limit)
        return !previous.isEmpty
    }
}

/// HUP, before the hand-over: the new build is first run with the same arguments and
/// `--check-config` (it parses and validates them, checks the directory or the handler,
/// binds nothing, and exits). Only a build that passes is executed: once exec has
/// replaced the master there is no way back, and a new image that cannot start would
/// take the whole server down with it. A build that fails, crashes, or takes longer than
/// `timeout` is refused with one log line (what it printed), and this image goes on.
final class HotRestartCheck {
    let pid: pid_t
    let executable: String
    let startedAt: Double
    /// The read end of a pipe holding what the check printed (stdout and stderr).
    private let output: Int32
    private var killed = false

    static let flag = "--check-config"
    static let timeout = 30.0

    private init(pid: pid_t, executable: String, startedAt: Double, output: Int32) {
        self.pid = pid
        self.executable = executable
        self.startedAt = startedAt
        self.output = output
    }

    deinit { close(output) }

    /// Starts `executable` with `arguments` (this process's, `argv[0]` first) and the
    /// check flag, with a clean signal mask and dispositions.
    static func start(executable: String, arguments: [String], now: Double) throws -> HotRestartCheck {
        var pipeEnds: [Int32] = [-1, -1]
        guard pipe(&pipeEnds) == 0 else { throw RaptorError.system("creating a pipe", errno) }
        // The master is one thread: nothing can fork between pipe and these.
        for end in pipeEnds { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, pipeEnds[1], 1)
        posix_spawn_file_actions_adddup2(&actions, pipeEnds[1], 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in SignalQueue.handled { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)

        let argv: [UnsafeMutablePointer<CChar>?] = checkArguments(arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        fflush(nil)
        let failed = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        close(pipeEnds[1])
        guard failed == 0 else {
            close(pipeEnds[0])
            throw RaptorError.system("running \(executable)", failed)
        }
        _ = fcntl(pipeEnds[0], F_SETFL, fcntl(pipeEnds[0], F_GETFL) | O_NONBLOCK)
        return HotRestartCheck(pid: pid, executable: executable, startedAt: now, output: pipeEnds[0])
    }

    /// The arguments with the check flag added (before a `--`, after which every word is
    /// a positional argument).
    static func checkArguments(_ arguments: [String]) -> [String] {
        var checked = arguments
        checked.insert(flag, at: arguments.firstIndex(of: "--") ?? arguments.endIndex)
        return checked
    }

    /// SIGKILL once it ran past `timeout`; true when it was killed now.
    func enforceTimeout(_ now: Double) -> Bool {
        guard !killed, now - startedAt > Self.timeout else { return false }
        killed = true
        kill(pid, SIGKILL)
        return true
    }

    /// After it exited (wait status `status`): nil when it passed, else why not, with what
    /// it printed (on one line, at most 500 bytes).
    func failure(status: Int32) -> String? {
        let signal = status & 0x7f
        let code = (status >> 8) & 0xff
        if signal == 0 && code == 0 { return nil }
        var why =
            killed
            ? "killed after \(Int(Self.timeout)) s"
            : signal != 0 ? "killed by SIG\(SignalQueue.name(signal))" : "exit status \(code)"
        let printed = readOutput()
        if !printed.isEmpty { why += ": " + printed }
        return why
    }

    private func readOutput() -> String {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while bytes.count < 65536 {
            let got = chunk.withUnsafeMutableBytes { read(output, $0.baseAddress, $0.count) }
            if got < 0 && errno == EINTR { continue }
            if got <= 0 { break }
            bytes += chunk[..<got]
        }
        let lines = String(decoding: bytes, as: UTF8.self).split(whereSeparator: \.isNewline)
            .map { String($0.drop { $0 == " " || $0 == "\t" }) }.filter { !$0.isEmpty }
        let text = lines.joined(separator: " / ")
        return text.utf8.count <= 500 ? text : String(decoding: text.utf8.prefix(500), as: UTF8.self) + "..."
    }
}
