import Foundation

#if canImport(Glibc)
    import Glibc
#endif

extension ProcFS {
    /// When `pid` was forked, in seconds on the boot clock (`bootClockNow`), from field 22
    /// of /proc/PID/stat (clock ticks since boot: 10 ms steps); nil when it is gone.
    static func startTime(of pid: pid_t) -> Double? {
        guard let stat = readText("/proc/\(pid)/stat"), let close = stat.lastIndex(of: ")") else { return nil }
        // After "(comm)": field 3 (state) is index 0, so field 22 is index 19.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 19, let ticks = Double(fields[19]) else { return nil }
        return ticks / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// Now on the clock `startTime(of:)` reads (CLOCK_BOOTTIME).
    static func bootClockNow() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_BOOTTIME, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }
}
