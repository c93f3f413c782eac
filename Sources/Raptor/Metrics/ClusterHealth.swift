#if canImport(Glibc)
    import Glibc
#endif

/// What `/healthz` and `/readyz` answer, from a `ClusterReading`.
///
/// - healthy: the master is up (it is this process's parent and its loop turned within
///   `masterSilence`) and at least one worker serves (booted, not stopping, heartbeat
///   fresh; during a hot restart the previous image's workers count).
/// - ready: healthy, and the master says the cluster takes traffic: every slot's worker
///   booted once, no stop began (`draining` turns it off first, while the workers still
///   accept), a worker serves.
struct ClusterHealth: Equatable {
    /// The master's loop turns at least every 100 ms; this much silence means it is stuck.
    static let masterSilence = 5.0

    /// nil when healthy, else why not.
    let unhealthy: String?
    /// nil when ready, else why not.
    let unready: String?

    init(_ reading: ClusterReading, masterIsParent: Bool, monotonicNow: Double) {
        let silence = monotonicNow - Double(reading.masterHeartbeat) / 1000
        if !masterIsParent {
            unhealthy = "the master (pid \(reading.masterPid)) is gone"
        } else if silence > Self.masterSilence {
            unhealthy = "the master has not turned its loop for \(Int(silence)) s"
        } else if reading.servingWorkers == 0 {
            unhealthy = "no worker serves"
        } else {
            unhealthy = nil
        }
        if let unhealthy {
            unready = unhealthy
        } else if !reading.ready {
            unready = reading.lifeCycle == "serving" ? "no worker serves" : reading.lifeCycle
        } else {
            unready = nil
        }
    }

    /// For this process: whether its parent is the master the reading names.
    static func check(_ reading: ClusterReading) -> ClusterHealth {
        ClusterHealth(reading, masterIsParent: getppid() == reading.masterPid, monotonicNow: Monotonic.now())
    }
}
