/// Where the master is in its life, in one value, so that "stopping?" and "has READY=1
/// gone out?" can never disagree.
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
    /// INT, TERM or QUIT: every worker was told to stop; the master exits once all of them
    /// (and the previous image's) are reaped. Nothing new starts.
    case stopping

    var isStopping: Bool { self == .stopping }
}
