#if canImport(Glibc)
    import Glibc
#endif

/// How many CPUs this process may really use: the CPUs of its affinity mask, lowered by a
/// cgroup CPU quota (v2 `cpu.max`, v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us`), rounded
/// up, at least 1. A container limited to 1.5 CPUs on a 64-CPU host gets 2 workers, not 64.
///
/// Read from /proc and /sys rather than sched_getaffinity, which Swift's Glibc module does
/// not export (it needs _GNU_SOURCE).
public enum ProcessorCount {
    /// The CPUs available now (read each time: the quota may change).
    public static var available: Int {
        let online = max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        var count = affinityCount(procStatus: readFile("/proc/self/status")) ?? online
        if let quota = cgroupQuota() { count = min(count, quota) }
        return max(1, count)
    }

    /// CPUs in `Cpus_allowed_list:` of /proc/self/status (`0-3,8,10-11` is 7).
    static func affinityCount(procStatus: String?) -> Int? {
        guard let procStatus else { return nil }
        for line in procStatus.split(separator: "\n") where line.hasPrefix("Cpus_allowed_list:") {
            let list = line.dropFirst("Cpus_allowed_list:".count).filter { $0 != " " && $0 != "\t" }
            var count = 0
            for range in list.split(separator: ",") {
                let ends = range.split(separator: "-")
                if ends.count == 1, Int(ends[0]) != nil {
                    count += 1
                } else if ends.count == 2, let low = Int(ends[0]), let high = Int(ends[1]), high >= low {
                    count += high - low + 1
                } else {
                    return nil
                }
            }
            return count > 0 ? count : nil
        }
        return nil
    }

    /// The tightest CPU quota of this process's cgroup and its ancestors, rounded up; nil
    /// when there is none.
    static func cgroupQuota() -> Int? {
        guard let membership = readFile("/proc/self/cgroup") else { return nil }
        var best: Int?
        func lower(_ value: Int?) {
            if let value { best = min(best ?? value, value) }
        }
        for line in membership.split(separator: "\n") {
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3 else { continue }
            let path = String(fields[2])
            if fields[0] == "0" && fields[1].isEmpty {
                // cgroup v2: /sys/fs/cgroup (or /sys/fs/cgroup/unified in hybrid mode).
                for root in ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"] {
                    for directory in ancestors(path) {
                        lower(quotaV2(cpuMax: readFile(root + directory + "/cpu.max")))
                    }
                }
            } else if fields[1].split(separator: ",").contains("cpu") {
                for root in ["/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct"] {
                    for directory in ancestors(path) {
                        lower(
                            quotaV1(
                                quota: readFile(root + directory + "/cpu.cfs_quota_us"),
                                period: readFile(root + directory + "/cpu.cfs_period_us")))
                    }
                }
            }
        }
        return best
    }

    /// `/a/b` gives `/a/b`, `/a`, and `` (the root itself).
    static func ancestors(_ path: String) -> [String] {
        var parts = path.split(separator: "/").map(String.init)
        var result: [String] = []
        while true {
            result.append(parts.isEmpty ? "" : "/" + parts.joined(separator: "/"))
            if parts.isEmpty { break }
            parts.removeLast()
        }
        return result
    }

    /// `cpu.max` is `max 100000` (no limit) or `QUOTA PERIOD` in microseconds.
    static func quotaV2(cpuMax: String?) -> Int? {
        guard let fields = cpuMax?.split(whereSeparator: { $0 == " " || $0 == "\n" }), fields.count >= 2,
            let quota = Double(fields[0]), let period = Double(fields[1]), quota > 0, period > 0
        else { return nil }
        return max(1, Int((quota / period).rounded(.up)))
    }

    /// v1: a quota of -1 means no limit.
    static func quotaV1(quota: String?, period: String?) -> Int? {
        guard let quotaText = quota?.split(separator: "\n").first, let quota = Double(quotaText), quota > 0,
            let periodText = period?.split(separator: "\n").first, let period = Double(periodText), period > 0
        else { return nil }
        return max(1, Int((quota / period).rounded(.up)))
    }

    /// A small file of /proc or /sys, whole; nil when it cannot be read.
    static func readFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let got = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if got < 0 && errno == EINTR { continue }
            if got <= 0 { break }
            bytes += chunk[..<got]
            if bytes.count > 1 << 20 { break }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
