internal import CRaptor

#if canImport(Glibc)
    import Glibc
#endif

/// The cluster at one instant, copied out of the shared memory by the metrics server: the
/// master's words, the restarts, what exited workers counted, and each worker's cell.
struct ClusterReading {
    var masterPid: pid_t
    var masterStartedAt: UInt64
    var lifeCycle: String
    var ready: Bool
    var servingWorkers: UInt64
    var workersConfigured: UInt64
    var phase: UInt64
    /// CLOCK_MONOTONIC milliseconds of the master's last loop turn.
    var masterHeartbeat: UInt64
    var restarts: [(reason: RestartReason, count: UInt64)]
    var retired: rv_stats
    var workers: [rv_stats]

    init(_ region: StatsRegion) {
        masterPid = pid_t(truncatingIfNeeded: region[.masterPid])
        masterStartedAt = region[.startedAt]
        let code = Int(region[.lifeCycle])
        lifeCycle = code < MasterLifeCycle.names.count ? MasterLifeCycle.names[code] : "unknown"
        ready = region[.ready] != 0
        servingWorkers = region[.servingWorkers]
        workersConfigured = region[.workersConfigured]
        phase = region[.phase]
        masterHeartbeat = region[.heartbeat]
        restarts = RestartReason.allCases.map { ($0, region.restarts($0)) }
        (retired, workers) = region.consistentRead {
            var retired = rv_stats()
            rv_stats_copy(&retired, region.retired)
            let workers = region.cellsInUse.map { cell in
                var copy = rv_stats()
                rv_stats_copy(&copy, cell)
                return copy
            }
            return (retired, workers)
        }
        workers.sort { ($0[RV_STAT_INDEX], $0[RV_STAT_PID]) < ($1[RV_STAT_INDEX], $1[RV_STAT_PID]) }
    }
}

extension rv_stats {
    /// A value of a copied cell.
    subscript(stat: rv_stat) -> UInt64 {
        withUnsafePointer(to: self) { rv_stats_get($0, stat) }
    }

    /// Requests per duration bucket (not cumulative), the last one above every bound.
    var durationBuckets: [UInt64] {
        withUnsafePointer(to: self) { cell in
            (0...UInt32(RV_DURATION_BOUNDS)).map { rv_stats_duration_bucket(cell, $0) }
        }
    }

    var durationSumMicroseconds: UInt64 { withUnsafePointer(to: self) { rv_stats_duration_sum_us($0) } }
}
