internal import CRaptor

#if canImport(Glibc)
    import Glibc
#endif

/// One worker's counters at one instant, copied out of its shared-memory cell.
struct WorkerSnapshot {
    var slot: Int
    /// `booting`, `running` or `stopping`.
    var state: String
    /// Every counter by its C name (`rv_stat_name`), in the header's order.
    var values: [(name: String, value: UInt64)]

    init(slot: Int, state: String, cell: UnsafeMutablePointer<rv_stats>) {
        self.slot = slot
        self.state = state
        values = StatsRegion.allStats.map { (StatsRegion.name($0), rv_stats_get(cell, $0)) }
    }

    subscript(name: String) -> UInt64 { values.first { $0.name == name }?.value ?? 0 }
}

/// The cluster as the stats file and the USR1 log show it.
struct ClusterSnapshot {
    var masterPid: pid_t
    var startedAt: UInt64
    /// `MasterLifeCycle.name`.
    var state: String
    /// Ready for traffic, as `/readyz` answers.
    var ready: Bool
    var phase: Int
    var workersConfigured: Int
    var listenerMode: String
    var phasedRestart: Bool
    /// Workers replaced or started again, by reason (`RestartReason`), for this image.
    var restarts: [(reason: String, count: UInt64)]
    var workers: [WorkerSnapshot]

    /// Counters and gauges add up across workers (a sum of pids or timestamps means
    /// nothing): every stat but the identity fields.
    static let summed: Set<String> = Set(
        StatsRegion.allStats.filter { rv_stat_kind_of($0) != RV_STAT_KIND_IDENTITY }.map(StatsRegion.name))

    /// The document of docs/stats-schema.md, on one line.
    func json(now: timespec) -> String {
        var text = "{\"version\":1,\"master_pid\":\(masterPid),\"started_at\":\(startedAt)"
        text += ",\"updated_at\":\(now.tv_sec).\(Self.threeDigits(Int(now.tv_nsec) / 1_000_000))"
        text += ",\"state\":"
        JSONText.appendString(state, to: &text)
        text += ",\"ready\":\(ready)"
        text += ",\"phase\":\(phase),\"workers_configured\":\(workersConfigured)"
        text += ",\"listener_mode\":\"\(listenerMode)\",\"phased_restart\":\(phasedRestart)"
        text += ",\"restarts\":{"
        text += restarts.map { "\"\($0.reason)\":\($0.count)" }.joined(separator: ",")
        text += "}"
        text += ",\"workers\":["
        for (index, worker) in workers.enumerated() {
            if index > 0 { text += "," }
            text += "{\"slot\":\(worker.slot),\"state\":"
            JSONText.appendString(worker.state, to: &text)
            for (name, value) in worker.values {
                text += ",\"\(name)\":"
                text += name == "booted" ? (value != 0 ? "true" : "false") : String(value)
            }
            text += "}"
        }
        text += "],\"totals\":{\"workers\":\(workers.count)"
        for (name, _) in workers.first?.values ?? [] where Self.summed.contains(name) {
            text += ",\"\(name)\":\(workers.reduce(UInt64(0)) { $0 &+ $1[name] })"
        }
        if workers.isEmpty {
            for name in Self.summed.sorted() { text += ",\"\(name)\":0" }
        }
        text += "}}"
        return text
    }
}

extension ClusterSnapshot {
    /// A number below 1000 with leading zeros to three digits.
    fileprivate static func threeDigits(_ value: Int) -> String {
        let digits = String(value)
        return String(repeating: "0", count: max(0, 3 - digits.count)) + digits
    }
}

/// `--stats-file`: the snapshot as JSON, rewritten every second by the master. Written to
/// a temporary file beside it, then renamed over it, so a reader never sees half a file.
struct StatsFile {
    let path: String

    func write(_ snapshot: ClusterSnapshot) {
        let temporary = path + ".tmp.\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return }
        var text = snapshot.json(now: WallClock.now())
        text += "\n"
        var complete = false
        text.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
                if written < 0 && errno == EINTR { continue }
                if written <= 0 { return }
                offset += written
            }
            complete = true
        }
        close(fd)
        if complete && rename(temporary, path) == 0 { return }
        unlink(temporary)
    }

    func remove() {
        unlink(path)
    }
}
