#if canImport(Glibc)
    import Glibc
#endif

/// A process's resident memory, as `ps` shows it (RSS), read from /proc.
enum ProcessMemory {
    private static let pageSize = UInt64(max(1, sysconf(Int32(_SC_PAGESIZE))))

    /// Bytes of `pid`'s resident set; nil when the process is gone.
    static func residentBytes(_ pid: pid_t) -> UInt64? {
        residentPages(statm: ProcessorCount.readFile("/proc/\(pid)/statm")).map { $0 * pageSize }
    }

    /// The second field of /proc/PID/statm (`size resident shared text lib data dt`).
    static func residentPages(statm: String?) -> UInt64? {
        guard let fields = statm?.split(separator: " "), fields.count >= 2 else { return nil }
        return UInt64(fields[1].filter { !$0.isWhitespace })
    }
}
