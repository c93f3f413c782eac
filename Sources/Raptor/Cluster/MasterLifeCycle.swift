/// Where the master is in its life, in one value, so that "stopping?", "ready for
/// traffic?" and "has READY=1 gone out?" can never disagree.
///
/// A phased restart is not a state of its own: it is an operation that runs while the
/// master is starting or serving (USR2 may come before every worker booted), so the master
/// holds it beside this value (`Master.phasedRestart`).
enum MasterLifeCycle: Equatable {
    /// This image's workers are booting. Once every slot's worker has booted: the log line
    /// "all workers booted", sd_notify `READY=1`, and `serving`.
    case starting
    /// Every slot's worker has booted once.
    case serving
    /// INT, TERM or QUIT with `--drain-delay`: not ready any more (`/readyz` answers 503,
    /// so a balancer takes the host out), but every worker goes on accepting until
    /// `until` (monotonic seconds), then `stopping`. Nothing new starts (no restart, no
    /// TTIN or TTOU); a second stop signal ends the delay at once.
    case draining(until: Double)
    /// Every worker was told to stop; the master exits once all of them (and the previous
    /// image's) are reaped. Nothing new starts.
    case stopping

    var isStopping: Bool { self == .stopping }

    /// Draining or stopping: operations that would start workers (USR2, HUP, TTIN, TTOU)
    /// are refused.
    var isShuttingDown: Bool {
        switch self {
        case .draining, .stopping: true
        case .starting, .serving: false
        }
    }

    /// The name in the stats file, the metrics and `raptor-ev stats`.
    var name: String {
        switch self {
        case .starting: "starting"
        case .serving: "serving"
        case .draining: "draining"
        case .stopping: "stopping"
        }
    }

    /// The value in the shared memory (`StatsRegion.ClusterValue.lifeCycle`), for the
    /// metrics server; `names[code]` reads it back.
    var code: UInt64 {
        switch self {
        case .starting: 0
        case .serving: 1
        case .draining: 2
        case .stopping: 3
        }
    }

    static let names = ["starting", "serving", "draining", "stopping"]
}
