import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// How a child process ended.
enum ExitStatus: Equatable, CustomStringConvertible {
    case exited(Int32)
    case signaled(Int32)

    init(waitStatus status: Int32) {
        // WIFEXITED / WEXITSTATUS / WTERMSIG, which Swift cannot import (they are macros).
        let signal = status & 0x7f
        self = signal == 0 ? .exited((status >> 8) & 0xff) : .signaled(signal)
    }

    var description: String {
        switch self {
        case .exited(let code): "exited with status \(code)"
        case .signaled(let signal): "killed by signal \(signal)"
        }
    }
}

/// A process started with posix_spawn in its own process group (so a last-resort SIGKILL
/// reaches any worker it forked), stdin from /dev/null, stdout and stderr into files.
/// Reaped with waitpid by polling, so every wait is bounded.
final class ChildProcess {
    let pid: pid_t
    let executable: String
    let arguments: [String]
    let standardOutputPath: String
    let standardErrorPath: String
    private(set) var exitStatus: ExitStatus?

    struct SpawnError: Error, CustomStringConvertible {
        let description: String
    }

    /// Starts `executable` (searched in PATH when it has no slash) with `arguments`; its
    /// output goes to `stdout` and `stderr` files in `outputDirectory` (both into `stdout`
    /// when `mergingStandardError`). `environment` is added to this process's; `directory`
    /// is where it runs (default: here).
    init(
        executable: String, arguments: [String], outputDirectory: URL, name: String,
        environment: [String: String] = [:], directory: String? = nil, mergingStandardError: Bool = false
    ) throws {
        MachineSharing.checkDeclared()
        self.executable = executable
        self.arguments = arguments
        standardOutputPath = outputDirectory.appendingPathComponent("\(name).stdout").path
        standardErrorPath =
            mergingStandardError ? standardOutputPath : outputDirectory.appendingPathComponent("\(name).stderr").path

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, standardOutputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        if mergingStandardError {
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        } else {
            posix_spawn_file_actions_addopen(&actions, 2, standardErrorPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        }
        // Nothing else of the test process leaks into the child (a pipe of the test runner
        // held open by a leftover server would hang the run).
        Self.closeFrom3(&actions)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(
            &attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        posix_spawnattr_setpgroup(&attributes, 0)
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var defaultSignals = sigset_t()
        sigemptyset(&defaultSignals)
        for signal in [SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGCHLD] { sigaddset(&defaultSignals, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaultSignals)

        // Into `directory` through env(1) (posix_spawn_file_actions_addchdir_np does not import).
        let command = (directory.map { ["env", "-C", $0] } ?? []) + [executable] + arguments
        var variables = ProcessInfo.processInfo.environment
        variables.merge(environment) { $1 }
        let argv: [UnsafeMutablePointer<CChar>?] = command.map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = variables.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var child: pid_t = 0
        let result = posix_spawnp(&child, command[0], &actions, &attributes, argv, envp)
        guard result == 0 else {
            throw SpawnError(description: "cannot start \(executable): \(String(cString: strerror(result)))")
        }
        pid = child
        LiveProcesses.shared.add(child)
    }

    /// posix_spawn_file_actions_addclosefrom_np (glibc 2.34+), which Swift does not import:
    /// looked up at run time, skipped where missing.
    private static func closeFrom3(_ actions: inout posix_spawn_file_actions_t) {
        typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
        guard let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") else { return }
        _ = unsafeBitCast(symbol, to: CloseFrom.self)(&actions, 3)
    }

    deinit {
        if exitStatus == nil {
            kill(-pid, SIGKILL)
            _ = wait(timeout: 5)
        }
    }

    /// The exit status if the process has ended (and reaps it), nil while it runs.
    @discardableResult
    func poll() -> ExitStatus? {
        if let exitStatus { return exitStatus }
        var status: Int32 = 0
        let result = waitpid(pid, &status, WNOHANG)
        if result == pid {
            exitStatus = ExitStatus(waitStatus: status)
            LiveProcesses.shared.remove(pid)
        } else if result < 0 && errno == ECHILD {
            // Someone else reaped it: it is gone, with an unknown status.
            exitStatus = .exited(-1)
            LiveProcesses.shared.remove(pid)
        }
        return exitStatus
    }

    var isRunning: Bool { poll() == nil }

    /// Waits at most `timeout` seconds for the process to end.
    func wait(timeout: Double) -> ExitStatus? {
        waitUntil(timeout: timeout) { poll() != nil }
        return poll()
    }

    func signal(_ signal: Int32) {
        if exitStatus == nil { kill(pid, signal) }
    }

    /// SIGKILL to the whole process group, then reap.
    func killGroup() {
        if poll() == nil {
            kill(-pid, SIGKILL)
            _ = wait(timeout: 5)
        }
    }

    var standardOutput: String { Self.read(standardOutputPath) }
    var standardError: String { Self.read(standardErrorPath) }

    private static func read(_ path: String) -> String {
        guard let data = FileManager.default.contents(atPath: path) else { return "" }
        return String(decoding: data, as: UTF8.self)
    }
}

/// Every child still running, killed (whole process group) when the test process exits,
/// so a test run that ends early never leaves a server behind.
final class LiveProcesses: @unchecked Sendable {
    static let shared = LiveProcesses()
    private let lock = NSLock()
    private var pids: Set<pid_t> = []
    private var registered = false

    func add(_ pid: pid_t) {
        lock.lock()
        defer { lock.unlock() }
        pids.insert(pid)
        if !registered {
            registered = true
            atexit { LiveProcesses.shared.killAll() }
        }
    }

    func remove(_ pid: pid_t) {
        lock.lock()
        defer { lock.unlock() }
        pids.remove(pid)
    }

    func killAll() {
        lock.lock()
        let all = pids
        pids = []
        lock.unlock()
        for pid in all { kill(-pid, SIGKILL) }
    }
}

/// Reading /proc: the processes under a pid, their memory, and the kernel's TCP table.
enum ProcFS {
    /// `pid` and every process descended from it (a prefork master's workers).
    static func processTree(of root: pid_t) -> [pid_t] {
        var parents: [pid_t: pid_t] = [:]
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        for entry in entries {
            guard let pid = pid_t(entry), let stat = readText("/proc/\(entry)/stat") else { continue }
            // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
            guard let close = stat.lastIndex(of: ")") else { continue }
            let rest = stat[stat.index(after: close)...].split(separator: " ")
            if rest.count > 1, let parent = pid_t(rest[1]) { parents[pid] = parent }
        }
        var tree = [root]
        var index = 0
        while index < tree.count {
            let current = tree[index]
            tree += parents.filter { $0.value == current }.map(\.key)
            index += 1
        }
        return tree
    }

    /// A `VmXXX:` value of /proc/PID/status in KiB, nil when the process is gone.
    static func statusKiB(_ pid: pid_t, _ key: String) -> Int? {
        guard let status = readText("/proc/\(pid)/status") else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix(key + ":") {
            // "VmHWM:\t   12345 kB"
            let number = line.dropFirst(key.count + 1).split(whereSeparator: { $0 == " " || $0 == "\t" }).first
            return number.flatMap { Int($0) }
        }
        return nil
    }

    /// Bytes waiting in the receive queues of the IPv4 TCP sockets whose local port is
    /// `localPort`, by remote port: one read of the kernel's table, however many sockets
    /// the caller asks about (the table holds every TIME_WAIT socket of the run: thousands).
    static func receiveQueues(localPort: UInt16) -> [UInt16: Int] {
        guard let table = readText("/proc/net/tcp") else { return [:] }
        var queues: [UInt16: Int] = [:]
        for line in table.split(separator: "\n").dropFirst() {
            // "sl local rem st tx_queue:rx_queue ...", addresses as HEX_IP:HEX_PORT
            let columns = line.split(separator: " ", maxSplits: 5)
            guard columns.count > 4 else { continue }
            let local = columns[1].split(separator: ":")
            let remote = columns[2].split(separator: ":")
            guard local.count == 2, remote.count == 2, UInt16(local[1], radix: 16) == localPort,
                let remotePort = UInt16(remote[1], radix: 16)
            else { continue }
            let rxQueue = columns[4].split(separator: ":")
            if rxQueue.count == 2, let queued = Int(rxQueue[1], radix: 16) { queues[remotePort] = queued }
        }
        return queues
    }

    /// Connections waiting in the accept queues of the listening sockets on `port` (summed:
    /// reuseport gives a worker slot a socket of its own); nil without /proc/net/tcp.
    static func acceptQueue(port: UInt16) -> Int? {
        guard let table = readText("/proc/net/tcp") else { return nil }
        var waiting = 0
        for line in table.split(separator: "\n").dropFirst() {
            // "sl local rem st tx_queue:rx_queue ...": st 0A is LISTEN, whose rx_queue is
            // the number of connections not yet accepted.
            let columns = line.split(separator: " ")
            guard columns.count > 4, columns[3] == "0A" else { continue }
            let local = columns[1].split(separator: ":")
            guard local.count == 2, UInt16(local[1], radix: 16) == port else { continue }
            let queues = columns[4].split(separator: ":")
            if queues.count == 2, let queued = Int(queues[1], radix: 16) { waiting += queued }
        }
        return waiting
    }

    static func readText(_ path: String) -> String? {
        // /proc files report size 0: read until the end.
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        guard let data = try? handle.readToEnd() else { return nil }
        return String(decoding: data, as: UTF8.self)
    }
}
