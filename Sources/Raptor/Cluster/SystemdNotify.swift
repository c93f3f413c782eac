#if canImport(Glibc)
    import Glibc
#endif

/// The systemd protocols, without libsystemd:
///
/// - sd_notify: datagrams such as `READY=1` to the Unix socket named by `$NOTIFY_SOCKET`
///   (a path, or `@name` for an abstract socket). Nothing happens when it is unset.
/// - Watchdog: with `$WATCHDOG_USEC` set (and `$WATCHDOG_PID` unset or this pid),
///   `WATCHDOG=1` every half of that interval, sent by the master's loop, so a master that
///   hangs stops the pings and systemd restarts the service.
/// - Socket activation: `$LISTEN_PID` = this pid and `$LISTEN_FDS` = N mean descriptors
///   3 ..< 3 + N are listening sockets systemd bound for us.
struct SystemdNotify {
    let socketPath: String?
    /// Half of `$WATCHDOG_USEC`, in seconds; nil without a watchdog.
    let watchdogInterval: Double?

    init(environment: (String) -> String? = { getenv($0).map { String(cString: $0) } }) {
        socketPath = environment("NOTIFY_SOCKET").flatMap { $0.isEmpty ? nil : $0 }
        let watchdogPid = environment("WATCHDOG_PID").flatMap { pid_t($0) }
        if let usec = environment("WATCHDOG_USEC").flatMap({ UInt64($0) }), usec > 0,
            watchdogPid == nil || watchdogPid == getpid()
        {
            watchdogInterval = Double(usec) / 2e6
        } else {
            watchdogInterval = nil
        }
    }

    var isEnabled: Bool { socketPath != nil }

    /// Sends `state` (lines such as `READY=1`); false when there is no socket or it failed.
    @discardableResult
    func send(_ state: String) -> Bool {
        guard let socketPath else { return false }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var path = Array(socketPath.utf8)
        if path.first == UInt8(ascii: "@") { path[0] = 0 }  // abstract namespace
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard path.count < capacity else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: path) }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + path.count + (path.first == 0 ? 0 : 1))
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        let sent = state.withCString { text in
            withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, text, strlen(text), Int32(MSG_NOSIGNAL), $0, length)
                }
            }
        }
        return sent >= 0
    }

    /// `MONOTONIC_USEC=...`, which systemd wants with `RELOADING=1`.
    static var monotonicMicroseconds: UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) * 1_000_000 + UInt64(time.tv_nsec) / 1000
    }

    /// The descriptors passed by socket activation, with the variables removed from the
    /// environment (so nothing this process starts believes they are its own). Empty when
    /// the variables are absent or meant for another process.
    static func takeActivatedDescriptors() -> [Int32] {
        defer {
            unsetenv("LISTEN_PID")
            unsetenv("LISTEN_FDS")
            unsetenv("LISTEN_FDNAMES")
        }
        guard let pidText = getenv("LISTEN_PID").map({ String(cString: $0) }), pid_t(pidText) == getpid(),
            let countText = getenv("LISTEN_FDS").map({ String(cString: $0) }), let count = Int32(countText),
            count > 0
        else { return [] }
        let descriptors = Array(3..<(3 + count))
        for fd in descriptors { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        return descriptors
    }
}
