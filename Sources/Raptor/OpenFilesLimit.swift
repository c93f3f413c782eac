#if canImport(Glibc)
    import Glibc
#endif

/// The open-files limit (RLIMIT_NOFILE). Every connection holds a descriptor, and Linux
/// starts processes with a soft limit of 1024 (under systemd: 1024 soft, 524288 hard) that a
/// busy worker reaches quickly. The server raises its soft limit to the hard one when it
/// starts, as Go's runtime and nginx's `worker_rlimit_nofile` do; workers inherit it. At the
/// limit the engine answers new connections 503 (`fd_limit_503`, `OutOfDescriptorsWarning`).
enum OpenFilesLimit {
    private static let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)

    /// The soft limit now in effect (what EMFILE means), nil when it cannot be read.
    static var current: UInt64? {
        var limit = rlimit()
        return getrlimit(resource, &limit) == 0 ? UInt64(limit.rlim_cur) : nil
    }

    /// `current` for a log line.
    static var currentText: String { current.map(String.init) ?? "unknown" }

    /// Raises the soft limit to the hard one (to the kernel's ceiling, fs.nr_open, when the
    /// hard limit is unlimited: no process may hold more). Returns why it could not, or nil.
    static func raise() -> String? {
        var limit = rlimit()
        guard getrlimit(resource, &limit) == 0 else { return String(cString: strerror(errno)) }
        var target = limit.rlim_max
        if target == rlim_t.max, let ceiling = kernelCeiling { target = ceiling }
        guard limit.rlim_cur < target else { return nil }
        limit.rlim_cur = target
        return setrlimit(resource, &limit) == 0 ? nil : String(cString: strerror(errno))
    }

    private static var kernelCeiling: rlim_t? {
        ProcessorCount.readFile("/proc/sys/fs/nr_open")?.split(whereSeparator: \.isWhitespace).first.flatMap {
            rlim_t($0)
        }
    }
}
